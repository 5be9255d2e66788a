// RMSNorm forward and backward (frozen weight), fast paths and double references. The backward
// derivation: y = w ⊙ x · r with r = (mean(x²) + eps)^(−1/2), ∂r/∂x_j = −r³ x_j / D, so
//   ∂L/∂x_j = r · w_j · dy_j  −  x_j · r³ · mean_i(x_i · w_i · dy_i)   (term 1: direct; term 2: through r).
#include "kernels/rms_norm.h"

#include <cmath>

namespace mc {

void rms_norm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t N, int64_t D,
                      float eps) {
  for (int64_t n = 0; n < N; ++n) {
    const float* x = inp + n * D;
    float* o = out + n * D;
    // four independent accumulators break the add dependency chain
    double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
    int64_t i = 0;
    for (; i + 4 <= D; i += 4) {
      a0 += static_cast<double>(x[i]) * x[i];
      a1 += static_cast<double>(x[i + 1]) * x[i + 1];
      a2 += static_cast<double>(x[i + 2]) * x[i + 2];
      a3 += static_cast<double>(x[i + 3]) * x[i + 3];
    }
    for (; i < D; ++i) a0 += static_cast<double>(x[i]) * x[i];
    double ms = ((a0 + a1) + (a2 + a3)) / static_cast<double>(D);
    float r = static_cast<float>(1.0 / std::sqrt(ms + static_cast<double>(eps)));
    rstd[n] = r;
    // same rounding order as transformers: weight * (x * rstd)
    for (int64_t j = 0; j < D; ++j) o[j] = weight[j] * (x[j] * r);
  }
}

void rms_norm_forward_ref(float* out, float* rstd, const float* inp, const float* weight, int64_t N, int64_t D,
                          float eps) {
  for (int64_t n = 0; n < N; ++n) {
    double ss = 0.0;
    for (int64_t i = 0; i < D; ++i) ss += static_cast<double>(inp[n * D + i]) * inp[n * D + i];
    double r = 1.0 / std::sqrt(ss / static_cast<double>(D) + static_cast<double>(eps));
    rstd[n] = static_cast<float>(r);
    for (int64_t i = 0; i < D; ++i)
      out[n * D + i] = static_cast<float>(static_cast<double>(weight[i]) * (inp[n * D + i] * r));
  }
}

void rms_norm_backward(float* dinp, const float* dout, const float* inp, const float* weight, const float* rstd,
                       int64_t N, int64_t D, bool accumulate) {
  for (int64_t n = 0; n < N; ++n) {
    const float* x = inp + n * D;
    const float* dy = dout + n * D;
    float* dx = dinp + n * D;
    // the row's mean(x ⊙ w ⊙ dy) in double (four accumulators, as in the forward), read before dx is
    // written so that dinp may alias dout
    double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
    int64_t i = 0;
    for (; i + 4 <= D; i += 4) {
      a0 += static_cast<double>(x[i]) * (weight[i] * dy[i]);
      a1 += static_cast<double>(x[i + 1]) * (weight[i + 1] * dy[i + 1]);
      a2 += static_cast<double>(x[i + 2]) * (weight[i + 2] * dy[i + 2]);
      a3 += static_cast<double>(x[i + 3]) * (weight[i + 3] * dy[i + 3]);
    }
    for (; i < D; ++i) a0 += static_cast<double>(x[i]) * (weight[i] * dy[i]);
    const double r = rstd[n];
    const float rf = rstd[n];
    const float c = static_cast<float>(r * r * r * (((a0 + a1) + (a2 + a3)) / static_cast<double>(D)));
    if (accumulate) {
      for (int64_t j = 0; j < D; ++j) dx[j] += rf * (weight[j] * dy[j]) - x[j] * c;  // term 1 − term 2
    } else {
      for (int64_t j = 0; j < D; ++j) dx[j] = rf * (weight[j] * dy[j]) - x[j] * c;
    }
  }
}

void rms_norm_forward_ref(double* out, const double* inp, const double* weight, int64_t N, int64_t D, double eps) {
  for (int64_t n = 0; n < N; ++n) {
    double ss = 0.0;
    for (int64_t i = 0; i < D; ++i) ss += inp[n * D + i] * inp[n * D + i];
    const double r = 1.0 / std::sqrt(ss / static_cast<double>(D) + eps);
    for (int64_t i = 0; i < D; ++i) out[n * D + i] = weight[i] * (inp[n * D + i] * r);
  }
}

void rms_norm_backward_ref(double* dinp, const double* dout, const double* inp, const double* weight, int64_t N,
                           int64_t D, double eps) {
  for (int64_t n = 0; n < N; ++n) {
    const double* x = inp + n * D;
    const double* dy = dout + n * D;
    double ss = 0.0, dot = 0.0;
    for (int64_t i = 0; i < D; ++i) {
      ss += x[i] * x[i];
      dot += x[i] * weight[i] * dy[i];
    }
    const double r = 1.0 / std::sqrt(ss / static_cast<double>(D) + eps);
    const double c = r * r * r * dot / static_cast<double>(D);
    for (int64_t i = 0; i < D; ++i) dinp[n * D + i] = r * weight[i] * dy[i] - x[i] * c;
  }
}

}  // namespace mc

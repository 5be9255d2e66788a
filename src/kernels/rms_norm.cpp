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

}  // namespace mc

#include "kernels/linear.h"

#include <cstring>
#include <vector>

#include "kernels/bf16.h"
#include "kernels/gemm.h"

namespace mc {

namespace {

/// x (n) rounded to bf16 (round-to-nearest-even) into a per-thread buffer that is reused across calls.
const uint16_t* to_bf16_scratch(const float* x, int64_t n) {
  thread_local std::vector<uint16_t> buf;
  if (buf.size() < static_cast<size_t>(n)) buf.resize(static_cast<size_t>(n));
  f32_to_bf16_row(x, buf.data(), n);
  return buf.data();
}

}  // namespace

void linear_forward(float* out, const float* inp, WeightView weight, const float* bias, int64_t N, int64_t C,
                    int64_t OC) {
  if (weight.f32) {
    linear_forward(out, inp, weight.f32, bias, N, C, OC);
    return;
  }
  if (N == 0) return;
  if (N == 1)  // one token (decoding): stream the weight once
    gemv_bf16(OC, C, weight.bf16, to_bf16_scratch(inp, C), out);
  else
    gemm_bf16(/* trans_b = */ true, N, OC, C, to_bf16_scratch(inp, N * C), weight.bf16, out);
  if (bias)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < OC; ++o) out[n * OC + o] += bias[o];
}

void linear_backward_input(float* dinp, const float* dout, WeightView weight, int64_t N, int64_t C, int64_t OC) {
  if (weight.f32) {
    linear_backward_input(dinp, dout, weight.f32, N, C, OC, false);
    return;
  }
  if (N == 0) return;
  gemm_bf16(/* trans_b = */ false, N, C, OC, to_bf16_scratch(dout, N * OC), weight.bf16, dinp);
}

void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t N, int64_t C,
                    int64_t OC) {
  if (bias) {
    for (int64_t n = 0; n < N; ++n) std::memcpy(out + n * OC, bias, static_cast<size_t>(OC) * sizeof(float));
  }
  if (N == 1) {  // one token (decoding): a matrix-vector product streams the weight once
    gemv(OC, C, 1.0f, weight, C, inp, bias ? 1.0f : 0.0f, out);
    return;
  }
  gemm(/* trans_a = */ false, /* trans_b = */ true, /* M = */ N, /* N = */ OC, /* K = */ C, 1.0f, inp,
       /* lda = */ C, weight, /* ldb = */ C, /* beta = */ bias ? 1.0f : 0.0f, out, /* ldc = */ OC);
}

void linear_forward_ref(float* out, const float* inp, const float* weight, const float* bias, int64_t N, int64_t C,
                        int64_t OC) {
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t o = 0; o < OC; ++o) {
      double acc = bias ? static_cast<double>(bias[o]) : 0.0;
      for (int64_t c = 0; c < C; ++c) acc += static_cast<double>(inp[n * C + c]) * weight[o * C + c];
      out[n * OC + o] = static_cast<float>(acc);
    }
  }
}

void linear_backward_input(float* dinp, const float* dout, const float* weight, int64_t N, int64_t C, int64_t OC,
                           bool accumulate) {
  // dinp (N, C) = dout (N, OC) · weight (OC, C)
  gemm(/* trans_a = */ false, /* trans_b = */ false, /* M = */ N, /* N = */ C, /* K = */ OC, 1.0f, dout,
       /* lda = */ OC, weight, /* ldb = */ C, /* beta = */ accumulate ? 1.0f : 0.0f, dinp, /* ldc = */ C);
}

void linear_backward_weight(float* dweight, float* dbias, const float* dout, const float* inp, int64_t N, int64_t C,
                            int64_t OC) {
  // dweight (OC, C) += dout (N, OC)ᵀ · inp (N, C)
  gemm(/* trans_a = */ true, /* trans_b = */ false, /* M = */ OC, /* N = */ C, /* K = */ N, 1.0f, dout,
       /* lda = */ OC, inp, /* ldb = */ C, /* beta = */ 1.0f, dweight, /* ldc = */ C);
  if (!dbias) return;
  // column sums over the N rows in double (N can be a whole batch of tokens)
  std::vector<double> acc(static_cast<size_t>(OC), 0.0);
  for (int64_t n = 0; n < N; ++n) {
    const float* dy = dout + n * OC;
    for (int64_t o = 0; o < OC; ++o) acc[static_cast<size_t>(o)] += dy[o];
  }
  for (int64_t o = 0; o < OC; ++o) dbias[o] += static_cast<float>(acc[static_cast<size_t>(o)]);
}

void linear_forward_ref(double* out, const double* inp, const double* weight, const double* bias, int64_t N,
                        int64_t C, int64_t OC) {
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t o = 0; o < OC; ++o) {
      double acc = bias ? bias[o] : 0.0;
      for (int64_t c = 0; c < C; ++c) acc += inp[n * C + c] * weight[o * C + c];
      out[n * OC + o] = acc;
    }
  }
}

void linear_backward_ref(double* dinp, double* dweight, double* dbias, const double* dout, const double* inp,
                         const double* weight, int64_t N, int64_t C, int64_t OC) {
  if (dinp) {
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t c = 0; c < C; ++c) {
        double acc = 0.0;
        for (int64_t o = 0; o < OC; ++o) acc += dout[n * OC + o] * weight[o * C + c];
        dinp[n * C + c] = acc;
      }
    }
  }
  if (dweight) {
    for (int64_t o = 0; o < OC; ++o) {
      for (int64_t c = 0; c < C; ++c) {
        double acc = 0.0;
        for (int64_t n = 0; n < N; ++n) acc += dout[n * OC + o] * inp[n * C + c];
        dweight[o * C + c] = acc;
      }
    }
  }
  if (dbias) {
    for (int64_t o = 0; o < OC; ++o) {
      double acc = 0.0;
      for (int64_t n = 0; n < N; ++n) acc += dout[n * OC + o];
      dbias[o] = acc;
    }
  }
}

}  // namespace mc

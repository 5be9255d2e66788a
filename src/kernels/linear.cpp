#include "kernels/linear.h"

#include <cstring>

#include "kernels/gemm.h"

namespace mc {

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

}  // namespace mc

// Linear layer forward (torch.nn.functional.linear): out = inp · Wᵀ + b with W stored (out, in) exactly
// as HF stores it. The fast path is one cblas_sgemm (gemm.h), or cblas_sgemv for a single row; the
// reference loops in double.
#pragma once
#include <cstdint>

namespace mc {

/// out (N, OC) = inp (N, C) · weight (OC, C)ᵀ + bias (OC). bias may be null.
void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t N, int64_t C,
                    int64_t OC);
/// Scalar reference (double accumulation).
void linear_forward_ref(float* out, const float* inp, const float* weight, const float* bias, int64_t N, int64_t C,
                        int64_t OC);

}  // namespace mc

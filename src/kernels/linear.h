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


/// Backward to the input of a frozen linear: dinp (N, C) = dout (N, OC) · weight (OC, C), added to dinp
/// when accumulate (one gemm).
void linear_backward_input(float* dinp, const float* dout, const float* weight, int64_t N, int64_t C, int64_t OC,
                           bool accumulate);
/// Weight gradients: dweight (OC, C) += dout (N, OC)ᵀ · inp (N, C); dbias (OC) += Σ_n dout[n] when non-null.
void linear_backward_weight(float* dweight, float* dbias, const float* dout, const float* inp, int64_t N, int64_t C,
                            int64_t OC);
/// Forward reference on double data: out (N, OC) = inp (N, C) · weight (OC, C)ᵀ + bias (OC); bias may be null.
void linear_forward_ref(double* out, const double* inp, const double* weight, const double* bias, int64_t N,
                        int64_t C, int64_t OC);
/// Backward reference in double, overwriting: dinp (N, C) = dout · weight, dweight (OC, C) = doutᵀ · inp,
/// dbias (OC) = Σ_n dout[n]. Any output may be null (skipped).
void linear_backward_ref(double* dinp, double* dweight, double* dbias, const double* dout, const double* inp,
                         const double* weight, int64_t N, int64_t C, int64_t OC);

}  // namespace mc

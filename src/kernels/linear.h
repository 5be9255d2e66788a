// Linear layer forward (torch.nn.functional.linear): out = inp · Wᵀ + b with W stored (out, in) exactly
// as HF stores it. The fast path is one cblas_sgemm (gemm.h), or cblas_sgemv for a single row; a bf16
// weight (WeightView) is multiplied by oneDNN's bf16 matmul after rounding the input rows to bf16, as
// PyTorch's bf16 Linear does. The reference loops in double.
#pragma once
#include <cstdint>

namespace mc {

/// A frozen weight matrix (rows, cols), row-major, in the dtype the model keeps it: exactly one of the
/// pointers is set. bf16 halves the bytes streamed and doubles the GEMM rate (gemm.h).
struct WeightView {
  const float*    f32 = nullptr;
  const uint16_t* bf16 = nullptr;
  WeightView() = default;
  WeightView(const float* p) : f32(p) {}  // NOLINT: a plain fp32 pointer is a view
  static WeightView of_bf16(const uint16_t* p) {
    WeightView w;
    w.bf16 = p;
    return w;
  }
};

/// out (N, OC) = inp (N, C) · weight (OC, C)ᵀ + bias (OC), weight in either dtype. bias may be null.
void linear_forward(float* out, const float* inp, WeightView weight, const float* bias, int64_t N, int64_t C,
                    int64_t OC);
/// dinp (N, C) = dout (N, OC) · weight (OC, C), overwriting, weight in either dtype.
void linear_backward_input(float* dinp, const float* dout, WeightView weight, int64_t N, int64_t C, int64_t OC);

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

// bf16 helpers of the GEMM path (gemm.h, linear.h): rounding activation rows to bf16 before a bf16
// GEMM, and the matrix-vector product of decoding. Both have an AVX512-BF16 path (vcvtne2ps2bf16,
// vdpbf16ps) chosen at run time and a portable scalar path with the same rounding.
#pragma once
#include <cstdint>

namespace mc {

/// y (n) = x (n) rounded to bf16, round-to-nearest-even, NaN kept a quiet NaN: tensor/dtype.h
/// f32_to_bf16 per element (PyTorch's .to(torch.bfloat16)) except that subnormal inputs
/// (|x| < 2^-126) become a zero of the same sign, as vcvtne2ps2bf16 does (and vdpbf16ps would treat
/// a bf16 subnormal as zero anyway). Both paths behave the same.
void f32_to_bf16_row(const float* x, uint16_t* y, int64_t n);

/// y (M) = W (M, K) · x (K) with W row-major and x in bf16, products exact and summed in fp32
/// (32 partial sums per row, then added): the one-token product of decoding, which streams W once.
void gemv_bf16(int64_t M, int64_t K, const uint16_t* W, const uint16_t* x, float* y);

/// The same product with double accumulation (tests).
void gemv_bf16_ref(int64_t M, int64_t K, const uint16_t* W, const uint16_t* x, float* y);

}  // namespace mc

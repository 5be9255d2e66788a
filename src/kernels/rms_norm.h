// RMSNorm forward (Llama/Qwen/LFM2 RMSNorm in transformers 5.23: y = w ⊙ (x · rsqrt(mean(x²) + eps)),
// computed in fp32, plain w, not Gemma's 1 + w). Also used per head for Qwen3's q_norm/k_norm and
// LFM2's q_layernorm/k_layernorm by viewing (N, H, Dh) as (N·H, Dh) rows.
#pragma once
#include <cstdint>

namespace mc {

/// out (N, D) = weight (D) ⊙ inp (N, D) · rstd, with rstd (N) = 1 / sqrt(mean_i inp[n, i]² + eps)
/// saved for the backward pass. The sum of squares accumulates in double. out may alias inp.
void rms_norm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t N, int64_t D,
                      float eps);
/// Scalar reference: the same in double throughout, rounded once at the end.
void rms_norm_forward_ref(float* out, float* rstd, const float* inp, const float* weight, int64_t N, int64_t D,
                          float eps);


/// Backward of rms_norm_forward with a frozen weight: given dout (N, D) = ∂L/∂out and the forward's inp
/// (N, D) and rstd (N), writes dinp (N, D) = ∂L/∂inp (added to dinp when accumulate). Reductions in
/// double. dinp may alias dout when !accumulate.
void rms_norm_backward(float* dinp, const float* dout, const float* inp, const float* weight, const float* rstd,
                       int64_t N, int64_t D, bool accumulate);
/// Scalar reference in double.
void rms_norm_backward_ref(double* dinp, const double* dout, const double* inp, const double* weight, int64_t N,
                           int64_t D, double eps);
/// Forward reference in double (no rstd output): out (N, D) from inp (N, D), weight (D). For finite
/// differences against rms_norm_backward_ref.
void rms_norm_forward_ref(double* out, const double* inp, const double* weight, int64_t N, int64_t D, double eps);

}  // namespace mc

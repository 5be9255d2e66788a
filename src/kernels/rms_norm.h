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

}  // namespace mc

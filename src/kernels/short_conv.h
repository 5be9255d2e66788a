// LFM2's gated short convolution (transformers 5.23 Lfm2ShortConv.forward, the part between in_proj and
// out_proj): BCx = in_proj(x) is split along channels as B | C | x, Bx = B ⊙ x, a causal depthwise
// conv1d of kernel L runs over Bx (left zero padding L − 1, no activation), and y = C ⊙ conv(Bx).
// For decoding, the L − 1 rows of Bx before the chunk come from a state (the conv cache).
#pragma once
#include <cstdint>

namespace mc {

/// For one sequence chunk of T positions:
///   bcx (T, 3D)  in_proj output: B in columns [0, D), C in [D, 2D), x in [2D, 3D)
///   state (L−1, D)  Bx of the L − 1 positions before the chunk, oldest first; null means zeros (a
///                   fresh sequence)
///   weight (D, L)   conv.conv.weight (D, 1, L) squeezed; bias (D) or null
///   bx (T, D) = B ⊙ x and conv (T, D) = causal conv of Bx are written (saved for the backward pass);
///   y (T, D) = C ⊙ conv.
/// conv[t, c] = bias[c] + Σ_{k<L} weight[c, k] · Bx[t − (L−1) + k, c].
void short_conv_forward(float* y, float* bx, float* conv, const float* bcx, const float* state, const float* weight,
                        const float* bias, int64_t T, int64_t D, int64_t L);
/// Scalar reference in double.
void short_conv_forward_ref(float* y, float* bx, float* conv, const float* bcx, const float* state,
                            const float* weight, const float* bias, int64_t T, int64_t D, int64_t L);

/// Advances a conv state (L−1, D) past a chunk whose Bx is bx (T, D): the new state holds the last
/// L − 1 rows of [state; bx].
void short_conv_state_update(float* state, const float* bx, int64_t T, int64_t D, int64_t L);


/// Backward of short_conv_forward for a sequence that starts fresh (state null, as in training): from
/// dy (T, D) and the forward's bcx (T, 3D), bx and conv (T, D), writes (overwrites) dbcx (T, 3D). The
/// conv weight (D, L) and bias are frozen unless dweight / dbias are non-null (then accumulated).
void short_conv_backward(float* dbcx, float* dweight, float* dbias, const float* dy, const float* bcx,
                         const float* bx, const float* conv, const float* weight, int64_t T, int64_t D, int64_t L);
/// Forward reference on double data for a fresh sequence (state null): y (T, D) from bcx (T, 3D),
/// weight (D, L) and bias (D) (bias may be null).
void short_conv_forward_ref(double* y, const double* bcx, const double* weight, const double* bias, int64_t T,
                            int64_t D, int64_t L);
/// Backward reference in double for a fresh sequence, overwriting: dbcx (T, 3D), and dweight (D, L) and
/// dbias (D) when non-null, from dy (T, D), bcx (T, 3D), weight (D, L) and bias (D, may be null).
void short_conv_backward_ref(double* dbcx, double* dweight, double* dbias, const double* dy, const double* bcx,
                             const double* weight, const double* bias, int64_t T, int64_t D, int64_t L);

}  // namespace mc

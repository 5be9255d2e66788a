// Causal grouped-query scaled-dot-product attention for one sequence (transformers' eager_attention_forward
// with repeat_kv and a causal or sliding-window causal mask), computed flash-attention style: query tiles
// against key tiles with an online softmax, so memory is O(tile²) rather than a T×T score matrix per
// head. Both tile products run on gemm. The log-sum-exp of every query row is saved so that the backward
// pass can recompute the probabilities tile by tile (FlashAttention-2, Dao 2023, Algorithm 2).
#pragma once
#include <cstdint>

namespace mc {

/// out (Tq, H, Dh) = softmax(scale · q kᵀ + mask) v for one sequence, where
///   q (Tq, H, Dh) are the queries of the last Tq positions and k, v (Tk, Hkv, Dh) the keys and values of
///   all Tk >= Tq positions (query i sits at position Tk − Tq + i; Tq < Tk when decoding with a cache);
///   query head h reads kv head h / (H / Hkv) (GQA; H must be a multiple of Hkv);
///   key j is visible to the query at position p when j <= p and, if window > 0, p − j < window
///   (transformers' sliding_window_overlay: kv_idx > q_idx − sliding_window).
/// lse (Tq, H) = log Σ_j exp(scale · q·k_j) over the visible keys, for the backward pass.
void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, int64_t Tq,
                       int64_t Tk, int64_t H, int64_t Hkv, int64_t Dh, float scale, int64_t window);

/// Scalar reference: one full score row per query in double, ordinary softmax.
void attention_forward_ref(float* out, float* lse, const float* q, const float* k, const float* v, int64_t Tq,
                           int64_t Tk, int64_t H, int64_t Hkv, int64_t Dh, float scale, int64_t window);


/// Backward of attention_forward over a whole sequence (Tq = Tk = T, no cache): from dout (T, H, Dh) and
/// the forward's q (T, H, Dh), k, v (T, Hkv, Dh), out (T, H, Dh) and lse (T, H), writes (overwrites)
/// dq (T, H, Dh), dk, dv (T, Hkv, Dh). Probabilities are recomputed tile by tile from lse
/// (FlashAttention-2 backward, Dao 2023, Algorithm 2), so memory stays O(tile²); kv heads sum the
/// gradients of the query heads that share them (GQA).
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* out, const float* lse, int64_t T, int64_t H, int64_t Hkv,
                        int64_t Dh, float scale, int64_t window);
/// Scalar reference in double: full score rows, ordinary softmax and its Jacobian.
void attention_backward_ref(double* dq, double* dk, double* dv, const double* dout, const double* q,
                            const double* k, const double* v, int64_t T, int64_t H, int64_t Hkv, int64_t Dh,
                            double scale, int64_t window);
/// Forward reference on double data, the same computation as the float reference; lse (Tq, H) may be null.
void attention_forward_ref(double* out, double* lse, const double* q, const double* k, const double* v, int64_t Tq,
                           int64_t Tk, int64_t H, int64_t Hkv, int64_t Dh, double scale, int64_t window);

}  // namespace mc

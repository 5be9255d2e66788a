// NB-LoRA with the Cayley parameterisation (spec/training.md §4, §5; DECISIONS #1, #5, #8, #13): the
// norm-bounded LoRA of Wang et al. 2025 ("NB-LoRA", arXiv:2501.19050) whose factors come from a Cayley
// map (Wen & Yin 2013, "A feasible method for optimization with orthogonality constraints", Math.
// Program. 142, eq. (7)) of unconstrained parameters, so that
//   ΔW = 2·Bᵀ·diag(S)·A (out m × in n),  [Aᵀ; Bᵀ] ∈ St(n+m, r),  S = clip(S_raw, 0, scale_bound),
// and ‖ΔW‖₂ ≤ 2·max S ≤ σ_k(W)(1 − √ε) by construction (Weyl 1912: the base spectrum moves by < σ_k).
//
// What this file is: the pure math of one module — parameters, the Cayley forward to the engine's plain
// LoRA factors (A_eff (r, n), B_eff (m, r), scale 1: y = W x + B_eff (A_eff x)), its hand-derived
// backward, ΔW and its spectrum. What it is not: no model, no optimizer loop, no I/O. The trainer calls
// cayley_forward() before each forward pass and cayley_backward() after the engine's backward.
//
// Numerics: every product runs in double (cblas), the r × r system by LU with partial pivoting
// (LAPACKE_dgesv); float parameters convert exactly, the float outputs are rounded once at the end.
// Derivation of the backward: docs/nblora_mass.md §1.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "geometry/matrix.h"

namespace mc::train {

/// Trainable parameters of one NB-LoRA module (rank r, in n, out m), spec/training.md §4.
template <typename T>
struct NbLoraParamsT {
  int64_t r = 0;
  int64_t n = 0;             // in_features
  int64_t m = 0;             // out_features
  std::vector<T> At;         // (r, n)  Ã, unconstrained
  std::vector<T> Bt;         // (r, m)  B̃, unconstrained
  std::vector<T> S_raw;      // (r)     pre-clip scales; S = clip(S_raw, 0, scale_bound)
  double scale_bound = 0.0;  // upper clip of S (nblora_scale_bound)
};
using NbLoraParams  = NbLoraParamsT<float>;   // what the trainer stores
using NbLoraParamsD = NbLoraParamsT<double>;  // tests, gradient checks

/// Gradients of one module's parameters, same shapes as NbLoraParamsT.
template <typename T>
struct NbLoraGradsT {
  std::vector<T> dAt;     // (r, n)
  std::vector<T> dBt;     // (r, m)
  std::vector<T> dS_raw;  // (r)
};
using NbLoraGrads  = NbLoraGradsT<float>;
using NbLoraGradsD = NbLoraGradsT<double>;

/// What cayley_backward() needs from cayley_forward(), per module: r² + m·r + r doubles.
struct CayleyWorkspace {
  int64_t r = 0, n = 0, m = 0;
  std::vector<double> K;   // (r, r)  (I + Z)⁻¹
  std::vector<double> Bq;  // (m, r)  Bᵀ = rows n.. of the Stiefel point Q
  std::vector<double> S;   // (r)     clip(S_raw, 0, scale_bound)
};

/// scale_bound of a target module (DECISIONS #1, spec/training.md §3.10):
///   tail_dims > 0:                    (σ_k / 2)(1 − √ε)    ⇒ ‖ΔW‖₂ ≤ σ_k (1 − √ε)
///   tail_dims = 0 and spectral_gap > 0: (gap / 4)(1 − √ε)  (no-crossing ‖ΔW‖₂ < gap/2, halved for the 2)
/// ε = float32's machine epsilon (training.md §1). Throws mc::Error("[nblora] ...") when the module is
/// not a target (tail_dims = 0 and gap ≤ 0) or σ_k / gap is not finite and positive.
double nblora_scale_bound(double sigma_k, int64_t tail_dims, double spectral_gap);

/// Zero-delta init (DECISIONS #5, training.md §3.14): Ã = 0, B̃ = 0 (so A = [I_r | 0], B = 0, ΔW = 0)
/// and S_raw = scale_bound / 2. Throws mc::Error("[nblora] ...") unless 1 ≤ r ≤ n, m ≥ 1 and
/// scale_bound is finite and positive (the Cayley chart takes X from the first r rows of Ãᵀ).
template <typename T>
NbLoraParamsT<T> nblora_init(int64_t r, int64_t n, int64_t m, double scale_bound);

/// Trainable parameter count r·(n + m + 1) (DECISIONS #8: S included).
int64_t nblora_param_count(int64_t r, int64_t n, int64_t m);

/// The Stiefel point Q = [(I − Z)K; −2YK] ((n+m), r), row-major, of the Cayley map (training.md §4):
/// M = [Ãᵀ; B̃ᵀ], X = M[0:r], Y = M[r:], Z = (X − Xᵀ) + YᵀY, K = (I + Z)⁻¹; QᵀQ = I exactly in exact
/// arithmetic (docs/nblora_mass.md §1). Aᵀ = Q[0:n], Bᵀ = Q[n:]. Throws on non-finite parameters.
template <typename T>
std::vector<double> cayley_q(const NbLoraParamsT<T>& p);

/// Cayley forward: the engine's effective LoRA factors with scale 1,
///   A_eff (r, n) = A,   B_eff (m, r) = 2·Bᵀ·diag(S),   so B_eff·A_eff = ΔW,
/// and fills `ws` for the backward. The spans must hold r·n and m·r elements.
template <typename T>
void cayley_forward(const NbLoraParamsT<T>& p, CayleyWorkspace& ws, std::span<T> A_eff, std::span<T> B_eff);

/// Cayley backward: pulls the engine's gradients dA_eff (r, n) and dB_eff (m, r) back to the NB-LoRA
/// parameters and ACCUMULATES (+=) into `g` (sized by the caller, e.g. nblora_zero_grads). `p` must be
/// the parameters `ws` was computed from. Clip convention (same as torch.clamp's gradient):
/// dS_raw = dS where 0 ≤ S_raw ≤ scale_bound (inclusive), else 0 — a clipped S does not move the loss,
/// and an S resting exactly on a bound keeps its gradient so it can leave the bound again.
template <typename T>
void cayley_backward(const NbLoraParamsT<T>& p, const CayleyWorkspace& ws, std::span<const T> dA_eff,
                     std::span<const T> dB_eff, NbLoraGradsT<T>& g);

/// Zero gradients shaped like `p`.
template <typename T>
NbLoraGradsT<T> nblora_zero_grads(const NbLoraParamsT<T>& p);

/// Σ of squared gradient entries (in double), for the global ‖d‖ of MASS (training.md §5).
template <typename T>
double nblora_grad_sq_norm(const NbLoraGradsT<T>& g);

/// One step of training.md §5: θ ← θ − η·d on (Ã, B̃, S_raw), then S_raw ← clip(S_raw, 0, scale_bound).
template <typename T>
void nblora_apply_step(NbLoraParamsT<T>& p, const NbLoraGradsT<T>& d, double eta);

/// ΔW = 2·Bᵀ·diag(S)·A (m, n) in double. O(m·n·r); for tests, merging and export.
template <typename T>
geometry::MatrixD nblora_delta_w(const NbLoraParamsT<T>& p);

/// The min(m, r) singular values of ΔW, descending (the rest are 0), without forming ΔW: with the thin
/// QRs Aᵀ = Q_a R_a and Bᵀ = Q_b R_b, ΔW = Q_b (2 R_b diag(S) R_aᵀ) Q_aᵀ has the singular values of the
/// small core 2 R_b diag(S) R_aᵀ. Cost O((n+m)·r²).
template <typename T>
std::vector<double> nblora_delta_w_singular_values(const NbLoraParamsT<T>& p);

/// ‖ΔW‖₂ (0 for a zero adapter).
template <typename T>
double nblora_spectral_norm(const NbLoraParamsT<T>& p);

/// Saturation ratio ‖ΔW‖₂ / scale_bound, in [0, 1] (up to rounding); the module is saturated at ≥ 1 − √ε.
/// Deviation from training.md §6 / DECISIONS #14, which divide by 2·scale_bound: because [Aᵀ; Bᵀ] has
/// orthonormal columns, ‖ΔW‖₂ = 2‖Bᵀ diag(S) A‖₂ ≤ max S ≤ scale_bound (for rank 1, 2s‖a‖‖b‖ with
/// ‖a‖² + ‖b‖² = 1 peaks at s), so the spec's ratio never exceeds 1/2 and its saturation rule could never
/// fire. Dividing by the reachable maximum makes saturation observable (docs/decisions.md).
template <typename T>
double nblora_saturation_ratio(const NbLoraParamsT<T>& p);

}  // namespace mc::train

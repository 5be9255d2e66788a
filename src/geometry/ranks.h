// Norms, ranks and spectral shape measures computed from a list of singular values: what
// `mc model capacity`, the training plan (spec/training.md §2, §3.11) and the activation analyses
// (spec/surface.md §4.0, §4.2, §4.11) need. Pure functions on σ; the SVD lives in spectrum.h.
//
// Every function takes σ descending and non-negative (as singular_values() returns them) and checks
// that with MC_CHECK. "m, n" is the shape of the matrix the values came from.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace mc::geometry {

/// Machine epsilons as numpy.finfo(...).eps reports them.
inline constexpr double kEpsF64 = 0x1.0p-52;  // 2.220446049250313e-16
inline constexpr double kEpsF32 = 0x1.0p-23;  // 1.1920928955078125e-07
inline constexpr double kEpsF16 = 0x1.0p-10;  // 9.765625e-04
/// √ε thresholds of the capacity analysis (surface.md §3.5, §4.11) and training.md §1.
inline constexpr double kSqrtEpsF32 = 3.4526698300124393e-04;  // √(2⁻²³)
inline constexpr double kSqrtEpsF16 = 0.03125;                 // √(2⁻¹⁰)
/// Smallest normal float32 (numpy.finfo(float32).tiny): training.md §2's "tiny" fallback for σ_k.
inline constexpr double kTinyF32 = 1.1754943508222875e-38;

// --- norms ---------------------------------------------------------------------------------------

/// ‖W‖_F = √Σσ².
double frobenius_norm(std::span<const double> s);
/// ‖W‖₂ = σ₁ (0 for an empty list).
double spectral_norm(std::span<const double> s);
/// ‖W‖_* = Σσ.
double nuclear_norm(std::span<const double> s);

// --- continuous ranks ----------------------------------------------------------------------------

/// Stable rank ‖W‖_F²/‖W‖₂² = Σσ²/σ₁² (Rudelson & Vershynin 2007), in [1, rank]; 0 for a zero matrix.
/// Robust to tiny σ, insensitive to anything but the top of the spectrum.
double stable_rank(std::span<const double> s);

/// Participation ratio (Σσ)²/Σσ² of the singular values: `effectiveRank` of `mc model capacity`
/// (surface.md §4.11; *not* the Shannon effective rank). In [1, rank]; 0 for a zero matrix.
double participation_ratio(std::span<const double> s);

/// Which distribution the Shannon entropy is taken of.
enum class ErankWeights {
  /// p_i = σ_i / Σσ_j: Roy & Vetterli 2007 ("The effective rank: a measure of effective
  /// dimensionality", EUSIPCO), eq. (1)–(2), exactly as published.
  SingularValues,
  /// p_i = σ_i² / Σσ_j²: the energy (spectral-entropy) form that spec/training.md §2 uses for the
  /// structural rank k and surface.md §4.2 for activation clouds (λ_i = σ_i² of the centred data).
  Energy,
};

/// Spectral entropy H = −Σ p_i ln p_i (natural log; p_i = 0 terms contribute 0), in [0, ln r] where
/// r = #{σ > 0}. 0 for a zero matrix.
double spectral_entropy(std::span<const double> s, ErankWeights weights);

/// Shannon effective rank exp(H) (Roy & Vetterli 2007), in [1, #{σ > 0}] and equal to min(m, n)
/// exactly when all σ are equal (e.g. an orthogonal matrix). Returns 0 for a zero matrix
/// (training.md §2: "0 if sum(S²) ~ 0"). Bias: exp(H) of a finite noisy spectrum over-counts
/// dimensions carrying noise energy; it is a shape measure, not a rank test.
double shannon_effective_rank(std::span<const double> s, ErankWeights weights);

/// Rényi-2 effective rank (Σλ)²/Σλ² with λ = σ² (surface.md §4.2); ≤ Shannon (Energy) erank.
double renyi2_effective_rank(std::span<const double> s);

// --- discrete ranks ------------------------------------------------------------------------------

/// Numerical rank as numpy.linalg.matrix_rank computes it: #{σ_i > σ₁·max(m, n)·eps} (surface.md §4.0,
/// the SVD rank threshold of training.md §1). numpy takes eps from the input dtype; training.md fixes
/// float32's ε = 2⁻²³ whatever the storage type, hence the default.
int64_t numerical_rank(std::span<const double> s, int64_t m, int64_t n, double eps = kEpsF32);

/// #{σ_i > threshold}.
int64_t count_above(std::span<const double> s, double threshold);

/// The largest relative gap ("knee") of the spectrum.
struct RecommendedRank {
  int64_t rank = 0;        // 1-based i maximizing σ_i / σ_{i+1}
  double gap_ratio = 0.0;  // that ratio (+inf when σ_{i+1} = 0 < σ_i)
};
/// recommended_rank = argmax over 1-based i in [1, r−1] with σ_i > 0 of σ_i/σ_{i+1} (σ_{i+1} = 0 ⇒ ∞;
/// the first maximum wins), as spec/training.md §2 and surface.md §4.11 define it. Edge cases from
/// surface.md: one value σ₁ > 0 ⇒ (1, ∞); all zero ⇒ (1, 1.0); an empty list ⇒ (0, NaN).
RecommendedRank recommended_rank(std::span<const double> s);

/// Condition number over the significant spectrum: σ₁ / σ_r with r = numerical_rank(s, m, n, eps)
/// (surface.md §4.12 "κ over σ above tolerance"). NaN when r = 0.
double condition_number(std::span<const double> s, int64_t m, int64_t n, double eps = kEpsF32);

/// condition_number(after) / condition_number(before): the condition ratio κ(W')/κ(W) of surface.md
/// §4.12 (how much an adapter changes the conditioning of W).
double condition_ratio(std::span<const double> s_after, std::span<const double> s_before, int64_t m, int64_t n,
                       double eps = kEpsF32);

// --- per-matrix geometry of the training plan (spec/training.md §2) ------------------------------

struct LayerGeometry {
  int64_t m = 0, n = 0;
  int64_t full_rank = 0;         // min(m, n)
  int64_t n_svs = 0;             // number of singular values given (== full_rank unless truncated)
  double sigma_max = 0.0;        // σ₁
  int64_t recommended_rank = 0;  // relative-gap knee, see recommended_rank()
  double recommended_gap_ratio = 0.0;
  int64_t precision_rank = 0;    // #{σ > max(m,n)·ε_f32·σ_max} ("effective_rank (precision)")
  double erank = 0.0;            // Shannon effective rank, Energy weights
  int64_t k = 0;                 // structural rank max(1, min(floor(erank), n_svs − 1))
  double sigma_k = 0.0;          // σ_k (1-based)
  double spectral_gap = 0.0;     // σ_{k−1} − σ_k (k ≥ 2), else σ_k
  int64_t tail_dims = 0;         // max(0, full_rank − k): the null-space capacity / derived LoRA rank
  double decay_ratio = 0.0;      // σ_max / σ_k
  bool is_targetable = false;    // tail_dims > 0
};

/// LayerGeometry exactly as spec/training.md §2 defines it. `s` may hold only the top n_svs values of a
/// larger spectrum (randomized path); then pass the matrix's exact ‖W‖_F² as `total_energy` and the
/// Shannon erank is taken over the flat-tail completion of spectrum_with_flat_tail() (training.md §2
/// PROPOSED). σ_k ≤ 0 falls back to the smallest positive σ, else kTinyF32. An empty spectrum gives
/// zeros with tail_dims = full_rank.
LayerGeometry layer_geometry(std::span<const double> s, int64_t m, int64_t n, double total_energy = -1.0);

/// Capacity metrics of one weight matrix (surface.md §4.11, `mc model capacity`).
struct CapacityMetrics {
  double spectral_norm = 0.0;        // σ₁
  double nuclear_norm = 0.0;         // Σσ
  double frobenius_norm = 0.0;       // √Σσ²
  double effective_rank = 0.0;       // participation ratio (Σσ)²/Σσ²
  double stable_rank = 0.0;          // Σσ²/σ₁²
  int64_t numerical_rank_f32 = 0;    // #{σ > σ₁·√ε_f32}
  int64_t numerical_rank_f16 = 0;    // #{σ > σ₁·√ε_f16}
  int64_t null_space_dim_f32 = 0;    // min(m,n) − numerical_rank_f32
  double null_space_fraction = 0.0;  // null_space_dim_f32 / min(m,n)
  int64_t recommended_rank = 0;
  double spectral_gap_at_rank = 0.0;  // recommended_rank().gap_ratio
  double capacity_utilization = 0.0;  // effective_rank / min(m,n)
};
CapacityMetrics capacity_metrics(std::span<const double> s, int64_t m, int64_t n);

// --- Marchenko–Pastur signal rank (spec/training.md §3.11) ---------------------------------------

/// Median of the Marchenko–Pastur law with aspect ratio β ∈ (0, 1] and unit variance: the μ_β of
/// Gavish & Donoho 2014 ("The optimal hard threshold for singular values is 4/√3", IEEE TIT), found by
/// bisection on the CDF, integrated with θ-substitution and composite Simpson (error < 1e-10).
double marchenko_pastur_median(double beta);

struct MpSignalRank {
  double noise_variance = 0.0;            // σ̂²
  double edge = 0.0;                      // λ₊ = σ̂²(1 + √q)²
  int64_t signal_rank = 0;                // #{λ_i > λ₊}
  double signal_variance_fraction = 0.0;  // Σ_{λ>λ₊} λ / Σλ
  double activation_erank = 0.0;          // exp(H(λ/Σλ)) = Shannon erank with Energy weights
};

/// RMT signal rank of an activation matrix X (N samples, d features) from the singular values `s` of
/// its column-centred copy (training.md §3.11): λ_i = s_i²/n, q = d/n, edge λ₊ = σ²(1 + √q)², with the
/// noise level from the median eigenvalue (training.md PROPOSED, Gavish & Donoho 2014 §III-E):
/// σ̂² = median(λ)/μ_q when q ≤ 1; when q > 1 only n eigenvalues are non-trivial and they follow
/// q·MP(1/q), so σ̂² = median(λ)/(q·μ_{1/q}). The median runs over the min(n, d) largest values.
/// n is the number of degrees of freedom: N − 1 when `centred` (centring removes one, and leaves one
/// exactly-zero singular value when d ≥ N, which would otherwise drag the median down), else N.
/// (training.md writes λ = s²/N; the scale of λ cancels in λ > λ₊, only q and the median set matter.)
/// Bias: signal spikes above the edge inflate the median slightly (σ̂² biased up, rank biased down);
/// the largest pure-noise eigenvalue fluctuates around λ₊ on the Tracy–Widom scale n^(−2/3), so a
/// noise direction can land just above the edge.
MpSignalRank mp_signal_rank(std::span<const double> s, int64_t n_samples, int64_t dim, bool centred = true);

}  // namespace mc::geometry

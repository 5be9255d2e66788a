// Singular value decompositions for the geometry library: exact SVD through LAPACK's divide-and-conquer
// driver (gesdd), randomized SVD (Halko, Martinsson & Tropp 2011) for very large matrices, and the
// adaptive "top-k until the tail energy is negligible" spectrum of spec/training.md §2. Pure measurement:
// no model or file knowledge here. Mirrors numpy.linalg.svd (which also calls gesdd) in semantics.
//
// Layout: inputs are row-major views (a weight is (out, in) as HF stores it). LAPACK is column-major;
// a row-major (m, n) buffer *is* the column-major (n, m) matrix Aᵀ, so we decompose Aᵀ = U' Σ V'ᵀ in
// place of A and read A = V' Σ U'ᵀ back without any transpose copies (see spectrum.cpp).
//
// Threads: LAPACK/BLAS run with whatever thread count OpenBLAS is configured for (OPENBLAS_NUM_THREADS);
// this library never changes it. Results agree across thread counts to rounding.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "geometry/matrix.h"

namespace mc::geometry {

/// Which LAPACK routine runs the exact SVD.
enum class SvdPrecision {
  /// dgesdd on a double copy of the input (the default). Float inputs convert exactly, so the only
  /// error is the backward error of the double SVD: |σ_i − σ̂_i| ≲ c·min(m,n)·2⁻⁵²·σ_max. This is what
  /// numpy gives for a float64 array and what the goldens compare against.
  Double,
  /// sgesdd on a float copy: half the memory traffic and about twice as fast, with |σ_i − σ̂_i| ≲
  /// c·min(m,n)·2⁻²³·σ_max. Enough for thresholds at σ_max·√ε_f32 (capacity ranks), not for small σ.
  Single,
};

/// A thin SVD A = U·diag(s)·Vᵀ of an (m, n) matrix, k = number of singular triplets kept.
struct Svd {
  std::vector<double> s;  // (k) descending, non-negative
  MatrixD u;              // (m, k) left singular vectors as columns (empty when values only)
  MatrixD vt;             // (k, n) right singular vectors as rows (empty when values only)
};

/// All min(m, n) singular values of `a` (m, n), descending. Throws mc::Error("[svd] ...") on a
/// malformed or non-finite input or when LAPACK does not converge (exit code Runtime). An empty matrix
/// gives an empty vector.
template <typename T>
std::vector<double> singular_values(MatrixView<T> a, SvdPrecision precision = SvdPrecision::Double);

/// Thin SVD with vectors: k = min(m, n), U (m, k), Vᵀ (k, n). Singular vectors are unique only up to
/// sign (and rotation within repeated σ); compare subspaces or reconstructions, not raw vectors.
template <typename T>
Svd svd_thin(MatrixView<T> a, SvdPrecision precision = SvdPrecision::Double);

/// ‖A‖_F² accumulated in double (exact products of float inputs, one rounding per addition).
template <typename T>
double frobenius_sq(MatrixView<T> a);

// --- randomized SVD ------------------------------------------------------------------------------

/// Oversampling p of HMT 2011 §4.2: sample k + p random directions to capture the top k. p = 10 is
/// the paper's recommendation (failure probability ~ 6·p^(−p) for the expected-error bound, eq. 1.9).
inline constexpr int64_t kRsvdOversampling = 10;
/// Power (subspace) iterations q of HMT Alg. 4.4. Each one raises the singular-value decay to the
/// (2q+1)th power in the error bound (eq. 1.11); q = 2 is what spec/training.md §2 prescribes.
inline constexpr int kRsvdPowerIterations = 2;

struct RandomizedSvdOptions {
  int64_t rank = 0;                             // k: singular triplets wanted (1 <= k <= min(m, n))
  int64_t oversampling = kRsvdOversampling;     // p
  int power_iterations = kRsvdPowerIterations;  // q
  uint64_t seed = 0;                            // Gaussian test matrix Ω from mc::Rng(seed)
  bool vectors = true;                          // false: s only
};

/// Top-k SVD by randomized subspace iteration (Halko, Martinsson & Tropp 2011, SIAM Review 53(2),
/// Alg. 4.4 with re-orthonormalization after every product) followed by the direct SVD of the small
/// projected matrix B = QᵀA (Alg. 5.1). Ω is (n, k+p) standard Gaussian.
/// Bias: every computed σ̂_i ≤ σ_i (they are singular values of the projection QQᵀA); the error is
/// small when σ_{k+p+1}/σ_k is small. Products with A run in A's precision (sgemm for float input),
/// the QR factorizations and the small SVD in double, so σ̂ carries ~2⁻²³·σ_max error for float input.
template <typename T>
Svd randomized_svd(MatrixView<T> a, const RandomizedSvdOptions& options);

// --- adaptive spectrum (spec/training.md §2) -----------------------------------------------------

/// Matrices with min(m, n) at or below this use the exact SVD; larger ones the randomized path.
/// training.md §2 proposes full SVD for matrices up to 8192² and randomized beyond.
inline constexpr int64_t kExactSvdMaxDim = 8192;
/// Randomized rounds: k doubles each round until the uncaptured energy is negligible (training.md §2).
inline constexpr int kSpectrumMaxRounds = 3;
/// Stop the rounds once the uncaptured energy fraction is below √ε_f32 = √(2⁻²³) (training.md §2; the
/// same value as kSqrtEpsF32 in ranks.h, training.md §1's "numeric floor").
inline constexpr double kSpectrumTailTolerance = 3.4526698300124393e-4;
/// First round's k: min(256, max(16, full_rank / 2)) (training.md §2).
inline constexpr int64_t kSpectrumInitialRankMin = 16;
inline constexpr int64_t kSpectrumInitialRankMax = 256;

/// Singular values of one matrix, possibly only the top of them, with what is needed to account for
/// the rest.
struct SpectrumEstimate {
  std::vector<double> s;      // (k) descending; k = full_rank when exact
  int64_t m = 0, n = 0;       // shape of the matrix
  int64_t full_rank = 0;      // min(m, n)
  double frobenius_sq = 0.0;  // ‖A‖_F², computed exactly from the entries (not from s)
  bool exact = true;          // s holds all min(m, n) singular values
  int rounds = 0;             // randomized rounds used (0 = exact SVD)
  /// (‖A‖_F² − Σ s_i²)/‖A‖_F², clamped at 0: the energy fraction not captured by s (0 when exact).
  double tail_energy_fraction = 0.0;
};

struct SpectrumOptions {
  int64_t exact_max_dim = kExactSvdMaxDim;      // min(m, n) <= this → exact SVD
  double tail_tolerance = kSpectrumTailTolerance;  // stop doubling k once the tail fraction is below
  uint64_t seed = 0;                            // training.md: (seed + hash(key)) & 0xFFFFFFFF per matrix
  SvdPrecision precision = SvdPrecision::Double;  // for the exact path
};

/// Exact SVD when min(m, n) <= exact_max_dim; otherwise randomized top-k with k0 = min(256, max(16,
/// full_rank/2)), oversampling 10, 2 power iterations, doubling k until the tail energy fraction <
/// tail_tolerance, at most 3 rounds, then falling back to the exact SVD (training.md §2).
template <typename T>
SpectrumEstimate spectrum_estimate(MatrixView<T> a, const SpectrumOptions& options = {});

/// The estimate's values extended to full_rank entries by the flat-tail model of training.md §2
/// (PROPOSED there): the uncaptured energy R = ‖A‖_F² − Σ s_i² is spread evenly over the
/// full_rank − k missing values, each σ_tail = √(R / (full_rank − k)). Values stay descending only
/// if σ_tail <= s_k, which holds whenever the captured values really are the top ones; we clamp
/// σ_tail to s_k to keep the order. An exact estimate is returned unchanged.
std::vector<double> spectrum_with_flat_tail(const SpectrumEstimate& e);

}  // namespace mc::geometry

// Heavy-tailed power-law exponent α of a weight matrix's empirical spectral density (ESD), exactly as
// WeightWatcher 0.7.7 computes it by default (`WeightWatcher(model).analyze()`: fit='PL',
// pl_package='ww', fix_fingers=False, xmax=None, normalize=False, glorot_fix=False), so that our α
// column can be read against published WeightWatcher numbers (Martin & Mahoney 2021, "Implicit
// self-regularization in deep neural networks", JMLR 22(165); Martin, Peng & Mahoney 2021, Nat. Comm.).
//
// What WeightWatcher 0.7.7 does for one dense layer W (read from weightwatcher.py / WW_powerlaw.py):
//  1. eigenvalues λ_i = σ_i² of WᵀW — *not* divided by N (normalize=False) — from a float64 SVD;
//  2. keeps λ > 1e−5 (EVALS_THRESH, the CPU value), sorted ascending: x_1 ≤ … ≤ x_N;
//  3. N ≥ 20: for every candidate x_min = x_i, i = 1..N−1, the continuous power-law MLE on the tail
//     n = N−i+1 values (Clauset, Shalizi & Newman 2009, eq. 3.1):  α_i = 1 + n / Σ_{j≥i} ln(x_j/x_i),
//     and the KS distance D_i = max_j |1 − (x_j/x_i)^{1−α_i} − (j−i)/n| (theoretical CDF against the
//     empirical CDF 0, 1/n, …, (n−1)/n — WW's convention, not the powerlaw package's 1/n…1);
//     x_min is the first argmin of D (Clauset et al. §3.3), α = α_{argmin};
//  4. N < 20 ("small N" path): α_i = 1 + (n−1)/Σ ln(x_j/x_i) (bias-corrected MLE), candidates with
//     n < 8 or Σ ln ≤ 1e−12 skipped, x_min = argmin of J_i = D_i − 0.868/√n;
//  5. σ_α = (α−1)/√(N − i) (standard error at the chosen i, 0-based), num_pl_spikes = #{λ ≥ x_min}.
// WeightWatcher skips layers with fewer than 8 eigenvalues (min_evals) before fitting; so do we.
//
// Agreement with weightwatcher 0.7.7 (tests/golden/geometry_golden_test.cpp, 12 matrices incl. three
// SmolLM2-135M weights): α, x_min, x_max and D within 1e-9 relative (observed ≤ 6e-14), num_pl_spikes
// equal; the only intended difference is σ in the small-N fallback (see powerlaw.cpp).
//
// Bias and requirements: the Hill-type MLE is biased upward for small tails (n ≲ 50); the KS-minimising
// x_min is unstable when two candidates have nearly equal D (then α can jump between them). α is only
// meaningful for heavy-tailed ESDs; for a Marchenko–Pastur bulk it comes out large (≳ 6).
#pragma once
#include <cstdint>
#include <span>

namespace mc::geometry {

/// WeightWatcher's EVALS_THRESH on CPU: eigenvalues at or below it are dropped before the fit.
inline constexpr double kWwEvalsThreshold = 1e-5;
/// WeightWatcher's default min_evals: layers with fewer eigenvalues are not analysed.
inline constexpr int64_t kWwMinEvals = 8;
/// Below this many eigenvalues WeightWatcher 0.7.7 switches to its small-N fit (SMALL_N_CUTOFF).
inline constexpr int64_t kWwSmallNCutoff = 20;
/// Small-N fit: smallest tail considered (k_min) and the KS tail-size reward 0.868/√n.
inline constexpr int64_t kWwSmallNMinTail = 8;
inline constexpr double kWwSmallNTailReward = 0.868;

struct PowerLawFit {
  bool ok = false;             // false: not fitted (too few eigenvalues); the numbers below are then −1
  double alpha = -1.0;         // power-law exponent α of p(λ) ∝ λ^{−α}
  double xmin = -1.0;          // λ_min where the power-law tail starts
  double xmax = -1.0;          // largest eigenvalue
  double D = -1.0;             // KS distance at the chosen x_min
  double sigma = -1.0;         // (α − 1)/√(N − i): WeightWatcher's standard error
  int64_t num_pl_spikes = -1;  // eigenvalues ≥ x_min (the fitted tail)
  int64_t num_evals = 0;       // eigenvalues above kWwEvalsThreshold (the N of the fit)
  bool small_n = false;        // the small-N path was used
};

/// Fits the power law to eigenvalues `evals` (any order; e.g. σ² of a weight matrix), dropping those
/// ≤ kWwEvalsThreshold. Returns ok = false when fewer than 2 remain (WeightWatcher's fit fails there).
PowerLawFit powerlaw_fit_ww(std::span<const double> evals);

/// α of a weight matrix from its singular values σ (any order): eigenvalues σ², not fitted (ok = false)
/// when there are fewer than kWwMinEvals singular values, as WeightWatcher skips such layers.
PowerLawFit esd_alpha(std::span<const double> singular_values);

}  // namespace mc::geometry

// Intrinsic dimension of a point cloud X (N points, D features; rows are points): TwoNN (Facco et al.
// 2017) and the Levina–Bickel maximum-likelihood estimator (2004) with MacKay & Ghahramani's averaging,
// both as scikit-dimension 0.5.0 computes them by default (skdim.id.TwoNN(), skdim.id.MLE()), over an
// exact Euclidean k-nearest-neighbour search. Distances are plain Euclidean: upstream's "geodesic"
// TwoNN is a no-op for the first two neighbours (spec/surface.md §0.1), so we do not build a graph.
//
// Duplicate points (identical rows, e.g. repeated prompts giving identical mean-pooled hidden states)
// make r1 = 0 and the ratios undefined. We handle them explicitly with DuplicatePolicy:
//  * Collapse (default): identical rows are merged into one point before the neighbour search, so
//    the estimate is that of the distinct points. Exact duplicates carry no geometric information,
//    and leaving one copy as a neighbour of others (as DropZeroR1 does) plants ratios μ = 1.
//  * DropZeroR1: scikit-dimension's behaviour: all rows stay in the neighbour search, and points whose
//    nearest other point is at distance 0 are left out of the estimate (TwoNN drops their non-finite
//    ratio; for the MLE we drop their zero-distance log terms the same way, where skdim returns 0).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "geometry/matrix.h"

namespace mc::geometry {

enum class DuplicatePolicy { Collapse, DropZeroR1 };

// --- exact k-nearest neighbours --------------------------------------------------------------------

/// The k nearest *other* points of every point, ascending by distance (ties by index).
struct KnnGraph {
  int64_t n = 0;
  int64_t k = 0;
  std::vector<double> dist;    // (n, k) Euclidean distances
  std::vector<int64_t> index;  // (n, k) neighbour row indices
};

/// Exact Euclidean kNN (1 <= k < N) by brute force. Candidate distances come from the Gram identity
/// ‖x‖² + ‖y‖² − 2x·y (blocked dgemm, double); every kept neighbour's distance is then recomputed
/// directly as √Σ(x_i − y_i)² in double, and any point whose Gram distance lies within the Gram
/// identity's rounding bound of the k-th exact distance is re-checked exactly, so the neighbour sets
/// are exact (not just approximately right when distances are tiny relative to the norms).
template <typename T>
KnnGraph knn_exact(MatrixView<T> x, int64_t k);

/// Row indices of the distinct rows of x (first occurrence of each), ascending. Rows are compared by
/// value (so −0.0 equals 0.0).
template <typename T>
std::vector<int64_t> distinct_rows(MatrixView<T> x);

// --- TwoNN ---------------------------------------------------------------------------------------

/// scikit-dimension's default: the 10% largest ratios μ are discarded before the fit (Facco et al.
/// 2017 discard the tail of the empirical CDF, where −ln(1 − F) is noisy).
inline constexpr double kTwoNNDiscardFraction = 0.1;

struct TwoNNOptions {
  double discard_fraction = kTwoNNDiscardFraction;  // in [0, 1)
  DuplicatePolicy duplicates = DuplicatePolicy::Collapse;
};

struct TwoNNResult {
  double dimension = 0.0;
  int64_t n_points = 0;    // rows of X
  int64_t n_distinct = 0;  // distinct rows
  int64_t n_used = 0;      // points with a finite ratio μ = r2/r1 (M)
  int64_t n_fit = 0;       // smallest ratios kept for the regression
  std::vector<double> mu;  // (n_used) the ratios, in point order (for bootstrap intervals)
};

/// TwoNN intrinsic dimension (Facco, d'Errico, Rodriguez & Laio 2017, Sci. Rep. 7:12140, eq. (1)–(3)):
/// μ_i = r2/r1 follows Pareto(1, d), so −ln(1 − F(μ)) = d·ln μ. With the M finite ratios sorted
/// ascending, F_i = i/M, the n_fit = floor(M·(1 − discard_fraction)) smallest are kept and d is the
/// least-squares slope through the origin, d = Σ x_i y_i / Σ x_i², x = ln μ, y = −ln(1 − F).
/// n_fit is capped at M − 1 (F = 1 would give y = ∞), so discard_fraction = 0 reproduces upstream's
/// "drop the last point" variant (surface.md §4.1). Requirements: locally uniform density on the
/// scale of the second neighbour; needs ≥ 3 distinct points and non-degenerate ratios, else mc::Error.
/// Bias: underestimates d for d ≳ 10 at small N (boundary and curvature effects); N ≈ 20 (one probe set)
/// gives a very noisy estimate.
template <typename T>
TwoNNResult twonn(MatrixView<T> x, const TwoNNOptions& options = {});

/// The regression step alone, on finite ratios μ >= 1 (any order).
double twonn_from_ratios(std::span<const double> mu, double discard_fraction = kTwoNNDiscardFraction);

struct ConfidenceInterval {
  double lo = 0.0, hi = 0.0;
  int64_t resamples = 0;  // successful resamples
};
/// Bootstrap percentile interval for TwoNN (surface.md §4.1): `resamples` draws of μ with replacement
/// (mc::Rng(seed)), the estimate on each, and the (1−level)/2 and (1+level)/2 percentiles with linear
/// interpolation (numpy.percentile's default). Throws mc::Error when fewer than 10 resamples succeed.
ConfidenceInterval twonn_bootstrap(std::span<const double> mu, double discard_fraction = kTwoNNDiscardFraction,
                                   int64_t resamples = 200, uint64_t seed = 42, double level = 0.95);

// --- Levina–Bickel MLE ---------------------------------------------------------------------------

/// scikit-dimension's default neighbourhood size (MLE._N_NEIGHBORS).
inline constexpr int64_t kMleNeighbors = 20;

enum class MleAveraging {
  /// d = 1 / mean_i(1/d_i): MacKay & Ghahramani 2005's correction (average the inverse estimates, i.e.
  /// pool the log-distance sums); skdim.id.MLE's default comb='mle'.
  InverseMean,
  /// d = mean_i(d_i): Levina & Bickel 2004's own averaging (eq. 12); biased upward since E[1/Z] > 1/E[Z].
  Mean,
};

struct MleOptions {
  int64_t k = kMleNeighbors;  // neighbours per point; clamped to (distinct points − 1) as skdim does
  MleAveraging averaging = MleAveraging::InverseMean;
  DuplicatePolicy duplicates = DuplicatePolicy::Collapse;
};

struct MleResult {
  double dimension = 0.0;
  int64_t n_points = 0;
  int64_t n_distinct = 0;
  int64_t n_used = 0;  // points with a positive nearest-neighbour distance
  int64_t k = 0;       // neighbours actually used
};

/// Levina & Bickel 2004 ("Maximum likelihood estimation of intrinsic dimension", NIPS 17, eq. (8)):
/// the local estimate at x_i from its k nearest distances T_1 ≤ … ≤ T_k is
/// d_i = (k − 1) / Σ_{j<k} ln(T_k / T_j), then averaged over points (see MleAveraging).
/// Requirements: locally uniform density within the k-th neighbour radius; k ≥ 2 after clamping,
/// ≥ 3 distinct points. Bias: (k−1) gives the Levina–Bickel normalisation (skdim unbiased=False);
/// noise inflates d, curvature and boundaries deflate it.
template <typename T>
MleResult mle_levina_bickel(MatrixView<T> x, const MleOptions& options = {});

}  // namespace mc::geometry

// Exact kNN, duplicate handling, TwoNN and the Levina–Bickel MLE (see intrinsic_dimension.h).
#include "geometry/intrinsic_dimension.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "core/rng.h"

namespace mc::geometry {

namespace {

/// Rows per dgemm block of the Gram matrix: the (block, N) slab stays near 32 MB of doubles.
constexpr int64_t kKnnBlockElems = int64_t{1} << 22;
/// Extra candidates kept from the Gram distances before the exact re-check: a few more than k make it
/// rare that the rounding-bound scan finds anything to add.
constexpr int64_t kKnnCandidateMargin = 8;
/// Fewest successful bootstrap resamples for an interval (surface.md §4.1).
constexpr int64_t kBootstrapMinResamples = 10;

double exact_sq_dist(const double* a, const double* b, int64_t d) {
  double s = 0.0;
  for (int64_t j = 0; j < d; ++j) {
    const double t = a[j] - b[j];
    s += t * t;
  }
  return s;
}

/// kNN on a contiguous double matrix (n, d).
KnnGraph knn_contiguous(const std::vector<double>& x, int64_t n, int64_t d, int64_t k) {
  MC_CHECK(k >= 1 && k < n, "knn needs 1 <= k < n, got k = ", k, ", n = ", n);
  KnnGraph g;
  g.n = n;
  g.k = k;
  g.dist.resize(static_cast<size_t>(n * k));
  g.index.resize(static_cast<size_t>(n * k));
  std::vector<double> norms(static_cast<size_t>(n));  // ‖x_i‖²
  for (int64_t i = 0; i < n; ++i) {
    double s = 0.0;
    for (int64_t j = 0; j < d; ++j) s += x[i * d + j] * x[i * d + j];
    norms[i] = s;
  }
  // |fl(‖x‖² + ‖y‖² − 2x·y) − ‖x − y‖²| ≤ γ(‖x‖² + ‖y‖²) with γ ≈ (d + 3)·2⁻⁵³ for the dot products
  // and the two additions (Higham, Accuracy and Stability, §3.1); we take twice that as a margin.
  const double gamma = 2.0 * (static_cast<double>(d) + 3.0) * 0x1.0p-53;
  const int64_t n_cand = std::min(n - 1, k + kKnnCandidateMargin);
  const int64_t block = std::max<int64_t>(1, std::min(n, kKnnBlockElems / std::max<int64_t>(n, 1)));
  std::vector<double> gram(static_cast<size_t>(block * n));
  std::vector<double> approx(static_cast<size_t>(n));
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::vector<char> is_cand(static_cast<size_t>(n), 0);
  std::vector<std::pair<double, int64_t>> exact;
  for (int64_t r0 = 0; r0 < n; r0 += block) {
    const int64_t rows = std::min(block, n - r0);
    // gram (rows, n) = X[r0:r0+rows] · Xᵀ, row-major.
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(rows), static_cast<blasint>(n),
                static_cast<blasint>(d), 1.0, x.data() + r0 * d, static_cast<blasint>(d), x.data(),
                static_cast<blasint>(d), 0.0, gram.data(), static_cast<blasint>(n));
    for (int64_t ii = 0; ii < rows; ++ii) {
      const int64_t i = r0 + ii;
      const double* xi = x.data() + i * d;
      for (int64_t j = 0; j < n; ++j) approx[j] = norms[i] + norms[j] - 2.0 * gram[ii * n + j];
      approx[i] = std::numeric_limits<double>::infinity();  // never its own neighbour
      std::iota(order.begin(), order.end(), int64_t{0});
      std::nth_element(order.begin(), order.begin() + (n_cand - 1), order.end(),
                       [&](int64_t a, int64_t b) { return approx[a] < approx[b] || (approx[a] == approx[b] && a < b); });
      exact.clear();
      for (int64_t c = 0; c < n_cand; ++c) {
        const int64_t j = order[c];
        is_cand[j] = 1;
        exact.emplace_back(exact_sq_dist(xi, x.data() + j * d, d), j);
      }
      std::sort(exact.begin(), exact.end());
      const double dk = exact[static_cast<size_t>(k - 1)].first;
      // Anything the Gram identity might have misranked past the k-th exact distance gets checked.
      for (int64_t j = 0; j < n; ++j) {
        if (j == i || is_cand[j]) continue;
        if (approx[j] - gamma * (norms[i] + norms[j]) <= dk) exact.emplace_back(exact_sq_dist(xi, x.data() + j * d, d), j);
      }
      for (int64_t c = 0; c < n_cand; ++c) is_cand[order[c]] = 0;
      std::partial_sort(exact.begin(), exact.begin() + k, exact.end());
      for (int64_t c = 0; c < k; ++c) {
        g.dist[i * k + c] = std::sqrt(exact[c].first);
        g.index[i * k + c] = exact[c].second;
      }
    }
  }
  return g;
}

/// The rows of x selected by `rows` (or all rows), as a contiguous double matrix.
template <typename T>
std::vector<double> gather_rows(MatrixView<T> x, const std::vector<int64_t>* rows, int64_t& n_out) {
  n_out = rows ? static_cast<int64_t>(rows->size()) : x.rows;
  std::vector<double> out(static_cast<size_t>(n_out * x.cols));
  for (int64_t i = 0; i < n_out; ++i) {
    const T* src = x.row(rows ? (*rows)[i] : i);
    for (int64_t j = 0; j < x.cols; ++j) out[i * x.cols + j] = static_cast<double>(src[j]);
  }
  return out;
}

/// Points for the estimator under the duplicate policy: the distinct rows (Collapse) or all rows.
template <typename T>
std::vector<double> points_for(MatrixView<T> x, DuplicatePolicy policy, int64_t& n_points, int64_t& n_distinct) {
  std::vector<int64_t> distinct = distinct_rows(x);
  n_distinct = static_cast<int64_t>(distinct.size());
  return gather_rows(x, policy == DuplicatePolicy::Collapse ? &distinct : nullptr, n_points);
}

double percentile_linear(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q / 100.0 * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

}  // namespace

template <typename T>
KnnGraph knn_exact(MatrixView<T> x, int64_t k) {
  check_matrix(x, "knn", "point matrix");
  if (k < 1 || k >= x.rows)
    throw Error("knn", str("need 1 <= k < N for ", k, " neighbours of ", x.rows, " points"));
  int64_t n = 0;
  std::vector<double> pts = gather_rows<T>(x, nullptr, n);
  return knn_contiguous(pts, n, x.cols, k);
}

template <typename T>
std::vector<int64_t> distinct_rows(MatrixView<T> x) {
  std::vector<int64_t> order(static_cast<size_t>(x.rows));
  std::iota(order.begin(), order.end(), int64_t{0});
  auto less = [&](int64_t a, int64_t b) {
    const T* ra = x.row(a);
    const T* rb = x.row(b);
    for (int64_t j = 0; j < x.cols; ++j) {
      if (ra[j] < rb[j]) return true;
      if (rb[j] < ra[j]) return false;
    }
    return a < b;  // equal rows: first occurrence first
  };
  std::sort(order.begin(), order.end(), less);
  std::vector<int64_t> keep;
  for (size_t i = 0; i < order.size(); ++i) {
    if (i > 0) {
      const T* ra = x.row(order[i - 1]);
      const T* rb = x.row(order[i]);
      bool same = true;
      for (int64_t j = 0; j < x.cols && same; ++j) same = ra[j] == rb[j];
      if (same) continue;
    }
    keep.push_back(order[i]);
  }
  std::sort(keep.begin(), keep.end());
  return keep;
}

double twonn_from_ratios(std::span<const double> mu, double discard_fraction) {
  if (!(discard_fraction >= 0.0 && discard_fraction < 1.0))
    throw Error("twonn", str("discard fraction ", discard_fraction, " outside [0, 1)"));
  std::vector<double> sorted(mu.begin(), mu.end());
  std::sort(sorted.begin(), sorted.end());
  const int64_t m = static_cast<int64_t>(sorted.size());
  // Same floating-point expression as scikit-dimension: int(N * (1 - discard_fraction)).
  int64_t n_fit = static_cast<int64_t>(static_cast<double>(m) * (1.0 - discard_fraction));
  n_fit = std::min(n_fit, m - 1);
  if (n_fit < 2) throw Error("twonn", str("only ", std::max<int64_t>(n_fit, 0), " neighbour ratios left to fit (",
                                          m, " usable points); need at least 2"));
  double sxy = 0.0, sxx = 0.0;
  for (int64_t i = 0; i < n_fit; ++i) {
    const double xv = std::log(sorted[i]);
    const double f = static_cast<double>(i + 1) / static_cast<double>(m);
    const double yv = -std::log(1.0 - f);
    sxy += xv * yv;
    sxx += xv * xv;
  }
  if (!(sxx > 0.0))
    throw Error("twonn", "all kept neighbour-distance ratios are 1 (equidistant neighbours); dimension undefined");
  return sxy / sxx;
}

template <typename T>
TwoNNResult twonn(MatrixView<T> x, const TwoNNOptions& o) {
  check_matrix(x, "twonn", "point matrix");
  TwoNNResult r;
  r.n_points = x.rows;
  int64_t n = 0;
  std::vector<double> pts = points_for(x, o.duplicates, n, r.n_distinct);
  if (r.n_distinct < 3)
    throw Error("twonn", str("need at least 3 distinct points, got ", r.n_distinct, " (of ", x.rows, ")"));
  KnnGraph g = knn_contiguous(pts, n, x.cols, 2);
  for (int64_t i = 0; i < n; ++i) {
    const double r1 = g.dist[i * 2], r2 = g.dist[i * 2 + 1];
    if (r1 > 0.0) r.mu.push_back(r2 / r1);
  }
  r.n_used = static_cast<int64_t>(r.mu.size());
  r.dimension = twonn_from_ratios(r.mu, o.discard_fraction);
  r.n_fit = std::min(static_cast<int64_t>(static_cast<double>(r.n_used) * (1.0 - o.discard_fraction)), r.n_used - 1);
  return r;
}

ConfidenceInterval twonn_bootstrap(std::span<const double> mu, double discard_fraction, int64_t resamples,
                                   uint64_t seed, double level) {
  if (mu.empty()) throw Error("twonn", "bootstrap needs at least one ratio");
  if (!(level > 0.0 && level < 1.0)) throw Error("twonn", str("confidence level ", level, " outside (0, 1)"));
  Rng rng(seed);
  std::vector<double> draw(mu.size()), estimates;
  for (int64_t b = 0; b < resamples; ++b) {
    for (double& v : draw) v = mu[rng.uniform_int(mu.size())];
    try {
      estimates.push_back(twonn_from_ratios(draw, discard_fraction));
    } catch (const Error&) {
      // a degenerate resample (e.g. all ratios 1) is skipped, as upstream does
    }
  }
  if (static_cast<int64_t>(estimates.size()) < kBootstrapMinResamples)
    throw Error("twonn", str("only ", estimates.size(), " of ", resamples, " bootstrap resamples gave an estimate"));
  ConfidenceInterval ci;
  ci.lo = percentile_linear(estimates, 100.0 * (1.0 - level) / 2.0);
  ci.hi = percentile_linear(estimates, 100.0 * (1.0 + level) / 2.0);
  ci.resamples = static_cast<int64_t>(estimates.size());
  return ci;
}

template <typename T>
MleResult mle_levina_bickel(MatrixView<T> x, const MleOptions& o) {
  check_matrix(x, "mle", "point matrix");
  MleResult r;
  r.n_points = x.rows;
  int64_t n = 0;
  std::vector<double> pts = points_for(x, o.duplicates, n, r.n_distinct);
  if (r.n_distinct < 3)
    throw Error("mle", str("need at least 3 distinct points, got ", r.n_distinct, " (of ", x.rows, ")"));
  r.k = std::min(o.k, n - 1);  // skdim: n_neighbors >= len(X) → len(X) − 1
  if (r.k < 2) throw Error("mle", str("need k >= 2 neighbours, got k = ", o.k));
  KnnGraph g = knn_contiguous(pts, n, x.cols, r.k);
  const int64_t k = r.k;
  double sum_inv = 0.0, sum_d = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double* t = g.dist.data() + i * k;
    if (!(t[0] > 0.0)) continue;  // a duplicate (DropZeroR1 policy): no finite local estimate
    const double log_tk = std::log(t[k - 1]);
    double s = 0.0;
    for (int64_t j = 0; j < k - 1; ++j) s += log_tk - std::log(t[j]);
    const double inv = s / static_cast<double>(k - 1);  // 1/d_i
    sum_inv += inv;
    sum_d += 1.0 / inv;  // +inf when all k neighbours are equidistant
    ++r.n_used;
  }
  if (r.n_used == 0) throw Error("mle", "no point has a positive nearest-neighbour distance");
  const double nu = static_cast<double>(r.n_used);
  if (o.averaging == MleAveraging::InverseMean) {
    if (!(sum_inv > 0.0)) throw Error("mle", "all neighbourhoods are equidistant; dimension undefined");
    r.dimension = nu / sum_inv;
  } else {
    r.dimension = sum_d / nu;
    if (!std::isfinite(r.dimension)) throw Error("mle", "a neighbourhood is equidistant; local dimension infinite");
  }
  return r;
}

template KnnGraph knn_exact<float>(MatrixView<float>, int64_t);
template KnnGraph knn_exact<double>(MatrixView<double>, int64_t);
template std::vector<int64_t> distinct_rows<float>(MatrixView<float>);
template std::vector<int64_t> distinct_rows<double>(MatrixView<double>);
template TwoNNResult twonn<float>(MatrixView<float>, const TwoNNOptions&);
template TwoNNResult twonn<double>(MatrixView<double>, const TwoNNOptions&);
template MleResult mle_levina_bickel<float>(MatrixView<float>, const MleOptions&);
template MleResult mle_levina_bickel<double>(MatrixView<double>, const MleOptions&);

}  // namespace mc::geometry

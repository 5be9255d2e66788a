// Linear and RBF CKA with biased (Gretton 2005) and unbiased (Song 2012) HSIC (see cka.h).
#include "geometry/cka.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"

namespace mc::geometry {

namespace {

constexpr const char* kComponent = "cka";
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// Column-centred contiguous double copy (n, d) of x.
template <typename T>
std::vector<double> centred(MatrixView<T> x) {
  const int64_t n = x.rows, d = x.cols;
  std::vector<double> out = to_double(x);
  std::vector<double> mean(static_cast<size_t>(d), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) mean[j] += out[i * d + j];
  for (double& m : mean) m /= static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) out[i * d + j] -= mean[j];
  return out;
}

/// K = X Xᵀ (n, n) for a contiguous (n, d) double matrix, both triangles filled.
MatrixD gram_of(const std::vector<double>& x, int64_t n, int64_t d) {
  MatrixD k(n, n);
  if (d > 0)
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, static_cast<blasint>(n), static_cast<blasint>(d), 1.0,
                x.data(), static_cast<blasint>(d), 0.0, k.data.data(), static_cast<blasint>(n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < i; ++j) k(i, j) = k(j, i);
  return k;
}

/// ‖AᵀB‖_F² for contiguous (n, p) A and (n, q) B.
double cross_frobenius_sq(const std::vector<double>& a, int64_t p, const std::vector<double>& b, int64_t q, int64_t n) {
  if (p == 0 || q == 0) return 0.0;
  std::vector<double> c(static_cast<size_t>(p * q));
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<blasint>(p), static_cast<blasint>(q),
              static_cast<blasint>(n), 1.0, a.data(), static_cast<blasint>(p), b.data(), static_cast<blasint>(q), 0.0,
              c.data(), static_cast<blasint>(q));
  double s = 0.0;
  for (double v : c) s += v * v;
  return s;
}

/// numpy.median of a copy of v (mean of the two middle values for an even count).
double median_of(std::vector<double> v) {
  const size_t m = v.size();
  std::nth_element(v.begin(), v.begin() + m / 2, v.end());
  const double upper = v[m / 2];
  if (m % 2) return upper;
  const double lower = *std::max_element(v.begin(), v.begin() + m / 2);
  return 0.5 * (lower + upper);
}

template <typename T>
MatrixD gram_rbf_impl(MatrixView<T> x, double sigma_frac, double* sigma_out) {
  if (!(sigma_frac > 0.0) || !std::isfinite(sigma_frac))
    throw Error(kComponent, str("RBF bandwidth fraction ", sigma_frac, " must be positive"));
  const int64_t n = x.rows;
  MatrixD k = gram_of(centred(x), n, x.cols);
  // Squared distances ‖x_i‖² + ‖x_j‖² − 2x_i·x_j from the centred Gram matrix; rounding can make a
  // near-zero distance slightly negative, so clamp at 0, and the diagonal is exactly 0.
  MatrixD d2(n, n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) d2(i, j) = i == j ? 0.0 : std::max(0.0, k(i, i) + k(j, j) - 2.0 * k(i, j));
  const double med = median_of(d2.data);
  if (!(med > 0.0))
    throw Error(kComponent, "RBF kernel: the median pairwise distance is 0 (most rows coincide); bandwidth undefined");
  const double sigma2 = sigma_frac * sigma_frac * med;
  if (sigma_out) *sigma_out = std::sqrt(sigma2);
  for (double& v : d2.data) v = std::exp(-v / (2.0 * sigma2));
  return d2;
}

double ratio(double xy, double xx, double yy) {
  if (!(xx > 0.0) || !(yy > 0.0)) return kNaN;
  return xy / std::sqrt(xx * yy);
}

}  // namespace

double hsic(const MatrixD& k, const MatrixD& l, HsicEstimator estimator) {
  MC_CHECK(k.rows == k.cols && l.rows == l.cols && k.rows == l.rows, "hsic needs two (n, n) matrices of equal n");
  const int64_t n = k.rows;
  const double nd = static_cast<double>(n);
  if (estimator == HsicEstimator::Biased) {
    if (n < 2) throw Error(kComponent, str("biased HSIC needs n >= 2 samples, got ", n));
    // tr(K H L H) = Σ_ij (HKH)_ij (HLH)_ij for symmetric K, L; (HKH)_ij = K_ij − r_i − c_j + g.
    std::vector<double> rk(n, 0.0), ck(n, 0.0), rl(n, 0.0), cl(n, 0.0);
    double gk = 0.0, gl = 0.0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        rk[i] += k(i, j);
        ck[j] += k(i, j);
        rl[i] += l(i, j);
        cl[j] += l(i, j);
      }
    for (int64_t i = 0; i < n; ++i) {
      gk += rk[i];
      gl += rl[i];
      rk[i] /= nd;
      ck[i] /= nd;
      rl[i] /= nd;
      cl[i] /= nd;
    }
    gk /= nd * nd;
    gl /= nd * nd;
    double t = 0.0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) t += (k(i, j) - rk[i] - ck[j] + gk) * (l(i, j) - rl[i] - cl[j] + gl);
    return t / ((nd - 1.0) * (nd - 1.0));
  }
  MC_CHECK(estimator == HsicEstimator::Unbiased, "hsic() needs a resolved estimator");
  if (n < 4) throw Error(kComponent, str("unbiased HSIC needs n >= 4 samples, got ", n));
  // K̃, L̃: zero diagonals. tr(K̃L̃) = Σ_{i≠j} K_ij L_ji; 1ᵀK̃L̃1 = (K̃ᵀ1)·(L̃1).
  double tr = 0.0, sk = 0.0, sl = 0.0, cross = 0.0;
  std::vector<double> colk(n, 0.0), rowl(n, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      if (i == j) continue;
      tr += k(i, j) * l(j, i);
      sk += k(i, j);
      sl += l(i, j);
      colk[j] += k(i, j);
      rowl[i] += l(i, j);
    }
  for (int64_t i = 0; i < n; ++i) cross += colk[i] * rowl[i];
  return (tr + sk * sl / ((nd - 1.0) * (nd - 2.0)) - 2.0 / (nd - 2.0) * cross) / (nd * (nd - 3.0));
}

template <typename T>
MatrixD gram_linear(MatrixView<T> x) {
  check_matrix(x, kComponent, "X");
  return gram_of(centred(x), x.rows, x.cols);
}

template <typename T>
MatrixD gram_rbf(MatrixView<T> x, double sigma_frac, double* sigma) {
  check_matrix(x, kComponent, "X");
  return gram_rbf_impl(x, sigma_frac, sigma);
}

template <typename T>
CkaResult cka(MatrixView<T> x, MatrixView<T> y, const CkaOptions& o) {
  check_matrix(x, kComponent, "X");
  check_matrix(y, kComponent, "Y");
  if (x.rows != y.rows)
    throw Error(kComponent, str("X has ", x.rows, " rows and Y has ", y.rows,
                                "; CKA compares representations of the same inputs (same n)"));
  const int64_t n = x.rows, p = x.cols, q = y.cols;
  CkaResult r;
  r.estimator = o.estimator;
  if (o.estimator == HsicEstimator::Auto)
    r.estimator = std::max(p, q) > n && n >= 4 ? HsicEstimator::Unbiased : HsicEstimator::Biased;
  const bool unbiased = r.estimator == HsicEstimator::Unbiased;
  if (n < (unbiased ? 4 : 2))
    throw Error(kComponent, str(unbiased ? "unbiased" : "biased", " CKA needs n >= ", unbiased ? 4 : 2,
                                " samples, got ", n));

  if (o.kernel == CkaKernel::Rbf) {
    MatrixD k = gram_rbf_impl(x, o.rbf_sigma_frac, &r.sigma_x);
    MatrixD l = gram_rbf_impl(y, o.rbf_sigma_frac, &r.sigma_y);
    r.hsic_xy = hsic(k, l, r.estimator);
    r.hsic_xx = hsic(k, k, r.estimator);
    r.hsic_yy = hsic(l, l, r.estimator);
    r.cka = ratio(r.hsic_xy, r.hsic_xx, r.hsic_yy);
    return r;
  }

  const std::vector<double> xc = centred(x), yc = centred(y);
  const double nd = static_cast<double>(n), pd = static_cast<double>(p), qd = static_cast<double>(q);
  const bool feature_form = nd * (pd * pd + qd * qd + pd * qd) < nd * nd * (pd + qd);
  if (!feature_form) {
    MatrixD k = gram_of(xc, n, p), l = gram_of(yc, n, q);
    r.hsic_xy = hsic(k, l, r.estimator);
    r.hsic_xx = hsic(k, k, r.estimator);
    r.hsic_yy = hsic(l, l, r.estimator);
    r.cka = ratio(r.hsic_xy, r.hsic_xx, r.hsic_yy);
    return r;
  }
  // Feature-space form (Kornblith et al. 2019 §3 "linear CKA"): with centred X, Y, tr(KL) = ‖YᵀX‖_F².
  const double xy = cross_frobenius_sq(xc, p, yc, q, n);
  const double xx = cross_frobenius_sq(xc, p, xc, p, n);
  const double yy = cross_frobenius_sq(yc, q, yc, q, n);
  if (!unbiased) {
    const double norm = (nd - 1.0) * (nd - 1.0);
    r.hsic_xy = xy / norm;
    r.hsic_xx = xx / norm;
    r.hsic_yy = yy / norm;
  } else {
    // Centred data make K1 = 0, so K̃1 = −a with a_i = ‖x_i‖²: Song's estimator becomes
    // [‖XᵀY‖² − (n/(n−2))·a·b + (Σa)(Σb)/((n−1)(n−2))] / (n(n−3)).
    std::vector<double> a(n, 0.0), b(n, 0.0);
    double sa = 0.0, sb = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < p; ++j) a[i] += xc[i * p + j] * xc[i * p + j];
      for (int64_t j = 0; j < q; ++j) b[i] += yc[i * q + j] * yc[i * q + j];
      sa += a[i];
      sb += b[i];
    }
    auto u = [&](double cross, const std::vector<double>& u1, const std::vector<double>& u2, double s1, double s2) {
      double dot = 0.0;
      for (int64_t i = 0; i < n; ++i) dot += u1[i] * u2[i];
      return (cross - nd / (nd - 2.0) * dot + s1 * s2 / ((nd - 1.0) * (nd - 2.0))) / (nd * (nd - 3.0));
    };
    r.hsic_xy = u(xy, a, b, sa, sb);
    r.hsic_xx = u(xx, a, a, sa, sa);
    r.hsic_yy = u(yy, b, b, sb, sb);
  }
  r.cka = ratio(r.hsic_xy, r.hsic_xx, r.hsic_yy);
  return r;
}

template CkaResult cka<float>(MatrixView<float>, MatrixView<float>, const CkaOptions&);
template CkaResult cka<double>(MatrixView<double>, MatrixView<double>, const CkaOptions&);
template MatrixD gram_linear<float>(MatrixView<float>);
template MatrixD gram_linear<double>(MatrixView<double>);
template MatrixD gram_rbf<float>(MatrixView<float>, double, double*);
template MatrixD gram_rbf<double>(MatrixView<double>, double, double*);

}  // namespace mc::geometry

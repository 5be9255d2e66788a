// Exact SVD through LAPACKE ?gesdd, randomized SVD (HMT 2011 Alg. 4.4 + 5.1) and the adaptive spectrum.
//
// Column-major trick used throughout: our row-major (m, n) buffer with row stride ld is, to LAPACK and
// column-major BLAS, the matrix Aᵀ of shape (n, m) with leading dimension ld. gesdd on Aᵀ returns
// U' (n, k) and V'ᵀ (k, m) in column-major order with Aᵀ = U'ΣV'ᵀ, hence A = V'ΣU'ᵀ:
//   U_A  = V'   and the column-major (k, m) buffer of V'ᵀ *is* the row-major (m, k) buffer of V';
//   V_Aᵀ = U'ᵀ  and the column-major (n, k) buffer of U'  *is* the row-major (k, n) buffer of U'ᵀ.
// So the outputs land in our row-major layout with no copies.
#include "geometry/spectrum.h"

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "core/error.h"
#include "core/rng.h"

namespace mc::geometry {

namespace {

constexpr const char* kComponent = "svd";

lapack_int to_lapack_int(int64_t v, const char* what) {
  if (v > static_cast<int64_t>(std::numeric_limits<lapack_int>::max()))
    throw Error(kComponent, str(what, " ", v, " exceeds LAPACK's 32-bit index range"));
  return static_cast<lapack_int>(v);
}

void check_info(lapack_int info, const char* routine) {
  if (info > 0)
    throw Error(kComponent, str(routine, " did not converge (info = ", info, ")"), ExitCode::Runtime);
  MC_CHECK(info == 0, routine, " rejected argument ", -info);
}

/// Contiguous copy of `a` converted to U (float or double).
template <typename U, typename T>
std::vector<U> contiguous_copy(MatrixView<T> a) {
  std::vector<U> out(static_cast<size_t>(a.rows * a.cols));
  for (int64_t i = 0; i < a.rows; ++i) {
    const T* r = a.row(i);
    U* o = out.data() + i * a.cols;
    for (int64_t j = 0; j < a.cols; ++j) o[j] = static_cast<U>(r[j]);
  }
  return out;
}

lapack_int gesdd(char jobz, lapack_int m, lapack_int n, double* a, lapack_int lda, double* s, double* u,
                 lapack_int ldu, double* vt, lapack_int ldvt) {
  return LAPACKE_dgesdd(LAPACK_COL_MAJOR, jobz, m, n, a, lda, s, u, ldu, vt, ldvt);
}
lapack_int gesdd(char jobz, lapack_int m, lapack_int n, float* a, lapack_int lda, float* s, float* u,
                 lapack_int ldu, float* vt, lapack_int ldvt) {
  return LAPACKE_sgesdd(LAPACK_COL_MAJOR, jobz, m, n, a, lda, s, u, ldu, vt, ldvt);
}

/// SVD of the row-major (m, n) matrix `a` in working precision W. jobz 'N' (values) or 'S' (thin).
template <typename W, typename T>
Svd svd_impl(MatrixView<T> a, bool vectors) {
  check_matrix(a, kComponent, "input matrix");
  Svd out;
  const int64_t m = a.rows, n = a.cols, k = std::min(m, n);
  if (k == 0) {
    if (vectors) {
      out.u = MatrixD(m, 0);
      out.vt = MatrixD(0, n);
    }
    return out;
  }
  std::vector<W> buf = contiguous_copy<W>(a);  // (m, n) row-major == (n, m) column-major; destroyed by gesdd
  std::vector<W> s(static_cast<size_t>(k));
  std::vector<W> u_col, vt_col;
  const lapack_int lm = to_lapack_int(n, "columns"), ln = to_lapack_int(m, "rows"), lk = to_lapack_int(k, "rank");
  if (vectors) {
    u_col.resize(static_cast<size_t>(n * k));   // U' (n, k) column-major == V_Aᵀ (k, n) row-major
    vt_col.resize(static_cast<size_t>(k * m));  // V'ᵀ (k, m) column-major == U_A (m, k) row-major
  }
  W dummy = 0;
  lapack_int info = gesdd(vectors ? 'S' : 'N', /* m = */ lm, /* n = */ ln, buf.data(), /* lda = */ lm, s.data(),
                          vectors ? u_col.data() : &dummy, /* ldu = */ lm, vectors ? vt_col.data() : &dummy,
                          /* ldvt = */ lk);
  check_info(info, "gesdd");
  out.s.assign(s.begin(), s.end());
  if (vectors) {
    out.u = MatrixD(m, k);
    out.vt = MatrixD(k, n);
    std::copy(vt_col.begin(), vt_col.end(), out.u.data.begin());
    std::copy(u_col.begin(), u_col.end(), out.vt.data.begin());
  }
  return out;
}

template <typename T>
Svd svd_dispatch(MatrixView<T> a, SvdPrecision precision, bool vectors) {
  if (precision == SvdPrecision::Single) return svd_impl<float>(a, vectors);
  return svd_impl<double>(a, vectors);
}

// --- column-major BLAS helpers for the randomized SVD ---------------------------------------------

void gemm(CBLAS_TRANSPOSE ta, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda, const double* b,
          int64_t ldb, double* c, int64_t ldc) {
  cblas_dgemm(CblasColMajor, ta, CblasNoTrans, static_cast<blasint>(m), static_cast<blasint>(n),
              static_cast<blasint>(k), 1.0, a, static_cast<blasint>(lda), b, static_cast<blasint>(ldb), 0.0, c,
              static_cast<blasint>(ldc));
}
void gemm(CBLAS_TRANSPOSE ta, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
          int64_t ldb, float* c, int64_t ldc) {
  cblas_sgemm(CblasColMajor, ta, CblasNoTrans, static_cast<blasint>(m), static_cast<blasint>(n),
              static_cast<blasint>(k), 1.0f, a, static_cast<blasint>(lda), b, static_cast<blasint>(ldb), 0.0f, c,
              static_cast<blasint>(ldc));
}

/// C (rows, l) = op(At) · X, all column-major, where At is the input buffer seen as (n, m) column-major.
/// trans = CblasTrans gives A·X (rows = m, X is (n, l)); CblasNoTrans gives Aᵀ·X (rows = n, X is (m, l)).
/// X and C are double; the product runs in T (a float input uses sgemm on a float copy of X).
template <typename T>
void apply_a(MatrixView<T> a, CBLAS_TRANSPOSE trans, const std::vector<double>& x, int64_t l, std::vector<double>& c) {
  const int64_t m = a.rows, n = a.cols;
  const int64_t rows = trans == CblasTrans ? m : n;
  const int64_t inner = trans == CblasTrans ? n : m;
  c.resize(static_cast<size_t>(rows * l));
  if constexpr (std::is_same_v<T, double>) {
    gemm(trans, rows, l, inner, a.data, a.ld, x.data(), inner, c.data(), rows);
  } else {
    std::vector<T> xt(x.begin(), x.end());
    std::vector<T> ct(c.size());
    gemm(trans, rows, l, inner, a.data, a.ld, xt.data(), inner, ct.data(), rows);
    std::copy(ct.begin(), ct.end(), c.begin());
  }
}

/// Replaces the column-major (rows, l) matrix y by an orthonormal basis of its range (Householder QR).
void orthonormalize(std::vector<double>& y, int64_t rows, int64_t l) {
  const lapack_int lr = to_lapack_int(rows, "rows"), ll = to_lapack_int(l, "rank");
  std::vector<double> tau(static_cast<size_t>(l));
  check_info(LAPACKE_dgeqrf(LAPACK_COL_MAJOR, /* m = */ lr, /* n = */ ll, y.data(), /* lda = */ lr, tau.data()),
             "dgeqrf");
  check_info(LAPACKE_dorgqr(LAPACK_COL_MAJOR, /* m = */ lr, /* n = */ ll, /* k = */ ll, y.data(), /* lda = */ lr,
                            tau.data()),
             "dorgqr");
}

}  // namespace

template <typename T>
std::vector<double> singular_values(MatrixView<T> a, SvdPrecision precision) {
  return svd_dispatch(a, precision, false).s;
}

template <typename T>
Svd svd_thin(MatrixView<T> a, SvdPrecision precision) {
  return svd_dispatch(a, precision, true);
}

template <typename T>
double frobenius_sq(MatrixView<T> a) {
  double total = 0.0;
  for (int64_t i = 0; i < a.rows; ++i) {
    const T* r = a.row(i);
    double row = 0.0;  // per-row partial sums keep the accumulation error at ~(n + m)·2⁻⁵³ relative
    for (int64_t j = 0; j < a.cols; ++j) row += static_cast<double>(r[j]) * static_cast<double>(r[j]);
    total += row;
  }
  return total;
}

template <typename T>
Svd randomized_svd(MatrixView<T> a, const RandomizedSvdOptions& o) {
  check_matrix(a, kComponent, "input matrix");
  const int64_t m = a.rows, n = a.cols, full = std::min(m, n);
  if (o.rank < 1 || o.rank > full)
    throw Error(kComponent, str("randomized SVD rank ", o.rank, " outside [1, ", full, "] for a (", m, ", ", n,
                                ") matrix"));
  if (o.oversampling < 0 || o.power_iterations < 0)
    throw Error(kComponent, "randomized SVD needs oversampling >= 0 and power_iterations >= 0");
  to_lapack_int(m, "rows");
  to_lapack_int(n, "columns");
  const int64_t l = std::min(o.rank + o.oversampling, full);

  // Ω (n, l) column-major, standard Gaussian.
  Rng rng(o.seed);
  std::vector<double> omega(static_cast<size_t>(n * l));
  for (double& v : omega) v = rng.normal();

  // Alg. 4.4: Y0 = AΩ, Q0 = qr(Y0); then q times Q̂ = qr(AᵀQ), Q = qr(AQ̂).
  std::vector<double> q, qhat;
  apply_a(a, CblasTrans, omega, l, q);  // (m, l)
  orthonormalize(q, m, l);
  for (int it = 0; it < o.power_iterations; ++it) {
    apply_a(a, CblasNoTrans, q, l, qhat);  // (n, l)
    orthonormalize(qhat, n, l);
    apply_a(a, CblasTrans, qhat, l, q);  // (m, l)
    orthonormalize(q, m, l);
  }

  // Alg. 5.1: B = QᵀA (l, n). We form C = AᵀQ = Bᵀ (n, l) and take its SVD C = U_c Σ V_cᵀ, so that
  // B = V_c Σ U_cᵀ: A ≈ QB = (Q V_c) Σ U_cᵀ, i.e. U_A = Q·V_c and V_A = U_c.
  std::vector<double> c;
  apply_a(a, CblasNoTrans, q, l, c);  // (n, l) column-major
  const lapack_int ln = to_lapack_int(n, "columns"), ll = to_lapack_int(l, "rank");
  std::vector<double> s(static_cast<size_t>(l)), uc, vct;
  double dummy = 0;
  if (o.vectors) {
    uc.resize(static_cast<size_t>(n * l));  // U_c (n, l) column-major
    vct.resize(static_cast<size_t>(l * l));  // V_cᵀ (l, l) column-major
  }
  check_info(LAPACKE_dgesdd(LAPACK_COL_MAJOR, o.vectors ? 'S' : 'N', /* m = */ ln, /* n = */ ll, c.data(),
                            /* lda = */ ln, s.data(), o.vectors ? uc.data() : &dummy, /* ldu = */ ln,
                            o.vectors ? vct.data() : &dummy, /* ldvt = */ ll),
             "dgesdd");

  const int64_t k = o.rank;
  Svd out;
  out.s.assign(s.begin(), s.begin() + k);
  if (o.vectors) {
    // U_A (m, k) = Q (m, l) · V_c[:, :k]; V_c = (V_cᵀ)ᵀ, so V_c[:, j] is row j of V_cᵀ.
    std::vector<double> ua(static_cast<size_t>(m * k));  // column-major (m, k)
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(m), static_cast<blasint>(k),
                static_cast<blasint>(l), 1.0, q.data(), static_cast<blasint>(m), vct.data(), static_cast<blasint>(l),
                0.0, ua.data(), static_cast<blasint>(m));
    out.u = MatrixD(m, k);
    for (int64_t j = 0; j < k; ++j)
      for (int64_t i = 0; i < m; ++i) out.u(i, j) = ua[static_cast<size_t>(i + j * m)];
    // Vᵀ (k, n) row-major: row j is column j of U_c, contiguous in the column-major buffer.
    out.vt = MatrixD(k, n);
    std::copy(uc.begin(), uc.begin() + k * n, out.vt.data.begin());
  }
  return out;
}

template <typename T>
SpectrumEstimate spectrum_estimate(MatrixView<T> a, const SpectrumOptions& o) {
  check_matrix(a, kComponent, "input matrix");
  SpectrumEstimate e;
  e.m = a.rows;
  e.n = a.cols;
  e.full_rank = std::min(a.rows, a.cols);
  e.frobenius_sq = frobenius_sq(a);
  auto exact = [&] {
    e.s = singular_values(a, o.precision);
    e.exact = true;
    e.tail_energy_fraction = 0.0;
    return e;
  };
  if (e.full_rank <= o.exact_max_dim || e.frobenius_sq == 0.0) return exact();

  int64_t k = std::min(kSpectrumInitialRankMax, std::max(kSpectrumInitialRankMin, e.full_rank / 2));
  for (int round = 1; round <= kSpectrumMaxRounds && k < e.full_rank; ++round) {
    RandomizedSvdOptions ro;
    ro.rank = k;
    ro.seed = o.seed;
    ro.vectors = false;
    Svd r = randomized_svd(a, ro);
    double captured = 0.0;
    for (double v : r.s) captured += v * v;
    e.rounds = round;
    e.tail_energy_fraction = std::max(0.0, (e.frobenius_sq - captured) / e.frobenius_sq);
    if (e.tail_energy_fraction < o.tail_tolerance) {
      e.s = std::move(r.s);
      e.exact = false;
      return e;
    }
    k = std::min(2 * k, e.full_rank);
  }
  return exact();
}

std::vector<double> spectrum_with_flat_tail(const SpectrumEstimate& e) {
  std::vector<double> s = e.s;
  const int64_t k = static_cast<int64_t>(s.size());
  if (e.exact || k >= e.full_rank) return s;
  double captured = 0.0;
  for (double v : s) captured += v * v;
  const double residual = std::max(0.0, e.frobenius_sq - captured);
  double tail = std::sqrt(residual / static_cast<double>(e.full_rank - k));
  if (k > 0) tail = std::min(tail, s.back());
  s.resize(static_cast<size_t>(e.full_rank), tail);
  return s;
}

#define MC_GEOMETRY_SPECTRUM_INSTANTIATE(T)                                                \
  template std::vector<double> singular_values<T>(MatrixView<T>, SvdPrecision);            \
  template Svd svd_thin<T>(MatrixView<T>, SvdPrecision);                                   \
  template double frobenius_sq<T>(MatrixView<T>);                                          \
  template Svd randomized_svd<T>(MatrixView<T>, const RandomizedSvdOptions&);              \
  template SpectrumEstimate spectrum_estimate<T>(MatrixView<T>, const SpectrumOptions&);

MC_GEOMETRY_SPECTRUM_INSTANTIATE(float)
MC_GEOMETRY_SPECTRUM_INSTANTIATE(double)
#undef MC_GEOMETRY_SPECTRUM_INSTANTIATE

}  // namespace mc::geometry

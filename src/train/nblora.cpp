// NB-LoRA Cayley map, its backward, and ΔW's spectrum (spec/training.md §4; derivation in
// docs/nblora_mass.md §1). Row-major double buffers throughout; shapes in the comments.
#include "train/nblora.h"

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "geometry/ranks.h"
#include "geometry/spectrum.h"

namespace mc::train {
namespace {

using geometry::kSqrtEpsF32;

/// The safety margin 1 − √ε of DECISIONS #1 (ε = float32 machine epsilon, training.md §1): the bound
/// keeps ‖ΔW‖₂ a relative √ε below σ_k so float32 rounding of the product cannot reach σ_k.
constexpr double kSafetyMargin = 1.0 - kSqrtEpsF32;

/// Row-major C (M, N) = alpha·op(A)·op(B) + beta·C with op(A) (M, K), op(B) (K, N).
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  if (M == 0 || N == 0) return;
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              /* M = */ static_cast<blasint>(M), /* N = */ static_cast<blasint>(N),
              /* K = */ static_cast<blasint>(K), alpha, a, static_cast<blasint>(lda), b,
              static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}

template <typename T>
void check_shapes(const NbLoraParamsT<T>& p) {
  MC_CHECK(p.r >= 1 && p.n >= p.r && p.m >= 1, "NB-LoRA shape r=", p.r, " n=", p.n, " m=", p.m,
           " (need 1 <= r <= n, m >= 1)");
  MC_CHECK(p.At.size() == static_cast<size_t>(p.r * p.n), "At has ", p.At.size(), " values, want r*n");
  MC_CHECK(p.Bt.size() == static_cast<size_t>(p.r * p.m), "Bt has ", p.Bt.size(), " values, want r*m");
  MC_CHECK(p.S_raw.size() == static_cast<size_t>(p.r), "S_raw has ", p.S_raw.size(), " values, want r");
}

template <typename T>
void check_finite(const NbLoraParamsT<T>& p) {
  auto finite = [](const std::vector<T>& v) {
    return std::all_of(v.begin(), v.end(), [](T x) { return std::isfinite(static_cast<double>(x)); });
  };
  if (!finite(p.At) || !finite(p.Bt) || !finite(p.S_raw) || !std::isfinite(p.scale_bound))
    throw Error("nblora", "non-finite NB-LoRA parameter (the training step diverged)", ExitCode::Runtime);
}

/// M = [Ãᵀ; B̃ᵀ] ((n+m), r) in double.
template <typename T>
std::vector<double> stack_m(const NbLoraParamsT<T>& p) {
  const int64_t r = p.r, n = p.n, m = p.m;
  std::vector<double> M(static_cast<size_t>((n + m) * r));
  for (int64_t j = 0; j < r; ++j) {
    for (int64_t i = 0; i < n; ++i) M[i * r + j] = static_cast<double>(p.At[j * n + i]);
    for (int64_t i = 0; i < m; ++i) M[(n + i) * r + j] = static_cast<double>(p.Bt[j * m + i]);
  }
  return M;
}

/// Z = (X − Xᵀ) + YᵀY (r, r) from M ((n+m), r).
std::vector<double> make_z(const std::vector<double>& M, int64_t r, int64_t ny) {
  std::vector<double> Z(static_cast<size_t>(r * r));
  const double* X = M.data();          // (r, r)
  const double* Y = M.data() + r * r;  // (ny, r)
  if (ny > 0)  // YᵀY: upper triangle by a rank-ny update (half a GEMM), mirrored below
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, /* n = */ static_cast<blasint>(r),
                /* k = */ static_cast<blasint>(ny), 1.0, Y, static_cast<blasint>(r), 0.0, Z.data(),
                static_cast<blasint>(r));
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < i; ++j) Z[i * r + j] = Z[j * r + i];
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < r; ++j) Z[i * r + j] += X[i * r + j] - X[j * r + i];
  return Z;
}

/// K = (I + Z)⁻¹ (r, r) by LU with partial pivoting. I + Z is always invertible: Z = skew + PSD, so
/// every eigenvalue of I + Z has real part ≥ 1 (‖(I+Z)⁻¹‖₂ ≤ 1). A failure means non-finite input.
std::vector<double> invert_i_plus_z(const std::vector<double>& Z, int64_t r) {
  std::vector<double> IZ(Z), K(static_cast<size_t>(r * r), 0.0);
  for (int64_t i = 0; i < r; ++i) {
    IZ[i * r + i] += 1.0;
    K[i * r + i] = 1.0;
  }
  std::vector<lapack_int> ipiv(static_cast<size_t>(r));
  const lapack_int info = LAPACKE_dgesv(LAPACK_ROW_MAJOR, /* n = */ static_cast<lapack_int>(r),
                                        /* nrhs = */ static_cast<lapack_int>(r), IZ.data(),
                                        /* lda = */ static_cast<lapack_int>(r), ipiv.data(), K.data(),
                                        /* ldb = */ static_cast<lapack_int>(r));
  if (info != 0)
    throw Error("nblora", str("LU solve of I + Z failed (LAPACKE_dgesv info ", info, ")"), ExitCode::Runtime);
  return K;
}

/// Q = [(I − Z)K; −2YK] ((n+m), r) given M and K. The top block uses the identity
/// (I − Z)K = (2I − (I + Z))K = 2K − I: no r³ product, and its rounding error is ε‖K‖ ≤ ε instead of
/// ε‖I − Z‖‖K‖, which grows with ‖Z‖.
std::vector<double> make_q(const std::vector<double>& M, const std::vector<double>& K, int64_t r, int64_t ny) {
  std::vector<double> Q(static_cast<size_t>((r + ny) * r));
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < r; ++j) Q[i * r + j] = 2.0 * K[i * r + j] - (i == j ? 1.0 : 0.0);
  gemm(false, false, ny, r, r, -2.0, M.data() + r * r, r, K.data(), r, 0.0, Q.data() + r * r, r);
  return Q;
}

template <typename T>
std::vector<double> clipped_s(const NbLoraParamsT<T>& p) {
  std::vector<double> S(static_cast<size_t>(p.r));
  for (int64_t j = 0; j < p.r; ++j) S[j] = std::clamp(static_cast<double>(p.S_raw[j]), 0.0, p.scale_bound);
  return S;
}

/// R factor (min(rows, r), r), row-major, of the thin QR of a row-major (rows, r) matrix.
std::vector<double> r_factor(std::vector<double> a, int64_t rows, int64_t r) {
  const int64_t k = std::min(rows, r);
  std::vector<double> tau(static_cast<size_t>(k));
  const lapack_int info = LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, /* m = */ static_cast<lapack_int>(rows),
                                         /* n = */ static_cast<lapack_int>(r), a.data(),
                                         /* lda = */ static_cast<lapack_int>(r), tau.data());
  if (info != 0)
    throw Error("nblora", str("QR of an NB-LoRA factor failed (LAPACKE_dgeqrf info ", info, ")"), ExitCode::Runtime);
  std::vector<double> R(static_cast<size_t>(k * r), 0.0);
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = i; j < r; ++j) R[i * r + j] = a[i * r + j];
  return R;
}

}  // namespace

double nblora_scale_bound(double sigma_k, int64_t tail_dims, double spectral_gap) {
  if (tail_dims > 0) {
    if (!(std::isfinite(sigma_k) && sigma_k > 0.0))
      throw Error("nblora", str("sigma_k = ", sigma_k, " must be finite and > 0 for an NB-LoRA target"));
    return (sigma_k / 2.0) * kSafetyMargin;
  }
  if (std::isfinite(spectral_gap) && spectral_gap > 0.0) return (spectral_gap / 4.0) * kSafetyMargin;
  throw Error("nblora", str("module is not an NB-LoRA target (tail_dims = ", tail_dims,
                            ", spectral_gap = ", spectral_gap, ")"));
}

template <typename T>
NbLoraParamsT<T> nblora_init(int64_t r, int64_t n, int64_t m, double scale_bound) {
  if (r < 1 || r > n || m < 1)
    throw Error("nblora", str("cannot build an NB-LoRA of rank ", r, " on a (", m, ", ", n,
                              ") module (need 1 <= r <= in_features, out_features >= 1)"));
  if (!(std::isfinite(scale_bound) && scale_bound > 0.0))
    throw Error("nblora", str("scale_bound = ", scale_bound, " must be finite and > 0"));
  NbLoraParamsT<T> p;
  p.r = r;
  p.n = n;
  p.m = m;
  p.At.assign(static_cast<size_t>(r * n), T(0));
  p.Bt.assign(static_cast<size_t>(r * m), T(0));
  p.S_raw.assign(static_cast<size_t>(r), static_cast<T>(scale_bound / 2.0));  // midpoint of [0, bound]
  p.scale_bound = scale_bound;
  return p;
}

int64_t nblora_param_count(int64_t r, int64_t n, int64_t m) { return r * (n + m + 1); }

template <typename T>
std::vector<double> cayley_q(const NbLoraParamsT<T>& p) {
  check_shapes(p);
  check_finite(p);
  const int64_t ny = p.n + p.m - p.r;
  const std::vector<double> M = stack_m(p);           // ((n+m), r)
  const std::vector<double> Z = make_z(M, p.r, ny);   // (r, r)
  const std::vector<double> K = invert_i_plus_z(Z, p.r);  // (r, r)
  return make_q(M, K, p.r, ny);
}

template <typename T>
void cayley_forward(const NbLoraParamsT<T>& p, CayleyWorkspace& ws, std::span<T> A_eff, std::span<T> B_eff) {
  check_shapes(p);
  check_finite(p);
  const int64_t r = p.r, n = p.n, m = p.m, ny = n + m - r;
  MC_CHECK(A_eff.size() == static_cast<size_t>(r * n), "A_eff has ", A_eff.size(), " values, want r*n");
  MC_CHECK(B_eff.size() == static_cast<size_t>(m * r), "B_eff has ", B_eff.size(), " values, want m*r");
  const std::vector<double> M = stack_m(p);        // ((n+m), r)
  const std::vector<double> Z = make_z(M, r, ny);  // (r, r)
  ws.r = r;
  ws.n = n;
  ws.m = m;
  ws.K = invert_i_plus_z(Z, r);                           // (r, r)
  const std::vector<double> Q = make_q(M, ws.K, r, ny);  // ((n+m), r)
  ws.S = clipped_s(p);                                    // (r)
  ws.Bq.assign(Q.begin() + n * r, Q.end());               // (m, r) Bᵀ
  for (int64_t j = 0; j < r; ++j)
    for (int64_t i = 0; i < n; ++i) A_eff[j * n + i] = static_cast<T>(Q[i * r + j]);  // A = Q[0:n]ᵀ
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < r; ++j) B_eff[i * r + j] = static_cast<T>(2.0 * ws.Bq[i * r + j] * ws.S[j]);
}

// Reverse mode of Q = [(I − Z)K; −2YK] with G = ∂L/∂Q split as G1 (r, r), G2 (ny, r). Using
// (I − Z)K = 2K − I (since (I − Z) = 2I − (I + Z)):
//   term 1  ḡK = 2·G1 − 2·YᵀG2                      (r, r)
//   term 2  ḡZ = −Kᵀ ḡK Kᵀ                           (r, r)   from dK = −K dZ K
//   term 3  ḡX = ḡZ − ḡZᵀ                            (r, r)   Z = X − Xᵀ + YᵀY
//   term 4  ḡY = Y(ḡZ + ḡZᵀ) − 2·G2 Kᵀ               (ny, r)
// and ∂L/∂M = [ḡX; ḡY], dÃ = (∂L/∂M)[0:n]ᵀ, dB̃ = (∂L/∂M)[n:]ᵀ (docs/nblora_mass.md §1).
template <typename T>
void cayley_backward(const NbLoraParamsT<T>& p, const CayleyWorkspace& ws, std::span<const T> dA_eff,
                     std::span<const T> dB_eff, NbLoraGradsT<T>& g) {
  check_shapes(p);
  const int64_t r = p.r, n = p.n, m = p.m, ny = n + m - r;
  MC_CHECK(ws.r == r && ws.n == n && ws.m == m && ws.K.size() == static_cast<size_t>(r * r) &&
               ws.Bq.size() == static_cast<size_t>(m * r) && ws.S.size() == static_cast<size_t>(r),
           "Cayley workspace does not match the parameters (run cayley_forward first)");
  MC_CHECK(dA_eff.size() == static_cast<size_t>(r * n), "dA_eff has ", dA_eff.size(), " values, want r*n");
  MC_CHECK(dB_eff.size() == static_cast<size_t>(m * r), "dB_eff has ", dB_eff.size(), " values, want m*r");
  MC_CHECK(g.dAt.size() == p.At.size() && g.dBt.size() == p.Bt.size() && g.dS_raw.size() == p.S_raw.size(),
           "gradient buffers do not match the parameters");

  // B_eff = 2·Bᵀ·diag(S): ∂L/∂Bᵀ = 2·dB_eff·diag(S), ∂L/∂S_j = 2·Σ_i dB_eff[i,j]·Bᵀ[i,j].
  std::vector<double> G(static_cast<size_t>((n + m) * r));  // ((n+m), r) ∂L/∂Q
  for (int64_t j = 0; j < r; ++j)
    for (int64_t i = 0; i < n; ++i) G[i * r + j] = static_cast<double>(dA_eff[j * n + i]);
  std::vector<double> dS(static_cast<size_t>(r), 0.0);  // (r)
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < r; ++j) {
      const double db = static_cast<double>(dB_eff[i * r + j]);
      G[(n + i) * r + j] = 2.0 * db * ws.S[j];
      dS[j] += 2.0 * db * ws.Bq[i * r + j];
    }
  for (int64_t j = 0; j < r; ++j) {
    const double s = static_cast<double>(p.S_raw[j]);
    if (s >= 0.0 && s <= p.scale_bound) g.dS_raw[j] += static_cast<T>(dS[j]);  // clip: pass-through inside
  }

  const std::vector<double> M = stack_m(p);  // ((n+m), r)
  const double* Y = M.data() + r * r;        // (ny, r)
  const double* G1 = G.data();               // (r, r)
  const double* G2 = G.data() + r * r;       // (ny, r)
  const double* K = ws.K.data();             // (r, r)

  std::vector<double> gK(static_cast<size_t>(r * r));  // term 1
  for (int64_t i = 0; i < r * r; ++i) gK[i] = 2.0 * G1[i];
  gemm(true, false, r, r, ny, -2.0, Y, r, G2, r, 1.0, gK.data(), r);

  std::vector<double> tmp(static_cast<size_t>(r * r)), gZ(static_cast<size_t>(r * r));  // term 2
  gemm(true, false, r, r, r, 1.0, K, r, gK.data(), r, 0.0, tmp.data(), r);    // Kᵀ ḡK
  gemm(false, true, r, r, r, -1.0, tmp.data(), r, K, r, 0.0, gZ.data(), r);  // −(Kᵀ ḡK) Kᵀ

  std::vector<double> gM(static_cast<size_t>((n + m) * r));  // ((n+m), r)
  std::vector<double> gZsym(static_cast<size_t>(r * r));     // ḡZ + ḡZᵀ
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < r; ++j) {
      gM[i * r + j] = gZ[i * r + j] - gZ[j * r + i];  // term 3
      gZsym[i * r + j] = gZ[i * r + j] + gZ[j * r + i];
    }
  double* gY = gM.data() + r * r;  // term 4 (ny, r)
  gemm(false, false, ny, r, r, 1.0, Y, r, gZsym.data(), r, 0.0, gY, r);
  gemm(false, true, ny, r, r, -2.0, G2, r, K, r, 1.0, gY, r);

  for (int64_t j = 0; j < r; ++j) {
    for (int64_t i = 0; i < n; ++i) g.dAt[j * n + i] += static_cast<T>(gM[i * r + j]);
    for (int64_t i = 0; i < m; ++i) g.dBt[j * m + i] += static_cast<T>(gM[(n + i) * r + j]);
  }
}

template <typename T>
NbLoraGradsT<T> nblora_zero_grads(const NbLoraParamsT<T>& p) {
  NbLoraGradsT<T> g;
  g.dAt.assign(p.At.size(), T(0));
  g.dBt.assign(p.Bt.size(), T(0));
  g.dS_raw.assign(p.S_raw.size(), T(0));
  return g;
}

template <typename T>
double nblora_grad_sq_norm(const NbLoraGradsT<T>& g) {
  double s = 0.0;
  for (const auto* v : {&g.dAt, &g.dBt, &g.dS_raw})
    for (T x : *v) s += static_cast<double>(x) * static_cast<double>(x);
  return s;
}

template <typename T>
void nblora_apply_step(NbLoraParamsT<T>& p, const NbLoraGradsT<T>& d, double eta) {
  check_shapes(p);
  MC_CHECK(d.dAt.size() == p.At.size() && d.dBt.size() == p.Bt.size() && d.dS_raw.size() == p.S_raw.size(),
           "update direction does not match the parameters");
  auto step = [eta](std::vector<T>& x, const std::vector<T>& dx) {
    for (size_t i = 0; i < x.size(); ++i)
      x[i] = static_cast<T>(static_cast<double>(x[i]) - eta * static_cast<double>(dx[i]));
  };
  step(p.At, d.dAt);
  step(p.Bt, d.dBt);
  step(p.S_raw, d.dS_raw);
  for (T& s : p.S_raw) s = static_cast<T>(std::clamp(static_cast<double>(s), 0.0, p.scale_bound));
}

template <typename T>
geometry::MatrixD nblora_delta_w(const NbLoraParamsT<T>& p) {
  const std::vector<double> Q = cayley_q(p);  // ((n+m), r)
  const std::vector<double> S = clipped_s(p);
  const int64_t r = p.r, n = p.n, m = p.m;
  std::vector<double> BS(static_cast<size_t>(m * r));  // (m, r) 2·Bᵀ·diag(S)
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < r; ++j) BS[i * r + j] = 2.0 * Q[(n + i) * r + j] * S[j];
  geometry::MatrixD dw(m, n);
  gemm(false, true, m, n, r, 1.0, BS.data(), r, Q.data(), r, 0.0, dw.data.data(), n);  // BS · Q[0:n]ᵀ
  return dw;
}

template <typename T>
std::vector<double> nblora_delta_w_singular_values(const NbLoraParamsT<T>& p) {
  const std::vector<double> Q = cayley_q(p);  // ((n+m), r)
  const std::vector<double> S = clipped_s(p);
  const int64_t r = p.r, n = p.n, m = p.m;
  const std::vector<double> Ra = r_factor(std::vector<double>(Q.begin(), Q.begin() + n * r), n, r);  // (r, r)
  const std::vector<double> Rb = r_factor(std::vector<double>(Q.begin() + n * r, Q.end()), m, r);    // (kb, r)
  const int64_t kb = std::min(m, r);
  std::vector<double> RbS(Rb);  // (kb, r) 2·R_b·diag(S)
  for (int64_t i = 0; i < kb; ++i)
    for (int64_t j = 0; j < r; ++j) RbS[i * r + j] *= 2.0 * S[j];
  geometry::MatrixD core(kb, r);  // (kb, r) 2·R_b·diag(S)·R_aᵀ
  gemm(false, true, kb, r, r, 1.0, RbS.data(), r, Ra.data(), r, 0.0, core.data.data(), r);
  return geometry::singular_values(core.view());
}

template <typename T>
double nblora_spectral_norm(const NbLoraParamsT<T>& p) {
  const std::vector<double> s = nblora_delta_w_singular_values(p);
  return s.empty() ? 0.0 : s.front();
}

template <typename T>
double nblora_saturation_ratio(const NbLoraParamsT<T>& p) {
  MC_CHECK(p.scale_bound > 0.0, "scale_bound must be > 0, got ", p.scale_bound);
  return nblora_spectral_norm(p) / p.scale_bound;
}

#define MC_NBLORA_INSTANTIATE(T)                                                                       \
  template NbLoraParamsT<T> nblora_init<T>(int64_t, int64_t, int64_t, double);                         \
  template std::vector<double> cayley_q<T>(const NbLoraParamsT<T>&);                                   \
  template void cayley_forward<T>(const NbLoraParamsT<T>&, CayleyWorkspace&, std::span<T>, std::span<T>); \
  template void cayley_backward<T>(const NbLoraParamsT<T>&, const CayleyWorkspace&, std::span<const T>, \
                                   std::span<const T>, NbLoraGradsT<T>&);                              \
  template NbLoraGradsT<T> nblora_zero_grads<T>(const NbLoraParamsT<T>&);                              \
  template double nblora_grad_sq_norm<T>(const NbLoraGradsT<T>&);                                      \
  template void nblora_apply_step<T>(NbLoraParamsT<T>&, const NbLoraGradsT<T>&, double);               \
  template geometry::MatrixD nblora_delta_w<T>(const NbLoraParamsT<T>&);                               \
  template std::vector<double> nblora_delta_w_singular_values<T>(const NbLoraParamsT<T>&);             \
  template double nblora_spectral_norm<T>(const NbLoraParamsT<T>&);                                    \
  template double nblora_saturation_ratio<T>(const NbLoraParamsT<T>&);
MC_NBLORA_INSTANTIATE(float)
MC_NBLORA_INSTANTIATE(double)
#undef MC_NBLORA_INSTANTIATE

}  // namespace mc::train

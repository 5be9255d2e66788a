// NB-LoRA Cayley map (src/train/nblora.h, spec/training.md §4): Stiefel property QᵀQ = I, the
// zero-delta init, the Weyl bound ‖ΔW‖₂ ≤ 2 max S ≤ σ_k(1 − √ε), the backward against central
// differences in double, and everything against PyTorch float64 autograd
// (tests/data/nblora/cayley.json from tools/gen_nblora_goldens.py).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "core/rng.h"
#include "geometry/ranks.h"
#include "geometry/spectrum.h"
#include "test_util.h"
#include "train/nblora.h"

namespace mc::train {
namespace {

using geometry::kSqrtEpsF32;

// QᵀQ = I in double: the products of an (n+m)×r orthonormal Q accumulate ~(n+m)·2⁻⁵³ rounding per entry
// times the conditioning of I + Z (≤ 10 for the scales below); 1e-12 leaves two orders of margin.
constexpr double kOrthTolD = 1e-12;
// From float outputs: each entry carries 2⁻²⁴ relative rounding, summed over n+m ≤ 200 rows.
constexpr double kOrthTolF = 1e-5;
// Torch golden: both sides are float64 with different operation orders (LU vs LU, GEMM orders).
constexpr double kGoldenRelTol = 1e-10;
// Central differences with h = 1e-6 in double: truncation O(h²·f''') ~ 1e-12, rounding O(ε/h) ~ 1e-10.
constexpr double kFdStep = 1e-6;
constexpr double kFdRelTol = 1e-7;

NbLoraParamsD random_params(int64_t r, int64_t n, int64_t m, double scale, double bound, uint64_t seed,
                            double s_lo = 0.05, double s_hi = 0.95) {
  Rng rng(seed);
  NbLoraParamsD p = nblora_init<double>(r, n, m, bound);
  for (double& v : p.At) v = scale * rng.normal();
  for (double& v : p.Bt) v = scale * rng.normal();
  for (double& v : p.S_raw) v = bound * (s_lo + (s_hi - s_lo) * rng.uniform());
  return p;
}

/// max |QᵀQ − I| of a ((n+m), r) row-major Q.
double orth_error(const std::vector<double>& q, int64_t rows, int64_t r) {
  double err = 0.0;
  for (int64_t a = 0; a < r; ++a)
    for (int64_t b = 0; b < r; ++b) {
      double s = 0.0;
      for (int64_t i = 0; i < rows; ++i) s += q[i * r + a] * q[i * r + b];
      err = std::max(err, std::abs(s - (a == b ? 1.0 : 0.0)));
    }
  return err;
}

/// max |a − b| / max |b| (norm-relative: small entries of a well-scaled array are held to the array's scale).
double rel_err(const std::vector<double>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    num = std::max(num, std::abs(a[i] - b[i]));
    den = std::max(den, std::abs(b[i]));
  }
  return den > 0.0 ? num / den : num;
}

struct Forward {
  CayleyWorkspace ws;
  std::vector<double> A_eff, B_eff;  // (r, n), (m, r)
};
Forward forward(const NbLoraParamsD& p) {
  Forward f;
  f.A_eff.resize(static_cast<size_t>(p.r * p.n));
  f.B_eff.resize(static_cast<size_t>(p.m * p.r));
  cayley_forward<double>(p, f.ws, f.A_eff, f.B_eff);
  return f;
}

TEST(NbLora, ScaleBound) {
  const double margin = 1.0 - kSqrtEpsF32;
  EXPECT_DOUBLE_EQ(nblora_scale_bound(0.8, 5, 0.1), 0.4 * margin);  // σ_k/2·(1 − √ε)
  EXPECT_DOUBLE_EQ(nblora_scale_bound(0.8, 0, 0.2), 0.05 * margin);  // zero tail: gap/4·(1 − √ε)
  EXPECT_THROW(nblora_scale_bound(0.8, 0, 0.0), Error);              // not a target
  EXPECT_THROW(nblora_scale_bound(0.0, 3, 0.1), Error);
  EXPECT_THROW(nblora_scale_bound(std::nan(""), 3, 0.1), Error);
  EXPECT_EQ(nblora_param_count(4, 16, 12), 4 * (16 + 12 + 1));
}

TEST(NbLora, InitRejectsBadShapes) {
  EXPECT_THROW(nblora_init<float>(5, 4, 8, 1.0), Error);  // r > n
  EXPECT_THROW(nblora_init<float>(0, 4, 8, 1.0), Error);
  EXPECT_THROW(nblora_init<float>(2, 4, 0, 1.0), Error);
  EXPECT_THROW(nblora_init<float>(2, 4, 8, 0.0), Error);
}

TEST(NbLora, ZeroInitIsZeroDelta) {
  const int64_t r = 3, n = 8, m = 6;
  const double bound = nblora_scale_bound(0.7, 2, 0.0);
  const NbLoraParams p = nblora_init<float>(r, n, m, bound);
  for (float s : p.S_raw) EXPECT_FLOAT_EQ(s, static_cast<float>(bound / 2.0));
  CayleyWorkspace ws;
  std::vector<float> A(static_cast<size_t>(r * n)), B(static_cast<size_t>(m * r), 1.0f);
  cayley_forward<float>(p, ws, A, B);
  for (int64_t j = 0; j < r; ++j)
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(A[j * n + i], i == j ? 1.0f : 0.0f) << j << "," << i;  // [I_r | 0]
  for (float b : B) EXPECT_EQ(b, 0.0f);
  const geometry::MatrixD dw = nblora_delta_w(p);
  for (double v : dw.data) EXPECT_EQ(v, 0.0);
  EXPECT_EQ(nblora_spectral_norm(p), 0.0);
  EXPECT_EQ(nblora_saturation_ratio(p), 0.0);
}

TEST(NbLora, StiefelDouble) {
  const int64_t shapes[][3] = {{1, 1, 1}, {2, 7, 5}, {4, 16, 12}, {8, 8, 40}, {16, 64, 48}};
  uint64_t seed = 1;
  for (const auto& s : shapes)
    for (double scale : {0.01, 0.3, 1.0, 3.0}) {
      const NbLoraParamsD p = random_params(s[0], s[1], s[2], scale, 1.0, seed++);
      const std::vector<double> q = cayley_q(p);
      EXPECT_LT(orth_error(q, s[1] + s[2], s[0]), kOrthTolD) << s[0] << "," << s[1] << "," << s[2] << " scale " << scale;
      // The forward's A_eff and Bᵀ are the two blocks of the same Q.
      const Forward f = forward(p);
      for (int64_t j = 0; j < p.r; ++j)
        for (int64_t i = 0; i < p.n; ++i) EXPECT_EQ(f.A_eff[j * p.n + i], q[i * p.r + j]);
      for (int64_t i = 0; i < p.m * p.r; ++i) EXPECT_EQ(f.ws.Bq[i], q[p.n * p.r + i]);
    }
}

TEST(NbLora, StiefelFloatOutputs) {
  const int64_t r = 6, n = 40, m = 70;
  Rng rng(7);
  NbLoraParams p = nblora_init<float>(r, n, m, 2.0);
  for (float& v : p.At) v = static_cast<float>(0.4 * rng.normal());
  for (float& v : p.Bt) v = static_cast<float>(0.4 * rng.normal());
  for (float& v : p.S_raw) v = static_cast<float>(0.2 + 1.5 * rng.uniform());  // inside (0, 2): S > 0
  CayleyWorkspace ws;
  std::vector<float> A(static_cast<size_t>(r * n)), B(static_cast<size_t>(m * r));
  cayley_forward<float>(p, ws, A, B);
  // Rebuild Q = [Aᵀ; Bᵀ] from what the engine receives: Bᵀ = B_eff / (2 S).
  std::vector<double> q(static_cast<size_t>((n + m) * r));
  for (int64_t j = 0; j < r; ++j) {
    for (int64_t i = 0; i < n; ++i) q[i * r + j] = A[j * n + i];
    for (int64_t i = 0; i < m; ++i) q[(n + i) * r + j] = B[i * r + j] / (2.0 * static_cast<double>(p.S_raw[j]));
  }
  EXPECT_LT(orth_error(q, n + m, r), kOrthTolF);
}

TEST(NbLora, WeylBoundProperty) {
  // ‖ΔW‖₂ ≤ 2·max S ≤ σ_k(1 − √ε) for random parameters, S_raw drawn across and beyond [0, bound].
  Rng shapes(99);
  for (int trial = 0; trial < 40; ++trial) {
    const int64_t r = 1 + static_cast<int64_t>(shapes.uniform_int(6));
    const int64_t n = r + static_cast<int64_t>(shapes.uniform_int(20));
    const int64_t m = 1 + static_cast<int64_t>(shapes.uniform_int(30));
    const double sigma_k = std::exp(4.0 * shapes.uniform() - 2.0);
    const double bound = nblora_scale_bound(sigma_k, 1, 0.0);
    const double scale = std::exp(3.0 * shapes.uniform() - 2.0);
    const NbLoraParamsD p = random_params(r, n, m, scale, bound, 1000 + static_cast<uint64_t>(trial), -0.5, 1.5);
    double max_s = 0.0;
    for (double s : p.S_raw) max_s = std::max(max_s, std::clamp(s, 0.0, bound));
    const std::vector<double> sv = nblora_delta_w_singular_values(p);
    const double norm = sv.empty() ? 0.0 : sv.front();
    // Relative slack 1e-12 for the double rounding of the QR/SVD route.
    EXPECT_LE(norm, 2.0 * max_s * (1.0 + 1e-12)) << "trial " << trial;
    EXPECT_LE(2.0 * max_s, sigma_k * (1.0 - kSqrtEpsF32) * (1.0 + 1e-15));
    EXPECT_LE(nblora_saturation_ratio(p), 1.0 + 1e-12);
    // The QR-core route agrees with the SVD of the explicit ΔW.
    const geometry::MatrixD dw = nblora_delta_w(p);
    const std::vector<double> ref = geometry::singular_values(dw.view());
    for (size_t i = 0; i < sv.size(); ++i) EXPECT_NEAR(sv[i], ref[i], 1e-12 * std::max(1.0, ref[0])) << i;
    for (size_t i = sv.size(); i < ref.size(); ++i) EXPECT_NEAR(ref[i], 0.0, 1e-12 * std::max(1.0, ref[0]));
  }
}

/// f(θ) = ⟨dA, A_eff(θ)⟩ + ⟨dB, B_eff(θ)⟩.
double objective(const NbLoraParamsD& p, const std::vector<double>& dA, const std::vector<double>& dB) {
  const Forward f = forward(p);
  double s = 0.0;
  for (size_t i = 0; i < dA.size(); ++i) s += dA[i] * f.A_eff[i];
  for (size_t i = 0; i < dB.size(); ++i) s += dB[i] * f.B_eff[i];
  return s;
}

TEST(NbLora, BackwardMatchesFiniteDifferences) {
  const int64_t shapes[][3] = {{1, 3, 2}, {2, 7, 5}, {4, 9, 13}, {5, 5, 3}};
  uint64_t seed = 50;
  for (const auto& s : shapes) {
    const int64_t r = s[0], n = s[1], m = s[2];
    // S_raw in [−0.3, 1.3]·bound: some clipped (zero gradient), most inside.
    NbLoraParamsD p = random_params(r, n, m, 0.6, 0.9, seed++, -0.3, 1.3);
    Rng rng(seed++);
    std::vector<double> dA(static_cast<size_t>(r * n)), dB(static_cast<size_t>(m * r));
    for (double& v : dA) v = rng.normal();
    for (double& v : dB) v = rng.normal();
    const Forward f = forward(p);
    NbLoraGradsD g = nblora_zero_grads(p);
    cayley_backward<double>(p, f.ws, dA, dB, g);

    auto check = [&](std::vector<double>& theta, const std::vector<double>& grad, const char* name) {
      double scale = 0.0;
      for (double v : grad) scale = std::max(scale, std::abs(v));
      for (size_t i = 0; i < theta.size(); ++i) {
        const double keep = theta[i];
        theta[i] = keep + kFdStep;
        const double fp = objective(p, dA, dB);
        theta[i] = keep - kFdStep;
        const double fm = objective(p, dA, dB);
        theta[i] = keep;
        const double fd = (fp - fm) / (2.0 * kFdStep);
        EXPECT_NEAR(grad[i], fd, kFdRelTol * std::max(1.0, scale)) << name << "[" << i << "] shape " << r << "," << n
                                                                   << "," << m;
      }
    };
    check(p.At, g.dAt, "dAt");
    check(p.Bt, g.dBt, "dBt");
    check(p.S_raw, g.dS_raw, "dS_raw");
    for (int64_t j = 0; j < r; ++j)
      if (p.S_raw[j] < 0.0 || p.S_raw[j] > p.scale_bound) {
        EXPECT_EQ(g.dS_raw[j], 0.0);  // clipped: no gradient
      }
  }
}

TEST(NbLora, BackwardAccumulates) {
  const NbLoraParamsD p = random_params(3, 6, 4, 0.5, 1.0, 3);
  const Forward f = forward(p);
  std::vector<double> dA(18, 0.25), dB(12, -0.5);
  NbLoraGradsD once = nblora_zero_grads(p), twice = nblora_zero_grads(p);
  cayley_backward<double>(p, f.ws, dA, dB, once);
  cayley_backward<double>(p, f.ws, dA, dB, twice);
  cayley_backward<double>(p, f.ws, dA, dB, twice);
  for (size_t i = 0; i < once.dAt.size(); ++i) EXPECT_DOUBLE_EQ(twice.dAt[i], 2.0 * once.dAt[i]);
  for (size_t i = 0; i < once.dBt.size(); ++i) EXPECT_DOUBLE_EQ(twice.dBt[i], 2.0 * once.dBt[i]);
  for (size_t i = 0; i < once.dS_raw.size(); ++i) EXPECT_DOUBLE_EQ(twice.dS_raw[i], 2.0 * once.dS_raw[i]);
  EXPECT_GT(nblora_grad_sq_norm(once), 0.0);
}

TEST(NbLora, ApplyStepProjectsS) {
  NbLoraParamsD p = nblora_init<double>(2, 3, 2, 1.0);
  NbLoraGradsD d = nblora_zero_grads(p);
  d.dAt[0] = 1.0;
  d.dS_raw = {-10.0, 10.0};  // pushes S_raw[0] up past the bound, S_raw[1] below 0
  nblora_apply_step(p, d, 0.5);
  EXPECT_DOUBLE_EQ(p.At[0], -0.5);
  EXPECT_DOUBLE_EQ(p.S_raw[0], 1.0);
  EXPECT_DOUBLE_EQ(p.S_raw[1], 0.0);
}

TEST(NbLora, NonFiniteParametersThrow) {
  NbLoraParams p = nblora_init<float>(2, 3, 2, 1.0);
  p.At[1] = std::nanf("");
  CayleyWorkspace ws;
  std::vector<float> A(6), B(4);
  EXPECT_THROW(cayley_forward<float>(p, ws, A, B), Error);
}

std::vector<double> as_vec(const Json& j) { return j.get<std::vector<double>>(); }

TEST(NbLora, MatchesTorchFloat64Autograd) {
  const Json doc = json_load(test::data_path("nblora/cayley.json"));
  ASSERT_EQ(doc["cases"].size(), 3u);
  for (const Json& c : doc["cases"]) {
    NbLoraParamsD p;
    p.r = c["r"].get<int64_t>();
    p.n = c["n"].get<int64_t>();
    p.m = c["m"].get<int64_t>();
    p.At = as_vec(c["At"]);
    p.Bt = as_vec(c["Bt"]);
    p.S_raw = as_vec(c["S_raw"]);
    p.scale_bound = c["scale_bound"].get<double>();
    EXPECT_DOUBLE_EQ(p.scale_bound, nblora_scale_bound(c["sigma_k"].get<double>(), 1, 0.0));
    SCOPED_TRACE("case r=" + std::to_string(p.r) + " n=" + std::to_string(p.n) + " m=" + std::to_string(p.m));

    const Forward f = forward(p);
    EXPECT_LT(rel_err(f.A_eff, as_vec(c["A_eff"])), kGoldenRelTol);
    EXPECT_LT(rel_err(f.B_eff, as_vec(c["B_eff"])), kGoldenRelTol);

    NbLoraGradsD g = nblora_zero_grads(p);
    cayley_backward<double>(p, f.ws, as_vec(c["dA_eff"]), as_vec(c["dB_eff"]), g);
    EXPECT_LT(rel_err(g.dAt, as_vec(c["dAt"])), kGoldenRelTol);
    EXPECT_LT(rel_err(g.dBt, as_vec(c["dBt"])), kGoldenRelTol);
    EXPECT_LT(rel_err(g.dS_raw, as_vec(c["dS_raw"])), kGoldenRelTol);

    EXPECT_LT(rel_err(nblora_delta_w_singular_values(p), as_vec(c["delta_w_singular_values"])), kGoldenRelTol);
    const double ratio = c["saturation_ratio"].get<double>();
    EXPECT_NEAR(nblora_saturation_ratio(p), ratio, kGoldenRelTol * ratio);
  }
}

}  // namespace
}  // namespace mc::train

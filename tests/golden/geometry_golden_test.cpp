// Geometry estimators against independent references on committed inputs (tests/data/geometry,
// written by tools/gen_geometry_goldens.py): numpy/scipy for the SVD, norms and ranks, scikit-dimension
// 0.5.0 for TwoNN and the MLE, a direct numpy CKA, weightwatcher 0.7.7 for the ESD power-law α, and
// scipy quadrature for the Marchenko–Pastur median — on synthetic data and on three SmolLM2-135M weights.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/fs.h"
#include "core/json.h"
#include "geometry/cka.h"
#include "geometry/intrinsic_dimension.h"
#include "geometry/powerlaw.h"
#include "geometry/ranks.h"
#include "geometry/spectrum.h"
#include "tensor/dtype.h"
#include "test_util.h"

namespace mc::geometry {
namespace {

// Tolerances. Both sides compute in double on identical inputs (float32/bf16 values converted exactly).
// Singular values: two backward-stable double SVDs (numpy's and ours, different LAPACK builds) each
// within c·min(m,n)·2⁻⁵²·σ_max of the truth: ≤ ~1e-13·σ_max for min(m,n) ≤ 576; we allow 1e-11·σ_max.
constexpr double kSvRelTol = 1e-11;
// Quantities that are smooth functions of σ (norms, stable/effective ranks, ratios): relative 1e-10.
constexpr double kSmoothRelTol = 1e-10;
// Our sgesdd path against numpy's double SVD: float32 backward error ~ min(m,n)·2⁻²³·σ_max.
constexpr double kSingleSvRelTol = 1e-4;
// weightwatcher α, x_min, D: the same double formulas on eigenvalues that differ by ~1e-12 relative;
// the chosen x_min is a discrete argmin, identical unless two KS distances tie to ~1e-12.
constexpr double kAlphaRelTol = 1e-9;
// TwoNN / MLE: the same Euclidean distances to ~1e-15 relative (sklearn KD-tree or Gram identity vs
// our exact recomputation), logs and sums in double: 1e-9 relative leaves a wide margin.
constexpr double kIdRelTol = 1e-9;
// CKA and HSIC: centred Gram (ours) vs H·K·H on raw Gram (numpy), n ≤ 64 terms: relative 1e-9.
constexpr double kCkaRelTol = 1e-9;
constexpr double kCkaAbsTol = 1e-12;
// Marchenko–Pastur median: scipy quad+brentq to ~1e-13 vs our Simpson+bisection (error < 1e-10).
constexpr double kMpMedianTol = 1e-9;

const Json& golden() {
  static const Json g = json_load(test::data_path("geometry/golden.json"), "golden");
  return g;
}

/// A stored input matrix as float32 (bf16 inputs are widened exactly).
struct Input {
  int64_t rows = 0, cols = 0;
  std::vector<float> data;
  MatrixViewF view() const { return {data.data(), rows, cols}; }
};

Input load_input(const std::string& file, const Json& shape, const std::string& dtype = "f32") {
  Input in;
  in.rows = shape.at(0).get<int64_t>();
  in.cols = shape.at(1).get<int64_t>();
  const size_t n = static_cast<size_t>(in.rows * in.cols);
  const std::string bytes = read_file(test::data_path("geometry/" + file), "golden");
  in.data.resize(n);
  if (dtype == "f32") {
    EXPECT_EQ(bytes.size(), n * 4) << file;
    if (bytes.size() == n * 4) std::memcpy(in.data.data(), bytes.data(), bytes.size());
  } else {
    EXPECT_EQ(dtype, "bf16");
    EXPECT_EQ(bytes.size(), n * 2) << file;
    if (bytes.size() == n * 2) convert_to_f32(Dtype::BF16, bytes.data(), in.data.data(), n);
  }
  return in;
}

/// A golden number; the generator stores non-finite values as "inf" / "-inf" / "nan".
double num(const Json& j) {
  if (j.is_string()) {
    const std::string s = j.get<std::string>();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
    return std::numeric_limits<double>::quiet_NaN();
  }
  return j.get<double>();
}

void expect_rel(double actual, double expected, double rel, const std::string& what) {
  if (std::isinf(expected)) {
    EXPECT_EQ(actual, expected) << what;
    return;
  }
  EXPECT_NEAR(actual, expected, rel * std::fabs(expected)) << what;
}

TEST(GeometryGolden, FixturesPresent) {
  const Json& g = golden();
  EXPECT_GE(g.at("matrices").size(), 10u);
  EXPECT_GE(g.at("point_clouds").size(), 5u);
  EXPECT_GE(g.at("cka").size(), 3u);
}

TEST(GeometryGolden, SingularValuesNormsAndRanksMatchNumpy) {
  for (const Json& c : golden().at("matrices")) {
    const std::string name = c.at("name").get<std::string>();
    SCOPED_TRACE(name);
    const Input in = load_input(c.at("file").get<std::string>(), c.at("shape"), c.at("dtype").get<std::string>());
    const int64_t m = in.rows, n = in.cols;
    const std::vector<double> s = singular_values(in.view());
    const std::vector<double> want = c.at("singular_values").get<std::vector<double>>();
    ASSERT_EQ(s.size(), want.size());
    double max_err = 0.0;
    for (size_t i = 0; i < s.size(); ++i) max_err = std::max(max_err, std::fabs(s[i] - want[i]));
    EXPECT_LE(max_err, kSvRelTol * want[0]) << "max |σ − σ_numpy| = " << max_err;
    const std::vector<double> s32 = singular_values(in.view(), SvdPrecision::Single);
    for (size_t i = 0; i < s.size(); ++i) EXPECT_NEAR(s32[i], want[i], kSingleSvRelTol * want[0]) << "sgesdd " << i;

    expect_rel(frobenius_norm(s), num(c.at("frobenius_norm")), kSmoothRelTol, "frobenius");
    expect_rel(std::sqrt(frobenius_sq(in.view())), num(c.at("frobenius_norm")), kSmoothRelTol, "frobenius (entries)");
    expect_rel(spectral_norm(s), num(c.at("spectral_norm")), kSmoothRelTol, "spectral");
    expect_rel(nuclear_norm(s), num(c.at("nuclear_norm")), kSmoothRelTol, "nuclear");
    expect_rel(stable_rank(s), num(c.at("stable_rank")), kSmoothRelTol, "stable rank");
    expect_rel(participation_ratio(s), num(c.at("participation_ratio")), kSmoothRelTol, "participation ratio");
    expect_rel(shannon_effective_rank(s, ErankWeights::Energy), num(c.at("erank_energy")), kSmoothRelTol,
               "erank energy");
    expect_rel(shannon_effective_rank(s, ErankWeights::SingularValues), num(c.at("erank_singular_values")),
               kSmoothRelTol, "erank Roy-Vetterli");
    expect_rel(renyi2_effective_rank(s), num(c.at("renyi2")), kSmoothRelTol, "renyi2");
    EXPECT_EQ(numerical_rank(s, m, n, kEpsF64), c.at("numerical_rank_f64").get<int64_t>());
    EXPECT_EQ(numerical_rank(s, m, n, kEpsF32), c.at("numerical_rank_f32").get<int64_t>());
    // κ = σ₁/σ_r: σ_r carries the absolute error kSvRelTol·σ₁, i.e. kSvRelTol·κ relative.
    const double kappa = num(c.at("condition_number_f32"));
    expect_rel(condition_number(s, m, n, kEpsF32), kappa, kSvRelTol * kappa + kSmoothRelTol, "condition");

    const Json& cap = c.at("capacity");
    const CapacityMetrics cm = capacity_metrics(s, m, n);
    EXPECT_EQ(cm.numerical_rank_f32, cap.at("numerical_rank_f32").get<int64_t>());
    EXPECT_EQ(cm.numerical_rank_f16, cap.at("numerical_rank_f16").get<int64_t>());
    EXPECT_EQ(cm.null_space_dim_f32, cap.at("null_space_dim_f32").get<int64_t>());
    expect_rel(cm.null_space_fraction, num(cap.at("null_space_fraction")), kSmoothRelTol, "null fraction");
    EXPECT_EQ(cm.recommended_rank, cap.at("recommended_rank").get<int64_t>());
    // σ_r/σ_{r+1}: each σ carries the absolute error kSvRelTol·σ₁, so the ratio's relative error is
    // kSvRelTol·σ₁·(1/σ_r + 1/σ_{r+1}) (large when σ_{r+1} is rounding noise, as in the low-rank case).
    const int64_t r = cap.at("recommended_rank").get<int64_t>();
    const double ratio_tol =
        r < static_cast<int64_t>(want.size()) ? kSvRelTol * want[0] * (1.0 / want[r - 1] + 1.0 / want[r]) : 0.0;
    expect_rel(cm.spectral_gap_at_rank, num(cap.at("spectral_gap_at_rank")), ratio_tol + kSmoothRelTol,
               "gap at rank");
    expect_rel(cm.capacity_utilization, num(cap.at("capacity_utilization")), kSmoothRelTol, "utilization");

    const Json& lg = c.at("layer_geometry");
    const LayerGeometry g = layer_geometry(s, m, n);
    expect_rel(g.erank, num(lg.at("erank")), kSmoothRelTol, "LayerGeometry erank");
    EXPECT_EQ(g.k, lg.at("k").get<int64_t>());
    expect_rel(g.sigma_k, num(lg.at("sigma_k")), kSvRelTol * want[0] / num(lg.at("sigma_k")), "sigma_k");
    EXPECT_NEAR(g.spectral_gap, num(lg.at("spectral_gap")), 2 * kSvRelTol * want[0]) << "spectral gap";
    EXPECT_EQ(g.tail_dims, lg.at("tail_dims").get<int64_t>());
    expect_rel(g.decay_ratio, num(lg.at("decay_ratio")), kSvRelTol * want[0] / num(lg.at("sigma_k")) + kSmoothRelTol,
               "decay ratio");
    EXPECT_EQ(g.precision_rank, lg.at("precision_rank").get<int64_t>());
    EXPECT_EQ(g.recommended_rank, lg.at("recommended_rank").get<int64_t>());
  }
}

TEST(GeometryGolden, PowerLawAlphaMatchesWeightWatcher) {
  int checked = 0;
  for (const Json& c : golden().at("matrices")) {
    if (!c.contains("weightwatcher")) continue;
    const std::string name = c.at("name").get<std::string>();
    SCOPED_TRACE(name);
    const Input in = load_input(c.at("file").get<std::string>(), c.at("shape"), c.at("dtype").get<std::string>());
    const PowerLawFit f = esd_alpha(singular_values(in.view()));
    const Json& ww = c.at("weightwatcher");
    ASSERT_TRUE(f.ok);
    expect_rel(f.alpha, num(ww.at("alpha")), kAlphaRelTol, "alpha");
    expect_rel(f.xmin, num(ww.at("xmin")), kAlphaRelTol, "xmin");
    expect_rel(f.xmax, num(ww.at("xmax")), kAlphaRelTol, "xmax");
    expect_rel(f.D, num(ww.at("D")), kAlphaRelTol, "D");
    EXPECT_EQ(f.num_pl_spikes, ww.at("num_pl_spikes").get<int64_t>());
    // weightwatcher's small-N fallback reports σ = −1/√N (it reads α before assigning it); we report
    // the standard error of the α returned, so σ is compared only where weightwatcher's is meaningful.
    if (num(ww.at("sigma")) >= 0.0) expect_rel(f.sigma, num(ww.at("sigma")), kAlphaRelTol, "sigma");
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

TEST(GeometryGolden, IntrinsicDimensionMatchesScikitDimension) {
  for (const Json& c : golden().at("point_clouds")) {
    const std::string name = c.at("name").get<std::string>();
    SCOPED_TRACE(name);
    const Input in = load_input(c.at("file").get<std::string>(), c.at("shape"));
    const Json& col = c.at("collapse");
    const TwoNNResult t = twonn(in.view());
    EXPECT_EQ(t.n_distinct, c.at("n_distinct").get<int64_t>());
    expect_rel(t.dimension, num(col.at("twonn")), kIdRelTol, "TwoNN (collapse)");
    expect_rel(mle_levina_bickel(in.view()).dimension, num(col.at("mle")), kIdRelTol, "MLE (collapse)");
    MleOptions mean;
    mean.averaging = MleAveraging::Mean;
    expect_rel(mle_levina_bickel(in.view(), mean).dimension, num(col.at("mle_mean")), kIdRelTol, "MLE mean");
    if (c.contains("drop_zero_r1")) {
      const Json& drop = c.at("drop_zero_r1");
      TwoNNOptions to;
      to.duplicates = DuplicatePolicy::DropZeroR1;
      expect_rel(twonn(in.view(), to).dimension, num(drop.at("twonn")), kIdRelTol, "TwoNN (drop)");
      MleOptions mo;
      mo.duplicates = DuplicatePolicy::DropZeroR1;
      expect_rel(mle_levina_bickel(in.view(), mo).dimension, num(drop.at("mle")), kIdRelTol, "MLE (drop)");
      mo.averaging = MleAveraging::Mean;
      expect_rel(mle_levina_bickel(in.view(), mo).dimension, num(drop.at("mle_mean")), kIdRelTol, "MLE mean (drop)");
    }
  }
}

TEST(GeometryGolden, CkaMatchesDirectNumpy) {
  for (const Json& c : golden().at("cka")) {
    const std::string name = c.at("name").get<std::string>();
    const Input x = load_input(c.at("x_file").get<std::string>(), c.at("x_shape"));
    const Input y = load_input(c.at("y_file").get<std::string>(), c.at("y_shape"));
    for (const Json& r : c.at("results")) {
      const std::string kernel = r.at("kernel").get<std::string>(), est = r.at("estimator").get<std::string>();
      SCOPED_TRACE(name + " " + kernel + " " + est);
      CkaOptions o;
      o.kernel = kernel == "linear" ? CkaKernel::Linear : CkaKernel::Rbf;
      o.estimator = est == "biased" ? HsicEstimator::Biased : HsicEstimator::Unbiased;
      if (o.kernel == CkaKernel::Rbf) o.rbf_sigma_frac = num(r.at("sigma_frac"));
      const CkaResult got = cka(x.view(), y.view(), o);
      auto near = [](double a, double b, const char* what) {
        EXPECT_NEAR(a, b, kCkaRelTol * std::fabs(b) + kCkaAbsTol) << what;
      };
      near(got.cka, num(r.at("cka")), "cka");
      near(got.hsic_xy, num(r.at("hsic_xy")), "hsic_xy");
      near(got.hsic_xx, num(r.at("hsic_xx")), "hsic_xx");
      near(got.hsic_yy, num(r.at("hsic_yy")), "hsic_yy");
      if (o.kernel == CkaKernel::Rbf) {
        near(got.sigma_x, num(r.at("sigma_x")), "sigma_x");
        near(got.sigma_y, num(r.at("sigma_y")), "sigma_y");
      }
    }
  }
}

TEST(GeometryGolden, MarchenkoPasturMatchesScipy) {
  for (const Json& c : golden().at("mp_medians")) {
    const double beta = num(c.at("beta"));
    EXPECT_NEAR(marchenko_pastur_median(beta), num(c.at("median")), kMpMedianTol) << "beta " << beta;
  }
  for (const Json& c : golden().at("mp_signal")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const Input in = load_input(c.at("file").get<std::string>(), c.at("shape"));
    // Column-centre in double, as the generator does, then the signal rank from the singular values.
    std::vector<double> xc(in.data.begin(), in.data.end());
    for (int64_t j = 0; j < in.cols; ++j) {
      double mean = 0.0;
      for (int64_t i = 0; i < in.rows; ++i) mean += xc[i * in.cols + j];
      mean /= static_cast<double>(in.rows);
      for (int64_t i = 0; i < in.rows; ++i) xc[i * in.cols + j] -= mean;
    }
    const MpSignalRank r = mp_signal_rank(singular_values(MatrixViewD(xc.data(), in.rows, in.cols)), in.rows, in.cols);
    EXPECT_EQ(r.signal_rank, c.at("signal_rank").get<int64_t>());
    expect_rel(r.noise_variance, num(c.at("noise_variance")), kMpMedianTol * 10, "noise variance");
    expect_rel(r.edge, num(c.at("edge")), kMpMedianTol * 10, "edge");
    expect_rel(r.signal_variance_fraction, num(c.at("signal_variance_fraction")), kSmoothRelTol, "signal fraction");
  }
}

}  // namespace
}  // namespace mc::geometry

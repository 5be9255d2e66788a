// Unit and property tests of the capacity / adapter / activation-file layer (src/model/capacity*.h and
// src/geometry/report/npy.h): name parsing, medians and Spearman, capacity invariants on planted and
// orthogonal matrices, the worker pool (threads give identical results), filters, the strict .npy
// reader's rejections, activation-file selection, PEFT pattern matching, adapter validation, and the
// ΔW subspace measures on adapters whose geometry is known by construction.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <span>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "geometry/report/npy.h"
#include "geometry/spectrum.h"
#include "io/safetensors.h"
#include "model/capacity.h"
#include "model/capacity_activations.h"
#include "model/capacity_adapter.h"
#include "test_util.h"

namespace mc {
namespace {

constexpr double kTol = 1e-10;

// --- helpers -----------------------------------------------------------------------------------------

/// Random orthonormal columns Q (rows, cols) by Gram–Schmidt on Gaussian vectors (double, row-major).
std::vector<double> orthonormal(int64_t rows, int64_t cols, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> q(static_cast<size_t>(rows * cols));
  for (auto& x : q) x = rng.normal();
  for (int64_t j = 0; j < cols; ++j) {
    for (int pass = 0; pass < 2; ++pass)
      for (int64_t k = 0; k < j; ++k) {
        double d = 0;
        for (int64_t i = 0; i < rows; ++i) d += q[i * cols + j] * q[i * cols + k];
        for (int64_t i = 0; i < rows; ++i) q[i * cols + j] -= d * q[i * cols + k];
      }
    double n = 0;
    for (int64_t i = 0; i < rows; ++i) n += q[i * cols + j] * q[i * cols + j];
    n = std::sqrt(n);
    for (int64_t i = 0; i < rows; ++i) q[i * cols + j] /= n;
  }
  return q;
}

/// W = U diag(s) Vᵀ (m, n) as float, U (m, k), V (n, k) orthonormal, k = s.size().
std::vector<float> planted(int64_t m, int64_t n, const std::vector<double>& s, uint64_t seed) {
  const int64_t k = static_cast<int64_t>(s.size());
  auto u = orthonormal(m, k, seed), v = orthonormal(n, k, seed + 1);
  std::vector<float> w(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double x = 0;
      for (int64_t t = 0; t < k; ++t) x += u[i * k + t] * s[t] * v[j * k + t];
      w[i * n + j] = static_cast<float>(x);
    }
  return w;
}

std::span<const uint8_t> bytes_of(const std::vector<float>& v) {
  return {reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(float)};
}

template <typename F>
void expect_error(F&& f, const std::string& component, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected mc::Error [" << component << "] containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.component(), component) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_EQ(e.code(), ExitCode::BadInput) << e.what();
  }
}

// --- names, medians, Spearman --------------------------------------------------------------------------

TEST(CapacityNames, ModuleAndLayerOfHfNames) {
  EXPECT_EQ(capacity_module_of("model.layers.3.self_attn.q_proj.weight"), "self_attn.q_proj");
  EXPECT_EQ(capacity_module_of("model.layers.12.conv.out_proj.weight"), "conv.out_proj");
  EXPECT_EQ(capacity_module_of("model.embed_tokens.weight"), "embed_tokens");
  EXPECT_EQ(capacity_module_of("lm_head.weight"), "lm_head");
  EXPECT_EQ(capacity_module_of("model.layers.0.mlp.down_proj"), "mlp.down_proj");
  EXPECT_EQ(capacity_layer_of("model.layers.3.self_attn.q_proj.weight"), 3);
  EXPECT_EQ(capacity_layer_of("model.layers.29.mlp.gate_proj.weight"), 29);
  EXPECT_EQ(capacity_layer_of("model.embed_tokens.weight"), -1);
  EXPECT_EQ(capacity_layer_of("model.sublayers.3.x.weight"), -1);  // "layers." must start a component
  EXPECT_EQ(capacity_layer_of("model.layers.x.weight"), -1);
}

TEST(CapacitySummaryMath, MedianFiniteSkipsNaN) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_DOUBLE_EQ(median_finite({3, 1, 2}), 2.0);
  EXPECT_DOUBLE_EQ(median_finite({4, 1, 3, 2}), 2.5);
  EXPECT_DOUBLE_EQ(median_finite({nan, 5, 1, INFINITY}), 3.0);
  EXPECT_TRUE(std::isnan(median_finite({})));
  EXPECT_TRUE(std::isnan(median_finite({nan})));
}

TEST(CapacitySummaryMath, SpearmanMonotoneConstantAndTies) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_NEAR(spearman({0, 1, 2, 3}, {1, 5, 9, 100}), 1.0, kTol);
  EXPECT_NEAR(spearman({0, 1, 2, 3}, {4, 3, 2, -7}), -1.0, kTol);
  EXPECT_TRUE(std::isnan(spearman({0, 1, 2}, {2, 2, 2})));  // constant: undefined
  EXPECT_TRUE(std::isnan(spearman({0}, {1})));
  // NaN pairs are dropped: the rest is strictly increasing.
  EXPECT_NEAR(spearman({0, 1, 2, 3}, {1, nan, 2, 3}), 1.0, kTol);
  // Ties get average ranks: x ranks (1,2,3), y ranks (1.5,1.5,3) → Pearson = √3/2.
  EXPECT_NEAR(spearman({0, 1, 2}, {1, 1, 2}), std::sqrt(3.0) / 2.0, kTol);
}

// --- matrix capacity ----------------------------------------------------------------------------------

TEST(MatrixCapacity, PlantedGapGivesRecommendedRankAndInvariants) {
  // Five large values, then a slow decay: the knee is at 5 (surface.md §12 item 4).
  std::vector<double> s = {10, 9, 8, 7, 6};
  for (int i = 0; i < 35; ++i) s.push_back(1.0 * std::pow(0.93, i));
  const int64_t m = 48, n = 40;
  std::vector<float> w = planted(m, n, s, 7);
  MatrixCapacity c = matrix_capacity(w.data(), m, n, true);
  EXPECT_EQ(c.cap.recommended_rank, 5);
  EXPECT_NEAR(c.cap.spectral_norm, 10.0, 1e-5);
  ASSERT_EQ(c.singular_values.size(), static_cast<size_t>(n));
  // stable rank ≤ participation ratio ≤ exact rank ≤ min(m, n); Shannon erank in [1, min(m, n)].
  EXPECT_LE(c.cap.stable_rank, c.cap.effective_rank + kTol);
  EXPECT_LE(c.cap.effective_rank, static_cast<double>(c.numerical_rank) + kTol);
  EXPECT_LE(c.numerical_rank, std::min(m, n));
  EXPECT_GE(c.geo.erank, 1.0);
  EXPECT_LE(c.geo.erank, static_cast<double>(std::min(m, n)));
  EXPECT_LE(c.cap.numerical_rank_f16, c.cap.numerical_rank_f32);
  EXPECT_GE(c.cap.null_space_fraction, 0.0);
  EXPECT_LE(c.cap.null_space_fraction, 1.0);
  EXPECT_EQ(c.geo.tail_dims, std::min(m, n) - c.geo.k);
  EXPECT_GE(c.condition_number, 1.0);
  EXPECT_TRUE(c.alpha.ok);  // 40 eigenvalues ≥ WeightWatcher's 8
}

TEST(MatrixCapacity, OrthogonalMatrixHasMaximalEffectiveRank) {
  const int64_t n = 24;
  std::vector<double> q = orthonormal(n, n, 3);
  std::vector<float> w(q.begin(), q.end());
  MatrixCapacity c = matrix_capacity(w.data(), n, n);
  EXPECT_NEAR(c.geo.erank, static_cast<double>(n), 1e-4);  // float rounding of Q only
  EXPECT_NEAR(c.cap.stable_rank, static_cast<double>(n), 1e-4);
  EXPECT_NEAR(c.cap.effective_rank, static_cast<double>(n), 1e-4);
  EXPECT_NEAR(c.condition_number, 1.0, 1e-5);
  EXPECT_EQ(c.numerical_rank, n);
  // And scaling W does not change any rank or shape measure.
  for (auto& x : w) x *= 8.0f;
  MatrixCapacity c8 = matrix_capacity(w.data(), n, n);
  EXPECT_NEAR(c8.geo.erank, c.geo.erank, 1e-9);
  EXPECT_NEAR(c8.cap.spectral_norm, 8.0 * c.cap.spectral_norm, 1e-9);
}

TEST(MatrixCapacity, RankOneMatrix) {
  std::vector<float> w = planted(12, 9, {3.0}, 5);
  MatrixCapacity c = matrix_capacity(w.data(), 12, 9);
  EXPECT_EQ(c.numerical_rank, 1);
  EXPECT_NEAR(c.geo.erank, 1.0, 1e-6);
  EXPECT_NEAR(c.cap.stable_rank, 1.0, 1e-6);
  EXPECT_EQ(c.geo.k, 1);
  EXPECT_EQ(c.geo.tail_dims, 8);
  EXPECT_NEAR(c.condition_number, 1.0, 1e-12);
  EXPECT_TRUE(c.alpha.ok == false || c.alpha.num_evals < 8);  // one eigenvalue above WW's threshold
}

// --- capacity_analyze over a checkpoint ---------------------------------------------------------------

struct TinyCheckpoint {
  test::TempDir dir;
  std::string path;
  TinyCheckpoint() {
    path = dir / "model.safetensors";
    std::vector<float> a = planted(32, 20, {5, 4, 3, 2, 1, 0.5, 0.25, 0.1, 0.05, 0.01}, 1);
    std::vector<float> b = planted(16, 24, {2, 2, 1, 1, 1, 0.5, 0.5, 0.2, 0.1, 0.1, 0.05, 0.01}, 2);
    std::vector<float> c = planted(40, 40, {9, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 3);
    std::vector<float> norm(20, 1.0f);
    safetensors_write(path, {{"model.layers.0.self_attn.q_proj.weight", Dtype::F32, {32, 20}, bytes_of(a)},
                             {"model.layers.1.self_attn.q_proj.weight", Dtype::F32, {16, 24}, bytes_of(b)},
                             {"model.layers.1.mlp.up_proj.weight", Dtype::F32, {40, 40}, bytes_of(c)},
                             {"model.layers.0.input_layernorm.weight", Dtype::F32, {20}, bytes_of(norm)}});
  }
};

TEST(CapacityAnalyze, WalksEveryMatrixAndSummarises) {
  TinyCheckpoint ck;
  CapacityReport r = capacity_analyze(ck.path);
  ASSERT_EQ(r.matrices.size(), 3u);
  EXPECT_EQ(r.summary.analyzed_matrices, 3);
  EXPECT_EQ(r.summary.skipped_tensors, 1);  // the 1-D norm
  EXPECT_EQ(r.summary.total_parameters, 32u * 20 + 16 * 24 + 40 * 40 + 20);
  EXPECT_EQ(r.summary.analyzed_parameters, 32u * 20 + 16 * 24 + 40 * 40);
  EXPECT_EQ(r.matrices[0].name, "model.layers.0.self_attn.q_proj.weight");  // name order
  EXPECT_EQ(r.matrices[0].layer, 0);
  EXPECT_EQ(r.matrices[0].module, "self_attn.q_proj");
  EXPECT_EQ(r.matrices[0].group, "attention");
  EXPECT_EQ(r.matrices[0].dtype, "F32");
  EXPECT_EQ(r.matrices[1].group, "mlp");  // model.layers.1.mlp.up_proj sorts before layers.1.self_attn
  // min(m, n) = 20, 16, 40 each once: ties go to the larger.
  EXPECT_EQ(r.summary.reference_rank_dimension, 40);
  std::vector<double> smax;
  for (const auto& c : r.matrices) smax.push_back(c.cap.spectral_norm);
  EXPECT_NEAR(r.summary.median_sigma_max, 5.0, 1e-5);
}

TEST(CapacityAnalyze, ThreadsGiveIdenticalResults) {
  TinyCheckpoint ck;
  CapacityOptions one, three;
  three.threads = 3;
  one.keep_singular_values = three.keep_singular_values = true;
  size_t calls = 0;
  three.progress = [&](size_t done, size_t total, const std::string&) {
    EXPECT_LE(done, total);
    ++calls;
  };
  CapacityReport a = capacity_analyze(ck.path, one), b = capacity_analyze(ck.path, three);
  EXPECT_EQ(calls, 3u);
  ASSERT_EQ(a.matrices.size(), b.matrices.size());
  for (size_t i = 0; i < a.matrices.size(); ++i) {
    EXPECT_EQ(a.matrices[i].name, b.matrices[i].name);
    EXPECT_EQ(a.matrices[i].singular_values, b.matrices[i].singular_values) << a.matrices[i].name;
    EXPECT_EQ(a.matrices[i].alpha.alpha, b.matrices[i].alpha.alpha);
  }
}

TEST(CapacityAnalyze, FiltersAndErrors) {
  TinyCheckpoint ck;
  CapacityOptions o;
  o.include = {"mlp."};
  EXPECT_EQ(capacity_analyze(ck.path, o).matrices.size(), 1u);
  o.include = {"q_proj", "up_proj"};
  o.min_dim = 17;
  o.max_dim = 39;
  CapacityReport r = capacity_analyze(ck.path, o);
  ASSERT_EQ(r.matrices.size(), 1u);  // 20 passes, 16 < 17, 40 > 39
  EXPECT_EQ(r.matrices[0].m, 32);
  o.include = {"nothing"};
  expect_error([&] { capacity_analyze(ck.path, o); }, "capacity", "passes the filters");
  expect_error([&] { capacity_analyze(ck.dir / "missing"); }, "capacity", "no such file");
}

TEST(CapacityAnalyze, FailureNamesTheTensor) {
  test::TempDir d;
  std::vector<float> w(6 * 5, 1.0f);
  w[7] = std::numeric_limits<float>::quiet_NaN();
  safetensors_write(d / "m.safetensors", {{"model.layers.0.mlp.up_proj.weight", Dtype::F32, {6, 5}, bytes_of(w)}});
  try {
    capacity_analyze(d / "m.safetensors");
    ADD_FAILURE() << "NaN weight accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.0.mlp.up_proj.weight"), std::string::npos) << e.what();
  }
}

TEST(SpectralTrajectory, GroupsByModuleAndLayer) {
  TinyCheckpoint ck;
  CapacityReport r = capacity_analyze(ck.path);
  std::vector<ModuleTrajectory> t = spectral_trajectory(r);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].module, "self_attn.q_proj");  // attention before MLP
  EXPECT_EQ(t[0].layers, (std::vector<int64_t>{0, 1}));
  EXPECT_NEAR(t[0].sigma_max[0], 5.0, 1e-5);
  EXPECT_NEAR(t[0].sigma_max[1], 2.0, 1e-5);
  EXPECT_NEAR(t[0].sigma_max_trend, -1.0, kTol);
  EXPECT_EQ(t[1].module, "mlp.up_proj");
  EXPECT_TRUE(std::isnan(t[1].sigma_max_trend));  // one point
}

// --- .npy ----------------------------------------------------------------------------------------------

/// A .npy image: magic, version, header (padded to 64 bytes with spaces + '\n'), then data.
std::string npy_image(const std::string& dict, const std::string& data, int major = 1, bool pad = true) {
  std::string h = dict;
  const size_t prefix = major == 1 ? 10 : 12;
  if (pad)
    while ((prefix + h.size() + 1) % 64) h += ' ';
  h += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  const uint32_t n = static_cast<uint32_t>(h.size());
  out += static_cast<char>(n & 0xFF);
  out += static_cast<char>((n >> 8) & 0xFF);
  if (major != 1) {
    out += static_cast<char>((n >> 16) & 0xFF);
    out += static_cast<char>((n >> 24) & 0xFF);
  }
  return out + h + data;
}

std::string f32_bytes(const std::vector<float>& v) { return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4); }

geometry::DenseMatrix parse(const std::string& img) {
  return geometry::npy_parse({reinterpret_cast<const uint8_t*>(img.data()), img.size()}, "x.npy");
}

TEST(Npy, ReadsFloat32AndFloat64InEveryVersion) {
  std::vector<float> v = {1, 2, 3, 4, 5, 6};
  for (int major : {1, 2, 3}) {
    auto m = parse(npy_image("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f32_bytes(v), major));
    EXPECT_EQ(m.rows, 2);
    EXPECT_EQ(m.cols, 3);
    EXPECT_EQ(m.dtype, "float32");
    EXPECT_EQ(m.data, (std::vector<double>{1, 2, 3, 4, 5, 6}));
  }
  std::vector<double> d = {0.5, -1.25};
  auto m = parse(npy_image("{\"shape\": (1,2), \"descr\": \"<f8\", \"fortran_order\": False}",
                           std::string(reinterpret_cast<const char*>(d.data()), 16)));
  EXPECT_EQ(m.dtype, "float64");
  EXPECT_EQ(m.data, d);
}

TEST(Npy, RejectsEverythingElse) {
  const std::string ok_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  const std::string data = f32_bytes({1, 2, 3, 4, 5, 6});
  struct Case {
    std::string image, needle;
  };
  std::string bad_version = npy_image(ok_dict, data);
  bad_version[6] = 4;
  std::string long_header = npy_image(ok_dict, data, 2);
  long_header[10] = 1;  // header length ≥ 65536
  const std::vector<Case> cases = {
      {"", "empty file"},
      {"NUMPY\x01\x00\x10\x00", "bad magic"},
      {bad_version, "unsupported .npy version"},
      {long_header, "exceeds"},
      {npy_image(ok_dict, data).substr(0, 30), "past the end"},
      {npy_image("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", data), "'>f4' is not supported"},
      {npy_image("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", data), "'<i4' is not supported"},
      {npy_image("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", data), "Fortran-order"},
      {npy_image("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", data), "expected a 2-D array"},
      {npy_image("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3), }", data), "got 3-D"},
      {npy_image("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", ""), "empty array"},
      {npy_image(ok_dict, data.substr(0, 20)), "data area holds 20 bytes"},
      {npy_image(ok_dict, data + "xxxx"), "data area holds 28 bytes"},
      {npy_image("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", data), "needs more"},
      {npy_image("{'descr': '<f4', 'fortran_order': False}", data), "no 'shape'"},
      {npy_image("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 'y'}", data), "keys other than"},
      {npy_image("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", data), "duplicate key"},
      {npy_image("{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3)}", data), "unsupported value"},
      {npy_image("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}", data), "non-negative integers"},
      {npy_image("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} junk", data), "trailing characters"},
      {npy_image(ok_dict, data, 1, false).replace(10 + ok_dict.size(), 1, " "), "newline"},
  };
  for (const auto& c : cases) expect_error([&] { parse(c.image); }, "npy", c.needle);
}

// --- activation files ------------------------------------------------------------------------------

TEST(ActivationFiles, PicksTheTensorAndValidates) {
  test::TempDir d;
  std::vector<float> a(12, 1.5f), b3(8, 2.0f);
  std::vector<uint8_t> ints(6 * 4, 0);
  safetensors_write(d / "two.safetensors", {{"a", Dtype::F32, {3, 4}, bytes_of(a)}, {"b", Dtype::F32, {2, 2, 2}, bytes_of(b3)}});
  safetensors_write(d / "one.safetensors", {{"x", Dtype::F32, {4, 3}, bytes_of(a)}});
  safetensors_write(d / "int.safetensors", {{"x", Dtype::I32, {2, 3}, ints}});
  auto m = activation_matrix_load(d / "one.safetensors");
  EXPECT_EQ(m.rows, 4);
  EXPECT_EQ(m.cols, 3);
  EXPECT_EQ(activation_matrix_load(d / "two.safetensors", "a").rows, 3);
  expect_error([&] { activation_matrix_load(d / "two.safetensors"); }, "activations", "holds 2 tensors");
  expect_error([&] { activation_matrix_load(d / "two.safetensors", "b"); }, "activations", "is 3-D");
  expect_error([&] { activation_matrix_load(d / "two.safetensors", "zz"); }, "activations", "no tensor named 'zz'");
  expect_error([&] { activation_matrix_load(d / "int.safetensors"); }, "activations", "dtype I32");
  expect_error([&] { activation_matrix_load(d / "missing.npy"); }, "activations", "no such file");
  test::write_bytes(d / "x.csv", "1,2\n");
  expect_error([&] { activation_matrix_load(d / "x.csv"); }, "activations", "unknown file type");
  test::write_bytes(d / "e.npy", "");
  expect_error([&] { activation_matrix_load(d / "e.npy"); }, "npy", "empty file");
  expect_error([&] { activation_matrix_load(d / "e.npy", "t"); }, "activations", "--tensor applies");
}

// --- PEFT adapters -----------------------------------------------------------------------------------

TEST(PeftPattern, MatchesLikePeftGetPatternKey) {
  const std::string m = "model.layers.1.self_attn.q_proj";
  EXPECT_EQ(peft_pattern_key({"q_proj"}, m), "q_proj");
  EXPECT_EQ(peft_pattern_key({"self_attn.q_proj"}, m), "self_attn.q_proj");
  EXPECT_EQ(peft_pattern_key({m}, m), m);
  EXPECT_EQ(peft_pattern_key({"proj"}, m), "");  // must match whole components at the end
  EXPECT_EQ(peft_pattern_key({"attn.q_proj"}, m), "");
  EXPECT_EQ(peft_pattern_key({"layers.0.self_attn.q_proj"}, m), "");
  EXPECT_EQ(peft_pattern_key({"layers\\.[0-9]+\\.self_attn\\.q_proj"}, m), "layers\\.[0-9]+\\.self_attn\\.q_proj");
  EXPECT_EQ(peft_pattern_key({"v_proj", "q_proj", "self_attn.q_proj"}, m), "q_proj");  // first match wins
  expect_error([] { peft_pattern_key({"q_proj("}, "x.q_proj"); }, "adapter", "invalid pattern");
}

/// Writes a PEFT adapter directory with the given config and tensors.
void write_adapter(const std::string& dir, const std::string& config,
                   const std::vector<std::pair<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>>& t) {
  std::filesystem::create_directories(dir);
  test::write_bytes(dir + "/adapter_config.json", config);
  std::vector<SafetensorsWriteEntry> e;
  for (const auto& [name, sv] : t) e.push_back({name, Dtype::F32, sv.first, bytes_of(sv.second)});
  safetensors_write(dir + "/adapter_model.safetensors", e);
}

const std::string kPrefix = "base_model.model.model.layers.0.self_attn.q_proj";

TEST(PeftAdapterLoad, ReadsScalesWithPatternsAndRsLora) {
  test::TempDir d;
  std::vector<float> a(2 * 8, 0.1f), b(6 * 2, 0.2f), a4(4 * 8, 0.1f), b4(6 * 4, 0.2f);
  write_adapter(d / "ad",
                R"({"peft_type": "LORA", "r": 4, "lora_alpha": 16, "use_rslora": true,
                    "rank_pattern": {"layers.0.self_attn.q_proj": 2}, "alpha_pattern": {"v_proj": 3}})",
                {{kPrefix + ".lora_A.weight", {{2, 8}, a}},
                 {kPrefix + ".lora_B.weight", {{6, 2}, b}},
                 {"base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight", {{4, 8}, a4}},
                 {"base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight", {{6, 4}, b4}}});
  PeftAdapter ad = peft_adapter_load(d / "ad");
  ASSERT_EQ(ad.modules.size(), 2u);
  EXPECT_EQ(ad.modules[0].module, "model.layers.0.self_attn.q_proj");
  EXPECT_EQ(ad.modules[0].r, 2);
  EXPECT_DOUBLE_EQ(ad.modules[0].scale, 16.0 / std::sqrt(2.0));
  EXPECT_EQ(ad.modules[1].r, 4);
  EXPECT_DOUBLE_EQ(ad.modules[1].alpha, 3.0);
  EXPECT_DOUBLE_EQ(ad.modules[1].scale, 3.0 / 2.0);
  EXPECT_EQ(ad.modules[1].layer, 0);
  EXPECT_EQ(ad.modules[1].proj, "self_attn.v_proj");
  // ΔW = s·B·A: every entry is s · r · 0.2 · 0.1.
  std::vector<double> delta = lora_delta(ad, ad.modules[0]);
  ASSERT_EQ(delta.size(), 48u);
  EXPECT_NEAR(delta[17], ad.modules[0].scale * 2 * 0.2 * 0.1, 1e-7);
}

TEST(PeftAdapterLoad, RejectsMalformedAdapters) {
  test::TempDir d;
  std::vector<float> a(2 * 8, 0.1f), b(6 * 2, 0.2f), b3(6 * 3, 0.2f);
  const std::string cfg = R"({"peft_type": "LORA", "r": 2, "lora_alpha": 4})";
  auto ab = [&](std::vector<int64_t> bs, const std::vector<float>& bv) {
    return std::vector<std::pair<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>>{
        {kPrefix + ".lora_A.weight", {{2, 8}, a}}, {kPrefix + ".lora_B.weight", {bs, bv}}};
  };
  expect_error([&] { peft_adapter_load(d / "none"); }, "adapter", "not a directory");
  std::filesystem::create_directories(d / "empty");
  expect_error([&] { peft_adapter_load(d / "empty"); }, "adapter", "no adapter_config.json");
  write_adapter(d / "badjson", "{r: 2", ab({6, 2}, b));
  expect_error([&] { peft_adapter_load(d / "badjson"); }, "adapter", "invalid JSON");
  write_adapter(d / "ia3", R"({"peft_type": "IA3", "r": 2, "lora_alpha": 4})", ab({6, 2}, b));
  expect_error([&] { peft_adapter_load(d / "ia3"); }, "adapter", "only LORA");
  write_adapter(d / "dora", R"({"r": 2, "lora_alpha": 4, "use_dora": true})", ab({6, 2}, b));
  expect_error([&] { peft_adapter_load(d / "dora"); }, "adapter", "DoRA");
  write_adapter(d / "nor", R"({"lora_alpha": 4})", ab({6, 2}, b));
  expect_error([&] { peft_adapter_load(d / "nor"); }, "adapter", "missing \"r\"");
  write_adapter(d / "rank", cfg, ab({6, 3}, b3));
  expect_error([&] { peft_adapter_load(d / "rank"); }, "adapter", "lora_B has 3 columns");
  write_adapter(d / "cfgrank", R"({"r": 4, "lora_alpha": 4})", ab({6, 2}, b));
  expect_error([&] { peft_adapter_load(d / "cfgrank"); }, "adapter", "adapter_config.json gives r = 4");
  write_adapter(d / "onlya", cfg, {{kPrefix + ".lora_A.weight", {{2, 8}, a}}});
  expect_error([&] { peft_adapter_load(d / "onlya"); }, "adapter", "has lora_A but no lora_B");
  write_adapter(d / "prefix", cfg, {{"model.layers.0.q.lora_A.weight", {{2, 8}, a}}});
  expect_error([&] { peft_adapter_load(d / "prefix"); }, "adapter", "does not start with");
  write_adapter(d / "nolora", cfg, {{"base_model.model.lm_head.weight", {{2, 8}, a}}});
  expect_error([&] { peft_adapter_load(d / "nolora"); }, "adapter", "no lora_A / lora_B");
  std::filesystem::create_directories(d / "bin");
  test::write_bytes(d / "bin/adapter_config.json", cfg);
  test::write_bytes(d / "bin/adapter_model.bin", "pickle");
  expect_error([&] { peft_adapter_load(d / "bin"); }, "adapter", "adapter_model.bin");
}

// --- ΔW geometry on adapters with known structure -----------------------------------------------------

/// Base W = U diag(s) Vᵀ (m, n) saved as model.layers.0.self_attn.q_proj.weight, and an adapter whose
/// ΔW = scale·B·A with B = c·U[:, cols] (m, r), A = V[:, cols]ᵀ (r, n): ΔW lies exactly in the chosen
/// singular directions of W.
struct KnownAdapter {
  test::TempDir dir;
  std::string base, adapter;
  KnownAdapter(const std::vector<int64_t>& cols, double c) {
    const int64_t m = 20, n = 16, d = 16, r = static_cast<int64_t>(cols.size());
    std::vector<double> s(d);
    for (int64_t i = 0; i < d; ++i) s[i] = 10.0 * std::pow(0.8, static_cast<double>(i));
    auto u = orthonormal(m, d, 21), v = orthonormal(n, d, 22);
    std::vector<float> w(m * n), a(r * n), b(m * r);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double x = 0;
        for (int64_t t = 0; t < d; ++t) x += u[i * d + t] * s[t] * v[j * d + t];
        w[i * n + j] = static_cast<float>(x);
      }
    for (int64_t k = 0; k < r; ++k) {
      for (int64_t j = 0; j < n; ++j) a[k * n + j] = static_cast<float>(v[j * d + cols[k]]);
      for (int64_t i = 0; i < m; ++i) b[i * r + k] = static_cast<float>(c * u[i * d + cols[k]]);
    }
    base = dir / "base";
    std::filesystem::create_directories(base);
    safetensors_write(base + "/model.safetensors",
                      {{"model.layers.0.self_attn.q_proj.weight", Dtype::F32, {m, n}, bytes_of(w)}});
    adapter = dir / "adapter";
    write_adapter(adapter, str(R"({"peft_type": "LORA", "r": )", r, R"(, "lora_alpha": )", r, "}"),
                  {{kPrefix + ".lora_A.weight", {{r, n}, a}}, {kPrefix + ".lora_B.weight", {{m, r}, b}}});
  }
};

TEST(LoraGeometry, UpdateInTopDirectionsOverlapsTopNotTail) {
  KnownAdapter k({0, 1}, 0.5);  // scale 1: ΔW = 0.5·(u0 v0ᵀ + u1 v1ᵀ)
  PeftAdapter ad = peft_adapter_load(k.adapter);
  SafetensorsModel base = SafetensorsModel::open(k.base);
  auto g = lora_analyze(ad, &base);
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].delta_rank, 2);
  EXPECT_NEAR(g[0].delta_singular_values[0], 0.5, 1e-6);
  EXPECT_NEAR(g[0].delta_singular_values[1], 0.5, 1e-6);
  EXPECT_NEAR(g[0].delta_effective_rank, 2.0, 1e-6);
  EXPECT_NEAR(g[0].left_top_overlap, 1.0, 1e-6);
  EXPECT_NEAR(g[0].right_top_overlap, 1.0, 1e-6);
  EXPECT_NEAR(g[0].left_tail_overlap, 0.0, 1e-6);
  EXPECT_NEAR(g[0].right_tail_overlap, 0.0, 1e-6);
  EXPECT_NEAR(g[0].subspace_overlap, 1.0, 1e-6);
  EXPECT_NEAR(g[0].spectral_ratio, 0.05, 1e-6);
  // σ₁, σ₂ each grow by exactly 0.5 = ‖ΔW‖₂: the Weyl bound is attained.
  EXPECT_NEAR(g[0].weyl_utilization, 1.0, 1e-5);
  EXPECT_EQ(g[0].intruder_dimensions, 0);
  EXPECT_NEAR(g[0].left_chance, 2.0 / 20.0, 1e-15);
  EXPECT_GE(g[0].amplification_cv, 0.0);
}

TEST(LoraGeometry, UpdateInTailDirections) {
  KnownAdapter k({14, 15}, 0.01);
  PeftAdapter ad = peft_adapter_load(k.adapter);
  SafetensorsModel base = SafetensorsModel::open(k.base);
  auto g = lora_analyze(ad, &base);
  ASSERT_EQ(g.size(), 1u);
  EXPECT_NEAR(g[0].left_tail_overlap, 1.0, 1e-5);
  EXPECT_NEAR(g[0].right_tail_overlap, 1.0, 1e-5);
  EXPECT_NEAR(g[0].left_top_overlap, 0.0, 1e-5);
  EXPECT_GE(g[0].weyl_utilization, 0.0);
  EXPECT_LE(g[0].weyl_utilization, 1.0 + 1e-9);
}

TEST(LoraGeometry, ZeroUpdateAndWithoutBase) {
  KnownAdapter k({0}, 0.0);  // B = 0, as PEFT initialises it
  PeftAdapter ad = peft_adapter_load(k.adapter);
  auto alone = lora_analyze(ad, nullptr);
  ASSERT_EQ(alone.size(), 1u);
  EXPECT_FALSE(alone[0].has_base);
  EXPECT_EQ(alone[0].delta_frobenius, 0.0);
  EXPECT_EQ(alone[0].delta_rank, 0);
  SafetensorsModel base = SafetensorsModel::open(k.base);
  auto g = lora_analyze(ad, &base);
  EXPECT_EQ(g[0].spectral_ratio, 0.0);
  EXPECT_TRUE(std::isnan(g[0].left_top_overlap));
  EXPECT_TRUE(std::isnan(g[0].weyl_utilization));
  EXPECT_EQ(g[0].rank_before, g[0].rank_after);
}

TEST(LoraGeometry, AdapterForAnotherModelIsRejected) {
  KnownAdapter k({0}, 1.0);
  PeftAdapter ad = peft_adapter_load(k.adapter);
  test::TempDir other;
  std::vector<float> w(20 * 12, 0.5f), w2(20 * 16, 0.5f);
  safetensors_write(other / "a.safetensors", {{"model.layers.0.self_attn.q_proj.weight", Dtype::F32, {20, 12}, bytes_of(w)}});
  safetensors_write(other / "b.safetensors", {{"model.layers.0.self_attn.k_proj.weight", Dtype::F32, {20, 16}, bytes_of(w2)}});
  SafetensorsModel wrong_shape = SafetensorsModel::open(other / "a.safetensors");
  SafetensorsModel missing = SafetensorsModel::open(other / "b.safetensors");
  expect_error([&] { lora_analyze(ad, &wrong_shape); }, "adapter", "is (20, 12) but the adapter's ΔW is (20, 16)");
  expect_error([&] { lora_analyze(ad, &missing); }, "adapter", "has no model.layers.0.self_attn.q_proj.weight");
}

}  // namespace
}  // namespace mc

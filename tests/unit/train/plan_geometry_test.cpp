// Unit tests of candidate discovery and the geometry cache (src/train/plan_geometry*.h), and of the
// hashing helpers (plan_hash.h): cache miss → hit round trip, corrupt / stale / inconsistent caches are
// recomputed (never fatal), disabled caching writes nothing; LFM2 candidates; hash file order, seed
// override, fallback hashing. Values are checked against numpy in tests/golden/plan_golden_test.cpp.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "core/rng.h"
#include "core/sha256.h"
#include "model/transformer.h"
#include "train/plan_geometry.h"
#include "train/plan_geometry_cache.h"
#include "train/plan_hash.h"
#include "test_util.h"

namespace mc::train {
namespace {

const Model& llama() {
  static const Model m = Model::load(test::data_path("hf/llama"));
  return m;
}

void expect_same(const std::vector<ModuleGeometry>& a, const std::vector<ModuleGeometry>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_EQ(a[i].geo.sigma_max, b[i].geo.sigma_max) << a[i].name;  // bit-exact JSON round trip
    EXPECT_EQ(a[i].geo.sigma_k, b[i].geo.sigma_k) << a[i].name;
    EXPECT_EQ(a[i].geo.erank, b[i].geo.erank) << a[i].name;
    EXPECT_EQ(a[i].geo.spectral_gap, b[i].geo.spectral_gap) << a[i].name;
    EXPECT_EQ(a[i].geo.k, b[i].geo.k) << a[i].name;
    EXPECT_EQ(a[i].geo.tail_dims, b[i].geo.tail_dims) << a[i].name;
    EXPECT_EQ(a[i].geo.recommended_gap_ratio, b[i].geo.recommended_gap_ratio) << a[i].name;
    EXPECT_EQ(a[i].layer, b[i].layer);
    EXPECT_EQ(a[i].role, b[i].role);
  }
}

TEST(PlanGeometry, CandidatesOfLlamaAndLfm2) {
  const std::vector<GeometryCandidate> c = geometry_candidates(llama());
  ASSERT_EQ(c.size(), 14u);  // 2 layers × (q, k, v, o, gate, up, down)
  EXPECT_EQ(c[0].name, "model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(c[0].module, "model.layers.0.self_attn.q_proj");
  EXPECT_EQ(c[0].role, ProjRole::Q);
  EXPECT_EQ(c[6].name, "model.layers.0.mlp.down_proj.weight");
  EXPECT_EQ(c[6].m, 64);
  EXPECT_EQ(c[6].n, 96);
  EXPECT_EQ(c[13].layer, 1);

  const Model lfm2 = Model::load(test::data_path("hf/lfm2"));
  const std::vector<GeometryCandidate> l = geometry_candidates(lfm2);
  std::vector<std::string> names;
  for (const auto& x : l) names.push_back(x.name);
  const std::vector<std::string> want = {
      "model.layers.0.conv.in_proj.weight",      "model.layers.0.conv.out_proj.weight",
      "model.layers.0.feed_forward.w1.weight",   "model.layers.0.feed_forward.w3.weight",
      "model.layers.0.feed_forward.w2.weight",   "model.layers.1.self_attn.q_proj.weight",
      "model.layers.1.self_attn.k_proj.weight",  "model.layers.1.self_attn.v_proj.weight",
      "model.layers.1.self_attn.out_proj.weight", "model.layers.1.feed_forward.w1.weight",
      "model.layers.1.feed_forward.w3.weight",   "model.layers.1.feed_forward.w2.weight"};
  EXPECT_EQ(names, want);
  EXPECT_EQ(l[0].role, ProjRole::ConvIn);
  EXPECT_EQ(l[0].m, 192);  // 3D × D
  EXPECT_EQ(l[8].role, ProjRole::O);
}

TEST(PlanGeometry, CacheMissThenHitRoundTrip) {
  test::TempDir tmp;
  GeometryOptions o;
  o.cache.dir = tmp / "geo";
  const ModelGeometry first = model_geometry(llama(), "deadbeef", o);
  EXPECT_EQ(first.cache_status, CacheStatus::Miss);
  EXPECT_EQ(first.cache_path, tmp / "geo" + "/deadbeef.json");
  ASSERT_TRUE(std::filesystem::exists(first.cache_path));
  size_t progress_calls = 0;
  o.progress = [&](size_t, size_t, const std::string&) { ++progress_calls; };
  const ModelGeometry second = model_geometry(llama(), "deadbeef", o);
  EXPECT_EQ(second.cache_status, CacheStatus::Hit);
  EXPECT_EQ(progress_calls, 0u);
  expect_same(first.modules, second.modules);
  // Another hash is another file.
  EXPECT_EQ(model_geometry(llama(), "cafe", o).cache_status, CacheStatus::Miss);
  // Threads give the same numbers.
  GeometryOptions t = o;
  t.cache.enabled = false;
  t.threads = 3;
  const ModelGeometry threaded = model_geometry(llama(), "deadbeef", t);
  EXPECT_EQ(threaded.cache_status, CacheStatus::Disabled);
  expect_same(first.modules, threaded.modules);
}

TEST(PlanGeometry, CorruptCacheIsRecomputedAndReplaced) {
  test::TempDir tmp;
  GeometryOptions o;
  o.cache.dir = tmp.path.string();
  const ModelGeometry good = model_geometry(llama(), "h1", o);
  const std::string path = good.cache_path;
  const std::string original = test::read_bytes(path);

  auto corrupt_and_check = [&](const std::string& bytes, const std::string& why_contains) {
    test::write_bytes(path, bytes);
    const ModelGeometry g = model_geometry(llama(), "h1", o);
    EXPECT_EQ(g.cache_status, CacheStatus::Invalid) << why_contains;
    EXPECT_NE(g.cache_note.find(why_contains), std::string::npos) << g.cache_note;
    expect_same(good.modules, g.modules);
    // Rewritten: the next read hits.
    EXPECT_EQ(model_geometry(llama(), "h1", o).cache_status, CacheStatus::Hit) << why_contains;
  };
  corrupt_and_check(original.substr(0, original.size() / 2), "invalid JSON");
  corrupt_and_check("", "invalid JSON");
  corrupt_and_check("[1, 2, 3]", "not a JSON object");

  Json doc = json_parse(original, "cache");
  Json wrong_hash = doc;
  wrong_hash["model_hash"] = "h2";
  corrupt_and_check(wrong_hash.dump(), "another model hash");
  Json wrong_version = doc;
  wrong_version["version"] = kGeometryCacheVersion + 1;
  corrupt_and_check(wrong_version.dump(), "another cache version");
  Json fewer = doc;
  fewer["modules"].erase(fewer["modules"].size() - 1);
  corrupt_and_check(fewer.dump(), "holds 13 modules");
  Json renamed = doc;
  renamed["modules"][3]["name"] = "model.layers.0.self_attn.x_proj.weight";
  corrupt_and_check(renamed.dump(), "modules[3]");
  Json shape = doc;
  shape["modules"][0]["m"] = 65;
  corrupt_and_check(shape.dump(), "shape differs");
  Json null_sigma = doc;
  null_sigma["modules"][2]["sigma_k"] = nullptr;  // how a NaN would have been written
  corrupt_and_check(null_sigma.dump(), "'sigma_k' missing or not a number");
  Json tail = doc;
  tail["modules"][1]["tail_dims"] = tail["modules"][1]["tail_dims"].get<int64_t>() + 1;
  corrupt_and_check(tail.dump(), "tail_dims != full_rank - k");
  Json neg = doc;
  neg["modules"][5]["sigma_k"] = -1.0;
  corrupt_and_check(neg.dump(), "sigma values inconsistent");
  Json k_float = doc;
  k_float["modules"][0]["k"] = 3.5;
  corrupt_and_check(k_float.dump(), "'k' missing or not an integer");
}

TEST(PlanGeometry, DisabledCacheWritesNothingAndUnwritableDirOnlyWarns) {
  test::TempDir tmp;
  GeometryOptions o;
  o.cache.enabled = false;
  o.cache.dir = tmp / "never";
  const ModelGeometry g = model_geometry(llama(), "h", o);
  EXPECT_EQ(g.cache_status, CacheStatus::Disabled);
  EXPECT_FALSE(std::filesystem::exists(tmp / "never"));

  // A cache "directory" that is a regular file: cannot be created; the geometry still comes back.
  test::write_bytes(tmp / "file", "x");
  GeometryOptions bad;
  bad.cache.dir = tmp / "file" + "/sub";
  const ModelGeometry w = model_geometry(llama(), "h", bad);
  EXPECT_EQ(w.cache_status, CacheStatus::Miss);
  EXPECT_FALSE(w.cache_note.empty());
  EXPECT_EQ(w.modules.size(), 14u);
}

TEST(PlanGeometry, DefaultCacheDirFollowsXdg) {
  const char* old_xdg = std::getenv("XDG_CACHE_HOME");
  const std::string saved = old_xdg ? old_xdg : "";
  setenv("XDG_CACHE_HOME", "/tmp/xdg-test", 1);
  EXPECT_EQ(default_geometry_cache_dir(), "/tmp/xdg-test/mc/geometry");
  unsetenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  if (home && *home) {
    EXPECT_EQ(default_geometry_cache_dir(), std::string(home) + "/.cache/mc/geometry");
  }
  if (old_xdg) setenv("XDG_CACHE_HOME", saved.c_str(), 1);
}

TEST(PlanGeometry, RandomizedPathAboveTheThresholdUsesTheTailCorrection) {
  // A rank-5 (40, 30) matrix plus 1e-7 noise: with exact_max_dim = 8 the randomized top-16 path captures
  // all but a ~1e-12 energy fraction, and the flat-tail erank matches the exact one closely.
  Rng rng(5);
  const int64_t m = 40, n = 30, r = 5;
  std::vector<float> w(static_cast<size_t>(m * n), 0.0f);  // (m, n)
  std::vector<double> u(static_cast<size_t>(m * r)), v(static_cast<size_t>(n * r));
  for (auto& x : u) x = rng.normal();
  for (auto& x : v) x = rng.normal();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 1e-7 * rng.normal();
      for (int64_t k = 0; k < r; ++k) acc += u[static_cast<size_t>(i * r + k)] * v[static_cast<size_t>(j * r + k)] / (1.0 + k);
      w[static_cast<size_t>(i * n + j)] = static_cast<float>(acc);
    }
  const GeometryCandidate c{"model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.up_proj", 0, ProjRole::Up,
                            w.data(), m, n};
  const ModuleGeometry exact = module_geometry(c);
  const ModuleGeometry rsvd = module_geometry(c, /*exact_max_dim=*/8);
  EXPECT_TRUE(exact.exact);
  EXPECT_FALSE(rsvd.exact);
  EXPECT_GE(rsvd.rounds, 1);
  EXPECT_LT(rsvd.geo.n_svs, 30);
  EXPECT_LT(rsvd.tail_energy_fraction, geometry::kSqrtEpsF32);
  EXPECT_NEAR(rsvd.geo.sigma_max, exact.geo.sigma_max, 1e-5 * exact.geo.sigma_max);
  EXPECT_NEAR(rsvd.geo.erank, exact.geo.erank, 1e-3 * exact.geo.erank);
  EXPECT_EQ(rsvd.geo.k, exact.geo.k);
  EXPECT_EQ(rsvd.geo.tail_dims, exact.geo.tail_dims);
  // The tall transpose path gives the same values as the wide one.
  std::vector<float> wt(w.size());
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) wt[static_cast<size_t>(j * m + i)] = w[static_cast<size_t>(i * n + j)];
  const GeometryCandidate ct{"t", "t", 0, ProjRole::Down, wt.data(), n, m};
  const ModuleGeometry tall = module_geometry(ct);
  EXPECT_NEAR(tall.geo.sigma_max, exact.geo.sigma_max, 1e-12 * exact.geo.sigma_max);
  EXPECT_EQ(tall.geo.k, exact.geo.k);
}

TEST(PlanGeometry, CacheWrittenWithAnotherThresholdIsRejected) {
  test::TempDir tmp;
  GeometryOptions o;
  o.cache.dir = tmp.path.string();
  EXPECT_EQ(model_geometry(llama(), "t1", o).cache_status, CacheStatus::Miss);
  o.exact_max_dim = 16;
  const ModelGeometry g = model_geometry(llama(), "t1", o);
  EXPECT_EQ(g.cache_status, CacheStatus::Invalid);
  EXPECT_NE(g.cache_note.find("exact-SVD threshold"), std::string::npos) << g.cache_note;
  EXPECT_EQ(model_geometry(llama(), "t1", o).cache_status, CacheStatus::Hit);
}

TEST(PlanGeometry, MatrixSeedIsStable) {
  EXPECT_EQ(geometry_matrix_seed("a"), geometry_matrix_seed("a"));
  EXPECT_NE(geometry_matrix_seed("a"), geometry_matrix_seed("b"));
  EXPECT_LE(geometry_matrix_seed("model.layers.0.mlp.up_proj.weight"), 0xFFFFFFFFull);
}

TEST(PlanHash, FileOrderSeedOverrideAndFallback) {
  const std::vector<std::string> files = model_hash_files(test::data_path("hf/llama"));
  const std::vector<std::string> want = {"config.json", "model.safetensors.index.json",
                                         "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                                         "model-00003-of-00003.safetensors"};
  EXPECT_EQ(files, want);

  const SeedResolution user = resolve_seed("a", "b", 77u);
  EXPECT_EQ(user.seed, 77u);
  EXPECT_EQ(user.source, kSeedSourceUser);
  // seed = first 4 bytes of SHA-256("a:b"), big-endian.
  const std::string hex = sha256_hex({reinterpret_cast<const uint8_t*>("a:b"), 3});
  EXPECT_EQ(seed_from_hashes("a", "b"), static_cast<uint32_t>(std::stoul(hex.substr(0, 8), nullptr, 16)));

  // Fallback: a directory without config.json or safetensors hashes every file, recursively sorted.
  test::TempDir tmp;
  std::filesystem::create_directories(tmp.path / "sub");
  test::write_bytes(tmp / "b.bin", "B");
  test::write_bytes(tmp / "sub/a.txt", "A");
  EXPECT_EQ(model_hash_files(tmp.path.string()), (std::vector<std::string>{"b.bin", "sub/a.txt"}));
  EXPECT_EQ(model_hash(tmp.path.string()), sha256_hex({reinterpret_cast<const uint8_t*>("b.binBsub/a.txtA"), 16}));
  // A single file: (its name, its bytes).
  EXPECT_EQ(model_hash(tmp / "b.bin"), sha256_hex({reinterpret_cast<const uint8_t*>("b.binB"), 6}));
  EXPECT_EQ(dataset_hash(tmp / "b.bin"), sha256_hex({reinterpret_cast<const uint8_t*>("B"), 1}));
  EXPECT_THROW(model_hash(tmp / "missing"), Error);
  EXPECT_THROW(dataset_hash(tmp / "missing"), Error);
}

}  // namespace
}  // namespace mc::train

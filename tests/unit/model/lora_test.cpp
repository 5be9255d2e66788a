// Unit tests for LoRA module resolution and target selection (model/lora.h) on every fixture
// architecture, the in-memory set, and PEFT adapter save/load (model/lora_io.h): exact round trips of
// tensors and per-module scales (rank_pattern / alpha_pattern), Python-identical JSON number and string
// spelling, all-or-nothing directory writes, and clear errors for adapters that do not fit the model.
// The byte-exact comparison with PEFT's own files is tests/golden/lora_peft_golden_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "core/json.h"
#include "io/safetensors.h"
#include "model/arch/arch.h"
#include "model/config.h"
#include "model/lora.h"
#include "model/lora_io.h"
#include "test_util.h"

namespace mc {
namespace {

const char* const kTypes[] = {"llama", "mistral", "qwen2", "qwen3", "lfm2"};

struct Fixture {
  ModelConfig c;
  ArchSpec arch;
};

Fixture fixture(const std::string& type) {
  Fixture f;
  f.c = config_load(test::data_path("hf/" + type));
  f.arch = arch_spec(f.c);
  return f;
}

/// Expects `fn` to throw mc::Error whose message contains every one of `parts`.
template <typename Fn>
void expect_error(Fn fn, std::initializer_list<std::string> parts) {
  try {
    fn();
    ADD_FAILURE() << "no mc::Error thrown";
  } catch (const Error& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

/// A module of `f` at `path` with random A, B and the given rank and scale.
LoraWeights random_module(const Fixture& f, const std::string& path, int64_t r, float scale, std::mt19937& rng) {
  LoraWeights w;
  w.module = path;
  EXPECT_TRUE(lora_resolve(f.arch, f.c, path, w.layer, w.site, w.out, w.in)) << path;
  w.r = r;
  w.scale = scale;
  w.A = Tensor(Shape{r, w.in});
  w.B = Tensor(Shape{w.out, r});
  std::normal_distribution<float> nd(0.0f, 0.1f);
  for (int64_t i = 0; i < w.A.numel(); ++i) w.A[i] = nd(rng);
  for (int64_t i = 0; i < w.B.numel(); ++i) w.B[i] = nd(rng);
  return w;
}

void expect_same_set(const LoraSet& got, const LoraSet& want, bool exact_values = true) {
  ASSERT_EQ(got.modules.size(), want.modules.size());
  for (size_t i = 0; i < got.modules.size(); ++i) {
    const LoraWeights& g = got.modules[i];
    const LoraWeights& w = want.modules[i];
    SCOPED_TRACE(w.module);
    EXPECT_EQ(g.module, w.module);
    EXPECT_EQ(g.layer, w.layer);
    EXPECT_EQ(g.site, w.site);
    EXPECT_EQ(g.r, w.r);
    EXPECT_EQ(g.in, w.in);
    EXPECT_EQ(g.out, w.out);
    EXPECT_EQ(f32_bits(g.scale), f32_bits(w.scale)) << g.scale << " vs " << w.scale;
    EXPECT_EQ(g.dropout, w.dropout);
    ASSERT_EQ(g.A.shape(), w.A.shape());
    ASSERT_EQ(g.B.shape(), w.B.shape());
    if (exact_values) {
      for (int64_t k = 0; k < g.A.numel(); ++k) ASSERT_EQ(g.A[k], w.A[k]) << "A[" << k << "]";
      for (int64_t k = 0; k < g.B.numel(); ++k) ASSERT_EQ(g.B[k], w.B[k]) << "B[" << k << "]";
    }
  }
}

/// Entries of `dir`'s parent whose names start with "." + leaf + ".tmp" (OutputDir's temporaries).
int leftover_temps(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path p(dir);
  int n = 0;
  for (const auto& e : fs::directory_iterator(p.parent_path()))
    if (e.path().filename().string().rfind("." + p.filename().string() + ".tmp", 0) == 0) ++n;
  return n;
}

// ---- sites, resolution, targets -------------------------------------------------------------------------

TEST(Lora, SiteNames) {
  EXPECT_STREQ(lora_site_name(LoraSite::Q), "q_proj");
  EXPECT_STREQ(lora_site_name(LoraSite::O), "o_proj");
  EXPECT_STREQ(lora_site_name(LoraSite::ConvIn), "in_proj");
  EXPECT_STREQ(lora_site_name(LoraSite::ConvOut), "out_proj");
  EXPECT_STREQ(lora_site_name(LoraSite::Down), "down_proj");
}

// Every adaptable path of every fixture resolves to its layer and site with the shape of the real
// checkpoint tensor; and the adaptable set is exactly the decoder layers' 2-D linear weights.
TEST(Lora, ResolveMatchesCheckpointShapes) {
  for (const char* type : kTypes) {
    SCOPED_TRACE(type);
    const Fixture f = fixture(type);
    const SafetensorsModel st = SafetensorsModel::open(test::data_path(std::string("hf/") + type));
    const std::vector<std::string> all = lora_target_modules(f.arch, f.c, {"all-linear"});
    size_t n_linear = 0;
    for (const auto& [name, e] : st.tensors()) {
      const bool linear = name.rfind("model.layers.", 0) == 0 && e.info->shape.size() == 2 &&
                          name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0 &&
                          name.find("norm") == std::string::npos && name.find("layernorm") == std::string::npos;
      if (!linear) continue;
      ++n_linear;
      const std::string module = name.substr(0, name.size() - 7);
      int64_t layer = -1, out = 0, in = 0;
      LoraSite site = LoraSite::Count;
      ASSERT_TRUE(lora_resolve(f.arch, f.c, module, layer, site, out, in)) << module;
      EXPECT_EQ(out, e.info->shape[0]) << module;
      EXPECT_EQ(in, e.info->shape[1]) << module;
      EXPECT_EQ(module.rfind("model.layers." + std::to_string(layer) + ".", 0), 0u) << module;
      EXPECT_NE(std::find(all.begin(), all.end(), module), all.end()) << module;
    }
    EXPECT_EQ(all.size(), n_linear);
    // Not adaptable: norms, embeddings, head, the conv kernel, a layer past the end, a prefix.
    int64_t layer = 0, out = 0, in = 0;
    LoraSite site = LoraSite::Q;
    for (const std::string bad : {"model.layers.0.input_layernorm", "model.embed_tokens", "lm_head",
                                  "model.layers.0.conv.conv", "model.layers.7.self_attn.q_proj",
                                  "model.layers.0.self_attn", "q_proj", ""})
      EXPECT_FALSE(lora_resolve(f.arch, f.c, bad, layer, site, out, in)) << bad;
  }
}

TEST(Lora, ResolveSites) {
  const Fixture q3 = fixture("qwen3");  // D 64, head_dim 32: q (128, 64), o (64, 128)
  int64_t layer = -1, out = 0, in = 0;
  LoraSite site = LoraSite::Count;
  ASSERT_TRUE(lora_resolve(q3.arch, q3.c, "model.layers.1.self_attn.o_proj", layer, site, out, in));
  EXPECT_EQ(layer, 1);
  EXPECT_EQ(site, LoraSite::O);
  EXPECT_EQ(out, q3.c.hidden_size);
  EXPECT_EQ(in, q3.c.q_dim());
  EXPECT_NE(q3.c.q_dim(), q3.c.hidden_size);

  const Fixture lf = fixture("lfm2");  // layer 0 conv, layer 1 attention
  ASSERT_TRUE(lora_resolve(lf.arch, lf.c, "model.layers.0.conv.out_proj", layer, site, out, in));
  EXPECT_EQ(site, LoraSite::ConvOut);
  ASSERT_TRUE(lora_resolve(lf.arch, lf.c, "model.layers.0.conv.in_proj", layer, site, out, in));
  EXPECT_EQ(site, LoraSite::ConvIn);
  EXPECT_EQ(out, 3 * lf.c.hidden_size);
  ASSERT_TRUE(lora_resolve(lf.arch, lf.c, "model.layers.1.self_attn.out_proj", layer, site, out, in));
  EXPECT_EQ(layer, 1);
  EXPECT_EQ(site, LoraSite::O);
  ASSERT_TRUE(lora_resolve(lf.arch, lf.c, "model.layers.1.feed_forward.w1", layer, site, out, in));
  EXPECT_EQ(site, LoraSite::Gate);
  EXPECT_EQ(out, lf.c.ffn_dim);
  ASSERT_TRUE(lora_resolve(lf.arch, lf.c, "model.layers.1.feed_forward.w3", layer, site, out, in));
  EXPECT_EQ(site, LoraSite::Up);
  ASSERT_TRUE(lora_resolve(lf.arch, lf.c, "model.layers.0.feed_forward.w2", layer, site, out, in));
  EXPECT_EQ(site, LoraSite::Down);
  EXPECT_EQ(in, lf.c.ffn_dim);
  // The conv layer has no attention.
  EXPECT_FALSE(lora_resolve(lf.arch, lf.c, "model.layers.0.self_attn.q_proj", layer, site, out, in));
}

TEST(Lora, TargetModules) {
  const Fixture ll = fixture("llama");
  EXPECT_EQ(lora_target_modules(ll.arch, ll.c, {"v_proj", "q_proj"}),
            (std::vector<std::string>{"model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj",
                                      "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"}));
  // PEFT's suffix rule: a dotted suffix or the full path also match; a partial leaf does not.
  EXPECT_EQ(lora_target_modules(ll.arch, ll.c, {"mlp.down_proj"}),
            (std::vector<std::string>{"model.layers.0.mlp.down_proj", "model.layers.1.mlp.down_proj"}));
  EXPECT_EQ(lora_target_modules(ll.arch, ll.c, {"model.layers.1.self_attn.o_proj"}),
            (std::vector<std::string>{"model.layers.1.self_attn.o_proj"}));
  EXPECT_EQ(lora_target_modules(ll.arch, ll.c, {"all-linear"}).size(), 14u);
  expect_error([&] { lora_target_modules(ll.arch, ll.c, {"proj"}); },
               {"[lora] target module 'proj' matches no linear module of llama", "available: q_proj, k_proj, v_proj, "
                                                                                  "o_proj, gate_proj, up_proj, down_proj"});
  expect_error([&] { lora_target_modules(ll.arch, ll.c, {"q_proj", "w1"}); }, {"'w1'", "of llama"});
  expect_error([&] { lora_target_modules(ll.arch, ll.c, {}); }, {"[lora]", "no target modules"});

  // LFM2: leaves follow the HF paths; out_proj is both the attention output and the conv output.
  const Fixture lf = fixture("lfm2");
  EXPECT_EQ(lora_target_modules(lf.arch, lf.c, {"out_proj"}),
            (std::vector<std::string>{"model.layers.0.conv.out_proj", "model.layers.1.self_attn.out_proj"}));
  EXPECT_EQ(lora_target_modules(lf.arch, lf.c, {"w2", "in_proj"}),
            (std::vector<std::string>{"model.layers.0.conv.in_proj", "model.layers.0.feed_forward.w2",
                                      "model.layers.1.feed_forward.w2"}));
  EXPECT_EQ(lora_target_modules(lf.arch, lf.c, {"conv.out_proj"}),
            (std::vector<std::string>{"model.layers.0.conv.out_proj"}));
  EXPECT_EQ(lora_target_modules(lf.arch, lf.c, {"q_proj", "k_proj", "v_proj", "out_proj", "in_proj", "w1", "w2", "w3"})
                .size(),
            12u);
  expect_error([&] { lora_target_modules(lf.arch, lf.c, {"gate_proj"}); },
               {"target module 'gate_proj' matches no linear module of lfm2",
                "(available: in_proj, out_proj, w1, w3, w2, q_proj, k_proj, v_proj)"});
  expect_error([&] { lora_target_modules(lf.arch, lf.c, {"o_proj"}); }, {"'o_proj'"});
}

TEST(Lora, SetIndexAndGrads) {
  const Fixture lf = fixture("lfm2");
  std::mt19937 rng(1);
  LoraSet set;
  set.modules.push_back(random_module(lf, "model.layers.1.self_attn.q_proj", 4, 2.0f, rng));
  set.modules.push_back(random_module(lf, "model.layers.0.conv.out_proj", 2, 1.0f, rng));
  set.reindex(lf.c.num_hidden_layers);
  EXPECT_EQ(set.index.size(), 2u * static_cast<size_t>(LoraSite::Count));
  ASSERT_NE(set.find(1, LoraSite::Q), nullptr);
  EXPECT_EQ(set.find(1, LoraSite::Q)->module, "model.layers.1.self_attn.q_proj");
  EXPECT_EQ(set.find(0, LoraSite::ConvOut)->module, "model.layers.0.conv.out_proj");
  EXPECT_EQ(set.find(0, LoraSite::Q), nullptr);
  EXPECT_EQ(set.find(1, LoraSite::ConvOut), nullptr);
  EXPECT_EQ(set.find(5, LoraSite::Q), nullptr);
  EXPECT_EQ(set.find(-1, LoraSite::Q), nullptr);
  set.find(1, LoraSite::Q)->scale = 3.0f;
  EXPECT_EQ(set.modules[0].scale, 3.0f);
  const int64_t D = lf.c.hidden_size;
  EXPECT_EQ(set.n_params(), 4 * (D + lf.c.q_dim()) + 2 * (D + D));
  EXPECT_FALSE(set.empty());
  EXPECT_TRUE(LoraSet{}.empty());

  LoraGrads g;
  g.init(set);
  ASSERT_EQ(g.dA.size(), 2u);
  EXPECT_EQ(g.dA[0].shape(), (Shape{4, D}));
  EXPECT_EQ(g.dB[0].shape(), (Shape{lf.c.q_dim(), 4}));
  EXPECT_EQ(g.dA[1].shape(), (Shape{2, D}));
  EXPECT_EQ(g.dB[1].shape(), (Shape{D, 2}));
  for (const auto& t : g.dA)
    for (int64_t i = 0; i < t.numel(); ++i) ASSERT_EQ(t[i], 0.0f);
  g.dA[0][3] = 1.0f;
  g.dB[1][0] = -2.0f;
  g.zero();
  EXPECT_EQ(g.dA[0][3], 0.0f);
  EXPECT_EQ(g.dB[1][0], 0.0f);
}

// ---- save / load ------------------------------------------------------------------------------------------

/// All adaptable modules of a fixture with varied ranks and scales (several need patterns).
LoraSet varied_set(const Fixture& f, uint32_t seed, float dropout = 0.0f) {
  std::mt19937 rng(seed);
  LoraSet set;
  const std::vector<std::string> paths = lora_target_modules(f.arch, f.c, {"all-linear"});
  const int64_t ranks[] = {4, 4, 4, 2, 4, 8, 4, 3, 4};
  // Scales that are not "nice": PEFT's alpha / r must still give them back exactly.
  const float scales[] = {2.0f, 2.0f, 0.7f, 2.0f, 1.0f / 3.0f, 2.0f, 6.0f / std::sqrt(8.0f), 0.1f, 1e-5f};
  for (size_t i = 0; i < paths.size(); ++i) {
    set.modules.push_back(random_module(f, paths[i], ranks[i % 9], scales[(i * 7) % 9], rng));
    set.modules.back().dropout = dropout;
  }
  set.reindex(f.c.num_hidden_layers);
  return set;
}

TEST(LoraIo, RoundTripEveryArch) {
  for (const char* type : kTypes) {
    SCOPED_TRACE(type);
    const Fixture f = fixture(type);
    const LoraSet set = varied_set(f, 7, 0.05f);
    test::TempDir tmp;
    LoraSaveOptions opt;
    opt.arch = &f.arch;
    opt.base_model_name_or_path = std::string("tests/data/hf/") + type;
    lora_save_peft(tmp / "adapter", set, opt);
    const LoraSet back = lora_load_peft(tmp / "adapter", f.arch, f.c);
    expect_same_set(back, set);
    EXPECT_EQ(back.index, set.index);

    const Json cfg = json_load(tmp / "adapter/adapter_config.json");
    EXPECT_EQ(cfg["r"], 4);
    EXPECT_EQ(cfg["lora_alpha"], 8);
    EXPECT_EQ(cfg["use_rslora"], false);
    EXPECT_EQ(cfg["peft_type"], "LORA");
    EXPECT_EQ(cfg["task_type"], "CAUSAL_LM");
    EXPECT_DOUBLE_EQ(cfg["lora_dropout"].get<double>(), 0.05);
    EXPECT_FALSE(cfg["rank_pattern"].empty());
    EXPECT_FALSE(cfg["alpha_pattern"].empty());
    // Every adaptable module is adapted: leaf names.
    for (const auto& t : cfg["target_modules"]) EXPECT_EQ(t.get<std::string>().find('.'), std::string::npos) << t;
  }
}

TEST(LoraIo, RoundTripLowPrecision) {
  const Fixture f = fixture("qwen2");
  const LoraSet set = varied_set(f, 11);
  for (Dtype dt : {Dtype::BF16, Dtype::F16}) {
    test::TempDir tmp;
    LoraSaveOptions opt;
    opt.dtype = dt;
    lora_save_peft(tmp / "a", set, opt);
    const SafetensorsFile st = SafetensorsFile::open(tmp / "a/adapter_model.safetensors");
    for (const auto& t : st.tensors()) EXPECT_EQ(t.dtype, dt) << t.name;
    const LoraSet back = lora_load_peft(tmp / "a", f.arch, f.c);
    expect_same_set(back, set, /*exact_values=*/false);
    for (size_t i = 0; i < set.modules.size(); ++i)
      for (int64_t k = 0; k < set.modules[i].A.numel(); ++k) {
        const float x = set.modules[i].A[k];
        const float want = dt == Dtype::BF16 ? bf16_to_f32(f32_to_bf16(x)) : f16_to_f32(f32_to_f16(x));
        ASSERT_EQ(back.modules[i].A[k], want);
      }
  }
}

// Ranks and scales that differ per module need rank_pattern / alpha_pattern entries; PEFT's rule
// (first matching pattern key, alpha / r) must recover each module's scale exactly.
TEST(LoraIo, PatternsReproduceScales) {
  const Fixture f = fixture("llama");
  std::mt19937 rng(3);
  LoraSet set;
  set.modules.push_back(random_module(f, "model.layers.0.self_attn.q_proj", 8, 0.5f, rng));  // alpha 4
  set.modules.push_back(random_module(f, "model.layers.0.self_attn.v_proj", 8, 0.5f, rng));  // alpha 4
  set.modules.push_back(random_module(f, "model.layers.1.self_attn.q_proj", 2, 2.0f, rng));  // alpha 4, r 2
  set.modules.push_back(random_module(f, "model.layers.1.self_attn.v_proj", 8, 1e-5f, rng));
  set.reindex(2);
  const std::string text = lora_peft_config_json(set);
  const Json cfg = Json::parse(text);
  EXPECT_EQ(cfg["r"], 8);
  EXPECT_EQ(cfg["lora_alpha"], 4);  // three modules have alpha 4
  EXPECT_EQ(cfg["rank_pattern"], Json::parse(R"({"model.layers.1.self_attn.q_proj": 2})"));
  ASSERT_EQ(cfg["alpha_pattern"].size(), 1u);
  // 8 · 1e-5f = 8 · 9.999999747378752e-06 as Python's repr spells it
  EXPECT_NE(text.find("\"model.layers.1.self_attn.v_proj\": 7.999999797903001e-05"), std::string::npos) << text;
  // No arch given: target_modules are the full paths.
  EXPECT_EQ(cfg["target_modules"],
            Json::parse(R"(["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj",
                            "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"])"));
  LoraSaveOptions opt;
  opt.arch = &f.arch;
  EXPECT_EQ(Json::parse(lora_peft_config_json(set, opt))["target_modules"], Json::parse(R"(["q_proj", "v_proj"])"));

  test::TempDir tmp;
  lora_save_peft(tmp / "a", set);
  expect_same_set(lora_load_peft(tmp / "a", f.arch, f.c), set);
}

// Leaf names only when they select exactly the adapted modules: LFM2's conv out_proj alone must not be
// written as "out_proj" (PEFT would adapt the attention out_proj too).
TEST(LoraIo, TargetModulesExactness) {
  const Fixture f = fixture("lfm2");
  std::mt19937 rng(4);
  LoraSet set;
  set.modules.push_back(random_module(f, "model.layers.0.conv.out_proj", 4, 2.0f, rng));
  set.reindex(2);
  LoraSaveOptions opt;
  opt.arch = &f.arch;
  EXPECT_EQ(Json::parse(lora_peft_config_json(set, opt))["target_modules"],
            Json::parse(R"(["model.layers.0.conv.out_proj"])"));
  set.modules.push_back(random_module(f, "model.layers.1.self_attn.out_proj", 4, 2.0f, rng));
  set.reindex(2);
  EXPECT_EQ(Json::parse(lora_peft_config_json(set, opt))["target_modules"], Json::parse(R"(["out_proj"])"));
}

// adapter_config.json spells numbers and strings as Python's json.dumps(indent=2, sort_keys=True) does
// (expected texts from CPython 3.11's json / repr).
TEST(LoraIo, PythonJsonSpelling) {
  const Fixture f = fixture("llama");
  std::mt19937 rng(5);
  LoraSet set;
  const std::pair<float, const char*> cases[] = {
      {1e-5f, "9.999999747378752e-06"},     {5e16f, "4.999999921533747e+16"},  {3e15f, "3000000028082176"},
      {1e-4f, "9.999999747378752e-05"},     {123.456f, "123.45600128173828"},  {0.1f, "0.10000000149011612"},
  };
  for (const auto& [scale, repr] : cases) {
    set.modules.clear();
    set.modules.push_back(random_module(f, "model.layers.0.self_attn.q_proj", 1, scale, rng));
    set.modules.back().dropout = 0.05f;
    set.reindex(2);
    const std::string text = lora_peft_config_json(set);
    EXPECT_NE(text.find(std::string("\"lora_alpha\": ") + repr + ",\n"), std::string::npos) << repr << "\n" << text;
    EXPECT_NE(text.find("\"lora_dropout\": 0.05,\n"), std::string::npos);
  }
  LoraSaveOptions opt;
  opt.base_model_name_or_path = "\xc3\xa9\x01\x7f\xf0\x9f\x98\x80\"\\/";  // é, U+0001, DEL, 😀, quote, backslash, slash
  const std::string text = lora_peft_config_json(set, opt);
  EXPECT_NE(text.find(R"("base_model_name_or_path": "\u00e9\u0001\u007f\ud83d\ude00\"\\/",)"), std::string::npos)
      << text;
  EXPECT_EQ(text.substr(0, 36), "{\n  \"alora_invocation_tokens\": null,");
  EXPECT_EQ(text.back(), '}');  // no trailing newline, as PEFT
  EXPECT_NE(text.find("\"loftq_config\": {},\n"), std::string::npos);
  EXPECT_NE(text.find("\"rank_pattern\": {},\n"), std::string::npos);
  opt.base_model_name_or_path = "bad \xff utf8";
  expect_error([&] { lora_peft_config_json(set, opt); }, {"[lora]", "not valid UTF-8"});
}

TEST(LoraIo, NoPartialDirectory) {
  const Fixture f = fixture("llama");
  const LoraSet set = varied_set(f, 9);
  test::TempDir tmp;
  const std::string dir = tmp / "adapter";

  // An existing non-empty directory is refused and left untouched.
  std::filesystem::create_directories(dir);
  test::write_bytes(dir + "/keep.txt", "x");
  expect_error([&] { lora_save_peft(dir, set); }, {"[lora]", "already exists", "--force"});
  EXPECT_EQ(test::read_bytes(dir + "/keep.txt"), "x");
  EXPECT_FALSE(std::filesystem::exists(dir + "/adapter_config.json"));
  EXPECT_EQ(leftover_temps(dir), 0);

  // force replaces the whole directory.
  LoraSaveOptions opt;
  opt.force = true;
  opt.extra_files = {{"mc_manifest.json", "{}\n"}};
  lora_save_peft(dir, set, opt);
  EXPECT_FALSE(std::filesystem::exists(dir + "/keep.txt"));
  EXPECT_EQ(test::read_bytes(dir + "/mc_manifest.json"), "{}\n");
  EXPECT_TRUE(std::filesystem::exists(dir + "/adapter_model.safetensors"));
  EXPECT_EQ(leftover_temps(dir), 0);

  // An existing empty directory is taken over.
  const std::string empty = tmp / "empty";
  std::filesystem::create_directories(empty);
  lora_save_peft(empty, set);
  EXPECT_TRUE(std::filesystem::exists(empty + "/adapter_config.json"));

  // Failures leave nothing behind.
  LoraSet bad = set;
  bad.modules[3].B = Tensor(Shape{bad.modules[3].out + 1, bad.modules[3].r});
  expect_error([&] { lora_save_peft(tmp / "bad1", bad); }, {"[lora]", bad.modules[3].module, "B is"});
  bad = set;
  bad.modules[0].scale = std::nanf("");
  expect_error([&] { lora_save_peft(tmp / "bad2", bad); }, {"scale"});
  expect_error([&] { lora_save_peft(tmp / "bad3", LoraSet{}); }, {"empty"});
  LoraSaveOptions bad_opt;
  bad_opt.extra_files = {{"../escape.json", "{}"}};
  expect_error([&] { lora_save_peft(tmp / "bad4", set, bad_opt); }, {"extra file name"});
  bad_opt = {};
  bad_opt.dtype = Dtype::I32;
  expect_error([&] { lora_save_peft(tmp / "bad5", set, bad_opt); }, {"dtype"});
  for (const char* d : {"bad1", "bad2", "bad3", "bad4", "bad5"}) {
    EXPECT_FALSE(std::filesystem::exists(tmp / d)) << d;
    EXPECT_EQ(leftover_temps(tmp / d), 0) << d;
  }
}

// ---- adapters that do not fit ------------------------------------------------------------------------------

/// Writes a PEFT adapter with one module `path` of shape (out, in) and rank r (no model needed).
void write_adapter(const std::string& dir, const std::string& path, int64_t out, int64_t in, int64_t r = 2) {
  LoraSet set;
  LoraWeights w;
  w.module = path;
  w.layer = 0;
  w.r = r;
  w.in = in;
  w.out = out;
  w.scale = 2.0f;
  w.A = Tensor(Shape{r, in});
  w.B = Tensor(Shape{out, r});
  w.A.fill(0.5f);
  w.B.fill(0.25f);
  set.modules.push_back(std::move(w));
  lora_save_peft(dir, set);
}

TEST(LoraIo, AdapterForAnotherModel) {
  const Fixture ll = fixture("llama");  // q_proj (64, 64)
  const Fixture q3 = fixture("qwen3");  // q_proj (128, 64)
  test::TempDir tmp;
  write_adapter(tmp / "q", "model.layers.0.self_attn.q_proj", 64, 64);
  EXPECT_EQ(lora_load_peft(tmp / "q", ll.arch, ll.c).modules.size(), 1u);
  expect_error([&] { lora_load_peft(tmp / "q", q3.arch, q3.c); },
               {"[lora]", "model.layers.0.self_attn.q_proj", "(64, 64)", "(128, 64)", "another model"});

  write_adapter(tmp / "layer", "model.layers.5.self_attn.q_proj", 64, 64);
  expect_error([&] { lora_load_peft(tmp / "layer", ll.arch, ll.c); },
               {"[lora]", "model.layers.5.self_attn.q_proj", "not an adaptable linear module of this llama model"});
  write_adapter(tmp / "head", "lm_head", 256, 64);
  expect_error([&] { lora_load_peft(tmp / "head", ll.arch, ll.c); }, {"lm_head", "not an adaptable"});
  const Fixture lf = fixture("lfm2");
  write_adapter(tmp / "o", "model.layers.0.self_attn.o_proj", 64, 64);
  expect_error([&] { lora_load_peft(tmp / "o", lf.arch, lf.c); }, {"model.layers.0.self_attn.o_proj", "lfm2"});
}

TEST(LoraIo, UnsupportedAdapters) {
  const Fixture ll = fixture("llama");
  test::TempDir tmp;
  const std::string mod = "model.layers.0.self_attn.q_proj";

  // PEFT variants with another forward.
  for (const auto& [key, value] : std::vector<std::pair<std::string, Json>>{
           {"use_qalora", true}, {"alora_invocation_tokens", Json::array({1, 2})}, {"lora_bias", true},
           {"layer_replication", Json::array({Json::array({0, 1})})}, {"kasa_config", Json::object({{"x", 1}})}}) {
    const std::string dir = tmp / ("v_" + key);
    write_adapter(dir, mod, 64, 64);
    Json cfg = json_load(dir + "/adapter_config.json");
    cfg[key] = value;
    test::write_bytes(dir + "/adapter_config.json", cfg.dump(2));
    expect_error([&] { lora_load_peft(dir, ll.arch, ll.c); }, {"[lora]", key, "not supported"});
  }

  // A tensor the engine cannot apply (a LoRA bias).
  {
    const std::string dir = tmp / "bias";
    write_adapter(dir, mod, 64, 64);
    const SafetensorsFile st = SafetensorsFile::open(dir + "/adapter_model.safetensors");
    std::vector<SafetensorsWriteEntry> entries;
    std::vector<std::vector<uint8_t>> keep;
    for (const auto& t : st.tensors()) {
      const auto raw = st.raw(t);
      keep.emplace_back(raw.begin(), raw.end());
      entries.push_back({t.name, t.dtype, t.shape, keep.back()});
    }
    std::vector<float> bias(64, 1.0f);
    const std::vector<uint8_t> bias_bytes = f32_to_bytes(bias, Dtype::F32);
    entries.push_back({"base_model.model." + mod + ".lora_B.bias", Dtype::F32, {64}, bias_bytes});
    safetensors_write(dir + "/adapter_model.safetensors", entries);
    expect_error([&] { lora_load_peft(dir, ll.arch, ll.c); }, {"[lora]", "lora_B.bias", "not supported"});
  }

  // Rank disagreeing with the config, and a bad dropout (peft_adapter_load / our checks).
  {
    const std::string dir = tmp / "rank";
    write_adapter(dir, mod, 64, 64, 2);
    Json cfg = json_load(dir + "/adapter_config.json");
    cfg["r"] = 4;
    test::write_bytes(dir + "/adapter_config.json", cfg.dump(2));
    expect_error([&] { lora_load_peft(dir, ll.arch, ll.c); }, {"[adapter]", "rank 2", "r = 4"});
    cfg["r"] = 2;
    cfg["lora_dropout"] = 1.5;
    test::write_bytes(dir + "/adapter_config.json", cfg.dump(2));
    expect_error([&] { lora_load_peft(dir, ll.arch, ll.c); }, {"[lora]", "lora_dropout"});
  }
  expect_error([&] { lora_load_peft(tmp / "missing", ll.arch, ll.c); }, {"[adapter]", "not a directory"});
}

}  // namespace
}  // namespace mc

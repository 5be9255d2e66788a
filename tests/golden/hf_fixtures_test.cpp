// Golden tests over the tiny Hugging Face checkpoints in tests/data/hf (written by transformers 5.23
// save_pretrained, see tools/gen_hf_fixtures.py). expected.json holds what the instantiated transformers
// model has (module sizes, rope, tie, eps, ...) and, per stored tensor, name, file, shape, dtype and
// checksums. We check config_load, SafetensorsModel::open, expected_weights and check_weights against it.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/json.h"
#include "io/safetensors.h"
#include "model/config.h"
#include "model/weights.h"
#include "test_util.h"

namespace mc {
namespace {

// Checksums are float64 sums over the same values in a different order (torch vs a sequential loop):
// the difference is a few ulps of the sum of magnitudes, far below this bound.
constexpr double kChecksumRelTol = 1e-9;

const Json& expected_doc() {
  static const Json doc = json_load(test::data_path("hf/expected.json"));
  return doc;
}

// All fixtures, or only those with their own weights (not the config-only spelling variants).
std::vector<std::string> fixture_names(bool own_weights_only) {
  std::vector<std::string> names;
  for (const auto& [name, fx] : expected_doc().at("fixtures").items())
    if (!own_weights_only || !fx.contains("variant_of")) names.push_back(name);
  return names;
}

std::vector<int64_t> ids(const Json& j) { return j.get<std::vector<int64_t>>(); }

void expect_effective(const ModelConfig& c, const Json& e, const std::string& name) {
  SCOPED_TRACE(name);
  EXPECT_EQ(c.model_type, e.at("model_type").get<std::string>());
  EXPECT_EQ(c.architecture, e.at("architecture").get<std::string>());
  EXPECT_EQ(c.num_hidden_layers, e.at("num_hidden_layers").get<int64_t>());
  EXPECT_EQ(c.hidden_size, e.at("hidden_size").get<int64_t>());
  EXPECT_EQ(c.vocab_size, e.at("vocab_size").get<int64_t>());
  EXPECT_EQ(c.num_attention_heads, e.at("num_attention_heads").get<int64_t>());
  EXPECT_EQ(c.num_key_value_heads, e.at("num_key_value_heads").get<int64_t>());
  EXPECT_EQ(c.head_dim, e.at("head_dim").get<int64_t>());
  EXPECT_EQ(c.intermediate_size, e.at("intermediate_size").get<int64_t>());
  EXPECT_EQ(c.ffn_dim, e.at("ffn_dim").get<int64_t>());
  EXPECT_EQ(c.rms_norm_eps, e.at("rms_norm_eps").get<double>());
  const Json& rope = e.at("rope");
  EXPECT_EQ(c.rope_scaling.rope_type, rope.at("rope_type").get<std::string>());
  EXPECT_EQ(c.rope_theta, rope.at("rope_theta").get<double>());
  if (rope.contains("factor")) {
    EXPECT_EQ(c.rope_scaling.factor, rope.at("factor").get<double>());
  }
  if (rope.contains("low_freq_factor")) {
    EXPECT_EQ(c.rope_scaling.low_freq_factor, rope.at("low_freq_factor").get<double>());
  }
  if (rope.contains("high_freq_factor")) {
    EXPECT_EQ(c.rope_scaling.high_freq_factor, rope.at("high_freq_factor").get<double>());
  }
  if (rope.contains("original_max_position_embeddings")) {
    EXPECT_EQ(c.rope_scaling.original_max_position_embeddings,
              rope.at("original_max_position_embeddings").get<int64_t>());
  }
  EXPECT_EQ(c.tie_word_embeddings, e.at("tie_word_embeddings").get<bool>());
  EXPECT_EQ(c.has_qkv_bias(), e.at("qkv_bias").get<bool>());
  EXPECT_EQ(c.attention_bias, e.at("o_bias").get<bool>());
  EXPECT_EQ(c.mlp_bias, e.at("mlp_bias").get<bool>());
  if (e.at("layer_types").is_null()) {
    EXPECT_TRUE(c.layer_types.empty());
  } else {
    EXPECT_EQ(c.layer_types, e.at("layer_types").get<std::vector<std::string>>());
  }
  const auto is_attn = e.at("layer_is_attention").get<std::vector<bool>>();
  ASSERT_EQ(static_cast<int64_t>(is_attn.size()), c.num_hidden_layers);
  for (int64_t il = 0; il < c.num_hidden_layers; ++il)
    EXPECT_EQ(c.layer_is_attention(il), is_attn[static_cast<size_t>(il)]) << "layer " << il;
  EXPECT_EQ(c.max_position_embeddings, e.at("max_position_embeddings").get<int64_t>());
  EXPECT_EQ(c.sliding_window, e.at("sliding_window").get<int64_t>());
  EXPECT_EQ(c.dtype, e.at("dtype").get<std::string>());
  EXPECT_EQ(c.bos_token_id, ids(e.at("bos_token_id")));
  EXPECT_EQ(c.eos_token_id, ids(e.at("eos_token_id")));
  EXPECT_EQ(c.pad_token_id, ids(e.at("pad_token_id")));
  if (c.model_type == "lfm2") {
    EXPECT_EQ(c.conv_L_cache, e.at("conv_L_cache").get<int64_t>());
    EXPECT_EQ(c.conv_bias, e.at("conv_bias").get<bool>());
  }
}

TEST(HfFixtures, ExpectedJsonCoversEveryArchitectureAndSpelling) {
  std::set<std::string> types;
  bool sharded = false;
  for (const auto& [name, fx] : expected_doc().at("fixtures").items()) {
    types.insert(fx.at("effective").at("model_type").get<std::string>());
    sharded = sharded || fx.value("sharded", false);
  }
  for (const auto& t : supported_model_types()) EXPECT_TRUE(types.count(t)) << t;
  EXPECT_TRUE(sharded);
  EXPECT_TRUE(expected_doc().at("fixtures").contains("lfm2_legacy"));
  EXPECT_TRUE(expected_doc().at("fixtures").contains("llama_v4"));
}

TEST(HfFixtures, ConfigsMatchTransformers) {
  for (const auto& name : fixture_names(false)) {
    const Json& fx = expected_doc().at("fixtures").at(name);
    ModelConfig c = config_load(test::data_path("hf/" + fx.at("config").get<std::string>()));
    expect_effective(c, fx.at("effective"), name);
  }
}

TEST(HfFixtures, EveryConfigChecksAgainstItsWeights) {
  for (const auto& name : fixture_names(false)) {
    SCOPED_TRACE(name);
    const Json& fx = expected_doc().at("fixtures").at(name);
    ModelConfig c = config_load(test::data_path("hf/" + fx.at("config").get<std::string>()));
    std::string dir = test::data_path("hf/" + fx.at("weights").get<std::string>());
    SafetensorsModel m = SafetensorsModel::open(dir);
    EXPECT_NO_THROW(check_weights(c, m, dir));
  }
}

TEST(HfFixtures, ExpectedWeightsListExactlyTheSavedTensors) {
  for (const auto& name : fixture_names(false)) {
    SCOPED_TRACE(name);
    const Json& fx = expected_doc().at("fixtures").at(name);
    ModelConfig c = config_load(test::data_path("hf/" + fx.at("config").get<std::string>()));
    std::map<std::string, std::vector<int64_t>> saved;
    for (const auto& t : fx.at("tensors")) saved[t.at("name").get<std::string>()] = t.at("shape").get<std::vector<int64_t>>();
    std::vector<WeightSpec> specs = expected_weights(c);
    EXPECT_EQ(specs.size(), saved.size());
    for (const auto& s : specs) {
      auto it = saved.find(s.name);
      ASSERT_NE(it, saved.end()) << s.name;
      EXPECT_EQ(s.shape, it->second) << s.name;
      EXPECT_EQ(weight_group_of(s.name), s.group) << s.name;
    }
  }
}

TEST(HfFixtures, SafetensorsMatchTheSavedTensors) {
  for (const auto& name : fixture_names(true)) {
    SCOPED_TRACE(name);
    const Json& fx = expected_doc().at("fixtures").at(name);
    std::string dir = test::data_path("hf/" + fx.at("weights").get<std::string>());
    SafetensorsModel m = SafetensorsModel::open(dir);
    EXPECT_EQ(m.files().size(), fx.at("files").size());
    EXPECT_EQ(fx.at("sharded").get<bool>(), std::filesystem::exists(dir + "/model.safetensors.index.json"));
    ASSERT_EQ(m.tensors().size(), fx.at("tensors").size());
    for (const auto& t : fx.at("tensors")) {
      const std::string tname = t.at("name").get<std::string>();
      SCOPED_TRACE(tname);
      const SafetensorsModel::Entry* e = m.find(tname);
      ASSERT_NE(e, nullptr);
      EXPECT_EQ(std::filesystem::path(e->file->path()).filename().string(), t.at("file").get<std::string>());
      EXPECT_EQ(e->info->shape, t.at("shape").get<std::vector<int64_t>>());
      EXPECT_EQ(std::string(dtype_name(e->info->dtype)), t.at("dtype").get<std::string>());

      std::vector<float> v = m.to_f32(tname);
      double sum = 0.0, sum_abs = 0.0;
      for (float x : v) {
        sum += static_cast<double>(x);
        sum_abs += std::fabs(static_cast<double>(x));
      }
      const double want_abs = t.at("sum_abs").get<double>();
      EXPECT_NEAR(sum, t.at("sum").get<double>(), kChecksumRelTol * want_abs);
      EXPECT_NEAR(sum_abs, want_abs, kChecksumRelTol * want_abs);
      const auto& first = t.at("first");
      ASSERT_GE(v.size(), first.size());
      for (size_t i = 0; i < first.size(); ++i) {
        uint32_t want = static_cast<uint32_t>(std::stoul(first[i].get<std::string>(), nullptr, 16));
        EXPECT_EQ(f32_bits(v[i]), want) << "value " << i;
      }
    }
  }
}

// The older spellings must parse to the same ModelConfig as the v5 file they were made from.
TEST(HfFixtures, OldSpellingsGiveTheSameConfig) {
  for (const auto& name : fixture_names(false)) {
    const Json& fx = expected_doc().at("fixtures").at(name);
    if (!fx.contains("variant_of")) continue;
    SCOPED_TRACE(name);
    const std::string base = fx.at("variant_of").get<std::string>();
    ModelConfig v = config_load(test::data_path("hf/" + fx.at("config").get<std::string>()));
    ModelConfig b = config_load(test::data_path("hf/" + base + "/config.json"));
    EXPECT_EQ(v.to_json().dump(), b.to_json().dump());
    EXPECT_EQ(v.use_sliding_window, b.use_sliding_window);
    EXPECT_EQ(v.sliding_window, b.sliding_window);
    EXPECT_EQ(v.pad_token_id, b.pad_token_id);
    EXPECT_EQ(v.conv_bias, b.conv_bias);
  }
}

// check_weights against a fixture's real files: a config that disagrees with the weights is caught.
TEST(HfFixtures, MismatchedConfigIsRejectedWithTheTensorName) {
  const std::string dir = test::data_path("hf/llama");
  SafetensorsModel m = SafetensorsModel::open(dir);
  ModelConfig c = config_load(dir);

  ModelConfig wider = c;
  wider.ffn_dim = c.ffn_dim + 32;
  try {
    check_weights(wider, m, dir);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.component(), "model");
    std::string msg = e.what();
    EXPECT_NE(msg.find(dir), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.layers.0.mlp.gate_proj.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[96, 64]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[128, 64]"), std::string::npos) << msg;
  }

  ModelConfig tied = c;  // tied: lm_head.weight is then an extra, tolerated only with the head's shape
  tied.tie_word_embeddings = true;
  EXPECT_NO_THROW(check_weights(tied, m, dir));

  ModelConfig deeper = c;
  deeper.num_hidden_layers = 3;
  try {
    check_weights(deeper, m, dir);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing tensor 'model.layers.2.input_layernorm.weight'"), std::string::npos)
        << e.what();
  }

  ModelConfig shallower = c;
  shallower.num_hidden_layers = 1;
  try {
    check_weights(shallower, m, dir);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unexpected tensor 'model.layers.1."), std::string::npos) << e.what();
  }

  // Another family's config against these weights.
  ModelConfig qwen3 = config_load(test::data_path("hf/qwen3"));
  EXPECT_THROW(check_weights(qwen3, m, dir), Error);
}

}  // namespace
}  // namespace mc

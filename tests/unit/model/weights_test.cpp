// Unit tests for the weight layout (model/weights.h) on hand-written configs: names, shapes and groups
// per family as the transformers 5.23 module __init__s define them (LlamaAttention/LlamaMLP, Qwen2's
// unconditional q/k/v bias, Qwen3's q_norm/k_norm, Lfm2ShortConv/Lfm2Attention/Lfm2MLP), and
// check_weights on small safetensors files written into a temporary directory.
#include <gtest/gtest.h>

#include <map>

#include "core/error.h"
#include "core/json.h"
#include "io/safetensors.h"
#include "model/config.h"
#include "model/weights.h"
#include "test_util.h"

namespace mc {
namespace {

ModelConfig make(const std::string& type, const Json& extra = Json::object()) {
  Json j = Json::parse(R"({"vocab_size": 100, "hidden_size": 32, "intermediate_size": 48,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2})");
  j["model_type"] = type;
  j.update(extra);
  return config_from_json(j, "test/config.json");
}

std::map<std::string, WeightSpec> by_name(const std::vector<WeightSpec>& specs) {
  std::map<std::string, WeightSpec> m;
  for (const auto& s : specs) EXPECT_TRUE(m.emplace(s.name, s).second) << "duplicate " << s.name;
  return m;
}

using Shape = std::vector<int64_t>;

TEST(Weights, LlamaLayout) {
  ModelConfig c = make("llama");  // D 32, H 4, Hkv 2, Dh 8, F 48, V 100, untied
  auto specs = expected_weights(c);
  ASSERT_EQ(specs.size(), 1u + 2 * 9 + 1 + 1);
  EXPECT_EQ(specs.front().name, "model.embed_tokens.weight");
  EXPECT_EQ(specs.back().name, "lm_head.weight");
  auto m = by_name(specs);
  EXPECT_EQ(m.at("model.embed_tokens.weight").shape, (Shape{100, 32}));
  EXPECT_EQ(m.at("lm_head.weight").shape, (Shape{100, 32}));
  EXPECT_EQ(m.at("model.norm.weight").shape, (Shape{32}));
  EXPECT_EQ(m.at("model.layers.1.input_layernorm.weight").shape, (Shape{32}));
  EXPECT_EQ(m.at("model.layers.1.post_attention_layernorm.weight").shape, (Shape{32}));
  EXPECT_EQ(m.at("model.layers.0.self_attn.q_proj.weight").shape, (Shape{32, 32}));
  EXPECT_EQ(m.at("model.layers.0.self_attn.k_proj.weight").shape, (Shape{16, 32}));
  EXPECT_EQ(m.at("model.layers.0.self_attn.v_proj.weight").shape, (Shape{16, 32}));
  EXPECT_EQ(m.at("model.layers.0.self_attn.o_proj.weight").shape, (Shape{32, 32}));
  EXPECT_EQ(m.at("model.layers.0.mlp.gate_proj.weight").shape, (Shape{48, 32}));
  EXPECT_EQ(m.at("model.layers.0.mlp.up_proj.weight").shape, (Shape{48, 32}));
  EXPECT_EQ(m.at("model.layers.0.mlp.down_proj.weight").shape, (Shape{32, 48}));
  EXPECT_EQ(m.at("model.layers.1.mlp.down_proj.weight").layer, 1);
  EXPECT_EQ(m.at("model.norm.weight").layer, -1);
  for (const auto& s : specs) EXPECT_EQ(s.name.find(".bias"), std::string::npos) << s.name;

  // Tied: no lm_head.
  auto tied = by_name(expected_weights(make("llama", {{"tie_word_embeddings", true}})));
  EXPECT_EQ(tied.count("lm_head.weight"), 0u);
  EXPECT_EQ(tied.size(), specs.size() - 1);
}

TEST(Weights, LlamaBiases) {
  auto m = by_name(expected_weights(make("llama", {{"attention_bias", true}, {"mlp_bias", true}})));
  EXPECT_EQ(m.at("model.layers.0.self_attn.q_proj.bias").shape, (Shape{32}));
  EXPECT_EQ(m.at("model.layers.0.self_attn.k_proj.bias").shape, (Shape{16}));
  EXPECT_EQ(m.at("model.layers.0.self_attn.v_proj.bias").shape, (Shape{16}));
  EXPECT_EQ(m.at("model.layers.0.self_attn.o_proj.bias").shape, (Shape{32}));
  EXPECT_EQ(m.at("model.layers.0.mlp.gate_proj.bias").shape, (Shape{48}));
  EXPECT_EQ(m.at("model.layers.0.mlp.up_proj.bias").shape, (Shape{48}));
  EXPECT_EQ(m.at("model.layers.0.mlp.down_proj.bias").shape, (Shape{32}));
  EXPECT_EQ(m.at("model.layers.0.mlp.down_proj.bias").group, WeightGroup::Mlp);
  EXPECT_EQ(m.at("model.layers.0.self_attn.o_proj.bias").group, WeightGroup::Attention);
}

TEST(Weights, MistralIgnoresBiasFlags) {
  auto plain = expected_weights(make("llama"));
  auto mistral = expected_weights(make("mistral", {{"attention_bias", true}, {"mlp_bias", true}}));
  ASSERT_EQ(plain.size(), mistral.size());
  for (size_t i = 0; i < plain.size(); ++i) {
    EXPECT_EQ(plain[i].name, mistral[i].name);
    EXPECT_EQ(plain[i].shape, mistral[i].shape);
  }
}

TEST(Weights, Qwen2HasQkvBiasOnly) {
  auto m = by_name(expected_weights(make("qwen2", {{"tie_word_embeddings", true}})));
  EXPECT_EQ(m.at("model.layers.1.self_attn.q_proj.bias").shape, (Shape{32}));
  EXPECT_EQ(m.at("model.layers.1.self_attn.k_proj.bias").shape, (Shape{16}));
  EXPECT_EQ(m.at("model.layers.1.self_attn.v_proj.bias").shape, (Shape{16}));
  EXPECT_EQ(m.count("model.layers.1.self_attn.o_proj.bias"), 0u);
  EXPECT_EQ(m.count("model.layers.1.mlp.gate_proj.bias"), 0u);
  EXPECT_EQ(m.count("lm_head.weight"), 0u);
  EXPECT_EQ(m.size(), 1u + 2 * 12 + 1);
}

TEST(Weights, Qwen3QkNormAndExplicitHeadDim) {
  auto m = by_name(expected_weights(make("qwen3", {{"head_dim", 16}})));  // H·Dh = 64 ≠ D = 32
  EXPECT_EQ(m.at("model.layers.0.self_attn.q_proj.weight").shape, (Shape{64, 32}));
  EXPECT_EQ(m.at("model.layers.0.self_attn.k_proj.weight").shape, (Shape{32, 32}));
  EXPECT_EQ(m.at("model.layers.0.self_attn.o_proj.weight").shape, (Shape{32, 64}));
  EXPECT_EQ(m.at("model.layers.0.self_attn.q_norm.weight").shape, (Shape{16}));
  EXPECT_EQ(m.at("model.layers.0.self_attn.k_norm.weight").shape, (Shape{16}));
  EXPECT_EQ(m.at("model.layers.0.self_attn.q_norm.weight").group, WeightGroup::Norm);
  EXPECT_EQ(m.count("model.layers.0.self_attn.q_proj.bias"), 0u);
  auto b = by_name(expected_weights(make("qwen3", {{"head_dim", 16}, {"attention_bias", true}})));
  EXPECT_EQ(b.at("model.layers.0.self_attn.o_proj.bias").shape, (Shape{32}));
}

TEST(Weights, Lfm2Layout) {
  // intermediate 48 -> auto-adjust int(96/3) = 32 -> multiple of 16 -> 32.
  ModelConfig c = make("lfm2", {{"layer_types", {"conv", "full_attention"}}, {"block_multiple_of", 16}});
  ASSERT_EQ(c.ffn_dim, 32);
  auto specs = expected_weights(c);
  auto m = by_name(specs);
  EXPECT_EQ(m.at("model.embed_tokens.weight").shape, (Shape{100, 32}));
  EXPECT_EQ(m.at("model.embedding_norm.weight").shape, (Shape{32}));
  EXPECT_EQ(m.count("model.norm.weight"), 0u);
  EXPECT_EQ(m.count("lm_head.weight"), 0u);  // LFM2 ties by default
  // layer 0: conv
  EXPECT_EQ(m.at("model.layers.0.operator_norm.weight").shape, (Shape{32}));
  EXPECT_EQ(m.at("model.layers.0.conv.in_proj.weight").shape, (Shape{96, 32}));
  EXPECT_EQ(m.at("model.layers.0.conv.out_proj.weight").shape, (Shape{32, 32}));
  EXPECT_EQ(m.at("model.layers.0.conv.conv.weight").shape, (Shape{32, 1, 3}));
  EXPECT_EQ(m.at("model.layers.0.conv.conv.weight").group, WeightGroup::Conv);
  EXPECT_EQ(m.count("model.layers.0.self_attn.q_proj.weight"), 0u);
  // layer 1: attention
  EXPECT_EQ(m.at("model.layers.1.self_attn.q_proj.weight").shape, (Shape{32, 32}));
  EXPECT_EQ(m.at("model.layers.1.self_attn.k_proj.weight").shape, (Shape{16, 32}));
  EXPECT_EQ(m.at("model.layers.1.self_attn.out_proj.weight").shape, (Shape{32, 32}));
  EXPECT_EQ(m.at("model.layers.1.self_attn.q_layernorm.weight").shape, (Shape{8}));
  EXPECT_EQ(m.at("model.layers.1.self_attn.k_layernorm.weight").shape, (Shape{8}));
  EXPECT_EQ(m.count("model.layers.1.conv.in_proj.weight"), 0u);
  // both: feed-forward with the effective width
  EXPECT_EQ(m.at("model.layers.1.ffn_norm.weight").shape, (Shape{32}));
  EXPECT_EQ(m.at("model.layers.1.feed_forward.w1.weight").shape, (Shape{32, 32}));
  EXPECT_EQ(m.at("model.layers.1.feed_forward.w3.weight").shape, (Shape{32, 32}));
  EXPECT_EQ(m.at("model.layers.1.feed_forward.w2.weight").shape, (Shape{32, 32}));
  EXPECT_EQ(specs.size(), 1u + (2 + 3 + 3) + (2 + 6 + 3) + 1);

  // conv_bias adds in_proj, out_proj and conv biases; untied adds lm_head.
  auto b = by_name(expected_weights(make("lfm2", {{"layer_types", {"conv", "conv"}}, {"conv_bias", true},
                                                  {"conv_L_cache", 4}, {"tie_word_embeddings", false}})));
  EXPECT_EQ(b.at("model.layers.1.conv.in_proj.bias").shape, (Shape{96}));
  EXPECT_EQ(b.at("model.layers.1.conv.out_proj.bias").shape, (Shape{32}));
  EXPECT_EQ(b.at("model.layers.1.conv.conv.bias").shape, (Shape{32}));
  EXPECT_EQ(b.at("model.layers.1.conv.conv.weight").shape, (Shape{32, 1, 4}));
  EXPECT_EQ(b.at("lm_head.weight").shape, (Shape{100, 32}));
}

TEST(Weights, GroupOfEveryNameMatchesTheLayout) {
  for (const auto& c : {make("llama", {{"attention_bias", true}, {"mlp_bias", true}}), make("mistral"),
                        make("qwen2"), make("qwen3"), make("lfm2", {{"layer_types", {"conv", "full_attention"}},
                                                                      {"conv_bias", true}, {"tie_word_embeddings", false}})}) {
    for (const auto& s : expected_weights(c)) EXPECT_EQ(weight_group_of(s.name), s.group) << s.name;
  }
  EXPECT_EQ(weight_group_of("model.embed_tokens.weight"), WeightGroup::Embedding);
  EXPECT_EQ(weight_group_of("lm_head.weight"), WeightGroup::LmHead);
  EXPECT_EQ(weight_group_of("model.norm.weight"), WeightGroup::Norm);
  EXPECT_EQ(weight_group_of("model.embedding_norm.weight"), WeightGroup::Norm);
  EXPECT_EQ(weight_group_of("model.layers.3.self_attn.k_layernorm.weight"), WeightGroup::Norm);
  EXPECT_EQ(weight_group_of("model.layers.3.self_attn.out_proj.weight"), WeightGroup::Attention);
  EXPECT_EQ(weight_group_of("model.layers.3.conv.out_proj.weight"), WeightGroup::Conv);
  EXPECT_EQ(weight_group_of("model.layers.3.feed_forward.w2.weight"), WeightGroup::Mlp);
  EXPECT_EQ(weight_group_of("model.layers.3.mlp.up_proj.bias"), WeightGroup::Mlp);
  EXPECT_EQ(weight_group_name(WeightGroup::LmHead), "lm_head");
  for (const char* bad : {"", "weight", "model.layers.0.self_attn.rotary_emb.inv_freq", "model.layers.0.foo.weight",
                          "model.layers.0.self_attn.q_proj.scales"}) {
    EXPECT_THROW(weight_group_of(bad), Error) << bad;
  }
}

// Writes every tensor of `specs` (zeros, BF16) plus `extra`, minus `drop`, with `reshape` applied.
struct CheckpointWriter {
  std::vector<WeightSpec> specs;
  std::vector<std::vector<uint8_t>> buffers;
  std::vector<SafetensorsWriteEntry> entries;

  void add(const std::string& name, const std::vector<int64_t>& shape, Dtype dt = Dtype::BF16) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    buffers.emplace_back(static_cast<size_t>(n) * dtype_size(dt), uint8_t{0});
    entries.push_back(SafetensorsWriteEntry{name, dt, shape, buffers.back()});
  }
};

std::string write_checkpoint(const test::TempDir& tmp, const ModelConfig& c, const std::string& drop = "",
                             const std::map<std::string, std::vector<int64_t>>& reshape = {},
                             const std::vector<std::pair<std::string, std::vector<int64_t>>>& extra = {},
                             const std::string& int_dtype_name = "") {
  CheckpointWriter w;
  w.buffers.reserve(256);
  for (const auto& s : expected_weights(c)) {
    if (s.name == drop) continue;
    auto it = reshape.find(s.name);
    w.add(s.name, it == reshape.end() ? s.shape : it->second, s.name == int_dtype_name ? Dtype::I32 : Dtype::BF16);
  }
  for (const auto& [name, shape] : extra) w.add(name, shape);
  std::string path = tmp / "model.safetensors";
  safetensors_write(path, w.entries);
  return path;
}

std::string check_error(const ModelConfig& c, const std::string& path) {
  SafetensorsModel m = SafetensorsModel::open(path);
  try {
    check_weights(c, m, "models/tiny");
  } catch (const Error& e) {
    EXPECT_EQ(e.component(), "model");
    EXPECT_NE(std::string(e.what()).find("[model] models/tiny: "), std::string::npos) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(CheckWeights, AcceptsExactLayout) {
  test::TempDir tmp;
  for (const auto& c : {make("llama"), make("qwen2"), make("lfm2", {{"layer_types", {"conv", "full_attention"}}})}) {
    std::string path = write_checkpoint(tmp, c);
    SafetensorsModel m = SafetensorsModel::open(path);
    EXPECT_NO_THROW(check_weights(c, m, path)) << c.model_type;
  }
}

TEST(CheckWeights, NamesTheFirstMissingTensor) {
  test::TempDir tmp;
  ModelConfig c = make("qwen2");
  std::string msg = check_error(c, write_checkpoint(tmp, c, "model.layers.1.self_attn.k_proj.bias"));
  EXPECT_TRUE(contains(msg, "missing tensor 'model.layers.1.self_attn.k_proj.bias' [16]")) << msg;
}

TEST(CheckWeights, ReportsShapeMismatchExpectedVsFound) {
  test::TempDir tmp;
  ModelConfig c = make("llama");
  std::string msg = check_error(c, write_checkpoint(tmp, c, "", {{"model.layers.0.mlp.down_proj.weight", {48, 32}}}));
  EXPECT_TRUE(contains(msg, "tensor 'model.layers.0.mlp.down_proj.weight' has shape [48, 32], expected [32, 48]")) << msg;

  ModelConfig l = make("lfm2", {{"layer_types", {"conv", "full_attention"}}});
  msg = check_error(l, write_checkpoint(tmp, l, "", {{"model.layers.0.conv.conv.weight", {32, 3}}}));  // GGUF-style squeezed
  EXPECT_TRUE(contains(msg, "has shape [32, 3], expected [32, 1, 3]")) << msg;
}

TEST(CheckWeights, RejectsUnexpectedTensorsAndNonFloatDtypes) {
  test::TempDir tmp;
  ModelConfig c = make("llama", {{"tie_word_embeddings", true}});
  std::string msg = check_error(c, write_checkpoint(tmp, c, "", {}, {{"model.layers.2.mlp.up_proj.weight", {48, 32}}}));
  EXPECT_TRUE(contains(msg, "unexpected tensor 'model.layers.2.mlp.up_proj.weight' [48, 32]")) << msg;

  msg = check_error(c, write_checkpoint(tmp, c, "", {}, {{"base_model.model.q_proj.lora_A.weight", {4, 32}}}));
  EXPECT_TRUE(contains(msg, "LoRA adapter")) << msg;

  msg = check_error(c, write_checkpoint(tmp, c, "", {}, {}, "model.norm.weight"));
  EXPECT_TRUE(contains(msg, "tensor 'model.norm.weight' has dtype I32")) << msg;

  // A tied checkpoint that still stores lm_head.weight is accepted (transformers ties it on load), but
  // only with the head's shape; old rotary_emb.inv_freq buffers are ignored.
  std::string path = write_checkpoint(tmp, c, "", {}, {{"lm_head.weight", {100, 32}},
                                                       {"model.layers.0.self_attn.rotary_emb.inv_freq", {4}}});
  SafetensorsModel m = SafetensorsModel::open(path);
  EXPECT_NO_THROW(check_weights(c, m, path));
  msg = check_error(c, write_checkpoint(tmp, c, "", {}, {{"lm_head.weight", {101, 32}}}));
  EXPECT_TRUE(contains(msg, "unexpected tensor 'lm_head.weight' [101, 32]")) << msg;
}

}  // namespace
}  // namespace mc

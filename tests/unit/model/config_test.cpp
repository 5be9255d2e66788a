// Unit tests for ModelConfig parsing (model/config.h) on hand-written config.json objects: old and
// Transformers-v5 spellings, LFM2's legacy aliases and FFN auto-adjust, per-family defaults, and errors.
// Expected values are those transformers 5.23 gives for the same JSON (its config classes and module
// __init__s); the effective LFM2 widths were read off Lfm2ForCausalLM instances.
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/json.h"
#include "model/config.h"
#include "test_util.h"

namespace mc {
namespace {

Json llama_base() {
  return Json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 256, "hidden_size": 64,
    "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "bos_token_id": 1, "eos_token_id": 2,
    "tie_word_embeddings": false, "hidden_act": "silu"})");
}

Json lfm2_base() {
  return Json::parse(R"({
    "architectures": ["Lfm2ForCausalLM"], "model_type": "lfm2", "vocab_size": 512, "hidden_size": 64,
    "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2, "conv_L_cache": 3})");
}

ModelConfig parse(const Json& j) { return config_from_json(j, "test/config.json"); }

// Runs config_from_json and returns the error message; fails the test when nothing is thrown.
std::string parse_error(const Json& j, const std::string& source = "test/config.json") {
  try {
    config_from_json(j, source);
  } catch (const Error& e) {
    EXPECT_EQ(e.component(), "config");
    return e.what();
  }
  ADD_FAILURE() << "no error for " << j.dump();
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(Config, OldAndV5SpellingsGiveTheSameConfig) {
  Json v4 = llama_base();
  v4["rope_theta"] = 500000.0;
  v4["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                        {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 64}};
  v4["torch_dtype"] = "bfloat16";

  Json v5 = llama_base();
  v5["rope_parameters"] = {{"rope_type", "llama3"}, {"rope_theta", 500000.0}, {"factor", 8.0},
                           {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                           {"original_max_position_embeddings", 64}};
  v5["dtype"] = "bfloat16";

  ModelConfig a = parse(v4), b = parse(v5);
  EXPECT_EQ(a.to_json().dump(), b.to_json().dump());
  EXPECT_EQ(a.rope_theta, 500000.0);
  EXPECT_EQ(a.rope_scaling.rope_type, "llama3");
  EXPECT_EQ(a.rope_scaling.factor, 8.0);
  EXPECT_EQ(a.rope_scaling.original_max_position_embeddings, 64);
  EXPECT_EQ(a.dtype, "bfloat16");

  // v5 rope_parameters keyed by layer type: the full_attention entry is the one we use.
  Json nested = llama_base();
  nested["rope_parameters"] = {
      {"full_attention", v5["rope_parameters"]},
      {"sliding_attention", {{"rope_type", "default"}, {"rope_theta", 10000.0}}}};
  nested["dtype"] = "bfloat16";
  EXPECT_EQ(parse(nested).to_json().dump(), b.to_json().dump());
}

TEST(Config, RopeDefaultsAndLegacyForms) {
  Json j = llama_base();
  EXPECT_EQ(parse(j).rope_theta, 10000.0);  // LlamaConfig.default_theta
  EXPECT_EQ(parse(j).rope_scaling.rope_type, "default");

  j["rope_theta"] = 1e6;
  j["rope_scaling"] = nullptr;
  EXPECT_EQ(parse(j).rope_theta, 1e6);
  EXPECT_EQ(parse(j).rope_scaling.rope_type, "default");

  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};  // pre-4.4x "type" key
  EXPECT_EQ(parse(j).rope_scaling.rope_type, "linear");
  EXPECT_EQ(parse(j).rope_scaling.factor, 2.0);

  // llama3 without original_max_position_embeddings: transformers fills in max_position_embeddings.
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0}};
  EXPECT_EQ(parse(j).rope_scaling.original_max_position_embeddings, 256);

  // Both present: transformers 5.x takes rope_scaling and gives it the top-level rope_theta.
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 9.0}};
  EXPECT_EQ(parse(j).rope_scaling.rope_type, "llama3");
  EXPECT_EQ(parse(j).rope_theta, 1e6);
}

TEST(Config, EosAsIntOrList) {
  Json j = llama_base();
  EXPECT_EQ(parse(j).eos_token_id, std::vector<int64_t>{2});
  j["eos_token_id"] = {128001, 128008, 128009};
  EXPECT_EQ(parse(j).eos_token_id, (std::vector<int64_t>{128001, 128008, 128009}));
  j["eos_token_id"] = nullptr;
  EXPECT_TRUE(parse(j).eos_token_id.empty());
  j.erase("bos_token_id");
  EXPECT_TRUE(parse(j).bos_token_id.empty());
}

TEST(Config, Lfm2LegacyAliasesMatchTheV5Names) {
  Json legacy = lfm2_base();
  legacy["block_ff_dim"] = 6656;
  legacy["full_attn_idxs"] = {1, 3};
  legacy["theta"] = 1000000.0;
  legacy["tie_embedding"] = true;
  legacy["norm_eps"] = 1e-5;
  legacy["block_auto_adjust_ff_dim"] = true;
  legacy["torch_dtype"] = "bfloat16";

  Json v5 = lfm2_base();
  v5["intermediate_size"] = 6656;
  v5["layer_types"] = {"conv", "full_attention", "conv", "full_attention"};
  v5["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 1000000.0}};
  v5["tie_word_embeddings"] = true;
  v5["norm_eps"] = 1e-5;
  v5["block_auto_adjust_ff_dim"] = true;
  v5["dtype"] = "bfloat16";

  ModelConfig a = parse(legacy), b = parse(v5);
  EXPECT_EQ(a.to_json().dump(), b.to_json().dump());
  EXPECT_EQ(a.intermediate_size, 6656);
  EXPECT_EQ(a.ffn_dim, 4608);  // LFM2-350M: block_ff_dim 6656 -> 4608 in Lfm2MLP
  EXPECT_EQ(a.layer_types, (std::vector<std::string>{"conv", "full_attention", "conv", "full_attention"}));
  EXPECT_FALSE(a.layer_is_attention(0));
  EXPECT_TRUE(a.layer_is_attention(3));
  EXPECT_TRUE(a.tie_word_embeddings);
  EXPECT_EQ(a.rope_theta, 1e6);

  // `theta` is read when it is the only spelling.
  legacy["theta"] = 250000.0;
  EXPECT_EQ(parse(legacy).rope_theta, 250000.0);
}

TEST(Config, Lfm2FeedForwardWidth) {
  // Values from Lfm2ForCausalLM(...).model.layers[0].feed_forward.w1.out_features, transformers 5.23.
  Json j = lfm2_base();
  j["block_ff_dim"] = 12288;
  EXPECT_EQ(parse(j).ffn_dim, 8192);  // LFM2-1.2B
  j.erase("block_ff_dim");
  j["intermediate_size"] = 200;
  j["block_ffn_dim_multiplier"] = 1.5;
  j["block_multiple_of"] = 64;
  EXPECT_EQ(parse(j).ffn_dim, 256);  // int(1.5 * int(400/3)) = 199, rounded up to 256
  EXPECT_EQ(parse(j).intermediate_size, 200);
  j["block_auto_adjust_ff_dim"] = false;
  EXPECT_EQ(parse(j).ffn_dim, 200);
  // block_ff_dim wins over intermediate_size when both are present (Lfm2Config pops it last).
  j["block_auto_adjust_ff_dim"] = true;
  j["block_ff_dim"] = 6656;
  j.erase("block_ffn_dim_multiplier");
  j.erase("block_multiple_of");
  EXPECT_EQ(parse(j).ffn_dim, 4608);
}

TEST(Config, Lfm2Defaults) {
  ModelConfig c = parse([] {
    Json j = lfm2_base();
    j["intermediate_size"] = 192;
    return j;
  }());
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.rope_theta, 1e6);
  EXPECT_EQ(c.max_position_embeddings, 128000);
  // No layer_types and no full_attn_idxs: every layer is attention.
  EXPECT_EQ(c.layer_types, std::vector<std::string>(4, "full_attention"));
  EXPECT_FALSE(c.attention_bias);
}

TEST(Config, Lfm2FollowsTransformersPrecedence) {
  Json j = lfm2_base();
  j["intermediate_size"] = 192;
  j["tie_word_embeddings"] = false;
  j["tie_embedding"] = true;  // Lfm2Config: tie_embedding overrides tie_word_embeddings
  j["rms_norm_eps"] = 0.5;    // not an LFM2 field: ignored
  j["attention_bias"] = true; // Lfm2Attention has no biases
  ModelConfig c = parse(j);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_FALSE(c.has_qkv_bias());
}

TEST(Config, FamilyDefaultsAndBiasFlags) {
  Json q3 = llama_base();
  q3["model_type"] = "qwen3";
  ModelConfig c = parse(q3);
  EXPECT_EQ(c.head_dim, 128);  // Qwen3Config.head_dim default, not hidden_size / heads
  EXPECT_EQ(c.q_dim(), 512);
  EXPECT_TRUE(c.has_qk_norm());
  q3["attention_bias"] = true;
  EXPECT_TRUE(parse(q3).attention_bias);

  Json q2 = llama_base();
  q2["model_type"] = "qwen2";
  q2["attention_bias"] = true;  // not a Qwen2 field: q/k/v bias always, o_proj never
  q2["sliding_window"] = 4096;
  q2["max_window_layers"] = 1;
  c = parse(q2);
  EXPECT_TRUE(c.has_qkv_bias());
  EXPECT_FALSE(c.attention_bias);
  EXPECT_EQ(c.sliding_window, 0);  // use_sliding_window is false
  EXPECT_EQ(c.layer_types, std::vector<std::string>(2, "full_attention"));
  q2["use_sliding_window"] = true;
  c = parse(q2);
  EXPECT_EQ(c.sliding_window, 4096);
  EXPECT_EQ(c.layer_types, (std::vector<std::string>{"full_attention", "sliding_attention"}));

  Json mi = llama_base();
  mi["model_type"] = "mistral";
  mi["attention_bias"] = true;  // MistralAttention never has biases
  mi["mlp_bias"] = true;
  c = parse(mi);
  EXPECT_FALSE(c.has_qkv_bias());
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_EQ(c.sliding_window, 4096);  // MistralConfig default

  Json ll = llama_base();
  ll["attention_bias"] = true;
  ll["mlp_bias"] = true;
  c = parse(ll);
  EXPECT_TRUE(c.has_qkv_bias());
  EXPECT_TRUE(c.attention_bias);
  EXPECT_TRUE(c.mlp_bias);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.num_key_value_heads, 2);
  ll.erase("num_key_value_heads");
  EXPECT_EQ(parse(ll).num_key_value_heads, 4);
}

TEST(Config, UnsupportedModelTypeListsTheSupportedOnes) {
  Json j = llama_base();
  j["model_type"] = "gpt2";
  std::string msg = parse_error(j);
  EXPECT_TRUE(contains(msg, "test/config.json")) << msg;
  EXPECT_TRUE(contains(msg, "'gpt2'")) << msg;
  EXPECT_TRUE(contains(msg, "llama, mistral, qwen2, qwen3, lfm2")) << msg;
  j.erase("model_type");
  EXPECT_TRUE(contains(parse_error(j), "supported:"));
}

TEST(Config, MissingOrInvalidFieldsNameTheFileAndField) {
  for (const char* key : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads"}) {
    Json j = llama_base();
    j.erase(key);
    std::string msg = parse_error(j);
    EXPECT_TRUE(contains(msg, "test/config.json")) << msg;
    EXPECT_TRUE(contains(msg, std::string("missing required field '") + key + "'")) << msg;
  }
  struct Bad {
    const char* key;
    Json value;
    const char* expect;
  };
  const std::vector<Bad> bad = {
      {"hidden_size", "64", "'hidden_size' must be an integer"},
      {"hidden_size", 64.5, "'hidden_size' must be an integer"},
      {"hidden_size", true, "'hidden_size' must be an integer"},
      {"hidden_size", 0, "'hidden_size' must be positive"},
      {"hidden_size", -64, "'hidden_size' must be positive"},
      {"vocab_size", 1e30, "'vocab_size' must be an integer"},
      {"vocab_size", Json(uint64_t{18446744073709551615ull}), "'vocab_size' must be an integer"},
      {"vocab_size", int64_t{1} << 40, "'vocab_size' is implausibly large"},
      {"rms_norm_eps", "1e-5", "'rms_norm_eps' must be a number"},
      {"tie_word_embeddings", "yes", "'tie_word_embeddings' must be true or false"},
      {"eos_token_id", Json::array({"</s>"}), "'eos_token_id' must be an integer"},
      {"layer_types", "full_attention", "'layer_types' must be a list"},
      {"layer_types", Json::array({"full_attention"}), "layer_types has 1 entries but num_hidden_layers is 2"},
      {"layer_types", Json::array({"full_attention", "mamba"}), "unsupported layer type 'mamba'"},
      {"hidden_act", "gelu", "hidden_act 'gelu' is not supported"},
      {"rope_scaling", "llama3", "'rope_scaling' must be an object"},
      {"rope_parameters", 5, "'rope_parameters' must be an object"},
      {"rope_theta", -1.0, "rope_theta must be positive"},
      {"model_type", 3, "'model_type' must be a string"},
  };
  for (const auto& b : bad) {
    Json j = llama_base();
    j[b.key] = b.value;
    std::string msg = parse_error(j);
    EXPECT_TRUE(contains(msg, "test/config.json")) << msg;
    EXPECT_TRUE(contains(msg, b.expect)) << b.key << " = " << b.value.dump() << " gave: " << msg;
  }
  EXPECT_TRUE(contains(parse_error(Json::array({1, 2})), "expected a JSON object"));

  Json lfm = lfm2_base();
  lfm["intermediate_size"] = 192;
  lfm["full_attn_idxs"] = {7};
  EXPECT_TRUE(contains(parse_error(lfm), "full_attn_idxs entry 7 is out of range"));
  lfm["full_attn_idxs"] = {1};
  lfm["conv_L_cache"] = 0;
  EXPECT_TRUE(contains(parse_error(lfm), "conv_L_cache must be in"));
  lfm["conv_L_cache"] = 3;
  lfm["block_ffn_dim_multiplier"] = -1.0;
  EXPECT_TRUE(contains(parse_error(lfm), "block_ffn_dim_multiplier"));
  lfm["block_ffn_dim_multiplier"] = 1e300;
  EXPECT_TRUE(contains(parse_error(lfm), "block_ffn_dim_multiplier"));
}

TEST(Config, HeadsMustDivide) {
  Json j = llama_base();
  j["num_attention_heads"] = 6;
  j["num_key_value_heads"] = 4;
  std::string msg = parse_error(j);
  EXPECT_TRUE(contains(msg, "test/config.json")) << msg;
  EXPECT_TRUE(contains(msg, "num_attention_heads (6) must be a multiple of num_key_value_heads (4)")) << msg;

  j["num_key_value_heads"] = 0;
  EXPECT_TRUE(contains(parse_error(j), "must be a multiple of num_key_value_heads (0)"));

  j["num_attention_heads"] = 6;
  j["num_key_value_heads"] = 3;  // 64 is not divisible by 6 and no head_dim
  msg = parse_error(j);
  EXPECT_TRUE(contains(msg, "hidden_size (64) is not divisible by num_attention_heads (6)")) << msg;
  j["head_dim"] = 16;  // an explicit head_dim makes it valid
  EXPECT_EQ(parse(j).q_dim(), 96);
}

TEST(Config, LoadNamesTheFile) {
  test::TempDir tmp;
  // A directory without config.json.
  try {
    config_load(tmp.path.string());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), tmp / "config.json")) << e.what();
  }
  // Invalid JSON.
  test::write_bytes(tmp / "config.json", "{\"model_type\": \"llama\",");
  try {
    config_load(tmp.path.string());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), tmp / "config.json")) << e.what();
  }
  // A semantic error names the file too; the file itself can be given instead of its directory.
  Json j = llama_base();
  j["num_key_value_heads"] = 3;
  test::write_bytes(tmp / "config.json", j.dump());
  try {
    config_load(tmp / "config.json");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.component(), "config");
    EXPECT_TRUE(contains(e.what(), tmp / "config.json")) << e.what();
    EXPECT_TRUE(contains(e.what(), "num_key_value_heads")) << e.what();
  }
  test::write_bytes(tmp / "config.json", llama_base().dump());
  EXPECT_EQ(config_load(tmp.path.string()).hidden_size, 64);
}

TEST(Config, HfJsonRoundTrip) {
  for (Json j : {llama_base(), lfm2_base()}) {
    j["dtype"] = "bfloat16";  // config_to_hf_json writes float32 when the dtype is unknown
    if (j["model_type"] == "lfm2") {
      j["block_ff_dim"] = 6656;
      j["full_attn_idxs"] = {1, 3};
    }
    ModelConfig a = parse(j);
    ModelConfig b = config_from_json(Json::parse(config_to_hf_json(a).dump()), "roundtrip");
    if (a.model_type != "lfm2") {
      EXPECT_EQ(a.to_json().dump(), b.to_json().dump());
    }
    EXPECT_EQ(a.ffn_dim, b.ffn_dim);  // lfm2 is written with the effective width and auto-adjust off
    EXPECT_EQ(a.rope_theta, b.rope_theta);
    EXPECT_EQ(a.rms_norm_eps, b.rms_norm_eps);
    EXPECT_EQ(a.layer_types, b.layer_types);
    EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  }
}

}  // namespace
}  // namespace mc

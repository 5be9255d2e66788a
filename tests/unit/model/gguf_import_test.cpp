// Unit tests for the GGUF importer: GGUF → HF tensor names per architecture, llama.cpp's Q/K row
// permutation and its inverse, SentencePiece merges from scores, and bad input (not a GGUF, unsupported
// architecture, a tensor whose shape the config cannot explain, unknown pre-tokenizer, existing output)
// failing with mc::Error and leaving no directory behind. Fixtures: tests/data/gguf_import/*.gguf
// (tools/gen_gguf_import_golden.py tiny).
#include <gtest/gtest.h>

#include <filesystem>
#include <numeric>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "io/gguf.h"
#include "io/tokenizer/gguf_tokenizer.h"
#include "model/config.h"
#include "model/gguf_import.h"
#include "test_util.h"

namespace mc {
namespace {

using test::data_path;
using test::TempDir;

ModelConfig dense(const std::string& type, int64_t layers) {
  ModelConfig c;
  c.model_type = type;
  c.num_hidden_layers = layers;
  return c;
}

ModelConfig lfm2_config() {
  ModelConfig c = dense("lfm2", 3);
  c.layer_types = {"conv", "conv", "full_attention"};
  return c;
}

TEST(GgufTensorName, LlamaNames) {
  ModelConfig c = dense("llama", 2);
  EXPECT_EQ(gguf_to_hf_tensor_name("token_embd.weight", c), "model.embed_tokens.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("output_norm.weight", c), "model.norm.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("output.weight", c), "lm_head.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.1.attn_norm.weight", c), "model.layers.1.input_layernorm.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.1.ffn_norm.weight", c), "model.layers.1.post_attention_layernorm.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.0.attn_q.weight", c), "model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.0.attn_k.weight", c), "model.layers.0.self_attn.k_proj.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.0.attn_v.weight", c), "model.layers.0.self_attn.v_proj.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.0.attn_output.weight", c), "model.layers.0.self_attn.o_proj.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.1.ffn_gate.weight", c), "model.layers.1.mlp.gate_proj.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.1.ffn_up.weight", c), "model.layers.1.mlp.up_proj.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.1.ffn_down.weight", c), "model.layers.1.mlp.down_proj.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.0.attn_q.bias", c), "model.layers.0.self_attn.q_proj.bias");
}

TEST(GgufTensorName, QwenNames) {
  ModelConfig q2 = dense("qwen2", 1);
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.0.attn_k.bias", q2), "model.layers.0.self_attn.k_proj.bias");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.0.attn_q_norm.weight", q2), "");  // qwen2 has no q_norm
  ModelConfig q3 = dense("qwen3", 1);
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.0.attn_q_norm.weight", q3), "model.layers.0.self_attn.q_norm.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.0.attn_k_norm.weight", q3), "model.layers.0.self_attn.k_norm.weight");
}

TEST(GgufTensorName, Lfm2Names) {
  ModelConfig c = lfm2_config();
  EXPECT_EQ(gguf_to_hf_tensor_name("token_embd_norm.weight", c), "model.embedding_norm.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("output_norm.weight", c), "model.embedding_norm.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.0.attn_norm.weight", c), "model.layers.0.operator_norm.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.0.ffn_norm.weight", c), "model.layers.0.ffn_norm.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.0.ffn_gate.weight", c), "model.layers.0.feed_forward.w1.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.0.ffn_up.weight", c), "model.layers.0.feed_forward.w3.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.0.ffn_down.weight", c), "model.layers.0.feed_forward.w2.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.1.shortconv.conv.weight", c), "model.layers.1.conv.conv.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.1.shortconv.in_proj.weight", c), "model.layers.1.conv.in_proj.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.1.shortconv.out_proj.weight", c), "model.layers.1.conv.out_proj.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.2.attn_q.weight", c), "model.layers.2.self_attn.q_proj.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.2.attn_output.weight", c), "model.layers.2.self_attn.out_proj.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.2.attn_q_norm.weight", c), "model.layers.2.self_attn.q_layernorm.weight");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.2.attn_k_norm.weight", c), "model.layers.2.self_attn.k_layernorm.weight");
  // A tensor of the wrong kind for its layer is not silently renamed.
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.0.attn_q.weight", c), "");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.2.shortconv.in_proj.weight", c), "");
  EXPECT_EQ(gguf_to_hf_tensor_name("blk.0.mlp.gate_proj.weight", c), "");
}

TEST(GgufTensorName, UnknownNamesMapToNothing) {
  ModelConfig c = dense("llama", 2);
  for (const char* n : {"rope_freqs.weight", "blk.2.attn_q.weight", "blk.x.attn_q.weight", "blk.01.attn_q.weight",
                        "blk..attn_q.weight", "token_embd", "blk.0.attn_q", "blk.0.attn_norm.bias",
                        "token_embd.bias", "blk.0.attn_q_norm.weight", "token_embd_norm.weight",
                        "blk.0.shortconv.conv.weight", "blk.99999999999.attn_q.weight", "", "."})
    EXPECT_EQ(gguf_to_hf_tensor_name(n, c), "") << n;
}

TEST(LlamaPermute, SmallCaseMatchesNumpyDefinition) {
  // numpy: w.reshape(n_head, 2, rows // n_head // 2).swapaxes(1, 2).reshape(rows) on arange(4), 1 head
  // gives [0, 2, 1, 3]; on arange(8), 2 heads: [0, 2, 1, 3, 4, 6, 5, 7].
  std::vector<float> a4 = {0, 1, 2, 3};
  EXPECT_EQ(llama_permute_rows(a4, 4, 1, 1), (std::vector<float>{0, 2, 1, 3}));
  std::vector<float> a8 = {0, 1, 2, 3, 4, 5, 6, 7};
  EXPECT_EQ(llama_permute_rows(a8, 8, 1, 2), (std::vector<float>{0, 2, 1, 3, 4, 6, 5, 7}));
  EXPECT_EQ(llama_unpermute_rows(std::vector<float>{0, 2, 1, 3, 4, 6, 5, 7}, 8, 1, 2), a8);
  // rows of 2 columns move together
  std::vector<float> m = {0, 10, 1, 11, 2, 12, 3, 13};
  EXPECT_EQ(llama_permute_rows(m, 4, 2, 1), (std::vector<float>{0, 10, 2, 12, 1, 11, 3, 13}));
}

TEST(LlamaPermute, InverseRoundTrips) {
  for (auto [rows, cols, heads] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {576, 3, 9}, {192, 5, 3}, {64, 1, 4}, {16, 7, 8}, {2, 2, 1}}) {
    std::vector<float> w(static_cast<size_t>(rows * cols));
    std::iota(w.begin(), w.end(), 0.0f);
    std::vector<float> p = llama_permute_rows(w, rows, cols, heads);
    if (rows / heads > 2) {  // D = 2 is the identity
      EXPECT_NE(p, w) << rows << "x" << cols << " heads " << heads;
    }
    EXPECT_EQ(llama_unpermute_rows(p, rows, cols, heads), w);
    EXPECT_EQ(llama_permute_rows(llama_unpermute_rows(w, rows, cols, heads), rows, cols, heads), w);
  }
}

TEST(GgufTokenizer, MergesFromScoresFollowTransformers) {
  // Expected: transformers 5.23 tokenization_utils_base.generate_merges(vocab, dict(zip(tokens, scores))).
  std::vector<std::string> tokens = {"<unk>", "a", "b", "c", "ab", "bc", "abc", "\u2581", "\u2581a", "\u2581ab",
                                     "\u00e9", "a\u00e9", "cab"};
  std::vector<double> scores = {0, 0, 0, 0, -1, -1, -3, 0, -2, -4, 0, -5, -4};
  std::vector<std::pair<std::string, std::string>> want = {
      {"a", "b"}, {"b", "c"}, {"\u2581", "a"}, {"ab", "c"}, {"a", "bc"},
      {"\u2581a", "b"}, {"\u2581", "ab"}, {"c", "ab"}, {"a", "\u00e9"}};
  EXPECT_EQ(merges_from_scores(tokens, scores), want);
}

class GgufImportBadInput : public ::testing::Test {
 protected:
  void SetUp() override { log_set_level(LogLevel::Quiet); }
  void TearDown() override { log_set_level(LogLevel::Info); }

  // Nothing but `keep` may be left in the temp dir (no output, no temporary directory).
  static void expect_only(const TempDir& tmp, const std::vector<std::string>& keep) {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(tmp.path)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    std::vector<std::string> want = keep;
    std::sort(want.begin(), want.end());
    EXPECT_EQ(names, want);
  }

  static std::string error_of(const std::string& gguf, const std::string& out, GgufImportOptions o = {}) {
    try {
      gguf_import(gguf, out, o);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  }
};

TEST_F(GgufImportBadInput, NotAGguf) {
  TempDir tmp;
  test::write_bytes(tmp / "x.gguf", "this is not a gguf file at all");
  std::string err = error_of(tmp / "x.gguf", tmp / "out");
  EXPECT_NE(err.find("x.gguf"), std::string::npos) << err;
  expect_only(tmp, {"x.gguf"});
}

TEST_F(GgufImportBadInput, MissingFile) {
  TempDir tmp;
  std::string err = error_of(tmp / "missing.gguf", tmp / "out");
  EXPECT_NE(err.find("missing.gguf"), std::string::npos) << err;
  expect_only(tmp, {});
}

TEST_F(GgufImportBadInput, UnsupportedArchitecture) {
  TempDir tmp;
  std::string err = error_of(data_path("gguf_import/bad_arch.gguf"), tmp / "out");
  EXPECT_NE(err.find("[gguf-import]"), std::string::npos) << err;
  EXPECT_NE(err.find("'gpt2' is not supported"), std::string::npos) << err;
  EXPECT_NE(err.find("llama, qwen2, qwen3, lfm2"), std::string::npos) << err;
  expect_only(tmp, {});
  GgufFile g = GgufFile::open(data_path("gguf_import/bad_arch.gguf"));
  EXPECT_THROW(config_from_gguf(g), Error);
}

TEST_F(GgufImportBadInput, TensorShapeTheConfigCannotExplain) {
  TempDir tmp;
  std::string err = error_of(data_path("gguf_import/bad_shape.gguf"), tmp / "out");
  EXPECT_NE(err.find("blk.0.attn_q.weight"), std::string::npos) << err;
  expect_only(tmp, {});
}

TEST_F(GgufImportBadInput, UnknownPreTokenizer) {
  TempDir tmp;
  std::string err = error_of(data_path("gguf_import/bad_pre.gguf"), tmp / "out");
  EXPECT_NE(err.find("[tokenizer]"), std::string::npos) << err;
  EXPECT_NE(err.find("'no-such-pre' is not supported"), std::string::npos) << err;
  expect_only(tmp, {});
}

TEST_F(GgufImportBadInput, UnsupportedDtype) {
  TempDir tmp;
  std::string err = error_of(data_path("gguf_import/small_ok.gguf"), tmp / "out", {Dtype::F16, false});
  EXPECT_NE(err.find("F16"), std::string::npos) << err;
  expect_only(tmp, {});
}

TEST_F(GgufImportBadInput, ExistingOutputNeedsForce) {
  TempDir tmp;
  std::filesystem::create_directories(tmp.path / "out");
  test::write_bytes(tmp / "out/keep.txt", "mine");
  std::string err = error_of(data_path("gguf_import/small_ok.gguf"), tmp / "out");
  EXPECT_NE(err.find("already exists"), std::string::npos) << err;
  EXPECT_EQ(test::read_bytes(tmp / "out/keep.txt"), "mine");
  expect_only(tmp, {"out"});

  GgufImportResult r = gguf_import(data_path("gguf_import/small_ok.gguf"), tmp / "out", {Dtype::BF16, true});
  EXPECT_FALSE(path_exists(tmp / "out/keep.txt"));
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                        "generation_config.json"})
    EXPECT_TRUE(path_exists(tmp / ("out/" + std::string(f)))) << f;
  EXPECT_EQ(r.config.model_type, "llama");
  EXPECT_GT(r.n_tensors, 0);
  expect_only(tmp, {"out"});
}

}  // namespace
}  // namespace mc

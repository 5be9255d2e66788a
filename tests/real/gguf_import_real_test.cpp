// Real-model test for `mc model import-gguf`: imports SmolLM2-135M-Instruct.Q4_1.gguf (MC_REAL_GGUF) with
// f32 and with bf16 output and compares every tensor's SHA-256 with tests/data/gguf_import/smollm2_real.json,
// which tools/gen_gguf_import_golden.py real computes from the state dict transformers 5.23 loads from the
// same GGUF (float32, and its torch .to(bfloat16) cast). Skipped when the GGUF is absent unless
// MC_REQUIRE_REAL=1.
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/sha256.h"
#include "io/safetensors.h"
#include "model/config.h"
#include "model/gguf_import.h"
#include "test_util.h"

namespace mc {
namespace {

using test::data_path;
using test::TempDir;

bool have_real_gguf() {
  if (path_exists(MC_REAL_GGUF)) return true;
  const char* req = std::getenv("MC_REQUIRE_REAL");
  if (req && std::string(req) == "1") ADD_FAILURE() << "MC_REQUIRE_REAL=1 but " << MC_REAL_GGUF << " is missing";
  return false;
}

void import_and_compare(Dtype dtype) {
  if (!have_real_gguf()) GTEST_SKIP() << MC_REAL_GGUF << " not present";
  Json exp = json_load(data_path("gguf_import/smollm2_real.json"));
  TempDir tmp;
  const std::string out = tmp / "smollm2";
  log_set_level(LogLevel::Quiet);
  GgufImportResult r = gguf_import(MC_REAL_GGUF, out, {dtype, false});
  log_set_level(LogLevel::Info);

  // Parameter count: transformers' model.num_parameters() (tied lm_head counted once).
  EXPECT_EQ(r.n_parameters, 134515008);
  EXPECT_EQ(r.n_parameters, exp["n_parameters"].get<int64_t>());
  EXPECT_TRUE(r.skipped.empty());

  ModelConfig c = config_load(out);
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.num_hidden_layers, 30);
  EXPECT_EQ(c.hidden_size, 576);
  EXPECT_EQ(c.num_attention_heads, 9);
  EXPECT_EQ(c.num_key_value_heads, 3);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.intermediate_size, 1536);
  EXPECT_EQ(c.vocab_size, 49152);
  EXPECT_TRUE(c.tie_word_embeddings);
  const Json& w = exp["config"];
  EXPECT_EQ(c.vocab_size, w["vocab_size"].get<int64_t>());
  EXPECT_EQ(c.max_position_embeddings, w["max_position_embeddings"].get<int64_t>());
  EXPECT_EQ(c.rope_theta, w["rope_theta"].get<double>());
  EXPECT_EQ(static_cast<float>(c.rms_norm_eps), static_cast<float>(w["rms_norm_eps"].get<double>()));
  EXPECT_EQ(c.bos_token_id, std::vector<int64_t>{w["bos_token_id"].get<int64_t>()});
  EXPECT_EQ(c.eos_token_id, std::vector<int64_t>{w["eos_token_id"].get<int64_t>()});

  SafetensorsFile st = SafetensorsFile::open(out + "/model.safetensors");
  const Json& want = exp["tensors"];
  std::set<std::string> got_names, want_names;
  for (const auto& t : st.tensors()) got_names.insert(t.name);
  for (const auto& [name, v] : want.items()) want_names.insert(name);
  EXPECT_EQ(got_names, want_names);
  const char* key = dtype == Dtype::F32 ? "sha256_f32" : "sha256_bf16";
  int mismatches = 0;
  for (const auto& t : st.tensors()) {
    if (!want.contains(t.name)) continue;
    EXPECT_EQ(t.shape, want[t.name]["shape"].get<std::vector<int64_t>>()) << t.name;
    if (sha256_hex(st.raw(t)) != want[t.name][key].get<std::string>()) {
      ADD_FAILURE() << t.name << ": " << key << " differs from transformers";
      if (++mismatches > 10) break;
    }
  }

  Json tj = json_load(out + "/tokenizer.json");
  EXPECT_EQ(tj["model"]["vocab"].size(), exp["tokenizer"]["n_tokens"].get<size_t>());
  EXPECT_EQ(tj["model"]["merges"].size(), exp["tokenizer"]["n_merges"].get<size_t>());
  std::vector<std::string> special;
  for (const auto& a : tj["added_tokens"])
    if (a["special"].get<bool>()) special.push_back(a["content"].get<std::string>());
  EXPECT_EQ(special, exp["tokenizer"]["special"].get<std::vector<std::string>>());
  Json tc = json_load(out + "/tokenizer_config.json");
  EXPECT_EQ(tc["chat_template"], exp["tokenizer"]["chat_template"]);
  EXPECT_EQ(tc["bos_token"], "<|im_start|>");
  EXPECT_EQ(tc["eos_token"], "<|im_end|>");
  EXPECT_EQ(tc["add_bos_token"], false);
}

TEST(GgufImportReal, SmolLM2F32MatchesTransformers) { import_and_compare(Dtype::F32); }
TEST(GgufImportReal, SmolLM2Bf16MatchesTransformersCast) { import_and_compare(Dtype::BF16); }

}  // namespace
}  // namespace mc

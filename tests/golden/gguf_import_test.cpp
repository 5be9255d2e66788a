// Golden tests for `mc model import-gguf` on tiny GGUF fixtures (tests/data/gguf_import/<name>/), written
// and checked by tools/gen_gguf_import_golden.py tiny. Oracles: transformers 5.23's GGUF loader for the
// tensors (SHA-256 of the float32 state dict and of its bfloat16 cast) and config; the tokenizer.json the
// GGUF was made from (serialised by PyPI tokenizers) for tokenizer.json; transformers' generate_merges
// for the merges of a SentencePiece vocabulary.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

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

Json fixture_json(const std::string& name, const std::string& file) {
  return json_load(data_path("gguf_import/" + name + "/" + file));
}

// Merges in either spelling ("a b" or ["a", "b"]) as pairs.
std::vector<std::pair<std::string, std::string>> merge_pairs(const Json& merges) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& m : merges) {
    if (m.is_string()) {
      std::string s = m.get<std::string>();
      size_t sp = s.find(' ');
      out.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else {
      out.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    }
  }
  return out;
}

int64_t first_id(const Json& v) { return v.is_array() ? v[0].get<int64_t>() : v.get<int64_t>(); }

class GgufImportGolden : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { log_set_level(LogLevel::Quiet); }
  void TearDown() override { log_set_level(LogLevel::Info); }
};

void check_tensors(const std::string& dir, const Json& exp, Dtype dtype) {
  SafetensorsFile st = SafetensorsFile::open(dir + "/model.safetensors");
  const Json& want = exp["tensors"];
  std::set<std::string> got_names;
  for (const auto& t : st.tensors()) got_names.insert(t.name);
  std::set<std::string> want_names;
  for (const auto& [name, v] : want.items()) want_names.insert(name);
  EXPECT_EQ(got_names, want_names);
  const char* key = dtype == Dtype::F32 ? "sha256_f32" : "sha256_bf16";
  for (const auto& t : st.tensors()) {
    if (!want.contains(t.name)) continue;
    const Json& w = want[t.name];
    EXPECT_EQ(t.dtype, dtype) << t.name;
    EXPECT_EQ(t.shape, w["shape"].get<std::vector<int64_t>>()) << t.name;
    EXPECT_EQ(sha256_hex(st.raw(t)), w[key].get<std::string>()) << t.name << " (" << key << ")";
  }
}

void check_config(const std::string& dir, const Json& exp) {
  const Json& w = exp["config"];
  ModelConfig c = config_load(dir);
  EXPECT_EQ(c.model_type, w["model_type"].get<std::string>());
  EXPECT_EQ(c.vocab_size, w["vocab_size"].get<int64_t>());
  EXPECT_EQ(c.hidden_size, w["hidden_size"].get<int64_t>());
  EXPECT_EQ(c.ffn_dim, w["intermediate_size"].get<int64_t>());
  EXPECT_EQ(c.num_hidden_layers, w["num_hidden_layers"].get<int64_t>());
  EXPECT_EQ(c.num_attention_heads, w["num_attention_heads"].get<int64_t>());
  EXPECT_EQ(c.num_key_value_heads, w["num_key_value_heads"].get<int64_t>());
  EXPECT_EQ(c.head_dim, w["head_dim"].get<int64_t>());
  EXPECT_EQ(c.max_position_embeddings, w["max_position_embeddings"].get<int64_t>());
  EXPECT_EQ(c.tie_word_embeddings, w["tie_word_embeddings"].get<bool>());
  // GGUF stores eps as float32; transformers widens it (9.99999974e-06), mc writes the decimal (1e-05).
  EXPECT_EQ(static_cast<float>(c.rms_norm_eps), static_cast<float>(w["rms_norm_eps"].get<double>()));
  EXPECT_EQ(c.rope_theta, w["rope_theta"].get<double>());
  EXPECT_EQ(c.rope_scaling.rope_type, w["rope_type"].get<std::string>());
  for (const char* k : {"bos_token_id", "eos_token_id", "pad_token_id"}) {
    const std::vector<int64_t>& got = k[0] == 'b' ? c.bos_token_id : k[0] == 'e' ? c.eos_token_id : c.pad_token_id;
    if (w[k].is_null()) {
      EXPECT_TRUE(got.empty()) << k;
    } else {
      ASSERT_EQ(got.size(), 1u) << k;
      EXPECT_EQ(got[0], first_id(w[k])) << k;
    }
  }
  if (w.contains("layer_types")) {
    EXPECT_EQ(c.layer_types, w["layer_types"].get<std::vector<std::string>>());
    EXPECT_EQ(c.conv_L_cache, w["conv_L_cache"].get<int64_t>());
  }
  Json gen = json_load(dir + "/generation_config.json");
  for (const char* k : {"bos_token_id", "eos_token_id"}) {
    if (!w[k].is_null()) {
      EXPECT_EQ(gen[k].get<int64_t>(), first_id(w[k])) << k;
    }
  }
}

void check_tokenizer(const std::string& name, const std::string& dir, const Json& exp) {
  Json got = json_load(dir + "/tokenizer.json");
  Json orig = fixture_json(name, "original_tokenizer.json");
  for (const char* k : {"added_tokens", "normalizer", "pre_tokenizer", "post_processor", "decoder"})
    EXPECT_EQ(got[k], orig[k]) << k << "\n got: " << got[k].dump() << "\nwant: " << orig[k].dump();
  const Json& gm = got["model"];
  const Json& om = orig["model"];
  EXPECT_EQ(gm["type"], om["type"]);
  // The vocabulary: every original entry with its id. A GGUF lists added tokens in its one token list,
  // so mc's model.vocab also holds added tokens the original keeps only in added_tokens (<think>);
  // tokenizers treats both spellings alike.
  for (const auto& [tok, id] : om["vocab"].items()) {
    ASSERT_TRUE(gm["vocab"].contains(tok)) << tok;
    EXPECT_EQ(gm["vocab"][tok], id) << tok;
  }
  for (const auto& [tok, id] : gm["vocab"].items()) {
    if (om["vocab"].contains(tok)) continue;
    bool added = false;
    for (const auto& a : orig["added_tokens"]) added = added || (a["content"] == tok && a["id"] == id);
    EXPECT_TRUE(added) << "extra vocabulary entry " << tok;
  }
  for (const char* k : {"unk_token", "fuse_unk", "byte_fallback", "dropout"}) EXPECT_EQ(gm[k], om[k]) << k;
  EXPECT_EQ(gm.value("ignore_merges", false), om.value("ignore_merges", false));
  if (exp.contains("transformers_merges")) {
    // SentencePiece: no merges in the GGUF; they are recovered from the scores as transformers does.
    EXPECT_EQ(merge_pairs(gm["merges"]), merge_pairs(exp["transformers_merges"]));
  } else {
    EXPECT_EQ(merge_pairs(gm["merges"]), merge_pairs(om["merges"]));
  }

  Json tc = json_load(dir + "/tokenizer_config.json");
  if (exp["chat_template"].is_null()) {
    EXPECT_FALSE(tc.contains("chat_template"));
  } else {
    EXPECT_EQ(tc["chat_template"], exp["chat_template"]);
  }
  // Special token strings name the config's ids.
  const Json& w = exp["config"];
  auto token_of = [&](int64_t id) {
    for (const auto& [tok, i] : gm["vocab"].items())
      if (i.get<int64_t>() == id) return tok;
    return std::string();
  };
  if (!w["bos_token_id"].is_null()) {
    EXPECT_EQ(tc["bos_token"].get<std::string>(), token_of(first_id(w["bos_token_id"])));
  }
  if (!w["eos_token_id"].is_null()) {
    EXPECT_EQ(tc["eos_token"].get<std::string>(), token_of(first_id(w["eos_token_id"])));
  }
  EXPECT_EQ(tc["model_max_length"].get<int64_t>(), w["max_position_embeddings"].get<int64_t>());
}

TEST_P(GgufImportGolden, F32MatchesTransformers) {
  const std::string name = GetParam();
  Json exp = fixture_json(name, "expected.json");
  TempDir tmp;
  const std::string out = tmp / "model";
  GgufImportResult r = gguf_import(data_path("gguf_import/" + name + "/model.gguf"), out, {Dtype::F32, false});
  check_tensors(out, exp, Dtype::F32);
  check_config(out, exp);
  check_tokenizer(name, out, exp);
  EXPECT_EQ(r.n_parameters, exp["n_parameters"].get<int64_t>());
  EXPECT_EQ(r.skipped, exp["skipped"].get<std::vector<std::string>>());
  EXPECT_EQ(config_load(out).dtype, "float32");
}

TEST_P(GgufImportGolden, Bf16MatchesTransformersCast) {
  const std::string name = GetParam();
  Json exp = fixture_json(name, "expected.json");
  TempDir tmp;
  const std::string out = tmp / "model";
  gguf_import(data_path("gguf_import/" + name + "/model.gguf"), out, {Dtype::BF16, false});
  check_tensors(out, exp, Dtype::BF16);
  EXPECT_EQ(config_load(out).dtype, "bfloat16");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GgufImportGolden, ::testing::Values("llama", "qwen2", "qwen3", "lfm2", "spm"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace mc

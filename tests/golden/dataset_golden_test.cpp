// Training examples against transformers 5.23: every record in tests/data/datasets/golden_<name>.jsonl
// (written by tools/gen_dataset_goldens.py) is tokenized with ModelTokenizerBundle + tokenize_record,
// and the input ids and loss mask must equal the reference exactly. The reference ids are
// apply_chat_template(tokenize=True) / tokenizer(...) ids; the reference mask marks tokens whose offset
// mapping overlaps the assistant spans the script finds by rendering message prefixes (the completion's
// bytes for prompt/completion records, every token for text). Models: Qwen3, Llama-3, Mistral (with the
// Mistral-7B-Instruct-v0.2 template) and SmolLM2.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "io/dataset/model_tokenizer.h"
#include "io/dataset/record.h"
#include "io/dataset/tokenize.h"
#include "test_util.h"

namespace mc {
namespace {

// The minimum number of chat conversations each golden must hold (issue 3: "≥ 20 per template").
constexpr size_t kMinChatExamples = 20;

struct Golden {
  OrderedJson meta;
  std::vector<OrderedJson> rows;
};

Golden load_golden(const std::string& name) {
  Golden g;
  std::ifstream f(test::data_path("datasets/golden_" + name + ".jsonl"), std::ios::binary);
  EXPECT_TRUE(f.good()) << name;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    OrderedJson j = OrderedJson::parse(line);
    if (j.contains("meta")) {
      g.meta = j["meta"];
    } else {
      g.rows.push_back(std::move(j));
    }
  }
  return g;
}

std::string mask_string(const std::vector<uint8_t>& m) {
  std::string s;
  for (uint8_t b : m) s += b ? '1' : '0';
  return s;
}

class DatasetGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(DatasetGolden, IdsAndMaskEqualTransformers) {
  const std::string name = GetParam();
  Golden g = load_golden(name);
  ASSERT_FALSE(g.rows.empty());
  ASSERT_EQ(g.meta["count"].get<size_t>(), g.rows.size());

  // The model directory: a shared tokenizer folder, or tests/data/datasets/<name> (tokenizer_config.json)
  // joined with a tokenizer.json from elsewhere in tests/data.
  test::TempDir tmp;
  std::string model = g.meta["model"].get<std::string>();
  std::string dir;
  if (model.rfind("shared:", 0) == 0) {
    dir = test::data_path("../../../shared/assets/tokenizers/" + model.substr(7));
  } else {
    dir = tmp / "model";
    std::filesystem::create_directories(dir);
    std::filesystem::copy_file(test::data_path(model + "/tokenizer_config.json"), dir + "/tokenizer_config.json");
    std::filesystem::copy_file(test::data_path(g.meta["tokenizer_json"].get<std::string>()), dir + "/tokenizer.json");
  }
  BundleOptions bo;
  if (g.meta["chat_template"].is_string()) bo.chat_template_file = test::data_path(g.meta["chat_template"].get<std::string>());
  ModelTokenizerBundle bundle = ModelTokenizerBundle::load(dir, bo);
  ASSERT_NE(bundle.chat_template(), nullptr);
  for (const auto& m : g.meta["end_markers"]) {
    const auto& markers = bundle.end_markers();
    EXPECT_NE(std::find(markers.begin(), markers.end(), m.get<std::string>()), markers.end())
        << "end marker " << m << " not derived from the model files";
  }

  size_t chat = 0, checked = 0, trained_tokens = 0;
  for (const OrderedJson& row : g.rows) {
    const std::string id = row["id"].get<std::string>();
    SCOPED_TRACE(id);
    Record rec = record_from_json(row["record"], id);
    TokenizeOptions opt;
    opt.prompt_completion_as_chat = row["options"].value("prompt_completion_as_chat", false);
    opt.append_eos = g.meta["append_eos"].get<bool>();
    TokenizedExample ex;
    try {
      ex = tokenize_record(bundle, rec, opt);
    } catch (const Error& e) {
      ADD_FAILURE() << e.what();
      continue;
    }
    EXPECT_EQ(ex.input_ids, row["input_ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(mask_string(ex.loss_mask), row["loss_mask"].get<std::string>());
    // The display path computes the same example.
    TokenizedView v = tokenize_record_view(bundle, rec, opt);
    EXPECT_EQ(v.example.input_ids, ex.input_ids);
    EXPECT_EQ(v.example.loss_mask, ex.loss_mask);
    if (rec.kind == RecordKind::Messages) chat++;
    trained_tokens += ex.loss_tokens();
    checked++;
  }
  EXPECT_GE(chat, kMinChatExamples);
  EXPECT_GT(trained_tokens, 0u);
  EXPECT_EQ(checked, g.rows.size());
}

INSTANTIATE_TEST_SUITE_P(Models, DatasetGolden, ::testing::Values("qwen3", "llama3", "mistral", "smollm2"));

// token_offsets on real tokenizers and random text: the token byte ranges must run through the text in
// order and cover every byte (for text the normalizer leaves alone: partition it exactly). Covers the
// NFC path (Qwen3 on decomposed accents), SentencePiece spaces with the LlamaTokenizer rebuild
// (Metaspace) and as tokenizer.json has them (Prepend normalizer: a zero-width U+2581 at segment starts),
// byte fallback, byte-level pieces that split characters, and added tokens inside the text.
struct OffsetsCase {
  std::string name;
  std::string dir;          // model directory under shared/assets/tokenizers
  bool tokenizer_json_only;  // copy tokenizer.json alone (no config: no class rebuild)
};

void PrintTo(const OffsetsCase& c, std::ostream* os) { *os << c.name; }

class TokenOffsetsProperty : public ::testing::TestWithParam<OffsetsCase> {};

TEST_P(TokenOffsetsProperty, CoverTheTextInOrder) {
  const OffsetsCase& c = GetParam();
  test::TempDir tmp;
  std::string dir = test::data_path("../../../shared/assets/tokenizers/" + c.dir);
  if (c.tokenizer_json_only) {
    std::filesystem::copy_file(dir + "/tokenizer.json", tmp / "tokenizer.json");
    dir = tmp.path.string();
  }
  ModelTokenizerBundle b = ModelTokenizerBundle::load(dir);
  // Decomposed accents and U+FB01 are changed by NFC/NFKC; the rest is stable.
  const std::vector<std::string> pieces = {
      "hello", " world", "  ", "   ", "\n", "\n\n", "\t", "e\xCC\x81", "a\xCC\x88", "\xC3\xA9",
      "\xEF\xAC\x81ne", "\xE2\x96\x81", "\xE2\x96\x81\xE2\x96\x81x",
      "\xE6\x9D\xB1\xE4\xBA\xAC", "\xF0\x9F\x98\x80",
      "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9", "123", "4567", "3.14", "<s>", "</s>",
      "<|im_start|>", "<|im_end|>", "<|eot_id|>", "don't",
      "\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7",
      "\xE0\xA4\x95\xE0\xA5\x8D\xE0\xA4\xB7", " ", ".", "x", "\r\n",
  };
  std::mt19937 rng(1234);
  size_t checked = 0;
  for (int trial = 0; trial < 300; trial++) {
    std::string text;
    int n = 1 + static_cast<int>(rng() % 8);
    bool normalizable = false;
    for (int k = 0; k < n; k++) {
      size_t pick = rng() % pieces.size();
      normalizable = normalizable || pick == 7 || pick == 8 || pick == 10;
      text += pieces[pick];
    }
    SCOPED_TRACE(text);
    std::vector<int32_t> ids = b.tokenizer().encode(text, false);
    std::vector<TokenSpan> off;
    try {
      off = token_offsets(b, text, ids, "case");
    } catch (const Error& e) {
      ADD_FAILURE() << e.what();
      continue;
    }
    ASSERT_EQ(off.size(), ids.size());
    size_t covered = 0;
    bool partition = true;
    for (size_t k = 0; k < off.size(); k++) {
      EXPECT_LE(off[k].begin, off[k].end);
      EXPECT_LE(off[k].end, text.size());
      if (k > 0) {
        EXPECT_GE(off[k].begin, off[k - 1].begin);
        EXPECT_GE(off[k].end, off[k - 1].end);
      }
      EXPECT_LE(off[k].begin, covered) << "a gap before token " << k;
      if (off[k].begin != covered) partition = false;
      covered = std::max(covered, off[k].end);
    }
    EXPECT_EQ(covered, text.size());
    if (!normalizable) {
      EXPECT_TRUE(partition);
    }
    checked++;
  }
  EXPECT_EQ(checked, 300u);
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, TokenOffsetsProperty,
                         ::testing::Values(OffsetsCase{"qwen3", "qwen3", false}, OffsetsCase{"llama3", "llama3", false},
                                           OffsetsCase{"mistral", "mistral", false},
                                           OffsetsCase{"mistral_tokenizer_json", "mistral", true}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace mc

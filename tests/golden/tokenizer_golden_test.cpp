// Golden test: mc::Tokenizer encode/decode against Hugging Face `tokenizers` 0.23.3 on the strings
// tools/gen_tokenizer_goldens.py recorded (tests/data/tokenizers/golden_<name>.jsonl): the real
// Qwen3, Llama-3 and Mistral tokenizers (shared/assets/tokenizers), SmolLM2's (derived from the GGUF),
// variants of them ("overlays") and small synthetic tokenizers covering the remaining components.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <iostream>
#include <sstream>

#include "core/error.h"
#include "core/json.h"
#include "io/tokenizer/components.h"
#include "io/tokenizer/tokenizer.h"
#include "io/tokenizer/unicode.h"
#include "test_util.h"

namespace {

using mc::Json;

std::string shared_tokenizers_dir() { return mc::test::data_path("../../../shared/assets/tokenizers"); }

std::string resolve(const std::string& src) {
  if (src.rfind("shared:", 0) == 0) return shared_tokenizers_dir() + "/" + src.substr(7);
  return mc::test::data_path("tokenizers/" + src);
}

mc::Tokenizer load_named(const std::string& source) {
  if (source.rfind("overlay:", 0) == 0) {
    std::string name = source.substr(8);
    Json ov = mc::json_load(mc::test::data_path("tokenizers/overlays.json"));
    const Json& spec = ov.at(name);
    std::string base = resolve(spec.at("base").get<std::string>());
    Json j = mc::json_load(base);
    for (auto it = spec.at("replace").begin(); it != spec.at("replace").end(); ++it) j[it.key()] = it.value();
    return mc::Tokenizer::from_json(j, base + " (overlay " + name + ")");
  }
  return mc::Tokenizer::load(resolve(source));
}

std::string unhex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

std::string show(const std::string& s) { return Json(mc::tok::utf8_lossy(s)).dump(); }

std::string show_ids(const std::vector<int32_t>& v) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
  os << "]";
  return os.str();
}

class TokenizerGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerGolden, MatchesHuggingFace) {
  const std::string path = mc::test::data_path("tokenizers/golden_" + GetParam() + ".jsonl");
  std::ifstream f(path);
  ASSERT_TRUE(f) << "missing golden file " << path;
  std::string line;
  ASSERT_TRUE(std::getline(f, line));
  Json meta = Json::parse(line);
  const std::string source = meta.at("source").get<std::string>();
  mc::Tokenizer tok = load_named(source);
  EXPECT_EQ(tok.vocab_size(), meta.at("vocab_size").get<int32_t>());
  EXPECT_EQ(tok.model_vocab_size(), meta.at("model_vocab_size").get<size_t>());
  std::vector<std::string> specials = meta.at("specials").get<std::vector<std::string>>();
  std::vector<std::string> ours = tok.special_tokens();
  std::sort(specials.begin(), specials.end());
  std::sort(ours.begin(), ours.end());
  EXPECT_EQ(ours, specials);

  const auto prefix_ids = meta.at("prefix_ids").get<std::vector<int32_t>>();
  const auto suffix_ids = meta.at("suffix_ids").get<std::vector<int32_t>>();

  size_t n = 0, failed = 0, compared = 0;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    Json rec = Json::parse(line);
    ++n;
    std::string text;
    if (rec.contains("b")) {
      text = unhex(rec["b"].get<std::string>());
    } else {
      text = rec["t"].get<std::string>();
    }
    const auto e = rec.at("e").get<std::vector<int32_t>>();
    std::vector<int32_t> s = prefix_ids;
    s.insert(s.end(), e.begin(), e.end());
    s.insert(s.end(), suffix_ids.begin(), suffix_ids.end());
    if (rec.contains("s")) s = rec["s"].get<std::vector<int32_t>>();
    const std::string hf_text = mc::tok::utf8_lossy(text);  // HF saw bytes.decode("utf-8", "replace")
    const std::string d = rec.contains("d") ? rec["d"].get<std::string>() : hf_text;
    const std::string k = rec.contains("k") ? rec["k"].get<std::string>() : hf_text;

    std::vector<int32_t> got_e, got_s;
    std::string got_d, got_k;
    try {
      got_e = tok.encode(text, false);
      got_s = tok.encode(text, true);
      got_d = tok.decode(s, false);
      got_k = tok.decode(s, true);
    } catch (const mc::Error& err) {
      ADD_FAILURE() << "record " << n << ": " << err.what();
      ++failed;
      continue;
    }
    compared += 4;
    bool ok = got_e == e && got_s == s && got_d == d && got_k == k;
    if (!ok && ++failed <= 8) {
      ADD_FAILURE() << GetParam() << " record " << n << " text " << show(text) << "\n"
                    << (got_e == e ? "" : "  encode:      " + show_ids(got_e) + "\n  expected:    " + show_ids(e) + "\n")
                    << (got_s == s ? "" : "  encode+sp:   " + show_ids(got_s) + "\n  expected:    " + show_ids(s) + "\n")
                    << (got_d == d ? "" : "  decode:      " + show(got_d) + "\n  expected:    " + show(d) + "\n")
                    << (got_k == k ? "" : "  decode-skip: " + show(got_k) + "\n  expected:    " + show(k) + "\n");
    }
  }
  EXPECT_EQ(n, meta.at("count").get<size_t>());
  EXPECT_EQ(failed, 0u) << failed << " of " << n << " strings differ";
  std::cout << "[tokenizer golden] " << GetParam() << ": " << n << " strings, " << compared
            << " encode/decode results compared, " << failed << " mismatching strings\n";
  RecordProperty("strings", static_cast<int>(n));
}

INSTANTIATE_TEST_SUITE_P(All, TokenizerGolden,
                         ::testing::Values("qwen3", "llama3", "mistral", "smollm2", "mistral_metaspace",
                                           "qwen3_split_llama3", "synth_bytelevel", "synth_spbpe_fallback",
                                           "synth_spbpe_unk", "synth_plain"),
                         [](const auto& info) { return info.param; });

}  // namespace

namespace {

// Property: byte-level tokenizers without a normalizer give back exactly the text they encoded.
TEST(TokenizerRoundTrip, ByteLevelDecodeEncodeIsIdentity) {
  std::mt19937 rng(12345);
  // SmolLM2's vocabulary lacks some byte characters (e.g. for 0xF1, a lead byte of plane 4-7 code
  // points); the reference drops such bytes too, so the property only holds for the others.
  auto random_text = [&](const mc::Tokenizer& tok) {
    static const std::pair<char32_t, char32_t> ranges[] = {
        {0x20, 0x7E}, {0x09, 0x0D}, {0xA0, 0x2FF}, {0x300, 0x36F}, {0x400, 0x4FF}, {0x600, 0x6FF},
        {0x900, 0x97F}, {0x3040, 0x30FF}, {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3}, {0xE000, 0xF8FF},
        {0x1F300, 0x1FAFF}, {0x10000, 0x10FFFF}};
    std::string s;
    int n = static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      const auto& r = ranges[rng() % (sizeof(ranges) / sizeof(ranges[0]))];
      char32_t cp = r.first + static_cast<char32_t>(rng() % (r.second - r.first + 1));
      if (rng() % 4 == 0) cp = U' ';
      std::string ch;
      mc::tok::utf8_append(ch, cp);
      bool covered = true;
      for (char b : ch) covered = covered && tok.token_to_id(mc::tok::byte_level_char(static_cast<unsigned char>(b)));
      if (covered) s += ch;
    }
    return s;
  };
  for (const std::string source : {"shared:llama3/tokenizer.json", "smollm2/tokenizer.json"}) {
    mc::Tokenizer tok = load_named(source);
    int bad = 0;
    for (int k = 0; k < 3000; ++k) {
      std::string s = random_text(tok);
      std::string back = tok.decode(tok.encode(s, false), false);
      if (back != s && ++bad <= 5) ADD_FAILURE() << source << ": " << show(s) << " -> " << show(back);
    }
    EXPECT_EQ(bad, 0) << source;
  }
}

}  // namespace

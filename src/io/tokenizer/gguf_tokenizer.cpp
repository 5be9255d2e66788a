#include "io/tokenizer/gguf_tokenizer.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <unordered_map>

#include "core/error.h"
#include "core/log.h"

namespace mc {

namespace {

// Pre-tokenizer regexes as the original tokenizer.json files spell them (spec/ecosystem.md §4.4).
const char* const kLlama3Split =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kQwen2Split =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// How a byte-level vocabulary splits text before BPE. The groups follow llama.cpp's pre-tokenizer
// types (src/llama-vocab.cpp); each is given the structure of the original HF tokenizer.json of a
// model in the group.
enum class PreFamily {
  Gpt2,         // GPT-2 regex inside ByteLevel
  DigitsGpt2,   // llama.cpp "\p{N}" then the GPT-2 regex = HF Digits(individual) + ByteLevel (SmolLM2, StarCoder)
  Llama3,       // Llama-3 regex, ignore_merges (Llama-3, LFM2)
  Qwen2,        // NFC, Qwen2 regex (single digits)
};

const std::vector<std::pair<std::string, PreFamily>>& pre_table() {
  static const std::vector<std::pair<std::string, PreFamily>> t = {
      {"gpt-2", PreFamily::Gpt2},          {"phi-2", PreFamily::Gpt2},
      {"smollm", PreFamily::DigitsGpt2},   {"starcoder", PreFamily::DigitsGpt2},
      {"refact", PreFamily::DigitsGpt2},   {"command-r", PreFamily::DigitsGpt2},
      {"codeshell", PreFamily::DigitsGpt2}, {"exaone", PreFamily::DigitsGpt2},
      {"minerva-7b", PreFamily::DigitsGpt2},
      {"llama3", PreFamily::Llama3},       {"llama-v3", PreFamily::Llama3},
      {"llama-bpe", PreFamily::Llama3},    {"falcon3", PreFamily::Llama3},
      {"falcon-h1", PreFamily::Llama3},    {"pixtral", PreFamily::Llama3},
      {"midm-2.0", PreFamily::Llama3},     {"lfm2", PreFamily::Llama3},
      {"qwen2", PreFamily::Qwen2},         {"deepseek-r1-qwen", PreFamily::Qwen2},
      {"megrez", PreFamily::Qwen2},
  };
  return t;
}

struct Meta {
  const GgufFile& g;

  [[noreturn]] void fail(const std::string& msg) const { throw Error("tokenizer", g.path() + ": " + msg); }

  const GgufValue* array(const std::string& key, bool required) const {
    const GgufValue* v = g.find(key);
    if (!v) {
      if (required) fail(str("missing '", key, "' (the GGUF has no tokenizer)"));
      return nullptr;
    }
    if (!v->is_array()) fail(str("'", key, "' must be an array"));
    return v;
  }

  std::vector<std::string> strings(const std::string& key, bool required) const {
    std::vector<std::string> out;
    const GgufValue* v = array(key, required);
    if (!v) return out;
    if (v->elem_type != GgufValueType::STRING) fail(str("'", key, "' must be an array of strings"));
    out.reserve(v->arr.size());
    for (const auto& e : v->arr) {
      const std::string* s = e.as_string();
      if (!s) fail(str("'", key, "' must be an array of strings"));
      out.push_back(*s);
    }
    return out;
  }

  std::optional<int64_t> id(const std::string& key, size_t n_tokens) const {
    if (!g.find(key)) return std::nullopt;
    std::optional<int64_t> v = g.get_int(key);
    if (!v) fail(str("'", key, "' must be an integer"));
    // Some converters write -1 (as an unsigned 0xFFFFFFFF) for "no such token".
    if (*v == -1 || *v == 0xFFFFFFFFll) return std::nullopt;
    if (*v < 0 || *v >= static_cast<int64_t>(n_tokens))
      fail(str("'", key, "' = ", *v, " is outside the vocabulary (", n_tokens, " tokens)"));
    return v;
  }

  std::optional<bool> flag(const std::string& key) const {
    const GgufValue* v = g.find(key);
    if (!v) return std::nullopt;
    if (v->type != GgufValueType::BOOL) fail(str("'", key, "' must be a bool"));
    return v->u != 0;
  }
};

// Returns the number of code points, or nullopt if `s` is not valid UTF-8 (overlongs, surrogates and
// values above U+10FFFF are invalid too). `starts`, when given, receives each code point's byte offset.
std::optional<size_t> utf8_length(const std::string& s, std::vector<size_t>* starts = nullptr) {
  size_t n = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0, len = s.size();
  while (i < len) {
    unsigned char c = p[i];
    size_t k;
    uint32_t cp;
    if (c < 0x80) { k = 1; cp = c; }
    else if ((c & 0xE0) == 0xC0) { k = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { k = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { k = 4; cp = c & 0x07; }
    else return std::nullopt;
    if (i + k > len) return std::nullopt;
    for (size_t j = 1; j < k; ++j) {
      if ((p[i + j] & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (p[i + j] & 0x3F);
    }
    static const uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
    if (starts) starts->push_back(i);
    i += k;
    ++n;
  }
  return n;
}

OrderedJson added_token(int64_t id, const std::string& content, bool special) {
  OrderedJson t;
  t["id"] = id;
  t["content"] = content;
  t["single_word"] = false;
  t["lstrip"] = false;
  t["rstrip"] = false;
  t["normalized"] = false;
  t["special"] = special;
  return t;
}

OrderedJson byte_level(bool add_prefix_space, bool trim_offsets, bool use_regex) {
  OrderedJson j;
  j["type"] = "ByteLevel";
  j["add_prefix_space"] = add_prefix_space;
  j["trim_offsets"] = trim_offsets;
  j["use_regex"] = use_regex;
  return j;
}

OrderedJson split_regex(const char* regex) {
  OrderedJson j;
  j["type"] = "Split";
  j["pattern"] = {{"Regex", regex}};
  j["behavior"] = "Isolated";
  j["invert"] = false;
  return j;
}

OrderedJson sequence(const char* list_key, std::vector<OrderedJson> items) {
  OrderedJson j;
  j["type"] = "Sequence";
  j[list_key] = OrderedJson::array();
  for (auto& i : items) j[list_key].push_back(std::move(i));
  return j;
}

// TemplateProcessing as tokenizers serialises it, with the bos/eos wrapping transformers'
// update_post_processor builds from add_bos_token / add_eos_token.
OrderedJson template_processing(const std::optional<std::pair<std::string, int64_t>>& bos,
                                const std::optional<std::pair<std::string, int64_t>>& eos) {
  auto special = [](const std::string& id, int type_id) {
    return OrderedJson{{"SpecialToken", {{"id", id}, {"type_id", type_id}}}};
  };
  auto seq = [](const char* id, int type_id) { return OrderedJson{{"Sequence", {{"id", id}, {"type_id", type_id}}}}; };
  OrderedJson single = OrderedJson::array(), pair = OrderedJson::array();
  if (bos) single.push_back(special(bos->first, 0));
  single.push_back(seq("A", 0));
  if (eos) single.push_back(special(eos->first, 0));
  pair = single;
  if (bos) pair.push_back(special(bos->first, 1));
  pair.push_back(seq("B", 1));
  if (eos) pair.push_back(special(eos->first, 1));
  OrderedJson specials = OrderedJson::object();
  for (const auto* t : {&bos, &eos}) {
    if (*t) specials[(*t)->first] = {{"id", (*t)->first}, {"ids", {(*t)->second}}, {"tokens", {(*t)->first}}};
  }
  OrderedJson j;
  j["type"] = "TemplateProcessing";
  j["single"] = single;
  j["pair"] = pair;
  j["special_tokens"] = specials;
  return j;
}

}  // namespace

const std::vector<std::string>& gguf_tokenizer_models() {
  static const std::vector<std::string> m = {"gpt2", "llama"};
  return m;
}

const std::vector<std::string>& gguf_tokenizer_pre_types() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& [name, fam] : pre_table()) v.push_back(name);
    return v;
  }();
  return names;
}

std::vector<std::pair<std::string, std::string>> merges_from_scores(const std::vector<std::string>& tokens,
                                                                    const std::vector<double>& scores) {
  MC_CHECK(tokens.size() == scores.size(), "tokens/scores size mismatch");
  // Python dict semantics of generate_merges: vocab maps a token to its LAST index; the score dict
  // iterates tokens in first-occurrence order with the LAST score.
  std::unordered_map<std::string, int64_t> vocab;
  std::unordered_map<std::string, double> score;
  std::vector<const std::string*> order;
  vocab.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (!score.count(tokens[i])) order.push_back(&tokens[i]);
    vocab[tokens[i]] = static_cast<int64_t>(i);
    score[tokens[i]] = scores[i];
  }
  struct Merge {
    std::string l, r;
    double      score;
    size_t      len_l, len_r;  // code points
  };
  std::vector<Merge> merges;
  std::vector<size_t> starts;
  for (const std::string* tok : order) {
    starts.clear();
    std::optional<size_t> n = utf8_length(*tok, &starts);
    if (!n) continue;  // callers validate; an invalid token has no splits
    std::vector<Merge> local;
    for (size_t k = 1; k < *n; ++k) {
      std::string l = tok->substr(0, starts[k]), r = tok->substr(starts[k]);
      if (vocab.count(l) && vocab.count(r)) local.push_back({std::move(l), std::move(r), score[*tok], k, *n - k});
    }
    std::stable_sort(local.begin(), local.end(), [&](const Merge& a, const Merge& b) {
      int64_t al = vocab[a.l], bl = vocab[b.l];
      return al != bl ? al < bl : vocab[a.r] < vocab[b.r];
    });
    for (auto& m : local) merges.push_back(std::move(m));
  }
  // sorted(key=(score, len(l), len(r)), reverse=True): descending, stable for equal keys.
  std::stable_sort(merges.begin(), merges.end(), [](const Merge& a, const Merge& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.len_l != b.len_l) return a.len_l > b.len_l;
    return a.len_r > b.len_r;
  });
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(merges.size());
  for (auto& m : merges) out.emplace_back(std::move(m.l), std::move(m.r));
  return out;
}

HfTokenizerFiles tokenizer_from_gguf(const GgufFile& g) {
  Meta m{g};
  std::optional<std::string> model = g.get_string("tokenizer.ggml.model");
  if (!model) {
    if (g.find("tokenizer.ggml.model")) m.fail("'tokenizer.ggml.model' must be a string");
    m.fail("missing 'tokenizer.ggml.model' (the GGUF has no tokenizer)");
  }
  const auto& models = gguf_tokenizer_models();
  if (std::find(models.begin(), models.end(), *model) == models.end())
    m.fail(str("tokenizer.ggml.model '", *model, "' is not supported (supported: gpt2, llama)"));
  const bool spm = *model == "llama";

  std::vector<std::string> tokens = m.strings("tokenizer.ggml.tokens", true);
  if (tokens.empty()) m.fail("'tokenizer.ggml.tokens' is empty");
  const size_t n = tokens.size();
  for (size_t i = 0; i < n; ++i)
    if (!utf8_length(tokens[i])) m.fail(str("token ", i, " is not valid UTF-8"));

  std::vector<int32_t> types(n, static_cast<int32_t>(GgufTokenType::Normal));
  if (const GgufValue* tv = m.array("tokenizer.ggml.token_type", false)) {
    if (tv->arr.size() != n)
      m.fail(str("'tokenizer.ggml.token_type' has ", tv->arr.size(), " entries but there are ", n, " tokens"));
    for (size_t i = 0; i < n; ++i) {
      std::optional<int64_t> t = tv->arr[i].as_int();
      if (!t) m.fail("'tokenizer.ggml.token_type' must be an array of integers");
      types[i] = static_cast<int32_t>(*t);
    }
  }

  // Merges: stored ones ("a b" strings), else (SentencePiece) recovered from the scores.
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<std::string> merge_strings = m.strings("tokenizer.ggml.merges", false);
  if (!merge_strings.empty() || g.find("tokenizer.ggml.merges")) {
    merges.reserve(merge_strings.size());
    for (size_t i = 0; i < merge_strings.size(); ++i) {
      const std::string& s = merge_strings[i];
      size_t sp = s.find(' ');
      if (sp == std::string::npos || sp == 0 || sp + 1 == s.size() || s.find(' ', sp + 1) != std::string::npos)
        m.fail(str("merge ", i, " ('", s, "') is not two tokens separated by one space"));
      if (!utf8_length(s)) m.fail(str("merge ", i, " is not valid UTF-8"));
      merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    }
  } else if (spm) {
    const GgufValue* sv = m.array("tokenizer.ggml.scores", false);
    if (!sv) m.fail("a 'llama' tokenizer needs 'tokenizer.ggml.scores' or 'tokenizer.ggml.merges'");
    if (sv->arr.size() != n)
      m.fail(str("'tokenizer.ggml.scores' has ", sv->arr.size(), " entries but there are ", n, " tokens"));
    std::vector<double> scores(n);
    for (size_t i = 0; i < n; ++i) {
      std::optional<double> s = sv->arr[i].as_float();
      if (!s || std::isnan(*s)) m.fail(str("'tokenizer.ggml.scores' entry ", i, " is not a number"));
      scores[i] = *s;
    }
    merges = merges_from_scores(tokens, scores);
  } else {
    m.fail("a 'gpt2' tokenizer needs 'tokenizer.ggml.merges'");
  }

  // Pre-tokenizer family (byte-level only).
  PreFamily family = PreFamily::Gpt2;
  std::string pre = g.get_string("tokenizer.ggml.pre").value_or("");
  if (!spm) {
    if (pre.empty())
      m.fail("'tokenizer.ggml.pre' is missing: cannot tell how this byte-level vocabulary splits text");
    auto it = std::find_if(pre_table().begin(), pre_table().end(), [&](const auto& e) { return e.first == pre; });
    if (it == pre_table().end()) {
      std::string list;
      for (const auto& name : gguf_tokenizer_pre_types()) list += (list.empty() ? "" : ", ") + name;
      m.fail(str("tokenizer.ggml.pre '", pre, "' is not supported (supported: ", list, ")"));
    }
    family = it->second;
  }

  // Special tokens.
  auto bos_id = m.id("tokenizer.ggml.bos_token_id", n);
  auto eos_id = m.id("tokenizer.ggml.eos_token_id", n);
  auto unk_id = m.id("tokenizer.ggml.unknown_token_id", n);
  auto pad_id = m.id("tokenizer.ggml.padding_token_id", n);
  // transformers: a SentencePiece vocabulary adds BOS unless the file says otherwise (as llama.cpp does).
  bool add_bos = m.flag("tokenizer.ggml.add_bos_token").value_or(spm);
  bool add_eos = m.flag("tokenizer.ggml.add_eos_token").value_or(false);
  if (add_bos && !bos_id) {
    log_warn(str(g.path(), ": add_bos_token is set but there is no bos token; not adding one"));
    add_bos = false;
  }
  if (add_eos && !eos_id) add_eos = false;
  auto tok = [&](std::optional<int64_t> id) -> OrderedJson {
    return id ? OrderedJson(tokens[static_cast<size_t>(*id)]) : OrderedJson(nullptr);
  };

  // tokenizer.json
  OrderedJson added = OrderedJson::array();
  OrderedJson added_decoder = OrderedJson::object();
  for (size_t i = 0; i < n; ++i) {
    auto t = static_cast<GgufTokenType>(types[i]);
    bool special = t == GgufTokenType::Control || (spm && t == GgufTokenType::Unknown);
    bool user = t == GgufTokenType::UserDefined;
    if (!special && !user) continue;
    OrderedJson a = added_token(static_cast<int64_t>(i), tokens[i], special);
    OrderedJson d = a;
    d.erase("id");
    added_decoder[std::to_string(i)] = d;
    added.push_back(std::move(a));
  }

  OrderedJson vocab = OrderedJson::object();
  size_t duplicates = 0;
  for (size_t i = 0; i < n; ++i) {
    if (vocab.contains(tokens[i])) ++duplicates;
    vocab[tokens[i]] = static_cast<int64_t>(i);  // the last id wins, as in a Python dict
  }
  if (duplicates)
    log_warn(str(g.path(), ": ", duplicates, " duplicate token strings; tokenizer.json keeps the last id of each"));
  OrderedJson merges_json = OrderedJson::array();
  for (auto& [a, b] : merges) merges_json.push_back(OrderedJson::array({a, b}));

  OrderedJson normalizer = nullptr, pre_tokenizer = nullptr, post = nullptr, decoder = nullptr;
  bool ignore_merges = false;
  std::optional<std::pair<std::string, int64_t>> bos_pair, eos_pair;
  if (add_bos) bos_pair = std::make_pair(tokens[static_cast<size_t>(*bos_id)], *bos_id);
  if (add_eos) eos_pair = std::make_pair(tokens[static_cast<size_t>(*eos_id)], *eos_id);
  const bool wrap = add_bos || add_eos;

  if (spm) {
    // SentencePiece semantics as the original HF files (and llama.cpp, which prefixes a space to every
    // text fragment) have them: normalizer Prepend("▁") + Replace(" " → "▁"), no pre-tokenizer, and the
    // Replace / ByteFallback / Fuse / Strip decoder. transformers' GGUF loader uses Metaspace with
    // prepend_scheme "first" instead, which drops the extra "▁" before text that starts with a space.
    // add_space_prefix = false means no prefix at all.
    bool prefix = m.flag("tokenizer.ggml.add_space_prefix").value_or(true);
    std::vector<OrderedJson> norms;
    if (prefix) norms.push_back({{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}});
    norms.push_back({{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}});
    normalizer = sequence("normalizers", std::move(norms));
    std::vector<OrderedJson> decoders = {
        {{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
        {{"type", "ByteFallback"}},
        {{"type", "Fuse"}},
    };
    if (prefix) decoders.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
    decoder = sequence("decoders", std::move(decoders));
    post = template_processing(bos_pair, eos_pair);
  } else {
    switch (family) {
      case PreFamily::Gpt2:
        pre_tokenizer = byte_level(false, true, true);
        break;
      case PreFamily::DigitsGpt2:
        pre_tokenizer = sequence("pretokenizers",
                                 {{{"type", "Digits"}, {"individual_digits", true}}, byte_level(false, true, true)});
        break;
      case PreFamily::Llama3:
        pre_tokenizer = sequence("pretokenizers", {split_regex(kLlama3Split), byte_level(false, true, false)});
        ignore_merges = true;
        break;
      case PreFamily::Qwen2:
        normalizer = {{"type", "NFC"}};
        pre_tokenizer = sequence("pretokenizers", {split_regex(kQwen2Split), byte_level(false, false, false)});
        break;
    }
    if (family == PreFamily::Qwen2) {
      post = byte_level(false, false, false);
      decoder = byte_level(false, false, false);
    } else {
      post = byte_level(true, false, true);
      decoder = byte_level(true, true, true);
    }
    if (wrap) post = sequence("processors", {post, template_processing(bos_pair, eos_pair)});
  }

  OrderedJson bpe;
  bpe["type"] = "BPE";
  bpe["dropout"] = nullptr;
  bpe["unk_token"] = spm ? tok(unk_id) : OrderedJson(nullptr);
  bpe["continuing_subword_prefix"] = nullptr;
  bpe["end_of_word_suffix"] = nullptr;
  bpe["fuse_unk"] = spm;
  bpe["byte_fallback"] = spm;
  bpe["ignore_merges"] = ignore_merges;
  bpe["vocab"] = std::move(vocab);
  bpe["merges"] = std::move(merges_json);

  HfTokenizerFiles out;
  OrderedJson& tj = out.tokenizer_json;
  tj["version"] = "1.0";
  tj["truncation"] = nullptr;
  tj["padding"] = nullptr;
  tj["added_tokens"] = std::move(added);
  tj["normalizer"] = normalizer;
  tj["pre_tokenizer"] = pre_tokenizer;
  tj["post_processor"] = post;
  tj["decoder"] = decoder;
  tj["model"] = std::move(bpe);

  // tokenizer_config.json
  OrderedJson& tc = out.tokenizer_config;
  tc["add_bos_token"] = add_bos;
  tc["add_eos_token"] = add_eos;
  if (!spm) tc["add_prefix_space"] = false;
  tc["added_tokens_decoder"] = std::move(added_decoder);
  tc["bos_token"] = tok(bos_id);
  if (const GgufValue* ct = g.find("tokenizer.chat_template")) {
    const std::string* s = ct->as_string();
    if (!s) m.fail("'tokenizer.chat_template' must be a string");
    if (!utf8_length(*s)) m.fail("'tokenizer.chat_template' is not valid UTF-8");
    tc["chat_template"] = *s;
  }
  tc["clean_up_tokenization_spaces"] = false;
  tc["eos_token"] = tok(eos_id);
  std::string arch = g.get_string("general.architecture").value_or("");
  if (std::optional<int64_t> ctx = g.get_int(arch + ".context_length"); ctx && *ctx > 0)
    tc["model_max_length"] = *ctx;
  tc["pad_token"] = tok(pad_id);
  tc["tokenizer_class"] = "PreTrainedTokenizerFast";
  tc["unk_token"] = tok(unk_id);
  return out;
}

}  // namespace mc

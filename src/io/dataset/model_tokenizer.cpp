// Loading a model's tokenizer, special tokens and chat template for training (see model_tokenizer.h).
#include "io/dataset/model_tokenizer.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <unordered_map>

#include "core/error.h"
#include "core/fs.h"
#include "io/gguf.h"
#include "io/tokenizer/gguf_tokenizer.h"

namespace mc {

namespace {

constexpr const char* kComponent = "dataset";
constexpr const char* kMetaspace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// transformers' SPECIAL_TOKENS_ATTRIBUTES order (special_tokens_map).
constexpr std::array<const char*, 7> kSpecialKeys = {"bos_token", "eos_token", "unk_token", "sep_token",
                                                     "pad_token", "cls_token", "mask_token"};

// End-of-turn tokens of common chat formats (ChatML, Llama 3 incl. tool turns, Phi-3, Gemma, Llama 2 /
// Mistral, GPT-2 style). Only those that are special tokens of the loaded tokenizer are used. A marker
// only ends a span when it appears inside an assistant turn after the span's start, so an extra entry
// cannot cut a span short unless assistant text contains that special token.
constexpr std::array<const char*, 8> kKnownEndOfTurn = {"<|im_end|>",    "<|eot_id|>", "<|eom_id|>", "<|end|>",
                                                        "<end_of_turn>", "</s>",       "<|endoftext|>",
                                                        "<|end_of_text|>"};

// transformers' Qwen2Tokenizer PRETOKENIZE_REGEX (models/qwen2/tokenization_qwen2.py, 5.23.0).
constexpr const char* kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Json to_json(const OrderedJson& j) { return Json::parse(j.dump()); }

// A special-token entry of tokenizer_config.json: a string, an AddedToken dict {"content": ...} or null.
std::optional<std::string> token_string(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}

std::optional<int32_t> id_in_json(const Json& tj, const std::string& content) {
  if (tj.contains("added_tokens") && tj["added_tokens"].is_array())
    for (const Json& a : tj["added_tokens"])
      if (a.is_object() && a.value("content", "") == content && a.contains("id") && a["id"].is_number_integer())
        return a["id"].get<int32_t>();
  if (tj.contains("model") && tj["model"].is_object() && tj["model"].contains("vocab")) {
    const Json& v = tj["model"]["vocab"];
    if (v.is_object()) {
      auto it = v.find(content);
      if (it != v.end() && it->is_number_integer()) return it->get<int32_t>();
    }
  }
  return std::nullopt;
}

bool bool_or(const Json& cfg, const char* key, bool dflt) {
  auto it = cfg.find(key);
  return it != cfg.end() && it->is_boolean() ? it->get<bool>() : dflt;
}

// A component of type `type` anywhere in a (possibly Sequence) normalizer / pre-tokenizer / decoder.
bool has_component(const Json& j, const std::string& type) {
  if (!j.is_object()) return false;
  if (j.value("type", "") == type) return true;
  for (const char* list : {"normalizers", "pretokenizers", "decoders", "processors"})
    if (j.contains(list) && j[list].is_array())
      for (const Json& c : j[list])
        if (has_component(c, type)) return true;
  return false;
}

// Replace components that turn spaces into U+2581 (or back): the mark of SentencePiece-style pieces.
bool has_metaspace_replace(const Json& j) {
  if (!j.is_object()) return false;
  if (j.value("type", "") == "Replace") {
    std::string content = j.value("content", "");
    std::string pattern = j.contains("pattern") && j["pattern"].is_object() ? j["pattern"].value("String", "") : "";
    if (content == kMetaspace || pattern == kMetaspace) return true;
  }
  for (const char* list : {"normalizers", "decoders"})
    if (j.contains(list) && j[list].is_array())
      for (const Json& c : j[list])
        if (has_metaspace_replace(c)) return true;
  return false;
}

void classify_normalizer(const Json& n, TokenTextRules& r) {
  if (!n.is_object()) return;
  std::string type = n.value("type", "");
  if (type == "Sequence") {
    if (n.contains("normalizers") && n["normalizers"].is_array())
      for (const Json& c : n["normalizers"]) classify_normalizer(c, r);
  } else if (type == "NFC") {
    if (r.norm != TokenTextRules::Norm::Unsupported) r.norm = TokenTextRules::Norm::NFC;
  } else if (type == "NFKC") {
    if (r.norm != TokenTextRules::Norm::Unsupported) r.norm = TokenTextRules::Norm::NFKC;
  } else if ((type == "Prepend" && n.value("prepend", "") == kMetaspace) || (type == "Replace" && has_metaspace_replace(n))) {
    // SentencePiece spaces: token_offsets matches U+2581 against spaces and segment starts.
  } else {
    r.norm = TokenTextRules::Norm::Unsupported;
    r.norm_name = type;
  }
}

TokenTextRules text_rules_of(const Json& tj) {
  TokenTextRules r;
  Json none;
  const Json& pre = tj.contains("pre_tokenizer") ? tj["pre_tokenizer"] : none;
  const Json& dec = tj.contains("decoder") ? tj["decoder"] : none;
  const Json& norm = tj.contains("normalizer") ? tj["normalizer"] : none;
  if (has_component(pre, "ByteLevel") || has_component(dec, "ByteLevel")) {
    r.pieces = TokenTextRules::Pieces::ByteLevel;
  } else if (has_component(pre, "Metaspace") || has_component(dec, "Metaspace") || has_metaspace_replace(norm) ||
             has_metaspace_replace(dec)) {
    r.pieces = TokenTextRules::Pieces::Metaspace;
  }
  classify_normalizer(norm, r);
  if (tj.contains("model") && tj["model"].is_object()) {
    const Json& m = tj["model"];
    r.byte_fallback = bool_or(m, "byte_fallback", false);
    if (m.contains("unk_token") && m["unk_token"].is_string()) r.unk_id = id_in_json(tj, m["unk_token"].get<std::string>());
  }
  return r;
}

// GPT-2's bytes_to_unicode, inverted: code point of a ByteLevel piece character -> byte (-1: none).
const std::array<int16_t, 324>& byte_level_inverse() {
  static const std::array<int16_t, 324> inv = [] {
    std::array<int16_t, 324> t;
    t.fill(-1);
    int n = 0;
    for (int b = 0; b < 256; b++) {
      bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      int cp = printable ? b : 256 + n++;
      t[static_cast<size_t>(cp)] = static_cast<int16_t>(b);
    }
    return t;
  }();
  return inv;
}

// Decodes one code point of valid UTF-8 at s[i] and advances i.
char32_t next_cp(const std::string& s, size_t& i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  if (i + len > s.size()) len = s.size() - i;
  char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < len; k++) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += len;
  return cp;
}

// A normalizer / pre-tokenizer without the fields that do not change ids (offset trimming).
Json id_relevant(Json j) {
  if (j.is_object()) {
    j.erase("trim_offsets");
    for (auto& [k, v] : j.items()) v = id_relevant(v);
  } else if (j.is_array()) {
    for (auto& v : j) v = id_relevant(v);
  }
  return j;
}

std::string rebuild_note(const Json& before_norm, const Json& before_pre, const Json& tj, const std::string& what) {
  if (id_relevant(before_norm) == id_relevant(tj["normalizer"]) && id_relevant(before_pre) == id_relevant(tj["pre_tokenizer"]))
    return "";  // the same pipeline as the file's: nothing worth saying
  return what;
}

// transformers' class rebuild (see the header). Returns a note for the user when the rebuilt pipeline
// differs from tokenizer.json's, else "".
std::string rebuild_for_class(const std::string& cls, Json& tj, const Json& cfg) {
  const Json before_norm = tj.value("normalizer", Json()), before_pre = tj.value("pre_tokenizer", Json());
  if (!tj.contains("model") || !tj["model"].is_object() || tj["model"].value("type", "") != "BPE") return "";
  Json& model = tj["model"];
  if (cls == "LlamaTokenizer") {
    bool add_prefix_space = cfg.contains("add_prefix_space") && cfg["add_prefix_space"].is_boolean()
                                ? cfg["add_prefix_space"].get<bool>()
                                : true;
    bool legacy = bool_or(cfg, "legacy", false);
    std::string scheme = add_prefix_space ? (legacy ? "always" : "first") : "never";
    tj["normalizer"] = nullptr;
    tj["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", kMetaspace}, {"prepend_scheme", scheme}, {"split", false}};
    Json decoders = Json::array({{{"type", "Replace"}, {"pattern", {{"String", kMetaspace}}}, {"content", " "}},
                                 {{"type", "ByteFallback"}},
                                 {{"type", "Fuse"}}});
    if (add_prefix_space) decoders.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
    tj["decoder"] = {{"type", "Sequence"}, {"decoders", decoders}};
    model["byte_fallback"] = true;
    model["fuse_unk"] = true;
    model["unk_token"] = nullptr;
    model["continuing_subword_prefix"] = nullptr;
    model["end_of_word_suffix"] = nullptr;
    model["ignore_merges"] = false;
    model["dropout"] = nullptr;
    return rebuild_note(before_norm, before_pre, tj,
                        str("tokenizer rebuilt as transformers' LlamaTokenizer does (Metaspace pre-tokenizer, prepend_scheme ",
                            scheme, "; tokenizer.json's normalizer and pre-tokenizer are not used)"));
  }
  if (cls == "Qwen2Tokenizer") {
    bool add_prefix_space = bool_or(cfg, "add_prefix_space", false);
    tj["normalizer"] = {{"type", "NFC"}};
    tj["pre_tokenizer"] = {
        {"type", "Sequence"},
        {"pretokenizers",
         Json::array({{{"type", "Split"}, {"pattern", {{"Regex", kQwen2Regex}}}, {"behavior", "Isolated"}, {"invert", false}},
                      {{"type", "ByteLevel"}, {"add_prefix_space", add_prefix_space}, {"trim_offsets", true}, {"use_regex", false}}})}};
    tj["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
    model["byte_fallback"] = false;
    model["fuse_unk"] = false;
    model["unk_token"] = nullptr;
    model["continuing_subword_prefix"] = nullptr;
    model["end_of_word_suffix"] = nullptr;
    model["ignore_merges"] = false;
    model["dropout"] = nullptr;
    return rebuild_note(before_norm, before_pre, tj,
                        "tokenizer rebuilt as transformers' Qwen2Tokenizer does (NFC, Qwen2 split regex, ByteLevel; "
                        "tokenizer.json's normalizer and pre-tokenizer are not used)");
  }
  return "";
}

// Special tokens: the config's, or the rebuilt class's defaults for keys the config does not have.
OrderedJson special_tokens_of(const std::string& cls, const Json& cfg) {
  std::unordered_map<std::string, std::string> defaults;
  if (cls == "LlamaTokenizer") defaults = {{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"unk_token", "<unk>"}};
  if (cls == "Qwen2Tokenizer")
    defaults = {{"eos_token", "<|endoftext|>"}, {"unk_token", "<|endoftext|>"}, {"pad_token", "<|endoftext|>"}};
  OrderedJson out = OrderedJson::object();
  for (const char* key : kSpecialKeys) {
    std::optional<std::string> v;
    if (cfg.contains(key)) {
      v = token_string(cfg[key]);
      if (!v && !cfg[key].is_null())
        throw Error(kComponent, str("tokenizer_config.json: '", key, "' must be a string, a token object or null"));
    } else if (auto d = defaults.find(key); d != defaults.end()) {
      v = d->second;
    }
    if (v) out[key] = *v;
  }
  return out;
}

// TokenizersBackend.__init__ + update_post_processor: "[bos:0] $A:0 [eos:0]" when the config says
// add_bos_token / add_eos_token explicitly or the file has no post-processor.
void update_post_processor(Json& tj, const Json& cfg, const OrderedJson& special, const std::string& source) {
  bool explicit_flags = cfg.contains("add_bos_token") || cfg.contains("add_eos_token");
  if (!explicit_flags && tj.contains("post_processor") && !tj["post_processor"].is_null()) return;
  std::optional<std::string> bos, eos;
  if (special.contains("bos_token")) bos = special["bos_token"].get<std::string>();
  if (special.contains("eos_token")) eos = special["eos_token"].get<std::string>();
  bool add_bos = bool_or(cfg, "add_bos_token", false) && bos;
  bool add_eos = bool_or(cfg, "add_eos_token", false) && eos;
  Json single = Json::array(), pair = Json::array(), specials = Json::object();
  auto special_entry = [&](const std::string& t) {
    std::optional<int32_t> id = id_in_json(tj, t);
    if (!id) throw Error(kComponent, str(source, ": special token '", t, "' is not in the vocabulary"));
    specials[t] = {{"id", t}, {"ids", Json::array({*id})}, {"tokens", Json::array({t})}};
  };
  auto tok = [](const std::string& t, int type_id) { return Json{{"SpecialToken", {{"id", t}, {"type_id", type_id}}}}; };
  auto seq = [](const char* id, int type_id) { return Json{{"Sequence", {{"id", id}, {"type_id", type_id}}}}; };
  if (add_bos) {
    single.push_back(tok(*bos, 0));
    special_entry(*bos);
  }
  single.push_back(seq("A", 0));
  if (add_eos) {
    single.push_back(tok(*eos, 0));
    special_entry(*eos);
  }
  pair = single;
  if (add_bos) pair.push_back(tok(*bos, 1));
  pair.push_back(seq("B", 1));
  if (add_eos) pair.push_back(tok(*eos, 1));
  tj["post_processor"] = {{"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}, {"special_tokens", specials}};
}

}  // namespace

struct ModelTokenizerBundle::State {
  Tokenizer                                 tok;
  std::optional<ChatTemplate>               tmpl, tmpl_tools;
  OrderedJson                               special = OrderedJson::object();
  std::string                               eos;
  std::optional<int32_t>                    eos_id;
  std::vector<std::string>                  markers, notes;
  std::string                               cls, source;
  TokenTextRules                            rules;
  std::unordered_map<int32_t, AddedToken>   added;
};

ModelTokenizerBundle ModelTokenizerBundle::load(const std::string& path, const BundleOptions& options) {
  namespace fs = std::filesystem;
  auto st = std::make_shared<State>();
  Json tj, cfg = Json::object();
  std::string dir, tj_source;
  if (ends_with(path, ".gguf")) {
    GgufFile g = GgufFile::open(path);
    HfTokenizerFiles f = tokenizer_from_gguf(g);
    tj = to_json(f.tokenizer_json);
    cfg = to_json(f.tokenizer_config);
    tj_source = path;
  } else if (is_directory(path)) {
    dir = path;
    tj_source = (fs::path(path) / "tokenizer.json").string();
    if (!path_exists(tj_source)) throw Error(kComponent, str(path, ": no tokenizer.json in the model directory"));
    tj = json_load(tj_source, "tokenizer");
    std::string cfg_path = (fs::path(path) / "tokenizer_config.json").string();
    if (path_exists(cfg_path)) cfg = json_load(cfg_path, kComponent);
  } else if (path_exists(path)) {
    tj_source = path;
    tj = json_load(path, "tokenizer");
    dir = fs::path(path).parent_path().string();
    std::string cfg_path = (fs::path(dir.empty() ? "." : dir) / "tokenizer_config.json").string();
    if (path_exists(cfg_path)) cfg = json_load(cfg_path, kComponent);
  } else {
    throw Error(kComponent, str(path, ": no such model directory, tokenizer.json or .gguf file"));
  }
  if (!tj.is_object()) throw Error("tokenizer", str(tj_source, ": tokenizer.json must be a JSON object"));
  if (!cfg.is_object()) throw Error(kComponent, str(path, ": tokenizer_config.json must be a JSON object"));

  st->source = tj_source;
  st->cls = cfg.contains("tokenizer_class") && cfg["tokenizer_class"].is_string() ? cfg["tokenizer_class"].get<std::string>() : "";
  std::string cls = ends_with(st->cls, "Fast") ? st->cls.substr(0, st->cls.size() - 4) : st->cls;
  if (std::string note = rebuild_for_class(cls, tj, cfg); !note.empty()) st->notes.push_back(note);
  st->special = special_tokens_of(cls, cfg);
  update_post_processor(tj, cfg, st->special, tj_source);
  st->rules = text_rules_of(tj);
  st->tok = Tokenizer::from_json(tj, tj_source);
  for (const AddedToken& a : st->tok.added_tokens()) st->added[a.id] = a;

  if (st->special.contains("eos_token")) {
    st->eos = st->special["eos_token"].get<std::string>();
    st->eos_id = st->tok.token_to_id(st->eos);
  }

  // End-of-turn markers.
  auto add_marker = [&](const std::string& m) {
    if (!m.empty() && std::find(st->markers.begin(), st->markers.end(), m) == st->markers.end()) st->markers.push_back(m);
  };
  add_marker(st->eos);
  if (!dir.empty()) {
    std::string gen = (fs::path(dir) / "generation_config.json").string();
    if (path_exists(gen)) {
      Json g = json_load(gen, kComponent);
      Json ids = g.is_object() && g.contains("eos_token_id") ? g["eos_token_id"] : Json();
      if (ids.is_number_integer()) ids = Json::array({ids});
      if (ids.is_array())
        for (const Json& id : ids)
          if (id.is_number_integer())
            if (auto t = st->tok.id_to_token(id.get<int32_t>())) add_marker(*t);
    }
  }
  for (const char* m : kKnownEndOfTurn)
    if (auto id = st->tok.token_to_id(m); id && st->tok.is_special_id(*id)) add_marker(m);

  // Chat template.
  if (!options.chat_template_file.empty()) {
    st->tmpl = ChatTemplate::parse(read_file(options.chat_template_file, kComponent), options.chat_template_file);
  } else if (!dir.empty() && path_exists((fs::path(dir) / "chat_template.jinja").string())) {
    std::string p = (fs::path(dir) / "chat_template.jinja").string();
    st->tmpl = ChatTemplate::parse(read_file(p, kComponent), p);
  } else {
    std::string name = dir.empty() ? path : (fs::path(dir) / "tokenizer_config.json").string();
    if (auto t = chat_template_from_config(cfg, false)) {
      st->tmpl = ChatTemplate::parse(*t, name);
      auto tt = chat_template_from_config(cfg, true);
      if (tt && *tt != *t) st->tmpl_tools = ChatTemplate::parse(*tt, name + " (tool_use)");
    }
  }
  ModelTokenizerBundle b;
  b.s_ = std::move(st);
  return b;
}

const Tokenizer& ModelTokenizerBundle::tokenizer() const { return s_->tok; }
const ChatTemplate* ModelTokenizerBundle::chat_template(bool with_tools) const {
  if (with_tools && s_->tmpl_tools) return &*s_->tmpl_tools;
  return s_->tmpl ? &*s_->tmpl : nullptr;
}
const OrderedJson& ModelTokenizerBundle::special_tokens() const { return s_->special; }
const std::string& ModelTokenizerBundle::eos_token() const { return s_->eos; }
std::optional<int32_t> ModelTokenizerBundle::eos_id() const { return s_->eos_id; }
const std::vector<std::string>& ModelTokenizerBundle::end_markers() const { return s_->markers; }
const std::string& ModelTokenizerBundle::tokenizer_class() const { return s_->cls; }
const std::vector<std::string>& ModelTokenizerBundle::notes() const { return s_->notes; }
const std::string& ModelTokenizerBundle::source() const { return s_->source; }
const TokenTextRules& ModelTokenizerBundle::text_rules() const { return s_->rules; }

const AddedToken* ModelTokenizerBundle::added_token(int32_t id) const {
  auto it = s_->added.find(id);
  return it == s_->added.end() ? nullptr : &it->second;
}

std::string ModelTokenizerBundle::token_bytes(int32_t id) const {
  if (const AddedToken* a = added_token(id)) return a->content;
  std::optional<std::string> piece = s_->tok.id_to_token(id);
  if (!piece) throw Error(kComponent, str("token id ", id, " is not in the vocabulary of ", s_->source));
  const std::string& p = *piece;
  switch (s_->rules.pieces) {
    case TokenTextRules::Pieces::Plain: return p;
    case TokenTextRules::Pieces::ByteLevel: {
      const auto& inv = byte_level_inverse();
      std::string out;
      size_t i = 0;
      while (i < p.size()) {
        size_t start = i;
        char32_t cp = next_cp(p, i);
        if (cp < inv.size() && inv[cp] >= 0) {
          out += static_cast<char>(inv[cp]);
        } else {
          out.append(p, start, i - start);  // not a ByteLevel character: the piece holds it literally
        }
      }
      return out;
    }
    case TokenTextRules::Pieces::Metaspace: {
      if (s_->rules.byte_fallback && p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>') {
        auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
        int hi = hex(p[3]), lo = hex(p[4]);
        if (hi >= 0 && lo >= 0) return std::string(1, static_cast<char>(hi * 16 + lo));
      }
      std::string out;
      for (size_t i = 0; i < p.size();) {
        if (p.compare(i, 3, kMetaspace) == 0) {
          out += ' ';
          i += 3;
        } else {
          out += p[i++];
        }
      }
      return out;
    }
  }
  return p;
}

}  // namespace mc

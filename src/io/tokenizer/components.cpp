// Normalizers, pre-tokenizers, post-processors and decoders of tokenizer.json (see components.h).
#include "io/tokenizer/components.h"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdlib>

#include "core/error.h"
#include "io/tokenizer/unicode.h"

namespace mc::tok {

// ---------------------------------------------------------------------------------------------------
// JSON field access

void JsonReader::fail(const std::string& what) const { throw Error("tokenizer", str(source, ": ", what)); }

void JsonReader::unsupported(const char* kind, const std::string& type) const {
  fail(str("unsupported ", kind, " '", type, "'"));
}

std::string JsonReader::type_of(const Json& j, const char* kind) const {
  if (!j.is_object()) fail(str(kind, " must be an object"));
  auto it = j.find("type");
  if (it == j.end() || !it->is_string()) fail(str(kind, " has no string field 'type'"));
  return it->get<std::string>();
}

const Json* JsonReader::find(const Json& j, const char* key) const {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string JsonReader::get_string(const Json& j, const char* key, const char* kind, const std::string& dflt) const {
  const Json* v = find(j, key);
  if (!v) return dflt;
  if (!v->is_string()) fail(str(kind, " field '", key, "' must be a string"));
  return v->get<std::string>();
}

bool JsonReader::get_bool(const Json& j, const char* key, const char* kind, bool dflt) const {
  const Json* v = find(j, key);
  if (!v) return dflt;
  if (!v->is_boolean()) fail(str(kind, " field '", key, "' must be a boolean"));
  return v->get<bool>();
}

int64_t JsonReader::get_int(const Json& j, const char* key, const char* kind, int64_t dflt) const {
  const Json* v = find(j, key);
  if (!v) return dflt;
  if (!v->is_number_integer()) fail(str(kind, " field '", key, "' must be an integer"));
  return v->get<int64_t>();
}

Pattern JsonReader::get_pattern(const Json& j, const char* kind) const {
  const Json* p = find(j, "pattern");
  if (!p || !p->is_object() || p->size() != 1) fail(str(kind, " needs a pattern {\"String\": ...} or {\"Regex\": ...}"));
  auto it = p->begin();
  if (!it.value().is_string() || (it.key() != "String" && it.key() != "Regex"))
    fail(str(kind, " needs a pattern {\"String\": ...} or {\"Regex\": ...}"));
  return Pattern::from_json_fields(it.key() == "Regex", it.value().get<std::string>(), source);
}

static const Json& array_field(const Json& j, const char* key, const char* kind, const JsonReader& r) {
  const Json* v = r.find(j, key);
  if (!v || !v->is_array()) r.fail(str(kind, " needs an array '", key, "'"));
  return *v;
}

// The single character of a decoder/pre-tokenizer field such as Metaspace's replacement.
static std::string one_char(const Json& j, const char* key, const char* kind, const JsonReader& r,
                            const std::string& dflt) {
  std::string s = r.get_string(j, key, kind, dflt);
  if (s.empty() || utf8_valid_prefix(s) != s.size() || utf8_len(static_cast<unsigned char>(s[0])) != s.size())
    r.fail(str(kind, " field '", key, "' must be one character"));
  return s;
}

// ---------------------------------------------------------------------------------------------------
// Byte-level alphabet (GPT-2 bytes_to_unicode)

namespace {
struct ByteLevelTables {
  std::array<std::string, 256> chars;
  std::array<int, 324> bytes{};  // code point -> byte + 1 (0: not a byte character)
  ByteLevelTables() {
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      char32_t cp = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
      utf8_append(chars[b], cp);
      bytes[cp] = b + 1;
    }
  }
};
const ByteLevelTables& byte_tables() {
  static const ByteLevelTables t;
  return t;
}
}  // namespace

const std::string& byte_level_char(unsigned char b) { return byte_tables().chars[b]; }

bool byte_level_byte(char32_t cp, unsigned char& b) {
  if (cp >= 324) return false;
  int v = byte_tables().bytes[cp];
  if (v == 0) return false;
  b = static_cast<unsigned char>(v - 1);
  return true;
}

// ---------------------------------------------------------------------------------------------------
// Normalizers

Normalizer Normalizer::from_json(const Json& j, const JsonReader& r) {
  const char* kind = "normalizer";
  std::string type = r.type_of(j, kind);
  Normalizer n;
  if (type == "Sequence") {
    n.kind_ = Kind::Sequence;
    for (const Json& c : array_field(j, "normalizers", kind, r)) n.children_.push_back(from_json(c, r));
  } else if (type == "NFC") {
    n.kind_ = Kind::NFC;
  } else if (type == "NFD") {
    n.kind_ = Kind::NFD;
  } else if (type == "NFKC") {
    n.kind_ = Kind::NFKC;
  } else if (type == "NFKD") {
    n.kind_ = Kind::NFKD;
  } else if (type == "Lowercase") {
    n.kind_ = Kind::Lowercase;
  } else if (type == "StripAccents") {
    n.kind_ = Kind::StripAccents;
  } else if (type == "Prepend") {
    n.kind_ = Kind::Prepend;
    if (!r.find(j, "prepend")) r.fail("normalizer Prepend needs 'prepend'");
    n.content_ = r.get_string(j, "prepend", kind, "");
  } else if (type == "Replace") {
    n.kind_ = Kind::Replace;
    n.pattern_ = r.get_pattern(j, "normalizer Replace");
    if (!r.find(j, "content")) r.fail("normalizer Replace needs 'content'");
    n.content_ = r.get_string(j, "content", kind, "");
  } else if (type == "Strip") {
    n.kind_ = Kind::Strip;
    n.left_ = r.get_bool(j, "strip_left", kind, true);
    n.right_ = r.get_bool(j, "strip_right", kind, true);
  } else {
    r.unsupported(kind, type);
  }
  return n;
}

static bool is_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

static std::string unicode_normalize(const std::string& s, int options) {
  if (is_ascii(s)) return s;  // every normalization form leaves ASCII unchanged
  utf8proc_uint8_t* dst = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                    static_cast<utf8proc_ssize_t>(s.size()), &dst,
                                    static_cast<utf8proc_option_t>(options | UTF8PROC_STABLE));
  if (n < 0) throw Error("tokenizer", str("unicode normalization failed (", utf8proc_errmsg(n), ")"));
  std::string out(reinterpret_cast<char*>(dst), static_cast<size_t>(n));
  std::free(dst);
  return out;
}

// Applies `pattern` replacement over `text`; `origin_len` follows the tokenizers alignment rules
// (a replacement at offset 0 stays aligned with the input's start unless it is empty).
static std::string replace_all(const Pattern& pattern, const std::string& text, const std::string& content,
                               size_t* origin_len) {
  std::vector<std::pair<size_t, size_t>> m;
  pattern.find_all(text, m);
  if (m.empty()) return text;
  std::string out;
  out.reserve(text.size());
  size_t prev = 0;
  for (auto [b, e] : m) {
    out.append(text, prev, b - prev);
    out += content;
    prev = e;
  }
  out.append(text, prev, std::string::npos);
  if (origin_len && *origin_len > 0 && m.front().first == 0 && m.front().second > 0)
    *origin_len = content.empty() ? 0 : content.size();
  return out;
}

void Normalizer::normalize(Piece& p) const {
  auto first_char_len = [&](const std::string& s) { return s.empty() ? 0 : utf8_len(static_cast<unsigned char>(s[0])); };
  switch (kind_) {
    case Kind::Sequence:
      for (const Normalizer& c : children_) {
        if (p.text.empty()) break;
        c.normalize(p);
      }
      return;
    case Kind::NFC:
    case Kind::NFD:
    case Kind::NFKC:
    case Kind::NFKD: {
      int opt = kind_ == Kind::NFC    ? UTF8PROC_COMPOSE
                : kind_ == Kind::NFD  ? UTF8PROC_DECOMPOSE
                : kind_ == Kind::NFKC ? (UTF8PROC_COMPOSE | UTF8PROC_COMPAT)
                                      : (UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
      if (is_ascii(p.text)) return;
      p.text = unicode_normalize(p.text, opt);
      if (p.origin_len > 0) p.origin_len = first_char_len(p.text);
      return;
    }
    case Kind::Lowercase: {
      std::string out;
      out.reserve(p.text.size());
      size_t i = 0;
      bool first = true;
      while (i < p.text.size()) {
        append_lowercase(out, utf8_next(p.text, i));
        if (first && p.origin_len > 0) p.origin_len = out.size();
        first = false;
      }
      p.text = std::move(out);
      return;
    }
    case Kind::StripAccents: {
      std::string out;
      out.reserve(p.text.size());
      size_t i = 0;
      bool first_removed = false;
      while (i < p.text.size()) {
        size_t b = i;
        char32_t cp = utf8_next(p.text, i);
        if (is_mark(cp)) {
          if (b == 0) first_removed = true;
          continue;
        }
        out.append(p.text, b, i - b);
      }
      if (first_removed) p.origin_len = 0;
      p.text = std::move(out);
      return;
    }
    case Kind::Prepend:
      if (p.text.empty()) return;
      p.text.insert(0, content_);
      if (p.origin_len > 0) p.origin_len += content_.size();
      return;
    case Kind::Replace:
      p.text = replace_all(*pattern_, p.text, content_, &p.origin_len);
      return;
    case Kind::Strip: {
      size_t b = 0, e = p.text.size();
      if (left_) {
        while (b < e) {
          size_t i = b;
          if (!is_white_space(utf8_next(p.text, i))) break;
          b = i;
        }
      }
      if (right_) {
        while (e > b) {
          size_t s = e - 1;
          while (s > b && (static_cast<unsigned char>(p.text[s]) & 0xC0) == 0x80) --s;
          size_t i = s;
          if (!is_white_space(utf8_next(p.text, i))) break;
          e = s;
        }
      }
      if (b > 0) p.origin_len = 0;
      p.text = p.text.substr(b, e - b);
      return;
    }
  }
}

std::string Normalizer::normalize_str(const std::string& s) const {
  Piece p{s, -1, 0};
  if (!p.text.empty()) normalize(p);
  return p.text;
}

// ---------------------------------------------------------------------------------------------------
// Splitting (tokenizers NormalizedString::split)

namespace {
struct Seg {
  size_t b, e;
  bool match;
};

// Turns match ranges into segments that cover [0, n).
std::vector<Seg> cover(size_t n, const std::vector<std::pair<size_t, size_t>>& m, bool invert) {
  std::vector<Seg> segs;
  if (n == 0) return {{0, 0, invert}};
  size_t prev = 0;
  for (auto [b, e] : m) {
    if (prev != b) segs.push_back({prev, b, invert});
    segs.push_back({b, e, !invert});
    prev = e;
  }
  if (prev != n) segs.push_back({prev, n, invert});
  return segs;
}

// Segments for a per-character predicate: each matching character is its own match.
template <typename Pred>
std::vector<Seg> cover_chars(const std::string& s, Pred pred) {
  std::vector<Seg> segs;
  size_t last = 0, i = 0;
  while (i < s.size()) {
    size_t b = i;
    char32_t cp = utf8_next(s, i);
    if (pred(cp)) {
      if (last < b) segs.push_back({last, b, false});
      segs.push_back({b, i, true});
      last = i;
    }
  }
  if (s.size() > last) segs.push_back({last, s.size(), false});
  return segs;
}

void emit(const Piece& p, size_t b, size_t e, std::vector<Piece>& out) {
  if (e <= b) return;
  Piece q;
  q.text = p.text.substr(b, e - b);
  q.origin_len = b < p.origin_len ? std::min(p.origin_len - b, e - b) : 0;
  out.push_back(std::move(q));
}

void split_segments(const Piece& p, const std::vector<Seg>& segs, SplitBehavior beh, std::vector<Piece>& out) {
  struct R {
    size_t b, e;
    bool remove;
  };
  std::vector<R> rs;
  rs.reserve(segs.size());
  switch (beh) {
    case SplitBehavior::Isolated:
      for (const Seg& s : segs) rs.push_back({s.b, s.e, false});
      break;
    case SplitBehavior::Removed:
      for (const Seg& s : segs) rs.push_back({s.b, s.e, s.match});
      break;
    case SplitBehavior::Contiguous: {
      bool prev_match = false;
      for (const Seg& s : segs) {
        if (s.match == prev_match && !rs.empty()) rs.back().e = s.e;
        else rs.push_back({s.b, s.e, false});
        prev_match = s.match;
      }
      break;
    }
    case SplitBehavior::MergedWithPrevious: {
      bool prev_match = false;
      for (const Seg& s : segs) {
        if (s.match && !prev_match && !rs.empty()) rs.back().e = s.e;
        else rs.push_back({s.b, s.e, false});
        prev_match = s.match;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool prev_match = false;
      for (size_t k = segs.size(); k-- > 0;) {
        const Seg& s = segs[k];
        if (s.match && !prev_match && !rs.empty()) rs.back().b = s.b;
        else rs.push_back({s.b, s.e, false});
        prev_match = s.match;
      }
      std::reverse(rs.begin(), rs.end());
      break;
    }
  }
  for (const R& x : rs)
    if (!x.remove) emit(p, x.b, x.e, out);
}

// GPT-2's pre-tokenization regex, used by ByteLevel with use_regex.
const Pattern& gpt2_pattern() {
  static const Pattern p = Pattern::regex(
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", "ByteLevel");
  return p;
}

SplitBehavior parse_behavior(const std::string& s, const JsonReader& r) {
  if (s == "Removed") return SplitBehavior::Removed;
  if (s == "Isolated") return SplitBehavior::Isolated;
  if (s == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (s == "Contiguous") return SplitBehavior::Contiguous;
  r.unsupported("split behavior", s);
}

PreTokenizer::Prepend parse_prepend(const Json& j, const char* kind, const JsonReader& r) {
  if (r.find(j, "prepend_scheme")) {
    std::string s = r.get_string(j, "prepend_scheme", kind, "always");
    if (s == "always") return PreTokenizer::Prepend::Always;
    if (s == "first") return PreTokenizer::Prepend::First;
    if (s == "never") return PreTokenizer::Prepend::Never;
    r.unsupported("Metaspace prepend_scheme", s);
  }
  return r.get_bool(j, "add_prefix_space", kind, true) ? PreTokenizer::Prepend::Always : PreTokenizer::Prepend::Never;
}
}  // namespace

// ---------------------------------------------------------------------------------------------------
// Pre-tokenizers

PreTokenizer PreTokenizer::from_json(const Json& j, const JsonReader& r) {
  const char* kind = "pre_tokenizer";
  std::string type = r.type_of(j, kind);
  PreTokenizer p;
  if (type == "Sequence") {
    p.kind_ = Kind::Sequence;
    for (const Json& c : array_field(j, "pretokenizers", kind, r)) p.children_.push_back(from_json(c, r));
  } else if (type == "ByteLevel") {
    p.kind_ = Kind::ByteLevel;
    p.add_prefix_space_ = r.get_bool(j, "add_prefix_space", kind, true);
    p.use_regex_ = r.get_bool(j, "use_regex", kind, true);
  } else if (type == "Split") {
    p.kind_ = Kind::Split;
    p.pattern_ = r.get_pattern(j, "pre_tokenizer Split");
    p.behavior_ = parse_behavior(r.get_string(j, "behavior", kind, ""), r);
    p.invert_ = r.get_bool(j, "invert", kind, false);
  } else if (type == "Digits") {
    p.kind_ = Kind::Digits;
    p.individual_digits_ = r.get_bool(j, "individual_digits", kind, false);
  } else if (type == "Metaspace") {
    p.kind_ = Kind::Metaspace;
    p.replacement_ = one_char(j, "replacement", "pre_tokenizer Metaspace", r, "\xE2\x96\x81");
    p.prepend_ = parse_prepend(j, kind, r);
    p.split_ = r.get_bool(j, "split", kind, true);
  } else if (type == "WhitespaceSplit") {
    p.kind_ = Kind::WhitespaceSplit;
  } else {
    r.unsupported(kind, type);
  }
  return p;
}

void PreTokenizer::pre_tokenize(std::vector<Piece>& pieces) const {
  if (kind_ == Kind::Sequence) {
    for (const PreTokenizer& c : children_) c.pre_tokenize(pieces);
    return;
  }
  std::vector<Piece> out;
  out.reserve(pieces.size() * 2);
  for (Piece& p : pieces) {
    if (p.id >= 0) {
      out.push_back(std::move(p));
      continue;
    }
    apply(p, out);
  }
  if (kind_ == Kind::ByteLevel) {  // map every byte of every (non added-token) split to its character
    for (Piece& q : out) {
      if (q.id >= 0) continue;
      std::string mapped;
      mapped.reserve(q.text.size() + q.text.size() / 2);
      size_t origin = 0;
      for (size_t i = 0; i < q.text.size(); ++i) {
        mapped += byte_level_char(static_cast<unsigned char>(q.text[i]));
        if (i + 1 == q.origin_len) origin = mapped.size();
      }
      q.text = std::move(mapped);
      q.origin_len = origin;
    }
  }
  pieces = std::move(out);
}

void PreTokenizer::apply(const Piece& in, std::vector<Piece>& out) const {
  switch (kind_) {
    case Kind::Sequence:
      return;  // handled in pre_tokenize
    case Kind::ByteLevel: {
      Piece p = in;
      if (add_prefix_space_ && (p.text.empty() || p.text[0] != ' ')) {
        p.text.insert(0, " ");
        if (p.origin_len > 0) p.origin_len += 1;
      }
      if (!use_regex_) {
        if (!p.text.empty()) out.push_back(std::move(p));
        return;
      }
      std::vector<std::pair<size_t, size_t>> m;
      gpt2_pattern().find_all(p.text, m);
      split_segments(p, cover(p.text.size(), m, false), SplitBehavior::Isolated, out);
      return;
    }
    case Kind::Split: {
      std::vector<std::pair<size_t, size_t>> m;
      pattern_->find_all(in.text, m);
      split_segments(in, cover(in.text.size(), m, invert_), behavior_, out);
      return;
    }
    case Kind::Digits:
      split_segments(in, cover_chars(in.text, is_numeric),
                     individual_digits_ ? SplitBehavior::Isolated : SplitBehavior::Contiguous, out);
      return;
    case Kind::WhitespaceSplit:
      split_segments(in, cover_chars(in.text, is_white_space), SplitBehavior::Removed, out);
      return;
    case Kind::Metaspace: {
      Piece p;
      p.text.reserve(in.text.size() + 8);
      for (size_t i = 0; i < in.text.size(); ++i) {
        if (in.text[i] == ' ') p.text += replacement_;
        else p.text += in.text[i];
        if (i + 1 == in.origin_len) p.origin_len = p.text.size();
      }
      bool starts = p.text.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts && (prepend_ == Prepend::Always || (prepend_ == Prepend::First && p.origin_len > 0))) {
        p.text.insert(0, replacement_);
        if (p.origin_len > 0) p.origin_len += replacement_.size();
      }
      if (!split_) {
        if (!p.text.empty()) out.push_back(std::move(p));
        return;
      }
      size_t tmp = 0;
      const char32_t rep = utf8_next(replacement_, tmp);
      split_segments(p, cover_chars(p.text, [rep](char32_t c) { return c == rep; }), SplitBehavior::MergedWithNext,
                     out);
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Post-processors

PostProcessor PostProcessor::from_json(const Json& j, const JsonReader& r) {
  const char* kind = "post_processor";
  std::string type = r.type_of(j, kind);
  PostProcessor p;
  auto id_pair = [&](const char* key) {  // Bert/Roberta: "cls": ["<s>", 0]
    const Json* v = r.find(j, key);
    if (!v || !v->is_array() || v->size() != 2 || !(*v)[0].is_string() || !(*v)[1].is_number_integer())
      r.fail(str("post_processor ", type, " field '", key, "' must be [token, id]"));
    Item it;
    it.tokens.push_back((*v)[0].get<std::string>());
    int64_t id = (*v)[1].get<int64_t>();
    if (id < 0 || id > INT32_MAX) r.fail(str("post_processor ", type, " id out of range: ", id));
    it.ids.push_back(static_cast<int32_t>(id));
    return it;
  };
  if (type == "Sequence") {
    p.kind_ = Kind::Sequence;
    for (const Json& c : array_field(j, "processors", kind, r)) p.children_.push_back(from_json(c, r));
  } else if (type == "ByteLevel") {
    p.kind_ = Kind::ByteLevel;
  } else if (type == "BertProcessing" || type == "RobertaProcessing") {
    p.kind_ = type == "BertProcessing" ? Kind::Bert : Kind::Roberta;
    p.single_.push_back(id_pair("cls"));
    p.single_.push_back(Item{true, {}, {}});
    p.single_.push_back(id_pair("sep"));
  } else if (type == "TemplateProcessing") {
    p.kind_ = Kind::Template;
    const Json* specials = r.find(j, "special_tokens");
    if (specials && !specials->is_object()) r.fail("post_processor TemplateProcessing 'special_tokens' must be an object");
    for (const Json& item : array_field(j, "single", kind, r)) {
      if (!item.is_object() || item.size() != 1) r.fail("post_processor TemplateProcessing: bad template item");
      auto it = item.begin();
      if (it.key() == "Sequence") {
        p.single_.push_back(Item{true, {}, {}});
      } else if (it.key() == "SpecialToken") {
        std::string name = r.get_string(it.value(), "id", kind, "");
        const Json* st = specials ? r.find(*specials, name.c_str()) : nullptr;
        if (!st || !st->is_object())
          r.fail(str("post_processor TemplateProcessing: special token '", name, "' is not in special_tokens"));
        Item x;
        const Json* ids = r.find(*st, "ids");
        if (!ids || !ids->is_array()) r.fail(str("post_processor TemplateProcessing: '", name, "' has no ids"));
        for (const Json& v : *ids) {
          if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX)
            r.fail(str("post_processor TemplateProcessing: '", name, "' has a bad id"));
          x.ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
        }
        if (const Json* toks = r.find(*st, "tokens"); toks && toks->is_array())
          for (const Json& v : *toks)
            if (v.is_string()) x.tokens.push_back(v.get<std::string>());
        p.single_.push_back(std::move(x));
      } else {
        r.fail(str("post_processor TemplateProcessing: unknown template item '", it.key(), "'"));
      }
    }
  } else {
    r.unsupported(kind, type);
  }
  return p;
}

void PostProcessor::process(std::vector<int32_t>& ids, bool add_special_tokens) const {
  if (kind_ == Kind::Sequence) {
    for (const PostProcessor& c : children_) c.process(ids, add_special_tokens);
    return;
  }
  if (kind_ == Kind::ByteLevel || !add_special_tokens) return;  // ByteLevel only trims offsets
  std::vector<int32_t> out;
  out.reserve(ids.size() + 4);
  for (const Item& it : single_) {
    if (it.is_sequence) out.insert(out.end(), ids.begin(), ids.end());
    else out.insert(out.end(), it.ids.begin(), it.ids.end());
  }
  ids = std::move(out);
}

std::vector<std::string> PostProcessor::prefix_tokens() const {
  std::vector<std::string> out;
  if (kind_ == Kind::Sequence) {
    for (const PostProcessor& c : children_) {
      auto v = c.prefix_tokens();
      out.insert(out.end(), v.begin(), v.end());
    }
    return out;
  }
  for (const Item& it : single_) {
    if (it.is_sequence) break;
    out.insert(out.end(), it.tokens.begin(), it.tokens.end());
  }
  return out;
}

std::vector<std::string> PostProcessor::suffix_tokens() const {
  std::vector<std::string> out;
  if (kind_ == Kind::Sequence) {
    for (const PostProcessor& c : children_) {
      auto v = c.suffix_tokens();
      out.insert(out.end(), v.begin(), v.end());
    }
    return out;
  }
  bool after = false;
  for (const Item& it : single_) {
    if (it.is_sequence) after = true;
    else if (after) out.insert(out.end(), it.tokens.begin(), it.tokens.end());
  }
  return out;
}

std::vector<int32_t> PostProcessor::inserted_ids() const {
  std::vector<int32_t> out;
  for (const PostProcessor& c : children_) {
    auto v = c.inserted_ids();
    out.insert(out.end(), v.begin(), v.end());
  }
  for (const Item& it : single_) out.insert(out.end(), it.ids.begin(), it.ids.end());
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Decoders

Decoder Decoder::from_json(const Json& j, const JsonReader& r) {
  const char* kind = "decoder";
  std::string type = r.type_of(j, kind);
  Decoder d;
  if (type == "Sequence") {
    d.kind_ = Kind::Sequence;
    for (const Json& c : array_field(j, "decoders", kind, r)) d.children_.push_back(from_json(c, r));
  } else if (type == "ByteLevel") {
    d.kind_ = Kind::ByteLevel;
  } else if (type == "Metaspace") {
    d.kind_ = Kind::Metaspace;
    d.replacement_ = one_char(j, "replacement", "decoder Metaspace", r, "\xE2\x96\x81");
    d.prepend_ = parse_prepend(j, kind, r) != PreTokenizer::Prepend::Never;
  } else if (type == "ByteFallback") {
    d.kind_ = Kind::ByteFallback;
  } else if (type == "Fuse") {
    d.kind_ = Kind::Fuse;
  } else if (type == "Strip") {
    d.kind_ = Kind::Strip;
    d.content_ = one_char(j, "content", "decoder Strip", r, " ");
    int64_t start = r.get_int(j, "start", kind, 0), stop = r.get_int(j, "stop", kind, 0);
    if (start < 0 || stop < 0) r.fail("decoder Strip: start and stop must be >= 0");
    d.start_ = static_cast<size_t>(start);
    d.stop_ = static_cast<size_t>(stop);
  } else if (type == "Replace") {
    d.kind_ = Kind::Replace;
    d.pattern_ = r.get_pattern(j, "decoder Replace");
    if (!r.find(j, "content")) r.fail("decoder Replace needs 'content'");
    d.content_ = r.get_string(j, "content", kind, "");
  } else if (type == "BPEDecoder") {
    d.kind_ = Kind::BPEDecoder;
    d.content_ = r.get_string(j, "suffix", kind, "</w>");
  } else {
    r.unsupported(kind, type);
  }
  return d;
}

// tokens like "<0x0A>": six bytes, parsed as Rust's u8::from_str_radix(.., 16) would (a '+' sign allowed).
static bool parse_byte_token(const std::string& t, unsigned char& b) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return false;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (t[3] == '+') {
    int lo = hex(t[4]);
    if (lo < 0) return false;
    b = static_cast<unsigned char>(lo);
    return true;
  }
  int hi = hex(t[3]), lo = hex(t[4]);
  if (hi < 0 || lo < 0) return false;
  b = static_cast<unsigned char>(hi * 16 + lo);
  return true;
}

void Decoder::decode_chain(std::vector<std::string>& tokens) const {
  switch (kind_) {
    case Kind::Sequence:
      for (const Decoder& c : children_) c.decode_chain(tokens);
      return;
    case Kind::ByteLevel: {
      std::string bytes;
      for (const std::string& t : tokens) {
        size_t before = bytes.size(), i = 0;
        bool ok = true;
        while (i < t.size()) {
          unsigned char b = 0;
          if (!byte_level_byte(utf8_next(t, i), b)) {
            ok = false;
            break;
          }
          bytes.push_back(static_cast<char>(b));
        }
        if (!ok) {  // a token that is not all byte characters passes through as its UTF-8
          bytes.resize(before);
          bytes += t;
        }
      }
      tokens.assign(1, utf8_lossy(bytes));
      return;
    }
    case Kind::Metaspace: {
      size_t tmp = 0;
      const char32_t rep = utf8_next(replacement_, tmp);
      for (size_t k = 0; k < tokens.size(); ++k) {
        const std::string& t = tokens[k];
        std::string out;
        out.reserve(t.size());
        size_t i = 0;
        while (i < t.size()) {
          size_t b = i;
          char32_t cp = utf8_next(t, i);
          if (cp == rep) {
            if (k == 0 && prepend_) continue;
            out += ' ';
          } else {
            out.append(t, b, i - b);
          }
        }
        tokens[k] = std::move(out);
      }
      return;
    }
    case Kind::ByteFallback: {
      std::vector<std::string> out;
      out.reserve(tokens.size());
      std::string pending;
      auto flush = [&]() {
        if (pending.empty()) return;
        if (utf8_valid_prefix(pending) == pending.size()) {
          out.push_back(pending);
        } else {
          for (size_t k = 0; k < pending.size(); ++k) out.emplace_back("\xEF\xBF\xBD");
        }
        pending.clear();
      };
      for (std::string& t : tokens) {
        unsigned char b = 0;
        if (parse_byte_token(t, b)) {
          pending.push_back(static_cast<char>(b));
        } else {
          flush();
          out.push_back(std::move(t));
        }
      }
      flush();
      tokens = std::move(out);
      return;
    }
    case Kind::Fuse: {
      std::string all;
      for (const std::string& t : tokens) all += t;
      tokens.assign(1, std::move(all));
      return;
    }
    case Kind::Strip: {
      size_t tmp = 0;
      const char32_t c = utf8_next(content_, tmp);
      for (std::string& t : tokens) {
        std::vector<std::pair<size_t, char32_t>> chars;  // (byte offset, code point)
        size_t i = 0;
        while (i < t.size()) {
          size_t b = i;
          chars.emplace_back(b, utf8_next(t, i));
        }
        size_t start_cut = 0;
        for (size_t k = 0; k < std::min(start_, chars.size()); ++k) {
          if (chars[k].second != c) break;
          start_cut = k + 1;
        }
        size_t stop_cut = chars.size();
        for (size_t k = 0; k < std::min(stop_, chars.size()); ++k) {
          size_t idx = chars.size() - k - 1;
          if (chars[idx].second != c) break;
          stop_cut = idx;
        }
        if (stop_cut <= start_cut) {
          t.clear();
          continue;
        }
        size_t b = start_cut < chars.size() ? chars[start_cut].first : t.size();
        size_t e = stop_cut < chars.size() ? chars[stop_cut].first : t.size();
        t = t.substr(b, e - b);
      }
      return;
    }
    case Kind::Replace:
      for (std::string& t : tokens) t = replace_all(*pattern_, t, content_, nullptr);
      return;
    case Kind::BPEDecoder:
      for (size_t k = 0; k < tokens.size(); ++k)
        tokens[k] = replace_all(Pattern::literal(content_), tokens[k], k + 1 == tokens.size() ? "" : " ", nullptr);
      return;
  }
}

}  // namespace mc::tok

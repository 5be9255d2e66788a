// Token -> byte offsets by matching token bytes against the text (see token_offsets.h).
#include "io/dataset/token_offsets.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <memory>

#include "core/error.h"

namespace mc {

namespace {

constexpr const char* kComponent = "dataset";
constexpr std::string_view kMetaspace = "\xE2\x96\x81";  // U+2581

size_t cp_len(unsigned char lead) { return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4; }

char32_t cp_at(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t len = std::min(cp_len(c), s.size() - i);
  char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < len; k++) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return cp;
}

std::string normalize(std::string_view s, bool compat, const std::string& where) {
  utf8proc_uint8_t* out = nullptr;
  int options = UTF8PROC_STABLE | UTF8PROC_COMPOSE | (compat ? UTF8PROC_COMPAT : 0);
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()), static_cast<utf8proc_ssize_t>(s.size()),
                                    &out, static_cast<utf8proc_option_t>(options));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> hold(out, &std::free);
  if (n < 0) throw Error(kComponent, str(where, ": cannot normalize the text (", utf8proc_errmsg(n), ")"));
  return std::string(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
}

// Whitespace as Rust's char::is_whitespace (added tokens' lstrip/rstrip).
bool is_ws(char32_t c) {
  return c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// The normalized text and, per normalization group, where it starts in the normalized and in the
// original text.
struct Normalized {
  std::string text;
  std::vector<size_t> norm_start, orig_start;  // parallel; a final entry holds the two ends
  bool identity = true;

  size_t to_orig_begin(size_t x) const {
    if (identity) return x;
    size_t g = static_cast<size_t>(std::upper_bound(norm_start.begin(), norm_start.end(), x) - norm_start.begin()) - 1;
    return orig_start[g];
  }
  size_t to_orig_end(size_t x) const {
    if (identity) return x;
    size_t g = static_cast<size_t>(std::lower_bound(norm_start.begin(), norm_start.end(), x) - norm_start.begin());
    return orig_start[std::min(g, orig_start.size() - 1)];
  }
};

Normalized normalize_with_map(std::string_view text, bool compat, const std::string& where) {
  Normalized n;
  std::string whole = normalize(text, compat, where);
  if (whole == text) {
    n.text = std::move(whole);
    return n;
  }
  n.identity = false;
  // Clusters: a character with canonical combining class 0 and the marks that follow it.
  std::vector<size_t> cuts;
  for (size_t i = 0; i < text.size(); i += cp_len(static_cast<unsigned char>(text[i]))) {
    const utf8proc_property_t* p = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp_at(text, i)));
    if (i == 0 || p->combining_class == 0) cuts.push_back(i);
  }
  cuts.push_back(text.size());
  // Groups: clusters merged while normalizing them together differs from normalizing them apart.
  size_t gs = cuts[0];
  std::string gnorm = normalize(text.substr(cuts[0], cuts[1] - cuts[0]), compat, where);
  for (size_t c = 1; c + 1 < cuts.size(); c++) {
    std::string next = normalize(text.substr(cuts[c], cuts[c + 1] - cuts[c]), compat, where);
    std::string joint = normalize(text.substr(gs, cuts[c + 1] - gs), compat, where);
    if (joint == gnorm + next) {
      n.norm_start.push_back(n.text.size());
      n.orig_start.push_back(gs);
      n.text += gnorm;
      gs = cuts[c];
      gnorm = std::move(next);
    } else {
      gnorm = std::move(joint);
    }
  }
  n.norm_start.push_back(n.text.size());
  n.orig_start.push_back(gs);
  n.text += gnorm;
  n.norm_start.push_back(n.text.size());
  n.orig_start.push_back(text.size());
  if (n.text != whole) throw Error(kComponent, str(where, ": cannot follow the tokenizer's normalization of this text"));
  return n;
}

// Matches a SentencePiece piece at text[p]; returns the end or npos. `skip_first`: the piece's first
// U+2581 is the prepended one, which is not in the text.
size_t match_metaspace(std::string_view piece, std::string_view t, size_t p, bool skip_first) {
  size_t i = 0;
  if (skip_first) {
    if (piece.substr(0, 3) != kMetaspace) return std::string_view::npos;
    i = 3;
  }
  while (i < piece.size()) {
    if (piece.substr(i, 3) == kMetaspace) {
      if (p < t.size() && t[p] == ' ') {
        p++;
      } else if (t.substr(p, 3) == kMetaspace) {
        p += 3;
      } else {
        return std::string_view::npos;
      }
      i += 3;
    } else {
      if (p >= t.size() || t[p] != piece[i]) return std::string_view::npos;
      p++;
      i++;
    }
  }
  return p;
}

}  // namespace

std::vector<TokenSpan> token_offsets(const ModelTokenizerBundle& bundle, std::string_view text,
                                     std::span<const int32_t> ids, const std::string& where) {
  const TokenTextRules& rules = bundle.text_rules();
  if (rules.norm == TokenTextRules::Norm::Unsupported)
    throw Error(kComponent, str(where, ": cannot compute token offsets for a tokenizer with a '", rules.norm_name,
                                "' normalizer (it changes the text); loss masks need them"));
  Normalized norm;
  if (rules.norm == TokenTextRules::Norm::None) {
    norm.text = std::string(text);
  } else {
    norm = normalize_with_map(text, rules.norm == TokenTextRules::Norm::NFKC, where);
  }
  const std::string_view t = norm.text;
  const bool metaspace = rules.pieces == TokenTextRules::Pieces::Metaspace;

  // Where token k matches at p (npos: it does not).
  std::function<bool(size_t, size_t)> next_matches;
  auto match = [&](size_t k, size_t p, bool seg_start) -> std::pair<size_t, size_t> {
    const int32_t id = ids[k];
    constexpr auto npos = std::string_view::npos;
    if (const AddedToken* a = bundle.added_token(id)) {
      size_t q = p;
      if (a->lstrip)
        while (q < t.size() && is_ws(cp_at(t, q))) q += cp_len(static_cast<unsigned char>(t[q]));
      if (t.substr(q, a->content.size()) != a->content) return {npos, npos};
      size_t e = q + a->content.size();
      if (a->rstrip)
        while (e < t.size() && is_ws(cp_at(t, e))) e += cp_len(static_cast<unsigned char>(t[e]));
      return {p, e};
    }
    if (metaspace) {
      std::string bytes = bundle.token_bytes(id);
      std::optional<std::string> piece = bundle.tokenizer().id_to_token(id);
      if (!piece) return {npos, npos};
      // A byte-fallback piece is exactly one byte.
      if (bytes.size() == 1 && piece->size() == 6 && piece->compare(0, 3, "<0x") == 0)
        return t.substr(p, 1) == bytes ? std::pair{p, p + 1} : std::pair{npos, npos};
      size_t real = match_metaspace(*piece, t, p, false);
      size_t skip = seg_start ? match_metaspace(*piece, t, p, true) : npos;
      if (real == npos || skip == npos || real == skip) return {real == npos && skip == npos ? npos : p, std::min(real, skip)};
      // Both readings fit (a segment that starts with a space): keep the one the next token continues.
      size_t e = real;
      if (k + 1 == ids.size() ? real != t.size() : !next_matches(k + 1, real)) e = skip;
      return {p, e};
    }
    std::string bytes = bundle.token_bytes(id);
    if (t.substr(p, bytes.size()) != bytes) return {npos, npos};
    return {p, p + bytes.size()};
  };

  next_matches = [&](size_t k, size_t p) { return match(k, p, false).first != std::string_view::npos; };

  std::vector<TokenSpan> out(ids.size());
  size_t p = 0;
  bool seg_start = true;
  for (size_t k = 0; k < ids.size(); k++) {
    auto [b, e] = match(k, p, seg_start);
    if (b == std::string_view::npos && rules.unk_id && ids[k] == *rules.unk_id && p < t.size()) {
      // The unknown token: the characters up to where the next token matches (or the end).
      b = p;
      e = p + cp_len(static_cast<unsigned char>(t[p]));
      while (e < t.size() && (k + 1 == ids.size() || match(k + 1, e, false).first == std::string_view::npos))
        e += cp_len(static_cast<unsigned char>(t[e]));
    }
    if (b == std::string_view::npos) {
      std::string piece = bundle.tokenizer().id_to_token(ids[k]).value_or("?");
      throw Error(kComponent, str(where, ": cannot match token ", k, " (id ", ids[k], ", '", piece,
                                  "') with the text at byte ", norm.to_orig_begin(p), " (tokenizer not supported "
                                  "for loss masks)"),
                  ExitCode::Internal);
    }
    out[k] = {norm.to_orig_begin(b), std::max(norm.to_orig_begin(b), norm.to_orig_end(e))};
    p = e;
    seg_start = bundle.added_token(ids[k]) != nullptr;
  }
  if (p != t.size())
    throw Error(kComponent, str(where, ": the tokens cover ", norm.to_orig_begin(p), " of ", text.size(),
                                " bytes of the text (tokenizer not supported for loss masks)"),
                ExitCode::Internal);
  return out;
}

}  // namespace mc

// Tokenizer: tokenizer.json loading, the added-token split, and the encode/decode pipelines
// (see tokenizer.h). Mirrors tokenizers' TokenizerImpl::encode_single_sequence / decode and
// AddedVocabulary (added_vocabulary.rs).
#include "io/tokenizer/tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "io/tokenizer/bpe_model.h"
#include "io/tokenizer/components.h"
#include "io/tokenizer/unicode.h"

namespace mc {

using tok::Piece;

namespace {

// Byte trie over added-token contents; finds the leftmost-longest match like the Aho-Corasick
// automaton (MatchKind::LeftmostLongest) the reference builds.
class TokenTrie {
 public:
  void add(const std::string& s, int32_t id) {
    if (s.empty()) return;
    if (nodes_.empty()) nodes_.emplace_back();
    first_byte_[static_cast<unsigned char>(s[0])] = true;
    size_t n = 0;
    for (char c : s) {
      auto& next = nodes_[n].next;
      auto it = next.find(static_cast<unsigned char>(c));
      if (it == next.end()) {
        nodes_.emplace_back();
        it = nodes_[n].next.emplace(static_cast<unsigned char>(c), nodes_.size() - 1).first;
      }
      n = it->second;
    }
    if (nodes_[n].id < 0) nodes_[n].id = id;  // the first pattern with this content wins
  }
  bool empty() const { return nodes_.empty(); }
  /// Longest match starting exactly at `pos`: returns its length (0 if none) and id.
  size_t longest_at(std::string_view s, size_t pos, int32_t& id) const {
    if (!first_byte_[static_cast<unsigned char>(s[pos])]) return 0;
    size_t n = 0, best = 0;
    for (size_t i = pos; i < s.size(); ++i) {
      auto it = nodes_[n].next.find(static_cast<unsigned char>(s[i]));
      if (it == nodes_[n].next.end()) break;
      n = it->second;
      if (nodes_[n].id >= 0) {
        best = i + 1 - pos;
        id = nodes_[n].id;
      }
    }
    return best;
  }

 private:
  struct Node {
    std::unordered_map<unsigned char, size_t> next;
    int32_t id = -1;
  };
  std::vector<Node> nodes_;
  bool first_byte_[256] = {};
};

// Last code point of s[0, end) (s valid UTF-8, end > 0).
char32_t last_char(std::string_view s, size_t end) {
  size_t b = end - 1;
  while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
  return tok::utf8_next(s, b);
}

}  // namespace

struct Tokenizer::Impl {
  std::string source;
  tok::BpeModel model;
  std::optional<tok::Normalizer> normalizer;
  std::optional<tok::PreTokenizer> pre_tokenizer;
  std::optional<tok::PostProcessor> post_processor;
  std::optional<tok::Decoder> decoder;

  std::vector<AddedToken> added;                          // file order, ids as assigned below
  std::vector<std::string> added_text;                    // what decode() emits for added[k]: the
                                                          // content, normalized when `normalized`
  std::unordered_map<std::string, int32_t> added_ids;     // content -> id
  std::unordered_map<int32_t, size_t> added_by_id;        // id -> index into `added`
  std::unordered_set<std::string> special_contents;
  TokenTrie trie_raw, trie_normalized;
  int32_t vocab_size = 0;
  std::string bos, eos;
  std::optional<int32_t> bos_id, eos_id;

  const AddedToken* added_token(int32_t id) const {
    auto it = added_by_id.find(id);
    return it == added_by_id.end() ? nullptr : &added[it->second];
  }
  std::optional<int32_t> lookup(std::string_view t) const {
    auto it = added_ids.find(std::string(t));
    if (it != added_ids.end()) return it->second;
    return model.token_to_id(t);
  }
  void split_added(const Piece& p, const TokenTrie& trie, std::vector<Piece>& out) const;
};

// AddedVocabulary::find_matches + split_with_indices for one piece.
void Tokenizer::Impl::split_added(const Piece& p, const TokenTrie& trie, std::vector<Piece>& out) const {
  const std::string& s = p.text;
  auto emit_text = [&](size_t b, size_t e) {
    if (e <= b) return;
    Piece q;
    q.text = s.substr(b, e - b);
    q.origin_len = b < p.origin_len ? std::min(p.origin_len - b, e - b) : 0;
    out.push_back(std::move(q));
  };
  if (trie.empty()) {
    emit_text(0, s.size());
    return;
  }
  size_t start_offset = 0, pos = 0;
  while (pos < s.size()) {
    int32_t id = -1;
    size_t len = trie.longest_at(s, pos, id);
    if (len == 0) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + len;
    pos = stop;  // the automaton resumes after the match it reported
    const AddedToken& t = *added_token(id);
    if (t.single_word) {
      bool start_space = start == 0 || !tok::is_word_char(last_char(s, start));
      size_t k = stop;
      bool stop_space = stop == s.size() || !tok::is_word_char(tok::utf8_next(s, k));
      if (!start_space || !stop_space) continue;
    }
    if (t.lstrip) {
      size_t b = start;
      while (b > 0) {
        size_t c = b - 1;
        while (c > 0 && (static_cast<unsigned char>(s[c]) & 0xC0) == 0x80) --c;
        size_t k = c;
        if (!tok::is_white_space(tok::utf8_next(s, k))) break;
        b = c;
      }
      start = std::max(b, start_offset);
    }
    if (t.rstrip) {
      while (stop < s.size()) {
        size_t k = stop;
        if (!tok::is_white_space(tok::utf8_next(s, k))) break;
        stop = k;
      }
    }
    start = std::max(start, start_offset);
    emit_text(start_offset, start);
    Piece q;
    q.text = s.substr(start, stop - start);
    q.id = id;
    out.push_back(std::move(q));
    start_offset = stop;
  }
  emit_text(start_offset, s.size());
}

// ---------------------------------------------------------------------------------------------------
// Loading

Tokenizer Tokenizer::load(const std::string& path) {
  std::string file = path;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) file = (std::filesystem::path(path) / "tokenizer.json").string();
  if (!std::filesystem::exists(file, ec)) throw Error("tokenizer", str(file, ": no such file"));
  return from_json(json_load(file, "tokenizer"), file);
}

Tokenizer Tokenizer::from_json(const Json& j, const std::string& source) {
  auto impl = std::make_shared<Impl>();
  impl->source = source;
  tok::JsonReader r{impl->source};
  if (!j.is_object()) r.fail("tokenizer.json must be a JSON object");
  const Json* model = r.find(j, "model");
  if (!model) r.fail("no 'model'");
  impl->model = tok::BpeModel::from_json(*model, r);
  if (const Json* n = r.find(j, "normalizer")) impl->normalizer = tok::Normalizer::from_json(*n, r);
  if (const Json* p = r.find(j, "pre_tokenizer")) impl->pre_tokenizer = tok::PreTokenizer::from_json(*p, r);
  if (const Json* p = r.find(j, "post_processor")) impl->post_processor = tok::PostProcessor::from_json(*p, r);
  if (const Json* d = r.find(j, "decoder")) impl->decoder = tok::Decoder::from_json(*d, r);

  // Added tokens, with ids assigned as AddedVocabulary::add_tokens does: a content already in the
  // vocabulary keeps that id; a new one gets the next id after the model vocabulary / the largest
  // added id. (The "id" field of the file is not used by the reference either.)
  const int32_t model_size = static_cast<int32_t>(impl->model.vocab_entries());
  int32_t max_added = -1;
  std::vector<size_t> special_order, classic_order;  // indices into impl->added
  if (const Json* at = r.find(j, "added_tokens")) {
    if (!at->is_array()) r.fail("'added_tokens' must be an array");
    for (const Json& e : *at) {
      if (!e.is_object()) r.fail("added_tokens entries must be objects");
      AddedToken t;
      const char* kind = "added token";
      if (!r.find(e, "content")) r.fail("added token without 'content'");
      t.content = r.get_string(e, "content", kind, "");
      if (tok::utf8_valid_prefix(t.content) != t.content.size()) r.fail("added token content is not valid UTF-8");
      t.single_word = r.get_bool(e, "single_word", kind, false);
      t.lstrip = r.get_bool(e, "lstrip", kind, false);
      t.rstrip = r.get_bool(e, "rstrip", kind, false);
      t.normalized = r.get_bool(e, "normalized", kind, true);
      t.special = r.get_bool(e, "special", kind, false);
      if (t.content.empty()) continue;
      if (t.special && !impl->special_contents.count(t.content)) {
        impl->special_contents.insert(t.content);
        special_order.push_back(impl->added.size());
      }
      int32_t id;
      if (auto known = impl->lookup(t.content)) {
        id = *known;
      } else if (max_added < 0) {
        id = model_size;
      } else {
        id = (max_added >= model_size || model_size == 0) ? max_added + 1 : model_size;
      }
      max_added = std::max(max_added, id);
      t.id = id;
      impl->added_ids[t.content] = id;
      impl->added_by_id[id] = impl->added.size();
      if (!impl->special_contents.count(t.content)) classic_order.push_back(impl->added.size());
      impl->added.push_back(t);
    }
  }
  // Tries: special tokens first, then the others, split by `normalized`; normalized contents are
  // matched in their normalized form.
  // The reference gives back the normalized content of a normalized added token (id_to_token, decode).
  for (const AddedToken& t : impl->added)
    impl->added_text.push_back(t.normalized && impl->normalizer ? impl->normalizer->normalize_str(t.content) : t.content);
  for (const auto* order : {&special_order, &classic_order}) {
    for (size_t k : *order) {
      const AddedToken& t = impl->added[k];
      int32_t id = impl->added_ids[t.content];
      if (t.normalized) {
        impl->trie_normalized.add(impl->normalizer ? impl->normalizer->normalize_str(t.content) : t.content, id);
      } else {
        impl->trie_raw.add(t.content, id);
      }
    }
  }

  int32_t vmax = impl->model.max_id();
  for (const AddedToken& t : impl->added) vmax = std::max(vmax, t.id);
  impl->vocab_size = vmax + 1;

  if (impl->post_processor) {
    for (int32_t id : impl->post_processor->inserted_ids())
      if (id >= impl->vocab_size) r.fail(str("post_processor inserts id ", id, " beyond the vocabulary"));
    auto pre = impl->post_processor->prefix_tokens();
    auto suf = impl->post_processor->suffix_tokens();
    if (!pre.empty()) {
      impl->bos = pre.front();
      impl->bos_id = impl->lookup(impl->bos);
    }
    if (!suf.empty()) {
      impl->eos = suf.back();
      impl->eos_id = impl->lookup(impl->eos);
    }
  }
  Tokenizer t;
  t.impl_ = std::move(impl);
  return t;
}

// ---------------------------------------------------------------------------------------------------
// Encode / decode

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const Impl& m = *impl_;
  Piece input;
  input.text = tok::utf8_lossy(text);
  input.origin_len = input.text.empty() ? 0 : tok::utf8_len(static_cast<unsigned char>(input.text[0]));

  // 1. Added tokens that match the raw text; 2. normalize the rest and match the normalized ones.
  std::vector<Piece> raw, pieces;
  m.split_added(input, m.trie_raw, raw);
  for (Piece& p : raw) {
    if (p.id >= 0) {
      pieces.push_back(std::move(p));
      continue;
    }
    if (m.normalizer) m.normalizer->normalize(p);
    if (p.text.empty()) continue;
    m.split_added(p, m.trie_normalized, pieces);
  }
  // 3. Pre-tokenize; 4. the model.
  if (m.pre_tokenizer) m.pre_tokenizer->pre_tokenize(pieces);
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 8);
  for (const Piece& p : pieces) {
    if (p.id >= 0) ids.push_back(p.id);
    else m.model.tokenize(p.text, ids);
  }
  // 5. Post-process.
  if (m.post_processor) m.post_processor->process(ids, add_special_tokens);
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  const Impl& m = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (const AddedToken* t = m.added_token(id)) {
      if (skip_special_tokens && m.special_contents.count(t->content)) continue;
      tokens.push_back(m.added_text[m.added_by_id.at(id)]);
    } else if (const std::string* s = m.model.id_to_token(id)) {
      tokens.push_back(*s);
    } else {
      throw Error("tokenizer", str(m.source, ": cannot decode id ", id, " (vocabulary has ", m.vocab_size, " ids)"));
    }
  }
  if (m.decoder) m.decoder->decode_chain(tokens);
  std::string out;
  for (size_t k = 0; k < tokens.size(); ++k) {
    if (k > 0 && !m.decoder) out += ' ';
    out += tokens[k];
  }
  return out;
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const { return impl_->lookup(token); }

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (impl_->added_token(id)) return impl_->added_text[impl_->added_by_id.at(id)];
  if (const std::string* s = impl_->model.id_to_token(id)) return *s;
  return std::nullopt;
}

int32_t Tokenizer::vocab_size() const { return impl_->vocab_size; }
size_t Tokenizer::model_vocab_size() const { return impl_->model.vocab_entries(); }
const std::vector<AddedToken>& Tokenizer::added_tokens() const { return impl_->added; }

std::vector<std::string> Tokenizer::special_tokens() const {
  std::vector<std::string> out;
  for (const AddedToken& t : impl_->added)
    if (t.special && std::find(out.begin(), out.end(), t.content) == out.end()) out.push_back(t.content);
  return out;
}

bool Tokenizer::is_special_id(int32_t id) const {
  const AddedToken* t = impl_->added_token(id);
  return t && impl_->special_contents.count(t->content);
}

const std::string& Tokenizer::bos_token() const { return impl_->bos; }
const std::string& Tokenizer::eos_token() const { return impl_->eos; }
std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos_id; }
std::optional<int32_t> Tokenizer::eos_id() const { return impl_->eos_id; }
const std::string& Tokenizer::source() const { return impl_->source; }

}  // namespace mc

// BPE model (see bpe_model.h).
#include "io/tokenizer/bpe_model.h"

#include <cstdio>
#include <mutex>
#include <queue>

#include "core/error.h"
#include "io/tokenizer/components.h"
#include "io/tokenizer/unicode.h"

namespace mc::tok {

// Words longer than this are not cached; the cache is emptied when it holds kCacheEntries words.
static constexpr size_t kCacheMaxWord = 256;
static constexpr size_t kCacheEntries = 1 << 17;

struct BpeModel::Cache {
  std::mutex mu;
  std::unordered_map<std::string, std::vector<int32_t>, StrHash, std::equal_to<>> map;
};

BpeModel::BpeModel() : cache_(std::make_unique<Cache>()) {
  for (int32_t& v : byte_ids_) v = -1;
}
BpeModel::BpeModel(BpeModel&&) noexcept = default;
BpeModel& BpeModel::operator=(BpeModel&&) noexcept = default;
BpeModel::~BpeModel() = default;

static uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

BpeModel BpeModel::from_json(const Json& m, const JsonReader& r) {
  const char* kind = "model";
  if (!m.is_object()) r.fail("'model' must be an object");
  std::string type = r.get_string(m, "type", kind, "");
  if (type.empty()) {  // old serialisations omit the type; BPE is the one with merges
    if (!r.find(m, "merges")) r.fail("model has no 'type'");
    type = "BPE";
  }
  if (type != "BPE") r.unsupported(kind, type);
  if (const Json* d = r.find(m, "dropout")) {
    if (!d->is_number()) r.fail("model field 'dropout' must be a number");
    if (d->get<double>() != 0.0) r.fail("unsupported model option 'dropout' (BPE dropout is random)");
  }
  BpeModel bpe;
  const Json* vocab = r.find(m, "vocab");
  if (!vocab || !vocab->is_object()) r.fail("model needs an object 'vocab'");
  bpe.vocab_.reserve(vocab->size());
  int64_t max_id = -1;
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    if (!it.value().is_number_integer()) r.fail(str("vocab entry '", it.key(), "' must have an integer id"));
    int64_t id = it.value().get<int64_t>();
    if (id < 0 || id >= INT32_MAX) r.fail(str("vocab entry '", it.key(), "' has id ", id, " out of range"));
    if (utf8_valid_prefix(it.key()) != it.key().size()) r.fail("vocab entry is not valid UTF-8");
    bpe.vocab_[it.key()] = static_cast<int32_t>(id);
    max_id = std::max(max_id, id);
  }
  bpe.vocab_r_.assign(static_cast<size_t>(max_id + 1), std::string());
  bpe.has_id_.assign(static_cast<size_t>(max_id + 1), false);
  for (const auto& [tok, id] : bpe.vocab_) {
    if (bpe.has_id_[id]) {  // two tokens with one id: keep the smaller string for determinism
      if (tok < bpe.vocab_r_[id]) bpe.vocab_r_[id] = tok;
      continue;
    }
    bpe.vocab_r_[id] = tok;
    bpe.has_id_[id] = true;
  }

  bpe.prefix_ = r.get_string(m, "continuing_subword_prefix", kind, "");
  bpe.suffix_ = r.get_string(m, "end_of_word_suffix", kind, "");
  bpe.fuse_unk_ = r.get_bool(m, "fuse_unk", kind, false);
  bpe.byte_fallback_ = r.get_bool(m, "byte_fallback", kind, false);
  bpe.ignore_merges_ = r.get_bool(m, "ignore_merges", kind, false);
  if (r.find(m, "unk_token")) {
    std::string unk = r.get_string(m, "unk_token", kind, "");
    auto it = bpe.vocab_.find(unk);
    if (it != bpe.vocab_.end()) bpe.unk_id_ = it->second;
    else bpe.missing_unk_ = unk;  // an error only once a word needs it, as in the reference
  }
  if (bpe.byte_fallback_) {
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof(name), "<0x%02X>", b);
      auto it = bpe.vocab_.find(std::string_view(name));
      if (it != bpe.vocab_.end()) bpe.byte_ids_[b] = it->second;
    }
  }

  const Json* merges = r.find(m, "merges");
  if (merges && !merges->is_array()) r.fail("model field 'merges' must be an array");
  if (merges) {
    bpe.merges_.reserve(merges->size());
    int32_t rank = 0;
    for (const Json& mg : *merges) {
      std::string a, b;
      if (mg.is_string()) {  // "a b" (legacy): exactly one space
        const std::string& s = mg.get_ref<const std::string&>();
        size_t sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
          r.fail(str("merge ", rank, " '", s, "' is not two tokens separated by one space"));
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (mg.is_array() && mg.size() == 2 && mg[0].is_string() && mg[1].is_string()) {
        a = mg[0].get<std::string>();
        b = mg[1].get<std::string>();
      } else {
        r.fail(str("merge ", rank, " must be \"a b\" or [\"a\", \"b\"]"));
      }
      auto ia = bpe.vocab_.find(a), ib = bpe.vocab_.find(b);
      if (ia == bpe.vocab_.end()) r.fail(str("merge ", rank, " references token '", a, "' not in the vocabulary"));
      if (ib == bpe.vocab_.end()) r.fail(str("merge ", rank, " references token '", b, "' not in the vocabulary"));
      if (b.size() < bpe.prefix_.size()) r.fail(str("merge ", rank, ": token '", b, "' is shorter than the prefix"));
      std::string merged = a + b.substr(bpe.prefix_.size());
      auto im = bpe.vocab_.find(merged);
      if (im == bpe.vocab_.end())
        r.fail(str("merge ", rank, " makes token '", merged, "' which is not in the vocabulary"));
      bpe.merges_[pair_key(ia->second, ib->second)] = Merge{rank, im->second};  // later duplicates win
      ++rank;
    }
  }
  return bpe;
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab_r_.size() || !has_id_[id]) return nullptr;
  return &vocab_r_[id];
}

const BpeModel::Merge* BpeModel::find_merge(int32_t a, int32_t b) const {
  auto it = merges_.find(pair_key(a, b));
  return it == merges_.end() ? nullptr : &it->second;
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    auto it = vocab_.find(word);
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  if (word.size() <= kCacheMaxWord) {
    std::lock_guard<std::mutex> lock(cache_->mu);
    auto it = cache_->map.find(word);
    if (it != cache_->map.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  size_t start = out.size();
  merge_word(word, out);
  if (word.size() <= kCacheMaxWord) {
    std::lock_guard<std::mutex> lock(cache_->mu);
    if (cache_->map.size() >= kCacheEntries) cache_->map.clear();
    cache_->map.emplace(std::string(word), std::vector<int32_t>(out.begin() + static_cast<ptrdiff_t>(start), out.end()));
  }
}

void BpeModel::merge_word(std::string_view w, std::vector<int32_t>& out) const {
  // Initial symbols, one per character (tokenizers BPE::merge_word).
  std::vector<int32_t> ids;
  ids.reserve(w.size());
  int32_t unk = -1;  // pending (possibly fused) unknown, -1: none
  std::string s;
  size_t i = 0;
  while (i < w.size()) {
    size_t b = i;
    i += utf8_len(static_cast<unsigned char>(w[i]));
    if (i > w.size()) i = w.size();
    bool is_first = b == 0, is_last = i == w.size();
    std::string_view ch = w.substr(b, i - b);
    const std::string_view* key = &ch;
    std::string_view keyv;
    if ((!is_first && !prefix_.empty()) || (is_last && !suffix_.empty())) {
      s.clear();
      if (!is_first) s += prefix_;
      s += ch;
      if (is_last) s += suffix_;
      keyv = s;
      key = &keyv;
    }
    auto it = vocab_.find(*key);
    if (it != vocab_.end()) {
      if (unk >= 0) {
        ids.push_back(unk);
        unk = -1;
      }
      ids.push_back(it->second);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (char c : *key) all = all && byte_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all) {
        // (a pending unk stays pending across byte tokens, as in the reference)
        for (char c : *key) ids.push_back(byte_ids_[static_cast<unsigned char>(c)]);
        continue;
      }
    }
    if (!missing_unk_.empty())
      throw Error("tokenizer", str("unk_token '", missing_unk_, "' is not in the model vocabulary"));
    if (unk_id_) {
      if (unk >= 0 && fuse_unk_) continue;  // fused into the pending unk
      if (unk >= 0) ids.push_back(unk);
      unk = *unk_id_;
    }
    // no unk token: the character is dropped, as the reference does
  }
  if (unk >= 0) ids.push_back(unk);

  // Merges: lowest rank first, leftmost on ties; symbols in a doubly linked list.
  const size_t n = ids.size();
  if (n > 1 && !merges_.empty()) {
    struct Sym {
      int32_t id;
      int32_t prev, next;
      bool alive;
    };
    std::vector<Sym> sym(n);
    for (size_t k = 0; k < n; ++k)
      sym[k] = {ids[k], static_cast<int32_t>(k) - 1, k + 1 < n ? static_cast<int32_t>(k + 1) : -1, true};
    struct Cand {
      int32_t rank, pos, new_id;
      bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> queue;
    for (size_t k = 0; k + 1 < n; ++k)
      if (const Merge* m = find_merge(ids[k], ids[k + 1]))
        queue.push({m->rank, static_cast<int32_t>(k), m->new_id});
    while (!queue.empty()) {
      Cand top = queue.top();
      queue.pop();
      Sym& cur = sym[top.pos];
      if (!cur.alive || cur.next < 0) continue;
      Sym& right = sym[cur.next];
      const Merge* m = find_merge(cur.id, right.id);
      if (!m || m->new_id != top.new_id) continue;  // stale entry
      cur.id = top.new_id;
      right.alive = false;
      cur.next = right.next;
      if (cur.next >= 0) sym[cur.next].prev = top.pos;
      if (cur.prev >= 0)
        if (const Merge* pm = find_merge(sym[cur.prev].id, cur.id)) queue.push({pm->rank, cur.prev, pm->new_id});
      if (cur.next >= 0)
        if (const Merge* nm = find_merge(cur.id, sym[cur.next].id)) queue.push({nm->rank, top.pos, nm->new_id});
    }
    for (size_t k = 0; k < n; ++k)
      if (sym[k].alive) out.push_back(sym[k].id);
    return;
  }
  out.insert(out.end(), ids.begin(), ids.end());
}

}  // namespace mc::tok

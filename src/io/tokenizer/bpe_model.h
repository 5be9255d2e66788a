// The BPE model of tokenizer.json ("model": {"type": "BPE", ...}): vocabulary, ranked merges and the
// word -> ids algorithm of the `tokenizers` crate (models/bpe): initial symbols per character (with
// continuing_subword_prefix / end_of_word_suffix), byte_fallback to <0xXX> tokens, unk (fused or not),
// ignore_merges, then merges applied lowest rank first, leftmost first on ties. Dropout is refused
// (it is random). A bounded word cache makes repeated words cheap.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/json.h"

namespace mc::tok {

struct JsonReader;

class BpeModel {
 public:
  static BpeModel from_json(const Json& model, const JsonReader& r);
  BpeModel();
  BpeModel(BpeModel&&) noexcept;
  BpeModel& operator=(BpeModel&&) noexcept;
  ~BpeModel();

  /// Appends the ids of one pre-tokenized word (non-empty).
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  /// nullptr when no vocabulary entry has this id.
  const std::string* id_to_token(int32_t id) const;
  size_t vocab_entries() const { return vocab_.size(); }
  /// Largest id in the vocabulary, -1 when empty.
  int32_t max_id() const { return static_cast<int32_t>(vocab_r_.size()) - 1; }

 private:
  struct StrHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  struct Cache;

  void merge_word(std::string_view word, std::vector<int32_t>& out) const;
  const Merge* find_merge(int32_t a, int32_t b) const;

  std::unordered_map<std::string, int32_t, StrHash, std::equal_to<>> vocab_;
  std::vector<std::string> vocab_r_;  // id -> token ("" for holes; has_id_ tells)
  std::vector<bool> has_id_;
  std::unordered_map<uint64_t, Merge> merges_;
  std::optional<int32_t> unk_id_;
  std::string missing_unk_;  // unk_token absent from the vocabulary
  std::string prefix_, suffix_;  // continuing_subword_prefix, end_of_word_suffix
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
  int32_t byte_ids_[256];  // byte_fallback: id of "<0xXX>", -1 if absent
  std::unique_ptr<Cache> cache_;
};

}  // namespace mc::tok

// A Hugging Face tokenizer loaded from tokenizer.json (the `tokenizers` library's serialisation,
// shared/spec/ecosystem.md §4.4): encode text to ids and decode ids to text exactly as `tokenizers`
// 0.23.3 does for BPE models (byte-level GPT-2/Llama-3/Qwen/SmolLM2 style and SentencePiece-style
// Mistral/Llama-2 style). Pipeline: added tokens split out first (AddedVocabulary), normalizer,
// pre-tokenizer, BPE model, post-processor; decode: ids -> token strings -> decoder.
//
// Deliberate differences from the reference, all documented here:
//   - Input text is bytes. Invalid UTF-8 is replaced with U+FFFD, one per maximal ill-formed
//     subsequence (what Python's bytes.decode("utf-8", "replace") does), then encoded; HF itself only
//     takes valid Unicode strings.
//   - decode() throws on an id outside the vocabulary (the reference silently skips it).
//   - "truncation" and "padding" in tokenizer.json are ignored: encode() never truncates or pads
//     (mc applies its own sequence-length policy to the full ids).
//   - Offsets and type ids are not produced; pair encoding is not supported.
// Unsupported components (e.g. WordPiece/Unigram models, BertNormalizer) are an mc::Error
// "[tokenizer] <file>: unsupported <kind> '<type>'" at load time, never a silent mis-encode.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"

namespace mc {

/// One entry of tokenizer.json's "added_tokens".
struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

class Tokenizer {
 public:
  /// Loads `path`: a tokenizer.json file, or a directory that contains one. Throws mc::Error
  /// ("[tokenizer] <file>: <problem>") for unreadable, malformed or unsupported files.
  static Tokenizer load(const std::string& path);
  /// Builds from an already parsed tokenizer.json; `source` names it in error messages.
  static Tokenizer from_json(const Json& j, const std::string& source);

  /// Text -> ids. `add_special_tokens` applies the post-processor's template (e.g. BOS).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const;
  /// Ids -> text through the decoder; special added tokens are dropped when `skip_special_tokens`.
  /// Throws mc::Error when an id has no token.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens) const;

  /// Added tokens first, then the model vocabulary (as the reference looks tokens up).
  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  /// Number of ids: the largest id (model or added) + 1.
  int32_t vocab_size() const;
  /// Entries of the model vocabulary alone (HF get_vocab_size(with_added_tokens=False)).
  size_t model_vocab_size() const;

  const std::vector<AddedToken>& added_tokens() const;
  /// Contents of the special added tokens, in file order.
  std::vector<std::string> special_tokens() const;
  bool is_special_id(int32_t id) const;

  /// Special tokens the post-processor puts before / after a sequence ("" when none), and their ids.
  const std::string& bos_token() const;
  const std::string& eos_token() const;
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;

  /// The file (or source name) this tokenizer came from.
  const std::string& source() const;

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
};

}  // namespace mc

// The pipeline stages of a Hugging Face `tokenizers` Tokenizer, parsed from tokenizer.json:
// normalizers, pre-tokenizers, post-processors and decoders (the BPE model is in bpe_model.h).
// Each mirrors the type of the same name in the `tokenizers` crate (0.23.3) as far as token ids and
// decoded text are concerned; offsets are not tracked, only whether a piece starts the input (which
// Metaspace's prepend_scheme "first" needs). Unknown types are mc::Error, never skipped.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/json.h"
#include "io/tokenizer/regex.h"

namespace mc::tok {

/// One split of the text on its way through the pipeline.
struct Piece {
  std::string text;
  int32_t id = -1;        // >= 0: an added token, final
  size_t origin_len = 0;  // leading bytes of `text` that stem from the input's first character
                          // (0: the piece does not start the input)
};

/// Helpers that read typed fields and throw "[tokenizer] <source>: ..." on a wrong type.
struct JsonReader {
  const std::string& source;
  std::string type_of(const Json& j, const char* kind) const;  // j["type"], required
  const Json* find(const Json& j, const char* key) const;      // nullptr when absent or null
  std::string get_string(const Json& j, const char* key, const char* kind, const std::string& dflt) const;
  bool get_bool(const Json& j, const char* key, const char* kind, bool dflt) const;
  int64_t get_int(const Json& j, const char* key, const char* kind, int64_t dflt) const;
  Pattern get_pattern(const Json& j, const char* kind) const;  // j["pattern"] = {"String"|"Regex": s}
  [[noreturn]] void fail(const std::string& what) const;
  [[noreturn]] void unsupported(const char* kind, const std::string& type) const;
};

class Normalizer {
 public:
  enum class Kind { Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip, StripAccents };
  static Normalizer from_json(const Json& j, const JsonReader& r);
  /// Normalizes one piece in place (non-empty input; may become empty).
  void normalize(Piece& p) const;
  std::string normalize_str(const std::string& s) const;  // for added-token contents

 private:
  Kind kind_ = Kind::Sequence;
  std::vector<Normalizer> children_;
  std::string content_;  // Prepend: the prefix; Replace: the replacement
  std::optional<Pattern> pattern_;
  bool left_ = false, right_ = false;
};

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

class PreTokenizer {
 public:
  enum class Kind { Sequence, ByteLevel, Split, Digits, Metaspace, WhitespaceSplit };
  enum class Prepend { Always, First, Never };
  static PreTokenizer from_json(const Json& j, const JsonReader& r);
  /// Splits every piece that is not an added token; drops empty pieces.
  void pre_tokenize(std::vector<Piece>& pieces) const;

 private:
  void apply(const Piece& p, std::vector<Piece>& out) const;
  Kind kind_ = Kind::Sequence;
  std::vector<PreTokenizer> children_;
  bool add_prefix_space_ = false, use_regex_ = true;  // ByteLevel
  std::optional<Pattern> pattern_;                    // Split
  SplitBehavior behavior_ = SplitBehavior::Isolated;  // Split
  bool invert_ = false;                               // Split
  bool individual_digits_ = false;                    // Digits
  std::string replacement_ = "\xE2\x96\x81";          // Metaspace ("▁")
  Prepend prepend_ = Prepend::Always;                 // Metaspace
  bool split_ = true;                                 // Metaspace
};

class PostProcessor {
 public:
  enum class Kind { Sequence, ByteLevel, Template, Bert, Roberta };
  static PostProcessor from_json(const Json& j, const JsonReader& r);
  /// Adds the template's special tokens around a single sequence when `add_special_tokens`.
  void process(std::vector<int32_t>& ids, bool add_special_tokens) const;
  /// Special-token strings placed before / after the sequence by the single template (for BOS/EOS).
  std::vector<std::string> prefix_tokens() const;
  std::vector<std::string> suffix_tokens() const;
  /// Every id this processor may insert (to validate against the vocabulary).
  std::vector<int32_t> inserted_ids() const;

 private:
  struct Item {
    bool is_sequence = false;
    std::vector<int32_t> ids;          // special token ids
    std::vector<std::string> tokens;   // their strings
  };
  Kind kind_ = Kind::Sequence;
  std::vector<PostProcessor> children_;
  std::vector<Item> single_;
};

class Decoder {
 public:
  enum class Kind { Sequence, ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace, BPEDecoder };
  static Decoder from_json(const Json& j, const JsonReader& r);
  /// Transforms the token strings (tokenizers' decode_chain); the caller concatenates the result.
  void decode_chain(std::vector<std::string>& tokens) const;

 private:
  Kind kind_ = Kind::Sequence;
  std::vector<Decoder> children_;
  std::string content_;  // Strip: the character; Replace: the replacement; BPEDecoder: suffix
  std::optional<Pattern> pattern_;
  size_t start_ = 0, stop_ = 0;  // Strip
  std::string replacement_ = "\xE2\x96\x81";
  bool prepend_ = true;  // Metaspace: prepend_scheme != never
};

/// GPT-2's bytes_to_unicode(): the printable character that stands for each byte.
const std::string& byte_level_char(unsigned char b);
/// The inverse map; returns false when `cp` is not one of the 256 byte characters.
bool byte_level_byte(char32_t cp, unsigned char& b);

}  // namespace mc::tok

// A model's tokenizer as training needs it: tokenizer.json + tokenizer_config.json (special tokens,
// chat template, add_bos_token/add_eos_token) read from a model directory (or a GGUF file), loaded the
// way transformers 5.23's AutoTokenizer loads them, plus what loss masks need: the end-of-turn markers
// of assistant turns and the text bytes each token stands for (token_offsets.h).
//
// transformers 5 rebuilds some tokenizer classes from tokenizer.json's vocabulary and merges with the
// class's own pipeline instead of using the file's (tokenization_utils_tokenizers.py
// convert_to_native_format). We do the same for the classes below; any other class uses tokenizer.json
// as it is (as TokenizersBackend / PreTrainedTokenizerFast do):
//   LlamaTokenizer(Fast)  no normalizer; Metaspace pre-tokenizer (replacement U+2581, split false,
//                         prepend_scheme "always" when legacy, "first" otherwise, "never" without
//                         add_prefix_space); decoder Replace/ByteFallback/Fuse[/Strip]; BPE with byte
//                         fallback and fuse_unk. (Mistral-7B's tokenizer.json has a Prepend normalizer
//                         instead, which yields different ids, e.g. for text that starts with a space.)
//   Qwen2Tokenizer(Fast)  NFC; Split(Qwen2 regex, isolated) + ByteLevel(use_regex false); ByteLevel decoder.
// Then, as TokenizersBackend.__init__ does, an "add_bos_token"/"add_eos_token" key in the config (or
// a missing post-processor) replaces the post-processor with TemplateProcessing "[bos] $A [eos]".
// Special tokens (bos/eos/unk/sep/pad/cls/mask) come from the config, with the class defaults of the
// rebuilt classes; the chat template from --chat-template, else chat_template.jinja in the model
// directory, else the config's "chat_template" (string or {name, template} list).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/json.h"
#include "io/chat_template/chat_template.h"
#include "io/tokenizer/tokenizer.h"

namespace mc {

struct BundleOptions {
  std::string chat_template_file;  // a Jinja file that replaces the model's chat template
};

/// How the tokenizer writes a token's text in its vocabulary, and how it normalises text: what
/// token_offsets needs to find each token's bytes in the text it was encoded from.
struct TokenTextRules {
  enum class Pieces { Plain, ByteLevel, Metaspace };
  enum class Norm { None, NFC, NFKC, Unsupported };
  Pieces                 pieces = Pieces::Plain;
  bool                   byte_fallback = false;  // "<0xNN>" pieces are one byte
  Norm                   norm = Norm::None;
  std::string            norm_name;              // the unsupported normalizer's type
  std::optional<int32_t> unk_id;
};

class ModelTokenizerBundle {
 public:
  /// `path`: a model directory holding tokenizer.json (tokenizer_config.json, chat_template.jinja and
  /// generation_config.json are optional), a tokenizer.json file, or a .gguf file (tokenizer rebuilt
  /// from its metadata). Throws mc::Error("[dataset] ..." or "[tokenizer] ...") on a missing or bad file.
  static ModelTokenizerBundle load(const std::string& path, const BundleOptions& options = {});

  const Tokenizer& tokenizer() const;
  /// The chat template ("tool_use" variant of a template list when `with_tools` and present); null
  /// when the model has none.
  const ChatTemplate* chat_template(bool with_tools = false) const;
  /// transformers' special_tokens_map: {"bos_token": ..., "eos_token": ..., ...}, set tokens only.
  const OrderedJson& special_tokens() const;
  /// The config's eos_token ("" when none) and its id: what training appends after text and completions.
  const std::string& eos_token() const;
  std::optional<int32_t> eos_id() const;
  /// Strings that end an assistant turn in rendered chats: eos_token, the tokens of
  /// generation_config.json's eos_token_id, and the usual end-of-turn tokens (kKnownEndOfTurn in the
  /// .cpp) that are special tokens of this tokenizer.
  const std::vector<std::string>& end_markers() const;
  const std::string& tokenizer_class() const;
  /// What the loader changed or assumed (e.g. the class rebuild), for the CLI to show.
  const std::vector<std::string>& notes() const;
  const std::string& source() const;

  const TokenTextRules& text_rules() const;
  /// Added token by id (null when `id` is a model-vocabulary token).
  const AddedToken* added_token(int32_t id) const;
  /// The text bytes token `id` stands for: added tokens their content; ByteLevel pieces mapped back
  /// to bytes; Metaspace U+2581 as a space and <0xNN> as the byte. Throws for an unknown id.
  std::string token_bytes(int32_t id) const;

  struct State;

 private:
  std::shared_ptr<const State> s_;
};

}  // namespace mc

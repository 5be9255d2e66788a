// Hugging Face tokenizer files (tokenizer.json + tokenizer_config.json) rebuilt from a GGUF file's
// tokenizer metadata (tokenizer.ggml.*, tokenizer.chat_template). Mirrors what llama.cpp stores
// (convert_hf_to_gguf.py, src/llama-vocab.cpp) and how transformers' GGUF loader reads it back
// (integrations/gguf/gguf_tokenizer_mapping.py), but aims at the model's ORIGINAL tokenizer.json:
//   - "gpt2": byte-level BPE; vocab, merges and added tokens verbatim; the pre-tokenizer is chosen from
//     tokenizer.ggml.pre (llama.cpp's pre-tokenizer types, e.g. smollm = Digits + ByteLevel,
//     llama-bpe/lfm2 = Llama-3 Split + ByteLevel with ignore_merges, qwen2 = NFC + Qwen2 Split).
//   - "llama": SentencePiece-style BPE (Prepend/Replace normalizer as in the original Llama-2/Mistral
//     tokenizer.json, byte fallback); merges recovered from the scores as transformers' generate_merges does.
// Anything else is an mc::Error naming the supported kinds. Not a tokenizer: nothing here encodes text.
#pragma once
#include <string>
#include <vector>

#include "core/json.h"
#include "io/gguf.h"

namespace mc {

/// llama.cpp token types (tokenizer.ggml.token_type).
enum class GgufTokenType : int32_t {
  Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6,
};

struct HfTokenizerFiles {
  OrderedJson tokenizer_json;    // tokenizer.json (tokenizers library serialisation)
  OrderedJson tokenizer_config;  // tokenizer_config.json (chat_template, special token strings, ...)
};

/// Builds the HF tokenizer files from `g`'s metadata. Throws mc::Error("[tokenizer] <file>: ...") when
/// the metadata is missing, malformed (wrong types, ids out of range, invalid UTF-8) or of a kind or
/// pre-tokenizer mc does not know.
HfTokenizerFiles tokenizer_from_gguf(const GgufFile& g);

/// tokenizer.ggml.model values tokenizer_from_gguf accepts.
const std::vector<std::string>& gguf_tokenizer_models();
/// tokenizer.ggml.pre values accepted for the "gpt2" model.
const std::vector<std::string>& gguf_tokenizer_pre_types();

/// Merges implied by a SentencePiece vocabulary and its scores, ranked as transformers'
/// generate_merges ranks them: every split of a token into two vocabulary pieces, best score first,
/// ties broken by longer left piece, then longer right piece (lengths in code points), then file order.
/// `tokens` and `scores` have equal length.
std::vector<std::pair<std::string, std::string>> merges_from_scores(const std::vector<std::string>& tokens,
                                                                    const std::vector<double>& scores);

}  // namespace mc

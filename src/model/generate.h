// Text generation over the KV cache: prefill the prompt in one forward pass, then one token per step,
// each chosen by a Sampler (model/sampling.h). Stops on an end-of-sequence id, on a stop string in the
// decoded text, at max_new_tokens, or at the model's context (max_position_embeddings). Text is streamed
// through a callback in pieces that are complete UTF-8 and never part of a possible stop string.
//
// The generated text is tokenizer.decode(new ids, skip_special_tokens) without a final end-of-sequence
// id, which is what transformers' text-generation pipeline returns; a stop string and everything after
// it are cut from it (the ids keep every generated token, as StopStringCriteria does). Not a server: one
// sequence, no batching, no speculative decoding. The model is taken by const reference and every
// forward pass gets the caller's ForwardOptions (logits mode forced to Last), so an adapter carried in
// ForwardOptions applies to generation as it does to training.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "io/tokenizer/tokenizer.h"
#include "model/config.h"
#include "model/sampling.h"
#include "model/transformer.h"

namespace mc {

enum class StopReason {
  Eos,         // an end-of-sequence id was generated
  StopString,  // the decoded text contains a stop string
  MaxTokens,   // max_new_tokens were generated
  Context,     // the sequence reached the model's context (max_position_embeddings)
};

/// "eos", "stop_string", "max_tokens", "context".
const char* stop_reason_name(StopReason r);

struct GenerateOptions {
  int64_t                  max_new_tokens = 256;
  SamplingOptions          sampling;
  std::vector<int64_t>     eos_ids;       // stop after any of these (kept in tokens, left out of text)
  std::vector<std::string> stop_strings;  // stop when the text contains one (cut from the text); non-empty
  bool                     skip_special_tokens = true;  // when decoding the text
  ForwardOptions           forward;       // passed to every forward pass; logits is set to Last
};

struct GenerateResult {
  std::string          text;             // decoded new tokens, cut at a stop string
  std::vector<int32_t> tokens;           // (new_tokens) every generated id, the final eos included
  int64_t              prompt_tokens = 0;
  int64_t              new_tokens = 0;
  int64_t              decode_steps = 0;          // single-token forward passes after the prefill
  double               prefill_seconds = 0.0;     // the prompt's forward pass
  double               decode_seconds = 0.0;      // the single-token forward passes
  double               prefill_tokens_per_second = 0.0;  // prompt_tokens / prefill_seconds
  double               decode_tokens_per_second = 0.0;   // decode_steps / decode_seconds
  StopReason           stop_reason = StopReason::MaxTokens;
  bool                 context_capped = false;    // max_new_tokens was cut to fit the context
  int64_t              token_budget = 0;          // new tokens allowed: min(max_new_tokens, context − prompt)
};

/// Receives each newly complete piece of text as it is generated.
using TextCallback = std::function<void(std::string_view piece)>;

/// Generates a continuation of `prompt` (ids). A prompt longer than the model's context
/// (max_position_embeddings; 0 means unlimited) is mc::Error("generate", ...) exit 1; when prompt +
/// max_new_tokens exceeds it, generation is capped at the context (context_capped, stop reason Context
/// when the cap is reached). Forward-pass errors propagate.
GenerateResult generate(const Model& model, const Tokenizer& tokenizer, const std::vector<int32_t>& prompt,
                        const GenerateOptions& options, const TextCallback& on_text = {});

/// The end-of-sequence ids generate() should stop on for the model in `model_dir`: eos_token_id of
/// generation_config.json when the file sets it (an int or a list), else config.json's (`config`).
/// transformers' generate() uses the generation config's ids the same way.
std::vector<int64_t> generation_eos_ids(const std::string& model_dir, const ModelConfig& config);

/// Turns the growing decoded text into streamable pieces and finds stop strings. The text passed to
/// update() is the decode of all tokens so far; it may end in an incomplete UTF-8 character (shown as
/// U+FFFD by the decoder, or as a truncated byte sequence) that later tokens complete, and it may end
/// in the first bytes of a stop string. Both are held back; everything before them is released once.
class TextStreamer {
 public:
  explicit TextStreamer(std::vector<std::string> stop_strings);

  /// Takes the full text so far; returns the newly releasable piece ("" when none). After a stop string
  /// is found, stopped() is true, the piece ends where the stop string starts and text() is final.
  std::string update(const std::string& text);
  /// End of generation: releases the rest of `text` (still cut at a stop string if one is found).
  std::string finish(const std::string& text);

  bool stopped() const { return stopped_; }
  /// The text released so far (after finish(): the final text).
  const std::string& text() const { return released_; }

 private:
  std::vector<std::string> stops_;
  size_t                   max_stop_ = 0;
  std::string              released_;
  bool                     stopped_ = false;
};

/// Length of the longest prefix of `s` that ends on a complete character: a trailing incomplete UTF-8
/// sequence and trailing U+FFFD replacement characters (a decoder's rendering of incomplete bytes) are
/// left out. Exposed for tests.
size_t utf8_stable_prefix(std::string_view s);

}  // namespace mc

// Records -> training examples: token ids and a loss mask (DECISIONS.md row 4), sequence-length
// policies and packing. The rules, which tools/gen_dataset_goldens.py reproduces with transformers:
//
//   text               ids = encode(text, add_special_tokens=true), then the config's eos token unless
//                      it is already last (append_eos; TRL's and MLX-LM's convention). Every token
//                      carries the loss.
//   prompt/completion  the plain concatenation prompt + completion, encoded as one string (so the ids
//                      are exactly what the model sees at inference), then eos as for text. A token
//                      carries the loss when its bytes overlap the completion's bytes; tokens the
//                      post-processor puts after the text (eos) carry it, those before it (bos) do not.
//                      With prompt_completion_as_chat and a chat template, the record is rendered as the
//                      conversation [user: prompt, assistant: completion] instead (loss as for messages).
//   conversational     {"prompt": [messages], "completion": [messages]}: rendered as prompt + completion;
//   prompt/completion  only the completion's assistant turns carry the loss.
//   messages           rendered with the model's chat template (add_generation_prompt false) and encoded
//                      without added special tokens (the template writes them), as apply_chat_template
//                      (tokenize=True) does. Assistant spans come from ChatTemplate::render_with_spans
//                      (prefix rendering; end-of-turn markers from ModelTokenizerBundle::end_markers), so
//                      the end-of-turn token the template writes after assistant content (<|im_end|>,
//                      <|eot_id|>, </s>) is trained and the template's text around turns is not. A token
//                      carries the loss when its bytes (token_offsets.h) overlap an assistant span.
//
// Mask convention: loss_mask[t] = 1 makes token t a target, predicted from tokens < t. Token 0 of a
// sequence is never a target whatever its bit (nothing precedes it).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/json.h"
#include "io/dataset/model_tokenizer.h"
#include "io/dataset/record.h"
#include "io/dataset/token_offsets.h"

namespace mc {

struct TokenizeOptions {
  bool        append_eos = true;                          // text and plain prompt/completion records
  bool        prompt_completion_as_chat = false;          // render plain prompt/completion as a conversation
  OrderedJson template_kwargs = OrderedJson::object();  // extra chat-template variables (enable_thinking, ...)
};

struct TokenizedExample {
  std::vector<int32_t> input_ids;  // (T)
  std::vector<uint8_t> loss_mask;  // (T) 1: the token is a training target
  std::string          where;      // the record's "file:line"

  /// Training targets: tokens t >= 1 whose mask bit is set.
  size_t loss_tokens() const;
};

/// Everything about one tokenized record, for display (`mc tokenize --chat`): the text that was
/// encoded, each token's bytes in it (post-processor tokens: empty spans at the text's ends) and the
/// trained byte spans.
struct TokenizedView {
  TokenizedExample                       example;
  std::string                            text;
  std::vector<TokenSpan>                 offsets;  // (T)
  std::vector<std::pair<size_t, size_t>> trained;  // byte spans of the text that carry the loss
};

/// Tokenizes one record by the rules above. Throws mc::Error("dataset", "<where>: ...") when the
/// record needs a chat template the model lacks, or the template fails on it ("chat_template" errors
/// are passed through with the record's location prepended).
TokenizedView tokenize_record_view(const ModelTokenizerBundle& bundle, const Record& record,
                                   const TokenizeOptions& options = {});
TokenizedExample tokenize_record(const ModelTokenizerBundle& bundle, const Record& record,
                                 const TokenizeOptions& options = {});

/// How an example longer than the sequence length is handled.
///   Right: keep the first max_tokens tokens. The prompt comes first, so it is kept and the end of the
///          completion (or of the last turns) is cut; an example left with no loss token is dropped.
///   Drop:  drop the example whole.
enum class Truncation { Right, Drop };

struct SequencePolicy {
  int64_t    max_tokens = 0;  // 0: no limit
  Truncation truncation = Truncation::Right;
};

/// Applies `policy` to `ex` in place. Returns nullopt when the example is kept, else why it is dropped.
/// An example without any loss token is dropped in any case.
std::optional<std::string> fit_to_length(TokenizedExample& ex, const SequencePolicy& policy);

/// Several examples concatenated into one training sequence.
struct PackedSequence {
  std::vector<int32_t> input_ids;       // (T), T <= seq_len; no padding
  std::vector<uint8_t> loss_mask;       // (T) each example's first token is cleared (never a target)
  std::vector<int32_t> position_ids;    // (T) restart at 0 at each example
  std::vector<size_t>  example_starts;  // offset of each example in the sequence (attention boundaries)
  std::vector<size_t>  examples;        // indices of the packed examples in the input
};

/// Packs examples in their order, greedily: an example joins the current sequence when it fits in
/// seq_len tokens, else it starts a new one (examples are never split; order is kept, so the result is
/// deterministic). Every example must already fit (fit_to_length); a longer one throws mc::Error.
std::vector<PackedSequence> pack_examples(std::span<const TokenizedExample> examples, int64_t seq_len);

/// Summary of a list of lengths. median: the middle value (mean of the two middle ones for an even
/// count); p95: nearest rank, the ceil(0.95·n)-th smallest value.
struct LengthStats {
  size_t   count = 0;
  uint64_t total = 0;
  double   min = 0, median = 0, mean = 0, p95 = 0, max = 0;
};
LengthStats length_stats(std::vector<size_t> lengths);

}  // namespace mc

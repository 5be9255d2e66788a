// Choosing the next token from a model's logits the way transformers 5.23's generate() does: its logits
// processors in generate()'s order (RepetitionPenaltyLogitsProcessor over the prompt and the generated
// ids, then, when sampling, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper, MinPLogitsWarper,
// each with min_tokens_to_keep = 1), then argmax (greedy) or a draw from the softmax with our own seeded
// xoshiro256** (core/rng.h). Not the same random stream as torch.multinomial: the same seed gives the same
// tokens in mc, not the tokens PyTorch would draw. tests/golden/sampling_golden_test.cpp checks the
// processed scores against transformers' processors (tools/gen_sampling_goldens.py).
//
// Arithmetic mirrors PyTorch's float32 ops: the scalar (temperature, penalty) is rounded to float before
// the multiply or divide, so processed scores match transformers bit for bit on those steps. Softmax and
// the top-p cumulative sum run in double (torch's cumsum accumulates in double on CPU) with the
// probabilities rounded to float as torch stores them. One deliberate difference: torch.sort on CPU is not
// stable, so which of several *equal* scores top-p drops at its boundary is unspecified there; we sort
// stably (ties by ascending id, so the lowest ids are dropped first).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "core/rng.h"

namespace mc {

/// Decoding options; the defaults are greedy decoding with every filter off.
struct SamplingOptions {
  double   temperature        = 0.0;  // 0: greedy (argmax); > 0: sample from softmax(scores / temperature)
  int64_t  top_k              = 0;    // keep the k highest scores (ties with the k-th kept); 0: off
  double   top_p              = 1.0;  // keep the smallest top set with probability >= top_p; 1: off
  double   min_p              = 0.0;  // drop tokens with p < min_p · p_max; 0: off
  double   repetition_penalty = 1.0;  // scores of ids seen so far: s < 0 ? s·r : s / r; 1: off
  uint64_t seed               = 0;    // seeds the sampler's Rng (unused when greedy)

  bool greedy() const { return temperature == 0.0; }
};

/// Checks the option ranges transformers accepts (temperature >= 0, top_k >= 0, top_p and min_p in
/// [0, 1], repetition_penalty > 0, all finite). Throws mc::Error("sampling", ...) otherwise.
void sampling_validate(const SamplingOptions& options);

/// Applies transformers' logits processors to `scores` (V) in place, in generate()'s order:
/// repetition penalty over every distinct id of `history` in [0, V) (applied also when greedy, as in
/// transformers), then only when sampling: temperature, top-k, top-p, min-p. Filtered entries become
/// -inf. A processor whose option is "off" is skipped, as generate() skips it.
void sampling_process(std::span<float> scores, std::span<const int32_t> history, const SamplingOptions& options);

/// Picks tokens: sampling_process, then argmax (greedy; ties to the lowest id, as torch.argmax) or one
/// draw from softmax(processed scores). Holds the Rng, so a sequence of calls is reproducible per seed.
class Sampler {
 public:
  explicit Sampler(const SamplingOptions& options);

  /// The next token for `logits` (V) after the ids `history` (prompt + generated so far).
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history);
  /// The scores the last sample() drew from (V): the processed logits.
  std::span<const float> last_scores() const { return scores_; }
  const SamplingOptions& options() const { return options_; }

 private:
  SamplingOptions       options_;
  Rng                   rng_;
  std::vector<float>    scores_;  // (V) processed scores
  std::vector<double>   probs_;   // (V) unnormalised exp(score - max)
};

/// Draws an index from the distribution softmax(scores) with one uniform number u in [0, 1): the first
/// index whose cumulative probability (in id order, double precision) exceeds u. Entries at -inf are never
/// drawn. Exposed for tests.
int32_t sample_from_scores(std::span<const float> scores, double u, std::vector<double>& scratch);

}  // namespace mc

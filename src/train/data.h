// Training data for both trainers: a dataset file's records tokenized with the model's tokenizer and
// chat template (io/dataset/tokenize.h: assistant-only loss for chat, completion-only for prompt/
// completion, every token for text), fitted to the sequence length, plus deterministic shuffles.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/dataset/model_tokenizer.h"
#include "io/dataset/tokenize.h"

namespace mc::train {

struct TokenizedDataset {
  std::string                   path;
  std::vector<TokenizedExample> examples;
  size_t                        records = 0;     // records read
  size_t                        dropped = 0;     // records that train nothing or did not fit
  size_t                        truncated = 0;   // examples cut to the sequence length
  int64_t                       max_tokens = 0;  // longest example before fitting
  uint64_t                      loss_tokens = 0; // training targets after fitting
};

/// Reads and tokenizes `path`. seq_length > 0 truncates longer examples (Right); 0 keeps them whole.
/// Throws mc::Error("[train] <path>: ...") when nothing trainable is left.
TokenizedDataset load_tokenized(const std::string& path, const ModelTokenizerBundle& bundle, int64_t seq_length);

/// A permutation of [0, n) from `seed` (Fisher–Yates on xoshiro256**; core/rng.h).
std::vector<int64_t> shuffled_indices(int64_t n, uint64_t seed);

/// Mixes several integers into one seed (splitmix64 chain): per-epoch orders, per-step dropout seeds.
uint64_t derive_seed(uint64_t seed, uint64_t a, uint64_t b = 0);

}  // namespace mc::train

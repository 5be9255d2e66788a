#include "train/data.h"

#include <algorithm>

#include "core/error.h"
#include "core/rng.h"
#include "io/dataset/record.h"

namespace mc::train {

TokenizedDataset load_tokenized(const std::string& path, const ModelTokenizerBundle& bundle, int64_t seq_length) {
  TokenizedDataset ds;
  ds.path = path;
  LoadedRecords loaded = load_records(path, /*skip_invalid=*/false);
  ds.records = loaded.records.size();
  SequencePolicy policy;
  policy.max_tokens = seq_length;
  policy.truncation = Truncation::Right;
  for (const Record& r : loaded.records) {
    if (record_drop_reason(r)) {
      ++ds.dropped;
      continue;
    }
    TokenizedExample ex = tokenize_record(bundle, r);
    const int64_t len = static_cast<int64_t>(ex.input_ids.size());
    ds.max_tokens = std::max(ds.max_tokens, len);
    if (fit_to_length(ex, policy)) {
      ++ds.dropped;
      continue;
    }
    if (static_cast<int64_t>(ex.input_ids.size()) < len) ++ds.truncated;
    ds.loss_tokens += ex.loss_tokens();
    ds.examples.push_back(std::move(ex));
  }
  if (ds.examples.empty())
    throw Error("train", str(path, ": no trainable example among ", ds.records,
                             " records (empty texts, no assistant turn, or nothing left after fitting to ",
                             seq_length, " tokens)"));
  return ds;
}

uint64_t derive_seed(uint64_t seed, uint64_t a, uint64_t b) {
  uint64_t s = seed;
  uint64_t x = splitmix64_next(s) ^ a;
  x = splitmix64_next(x) ^ b;
  return splitmix64_next(x);
}

std::vector<int64_t> shuffled_indices(int64_t n, uint64_t seed) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
  Rng rng(seed);
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = static_cast<int64_t>(rng.uniform_int(static_cast<uint64_t>(i + 1)));
    std::swap(idx[static_cast<size_t>(i)], idx[static_cast<size_t>(j)]);
  }
  return idx;
}

}  // namespace mc::train

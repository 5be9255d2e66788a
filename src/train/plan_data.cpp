// Sequence length, seeded shuffle and the pilot_variance split (plan_data.h).
#include "train/plan_data.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/rng.h"

namespace mc::train {

int64_t derived_sequence_length(int64_t max_tokens) {
  MC_CHECK(max_tokens >= 0, "negative token count");
  return (max_tokens + 1 + kSimdWidth - 1) / kSimdWidth * kSimdWidth;
}

SeqLengthChoice resolve_sequence_length(std::span<const int64_t> train_counts, std::span<const int64_t> eval_counts,
                                        std::span<const int64_t> retention_counts,
                                        std::optional<int64_t> user_override) {
  SeqLengthChoice c;
  for (auto counts : {train_counts, eval_counts, retention_counts})
    for (int64_t n : counts) {
      if (n < 0) throw Error("plan", "negative token count " + std::to_string(n));
      c.max_tokens = std::max(c.max_tokens, n);
    }
  if (user_override) {
    if (*user_override <= 0) throw Error("plan", "--seq-length must be positive (got " + std::to_string(*user_override) + ")");
    c.seq_length = *user_override;
    c.source = kSeqLengthSourceUser;
    return c;
  }
  if (train_counts.empty()) throw Error("plan", "no training samples to derive the sequence length from");
  c.seq_length = derived_sequence_length(c.max_tokens);
  c.source = kSeqLengthSourceDerived;
  return c;
}

std::vector<size_t> seeded_permutation(size_t n, uint64_t seed) {
  std::vector<size_t> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = i;
  Rng rng(seed);
  for (size_t i = n; i-- > 1;) {
    const size_t j = static_cast<size_t>(rng.uniform_int(static_cast<uint64_t>(i) + 1));
    std::swap(p[i], p[j]);
  }
  return p;
}

ValidationSplit pilot_variance_split(size_t n_total, uint64_t seed, const std::function<double(size_t)>& sample_loss,
                                     double relative_precision) {
  if (n_total < kPilotMinSamples)
    throw Error("plan", "the dataset has " + std::to_string(n_total) + " usable sample(s); the derived eval split needs at least " +
                            std::to_string(kPilotMinSamples) + " (2 eval + 1 train) (pass --eval-data)");
  if (!(relative_precision > 0.0) || !std::isfinite(relative_precision))
    throw Error("plan", "the pilot split's relative precision must be positive and finite");
  const double eps = geometry::kEpsF32, sqrt_eps = geometry::kSqrtEpsF32;

  ValidationSplit s;
  s.split_method = kSplitPilotVariance;
  s.method = kValidationPilotMethod;
  s.relative_precision = relative_precision;
  const std::vector<size_t> order = seeded_permutation(n_total, seed);

  double mean = 0.0, m2 = 0.0;
  double n_val = 1.0;  // double: the request can exceed any integer type (n ≈ CV²/ρ²)
  size_t n_eval = 0;
  for (size_t i = 1; i <= n_total; ++i) {
    const size_t idx = order[i - 1];
    const double x = sample_loss(idx);
    if (!std::isfinite(x)) throw Error("plan", "base-model loss of training sample " + std::to_string(idx) + " is not finite");
    const double delta = x - mean;
    mean += delta / static_cast<double>(i);
    m2 += delta * (x - mean);
    s.pilot_steps = static_cast<int64_t>(i);
    s.pilot_mean_loss = mean;
    if (i < 2) continue;
    const double var = m2 / static_cast<double>(i - 1);
    const double target_se = std::fabs(mean) > sqrt_eps ? relative_precision * std::fabs(mean) : eps;
    const double n_req = std::ceil(var / (target_se * target_se));
    n_val = std::max(n_val, n_req);
    s.pilot_variance = var;
    s.target_se = target_se;
    s.requested_n_eval = n_val;
    if (n_val >= static_cast<double>(n_total)) break;  // cannot leave a train sample: fall back
    if (static_cast<double>(i) >= std::max(2.0, n_val)) {
      n_eval = i;
      break;
    }
  }
  if (n_eval == 0) {  // DECISIONS.md #3
    s.fallback = kSplitFallbackSqrtN;
    n_eval = std::max<size_t>(2, static_cast<size_t>(std::ceil(std::sqrt(static_cast<double>(n_total)))));
  }
  s.eval_indices.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n_eval));
  s.train_indices.assign(order.begin() + static_cast<std::ptrdiff_t>(n_eval), order.end());
  s.n_eval = static_cast<int64_t>(n_eval);
  s.n_train = static_cast<int64_t>(n_total - n_eval);
  return s;
}

ValidationSplit pilot_variance_split(std::span<const double> losses, uint64_t seed, double relative_precision) {
  return pilot_variance_split(losses.size(), seed, [&](size_t i) { return losses[i]; }, relative_precision);
}

ValidationSplit explicit_eval_split(size_t n_train, size_t n_eval) {
  if (n_train == 0) throw Error("plan", "the training dataset has no usable sample");
  if (n_eval == 0) throw Error("plan", "the eval dataset has no usable sample");
  ValidationSplit s;
  s.split_method = kSplitExplicit;
  s.method = kValidationExplicitMethod;
  s.n_train = static_cast<int64_t>(n_train);
  s.n_eval = static_cast<int64_t>(n_eval);
  return s;
}

}  // namespace mc::train

// transformers 5.23's logits processors (generation/logits_process.py) and the token draw; see sampling.h.
#include "model/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"

namespace mc {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// RepetitionPenaltyLogitsProcessor: every distinct id once; ids outside [0, V) cannot be generated and
// are skipped (transformers clamps them onto a padding column it drops).
void repetition_penalty(std::span<float> s, std::span<const int32_t> history, double penalty) {
  std::vector<int32_t> ids(history.begin(), history.end());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  const auto r = static_cast<float>(penalty);
  const auto V = static_cast<int64_t>(s.size());
  for (int32_t id : ids) {
    if (id < 0 || id >= V) continue;
    float& x = s[static_cast<size_t>(id)];
    x = x < 0.0f ? x * r : x / r;
  }
}

// TopKLogitsWarper: remove scores below the k-th largest (all ties with it stay).
void top_k_filter(std::span<float> s, int64_t top_k) {
  const auto V = static_cast<int64_t>(s.size());
  const int64_t k = std::min(std::max<int64_t>(top_k, 1), V);
  std::vector<float> tmp(s.begin(), s.end());
  std::nth_element(tmp.begin(), tmp.begin() + (k - 1), tmp.end(), std::greater<float>());
  const float kth = tmp[static_cast<size_t>(k - 1)];
  for (float& x : s)
    if (x < kth) x = kNegInf;
}

// Softmax of s as torch stores it: exp(s - max) / sum in double, rounded to float. Returns false when
// every score is -inf (nothing to normalise).
bool softmax_f32(std::span<const float> s, std::vector<float>& p) {
  float m = kNegInf;
  for (float x : s) m = std::max(m, x);
  if (m == kNegInf) return false;
  std::vector<double> e(s.size());
  double sum = 0.0;
  for (size_t i = 0; i < s.size(); i++) {
    e[i] = s[i] == kNegInf ? 0.0 : std::exp(static_cast<double>(s[i]) - static_cast<double>(m));
    sum += e[i];
  }
  p.resize(s.size());
  for (size_t i = 0; i < s.size(); i++) p[i] = static_cast<float>(e[i] / sum);
  return true;
}

// TopPLogitsWarper: sort ascending, cumulative probability; drop entries whose cumulative probability
// is <= 1 - top_p, except the last (largest) one.
void top_p_filter(std::span<float> s, double top_p) {
  std::vector<float> p;
  if (!softmax_f32(s, p)) return;
  std::vector<int32_t> order(s.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return s[static_cast<size_t>(a)] < s[static_cast<size_t>(b)]; });
  const auto threshold = static_cast<float>(1.0 - top_p);
  double cum = 0.0;
  for (size_t j = 0; j + 1 < order.size(); j++) {  // the last entry (min_tokens_to_keep = 1) always stays
    const auto i = static_cast<size_t>(order[j]);
    cum += static_cast<double>(p[i]);
    if (static_cast<float>(cum) <= threshold) s[i] = kNegInf;
  }
}

// MinPLogitsWarper: drop tokens whose probability is below min_p times the largest probability.
void min_p_filter(std::span<float> s, double min_p) {
  std::vector<float> p;
  if (!softmax_f32(s, p)) return;
  const float p_max = *std::max_element(p.begin(), p.end());
  const float threshold = static_cast<float>(min_p) * p_max;
  for (size_t i = 0; i < s.size(); i++)
    if (p[i] < threshold) s[i] = kNegInf;  // the largest has p_max >= threshold: at least one stays
}

int32_t argmax_first(std::span<const float> s) {
  size_t best = 0;
  for (size_t i = 1; i < s.size(); i++)
    if (s[i] > s[best]) best = i;
  return static_cast<int32_t>(best);
}

}  // namespace

void sampling_validate(const SamplingOptions& o) {
  auto bad = [](const std::string& what) { throw Error("sampling", what); };
  if (!std::isfinite(o.temperature) || o.temperature < 0.0)
    bad(str("temperature must be >= 0 (0 is greedy), got ", o.temperature));
  if (o.top_k < 0) bad(str("top_k must be >= 0 (0 is off), got ", o.top_k));
  if (!(o.top_p >= 0.0 && o.top_p <= 1.0)) bad(str("top_p must be in [0, 1] (1 is off), got ", o.top_p));
  if (!(o.min_p >= 0.0 && o.min_p <= 1.0)) bad(str("min_p must be in [0, 1] (0 is off), got ", o.min_p));
  if (!std::isfinite(o.repetition_penalty) || !(o.repetition_penalty > 0.0))
    bad(str("repetition_penalty must be > 0 (1 is off), got ", o.repetition_penalty));
}

void sampling_process(std::span<float> scores, std::span<const int32_t> history, const SamplingOptions& o) {
  if (o.repetition_penalty != 1.0) repetition_penalty(scores, history, o.repetition_penalty);
  if (o.greedy()) return;
  if (o.temperature != 1.0) {
    const auto t = static_cast<float>(o.temperature);
    for (float& x : scores) x = x / t;
  }
  if (o.top_k != 0) top_k_filter(scores, o.top_k);
  if (o.top_p < 1.0) top_p_filter(scores, o.top_p);
  if (o.min_p != 0.0) min_p_filter(scores, o.min_p);  // min_p = 0 drops nothing; transformers runs it anyway
}

int32_t sample_from_scores(std::span<const float> scores, double u, std::vector<double>& e) {
  float m = kNegInf;
  for (float x : scores)
    if (!std::isnan(x)) m = std::max(m, x);
  if (m == kNegInf)
    throw Error("sampling", "every token was filtered out (the logits are not finite)", ExitCode::Runtime);
  e.resize(scores.size());
  double total = 0.0;
  for (size_t i = 0; i < scores.size(); i++) {
    const float x = scores[i];
    e[i] = (x == kNegInf || std::isnan(x)) ? 0.0 : std::exp(static_cast<double>(x) - static_cast<double>(m));
    total += e[i];
  }
  const double target = u * total;
  double acc = 0.0;
  size_t last = 0;
  for (size_t i = 0; i < scores.size(); i++) {
    if (e[i] == 0.0) continue;
    acc += e[i];
    last = i;
    if (acc > target) return static_cast<int32_t>(i);
  }
  return static_cast<int32_t>(last);  // u·total rounded up to the full sum: the last possible token
}

Sampler::Sampler(const SamplingOptions& options) : options_(options), rng_(options.seed) {
  sampling_validate(options_);
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
  MC_CHECK(!logits.empty(), "Sampler::sample needs logits");
  scores_.assign(logits.begin(), logits.end());
  sampling_process(scores_, history, options_);
  if (options_.greedy()) return argmax_first(scores_);
  return sample_from_scores(scores_, rng_.uniform(), probs_);
}

}  // namespace mc

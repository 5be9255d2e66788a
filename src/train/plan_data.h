// Data side of the training plan (spec/training.md §3.16, DECISIONS.md #3): the derived sequence length,
// the seeded shuffle and the `pilot_variance` eval split, and the explicit-eval variant.
//
// Sequence length: seq = ceil((L_max + 1) / SIMD_W) · SIMD_W over the token counts of every train, eval
//   and retention sample (+1 for EOS, as upstream counts the text's tokens before EOS; our tokenized
//   examples already end with EOS, so the +1 only rounds up when L_max + 1 crosses a multiple of 32).
// Pilot split: shuffle the n samples (Fisher–Yates driven by xoshiro256** seeded with the run seed,
//   seeded_permutation() below), then Welford's running mean/variance (Welford 1962, Technometrics 4(3))
//   over the base model's per-sample losses in shuffled order. After sample i >= 2:
//     var_i     = M2 / (i − 1)
//     target_se = ρ·|mean|   if |mean| > √ε,   else ε          (ρ = relative precision, default √ε)
//     n_req     = ceil(var_i / target_se²),    n_val = max(n_val, n_req)   (n_val starts at 1)
//   stop at the first i >= max(2, n_val): eval = the first i shuffled samples, train = the rest (in
//   shuffled order). The rule needs at least 2 samples (a variance), so the eval set never has fewer.
//   When n_val >= n (no train sample would be left) the rule cannot be met: DECISIONS #3 falls back to
//   n_eval = max(2, ceil(√n)) with fallback "sqrt_n" and the requested size recorded; the loop stops as
//   soon as that is certain (n_val only grows), so no more base losses are computed than needed.
//   Fewer than 3 samples cannot be split (2 eval + 1 train at least): mc::Error, pass --eval-data.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "geometry/ranks.h"

namespace mc::train {

/// Sequence-length rounding (spec/training.md §1 SIMD_W): the Metal SIMD-group width upstream pads to;
/// kept on CPU for parity (a multiple of every AVX-512 and GEMM tile we use, so harmless).
inline constexpr int64_t kSimdWidth = 32;

inline constexpr const char* kSeqLengthSourceDerived = "data_derived_max_token_length";
inline constexpr const char* kSeqLengthSourceUser = "user_supplied_override";

struct SeqLengthChoice {
  int64_t     seq_length = 0;
  int64_t     max_tokens = 0;  // L_max over the samples (0 with a user override and no counts)
  std::string source;          // kSeqLengthSourceDerived | kSeqLengthSourceUser
};

/// ceil((max_tokens + 1) / kSimdWidth) · kSimdWidth.
int64_t derived_sequence_length(int64_t max_tokens);

/// The plan's sequence length from the token counts of all train, eval and retention samples, or the
/// user's --seq-length. Throws mc::Error("[plan] ...") for no samples, a negative count or a
/// non-positive override.
SeqLengthChoice resolve_sequence_length(std::span<const int64_t> train_counts, std::span<const int64_t> eval_counts,
                                        std::span<const int64_t> retention_counts,
                                        std::optional<int64_t> user_override = std::nullopt);

/// A permutation of 0..n−1 by Fisher–Yates (Durstenfeld 1964, Knuth TAOCP vol. 2 Alg. 3.4.2P): for
/// i = n−1 down to 1, j = Rng(seed).uniform_int(i + 1), swap(p[i], p[j]). Rng is core/rng.h's
/// xoshiro256** seeded through splitmix64; uniform_int rejects the incomplete last block (no bias).
std::vector<size_t> seeded_permutation(size_t n, uint64_t seed);

inline constexpr const char* kSplitPilotVariance = "pilot_variance";
inline constexpr const char* kSplitExplicit = "explicit_eval_dataset";
inline constexpr const char* kValidationPilotMethod = "pilot_loss_variance_welford";
inline constexpr const char* kValidationExplicitMethod = "explicit_eval_dataset";
inline constexpr const char* kSplitFallbackSqrtN = "sqrt_n";

/// Smallest dataset the pilot split accepts: 2 eval samples (a variance needs two) + 1 train sample.
inline constexpr size_t kPilotMinSamples = 3;

struct ValidationSplit {
  std::string split_method;  // kSplitPilotVariance | kSplitExplicit (data_plan.split_method)
  std::string method;        // kValidationPilotMethod | kValidationExplicitMethod (validation_split.method)
  int64_t n_train = 0, n_eval = 0;
  /// Pilot split only: indices into the training file's samples, eval first (shuffled order).
  std::vector<size_t> eval_indices;   // (n_eval)
  std::vector<size_t> train_indices;  // (n_train)
  int64_t     pilot_steps = 0;          // base losses evaluated
  double      pilot_mean_loss = 0.0;    // Welford mean after the last step
  double      pilot_variance = 0.0;     // M2/(i − 1) after the last step
  double      target_se = 0.0;          // the standard-error target after the last step
  double      relative_precision = 0.0; // ρ
  double      sqrt_eps = geometry::kSqrtEpsF32;
  std::string fallback;                 // "" or kSplitFallbackSqrtN
  double      requested_n_eval = 0.0;   // n_val the Welford rule asked for (>= n when it fell back)
};

/// The pilot_variance split (see the file header). `sample_loss(i)` returns the base model's mean
/// token loss of training sample i (original index); it is called in shuffled order and only as far as
/// the rule needs. Throws mc::Error("[plan] ...") for n < kPilotMinSamples, a non-finite loss or a
/// non-positive ρ.
ValidationSplit pilot_variance_split(size_t n_total, uint64_t seed, const std::function<double(size_t)>& sample_loss,
                                     double relative_precision = geometry::kSqrtEpsF32);

/// The same from all losses at once (losses[i] belongs to sample i, in the file's order).
ValidationSplit pilot_variance_split(std::span<const double> losses, uint64_t seed,
                                     double relative_precision = geometry::kSqrtEpsF32);

/// --eval-data: every training sample trains, the eval file evaluates. Throws when either is empty.
ValidationSplit explicit_eval_split(size_t n_train, size_t n_eval);

}  // namespace mc::train

// `mc train compare`: the statistics. Two adapters (or an adapter and the base model) are compared on
// the same evaluation examples through the paired differences d_i = loss_b,i − loss_a,i of the
// examples' mean losses. The uncertainty of their mean is a paired percentile bootstrap interval
// (Efron & Tibshirani 1993, "An Introduction to the Bootstrap", ch. 13, §13.3): B resamples of the n
// differences drawn with replacement, the mean of each, and the (1−level)/2 and (1+level)/2 quantiles
// of those B means (numpy.percentile's default "linear" rule, Hyndman & Fan 1996 type 7). A winner is
// named only when the interval excludes zero — the lower loss wins — (DECISIONS.md: no fixed
// thresholds as upstream had). Result files alone support no winner call unless both carry
// per-example eval losses (run_files.h kPerExampleLossKey) of the same eval data.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/json.h"
#include "train/run_files.h"

namespace mc::train {

/// Bootstrap resamples B. Percentile intervals need B in the thousands (Efron & Tibshirani 1993: a
/// quantile in the tails needs far more resamples than a standard error); 10000 keeps the Monte-Carlo
/// error of the 2.5% and 97.5% quantiles small next to the interval's width.
inline constexpr int64_t kBootstrapResamples = 10000;
inline constexpr double kBootstrapLevel = 0.95;
/// Seed of the resampling stream (core/rng.h): the same inputs give the same interval on every run.
inline constexpr uint64_t kBootstrapSeed = 0x6d632d636f6d7061ULL;  // "mc-compa"

struct BootstrapCi {
  int64_t  n = 0;          // differences
  double   mean = 0.0;     // their mean (the statistic)
  double   lo = 0.0, hi = 0.0;
  double   level = 0.0;
  int64_t  resamples = 0;
  uint64_t seed = 0;
  bool excludes_zero() const { return lo > 0.0 || hi < 0.0; }
};

/// The paired percentile bootstrap interval of mean(diffs). Resample b draws n indices uniformly with
/// replacement (Rng(seed).uniform_int(n), b-major). Throws mc::Error("[compare] ...") for no
/// differences, a non-finite one, resamples < 1 or level outside (0, 1).
BootstrapCi paired_bootstrap_ci(std::span<const double> diffs, int64_t resamples, double level, uint64_t seed);

/// The same interval from given resample indices (resamples × n, row-major): what the numpy golden
/// (tools/gen_compare_goldens.py) checks the percentile rule with.
BootstrapCi bootstrap_ci_from_indices(std::span<const double> diffs, std::span<const int64_t> indices,
                                      int64_t resamples, double level);

/// numpy.percentile(x, 100·q) with the default linear interpolation, for ascending `sorted`.
double quantile_linear(std::span<const double> sorted, double q);

/// Paired per-example comparison of two models' losses on the same examples.
struct PairedComparison {
  int64_t     n = 0;
  double      mean_a = 0.0, mean_b = 0.0;   // mean per-example loss
  BootstrapCi ci;                           // of mean(loss_b − loss_a)
  int64_t     n_improved = 0;   // loss_b < loss_a: b improves on a
  int64_t     n_degraded = 0;   // loss_b > loss_a
  int64_t     n_unchanged = 0;
  std::string winner;           // "a", "b", or "" (no significant difference)
};

/// Throws mc::Error("[compare] ...") when the lengths differ or a loss is not finite.
PairedComparison compare_paired(std::span<const double> loss_a, std::span<const double> loss_b,
                                int64_t resamples = kBootstrapResamples, double level = kBootstrapLevel,
                                uint64_t seed = kBootstrapSeed);

/// A one-line verdict: "b has the lower loss: mean difference ... (95% CI ...)" or "no significant
/// difference ...". `name_a`/`name_b` label the sides.
std::string paired_verdict(const PairedComparison& p, const std::string& name_a, const std::string& name_b);

struct MetricDelta {
  std::string metric;
  double      a = 0.0, b = 0.0, delta = 0.0;  // delta = b − a
};

struct ResultComparison {
  std::vector<MetricDelta>        deltas;   // numeric fields both results have (known ones first)
  std::optional<bool>             gate_a, gate_b;  // pipeline_gate.passed
  std::optional<PairedComparison> paired;   // when both carry per-example eval losses
  std::string                     winner;   // "a", "b" or ""
  std::string                     verdict;
  std::vector<std::string>        notes;    // why no paired comparison; commensurability warnings
};

/// Metric deltas (b − a) over the top-level numeric fields (booleans excluded) that both documents
/// hold as numbers: post_loss, eval_loss, final_loss, ..., then the other shared ones in a's order.
std::vector<MetricDelta> result_deltas(const OrderedJson& a, const OrderedJson& b);

/// Compares two training results (see the file comment for when a winner can be named).
ResultComparison compare_results(const RunResult& a, const RunResult& b, int64_t resamples = kBootstrapResamples,
                                 double level = kBootstrapLevel, uint64_t seed = kBootstrapSeed);

/// JSON of a paired comparison: {n, mean_a, mean_b, mean_diff, ci_low, ci_high, level, resamples, seed,
/// n_improved, n_degraded, n_unchanged, excludes_zero}.
OrderedJson paired_json(const PairedComparison& p);

}  // namespace mc::train

// Paired bootstrap comparison of per-example losses and result-file deltas (compare.h).
#include "train/compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "core/error.h"
#include "core/rng.h"

namespace mc::train {

namespace {

constexpr const char* kComponent = "compare";

void check_inputs(std::span<const double> diffs, int64_t resamples, double level) {
  if (diffs.empty()) throw Error(kComponent, "no paired examples to compare");
  for (size_t i = 0; i < diffs.size(); ++i)
    if (!std::isfinite(diffs[i])) throw Error(kComponent, str("paired difference ", i, " is not finite (", diffs[i], ")"));
  if (resamples < 1) throw Error(kComponent, str("bootstrap resamples must be at least 1, got ", resamples));
  if (!(level > 0.0 && level < 1.0)) throw Error(kComponent, str("confidence level must be in (0, 1), got ", level));
}

double mean_of(std::span<const double> v) {
  double s = 0.0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

/// Interval from the B resample means (sorted here).
BootstrapCi finish(std::span<const double> diffs, std::vector<double>& means, double level) {
  std::sort(means.begin(), means.end());
  BootstrapCi ci;
  ci.n = static_cast<int64_t>(diffs.size());
  ci.mean = mean_of(diffs);
  ci.level = level;
  ci.resamples = static_cast<int64_t>(means.size());
  ci.lo = quantile_linear(means, (1.0 - level) / 2.0);
  ci.hi = quantile_linear(means, (1.0 + level) / 2.0);
  return ci;
}

std::string fmt(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

/// Fields compared first, in this order, when both results hold them (spec/training.md §12 compare).
constexpr const char* kKnownMetrics[] = {
    "post_loss",        "eval_loss",     "final_loss",        "initial_loss",      "base_eval_loss",
    "baseline_loss",    "eval_perplexity", "post_perplexity", "min_cka",           "mean_cka",
    "max_spectral_ratio", "adapter_saturation_median_ratio",  "steps",             "training_seconds",
    "wall_seconds",     "tokens_per_second", "peak_rss_mib",  "n_trainable_params", "resolved_batch_size",
};

/// A string at `key` (or at config.`key` when `in_config`), "" when absent or not a string.
std::string identity(const OrderedJson& doc, const char* key, bool in_config) {
  const OrderedJson* obj = &doc;
  if (in_config) {
    auto c = doc.find("config");
    if (c == doc.end() || !c->is_object()) return "";
    obj = &*c;
  }
  auto it = obj->find(key);
  return it != obj->end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

double quantile_linear(std::span<const double> x, double q) {
  MC_CHECK(!x.empty() && q >= 0.0 && q <= 1.0, "quantile of ", x.size(), " values at q = ", q);
  const double h = static_cast<double>(x.size() - 1) * q;  // numpy's virtual index for "linear"
  const double fl = std::floor(h);
  const size_t i = static_cast<size_t>(fl);
  const size_t j = std::min(i + 1, x.size() - 1);
  const double t = h - fl;
  // numpy's _lerp: a + (b − a)·t, computed from the upper end when t >= 0.5 (monotone, exact at t = 1)
  const double a = x[i], b = x[j], diff = b - a;
  return t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
}

BootstrapCi paired_bootstrap_ci(std::span<const double> diffs, int64_t resamples, double level, uint64_t seed) {
  check_inputs(diffs, resamples, level);
  const uint64_t n = diffs.size();
  Rng rng(seed);
  std::vector<double> means(static_cast<size_t>(resamples));
  for (double& m : means) {
    double s = 0.0;
    for (uint64_t i = 0; i < n; ++i) s += diffs[rng.uniform_int(n)];
    m = s / static_cast<double>(n);
  }
  BootstrapCi ci = finish(diffs, means, level);
  ci.seed = seed;
  return ci;
}

BootstrapCi bootstrap_ci_from_indices(std::span<const double> diffs, std::span<const int64_t> indices,
                                      int64_t resamples, double level) {
  check_inputs(diffs, resamples, level);
  const size_t n = diffs.size();
  if (indices.size() != static_cast<size_t>(resamples) * n)
    throw Error(kComponent, str("expected ", resamples, " x ", n, " resample indices, got ", indices.size()));
  std::vector<double> means(static_cast<size_t>(resamples));
  for (size_t b = 0; b < means.size(); ++b) {
    double s = 0.0;
    for (size_t i = 0; i < n; ++i) {
      const int64_t k = indices[b * n + i];
      if (k < 0 || static_cast<size_t>(k) >= n) throw Error(kComponent, str("resample index ", k, " out of range"));
      s += diffs[static_cast<size_t>(k)];
    }
    means[b] = s / static_cast<double>(n);
  }
  return finish(diffs, means, level);
}

PairedComparison compare_paired(std::span<const double> loss_a, std::span<const double> loss_b, int64_t resamples,
                                double level, uint64_t seed) {
  if (loss_a.size() != loss_b.size())
    throw Error(kComponent, str("paired losses differ in length: ", loss_a.size(), " vs ", loss_b.size()));
  PairedComparison p;
  p.n = static_cast<int64_t>(loss_a.size());
  std::vector<double> d(loss_a.size());
  for (size_t i = 0; i < d.size(); ++i) {
    if (!std::isfinite(loss_a[i]) || !std::isfinite(loss_b[i]))
      throw Error(kComponent, str("example ", i, " has a non-finite loss (", loss_a[i], ", ", loss_b[i], ")"));
    d[i] = loss_b[i] - loss_a[i];
    p.n_improved += d[i] < 0;
    p.n_degraded += d[i] > 0;
  }
  p.n_unchanged = p.n - p.n_improved - p.n_degraded;
  p.ci = paired_bootstrap_ci(d, resamples, level, seed);
  if (!d.empty()) {
    p.mean_a = mean_of(loss_a);
    p.mean_b = mean_of(loss_b);
  }
  if (p.ci.hi < 0.0) p.winner = "b";
  else if (p.ci.lo > 0.0) p.winner = "a";
  return p;
}

std::string paired_verdict(const PairedComparison& p, const std::string& name_a, const std::string& name_b) {
  char lvl[16];
  std::snprintf(lvl, sizeof lvl, "%g%%", 100.0 * p.ci.level);
  const std::string stats = "mean difference b - a = " + fmt(p.ci.mean) + ", " + lvl + " CI [" + fmt(p.ci.lo) +
                            ", " + fmt(p.ci.hi) + "]";
  if (p.winner == "a") return name_a + " (a) has the lower loss: " + stats + " excludes zero";
  if (p.winner == "b") return name_b + " (b) has the lower loss: " + stats + " excludes zero";
  return "no significant difference: " + stats + " contains zero";
}

std::vector<MetricDelta> result_deltas(const OrderedJson& a, const OrderedJson& b) {
  std::vector<MetricDelta> out;
  if (!a.is_object() || !b.is_object()) return out;
  std::set<std::string> done;
  auto add = [&](const std::string& key) {
    if (done.count(key)) return;
    auto ia = a.find(key), ib = b.find(key);
    if (ia == a.end() || ib == b.end() || !ia->is_number() || !ib->is_number()) return;
    const double va = ia->get<double>(), vb = ib->get<double>();
    if (!std::isfinite(va) || !std::isfinite(vb)) return;
    done.insert(key);
    out.push_back({key, va, vb, vb - va});
  };
  for (const char* k : kKnownMetrics) add(k);
  for (auto it = a.begin(); it != a.end(); ++it) add(it.key());
  return out;
}

ResultComparison compare_results(const RunResult& a, const RunResult& b, int64_t resamples, double level,
                                 uint64_t seed) {
  ResultComparison r;
  r.deltas = result_deltas(a.doc, b.doc);
  if (a.gate) r.gate_a = a.gate->passed;
  if (b.gate) r.gate_b = b.gate->passed;
  for (const char* key : {"model_hash", "data_hash"}) {
    const std::string ha = identity(a.doc, key, false), hb = identity(b.doc, key, false);
    if (!ha.empty() && !hb.empty() && ha != hb)
      r.notes.push_back(str(key, " differs (", ha, " vs ", hb, "): the runs are not commensurable"));
  }
  if (a.per_example_loss.empty() || b.per_example_loss.empty()) {
    r.verdict = "no winner: per-example losses needed; use -m/-d mode";
    return r;
  }
  std::string why;
  const std::string ea = identity(a.doc, "eval_data_hash", false), eb = identity(b.doc, "eval_data_hash", false);
  const std::string ca = identity(a.doc, "eval_data", true), cb = identity(b.doc, "eval_data", true);
  if (a.per_example_loss.size() != b.per_example_loss.size())
    why = str("the per-example losses differ in length (", a.per_example_loss.size(), " vs ",
              b.per_example_loss.size(), ")");
  else if (!ea.empty() && !eb.empty() && ea != eb)
    why = "the runs were evaluated on different data (eval_data_hash differs)";
  else if ((ea.empty() || eb.empty()) && !ca.empty() && !cb.empty() && ca != cb)
    why = str("the runs were evaluated on different data (", ca, " vs ", cb, ")");
  else
    for (size_t i = 0; i < a.per_example_loss.size() && why.empty(); ++i)
      if (!std::isfinite(a.per_example_loss[i]) || !std::isfinite(b.per_example_loss[i]))
        why = str("per-example loss ", i, " is missing or not finite");
  if (!why.empty()) {
    r.notes.push_back("no paired comparison: " + why);
    r.verdict = "no winner: comparable per-example losses needed; use -m/-d mode";
    return r;
  }
  r.paired = compare_paired(a.per_example_loss, b.per_example_loss, resamples, level, seed);
  r.winner = r.paired->winner;
  r.verdict = paired_verdict(*r.paired, a.path, b.path);
  return r;
}

OrderedJson paired_json(const PairedComparison& p) {
  OrderedJson j;
  j["n"] = p.n;
  j["mean_a"] = p.mean_a;
  j["mean_b"] = p.mean_b;
  j["mean_diff"] = p.ci.mean;
  j["ci_low"] = p.ci.lo;
  j["ci_high"] = p.ci.hi;
  j["level"] = p.ci.level;
  j["method"] = "paired percentile bootstrap (Efron & Tibshirani 1993, ch. 13)";
  j["resamples"] = p.ci.resamples;
  j["seed"] = p.ci.seed;
  j["excludes_zero"] = p.ci.excludes_zero();
  j["n_improved"] = p.n_improved;
  j["n_degraded"] = p.n_degraded;
  j["n_unchanged"] = p.n_unchanged;
  return j;
}

}  // namespace mc::train

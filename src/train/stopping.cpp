// Stopping rules (spec/training.md §7): the windowed SE test, the certificate criteria, the ordered
// stop rules. See stopping.h for the formulas.
#include "train/stopping.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "core/error.h"
#include "geometry/ranks.h"

namespace mc::train {
namespace {

using geometry::kEpsF32;
using geometry::kSqrtEpsF32;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

double mean_of(std::span<const double> v) {
  double s = 0.0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

/// Variance with `ddof` degrees of freedom removed (numpy.var semantics), two-pass.
double variance(std::span<const double> v, int ddof) {
  const double mu = mean_of(v);
  double s = 0.0;
  for (double x : v) s += (x - mu) * (x - mu);
  return s / static_cast<double>(static_cast<int64_t>(v.size()) - ddof);
}

/// Numbers in stop reasons: 6 significant digits ("%.6g").
std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

WindowTest windowed_se_test(std::span<const double> history, int64_t w) {
  MC_CHECK(w >= 1 && static_cast<int64_t>(history.size()) >= 2 * w, "windowed test needs 2w = ", 2 * w,
           " values, got ", history.size());
  const size_t n = history.size(), uw = static_cast<size_t>(w);
  const std::span<const double> recent = history.subspan(n - uw, uw);
  const std::span<const double> earlier = history.subspan(n - 2 * uw, uw);
  WindowTest t;
  t.window = w;
  t.mean_recent = mean_of(recent);
  t.mean_earlier = mean_of(earlier);
  t.delta = t.mean_recent - t.mean_earlier;
  t.se_diff = std::sqrt((variance(recent, 0) + variance(earlier, 0)) / static_cast<double>(w));
  t.threshold = std::max(t.se_diff, kSqrtEpsF32);
  return t;
}

double ci_half_width(std::span<const double> samples) {
  if (samples.size() < 2) return 0.0;
  return kCiZ * std::sqrt(variance(samples, 1) / static_cast<double>(samples.size()));
}

double median(std::span<const double> v) {
  if (v.empty()) return kNaN;
  std::vector<double> s(v.begin(), v.end());
  std::sort(s.begin(), s.end());
  const size_t k = s.size() / 2;
  return s.size() % 2 ? s[k] : 0.5 * (s[k - 1] + s[k]);
}

ValConvergence val_convergence(std::span<const double> val_losses) {
  ValConvergence v;
  if (static_cast<int64_t>(val_losses.size()) < 2 * kValWindowEpochs) return v;
  v.evaluated = true;
  v.test = windowed_se_test(val_losses, kValWindowEpochs);
  if (v.test.delta > v.test.threshold)
    v.trend = ValTrend::Increasing;
  else if (std::abs(v.test.delta) < v.test.threshold)
    v.trend = ValTrend::Stable;
  return v;
}

SaturationCheck saturation_rule(std::span<const double> ratios) {
  SaturationCheck c;
  c.threshold = 1.0 - kSqrtEpsF32;  // DECISIONS #14
  c.median_ratio = median(ratios);
  c.max_ratio = kNaN;
  for (size_t i = 0; i < ratios.size(); ++i) {
    if (c.argmax < 0 || ratios[i] > c.max_ratio) {
      c.max_ratio = ratios[i];
      c.argmax = static_cast<int64_t>(i);
    }
    if (ratios[i] >= c.threshold) ++c.n_saturated;
  }
  c.saturated = c.n_saturated > 0;
  return c;
}

Stationarity stationarity(std::span<const double> grad_norm_history) {
  MC_CHECK(!grad_norm_history.empty(), "stationarity needs the current gradient norm");
  // Criterion 1 (training.md §7.1) compares two halves of the history once there are 4 values.
  constexpr int64_t kMinWindowed = 4;
  Stationarity s;
  s.grad_norm = grad_norm_history.back();
  const auto len = static_cast<int64_t>(grad_norm_history.size());
  if (len >= kMinWindowed) {
    s.windowed = true;
    s.test = windowed_se_test(grad_norm_history, len / 2);
    s.met = std::abs(s.test.delta) < s.test.threshold;
  } else {
    s.met = s.grad_norm < kSqrtEpsF32;
  }
  return s;
}

double improvement_delta_max(double a, double b) {
  if (a <= 0.0) return 0.0;  // d is not a descent direction for the validation loss
  if (b <= 0.0) return kInf;  // no positive curvature: the quadratic model is unbounded below
  return a * a / (2.0 * b);
}

ImprovementBound improvement_bound(double a, double b, double ci) {
  ImprovementBound r;
  r.a = a;
  r.b = b;
  r.ci = ci;
  r.delta_max = improvement_delta_max(a, b);
  r.met = ci <= 0.0 || r.delta_max < ci;
  return r;
}

WorstGroup worst_group(std::span<const double> a, std::span<const double> b, std::span<const double> ci,
                       const ImprovementBound& overall) {
  MC_CHECK(a.size() == b.size() && a.size() == ci.size(), "worst_group: a, b, CI sizes differ (", a.size(),
           ", ", b.size(), ", ", ci.size(), ")");
  WorstGroup w;
  if (a.empty()) {
    w.used_fallback = true;
    w.met = overall.met;
    w.delta_max = overall.delta_max;
    w.ci = overall.ci;
    return w;
  }
  w.met = true;
  double worst_excess = -kInf;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(ci[i] > 0.0)) continue;
    ++w.n_considered;
    const double dm = improvement_delta_max(a[i], b[i]);
    if (!(dm < ci[i])) w.met = false;
    const double excess = dm - ci[i];
    if (w.worst_index < 0 || excess > worst_excess) {
      worst_excess = excess;
      w.worst_index = static_cast<int64_t>(i);
      w.delta_max = dm;
      w.ci = ci[i];
    }
  }
  return w;
}

Band baseline_band(std::span<const double> samples) {
  MC_CHECK(!samples.empty(), "baseline band needs samples");
  Band b;
  b.mean = mean_of(samples);
  const double var = samples.size() >= 2 ? variance(samples, 1) : 0.0;
  b.half_width = std::max(std::sqrt(var / static_cast<double>(samples.size())), kSqrtEpsF32);
  return b;
}

NoDrift no_drift(double entropy, double repetition, std::span<const double> baseline_entropy,
                 std::span<const double> baseline_repetition) {
  NoDrift d;
  d.entropy = entropy;
  d.repetition = repetition;
  if (baseline_entropy.empty() || baseline_repetition.empty()) return d;  // no baseline ⇒ no drift
  d.has_baseline = true;
  d.entropy_band = baseline_band(baseline_entropy);
  d.repetition_band = baseline_band(baseline_repetition);
  if (entropy < d.entropy_band.mean - d.entropy_band.half_width)
    d.drift = "entropy_collapse";
  else if (entropy > d.entropy_band.mean + d.entropy_band.half_width)
    d.drift = "entropy_expansion";
  else if (repetition > d.repetition_band.mean + d.repetition_band.half_width)
    d.drift = "repetition";
  d.met = d.drift == "none";
  return d;
}

Certificate make_certificate(const Stationarity& s, const ImprovementBound& i, const WorstGroup& w,
                             const NoDrift& d) {
  Certificate c{s, i, w, d, false};
  c.all_met = s.met && i.met && w.met && d.met;
  return c;
}

bool should_certificate_stop(const Certificate& c, std::span<const double> val_losses) {
  if (!c.all_met || val_losses.size() < 2) return false;
  const double best_before = *std::min_element(val_losses.begin(), val_losses.end() - 1);
  return val_losses.back() >= best_before;
}

double hvp_step(double theta_norm) { return std::cbrt(3.0 * kEpsF32) * std::max(theta_norm, 1.0); }

double central_difference_curvature(double dir_grad_plus, double dir_grad_minus, double h) {
  MC_CHECK(h > 0.0, "finite-difference step must be > 0, got ", h);
  return (dir_grad_plus - dir_grad_minus) / (2.0 * h);
}

LossStable loss_stable(std::span<const double> step_losses, int64_t n_batches) {
  MC_CHECK(n_batches >= 1, "N_b must be >= 1, got ", n_batches);
  LossStable l;
  const int64_t w = 2 * n_batches;  // two epochs of steps per window (training.md §7.2 (g))
  if (static_cast<int64_t>(step_losses.size()) < 2 * w) return l;
  l.evaluated = true;
  l.test = windowed_se_test(step_losses, w);
  l.stable = std::abs(l.test.delta) < l.test.threshold;
  return l;
}

int64_t safety_cap_max_iters(int64_t n_train, int64_t batch_size) {
  if (n_train < 1 || batch_size < 1)
    throw Error("train", str("safety cap needs n_train >= 1 and B >= 1 (got ", n_train, ", ", batch_size, ")"));
  const int64_t steps_per_epoch = (n_train + batch_size - 1) / batch_size;
  const auto cap_epochs = static_cast<int64_t>(std::ceil(1.0 / kSqrtEpsF32));  // 2897
  return steps_per_epoch * cap_epochs;
}

std::string StopDecision::reason() const {
  if (!stop) return "";
  return evidence.empty() ? rule : rule + " (" + evidence + ")";
}

StopDecision evaluate_stop_rules(const StopInputs& in) {
  StopDecision d;
  auto fire = [&d](std::string rule, std::string evidence) {
    d.stop = true;
    d.rule = std::move(rule);
    d.evidence = std::move(evidence);
    return d;
  };
  const bool has_val = !in.val_losses.empty();
  // (a) validation convergence
  if (has_val) {
    const ValConvergence v = val_convergence(in.val_losses);
    const std::string ev = "delta=" + num(v.test.delta) + ", threshold=" + num(v.test.threshold) +
                           ", w=" + std::to_string(kValWindowEpochs) + " epochs";
    if (v.trend == ValTrend::Increasing) return fire("val_increasing", ev);
    if (v.trend == ValTrend::Stable) return fire("val_stable", ev);
  }
  // (b) adapter saturation
  if (!in.saturation_ratios.empty()) {
    const SaturationCheck s = saturation_rule(in.saturation_ratios);
    if (s.saturated)
      return fire("adapter_saturation_exhausted",
                  "Weyl crossing, median_ratio=" + num(s.median_ratio) + ", max_ratio=" + num(s.max_ratio) +
                      " at module " + std::to_string(s.argmax) + ", " + std::to_string(s.n_saturated) +
                      " saturated");
  }
  // (d) certificate
  if (has_val && in.epoch >= kCertificateMinEpoch && in.certificate &&
      should_certificate_stop(*in.certificate, in.val_losses)) {
    const Certificate& c = *in.certificate;
    return fire("certificate", "‖g‖=" + num(c.stationarity.grad_norm) + ", Δmax=" + num(c.improvement.delta_max) +
                                   "<CI=" + num(c.improvement.ci) + ", epoch=" + std::to_string(in.epoch));
  }
  // (f) degeneration gate
  if (in.degeneration_max && in.degeneration_baseline_max &&
      *in.degeneration_max > *in.degeneration_baseline_max + kSqrtEpsF32)
    return fire("degeneration_exceeded", "max_ngram_repeat=" + num(*in.degeneration_max) +
                                             " > baseline_max=" + num(*in.degeneration_baseline_max) + " + √ε");
  // (g) loss_stable fallback without validation data
  if (!has_val) {
    const LossStable l = loss_stable(in.step_losses, in.n_batches);
    if (l.stable)
      return fire("loss_stable", "delta=" + num(l.test.delta) + ", threshold=" + num(l.test.threshold) +
                                     ", w=" + std::to_string(l.test.window) + " steps");
  }
  // (h) safety cap
  if (in.max_iters > 0 && in.iters_done >= in.max_iters)
    return fire("safety_cap", std::to_string(in.iters_done) + " iters");
  return d;
}

}  // namespace mc::train

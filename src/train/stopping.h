// Stopping rules of the geometry-derived trainer (spec/training.md §7; DECISIONS #2, #11, #14):
//  * the windowed standard-error test shared by (a) validation convergence, the certificate's
//    stationarity criterion and (g) loss_stable;
//  * the 4-criterion geometric stopping certificate (§7.1): stationarity, improvement bound
//    Δmax = a²/(2b) (the decrease a quadratic model along d can still buy), worst-group bound, no
//    mechanism drift — each a function of explicit inputs the trainer measures;
//  * the ordered stop rules of §7.2 → StopDecision, and the safety cap.
// Pure functions on scalars and histories: no model. Formulas and conventions: docs/nblora_mass.md §3.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>


namespace mc::train {

/// w of §7.2(a): validation convergence compares the mean of the last 2 epochs with the 2 before.
inline constexpr int64_t kValWindowEpochs = 2;
/// Two-sided 95% standard-normal quantile: CI half-width = 1.96·SE (DECISIONS #11).
inline constexpr double kCiZ = 1.96;
/// The certificate is evaluated from the 2nd epoch on (training.md §7.1): it needs a previous epoch's
/// gradient norm and validation loss to compare against.
inline constexpr int64_t kCertificateMinEpoch = 2;
/// Token n-gram order of the drift criterion's repetition rate (training.md §7.1 item 4: 4-grams).
inline constexpr int64_t kDriftNgramOrder = 4;

// --- shared statistics ---------------------------------------------------------------------------

/// Two adjacent windows of one history compared by their means (training.md §7.1 item 1, §7.2 (a),(g)):
/// recent = h[−w:], earlier = h[−2w:−w], Δ = mean(recent) − mean(earlier),
/// SE_diff = √((var_r + var_e)/w) with population variances (ddof 0) of the two windows — the standard
/// error of a difference of two w-sample means — and threshold = max(SE_diff, √ε).
struct WindowTest {
  int64_t window = 0;          // w
  double mean_recent = 0.0;
  double mean_earlier = 0.0;
  double delta = 0.0;          // mean_recent − mean_earlier
  double se_diff = 0.0;
  double threshold = 0.0;      // max(se_diff, √ε)
};
/// The test on `history` (oldest first) with window w ≥ 1; needs history.size() ≥ 2w (MC_CHECK).
WindowTest windowed_se_test(std::span<const double> history, int64_t w);

/// CI half-width of a sample mean: kCiZ·sd/√n with the sample standard deviation (ddof 1)
/// (DECISIONS #11). 0 when n < 2 (no resolution: the improvement criteria are then vacuously met, as
/// training.md §7.1 prescribes for CI ≤ 0).
double ci_half_width(std::span<const double> samples);

/// Median (mean of the two middle values for an even count, as numpy.median); NaN when empty.
double median(std::span<const double> v);

// --- (a) validation convergence ------------------------------------------------------------------

enum class ValTrend { None, Increasing, Stable };
struct ValConvergence {
  bool evaluated = false;  // len(val) ≥ 2w
  ValTrend trend = ValTrend::None;
  WindowTest test;
};
/// §7.2 (a) on the validation history (one value per epoch): Δ > threshold → Increasing
/// ("val_increasing"), |Δ| < threshold → Stable ("val_stable"), otherwise None (still improving).
ValConvergence val_convergence(std::span<const double> val_losses);

// --- (b) adapter saturation ----------------------------------------------------------------------

struct SaturationCheck {
  bool saturated = false;     // any ratio ≥ threshold
  double threshold = 0.0;     // 1 − √ε (DECISIONS #14)
  double max_ratio = 0.0;
  double median_ratio = 0.0;  // reported in the stop reason
  int64_t argmax = -1;        // module index of max_ratio
  int64_t n_saturated = 0;
};
/// §7.2 (b): ratio_l = ‖ΔW_l‖₂/scale_bound_l (nblora_saturation_ratio) per target module.
SaturationCheck saturation_rule(std::span<const double> ratios);

// --- (c) the certificate (§7.1) ------------------------------------------------------------------

struct Stationarity {
  bool met = false;
  double grad_norm = 0.0;  // h.back()
  bool windowed = false;   // len(h) ≥ 4: windowed test with w = len(h)/2; else ‖g‖ < √ε
  WindowTest test;         // when windowed
};
/// Criterion 1 on the per-epoch history of ‖g_last‖ (oldest first, current last; not empty).
Stationarity stationarity(std::span<const double> grad_norm_history);

/// Δmax = 0 if a ≤ 0, +∞ if b ≤ 0, else a²/(2b): the largest decrease of the quadratic model
/// L(θ − t·d) ≈ L − t·a + t²·b/2 over t ≥ 0 (a = ∇Lᵀd, b = dᵀHd).
double improvement_delta_max(double a, double b);

struct ImprovementBound {
  double a = 0.0, b = 0.0;
  double delta_max = 0.0;
  double ci = 0.0;  // CI half-width of the mean validation loss
  bool met = false;  // Δmax < CI, or CI ≤ 0 (vacuous)
};
/// Criterion 2: the best step along d cannot improve the validation loss by more than its resolution.
ImprovementBound improvement_bound(double a, double b, double ci);

struct WorstGroup {
  bool met = false;
  bool used_fallback = false;  // no per-batch data: criterion 2's verdict
  int64_t n_considered = 0;    // batches with CI_i > 0
  int64_t worst_index = -1;    // argmax_i (Δmax_i − CI_i) among the considered
  double delta_max = 0.0;      // of worst_index (criterion 2's when used_fallback)
  double ci = 0.0;
};
/// Criterion 3: per validation batch i, Δmax_i < CI_i for every i with CI_i > 0 (CI_i = 1.96·SE of the
/// per-token losses of batch i). Empty spans fall back to `overall` (criterion 2).
WorstGroup worst_group(std::span<const double> a, std::span<const double> b, std::span<const double> ci,
                       const ImprovementBound& overall);

/// A baseline band (mean, half-width) from pre-training samples: half-width = max(√(var/n), √ε) with
/// the sample variance (ddof 1; 0 for n = 1).
struct Band {
  double mean = 0.0;
  double half_width = 0.0;
};
Band baseline_band(std::span<const double> samples);

struct NoDrift {
  bool met = true;
  bool has_baseline = false;
  std::string drift = "none";  // "none" | "entropy_collapse" | "entropy_expansion" | "repetition"
  double entropy = 0.0, repetition = 0.0;
  Band entropy_band, repetition_band;
};
/// Criterion 4: `entropy` (mean token entropy of the greedy probe decodes, nats) and `repetition` (their
/// token 4-gram repetition rate) now, against bands from the baseline samples. Drift if entropy <
/// mean − hw (collapse), entropy > mean + hw (expansion) or repetition > mean + hw. No baseline
/// samples (either span empty) ⇒ no drift.
NoDrift no_drift(double entropy, double repetition, std::span<const double> baseline_entropy,
                 std::span<const double> baseline_repetition);

struct Certificate {
  Stationarity stationarity;
  ImprovementBound improvement;
  WorstGroup worst;
  NoDrift drift;
  bool all_met = false;
};
/// Bundles the four criteria; all_met = 1 ∧ 2 ∧ 3 ∧ 4.
Certificate make_certificate(const Stationarity& s, const ImprovementBound& i, const WorstGroup& w,
                             const NoDrift& d);

/// Stop on the certificate iff all four criteria are met AND the validation loss did not improve this
/// epoch, i.e. val.back() ≥ min(val[:-1]) (a new best is never cut short). Needs ≥ 2 values.
bool should_certificate_stop(const Certificate& c, std::span<const double> val_losses);

/// HVP finite-difference step h = (3ε)^{1/3}·max(‖θ‖, 1) (Nocedal & Wright 2006, §8.1: the step that
/// balances truncation O(h²) and rounding O(ε/h) errors of a central difference), ε = float32's.
double hvp_step(double theta_norm);
/// b = dᵀHd ≈ (dᵀ∇L(θ + h·d) − dᵀ∇L(θ − h·d)) / (2h): the central difference of the directional
/// derivative, given the two directional derivatives and h.
double central_difference_curvature(double dir_grad_plus, double dir_grad_minus, double h);

// --- (g) loss_stable, (h) safety cap ------------------------------------------------------------

struct LossStable {
  bool evaluated = false;  // ≥ 2 windows of 2·N_b steps
  bool stable = false;     // |Δ| < threshold
  WindowTest test;
};
/// §7.2 (g): the windowed test on per-step train losses with w = 2·N_b steps (needs ≥ 4 epochs).
LossStable loss_stable(std::span<const double> step_losses, int64_t n_batches);

/// §3.16: max_iters = ceil(n_train / B)·ceil(1/√ε) = N_b·2897: a run that has not stopped after
/// ceil(1/√ε) epochs has not converged at float32 resolution (training.md §1). The epoch count is
/// computed from ε here rather than named again (plan_derive.h's kSafetyCapEpochs holds the same
/// value). Throws mc::Error("[train] ...") unless n_train ≥ 1 and B ≥ 1.
int64_t safety_cap_max_iters(int64_t n_train, int64_t batch_size);

// --- the ordered rules (§7.2) --------------------------------------------------------------------

struct StopDecision {
  bool stop = false;
  std::string rule;      // "val_increasing" | "val_stable" | "adapter_saturation_exhausted" |
                         // "certificate" | "degeneration_exceeded" | "loss_stable" | "safety_cap"
  std::string evidence;  // the numbers behind it, e.g. "Weyl crossing, median_ratio=0.41"
  /// "rule (evidence)": the run's stop_reason string (training.md §7.2), or "" when not stopping.
  std::string reason() const;
};

/// Everything the rules look at, at one check (an epoch boundary, or any step for the safety cap).
struct StopInputs {
  int64_t epoch = 0;                             // epochs completed (1-based)
  std::span<const double> val_losses;            // per epoch; empty = no validation set
  std::span<const double> saturation_ratios;     // per target module, this epoch
  std::optional<Certificate> certificate;        // the §7.1 criteria, when the trainer evaluated them
  std::optional<double> degeneration_max;        // max word-n-gram repetition now (gate enabled)
  std::optional<double> degeneration_baseline_max;  // the same on the base model
  std::span<const double> step_losses;           // per-step train losses (for (g))
  int64_t n_batches = 1;                         // N_b
  int64_t iters_done = 0;
  int64_t max_iters = 0;                         // 0 = no cap check
};

/// The rules of §7.2 in order; the first that fires wins: (a) val convergence (with a validation set),
/// (b) saturation, (d) certificate (epoch ≥ 2, validation set, certificate given), (f) degeneration
/// (max > baseline_max + √ε), (g) loss_stable (no validation set), (h) safety cap (iters ≥ max_iters).
/// The research rules (c), (e) are not part of `mc train run`.
StopDecision evaluate_stop_rules(const StopInputs& in);

}  // namespace mc::train

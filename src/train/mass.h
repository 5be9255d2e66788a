// The MASS step-size controller (spec/training.md §3.1 and §6 exactly; DECISIONS #10, #12, #14):
//   η_step = min(η_ceiling, η_sps, η_weyl[, η_margin])
//   η_ceiling = σ_k_min / σ_max / √N_b (N_b > 1)   Weyl 1912 ceiling with the √N random-walk correction
//   η_sps     = max(0, f − f*) / ‖d‖²  with f* = 0   Loizou, Vaswani, Laradji & Lacoste-Julien 2020
//                                                    ("Stochastic Polyak step-size", AISTATS), SPS_max
//                                                    with c = 1 and γ_b replaced by the Weyl terms
//   η_weyl    = σ_k_min / ‖d‖                        one step moves ΔW by at most η‖d‖ ≤ σ_k_min
//   η_margin  = remaining_budget / ‖d‖               conformal deceleration (Sahraee-Ardakan,
//                                                    Delbracio & Milanfar 2026, arXiv:2602.18428);
//                                                    active once a budget was measured (§14.12)
// and at each epoch boundary the validation back-off η_ceiling ← η_ceiling·max(val[-2]/val[-1], √ε)
// when the validation loss rose, and remaining_budget = max(0, σ_k_min (1 − max_l ratio_l)).
// Pure controller state: no model, no gradients; the trainer feeds it scalars.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace mc::train {

/// f* of the SPS step (DECISIONS #10): 0, as the seeds state. Cross-entropy's true floor is above 0
/// (the data's entropy), so η_sps over-estimates the Polyak step and the Weyl terms usually bind.
inline constexpr double kSpsOptimalLoss = 0.0;

/// One controller decision (training.md §6 ControllerStepTrace).
struct MassStep {
  int64_t step = 0;            // 0-based step index within the run
  double loss = 0.0;           // f_t, the minibatch loss
  double grad_norm = 0.0;      // D = ‖d_t‖₂ over all trainable tensors
  double eta_ceiling = 0.0;    // current ceiling
  double eta_sps = 0.0;
  double eta_weyl = 0.0;
  double eta_margin = 0.0;     // NaN while inactive (no budget measured yet)
  double eta_step = 0.0;       // min of the candidates
  double displacement = 0.0;   // η_step·D: the step's parameter displacement
  double gain_ratio = 0.0;     // η_step / η_ceiling ≤ 1 (bounded-gain certificate)
  double displacement_to_budget = 0.0;  // displacement / remaining_budget; NaN while inactive
  std::string binding;         // "ceiling" | "sps" | "weyl" | "margin": the term that set η_step
};

/// What an epoch boundary did (training.md §6 "every check_interval steps").
struct MassEpoch {
  bool backed_off = false;         // the validation loss rose and the ceiling was lowered
  double backoff_factor = 1.0;     // max(val[-2]/val[-1], √ε), 1 when no back-off
  double eta_ceiling_before = 0.0;
  double eta_ceiling_after = 0.0;
  double max_saturation_ratio = 0.0;  // max_l ratio_l (NaN when no ratios were given)
  double remaining_budget = 0.0;      // after the update (NaN while inactive)
  double max_gain_ratio = 0.0;        // max η_step/η_ceiling over the epoch's steps (0 if none)
  double max_displacement_to_budget = 0.0;  // max displacement/remaining_budget over the epoch (NaN if inactive)
  int64_t steps = 0;                  // steps taken in the epoch
};

class MassController {
 public:
  /// σ_k_min = min σ_k and σ_max = max σ_max over the target modules, N_b = optimizer steps per epoch.
  /// Throws mc::Error("[mass] insufficient_adapter_geometry: ...") naming the quantity when σ_k_min or
  /// σ_max is ≤ 0 or not finite, and mc::Error("[mass] ...") when N_b < 1.
  MassController(double sigma_k_min, double sigma_max, int64_t n_batches);

  /// One step's decision from the minibatch loss f and the global norm D = ‖d‖ of the update direction.
  /// D = 0 gives η_sps = η_weyl = η_ceiling (training.md §6). Throws mc::Error("[mass] ...") when f or
  /// D is not finite or D < 0 (a diverged step must not be taken silently).
  MassStep step(double loss, double grad_norm);

  /// Epoch boundary: `val_losses` is the whole validation history (oldest first, this epoch's last; may
  /// be empty), `saturation_ratios` this epoch's ‖ΔW_l‖₂/scale_bound_l (nblora_saturation_ratio) of every target module (empty:
  /// the budget is left as it was). Applies the back-off if len ≥ 2 and val[-1] > val[-2] > 0, sets
  /// remaining_budget, resets the epoch maxima. Throws on non-finite input.
  MassEpoch epoch_boundary(std::span<const double> val_losses, std::span<const double> saturation_ratios);

  double sigma_k_min() const { return sigma_k_min_; }
  double sigma_max() const { return sigma_max_; }
  int64_t n_batches() const { return n_batches_; }
  /// σ_k_min/σ_max before the √N_b correction.
  double eta_ceiling_raw() const { return sigma_k_min_ / sigma_max_; }
  /// The ceiling now (after the √N_b correction and every back-off).
  double eta_ceiling() const { return eta_ceiling_; }
  std::optional<double> remaining_budget() const { return remaining_budget_; }
  /// max η_step/η_ceiling over the whole run (the pipeline gate's max_effective_gain_ratio).
  double max_gain_ratio() const { return run_max_gain_ratio_; }
  int64_t steps() const { return step_; }

 private:
  double sigma_k_min_;
  double sigma_max_;
  int64_t n_batches_;
  double eta_ceiling_;
  std::optional<double> remaining_budget_;
  int64_t step_ = 0;
  int64_t epoch_steps_ = 0;
  double epoch_max_gain_ratio_ = 0.0;
  double epoch_max_disp_to_budget_ = 0.0;
  double run_max_gain_ratio_ = 0.0;
};

}  // namespace mc::train

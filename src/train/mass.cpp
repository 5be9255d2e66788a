// MASS controller: spec/training.md §6 transcribed step by step (see mass.h for the formulas).
#include "train/mass.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "geometry/ranks.h"

namespace mc::train {
namespace {

using geometry::kSqrtEpsF32;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

void check_geometry(double v, const char* name) {
  if (!(std::isfinite(v) && v > 0.0))
    throw Error("mass", str("insufficient_adapter_geometry: ", name, " = ", v,
                            " must be finite and > 0 (no target module carries a usable spectral bound)"));
}

}  // namespace

MassController::MassController(double sigma_k_min, double sigma_max, int64_t n_batches)
    : sigma_k_min_(sigma_k_min), sigma_max_(sigma_max), n_batches_(n_batches) {
  check_geometry(sigma_k_min, "sigma_k_min");
  check_geometry(sigma_max, "sigma_max");
  if (n_batches < 1) throw Error("mass", str("steps per epoch N_b = ", n_batches, " must be >= 1"));
  eta_ceiling_ = sigma_k_min_ / sigma_max_;
  // √N epoch correction: N_b independent steps of length η random-walk a distance √N_b·η per epoch.
  if (n_batches_ > 1) eta_ceiling_ /= std::sqrt(static_cast<double>(n_batches_));
}

MassStep MassController::step(double loss, double grad_norm) {
  if (!std::isfinite(loss))
    throw Error("mass", str("training loss is not finite at step ", step_, " (", loss, ")"), ExitCode::Runtime);
  if (!(std::isfinite(grad_norm) && grad_norm >= 0.0))
    throw Error("mass", str("gradient norm is not finite and >= 0 at step ", step_, " (", grad_norm, ")"),
                ExitCode::Runtime);
  MassStep s;
  s.step = step_;
  s.loss = loss;
  s.grad_norm = grad_norm;
  s.eta_ceiling = eta_ceiling_;
  const double D = grad_norm;
  if (D > 0.0) {
    s.eta_sps = std::max(0.0, loss - kSpsOptimalLoss) / (D * D);
    s.eta_weyl = sigma_k_min_ / D;
  } else {
    s.eta_sps = s.eta_weyl = eta_ceiling_;
  }
  s.eta_margin = kNaN;
  if (remaining_budget_) {
    const double b = *remaining_budget_;
    s.eta_margin = b <= 0.0 ? 0.0 : (D <= 0.0 ? kInf : b / D);
  }
  // min over the candidates; ties go to the earlier name in this order (the ceiling first, so a zero
  // gradient, where all three coincide, reports "ceiling").
  s.eta_step = eta_ceiling_;
  s.binding = "ceiling";
  auto consider = [&s](double eta, const char* name) {
    if (eta < s.eta_step) {
      s.eta_step = eta;
      s.binding = name;
    }
  };
  consider(s.eta_sps, "sps");
  consider(s.eta_weyl, "weyl");
  if (remaining_budget_) consider(s.eta_margin, "margin");
  s.displacement = s.eta_step * D;
  s.gain_ratio = s.eta_step / eta_ceiling_;
  s.displacement_to_budget = kNaN;
  if (remaining_budget_) {
    const double b = *remaining_budget_;
    s.displacement_to_budget = s.displacement == 0.0 ? 0.0 : (b > 0.0 ? s.displacement / b : kInf);
    epoch_max_disp_to_budget_ = std::max(epoch_max_disp_to_budget_, s.displacement_to_budget);
  }
  epoch_max_gain_ratio_ = std::max(epoch_max_gain_ratio_, s.gain_ratio);
  run_max_gain_ratio_ = std::max(run_max_gain_ratio_, s.gain_ratio);
  ++step_;
  ++epoch_steps_;
  return s;
}

MassEpoch MassController::epoch_boundary(std::span<const double> val_losses,
                                         std::span<const double> saturation_ratios) {
  for (double v : val_losses)
    if (!std::isfinite(v)) throw Error("mass", str("validation loss is not finite (", v, ")"), ExitCode::Runtime);
  for (double v : saturation_ratios)
    if (!(std::isfinite(v) && v >= 0.0))
      throw Error("mass", str("saturation ratio is not finite and >= 0 (", v, ")"), ExitCode::Runtime);
  MassEpoch e;
  e.eta_ceiling_before = eta_ceiling_;
  e.max_gain_ratio = epoch_max_gain_ratio_;
  e.max_displacement_to_budget = remaining_budget_ ? epoch_max_disp_to_budget_ : kNaN;
  e.steps = epoch_steps_;
  const size_t nv = val_losses.size();
  if (nv >= 2) {
    const double last = val_losses[nv - 1], prev = val_losses[nv - 2];
    if (last > prev && prev > 0.0) {
      // Validation back-off: shrink by the loss ratio, floored at √ε so one bad epoch cannot zero the
      // ceiling; the factor is < 1, so the ceiling never increases.
      e.backed_off = true;
      e.backoff_factor = std::max(prev / last, kSqrtEpsF32);
      eta_ceiling_ *= e.backoff_factor;
    }
  }
  e.eta_ceiling_after = eta_ceiling_;
  e.max_saturation_ratio = kNaN;
  if (!saturation_ratios.empty()) {
    e.max_saturation_ratio = *std::max_element(saturation_ratios.begin(), saturation_ratios.end());
    remaining_budget_ = std::max(0.0, sigma_k_min_ * (1.0 - e.max_saturation_ratio));
  }
  e.remaining_budget = remaining_budget_ ? *remaining_budget_ : kNaN;
  epoch_steps_ = 0;
  epoch_max_gain_ratio_ = 0.0;
  epoch_max_disp_to_budget_ = 0.0;
  return e;
}

}  // namespace mc::train

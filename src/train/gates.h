// Post-training gates (spec/training.md §8; DECISIONS #14, #15):
//  1. spectral bounds: ratio_l = ‖ΔW_l‖₂/scale_bound_l (nblora_saturation_ratio) ≤ 1 + √max(n,m)·ε, the backward-error
//     bound of a float32 SVD of an (m, n) matrix (Golub & Van Loan 2013, §8.6.1: |σ̂ − σ| ≲ √max(m,n)·ε·‖A‖);
//  2. CKA bound bundle: per decoder layer the linear CKA of base vs adapted mean-pooled hidden states
//     (Kornblith et al. 2019, via geometry/cka.h), the Gram perturbation ε_L = ‖K̃_a − K̃_b‖_F/‖K̃_b‖_F of
//     the centred Grams and the bound (1 − ε_L)/(1 + ε_L) (from ⟨K̃_a, K̃_b⟩ ≥ (1 − ε)‖K̃_b‖² and
//     ‖K̃_a‖ ≤ (1 + ε)‖K̃_b‖); the check is min_L(CKA_L − bound_L) ≥ −√ε;
//  3. degeneration: word n-gram repetition rate 1 − unique/total of generated texts with the order
//     n = ceil(2 ln T / ln r_eff), T = 400: the smallest n with r_eff^n ≥ T², so that T n-grams drawn
//     uniformly from r_eff^n possibilities collide with probability ≲ T²/(2·r_eff^n) ≤ 1/2 (birthday
//     bound) — a repeated n-gram is then evidence of degeneration rather than chance;
//  4. pipeline_gate_v1: the strict fail-closed verdict over the checks above and the run's telemetry.
// A failed gate does not prevent saving (DECISIONS #15): the caller records and reports the result.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "geometry/matrix.h"

namespace mc::train {

/// T of the degeneration n-gram order: the generation length the order is sized for (training.md §8.3).
inline constexpr double kDegenerationHorizonTokens = 400.0;

// --- 1. spectral bounds --------------------------------------------------------------------------

struct SpectralBoundCheck {
  double ratio = 0.0;      // ‖ΔW‖₂ / scale_bound (nblora_saturation_ratio)
  double tolerance = 0.0;  // 1 + √max(n, m)·ε
  bool ok = false;         // ratio ≤ tolerance
};
/// One module's check; n = in, m = out.
SpectralBoundCheck spectral_bound_check(double ratio, int64_t n, int64_t m);

struct SpectralBounds {
  bool ok = false;          // every module ok (false for none: unresolved)
  int64_t n_modules = 0;
  double max_ratio = 0.0;   // max_spectral_ratio (NaN for none)
  int64_t worst = -1;       // index of max_ratio
  int64_t n_failed = 0;
};
SpectralBounds spectral_bounds(std::span<const SpectralBoundCheck> modules);

// --- 2. CKA bound bundle -------------------------------------------------------------------------

struct CkaLayerBound {
  int64_t layer = -1;
  double cka = 0.0;           // linear CKA (biased HSIC), NaN for a constant representation
  double gram_epsilon = 0.0;  // ε_L = ‖K̃_a − K̃_b‖_F / ‖K̃_b‖_F
  double bound = 0.0;         // (1 − ε_L)/(1 + ε_L)
  double margin() const { return cka - bound; }
};
/// One layer from base (N, d) and adapted (N, d) activations of the same N probes. Throws mc::Error
/// ("[cka] ...") on mismatched or non-finite input (geometry::cka's contract).
CkaLayerBound cka_layer_bound(geometry::MatrixViewF base, geometry::MatrixViewF adapted, int64_t layer);
CkaLayerBound cka_layer_bound(geometry::MatrixViewD base, geometry::MatrixViewD adapted, int64_t layer);

struct CkaBoundBundle {
  bool resolved = false;     // at least one layer, every CKA and bound finite
  bool ok = false;           // resolved and min_margin ≥ −√ε
  double min_cka = 0.0, mean_cka = 0.0;
  int64_t min_cka_layer = -1;
  double min_margin = 0.0;   // min_L (CKA_L − bound_L)
  int64_t min_margin_layer = -1;
};
CkaBoundBundle cka_bound_bundle(std::span<const CkaLayerBound> layers);

// --- 3. degeneration -----------------------------------------------------------------------------

/// n = ceil(2·ln T / ln r_eff) with T = kDegenerationHorizonTokens, r_eff the Shannon effective rank of
/// the readout matrix; nullopt (gate disabled) when r_eff is not finite or ≤ 1.
std::optional<int64_t> degeneration_ngram_order(double r_eff);

/// Words as Python's str.split() makes them: runs separated by Unicode whitespace (ASCII \t\n\v\f\r,
/// space, \x1c–\x1f, and in UTF-8 U+0085, U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029, U+202F,
/// U+205F, U+3000).
std::vector<std::string_view> split_words(std::string_view text);

/// 1 − unique/total over the overlapping n-grams of a sequence; 0 when it has fewer than n items.
double word_repetition_rate(std::string_view text, int64_t n);
double token_repetition_rate(std::span<const int32_t> ids, int64_t n);

struct Degeneration {
  int64_t order = 0;      // n
  int64_t n_texts = 0;
  double max_rate = 0.0;  // degeneration_max_ngram_repeat
  double mean_rate = 0.0;
};
/// Word-n-gram repetition over generated texts (≤ 20 prompts upstream); empty texts give 0s.
Degeneration degeneration(std::span<const std::string> texts, int64_t order);

// --- 4. pipeline_gate_v1 -------------------------------------------------------------------------

/// The name pipeline_gate_v1 reports as its operator (training.md §8.4).
inline constexpr const char* kPipelineGateOperator = "pipeline_gate_v1";

struct GateCheck {
  std::string name;      // spectral_bounds | cka_bound_bundle | safety_cap_stop_reason |
                         // adapter_saturation | max_effective_gain_ratio
  std::string status;    // "passed" | "failed" | "unresolved"
  bool required = false; // an unresolved required check counts as a failure (strict mode)
  double value = 0.0;    // the measured quantity (NaN when it has none)
  double threshold = 0.0;
  std::string detail;
};

struct PipelineGateInputs {
  std::span<const SpectralBoundCheck> spectral;  // per target module
  std::optional<CkaBoundBundle> cka;             // nullopt: not measured
  std::string stop_reason;                       // the run's StopDecision::reason()
  std::span<const double> saturation_ratios;     // final ratio per module
  double max_effective_gain_ratio = 0.0;         // MassController::max_gain_ratio(); NaN = not measured
};

struct PipelineGateResult {
  std::string gate_operator = kPipelineGateOperator;
  bool passed = false;                     // no failure mode
  std::vector<std::string> failure_modes;  // names of failed (or unresolved required) checks
  std::vector<GateCheck> checks;           // every check, in the order above
};

/// The strict gate of training.md §8.4: spectral_bounds (required; all modules within tolerance),
/// cka_bound_bundle (required; min_L(CKA_L − bound_L) ≥ −√ε), safety_cap_stop_reason (fails when the
/// stop reason starts with "safety_cap"), adapter_saturation (fails when the median ratio ≥ 1),
/// max_effective_gain_ratio (fails when > 1 + √ε). Upstream's online_eval_stop_basis belongs to the
/// research rules and is not checked.
PipelineGateResult pipeline_gate_v1(const PipelineGateInputs& in);

}  // namespace mc::train

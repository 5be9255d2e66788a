// LoRA adapter geometry (`mc analyze lora-svd`, `mc adapter analyze`): reads a PEFT adapter directory
// (adapter_config.json + adapter_model.safetensors, spec/ecosystem.md §4.6) and measures each module's
// update ΔW = s·B·A against the base weight W it is added to (spec/surface.md §4.12, §7.1).
//
// Scale s, as PEFT 0.21 LoraLayer.update_layer sets it: α/r, or α/√r with use_rslora, where r and α
// come from rank_pattern / alpha_pattern when a pattern matches the module name (PEFT's
// get_pattern_key: the first key K, in the config's order, with re.match(r"(.*\.)?(K)$", name)),
// else from r / lora_alpha. The rank is also read from the tensors (lora_A has r rows) and the two
// must agree.
//
// Subspace overlap (our definition; spec/surface.md §7.1 leaves it open). With q = numerical rank of
// ΔW, U_Δ (m, q) and V_Δ (n, q) its top left/right singular vectors and U_W, V_W those of W:
//   overlap(U_Δ, S) = ‖Sᵀ U_Δ‖_F² / q   ∈ [0, 1]
// = the mean squared cosine of the q principal angles between span(U_Δ) and a q-dimensional subspace
// S of W's singular vectors: the top q (S = U_W[:, :q]) or the tail q (S = U_W[:, d−q:], d = min(m,n),
// the q smallest singular values). Two random q-dimensional subspaces of ℝ^m give q/m on average
// (reported as the chance level). A high top overlap means the update reinforces directions W
// already uses; a high tail overlap means it writes into W's weakest directions.
//
// Intruder dimensions (Shuttleworth, Andreas, Torralba & Sharma 2024, "LoRA vs Full Fine-tuning: An
// Illusion of Equivalence", arXiv:2410.21228, §4): a singular vector u'_i among the top k of the updated
// matrix W' = W + ΔW is an intruder when max_j |⟨u'_i, u_j⟩| < ε over all left singular vectors u_j of
// W — a new high-ranking direction that W did not have. We use k = kIntruderTopK, ε = kIntruderEps.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/json.h"
#include "io/safetensors.h"

namespace mc {

/// Top singular vectors of W' examined for intruders, and the cosine threshold (Shuttleworth et al.
/// sweep ε; 0.5 is a middle value of their sweep, k = 10 their default window of top vectors).
inline constexpr int64_t kIntruderTopK = 10;
inline constexpr double kIntruderEps = 0.5;
/// Right singular directions of W probed for the amplification CV (spec/surface.md §4.12).
inline constexpr int64_t kAmplificationTopK = 64;

/// One LoRA module of a PEFT adapter.
struct LoraModule {
  std::string module;     // base module path, e.g. "model.layers.0.self_attn.q_proj"
  std::string a_name;     // tensor names in adapter_model.safetensors
  std::string b_name;
  int64_t     layer = -1;  // decoder layer index, -1 when the path has none
  std::string proj;       // module type, e.g. "q_proj"
  int64_t     r = 0;       // rank (rows of lora_A)
  int64_t     in = 0;      // columns of lora_A
  int64_t     out = 0;     // rows of lora_B
  double      alpha = 0.0; // lora_alpha after alpha_pattern
  double      scale = 0.0; // s = α/r or α/√r (use_rslora)
};

/// A PEFT LoRA adapter directory, validated; tensors are read on demand through `file`.
struct PeftAdapter {
  std::string path;
  Json        config;                   // adapter_config.json
  std::string base_model_name_or_path;  // may be empty
  int64_t     r = 0;                    // config r
  double      lora_alpha = 0.0;         // config lora_alpha
  bool        use_rslora = false;
  std::vector<std::pair<std::string, double>> rank_pattern;   // in file order
  std::vector<std::pair<std::string, double>> alpha_pattern;  // in file order
  std::vector<LoraModule> modules;      // sorted by module path
  int64_t     other_tensors = 0;        // tensors that are not lora_A / lora_B (biases, modules_to_save)
  std::string weights_path;             // adapter_model.safetensors
  std::unique_ptr<SafetensorsFile> file;
};

/// Loads and validates a PEFT adapter directory. Throws mc::Error("[adapter] <file>: ...") on a missing
/// or malformed config or weights file, a non-LoRA or DoRA adapter, fan_in_fan_out, a key outside the
/// PEFT layout, an A without its B (or the reverse), ranks that disagree between A, B and the config.
PeftAdapter peft_adapter_load(const std::string& dir);

/// PEFT's get_pattern_key: the first of `keys` (rank_pattern / alpha_pattern keys in file order) that
/// matches `module` as re.match(r"(.*\.)?(KEY)$", module) (PCRE2, anchored); empty when none does.
/// Throws mc::Error("[adapter] ...") for a key that is not a valid regex.
std::string peft_pattern_key(const std::vector<std::string>& keys, const std::string& module);

/// ΔW = s·B·A (out, in) in double, row-major.
std::vector<double> lora_delta(const PeftAdapter& adapter, const LoraModule& m);

/// Geometry of one module's update, alone and (when a base is given) against its base weight.
struct LoraModuleGeometry {
  LoraModule mod;
  double a_frobenius = 0.0, b_frobenius = 0.0;  // ‖A‖_F, ‖B‖_F (unscaled)
  std::vector<double> delta_singular_values;    // (min(r, m, n)) top singular values of ΔW
  double  delta_frobenius = 0.0;                // ‖ΔW‖_F
  double  delta_spectral = 0.0;                 // ‖ΔW‖₂
  double  delta_effective_rank = 0.0;           // Shannon erank of σ(ΔW), energy weights
  int64_t delta_rank = 0;                       // numerical rank of ΔW (numpy convention, ε_f32)

  bool    has_base = false;
  double  base_sigma_max = 0.0;                 // σ₁(W)
  double  base_frobenius = 0.0;                 // ‖W‖_F
  double  spectral_ratio = 0.0;                 // ‖ΔW‖₂ / σ₁(W)
  double  relative_change = 0.0;                // ‖ΔW‖_F / ‖W‖_F
  int64_t rank_before = 0;                      // numerical rank of W
  int64_t rank_after = 0;                       // numerical rank of W + ΔW
  // overlaps of ΔW's top-q singular subspaces with W's (see the file comment); q = delta_rank
  double left_top_overlap = 0.0, left_tail_overlap = 0.0, left_chance = 0.0;
  double right_top_overlap = 0.0, right_tail_overlap = 0.0, right_chance = 0.0;
  /// surface.md §7.1: ‖U_rᵀΔW‖_F/‖ΔW‖_F with U_r the top rank_before left singular vectors of W, and
  /// √(1 − overlap²): the share of ΔW outside W's column space.
  double subspace_overlap = 0.0, null_space_component = 0.0;
  /// surface.md §4.12: η = max_i |σ_i(W+ΔW) − σ_i(W)| / ‖ΔW‖₂ ∈ [0, 1] (Weyl), and the population CV of
  /// ‖ΔW v_i‖₂ over W's top min(64, d) right singular vectors.
  double weyl_utilization = 0.0, amplification_cv = 0.0;
  double condition_ratio = 0.0;                 // κ(W + ΔW) / κ(W) over significant σ
  int64_t intruder_dimensions = 0;              // among the top kIntruderTopK of W + ΔW
  double  min_intruder_similarity = 0.0;        // smallest max_j |⟨u'_i, u_j⟩| over those
};

struct LoraAnalysisOptions {
  bool with_base_geometry = true;  // false: skip the SVDs of W and W + ΔW even when a base is given
};

/// Analyses every module. `base` may be null (update-only measures). With a base, every module's
/// <module>.weight must exist in it with shape (out, in); otherwise mc::Error("[adapter] ... does not
/// fit <base>: ...") — the adapter belongs to another model.
std::vector<LoraModuleGeometry> lora_analyze(const PeftAdapter& adapter, const SafetensorsModel* base,
                                             const LoraAnalysisOptions& options = {});

/// Checks that the adapter fits `base` (names and shapes) without computing anything.
void lora_check_base(const PeftAdapter& adapter, const SafetensorsModel& base);

}  // namespace mc

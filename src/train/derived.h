// `mc train run`: zero-configuration, geometry-derived LoRA training (spec/training.md §2–§12,
// DECISIONS.md). No learning rate, rank, schedule or batch size is given: the plan (train/plan.h) derives
// targets, per-module ranks and NB-LoRA scale bounds from the weight spectra, the seed from the model
// and data hashes, the sequence length and the eval split from the data; the critical batch size is
// measured from per-sample gradient noise (McCandlish et al. 2018) at the zero-delta start; the MASS
// controller (train/mass.h) sets every step size; the stop rules and the geometric certificate
// (train/stopping.h) end the run; the post-training gates (train/gates.h) verify it. A failed gate is
// reported and the command exits non-zero, but the adapter is still saved, marked failed in its
// manifest (DECISIONS #15).
//
// Run directory: the PEFT adapter (lora_A = A, lora_B = 2·Bᵀ·diag(S), scale 1, DESIGN.md "Adapters"),
// mc_manifest.json (plan, geometry, result, gate), training_plan.json, training_result.json,
// metrics.jsonl, report.html.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "core/json.h"

#include "model/transformer.h"

namespace mc::train {

struct DerivedConfig {
  std::string model_dir;
  std::string data_path;
  std::string eval_data_path;       // empty: the pilot_variance split of the data
  std::string retention_data_path;  // general data mixed into training (§10 retention replay)
  std::string output_dir;           // empty: the default of DECISIONS #7
  std::optional<int64_t>  seq_length;  // override of the derived sequence length
  std::optional<uint32_t> seed;        // override of the derived seed
  bool plan_only = false;           // resolve and print the plan; write nothing
  bool explain = false;             // print the plan, then train
  bool plan_json = false;           // the plan printed as JSON (with plan_only)
  bool save = true;                 // false: train and verify, save nothing (validate-derived)
  bool force = false;               // replace an existing output directory
  bool progress = true;
  bool geometry_cache = true;
  std::string geometry_cache_dir;   // empty: the default cache
  WeightDtype weight_dtype = WeightDtype::Auto;  // how the base weights are kept and multiplied (--dtype)
  /// Testing and validate-derived: keep this fraction of the training records (seeded subsample) and
  /// cap the number of optimizer steps (0: no cap besides the rules). Not user knobs of `mc train run`.
  double   data_fraction = 1.0;
  uint64_t data_fraction_seed = 0;
  int64_t  max_steps_for_testing = 0;
};

/// Runs the whole pipeline. With plan_only, prints the plan to stdout and returns it (nothing written).
/// Otherwise returns the result document (schema mc.train.run.v1); `exit_code` is set to 4 when the
/// pipeline gate failed (the adapter is saved anyway), 2 when interrupted (the adapter so far is saved).
OrderedJson run_derived(const DerivedConfig& cfg, int& exit_code);

}  // namespace mc::train

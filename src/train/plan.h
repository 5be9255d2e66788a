// The resolved training plan (spec/training.md §9): everything `mc train run` fixes before training —
// seed, output path, sequence length, eval split, target modules with ranks and bounds, the MASS
// ceiling — plus the 15 seed hyperparameters, each with its value, formula and whether this run applies
// it or only reports it (DECISIONS.md #6). Built without injecting adapters or creating directories.
//
// Three layers, smallest first:
//   assemble_training_plan()   pure: already-resolved pieces (hashes, seed, split, geometry, signal
//                              ranks) → targets, ranks, bounds, ceiling, parameter count.
//   build_training_plan()      the whole derivation for a loaded model: hashes the files, resolves the
//                              seed and sequence length, runs the pilot split through a base-loss
//                              callback, computes (or reads the cached) geometry, collects probe
//                              activations for the RMT ceiling, then assembles.
//   plan_set_critical_batch()  after adapter injection: B_crit → N_b, η_ceiling, safety cap.
// Printing (to_text, to_json, the hyperparameter table) lives in plan_report.cpp.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/json.h"
#include "train/plan_data.h"
#include "train/plan_derive.h"
#include "train/plan_geometry.h"
#include "train/plan_hash.h"

namespace mc {
class Model;
}

namespace mc::train {

inline constexpr const char* kPlanSchema = "mc.train.plan.v1";
inline constexpr const char* kOutputSourceDefault = "default_model_parent_adapters";
inline constexpr const char* kOutputSourceUser = "user_supplied";

/// One of the 15 hyperparameters the seed documents replace (spec/training.md §3.1–§3.15).
struct HyperparameterRow {
  int         index = 0;    // 1..15, the seed's numbering
  std::string name;         // "learning rate", ...
  std::string replaced_by;  // "MASS step size", ...
  std::string value;        // what this plan derived (or "measured during training")
  std::string formula;
  std::string status;       // "applied" | "reported"
  std::string reason;
};

struct TrainingPlan {
  // inputs
  std::string model_path, dataset_path;
  std::string eval_dataset_path;  // empty: derived split
  std::string model_hash, dataset_hash, eval_dataset_hash;
  uint32_t    seed = 0;
  std::string seed_source;
  bool        save = true;
  std::string output_path;    // resolved even with save = false (then unused)
  std::string output_source;  // kOutputSourceDefault | kOutputSourceUser
  std::string benchmark_suite;  // "" unless --benchmark

  // data plan
  SeqLengthChoice seq;
  ValidationSplit split;

  // adaptation surface
  int64_t                     n_layers = 0;
  std::vector<ModuleGeometry> geometry;  // every candidate
  std::string                 geometry_cache_status;  // cache_status_name()
  std::vector<PlannedModule>  targets;
  std::string                 rank_ceiling_source;
  SignalRanks                 signal;  // empty without probes
  SpectralCeiling             ceiling;
  int64_t                     trainable_params = 0;

  // filled by plan_set_critical_batch() once B_crit is measured
  std::optional<CriticalBatch> batch;
  int64_t                      steps_per_epoch = 0;  // N_b
  double                       eta_ceiling = 0.0;    // η⁰/√N_b
  int64_t                      max_iters = 0;        // safety cap

  /// (min, max) target rank.
  std::pair<int64_t, int64_t> rank_range() const;
  /// The 15 rows.
  std::vector<HyperparameterRow> hyperparameters() const;
  /// The §9 summary, line for line, then "Note: ..." lines (the sqrt_n fallback).
  std::string to_text() const;
  /// The hyperparameter table for humans.
  std::string hyperparameters_text() const;
  /// The §9 JSON document (keys in the spec's order; NaN/Inf are printed as null by json_dump).
  OrderedJson to_json() const;
};

/// Already-resolved inputs of assemble_training_plan().
struct PlanAssembly {
  std::string     model_path, dataset_path, eval_dataset_path;
  std::string     model_hash, dataset_hash, eval_dataset_hash;
  SeedResolution  seed;
  bool            save = true;
  std::string     output_override;  // empty: default_output_path()
  std::string     benchmark_suite;
  SeqLengthChoice seq;
  ValidationSplit split;
  int64_t         n_layers = 0;
  ModelGeometry   geometry;
  SignalRanks     signal;  // empty: data-rank fallback
};

/// Targets, ranks, bounds and the ceiling from resolved inputs. Throws mc::Error("[plan] ...") as
/// derive_targets() and spectral_ceiling() do (non-finite geometry, nothing targetable, σ_k_min <= 0).
TrainingPlan assemble_training_plan(PlanAssembly in);

/// Records B_crit and what follows from it: N_b = ceil(n_train/B), η_ceiling = η⁰/√N_b, max_iters.
void plan_set_critical_batch(TrainingPlan& plan, const CriticalBatch& batch);

/// What the user asked for (the `mc train run` options that shape the plan).
struct PlanRequest {
  std::string model_path;
  std::string dataset_path;
  std::string eval_dataset_path;          // empty: pilot_variance split
  std::optional<uint32_t> seed;           // --seed
  std::optional<int64_t>  seq_length;     // --seq-length
  std::string output_path;                // -o (empty: default)
  bool        save = true;                // false with --no-save
  std::string benchmark_suite;            // --benchmark
  double      split_relative_precision = geometry::kSqrtEpsF32;
  GeometryOptions geometry;
};

/// What the caller computed from the tokenized data (this library does not tokenize).
struct PlanData {
  std::vector<int64_t> train_token_counts;      // per usable training sample, file order
  std::vector<int64_t> eval_token_counts;       // per eval sample (--eval-data only)
  std::vector<int64_t> retention_token_counts;  // retention samples, if any
  /// Base-model mean token loss of training sample i (file order); needed for the pilot split.
  std::function<double(size_t)> train_base_loss;
  /// Token ids of the eval probes given the resolved split (with the pilot split: the training samples
  /// split.eval_indices; with --eval-data: the eval file's samples). Null: no RMT ceiling (data-rank
  /// fallback).
  std::function<std::vector<std::vector<int32_t>>(const ValidationSplit&)> eval_probes;
};

/// The whole plan for a loaded model (see the file header). Throws mc::Error for bad inputs.
TrainingPlan build_training_plan(const Model& model, const PlanRequest& request, const PlanData& data);

/// 1234567 → "1,234,567".
std::string with_thousands(int64_t v);

}  // namespace mc::train

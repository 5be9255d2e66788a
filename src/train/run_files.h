// A training run directory read back into structs, for `mc train status`, `mc train compare` and the
// HTML report. Layout (research.h; spec/training.md §9.1, §11):
//   adapter_model.safetensors + adapter_config.json   the adapter (PEFT layout; written at the end)
//   mc_manifest.json                                  what produced it
//   training_result.json                              the result document (written at the end)
//   metrics.jsonl                                     one JSON object per line: step, eval and epoch lines
//   checkpoints/step-<N>/                             state.json + tensors.safetensors
// A crashed or interrupted run has metrics.jsonl and checkpoints but no adapter or result yet.
//
// Nothing read here is trusted: a result that is not a JSON object with a known "schema", a field of
// the wrong type, or a metrics line in the middle of the file that is not valid JSON throws
// mc::Error("[train] <file>[:<line>]: ..."). Only the LAST line of metrics.jsonl may be unparsable (a
// write cut by a crash): it is skipped with a warning. Absent or null numbers read as NaN.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/json.h"

namespace mc::train {

/// The result schemas of the two trainers.
inline constexpr const char* kResultSchemaResearch = "mc.train.run-research.v1";
inline constexpr const char* kResultSchemaDerived = "mc.train.run.v1";
/// Optional result field: each evaluation example's mean loss (in eval-data order). When both results
/// of `mc train compare --result-a/-b` carry it (same eval data), the comparison is paired.
inline constexpr const char* kPerExampleLossKey = "eval_per_example_loss";

/// One check of pipeline_gate_v1 as stored in the result (gates.h GateCheck).
struct GateCheckRow {
  std::string name;
  std::string status;     // "passed" | "failed" | "unresolved" (or "" when the file has none)
  bool        required = false;
  double      value = 0.0;      // NaN when absent or null
  double      threshold = 0.0;  // NaN when absent or null
  std::string detail;
};

struct GateSummary {
  bool                      passed = false;
  std::vector<std::string>  failure_modes;
  std::vector<GateCheckRow> checks;
};

/// training_result.json, validated, with the fields the tools use pulled out (NaN: absent or null).
struct RunResult {
  std::string path;            // the file read
  OrderedJson doc;             // the whole document, key order kept
  std::string schema;
  bool        derived = false; // mc.train.run.v1 (else run-research)
  std::string adapter_path, stop_reason;
  int64_t     steps = 0;
  double      initial_loss = 0, final_loss = 0, eval_loss = 0, base_eval_loss = 0;
  double      post_loss = 0, baseline_loss = 0, min_cka = 0, mean_cka = 0, max_spectral_ratio = 0;
  double      training_seconds = 0, tokens_per_second = 0, peak_rss_mib = 0;
  std::optional<bool>        spectral_bounds_ok;
  std::optional<GateSummary> gate;            // "pipeline_gate" when present
  std::vector<double>        per_example_loss; // kPerExampleLossKey, empty when absent
};

/// Reads a training_result.json, or `<dir>/training_result.json` when `path` is a directory.
RunResult read_run_result(const std::string& path);
/// A number field of a JSON object: NaN when absent or null; throws mc::Error naming `source` when it
/// is present with another type.
double json_number_field(const OrderedJson& obj, const char* key, const std::string& source);

/// metrics.jsonl step line. Absent or null fields are NaN. Research runs carry lr; derived runs
/// eta_step, eta_ceiling, eta_sps, eta_weyl, eta_margin and batch_size.
struct StepRow {
  int64_t step = 0;
  double  epoch = 0, loss = 0, grad_norm = 0, tokens = 0, tokens_per_second = 0;
  double  lr = 0;
  double  eta_step = 0, eta_ceiling = 0, eta_sps = 0, eta_weyl = 0, eta_margin = 0;
  double  batch_size = 0;
};

struct EvalRow {
  int64_t step = 0;
  double  eval_loss = 0;  // NaN when null
};

/// An epoch line: {"epoch_end": E, "step", "saturation": {module: ratio}, "remaining_budget"}.
struct EpochRow {
  int64_t epoch_end = 0;
  int64_t step = 0;
  std::vector<std::pair<std::string, double>> saturation;  // file order; NaN for null
  double  remaining_budget = 0;
};

struct RunMetrics {
  std::string               path;
  std::vector<StepRow>      steps;
  std::vector<EvalRow>      evals;
  std::vector<EpochRow>     epochs;
  int64_t                   lines = 0;          // non-empty lines read (the skipped cut line included)
  int64_t                   unknown_lines = 0;  // objects that are none of the three kinds (ignored)
  bool                      cut_last_line = false;
  std::vector<std::string>  warnings;
};

/// Parses metrics.jsonl text; `source` names the file in errors and warnings.
RunMetrics parse_metrics_jsonl(const std::string& text, const std::string& source);
RunMetrics read_metrics_jsonl(const std::string& path);

enum class RunState { Complete, Interrupted, Empty };
/// "complete" | "interrupted" | "empty".
const char* run_state_name(RunState s);

struct RunFiles {
  std::string dir;
  RunState    state = RunState::Empty;
  bool        has_adapter = false;   // adapter_model.safetensors and adapter_config.json
  bool        has_manifest = false;  // mc_manifest.json
  std::optional<RunResult>  result;  // training_result.json
  std::optional<RunMetrics> metrics; // metrics.jsonl
  std::optional<int64_t>    checkpoint_step;  // newest complete checkpoint
  std::string               checkpoint_path;
  OrderedJson               checkpoint_state; // its state.json (null when unreadable)
  std::vector<std::string>  warnings;         // metrics' warnings included
};

/// Reads everything present in a run directory. Throws mc::Error("[train] ...") when `dir` is not a
/// directory, and for a malformed result or metrics file (see the file comment). A checkpoint whose
/// state.json is unreadable only adds a warning (the trainer validates it on --resume).
RunFiles read_run_files(const std::string& dir);

/// Total optimizer steps when they can be known: the result's steps for a complete run, else the
/// checkpoint's "total_steps", else its fingerprint's "max_steps" (> 0), else fingerprint "epochs" ×
/// steps per epoch (step / epoch of the last step line, a research run's bookkeeping).
std::optional<int64_t> run_total_steps(const RunFiles& run);

/// Seconds spent in training steps: the result's training_seconds, else the sum over step lines of
/// tokens / tokens_per_second (each step's own duration). NaN when neither is known.
double run_training_seconds(const RunFiles& run);

}  // namespace mc::train

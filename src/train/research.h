// `mc train run-research`: LoRA fine-tuning with conventional, explicit knobs (optimizer, learning rate,
// schedule, warmup, rank, alpha, dropout, targets, batch size, accumulation, epochs or steps). It is a
// tool in itself and the baseline the geometry-derived `mc train run` is compared against. Defaults are
// PEFT's and the HF Trainer's common ones (r 8, α 16, lr 2e-4, q/k/v/o, AdamW, linear decay,
// max_grad_norm 1).
//
// Run directory (--output):
//   adapter_model.safetensors, adapter_config.json   the adapter, PEFT layout (written at the end)
//   mc_manifest.json                                  what produced it (config, data, result)
//   training_result.json                              the result document (also printed with --json)
//   metrics.jsonl                                     one line per step and per evaluation
//   checkpoints/step-<N>/                             the last kCheckpointsKept checkpoints
// A resumed run (--resume) continues from the newest checkpoint and reproduces the uninterrupted run
// bit for bit: data orders and dropout masks are functions of (seed, epoch, step), not of a running
// random state, and the optimizer state is restored exactly.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/json.h"
#include "model/lora_io.h"
#include "model/transformer.h"
#include "train/optimizer.h"
#include "train/schedule.h"

namespace mc::train {

struct ResearchConfig {
  std::string model_dir;
  std::string data_path;
  std::string eval_data_path;      // empty: eval_split of the training data, or no evaluation
  std::string output_dir;
  double      eval_split = 0.0;    // fraction of the training records held out when no eval data
  std::vector<std::string> targets = {"q_proj", "k_proj", "v_proj", "o_proj"};
  int64_t     rank = 8;
  double      alpha = 16.0;
  double      dropout = 0.05;
  bool        use_rslora = false;
  OptimizerConfig optimizer;
  double      lr = 2e-4;
  ScheduleKind schedule = ScheduleKind::Linear;
  int64_t     warmup_steps = 0;
  int64_t     batch_size = 4;      // examples per micro-batch
  int64_t     grad_accum = 1;      // micro-batches per optimizer step
  int64_t     epochs = 1;
  int64_t     max_steps = 0;       // > 0 overrides epochs
  int64_t     seq_length = 512;
  bool        seq_length_explicit = true;  // false: the default, capped at the model's context
  uint64_t    seed = 42;
  int64_t     eval_interval = 0;   // steps between evaluations (0: at the end of each epoch)
  int64_t     checkpoint_every = 0;  // steps between checkpoints (0: at the end of each epoch)
  double      max_grad_norm = 1.0; // 0 disables clipping
  bool        checkpointing = true;  // gradient checkpointing (recompute layers in backward)
  bool        checkpointing_auto = false;  // decide from the activation memory (step.h checkpointing_needed)
  WeightDtype weight_dtype = WeightDtype::Auto;  // how the base weights are kept and multiplied (--dtype)
  bool        resume = false;
  bool        force = false;
  bool        progress = true;
  int64_t     stop_after_steps = 0;  // testing: behave as if interrupted after this many steps
};

/// Writes `lora` as a PEFT adapter (adapter_model.safetensors + adapter_config.json) into the existing
/// directory `dir`, each file atomically.
void save_adapter_into(const std::string& dir, const LoraSet& lora, LoraSaveOptions options);

/// The configuration as printed before training and stored in checkpoints / the manifest.
OrderedJson research_config_json(const ResearchConfig& cfg);

/// Runs training and returns the result document (schema mc.train.run-research.v1). Throws mc::Error
/// for bad input before anything is written, and ExitCode::Cancelled (after writing a checkpoint) on
/// Ctrl-C.
OrderedJson run_research(const ResearchConfig& cfg);

}  // namespace mc::train

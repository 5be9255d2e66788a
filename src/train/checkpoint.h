// Training checkpoints: <run>/checkpoints/step-<N>/ holding tensors.safetensors (LoRA factors and
// optimizer state, fp32, by name) and state.json (step, the trainer's own state and a fingerprint of
// the run's configuration). Each checkpoint directory is built under a temporary name and renamed into
// place, so a crash or Ctrl-C never leaves a half-written checkpoint; the newest kCheckpointsKept are
// kept. Loading validates everything and names the file on any defect.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/json.h"
#include "io/safetensors.h"
#include "tensor/tensor.h"

namespace mc::train {

/// Checkpoints kept on disk (older ones are removed after a new one is committed).
inline constexpr int kCheckpointsKept = 2;

/// Writes checkpoint `step` under `root` (created when missing). Tensors are written by name.
void checkpoint_save(const std::string& root, int64_t step, const Json& state,
                     const std::vector<std::pair<std::string, const Tensor*>>& tensors);

/// The newest complete checkpoint directory under `root`, if any.
std::optional<std::string> checkpoint_latest(const std::string& root);

struct LoadedCheckpoint {
  std::string     path;
  int64_t         step = 0;
  Json            state;
  SafetensorsFile tensors;
  /// Copies tensor `name` into t, which must already have the stored shape; throws mc::Error naming the
  /// checkpoint when it is missing or differs.
  void read(const std::string& name, Tensor& t) const;
};

/// Loads and validates a checkpoint directory. Throws mc::Error("[train] <path>: ...").
LoadedCheckpoint checkpoint_load(const std::string& dir);

}  // namespace mc::train

// Learning-rate schedules of `mc train run-research`, as transformers' optimization.py defines them
// (get_constant_schedule_with_warmup, get_linear_schedule_with_warmup, get_cosine_schedule_with_warmup
// with num_cycles 0.5): the multiplier for optimizer step k (0-based; the first update uses k = 0, so a
// warmup starts at lr 0 exactly as the HF Trainer's LambdaLR does).
#pragma once
#include <cstdint>
#include <string>

namespace mc::train {

enum class ScheduleKind { Constant, Linear, Cosine };
const char* schedule_name(ScheduleKind k);
/// "constant", "linear" or "cosine"; throws mc::Error("[train] ...") otherwise.
ScheduleKind schedule_from_name(const std::string& name);

/// Multiplier of the base learning rate at step k of total_steps with warmup_steps of linear warmup.
double schedule_factor(ScheduleKind kind, int64_t k, int64_t warmup_steps, int64_t total_steps);

}  // namespace mc::train

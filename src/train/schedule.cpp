#include "train/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace mc::train {

const char* schedule_name(ScheduleKind k) {
  switch (k) {
    case ScheduleKind::Constant: return "constant";
    case ScheduleKind::Linear: return "linear";
    case ScheduleKind::Cosine: return "cosine";
  }
  return "?";
}

ScheduleKind schedule_from_name(const std::string& name) {
  if (name == "constant") return ScheduleKind::Constant;
  if (name == "linear") return ScheduleKind::Linear;
  if (name == "cosine") return ScheduleKind::Cosine;
  throw Error("train", str("unknown schedule '", name, "' (choose constant, linear or cosine)"));
}

double schedule_factor(ScheduleKind kind, int64_t k, int64_t warmup_steps, int64_t total_steps) {
  if (k < warmup_steps) return static_cast<double>(k) / static_cast<double>(std::max<int64_t>(1, warmup_steps));
  switch (kind) {
    case ScheduleKind::Constant: return 1.0;
    case ScheduleKind::Linear:
      return std::max(0.0, static_cast<double>(total_steps - k) /
                               static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps)));
    case ScheduleKind::Cosine: {
      const double progress = static_cast<double>(k - warmup_steps) /
                              static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps));
      return std::max(0.0, 0.5 * (1.0 + std::cos(std::numbers::pi * 0.5 * 2.0 * progress)));
    }
  }
  return 1.0;
}

}  // namespace mc::train

// The --dtype option shared by the commands that run the model (infer, train run/run-research/evaluate,
// compare): how the base weights are kept and multiplied (model/transformer.h WeightDtype).
#pragma once
#include "cli/args.h"
#include "model/transformer.h"

namespace mc::cli {

inline OptionSpec dtype_option() {
  return {"dtype", 0, "DTYPE",
          "weights and GEMMs: auto (default: bf16 for a bf16 checkpoint on a CPU with AVX512-BF16,\n"
          "else f32), bf16 (half the memory, ~2x the GEMM speed; inputs rounded to bf16) or f32 (exact\n"
          "reference arithmetic, equal to transformers in fp32)"};
}

inline WeightDtype dtype_from_args(const Args& args) { return weight_dtype_from_name(args.value_or("dtype", "auto")); }

}  // namespace mc::cli

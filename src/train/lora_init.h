// Creating fresh LoRA adapters for training, initialised as PEFT 0.21 does by default
// (LoraLayer.reset_lora_parameters with init_lora_weights=True): A ~ kaiming_uniform(a = √5), i.e.
// U(−1/√in, 1/√in) (gain √(2/(1+5)) times √3/√fan_in), and B = 0, so ΔW = 0 at step 0.
// Scale α/r, or α/√r with rsLoRA (Kalajdzievski 2023, arXiv:2312.03732).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.h"
#include "model/lora.h"
#include "model/transformer.h"

namespace mc::train {

struct LoraModuleSpec {
  std::string module;        // HF module path
  int64_t     r = 8;
  double      alpha = 16.0;
};

struct LoraCreateOptions {
  double dropout = 0.0;
  bool   use_rslora = false;
};

/// Adapters for `specs` on `model`, A drawn from `rng` in spec order. Throws mc::Error("[lora] ...") for
/// a module that is not an adaptable linear of the model, or a rank < 1 or larger than min(in, out).
LoraSet lora_create(const Model& model, const std::vector<LoraModuleSpec>& specs, const LoraCreateOptions& options,
                    Rng& rng);

}  // namespace mc::train

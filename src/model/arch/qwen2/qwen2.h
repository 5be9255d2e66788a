// Qwen2 layout, transformers 5.23 modeling_qwen2: the llama layer with q/k/v biases (loaded because the
// checkpoint holds them) and, per layer_types, sliding-window attention layers.
#pragma once
#include "model/arch/arch.h"

namespace mc {

ArchSpec arch_qwen2(const ModelConfig& c);

}  // namespace mc

// Qwen3 layout, transformers 5.23 modeling_qwen3: the qwen2 layer without q/k/v biases (unless
// attention_bias) plus self_attn.q_norm / k_norm, RMSNorms over head_dim applied per head before RoPE.
#pragma once
#include "model/arch/arch.h"

namespace mc {

ArchSpec arch_qwen3(const ModelConfig& c);

}  // namespace mc

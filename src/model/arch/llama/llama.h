// Llama (and Mistral) layout, transformers 5.23 modeling_llama / modeling_mistral: pre-norm decoder
// layers of GQA self-attention with RoPE and a SwiGLU MLP. Also the base the qwen2 and qwen3 layouts
// extend.
#pragma once
#include "model/arch/arch.h"

namespace mc {

/// One llama-style attention layer: model.layers.<il>.{input_layernorm, self_attn.{q,k,v,o}_proj,
/// post_attention_layernorm, mlp.{gate,up,down}_proj}. No sliding window.
LayerSpec llama_layer(int64_t il);

/// llama and mistral. Mistral's sliding_window (when set) applies to every layer, as MistralModel's
/// create_sliding_window_causal_mask does.
ArchSpec arch_llama(const ModelConfig& c);

}  // namespace mc

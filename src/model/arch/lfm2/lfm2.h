// LFM2 layout, transformers 5.23 modeling_lfm2 (spec/ecosystem.md §4.3): layers are "conv" (gated short
// convolution: conv.{in_proj, conv, out_proj}) or "full_attention" (self_attn.{q,k,v,out}_proj with
// q_layernorm / k_layernorm before RoPE), each preceded by operator_norm and followed by a SwiGLU
// feed_forward.{w1 (gate), w3 (up), w2 (down)} behind ffn_norm; the final norm is model.embedding_norm.
#pragma once
#include "model/arch/arch.h"

namespace mc {

ArchSpec arch_lfm2(const ModelConfig& c);

}  // namespace mc

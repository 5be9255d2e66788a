#include "model/arch/llama/llama.h"

#include <string>

namespace mc {

LayerSpec llama_layer(int64_t il) {
  const std::string p = "model.layers." + std::to_string(il) + ".";
  LayerSpec s;
  s.mixer = MixerKind::Attention;
  s.mixer_norm = p + "input_layernorm";
  s.q_proj = p + "self_attn.q_proj";
  s.k_proj = p + "self_attn.k_proj";
  s.v_proj = p + "self_attn.v_proj";
  s.o_proj = p + "self_attn.o_proj";
  s.ffn_norm = p + "post_attention_layernorm";
  s.gate = p + "mlp.gate_proj";
  s.up = p + "mlp.up_proj";
  s.down = p + "mlp.down_proj";
  return s;
}

ArchSpec arch_llama(const ModelConfig& c) {
  ArchSpec a;
  const int64_t window = (c.model_type == "mistral" && c.sliding_window > 0) ? c.sliding_window : 0;
  for (int64_t il = 0; il < c.num_hidden_layers; ++il) {
    LayerSpec s = llama_layer(il);
    s.window = window;
    a.layers.push_back(s);
  }
  return a;
}

}  // namespace mc

#include "model/arch/lfm2/lfm2.h"

#include <string>

namespace mc {

ArchSpec arch_lfm2(const ModelConfig& c) {
  ArchSpec a;
  a.final_norm = "model.embedding_norm";
  for (int64_t il = 0; il < c.num_hidden_layers; ++il) {
    const std::string p = "model.layers." + std::to_string(il) + ".";
    LayerSpec s;
    s.mixer_norm = p + "operator_norm";
    if (c.layer_is_attention(il)) {
      s.mixer = MixerKind::Attention;
      s.q_proj = p + "self_attn.q_proj";
      s.k_proj = p + "self_attn.k_proj";
      s.v_proj = p + "self_attn.v_proj";
      s.o_proj = p + "self_attn.out_proj";
      s.q_norm = p + "self_attn.q_layernorm";
      s.k_norm = p + "self_attn.k_layernorm";
    } else {
      s.mixer = MixerKind::ShortConv;
      s.conv_in = p + "conv.in_proj";
      s.conv_kernel = p + "conv.conv";
      s.conv_out = p + "conv.out_proj";
    }
    s.ffn_norm = p + "ffn_norm";
    s.gate = p + "feed_forward.w1";
    s.up = p + "feed_forward.w3";
    s.down = p + "feed_forward.w2";
    a.layers.push_back(s);
  }
  return a;
}

}  // namespace mc

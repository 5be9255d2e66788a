// Architecture descriptions for the engine: which block each decoder layer runs (attention or LFM2
// short conv) and the HF module paths of its weights, verbatim (no private renaming; DESIGN.md). One
// folder per architecture builds its ArchSpec from the shared llama-style layer description; adding an
// architecture is one folder plus one line in arch.cpp's table. Weight shapes and the exact tensor set
// are checked separately by model/weights.h (check_weights).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"

namespace mc {

enum class MixerKind { Attention, ShortConv };

/// HF module paths of one decoder layer, without the ".weight" / ".bias" suffix; empty = absent.
/// A linear's bias is loaded when the checkpoint holds "<path>.bias".
struct LayerSpec {
  MixerKind   mixer = MixerKind::Attention;
  int64_t     window = 0;   // sliding attention window in positions (0 = full causal)
  std::string mixer_norm;   // RMSNorm before the mixer: input_layernorm / operator_norm
  std::string q_proj, k_proj, v_proj, o_proj;  // attention projections (o_proj: LFM2's out_proj)
  std::string q_norm, k_norm;                  // per-head RMSNorm on q and k before RoPE (qwen3, lfm2)
  std::string conv_in, conv_kernel, conv_out;  // LFM2 short conv: in_proj, conv.conv, out_proj
  std::string ffn_norm;     // RMSNorm before the MLP: post_attention_layernorm / ffn_norm
  std::string gate, up, down;                  // SwiGLU MLP: down(silu(gate x) ⊙ up x)
};

struct ArchSpec {
  std::string            embed = "model.embed_tokens";
  std::string            final_norm = "model.norm";
  std::string            lm_head = "lm_head";  // unused when tie_word_embeddings
  std::vector<LayerSpec> layers;
};

/// The layout of c's architecture. Throws mc::Error("[model] ...") for a model_type with no engine
/// support (listing the supported ones).
ArchSpec arch_spec(const ModelConfig& c);

/// model_type values arch_spec accepts.
const std::vector<std::string>& arch_supported_types();

}  // namespace mc

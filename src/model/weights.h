// The weight layout of each supported architecture: every tensor a Hugging Face checkpoint holds for a
// ModelConfig, with its HF name, its PyTorch-order shape and a group tag, and the check that a
// safetensors checkpoint holds exactly that. Names and shapes mirror the transformers 5.23 modules
// (modeling_llama / mistral / qwen2 / qwen3 / lfm2) as save_pretrained writes them; the golden test
// checks this list against tiny checkpoints saved by transformers itself (tests/data/hf).
// This is the layout only; loading the values into the engine's tensors is not done here.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "io/safetensors.h"
#include "model/config.h"

namespace mc {

/// What part of the network a tensor belongs to. q_norm / k_norm (and LFM2's q_layernorm /
/// k_layernorm) are Norm; a bias has the group of its weight.
enum class WeightGroup { Embedding, Attention, Mlp, Norm, Conv, LmHead };

/// "embedding", "attention", "mlp", "norm", "conv", "lm_head".
std::string_view weight_group_name(WeightGroup g);

struct WeightSpec {
  std::string          name;        // HF tensor name, e.g. "model.layers.0.self_attn.q_proj.weight"
  std::vector<int64_t> shape;       // PyTorch order: a linear weight is (out, in)
  WeightGroup          group = WeightGroup::Attention;
  int64_t              layer = -1;  // decoder layer index; -1 for embedding, final norm and lm_head
};

/// Every tensor an HF checkpoint of this architecture holds, in module order: model.embed_tokens, then
/// per layer, then the final norm (model.norm, or LFM2's model.embedding_norm), then lm_head.weight
/// unless the embeddings are tied. Biases follow the effective flags of the config (qwen2 q/k/v
/// always; llama/qwen3 q/k/v/o with attention_bias; llama MLP with mlp_bias; LFM2 conv with conv_bias).
/// Shapes (D hidden, V vocab, F ffn_dim, H heads, Hkv kv heads, Dh head_dim, L conv_L_cache):
///   embed_tokens / lm_head (V, D); q_proj (H·Dh, D); k_proj, v_proj (Hkv·Dh, D); o_proj / out_proj
///   (D, H·Dh); q_norm, k_norm (Dh); gate/up/w1/w3 (F, D); down/w2 (D, F); LFM2 conv.in_proj (3D, D),
///   conv.out_proj (D, D), conv.conv.weight (D, 1, L); norms (D).
std::vector<WeightSpec> expected_weights(const ModelConfig& c);

/// The group of an HF tensor name of any supported architecture. Throws mc::Error("model", ...) for a
/// name that belongs to none.
WeightGroup weight_group_of(const std::string& hf_name);

/// Checks that `model` holds exactly the tensors expected_weights(c) lists, with those shapes and a
/// floating-point dtype. Tolerated extras, as transformers tolerates them when loading: lm_head.weight
/// stored although the embeddings are tied (with the right shape), and rotary_emb.inv_freq buffers of
/// older checkpoints. Throws mc::Error("[model] <source>: ...") naming the first missing tensor, the
/// first shape or dtype mismatch (expected vs found) or the first unexpected tensor.
void check_weights(const ModelConfig& c, const SafetensorsModel& model, const std::string& source);

}  // namespace mc

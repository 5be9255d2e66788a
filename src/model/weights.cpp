// Weight layout per architecture (see weights.h). The lists below follow the __init__ of the
// transformers 5.23 modules: LlamaDecoderLayer (also Mistral, Qwen2, Qwen3 with their deltas) and
// Lfm2DecoderLayer (operator_norm, self_attn or conv, ffn_norm, feed_forward).
#include "model/weights.h"

#include <set>

#include "core/error.h"

namespace mc {

std::string_view weight_group_name(WeightGroup g) {
  switch (g) {
    case WeightGroup::Embedding: return "embedding";
    case WeightGroup::Attention: return "attention";
    case WeightGroup::Mlp:       return "mlp";
    case WeightGroup::Norm:      return "norm";
    case WeightGroup::Conv:      return "conv";
    case WeightGroup::LmHead:    return "lm_head";
  }
  return "?";
}

namespace {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

struct LayoutBuilder {
  std::vector<WeightSpec> out;

  void add(std::string name, std::vector<int64_t> shape, WeightGroup group, int64_t layer) {
    out.push_back(WeightSpec{std::move(name), std::move(shape), group, layer});
  }
  // A linear layer `prefix`.weight (out_f, in_f), plus `prefix`.bias (out_f) when `bias`.
  void linear(const std::string& prefix, int64_t out_f, int64_t in_f, bool bias, WeightGroup g, int64_t il) {
    add(prefix + ".weight", {out_f, in_f}, g, il);
    if (bias) add(prefix + ".bias", {out_f}, g, il);
  }
  void norm(const std::string& prefix, int64_t dim, int64_t il) { add(prefix + ".weight", {dim}, WeightGroup::Norm, il); }
};

void llama_family_layer(LayoutBuilder& b, const ModelConfig& c, int64_t il) {
  const int64_t D = c.hidden_size, F = c.ffn_dim, Dh = c.head_dim;
  const std::string p = "model.layers." + std::to_string(il) + ".";
  const bool qkv_bias = c.has_qkv_bias();
  const bool o_bias = c.attention_bias && c.model_type != "qwen2";  // Qwen2's o_proj never has a bias
  b.norm(p + "input_layernorm", D, il);
  b.linear(p + "self_attn.q_proj", c.q_dim(), D, qkv_bias, WeightGroup::Attention, il);
  b.linear(p + "self_attn.k_proj", c.kv_dim(), D, qkv_bias, WeightGroup::Attention, il);
  b.linear(p + "self_attn.v_proj", c.kv_dim(), D, qkv_bias, WeightGroup::Attention, il);
  b.linear(p + "self_attn.o_proj", D, c.q_dim(), o_bias, WeightGroup::Attention, il);
  if (c.model_type == "qwen3") {
    b.norm(p + "self_attn.q_norm", Dh, il);
    b.norm(p + "self_attn.k_norm", Dh, il);
  }
  b.norm(p + "post_attention_layernorm", D, il);
  b.linear(p + "mlp.gate_proj", F, D, c.mlp_bias, WeightGroup::Mlp, il);
  b.linear(p + "mlp.up_proj", F, D, c.mlp_bias, WeightGroup::Mlp, il);
  b.linear(p + "mlp.down_proj", D, F, c.mlp_bias, WeightGroup::Mlp, il);
}

void lfm2_layer(LayoutBuilder& b, const ModelConfig& c, int64_t il) {
  const int64_t D = c.hidden_size, F = c.ffn_dim, Dh = c.head_dim;
  const std::string p = "model.layers." + std::to_string(il) + ".";
  b.norm(p + "operator_norm", D, il);
  if (c.layer_is_attention(il)) {
    // Lfm2Attention: no biases, per-head RMSNorm on q and k.
    b.linear(p + "self_attn.q_proj", c.q_dim(), D, false, WeightGroup::Attention, il);
    b.linear(p + "self_attn.k_proj", c.kv_dim(), D, false, WeightGroup::Attention, il);
    b.linear(p + "self_attn.v_proj", c.kv_dim(), D, false, WeightGroup::Attention, il);
    b.linear(p + "self_attn.out_proj", D, c.q_dim(), false, WeightGroup::Attention, il);
    b.norm(p + "self_attn.q_layernorm", Dh, il);
    b.norm(p + "self_attn.k_layernorm", Dh, il);
  } else {
    // Lfm2ShortConv: in_proj (3D, D) → B, C, x; depthwise Conv1d weight (D, 1, L); out_proj (D, D).
    b.linear(p + "conv.in_proj", 3 * D, D, c.conv_bias, WeightGroup::Conv, il);
    b.linear(p + "conv.out_proj", D, D, c.conv_bias, WeightGroup::Conv, il);
    b.add(p + "conv.conv.weight", {D, 1, c.conv_L_cache}, WeightGroup::Conv, il);
    if (c.conv_bias) b.add(p + "conv.conv.bias", {D}, WeightGroup::Conv, il);
  }
  b.norm(p + "ffn_norm", D, il);
  b.linear(p + "feed_forward.w1", F, D, false, WeightGroup::Mlp, il);
  b.linear(p + "feed_forward.w3", F, D, false, WeightGroup::Mlp, il);
  b.linear(p + "feed_forward.w2", D, F, false, WeightGroup::Mlp, il);
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::vector<WeightSpec> expected_weights(const ModelConfig& c) {
  const bool lfm2 = c.model_type == "lfm2";
  LayoutBuilder b;
  b.add("model.embed_tokens.weight", {c.vocab_size, c.hidden_size}, WeightGroup::Embedding, -1);
  for (int64_t il = 0; il < c.num_hidden_layers; ++il) {
    if (lfm2) {
      lfm2_layer(b, c, il);
    } else {
      llama_family_layer(b, c, il);
    }
  }
  b.norm(lfm2 ? "model.embedding_norm" : "model.norm", c.hidden_size, -1);
  if (!c.tie_word_embeddings) b.add("lm_head.weight", {c.vocab_size, c.hidden_size}, WeightGroup::LmHead, -1);
  return b.out;
}

WeightGroup weight_group_of(const std::string& hf_name) {
  // The module name is the component before the trailing ".weight" / ".bias".
  size_t dot = hf_name.rfind('.');
  std::string param = dot == std::string::npos ? "" : hf_name.substr(dot + 1);
  if (param != "weight" && param != "bias")
    throw Error("model", str("tensor '", hf_name, "' is not a weight or bias of a known module"));
  std::string path = hf_name.substr(0, dot);
  size_t mdot = path.rfind('.');
  std::string module = mdot == std::string::npos ? path : path.substr(mdot + 1);
  auto has = [&](std::string_view part) { return ("." + path + ".").find(part) != std::string::npos; };

  if (module.find("norm") != std::string::npos) return WeightGroup::Norm;  // *_layernorm, *_norm, norm
  if (module == "embed_tokens") return WeightGroup::Embedding;
  if (module == "lm_head") return WeightGroup::LmHead;
  if (has(".self_attn.")) return WeightGroup::Attention;
  if (has(".mlp.") || has(".feed_forward.")) return WeightGroup::Mlp;
  if (has(".conv.")) return WeightGroup::Conv;
  throw Error("model", str("tensor '", hf_name, "' belongs to no known weight group"));
}

void check_weights(const ModelConfig& c, const SafetensorsModel& model, const std::string& source) {
  auto fail = [&](const std::string& msg) -> void { throw Error("model", source + ": " + msg); };
  const std::vector<WeightSpec> specs = expected_weights(c);
  std::set<std::string> expected;

  size_t n_missing = 0;
  const WeightSpec* first_missing = nullptr;
  for (const auto& s : specs) {
    expected.insert(s.name);
    if (!model.find(s.name)) {
      if (!first_missing) first_missing = &s;
      ++n_missing;
    }
  }
  if (first_missing) {
    std::string more = n_missing > 1 ? str(" (and ", n_missing - 1, " more)") : "";
    fail(str("missing tensor '", first_missing->name, "' ", shape_str(first_missing->shape), " for ", c.model_type,
             more, "; the checkpoint does not match its config.json"));
  }

  for (const auto& s : specs) {
    const SafetensorsTensorInfo& t = *model.find(s.name)->info;
    if (t.shape != s.shape)
      fail(str("tensor '", s.name, "' has shape ", shape_str(t.shape), ", expected ", shape_str(s.shape),
               " from config.json"));
    if (!dtype_is_float(t.dtype))
      fail(str("tensor '", s.name, "' has dtype ", dtype_name(t.dtype), ", expected a floating-point dtype"));
  }

  for (const auto& [name, entry] : model.tensors()) {
    if (expected.count(name)) continue;
    // transformers ignores these when loading: a stored copy of the tied head, old RoPE buffers.
    if (name == "lm_head.weight" && c.tie_word_embeddings &&
        entry.info->shape == std::vector<int64_t>{c.vocab_size, c.hidden_size})
      continue;
    if (ends_with(name, ".rotary_emb.inv_freq")) continue;
    std::string hint;
    if (name.find("lora_") != std::string::npos) hint = " (this looks like a LoRA adapter, not a base model)";
    fail(str("unexpected tensor '", name, "' ", shape_str(entry.info->shape), " for ", c.model_type, hint));
  }
}

}  // namespace mc

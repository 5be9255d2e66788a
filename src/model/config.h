// ModelConfig: the architecture description read from a Hugging Face config.json. Field names mirror
// HF verbatim. Both the older spellings and the Transformers-v5 ones are accepted (rope_theta /
// rope_parameters, torch_dtype / dtype) as well as LFM2's legacy aliases (theta, block_ff_dim,
// full_attn_idxs, tie_embedding, norm_eps); see spec/ecosystem.md §4.2–4.3.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/json.h"

namespace mc {

/// model_type values mc supports, in the order error messages list them.
const std::vector<std::string>& supported_model_types();

struct RopeScaling {
  std::string rope_type = "default";  // "default", "linear", "llama3", "dynamic", "yarn", ...
  double      factor = 1.0;
  double      low_freq_factor = 1.0;                  // llama3
  double      high_freq_factor = 4.0;                 // llama3
  int64_t     original_max_position_embeddings = 0;   // llama3 / yarn
};

struct ModelConfig {
  std::string model_type;     // "llama", "mistral", "qwen2", "qwen3", "lfm2"
  std::string architecture;   // architectures[0], e.g. "LlamaForCausalLM" (may be empty)
  int64_t vocab_size              = 0;
  int64_t hidden_size             = 0;
  int64_t intermediate_size       = 0;  // as written in config.json (LFM2: before auto-adjust)
  int64_t ffn_dim                 = 0;  // effective MLP width (LFM2 auto-adjust applied)
  int64_t num_hidden_layers       = 0;
  int64_t num_attention_heads     = 0;
  int64_t num_key_value_heads     = 0;
  int64_t head_dim                = 0;
  int64_t max_position_embeddings = 0;
  double  rms_norm_eps            = 1e-6;
  double  rope_theta              = 10000.0;
  RopeScaling rope_scaling;
  std::string hidden_act          = "silu";
  bool    attention_bias          = false;  // q/k/v/o bias (qwen2: q/k/v bias always)
  bool    mlp_bias                = false;
  bool    tie_word_embeddings     = false;
  std::string dtype;                        // torch_dtype / dtype, e.g. "bfloat16" (may be empty)
  std::vector<int64_t> bos_token_id;        // usually one id; empty when unset
  std::vector<int64_t> eos_token_id;        // may be several
  std::vector<int64_t> pad_token_id;
  // qwen2 / mistral sliding window (reported; not used by the dense engine)
  bool    use_sliding_window      = false;
  int64_t sliding_window          = 0;
  // per-layer kinds: "full_attention", "conv" (lfm2), "sliding_attention" (qwen)
  std::vector<std::string> layer_types;
  // lfm2 short convolution
  int64_t conv_L_cache            = 0;
  bool    conv_bias               = false;

  bool has_qk_norm() const { return model_type == "qwen3" || model_type == "lfm2"; }
  bool has_qkv_bias() const { return model_type == "qwen2" || attention_bias; }
  bool layer_is_attention(int64_t il) const;
  int64_t q_dim() const { return num_attention_heads * head_dim; }
  int64_t kv_dim() const { return num_key_value_heads * head_dim; }

  /// The config as a JSON object with HF field names (for `mc model info --json` and import).
  OrderedJson to_json() const;
};

/// Parses a config.json object. `source` names the file in errors. Unsupported model_type, missing or
/// invalid required fields are mc::Error([config] ...).
ModelConfig config_from_json(const Json& j, const std::string& source);
/// Loads <dir>/config.json (or the file itself when `path` is a .json file).
ModelConfig config_load(const std::string& path);

/// HF-style config.json text for a config (used when mc writes a model directory).
OrderedJson config_to_hf_json(const ModelConfig& c);

}  // namespace mc

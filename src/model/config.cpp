#include "model/config.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>

#include "core/error.h"
#include "core/fs.h"

namespace mc {

const std::vector<std::string>& supported_model_types() {
  static const std::vector<std::string> types = {"llama", "mistral", "qwen2", "qwen3", "lfm2"};
  return types;
}

bool ModelConfig::layer_is_attention(int64_t il) const {
  if (layer_types.empty()) return true;
  return layer_types.at(static_cast<size_t>(il)) != "conv";
}

namespace {

// Upper bound on every size field. Real models stay far below it (vocabularies reach ~262k); it keeps
// products of two sizes (weight shapes) well inside int64 for anything that passes.
constexpr int64_t kMaxDim = int64_t{1} << 24;

struct Reader {
  const Json& j;
  const std::string& source;

  [[noreturn]] void fail(const std::string& msg) const { throw Error("config", source + ": " + msg); }

  const Json* get(std::initializer_list<const char*> keys) const {
    for (const char* k : keys) {
      auto it = j.find(k);
      if (it != j.end() && !it->is_null()) return &*it;
    }
    return nullptr;
  }

  int64_t integer(const char* key, const Json& v) const {
    if (v.is_number_unsigned()) {
      if (v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX)) return v.get<int64_t>();
    } else if (v.is_number_integer()) {
      return v.get<int64_t>();
    } else if (v.is_number_float()) {
      // Range-check before converting: casting an out-of-range double to int64 is undefined.
      double d = v.get<double>();
      if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9.0e18) return static_cast<int64_t>(d);
    }
    fail(str("field '", key, "' must be an integer, got ", v.dump()));
  }

  int64_t req_int(std::initializer_list<const char*> keys) const {
    const Json* v = get(keys);
    if (!v) fail(str("missing required field '", *keys.begin(), "'"));
    int64_t x = integer(*keys.begin(), *v);
    if (x <= 0) fail(str("field '", *keys.begin(), "' must be positive, got ", x));
    return x;
  }

  int64_t opt_int(std::initializer_list<const char*> keys, int64_t def) const {
    const Json* v = get(keys);
    return v ? integer(*keys.begin(), *v) : def;
  }

  double opt_num(std::initializer_list<const char*> keys, double def) const {
    const Json* v = get(keys);
    if (!v) return def;
    if (!v->is_number()) fail(str("field '", *keys.begin(), "' must be a number, got ", v->dump()));
    return v->get<double>();
  }

  bool opt_bool(std::initializer_list<const char*> keys, bool def) const {
    const Json* v = get(keys);
    if (!v) return def;
    if (!v->is_boolean()) fail(str("field '", *keys.begin(), "' must be true or false, got ", v->dump()));
    return v->get<bool>();
  }

  std::string opt_str(std::initializer_list<const char*> keys, const std::string& def) const {
    const Json* v = get(keys);
    if (!v) return def;
    if (!v->is_string()) fail(str("field '", *keys.begin(), "' must be a string, got ", v->dump()));
    return v->get<std::string>();
  }

  std::vector<int64_t> id_list(const char* key) const {
    const Json* v = get({key});
    std::vector<int64_t> out;
    if (!v) return out;
    if (v->is_array()) {
      for (const auto& e : *v) out.push_back(integer(key, e));
    } else {
      out.push_back(integer(key, *v));
    }
    return out;
  }
};

void parse_rope(const Reader& r, ModelConfig& c) {
  // Older configs: rope_theta + rope_scaling. Transformers v5: rope_parameters, either flat
  // ({rope_type, rope_theta, factor, ...}) or keyed by layer type ({"full_attention": {...}, ...}).
  // As in transformers 5.x (convert_rope_params_to_dict), a non-empty rope_scaling wins over
  // rope_parameters, and a rope_theta inside the dict wins over the top-level one. LFM2's legacy `theta`
  // is read only when rope_theta is absent (transformers 5.23 ignores it; LiquidAI configs carry both,
  // equal).
  c.rope_theta = r.opt_num({"rope_theta"}, c.rope_theta);
  if (c.model_type == "lfm2" && !r.get({"rope_theta"})) c.rope_theta = r.opt_num({"theta"}, c.rope_theta);
  const Json* scaling = r.get({"rope_scaling"});
  if (scaling && !scaling->is_object()) r.fail("field 'rope_scaling' must be an object");
  if (scaling && scaling->empty()) scaling = nullptr;
  if (!scaling) {
    const Json* params = r.get({"rope_parameters"});
    if (params) {
      if (!params->is_object()) r.fail("field 'rope_parameters' must be an object");
      if (!params->contains("rope_type") && !params->contains("rope_theta") && !params->empty()) {
        auto it = params->find("full_attention");
        params = (it != params->end()) ? &*it : &params->begin().value();
        if (!params->is_object()) r.fail("field 'rope_parameters' has a non-object entry");
      }
    }
    scaling = params;
  }
  if (scaling) {
    Reader sr{*scaling, r.source};
    c.rope_theta = sr.opt_num({"rope_theta"}, c.rope_theta);
    c.rope_scaling.rope_type = sr.opt_str({"rope_type", "type"}, "default");
    c.rope_scaling.factor = sr.opt_num({"factor"}, 1.0);
    c.rope_scaling.low_freq_factor = sr.opt_num({"low_freq_factor"}, 1.0);
    c.rope_scaling.high_freq_factor = sr.opt_num({"high_freq_factor"}, 4.0);
    // transformers' standardize_rope_params: llama3 / yarn / longrope default the pretraining length
    // to max_position_embeddings.
    const std::string& t = c.rope_scaling.rope_type;
    int64_t def_orig = (t == "llama3" || t == "yarn" || t == "longrope") ? c.max_position_embeddings : 0;
    c.rope_scaling.original_max_position_embeddings = sr.opt_int({"original_max_position_embeddings"}, def_orig);
  }
  if (!(c.rope_theta > 0)) r.fail(str("rope_theta must be positive, got ", c.rope_theta));
}

}  // namespace

ModelConfig config_from_json(const Json& j, const std::string& source) {
  if (!j.is_object()) throw Error("config", source + ": expected a JSON object");
  Reader r{j, source};
  ModelConfig c;
  c.model_type = r.opt_str({"model_type"}, "");
  const auto& types = supported_model_types();
  if (std::find(types.begin(), types.end(), c.model_type) == types.end()) {
    std::string list;
    for (const auto& t : types) list += (list.empty() ? "" : ", ") + t;
    r.fail(str("unsupported model_type '", c.model_type, "' (supported: ", list, ")"));
  }
  if (const Json* a = r.get({"architectures"}); a && a->is_array() && !a->empty() && (*a)[0].is_string())
    c.architecture = (*a)[0].get<std::string>();

  const bool lfm2 = c.model_type == "lfm2";
  c.vocab_size = r.req_int({"vocab_size"});
  c.hidden_size = r.req_int({"hidden_size"});
  c.intermediate_size = lfm2 ? r.req_int({"block_ff_dim", "intermediate_size"}) : r.req_int({"intermediate_size"});
  c.num_hidden_layers = r.req_int({"num_hidden_layers"});
  c.num_attention_heads = r.req_int({"num_attention_heads"});
  c.num_key_value_heads = r.opt_int({"num_key_value_heads"}, c.num_attention_heads);
  if (c.num_key_value_heads <= 0 || c.num_attention_heads % c.num_key_value_heads != 0)
    r.fail(str("num_attention_heads (", c.num_attention_heads, ") must be a multiple of num_key_value_heads (",
               c.num_key_value_heads, ")"));
  for (auto [key, v] : {std::pair<const char*, int64_t>{"vocab_size", c.vocab_size}, {"hidden_size", c.hidden_size},
                        {"intermediate_size", c.intermediate_size}, {"num_hidden_layers", c.num_hidden_layers},
                        {"num_attention_heads", c.num_attention_heads}}) {
    if (v > kMaxDim) r.fail(str("field '", key, "' is implausibly large (", v, " > ", kMaxDim, ")"));
  }
  if (r.get({"head_dim"})) {
    c.head_dim = r.req_int({"head_dim"});
  } else if (c.model_type == "qwen3") {
    c.head_dim = 128;  // Qwen3Config's default: qwen3 never derives head_dim from hidden_size
  } else {
    if (c.hidden_size % c.num_attention_heads != 0)
      r.fail(str("hidden_size (", c.hidden_size, ") is not divisible by num_attention_heads (",
                 c.num_attention_heads, ") and head_dim is not given"));
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (c.head_dim > kMaxDim) r.fail(str("field 'head_dim' is implausibly large (", c.head_dim, ")"));
  // Defaults are those of the transformers config classes.
  const int64_t def_max_pos = lfm2                                  ? 128000
                              : c.model_type == "mistral"           ? 4096 * 32
                              : c.model_type.rfind("qwen", 0) == 0  ? 32768
                                                                    : 2048;
  c.max_position_embeddings = r.opt_int({"max_position_embeddings"}, def_max_pos);
  // Each family reads only its own field: LFM2 has norm_eps, the others rms_norm_eps.
  c.rms_norm_eps = lfm2 ? r.opt_num({"norm_eps"}, 1e-5) : r.opt_num({"rms_norm_eps"}, 1e-6);
  if (lfm2) c.rope_theta = 1e6;
  parse_rope(r, c);
  c.hidden_act = r.opt_str({"hidden_act"}, "silu");
  if (c.hidden_act != "silu")
    r.fail(str("hidden_act '", c.hidden_act, "' is not supported (only silu / SwiGLU)"));
  // The bias flags hold what the HF modules build: only llama and qwen3 read attention_bias (qwen2's q/k/v
  // bias is unconditional and its o_proj never has one; mistral and lfm2 never use biases), only llama
  // reads mlp_bias.
  const bool reads_attention_bias = c.model_type == "llama" || c.model_type == "qwen3";
  c.attention_bias = reads_attention_bias && r.opt_bool({"attention_bias"}, false);
  c.mlp_bias = c.model_type == "llama" && r.opt_bool({"mlp_bias"}, false);
  // Lfm2Config pops the legacy `tie_embedding` over `tie_word_embeddings` when both are present.
  c.tie_word_embeddings = lfm2 ? r.opt_bool({"tie_embedding", "tie_word_embeddings"}, true)
                               : r.opt_bool({"tie_word_embeddings"}, false);
  c.dtype = r.opt_str({"dtype", "torch_dtype"}, "");
  c.bos_token_id = r.id_list("bos_token_id");
  c.eos_token_id = r.id_list("eos_token_id");
  c.pad_token_id = r.id_list("pad_token_id");
  const bool qwen = c.model_type == "qwen2" || c.model_type == "qwen3";
  c.use_sliding_window = r.opt_bool({"use_sliding_window"}, false);
  // Mistral and Qwen configs default the window to 4096 (an explicit null means none); Qwen2Config and
  // Qwen3Config drop it unless use_sliding_window is set.
  const bool has_window_field = c.model_type == "mistral" || qwen;
  const bool window_null = j.contains("sliding_window") && j["sliding_window"].is_null();
  c.sliding_window = (has_window_field && !window_null) ? r.opt_int({"sliding_window"}, 4096) : 0;
  if (qwen && !c.use_sliding_window) c.sliding_window = 0;

  c.ffn_dim = c.intermediate_size;
  if (lfm2) {
    c.conv_L_cache = r.opt_int({"conv_L_cache"}, 3);
    c.conv_bias = r.opt_bool({"conv_bias"}, false);
    if (c.conv_L_cache <= 0 || c.conv_L_cache > kMaxDim)
      r.fail(str("conv_L_cache must be in [1, ", kMaxDim, "], got ", c.conv_L_cache));
    if (r.opt_bool({"block_auto_adjust_ff_dim"}, true)) {
      // transformers Lfm2MLP: I = int(2·ff/3); I = int(mult·I); round I up to a multiple of multiple_of.
      int64_t ff = 2 * c.intermediate_size / 3;
      double multiplier = r.opt_num({"block_ffn_dim_multiplier"}, 1.0);
      double scaled = multiplier * static_cast<double>(ff);
      if (!(scaled >= 1.0 && scaled <= static_cast<double>(kMaxDim)))
        r.fail(str("block_ffn_dim_multiplier ", multiplier, " gives an MLP width out of range"));
      ff = static_cast<int64_t>(scaled);
      int64_t mult = r.opt_int({"block_multiple_of"}, 256);
      if (mult <= 0 || mult > kMaxDim) r.fail(str("block_multiple_of must be in [1, ", kMaxDim, "], got ", mult));
      c.ffn_dim = mult * ((ff + mult - 1) / mult);
    }
  }

  if (const Json* lt = r.get({"layer_types"})) {
    if (!lt->is_array()) r.fail("field 'layer_types' must be a list");
    for (const auto& e : *lt) {
      if (!e.is_string()) r.fail("field 'layer_types' must hold strings");
      c.layer_types.push_back(e.get<std::string>());
    }
  } else if (qwen) {
    // Qwen2Config / Qwen3Config: layers from max_window_layers on slide when a window is in use.
    int64_t max_window_layers = r.opt_int({"max_window_layers"}, 28);
    for (int64_t i = 0; i < c.num_hidden_layers; ++i)
      c.layer_types.push_back(c.sliding_window > 0 && i >= max_window_layers ? "sliding_attention" : "full_attention");
  } else if (lfm2) {
    std::vector<int64_t> idx;
    if (const Json* fa = r.get({"full_attn_idxs"})) {
      if (!fa->is_array()) r.fail("field 'full_attn_idxs' must be a list");
      for (const auto& e : *fa) idx.push_back(r.integer("full_attn_idxs", e));
    } else {
      for (int64_t i = 0; i < c.num_hidden_layers; ++i) idx.push_back(i);
    }
    c.layer_types.assign(static_cast<size_t>(c.num_hidden_layers), "conv");
    for (int64_t i : idx) {
      if (i < 0 || i >= c.num_hidden_layers) r.fail(str("full_attn_idxs entry ", i, " is out of range"));
      c.layer_types[static_cast<size_t>(i)] = "full_attention";
    }
  }
  if (!c.layer_types.empty()) {
    if (static_cast<int64_t>(c.layer_types.size()) != c.num_hidden_layers)
      r.fail(str("layer_types has ", c.layer_types.size(), " entries but num_hidden_layers is ", c.num_hidden_layers));
    for (const auto& t : c.layer_types) {
      bool ok = t == "full_attention" || t == "sliding_attention" || (lfm2 && t == "conv");
      if (!ok) r.fail(str("unsupported layer type '", t, "' in layer_types"));
    }
  }
  return c;
}

ModelConfig config_load(const std::string& path) {
  std::string file = path;
  if (is_directory(path)) file = path + "/config.json";
  if (!path_exists(file)) throw Error("config", str(file, ": missing (a model directory needs config.json)"));
  return config_from_json(json_load(file, "config"), file);
}

OrderedJson ModelConfig::to_json() const {
  OrderedJson j;
  j["model_type"] = model_type;
  j["architecture"] = architecture;
  j["num_hidden_layers"] = num_hidden_layers;
  j["hidden_size"] = hidden_size;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  j["head_dim"] = head_dim;
  j["intermediate_size"] = intermediate_size;
  j["ffn_dim"] = ffn_dim;
  j["vocab_size"] = vocab_size;
  j["max_position_embeddings"] = max_position_embeddings;
  j["rms_norm_eps"] = rms_norm_eps;
  j["rope_theta"] = rope_theta;
  j["rope_scaling"] = {{"rope_type", rope_scaling.rope_type},
                       {"factor", rope_scaling.factor},
                       {"low_freq_factor", rope_scaling.low_freq_factor},
                       {"high_freq_factor", rope_scaling.high_freq_factor},
                       {"original_max_position_embeddings", rope_scaling.original_max_position_embeddings}};
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["attention_bias"] = attention_bias;
  j["mlp_bias"] = mlp_bias;
  j["dtype"] = dtype;
  j["bos_token_id"] = bos_token_id;
  j["eos_token_id"] = eos_token_id;
  if (!layer_types.empty()) j["layer_types"] = layer_types;
  if (model_type == "lfm2") j["conv_L_cache"] = conv_L_cache;
  return j;
}

OrderedJson config_to_hf_json(const ModelConfig& c) {
  OrderedJson j;
  static const std::map<std::string, std::string> arch = {
      {"llama", "LlamaForCausalLM"}, {"mistral", "MistralForCausalLM"}, {"qwen2", "Qwen2ForCausalLM"},
      {"qwen3", "Qwen3ForCausalLM"}, {"lfm2", "Lfm2ForCausalLM"}};
  j["architectures"] = {c.architecture.empty() ? arch.at(c.model_type) : c.architecture};
  j["model_type"] = c.model_type;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim;
  j["hidden_act"] = c.hidden_act;
  j["max_position_embeddings"] = c.max_position_embeddings;
  if (c.model_type == "lfm2") {
    j["norm_eps"] = c.rms_norm_eps;
    j["conv_L_cache"] = c.conv_L_cache;
    j["conv_bias"] = c.conv_bias;
    j["block_auto_adjust_ff_dim"] = false;  // intermediate_size below is already the effective width
    j["intermediate_size"] = c.ffn_dim;
  } else {
    j["rms_norm_eps"] = c.rms_norm_eps;
    j["attention_bias"] = c.attention_bias;
    j["mlp_bias"] = c.mlp_bias;
  }
  j["rope_theta"] = c.rope_theta;
  if (c.rope_scaling.rope_type != "default") {
    OrderedJson s;
    s["rope_type"] = c.rope_scaling.rope_type;
    s["factor"] = c.rope_scaling.factor;
    if (c.rope_scaling.rope_type == "llama3") {
      s["low_freq_factor"] = c.rope_scaling.low_freq_factor;
      s["high_freq_factor"] = c.rope_scaling.high_freq_factor;
    }
    if (c.rope_scaling.original_max_position_embeddings > 0)
      s["original_max_position_embeddings"] = c.rope_scaling.original_max_position_embeddings;
    j["rope_scaling"] = s;
  } else {
    j["rope_scaling"] = nullptr;
  }
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  if (!c.layer_types.empty()) j["layer_types"] = c.layer_types;
  auto id = [](const std::vector<int64_t>& v) -> OrderedJson {
    if (v.empty()) return nullptr;
    if (v.size() == 1) return v[0];
    return v;
  };
  j["bos_token_id"] = id(c.bos_token_id);
  j["eos_token_id"] = id(c.eos_token_id);
  if (!c.pad_token_id.empty()) j["pad_token_id"] = id(c.pad_token_id);
  j["torch_dtype"] = c.dtype.empty() ? "float32" : c.dtype;
  return j;
}

}  // namespace mc

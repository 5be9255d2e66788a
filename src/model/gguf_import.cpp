#include "model/gguf_import.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>

#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "io/safetensors.h"
#include "io/tokenizer/gguf_tokenizer.h"
#include "model/weights.h"

namespace mc {

namespace {

constexpr const char* kComponent = "gguf-import";

[[noreturn]] void fail(const GgufFile& g, const std::string& msg) { throw Error(kComponent, g.path() + ": " + msg); }

// A GGUF float32 hyperparameter as the decimal it was written from: the shortest decimal that reads
// back as the same float (9.999999747e-06 stored for 1e-5 becomes 1e-05 again).
double f32_decimal(float f) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), f);
  *res.ptr = '\0';
  return std::strtod(buf, nullptr);
}

struct Hparams {
  const GgufFile&   g;
  const std::string arch;

  std::string key(const std::string& k) const { return arch + "." + k; }

  const GgufValue* scalar(const std::string& k) const {
    const GgufValue* v = g.find(key(k));
    if (v && v->is_array()) fail(g, str("'", key(k), "' must be a single value, not an array"));
    return v;
  }

  std::optional<int64_t> opt_int(const std::string& k) const {
    const GgufValue* v = scalar(k);
    if (!v) return std::nullopt;
    std::optional<int64_t> x = v->as_int();
    if (!x) fail(g, str("'", key(k), "' must be an integer"));
    return x;
  }

  int64_t req_int(const std::string& k) const {
    std::optional<int64_t> x = opt_int(k);
    if (!x) fail(g, str("missing '", key(k), "'"));
    if (*x <= 0) fail(g, str("'", key(k), "' must be positive, got ", *x));
    return *x;
  }

  std::optional<double> opt_float(const std::string& k) const {
    const GgufValue* v = scalar(k);
    if (!v) return std::nullopt;
    std::optional<double> x = v->as_float();
    if (!x) fail(g, str("'", key(k), "' must be a number"));
    if (v->type == GgufValueType::FLOAT32) return f32_decimal(static_cast<float>(*x));
    return x;
  }

  // A per-layer value: a scalar (same for every layer) or an array with one entry per layer.
  std::vector<int64_t> per_layer(const std::string& k, int64_t n_layer, bool required) const {
    const GgufValue* v = g.find(key(k));
    if (!v) {
      if (required) fail(g, str("missing '", key(k), "'"));
      return {};
    }
    std::vector<int64_t> out;
    if (v->is_array()) {
      if (static_cast<int64_t>(v->arr.size()) != n_layer)
        fail(g, str("'", key(k), "' has ", v->arr.size(), " entries but there are ", n_layer, " layers"));
      for (const auto& e : v->arr) {
        std::optional<int64_t> x = e.as_int();
        if (!x || *x < 0) fail(g, str("'", key(k), "' must hold non-negative integers"));
        out.push_back(*x);
      }
    } else {
      std::optional<int64_t> x = v->as_int();
      if (!x || *x < 0) fail(g, str("'", key(k), "' must be a non-negative integer"));
      out.assign(static_cast<size_t>(n_layer), *x);
    }
    return out;
  }
};

int64_t uniform(const GgufFile& g, const std::vector<int64_t>& v, const std::string& what) {
  for (int64_t x : v)
    if (x != v[0]) fail(g, str(what, " differs between layers, which Hugging Face configs cannot express"));
  return v[0];
}

bool any_tensor(const GgufFile& g, const std::string& suffix) {
  for (const auto& t : g.tensors()) {
    const std::string& n = t.name;
    if (n.size() >= suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) return true;
  }
  return false;
}

std::optional<int64_t> token_id(const GgufFile& g, const std::string& k, int64_t vocab) {
  if (!g.find(k)) return std::nullopt;
  std::optional<int64_t> v = g.get_int(k);
  if (!v) fail(g, str("'", k, "' must be an integer"));
  if (*v == -1 || *v == 0xFFFFFFFFll) return std::nullopt;
  if (*v < 0 || *v >= vocab) {
    log_warn(str(g.path(), ": '", k, "' = ", *v, " is outside the vocabulary (", vocab, "); ignored"));
    return std::nullopt;
  }
  return v;
}

bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

const std::vector<std::string>& gguf_supported_architectures() {
  static const std::vector<std::string> a = {"llama", "qwen2", "qwen3", "lfm2"};
  return a;
}

ModelConfig config_from_gguf(const GgufFile& g) {
  const GgufValue* av = g.find("general.architecture");
  if (!av) fail(g, "missing 'general.architecture'");
  if (!av->as_string()) fail(g, "'general.architecture' must be a string");
  const std::string arch = *av->as_string();
  const auto& archs = gguf_supported_architectures();
  if (std::find(archs.begin(), archs.end(), arch) == archs.end()) {
    std::string list;
    for (const auto& a : archs) list += (list.empty() ? "" : ", ") + a;
    fail(g, str("architecture '", arch, "' is not supported (supported: ", list, ")"));
  }
  Hparams h{g, arch};
  const bool lfm2 = arch == "lfm2";

  ModelConfig c;
  c.model_type = arch;
  c.hidden_size = h.req_int("embedding_length");
  c.num_hidden_layers = h.req_int("block_count");
  c.max_position_embeddings = h.req_int("context_length");
  c.intermediate_size = uniform(g, h.per_layer("feed_forward_length", c.num_hidden_layers, true), "feed_forward_length");
  if (c.intermediate_size <= 0) fail(g, str("'", h.key("feed_forward_length"), "' must be positive"));
  c.ffn_dim = c.intermediate_size;  // LFM2: llama.cpp stores the auto-adjusted width

  std::vector<int64_t> n_head = h.per_layer("attention.head_count", c.num_hidden_layers, true);
  std::vector<int64_t> n_head_kv = h.per_layer("attention.head_count_kv", c.num_hidden_layers, false);
  if (n_head_kv.empty()) n_head_kv = n_head;
  if (lfm2) {
    // llama.cpp's LFM2 converter writes head_count_kv per layer, 0 for the short-conv layers.
    c.layer_types.resize(static_cast<size_t>(c.num_hidden_layers));
    int64_t max_kv = 0, max_h = 0;
    for (int64_t il = 0; il < c.num_hidden_layers; ++il) {
      bool attn = n_head_kv[static_cast<size_t>(il)] > 0;
      c.layer_types[static_cast<size_t>(il)] = attn ? "full_attention" : "conv";
      if (attn) {
        if (max_kv && n_head_kv[static_cast<size_t>(il)] != max_kv)
          fail(g, "attention.head_count_kv differs between attention layers, which Hugging Face configs cannot express");
        max_kv = n_head_kv[static_cast<size_t>(il)];
        max_h = std::max(max_h, n_head[static_cast<size_t>(il)]);
      }
    }
    if (max_h == 0) max_h = *std::max_element(n_head.begin(), n_head.end());
    c.num_attention_heads = max_h;
    c.num_key_value_heads = max_kv ? max_kv : max_h;
    c.conv_L_cache = h.req_int("shortconv.l_cache");
    c.conv_bias = any_tensor(g, ".shortconv.in_proj.bias");
  } else {
    c.num_attention_heads = uniform(g, n_head, "attention.head_count");
    c.num_key_value_heads = uniform(g, n_head_kv, "attention.head_count_kv");
  }
  if (c.num_attention_heads <= 0 || c.num_key_value_heads <= 0)
    fail(g, "attention.head_count and attention.head_count_kv must be positive");

  // head_dim: attention.key_length when written (Qwen3: 128 ≠ hidden/heads), else hidden/heads as llama.cpp
  // assumes (n_embd_head_k).
  if (std::optional<int64_t> kl = h.opt_int("attention.key_length")) {
    c.head_dim = *kl;
    std::optional<int64_t> vl = h.opt_int("attention.value_length");
    if (vl && *vl != *kl) fail(g, str("attention.value_length (", *vl, ") differs from attention.key_length (", *kl, ")"));
  } else {
    if (c.hidden_size % c.num_attention_heads != 0)
      fail(g, str("embedding_length (", c.hidden_size, ") is not divisible by head_count (", c.num_attention_heads,
                  ") and attention.key_length is missing"));
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (c.head_dim <= 0) fail(g, "attention.key_length must be positive");
  if (std::optional<int64_t> rd = h.opt_int("rope.dimension_count"); rd && *rd != c.head_dim)
    fail(g, str("rope.dimension_count (", *rd, ") differs from head_dim (", c.head_dim,
                "): partial rotary embeddings are not supported"));

  std::optional<double> eps = h.opt_float("attention.layer_norm_rms_epsilon");
  if (!eps) fail(g, str("missing '", h.key("attention.layer_norm_rms_epsilon"), "'"));
  c.rms_norm_eps = *eps;
  c.rope_theta = h.opt_float("rope.freq_base").value_or(10000.0);

  // RoPE scaling: rope.scaling.{type,factor,original_context_length}, or the older rope.scale_linear.
  std::string rope_type = "none";
  if (const GgufValue* t = h.scalar("rope.scaling.type")) {
    if (!t->as_string()) fail(g, str("'", h.key("rope.scaling.type"), "' must be a string"));
    rope_type = *t->as_string();
  }
  std::optional<double> factor = h.opt_float("rope.scaling.factor");
  if (rope_type == "none") {
    if (std::optional<double> lin = h.opt_float("rope.scale_linear"); lin && *lin != 1.0) {
      rope_type = "linear";
      factor = lin;
    }
  }
  if (rope_type == "linear" || rope_type == "yarn") {
    if (!factor || *factor <= 0) fail(g, str("rope scaling '", rope_type, "' needs a positive rope.scaling.factor"));
    c.rope_scaling.rope_type = rope_type;
    c.rope_scaling.factor = *factor;
    c.rope_scaling.original_max_position_embeddings = h.opt_int("rope.scaling.original_context_length").value_or(0);
  } else if (rope_type != "none") {
    fail(g, str("rope scaling type '", rope_type, "' is not supported (supported: none, linear, yarn)"));
  }
  if (g.find_tensor("rope_freqs.weight"))
    log_warn(str(g.path(), ": the GGUF carries rope_freqs (llama.cpp's form of Llama-3.1 RoPE scaling); its "
                 "parameters cannot be recovered, so config.json has no rope_scaling — add it by hand"));

  // Vocabulary: the embedding's rows are what the model has.
  const GgufTensorInfo* emb = g.find_tensor("token_embd.weight");
  if (!emb) fail(g, "missing tensor 'token_embd.weight'");
  if (emb->ne.size() != 2 || emb->ne[0] != static_cast<uint64_t>(c.hidden_size))
    fail(g, str("tensor 'token_embd.weight' has ggml shape [", emb->ne.size() ? emb->ne[0] : 0, ", ...] but "
                "embedding_length is ", c.hidden_size));
  c.vocab_size = static_cast<int64_t>(emb->ne[1]);
  if (const GgufValue* toks = g.find("tokenizer.ggml.tokens"); toks && toks->is_array() &&
                                                                 static_cast<int64_t>(toks->arr.size()) != c.vocab_size)
    log_warn(str(g.path(), ": the tokenizer has ", toks->arr.size(), " tokens but token_embd has ", c.vocab_size,
                 " rows; vocab_size follows the embedding"));
  c.tie_word_embeddings = g.find_tensor("output.weight") == nullptr;

  if (arch == "llama" || arch == "qwen3") {
    c.attention_bias = any_tensor(g, ".attn_q.bias");
    c.mlp_bias = any_tensor(g, ".ffn_gate.bias");
    if (c.mlp_bias && arch == "qwen3") fail(g, "qwen3 has no MLP bias but the GGUF has ffn_gate.bias tensors");
  }
  if (auto id = token_id(g, "tokenizer.ggml.bos_token_id", c.vocab_size)) c.bos_token_id = {*id};
  if (auto id = token_id(g, "tokenizer.ggml.eos_token_id", c.vocab_size)) c.eos_token_id = {*id};
  if (auto id = token_id(g, "tokenizer.ggml.padding_token_id", c.vocab_size)) c.pad_token_id = {*id};

  // Round-trip through the HF JSON so the result is exactly what mc reads back from config.json
  // (and every consistency check of config_from_json applies).
  try {
    return config_from_json(json_parse(json_dump(config_to_hf_json(c)), g.path()), g.path());
  } catch (const Error& e) {
    throw Error(kComponent, str(g.path(), ": inconsistent hyperparameters (", e.what(), ")"));
  }
}

std::string gguf_to_hf_tensor_name(const std::string& gguf_name, const ModelConfig& c) {
  const bool lfm2 = c.model_type == "lfm2";
  std::string base = gguf_name, suffix;
  for (const char* s : {".weight", ".bias"}) {
    std::string sx = s;
    if (gguf_name.size() > sx.size() && gguf_name.compare(gguf_name.size() - sx.size(), sx.size(), sx) == 0) {
      base = gguf_name.substr(0, gguf_name.size() - sx.size());
      suffix = sx;
    }
  }
  if (suffix.empty()) return "";
  const bool bias = suffix == ".bias";

  if (!starts_with(base, "blk.")) {
    if (bias) return "";
    if (base == "token_embd") return "model.embed_tokens.weight";
    if (base == "output") return "lm_head.weight";
    if (base == "output_norm") return lfm2 ? "model.embedding_norm.weight" : "model.norm.weight";
    if (base == "token_embd_norm" && lfm2) return "model.embedding_norm.weight";
    return "";
  }
  // blk.N.<name>
  size_t dot = base.find('.', 4);
  if (dot == std::string::npos || dot == 4 || dot - 4 > 9) return "";
  int64_t il = 0;
  for (size_t i = 4; i < dot; ++i) {
    if (base[i] < '0' || base[i] > '9') return "";
    il = il * 10 + (base[i] - '0');
  }
  if (dot - 4 > 1 && base[4] == '0') return "";  // no leading zeros
  if (il >= c.num_hidden_layers) return "";
  const std::string name = base.substr(dot + 1);
  const std::string layer = str("model.layers.", il, ".");
  const bool attn_layer = c.layer_is_attention(il);

  static const std::map<std::string, std::string> dense = {
      {"attn_norm", "input_layernorm"},   {"ffn_norm", "post_attention_layernorm"},
      {"attn_q", "self_attn.q_proj"},     {"attn_k", "self_attn.k_proj"},
      {"attn_v", "self_attn.v_proj"},     {"attn_output", "self_attn.o_proj"},
      {"attn_q_norm", "self_attn.q_norm"}, {"attn_k_norm", "self_attn.k_norm"},
      {"ffn_gate", "mlp.gate_proj"},      {"ffn_up", "mlp.up_proj"},
      {"ffn_down", "mlp.down_proj"},
  };
  static const std::map<std::string, std::string> lfm = {
      {"attn_norm", "operator_norm"},        {"ffn_norm", "ffn_norm"},
      {"attn_q", "self_attn.q_proj"},        {"attn_k", "self_attn.k_proj"},
      {"attn_v", "self_attn.v_proj"},        {"attn_output", "self_attn.out_proj"},
      {"attn_q_norm", "self_attn.q_layernorm"}, {"attn_k_norm", "self_attn.k_layernorm"},
      {"ffn_gate", "feed_forward.w1"},       {"ffn_up", "feed_forward.w3"},
      {"ffn_down", "feed_forward.w2"},       {"shortconv.conv", "conv.conv"},
      {"shortconv.in_proj", "conv.in_proj"}, {"shortconv.out_proj", "conv.out_proj"},
  };
  const auto& table = lfm2 ? lfm : dense;
  auto it = table.find(name);
  if (it == table.end()) return "";
  const bool is_norm = name.find("norm") != std::string::npos;
  if (bias && (is_norm || name == "shortconv.conv")) return "";
  if (!lfm2 && (name == "attn_q_norm" || name == "attn_k_norm") && !c.has_qk_norm()) return "";
  if (lfm2) {
    const bool conv = starts_with(name, "shortconv.");
    const bool attn = starts_with(name, "attn_") && name != "attn_norm";
    if ((conv && attn_layer) || (attn && !attn_layer)) return "";
  }
  return layer + it->second + suffix;
}

std::vector<float> llama_permute_rows(std::span<const float> w, int64_t rows, int64_t cols, int64_t n_head) {
  MC_CHECK(n_head > 0 && rows % (2 * n_head) == 0 && static_cast<int64_t>(w.size()) == rows * cols,
           "llama_permute_rows: rows ", rows, " cols ", cols, " n_head ", n_head, " size ", w.size());
  const int64_t D = rows / n_head, half = D / 2;
  std::vector<float> out(w.size());
  // GGUF row h·D + 2j + i  ←  HF row h·D + i·half + j
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < half; ++j)
        std::copy_n(w.data() + (h * D + i * half + j) * cols, cols, out.data() + (h * D + 2 * j + i) * cols);
  return out;
}

std::vector<float> llama_unpermute_rows(std::span<const float> w, int64_t rows, int64_t cols, int64_t n_head) {
  MC_CHECK(n_head > 0 && rows % (2 * n_head) == 0 && static_cast<int64_t>(w.size()) == rows * cols,
           "llama_unpermute_rows: rows ", rows, " cols ", cols, " n_head ", n_head, " size ", w.size());
  const int64_t D = rows / n_head, half = D / 2;
  std::vector<float> out(w.size());
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < half; ++j)
        std::copy_n(w.data() + (h * D + 2 * j + i) * cols, cols, out.data() + (h * D + i * half + j) * cols);
  return out;
}

GgufImportResult gguf_import(const std::string& gguf_path, const std::string& out_dir,
                             const GgufImportOptions& options) {
  if (options.dtype != Dtype::BF16 && options.dtype != Dtype::F32)
    throw Error(kComponent, str("output dtype ", dtype_name(options.dtype), " is not supported (bf16 or f32)"));
  if (!path_exists(gguf_path)) throw Error(kComponent, str(gguf_path, ": no such file"));
  if (path_exists(out_dir) && !options.force)
    throw Error(kComponent, str(out_dir, ": already exists (use --force to replace it)"));

  GgufFile g = GgufFile::open(gguf_path);
  GgufImportResult result;
  ModelConfig c = config_from_gguf(g);
  c.dtype = options.dtype == Dtype::BF16 ? "bfloat16" : "float32";
  HfTokenizerFiles tok = tokenizer_from_gguf(g);
  const bool llama = c.model_type == "llama";
  log_info(str("importing ", gguf_path, ": ", c.model_type, ", ", c.num_hidden_layers, " layers, hidden ",
               c.hidden_size, ", ", g.tensors().size(), " tensors → ", out_dir, " (", dtype_name(options.dtype), ")"));

  OutputDir out(out_dir, options.force, kComponent);

  struct Pending {
    std::string          name;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  std::vector<Pending> pending;
  std::set<std::string> written;
  std::map<std::string, std::vector<int64_t>> expected;
  for (const WeightSpec& w : expected_weights(c)) expected[w.name] = w.shape;
  pending.reserve(g.tensors().size());
  for (const GgufTensorInfo& ti : g.tensors()) {
    std::string hf = gguf_to_hf_tensor_name(ti.name, c);
    if (hf.empty()) {
      log_warn(str("skipping GGUF tensor '", ti.name, "' (no Hugging Face counterpart for ", c.model_type, ")"));
      result.skipped.push_back(ti.name);
      continue;
    }
    if (!written.insert(hf).second) fail(g, str("tensors map to the same name '", hf, "' twice (last: ", ti.name, ")"));
    if (!ggml_type_supported(ti.type))
      fail(g, str("tensor '", ti.name, "' has type ", ggml_type_name(ti.type), ", which mc cannot dequantize"));
    std::vector<int64_t> shape = ti.shape();
    const bool conv = c.model_type == "lfm2" && ti.name.find(".shortconv.conv.") != std::string::npos;
    if (conv && shape.size() == 2) shape = {shape[0], 1, shape[1]};  // llama.cpp squeezed (H, 1, L) to (H, L)
    auto e = expected.find(hf);
    if (e == expected.end())
      fail(g, str("tensor '", ti.name, "' maps to '", hf, "', which a ", c.model_type,
                  " model with this config does not have"));
    if (shape != e->second)
      fail(g, str("tensor '", ti.name, "' (", hf, ") has shape ", shape_str(shape), " but the config implies ",
                  shape_str(e->second)));
    std::vector<float> v = g.dequantize(ti);

    const bool is_q = ti.name.find(".attn_q.") != std::string::npos;
    const bool is_k = ti.name.find(".attn_k.") != std::string::npos;
    if (llama && (is_q || is_k)) {
      // Undo convert_hf_to_gguf.py LlamaModel.permute (q with n_head, k with n_head_kv).
      const int64_t nh = is_q ? c.num_attention_heads : c.num_key_value_heads;
      const int64_t rows = shape.empty() ? 0 : shape[0];
      if (shape.empty() || shape.size() > 2 || rows != nh * c.head_dim || rows % (2 * nh) != 0)
        fail(g, str("tensor '", ti.name, "' has ", rows, " rows; expected ", nh, " heads × ", c.head_dim,
                    " (cannot undo llama.cpp's Q/K permutation)"));
      const int64_t cols = shape.size() == 2 ? shape[1] : 1;
      v = llama_unpermute_rows(v, rows, cols, nh);
    }
    result.n_parameters += static_cast<int64_t>(v.size());
    pending.push_back({hf, std::move(shape), f32_to_bytes(v, options.dtype)});
  }

  for (const auto& [name, shape] : expected)
    if (!written.count(name)) fail(g, str("no GGUF tensor provides '", name, "' ", shape_str(shape)));

  std::vector<SafetensorsWriteEntry> entries;
  entries.reserve(pending.size());
  for (const Pending& p : pending) entries.push_back({p.name, options.dtype, p.shape, p.bytes});
  safetensors_write(out.file("model.safetensors"), entries);
  result.n_tensors = static_cast<int64_t>(entries.size());
  pending.clear();

  auto write_json = [&](const char* name, const OrderedJson& j) {
    write_file_atomic(out.file(name), json_dump(j) + "\n", kComponent);
  };
  write_json("config.json", config_to_hf_json(c));
  OrderedJson gen;
  if (!c.bos_token_id.empty()) gen["bos_token_id"] = c.bos_token_id[0];
  if (!c.eos_token_id.empty()) gen["eos_token_id"] = c.eos_token_id[0];
  if (!c.pad_token_id.empty()) gen["pad_token_id"] = c.pad_token_id[0];
  write_json("generation_config.json", gen);
  write_json("tokenizer.json", tok.tokenizer_json);
  write_json("tokenizer_config.json", tok.tokenizer_config);

  // Read the written checkpoint back and check it as every later command will.
  check_weights(c, SafetensorsModel::open(out.file("model.safetensors")), out_dir);
  out.commit();
  log_info(str("wrote ", out_dir, ": ", result.n_tensors, " tensors, ", result.n_parameters, " parameters",
               result.skipped.empty() ? "" : str(", ", result.skipped.size(), " GGUF tensors skipped")));
  result.config = c;
  return result;
}

}  // namespace mc

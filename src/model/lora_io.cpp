// PEFT adapter directories to and from LoraSet. See model/lora_io.h for the format decisions.
#include "model/lora_io.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <span>

#include "core/error.h"
#include "core/fs.h"
#include "io/safetensors.h"
#include "model/capacity_adapter.h"

namespace mc {

namespace {

constexpr int kSites = static_cast<int>(LoraSite::Count);
const std::string kKeyPrefix = "base_model.model.";
// The PEFT release whose adapter_config.json key set and values we mirror (written as peft_version).
const char* const kPeftVersion = "0.21.2";

bool is_null_or_false(const Json& cfg, const char* key) {
  if (!cfg.contains(key)) return true;
  const Json& v = cfg[key];
  if (v.is_null()) return true;
  if (v.is_boolean()) return !v.get<bool>();
  if (v.is_array() || v.is_object()) return v.empty();
  return false;
}

// ---- Python json.dumps(indent=2, sort_keys=True) -------------------------------------------------------

/// A JSON string as Python's json.dumps writes it (ensure_ascii=True): \" \\ \b \f \n \r \t, other
/// characters below 0x20 and everything from 0x7f up as \uXXXX (surrogate pairs above 0xFFFF).
std::string py_string(const std::string& s, const std::string& what) {
  std::string out = "\"";
  char buf[16];
  auto u16 = [&](uint32_t u) {
    std::snprintf(buf, sizeof buf, "\\u%04x", u);
    out += buf;
  };
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    uint32_t cp = 0;
    size_t len = 1;
    if (c < 0x80) {
      cp = c;
    } else {
      len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
      if (len == 0 || i + len > s.size()) throw Error("lora", what + " is not valid UTF-8");
      cp = c & (0xFF >> (len + 1));
      for (size_t k = 1; k < len; ++k) {
        const auto cc = static_cast<unsigned char>(s[i + k]);
        if ((cc & 0xC0) != 0x80) throw Error("lora", what + " is not valid UTF-8");
        cp = (cp << 6) | (cc & 0x3F);
      }
      const uint32_t min_cp = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
      if (cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        throw Error("lora", what + " is not valid UTF-8");
    }
    i += len;
    switch (cp) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      default: break;
    }
    if (cp >= 0x20 && cp < 0x7f) {
      out += static_cast<char>(cp);
    } else if (cp < 0x10000) {
      u16(cp);
    } else {
      const uint32_t v = cp - 0x10000;
      u16(0xD800 | (v >> 10));
      u16(0xDC00 | (v & 0x3FF));
    }
  }
  return out + "\"";
}

/// Python's float repr from the shortest round-trip digits `digits` (no dot, no sign) and the decimal
/// exponent `exp10` of the first digit (value = d.ddd × 10^exp10): fixed notation when
/// −4 ≤ exp10 < 16 (with ".0" for integral values), else d.ddde±XX.
std::string py_repr_digits(const std::string& digits, int exp10) {
  const int decpt = exp10 + 1;  // digits before the decimal point
  const int n = static_cast<int>(digits.size());
  std::string out;
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out = "0." + std::string(static_cast<size_t>(-decpt), '0') + digits;
    } else if (decpt >= n) {
      out = digits + std::string(static_cast<size_t>(decpt - n), '0') + ".0";
    } else {
      out = digits.substr(0, static_cast<size_t>(decpt)) + "." + digits.substr(static_cast<size_t>(decpt));
    }
  } else {
    out = digits.substr(0, 1);
    if (n > 1) out += "." + digits.substr(1);
    char buf[16];
    std::snprintf(buf, sizeof buf, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    out += buf;
  }
  return out;
}

/// repr() of a finite, non-negative value given by std::to_chars' shortest scientific text.
template <typename T>
std::string py_repr(T v) {
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  const std::string sci(buf, res.ptr);  // "d.ddde±XX"
  const size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  return py_repr_digits(digits, std::stoi(sci.substr(e + 1)));
}

/// A number as the Python value PEFT would hold: an int when integral (PEFT's defaults and the usual
/// lora_alpha=16 are ints), else a float.
std::string py_number(double v) {
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) return std::to_string(static_cast<int64_t>(v));
  return py_repr(v);
}

/// One JSON document with sorted keys, indent 2, values pre-rendered with `level` nesting applied.
struct PyObject {
  std::map<std::string, std::string> items;  // key -> rendered value (std::map: byte order = code-point order)
  std::string render(int level) const {
    if (items.empty()) return "{}";
    const std::string pad(static_cast<size_t>(2 * (level + 1)), ' ');
    std::string out = "{";
    bool first = true;
    for (const auto& [k, v] : items) {
      out += first ? "\n" : ",\n";
      first = false;
      out += pad + py_string(k, "key") + ": " + v;
    }
    return out + "\n" + std::string(static_cast<size_t>(2 * level), ' ') + "}";
  }
};

std::string py_string_list(const std::vector<std::string>& v, int level) {
  if (v.empty()) return "[]";
  const std::string pad(static_cast<size_t>(2 * (level + 1)), ' ');
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ",\n" : "\n") + pad + py_string(v[i], "target module");
  return out + "\n" + std::string(static_cast<size_t>(2 * level), ' ') + "]";
}

/// The most common value of `v` (ties: the one met first).
template <typename T>
T most_common(const std::vector<T>& v) {
  T best = v.front();
  size_t best_n = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    const size_t n = static_cast<size_t>(std::count(v.begin(), v.end(), v[i]));
    if (n > best_n) {
      best = v[i];
      best_n = n;
    }
  }
  return best;
}

std::string leaf_of(const std::string& path) {
  const size_t dot = path.rfind('.');
  return dot == std::string::npos ? path : path.substr(dot + 1);
}

void check_set(const LoraSet& set) {
  if (set.modules.empty()) throw Error("lora", "cannot save an empty LoRA set");
  std::set<std::string> names;
  for (const auto& m : set.modules) {
    if (m.module.empty()) throw Error("lora", "a LoRA module has an empty module path");
    if (!names.insert(m.module).second) throw Error("lora", m.module + ": appears twice in the LoRA set");
    if (m.r <= 0 || m.in <= 0 || m.out <= 0)
      throw Error("lora", str(m.module, ": invalid shape r = ", m.r, ", in = ", m.in, ", out = ", m.out));
    if (!(m.A.shape() == Shape{m.r, m.in}))
      throw Error("lora", str(m.module, ": A is ", m.A.shape().to_string(), ", expected (", m.r, ", ", m.in, ")"));
    if (!(m.B.shape() == Shape{m.out, m.r}))
      throw Error("lora", str(m.module, ": B is ", m.B.shape().to_string(), ", expected (", m.out, ", ", m.r, ")"));
    if (!(m.scale > 0.0f) || !std::isfinite(m.scale))
      throw Error("lora", str(m.module, ": scale ", m.scale, " must be positive and finite"));
    if (!(m.dropout >= 0.0f && m.dropout < 1.0f))
      throw Error("lora", str(m.module, ": dropout ", m.dropout, " must be in [0, 1)"));
  }
}

}  // namespace

LoraSet lora_load_peft(const std::string& dir, const ArchSpec& arch, const ModelConfig& c) {
  PeftAdapter a = peft_adapter_load(dir);
  const std::string cfg_path = dir + "/adapter_config.json";
  // PEFT variants whose forward is not y = Wx + s·B(A·drop(x)) or that change the model's structure.
  for (const char* key : {"alora_invocation_tokens", "arrow_config", "kasa_config", "monteclora_config", "use_bdlora",
                          "use_qalora", "lora_bias", "layer_replication"})
    if (!is_null_or_false(a.config, key))
      throw Error("lora", cfg_path + ": \"" + key + "\" is set: this PEFT LoRA variant is not supported (mc applies "
                                     "plain LoRA, y = Wx + s·B(A·x))");
  if (a.other_tensors > 0)
    for (const auto& t : a.file->tensors()) {
      const std::string& n = t.name;
      const bool lora = n.size() > 14 && (n.compare(n.size() - 14, 14, ".lora_A.weight") == 0 ||
                                          n.compare(n.size() - 14, 14, ".lora_B.weight") == 0);
      if (!lora)
        throw Error("lora", a.weights_path + ": tensor " + n +
                                " is not a lora_A / lora_B weight (biases, modules_to_save and trainable tokens "
                                "are not supported)");
    }
  float dropout = 0.0f;
  if (a.config.contains("lora_dropout") && !a.config["lora_dropout"].is_null()) {
    const Json& d = a.config["lora_dropout"];
    if (!d.is_number() || !(d.get<double>() >= 0.0 && d.get<double>() < 1.0))
      throw Error("lora", cfg_path + ": \"lora_dropout\" must be a number in [0, 1)");
    dropout = static_cast<float>(d.get<double>());
  }

  LoraSet set;
  for (const auto& m : a.modules) {
    LoraWeights w;
    w.module = m.module;
    int64_t out = 0, in = 0;
    if (!lora_resolve(arch, c, m.module, w.layer, w.site, out, in))
      throw Error("lora", str(dir, ": module ", m.module, " is not an adaptable linear module of this ", c.model_type,
                              " model (an adapter for another model?)"));
    if (m.out != out || m.in != in)
      throw Error("lora", str(dir, ": module ", m.module, ": the adapter's ΔW is (", m.out, ", ", m.in,
                              ") but the model's weight is (", out, ", ", in, ") (an adapter for another model?)"));
    w.r = m.r;
    w.in = in;
    w.out = out;
    w.scale = static_cast<float>(m.scale);  // PEFT multiplies fp32 activations by the scaling as fp32
    w.dropout = dropout;
    w.A = Tensor(Shape{w.r, w.in});
    w.B = Tensor(Shape{w.out, w.r});
    const std::vector<float> av = a.file->to_f32(*a.file->find(m.a_name));
    const std::vector<float> bv = a.file->to_f32(*a.file->find(m.b_name));
    std::copy(av.begin(), av.end(), w.A.data());
    std::copy(bv.begin(), bv.end(), w.B.data());
    set.modules.push_back(std::move(w));
  }
  std::stable_sort(set.modules.begin(), set.modules.end(), [](const LoraWeights& x, const LoraWeights& y) {
    return x.layer != y.layer ? x.layer < y.layer : x.site < y.site;
  });
  set.reindex(c.num_hidden_layers);
  return set;
}

std::string lora_peft_config_json(const LoraSet& set, const LoraSaveOptions& options) {
  check_set(set);
  const size_t n = set.modules.size();
  std::vector<int64_t> ranks(n);
  std::vector<double> alphas(n);
  std::vector<float> dropouts(n);
  for (size_t i = 0; i < n; ++i) {
    const LoraWeights& m = set.modules[i];
    ranks[i] = m.r;
    // Exact in double (a 24-bit significand times a small integer), and PEFT's alpha / r gives back the
    // fp32 scale exactly.
    alphas[i] = static_cast<double>(m.scale) * static_cast<double>(m.r);
    dropouts[i] = m.dropout;
  }
  const int64_t r = most_common(ranks);
  const double alpha = most_common(alphas);
  const float dropout = most_common(dropouts);

  PyObject rank_pattern, alpha_pattern;
  for (size_t i = 0; i < n; ++i) {
    if (ranks[i] != r) rank_pattern.items[set.modules[i].module] = std::to_string(ranks[i]);
    if (alphas[i] != alpha) alpha_pattern.items[set.modules[i].module] = py_number(alphas[i]);
  }

  // target_modules: leaf names when they select exactly the adapted modules, else the module paths.
  std::set<std::string> module_set, leaves;
  for (const auto& m : set.modules) {
    module_set.insert(m.module);
    leaves.insert(leaf_of(m.module));
  }
  bool leaves_exact = options.arch != nullptr;
  if (options.arch) {
    for (const auto& layer : options.arch->layers)
      for (const std::string* p : {&layer.q_proj, &layer.k_proj, &layer.v_proj, &layer.o_proj, &layer.conv_in,
                                   &layer.conv_out, &layer.gate, &layer.up, &layer.down})
        if (!p->empty() && leaves.count(leaf_of(*p)) && !module_set.count(*p)) leaves_exact = false;
    // Every adapted module must be one of the layout's (else PEFT would not find it by its leaf either).
    for (const auto& m : set.modules) {
      bool found = false;
      for (const auto& layer : options.arch->layers)
        for (const std::string* p : {&layer.q_proj, &layer.k_proj, &layer.v_proj, &layer.o_proj, &layer.conv_in,
                                     &layer.conv_out, &layer.gate, &layer.up, &layer.down})
          found = found || *p == m.module;
      if (!found) leaves_exact = false;
    }
  }
  const std::vector<std::string> targets =
      leaves_exact ? std::vector<std::string>(leaves.begin(), leaves.end())
                   : std::vector<std::string>(module_set.begin(), module_set.end());

  PyObject cfg;
  auto& it = cfg.items;
  it["alora_invocation_tokens"] = "null";
  it["alpha_pattern"] = alpha_pattern.render(1);
  it["arrow_config"] = "null";
  it["auto_mapping"] = "null";
  it["base_model_name_or_path"] = options.base_model_name_or_path.empty()
                                      ? "null"
                                      : py_string(options.base_model_name_or_path, "base_model_name_or_path");
  it["bias"] = "\"none\"";
  it["corda_config"] = "null";
  it["ensure_weight_tying"] = "false";
  it["eva_config"] = "null";
  it["exclude_modules"] = "null";
  it["fan_in_fan_out"] = "false";
  it["inference_mode"] = "true";
  it["init_lora_weights"] = "true";
  it["kasa_config"] = "null";
  it["layer_replication"] = "null";
  it["layers_pattern"] = "null";
  it["layers_to_transform"] = "null";
  it["loftq_config"] = "{}";
  it["lora_alpha"] = py_number(alpha);
  it["lora_bias"] = "false";
  it["lora_dropout"] = py_repr(dropout);  // the shortest text that reads back as the fp32 dropout
  it["lora_ga_config"] = "null";
  it["megatron_config"] = "null";
  it["megatron_core"] = "\"megatron.core\"";
  it["modules_to_save"] = "null";
  it["monteclora_config"] = "null";
  it["peft_type"] = "\"LORA\"";
  it["peft_version"] = py_string(kPeftVersion, "peft_version");
  it["qalora_group_size"] = "16";
  it["r"] = std::to_string(r);
  it["rank_pattern"] = rank_pattern.render(1);
  it["revision"] = "null";
  it["target_modules"] = py_string_list(targets, 1);
  it["target_parameters"] = "null";
  it["task_type"] = "\"CAUSAL_LM\"";
  it["trainable_token_indices"] = "null";
  it["use_bdlora"] = "null";
  it["use_dora"] = "false";
  it["use_qalora"] = "false";
  it["use_rslora"] = "false";
  it["velora_config"] = "null";
  return cfg.render(0);
}

void lora_save_peft(const std::string& dir, const LoraSet& set, const LoraSaveOptions& options) {
  if (!(options.dtype == Dtype::F32 || options.dtype == Dtype::BF16 || options.dtype == Dtype::F16))
    throw Error("lora", str(dir, ": adapter dtype ", dtype_name(options.dtype), " is not supported (F32, BF16, F16)"));
  for (const auto& [name, content] : options.extra_files) {
    (void)content;
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
        name == "adapter_config.json" || name == "adapter_model.safetensors")
      throw Error("lora", str(dir, ": invalid extra file name '", name, "'"));
  }
  const std::string config = lora_peft_config_json(set, options);  // validates the set

  // Tensors: (r, in) A and (out, r) B in the requested dtype.
  std::vector<std::vector<uint8_t>> bytes;
  std::vector<SafetensorsWriteEntry> entries;
  bytes.reserve(2 * set.modules.size());
  for (const auto& m : set.modules) {
    bytes.push_back(f32_to_bytes(std::span<const float>(m.A.data(), static_cast<size_t>(m.A.numel())), options.dtype));
    entries.push_back({kKeyPrefix + m.module + ".lora_A.weight", options.dtype, {m.r, m.in}, bytes.back()});
    bytes.push_back(f32_to_bytes(std::span<const float>(m.B.data(), static_cast<size_t>(m.B.numel())), options.dtype));
    entries.push_back({kKeyPrefix + m.module + ".lora_B.weight", options.dtype, {m.out, m.r}, bytes.back()});
  }

  // An existing empty directory is taken over; anything else needs force.
  bool replace = options.force;
  if (!replace && is_directory(dir)) {
    std::error_code ec;
    replace = std::filesystem::is_empty(dir, ec) && !ec;
  }
  if (!replace && path_exists(dir))
    throw Error("lora", dir + ": already exists and is not an empty directory (use --force to replace it)");
  OutputDir out(dir, replace, "lora");
  safetensors_write(out.file("adapter_model.safetensors"), entries, {{"format", "pt"}});
  write_file_atomic(out.file("adapter_config.json"), config, "lora");
  for (const auto& [name, content] : options.extra_files) write_file_atomic(out.file(name), content, "lora");
  out.commit();
}

}  // namespace mc

#include "model/summary.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "core/fs.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "model/gguf_import.h"
#include "model/weights.h"

namespace mc {

namespace {

const std::vector<std::string> kGroups = {"embedding", "attention", "mlp", "norm", "conv", "lm_head", "other"};

// Group of an HF tensor name; names no architecture defines (extra buffers) count as "other".
std::string group_name(const std::string& hf_name) {
  try {
    return std::string(weight_group_name(weight_group_of(hf_name)));
  } catch (const Error&) {
    return "other";
  }
}

uint64_t product(const std::vector<int64_t>& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

std::string token_content(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return "";
}

// tokenizer.json + tokenizer_config.json (+ chat_template.jinja) of an HF directory.
TokenizerSummary hf_tokenizer_summary(const std::string& dir) {
  TokenizerSummary t;
  std::string tj = dir + "/tokenizer.json";
  if (path_exists(tj)) {
    Json j = json_load(tj, "tokenizer");
    t.present = true;
    t.source = tj;
    const Json& m = j.contains("model") ? j["model"] : Json::object();
    std::string type = m.value("type", "?");
    bool byte_level = false;
    auto mentions_bytelevel = [](const Json& node) {
      return node.is_object() && node.dump().find("\"ByteLevel\"") != std::string::npos;
    };
    if (j.contains("pre_tokenizer") && mentions_bytelevel(j["pre_tokenizer"])) byte_level = true;
    if (j.contains("decoder") && mentions_bytelevel(j["decoder"])) byte_level = true;
    t.kind = type + (type == "BPE" ? (byte_level ? " (byte-level)" : " (SentencePiece-style)") : "");
    if (m.contains("vocab") && m["vocab"].is_object()) t.vocab_size = static_cast<int64_t>(m["vocab"].size());
    if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
      int64_t extra = 0;
      for (const auto& a : j["added_tokens"]) {
        if (!a.is_object()) continue;
        std::string content = a.value("content", "");
        if (a.value("special", false)) t.special_tokens.push_back(content);
        if (!m.contains("vocab") || !m["vocab"].contains(content)) extra++;
      }
      t.vocab_size += extra;
    }
  }
  std::string tc = dir + "/tokenizer_config.json";
  if (path_exists(tc)) {
    Json c = json_load(tc, "tokenizer");
    if (!t.present) {
      t.present = true;
      t.source = tc;
      t.kind = c.value("tokenizer_class", "?");
    }
    if (c.contains("bos_token")) t.bos_token = token_content(c["bos_token"]);
    if (c.contains("eos_token")) t.eos_token = token_content(c["eos_token"]);
    if (c.contains("pad_token")) t.pad_token = token_content(c["pad_token"]);
    t.has_chat_template = c.contains("chat_template") && !c["chat_template"].is_null();
  }
  if (path_exists(dir + "/chat_template.jinja")) t.has_chat_template = true;
  return t;
}

TokenizerSummary gguf_tokenizer_summary(const GgufFile& g) {
  TokenizerSummary t;
  auto model = g.get_string("tokenizer.ggml.model");
  if (!model) return t;
  t.present = true;
  t.source = g.path();
  t.kind = "gguf:" + *model;
  if (auto pre = g.get_string("tokenizer.ggml.pre")) t.kind += " (pre: " + *pre + ")";
  const GgufValue* tokens = g.find("tokenizer.ggml.tokens");
  const GgufValue* types = g.find("tokenizer.ggml.token_type");
  if (tokens && tokens->is_array()) {
    t.vocab_size = static_cast<int64_t>(tokens->arr.size());
    auto tok = [&](const char* key) -> std::string {
      auto id = g.get_int(key);
      if (!id || *id < 0 || static_cast<size_t>(*id) >= tokens->arr.size()) return "";
      const std::string* s = tokens->arr[static_cast<size_t>(*id)].as_string();
      return s ? *s : "";
    };
    t.bos_token = tok("tokenizer.ggml.bos_token_id");
    t.eos_token = tok("tokenizer.ggml.eos_token_id");
    t.pad_token = tok("tokenizer.ggml.padding_token_id");
    if (types && types->is_array() && types->arr.size() == tokens->arr.size()) {
      for (size_t i = 0; i < types->arr.size(); ++i) {
        auto ty = types->arr[i].as_int();
        const std::string* s = tokens->arr[i].as_string();
        if (ty && *ty == 3 && s) t.special_tokens.push_back(*s);  // 3 = CONTROL
      }
    }
  }
  t.has_chat_template = g.find("tokenizer.chat_template") != nullptr;
  return t;
}

void summarise_safetensors(ModelSummary& s, const SafetensorsModel& m) {
  for (const auto& [name, e] : m.tensors()) {
    TensorSummary t;
    t.name = name;
    t.dtype = std::string(dtype_name(e.info->dtype));
    t.shape = e.info->shape;
    t.numel = product(t.shape);
    t.nbytes = e.info->nbytes();
    t.group = group_name(name);
    s.tensors.push_back(std::move(t));
  }
  for (const auto& f : m.files()) s.files.push_back(f->path());
  s.bytes_on_disk = m.total_file_bytes();
}

}  // namespace

uint64_t ModelSummary::total_params() const {
  uint64_t n = 0;
  for (const auto& t : tensors) n += t.numel;
  return n;
}

std::vector<std::pair<std::string, uint64_t>> ModelSummary::params_by_group() const {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (const auto& g : kGroups) {
    uint64_t n = 0;
    for (const auto& t : tensors)
      if (t.group == g) n += t.numel;
    out.emplace_back(g, n);
  }
  return out;
}

std::vector<std::pair<std::string, uint64_t>> ModelSummary::dtypes() const {
  std::map<std::string, uint64_t> m;
  for (const auto& t : tensors) m[t.dtype]++;
  return {m.begin(), m.end()};
}

ModelSummary model_summary(const std::string& path) {
  ModelSummary s;
  s.path = path;
  if (!path_exists(path)) throw Error("model", str(path, ": no such file or directory"));
  auto ends_with = [&](const std::string& suffix) {
    return path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (is_directory(path)) {
    s.format = "hf-directory";
    bool has_weights = path_exists(path + "/model.safetensors") || path_exists(path + "/model.safetensors.index.json");
    if (!path_exists(path + "/config.json"))
      throw Error("model", str(path, ": not a model directory (config.json is missing)"));
    s.config = config_load(path);
    if (!has_weights)
      throw Error("model", str(path, ": no weights (model.safetensors or model.safetensors.index.json is missing)"));
    summarise_safetensors(s, SafetensorsModel::open(path));
    s.tokenizer = hf_tokenizer_summary(path);
  } else if (ends_with(".gguf")) {
    s.format = "gguf";
    GgufFile g = GgufFile::open(path);
    s.gguf_version = g.version();
    s.config = config_from_gguf(g);
    for (const auto& ti : g.tensors()) {
      TensorSummary t;
      std::string hf = gguf_to_hf_tensor_name(ti.name, *s.config);
      t.name = hf.empty() ? ti.name : hf;
      t.dtype = ggml_type_name(ti.type);
      t.shape = ti.shape();
      t.numel = ti.numel();
      t.nbytes = ti.nbytes;
      t.group = hf.empty() ? "other" : group_name(hf);
      s.tensors.push_back(std::move(t));
    }
    s.files.push_back(path);
    s.bytes_on_disk = g.file_bytes();
    s.tokenizer = gguf_tokenizer_summary(g);
  } else if (ends_with(".safetensors") || ends_with(".json")) {
    s.format = "safetensors";
    std::string dir = std::filesystem::path(path).parent_path().string();
    if (dir.empty()) dir = ".";
    if (path_exists(dir + "/config.json")) {
      s.config = config_load(dir);
    } else {
      s.config_note = "no config.json beside the file";
    }
    summarise_safetensors(s, SafetensorsModel::open(path));
    s.tokenizer = hf_tokenizer_summary(dir);
  } else {
    throw Error("model", str(path, ": not a model (expected an HF directory, a .safetensors file or a .gguf file)"));
  }
  return s;
}

OrderedJson model_summary_json(const ModelSummary& s) {
  OrderedJson j;
  j["schema"] = "mc.model.info.v1";
  j["path"] = s.path;
  j["format"] = s.format;
  if (s.gguf_version) j["gguf_version"] = s.gguf_version;
  j["config"] = s.config ? s.config->to_json() : OrderedJson(nullptr);
  if (!s.config_note.empty()) j["config_note"] = s.config_note;
  OrderedJson params;
  params["total"] = s.total_params();
  for (const auto& [g, n] : s.params_by_group()) params[g] = n;
  j["parameters"] = params;
  OrderedJson dt = OrderedJson::object();
  for (const auto& [d, n] : s.dtypes()) dt[d] = n;
  j["dtypes"] = dt;
  j["tensor_count"] = s.tensors.size();
  j["bytes_on_disk"] = s.bytes_on_disk;
  j["files"] = s.files;
  OrderedJson tok;
  tok["present"] = s.tokenizer.present;
  if (s.tokenizer.present) {
    tok["kind"] = s.tokenizer.kind;
    tok["source"] = s.tokenizer.source;
    tok["vocab_size"] = s.tokenizer.vocab_size;
    tok["bos_token"] = s.tokenizer.bos_token;
    tok["eos_token"] = s.tokenizer.eos_token;
    tok["pad_token"] = s.tokenizer.pad_token;
    tok["special_tokens"] = s.tokenizer.special_tokens;
  }
  tok["chat_template"] = s.tokenizer.has_chat_template;
  j["tokenizer"] = tok;
  return j;
}

}  // namespace mc

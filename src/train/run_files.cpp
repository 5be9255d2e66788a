// Reading a training run directory back (run_files.h): result, metrics lines, newest checkpoint.
#include "train/run_files.h"

#include <cmath>
#include <cstdint>
#include <filesystem>

#include "core/error.h"
#include "core/fs.h"
#include "train/checkpoint.h"

namespace mc::train {

namespace fs = std::filesystem;

namespace {

constexpr const char* kComponent = "train";

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw Error(kComponent, str(source, ": ", what));
}

const char* type_name(const OrderedJson& j) {
  switch (j.type()) {
    case OrderedJson::value_t::null: return "null";
    case OrderedJson::value_t::boolean: return "a boolean";
    case OrderedJson::value_t::string: return "a string";
    case OrderedJson::value_t::array: return "an array";
    case OrderedJson::value_t::object: return "an object";
    case OrderedJson::value_t::binary: return "binary data";
    case OrderedJson::value_t::discarded: return "invalid";
    default: return "a number";
  }
}

/// Parses one JSON text; nullopt (with the parser's message in `why`) when it is not valid JSON.
std::optional<OrderedJson> try_parse(const std::string& text, std::string& why) {
  if (auto nul = text.find('\0'); nul != std::string::npos) {
    why = str("NUL byte at offset ", nul);
    return std::nullopt;
  }
  try {
    return OrderedJson::parse(text);
  } catch (const OrderedJson::exception& e) {  // parse_error, and out_of_range for numbers like 1e999
    why = e.what();
    if (auto pos = why.find("] "); pos != std::string::npos) why = why.substr(pos + 2);
    return std::nullopt;
  }
}

OrderedJson parse_file(const std::string& path) {
  std::string why;
  std::optional<OrderedJson> j = try_parse(read_file(path, kComponent), why);
  if (!j) fail(path, "invalid JSON (" + why + ")");
  return std::move(*j);
}

/// A non-negative integer field (integral floats such as 12.0 are accepted).
int64_t int_field(const OrderedJson& obj, const char* key, const std::string& source, bool required) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) fail(source, str("missing \"", key, "\""));
    return -1;
  }
  if (it->is_number_unsigned()) {
    if (it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) fail(source, str("\"", key, "\" is out of range"));
    return static_cast<int64_t>(it->get<uint64_t>());
  }
  if (it->is_number_integer() && it->get<int64_t>() >= 0) return it->get<int64_t>();
  if (it->is_number_float()) {
    const double v = it->get<double>();
    if (std::isfinite(v) && v >= 0 && v < 9.0e18 && std::floor(v) == v) return static_cast<int64_t>(v);
  }
  fail(source, str("\"", key, "\" must be a non-negative integer, got ", it->is_number() ? it->dump() : type_name(*it)));
}

std::string string_field(const OrderedJson& obj, const char* key, const std::string& source) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "";
  if (!it->is_string()) fail(source, str("\"", key, "\" must be a string, got ", type_name(*it)));
  return it->get<std::string>();
}

std::optional<bool> bool_field(const OrderedJson& obj, const char* key, const std::string& source) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) fail(source, str("\"", key, "\" must be true or false, got ", type_name(*it)));
  return it->get<bool>();
}

GateSummary parse_gate(const OrderedJson& g, const std::string& source) {
  const std::string where = source + ": \"pipeline_gate\"";
  if (!g.is_object()) fail(where, str("must be an object, got ", type_name(g)));
  GateSummary s;
  const std::optional<bool> passed = bool_field(g, "passed", where);
  if (!passed) fail(where, "has no \"passed\"");
  s.passed = *passed;
  if (auto it = g.find("failure_modes"); it != g.end() && !it->is_null()) {
    if (!it->is_array()) fail(where, "\"failure_modes\" must be an array");
    for (const auto& m : *it) {
      if (!m.is_string()) fail(where, "\"failure_modes\" must hold strings");
      s.failure_modes.push_back(m.get<std::string>());
    }
  }
  if (auto it = g.find("checks"); it != g.end() && !it->is_null()) {
    if (!it->is_array()) fail(where, "\"checks\" must be an array");
    for (size_t i = 0; i < it->size(); ++i) {
      const OrderedJson& c = (*it)[i];
      const std::string cw = str(where, " check ", i);
      if (!c.is_object()) fail(cw, str("must be an object, got ", type_name(c)));
      GateCheckRow row;
      row.name = string_field(c, "name", cw);
      if (row.name.empty()) fail(cw, "has no \"name\"");
      row.status = string_field(c, "status", cw);
      if (row.status.empty())
        if (auto p = bool_field(c, "passed", cw)) row.status = *p ? "passed" : "failed";
      row.required = bool_field(c, "required", cw).value_or(false);
      row.value = json_number_field(c, "value", cw);
      row.threshold = json_number_field(c, "threshold", cw);
      row.detail = string_field(c, "detail", cw);
      s.checks.push_back(std::move(row));
    }
  }
  return s;
}

StepRow parse_step_row(const OrderedJson& j, int64_t step, const std::string& src) {
  StepRow r;
  r.step = step;
  r.epoch = json_number_field(j, "epoch", src);
  r.loss = json_number_field(j, "loss", src);
  r.grad_norm = json_number_field(j, "grad_norm", src);
  r.tokens = json_number_field(j, "tokens", src);
  r.tokens_per_second = json_number_field(j, "tokens_per_second", src);
  r.lr = json_number_field(j, "lr", src);
  r.eta_step = json_number_field(j, "eta_step", src);
  r.eta_ceiling = json_number_field(j, "eta_ceiling", src);
  r.eta_sps = json_number_field(j, "eta_sps", src);
  r.eta_weyl = json_number_field(j, "eta_weyl", src);
  r.eta_margin = json_number_field(j, "eta_margin", src);
  r.batch_size = json_number_field(j, "batch_size", src);
  return r;
}

EpochRow parse_epoch_row(const OrderedJson& j, int64_t step, const std::string& src) {
  EpochRow r;
  r.step = step;
  r.epoch_end = int_field(j, "epoch_end", src, true);
  r.remaining_budget = json_number_field(j, "remaining_budget", src);
  if (auto it = j.find("saturation"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) fail(src, str("\"saturation\" must be an object of module: ratio, got ", type_name(*it)));
    for (auto m = it->begin(); m != it->end(); ++m) {
      double v = std::nan("");
      if (m.value().is_number()) v = m.value().get<double>();
      else if (!m.value().is_null())
        fail(src, str("\"saturation\" of '", m.key(), "' must be a number, got ", type_name(m.value())));
      r.saturation.emplace_back(m.key(), v);
    }
  }
  return r;
}

}  // namespace

double json_number_field(const OrderedJson& obj, const char* key, const std::string& source) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nan("");
  if (!it->is_number()) fail(source, str("\"", key, "\" must be a number, got ", type_name(*it)));
  return it->get<double>();
}

RunResult read_run_result(const std::string& path_in) {
  std::string path = path_in;
  if (is_directory(path)) path = (fs::path(path) / "training_result.json").string();
  if (!path_exists(path))
    throw Error(kComponent, str(path, ": no such file (a run writes training_result.json when it finishes; "
                                      "see mc train status)"));
  RunResult r;
  r.path = path;
  r.doc = parse_file(path);
  const OrderedJson& d = r.doc;
  if (!d.is_object()) fail(path, str("not a training result (a JSON object expected, got ", type_name(d), ")"));
  r.schema = string_field(d, "schema", path);
  if (r.schema != kResultSchemaResearch && r.schema != kResultSchemaDerived)
    fail(path, str("not a training result (\"schema\" is ", r.schema.empty() ? "missing" : "'" + r.schema + "'",
                   "; expected ", kResultSchemaResearch, " or ", kResultSchemaDerived, ")"));
  r.derived = r.schema == kResultSchemaDerived;
  r.steps = int_field(d, "steps", path, true);
  r.adapter_path = string_field(d, "adapter_path", path);
  r.stop_reason = string_field(d, "stop_reason", path);
  r.initial_loss = json_number_field(d, "initial_loss", path);
  r.final_loss = json_number_field(d, "final_loss", path);
  r.eval_loss = json_number_field(d, "eval_loss", path);
  r.base_eval_loss = json_number_field(d, "base_eval_loss", path);
  r.post_loss = json_number_field(d, "post_loss", path);
  r.baseline_loss = json_number_field(d, "baseline_loss", path);
  r.min_cka = json_number_field(d, "min_cka", path);
  r.mean_cka = json_number_field(d, "mean_cka", path);
  r.max_spectral_ratio = json_number_field(d, "max_spectral_ratio", path);
  r.training_seconds = json_number_field(d, "training_seconds", path);
  r.tokens_per_second = json_number_field(d, "tokens_per_second", path);
  r.peak_rss_mib = json_number_field(d, "peak_rss_mib", path);
  r.spectral_bounds_ok = bool_field(d, "spectral_bounds_ok", path);
  if (auto it = d.find("config"); it != d.end() && !it->is_null() && !it->is_object())
    fail(path, str("\"config\" must be an object, got ", type_name(*it)));
  if (auto it = d.find("pipeline_gate"); it != d.end() && !it->is_null()) r.gate = parse_gate(*it, path);
  if (auto it = d.find(kPerExampleLossKey); it != d.end() && !it->is_null()) {
    if (!it->is_array()) fail(path, str("\"", kPerExampleLossKey, "\" must be an array of numbers"));
    r.per_example_loss.reserve(it->size());
    for (const auto& v : *it) {
      if (v.is_number()) r.per_example_loss.push_back(v.get<double>());
      else if (v.is_null()) r.per_example_loss.push_back(std::nan(""));
      else fail(path, str("\"", kPerExampleLossKey, "\" must hold numbers, found ", type_name(v)));
    }
  }
  return r;
}

RunMetrics parse_metrics_jsonl(const std::string& text, const std::string& source) {
  RunMetrics m;
  m.path = source;
  // Split into lines (a trailing '\r' is dropped) and find the last non-empty one.
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    pos = nl + 1;
  }
  auto blank = [](const std::string& s) { return s.find_first_not_of(" \t") == std::string::npos; };
  size_t last = lines.size();
  for (size_t i = lines.size(); i-- > 0;)
    if (!blank(lines[i])) {
      last = i;
      break;
    }
  for (size_t i = 0; i < lines.size(); ++i) {
    if (blank(lines[i])) continue;
    ++m.lines;
    const std::string src = str(source, ":", i + 1);
    std::string why;
    std::optional<OrderedJson> j = try_parse(lines[i], why);
    if (!j) {
      if (i == last) {  // a line cut by a crash or by Ctrl-C during the write
        m.cut_last_line = true;
        m.warnings.push_back(str(src, ": skipped an incomplete last line (", why, ")"));
        break;
      }
      fail(src, "invalid JSON (" + why + ")");
    }
    if (!j->is_object()) fail(src, str("expected a JSON object, got ", type_name(*j)));
    if (j->contains("epoch_end")) {
      m.epochs.push_back(parse_epoch_row(*j, int_field(*j, "step", src, true), src));
    } else if (j->contains("loss")) {
      m.steps.push_back(parse_step_row(*j, int_field(*j, "step", src, true), src));
    } else if (j->contains("eval_loss")) {
      m.evals.push_back({int_field(*j, "step", src, true), json_number_field(*j, "eval_loss", src)});
    } else {
      ++m.unknown_lines;  // another kind of line (a later trainer's event): not ours to judge
    }
  }
  return m;
}

RunMetrics read_metrics_jsonl(const std::string& path) { return parse_metrics_jsonl(read_file(path, kComponent), path); }

const char* run_state_name(RunState s) {
  switch (s) {
    case RunState::Complete: return "complete";
    case RunState::Interrupted: return "interrupted";
    case RunState::Empty: return "empty";
  }
  return "empty";
}

RunFiles read_run_files(const std::string& dir) {
  if (!path_exists(dir)) throw Error(kComponent, str(dir, ": no such run directory"));
  if (!is_directory(dir)) throw Error(kComponent, str(dir, ": not a directory (a training run's output directory expected)"));
  RunFiles r;
  r.dir = dir;
  const fs::path root(dir);
  auto has = [&](const char* name) { return path_exists((root / name).string()); };
  r.has_adapter = has("adapter_model.safetensors") && has("adapter_config.json");
  r.has_manifest = has("mc_manifest.json");
  if (has("training_result.json")) r.result = read_run_result((root / "training_result.json").string());
  if (has("metrics.jsonl")) {
    r.metrics = read_metrics_jsonl((root / "metrics.jsonl").string());
    r.warnings.insert(r.warnings.end(), r.metrics->warnings.begin(), r.metrics->warnings.end());
  }
  if (auto ck = checkpoint_latest((root / "checkpoints").string())) {
    r.checkpoint_path = *ck;
    const std::string name = fs::path(*ck).filename().string();  // step-<N>, validated by checkpoint_latest
    r.checkpoint_step = std::stoll(name.substr(name.find('-') + 1));
    const std::string state = (fs::path(*ck) / "state.json").string();
    std::string why;
    std::optional<OrderedJson> j;
    try {
      j = try_parse(read_file(state, kComponent), why);
    } catch (const Error& e) {
      why = e.what();
    }
    if (j && j->is_object()) r.checkpoint_state = std::move(*j);
    else r.warnings.push_back(str(state, ": unreadable checkpoint state (", j ? "not a JSON object" : why, ")"));
  }
  const bool anything = r.has_adapter || r.result || r.metrics || r.checkpoint_step;
  if (r.has_adapter && r.result) r.state = RunState::Complete;
  else r.state = anything ? RunState::Interrupted : RunState::Empty;
  if (r.result && !r.has_adapter)
    r.warnings.push_back(str(dir, ": training_result.json is present but the adapter files are missing"));
  return r;
}

std::optional<int64_t> run_total_steps(const RunFiles& run) {
  if (run.state == RunState::Complete && run.result) return run.result->steps;
  const OrderedJson& st = run.checkpoint_state;
  if (st.is_object()) {
    if (auto it = st.find("total_steps"); it != st.end() && it->is_number_integer() && it->get<int64_t>() > 0)
      return it->get<int64_t>();
    if (auto fp = st.find("fingerprint"); fp != st.end() && fp->is_object()) {
      if (auto ms = fp->find("max_steps"); ms != fp->end() && ms->is_number_integer() && ms->get<int64_t>() > 0)
        return ms->get<int64_t>();
      auto ep = fp->find("epochs");
      if (ep != fp->end() && ep->is_number_integer() && ep->get<int64_t>() > 0 && run.metrics &&
          !run.metrics->steps.empty()) {
        const StepRow& last = run.metrics->steps.back();
        if (std::isfinite(last.epoch) && last.epoch > 0) {
          const double spe = std::round(static_cast<double>(last.step) / last.epoch);
          if (spe >= 1 && spe < 1e12) return ep->get<int64_t>() * static_cast<int64_t>(spe);
        }
      }
    }
  }
  if (run.result) return run.result->steps;
  return std::nullopt;
}

double run_training_seconds(const RunFiles& run) {
  if (run.result && std::isfinite(run.result->training_seconds)) return run.result->training_seconds;
  if (!run.metrics) return std::nan("");
  double sum = 0;
  bool any = false;
  for (const StepRow& s : run.metrics->steps)
    if (std::isfinite(s.tokens) && std::isfinite(s.tokens_per_second) && s.tokens_per_second > 0) {
      sum += s.tokens / s.tokens_per_second;
      any = true;
    }
  return any ? sum : std::nan("");
}

}  // namespace mc::train

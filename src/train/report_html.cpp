// The self-contained HTML report of a training run (report_html.h).
#include "train/report_html.h"

#include <cmath>
#include <filesystem>

#include "core/fs.h"
#include "train/svg_plot.h"

namespace mc::train {

namespace {

constexpr const char* kCss = R"(
body { font-family: sans-serif; margin: 24px auto; max-width: 860px; color: #222; background: #fff; }
h1 { font-size: 20px; margin-bottom: 4px; }
h2 { font-size: 16px; margin-top: 28px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p.meta, p.note { color: #555; font-size: 13px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.passed { color: #1a7f37; font-weight: bold; }
td.failed { color: #c62828; font-weight: bold; }
td.unresolved { color: #9a6700; font-weight: bold; }
code { font-size: 12px; }
svg.chart { display: block; margin: 8px 0; border: 1px solid #eee; }
details summary { cursor: pointer; font-size: 13px; color: #333; }
ul.warnings li { color: #9a6700; font-size: 13px; }
footer { margin-top: 32px; color: #888; font-size: 12px; }
)";

std::string esc(const std::string& s) { return html_escape(s); }

/// A JSON value for a table cell: numbers with 6 significant digits, null as "n/a", arrays as their
/// first few items, objects as compact JSON (cut at 200 characters).
std::string cell_text(const OrderedJson& v) {
  if (v.is_null()) return "n/a";
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_number_integer()) return v.dump();
  if (v.is_number()) return fmt_num(v.get<double>(), 6);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::string s = std::to_string(v.size()) + (v.size() == 1 ? " item" : " items");
    for (size_t i = 0; i < v.size() && i < 6; ++i) s += (i == 0 ? ": " : ", ") + cell_text(v[i]);
    if (v.size() > 6) s += ", ...";
    return s;
  }
  std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return s.size() > 200 ? s.substr(0, 197) + "..." : s;
}

std::string row(const std::string& key, const std::string& value, bool numeric = false) {
  return "<tr><th>" + esc(key) + "</th><td" + (numeric ? " class=\"num\"" : "") + ">" + esc(value) + "</td></tr>\n";
}

/// Result fields shown in the summary, in this order, when the result has them.
constexpr const char* kSummaryFields[] = {
    "adapter_path",  "steps",           "stop_reason",        "initial_loss",        "final_loss",
    "eval_loss",     "base_eval_loss",  "eval_perplexity",    "post_loss",           "baseline_loss",
    "min_cka",       "mean_cka",        "spectral_bounds_ok", "max_spectral_ratio",  "resolved_batch_size",
    "training_seconds", "wall_seconds", "tokens_per_second",  "peak_rss_mib",        "n_trainable_params",
    "target_modules", "model_hash",     "data_hash",
};

std::string summary_section(const RunFiles& run) {
  std::string h = "<section id=\"summary\">\n<h2>Summary</h2>\n<table>\n";
  h += row("run directory", run.dir);
  h += row("state", run_state_name(run.state));
  if (run.result) {
    const RunResult& r = *run.result;
    h += row("trainer", std::string(r.derived ? "mc train run" : "mc train run-research") + " (" + r.schema + ")");
    for (const char* key : kSummaryFields) {
      auto it = r.doc.find(key);
      if (it == r.doc.end()) continue;
      h += row(key, cell_text(*it), it->is_number());
    }
    if (r.gate) h += row("pipeline gate", r.gate->passed ? "passed" : "failed");
  } else {
    h += row("training_result.json", "absent (the run has not finished)");
  }
  if (run.metrics) {
    const RunMetrics& m = *run.metrics;
    if (!m.steps.empty()) {
      h += row("last step", std::to_string(m.steps.back().step), true);
      h += row("last train loss", fmt_num(m.steps.back().loss, 6), true);
    }
    if (!m.evals.empty()) h += row("last eval loss", fmt_num(m.evals.back().eval_loss, 6), true);
  }
  if (run.checkpoint_step) h += row("latest checkpoint", run.checkpoint_path);
  h += "</table>\n";
  if (run.result) {
    auto cfg = run.result->doc.find("config");
    if (cfg != run.result->doc.end() && cfg->is_object() && !cfg->empty()) {
      h += "<details><summary>configuration (" + std::to_string(cfg->size()) + " fields)</summary>\n<table>\n";
      for (auto it = cfg->begin(); it != cfg->end(); ++it) h += row(it.key(), cell_text(it.value()), it.value().is_number());
      h += "</table>\n</details>\n";
    }
  }
  return h + "</section>\n";
}

template <typename Row, typename Get>
SvgSeries series_of(const std::string& label, const std::vector<Row>& rows, Get get) {
  SvgSeries s;
  s.label = label;
  for (const Row& r : rows) {
    s.x.push_back(static_cast<double>(r.step));
    s.y.push_back(get(r));
  }
  return s;
}

bool any_finite(const SvgSeries& s) {
  for (double v : s.y)
    if (std::isfinite(v)) return true;
  return false;
}

std::string loss_section(const RunFiles& run) {
  std::string h = "<section id=\"loss\">\n<h2>Loss</h2>\n";
  if (!run.metrics || (run.metrics->steps.empty() && run.metrics->evals.empty()))
    return h + "<p class=\"note\">No step lines in metrics.jsonl.</p>\n</section>\n";
  SvgLineChart c;
  c.title = "Loss vs step";
  c.x_label = "step";
  c.y_label = "loss";
  c.series.push_back(series_of("train loss", run.metrics->steps, [](const StepRow& r) { return r.loss; }));
  if (!run.metrics->evals.empty()) {
    SvgSeries e = series_of("eval loss", run.metrics->evals, [](const EvalRow& r) { return r.eval_loss; });
    e.markers = true;
    c.series.push_back(std::move(e));
  }
  if (run.result && std::isfinite(run.result->base_eval_loss)) {
    c.hline = run.result->base_eval_loss;
    c.hline_label = "base model eval loss " + fmt_num(c.hline, 4);
  } else {
    c.hline = std::nan("");
  }
  return h + svg_line_chart(c) + "</section>\n";
}

std::string lr_section(const RunFiles& run) {
  if (!run.metrics) return "";
  const auto& steps = run.metrics->steps;
  SvgSeries lr = series_of("learning rate", steps, [](const StepRow& r) { return r.lr; });
  SvgSeries eta = series_of("η_step", steps, [](const StepRow& r) { return r.eta_step; });
  std::string h;
  if (any_finite(lr)) {
    SvgLineChart c;
    c.title = "Learning rate vs step";
    c.x_label = "step";
    c.y_label = "learning rate";
    c.hline = std::nan("");
    c.series.push_back(std::move(lr));
    h += "<section id=\"learning-rate\">\n<h2>Learning rate</h2>\n" + svg_line_chart(c) + "</section>\n";
  }
  if (any_finite(eta)) {
    SvgLineChart c;
    c.title = "MASS step size vs step";
    c.x_label = "step";
    c.y_label = "step size";
    c.log_y = true;
    c.hline = std::nan("");
    c.series.push_back(std::move(eta));
    SvgSeries ceiling = series_of("η_ceiling", steps, [](const StepRow& r) { return r.eta_ceiling; });
    ceiling.dashed = true;
    c.series.push_back(std::move(ceiling));
    c.series.push_back(series_of("η_sps", steps, [](const StepRow& r) { return r.eta_sps; }));
    c.series.push_back(series_of("η_weyl", steps, [](const StepRow& r) { return r.eta_weyl; }));
    SvgSeries margin = series_of("η_margin", steps, [](const StepRow& r) { return r.eta_margin; });
    if (any_finite(margin)) c.series.push_back(std::move(margin));
    h += "<section id=\"step-size\">\n<h2>Step size</h2>\n" + svg_line_chart(c) +
         "<p class=\"note\">Log scale; values that are missing or not positive are not drawn.</p>\n</section>\n";
  }
  return h;
}

std::string budget_section(const RunFiles& run) {
  if (!run.metrics) return "";
  const EpochRow* last = nullptr;
  for (const EpochRow& e : run.metrics->epochs)
    if (!e.saturation.empty()) last = &e;
  if (!last) return "";
  SvgBarChart c;
  c.title = "Spectral budget used per module (epoch " + std::to_string(last->epoch_end) + ", step " +
            std::to_string(last->step) + ")";
  c.value_label = "saturation ratio ‖ΔW‖₂ / (2·scale bound)";
  c.limit = 1.0;
  c.limit_label = "limit 1.0";
  for (const auto& [module, ratio] : last->saturation) {
    c.labels.push_back(module);
    c.values.push_back(ratio);
  }
  std::string h = "<section id=\"spectral-budget\">\n<h2>Spectral budget</h2>\n" + svg_bar_chart(c);
  if (std::isfinite(last->remaining_budget))
    h += "<p class=\"note\">Remaining budget after this epoch: " + esc(fmt_num(last->remaining_budget, 4)) + ".</p>\n";
  return h + "</section>\n";
}

std::string batch_section(const RunFiles& run) {
  if (!run.metrics) return "";
  SvgSeries b = series_of("batch size", run.metrics->steps, [](const StepRow& r) { return r.batch_size; });
  if (!any_finite(b)) return "";
  b.steps = true;
  SvgLineChart c;
  c.title = "Batch size vs step";
  c.x_label = "step";
  c.y_label = "examples per step";
  c.hline = std::nan("");
  c.series.push_back(std::move(b));
  return "<section id=\"batch-size\">\n<h2>Batch size</h2>\n" + svg_line_chart(c) + "</section>\n";
}

std::string gate_section(const RunFiles& run) {
  if (!run.result || !run.result->gate) return "";
  const GateSummary& g = *run.result->gate;
  std::string h = "<section id=\"pipeline-gate\">\n<h2>Pipeline gate</h2>\n<p>Verdict: <strong>" +
                  std::string(g.passed ? "passed" : "failed") + "</strong>";
  if (!g.failure_modes.empty()) {
    h += " (failure modes: ";
    for (size_t i = 0; i < g.failure_modes.size(); ++i) h += (i ? ", " : "") + esc(g.failure_modes[i]);
    h += ")";
  }
  h += "</p>\n";
  if (!g.checks.empty()) {
    h += "<table>\n<tr><th>check</th><th>status</th><th>required</th><th>value</th><th>threshold</th><th>detail</th></tr>\n";
    for (const GateCheckRow& c : g.checks) {
      const std::string cls = c.status == "passed" || c.status == "failed" || c.status == "unresolved" ? c.status : "";
      h += "<tr><td>" + esc(c.name) + "</td><td" + (cls.empty() ? "" : " class=\"" + cls + "\"") + ">" +
           esc(c.status.empty() ? "n/a" : c.status) + "</td><td>" + (c.required ? "yes" : "no") +
           "</td><td class=\"num\">" + esc(fmt_num(c.value, 6)) + "</td><td class=\"num\">" +
           esc(fmt_num(c.threshold, 6)) + "</td><td>" + esc(c.detail) + "</td></tr>\n";
    }
    h += "</table>\n";
  }
  return h + "</section>\n";
}

std::string warnings_section(const RunFiles& run) {
  if (run.warnings.empty()) return "";
  std::string h = "<section id=\"warnings\">\n<h2>Warnings</h2>\n<ul class=\"warnings\">\n";
  for (const std::string& w : run.warnings) h += "<li>" + esc(w) + "</li>\n";
  return h + "</ul>\n</section>\n";
}

}  // namespace

std::string run_report_html(const RunFiles& run) {
  const std::string name = std::filesystem::path(run.dir).filename().string();
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>mc training run " +
                  esc(name.empty() ? run.dir : name) + "</title>\n<style>" + kCss + "</style>\n</head>\n<body>\n";
  h += "<h1>Training run <code>" + esc(run.dir) + "</code></h1>\n";
  h += "<p class=\"meta\">state: " + std::string(run_state_name(run.state));
  if (run.result) h += " &middot; " + esc(run.result->schema);
  if (run.result && !run.result->stop_reason.empty()) h += " &middot; stop reason: " + esc(run.result->stop_reason);
  h += "</p>\n";
  h += summary_section(run);
  h += loss_section(run);
  h += lr_section(run);
  h += budget_section(run);
  h += batch_section(run);
  h += gate_section(run);
  h += warnings_section(run);
  h += "<footer>Written by mc (mc train status --report) from the files of the run directory.</footer>\n";
  h += "</body>\n</html>\n";
  return h;
}

void write_run_report(const std::string& out_dir) {
  const RunFiles run = read_run_files(out_dir);
  write_file_atomic((std::filesystem::path(out_dir) / "report.html").string(), run_report_html(run), "train");
}

}  // namespace mc::train

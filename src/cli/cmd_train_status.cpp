// `mc train status OUT`: the state of a training run directory (complete / interrupted / empty),
// progress, losses, newest checkpoint, and with --report the HTML report. Reading is in
// src/train/run_files.h, the page in src/train/report_html.h; this file parses arguments and prints.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "train/report_html.h"
#include "train/run_files.h"

namespace mc::cli {

namespace {

std::string num(double v, int prec = 4) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

std::string duration(double s) {
  if (!std::isfinite(s)) return "n/a";
  char buf[64];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.1f s", s);
  } else {
    const long long t = std::llround(s);
    if (t >= 3600) std::snprintf(buf, sizeof buf, "%lldh %02lldm %02llds", t / 3600, t / 60 % 60, t % 60);
    else std::snprintf(buf, sizeof buf, "%lldm %02llds", t / 60, t % 60);
  }
  return buf;
}

OrderedJson number_or_null(double v) { return std::isfinite(v) ? OrderedJson(v) : OrderedJson(nullptr); }

/// Quotes a path for a shell command line when it needs it.
std::string shell_word(const std::string& s) {
  if (!s.empty() && s.find_first_of(" \t\n'\"\\$`!*?[]{}()<>|&;#~") == std::string::npos) return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// Everything `status` reports, gathered once for both output forms.
struct Status {
  std::string trainer;  // "run-research" | "run" | "" (unknown)
  std::optional<int64_t> step, total;
  double last_loss = NAN, last_eval = NAN, best_eval = NAN;
  int64_t last_loss_step = -1, last_eval_step = -1, best_eval_step = -1;
  double seconds = NAN;
  std::string hint;
};

Status gather(const train::RunFiles& run) {
  Status s;
  const OrderedJson& st = run.checkpoint_state;
  if (run.result) {
    s.trainer = run.result->derived ? "run" : "run-research";
  } else if (st.is_object()) {
    if (auto t = st.find("trainer"); t != st.end() && t->is_string()) s.trainer = t->get<std::string>();
    else if (auto fp = st.find("fingerprint"); fp != st.end() && fp->is_object())
      s.trainer = fp->contains("lr") ? "run-research" : "run";  // only run-research takes a learning rate
  }
  if (run.metrics) {
    const auto& m = *run.metrics;
    if (!m.steps.empty()) {
      s.step = m.steps.back().step;
      s.last_loss = m.steps.back().loss;
      s.last_loss_step = m.steps.back().step;
    }
    if (!m.evals.empty()) {
      s.last_eval = m.evals.back().eval_loss;
      s.last_eval_step = m.evals.back().step;
    }
    for (const auto& e : m.evals)
      if (std::isfinite(e.eval_loss) && !(e.eval_loss >= s.best_eval)) {
        s.best_eval = e.eval_loss;
        s.best_eval_step = e.step;
      }
  }
  if (run.checkpoint_step && (!s.step || *run.checkpoint_step > *s.step)) s.step = run.checkpoint_step;
  if (run.state == train::RunState::Complete) {
    const train::RunResult& r = *run.result;
    s.step = r.steps;
    if (!std::isfinite(s.last_loss) && std::isfinite(r.final_loss)) {
      s.last_loss = r.final_loss;
      s.last_loss_step = r.steps;
    }
    if (!std::isfinite(s.last_eval) && std::isfinite(r.eval_loss)) {
      s.last_eval = r.eval_loss;
      s.last_eval_step = r.steps;
      s.best_eval = r.eval_loss;
      s.best_eval_step = r.steps;
    }
  }
  s.total = train::run_total_steps(run);
  s.seconds = train::run_training_seconds(run);
  if (run.state == train::RunState::Interrupted) {
    if (run.checkpoint_step) {
      std::string cmd = "mc train " + (s.trainer.empty() ? std::string("run") : s.trainer);
      if (auto fp = st.find("fingerprint"); st.is_object() && fp != st.end() && fp->is_object()) {
        if (auto m = fp->find("model"); m != fp->end() && m->is_string()) cmd += " -m " + shell_word(m->get<std::string>());
        if (auto d = fp->find("data"); d != fp->end() && d->is_string()) cmd += " -d " + shell_word(d->get<std::string>());
      }
      cmd += " -o " + shell_word(run.dir) + " --resume";
      s.hint = "resume with the original command plus --resume: " + cmd + " (unless the run is still going)";
    } else {
      s.hint = "no checkpoint yet: the run cannot be resumed; start it again (unless it is still going)";
    }
  }
  return s;
}

}  // namespace

int cmd_train_status(const std::vector<std::string>& argv) {
  Args args("mc train status OUT [--json] [--report]",
            "State of a training run directory (the -o OUT of mc train run / run-research): complete (adapter\n"
            "and training_result.json written), interrupted (metrics and checkpoints but no result yet: a\n"
            "crashed, stopped or still running run) or empty. Shows the step reached (and the total when\n"
            "known), the last train and eval losses, the best eval loss, the newest checkpoint, the time spent\n"
            "in training steps and, for a complete run, the stop reason and the pipeline gate. A metrics line\n"
            "cut by a crash at the end of metrics.jsonl is skipped with a warning. --report (re)writes\n"
            "OUT/report.html: a self-contained page with the loss curves, learning rate or step sizes,\n"
            "spectral budget, batch size and gate checks.",
            {
                {"report", 0, "", "write OUT/report.html (replaces an older report)"},
                {"json", 0, "", "print JSON (schema mc.train.status.v1)"},
            },
            {"OUT"},
            "  mc train status runs/research\n  mc train status runs/derived --report\n");
  if (!args.parse(argv)) return 0;
  const std::string out = args.positionals()[0];
  const train::RunFiles run = train::read_run_files(out);
  const Status s = gather(run);
  std::string report;
  if (args.flag("report")) {
    if (run.state == train::RunState::Empty)
      throw Error("train", str(out, ": not a training run yet (no metrics, checkpoints or result): nothing to report"));
    report = (std::filesystem::path(out) / "report.html").string();
    write_file_atomic(report, train::run_report_html(run), "train");
  }
  for (const std::string& w : run.warnings) log_warn(w);

  const train::RunResult* r = run.result ? &*run.result : nullptr;
  const bool complete = run.state == train::RunState::Complete;
  if (args.flag("json")) {
    OrderedJson j;
    j["schema"] = "mc.train.status.v1";
    j["run_dir"] = out;
    j["state"] = train::run_state_name(run.state);
    j["trainer"] = s.trainer.empty() ? OrderedJson(nullptr) : OrderedJson(s.trainer);
    j["result_schema"] = r ? OrderedJson(r->schema) : OrderedJson(nullptr);
    j["adapter"] = run.has_adapter;
    j["result"] = r != nullptr;
    j["step"] = s.step ? OrderedJson(*s.step) : OrderedJson(nullptr);
    j["total_steps"] = s.total ? OrderedJson(*s.total) : OrderedJson(nullptr);
    j["last_loss"] = number_or_null(s.last_loss);
    j["last_loss_step"] = s.last_loss_step >= 0 ? OrderedJson(s.last_loss_step) : OrderedJson(nullptr);
    j["last_eval_loss"] = number_or_null(s.last_eval);
    j["last_eval_step"] = s.last_eval_step >= 0 ? OrderedJson(s.last_eval_step) : OrderedJson(nullptr);
    j["best_eval_loss"] = number_or_null(s.best_eval);
    j["best_eval_step"] = s.best_eval_step >= 0 ? OrderedJson(s.best_eval_step) : OrderedJson(nullptr);
    j["latest_checkpoint"] = run.checkpoint_step
                                 ? OrderedJson{{"path", run.checkpoint_path}, {"step", *run.checkpoint_step}}
                                 : OrderedJson(nullptr);
    j["training_seconds"] = number_or_null(s.seconds);
    j["stop_reason"] = complete && !r->stop_reason.empty() ? OrderedJson(r->stop_reason) : OrderedJson(nullptr);
    if (complete && r->gate) j["gate"] = {{"passed", r->gate->passed}, {"failure_modes", r->gate->failure_modes}};
    else j["gate"] = nullptr;
    j["metrics_lines"] = run.metrics ? run.metrics->lines : 0;
    j["cut_last_line"] = run.metrics && run.metrics->cut_last_line;
    j["warnings"] = run.warnings;
    j["hint"] = s.hint.empty() ? OrderedJson(nullptr) : OrderedJson(s.hint);
    j["report"] = report.empty() ? OrderedJson(nullptr) : OrderedJson(report);
    std::printf("%s\n", json_dump(j, 2).c_str());
    return 0;
  }
  auto line = [](const char* key, const std::string& value) { std::printf("%-14s %s\n", key, value.c_str()); };
  line("run", out);
  line("state", run.state == train::RunState::Interrupted ? "interrupted (or still running)" : train::run_state_name(run.state));
  if (!s.trainer.empty()) line("trainer", "mc train " + s.trainer + (r ? " (" + r->schema + ")" : ""));
  if (s.step) line("step", std::to_string(*s.step) + (s.total ? " of " + std::to_string(*s.total) : ""));
  if (std::isfinite(s.last_loss)) line("train loss", num(s.last_loss) + " (step " + std::to_string(s.last_loss_step) + ")");
  if (s.last_eval_step >= 0) {
    std::string e = num(s.last_eval) + " (step " + std::to_string(s.last_eval_step) + ")";
    if (s.best_eval_step >= 0) e += "; best " + num(s.best_eval) + " at step " + std::to_string(s.best_eval_step);
    line("eval loss", e);
  }
  if (run.checkpoint_step) line("checkpoint", run.checkpoint_path);
  if (std::isfinite(s.seconds)) line("training time", duration(s.seconds));
  if (complete) {
    if (!r->stop_reason.empty()) line("stop reason", r->stop_reason);
    if (r->gate) {
      std::string g = r->gate->passed ? "passed" : "failed";
      for (size_t i = 0; i < r->gate->failure_modes.size(); ++i) g += (i ? ", " : ": ") + r->gate->failure_modes[i];
      line("gate", g);
    }
  }
  if (!report.empty()) line("report", report);
  if (run.state == train::RunState::Empty) line("note", "no metrics, checkpoints or result: not a training run yet");
  if (!s.hint.empty()) line("hint", s.hint);
  return 0;
}

}  // namespace mc::cli

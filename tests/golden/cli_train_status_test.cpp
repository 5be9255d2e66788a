// `mc train status` and `mc train compare` through the mc binary on synthetic run directories
// (tests/unit/train/run_fixture.h), and compare -m/-d on the tiny llama fixture:
// complete, interrupted (with the resume hint), empty, cut and corrupt metrics, --json documents,
// --report, and exit codes / one-line errors for bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "core/fs.h"
#include "core/json.h"
#include "test_util.h"
#include "unit/train/run_fixture.h"

namespace mc {
namespace {

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

size_t count_lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

bool has(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

TEST(CliTrainStatus, CompleteRun) {
  test::TempDir t;
  const std::string run = t / "run";
  test::make_complete_research_run(run);
  test::RunResult r = test::run_mc("train status " + quote(run));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "state          complete\n")) << r.out;
  EXPECT_TRUE(has(r.out, "trainer        mc train run-research (mc.train.run-research.v1)\n")) << r.out;
  EXPECT_TRUE(has(r.out, "step           4 of 4\n")) << r.out;
  EXPECT_TRUE(has(r.out, "train loss     1.7500 (step 4)\n")) << r.out;
  EXPECT_TRUE(has(r.out, "eval loss      2.4500 (step 4); best 2.4000 at step 2\n")) << r.out;
  EXPECT_TRUE(has(r.out, "training time  3.5 s\n")) << r.out;
  EXPECT_TRUE(has(r.out, "stop reason    max_steps\n")) << r.out;
  EXPECT_FALSE(has(r.out, "hint")) << r.out;
  EXPECT_EQ(r.err, "");

  r = test::run_mc("train status " + quote(run) + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  OrderedJson j = OrderedJson::parse(r.out);
  EXPECT_EQ(j["schema"], "mc.train.status.v1");
  EXPECT_EQ(j["state"], "complete");
  EXPECT_EQ(j["trainer"], "run-research");
  EXPECT_EQ(j["step"], 4);
  EXPECT_EQ(j["total_steps"], 4);
  EXPECT_EQ(j["last_loss"], 1.75);
  EXPECT_EQ(j["best_eval_loss"], 2.4);
  EXPECT_EQ(j["best_eval_step"], 2);
  EXPECT_EQ(j["latest_checkpoint"]["step"], 4);
  EXPECT_EQ(j["stop_reason"], "max_steps");
  EXPECT_TRUE(j["gate"].is_null());
  EXPECT_TRUE(j["hint"].is_null());
  EXPECT_TRUE(j["report"].is_null());
  EXPECT_FALSE(path_exists(run + "/report.html"));
}

TEST(CliTrainStatus, DerivedRunWithGateAndReport) {
  test::TempDir t;
  const std::string run = t / "run";
  test::make_complete_derived_run(run);
  test::RunResult r = test::run_mc("train status " + quote(run) + " --report");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "trainer        mc train run (mc.train.run.v1)\n")) << r.out;
  EXPECT_TRUE(has(r.out, "gate           failed: spectral_bounds\n")) << r.out;
  EXPECT_TRUE(has(r.out, "report         " + run + "/report.html\n")) << r.out;
  const std::string page = test::read_bytes(run + "/report.html");
  EXPECT_TRUE(has(page, "<section id=\"spectral-budget\">"));
  EXPECT_TRUE(has(page, "<section id=\"pipeline-gate\">"));
  EXPECT_FALSE(has(page, "http"));
  r = test::run_mc("train status " + quote(run) + " --json");
  OrderedJson j = OrderedJson::parse(r.out);
  EXPECT_EQ(j["gate"]["passed"], false);
  EXPECT_EQ(j["gate"]["failure_modes"][0], "spectral_bounds");
  EXPECT_EQ(j["trainer"], "run");
}

TEST(CliTrainStatus, InterruptedRunWithCutLastLine) {
  test::TempDir t;
  const std::string run = t / "my run";
  test::make_interrupted_research_run(run);
  const std::string m = test::read_bytes(run + "/metrics.jsonl");
  test::write_bytes(run + "/metrics.jsonl", m + "{\"step\":4,\"epoch\":1.0,\"lo");
  test::RunResult r = test::run_mc("train status " + quote(run));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "state          interrupted (or still running)\n")) << r.out;
  EXPECT_TRUE(has(r.out, "step           3 of 10\n")) << r.out;
  EXPECT_TRUE(has(r.out, "train loss     2.0000 (step 3)\n")) << r.out;
  EXPECT_TRUE(has(r.out, "checkpoint     " + run + "/checkpoints/step-3\n")) << r.out;
  EXPECT_TRUE(has(r.out, "training time  4.0 s\n")) << r.out;
  EXPECT_TRUE(has(r.out, "mc train run-research -m 'models/my model' -d d.jsonl -o '" + run + "' --resume")) << r.out;
  EXPECT_FALSE(has(r.out, "stop reason")) << r.out;
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_TRUE(has(r.err, "mc: warning: " + run + "/metrics.jsonl:5: skipped an incomplete last line")) << r.err;

  r = test::run_mc("train status " + quote(run) + " --json --report");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  OrderedJson j = OrderedJson::parse(r.out);
  EXPECT_EQ(j["state"], "interrupted");
  EXPECT_EQ(j["step"], 3);
  EXPECT_EQ(j["total_steps"], 10);
  EXPECT_EQ(j["cut_last_line"], true);
  EXPECT_EQ(j["warnings"].size(), 1u);
  EXPECT_TRUE(j["stop_reason"].is_null());
  EXPECT_TRUE(j["result"] == false);
  EXPECT_TRUE(has(j["hint"].get<std::string>(), "--resume"));
  EXPECT_EQ(j["report"], run + "/report.html");
  EXPECT_TRUE(path_exists(run + "/report.html"));
}

TEST(CliTrainStatus, EmptyDirectory) {
  test::TempDir t;
  test::RunResult r = test::run_mc("train status " + quote(t.path.string()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "state          empty\n")) << r.out;
  r = test::run_mc("train status " + quote(t.path.string()) + " --json");
  EXPECT_EQ(OrderedJson::parse(r.out)["state"], "empty");
  EXPECT_TRUE(OrderedJson::parse(r.out)["step"].is_null());
  r = test::run_mc("train status " + quote(t.path.string()) + " --report");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.err, "nothing to report")) << r.err;
}

TEST(CliTrainStatus, BadInput) {
  test::TempDir t;
  test::RunResult r = test::run_mc("train status " + quote(t / "missing"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "mc: error: [train] " + (t / "missing") + ": no such run directory\n");
  r = test::run_mc("train status");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.err, "mc: error: [cli] missing argument OUT")) << r.err;
  // A corrupt line in the middle of metrics.jsonl is a format error naming file:line.
  const std::string run = t / "run";
  test::make_interrupted_research_run(run);
  test::write_bytes(run + "/metrics.jsonl", "{\"step\":1,\"loss\":2}\n{oops}\n{\"step\":2,\"loss\":1}\n");
  r = test::run_mc("train status " + quote(run) + " --json");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_TRUE(has(r.err, "mc: error: [train] " + run + "/metrics.jsonl:2: invalid JSON")) << r.err;
  // A result that is not one.
  test::make_adapter(run);
  test::write_bytes(run + "/metrics.jsonl", "");
  test::write_bytes(run + "/training_result.json", "{\"schema\": \"mc.other.v1\", \"steps\": 1}");
  r = test::run_mc("train status " + quote(run));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.err, "training_result.json: not a training result")) << r.err;
}

TEST(CliTrainCompare, ResultFiles) {
  test::TempDir t;
  test::make_complete_research_run(t / "a");
  test::make_complete_derived_run(t / "b");
  test::RunResult r = test::run_mc("train compare --result-a " + quote(t / "a") + " --result-b " +
                                   quote(t / "b" + "/training_result.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "verdict        no winner: per-example losses needed; use -m/-d mode\n")) << r.out;
  EXPECT_TRUE(has(r.out, "final_loss")) << r.out;
  EXPECT_TRUE(has(r.out, "gate           a n/a, b failed")) << r.out;
  r = test::run_mc("train compare --result-a " + quote(t / "a") + " --result-b " + quote(t / "b") + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  OrderedJson j = OrderedJson::parse(r.out);
  EXPECT_EQ(j["schema"], "mc.train.compare.v1");
  EXPECT_EQ(j["mode"], "results");
  EXPECT_TRUE(j["winner"].is_null());
  EXPECT_TRUE(j["paired"].is_null());
  bool final_loss = false;
  for (const auto& d : j["deltas"])
    if (d["metric"] == "final_loss") {
      final_loss = true;
      EXPECT_DOUBLE_EQ(d["delta"].get<double>(), 2.0 - 1.75);
    }
  EXPECT_TRUE(final_loss);
}

TEST(CliTrainCompare, UsageErrors) {
  test::TempDir t;
  test::make_complete_research_run(t / "a");
  test::RunResult r = test::run_mc("train compare");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.err, "mc: error: [cli] nothing to compare")) << r.err;
  r = test::run_mc("train compare --result-a " + quote(t / "a"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.err, "both --result-a and --result-b")) << r.err;
  r = test::run_mc("train compare --result-a " + quote(t / "a") + " --result-b " + quote(t / "a") + " -d x.jsonl");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.err, "use one mode")) << r.err;
  r = test::run_mc("train compare -d x.jsonl --adapter-a " + quote(t / "a"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.err, "a model is required")) << r.err;
  r = test::run_mc("train compare --result-a " + quote(t / "a") + " --result-b " + quote(t / "nope"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1u);
  EXPECT_TRUE(has(r.err, "no such file")) << r.err;
}

/// The tiny llama fixture with the 256-byte tokenizer beside it: a model directory mc can evaluate text on.
std::string tiny_model(const test::TempDir& t) {
  namespace fs = std::filesystem;
  const std::string dir = t / "model";
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(test::data_path("hf/llama")))
    fs::copy_file(e.path(), fs::path(dir) / e.path().filename());
  fs::copy_file(test::data_path("capacity/tok256/tokenizer.json"), fs::path(dir) / "tokenizer.json");
  return dir;
}

TEST(CliTrainCompare, AdaptersOnData) {
  test::TempDir t;
  const std::string model = tiny_model(t), data = t / "eval.jsonl";
  std::string lines;
  for (int i = 0; i < 12; ++i)
    lines += "{\"text\": \"example " + std::to_string(i) + ": the quick brown fox jumps over the lazy dog\"}\n";
  test::write_bytes(data, lines);
  const std::string adapter = test::data_path("capacity/adapter_llama");
  // An adapter against the base model.
  test::RunResult r = test::run_mc("train compare -m " + quote(model) + " --adapter-b " + quote(adapter) + " -d " +
                                   quote(data) + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  OrderedJson j = OrderedJson::parse(r.out);
  EXPECT_EQ(j["schema"], "mc.train.compare.v1");
  EXPECT_EQ(j["mode"], "evaluate");
  EXPECT_EQ(j["n_examples"], 12);
  EXPECT_TRUE(j["a"]["adapter"].is_null());
  EXPECT_EQ(j["a"]["label"], "base model");
  EXPECT_EQ(j["b"]["adapter"], adapter);
  const OrderedJson& p = j["paired"];
  EXPECT_EQ(p["n"], 12);
  EXPECT_EQ(p["resamples"], 10000);
  EXPECT_EQ(p["level"], 0.95);
  EXPECT_LE(p["ci_low"].get<double>(), p["mean_diff"].get<double>());
  EXPECT_GE(p["ci_high"].get<double>(), p["mean_diff"].get<double>());
  EXPECT_EQ(p["n_improved"].get<int>() + p["n_degraded"].get<int>() + p["n_unchanged"].get<int>(), 12);
  EXPECT_NEAR(p["mean_diff"].get<double>(), p["mean_b"].get<double>() - p["mean_a"].get<double>(), 1e-9);
  const bool excludes = p["ci_high"].get<double>() < 0 || p["ci_low"].get<double>() > 0;
  EXPECT_EQ(p["excludes_zero"], excludes);
  if (!excludes) EXPECT_TRUE(j["winner"].is_null());
  else EXPECT_EQ(j["winner"], p["ci_high"].get<double>() < 0 ? "b" : "a");
  // The same adapter on both sides: every difference is 0, no winner.
  r = test::run_mc("train compare -m " + quote(model) + " --adapter-a " + quote(adapter) + " --adapter-b " +
                   quote(adapter) + " -d " + quote(data));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "per example    0 improved (b lower), 0 degraded, 12 unchanged\n")) << r.out;
  EXPECT_TRUE(has(r.out, "verdict        no significant difference: mean difference b - a = 0, 95% CI [0, 0] contains zero\n"))
      << r.out;
  // Neither adapter: a usage error.
  r = test::run_mc("train compare -m " + quote(model) + " -d " + quote(data));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.err, "--adapter-a and/or --adapter-b")) << r.err;
}

}  // namespace
}  // namespace mc

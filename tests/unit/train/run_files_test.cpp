// run_files.h on synthetic run directories: complete and interrupted runs, the total-steps and
// training-time inferences, a metrics line cut by a crash (skipped with a warning) versus a corrupt
// line in the middle (an error naming file:line), and validation of the result document.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/error.h"
#include "train/run_files.h"
#include "unit/train/run_fixture.h"

namespace mc::train {
namespace {

/// The message of the mc::Error `f` throws ("" when it throws none).
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(RunFiles, CompleteResearchRun) {
  test::TempDir t;
  const std::string run = t / "run";
  test::make_complete_research_run(run);
  RunFiles r = read_run_files(run);
  EXPECT_EQ(r.state, RunState::Complete);
  EXPECT_STREQ(run_state_name(r.state), "complete");
  EXPECT_TRUE(r.has_adapter);
  EXPECT_TRUE(r.has_manifest);
  ASSERT_TRUE(r.result);
  EXPECT_EQ(r.result->schema, kResultSchemaResearch);
  EXPECT_FALSE(r.result->derived);
  EXPECT_EQ(r.result->steps, 4);
  EXPECT_DOUBLE_EQ(r.result->final_loss, 1.75);
  EXPECT_DOUBLE_EQ(r.result->eval_loss, 2.45);
  EXPECT_TRUE(std::isnan(r.result->post_loss));  // absent
  EXPECT_EQ(r.result->stop_reason, "max_steps");
  EXPECT_FALSE(r.result->gate);
  ASSERT_TRUE(r.metrics);
  EXPECT_EQ(r.metrics->steps.size(), 4u);
  EXPECT_EQ(r.metrics->evals.size(), 2u);
  EXPECT_EQ(r.metrics->lines, 6);
  EXPECT_FALSE(r.metrics->cut_last_line);
  EXPECT_DOUBLE_EQ(r.metrics->steps[1].lr, 0.00015);
  EXPECT_TRUE(std::isnan(r.metrics->steps[1].eta_step));
  EXPECT_TRUE(std::isnan(r.metrics->steps[1].batch_size));
  ASSERT_TRUE(r.checkpoint_step);
  EXPECT_EQ(*r.checkpoint_step, 4);
  EXPECT_EQ(run_total_steps(r), 4);
  EXPECT_DOUBLE_EQ(run_training_seconds(r), 3.5);
  EXPECT_TRUE(r.warnings.empty());
  // The result is also readable through the run directory.
  EXPECT_EQ(read_run_result(run).steps, 4);
}

TEST(RunFiles, InterruptedRun) {
  test::TempDir t;
  const std::string run = t / "run";
  test::make_interrupted_research_run(run);
  RunFiles r = read_run_files(run);
  EXPECT_EQ(r.state, RunState::Interrupted);
  EXPECT_FALSE(r.has_adapter);
  EXPECT_FALSE(r.result);
  ASSERT_TRUE(r.checkpoint_step);
  EXPECT_EQ(*r.checkpoint_step, 3);
  EXPECT_NE(r.checkpoint_path.find("step-3"), std::string::npos);
  ASSERT_TRUE(r.checkpoint_state.is_object());
  EXPECT_EQ(run_total_steps(r), 10);                   // fingerprint max_steps
  EXPECT_DOUBLE_EQ(run_training_seconds(r), 2.0 + 1 + 1);  // Σ tokens / tokens_per_second
  EXPECT_EQ(r.metrics->steps.back().step, 3);
}

TEST(RunFiles, TotalFromEpochsAndStepsPerEpoch) {
  test::TempDir t;
  const std::string run = t / "run";
  test::make_interrupted_research_run(run);
  test::make_checkpoint(run, 3, "{\"step\": 3, \"fingerprint\": {\"epochs\": 3, \"max_steps\": 0}}");
  EXPECT_EQ(run_total_steps(read_run_files(run)), 12);  // 3 epochs × (step 3 / epoch 0.75)
  test::make_checkpoint(run, 3, "{\"step\": 3, \"total_steps\": 77}");
  EXPECT_EQ(run_total_steps(read_run_files(run)), 77);
  test::make_checkpoint(run, 3, "{\"step\": 3}");
  EXPECT_FALSE(run_total_steps(read_run_files(run)));
}

TEST(RunFiles, UnreadableCheckpointStateIsAWarning) {
  test::TempDir t;
  const std::string run = t / "run";
  test::make_interrupted_research_run(run);
  test::make_checkpoint(run, 3, "{\"step\": 3, \"fing");
  RunFiles r = read_run_files(run);
  EXPECT_EQ(*r.checkpoint_step, 3);
  EXPECT_TRUE(r.checkpoint_state.is_null());
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("state.json"), std::string::npos);
}

TEST(RunFiles, EmptyAndMissingDirectories) {
  test::TempDir t;
  EXPECT_EQ(read_run_files(t.path.string()).state, RunState::Empty);
  EXPECT_NE(error_of([&] { read_run_files(t / "nope"); }).find("no such run directory"), std::string::npos);
  test::write_bytes(t / "file", "x");
  EXPECT_NE(error_of([&] { read_run_files(t / "file"); }).find("not a directory"), std::string::npos);
}

TEST(RunFiles, CutLastLineIsSkippedWithAWarning) {
  test::TempDir t;
  const std::string run = t / "run";
  test::make_interrupted_research_run(run);
  std::string m = test::read_bytes(run + "/metrics.jsonl");
  test::write_bytes(run + "/metrics.jsonl", m + "{\"step\":4,\"epoch\":1.0,\"lo");
  RunFiles r = read_run_files(run);
  ASSERT_TRUE(r.metrics);
  EXPECT_TRUE(r.metrics->cut_last_line);
  EXPECT_EQ(r.metrics->steps.size(), 3u);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("metrics.jsonl:5: skipped an incomplete last line"), std::string::npos) << r.warnings[0];
  // Trailing blank lines do not make the cut line a middle one.
  test::write_bytes(run + "/metrics.jsonl", m + "{\"step\":4,\"epo\n\n  \n");
  EXPECT_TRUE(read_run_files(run).metrics->cut_last_line);
}

TEST(RunFiles, CorruptMiddleLineIsAnError) {
  test::TempDir t;
  const std::string run = t / "run";
  test::make_interrupted_research_run(run);
  test::write_bytes(run + "/metrics.jsonl", "{\"step\":1,\"loss\":2.5}\n{\"step\":2,\"lo\n{\"step\":3,\"loss\":2.0}\n");
  const std::string e = error_of([&] { read_run_files(run); });
  EXPECT_NE(e.find("[train] " + run + "/metrics.jsonl:2: invalid JSON"), std::string::npos) << e;
}

TEST(RunFiles, MetricsLinesAreValidated) {
  auto err = [](const std::string& text) { return error_of([&] { parse_metrics_jsonl(text, "m.jsonl"); }); };
  EXPECT_NE(err("[1, 2]\n{\"step\":1,\"loss\":1}\n").find("m.jsonl:1: expected a JSON object, got an array"), std::string::npos);
  EXPECT_NE(err("{\"step\":1,\"loss\":\"x\"}\n{}\n").find("m.jsonl:1: \"loss\" must be a number, got a string"),
            std::string::npos);
  EXPECT_NE(err("{\"loss\":1}\n").find("m.jsonl:1: missing \"step\""), std::string::npos);
  EXPECT_NE(err("{\"step\":-1,\"loss\":1}\n").find("non-negative integer"), std::string::npos);
  EXPECT_NE(err("{\"step\":1,\"eval_loss\":true}\n").find("\"eval_loss\" must be a number"), std::string::npos);
  EXPECT_NE(err("{\"epoch_end\":1,\"step\":4,\"saturation\":[1]}\n").find("\"saturation\" must be an object"),
            std::string::npos);
  EXPECT_NE(err("{\"epoch_end\":1,\"step\":4,\"saturation\":{\"q\":\"big\"}}\n").find("'q' must be a number"),
            std::string::npos);
  std::string nul = "{\"step\":1,\"loss\":1}\n{\"step\":2,";
  nul += '\0';
  nul += "\"loss\":1}\n{}\n";
  EXPECT_NE(err(nul).find("m.jsonl:2: invalid JSON (NUL byte"), std::string::npos);
  // Other kinds of lines are ignored; nulls read as NaN; integral floats are steps.
  RunMetrics m = parse_metrics_jsonl("{\"event\":\"resume\"}\n{\"step\":2.0,\"loss\":null,\"eval_loss\":1}\n\r\n", "m");
  EXPECT_EQ(m.unknown_lines, 1);
  ASSERT_EQ(m.steps.size(), 1u);
  EXPECT_EQ(m.steps[0].step, 2);
  EXPECT_TRUE(std::isnan(m.steps[0].loss));
  EXPECT_TRUE(parse_metrics_jsonl("", "m").steps.empty());
}

TEST(RunFiles, DerivedRunRows) {
  test::TempDir t;
  const std::string run = t / "run";
  test::make_complete_derived_run(run);
  RunFiles r = read_run_files(run);
  ASSERT_TRUE(r.result);
  EXPECT_TRUE(r.result->derived);
  EXPECT_DOUBLE_EQ(r.result->min_cka, 0.91);
  EXPECT_TRUE(std::isnan(r.result->base_eval_loss));  // null
  ASSERT_TRUE(r.result->spectral_bounds_ok);
  EXPECT_FALSE(*r.result->spectral_bounds_ok);
  ASSERT_TRUE(r.result->gate);
  EXPECT_FALSE(r.result->gate->passed);
  EXPECT_EQ(r.result->gate->failure_modes, std::vector<std::string>{"spectral_bounds"});
  ASSERT_EQ(r.result->gate->checks.size(), 2u);
  EXPECT_EQ(r.result->gate->checks[0].status, "failed");
  EXPECT_TRUE(r.result->gate->checks[0].required);
  EXPECT_TRUE(std::isnan(r.result->gate->checks[1].threshold));
  const RunMetrics& m = *r.metrics;
  ASSERT_EQ(m.steps.size(), 4u);
  EXPECT_DOUBLE_EQ(m.steps[2].eta_step, 0.003);
  EXPECT_DOUBLE_EQ(m.steps[2].eta_ceiling, 0.01);
  EXPECT_TRUE(std::isnan(m.steps[1].eta_margin));
  EXPECT_DOUBLE_EQ(m.steps[3].batch_size, 8);
  EXPECT_TRUE(std::isnan(m.steps[0].lr));
  ASSERT_EQ(m.epochs.size(), 1u);
  EXPECT_EQ(m.epochs[0].epoch_end, 1);
  EXPECT_DOUBLE_EQ(m.epochs[0].remaining_budget, 0.3);
  ASSERT_EQ(m.epochs[0].saturation.size(), 3u);  // file order, not sorted
  EXPECT_EQ(m.epochs[0].saturation[0].first, "model.layers.0.self_attn.q_proj");
  EXPECT_EQ(m.epochs[0].saturation[2].first, "model.layers.1.mlp.down_proj");
  EXPECT_TRUE(std::isnan(m.epochs[0].saturation[2].second));
}

TEST(RunFiles, ResultIsValidated) {
  test::TempDir t;
  const std::string p = t / "training_result.json";
  auto err = [&](const std::string& text) {
    test::write_bytes(p, text);
    return error_of([&] { read_run_result(p); });
  };
  EXPECT_NE(err("{\"schema\": \"mc.train.run.v1\", \"steps\": 1").find("[train] " + p + ": invalid JSON"), std::string::npos);
  EXPECT_NE(err("[]").find(p + ": not a training result (a JSON object expected, got an array)"), std::string::npos);
  EXPECT_NE(err("{\"steps\": 1}").find("\"schema\" is missing"), std::string::npos);
  EXPECT_NE(err("{\"schema\": \"mc.data.prepare.v1\", \"steps\": 1}").find("'mc.data.prepare.v1'"), std::string::npos);
  EXPECT_NE(err("{\"schema\": \"mc.train.run.v1\"}").find("missing \"steps\""), std::string::npos);
  EXPECT_NE(err("{\"schema\": \"mc.train.run.v1\", \"steps\": \"4\"}").find("\"steps\" must be a non-negative integer"),
            std::string::npos);
  EXPECT_NE(err("{\"schema\": \"mc.train.run.v1\", \"steps\": 4, \"final_loss\": \"low\"}").find("\"final_loss\" must be a number"),
            std::string::npos);
  EXPECT_NE(err("{\"schema\": \"mc.train.run.v1\", \"steps\": 4, \"config\": 3}").find("\"config\" must be an object"),
            std::string::npos);
  EXPECT_NE(err("{\"schema\": \"mc.train.run.v1\", \"steps\": 4, \"pipeline_gate\": {\"checks\": []}}").find("no \"passed\""),
            std::string::npos);
  EXPECT_NE(err("{\"schema\": \"mc.train.run.v1\", \"steps\": 4, \"pipeline_gate\": {\"passed\": true, \"checks\": [3]}}")
                .find("check 0: must be an object"),
            std::string::npos);
  EXPECT_NE(err("{\"schema\": \"mc.train.run.v1\", \"steps\": 4, \"eval_per_example_loss\": [1, \"x\"]}").find("must hold numbers"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_run_result(t / "none.json"); }).find("no such file"), std::string::npos);
  // null and absent numbers are NaN; per-example losses are read.
  test::write_bytes(p, "{\"schema\": \"mc.train.run.v1\", \"steps\": 4, \"eval_loss\": null, \"eval_per_example_loss\": [1.5, 2]}");
  RunResult r = read_run_result(p);
  EXPECT_TRUE(std::isnan(r.eval_loss));
  EXPECT_EQ(r.per_example_loss, (std::vector<double>{1.5, 2.0}));
}

}  // namespace
}  // namespace mc::train

// `mc train run-research`, `mc train evaluate` and `mc train run` through the real binary on the tiny
// llama fixture (tests/data/hf/llama + the byte-level fixture tokenizer, assembled in a temporary
// directory as in cli_infer_test.cpp) with small JSONL datasets written here. What is checked:
//   - run-research writes the PEFT adapter, training_result.json and metrics.jsonl; the adapter loads
//     with lora_load_peft and `mc train evaluate -a` scores it; the loss falls on repetitive data;
//   - an interrupted run (--stop-after, exit 2) continued with --resume equals an uninterrupted run bit
//     for bit: every step's loss and the adapter file (dropout and gradient accumulation on);
//   - bad input is exit 1 with one line naming the problem, and leaves no output directory behind;
//   - `mc train run --plan-only` writes nothing and prints the plan (15 hyperparameter rows);
//   - `mc train run` finishes on its own, saves the adapter and manifest, keeps every module's
//     ‖ΔW‖₂ within its NB-LoRA budget (recomputed here from the saved adapter) and writes report.html.
// The weight-spectrum cache of `mc train run` is pointed at a temporary XDG_CACHE_HOME.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/json.h"
#include "geometry/matrix.h"
#include "geometry/spectrum.h"
#include "model/lora_io.h"
#include "model/transformer.h"
#include "cli_test_util.h"

namespace mc {
namespace {

namespace fs = std::filesystem;
using test::run_mc;
using test::expect_one_line_error;

/// Spectral-bound slack of the checks below: the bound holds by construction up to float rounding.
constexpr double kBoundTolerance = 1e-5;

bool has(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }



/// Every path under `dir`, relative, sorted.
std::set<std::string> tree(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) out.insert(fs::relative(e.path(), dir).string());
  return out;
}

/// Sets an environment variable for the lifetime of the object (the mc child processes inherit it).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_, old_->c_str(), 1);
    else unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

/// A temporary directory holding model/ (the llama fixture with the fixture tokenizer) and the data
/// files the tests write; the geometry cache goes to a separate temporary directory.
class CliTrain : public ::testing::Test {
 protected:
  test::TempDir tmp;
  test::TempDir cache_home;
  ScopedEnv xdg{"XDG_CACHE_HOME", cache_home.path.string()};
  std::string model;

  void SetUp() override {
    model = tmp / "model";
    fs::create_directories(model);
    for (const auto& e : fs::directory_iterator(test::data_path("hf/llama"))) fs::copy(e.path(), model);
    for (const auto& e : fs::directory_iterator(test::data_path("infer/tiny_tokenizer"))) fs::copy(e.path(), model);
  }

  /// `n` near-identical text records (a repeated phrase): easy to fit, so the loss must fall.
  std::string repetitive_data(int n = 16) {
    const std::string path = tmp / "rep.jsonl";
    std::string s;
    for (int i = 0; i < n; ++i) {
      std::string text;
      for (int k = 0; k < 12; ++k) text += "abc ";
      text += std::string(1, "xyz"[i % 3]);
      s += OrderedJson{{"text", text}}.dump() + "\n";
    }
    test::write_bytes(path, s);
    return path;
  }

  /// Chat records in the form of the WordNet dataset: "What does "w" mean as a noun?" → a gloss.
  std::string chat_data(const std::string& name, size_t from, size_t to) {
    static const std::vector<std::pair<const char*, const char*>> kWords = {
        {"ring", "A toroidal shape."},         {"bank", "The side of a river."},
        {"bark", "The sound a dog makes."},    {"bat", "A club used in sports."},
        {"cell", "A small room."},             {"date", "A day of the year."},
        {"fair", "A market or festival."},     {"file", "A tool for smoothing."},
        {"jam", "Fruit preserve."},            {"key", "A device that opens a lock."},
        {"light", "Visible radiation."},       {"match", "A stick that makes fire."},
        {"nail", "A thin metal spike."},       {"park", "An area of public land."},
        {"pitch", "The height of a sound."},   {"rock", "A piece of stone."},
        {"seal", "A marine mammal."},          {"spring", "The season after winter."},
        {"tie", "A neck garment."},            {"watch", "A small timepiece."},
        {"well", "A shaft dug for water."},    {"wave", "A ridge of water."},
        {"yard", "A unit of length."},         {"organ", "A part of the body."},
    };
    std::string s;
    for (size_t i = from; i < to && i < kWords.size(); ++i) {
      OrderedJson rec;
      rec["messages"] = OrderedJson::array(
          {{{"role", "user"}, {"content", std::string("What does \"") + kWords[i].first + "\" mean as a noun?"}},
           {{"role", "assistant"}, {"content", kWords[i].second}}});
      s += rec.dump() + "\n";
    }
    const std::string path = tmp / name;
    test::write_bytes(path, s);
    return path;
  }

  std::string research(const std::string& data, const std::string& out, const std::string& extra) const {
    return "train run-research -m " + model + " -d " + data + " -o " + out +
           " --seq-length 64 --quiet --threads 1 " + extra;
  }
};

std::vector<double> step_losses(const std::string& metrics_path) {
  std::vector<double> out;
  std::string text = test::read_bytes(metrics_path);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) continue;
    Json j = Json::parse(line);
    if (j.contains("loss")) out.push_back(j["loss"].get<double>());
  }
  return out;
}

double mean(const std::vector<double>& v, size_t from, size_t to) {
  double s = 0;
  for (size_t i = from; i < to; ++i) s += v[i];
  return s / static_cast<double>(to - from);
}

// ---------------------------------------------------------------------------------------------------
// run-research

TEST_F(CliTrain, ResearchWritesALoadableAdapterAndTheLossFalls) {
  const std::string data = repetitive_data();
  const std::string out = tmp / "run";
  auto r = run_mc(research(data, out, "--steps 10 --lr 1e-2 --dropout 0 --schedule constant --targets all-linear --json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* f : {"adapter_model.safetensors", "adapter_config.json", "training_result.json", "metrics.jsonl",
                        "mc_manifest.json"})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  const Json res = json_load(out + "/training_result.json");
  EXPECT_EQ(res["schema"], "mc.train.run-research.v1");
  EXPECT_EQ(res["steps"], 10);
  EXPECT_EQ(Json::parse(r.out)["steps"], 10) << "--json prints the result";

  const std::vector<double> losses = step_losses(out + "/metrics.jsonl");
  ASSERT_EQ(losses.size(), 10u);
  EXPECT_LT(mean(losses, 7, 10), mean(losses, 0, 3)) << "the loss must fall over 10 steps";
  EXPECT_LT(losses.back(), 0.8 * losses.front());
  EXPECT_DOUBLE_EQ(res["initial_loss"].get<double>(), losses.front());
  EXPECT_DOUBLE_EQ(res["final_loss"].get<double>(), losses.back());

  const Model m = Model::load(model);
  const LoraSet lora = lora_load_peft(out, m.arch(), m.config());
  EXPECT_EQ(lora.modules.size(), 14u) << "all-linear: 7 projections x 2 layers";
  for (const LoraWeights& w : lora.modules) {
    EXPECT_EQ(w.r, 8) << w.module;
    EXPECT_FLOAT_EQ(w.scale, 2.0f) << w.module << ": alpha 16 / r 8";
  }

  auto ev = run_mc("train evaluate -m " + model + " -a " + out + " -d " + data + " --json");
  ASSERT_EQ(ev.exit_code, 0) << ev.err;
  const Json e = Json::parse(ev.out);
  EXPECT_EQ(e["schema"], "mc.train.evaluate.v1");
  EXPECT_EQ(e["n_examples"], 16);
  EXPECT_LT(e["adapted_loss"].get<double>(), e["base_loss"].get<double>());
  EXPECT_EQ(e["n_improved"], 16);
  ev = run_mc("train evaluate -m " + model + " -a " + out + " -d " + data);
  ASSERT_EQ(ev.exit_code, 0) << ev.err;
  EXPECT_TRUE(has(ev.out, "adapter        loss")) << ev.out;
}

TEST_F(CliTrain, ResumeAfterAnInterruptionIsBitExact) {
  const std::string data = repetitive_data(12);  // 3 steps per epoch: the 6 steps cross an epoch boundary
  const std::string opts = "--steps 6 --checkpoint-every 1 --dropout 0.1 --grad-accum 2 --batch-size 2 --lr 1e-2";
  const std::string a = tmp / "a", b = tmp / "b";
  auto ra = run_mc(research(data, a, opts));
  ASSERT_EQ(ra.exit_code, 0) << ra.err;

  auto rb = run_mc(research(data, b, opts + " --stop-after 3"));
  ASSERT_EQ(rb.exit_code, 2) << rb.err;
  EXPECT_TRUE(has(rb.err, "--resume")) << rb.err;
  EXPECT_TRUE(fs::exists(b + "/checkpoints/step-3/tensors.safetensors"));
  EXPECT_TRUE(fs::exists(b + "/checkpoints/step-3/state.json"));
  EXPECT_FALSE(fs::exists(b + "/adapter_model.safetensors")) << "an interrupted run has no adapter yet";
  EXPECT_EQ(step_losses(b + "/metrics.jsonl").size(), 3u);

  auto rr = run_mc(research(data, b, opts + " --resume"));
  ASSERT_EQ(rr.exit_code, 0) << rr.err;
  const std::vector<double> la = step_losses(a + "/metrics.jsonl"), lb = step_losses(b + "/metrics.jsonl");
  ASSERT_EQ(la.size(), 6u);
  ASSERT_EQ(lb.size(), 6u);
  for (size_t i = 0; i < la.size(); ++i) EXPECT_EQ(la[i], lb[i]) << "step " << i + 1;
  const std::string fa = test::read_bytes(a + "/adapter_model.safetensors");
  ASSERT_FALSE(fa.empty());
  EXPECT_TRUE(fa == test::read_bytes(b + "/adapter_model.safetensors")) << "adapter bytes differ";
  const Json res = json_load(b + "/training_result.json");
  EXPECT_EQ(res["steps"], 6);
  EXPECT_EQ(res["steps_this_session"], 3);
  EXPECT_EQ(res["initial_loss"], json_load(a + "/training_result.json")["initial_loss"]);
}

TEST_F(CliTrain, ResearchBadInputIsExitOneAndCreatesNothing) {
  const std::string data = repetitive_data();
  const std::string out = tmp / "out";
  auto bad = [&](const std::string& args, const std::string& needle) {
    SCOPED_TRACE(args);
    expect_one_line_error(run_mc(args), needle);
    EXPECT_FALSE(fs::exists(out)) << "bad input must not create the output directory";
  };
  bad(research(data, out, "--steps 2 --targets q_proj,bogus_proj"), "bogus_proj");
  bad(research(data, out, "--steps 2 --rank 65"), "rank 65");
  const std::string empty = tmp / "empty.jsonl";
  test::write_bytes(empty, "");
  bad(research(empty, out, "--steps 2"), "empty.jsonl");
  bad("train run-research -m " + model + " -d " + data + " -o " + out + " --steps 2 --seq-length 300 --quiet",
      "--seq-length 300 exceeds the model's context of 256");
  bad(research(data, out, "--steps 2 --resume"), "no checkpoint to resume from");

  // An existing directory is refused and left as it was.
  fs::create_directories(out + "/keep");
  const std::set<std::string> before = tree(out);
  expect_one_line_error(run_mc(research(data, out, "--steps 2")), "already exists");
  EXPECT_EQ(tree(out), before);
}

TEST_F(CliTrain, CorruptCheckpointIsNamedOnResume) {
  const std::string data = repetitive_data();
  const std::string out = tmp / "run";
  const std::string opts = "--steps 4 --checkpoint-every 1";
  ASSERT_EQ(run_mc(research(data, out, opts + " --stop-after 2")).exit_code, 2);
  const std::string tensors = out + "/checkpoints/step-2/tensors.safetensors";
  ASSERT_TRUE(fs::exists(tensors));
  fs::resize_file(tensors, fs::file_size(tensors) - 8);  // the last tensor's data is cut
  auto r = run_mc(research(data, out, opts + " --resume"));
  // The run's configuration is logged before the checkpoint is read, so the error is the last line.
  EXPECT_EQ(r.exit_code, 1) << r.err;
  ASSERT_FALSE(r.err.empty());
  const size_t last = r.err.rfind('\n', r.err.size() - 2);
  const std::string error_line = r.err.substr(last == std::string::npos ? 0 : last + 1);
  EXPECT_EQ(error_line.rfind("mc: error: [", 0), 0u) << r.err;
  EXPECT_TRUE(has(error_line, tensors)) << "the error names the damaged file: " << r.err;
  EXPECT_EQ(r.err.find("mc: error"), r.err.size() - error_line.size()) << "one error line: " << r.err;
  EXPECT_FALSE(fs::exists(out + "/adapter_model.safetensors"));
  EXPECT_FALSE(fs::exists(out + "/training_result.json"));
}

// ---------------------------------------------------------------------------------------------------
// mc train run (derived)

TEST_F(CliTrain, PlanOnlyWritesNothingAndPrintsThePlan) {
  const std::string data = chat_data("chat.jsonl", 0, 24);
  const std::set<std::string> before = tree(tmp.path.string());
  auto r = run_mc("train run -m " + model + " -d " + data + " --plan-only --json --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(tmp / "adapters")) << "the default output's parent must not be created";
  EXPECT_EQ(tree(tmp.path.string()), before);

  const Json plan = Json::parse(r.out);
  for (const char* k : {"inputs", "data_plan", "adaptation_surface", "derived_now", "measured_during_training",
                        "verified_after_training", "hyperparameters"})
    EXPECT_TRUE(plan.contains(k)) << k;
  ASSERT_TRUE(plan["hyperparameters"].is_array());
  EXPECT_EQ(plan["hyperparameters"].size(), 15u);
  for (size_t i = 0; i < plan["hyperparameters"].size(); ++i) EXPECT_EQ(plan["hyperparameters"][i]["index"], i + 1);
  const std::string default_out = plan["inputs"]["output_path"].get<std::string>();
  EXPECT_EQ(fs::path(default_out).parent_path(), fs::path(tmp / "adapters")) << default_out;
  EXPECT_EQ(plan["inputs"]["output_source"], "default_model_parent_adapters");
  EXPECT_GE(plan["adaptation_surface"]["target_module_count"].get<int>(), 1);

  // The text form, and an explicit -o that must not be created either.
  r = run_mc("train run -m " + model + " -d " + data + " -o " + tmp / "out" + " --plan-only --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("Resolved training plan\n", 0), 0u) << r.out;
  EXPECT_TRUE(has(r.out, "Output: " + tmp / "out")) << r.out;
  EXPECT_EQ(tree(tmp.path.string()), before);
}

TEST_F(CliTrain, DerivedRunKeepsTheSpectralBoundsAndWritesTheReport) {
  const std::string data = chat_data("chat.jsonl", 0, 24);
  const std::string out = tmp / "derived";
  auto r = run_mc("train run -m " + model + " -d " + data + " -o " + out + " --quiet --threads 1 --json");
  ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 4) << r.exit_code << ": " << r.err;
  for (const char* f : {"adapter_model.safetensors", "adapter_config.json", "mc_manifest.json", "training_plan.json",
                        "training_result.json", "metrics.jsonl", "report.html"})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  const Json res = json_load(out + "/training_result.json");
  EXPECT_EQ(res["schema"], "mc.train.run.v1");
  EXPECT_EQ(Json::parse(r.out)["schema"], "mc.train.run.v1");
  EXPECT_EQ(r.exit_code == 0, res["pipeline_gate_passed"].get<bool>());
  EXPECT_EQ(json_load(out + "/mc_manifest.json")["gate"], r.exit_code == 0 ? "passed" : "failed");
  EXPECT_TRUE(res["spectral_bounds_ok"].get<bool>());
  EXPECT_LE(res["max_spectral_ratio"].get<double>(), 1.0 + kBoundTolerance);
  EXPECT_GT(res["steps"].get<int>(), 0);
  for (const Json& ep : res["epoch_metrics"])
    for (const auto& [module, ratio] : ep["saturation"].items())
      EXPECT_LE(ratio.get<double>(), 1.0 + kBoundTolerance) << module << " at epoch " << ep["epoch_end"];

  // Recompute every module's ‖ΔW‖₂ from the saved adapter and hold it against its reachable budget
  // scale_bound = (σ_k/2)(1 − √ε) (DECISIONS #1; the Cayley factors give ‖ΔW‖₂ ≤ max S, docs/decisions.md).
  const Json plan = json_load(out + "/training_plan.json");
  const Json& geo = plan["adaptation_surface"]["module_geometry"];
  const Model m = Model::load(model);
  const LoraSet lora = lora_load_peft(out, m.arch(), m.config());
  ASSERT_EQ(static_cast<int64_t>(lora.modules.size()), plan["adaptation_surface"]["target_module_count"].get<int64_t>());
  double max_ratio = 0;
  for (const LoraWeights& w : lora.modules) {
    SCOPED_TRACE(w.module);
    const Json& g = geo.at(w.module + ".weight");
    ASSERT_EQ(g["rank"], w.r);
    geometry::MatrixD dw(w.out, w.in);  // scale · B A
    for (int64_t i = 0; i < w.out; ++i)
      for (int64_t k = 0; k < w.r; ++k) {
        const double b = static_cast<double>(w.scale) * w.B[i * w.r + k];
        for (int64_t j = 0; j < w.in; ++j) dw(i, j) += b * w.A[k * w.in + j];
      }
    const double norm = geometry::singular_values(dw.view()).front();
    const double budget = g["scale_bound"].get<double>();
    EXPECT_LE(norm, g["sigma_k"].get<double>()) << "Weyl: the adapter may not move the base spectrum past sigma_k";
    EXPECT_LE(norm / budget, 1.0 + kBoundTolerance);
    max_ratio = std::max(max_ratio, norm / budget);
  }
  EXPECT_NEAR(max_ratio, res["max_spectral_ratio"].get<double>(), 1e-4 * std::max(1.0, max_ratio))
      << "the result's ratio is the saved adapter's";

  const std::string page = test::read_bytes(out + "/report.html");
  EXPECT_TRUE(has(page, "MASS step size")) << "the report plots the MASS step sizes";
  for (const char* s : {"η_step", "η_ceiling", "η_sps", "η_weyl"}) EXPECT_TRUE(has(page, s)) << s;
}

TEST_F(CliTrain, DerivedRunNeedsEnoughRecordsForTheEvalSplit) {
  const std::string data = chat_data("two.jsonl", 0, 2);
  const std::set<std::string> before = tree(tmp.path.string());
  auto r = run_mc("train run -m " + model + " -d " + data + " --quiet --threads 1");
  expect_one_line_error(r, "too few");
  EXPECT_TRUE(has(r.err, "--eval-data")) << r.err;
  EXPECT_FALSE(fs::exists(tmp / "adapters"));
  EXPECT_EQ(tree(tmp.path.string()), before);
}

}  // namespace
}  // namespace mc

namespace mc {
namespace {

TEST_F(CliTrain, ValidateDerivedRunsTrialsAndReportsEveryOne) {
  const std::string data = chat_data("chat.jsonl", 0, 24);
  const std::string report = tmp / "validate.json";
  auto r = run_mc("train validate-derived -m " + model + " -d " + data +
                  " --trials 2 --max-steps 3 --no-fail --threads 1 --json --report " + report);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json rep = Json::parse(r.out);
  EXPECT_EQ(rep["schema"], "mc.train.validate-derived.v1");
  ASSERT_EQ(rep["trials"].size(), 2u);
  EXPECT_NE(rep["trials"][0]["seed"], rep["trials"][1]["seed"]) << "each trial has its own seed";
  for (const Json& t : rep["trials"]) {
    EXPECT_LE(t["steps"].get<int64_t>(), 3);
    EXPECT_LE(t["max_spectral_ratio"].get<double>(), 1.0 + kBoundTolerance);
    // a counterexample is exactly a trial with a violated invariant
    const bool violated = !t["violations"].empty();
    const bool listed = std::any_of(rep["counterexamples"].begin(), rep["counterexamples"].end(),
                                    [&](const Json& c) { return c["trial"] == t["trial"]; });
    EXPECT_EQ(violated, listed);
  }
  EXPECT_EQ(json_load(report), rep) << "--report writes the same document";
  EXPECT_FALSE(fs::exists(model + "/../adapters")) << "trials save nothing";
}

TEST_F(CliTrain, RetentionDataIsMixedInAndItsLossReported) {
  const std::string data = chat_data("chat.jsonl", 0, 16);
  const std::string eval = chat_data("eval.jsonl", 16, 22);
  const std::string retention = repetitive_data(6);
  const std::string out = tmp / "retained";
  ScopedEnv cap{"MC_TEST_MAX_STEPS", "2"};
  auto r = run_mc("train run -m " + model + " -d " + data + " --eval-data " + eval + " --retention-data " + retention +
                  " -o " + out + " --quiet --threads 1 --json");
  ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 4) << r.err;
  const Json res = json_load(out + "/training_result.json");
  EXPECT_EQ(res["n_retention"].get<int64_t>(), 6);
  EXPECT_TRUE(res["retention_loss_before"].is_number());
  EXPECT_TRUE(res["retention_loss_after"].is_number());
  EXPECT_EQ(res["steps"].get<int64_t>(), 2);
}

}  // namespace
}  // namespace mc

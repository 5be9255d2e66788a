// Training on SmolLM2-135M-Instruct (MC_REAL_MODEL_DIR, made by `mc model import-gguf`) through the mc
// binary, with 24 WordNet-style chat records ("What does "w" mean as a noun?" → a gloss) and 8 held-out
// ones written here:
//   - `mc train run-research` for 4 steps at lr 1e-3 lowers the held-out loss below the base model's
//     (training_result.json: eval_loss < base_eval_loss) — a short real run must learn something;
//   - `mc train run --plan-only` on the same data derives a rank in [1, min(in, out)] for every target.
// Skipped when the model directory is absent, unless MC_REQUIRE_REAL=1. The weight-spectrum cache goes
// to a temporary XDG_CACHE_HOME.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/json.h"
#include "test_util.h"

namespace mc {
namespace {

namespace fs = std::filesystem;
using test::run_mc;

// (word, gloss): the first 24 train, the last 8 are held out.
const std::vector<std::pair<const char*, const char*>> kWords = {
    {"ring", "A toroidal shape."},
    {"bank", "The sloping land beside a river."},
    {"bark", "The sound a dog makes."},
    {"bat", "A club used in baseball."},
    {"cell", "A small room in a prison."},
    {"date", "A particular day of the year."},
    {"fair", "A gathering with stalls and amusements."},
    {"file", "A steel tool for smoothing surfaces."},
    {"jam", "A preserve of fruit boiled with sugar."},
    {"key", "A metal piece that opens a lock."},
    {"light", "Electromagnetic radiation that can be seen."},
    {"match", "A short stick that lights when struck."},
    {"nail", "A thin pointed piece of metal."},
    {"park", "A large public green area."},
    {"pitch", "The highness or lowness of a sound."},
    {"rock", "A large mass of stone."},
    {"seal", "A sea mammal with flippers."},
    {"spring", "The season after winter."},
    {"tie", "A strip of cloth worn around the neck."},
    {"watch", "A small clock worn on the wrist."},
    {"well", "A deep hole dug to reach water."},
    {"wave", "A moving ridge on the sea."},
    {"yard", "A unit of length of three feet."},
    {"organ", "A part of the body with a function."},
    {"band", "A group of musicians."},
    {"bolt", "A metal pin with a thread."},
    {"club", "An association of people."},
    {"crane", "A tall machine for lifting."},
    {"duck", "A swimming bird with a flat bill."},
    {"fan", "A device that moves air."},
    {"glass", "A hard transparent material."},
    {"mine", "A pit for digging out ore."},
};
constexpr size_t kTrain = 24;

class TrainReal : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MC_REAL_MODEL_DIR;
    if (!fs::exists(dir_ + "/config.json") || !fs::exists(dir_ + "/tokenizer.json")) {
      const char* req = std::getenv("MC_REQUIRE_REAL");
      if (req && std::string(req) == "1") FAIL() << "MC_REQUIRE_REAL=1 but " << dir_ << " has no model";
      GTEST_SKIP() << dir_ << " not present (run `mc model import-gguf` first)";
    }
    if (const char* old = std::getenv("XDG_CACHE_HOME")) old_cache_ = old;
    setenv("XDG_CACHE_HOME", cache_.path.c_str(), 1);
    train_ = write_records("train.jsonl", 0, kTrain);
    eval_ = write_records("eval.jsonl", kTrain, kWords.size());
  }
  void TearDown() override {
    if (old_cache_) setenv("XDG_CACHE_HOME", old_cache_->c_str(), 1);
    else unsetenv("XDG_CACHE_HOME");
  }

  std::string write_records(const std::string& name, size_t from, size_t to) {
    std::string s;
    for (size_t i = from; i < to; ++i) {
      OrderedJson rec;
      rec["messages"] = OrderedJson::array(
          {{{"role", "user"}, {"content", std::string("What does \"") + kWords[i].first + "\" mean as a noun?"}},
           {{"role", "assistant"}, {"content", kWords[i].second}}});
      s += rec.dump() + "\n";
    }
    const std::string path = tmp_ / name;
    test::write_bytes(path, s);
    return path;
  }

  std::string dir_, train_, eval_;
  test::TempDir tmp_, cache_;
  std::optional<std::string> old_cache_;
};

TEST_F(TrainReal, ShortResearchRunLowersTheHeldOutLoss) {
  const std::string out = tmp_ / "run";
  auto r = run_mc("train run-research -m " + dir_ + " -d " + train_ + " --eval-data " + eval_ + " -o " + out +
                  " --steps 4 --batch-size 6 --lr 1e-3 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json res = json_load(out + "/training_result.json");
  EXPECT_EQ(res["steps"], 4);
  EXPECT_EQ(res["n_train"], 24);
  EXPECT_EQ(res["n_eval"], 8);
  const double base = res["base_eval_loss"].get<double>(), after = res["eval_loss"].get<double>();
  EXPECT_LT(after, base) << "4 steps at lr 1e-3 must lower the held-out loss";
  std::printf("  held-out loss %.4f -> %.4f, %.0f tokens/s\n", base, after, res["tokens_per_second"].get<double>());
  EXPECT_TRUE(fs::exists(out + "/adapter_model.safetensors"));
}

TEST_F(TrainReal, PlanRanksAreWithinEachMatrix) {
  auto r = run_mc("train run -m " + dir_ + " -d " + train_ + " --eval-data " + eval_ + " --plan-only --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json plan = Json::parse(r.out);
  const Json& as = plan["adaptation_surface"];
  ASSERT_GE(as["target_module_count"].get<int>(), 1);
  EXPECT_EQ(as["per_module_ranks"].size(), as["target_module_count"].get<size_t>());
  EXPECT_EQ(plan["hyperparameters"].size(), 15u);
  for (const auto& [name, rank] : as["per_module_ranks"].items()) {
    SCOPED_TRACE(name);
    const Json& g = as["module_geometry"].at(name);
    const int64_t out = g["shape"][0].get<int64_t>(), in = g["shape"][1].get<int64_t>();
    EXPECT_GE(rank.get<int64_t>(), 1);
    EXPECT_LE(rank.get<int64_t>(), std::min(in, out));
    EXPECT_EQ(g["rank"], rank);
    EXPECT_TRUE(g["targeted"].get<bool>());
  }
  EXPECT_FALSE(fs::exists(fs::path(dir_).parent_path() / "adapters" /
                          fs::path(plan["inputs"]["output_path"].get<std::string>()).filename()))
      << "--plan-only creates no directory";
}

}  // namespace
}  // namespace mc

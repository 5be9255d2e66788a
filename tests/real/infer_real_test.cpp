// `mc infer run` / `mc infer chat` on SmolLM2-135M-Instruct (MC_REAL_MODEL_DIR, made by `mc model
// import-gguf`) against transformers 5.23 loading the same directory (bf16 weights as float32, eager
// attention): chat-templated prompts, greedy generate() of 24 new tokens (tests/data/infer/smollm2_chat.json
// from `tools/gen_infer_goldens.py --real`). Rendered prompt, prompt ids, new ids and text must be equal.
// Skipped when the model directory is absent, unless MC_REQUIRE_REAL=1.
#include <gtest/gtest.h>

#include <algorithm>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/json.h"
#include "kernels/gemm.h"
#include "test_util.h"

namespace mc {
namespace {

using test::run_mc;

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

class InferReal : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MC_REAL_MODEL_DIR;
    if (!std::filesystem::exists(dir_ + "/config.json") || !std::filesystem::exists(dir_ + "/tokenizer.json")) {
      const char* req = std::getenv("MC_REQUIRE_REAL");
      if (req && std::string(req) == "1") FAIL() << "MC_REQUIRE_REAL=1 but " << dir_ << " has no model";
      GTEST_SKIP() << dir_ << " not present (run `mc model import-gguf` first)";
    }
    golden_ = json_load(test::data_path("infer/smollm2_chat.json"));
  }
  /// `mc infer run --json` on golden case c with extra options; fails the test unless it exits 0.
  Json run_case(const Json& c, const std::string& extra) {
    std::string args = "infer run -m " + dir_ + " --prompt " + quote(c["prompt"].get<std::string>()) +
                       " --max-tokens " + std::to_string(c["max_new_tokens"].get<int>()) + " --json" + extra;
    if (!c["system"].is_null()) args += " --system " + quote(c["system"].get<std::string>());
    auto r = run_mc(args);
    EXPECT_EQ(r.exit_code, 0) << c["name"].get<std::string>() << ": " << r.err;
    return r.exit_code == 0 ? Json::parse(r.out) : Json::object();
  }

  std::string dir_;
  Json golden_;
};

TEST_F(InferReal, GreedyChatRepliesMatchTransformers) {
  // --dtype f32: the exact reference arithmetic (the golden is transformers in fp32)
  for (const Json& c : golden_["cases"]) {
    const std::string name = c["name"].get<std::string>();
    const Json j = run_case(c, " --dtype f32");
    if (j.empty()) continue;
    EXPECT_EQ(j["rendered_prompt"], c["rendered"]) << name;
    EXPECT_EQ(j["prompt_ids"], c["prompt_ids"]) << name;
    EXPECT_EQ(j["token_ids"], c["new_ids"]) << name << " (transformers' smallest top-1/top-2 gap "
                                            << c["min_gap"].get<double>() << " of the logit scale)";
    EXPECT_EQ(j["text"], c["text"]) << name;
    EXPECT_EQ(j["stop_reason"], c["stop_reason"]) << name;
    EXPECT_EQ(j["eos_token_ids"], golden_["eos_token_ids"]);
    std::printf("  %-12s prefill %.0f tok/s, decode %.1f tok/s\n", name.c_str(),
                j["prefill_tokens_per_second"].get<double>(), j["decode_tokens_per_second"].get<double>());
  }
}

TEST_F(InferReal, DefaultBf16RepliesFollowTransformers) {
  // The default --dtype auto keeps this bf16 checkpoint in bf16 (on a CPU with AVX512-BF16). GEMM inputs
  // are then rounded to bf16 (~5e-3 of the logit scale), above transformers' closest top-1/top-2 gaps
  // (~4e-3, printed), so exact 24-token agreement is not guaranteed; the replies must start the same.
  for (const Json& c : golden_["cases"]) {
    const std::string name = c["name"].get<std::string>();
    const Json j = run_case(c, "");
    if (j.empty()) continue;
    EXPECT_EQ(j["dtype"], cpu_has_bf16() ? "bf16" : "f32");
    EXPECT_EQ(j["prompt_ids"], c["prompt_ids"]) << name;
    const auto& got = j["token_ids"];
    const auto& want = c["new_ids"];
    size_t same = 0;
    while (same < got.size() && same < want.size() && got[same] == want[same]) ++same;
    EXPECT_GE(same, std::min<size_t>(8, want.size())) << name << ": the bf16 reply leaves transformers' after " << same << " tokens";
    std::printf("  %-12s bf16: %zu of %zu tokens as transformers fp32; prefill %.0f tok/s, decode %.1f tok/s\n",
                name.c_str(), same, want.size(), j["prefill_tokens_per_second"].get<double>(),
                j["decode_tokens_per_second"].get<double>());
  }
}

TEST_F(InferReal, ChatWithPipedInputRepliesAndExits) {
  const Json& c = golden_["cases"][0];
  ASSERT_TRUE(c["system"].is_null());
  test::TempDir tmp;
  test::write_bytes(tmp / "in.txt", c["prompt"].get<std::string>() + "\n/exit\n");
  auto r = run_mc("infer chat -m " + dir_ + " --max-tokens " + std::to_string(c["max_new_tokens"].get<int>()) + " <" +
                  tmp / "in.txt");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, c["text"].get<std::string>() + "\n");

  test::write_bytes(tmp / "in.txt", "hello\n/exit\n");
  r = run_mc("infer chat -m " + dir_ + " --max-tokens 16 <" + tmp / "in.txt");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(r.out.size(), 1u);
  EXPECT_EQ(r.out.back(), '\n');
}

TEST_F(InferReal, TextModeStreamsTheSameText) {
  const Json& c = golden_["cases"][1];
  auto r = run_mc("infer run -m " + dir_ + " --prompt " + quote(c["prompt"].get<std::string>()) + " --max-tokens " +
                  std::to_string(c["max_new_tokens"].get<int>()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string text = c["text"].get<std::string>();
  EXPECT_EQ(r.out, text + (text.empty() || text.back() != '\n' ? "\n" : ""));
  EXPECT_NE(r.err.find("tok/s"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace mc

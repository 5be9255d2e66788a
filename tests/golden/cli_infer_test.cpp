// `mc infer run` and `mc infer chat` through the real binary on a fixture model directory built in a
// temporary directory: the tiny llama fixture (tests/data/hf/llama) plus the byte-level fixture tokenizer
// (tests/data/infer/tiny_tokenizer). Outputs are checked against transformers' generate() on the same
// directory (tests/data/infer/tiny_llama.json, tools/gen_infer_goldens.py); then the bad-input contract:
// exit code 1 and one line naming the problem (missing tokenizer, no chat template, prompt over the
// context, bad options, unsupported architecture).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/json.h"
#include "cli_test_util.h"

namespace mc {
namespace {

namespace fs = std::filesystem;
using test::run_mc;
using test::expect_one_line_error;

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}



// A model directory: the llama fixture's config and weights, optionally the fixture tokenizer.
struct FixtureModel {
  test::TempDir tmp;
  std::string dir;
  explicit FixtureModel(bool with_tokenizer = true) : dir(tmp / "model") {
    fs::create_directories(dir);
    for (const auto& e : fs::directory_iterator(test::data_path("hf/llama"))) fs::copy(e.path(), dir);
    if (with_tokenizer)
      for (const auto& e : fs::directory_iterator(test::data_path("infer/tiny_tokenizer"))) fs::copy(e.path(), dir);
  }
};

const Json& golden() {
  static const Json g = json_load(test::data_path("infer/tiny_llama.json"));
  return g;
}

const Json& golden_case(const std::string& name) {
  for (const Json& c : golden()["cases"])
    if (c["name"] == name) return c;
  throw std::runtime_error("no golden case " + name);
}

// The command-line arguments that reproduce a golden case.
std::string case_args(const Json& c) {
  std::string a = " --prompt " + quote(c["prompt"].get<std::string>()) +
                  " --max-tokens " + std::to_string(c["max_new_tokens"].get<int>());
  if (!c["system"].is_null()) a += " --system " + quote(c["system"].get<std::string>());
  if (c["raw"].get<bool>()) a += " --raw";
  if (c["repetition_penalty"].get<double>() != 1.0) a += " --repetition-penalty " + c["repetition_penalty"].dump();
  return a;
}

TEST(CliInferRun, JsonMatchesTransformersOnTheFixture) {
  FixtureModel m;
  for (const Json& c : golden()["cases"]) {
    const std::string name = c["name"].get<std::string>();
    auto r = run_mc("infer run -m " + m.dir + case_args(c) + " --json --threads 1");
    ASSERT_EQ(r.exit_code, 0) << name << ": " << r.err;
    Json j = Json::parse(r.out);
    EXPECT_EQ(j["schema"], "mc.infer.run.v1");
    EXPECT_EQ(j["model"], m.dir);
    EXPECT_EQ(j["prompt"], c["prompt"]);
    EXPECT_EQ(j["rendered_prompt"], c["rendered"]) << name;
    EXPECT_EQ(j["prompt_ids"], c["prompt_ids"]) << name;
    EXPECT_EQ(j["token_ids"], c["new_ids"]) << name;
    EXPECT_EQ(j["text"], c["text"]) << name;
    EXPECT_EQ(j["stop_reason"], c["stop_reason"]) << name;
    EXPECT_EQ(j["prompt_tokens"].get<size_t>(), c["prompt_ids"].size());
    EXPECT_EQ(j["new_tokens"].get<size_t>(), c["new_ids"].size());
    EXPECT_EQ(j["chat_template"].get<bool>(), !c["raw"].get<bool>());
    EXPECT_EQ(j["eos_token_ids"], golden()["eos_token_ids"]);
    EXPECT_FALSE(j["context_capped"].get<bool>());
    for (const char* k : {"prefill_tokens_per_second", "decode_tokens_per_second", "prefill_seconds", "decode_seconds"})
      EXPECT_TRUE(j[k].is_number()) << k;
    const Json& s = j["sampling"];
    EXPECT_EQ(s["temperature"].get<double>(), 0.0);
    EXPECT_TRUE(s["greedy"].get<bool>());
    EXPECT_EQ(s["repetition_penalty"].get<double>(), c["repetition_penalty"].get<double>());
    EXPECT_TRUE(r.err.empty()) << name << ": --json prints nothing else: " << r.err;
  }
}

TEST(CliInferRun, TextStreamsToStdoutAndStatsGoToStderr) {
  FixtureModel m;
  const Json& c = golden_case("raw_fox");
  auto r = run_mc("infer run -m " + m.dir + case_args(c));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string text = c["text"].get<std::string>();
  EXPECT_EQ(r.out, text + (text.empty() || text.back() != '\n' ? "\n" : ""));
  EXPECT_NE(r.err.find(std::to_string(c["prompt_ids"].size()) + " prompt + " + std::to_string(c["new_ids"].size()) +
                       " new tokens (stop: max_tokens)"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("tok/s"), std::string::npos) << r.err;
}

TEST(CliInferRun, StopStringsAreRepeatableAndCutTheText) {
  FixtureModel m;
  const Json& c = golden_case("raw_fox");
  const std::string full = c["text"].get<std::string>();
  const size_t dot = full.find('.');
  ASSERT_NE(dot, std::string::npos);
  auto r = run_mc("infer run -m " + m.dir + case_args(c) + " --stop 'zz' --stop=. --stop '--prompt' --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json j = Json::parse(r.out);
  EXPECT_EQ(j["stop"], Json::array({"zz", ".", "--prompt"}));
  EXPECT_EQ(j["stop_reason"], "stop_string");
  EXPECT_EQ(j["text"], full.substr(0, dot));
}

TEST(CliInferRun, SamplingIsReproducibleWithASeed) {
  FixtureModel m;
  const std::string base = "infer run -m " + m.dir + " --raw --prompt hello --max-tokens 24 -t 0.9 --top-k 50 "
                           "--top-p 0.95 --min-p 0.01 --json --seed ";
  auto a = run_mc(base + "11"), b = run_mc(base + "11"), d = run_mc(base + "12");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(d.exit_code, 0) << d.err;
  Json ja = Json::parse(a.out), jb = Json::parse(b.out), jd = Json::parse(d.out);
  EXPECT_EQ(ja["token_ids"], jb["token_ids"]);
  EXPECT_NE(ja["token_ids"], jd["token_ids"]);
  EXPECT_EQ(ja["sampling"]["seed"], 11);
  EXPECT_EQ(ja["sampling"]["top_k"], 50);
  EXPECT_FALSE(ja["sampling"]["greedy"].get<bool>());
}

TEST(CliInferRun, GenerationIsCappedAtTheContext) {
  FixtureModel m;
  // One token per byte, no BOS: 250 prompt tokens in a context of 256.
  auto r = run_mc("infer run -m " + m.dir + " --raw --prompt " + std::string(250, 'a') + " --max-tokens 20 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json j = Json::parse(r.out);
  EXPECT_EQ(j["prompt_tokens"], 250);
  EXPECT_TRUE(j["context_capped"].get<bool>());
  EXPECT_LE(j["new_tokens"].get<int>(), 6);
  if (j["stop_reason"] != "eos") {
    EXPECT_EQ(j["stop_reason"], "context");
  }
  EXPECT_NE(r.err.find("exceeds the context of 256"), std::string::npos) << r.err;
}

TEST(CliInferRun, PromptLongerThanTheContextIsExitOne) {
  FixtureModel m;
  auto r = run_mc("infer run -m " + m.dir + " --raw --prompt " + std::string(300, 'a'));
  expect_one_line_error(r, "longer than the model's context of 256");
}

TEST(CliInferRun, MissingTokenizerIsNamed) {
  FixtureModel m(false);
  auto r = run_mc("infer run -m " + m.dir + " --prompt hi");
  expect_one_line_error(r, "tokenizer.json not found");
  r = run_mc("infer chat -m " + m.dir + " </dev/null");
  expect_one_line_error(r, "tokenizer.json not found");
}

TEST(CliInferRun, BadOptionsAreExitOne) {
  FixtureModel m;
  const std::string base = "infer run -m " + m.dir + " --prompt hi ";
  expect_one_line_error(run_mc(base + "--temperature -1"), "--temperature");
  expect_one_line_error(run_mc(base + "--top-p 1.5"), "--top-p");
  expect_one_line_error(run_mc(base + "--min-p 2"), "--min-p");
  expect_one_line_error(run_mc(base + "--top-k -3"), "--top-k");
  expect_one_line_error(run_mc(base + "--repetition-penalty 0"), "--repetition-penalty");
  expect_one_line_error(run_mc(base + "--max-tokens 0"), "--max-tokens");
  expect_one_line_error(run_mc(base + "--stop ''"), "--stop");
  expect_one_line_error(run_mc(base + "--bogus"), "unknown option");
  expect_one_line_error(run_mc(base + "--raw --system x"), "--system");
  expect_one_line_error(run_mc("infer run -m " + m.dir), "--prompt");
  expect_one_line_error(run_mc("infer run --prompt hi"), "-m MODEL");
  expect_one_line_error(run_mc("infer run -m " + m.tmp / "nope" + " --prompt hi"), "no such model directory");
}

TEST(CliInferRun, UnsupportedArchitectureIsExitOne) {
  FixtureModel m;
  Json cfg = json_load(m.dir + "/config.json");
  cfg["model_type"] = "gpt2";
  test::write_bytes(m.dir + "/config.json", cfg.dump());
  auto r = run_mc("infer run -m " + m.dir + " --prompt hi");
  expect_one_line_error(r, "gpt2");
}

TEST(CliInferRun, HelpListsEveryOption) {
  auto r = run_mc("infer run --help");
  ASSERT_EQ(r.exit_code, 0);
  for (const char* o : {"--model", "--prompt", "--system", "--raw", "--max-tokens", "--temperature", "--top-k", "--top-p",
                        "--min-p", "--repetition-penalty", "--seed", "--stop", "--json", "--threads", "--chat-template"})
    EXPECT_NE(r.out.find(o), std::string::npos) << o;
  r = run_mc("infer chat --help");
  ASSERT_EQ(r.exit_code, 0);
  for (const char* o : {"--model", "--system", "--max-tokens", "--temperature", "--top-k", "--top-p", "--min-p",
                        "--repetition-penalty", "--seed", "--stop", "--threads", "/reset", "/exit"})
    EXPECT_NE(r.out.find(o), std::string::npos) << o;
  r = run_mc("--help");
  EXPECT_NE(r.out.find("infer run"), std::string::npos);
  EXPECT_NE(r.out.find("infer chat"), std::string::npos);
}

TEST(CliInferChat, PipedInputGivesTheSameReplyAsRun) {
  FixtureModel m;
  const Json& c = golden_case("chat_hello");
  test::write_bytes(m.tmp / "in.txt", "hello\n/exit\nnever read\n");
  auto r = run_mc("infer chat -m " + m.dir + " --max-tokens 40 <" + m.tmp / "in.txt");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, c["text"].get<std::string>() + "\n");
  EXPECT_EQ(r.err.find("mc: error"), std::string::npos) << r.err;
}

TEST(CliInferChat, ResetForgetsTheConversationAndEofEndsCleanly) {
  FixtureModel m;
  const std::string reply = golden_case("chat_hello")["text"].get<std::string>() + "\n";
  // Turn 2 continues the conversation; after /reset turn 3 starts over and repeats turn 1 (greedy).
  test::write_bytes(m.tmp / "in.txt", "hello\n\nhello\n/reset\nhello");  // no final newline: EOF ends
  auto r = run_mc("infer chat -m " + m.dir + " --max-tokens 40 <" + m.tmp / "in.txt");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_GE(r.out.size(), 2 * reply.size());
  EXPECT_EQ(r.out.substr(0, reply.size()), reply);
  EXPECT_EQ(r.out.substr(r.out.size() - reply.size()), reply);
  EXPECT_NE(r.out, reply + reply + reply) << "turn 2 sees the history, so it differs";
  EXPECT_NE(r.err.find("conversation cleared"), std::string::npos) << r.err;
}

TEST(CliInferChat, SystemMessageMatchesRun) {
  FixtureModel m;
  const Json& c = golden_case("chat_system");
  test::write_bytes(m.tmp / "in.txt", c["prompt"].get<std::string>() + "\n");
  auto r = run_mc("infer chat -m " + m.dir + " --system " + quote(c["system"].get<std::string>()) +
                  " --max-tokens 40 <" + m.tmp / "in.txt");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, c["text"].get<std::string>() + "\n");
}

TEST(CliInferChat, WithoutAChatTemplateSuggestsRunRaw) {
  FixtureModel m;
  Json cfg = json_load(m.dir + "/tokenizer_config.json");
  cfg.erase("chat_template");
  test::write_bytes(m.dir + "/tokenizer_config.json", cfg.dump());
  auto r = run_mc("infer chat -m " + m.dir + " </dev/null");
  expect_one_line_error(r, "mc infer run --raw");
  // run falls back to the raw prompt and says so.
  r = run_mc("infer run -m " + m.dir + " --prompt hello --max-tokens 4 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(Json::parse(r.out)["chat_template"].get<bool>());
  EXPECT_NE(r.err.find("no chat template"), std::string::npos) << r.err;
  expect_one_line_error(run_mc("infer run -m " + m.dir + " --prompt hello --system x"), "no chat template");
}

}  // namespace
}  // namespace mc

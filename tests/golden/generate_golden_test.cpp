// The generation loop on the tiny llama fixture (tests/data/hf/llama, vocab 256, context 256) with the
// byte-level fixture tokenizer (tests/data/infer/tiny_tokenizer) against transformers' generate()
// (tests/data/infer/tiny_llama.json from tools/gen_infer_goldens.py): greedy ids, eos stop and text, with
// and without repetition penalty. Then what the oracle does not cover: streaming pieces add up to the
// text and are valid UTF-8, stop strings cut the text at their first occurrence, the context cap, the
// too-long prompt, per-seed reproducibility of sampling.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "io/chat_template/chat_template.h"
#include "io/dataset/model_tokenizer.h"
#include "model/generate.h"
#include "test_util.h"

namespace mc {
namespace {

std::vector<int32_t> ints(const Json& a) {
  std::vector<int32_t> v;
  for (const Json& x : a) v.push_back(x.get<int32_t>());
  return v;
}

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; k++)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

class GenerateGolden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = new Model(Model::load(test::data_path("hf/llama")));
    bundle_ = new ModelTokenizerBundle(ModelTokenizerBundle::load(test::data_path("infer/tiny_tokenizer")));
    golden_ = new Json(json_load(test::data_path("infer/tiny_llama.json")));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete bundle_;
    delete golden_;
  }
  GenerateOptions options(const Json& c) const {
    GenerateOptions o;
    o.max_new_tokens = c["max_new_tokens"].get<int64_t>();
    o.sampling.repetition_penalty = c["repetition_penalty"].get<double>();
    o.eos_ids = generation_eos_ids(test::data_path("hf/llama"), model_->config());
    return o;
  }
  const Json& find_case(const std::string& name) const {
    for (const Json& c : (*golden_)["cases"])
      if (c["name"] == name) return c;
    throw std::runtime_error("no golden case " + name);
  }
  GenerateResult run(const std::vector<int32_t>& prompt, const GenerateOptions& o, std::vector<std::string>* pieces) const {
    return generate(*model_, bundle_->tokenizer(), prompt, o, [&](std::string_view p) { pieces->emplace_back(p); });
  }

  static inline Model* model_ = nullptr;
  static inline ModelTokenizerBundle* bundle_ = nullptr;
  static inline Json* golden_ = nullptr;
};

TEST_F(GenerateGolden, EosIdsComeFromGenerationConfig) {
  EXPECT_EQ(generation_eos_ids(test::data_path("hf/llama"), model_->config()), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ((*golden_)["eos_token_ids"].get<std::vector<int64_t>>(), (std::vector<int64_t>{2, 3}));
}

TEST_F(GenerateGolden, PromptsRenderAndEncodeLikeTransformers) {
  for (const Json& c : (*golden_)["cases"]) {
    const std::string name = c["name"].get<std::string>();
    std::vector<int32_t> ids;
    if (c["raw"].get<bool>()) {
      ids = bundle_->tokenizer().encode(c["prompt"].get<std::string>(), true);
    } else {
      ChatInputs in;
      if (!c["system"].is_null()) in.messages.push_back({{"role", "system"}, {"content", c["system"]}});
      in.messages.push_back({{"role", "user"}, {"content", c["prompt"]}});
      in.add_generation_prompt = true;
      in.special_tokens = bundle_->special_tokens();
      ASSERT_NE(bundle_->chat_template(), nullptr);
      const std::string text = bundle_->chat_template()->render(chat_template_context(in));
      EXPECT_EQ(text, c["rendered"].get<std::string>()) << name;
      ids = bundle_->tokenizer().encode(text, false);
    }
    EXPECT_EQ(ids, ints(c["prompt_ids"])) << name;
  }
}

TEST_F(GenerateGolden, GreedyIdsTextAndStopMatchTransformers) {
  int n = 0;
  for (const Json& c : (*golden_)["cases"]) {
    const std::string name = c["name"].get<std::string>();
    std::vector<std::string> pieces;
    GenerateResult r = run(ints(c["prompt_ids"]), options(c), &pieces);
    EXPECT_EQ(r.tokens, ints(c["new_ids"])) << name;
    EXPECT_EQ(r.text, c["text"].get<std::string>()) << name;
    EXPECT_STREQ(stop_reason_name(r.stop_reason), c["stop_reason"].get<std::string>().c_str()) << name;
    EXPECT_EQ(r.new_tokens, static_cast<int64_t>(r.tokens.size()));
    EXPECT_EQ(r.prompt_tokens, static_cast<int64_t>(c["prompt_ids"].size()));
    EXPECT_EQ(r.decode_steps, r.new_tokens - 1) << "one forward pass per token after the first";
    EXPECT_FALSE(r.context_capped);
    std::string joined;
    for (const std::string& p : pieces) {
      EXPECT_FALSE(p.empty());
      joined += p;
    }
    EXPECT_EQ(joined, r.text) << name << ": the streamed pieces add up to the text";
    // Pieces before the last are cut on character boundaries; the fixture's random bytes produce many
    // incomplete sequences, which the decoder shows as U+FFFD until they are complete or broken.
    for (const std::string& p : pieces) EXPECT_TRUE(valid_utf8(p)) << name;
    n++;
  }
  EXPECT_GE(n, 5);
}

TEST_F(GenerateGolden, StopStringCutsAtItsFirstOccurrence) {
  const Json& c = find_case("raw_fox");
  const std::string full = c["text"].get<std::string>();
  const std::vector<int32_t> all_ids = ints(c["new_ids"]);
  // Stop strings: the first pair of printable ASCII bytes after byte 4, and the first printable ASCII
  // byte after the middle (its first occurrence may be earlier).
  auto printable = [&](size_t i) { return i < full.size() && full[i] > 0x20 && full[i] < 0x7F; };
  std::vector<std::string> stops;
  for (size_t i = 4; i + 1 < full.size() && stops.empty(); i++)
    if (printable(i) && printable(i + 1)) stops.push_back(full.substr(i, 2));
  for (size_t i = full.size() / 2; i < full.size() && stops.size() < 2; i++)
    if (printable(i)) stops.push_back(full.substr(i, 1));
  ASSERT_EQ(stops.size(), 2u) << "the golden text has no ASCII to stop at";
  for (const std::string& stop : stops) {
    const size_t first = full.find(stop);
    GenerateOptions o = options(c);
    o.stop_strings = {stop, "never appears \x01"};
    std::vector<std::string> pieces;
    GenerateResult r = run(ints(c["prompt_ids"]), o, &pieces);
    EXPECT_EQ(r.stop_reason, StopReason::StopString) << "stop '" << stop << "'";
    EXPECT_EQ(r.text, full.substr(0, first));
    std::string joined;
    for (const std::string& p : pieces) joined += p;
    EXPECT_EQ(joined, r.text);
    ASSERT_LE(r.tokens.size(), all_ids.size());
    EXPECT_TRUE(std::equal(r.tokens.begin(), r.tokens.end(), all_ids.begin())) << "the ids are a prefix of the full run";
  }
}

TEST_F(GenerateGolden, ContextCapsGeneration) {
  const int64_t n_ctx = model_->config().max_position_embeddings;
  ASSERT_EQ(n_ctx, 256);
  std::vector<int32_t> prompt;
  for (int i = 0; i < 250; i++) prompt.push_back(static_cast<int32_t>(40 + i % 50));
  GenerateOptions o;
  o.max_new_tokens = 20;  // no eos ids: only the context stops it
  std::vector<std::string> pieces;
  GenerateResult r = run(prompt, o, &pieces);
  EXPECT_TRUE(r.context_capped);
  EXPECT_EQ(r.token_budget, 6);
  EXPECT_EQ(r.new_tokens, 6);
  EXPECT_EQ(r.stop_reason, StopReason::Context);

  o.max_new_tokens = 6;  // fits exactly: not capped
  r = run(prompt, o, &pieces);
  EXPECT_FALSE(r.context_capped);
  EXPECT_EQ(r.stop_reason, StopReason::MaxTokens);

  prompt.resize(256);  // the context is full: nothing can be generated
  for (size_t i = 250; i < prompt.size(); i++) prompt[i] = 50;
  r = run(prompt, o, &pieces);
  EXPECT_EQ(r.new_tokens, 0);
  EXPECT_EQ(r.stop_reason, StopReason::Context);
}

TEST_F(GenerateGolden, PromptLongerThanTheContextIsABadInput) {
  std::vector<int32_t> prompt(257, 50);
  GenerateOptions o;
  try {
    std::vector<std::string> pieces;
    run(prompt, o, &pieces);
    FAIL() << "expected mc::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadInput);
    EXPECT_NE(std::string(e.what()).find("context of 256"), std::string::npos) << e.what();
  }
  EXPECT_THROW(run({}, o, nullptr), Error);
}

TEST_F(GenerateGolden, SamplingIsReproduciblePerSeed) {
  const Json& c = find_case("chat_hello");
  GenerateOptions o = options(c);
  o.eos_ids.clear();
  o.max_new_tokens = 30;
  o.sampling.temperature = 1.0;
  o.sampling.top_k = 100;
  o.sampling.seed = 7;
  std::vector<std::string> pieces;
  const std::vector<int32_t> a = run(ints(c["prompt_ids"]), o, &pieces).tokens;
  const std::vector<int32_t> b = run(ints(c["prompt_ids"]), o, &pieces).tokens;
  o.sampling.seed = 8;
  const std::vector<int32_t> d = run(ints(c["prompt_ids"]), o, &pieces).tokens;
  EXPECT_EQ(a, b);
  EXPECT_NE(a, d) << "near-uniform logits: another seed gives other tokens";
  EXPECT_NE(a, ints(c["new_ids"])) << "sampling differs from greedy";
}

TEST_F(GenerateGolden, ForwardOptionsArePassedThroughWithLogitsForcedToLast) {
  const Json& c = find_case("chat_system");
  GenerateOptions o = options(c);
  o.forward.logits = LogitsMode::None;
  o.forward.keep_acts = true;
  std::vector<std::string> pieces;
  GenerateResult r = run(ints(c["prompt_ids"]), o, &pieces);
  EXPECT_EQ(r.tokens, ints(c["new_ids"]));
}

}  // namespace
}  // namespace mc

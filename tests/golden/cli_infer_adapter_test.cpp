// `mc infer run --adapter` and `mc infer chat --adapter` through the real binary on the tiny llama fixture
// (tests/data/hf/llama + the byte-level fixture tokenizer, assembled in a temporary directory as in
// cli_infer_test.cpp) with the PEFT adapter tests/data/lora/peft_llama (rank and alpha patterns, all
// seven projections; tools/gen_lora_goldens.py). The generated ids must differ from the base model's and
// equal a greedy decode computed here with the library (Model::forward over the whole sequence each step,
// no KV cache, the adapter from lora_load_peft); chat must give the same reply as run. A missing,
// non-adapter or incompatible adapter directory is exit 1 with one line naming it.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/json.h"
#include "model/lora_io.h"
#include "model/transformer.h"
#include "cli_test_util.h"

namespace mc {
namespace {

namespace fs = std::filesystem;
using test::run_mc;
using test::expect_one_line_error;



// The llama fixture's config and weights plus the fixture tokenizer.
struct FixtureModel {
  test::TempDir tmp;
  std::string dir;
  FixtureModel() : dir(tmp / "model") {
    fs::create_directories(dir);
    for (const auto& e : fs::directory_iterator(test::data_path("hf/llama"))) fs::copy(e.path(), dir);
    for (const auto& e : fs::directory_iterator(test::data_path("infer/tiny_tokenizer"))) fs::copy(e.path(), dir);
  }
};

const std::string& adapter_dir() {
  static const std::string d = test::data_path("lora/peft_llama");
  return d;
}

// Greedy decoding with the library: the whole sequence is run through Model::forward at every step
// (no cache), so this shares nothing with generate() but the forward pass itself.
std::vector<int32_t> greedy_reference(const Model& model, const LoraSet* lora, std::vector<int32_t> seq,
                                      int64_t max_new, const std::vector<int64_t>& eos) {
  std::vector<int32_t> out;
  const int64_t V = model.config().vocab_size;
  Activations acts;
  ForwardOptions fo;
  fo.logits = LogitsMode::Last;
  fo.lora = lora;
  fo.training = false;
  for (int64_t t = 0; t < max_new; ++t) {
    model.forward(TokenBatch::from_sequences({seq}), acts, fo);
    const float* l = acts.logits.data();
    int32_t best = 0;
    for (int64_t v = 1; v < V; ++v)
      if (l[v] > l[best]) best = static_cast<int32_t>(v);
    out.push_back(best);
    seq.push_back(best);
    bool stop = false;
    for (int64_t e : eos) stop = stop || e == best;
    if (stop) break;
  }
  return out;
}

TEST(CliInferAdapter, RunAppliesThePeftAdapterAsTheLibraryDoes) {
  FixtureModel m;
  const int64_t n_new = 24;
  const std::string base_args = "infer run -m " + m.dir + " --raw --prompt 'the quick brown fox' --max-tokens " +
                                std::to_string(n_new) + " --json --threads 1";
  auto base = run_mc(base_args);
  auto adapted = run_mc(base_args + " --adapter " + adapter_dir());
  ASSERT_EQ(base.exit_code, 0) << base.err;
  ASSERT_EQ(adapted.exit_code, 0) << adapted.err;
  const Json jb = Json::parse(base.out), ja = Json::parse(adapted.out);
  EXPECT_TRUE(jb["adapter"].is_null());
  EXPECT_EQ(ja["adapter"], adapter_dir());
  ASSERT_EQ(ja["prompt_ids"], jb["prompt_ids"]);
  EXPECT_NE(ja["token_ids"], jb["token_ids"]) << "the adapter must change what is generated";

  const Model model = Model::load(m.dir);
  const LoraSet lora = lora_load_peft(adapter_dir(), model.arch(), model.config());
  ASSERT_FALSE(lora.empty());
  const auto prompt = ja["prompt_ids"].get<std::vector<int32_t>>();
  const auto eos = ja["eos_token_ids"].get<std::vector<int64_t>>();
  EXPECT_EQ(jb["token_ids"].get<std::vector<int32_t>>(), greedy_reference(model, nullptr, prompt, n_new, eos))
      << "the reference decoder reproduces the base model";
  EXPECT_EQ(ja["token_ids"].get<std::vector<int32_t>>(), greedy_reference(model, &lora, prompt, n_new, eos));

  // -a is the short form; the streamed text equals the JSON text.
  auto text = run_mc("infer run -m " + m.dir + " --raw --prompt 'the quick brown fox' --max-tokens " +
                     std::to_string(n_new) + " -a " + adapter_dir());
  ASSERT_EQ(text.exit_code, 0) << text.err;
  const std::string t = ja["text"].get<std::string>();
  EXPECT_EQ(text.out, t + (t.empty() || t.back() != '\n' ? "\n" : ""));
}

TEST(CliInferAdapter, ChatGivesTheSameReplyAsRunWithTheAdapter) {
  FixtureModel m;
  test::write_bytes(m.tmp / "in.txt", "hello\n/exit\n");
  auto run = run_mc("infer run -m " + m.dir + " --prompt hello --max-tokens 32 --json -a " + adapter_dir());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::string reply = Json::parse(run.out)["text"].get<std::string>() + "\n";
  auto chat = run_mc("infer chat -m " + m.dir + " --max-tokens 32 --adapter " + adapter_dir() + " <" + m.tmp / "in.txt");
  ASSERT_EQ(chat.exit_code, 0) << chat.err;
  EXPECT_EQ(chat.out, reply);
  auto plain = run_mc("infer chat -m " + m.dir + " --max-tokens 32 <" + m.tmp / "in.txt");
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_NE(plain.out, chat.out) << "the adapter must change the reply";
}

TEST(CliInferAdapter, MissingOrIncompatibleAdapterIsExitOne) {
  FixtureModel m;
  const std::string run = "infer run -m " + m.dir + " --raw --prompt hi --max-tokens 2 -a ";
  const std::string chat_in = " </dev/null";
  expect_one_line_error(run_mc(run + m.tmp / "nope"), "no such adapter directory");
  expect_one_line_error(run_mc("infer chat -m " + m.dir + " -a " + m.tmp / "nope" + chat_in), "no such adapter directory");
  // A directory that is not an adapter (the model directory itself).
  expect_one_line_error(run_mc(run + m.dir), "adapter_config.json");
  // LFM2's adapter names modules (conv.in_proj, feed_forward.w1, ...) a llama model does not have.
  auto lfm2 = run_mc(run + test::data_path("lora/peft_lfm2"));
  expect_one_line_error(lfm2, "peft_lfm2");
  // The llama adapter with one factor of the wrong shape: rank 4 on a 64-wide projection, cut to 32.
  const std::string bad = m.tmp / "bad_adapter";
  fs::create_directories(bad);
  fs::copy(adapter_dir() + "/adapter_config.json", bad + "/adapter_config.json");
  {
    Json cfg = json_load(bad + "/adapter_config.json");
    cfg["target_modules"] = Json::array({"q_proj"});
    cfg["rank_pattern"] = Json::object();
    cfg["alpha_pattern"] = Json::object();
    test::write_bytes(bad + "/adapter_config.json", cfg.dump());
  }
  // Hand-written safetensors: q_proj of layer 0 only, lora_A (4, 32) where the model needs (4, 64).
  auto tensor_bytes = [](size_t n) { return std::string(n * 4, '\0'); };
  const std::string header =
      R"({"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight":{"dtype":"F32","shape":[4,32],"data_offsets":[0,512]},)"
      R"("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight":{"dtype":"F32","shape":[64,4],"data_offsets":[512,1536]}})";
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i) file[static_cast<size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  file += header + tensor_bytes(4 * 32) + tensor_bytes(64 * 4);
  test::write_bytes(bad + "/adapter_model.safetensors", file);
  auto shape = run_mc(run + bad);
  expect_one_line_error(shape, "bad_adapter");
  expect_one_line_error(run_mc("infer chat -m " + m.dir + " -a " + bad + chat_in), "bad_adapter");
}

TEST(CliInferAdapter, HelpNamesTheOption) {
  for (const char* cmd : {"infer run --help", "infer chat --help"}) {
    auto r = run_mc(cmd);
    ASSERT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("--adapter"), std::string::npos) << cmd;
  }
}

}  // namespace
}  // namespace mc

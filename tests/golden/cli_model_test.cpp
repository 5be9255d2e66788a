// `mc model info` and `mc model import-gguf` through the real binary: output against the HF oracle's
// fixture description (tests/data/hf/expected.json, written by tools/gen_hf_fixtures.py from the
// instantiated transformers models), and the bad-input contract — exit code 1, one line naming the
// file and the problem, nothing left behind.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/json.h"
#include "cli_test_util.h"

namespace mc {
namespace {

using test::run_mc;
using test::expect_one_line_error;

// Number of lines in s (a trailing newline does not start a new line).


TEST(CliModelInfo, JsonMatchesTransformersFixtureForEveryArchitecture) {
  Json expected = json_load(test::data_path("hf/expected.json"));
  int checked = 0;
  for (const auto& [name, fx] : expected["fixtures"].items()) {
    std::string dir = test::data_path("hf/" + fx["weights"].get<std::string>());
    auto r = run_mc("model info --json " + dir);
    ASSERT_EQ(r.exit_code, 0) << name << ": " << r.err;
    Json j = Json::parse(r.out);
    EXPECT_EQ(j["schema"], "mc.model.info.v1");
    const Json& eff = fx["effective"];
    const Json& c = j["config"];
    EXPECT_EQ(c["model_type"], eff["model_type"]) << name;
    EXPECT_EQ(c["num_hidden_layers"], eff["num_hidden_layers"]) << name;
    EXPECT_EQ(c["hidden_size"], eff["hidden_size"]) << name;
    EXPECT_EQ(c["vocab_size"], eff["vocab_size"]) << name;
    uint64_t total = 0;
    for (const auto& t : fx["tensors"]) {
      uint64_t n = 1;
      for (const auto& d : t["shape"]) n *= d.get<uint64_t>();
      total += n;
    }
    EXPECT_EQ(j["parameters"]["total"].get<uint64_t>(), total) << name;
    EXPECT_EQ(j["tensor_count"].get<size_t>(), fx["tensors"].size()) << name;
    uint64_t by_group = 0;
    for (const char* g : {"embedding", "attention", "mlp", "norm", "conv", "lm_head", "other"})
      by_group += j["parameters"][g].get<uint64_t>();
    EXPECT_EQ(by_group, total) << name;
    EXPECT_EQ(j["parameters"]["other"].get<uint64_t>(), 0u) << name << ": every tensor belongs to a group";
    checked++;
  }
  EXPECT_GE(checked, 5);
}

TEST(CliModelInfo, TextOutputNamesTheEssentials) {
  auto r = run_mc("model info " + test::data_path("hf/llama"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* key : {"architecture", "layers", "hidden size", "heads", "FFN size", "vocab", "context length",
                          "RoPE", "tied embeddings", "dtypes", "parameters", "bytes on disk", "tokenizer",
                          "chat template"})
    EXPECT_NE(r.out.find(key), std::string::npos) << key;
  EXPECT_NE(r.out.find("llama3"), std::string::npos) << "the llama fixture uses llama3 RoPE scaling";
}

TEST(CliModelInfo, LfmAutoAdjustedFfnIsReported) {
  Json expected = json_load(test::data_path("hf/expected.json"));
  const Json& fx = expected["fixtures"]["lfm2_legacy"];
  auto r = run_mc("model info --json " + test::data_path("hf/" + fx["weights"].get<std::string>()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json j = Json::parse(r.out);
  EXPECT_EQ(j["config"]["ffn_dim"], fx["effective"]["ffn_dim"]);
}

TEST(CliModelInfo, HelpAndUsage) {
  auto h = run_mc("model info --help");
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("usage: mc model info"), std::string::npos);
  expect_one_line_error(run_mc("model info"), "cli", "missing argument PATH");
  expect_one_line_error(run_mc("model info a b"), "cli", "unexpected argument");
  expect_one_line_error(run_mc("model info --bogus x"), "cli", "unknown option '--bogus'");
  expect_one_line_error(run_mc("model frobnicate"), "cli", "unknown command");
}

TEST(CliModelInfo, BadInputIsOneLineExitOne) {
  test::TempDir tmp;
  expect_one_line_error(run_mc("model info " + (tmp / "nope")), "model", "no such file");

  std::filesystem::create_directories(tmp / "empty");
  expect_one_line_error(run_mc("model info " + (tmp / "empty")), "model", "config.json is missing");

  std::filesystem::create_directories(tmp / "badjson");
  test::write_bytes(tmp / "badjson/config.json", "{\"model_type\": \"llama\",");
  test::write_bytes(tmp / "badjson/model.safetensors", "");
  expect_one_line_error(run_mc("model info " + (tmp / "badjson")), "config", "badjson/config.json: invalid JSON");

  std::filesystem::create_directories(tmp / "gpt2");
  test::write_bytes(tmp / "gpt2/config.json", "{\"model_type\": \"gpt2\"}");
  expect_one_line_error(run_mc("model info " + (tmp / "gpt2")), "config", "unsupported model_type 'gpt2'");

  // A valid config with truncated weights.
  std::filesystem::create_directories(tmp / "trunc");
  std::filesystem::copy_file(test::data_path("hf/qwen3/config.json"), tmp / "trunc/config.json");
  std::string w = test::read_bytes(test::data_path("hf/qwen3/model.safetensors"));
  test::write_bytes(tmp / "trunc/model.safetensors", w.substr(0, w.size() / 2));
  expect_one_line_error(run_mc("model info " + (tmp / "trunc")), "safetensors", "model.safetensors");

  test::write_bytes(tmp / "x.bin", "hello");
  expect_one_line_error(run_mc("model info " + (tmp / "x.bin")), "model", "not a model");
  test::write_bytes(tmp / "x.gguf", "GGUF");
  expect_one_line_error(run_mc("model info " + (tmp / "x.gguf")), "gguf", "x.gguf");
}

TEST(CliImportGguf, BadInputLeavesNothingBehind) {
  test::TempDir tmp;
  test::write_bytes(tmp / "bad.gguf", std::string("GGUF\x03\0\0\0", 8));
  auto r = run_mc("model import-gguf " + (tmp / "bad.gguf") + " -o " + (tmp / "out"));
  expect_one_line_error(r, "gguf", "bad.gguf");
  EXPECT_FALSE(std::filesystem::exists(tmp / "out"));
  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(tmp.path)) entries += (void(e), 1);
  EXPECT_EQ(entries, 1u) << "no temporary directory may remain";

  expect_one_line_error(run_mc("model import-gguf " + (tmp / "bad.gguf")), "cli", "needs -o DIR");
  expect_one_line_error(run_mc("model import-gguf " + (tmp / "bad.gguf") + " -o " + (tmp / "o2") + " --dtype q8"),
                        "cli", "--dtype must be bf16 or f32");
}

}  // namespace
}  // namespace mc

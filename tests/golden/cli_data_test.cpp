// `mc data prepare` and `mc tokenize` end to end through the mc binary: exit codes, one-line errors,
// no output left behind on failure, --force, --json documents, and `mc tokenize --chat` reproducing a
// transformers reference example from tests/data/datasets/golden_qwen3.jsonl. The tests skip while the
// commands are not in the binary's command table yet.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "core/fs.h"
#include "core/json.h"
#include "test_util.h"

namespace mc {
namespace {

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

bool registered(const std::string& command) {
  test::RunResult r = test::run_mc(command + " --help");
  return r.exit_code == 0 && r.err.find("unknown command") == std::string::npos;
}

#define SKIP_UNLESS_REGISTERED(cmd) \
  if (!registered(cmd)) GTEST_SKIP() << "`mc " cmd "` is not registered in src/cli/commands.h yet"

std::string qwen3_dir() { return test::data_path("../../../shared/assets/tokenizers/qwen3"); }

size_t count_lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

TEST(CliDataPrepare, CsvToJsonlAndForce) {
  SKIP_UNLESS_REGISTERED("data prepare");
  test::TempDir dir;
  test::write_bytes(dir / "qa.csv", "q,a\n\"What is 2+2?\",4\n\"x, y\",\"say \"\"z\"\"\"\nempty,\n");
  const std::string out = dir / "qa.jsonl";
  test::RunResult r = test::run_mc("data prepare " + quote(dir / "qa.csv") + " -o " + quote(out) +
                                   " --prompt-column q --completion-column a");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("written    2 records"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(dir / "qa.csv:4: empty completion"), std::string::npos) << r.out;
  EXPECT_EQ(test::read_bytes(out), "{\"prompt\":\"What is 2+2?\",\"completion\":\"4\"}\n"
                                   "{\"prompt\":\"x, y\",\"completion\":\"say \\\"z\\\"\"}\n");
  // An existing output is never replaced without --force.
  test::write_bytes(out, "keep me\n");
  r = test::run_mc("data prepare " + quote(dir / "qa.csv") + " -o " + quote(out) + " --prompt-column q --completion-column a");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("mc: error: [dataset] "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  EXPECT_EQ(test::read_bytes(out), "keep me\n");
  r = test::run_mc("data prepare " + quote(dir / "qa.csv") + " -o " + quote(out) +
                   " --prompt-column q --completion-column a --force --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  OrderedJson j = OrderedJson::parse(r.out);
  EXPECT_EQ(j["schema"], "mc.data.prepare.v1");
  EXPECT_EQ(j["written"], 2);
  EXPECT_EQ(j["dropped"].size(), 1u);
  EXPECT_EQ(count_lines(test::read_bytes(out)), 2u);
}

TEST(CliDataPrepare, InvalidLineIsAnErrorUnlessSkipped) {
  SKIP_UNLESS_REGISTERED("data prepare");
  test::TempDir dir;
  const std::string src = dir / "d.jsonl", out = dir / "o.jsonl";
  test::write_bytes(src, "{\"text\": \"fine\"}\n{\"text\": 3}\n{\"messages\": [{\"role\": \"user\", \"content\": \"q\"},"
                         " {\"role\": \"assistant\", \"content\": \"a\"}]}\n");
  test::RunResult r = test::run_mc("data prepare " + quote(src) + " -o " + quote(out));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "mc: error: [dataset] " + src + ":2: 'text' must be a string, got a number\n");
  EXPECT_FALSE(path_exists(out));
  r = test::run_mc("data prepare " + quote(src) + " -o " + quote(out) + " --skip-invalid --model " + quote(qwen3_dir()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(src + ":2: 'text' must be a string"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tokens     min"), std::string::npos) << r.out;
  EXPECT_EQ(count_lines(test::read_bytes(out)), 2u);
  // Nothing left: an error, nothing written.
  test::write_bytes(dir / "e.jsonl", "{\"text\": \"  \"}\n");
  r = test::run_mc("data prepare " + quote(dir / "e.jsonl") + " -o " + quote(dir / "e.out.jsonl"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no records left"), std::string::npos) << r.err;
  EXPECT_FALSE(path_exists(dir / "e.out.jsonl"));
}

TEST(CliTokenize, TextIdsDecode) {
  SKIP_UNLESS_REGISTERED("tokenize");
  // Reference ids: transformers 5.23 AutoTokenizer (qwen3) on "Hello world" -> [9707, 1879].
  test::RunResult r = test::run_mc("tokenize -m " + quote(qwen3_dir()) + " 'Hello world' --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  OrderedJson j = OrderedJson::parse(r.out);
  EXPECT_EQ(j["schema"], "mc.tokenize.v1");
  EXPECT_EQ(j["ids"], OrderedJson::parse("[9707, 1879]"));
  r = test::run_mc("tokenize -m " + quote(qwen3_dir()) + " 'Hello world'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("9707"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("' world'"), std::string::npos) << r.out;
  r = test::run_mc("tokenize -m " + quote(qwen3_dir()) + " --decode 9707,1879");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Hello world\n");
  r = test::run_mc("tokenize 'Hello'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("mc: error: [cli] tokenize needs -m MODEL"), std::string::npos) << r.err;
}

TEST(CliTokenize, ChatShowsTheReferenceLossMask) {
  SKIP_UNLESS_REGISTERED("tokenize");
  // The first chat example of the qwen3 golden: transformers' ids and reference mask.
  std::ifstream f(test::data_path("datasets/golden_qwen3.jsonl"));
  std::string line;
  OrderedJson row;
  while (std::getline(f, line)) {
    OrderedJson j = OrderedJson::parse(line);
    if (j.contains("record") && j["record"].contains("messages")) {
      row = j;
      break;
    }
  }
  ASSERT_FALSE(row.is_null());
  test::TempDir dir;
  const std::string file = dir / "chat.jsonl";
  test::write_bytes(file, "{\"text\": \"first\"}\n" + row["record"].dump() + "\n");
  test::RunResult r = test::run_mc("tokenize -m " + quote(qwen3_dir()) + " --chat " + quote(file) + " --record 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  OrderedJson j = OrderedJson::parse(r.out);
  EXPECT_EQ(j["schema"], "mc.tokenize.chat.v1");
  EXPECT_EQ(j["record"], file + ":2");
  EXPECT_EQ(j["ids"], row["input_ids"]);
  std::string mask;
  for (const auto& b : j["loss_mask"]) mask += b.get<int>() ? '1' : '0';
  EXPECT_EQ(mask, row["loss_mask"].get<std::string>());
  r = test::run_mc("tokenize -m " + quote(qwen3_dir()) + " --chat " + quote(file) + " --record 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("carry the loss"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\xE2\x9F\xA6"), std::string::npos) << r.out;  // ⟦ opens a trained run
  r = test::run_mc("tokenize -m " + quote(qwen3_dir()) + " --chat " + quote(file) + " --record 3");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("holds 2 records"), std::string::npos) << r.err;
  r = test::run_mc("tokenize -m " + quote(qwen3_dir()) + " --count " + quote(file) + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  OrderedJson c = OrderedJson::parse(r.out);
  EXPECT_EQ(c["records"], 2);
  EXPECT_EQ(c["failed"].size(), 0u);
  EXPECT_GT(c["loss_tokens"].get<int>(), 0);
}

}  // namespace
}  // namespace mc

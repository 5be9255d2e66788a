// Malformed or unsupported tokenizer.json files and bad decode input: each is one mc::Error naming
// the file and the problem, never a crash or a silent mis-encode.
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/json.h"
#include "io/tokenizer/tokenizer.h"
#include "test_util.h"

namespace mc {
namespace {

Json base() {
  return Json::parse(R"({"version":"1.0","added_tokens":[],"normalizer":null,"pre_tokenizer":null,
    "post_processor":null,"decoder":null,
    "model":{"type":"BPE","dropout":null,"unk_token":null,"vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}})");
}

// Expects from_json(j) to throw an mc::Error whose message contains `needle`.
void expect_error(const Json& j, const std::string& needle) {
  try {
    Tokenizer::from_json(j, "bad.json");
    ADD_FAILURE() << "no error, expected: " << needle;
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find(needle), std::string::npos) << what;
    EXPECT_NE(what.find("[tokenizer] bad.json: "), std::string::npos) << what;
  }
}

TEST(TokenizerErrors, InvalidJsonFile) {
  test::TempDir dir;
  test::write_bytes(dir / "tokenizer.json", "{\"model\": ");
  try {
    Tokenizer::load(dir.path.string());  // a directory holding tokenizer.json
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("invalid JSON"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Tokenizer::load(dir / "missing.json"), Error);
}

TEST(TokenizerErrors, UnsupportedComponents) {
  Json j = base();
  j["model"]["type"] = "WordPiece";
  expect_error(j, "unsupported model 'WordPiece'");
  j = base();
  j["normalizer"] = {{"type", "BertNormalizer"}};
  expect_error(j, "unsupported normalizer 'BertNormalizer'");
  j = base();
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  expect_error(j, "unsupported pre_tokenizer 'Whitespace'");
  j = base();
  j["post_processor"] = {{"type", "Fancy"}};
  expect_error(j, "unsupported post_processor 'Fancy'");
  j = base();
  j["decoder"] = {{"type", "WordPiece"}};
  expect_error(j, "unsupported decoder 'WordPiece'");
  j = base();
  j["decoder"] = Json::parse(R"({"type":"Sequence","decoders":[{"type":"Fuse"},{"type":"CTC"}]})");
  expect_error(j, "unsupported decoder 'CTC'");
  j = base();
  j["pre_tokenizer"] = Json::parse(R"({"type":"Split","pattern":{"Regex":"a"},"behavior":"Sideways","invert":false})");
  expect_error(j, "unsupported split behavior 'Sideways'");
  j = base();
  j["model"]["dropout"] = 0.1;
  expect_error(j, "dropout");
}

TEST(TokenizerErrors, BadModel) {
  Json j = base();
  j["model"]["merges"] = {"a c"};
  expect_error(j, "merge 0 references token 'c' not in the vocabulary");
  j = base();
  j["model"]["merges"] = {"b a"};
  expect_error(j, "makes token 'ba' which is not in the vocabulary");
  j = base();
  j["model"]["merges"] = {"a b c"};
  expect_error(j, "not two tokens");
  j = base();
  j["model"]["merges"] = Json::parse(R"([["a"]])");
  expect_error(j, "merge 0 must be");
  j = base();
  j["model"]["vocab"]["x"] = -3;
  expect_error(j, "out of range");
  j = base();
  j["model"]["vocab"]["x"] = "7";
  expect_error(j, "integer id");
  j = base();
  j.erase("model");
  expect_error(j, "no 'model'");
  expect_error(Json::array(), "must be a JSON object");
  j = base();
  j["pre_tokenizer"] = Json::parse(R"({"type":"Split","pattern":{"Regex":"(unclosed"},"behavior":"Isolated","invert":false})");
  expect_error(j, "invalid regex");
  j = base();
  j["added_tokens"] = Json::parse(R"([{"id":3,"special":true}])");
  expect_error(j, "without 'content'");
  j = base();
  j["post_processor"] = Json::parse(R"({"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}}],
                                       "pair":[],"special_tokens":{}})");
  expect_error(j, "special token '<s>' is not in special_tokens");
}

TEST(TokenizerErrors, DecodeIdOutOfRange) {
  Tokenizer t = Tokenizer::from_json(base(), "ok.json");
  std::vector<int32_t> ids = {0, 3};
  EXPECT_THROW(t.decode(ids, false), Error);
  ids = {-1};
  EXPECT_THROW(t.decode(ids, false), Error);
  ids = {2, 0};
  EXPECT_EQ(t.decode(ids, false), "ab a");
}

}  // namespace
}  // namespace mc

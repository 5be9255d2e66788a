// Training data: UTF-8 validation, JSONL / JSON-array / CSV reading with file:line errors, record
// validation, tokenization rules and loss masks on a tiny byte-per-token tokenizer (so every expected
// id and mask bit follows by hand from the rules in io/dataset/tokenize.h), truncation and packing
// policies, length statistics and `mc data prepare` (library entry point data_prepare).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "io/dataset/csv.h"
#include "io/dataset/jsonl.h"
#include "io/dataset/model_tokenizer.h"
#include "io/dataset/prepare.h"
#include "io/dataset/record.h"
#include "io/dataset/tokenize.h"
#include "test_util.h"

namespace mc {
namespace {

// Runs `fn`, which must throw an mc::Error whose message contains every needle.
template <typename F>
void expect_error(F&& fn, const std::vector<std::string>& needles) {
  try {
    fn();
    ADD_FAILURE() << "no error, expected: " << needles.front();
  } catch (const Error& e) {
    std::string what = e.what();
    for (const std::string& n : needles) EXPECT_NE(what.find(n), std::string::npos) << what << "  (expected: " << n << ")";
  }
}

// --- UTF-8 ---------------------------------------------------------------------------------------------

TEST(DatasetUtf8, ValidAndInvalidSequences) {
  constexpr auto npos = std::string_view::npos;
  EXPECT_EQ(utf8_find_invalid(""), npos);
  EXPECT_EQ(utf8_find_invalid("plain ascii\n"), npos);
  EXPECT_EQ(utf8_find_invalid("caf\xC3\xA9 \xE6\x9D\xB1 \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF"), npos);  // é 東 😀 U+10FFFF
  EXPECT_EQ(utf8_find_invalid("ab\x80"), 2u);                 // lone continuation byte
  EXPECT_EQ(utf8_find_invalid("\xC0\x80"), 0u);               // overlong NUL
  EXPECT_EQ(utf8_find_invalid("x\xE0\x80\x80"), 1u);          // overlong 3-byte form
  EXPECT_EQ(utf8_find_invalid("\xED\xA0\x80"), 0u);           // surrogate U+D800
  EXPECT_EQ(utf8_find_invalid("\xF4\x90\x80\x80"), 0u);       // above U+10FFFF
  EXPECT_EQ(utf8_find_invalid("ok\xE2\x82"), 2u);             // truncated at the end
  EXPECT_EQ(utf8_find_invalid("\xF5\x80\x80\x80"), 0u);       // invalid lead byte
  EXPECT_EQ(utf8_find_invalid("\xE2\x28\xA1"), 0u);           // bad continuation
}

// --- JSONL records ---------------------------------------------------------------------------------------

TEST(DatasetJsonl, ReadsRecordsOfEveryKind) {
  test::TempDir dir;
  const std::string path = dir / "d.jsonl";
  test::write_bytes(path,
                    "{\"text\": \"hello\"}\r\n"
                    "\n"
                    "   \n"
                    "{\"prompt\": \"p\", \"completion\": \"c\", \"id\": 3}\n"
                    "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", \"content\": null,"
                    " \"tool_calls\": []}], \"tools\": [{\"type\": \"function\"}]}\n"
                    "{\"prompt\": [{\"role\": \"user\", \"content\": \"q\"}], \"completion\": [{\"role\": \"assistant\","
                    " \"content\": \"a\"}]}");
  LoadedRecords l = load_records(path, false);
  ASSERT_EQ(l.records.size(), 4u);
  EXPECT_EQ(l.lines, 4u);
  EXPECT_EQ(l.records[0].kind, RecordKind::Text);
  EXPECT_EQ(l.records[0].text, "hello");
  EXPECT_EQ(l.records[0].where, path + ":1");
  EXPECT_EQ(l.records[1].kind, RecordKind::PromptCompletion);
  EXPECT_EQ(l.records[1].where, path + ":4");
  EXPECT_FALSE(l.records[1].conversational());
  EXPECT_EQ(l.records[2].kind, RecordKind::Messages);
  EXPECT_TRUE(l.records[2].tools.is_array());
  EXPECT_TRUE(l.records[3].conversational());
  EXPECT_EQ(l.ignored_keys.at("id"), 1u);
  // Canonical form: only the record's own keys, in a fixed order.
  EXPECT_EQ(record_to_json(l.records[1]).dump(), R"({"prompt":"p","completion":"c"})");
  EXPECT_EQ(record_to_json(l.records[0]).dump(), R"({"text":"hello"})");
}

struct BadLine {
  std::string content;
  std::string needle;
};

TEST(DatasetJsonl, InvalidLinesNameFileAndLine) {
  const std::vector<BadLine> cases = {
      {"{\"text\": \"a\"", "invalid JSON"},
      {"{\"text\": \"a\"} {\"text\": \"b\"}", "invalid JSON"},
      // a number beyond double: nlohmann throws out_of_range, not parse_error (found by fuzz_dataset)
      {"{\"text\": \"a\", \"n\": 3002e000000000012554}", "invalid JSON (number overflow"},
      {"[1, 2]", "a record must be a JSON object, got a list"},
      {"{\"text\": 5}", "'text' must be a string, got a number"},
      {"{\"text\": null}", "'text' must be a string, got null"},
      {"{\"txt\": \"a\"}", "no 'text', 'messages' or 'prompt'/'completion' field"},
      {"{\"text\": \"a\", \"messages\": []}", "ambiguous record"},
      {"{\"prompt\": \"p\"}", "has 'prompt' but no 'completion'"},
      {"{\"completion\": \"c\"}", "has 'completion' but no 'prompt'"},
      {"{\"prompt\": \"p\", \"completion\": [{\"role\": \"assistant\", \"content\": \"c\"}]}", "must both be strings or both be message lists"},
      {"{\"messages\": {}}", "'messages' must be a list of messages, got an object"},
      {"{\"messages\": []}", "'messages' is an empty list"},
      {"{\"messages\": [\"hi\"]}", "messages[0] must be an object, got a string"},
      {"{\"messages\": [{\"content\": \"x\"}]}", "messages[0] has no 'role'"},
      {"{\"messages\": [{\"role\": 1, \"content\": \"x\"}]}", "messages[0].role must be a string"},
      {"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"assistant\"}]}", "messages[1] has no 'content'"},
      {"{\"messages\": [{\"role\": \"user\", \"content\": 3}]}", "messages[0].content must be a string, null or a list"},
      {"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tools\": {}}", "'tools' must be a list"},
      {"{\"text\": \"caf\xC3\"}", "invalid UTF-8 at column 14"},
      {"{\"text\": \"\xED\xA0\x80\"}", "invalid UTF-8"},
  };
  for (const BadLine& c : cases) {
    SCOPED_TRACE(c.content);
    test::TempDir dir;
    const std::string path = dir / "bad.jsonl";
    test::write_bytes(path, "{\"text\": \"ok\"}\n\n" + c.content + "\n{\"text\": \"after\"}\n");
    expect_error([&] { load_records(path, false); }, {"[dataset] " + path + ":3: ", c.needle});
    // With skip_invalid the line is reported and the others are kept.
    LoadedRecords l = load_records(path, true);
    ASSERT_EQ(l.invalid.size(), 1u);
    EXPECT_EQ(l.invalid[0].where, path + ":3");
    EXPECT_NE(l.invalid[0].reason.find(c.needle), std::string::npos) << l.invalid[0].reason;
    EXPECT_EQ(l.records.size(), 2u);
    EXPECT_EQ(l.lines, 3u);
  }
}

TEST(DatasetJsonl, EmptyFilesAreErrors) {
  test::TempDir dir;
  test::write_bytes(dir / "empty.jsonl", "");
  expect_error([&] { load_records(dir / "empty.jsonl", false); }, {"empty.jsonl: no records"});
  test::write_bytes(dir / "blank.jsonl", "\n  \n\r\n");
  expect_error([&] { load_records(dir / "blank.jsonl", true); }, {"blank.jsonl: no records"});
  expect_error([&] { load_records(dir / "missing.jsonl", false); }, {"missing.jsonl"});
  expect_error([&] { jsonl_read(dir / "empty.jsonl"); }, {"no records"});
}

TEST(DatasetJsonl, SkippedLinesKeepLineOrder) {
  test::TempDir dir;
  test::write_bytes(dir / "d.jsonl", "{\"text\": 1}\n{bad\n{\"text\": \"x\"}\n\xFF\n");
  LoadedRecords l = load_records(dir / "d.jsonl", true);
  ASSERT_EQ(l.invalid.size(), 3u);
  EXPECT_EQ(l.invalid[0].where, dir / "d.jsonl:1");
  EXPECT_EQ(l.invalid[1].where, dir / "d.jsonl:2");
  EXPECT_EQ(l.invalid[2].where, dir / "d.jsonl:4");
  EXPECT_EQ(l.records.size(), 1u);
}

TEST(DatasetJson, ArrayElementsGetTheirLines) {
  test::TempDir dir;
  const std::string path = dir / "d.json";
  test::write_bytes(path, "[\n  {\"text\": \"a, [b]\"},\n  {\n    \"prompt\": \"p\",\n    \"completion\": 7\n  },\n"
                          "  {\"text\": \"esc \\\" ]\"}\n]\n");
  expect_error([&] { load_records(path, false); }, {path + ":3: ", "got a string and a number"});
  LoadedRecords l = load_records(path, true);
  ASSERT_EQ(l.records.size(), 2u);
  EXPECT_EQ(l.records[0].where, path + ":2");
  EXPECT_EQ(l.records[1].where, path + ":7");
  EXPECT_EQ(l.records[1].text, "esc \" ]");
  EXPECT_EQ(json_array_element_lines("[1,\n[2, 3],\n{\"a\": [4]}, \"x\"]"), (std::vector<size_t>{1, 2, 3, 3}));
  EXPECT_TRUE(json_array_element_lines("[]").empty());

  test::write_bytes(dir / "obj.json", "{\"text\": \"a\"}");
  expect_error([&] { load_records(dir / "obj.json", false); }, {"must be a list of records"});
  test::write_bytes(dir / "broken.json", "[\n{\"text\": \"a\"},\n{\"text\": }\n]");
  expect_error([&] { load_records(dir / "broken.json", false); }, {"broken.json:3: invalid JSON"});
  test::write_bytes(dir / "huge.json", "[\n{\"text\": \"a\", \"n\": 1e999}\n]");
  expect_error([&] { load_records(dir / "huge.json", false); }, {"huge.json: invalid JSON (number overflow"});
  test::write_bytes(dir / "empty.json", "[]");
  expect_error([&] { load_records(dir / "empty.json", false); }, {"no records"});
}

TEST(DatasetRecords, DropReasons) {
  auto reason = [](const std::string& json) { return record_drop_reason(record_from_json(OrderedJson::parse(json), "x")); };
  EXPECT_EQ(reason(R"({"text": ""})").value_or(""), "empty text");
  EXPECT_EQ(reason(R"({"text": " \n\t"})").value_or(""), "text is only whitespace");
  EXPECT_FALSE(reason(R"({"text": "a"})"));
  EXPECT_EQ(reason(R"({"prompt": "p", "completion": ""})").value_or(""), "empty completion");
  EXPECT_FALSE(reason(R"({"prompt": "", "completion": "c"})"));
  EXPECT_NE(reason(R"({"messages": [{"role": "user", "content": "q"}]})"), std::nullopt);
  EXPECT_NE(reason(R"({"prompt": [{"role": "user", "content": "q"}], "completion": [{"role": "user", "content": "c"}]})"),
            std::nullopt);
  EXPECT_FALSE(reason(R"({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}]})"));
}

// --- CSV / TSV -------------------------------------------------------------------------------------------

TEST(DatasetCsv, Rfc4180Quoting) {
  auto rows = csv_parse("\xEF\xBB\xBF" "a,b,c\r\n"
                        "\"x, y\",\"he said \"\"hi\"\"\",\r\n"
                        "\n"
                        "\"multi\nline\",,\"\"\n"
                        "plain,\"\",last",
                        ',', "t.csv");
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].fields, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(rows[1].line, 2u);
  EXPECT_EQ(rows[1].fields, (std::vector<std::string>{"x, y", "he said \"hi\"", ""}));
  EXPECT_EQ(rows[2].line, 4u);
  EXPECT_EQ(rows[2].fields, (std::vector<std::string>{"multi\nline", "", ""}));
  EXPECT_EQ(rows[3].line, 6u);
  EXPECT_EQ(rows[3].fields, (std::vector<std::string>{"plain", "", "last"}));
  for (const auto& r : rows) EXPECT_TRUE(r.error.empty()) << r.error;
}

TEST(DatasetCsv, MalformedRecordsAndTsv) {
  auto rows = csv_parse("a,b\nx\"y,z\n\"q\"r,s\nok,1\n", ',', "t.csv");
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_NE(rows[1].error.find("quote inside an unquoted field"), std::string::npos);
  EXPECT_NE(rows[2].error.find("after the closing quote"), std::string::npos);
  EXPECT_EQ(rows[3].fields, (std::vector<std::string>{"ok", "1"}));
  EXPECT_EQ(rows[3].line, 4u);
  expect_error([] { csv_parse("a,b\n1,\"open\nstill open\n", ',', "t.csv"); }, {"t.csv:2: unterminated quoted field"});
  // TSV: tabs separate; a quote inside a field is an ordinary character, a leading one quotes.
  auto tsv = csv_parse("p\tc\nsay \"hi\"\t\"a\tb\"\n", '\t', "t.tsv");
  ASSERT_EQ(tsv.size(), 2u);
  EXPECT_EQ(tsv[1].fields, (std::vector<std::string>{"say \"hi\"", "a\tb"}));
}

// --- a tiny tokenizer: one token per byte ------------------------------------------------------------------

// GPT-2's printable-byte map, written here independently of mc's: byte -> the character that stands
// for it in ByteLevel vocabularies.
std::string byte_char(int b) {
  static std::vector<int> map = [] {
    std::vector<int> m(256);
    int n = 0;
    for (int x = 0; x < 256; x++) {
      bool printable = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
      m[static_cast<size_t>(x)] = printable ? x : 256 + n++;
    }
    return m;
  }();
  int cp = map[static_cast<size_t>(b)];
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

constexpr int32_t kBos = 256, kEos = 257, kImStart = 258, kImEnd = 259;

constexpr const char* kChatML =
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

// A model directory with a byte-level tokenizer whose ids are the byte values (no merges), added
// tokens <s> <\s> <|im_start|> <|im_end|> (256..259), bos <s> added by the post-processor (config
// add_bos_token), eos <|im_end|>, and a ChatML template.
std::string write_byte_model(const test::TempDir& dir, bool with_template = true, const std::string& tmpl = kChatML) {
  OrderedJson vocab = OrderedJson::object();
  for (int b = 0; b < 256; b++) vocab[byte_char(b)] = b;
  OrderedJson added = OrderedJson::array();
  int32_t id = kBos;
  for (const char* t : {"<s>", "</s>", "<|im_start|>", "<|im_end|>"})
    added.push_back({{"id", id++}, {"content", t}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                     {"normalized", false}, {"special", true}});
  OrderedJson tj = {{"version", "1.0"},
                    {"truncation", nullptr},
                    {"padding", nullptr},
                    {"added_tokens", added},
                    {"normalizer", nullptr},
                    {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
                    {"post_processor", nullptr},
                    {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
                    {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"vocab", vocab},
                               {"merges", OrderedJson::array()}}}};
  OrderedJson cfg = {{"add_bos_token", true}, {"add_eos_token", false}, {"bos_token", "<s>"}, {"eos_token", "<|im_end|>"},
                     {"tokenizer_class", "PreTrainedTokenizerFast"}};
  if (with_template) cfg["chat_template"] = tmpl;
  std::string d = dir / "model";
  std::filesystem::create_directories(d);
  test::write_bytes(d + "/tokenizer.json", tj.dump());
  test::write_bytes(d + "/tokenizer_config.json", cfg.dump());
  return d;
}

std::vector<int32_t> bytes_of(const std::string& s) {
  std::vector<int32_t> v;
  for (unsigned char c : s) v.push_back(c);
  return v;
}

std::vector<int32_t> cat(std::initializer_list<std::vector<int32_t>> parts) {
  std::vector<int32_t> v;
  for (const auto& p : parts) v.insert(v.end(), p.begin(), p.end());
  return v;
}

std::string mask_of(const TokenizedExample& ex) {
  std::string s;
  for (uint8_t b : ex.loss_mask) s += b ? '1' : '0';
  return s;
}

Record rec(const std::string& json) { return record_from_json(OrderedJson::parse(json), "r:1"); }

TEST(DatasetTokenize, BundleReadsTheModelFiles) {
  test::TempDir dir;
  ModelTokenizerBundle b = ModelTokenizerBundle::load(write_byte_model(dir));
  EXPECT_EQ(b.eos_token(), "<|im_end|>");
  EXPECT_EQ(b.eos_id(), kImEnd);
  EXPECT_NE(b.chat_template(), nullptr);
  EXPECT_EQ(b.special_tokens().dump(), R"({"bos_token":"<s>","eos_token":"<|im_end|>"})");
  // eos first, then the known end-of-turn tokens that are special tokens here.
  EXPECT_EQ(b.end_markers(), (std::vector<std::string>{"<|im_end|>", "</s>"}));
  EXPECT_EQ(b.token_bytes(' '), " ");
  EXPECT_EQ(b.token_bytes(0xE6), "\xE6");
  EXPECT_EQ(b.token_bytes(kImStart), "<|im_start|>");
  // add_bos_token in the config puts <s> before the text (TemplateProcessing).
  EXPECT_EQ(b.tokenizer().encode("ab", true), (std::vector<int32_t>{kBos, 'a', 'b'}));
  expect_error([&] { ModelTokenizerBundle::load(dir / "nowhere"); }, {"nowhere"});
  std::filesystem::create_directories(dir / "empty");
  expect_error([&] { ModelTokenizerBundle::load(dir / "empty"); }, {"no tokenizer.json"});
}

TEST(DatasetTokenize, TextRecordsTrainOnEveryToken) {
  test::TempDir dir;
  ModelTokenizerBundle b = ModelTokenizerBundle::load(write_byte_model(dir));
  TokenizedExample ex = tokenize_record(b, rec(R"({"text": "hi 東"})"));
  EXPECT_EQ(ex.input_ids, cat({{kBos}, bytes_of("hi \xE6\x9D\xB1"), {kImEnd}}));
  EXPECT_EQ(mask_of(ex), std::string(ex.input_ids.size(), '1'));
  EXPECT_EQ(ex.loss_tokens(), ex.input_ids.size() - 1);  // token 0 is never a target
  TokenizeOptions no_eos;
  no_eos.append_eos = false;
  EXPECT_EQ(tokenize_record(b, rec(R"({"text": "hi"})"), no_eos).input_ids, cat({{kBos}, bytes_of("hi")}));
  // eos already last: not doubled.
  EXPECT_EQ(tokenize_record(b, rec(R"({"text": "x<|im_end|>"})")).input_ids, cat({{kBos, 'x', kImEnd}}));
}

TEST(DatasetTokenize, PromptCompletionTrainsOnTheCompletion) {
  test::TempDir dir;
  ModelTokenizerBundle b = ModelTokenizerBundle::load(write_byte_model(dir));
  TokenizedExample ex = tokenize_record(b, rec(R"({"prompt": "Q?", "completion": " A."})"));
  EXPECT_EQ(ex.input_ids, cat({{kBos}, bytes_of("Q? A."), {kImEnd}}));
  EXPECT_EQ(mask_of(ex), "0001111");
  // As a chat: [user: prompt, assistant: completion] through the template.
  TokenizeOptions chat;
  chat.prompt_completion_as_chat = true;
  TokenizedExample c = tokenize_record(b, rec(R"({"prompt": "Q?", "completion": "A"})"), chat);
  EXPECT_EQ(c.input_ids, cat({{kImStart}, bytes_of("user\nQ?"), {kImEnd}, bytes_of("\n"), {kImStart},
                              bytes_of("assistant\nA"), {kImEnd}, bytes_of("\n")}));
  std::string m(c.input_ids.size(), '0');
  m[c.input_ids.size() - 3] = '1';  // A
  m[c.input_ids.size() - 2] = '1';  // <|im_end|>
  EXPECT_EQ(mask_of(c), m);
}

TEST(DatasetTokenize, ChatTrainsOnAssistantTurnsAndTheirEndToken) {
  test::TempDir dir;
  ModelTokenizerBundle b = ModelTokenizerBundle::load(write_byte_model(dir));
  const std::string msgs =
      R"([{"role": "system", "content": "S"}, {"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"},
          {"role": "user", "content": "u2"}, {"role": "assistant", "content": "a2"}])";
  TokenizedExample ex = tokenize_record(b, rec(R"({"messages": )" + msgs + "}"));
  auto turn = [](const std::string& role, const std::string& content) {
    return cat({{kImStart}, bytes_of(role + "\n" + content), {kImEnd}, bytes_of("\n")});
  };
  auto quiet = [](const std::string& role, const std::string& content) { return std::string(role.size() + content.size() + 4, '0'); };
  auto trained = [](const std::string& content) {  // <|im_start|>assistant\n + content + <|im_end|> + \n
    return std::string(11, '0') + std::string(content.size() + 1, '1') + "0";
  };
  EXPECT_EQ(ex.input_ids, cat({turn("system", "S"), turn("user", "u1"), turn("assistant", "a1"), turn("user", "u2"),
                               turn("assistant", "a2")}));
  EXPECT_EQ(mask_of(ex), quiet("system", "S") + quiet("user", "u1") + trained("a1") + quiet("user", "u2") + trained("a2"));
  // Conversational prompt/completion: only the completion's assistant turn.
  OrderedJson all = OrderedJson::parse(msgs);
  OrderedJson pc = {{"prompt", OrderedJson(all.begin(), all.end() - 1)}, {"completion", OrderedJson::array({all.back()})}};
  TokenizedExample p = tokenize_record(b, record_from_json(pc, "r:2"));
  EXPECT_EQ(p.input_ids, ex.input_ids);
  EXPECT_EQ(mask_of(p), quiet("system", "S") + quiet("user", "u1") + quiet("assistant", "a1") + quiet("user", "u2") +
                            trained("a2"));
  // The display path agrees and locates the trained text.
  TokenizedView v = tokenize_record_view(b, rec(R"({"messages": )" + msgs + "}"));
  EXPECT_EQ(v.example.loss_mask, ex.loss_mask);
  ASSERT_EQ(v.trained.size(), 2u);
  EXPECT_EQ(v.text.substr(v.trained[1].first, v.trained[1].second - v.trained[1].first), "a2<|im_end|>");
}

TEST(DatasetTokenize, ChatErrorsNameTheRecord) {
  test::TempDir dir;
  ModelTokenizerBundle none = ModelTokenizerBundle::load(write_byte_model(dir, false));
  expect_error([&] { tokenize_record(none, rec(R"({"messages": [{"role": "user", "content": "q"}]})")); },
               {"r:1: ", "no chat template"});
  TokenizeOptions chat;
  chat.prompt_completion_as_chat = true;
  expect_error([&] { tokenize_record(none, rec(R"({"prompt": "q", "completion": "a"})"), chat); }, {"no chat template"});
  test::TempDir dir2;
  ModelTokenizerBundle raising = ModelTokenizerBundle::load(
      write_byte_model(dir2, true, "{% if messages|length > 1 %}{{ raise_exception('only one message') }}{% endif %}x"));
  expect_error([&] {
    tokenize_record(raising, rec(R"({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})"));
  }, {"[chat_template] r:1: ", "only one message"});
}

// --- length policies, packing, statistics --------------------------------------------------------------

TokenizedExample example(std::vector<int32_t> ids, std::string mask) {
  TokenizedExample ex;
  ex.input_ids = std::move(ids);
  for (char c : mask) ex.loss_mask.push_back(c == '1');
  ex.where = "e";
  return ex;
}

TEST(DatasetLength, TruncateRightKeepsThePrompt) {
  SequencePolicy right{4, Truncation::Right};
  TokenizedExample ex = example({1, 2, 3, 4, 5, 6}, "000111");
  EXPECT_EQ(fit_to_length(ex, right), std::nullopt);
  EXPECT_EQ(ex.input_ids, (std::vector<int32_t>{1, 2, 3, 4}));
  EXPECT_EQ(mask_of(ex), "0001");
  // The prompt alone fills the length: nothing left to learn.
  TokenizedExample long_prompt = example({1, 2, 3, 4, 5, 6}, "000011");
  EXPECT_NE(fit_to_length(long_prompt, right).value_or("").find("no loss token within the first 4"), std::string::npos);
  // Short enough: unchanged.
  TokenizedExample fits = example({1, 2, 3}, "011");
  EXPECT_EQ(fit_to_length(fits, right), std::nullopt);
  EXPECT_EQ(fits.input_ids.size(), 3u);
  // No limit.
  TokenizedExample any = example({1, 2, 3, 4, 5}, "01111");
  EXPECT_EQ(fit_to_length(any, SequencePolicy{}), std::nullopt);
}

TEST(DatasetLength, DropPolicyAndEmptyLoss) {
  SequencePolicy drop{4, Truncation::Drop};
  TokenizedExample ex = example({1, 2, 3, 4, 5}, "00111");
  EXPECT_NE(fit_to_length(ex, drop).value_or("").find("5 tokens, longer than the sequence length 4"), std::string::npos);
  EXPECT_EQ(ex.input_ids.size(), 5u);  // untouched
  TokenizedExample fits = example({1, 2, 3, 4}, "0011");
  EXPECT_EQ(fit_to_length(fits, drop), std::nullopt);
  // Only token 0 set: it is never a target, so the example carries no loss.
  TokenizedExample first_only = example({1, 2}, "10");
  EXPECT_EQ(fit_to_length(first_only, SequencePolicy{}).value_or(""), "no token carries the loss");
}

TEST(DatasetPacking, GreedyInOrder) {
  std::vector<TokenizedExample> exs = {example({1, 2, 3}, "111"), example({4, 5}, "11"), example({6, 7, 8, 9}, "1111"),
                                       example({10}, "1")};
  std::vector<PackedSequence> p = pack_examples(exs, 6);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].input_ids, (std::vector<int32_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(p[0].position_ids, (std::vector<int32_t>{0, 1, 2, 0, 1}));
  EXPECT_EQ(p[0].example_starts, (std::vector<size_t>{0, 3}));
  EXPECT_EQ(p[0].examples, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(p[0].loss_mask, (std::vector<uint8_t>{0, 1, 1, 0, 1}));  // each example's first token cleared
  EXPECT_EQ(p[1].input_ids, (std::vector<int32_t>{6, 7, 8, 9, 10}));
  EXPECT_EQ(p[1].position_ids, (std::vector<int32_t>{0, 1, 2, 3, 0}));
  EXPECT_EQ(p[1].loss_mask, (std::vector<uint8_t>{0, 1, 1, 1, 0}));
  EXPECT_EQ(p[1].examples, (std::vector<size_t>{2, 3}));
  // An example longer than the sequence must be truncated first.
  expect_error([&] { pack_examples(exs, 3); }, {"4 tokens do not fit the packed sequence length 3"});
  expect_error([&] { pack_examples(exs, 0); }, {"positive sequence length"});
  EXPECT_TRUE(pack_examples({}, 8).empty());
}

TEST(DatasetStats, MedianAndNearestRankP95) {
  LengthStats odd = length_stats({5, 1, 3});
  EXPECT_EQ(odd.count, 3u);
  EXPECT_EQ(odd.total, 9u);
  EXPECT_EQ(odd.min, 1);
  EXPECT_EQ(odd.max, 5);
  EXPECT_EQ(odd.median, 3);
  EXPECT_EQ(odd.mean, 3);
  EXPECT_EQ(odd.p95, 5);
  EXPECT_EQ(length_stats({4, 1, 3, 2}).median, 2.5);
  std::vector<size_t> v;
  for (size_t i = 1; i <= 20; i++) v.push_back(i);
  EXPECT_EQ(length_stats(v).p95, 19);  // ceil(0.95 * 20) = 19th smallest
  v.push_back(21);
  EXPECT_EQ(length_stats(v).p95, 20);  // ceil(0.95 * 21) = 20
  EXPECT_EQ(length_stats({7}).p95, 7);
  EXPECT_EQ(length_stats({}).count, 0u);
}

// --- data prepare -------------------------------------------------------------------------------------------

std::vector<OrderedJson> read_jsonl(const std::string& path) {
  std::vector<OrderedJson> out;
  for (const JsonlLine& l : jsonl_read(path)) out.push_back(l.value);
  return out;
}

TEST(DataPrepare, CsvToPromptCompletion) {
  test::TempDir dir;
  test::write_bytes(dir / "qa.csv", "question,answer,id\n\"What is 2+2?\",4,1\n\"a, b\",\"say \"\"x\"\"\",2\nq3,,3\n");
  PrepareOptions o;
  o.src = dir / "qa.csv";
  o.out = dir / "qa.jsonl";
  o.prompt_column = "question";
  o.completion_column = "answer";
  PrepareReport r = data_prepare(o);
  EXPECT_EQ(r.format, "csv");
  EXPECT_EQ(r.read, 3u);
  EXPECT_EQ(r.written, 2u);
  ASSERT_EQ(r.dropped.size(), 1u);
  EXPECT_EQ(r.dropped[0].where, dir / "qa.csv:4");
  EXPECT_EQ(r.dropped[0].reason, "empty completion");
  auto out = read_jsonl(o.out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].dump(), R"({"prompt":"What is 2+2?","completion":"4"})");
  EXPECT_EQ(out[1].dump(), R"({"prompt":"a, b","completion":"say \"x\""})");
  EXPECT_EQ(r.chars.count, 2u);
  EXPECT_FALSE(r.tokens);
  // Never replaced without force; with force it is.
  expect_error([&] { data_prepare(o); }, {"already exists", "--force"});
  o.force = true;
  EXPECT_EQ(data_prepare(o).written, 2u);
  // Unknown column names are errors that list the header.
  o.prompt_column = "prompt";
  expect_error([&] { data_prepare(o); }, {"no column 'prompt'", "question, answer, id"});
}

TEST(DataPrepare, CsvInvalidRowsAndAutoColumns) {
  test::TempDir dir;
  test::write_bytes(dir / "t.tsv", "prompt\tcompletion\na\tb\nonly one field\nc\t\"d\"\n");
  PrepareOptions o;
  o.src = dir / "t.tsv";
  o.out = dir / "t.jsonl";
  expect_error([&] { data_prepare(o); }, {"t.tsv:3: 1 fields, the header has 2"});
  EXPECT_FALSE(path_exists(o.out));
  o.skip_invalid = true;
  PrepareReport r = data_prepare(o);
  EXPECT_EQ(r.written, 2u);
  ASSERT_EQ(r.invalid.size(), 1u);
  EXPECT_EQ(r.invalid[0].where, dir / "t.tsv:3");
  // A "text" column gives text records; no usable column is an error.
  test::write_bytes(dir / "x.csv", "text,other\nhello,1\n");
  PrepareOptions t;
  t.src = dir / "x.csv";
  t.out = dir / "x.jsonl";
  EXPECT_EQ(data_prepare(t).kinds.at("text"), 1u);
  test::write_bytes(dir / "y.csv", "a,b\n1,2\n");
  t.src = dir / "y.csv";
  t.out = dir / "y.jsonl";
  expect_error([&] { data_prepare(t); }, {"no 'prompt'/'completion' or 'text' columns"});
}

TEST(DataPrepare, TextParagraphsAndEmptyResult) {
  test::TempDir dir;
  test::write_bytes(dir / "a.md", "# Title\n\nFirst paragraph\nstill first.\r\n\n\n  \nSecond.\n");
  PrepareOptions o;
  o.src = dir / "a.md";
  o.out = dir / "a.jsonl";
  PrepareReport r = data_prepare(o);
  EXPECT_EQ(r.chunking, "paragraphs");
  auto out = read_jsonl(o.out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0]["text"], "# Title");
  EXPECT_EQ(out[1]["text"], "First paragraph\nstill first.");
  EXPECT_EQ(out[2]["text"], "Second.");
  // Nothing usable: an error, and no output file.
  test::write_bytes(dir / "e.jsonl", "{\"text\": \"\"}\n{\"prompt\": \"p\", \"completion\": \"\"}\n");
  PrepareOptions e;
  e.src = dir / "e.jsonl";
  e.out = dir / "e.out.jsonl";
  expect_error([&] { data_prepare(e); }, {"no records left to write", "2 dropped"});
  EXPECT_FALSE(path_exists(e.out));
  // Unknown formats, bad options.
  test::write_bytes(dir / "f.xml", "<a/>");
  e.src = dir / "f.xml";
  expect_error([&] { data_prepare(e); }, {"unknown source format '.xml'"});
  e.src = dir / "a.md";
  e.overlap = 600;
  expect_error([&] { data_prepare(e); }, {"--overlap"});
  e.overlap = 0;
  e.out = e.src;
  expect_error([&] { data_prepare(e); }, {"replace the source"});
}

TEST(DataPrepare, TokenChunksWithOverlap) {
  test::TempDir dir;
  std::string model = write_byte_model(dir);
  test::write_bytes(dir / "t.txt", "abcdefghij");  // one token per byte: 10 tokens
  PrepareOptions o;
  o.src = dir / "t.txt";
  o.out = dir / "t.jsonl";
  o.model = model;
  o.chunk_tokens = 4;
  o.overlap = 1;
  PrepareReport r = data_prepare(o);
  auto out = read_jsonl(o.out);
  ASSERT_EQ(out.size(), 3u);  // windows [0,4) [3,7) [6,10)
  EXPECT_EQ(out[0]["text"], "abcd");
  EXPECT_EQ(out[1]["text"], "defg");
  EXPECT_EQ(out[2]["text"], "ghij");
  ASSERT_TRUE(r.tokens);
  EXPECT_EQ(r.tokens->max, 6);  // <s> + 4 tokens + eos
  EXPECT_EQ(r.tokens->total, 18u);
  EXPECT_EQ(r.loss_tokens, 15u);
  // A multi-byte character is never cut: windows widen to whole characters.
  test::write_bytes(dir / "u.txt", "ab\xE6\x9D\xB1" "cd");
  o.src = dir / "u.txt";
  o.out = dir / "u.jsonl";
  o.chunk_tokens = 3;
  o.overlap = 0;
  data_prepare(o);
  auto u = read_jsonl(o.out);
  ASSERT_EQ(u.size(), 3u);  // byte windows [0,3) [3,6) [6,7)
  EXPECT_EQ(u[0]["text"], "ab\xE6\x9D\xB1");
  EXPECT_EQ(u[1]["text"], "\xE6\x9D\xB1" "c");
  EXPECT_EQ(u[2]["text"], "d");
}

TEST(DataPrepare, ModelChecksDropChatRecordsTheTemplateRejects) {
  test::TempDir dir;
  std::string model = write_byte_model(
      dir, true, "{% for m in messages %}{% if m.role == 'tool' %}{{ raise_exception('no tools') }}{% endif %}"
                 "{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}"
                 "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}");
  test::write_bytes(dir / "c.jsonl",
                    "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", \"content\": \"a\"}]}\n"
                    "{\"messages\": [{\"role\": \"tool\", \"content\": \"q\"}, {\"role\": \"assistant\", \"content\": \"a\"}]}\n"
                    "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}]}\n");
  PrepareOptions o;
  o.src = dir / "c.jsonl";
  o.out = dir / "c.out.jsonl";
  o.model = model;
  PrepareReport r = data_prepare(o);
  EXPECT_EQ(r.written, 1u);
  ASSERT_EQ(r.dropped.size(), 2u);
  EXPECT_EQ(r.dropped[0].where, dir / "c.jsonl:2");
  EXPECT_NE(r.dropped[0].reason.find("no tools"), std::string::npos) << r.dropped[0].reason;
  EXPECT_EQ(r.dropped[1].where, dir / "c.jsonl:3");
  EXPECT_EQ(r.loss_tokens, 2u);  // "a" and <|im_end|>
}

}  // namespace
}  // namespace mc

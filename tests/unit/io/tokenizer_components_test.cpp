// Tokenizer pipeline components on hand-made tokenizer.json snippets: BPE merges, byte fallback and
// unk, added tokens, each pre-tokenizer, normalizer, post-processor and decoder. Expected values are
// the `tokenizers` 0.23.3 results for the same snippets (its documentation examples where they exist,
// e.g. the Split behaviours on "the-final--countdown").
#include <gtest/gtest.h>

#include <thread>

#include "core/error.h"
#include "core/json.h"
#include "io/tokenizer/components.h"
#include "io/tokenizer/tokenizer.h"

namespace mc {
namespace {

using tok::Piece;

tok::JsonReader reader() {
  static const std::string src = "test.json";
  return tok::JsonReader{src};
}

std::vector<std::string> pre_tokenize(const std::string& spec, const std::string& text) {
  auto pt = tok::PreTokenizer::from_json(Json::parse(spec), reader());
  std::vector<Piece> pieces{Piece{text, -1, text.empty() ? 0u : 1u}};
  pt.pre_tokenize(pieces);
  std::vector<std::string> out;
  for (const Piece& p : pieces) out.push_back(p.text);
  return out;
}

std::string normalize(const std::string& spec, const std::string& text) {
  return tok::Normalizer::from_json(Json::parse(spec), reader()).normalize_str(text);
}

std::string decode_tokens(const std::string& spec, std::vector<std::string> tokens) {
  tok::Decoder::from_json(Json::parse(spec), reader()).decode_chain(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

using V = std::vector<std::string>;
using Ids = std::vector<int32_t>;

// A tokenizer.json with a BPE model over `vocab` and `merges`, plus optional top-level parts.
Json make_tokenizer(const Json& vocab, const Json& merges, const Json& extra = Json::object(),
                    const Json& model_extra = Json::object()) {
  Json j = {{"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}, {"added_tokens", Json::array()},
            {"normalizer", nullptr}, {"pre_tokenizer", nullptr}, {"post_processor", nullptr}, {"decoder", nullptr}};
  j["model"] = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"fuse_unk", false},
                {"byte_fallback", false}, {"vocab", vocab}, {"merges", merges}};
  for (auto it = model_extra.begin(); it != model_extra.end(); ++it) j["model"][it.key()] = it.value();
  for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
  return j;
}

TEST(TokenizerBpe, MergesByRankLeftmostFirst) {
  Json vocab = {{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"bc", 4}, {"abc", 5}, {"aa", 6}};
  // "b c" ranks before "a b": abc -> a + bc (then no merge a+bc exists)
  auto t1 = Tokenizer::from_json(make_tokenizer(vocab, {"b c", "a b", "a a"}), "t1");
  EXPECT_EQ(t1.encode("abc", false), (Ids{0, 4}));
  // the other order, and merges as pairs: abc -> ab + c -> abc
  auto t2 = Tokenizer::from_json(make_tokenizer(vocab, Json::parse(R"([["a","b"],["ab","c"],["a","a"]])")), "t2");
  EXPECT_EQ(t2.encode("abc", false), (Ids{5}));
  EXPECT_EQ(t2.encode("abcab", false), (Ids{5, 3}));
  // equal ranks resolve leftmost first: aaa -> aa + a
  EXPECT_EQ(t2.encode("aaa", false), (Ids{6, 0}));
  EXPECT_EQ(t2.decode(Ids{5, 3}, false), "abc ab");  // no decoder: tokens joined by spaces
  EXPECT_EQ(t2.vocab_size(), 7);
  EXPECT_EQ(t2.token_to_id("abc"), 5);
  EXPECT_EQ(t2.id_to_token(4), "bc");
  EXPECT_FALSE(t2.token_to_id("zz").has_value());
  EXPECT_FALSE(t2.id_to_token(99).has_value());
}

TEST(TokenizerBpe, IgnoreMergesTakesWholeWords) {
  Json vocab = {{"a", 0}, {"b", 1}, {"c", 2}, {"bc", 3}, {"abc", 4}};
  auto plain = Tokenizer::from_json(make_tokenizer(vocab, {"b c"}), "t");
  EXPECT_EQ(plain.encode("abc", false), (Ids{0, 3}));
  auto ignore = Tokenizer::from_json(make_tokenizer(vocab, {"b c"}, {}, {{"ignore_merges", true}}), "t");
  EXPECT_EQ(ignore.encode("abc", false), (Ids{4}));
}

TEST(TokenizerBpe, ByteFallbackAndUnk) {
  Json vocab = {{"<unk>", 0}, {"a", 1}, {"<0xC3>", 2}, {"<0xA9>", 3}};
  // é (C3 A9) falls back to its bytes; ü has no byte tokens (C3 BC) so it is unknown.
  auto t = Tokenizer::from_json(
      make_tokenizer(vocab, Json::array(), {}, {{"unk_token", "<unk>"}, {"byte_fallback", true}}), "t");
  EXPECT_EQ(t.encode("a\xC3\xA9" "a", false), (Ids{1, 2, 3, 1}));
  EXPECT_EQ(t.encode("\xC3\xBC\xC3\xBC" "a", false), (Ids{0, 0, 1}));
  auto fused = Tokenizer::from_json(make_tokenizer(vocab, Json::array(), {}, {{"unk_token", "<unk>"}, {"fuse_unk", true}}), "t");
  EXPECT_EQ(fused.encode("\xC3\xBC\xC3\xBC" "a\xC3\xBC", false), (Ids{0, 1, 0}));
  // no unk token: unknown characters vanish, as in the reference
  auto none = Tokenizer::from_json(make_tokenizer(vocab, Json::array()), "t");
  EXPECT_EQ(none.encode("a\xC3\xBC" "a", false), (Ids{1, 1}));
}

TEST(TokenizerBpe, ContinuingSubwordPrefixAndSuffix) {
  Json vocab = {{"a", 0}, {"##b", 1}, {"##c</w>", 2}, {"ab", 3}, {"abc</w>", 4}, {"c</w>", 5}};
  auto t = Tokenizer::from_json(make_tokenizer(vocab, {"a ##b", "ab ##c</w>"}, {},
                                               {{"continuing_subword_prefix", "##"}, {"end_of_word_suffix", "</w>"}}),
                                "t");
  EXPECT_EQ(t.encode("abc", false), (Ids{4}));
  EXPECT_EQ(t.encode("c", false), (Ids{5}));
}

TEST(TokenizerAddedTokens, SplitFirstWithOptions) {
  Json vocab = {{"a", 0}, {"b", 1}, {" ", 2}, {"x", 3}};
  Json added = Json::parse(R"([
    {"id": 4, "content": "<m>", "single_word": false, "lstrip": true, "rstrip": true, "normalized": false, "special": true},
    {"id": 5, "content": "ab", "single_word": true, "lstrip": false, "rstrip": false, "normalized": false, "special": false},
    {"id": 6, "content": "<m>x", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": false}
  ])");
  auto t = Tokenizer::from_json(make_tokenizer(vocab, Json::array(), {{"added_tokens", added}}), "t");
  // lstrip/rstrip swallow the spaces around <m>
  EXPECT_EQ(t.encode("a  <m>  b", false), (Ids{0, 4, 1}));
  // leftmost-longest: "<m>x" wins over "<m>"
  EXPECT_EQ(t.encode("a<m>xb", false), (Ids{0, 6, 1}));
  // single_word: "ab" only between non-word characters
  EXPECT_EQ(t.encode("ab ab", false), (Ids{5, 2, 5}));
  EXPECT_EQ(t.encode("xab", false), (Ids{3, 0, 1}));
  EXPECT_EQ(t.special_tokens(), (V{"<m>"}));
  EXPECT_TRUE(t.is_special_id(4));
  EXPECT_FALSE(t.is_special_id(5));
  EXPECT_EQ(t.decode(Ids{0, 4, 1}, false), "a <m> b");
  EXPECT_EQ(t.decode(Ids{0, 4, 1}, true), "a b");
  EXPECT_EQ(t.vocab_size(), 7);
}

TEST(TokenizerAddedTokens, IdsAssignedLikeTheReference) {
  // The file's "id" is not used: contents in the vocabulary keep their id, new ones follow it.
  Json vocab = {{"a", 0}, {"b", 1}};
  Json added = Json::parse(R"([
    {"id": 1000, "content": "XY", "special": false, "normalized": false},
    {"id": 20, "content": "ZW", "special": true, "normalized": false},
    {"id": 7, "content": "b", "special": false, "normalized": false}
  ])");
  auto t = Tokenizer::from_json(make_tokenizer(vocab, Json::array(), {{"added_tokens", added}}), "t");
  EXPECT_EQ(t.token_to_id("XY"), 2);
  EXPECT_EQ(t.token_to_id("ZW"), 3);
  EXPECT_EQ(t.token_to_id("b"), 1);
  EXPECT_EQ(t.encode("aXYbZW", false), (Ids{0, 2, 1, 3}));
}

TEST(TokenizerPreTokenizer, SplitBehaviours) {
  auto split = [](const char* behavior) {
    return pre_tokenize(std::string(R"({"type":"Split","pattern":{"String":"-"},"invert":false,"behavior":")") + behavior + "\"}",
                        "the-final--countdown");
  };
  EXPECT_EQ(split("Removed"), (V{"the", "final", "countdown"}));
  EXPECT_EQ(split("Isolated"), (V{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(split("MergedWithPrevious"), (V{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(split("MergedWithNext"), (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(split("Contiguous"), (V{"the", "-", "final", "--", "countdown"}));
  EXPECT_EQ(pre_tokenize(R"({"type":"Split","pattern":{"Regex":"[a-z]+"},"invert":true,"behavior":"Removed"})", "ab12cd3"),
            (V{"ab", "cd"}));
}

TEST(TokenizerPreTokenizer, RegexFollowsOniguruma) {
  const char* ws = R"({"type":"Split","pattern":{"Regex":"\\s+"},"invert":false,"behavior":"Isolated"})";
  EXPECT_EQ(pre_tokenize(ws, "a\xC2\x85" "b"), (V{"a", "\xC2\x85", "b"}));  // U+0085 is \s
  const char* ci = R"J({"type":"Split","pattern":{"Regex":"(?i:'s)"},"invert":false,"behavior":"Isolated"})J";
  EXPECT_EQ(pre_tokenize(ci, "IT'S it's"), (V{"IT", "'S", " it", "'s"}));
  const char* eol = R"({"type":"Split","pattern":{"Regex":"x$"},"invert":false,"behavior":"Isolated"})";
  EXPECT_EQ(pre_tokenize(eol, "x\nx"), (V{"x", "\n", "x"}));  // $ is an end-of-line anchor
}

TEST(TokenizerPreTokenizer, DigitsByteLevelMetaspaceWhitespace) {
  EXPECT_EQ(pre_tokenize(R"({"type":"Digits","individual_digits":true})", "a123b"), (V{"a", "1", "2", "3", "b"}));
  EXPECT_EQ(pre_tokenize(R"({"type":"Digits","individual_digits":false})", "a123b"), (V{"a", "123", "b"}));
  EXPECT_EQ(pre_tokenize(R"({"type":"ByteLevel","add_prefix_space":false,"use_regex":true})", "Hello  world's 123!"),
            (V{"Hello", "\xC4\xA0", "\xC4\xA0world", "'s", "\xC4\xA0" "123", "!"}));
  EXPECT_EQ(pre_tokenize(R"({"type":"ByteLevel","add_prefix_space":true,"use_regex":false})", "h\xC3\xA9llo"),
            (V{"\xC4\xA0h\xC3\x83\xC2\xA9llo"}));
  EXPECT_EQ(pre_tokenize(R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true})", "Hey  friend"),
            (V{"▁Hey", "▁", "▁friend"}));
  EXPECT_EQ(pre_tokenize(R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"never","split":true})", "Hey friend"),
            (V{"Hey", "▁friend"}));
  EXPECT_EQ(pre_tokenize(R"({"type":"WhitespaceSplit"})", "a \t b\xE3\x80\x80" "c"), (V{"a", "b", "c"}));
  EXPECT_EQ(pre_tokenize(R"({"type":"Sequence","pretokenizers":[{"type":"WhitespaceSplit"},{"type":"Digits","individual_digits":true}]})",
                         "ab12 c"),
            (V{"ab", "1", "2", "c"}));
}

TEST(TokenizerPreTokenizer, MetaspaceFirstOnlyPrependsAtTheStart) {
  // "first": only the split that starts the input gets the ▁ (here the one before <s> does, the
  // one after it does not).
  Json vocab = {{"▁a", 0}, {"a", 1}, {"<s>", 2}, {"▁", 3}};
  Json added = Json::parse(R"([{"id": 2, "content": "<s>", "special": true, "normalized": false}])");
  Json pre = Json::parse(R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false})");
  auto t = Tokenizer::from_json(make_tokenizer(vocab, {"▁ a"}, {{"added_tokens", added}, {"pre_tokenizer", pre}}), "t");
  EXPECT_EQ(t.encode("a<s>a", false), (Ids{0, 2, 1}));
}

TEST(TokenizerNormalizer, Forms) {
  EXPECT_EQ(normalize(R"({"type":"Sequence","normalizers":[{"type":"NFKC"},{"type":"Lowercase"}]})",
                      "\xEF\xAC\x81 \xC3\x85" "B \xC4\xB0"),  // ﬁ ÅB İ
            "fi \xC3\xA5" "b i\xCC\x87");
  EXPECT_EQ(normalize(R"({"type":"NFD"})", "\xC3\xA9"), "e\xCC\x81");
  EXPECT_EQ(normalize(R"({"type":"NFC"})", "e\xCC\x81"), "\xC3\xA9");
  EXPECT_EQ(normalize(R"({"type":"Sequence","normalizers":[{"type":"NFD"},{"type":"StripAccents"}]})",
                      "caf\xC3\xA9 \xE0\xA4\xB9\xE0\xA4\xBF"),  // café हि (Mc is stripped too)
            "cafe \xE0\xA4\xB9");
  EXPECT_EQ(normalize(R"({"type":"Strip","strip_left":true,"strip_right":true})", " \xE3\x80\x80hi\t "), "hi");
  EXPECT_EQ(normalize(R"({"type":"Prepend","prepend":"▁"})", "hi"), "▁hi");
  EXPECT_EQ(normalize(R"({"type":"Prepend","prepend":"▁"})", ""), "");
  EXPECT_EQ(normalize(R"({"type":"Replace","pattern":{"String":" "},"content":"▁"})", "a b  c"), "a▁b▁▁c");
  EXPECT_EQ(normalize(R"({"type":"Replace","pattern":{"Regex":"a+"},"content":"X"})", "baaab"), "bXb");
  EXPECT_EQ(normalize(R"({"type":"Replace","pattern":{"String":""},"content":"X"})", "ab"), "XaXbX");
}

TEST(TokenizerDecoder, Components) {
  EXPECT_EQ(decode_tokens(R"({"type":"ByteLevel"})", {"Hello", "\xC4\xA0world", "\xC4\x8A", "\xC3\xB0\xC5\x81\xC4\xBA", "\xC4\xA2"}),
            "Hello world\n\xF0\x9F\x98\x80");
  EXPECT_EQ(decode_tokens(R"({"type":"ByteLevel"})", {"\xC3\xB0\xC5\x81\xC4\xBA"}), "\xEF\xBF\xBD");  // cut emoji
  EXPECT_EQ(decode_tokens(R"({"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},
                             {"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]})",
                          {"▁Hello", "▁", "<0xE4>", "<0xBD>", "<0xA0>", "<0xFF>"}),
            "Hello \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(decode_tokens(R"({"type":"ByteFallback"})", {"<0xE4>", "<0xBD>", "<0xA0>", "a"}), "\xE4\xBD\xA0" "a");
  EXPECT_EQ(decode_tokens(R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"always"})", {"▁Hey", "▁friend", "!"}),
            "Hey friend!");
  EXPECT_EQ(decode_tokens(R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"always"})", {"▁a▁b", "▁c▁d"}), "ab c d");
  EXPECT_EQ(decode_tokens(R"({"type":"Strip","content":" ","start":2,"stop":1})", {"  a  ", " b "}), "a b");
  EXPECT_EQ(decode_tokens(R"({"type":"BPEDecoder","suffix":"</w>"})", {"hel", "lo</w>", "world</w>"}), "hello world");
}

TEST(TokenizerPostProcessor, TemplateBosEos) {
  Json vocab = {{"<s>", 0}, {"</s>", 1}, {"a", 2}};
  Json added = Json::parse(R"([{"id":0,"content":"<s>","special":true,"normalized":false},
                               {"id":1,"content":"</s>","special":true,"normalized":false}])");
  Json post = Json::parse(R"({"type":"TemplateProcessing",
    "single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"</s>","type_id":0}}],
    "pair":[],
    "special_tokens":{"<s>":{"id":"<s>","ids":[0],"tokens":["<s>"]},"</s>":{"id":"</s>","ids":[1],"tokens":["</s>"]}}})");
  auto t = Tokenizer::from_json(make_tokenizer(vocab, Json::array(), {{"added_tokens", added}, {"post_processor", post}}), "t");
  EXPECT_EQ(t.encode("aa", true), (Ids{0, 2, 2, 1}));
  EXPECT_EQ(t.encode("aa", false), (Ids{2, 2}));
  EXPECT_EQ(t.encode("", true), (Ids{0, 1}));
  EXPECT_EQ(t.bos_token(), "<s>");
  EXPECT_EQ(t.eos_token(), "</s>");
  EXPECT_EQ(t.bos_id(), 0);
  EXPECT_EQ(t.eos_id(), 1);
  Json seq = Json::parse(R"({"type":"Sequence","processors":[{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":false},
                                                             {"type":"RobertaProcessing","sep":["</s>",1],"cls":["<s>",0]}]})");
  auto r = Tokenizer::from_json(make_tokenizer(vocab, Json::array(), {{"added_tokens", added}, {"post_processor", seq}}), "t");
  EXPECT_EQ(r.encode("a", true), (Ids{0, 2, 1}));
}

TEST(TokenizerEncode, InvalidUtf8BecomesReplacementCharacters) {
  // one U+FFFD per maximal ill-formed subsequence, as Python's bytes.decode("utf-8", "replace")
  Json vocab = {{"a", 0}, {"\xEF\xBF\xBD", 1}};
  auto t = Tokenizer::from_json(make_tokenizer(vocab, Json::array()), "t");
  EXPECT_EQ(t.encode("a\xE2\x82" "a", false), (Ids{0, 1, 0}));        // truncated sequence: one
  EXPECT_EQ(t.encode("\xED\xA0\x80", false), (Ids{1, 1, 1}));         // surrogate: three
  EXPECT_EQ(t.encode("\xF0\x9F\x98" "a\xFF", false), (Ids{1, 0, 1}));
}

TEST(TokenizerEncode, ConcurrentEncodesAgree) {
  Json vocab = {{"a", 0}, {"b", 1}, {"ab", 2}, {" ", 3}};
  auto t = Tokenizer::from_json(make_tokenizer(vocab, {"a b"}), "t");
  std::string text;
  for (int i = 0; i < 2000; ++i) text += (i % 3 ? "ab " : "aab ");
  const Ids expect = t.encode(text, false);
  std::vector<Ids> got(4);
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) threads.emplace_back([&, k] { got[k] = t.encode(text, false); });
  for (auto& th : threads) th.join();
  for (const Ids& g : got) EXPECT_EQ(g, expect);
}

}  // namespace
}  // namespace mc

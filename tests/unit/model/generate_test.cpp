// Streaming and stop strings without a model: utf8_stable_prefix and TextStreamer fed the growing text a
// decoder produces token by token (incomplete characters shown as U+FFFD or truncated bytes, stop
// strings split across tokens). The generation loop itself runs on the tiny fixture in
// tests/golden/generate_golden_test.cpp.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "model/generate.h"

namespace mc {
namespace {

const std::string kRepl = "\xEF\xBF\xBD";  // U+FFFD
const std::string kEuro = "\xE2\x82\xAC";  // €, 3 bytes

// Feeds `texts` in order, then finish(last); returns the pieces (finish's last).
std::vector<std::string> stream(TextStreamer& s, const std::vector<std::string>& texts) {
  std::vector<std::string> pieces;
  for (const std::string& t : texts) {
    pieces.push_back(s.update(t));
    if (s.stopped()) return pieces;
  }
  pieces.push_back(s.finish(texts.back()));
  return pieces;
}

TEST(Utf8StablePrefix, HoldsBackIncompleteCharactersAndReplacementCharacters) {
  EXPECT_EQ(utf8_stable_prefix(""), 0u);
  EXPECT_EQ(utf8_stable_prefix("abc"), 3u);
  EXPECT_EQ(utf8_stable_prefix("ab" + kEuro), 5u);
  EXPECT_EQ(utf8_stable_prefix("ab\xE2"), 2u);
  EXPECT_EQ(utf8_stable_prefix("ab\xE2\x82"), 2u);
  EXPECT_EQ(utf8_stable_prefix("ab\xF0\x9F\x98"), 2u);
  EXPECT_EQ(utf8_stable_prefix("\xF0\x9F\x98\x80"), 4u);
  EXPECT_EQ(utf8_stable_prefix("ab" + kRepl), 2u);
  EXPECT_EQ(utf8_stable_prefix("a" + kRepl + kRepl), 1u);
  EXPECT_EQ(utf8_stable_prefix(kRepl + "a"), 4u) << "a replacement character followed by text is final";
  EXPECT_EQ(utf8_stable_prefix("ab" + kRepl + "\xE2"), 2u);
}

TEST(TextStreamer, ReleasesOnlyCompleteText) {
  TextStreamer s({});
  // A byte-level decoder shows the first two bytes of € as one U+FFFD until the third arrives.
  auto pieces = stream(s, {"He", "Hel" + kRepl, "Hel" + kEuro, "Hel" + kEuro + " lo"});
  EXPECT_EQ(pieces, (std::vector<std::string>{"He", "l", kEuro, " lo", ""}));
  EXPECT_EQ(s.text(), "Hel" + kEuro + " lo");
  EXPECT_FALSE(s.stopped());
}

TEST(TextStreamer, FinishFlushesAHeldBackTail) {
  TextStreamer s({});
  EXPECT_EQ(s.update("ok" + kRepl), "ok");
  EXPECT_EQ(s.finish("ok" + kRepl), kRepl) << "an unfinished character at the end is released as it is";
  EXPECT_EQ(s.text(), "ok" + kRepl);
}

TEST(TextStreamer, StopStringSplitAcrossTokensIsNeverReleased) {
  TextStreamer s({"world"});
  EXPECT_EQ(s.update("Hello"), "Hello");
  EXPECT_EQ(s.update("Hello wor"), " ") << "'wor' may begin the stop string";
  EXPECT_EQ(s.update("Hello world!"), "");
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(s.text(), "Hello ");
  EXPECT_EQ(s.update("Hello world! more"), "") << "nothing after the stop";
  EXPECT_EQ(s.finish("Hello world! more"), "");
  EXPECT_EQ(s.text(), "Hello ");
}

TEST(TextStreamer, HeldBackPrefixIsReleasedWhenItStopsMatching) {
  TextStreamer s({"###"});
  auto pieces = stream(s, {"ab#", "ab##", "ab##c", "ab##c###x"});
  EXPECT_EQ(pieces, (std::vector<std::string>{"ab", "", "##c", ""}));
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(s.text(), "ab##c");
}

TEST(TextStreamer, EarliestOfSeveralStopStringsWins) {
  TextStreamer s({"STOP", "\n\n"});
  EXPECT_EQ(s.update("one\n"), "one");
  EXPECT_EQ(s.update("one\n\ntwo STOP"), "");
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(s.text(), "one") << "\"\\n\\n\" starts at the first newline";
}

TEST(TextStreamer, FinishReleasesAPartialStopPrefix) {
  TextStreamer s({"END"});
  EXPECT_EQ(s.update("abcE"), "abc");
  EXPECT_EQ(s.finish("abcEN"), "EN");
  EXPECT_FALSE(s.stopped());
  EXPECT_EQ(s.text(), "abcEN");
}

TEST(TextStreamer, StopStringAtTheVeryStart) {
  TextStreamer s({"<"});
  EXPECT_EQ(s.update("<tag>"), "");
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(s.text(), "");
}

TEST(StopReason, Names) {
  EXPECT_STREQ(stop_reason_name(StopReason::Eos), "eos");
  EXPECT_STREQ(stop_reason_name(StopReason::StopString), "stop_string");
  EXPECT_STREQ(stop_reason_name(StopReason::MaxTokens), "max_tokens");
  EXPECT_STREQ(stop_reason_name(StopReason::Context), "context");
}

}  // namespace
}  // namespace mc

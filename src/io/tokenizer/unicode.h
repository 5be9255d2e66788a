// UTF-8 and Unicode helpers for the tokenizer: code point iteration, the lossy decoding HF applies
// to invalid bytes, and the character classes the `tokenizers` library tests with Rust's `char`
// methods and `regex` classes (White_Space, is_numeric, \w) and its lowercase mapping.
// Mirrors Rust's std (`String::from_utf8_lossy`, `char::is_whitespace`, `char::to_lowercase`);
// character data comes from utf8proc.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mc::tok {

/// Number of bytes of the UTF-8 sequence led by `lead` (1 for a stray byte).
inline size_t utf8_len(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

/// Decodes the code point at s[i] of VALID UTF-8 and moves i past it.
char32_t utf8_next(std::string_view s, size_t& i);
/// Appends the UTF-8 encoding of `cp`.
void utf8_append(std::string& out, char32_t cp);
/// Length in bytes of the longest valid UTF-8 prefix of s (== s.size() when s is valid).
size_t utf8_valid_prefix(std::string_view s);
/// Replaces every ill-formed subsequence with U+FFFD, one per maximal subpart (Unicode §3.9 "best
/// practice"): what Python's bytes.decode("utf-8", "replace") and Rust's from_utf8_lossy produce.
std::string utf8_lossy(std::string_view s);

/// Unicode White_Space (Rust char::is_whitespace, regex \s, Oniguruma \s).
bool is_white_space(char32_t cp);
/// General category Nd, Nl or No (Rust char::is_numeric).
bool is_numeric(char32_t cp);
/// Rust regex \w: Alphabetic, M*, Nd, Pc, Join_Control (Alphabetic approximated as L*, Nl and the
/// Other_Alphabetic symbols outside M*).
bool is_word_char(char32_t cp);
/// General category M* (Mn, Mc, Me): unicode-normalization's is_combining_mark.
bool is_mark(char32_t cp);
/// Appends the full lowercase mapping of `cp` (Rust char::to_lowercase: İ -> "i̇", no final sigma).
void append_lowercase(std::string& out, char32_t cp);

}  // namespace mc::tok

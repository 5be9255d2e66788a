// Python `str` semantics over UTF-8 byte strings, for the chat-template interpreter: Python strings
// are sequences of code points, so lengths, indexes and slices count code points, and whitespace,
// case mapping and repr() follow CPython 3.11 (str.isspace, str.upper, str.split, repr, ...).
// Not a general Unicode library: case mapping is the simple (one-to-one) mapping from utf8proc
// plus the few one-to-many mappings chat data meets (ß, İ); see docs in chat_template.h.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mc::jinja {

/// Decodes the code point at s[i] (s must be valid UTF-8) and moves i past it.
char32_t utf8_next(std::string_view s, size_t& i);
/// Appends the UTF-8 encoding of `cp`.
void utf8_append(std::string& out, char32_t cp);
/// Whether `s` is well-formed UTF-8 (no surrogates, no overlongs).
bool utf8_valid(std::string_view s);
/// The code points of `s`.
std::u32string utf8_decode(std::string_view s);
/// UTF-8 encoding of code points.
std::string utf8_encode(std::u32string_view s);
/// Number of code points (Python len()).
size_t py_len(std::string_view s);

/// Python str.isspace() for one code point (Unicode White_Space as CPython defines it).
bool py_isspace(char32_t cp);
/// Python str.isprintable() for one code point (used by repr()).
bool py_isprintable(char32_t cp);

/// str.strip / lstrip / rstrip. `chars == nullptr` strips whitespace; otherwise the given characters.
std::string py_strip(std::string_view s, const std::string* chars, bool left, bool right);
/// str.split(sep=None, maxsplit=-1) and str.split(sep, maxsplit).
std::vector<std::string> py_split(std::string_view s, const std::string* sep, int64_t maxsplit);
/// str.rsplit(sep, maxsplit).
std::vector<std::string> py_rsplit(std::string_view s, const std::string* sep, int64_t maxsplit);
/// str.splitlines(keepends=False).
std::vector<std::string> py_splitlines(std::string_view s, bool keepends = false);
/// str.replace(old, new, count) (count < 0: all).
std::string py_replace(std::string_view s, std::string_view old, std::string_view repl, int64_t count);
/// str.upper(), str.lower(), str.title(), str.capitalize(), str.swapcase().
std::string py_upper(std::string_view s);
std::string py_lower(std::string_view s);
std::string py_title(std::string_view s);
std::string py_capitalize(std::string_view s);
/// str.islower() / str.isupper() (cased characters present and all lower / upper).
bool py_islower(std::string_view s);
bool py_isupper(std::string_view s);
/// Character class predicates over the whole string (false for the empty string).
bool py_isalpha(std::string_view s);
bool py_isdigit(std::string_view s);
bool py_isalnum(std::string_view s);
/// str.count(sub) and str.find(sub) (code point index or -1).
int64_t py_count(std::string_view s, std::string_view sub);
int64_t py_find(std::string_view s, std::string_view sub, bool reverse);

/// repr() of a str: quotes chosen and characters escaped exactly as CPython does.
std::string py_repr_str(std::string_view s);
/// repr() of a float (shortest round-trip digits, Python's exponent rules: 1e+16, 1e-05, 100.0).
std::string py_repr_float(double v);
/// HTML escaping as markupsafe.escape: & < > " ' -> &amp; &lt; &gt; &#34; &#39;.
std::string html_escape(std::string_view s);

}  // namespace mc::jinja

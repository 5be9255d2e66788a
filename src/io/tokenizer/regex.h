// Patterns the tokenizer splits and replaces with: a literal string or an Oniguruma-syntax regex
// (the `tokenizers` library compiles its "Regex" patterns with Oniguruma), run here with PCRE2 in
// UTF + UCP mode after rewriting the few constructs whose meaning differs: \s and \S (Oniguruma's
// White_Space set, which includes U+0085) and ^/$ (line anchors in Oniguruma's default syntax).
// Match iteration mirrors the `tokenizers` Pattern trait: all non-overlapping matches, empty ones
// included, left to right.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mc::tok {

class Pattern {
 public:
  /// A literal pattern (tokenizers' `{"String": s}`); an empty literal matches the empty string at
  /// every character boundary, as the escaped empty regex does in the reference.
  static Pattern literal(std::string s);
  /// An Oniguruma-syntax regex (tokenizers' `{"Regex": r}`). Throws mc::Error("[tokenizer] <source>:
  /// invalid regex ...") when PCRE2 cannot compile the rewritten pattern.
  static Pattern regex(const std::string& re, const std::string& source);
  /// Parses tokenizers' pattern object {"String": s} | {"Regex": r}.
  static Pattern from_json_fields(bool is_regex, const std::string& value, const std::string& source);

  /// Appends the [begin, end) byte ranges of all non-overlapping matches in `s` (valid UTF-8).
  void find_all(std::string_view s, std::vector<std::pair<size_t, size_t>>& out) const;

  bool is_regex() const { return code_ != nullptr; }

 private:
  struct Code;
  std::string literal_;
  std::shared_ptr<Code> code_;
};

/// The Oniguruma -> PCRE2 rewrite (exposed for tests).
std::string onig_to_pcre2(const std::string& re);

}  // namespace mc::tok

// Shared by the tests that run the `mc` binary: the check that bad input fails the way DESIGN.md asks —
// exit 1, one `mc: error: [component] ...` line on stderr, nothing on stdout.
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "test_util.h"

namespace mc::test {

/// Lines in `s` (a last line without '\n' counts).
inline size_t line_count(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n + (!s.empty() && s.back() != '\n');
}

/// Exit 1, a single `mc: error: [<component>] ...` line on stderr containing `needle`, nothing on
/// stdout. An empty component accepts any.
inline void expect_one_line_error(const RunResult& r, const std::string& component, const std::string& needle) {
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  const std::string prefix = component.empty() ? "mc: error: [" : "mc: error: [" + component + "]";
  EXPECT_EQ(r.err.rfind(prefix, 0), 0u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "expected '" << needle << "' in: " << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

inline void expect_one_line_error(const RunResult& r, const std::string& needle) {
  expect_one_line_error(r, "", needle);
}

}  // namespace mc::test

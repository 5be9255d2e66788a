// Aligned plain-text tables and small ASCII bar charts for the human-readable output of the analysis
// commands (spec/surface.md §1.2: `|#####.....|` bars). Printing only; no numbers are computed here.
#pragma once
#include <string>
#include <vector>

namespace mc::cli {

/// A table whose columns are padded to their widest cell. Columns are right-aligned unless marked
/// left (text columns such as names).
class TextTable {
 public:
  /// One header per column; `left` lists the columns to left-align (by index).
  explicit TextTable(std::vector<std::string> headers, std::vector<size_t> left = {0});
  void add_row(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }
  /// The table with a header line, a rule of dashes and one line per row, each ending in '\n'.
  /// Widths count UTF-8 code points, so "σ" is one column.
  std::string render(const std::string& indent = "") const;

 private:
  std::vector<std::string> headers_;
  std::vector<bool> left_;
  std::vector<std::vector<std::string>> rows_;
};

/// `|####......|` with `width` cells filled in proportion to value / max (clamped to [0, width]);
/// NaN or max <= 0 gives an empty bar.
std::string ascii_bar(double value, double max, int width = 30);

/// Fixed-point with `decimals` digits; NaN/Inf print as "-" (text mode's null).
std::string fmt_fixed(double x, int decimals);
/// %.*g with `sig` significant digits; NaN/Inf print as "-".
std::string fmt_sig(double x, int sig = 4);
/// Display width of a UTF-8 string (code points).
size_t utf8_width(const std::string& s);

}  // namespace mc::cli

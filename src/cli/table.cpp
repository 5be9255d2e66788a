// Text tables and bars; see table.h.
#include "cli/table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace mc::cli {

size_t utf8_width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

TextTable::TextTable(std::vector<std::string> headers, std::vector<size_t> left)
    : headers_(std::move(headers)), left_(headers_.size(), false) {
  for (size_t i : left)
    if (i < left_.size()) left_[i] = true;
}

void TextTable::add_row(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

std::string TextTable::render(const std::string& indent) const {
  std::vector<size_t> w(headers_.size(), 0);
  for (size_t c = 0; c < headers_.size(); ++c) w[c] = utf8_width(headers_[c]);
  for (const auto& r : rows_)
    for (size_t c = 0; c < r.size(); ++c) w[c] = std::max(w[c], utf8_width(r[c]));
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out = indent;
    for (size_t c = 0; c < cells.size(); ++c) {
      const size_t pad = w[c] - utf8_width(cells[c]);
      if (c) out += "  ";
      if (left_[c]) {
        out += cells[c];
        if (c + 1 < cells.size()) out += std::string(pad, ' ');
      } else {
        out += std::string(pad, ' ') + cells[c];
      }
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(headers_);
  size_t total = 0;
  for (size_t c = 0; c < w.size(); ++c) total += w[c] + (c ? 2 : 0);
  out += indent + std::string(total, '-') + "\n";
  for (const auto& r : rows_) out += line(r);
  return out;
}

std::string ascii_bar(double value, double max, int width) {
  int fill = 0;
  if (std::isfinite(value) && std::isfinite(max) && max > 0.0) {
    const double f = std::clamp(value / max, 0.0, 1.0);
    fill = static_cast<int>(std::lround(f * width));
  }
  return "|" + std::string(static_cast<size_t>(fill), '#') + std::string(static_cast<size_t>(width - fill), '.') + "|";
}

std::string fmt_fixed(double x, int decimals) {
  if (!std::isfinite(x)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, x);
  return buf;
}

std::string fmt_sig(double x, int sig) {
  if (!std::isfinite(x)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", sig, x);
  return buf;
}

}  // namespace mc::cli

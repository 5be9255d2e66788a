// RFC 4180 CSV/TSV parsing (see csv.h).
#include "io/dataset/csv.h"

#include "core/error.h"

namespace mc {

std::vector<CsvRow> csv_parse(std::string_view text, char delimiter, const std::string& source) {
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  const size_t n = text.size();
  const bool strict_quotes = delimiter == ',';
  std::vector<CsvRow> rows;
  size_t pos = 0, line = 1;

  auto at_eol = [&](size_t p) { return p >= n || text[p] == '\n' || (text[p] == '\r' && p + 1 < n && text[p + 1] == '\n'); };
  auto skip_eol = [&]() {  // pos is at an end of line (or of the text): move past it
    if (pos < n && text[pos] == '\r') pos++;
    if (pos < n && text[pos] == '\n') {
      pos++;
      line++;
    }
  };
  auto skip_rest_of_line = [&]() {
    while (pos < n && text[pos] != '\n') pos++;
    skip_eol();
  };

  while (pos < n) {
    if (at_eol(pos)) {  // blank line
      skip_eol();
      if (pos == n) break;
      continue;
    }
    CsvRow row;
    row.line = line;
    for (;;) {
      std::string field;
      if (pos < n && text[pos] == '"') {
        size_t start_line = line;
        pos++;
        for (;;) {
          if (pos >= n) throw Error("dataset", str(source, ":", start_line, ": unterminated quoted field"));
          char c = text[pos];
          if (c == '"') {
            if (pos + 1 < n && text[pos + 1] == '"') {
              field += '"';
              pos += 2;
              continue;
            }
            pos++;
            break;
          }
          if (c == '\n') line++;
          field += c;
          pos++;
        }
        if (!(pos >= n || text[pos] == delimiter || at_eol(pos))) {
          row.error = "text after the closing quote of a quoted field";
          break;
        }
      } else {
        while (pos < n && text[pos] != delimiter && !at_eol(pos)) {
          if (text[pos] == '"' && strict_quotes) {
            row.error = "a quote inside an unquoted field (quote the whole field and double the inner quotes)";
            break;
          }
          field += text[pos++];
        }
        if (!row.error.empty()) break;
      }
      row.fields.push_back(std::move(field));
      if (pos < n && text[pos] == delimiter) {
        pos++;
        continue;  // another field follows (possibly empty, at the end of the line)
      }
      break;
    }
    if (!row.error.empty()) {
      row.fields.clear();
      skip_rest_of_line();
    } else {
      skip_eol();
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace mc

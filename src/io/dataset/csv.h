// CSV and TSV reading for `mc data prepare` (RFC 4180): fields separated by the delimiter, records by
// CRLF or LF; a field that starts with a double quote is quoted — it may hold delimiters, newlines and
// doubled quotes ("") and must be followed by a delimiter or the end of the record. For CSV a quote
// inside an unquoted field is an error (RFC 4180 §2.5); for TSV it is an ordinary character (TSV
// files rarely quote). Not a general spreadsheet reader: no other quote or escape conventions.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mc {

struct CsvRow {
  size_t                   line = 0;  // line where the record starts (1-based)
  std::vector<std::string> fields;
  std::string              error;     // non-empty: the record is malformed (fields are then unusable)
};

/// Parses `text` (valid UTF-8; a leading byte order mark is skipped). Blank lines between records are
/// skipped. A malformed record is returned with `error` set and parsing resumes at the next line; an
/// unterminated quoted field swallows the rest of the file and throws mc::Error("dataset",
/// "<source>:<line>: unterminated quoted field").
std::vector<CsvRow> csv_parse(std::string_view text, char delimiter, const std::string& source);

}  // namespace mc

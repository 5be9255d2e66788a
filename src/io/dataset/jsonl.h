// Reading training data files line by line: UTF-8 validation and JSON Lines parsing with errors that
// name the file and line ("[dataset] train.jsonl:12: invalid JSON (...)"). Shared by the record
// loader, `mc data prepare` and `mc tokenize --count`. Not a record validator (see record.h).
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"

namespace mc {

/// One problem found in a data file: where ("file:line") and why. Invalid lines (malformed JSON, wrong
/// types, missing fields, invalid UTF-8) and dropped records (valid but unusable) are both reported so.
struct DatasetIssue {
  std::string where;
  std::string reason;
};

/// Byte offset of the first ill-formed UTF-8 sequence in `s` (truncated or overlong sequences,
/// surrogates, code points above U+10FFFF), or std::string_view::npos when `s` is valid UTF-8.
size_t utf8_find_invalid(std::string_view s);

/// Throws mc::Error("dataset", "<where>: invalid UTF-8 at byte N") when `s` is not valid UTF-8.
void utf8_check(std::string_view s, const std::string& where);

/// Splits `text` into lines (LF or CRLF; the terminator is not part of the line). A UTF-8 byte order
/// mark at the start is dropped. Line numbers start at 1.
struct TextLine {
  size_t line = 0;
  std::string_view text;
};
std::vector<TextLine> split_lines(std::string_view text);

/// Parses one JSON Lines line (must be valid UTF-8 and one JSON value). Throws
/// mc::Error("dataset", "<where>: ...").
OrderedJson jsonl_parse_line(std::string_view line, const std::string& where);

struct JsonlLine {
  size_t line = 0;  // 1-based line number in the file
  OrderedJson value;
};

/// Reads a JSON Lines file: every line that is not blank (whitespace only) must hold one JSON value.
/// A bad line throws mc::Error("dataset", "<file>:<line>: <problem>") unless `on_invalid` is given,
/// which then receives the problem and the line is skipped. A file with no value at all is an error.
std::vector<JsonlLine> jsonl_read(const std::string& path,
                                  const std::function<void(const DatasetIssue&)>& on_invalid = {});

/// Line (1-based) where each element of a top-level JSON array starts in `text`. `text` must already
/// be known to parse as a JSON array (this scanner only tracks strings and nesting).
std::vector<size_t> json_array_element_lines(std::string_view text);

}  // namespace mc

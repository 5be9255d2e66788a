// JSON Lines reading and UTF-8 validation (see jsonl.h).
#include "io/dataset/jsonl.h"

#include "core/error.h"
#include "core/fs.h"

namespace mc {

namespace {

constexpr const char* kComponent = "dataset";

// nlohmann's parse_error text is "[json.exception.parse_error.101] parse error at line 1, column 5:
// syntax error ..."; keep the part after the location.
std::string parse_error_reason(const std::string& what) {
  std::string s = what;
  if (auto p = s.find("] "); p != std::string::npos) s = s.substr(p + 2);
  if (auto p = s.find(": "); p != std::string::npos && s.rfind("parse error", 0) == 0) s = s.substr(p + 2);
  return s;
}

}  // namespace

size_t utf8_find_invalid(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // no overlong 3-byte forms
      if (c == 0xED) hi = 0x9F;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // no overlong 4-byte forms
      if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
    } else {
      return i;  // continuation byte, C0/C1 overlong lead, or F5..FF
    }
    if (i + len > n) return i;
    if (p[i + 1] < lo || p[i + 1] > hi) return i;
    for (size_t k = 2; k < len; k++)
      if ((p[i + k] & 0xC0) != 0x80) return i;
    i += len;
  }
  return std::string_view::npos;
}

void utf8_check(std::string_view s, const std::string& where) {
  size_t bad = utf8_find_invalid(s);
  if (bad != std::string_view::npos) throw Error(kComponent, str(where, ": invalid UTF-8 at byte ", bad + 1));
}

std::vector<TextLine> split_lines(std::string_view text) {
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::vector<TextLine> out;
  size_t line = 1, start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    std::string_view l = text.substr(start, end - start);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    out.push_back({line, l});
    if (nl == std::string_view::npos) break;
    start = nl + 1;
    line++;
  }
  return out;
}

OrderedJson jsonl_parse_line(std::string_view line, const std::string& where) {
  size_t bad = utf8_find_invalid(line);
  if (bad != std::string_view::npos) throw Error(kComponent, str(where, ": invalid UTF-8 at column ", bad + 1));
  try {
    return OrderedJson::parse(line);
  } catch (const OrderedJson::parse_error& e) {
    throw Error(kComponent, str(where, ": invalid JSON at column ", e.byte, " (", parse_error_reason(e.what()), ")"));
  } catch (const OrderedJson::exception& e) {  // out_of_range.406: a number beyond double (1e999)
    throw Error(kComponent, str(where, ": invalid JSON (", parse_error_reason(e.what()), ")"));
  }
}

std::vector<JsonlLine> jsonl_read(const std::string& path, const std::function<void(const DatasetIssue&)>& on_invalid) {
  std::string text = read_file(path, kComponent);
  std::vector<JsonlLine> out;
  bool any = false;
  for (const TextLine& l : split_lines(text)) {
    if (l.text.find_first_not_of(" \t\r\f\v") == std::string_view::npos) continue;
    any = true;
    std::string where = str(path, ":", l.line);
    try {
      out.push_back({l.line, jsonl_parse_line(l.text, where)});
    } catch (const Error& e) {
      if (!on_invalid) throw;
      // The message after "[dataset] <where>: ".
      std::string msg = e.what();
      size_t p = msg.find(where + ": ");
      on_invalid({where, p == std::string::npos ? msg : msg.substr(p + where.size() + 2)});
    }
  }
  if (!any) throw Error(kComponent, str(path, ": no records (the file is empty)"));
  return out;
}

std::vector<size_t> json_array_element_lines(std::string_view text) {
  std::vector<size_t> lines;
  size_t line = 1;
  int depth = 0;
  bool in_string = false, escape = false, expect_value = false;
  for (char c : text) {
    if (c == '\n') line++;
    if (in_string) {
      if (escape) {
        escape = false;
      } else if (c == '\\') {
        escape = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    if (expect_value && depth == 1 && c != ']') {
      lines.push_back(line);
      expect_value = false;
    }
    switch (c) {
      case '"': in_string = true; break;
      case '[':
      case '{':
        depth++;
        if (depth == 1) expect_value = true;
        break;
      case ']':
      case '}': depth--; break;
      case ',':
        if (depth == 1) expect_value = true;
        break;
      default: break;
    }
  }
  return lines;
}

}  // namespace mc

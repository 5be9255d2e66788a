// Lexer and parser for the Jinja2 subset of chat templates. The lexer reproduces jinja2 3.1's
// lexer.py state machine with trim_blocks and lstrip_blocks on (newline normalisation, the dropped
// trailing newline, "-"/"+" whitespace control, bracket balancing inside tags, Python string
// escapes); the parser follows parser.py's recursive descent and operator precedence. Unknown tags,
// filters and tests and the unsupported tags (extends, block, include, import, from, autoescape,
// recursive loops) are errors with the position of the offending token.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <set>

#include "io/chat_template/ast.h"
#include "io/chat_template/pystr.h"

namespace mc::jinja {

std::string source_location(const std::string& source, size_t offset) {
  offset = std::min(offset, source.size());
  size_t line = 1, line_start = 0;
  for (size_t i = 0; i < offset; i++)
    if (source[i] == '\n') {
      line++;
      line_start = i + 1;
    }
  size_t col = py_len(std::string_view(source).substr(line_start, offset - line_start)) + 1;
  return std::to_string(line) + ":" + std::to_string(col);
}

namespace {

// --- lexer -----------------------------------------------------------------------------------------

enum class Tok : uint8_t { Data, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof };

struct Token {
  Tok type = Tok::Eof;
  std::string text;  // data, name, decoded string literal, operator
  int64_t ival = 0;
  double fval = 0;
  size_t offset = 0;
};

}  // namespace

std::string normalize_source(const std::string& src) {
  std::string out;
  out.reserve(src.size());
  for (size_t i = 0; i < src.size(); i++) {
    if (src[i] == '\r') {
      out += '\n';
      if (i + 1 < src.size() && src[i + 1] == '\n') i++;
    } else {
      out += src[i];
    }
  }
  // keep_trailing_newline=False: one trailing newline is dropped.
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

class Lexer {
 public:
  explicit Lexer(const std::string& s) : s_(s) {}

  std::vector<Token> run() {
    while (pos_ < s_.size()) lex_root();
    // jinja2 reports end-of-template errors at the line of the last token.
    push(Tok::Eof, "", out_.empty() ? 0 : out_.back().offset);
    return std::move(out_);
  }

 private:
  const std::string& s_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<char> balance_;
  std::vector<Token> out_;

  [[noreturn]] void fail(size_t off, const std::string& msg) { throw TemplateError(off, msg); }

  void push(Tok t, std::string text, size_t off) {
    Token tok;
    tok.type = t;
    tok.text = std::move(text);
    tok.offset = off;
    out_.push_back(std::move(tok));
  }

  bool starts(size_t p, const char* lit) const { return s_.compare(p, std::strlen(lit), lit) == 0; }

  // Length in bytes of the Python-whitespace code point at p (0 if none).
  size_t ws_at(size_t p) const {
    if (p >= s_.size()) return 0;
    size_t q = p;
    char32_t cp = utf8_next(s_, q);
    return py_isspace(cp) ? q - p : 0;
  }
  size_t skip_ws(size_t p) const {
    while (size_t n = ws_at(p)) p += n;
    return p;
  }

  static std::string rstrip_ws(std::string_view text) {
    std::u32string cps = utf8_decode(text);
    size_t e = cps.size();
    while (e > 0 && py_isspace(cps[e - 1])) e--;
    return utf8_encode(std::u32string_view(cps).substr(0, e));
  }

  static bool all_ws(std::string_view text) {
    if (text.empty()) return false;
    size_t i = 0;
    while (i < text.size())
      if (!py_isspace(utf8_next(text, i))) return false;
    return true;
  }

  // jinja2's OptionalLStrip: "-" strips all whitespace before the tag; otherwise lstrip_blocks
  // removes the indentation before a block or comment tag that starts its line.
  std::string strip_text(std::string text, char sign, bool is_variable) const {
    if (sign == '-') return rstrip_ws(text);
    if (sign != '+' && !is_variable) {
      size_t l_pos = text.rfind('\n');
      l_pos = l_pos == std::string::npos ? 0 : l_pos + 1;
      if ((l_pos > 0 || line_starting_) && all_ws(std::string_view(text).substr(l_pos))) text.resize(l_pos);
    }
    return text;
  }

  void lex_root() {
    size_t tag = pos_;
    while (true) {
      tag = s_.find('{', tag);
      if (tag == std::string::npos || tag + 1 >= s_.size()) {
        tag = std::string::npos;
        break;
      }
      char k = s_[tag + 1];
      if (k == '{' || k == '%' || k == '#') break;
      tag++;
    }
    if (tag == std::string::npos) {
      push(Tok::Data, s_.substr(pos_), pos_);
      line_starting_ = s_.back() == '\n';
      pos_ = s_.size();
      return;
    }
    char kind = s_[tag + 1];
    size_t after = tag + 2;
    char sign = 0;
    if (after < s_.size() && (s_[after] == '-' || s_[after] == '+')) sign = s_[after++];
    std::string text = s_.substr(pos_, tag - pos_);

    // {% raw %} ... {% endraw %}
    if (kind == '%') {
      size_t p = skip_ws(after);
      if (starts(p, "raw") && !(p + 3 < s_.size() && is_name_char(s_[p + 3]))) {
        size_t q = skip_ws(p + 3);
        size_t end = std::string::npos;
        if (starts(q, "-%}")) {
          end = skip_ws(q + 3);
        } else if (starts(q, "%}")) {
          end = q + 2;
        }
        if (end != std::string::npos) {
          text = strip_text(std::move(text), sign, false);
          if (!text.empty()) push(Tok::Data, text, pos_);
          line_starting_ = s_[end - 1] == '\n';
          lex_raw(end, tag);
          return;
        }
      }
    }

    text = strip_text(std::move(text), sign, kind == '{');
    if (!text.empty()) push(Tok::Data, text, pos_);
    line_starting_ = false;
    if (kind == '#') {
      lex_comment(after, tag);
      return;
    }
    push(kind == '{' ? Tok::VarBegin : Tok::BlockBegin, "", tag);
    pos_ = after;
    lex_tag(kind == '{', tag);
  }

  void lex_raw(size_t start, size_t tag) {
    for (size_t q = start; q + 1 < s_.size(); q++) {
      if (s_[q] != '{' || s_[q + 1] != '%') continue;
      size_t p = q + 2;
      char sign = 0;
      if (p < s_.size() && (s_[p] == '-' || s_[p] == '+')) sign = s_[p++];
      p = skip_ws(p);
      if (!starts(p, "endraw")) continue;
      p = skip_ws(p + 6);
      size_t end;
      if (starts(p, "+%}")) {
        end = p + 3;
      } else if (starts(p, "-%}")) {
        end = skip_ws(p + 3);
      } else if (starts(p, "%}")) {
        end = p + 2;
        if (end < s_.size() && s_[end] == '\n') end++;
      } else {
        continue;
      }
      std::string text = strip_text(s_.substr(start, q - start), sign, false);
      if (!text.empty()) push(Tok::Data, text, start);
      line_starting_ = s_[end - 1] == '\n';
      pos_ = end;
      return;
    }
    fail(tag, "Missing end of raw directive");
  }

  void lex_comment(size_t start, size_t tag) {
    for (size_t q = start; q < s_.size(); q++) {
      size_t end;
      if (starts(q, "+#}")) {
        end = q + 3;
      } else if (starts(q, "-#}")) {
        end = skip_ws(q + 3);
      } else if (starts(q, "#}")) {
        end = q + 2;
        if (end < s_.size() && s_[end] == '\n') end++;
      } else {
        continue;
      }
      line_starting_ = s_[end - 1] == '\n';
      pos_ = end;
      return;
    }
    fail(tag, "Missing end of comment tag");
  }

  // Digits with single underscores between them: (\d+_)*\d+. Returns the end or npos.
  size_t match_digits(size_t p) const {
    if (p >= s_.size() || !is_digit(s_[p])) return std::string::npos;
    while (true) {
      while (p < s_.size() && is_digit(s_[p])) p++;
      if (p + 1 < s_.size() && s_[p] == '_' && is_digit(s_[p + 1])) {
        p++;
        continue;
      }
      return p;
    }
  }

  size_t match_float(size_t p) const {
    if (p > 0 && s_[p - 1] == '.') return std::string::npos;
    size_t q = match_digits(p);
    if (q == std::string::npos) return q;
    // Alternative 1: optional fraction, then a mandatory exponent.
    size_t r = q;
    if (r < s_.size() && s_[r] == '.') {
      size_t f = match_digits(r + 1);
      if (f != std::string::npos) r = f;
    }
    if (r < s_.size() && (s_[r] == 'e' || s_[r] == 'E')) {
      size_t e = r + 1;
      if (e < s_.size() && (s_[e] == '+' || s_[e] == '-')) e++;
      size_t d = match_digits(e);
      if (d != std::string::npos) return d;
    }
    // Alternative 2: a mandatory fraction.
    if (q < s_.size() && s_[q] == '.') return match_digits(q + 1);
    return std::string::npos;
  }

  size_t match_int(size_t p, int* base) const {
    auto lower = [&](size_t i) { return i < s_.size() ? static_cast<char>(std::tolower(static_cast<unsigned char>(s_[i]))) : '\0'; };
    if (lower(p) == '0' && (lower(p + 1) == 'b' || lower(p + 1) == 'o' || lower(p + 1) == 'x')) {
      char k = lower(p + 1);
      auto ok = [&](char c) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return k == 'b' ? (c == '0' || c == '1') : k == 'o' ? (c >= '0' && c <= '7') : std::isxdigit(static_cast<unsigned char>(c)) != 0;
      };
      size_t q = p + 2, n = 0;
      while (true) {
        size_t r = q;
        if (r < s_.size() && s_[r] == '_') r++;
        if (r < s_.size() && ok(s_[r])) {
          q = r + 1;
          n++;
        } else {
          break;
        }
      }
      if (n > 0) {
        *base = k == 'b' ? 2 : k == 'o' ? 8 : 16;
        return q;
      }
    }
    *base = 10;
    if (p < s_.size() && s_[p] >= '1' && s_[p] <= '9') {
      size_t q = p + 1;
      while (true) {
        size_t r = q;
        if (r < s_.size() && s_[r] == '_') r++;
        if (r < s_.size() && is_digit(s_[r])) {
          q = r + 1;
        } else {
          return q;
        }
      }
    }
    if (p < s_.size() && s_[p] == '0') {
      size_t q = p + 1;
      while (true) {
        size_t r = q;
        if (r < s_.size() && s_[r] == '_') r++;
        if (r < s_.size() && s_[r] == '0') {
          q = r + 1;
        } else {
          return q;
        }
      }
    }
    return std::string::npos;
  }

  // Python's "unicode-escape" decoding of a string literal body (after backslashreplace of
  // non-ASCII characters, so a backslash before a non-ASCII character stays literal).
  std::string unescape(std::string_view body, size_t off) {
    std::string out;
    size_t i = 0;
    auto hex = [&](size_t start, size_t n, const char* what) -> char32_t {
      if (start + n > body.size()) fail(off, std::string("truncated ") + what + " escape");
      char32_t v = 0;
      for (size_t k = 0; k < n; k++) {
        char c = body[start + k];
        if (!std::isxdigit(static_cast<unsigned char>(c))) fail(off, std::string("truncated ") + what + " escape");
        v = v * 16 + static_cast<char32_t>(std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (std::tolower(c) - 'a' + 10));
      }
      return v;
    };
    while (i < body.size()) {
      char c = body[i];
      if (c != '\\') {
        out += c;
        i++;
        continue;
      }
      if (i + 1 >= body.size()) fail(off, "\\ at end of string");
      char e = body[i + 1];
      i += 2;
      switch (e) {
        case '\n': break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case 'x': utf8_append(out, hex(i, 2, "\\xXX")); i += 2; break;
        case 'u':
        case 'U': {
          size_t n = e == 'u' ? 4 : 8;
          char32_t cp = hex(i, n, e == 'u' ? "\\uXXXX" : "\\UXXXXXXXX");
          i += n;
          if (cp > 0x10FFFF) fail(off, "illegal Unicode character");
          if (cp >= 0xD800 && cp <= 0xDFFF) fail(off, "lone surrogate escapes are not supported");
          utf8_append(out, cp);
          break;
        }
        case 'N': fail(off, "\\N{...} escapes are not supported");
        default:
          if (e >= '0' && e <= '7') {
            char32_t v = static_cast<char32_t>(e - '0');
            for (int k = 0; k < 2 && i < body.size() && body[i] >= '0' && body[i] <= '7'; k++)
              v = v * 8 + static_cast<char32_t>(body[i++] - '0');
            utf8_append(out, v);
          } else if (static_cast<unsigned char>(e) >= 0x80) {
            // "\é" is "\\xe9" after backslashreplace: a literal backslash, then the escape text.
            size_t q = i - 1;
            char32_t cp = utf8_next(body, q);
            char buf[16];
            if (cp <= 0xFF) {
              std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(cp));
            } else if (cp <= 0xFFFF) {
              std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
            } else {
              std::snprintf(buf, sizeof buf, "\\U%08x", static_cast<unsigned>(cp));
            }
            out += buf;
            i = q;
          } else {
            out += '\\';
            out += e;
          }
      }
    }
    return out;
  }

  void lex_tag(bool variable, size_t tag) {
    while (true) {
      if (pos_ >= s_.size())
        fail(tag, variable ? "unexpected end of template, expected '}}'" : "unexpected end of template, expected '%}'");
      size_t p = pos_;
      if (balance_.empty()) {
        size_t end = std::string::npos;
        if (variable) {
          if (starts(p, "-}}")) {
            end = skip_ws(p + 3);
          } else if (starts(p, "}}")) {
            end = p + 2;
          }
        } else {
          if (starts(p, "+%}")) {
            end = p + 3;
          } else if (starts(p, "-%}")) {
            end = skip_ws(p + 3);
          } else if (starts(p, "%}")) {
            end = p + 2;
            if (end < s_.size() && s_[end] == '\n') end++;
          }
        }
        if (end != std::string::npos) {
          push(variable ? Tok::VarEnd : Tok::BlockEnd, "", p);
          line_starting_ = s_[end - 1] == '\n';
          pos_ = end;
          return;
        }
      }
      if (size_t n = ws_at(p)) {
        pos_ = skip_ws(p + n);
        continue;
      }
      if (size_t e = match_float(p); e != std::string::npos) {
        std::string txt;
        for (size_t k = p; k < e; k++)
          if (s_[k] != '_') txt += s_[k];
        Token t;
        t.type = Tok::Float;
        t.fval = std::strtod(txt.c_str(), nullptr);
        t.offset = p;
        out_.push_back(t);
        pos_ = e;
        continue;
      }
      int base = 10;
      if (size_t e = match_int(p, &base); e != std::string::npos) {
        std::string txt;
        for (size_t k = (base == 10 ? p : p + 2); k < e; k++)
          if (s_[k] != '_') txt += s_[k];
        errno = 0;
        unsigned long long v = std::strtoull(txt.c_str(), nullptr, base);
        if (errno == ERANGE || v > static_cast<unsigned long long>(INT64_MAX))
          fail(p, "integer literal too large (mc supports 64-bit integers)");
        Token t;
        t.type = Tok::Int;
        t.ival = static_cast<int64_t>(v);
        t.offset = p;
        out_.push_back(t);
        pos_ = e;
        continue;
      }
      char c = s_[p];
      if (is_name_start(c)) {
        size_t e = p;
        while (e < s_.size() && is_name_char(s_[e])) e++;
        if (e < s_.size() && static_cast<unsigned char>(s_[e]) >= 0x80)
          fail(p, "non-ASCII identifiers are not supported");
        push(Tok::Name, s_.substr(p, e - p), p);
        pos_ = e;
        continue;
      }
      if (c == '\'' || c == '"') {
        size_t q = p + 1;
        bool closed = false;
        while (q < s_.size()) {
          if (s_[q] == '\\') {
            q++;
            if (q < s_.size()) utf8_next(s_, q);
            continue;
          }
          if (s_[q] == c) {
            closed = true;
            break;
          }
          utf8_next(s_, q);
        }
        if (!closed) fail(p, "unexpected char " + std::string(1, c) + " (unterminated string)");
        push(Tok::String, unescape(std::string_view(s_).substr(p + 1, q - p - 1), p), p);
        pos_ = q + 1;
        continue;
      }
      static const char* kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
      std::string op;
      for (const char* t : kTwo)
        if (starts(p, t)) op = t;
      if (op.empty() && std::strchr("+-/*%~[](){}><=.:|,;", c) && c != '\0') op = std::string(1, c);
      if (op.empty()) {
        if (static_cast<unsigned char>(c) >= 0x80) fail(p, "unexpected non-ASCII character in a tag");
        fail(p, std::string("unexpected char '") + c + "'");
      }
      if (op == "{" || op == "(" || op == "[") {
        balance_.push_back(op == "{" ? '}' : op == "(" ? ')' : ']');
      } else if (op == "}" || op == ")" || op == "]") {
        if (balance_.empty()) fail(p, "unexpected '" + op + "'");
        char want = balance_.back();
        balance_.pop_back();
        if (want != op[0]) fail(p, "unexpected '" + op + "', expected '" + std::string(1, want) + "'");
      }
      push(Tok::Op, op, p);
      pos_ = p + op.size();
    }
  }
};

// --- parser ----------------------------------------------------------------------------------------

std::string describe(const Token& t) {
  switch (t.type) {
    case Tok::Name: return t.text;
    case Tok::Op: return t.text;
    case Tok::String: return "string";
    case Tok::Int: return "integer";
    case Tok::Float: return "float";
    case Tok::Data: return "template data / text";
    case Tok::VarBegin: return "begin of print statement";
    case Tok::VarEnd: return "end of print statement";
    case Tok::BlockBegin: return "begin of statement block";
    case Tok::BlockEnd: return "end of statement block";
    case Tok::Eof: return "end of template";
  }
  return "token";
}

ExprPtr make(ExprKind k, size_t off) {
  auto e = std::make_unique<Expr>();
  e->kind = k;
  e->offset = off;
  return e;
}

class Parser {
 public:
  Parser(std::vector<Token> toks, Template& t) : toks_(std::move(toks)), t_(t) {}

  Body parse() {
    Body body = subparse({});
    return body;
  }

 private:
  std::vector<Token> toks_;
  Template& t_;
  size_t i_ = 0;
  std::vector<std::vector<std::string>> end_stack_;
  std::vector<std::string> tag_stack_;
  int loop_depth_ = 0;
  int nesting_ = 0;  // recursion depth of statements and expressions

  // Bounds the parser's recursion so that hostile input cannot exhaust the stack.
  struct Nest {
    Parser& p;
    explicit Nest(Parser& parser) : p(parser) {
      if (++p.nesting_ > kMaxNesting) p.fail("template nesting is too deep (more than 200 levels)");
    }
    ~Nest() { p.nesting_--; }
  };
  static constexpr int kMaxNesting = 200;

  const Token& cur() const { return toks_[i_]; }
  const Token& look() const { return toks_[std::min(i_ + 1, toks_.size() - 1)]; }
  const Token& next() {
    const Token& t = toks_[i_];
    if (i_ + 1 < toks_.size()) i_++;
    return t;
  }
  [[noreturn]] void fail(const std::string& msg, size_t off) { throw TemplateError(off, msg); }
  [[noreturn]] void fail(const std::string& msg) { fail(msg, cur().offset); }

  bool is_op(const char* op) const { return cur().type == Tok::Op && cur().text == op; }
  bool is_name(const char* n) const { return cur().type == Tok::Name && cur().text == n; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(const char* n) {
    if (!is_name(n)) return false;
    next();
    return true;
  }
  void expect_op(const char* op) {
    if (!is_op(op)) fail(std::string("expected token '") + op + "', got '" + describe(cur()) + "'");
    next();
  }
  const Token& expect_name() {
    if (cur().type != Tok::Name) fail("expected token 'name', got '" + describe(cur()) + "'");
    return next();
  }
  void expect_name(const char* n) {
    if (!is_name(n)) fail(std::string("expected token '") + n + "', got '" + describe(cur()) + "'");
    next();
  }
  void expect(Tok t, const char* what) {
    if (cur().type != t) fail(std::string("expected token '") + what + "', got '" + describe(cur()) + "'");
    next();
  }

  bool cur_in(const std::vector<std::string>& names) const {
    return cur().type == Tok::Name && std::find(names.begin(), names.end(), cur().text) != names.end();
  }

  // --- statements ---

  Body subparse(const std::vector<std::string>& end_tokens) {
    Body body;
    std::vector<OutputItem> buf;
    size_t buf_off = 0;
    auto flush = [&] {
      if (buf.empty()) return;
      auto s = std::make_unique<Stmt>();
      s->kind = StmtKind::Output;
      s->offset = buf_off;
      s->items = std::move(buf);
      buf.clear();
      body.push_back(std::move(s));
    };
    if (!end_tokens.empty()) end_stack_.push_back(end_tokens);
    while (cur().type != Tok::Eof) {
      const Token& t = cur();
      if (t.type == Tok::Data) {
        if (buf.empty()) buf_off = t.offset;
        buf.push_back(OutputItem{t.text, nullptr});
        next();
      } else if (t.type == Tok::VarBegin) {
        if (buf.empty()) buf_off = t.offset;
        next();
        OutputItem item;
        item.expr = parse_tuple(false, true, {}, false, false);
        buf.push_back(std::move(item));
        expect(Tok::VarEnd, "end of print statement");
      } else if (t.type == Tok::BlockBegin) {
        flush();
        next();
        if (!end_tokens.empty() && cur_in(end_tokens)) {
          end_stack_.pop_back();
          return body;
        }
        body.push_back(parse_statement());
        expect(Tok::BlockEnd, "end of statement block");
      } else {
        fail("unexpected '" + describe(t) + "'");
      }
    }
    flush();
    if (!end_tokens.empty()) end_stack_.pop_back();
    return body;
  }

  [[noreturn]] void fail_unknown(const std::string* name, size_t off) {
    std::string msg = name ? "Encountered unknown tag '" + *name + "'." : "Unexpected end of template.";
    if (!end_stack_.empty()) {
      std::string looking;
      for (auto& n : end_stack_.back()) looking += (looking.empty() ? "" : " or ") + ("'" + n + "'");
      bool expected_somewhere = false;
      if (name)
        for (auto& lvl : end_stack_)
          if (std::find(lvl.begin(), lvl.end(), *name) != lvl.end()) expected_somewhere = true;
      if (expected_somewhere) {
        msg += " You probably made a nesting mistake. Jinja is expecting this tag, but currently looking for " +
               looking + ".";
      } else {
        msg += " Jinja was looking for the following tags: " + looking + ".";
      }
    }
    if (!tag_stack_.empty()) msg += " The innermost block that needs to be closed is '" + tag_stack_.back() + "'.";
    fail(msg, off);
  }

  Body parse_statements(const std::vector<std::string>& end_tokens, bool drop_needle) {
    skip_op(":");
    expect(Tok::BlockEnd, "end of statement block");
    Body body = subparse(end_tokens);
    if (cur().type == Tok::Eof) {
      end_stack_.push_back(end_tokens);
      fail_unknown(nullptr, cur().offset);
    }
    if (drop_needle) next();
    return body;
  }

  StmtPtr new_stmt(StmtKind k, size_t off) {
    auto s = std::make_unique<Stmt>();
    s->kind = k;
    s->offset = off;
    return s;
  }

  StmtPtr parse_statement() {
    Nest nest(*this);
    const Token& tok = cur();
    if (tok.type != Tok::Name) fail("tag name expected");
    const std::string name = tok.text;
    size_t off = tok.offset;
    static const std::set<std::string> kUnsupported = {"block", "extends", "include", "import", "from", "autoescape"};
    if (kUnsupported.count(name)) fail("the '" + name + "' tag is not supported in chat templates", off);
    tag_stack_.push_back(name);
    StmtPtr s;
    if (name == "for") {
      s = parse_for();
    } else if (name == "if") {
      s = parse_if();
    } else if (name == "set") {
      s = parse_set();
    } else if (name == "macro") {
      s = parse_macro();
    } else if (name == "call") {
      s = parse_call_block();
    } else if (name == "filter") {
      s = parse_filter_block();
    } else if (name == "with") {
      s = parse_with();
    } else if (name == "print") {
      next();
      s = new_stmt(StmtKind::Output, off);
      while (cur().type != Tok::BlockEnd) {
        if (!s->items.empty()) expect_op(",");
        OutputItem item;
        item.expr = parse_expression(true);
        s->items.push_back(std::move(item));
      }
    } else if (name == "break" || name == "continue") {
      next();
      if (loop_depth_ == 0) fail("'" + name + "' is only allowed inside a for loop", off);
      s = new_stmt(name == "break" ? StmtKind::Break : StmtKind::Continue, off);
    } else if (name == "generation") {
      next();
      s = new_stmt(StmtKind::Generation, off);
      s->body = parse_statements({"endgeneration"}, true);
      t_.has_generation = true;
    } else {
      tag_stack_.pop_back();
      fail_unknown(&name, off);
    }
    tag_stack_.pop_back();
    return s;
  }

  StmtPtr parse_for() {
    size_t off = next().offset;
    auto s = new_stmt(StmtKind::For, off);
    s->target = parse_assign_target(true, false, {"in"}, false);
    expect_name("in");
    s->iter = parse_tuple(false, false, {"recursive"}, false, false);
    if (skip_name("if")) s->filter = parse_expression(true);
    if (is_name("recursive")) fail("recursive for loops are not supported");
    loop_depth_++;
    s->body = parse_statements({"endfor", "else"}, false);
    loop_depth_--;
    if (next().text == "else") s->else_body = parse_statements({"endfor"}, true);
    return s;
  }

  StmtPtr parse_if() {
    size_t off = next().offset;
    auto s = new_stmt(StmtKind::If, off);
    while (true) {
      s->conds.push_back(parse_tuple(false, false, {}, false, false));
      s->bodies.push_back(parse_statements({"elif", "else", "endif"}, false));
      const Token& t = next();
      if (t.text == "elif") continue;
      if (t.text == "else") s->else_body = parse_statements({"endif"}, true);
      break;
    }
    return s;
  }

  StmtPtr parse_set() {
    size_t off = next().offset;
    ExprPtr target = parse_assign_target(true, false, {}, true);
    if (skip_op("=")) {
      auto s = new_stmt(StmtKind::Set, off);
      s->target = std::move(target);
      s->expr = parse_tuple(false, true, {}, false, false);
      return s;
    }
    auto s = new_stmt(StmtKind::SetBlock, off);
    s->target = std::move(target);
    s->filter = parse_filter(nullptr, false);
    s->body = parse_statements({"endset"}, true);
    return s;
  }

  void parse_signature(Stmt& s) {
    expect_op("(");
    while (!is_op(")")) {
      if (!s.params.empty()) expect_op(",");
      if (is_op(")")) break;
      const Token& n = expect_name();
      if (skip_op("=")) {
        s.defaults.push_back(parse_expression(true));
      } else if (!s.defaults.empty()) {
        fail("non-default argument follows default argument", n.offset);
      }
      s.params.push_back(n.text);
    }
    expect_op(")");
  }

  static void scan_names(const Expr* e, std::set<std::string>& names) {
    if (!e) return;
    if (e->kind == ExprKind::Name) names.insert(e->name);
    for (auto& a : e->args) scan_names(a.get(), names);
    for (auto& kv : e->kwargs) scan_names(kv.second.get(), names);
    scan_names(e->dyn_args.get(), names);
    scan_names(e->dyn_kwargs.get(), names);
  }
  static void scan_names(const Body& body, std::set<std::string>& names) {
    for (auto& s : body) {
      for (auto& it : s->items) scan_names(it.expr.get(), names);
      for (auto& c : s->conds) scan_names(c.get(), names);
      for (auto& b : s->bodies) scan_names(b, names);
      scan_names(s->body, names);
      scan_names(s->else_body, names);
      scan_names(s->iter.get(), names);
      scan_names(s->filter.get(), names);
      scan_names(s->expr.get(), names);
      for (auto& d : s->defaults) scan_names(d.get(), names);
    }
  }
  static void mark_uses(Stmt& s) {
    std::set<std::string> names;
    scan_names(s.body, names);
    s.uses_varargs = names.count("varargs") > 0;
    s.uses_kwargs = names.count("kwargs") > 0;
    s.uses_caller = names.count("caller") > 0;
  }

  StmtPtr parse_macro() {
    size_t off = next().offset;
    auto s = new_stmt(StmtKind::Macro, off);
    s->name = expect_name().text;
    parse_signature(*s);
    int saved = loop_depth_;
    loop_depth_ = 0;
    s->body = parse_statements({"endmacro"}, true);
    loop_depth_ = saved;
    mark_uses(*s);
    return s;
  }

  StmtPtr parse_call_block() {
    size_t off = next().offset;
    auto s = new_stmt(StmtKind::CallBlock, off);
    if (is_op("(")) parse_signature(*s);
    s->expr = parse_expression(true);
    if (s->expr->kind != ExprKind::Call) fail("expected call", off);
    int saved = loop_depth_;
    loop_depth_ = 0;
    s->body = parse_statements({"endcall"}, true);
    loop_depth_ = saved;
    mark_uses(*s);
    return s;
  }

  StmtPtr parse_filter_block() {
    size_t off = next().offset;
    auto s = new_stmt(StmtKind::FilterBlock, off);
    s->filter = parse_filter(nullptr, true);
    s->body = parse_statements({"endfilter"}, true);
    return s;
  }

  StmtPtr parse_with() {
    size_t off = next().offset;
    auto s = new_stmt(StmtKind::With, off);
    std::vector<ExprPtr> targets;
    while (cur().type != Tok::BlockEnd) {
      if (!targets.empty()) expect_op(",");
      targets.push_back(parse_assign_target(true, false, {}, false));
      expect_op("=");
      s->conds.push_back(parse_expression(true));
    }
    for (auto& t : targets) {
      if (t->kind != ExprKind::Name) fail("only simple names can be bound by 'with'", t->offset);
      s->params.push_back(t->name);
    }
    s->body = parse_statements({"endwith"}, true);
    return s;
  }

  ExprPtr parse_assign_target(bool with_tuple, bool name_only, const std::vector<std::string>& extra_end,
                              bool with_namespace) {
    ExprPtr target;
    if (name_only) {
      const Token& t = expect_name();
      target = make(ExprKind::Name, t.offset);
      target->name = t.text;
      return target;
    }
    target = with_tuple ? parse_tuple(true, true, extra_end, false, with_namespace) : parse_primary(with_namespace);
    check_assignable(*target);
    return target;
  }

  void check_assignable(const Expr& e) {
    if (e.kind == ExprKind::Name || e.kind == ExprKind::NSRef) return;
    if (e.kind == ExprKind::Tuple) {
      for (auto& a : e.args) {
        if (a->kind != ExprKind::Name) fail("can't assign to '" + std::string(a->kind == ExprKind::Const ? "const" : "expression") + "'", a->offset);
      }
      return;
    }
    fail(std::string("can't assign to '") + (e.kind == ExprKind::Const ? "const" : "expression") + "'", e.offset);
  }

  // --- expressions ---

  ExprPtr parse_expression(bool with_condexpr) {
    Nest nest(*this);
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprPtr parse_condexpr() {
    ExprPtr e1 = parse_or();
    while (is_name("if")) {
      size_t off = next().offset;
      ExprPtr e2 = parse_or();
      ExprPtr e3;
      if (skip_name("else")) e3 = parse_condexpr();
      auto c = make(ExprKind::CondExpr, off);
      c->args.push_back(std::move(e2));
      c->args.push_back(std::move(e1));
      c->args.push_back(std::move(e3));
      e1 = std::move(c);
    }
    return e1;
  }

  ExprPtr binary(ExprKind k, ExprPtr l, ExprPtr r, size_t off, const std::string& op = "") {
    auto e = make(k, off);
    e->name = op;
    e->args.push_back(std::move(l));
    e->args.push_back(std::move(r));
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      size_t off = next().offset;
      left = binary(ExprKind::Or, std::move(left), parse_and(), off);
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      size_t off = next().offset;
      left = binary(ExprKind::And, std::move(left), parse_not(), off);
    }
    return left;
  }

  ExprPtr parse_not() {
    Nest nest(*this);
    if (is_name("not")) {
      size_t off = next().offset;
      auto e = make(ExprKind::Not, off);
      e->args.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    size_t off = cur().offset;
    ExprPtr expr = parse_math1();
    ExprPtr cmp;
    while (true) {
      std::string op;
      if (cur().type == Tok::Op) {
        const std::string& t = cur().text;
        if (t == "==") op = "eq";
        else if (t == "!=") op = "ne";
        else if (t == "<") op = "lt";
        else if (t == "<=") op = "lteq";
        else if (t == ">") op = "gt";
        else if (t == ">=") op = "gteq";
        if (!op.empty()) next();
      }
      if (op.empty()) {
        if (is_name("in")) {
          next();
          op = "in";
        } else if (is_name("not") && look().type == Tok::Name && look().text == "in") {
          next();
          next();
          op = "notin";
        } else {
          break;
        }
      }
      if (!cmp) {
        cmp = make(ExprKind::Compare, off);
        cmp->args.push_back(std::move(expr));
      }
      cmp->ops.push_back(op);
      cmp->args.push_back(parse_math1());
    }
    return cmp ? std::move(cmp) : std::move(expr);
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& t = next();
      left = binary(ExprKind::Binary, std::move(left), parse_concat(), t.offset, t.text);
    }
    return left;
  }

  ExprPtr parse_concat() {
    size_t off = cur().offset;
    ExprPtr first = parse_math2();
    if (!is_op("~")) return first;
    auto e = make(ExprKind::Concat, off);
    e->args.push_back(std::move(first));
    while (skip_op("~")) e->args.push_back(parse_math2());
    return e;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& t = next();
      left = binary(ExprKind::Binary, std::move(left), parse_pow(), t.offset, t.text);
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (is_op("**")) {
      const Token& t = next();
      left = binary(ExprKind::Binary, std::move(left), parse_unary(true), t.offset, "**");
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    Nest nest(*this);
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      const Token& t = next();
      node = make(t.text == "-" ? ExprKind::Neg : ExprKind::Pos, t.offset);
      node->args.push_back(parse_unary(false));
    } else {
      node = parse_primary(false);
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary(bool with_namespace) {
    const Token& t = cur();
    if (t.type == Tok::Name) {
      next();
      if (t.text == "true" || t.text == "True" || t.text == "false" || t.text == "False") {
        auto e = make(ExprKind::Const, t.offset);
        e->value = Value::boolean(t.text == "true" || t.text == "True");
        return e;
      }
      if (t.text == "none" || t.text == "None") {
        auto e = make(ExprKind::Const, t.offset);
        e->value = Value::none();
        return e;
      }
      if (with_namespace && is_op(".")) {
        next();
        auto e = make(ExprKind::NSRef, t.offset);
        e->name = t.text;
        e->attr = expect_name().text;
        return e;
      }
      auto e = make(ExprKind::Name, t.offset);
      e->name = t.text;
      return e;
    }
    if (t.type == Tok::String) {
      size_t off = t.offset;
      std::string s;
      while (cur().type == Tok::String) s += next().text;
      auto e = make(ExprKind::Const, off);
      e->value = Value::string(std::move(s));
      return e;
    }
    if (t.type == Tok::Int || t.type == Tok::Float) {
      next();
      auto e = make(ExprKind::Const, t.offset);
      e->value = t.type == Tok::Int ? Value::integer(t.ival) : Value::real(t.fval);
      return e;
    }
    if (is_op("(")) {
      next();
      ExprPtr e = parse_tuple(false, true, {}, true, false);
      expect_op(")");
      return e;
    }
    if (is_op("[")) return parse_list();
    if (is_op("{")) return parse_dict();
    fail("unexpected '" + describe(t) + "'");
  }

  bool is_tuple_end(const std::vector<std::string>& extra) const {
    if (cur().type == Tok::VarEnd || cur().type == Tok::BlockEnd || is_op(")")) return true;
    return cur_in(extra);
  }

  ExprPtr parse_tuple(bool simplified, bool with_condexpr, const std::vector<std::string>& extra_end,
                      bool explicit_parens, bool with_namespace) {
    size_t off = cur().offset;
    std::vector<ExprPtr> args;
    bool is_tuple = false;
    while (true) {
      if (!args.empty()) expect_op(",");
      if (is_tuple_end(extra_end)) break;
      args.push_back(simplified ? parse_primary(with_namespace) : parse_expression(with_condexpr));
      if (is_op(",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (!args.empty()) return std::move(args[0]);
      if (!explicit_parens) fail("Expected an expression, got '" + describe(cur()) + "'");
    }
    auto e = make(ExprKind::Tuple, off);
    e->args = std::move(args);
    return e;
  }

  ExprPtr parse_list() {
    size_t off = next().offset;
    auto e = make(ExprKind::List, off);
    while (!is_op("]")) {
      if (!e->args.empty()) expect_op(",");
      if (is_op("]")) break;
      e->args.push_back(parse_expression(true));
    }
    expect_op("]");
    return e;
  }

  ExprPtr parse_dict() {
    size_t off = next().offset;
    auto e = make(ExprKind::Dict, off);
    while (!is_op("}")) {
      if (!e->args.empty()) expect_op(",");
      if (is_op("}")) break;
      e->args.push_back(parse_expression(true));
      expect_op(":");
      e->args.push_back(parse_expression(true));
    }
    expect_op("}");
    return e;
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (is_op(".") || is_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        break;
      }
    }
    return node;
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (is_op("|")) {
        node = parse_filter(std::move(node), false);
      } else if (is_name("is")) {
        node = parse_test(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        break;
      }
    }
    return node;
  }

  ExprPtr parse_subscript(ExprPtr node) {
    const Token& t = next();
    if (t.text == ".") {
      const Token& a = next();
      if (a.type == Tok::Name) {
        auto e = make(ExprKind::Getattr, t.offset);
        e->args.push_back(std::move(node));
        e->name = a.text;
        return e;
      }
      if (a.type != Tok::Int) fail("expected name or number", a.offset);
      auto key = make(ExprKind::Const, a.offset);
      key->value = Value::integer(a.ival);
      auto e = make(ExprKind::Getitem, t.offset);
      e->args.push_back(std::move(node));
      e->args.push_back(std::move(key));
      return e;
    }
    std::vector<ExprPtr> args;
    while (!is_op("]")) {
      if (!args.empty()) expect_op(",");
      args.push_back(parse_subscribed());
    }
    expect_op("]");
    auto e = make(ExprKind::Getitem, t.offset);
    e->args.push_back(std::move(node));
    if (args.size() == 1) {
      e->args.push_back(std::move(args[0]));
    } else {
      auto tup = make(ExprKind::Tuple, t.offset);
      tup->args = std::move(args);
      e->args.push_back(std::move(tup));
    }
    return e;
  }

  ExprPtr parse_subscribed() {
    size_t off = cur().offset;
    std::vector<ExprPtr> args;
    if (is_op(":")) {
      next();
      args.push_back(nullptr);
    } else {
      ExprPtr node = parse_expression(true);
      if (!is_op(":")) return node;
      next();
      args.push_back(std::move(node));
    }
    if (is_op(":")) {
      args.push_back(nullptr);
    } else if (!is_op("]") && !is_op(",")) {
      args.push_back(parse_expression(true));
    } else {
      args.push_back(nullptr);
    }
    if (is_op(":")) {
      next();
      if (!is_op("]") && !is_op(",")) {
        args.push_back(parse_expression(true));
      } else {
        args.push_back(nullptr);
      }
    } else {
      args.push_back(nullptr);
    }
    auto e = make(ExprKind::Slice, off);
    e->args = std::move(args);
    return e;
  }

  void parse_call_args(Expr& call) {
    size_t off = cur().offset;
    expect_op("(");
    bool require_comma = false;
    auto ensure = [&](bool ok) {
      if (!ok) fail("invalid syntax for function call expression", off);
    };
    while (!is_op(")")) {
      if (require_comma) {
        expect_op(",");
        if (is_op(")")) break;
      }
      if (is_op("*")) {
        ensure(!call.dyn_args && !call.dyn_kwargs);
        next();
        call.dyn_args = parse_expression(true);
      } else if (is_op("**")) {
        ensure(!call.dyn_kwargs);
        next();
        call.dyn_kwargs = parse_expression(true);
      } else if (cur().type == Tok::Name && look().type == Tok::Op && look().text == "=") {
        ensure(!call.dyn_kwargs);
        std::string key = next().text;
        next();
        call.kwargs.emplace_back(key, parse_expression(true));
      } else {
        ensure(!call.dyn_args && !call.dyn_kwargs && call.kwargs.empty());
        call.args.push_back(parse_expression(true));
      }
      require_comma = true;
    }
    expect_op(")");
  }

  ExprPtr parse_call(ExprPtr node) {
    auto e = make(ExprKind::Call, cur().offset);
    e->args.push_back(std::move(node));
    parse_call_args(*e);
    return e;
  }

  ExprPtr parse_filter(ExprPtr node, bool start_inline) {
    while (is_op("|") || start_inline) {
      if (!start_inline) next();
      const Token& t = expect_name();
      std::string name = t.text;
      while (is_op(".")) {
        next();
        name += "." + expect_name().text;
      }
      if (!is_known_filter(name)) fail("No filter named '" + name + "'.", t.offset);
      auto e = make(ExprKind::Filter, t.offset);
      e->name = name;
      e->args.push_back(std::move(node));
      if (is_op("(")) parse_call_args(*e);
      node = std::move(e);
      start_inline = false;
    }
    return node;
  }

  ExprPtr parse_test(ExprPtr node) {
    size_t off = next().offset;
    bool negated = skip_name("not");
    const Token& t = expect_name();
    std::string name = t.text;
    while (is_op(".")) {
      next();
      name += "." + expect_name().text;
    }
    if (!is_known_test(name)) fail("No test named '" + name + "'.", t.offset);
    auto e = make(ExprKind::Test, off);
    e->name = name;
    e->args.push_back(std::move(node));
    if (is_op("(")) {
      parse_call_args(*e);
    } else if ((cur().type == Tok::Name || cur().type == Tok::String || cur().type == Tok::Int ||
                cur().type == Tok::Float || is_op("(") || is_op("[") || is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) fail("You cannot chain multiple tests with is");
      ExprPtr arg = parse_primary(false);
      e->args.push_back(parse_postfix(std::move(arg)));
    }
    if (!negated) return e;
    auto n = make(ExprKind::Not, off);
    n->args.push_back(std::move(e));
    return n;
  }
};

}  // namespace

std::shared_ptr<Template> parse_template(const std::string& source, const std::string& source_name) {
  auto t = std::make_shared<Template>();
  t->source_name = source_name;
  if (!utf8_valid(source)) throw TemplateError(0, "template is not valid UTF-8");
  t->source = normalize_source(source);
  Lexer lexer(t->source);
  std::vector<Token> toks = lexer.run();
  Parser parser(std::move(toks), *t);
  t->body = parser.parse();
  return t;
}

}  // namespace mc::jinja

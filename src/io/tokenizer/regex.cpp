// Tokenizer patterns on PCRE2 (see regex.h).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "io/tokenizer/regex.h"

#include <pcre2.h>

#include "core/error.h"
#include "io/tokenizer/unicode.h"

namespace mc::tok {

// Oniguruma's \s in UTF-8 mode is Unicode White_Space; PCRE2's UCP \s lacks U+0085.
static const char* kSpaceClassBody = "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";

std::string onig_to_pcre2(const std::string& re) {
  std::string out;
  out.reserve(re.size() + 64);
  bool in_class = false;
  for (size_t i = 0; i < re.size(); ++i) {
    char c = re[i];
    if (c == '\\' && i + 1 < re.size()) {
      char n = re[i + 1];
      if (n == 's') {
        out += in_class ? std::string(kSpaceClassBody) : std::string("[") + kSpaceClassBody + "]";
      } else if (n == 'S' && !in_class) {
        out += std::string("[^") + kSpaceClassBody + "]";
      } else {
        out += c;
        out += n;
      }
      ++i;
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal member.
      if (i + 1 < re.size() && re[i + 1] == '^') out += re[++i];
      if (i + 1 < re.size() && re[i + 1] == ']') out += re[++i];
      continue;
    }
    if (in_class && c == '[' && i + 1 < re.size() && re[i + 1] == ':') {  // POSIX class [:alpha:]
      size_t end = re.find(":]", i + 2);
      if (end != std::string::npos) {
        out.append(re, i, end + 2 - i);
        i = end + 1;
        continue;
      }
    }
    if (in_class && c == ']') in_class = false;
    out += c;
  }
  return out;
}

struct Pattern::Code {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Code() {
    if (code) pcre2_code_free(code);
  }
};

Pattern Pattern::literal(std::string s) {
  Pattern p;
  p.literal_ = std::move(s);
  return p;
}

Pattern Pattern::regex(const std::string& re, const std::string& source) {
  std::string pat = onig_to_pcre2(re);
  int err = 0;
  PCRE2_SIZE err_off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pat.data()), pat.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &err, &err_off, nullptr);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof(msg));
    throw Error("tokenizer", str(source, ": invalid regex '", re, "' (", reinterpret_cast<char*>(msg),
                                 " at offset ", err_off, ")"));
  }
  Pattern p;
  p.code_ = std::make_shared<Code>();
  p.code_->code = code;
  p.code_->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return p;
}

Pattern Pattern::from_json_fields(bool is_regex, const std::string& value, const std::string& source) {
  return is_regex ? regex(value, source) : literal(value);
}

namespace {
struct MatchData {
  pcre2_match_data* md;
  explicit MatchData(const pcre2_code* code) : md(pcre2_match_data_create_from_pattern(code, nullptr)) {}
  ~MatchData() { pcre2_match_data_free(md); }
};
}  // namespace

void Pattern::find_all(std::string_view s, std::vector<std::pair<size_t, size_t>>& out) const {
  if (!code_) {
    if (literal_.empty()) {  // empty match at every character boundary, end included
      for (size_t i = 0; i < s.size(); i += utf8_len(static_cast<unsigned char>(s[i]))) out.emplace_back(i, i);
      out.emplace_back(s.size(), s.size());
      return;
    }
    size_t pos = 0;
    while ((pos = s.find(literal_, pos)) != std::string_view::npos) {
      out.emplace_back(pos, pos + literal_.size());
      pos += literal_.size();
    }
    return;
  }
  MatchData md(code_->code);
  auto subject = reinterpret_cast<PCRE2_SPTR>(s.data());
  size_t start = 0;
  while (start <= s.size()) {
    int rc = code_->jit ? pcre2_jit_match(code_->code, subject, s.size(), start, 0, md.md, nullptr)
                        : pcre2_match(code_->code, subject, s.size(), start, PCRE2_NO_UTF_CHECK, md.md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof(msg));
      throw Error("tokenizer", str("regex match failed (", reinterpret_cast<char*>(msg), ")"));
    }
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.md);
    size_t b = ov[0], e = ov[1];
    if (e < b) e = b;  // \K tricks; keep ranges sane
    out.emplace_back(b, e);
    if (e > b) {
      start = e;
    } else {  // empty match: move one character on
      if (b >= s.size()) break;
      start = b + utf8_len(static_cast<unsigned char>(s[b]));
    }
  }
}

}  // namespace mc::tok

// Strict .npy reader; see npy.h for what is accepted.
#include "geometry/report/npy.h"

#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>

#include "core/error.h"
#include "core/fs.h"

namespace mc::geometry {

namespace {

/// numpy refuses headers above this many bytes unless allow_pickle-like overrides (format.py
/// _MAX_HEADER_SIZE = 10000); we use the same limit.
constexpr uint64_t kNpyMaxHeaderBytes = 10000;

/// A tiny parser for the header's Python dict literal: string keys, values that are strings, True /
/// False, or tuples of non-negative integers.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& source) : s_(text), src_(source) {}

  struct Value {
    enum Kind { String, Bool, Tuple } kind = String;
    std::string str;
    bool b = false;
    std::vector<int64_t> ints;
  };

  std::map<std::string, Value> parse() {
    std::map<std::string, Value> out;
    skip_ws();
    expect('{');
    skip_ws();
    while (peek() != '}') {
      std::string key = parse_string();
      skip_ws();
      expect(':');
      skip_ws();
      Value v = parse_value();
      if (out.count(key)) fail("duplicate key '" + key + "'");
      out[key] = v;
      skip_ws();
      if (peek() == ',') {
        ++i_;
        skip_ws();
      } else if (peek() != '}') {
        fail("expected ',' or '}' in the header dict");
      }
    }
    ++i_;
    skip_ws();
    if (i_ != s_.size()) fail("trailing characters after the header dict");
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw Error("npy", src_ + ": header: " + what); }
  char peek() const {
    if (i_ >= s_.size()) fail("unexpected end of the header");
    return s_[i_];
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++i_;
  }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  std::string parse_string() {
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string");
    ++i_;
    std::string out;
    while (peek() != q) {
      if (s_[i_] == '\\') fail("escape sequences are not supported in the header");
      out += s_[i_++];
    }
    ++i_;
    return out;
  }
  Value parse_value() {
    Value v;
    const char c = peek();
    if (c == '\'' || c == '"') {
      v.kind = Value::String;
      v.str = parse_string();
    } else if (s_.compare(i_, 4, "True") == 0) {
      v.kind = Value::Bool;
      v.b = true;
      i_ += 4;
    } else if (s_.compare(i_, 5, "False") == 0) {
      v.kind = Value::Bool;
      v.b = false;
      i_ += 5;
    } else if (c == '(') {
      v.kind = Value::Tuple;
      ++i_;
      skip_ws();
      while (peek() != ')') {
        if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("shape entries must be non-negative integers");
        int64_t x = 0;
        while (std::isdigit(static_cast<unsigned char>(peek()))) {
          if (x > (std::numeric_limits<int64_t>::max() - 9) / 10) fail("shape entry too large");
          x = x * 10 + (s_[i_++] - '0');
        }
        if (peek() == 'L') ++i_;  // Python 2 long suffix, as numpy still accepts
        v.ints.push_back(x);
        skip_ws();
        if (peek() == ',') {
          ++i_;
          skip_ws();
        } else if (peek() != ')') {
          fail("expected ',' or ')' in the shape tuple");
        }
      }
      ++i_;
    } else {
      fail("unsupported value in the header dict");
    }
    return v;
  }

  const std::string& s_;
  const std::string& src_;
  size_t i_ = 0;
};

}  // namespace

DenseMatrix npy_parse(std::span<const uint8_t> bytes, const std::string& source) {
  static const uint8_t kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (bytes.empty()) throw Error("npy", source + ": empty file");
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, 6) != 0)
    throw Error("npy", source + ": not a .npy file (bad magic)");
  const uint8_t major = bytes[6], minor = bytes[7];
  if (!((major == 1 || major == 2 || major == 3) && minor == 0))
    throw Error("npy", source + ": unsupported .npy version " + std::to_string(major) + "." + std::to_string(minor));
  uint64_t header_len = 0, prefix = 0;
  if (major == 1) {
    header_len = static_cast<uint64_t>(bytes[8]) | (static_cast<uint64_t>(bytes[9]) << 8);
    prefix = 10;
  } else {
    if (bytes.size() < 12) throw Error("npy", source + ": truncated header");
    header_len = static_cast<uint64_t>(bytes[8]) | (static_cast<uint64_t>(bytes[9]) << 8) |
                 (static_cast<uint64_t>(bytes[10]) << 16) | (static_cast<uint64_t>(bytes[11]) << 24);
    prefix = 12;
  }
  if (header_len > kNpyMaxHeaderBytes)
    throw Error("npy", source + ": header of " + std::to_string(header_len) + " bytes exceeds " +
                           std::to_string(kNpyMaxHeaderBytes));
  if (prefix + header_len > bytes.size()) throw Error("npy", source + ": header extends past the end of the file");
  std::string header(reinterpret_cast<const char*>(bytes.data() + prefix), header_len);
  if (header.empty() || header.back() != '\n') throw Error("npy", source + ": header does not end with a newline");
  for (char c : header)
    if (static_cast<unsigned char>(c) >= 0x80 && major < 3)
      throw Error("npy", source + ": non-ASCII byte in a version " + std::to_string(major) + " header");

  auto dict = HeaderParser(header, source).parse();
  for (const char* key : {"descr", "fortran_order", "shape"})
    if (!dict.count(key)) throw Error("npy", source + ": header has no '" + key + "'");
  if (dict.size() != 3) throw Error("npy", source + ": header has keys other than descr, fortran_order, shape");
  const auto& descr = dict["descr"];
  const auto& fortran = dict["fortran_order"];
  const auto& shape = dict["shape"];
  if (descr.kind != HeaderParser::Value::String) throw Error("npy", source + ": 'descr' is not a string");
  if (fortran.kind != HeaderParser::Value::Bool) throw Error("npy", source + ": 'fortran_order' is not True/False");
  if (shape.kind != HeaderParser::Value::Tuple) throw Error("npy", source + ": 'shape' is not a tuple");

  DenseMatrix m;
  size_t item = 0;
  if (descr.str == "<f4") {
    item = 4;
    m.dtype = "float32";
  } else if (descr.str == "<f8") {
    item = 8;
    m.dtype = "float64";
  } else {
    throw Error("npy", source + ": dtype '" + descr.str + "' is not supported (need little-endian float32 '<f4' or "
                                "float64 '<f8')");
  }
  if (fortran.b) throw Error("npy", source + ": Fortran-order arrays are not supported (save a C-order array)");
  if (shape.ints.size() != 2)
    throw Error("npy", source + ": expected a 2-D array (samples, features), got " + std::to_string(shape.ints.size()) +
                           "-D");
  m.rows = shape.ints[0];
  m.cols = shape.ints[1];
  if (m.rows == 0 || m.cols == 0)
    throw Error("npy", source + ": empty array (shape (" + std::to_string(m.rows) + ", " + std::to_string(m.cols) + "))");
  const uint64_t data_off = prefix + header_len;
  const uint64_t avail = bytes.size() - data_off;
  // rows·cols·item without overflow
  const uint64_t r = static_cast<uint64_t>(m.rows), c = static_cast<uint64_t>(m.cols);
  if (c > avail / item || r > avail / (c * item) || r * c * item != avail)
    throw Error("npy", source + ": data area holds " + std::to_string(avail) + " bytes, shape (" +
                           std::to_string(m.rows) + ", " + std::to_string(m.cols) + ") of " + m.dtype + " needs " +
                           (c > avail / item || r > avail / (c * item) ? std::string("more")
                                                                        : std::to_string(r * c * item)));
  m.data.resize(static_cast<size_t>(r * c));
  const uint8_t* p = bytes.data() + data_off;
  for (size_t i = 0; i < m.data.size(); ++i) {
    if (item == 4) {
      float f;
      std::memcpy(&f, p + 4 * i, 4);
      m.data[i] = static_cast<double>(f);
    } else {
      std::memcpy(&m.data[i], p + 8 * i, 8);
    }
  }
  return m;
}

DenseMatrix npy_load(const std::string& path) {
  MappedFile f = MappedFile::open(path, "npy");
  return npy_parse(f.bytes(), path);
}

}  // namespace mc::geometry

// Builtins of the chat-template interpreter: attribute and item access as jinja2's sandbox does
// them, the str/dict/list methods templates call, the loop object, the globals transformers
// installs (range, dict, namespace, raise_exception, strftime_now), and jinja2 3.1's filters and
// tests (filters.py, tests.py) with transformers' tojson override. Filters that jinja2 implements
// as generators (select, map, ...) return single-use iterators, so `|length` on them fails and they
// are always truthy, exactly as in Python.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <optional>
#include <set>

#include <utf8proc.h>

#include "io/chat_template/interp.h"
#include "io/chat_template/pystr.h"

namespace mc::jinja {

namespace {

const std::set<std::string> kFilters = {
    "abs",     "attr",      "batch",  "capitalize", "center",     "count",   "d",      "default", "dictsort",
    "e",       "escape",    "first",  "float",      "forceescape", "format", "indent", "int",     "items",
    "join",    "last",      "length", "list",       "lower",      "map",     "max",    "min",     "reject",
    "rejectattr", "replace", "reverse", "round",    "safe",       "select",  "selectattr", "slice", "sort",
    "string",  "sum",       "title",  "tojson",     "trim",       "unique",  "upper",  "wordcount"};

const std::set<std::string> kTests = {
    "boolean", "callable", "defined", "divisibleby", "eq",      "equalto", "escaped",  "even",   "false",
    "filter",  "float",    "ge",      "greaterthan", "gt",      "in",      "integer",  "iterable", "le",
    "lessthan", "lower",   "lt",      "mapping",     "ne",      "none",    "number",   "odd",    "sameas",
    "sequence", "string",  "test",    "true",        "undefined", "upper", "==",       "!=",     "<",
    "<=",      ">",        ">="};

Value callable_value(const std::string& name, std::function<Value(Interp&, CallArgs&)> fn) {
  auto c = std::make_shared<CallableObj>();
  c->name = name;
  c->fn = std::move(fn);
  return Value::callable(std::move(c));
}

/// Binds call arguments to a Python signature. Returns one optional per parameter.
std::vector<std::optional<Value>> bind(const std::string& fname, CallArgs& args,
                                       std::initializer_list<const char*> params, bool keywords = true) {
  std::vector<std::optional<Value>> out(params.size());
  std::vector<const char*> names(params);
  if (args.pos.size() > names.size())
    throw ValueError(fname + "() takes at most " + std::to_string(names.size()) + " argument(s) (" +
                     std::to_string(args.pos.size()) + " given)");
  for (size_t i = 0; i < args.pos.size(); i++) out[i] = args.pos[i];
  for (auto& kv : args.kw) {
    if (!keywords) throw ValueError(fname + "() takes no keyword arguments");
    auto it = std::find_if(names.begin(), names.end(), [&](const char* n) { return kv.first == n; });
    if (it == names.end()) throw ValueError(fname + "() got an unexpected keyword argument '" + kv.first + "'");
    size_t idx = static_cast<size_t>(it - names.begin());
    if (out[idx]) throw ValueError(fname + "() got multiple values for argument '" + kv.first + "'");
    out[idx] = kv.second;
  }
  return out;
}

void no_args(const std::string& fname, const CallArgs& args) {
  if (!args.pos.empty() || !args.kw.empty())
    throw ValueError(fname + "() takes no arguments (" + std::to_string(args.pos.size() + args.kw.size()) +
                     " given)");
}

const std::string& need_str(const Value& v, const std::string& what) {
  if (v.is_undefined()) fail_undefined(v);
  if (!v.is_string()) throw ValueError(what + " must be str, not " + type_name(v));
  return v.str();
}

int64_t need_int(const Value& v, const std::string& what) {
  if (v.is_undefined()) fail_undefined(v);
  if (!v.is_number() || v.is_float())
    throw ValueError("'" + type_name(v) + "' object cannot be interpreted as an integer (" + what + ")");
  return v.as_int();
}

/// soft_str: str() of anything, keeping Markup.
Value soft_str(const Value& v) {
  if (v.is_string()) return v;
  return Value::string(to_str(v));
}

Value iterator_of(std::vector<Value> items) { return Value::seq(SeqKind::Iterator, std::move(items)); }

// --- str methods ----------------------------------------------------------------------------------

const std::set<std::string> kStrAttrs = {
    "capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs", "find", "format",
    "format_map", "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower",
    "isnumeric", "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip", "maketrans",
    "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition", "rsplit",
    "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "translate", "upper", "zfill"};

bool affix_match(const std::string& s, const Value& affix, bool prefix, const std::string& fname) {
  auto one = [&](const Value& a) {
    const std::string& x = need_str(a, fname + " arg");
    if (x.size() > s.size()) return false;
    return prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (affix.is_seq() && affix.seq().kind == SeqKind::Tuple) {
    for (auto& a : affix.seq().items)
      if (one(a)) return true;
    return false;
  }
  if (!affix.is_string())
    throw ValueError(fname + " first arg must be str or a tuple of str, not " + type_name(affix));
  return one(affix);
}

constexpr int64_t kMaxWidth = int64_t{1} << 24;  // widths beyond this are refused, not allocated

std::string pad(const std::string& s, int64_t width, const std::string& fill, int where /* -1 left, 0 center, 1 right */) {
  if (width > kMaxWidth) throw ValueError("width " + std::to_string(width) + " is too large");
  int64_t len = static_cast<int64_t>(py_len(s));
  if (width <= len) return s;
  int64_t marg = width - len;
  int64_t left = where == 0 ? marg / 2 + (marg & width & 1) : where < 0 ? 0 : marg;
  int64_t right = marg - left;
  std::string out;
  for (int64_t i = 0; i < left; i++) out += fill;
  out += s;
  for (int64_t i = 0; i < right; i++) out += fill;
  return out;
}

std::string fill_char(const std::optional<Value>& v, const std::string& fname) {
  if (!v) return " ";
  const std::string& f = need_str(*v, fname + " fill character");
  if (py_len(f) != 1) throw ValueError("The fill character must be exactly one character long");
  return f;
}

std::string str_format(Interp& in, const std::string& fmt, CallArgs& args) {
  std::string out;
  size_t auto_idx = 0;
  for (size_t i = 0; i < fmt.size(); i++) {
    char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}') {
        out += '}';
        i++;
        continue;
      }
      throw ValueError("Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out += '{';
      i++;
      continue;
    }
    size_t close = fmt.find('}', i);
    if (close == std::string::npos) throw ValueError("Single '{' encountered in format string");
    std::string field = fmt.substr(i + 1, close - i - 1);
    i = close;
    char conv = 0;
    size_t bang = field.find('!');
    if (bang != std::string::npos) {
      if (bang + 2 != field.size()) throw ValueError("unsupported conversion in str.format");
      conv = field[bang + 1];
      field = field.substr(0, bang);
    }
    if (field.find(':') != std::string::npos) throw ValueError("format specs in str.format are not supported");
    Value v;
    std::string head = field, rest;
    size_t dot = field.find_first_of(".[");
    if (dot != std::string::npos) {
      head = field.substr(0, dot);
      rest = field.substr(dot);
    }
    if (head.empty()) {
      if (auto_idx >= args.pos.size()) throw ValueError("Replacement index " + std::to_string(auto_idx) + " out of range");
      v = args.pos[auto_idx++];
    } else if (std::all_of(head.begin(), head.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
      size_t k = static_cast<size_t>(std::stoul(head));
      if (k >= args.pos.size()) throw ValueError("Replacement index " + head + " out of range");
      v = args.pos[k];
    } else {
      auto it = std::find_if(args.kw.begin(), args.kw.end(), [&](auto& kv) { return kv.first == head; });
      if (it == args.kw.end()) throw ValueError("KeyError: " + py_repr_str(head));
      v = it->second;
    }
    while (!rest.empty()) {
      if (rest[0] == '.') {
        size_t e = rest.find_first_of(".[", 1);
        v = in.getattr(v, rest.substr(1, e == std::string::npos ? std::string::npos : e - 1));
        rest = e == std::string::npos ? "" : rest.substr(e);
      } else {
        size_t e = rest.find(']');
        if (e == std::string::npos) throw ValueError("Missing ']' in format string");
        std::string key = rest.substr(1, e - 1);
        bool digits = !key.empty() && std::all_of(key.begin(), key.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
        v = in.getitem(v, digits ? Value::integer(std::stoll(key)) : Value::string(key));
        rest = rest.substr(e + 1);
      }
    }
    out += conv == 'r' || conv == 'a' ? repr(v) : to_str(v);
  }
  return out;
}

Value str_method(const Value& self, const std::string& name) {
  return callable_value(name, [self, name](Interp& in, CallArgs& args) -> Value {
    const std::string& s = self.str();
    bool mk = self.markup();
    auto S = [mk](std::string x) { return Value::string(std::move(x), mk); };
    if (name == "upper") return no_args(name, args), S(py_upper(s));
    if (name == "lower") return no_args(name, args), S(py_lower(s));
    if (name == "title") return no_args(name, args), S(py_title(s));
    if (name == "capitalize") return no_args(name, args), S(py_capitalize(s));
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      auto a = bind(name, args, {"chars"}, false);
      const std::string* chars = nullptr;
      std::string c;
      if (a[0] && !a[0]->is_none()) {
        c = need_str(*a[0], name + " arg");
        chars = &c;
      }
      return S(py_strip(s, chars, name != "rstrip", name != "lstrip"));
    }
    if (name == "split" || name == "rsplit") {
      auto a = bind(name, args, {"sep", "maxsplit"});
      std::string sep;
      const std::string* sp = nullptr;
      if (a[0] && !a[0]->is_none()) {
        sep = need_str(*a[0], "sep");
        sp = &sep;
      }
      int64_t maxsplit = a[1] ? need_int(*a[1], "maxsplit") : -1;
      std::vector<std::string> parts;
      try {
        parts = name == "split" ? py_split(s, sp, maxsplit) : py_rsplit(s, sp, maxsplit);
      } catch (const std::invalid_argument& e) {
        throw ValueError(e.what());
      }
      std::vector<Value> items;
      for (auto& p : parts) items.push_back(S(p));
      return Value::list(std::move(items));
    }
    if (name == "splitlines") {
      auto a = bind(name, args, {"keepends"});
      std::vector<Value> items;
      for (auto& p : py_splitlines(s, a[0] && truthy(*a[0]))) items.push_back(S(p));
      return Value::list(std::move(items));
    }
    if (name == "startswith" || name == "endswith") {
      if (args.pos.size() != 1 || !args.kw.empty())
        throw ValueError(name + "() with start/end arguments is not supported");
      return Value::boolean(affix_match(s, args.pos[0], name == "startswith", name));
    }
    if (name == "replace") {
      auto a = bind(name, args, {"old", "new", "count"}, false);
      if (!a[0] || !a[1]) throw ValueError("replace expected at least 2 arguments");
      int64_t count = a[2] ? need_int(*a[2], "count") : -1;
      return S(py_replace(s, need_str(*a[0], "replace() argument 1"), need_str(*a[1], "replace() argument 2"), count));
    }
    if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
      if (args.pos.size() != 1 || !args.kw.empty())
        throw ValueError(name + "() with start/end arguments is not supported");
      const std::string& sub = need_str(args.pos[0], name + "() argument");
      if (name == "count") return Value::integer(py_count(s, sub));
      int64_t r = py_find(s, sub, name[0] == 'r');
      if (r < 0 && (name == "index" || name == "rindex")) throw ValueError("substring not found");
      return Value::integer(r);
    }
    if (name == "join") {
      auto a = bind(name, args, {"iterable"}, false);
      if (!a[0]) throw ValueError("join() takes exactly one argument (0 given)");
      std::string out;
      size_t i = 0;
      for (auto& item : iterate(*a[0])) {
        if (!item.is_string())
          throw ValueError("sequence item " + std::to_string(i) + ": expected str instance, " + type_name(item) +
                           " found");
        if (i++ > 0) out += s;
        out += item.str();
      }
      return S(out);
    }
    if (name == "format") return S(str_format(in, s, args));
    if (name == "isdigit") return no_args(name, args), Value::boolean(py_isdigit(s));
    if (name == "isalpha") return no_args(name, args), Value::boolean(py_isalpha(s));
    if (name == "isalnum") return no_args(name, args), Value::boolean(py_isalnum(s));
    if (name == "islower") return no_args(name, args), Value::boolean(py_islower(s));
    if (name == "isupper") return no_args(name, args), Value::boolean(py_isupper(s));
    if (name == "isspace") {
      no_args(name, args);
      bool all = !s.empty();
      size_t i = 0;
      while (i < s.size())
        if (!py_isspace(utf8_next(s, i))) all = false;
      return Value::boolean(all);
    }
    if (name == "center" || name == "ljust" || name == "rjust") {
      auto a = bind(name, args, {"width", "fillchar"}, false);
      if (!a[0]) throw ValueError(name + "() takes at least 1 argument (0 given)");
      return S(pad(s, need_int(*a[0], "width"), fill_char(a[1], name), name == "center" ? 0 : name == "ljust" ? -1 : 1));
    }
    if (name == "zfill") {
      auto a = bind(name, args, {"width"}, false);
      if (!a[0]) throw ValueError("zfill() takes exactly one argument (0 given)");
      int64_t width = need_int(*a[0], "width");
      if (width > kMaxWidth) throw ValueError("width " + std::to_string(width) + " is too large");
      int64_t len = static_cast<int64_t>(py_len(s));
      if (width <= len) return S(s);
      std::string zeros(static_cast<size_t>(width - len), '0');
      if (!s.empty() && (s[0] == '+' || s[0] == '-')) return S(s.substr(0, 1) + zeros + s.substr(1));
      return S(zeros + s);
    }
    if (name == "removeprefix" || name == "removesuffix") {
      auto a = bind(name, args, {"affix"}, false);
      if (!a[0]) throw ValueError(name + "() takes exactly one argument (0 given)");
      const std::string& x = need_str(*a[0], name + "() argument");
      if (name == "removeprefix") return S(s.compare(0, x.size(), x) == 0 ? s.substr(x.size()) : s);
      if (x.size() <= s.size() && s.compare(s.size() - x.size(), x.size(), x) == 0 && !x.empty())
        return S(s.substr(0, s.size() - x.size()));
      return S(s);
    }
    if (name == "partition" || name == "rpartition") {
      auto a = bind(name, args, {"sep"}, false);
      if (!a[0]) throw ValueError(name + "() takes exactly one argument (0 given)");
      const std::string& sep = need_str(*a[0], "sep");
      if (sep.empty()) throw ValueError("empty separator");
      size_t f = name == "partition" ? s.find(sep) : s.rfind(sep);
      if (f == std::string::npos)
        return name == "partition" ? Value::tuple({S(s), S(""), S("")}) : Value::tuple({S(""), S(""), S(s)});
      return Value::tuple({S(s.substr(0, f)), S(sep), S(s.substr(f + sep.size()))});
    }
    throw ValueError("the str method '" + name + "' is not supported");
  });
}

// --- attribute access -----------------------------------------------------------------------------

Value unsafe(const Value& obj, const std::string& name) {
  return Value::undefined("access to attribute '" + name + "' of '" + type_name(obj) + "' object is unsafe.");
}

Value no_attribute(const Value& obj, const std::string& name) {
  return Value::undefined("'" + object_type_repr(obj) + "' has no attribute '" + name + "'");
}

Value no_element(const Value& obj, const Value& key) {
  return Value::undefined(object_type_repr(obj) + " has no element " + repr(key));
}

Value dict_method(const Value& self, const std::string& name) {
  return callable_value(name, [self, name](Interp&, CallArgs& args) -> Value {
    DictObj& d = self.dict();
    if (name == "get") {
      auto a = bind(name, args, {"key", "default"}, false);
      if (!a[0]) throw ValueError("get expected at least 1 argument, got 0");
      const Value* v = d.find(*a[0]);
      return v ? *v : (a[1] ? *a[1] : Value::none());
    }
    no_args(name, args);
    std::vector<Value> items;
    if (name == "keys" || name == "values" || name == "items") {
      for (auto& kv : d.items) {
        if (name == "keys") items.push_back(kv.first);
        if (name == "values") items.push_back(kv.second);
        if (name == "items") items.push_back(Value::tuple({kv.first, kv.second}));
      }
      return Value::seq(name == "keys" ? SeqKind::Keys : name == "values" ? SeqKind::Values : SeqKind::Items,
                        std::move(items));
    }
    // copy
    auto c = std::make_shared<DictObj>();
    c->items = d.items;
    return Value::dict(c);
  });
}

Value seq_method(const Value& self, const std::string& name) {
  return callable_value(name, [self, name](Interp&, CallArgs& args) -> Value {
    auto a = bind(name, args, {"value"}, false);
    if (!a[0]) throw ValueError(name + "() takes exactly one argument (0 given)");
    auto& items = self.seq().items;
    if (name == "count")
      return Value::integer(std::count_if(items.begin(), items.end(), [&](const Value& x) { return py_eq(x, *a[0]); }));
    for (size_t i = 0; i < items.size(); i++)
      if (py_eq(items[i], *a[0])) return Value::integer(static_cast<int64_t>(i));
    throw ValueError(repr(*a[0]) + " is not in list");
  });
}

Value loop_attr(const Value& self, const std::string& name) {
  LoopObj& l = self.loop();
  const auto& items = l.items->items;
  size_t n = items.size();
  if (name == "index") return Value::integer(static_cast<int64_t>(l.index0 + 1));
  if (name == "index0") return Value::integer(static_cast<int64_t>(l.index0));
  if (name == "revindex") return Value::integer(static_cast<int64_t>(n - l.index0));
  if (name == "revindex0") return Value::integer(static_cast<int64_t>(n - l.index0 - 1));
  if (name == "first") return Value::boolean(l.index0 == 0);
  if (name == "last") return Value::boolean(l.index0 + 1 == n);
  if (name == "length") return Value::integer(static_cast<int64_t>(n));
  if (name == "depth") return Value::integer(1);
  if (name == "depth0") return Value::integer(0);
  if (name == "previtem") return l.index0 > 0 ? items[l.index0 - 1] : Value::undefined("there is no previous item");
  if (name == "nextitem") return l.index0 + 1 < n ? items[l.index0 + 1] : Value::undefined("there is no next item");
  if (name == "cycle")
    return callable_value("cycle", [self](Interp&, CallArgs& args) -> Value {
      if (args.pos.empty()) throw ValueError("no items for cycling given");
      return args.pos[self.loop().index0 % args.pos.size()];
    });
  if (name == "changed")
    return callable_value("changed", [self](Interp&, CallArgs& args) -> Value {
      LoopObj& lo = self.loop();
      Value v = Value::tuple(args.pos);
      if (!lo.has_changed_last || !py_eq(lo.changed_last, v)) {
        lo.has_changed_last = true;
        lo.changed_last = v;
        return Value::boolean(true);
      }
      return Value::boolean(false);
    });
  return no_attribute(self, name);
}

// make_attrgetter: "a.b.0" paths looked up with environment.getitem, one part at a time.
Value get_attribute_path(Interp& in, const Value& item, const Value& attribute) {
  if (attribute.is_number() && !attribute.is_float()) return in.getitem(item, attribute);
  if (attribute.is_none()) return item;
  std::string path = to_str(attribute);
  Value v = item;
  size_t pos = 0;
  while (true) {
    size_t dot = path.find('.', pos);
    std::string part = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    v = in.getitem(v, digits ? Value::integer(std::stoll(part)) : Value::string(part));
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return v;
}

Value ignore_case(const Value& v) { return v.is_string() ? Value::string(py_lower(v.str())) : v; }

std::string now_strftime(const std::string& fmt, std::optional<std::time_t> fixed) {
  std::time_t t = fixed ? *fixed : std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  if (fmt.empty()) return "";
  std::vector<char> buf(fmt.size() * 8 + 256);
  size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
  return std::string(buf.data(), n);
}

// Python float(str): strip whitespace, allow underscores between digits, inf/nan spellings.
std::optional<double> parse_py_float(const std::string& s0) {
  std::string s = py_strip(s0, nullptr, true, true);
  std::string t;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '_') {
      if (i == 0 || i + 1 == s.size() || !std::isdigit(static_cast<unsigned char>(s[i - 1])) ||
          !std::isdigit(static_cast<unsigned char>(s[i + 1])))
        return std::nullopt;
      continue;
    }
    t += s[i];
  }
  if (t.empty()) return std::nullopt;
  std::string low = py_lower(t);
  std::string body = (low[0] == '+' || low[0] == '-') ? low.substr(1) : low;
  bool neg = low[0] == '-';
  if (body == "inf" || body == "infinity") return neg ? -INFINITY : INFINITY;
  if (body == "nan") return NAN;
  for (char c : body)
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == '+' || c == '-')) return std::nullopt;
  char* end = nullptr;
  double d = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size()) return std::nullopt;
  return d;
}

// Python int(str, base).
std::optional<int64_t> parse_py_int(const std::string& s0, int base) {
  std::string s = py_strip(s0, nullptr, true, true);
  if (s.empty()) return std::nullopt;
  bool neg = false;
  size_t i = 0;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    i = 1;
  }
  if (base == 0 || base == 16 || base == 8 || base == 2) {
    if (i + 1 < s.size() && s[i] == '0') {
      char p = static_cast<char>(std::tolower(static_cast<unsigned char>(s[i + 1])));
      int b = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
      if (b && (base == 0 || base == b)) {
        base = b;
        i += 2;
        if (i < s.size() && s[i] == '_') i++;
      }
    }
    if (base == 0) base = 10;
  }
  std::string digits;
  for (size_t k = i; k < s.size(); k++) {
    if (s[k] == '_' && k > i && k + 1 < s.size() && s[k + 1] != '_') continue;
    digits += s[k];
  }
  if (digits.empty()) return std::nullopt;
  unsigned long long v = 0;
  for (char c : digits) {
    int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
            : std::isalpha(static_cast<unsigned char>(c)) ? std::tolower(static_cast<unsigned char>(c)) - 'a' + 10
                                                          : 99;
    if (d >= base) return std::nullopt;
    if (v > (static_cast<unsigned long long>(INT64_MAX) - static_cast<unsigned>(d)) / static_cast<unsigned>(base))
      throw ValueError("integer too large (mc supports 64-bit integers)");
    v = v * static_cast<unsigned>(base) + static_cast<unsigned>(d);
  }
  return neg ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
}

// Python round() of a float to `ndigits` (correctly rounded, ties to even on the exact value).
double py_round(double x, int64_t ndigits) {
  if (!std::isfinite(x)) return x;
  if (ndigits == 0) return std::nearbyint(x);
  if (ndigits > 0) {
    if (ndigits > 300) return x;
    char buf[512];
    std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(ndigits), x);
    return std::strtod(buf, nullptr);
  }
  if (ndigits < -308) return std::copysign(0.0, x);
  double p = std::pow(10.0, static_cast<double>(-ndigits));
  return std::nearbyint(x / p) * p;
}

}  // namespace

bool is_known_filter(const std::string& name) { return kFilters.count(name) > 0; }
bool is_known_test(const std::string& name) { return kTests.count(name) > 0; }

// --- attribute and item access --------------------------------------------------------------------

Value Interp::getattr(const Value& obj, const std::string& name) {
  bool dunder = name.size() > 1 && name[0] == '_' && name[1] == '_';
  switch (obj.type()) {
    case Value::Type::Undefined: fail_undefined(obj);
    case Value::Type::Dict: {
      if (name == "get" || name == "items" || name == "keys" || name == "values" || name == "copy")
        return dict_method(obj, name);
      if (name == "clear" || name == "pop" || name == "popitem" || name == "setdefault" || name == "update" ||
          name == "fromkeys" || dunder)
        return unsafe(obj, name);
      if (const Value* v = obj.dict().find(name)) return *v;
      return no_attribute(obj, name);
    }
    case Value::Type::String:
      if (dunder) return unsafe(obj, name);
      if (kStrAttrs.count(name)) return str_method(obj, name);
      return no_attribute(obj, name);
    case Value::Type::Seq: {
      SeqKind k = obj.seq().kind;
      if (dunder) return unsafe(obj, name);
      if ((k == SeqKind::List || k == SeqKind::Tuple) && (name == "index" || name == "count"))
        return seq_method(obj, name);
      if (k == SeqKind::List && (name == "append" || name == "extend" || name == "insert" || name == "pop" ||
                                 name == "remove" || name == "reverse" || name == "sort" || name == "clear" ||
                                 name == "copy"))
        return unsafe(obj, name);
      return no_attribute(obj, name);
    }
    case Value::Type::Namespace: {
      if (const Value* v = obj.ns().attrs.find(name)) return *v;
      return no_attribute(obj, name);
    }
    case Value::Type::Loop: return loop_attr(obj, name);
    default: return dunder ? unsafe(obj, name) : no_attribute(obj, name);
  }
}

Value Interp::getitem(const Value& obj, const Value& key) {
  switch (obj.type()) {
    case Value::Type::Undefined: fail_undefined(obj);
    case Value::Type::Dict: {
      if (const Value* v = obj.dict().find(key)) return *v;
      if (key.is_string()) return getattr(obj, key.str());  // a missing key falls back to attributes
      return no_element(obj, key);
    }
    case Value::Type::Seq:
    case Value::Type::String: {
      bool indexable = obj.is_string() || obj.seq().kind == SeqKind::List || obj.seq().kind == SeqKind::Tuple ||
                       obj.seq().kind == SeqKind::Range;
      if (indexable && key.is_number() && !key.is_float()) {
        int64_t i = key.as_int();
        if (obj.is_string()) {
          std::u32string cps = utf8_decode(obj.str());
          int64_t n = static_cast<int64_t>(cps.size());
          if (i < 0) i += n;
          if (i < 0 || i >= n) return no_element(obj, key);
          return Value::string(utf8_encode(std::u32string(1, cps[static_cast<size_t>(i)])), obj.markup());
        }
        auto& items = obj.seq().items;
        int64_t n = static_cast<int64_t>(items.size());
        if (i < 0) i += n;
        if (i < 0 || i >= n) return no_element(obj, key);
        return items[static_cast<size_t>(i)];
      }
      if (key.is_string()) return getattr(obj, key.str());
      return no_element(obj, key);
    }
    default:
      if (key.is_string()) return getattr(obj, key.str());
      return no_element(obj, key);
  }
}

// --- globals --------------------------------------------------------------------------------------

void Interp::install_globals(Scope& sc) {
  sc.set("range", callable_value("range", [](Interp&, CallArgs& args) -> Value {
    if (!args.kw.empty()) throw ValueError("range() takes no keyword arguments");
    if (args.pos.empty() || args.pos.size() > 3)
      throw ValueError("range expected at most 3 arguments, got " + std::to_string(args.pos.size()));
    int64_t start = 0, stop, step = 1;
    if (args.pos.size() == 1) {
      stop = need_int(args.pos[0], "range");
    } else {
      start = need_int(args.pos[0], "range");
      stop = need_int(args.pos[1], "range");
      if (args.pos.size() == 3) step = need_int(args.pos[2], "range");
    }
    if (step == 0) throw ValueError("range() arg 3 must not be zero");
    std::vector<Value> items;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (items.size() >= 100000)
        throw ValueError("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
      items.push_back(Value::integer(i));
    }
    Value r = Value::seq(SeqKind::Range, std::move(items));
    r.seq().start = start;
    r.seq().stop = stop;
    r.seq().step = step;
    return r;
  }));
  sc.set("dict", callable_value("dict", [](Interp&, CallArgs& args) -> Value {
    auto d = std::make_shared<DictObj>();
    if (args.pos.size() > 1) throw ValueError("dict expected at most 1 argument, got " + std::to_string(args.pos.size()));
    if (args.pos.size() == 1) {
      const Value& src = args.pos[0];
      if (src.is_dict()) {
        d->items = src.dict().items;
      } else {
        for (auto& pair : iterate(src)) {
          auto kv = iterate(pair);
          if (kv.size() != 2) throw ValueError("dictionary update sequence element has length " + std::to_string(kv.size()) + "; 2 is required");
          if (!is_hashable(kv[0])) throw ValueError("unhashable type: '" + type_name(kv[0]) + "'");
          d->set(kv[0], kv[1]);
        }
      }
    }
    for (auto& kv : args.kw) d->set(Value::string(kv.first), kv.second);
    return Value::dict(d);
  }));
  sc.set("namespace", callable_value("namespace", [](Interp&, CallArgs& args) -> Value {
    auto n = std::make_shared<NamespaceObj>();
    if (args.pos.size() > 1) throw ValueError("dict expected at most 1 argument, got " + std::to_string(args.pos.size()));
    if (args.pos.size() == 1) {
      if (!args.pos[0].is_dict()) throw ValueError("namespace() positional argument must be a mapping");
      n->attrs.items = args.pos[0].dict().items;
    }
    for (auto& kv : args.kw) n->attrs.set(Value::string(kv.first), kv.second);
    for (auto& kv : n->attrs.items)
      if (kv.first.is_string() && !kv.first.str().empty() && kv.first.str()[0] == '_')
        throw ValueError("Chat templates cannot store underscore-prefixed attributes on a namespace, but got " +
                         py_repr_str(kv.first.str()) + ". Please rename the attribute.");
    return Value::ns(n);
  }));
  sc.set("raise_exception", callable_value("raise_exception", [](Interp&, CallArgs& args) -> Value {
    auto a = bind("raise_exception", args, {"message"});
    if (!a[0]) throw ValueError("raise_exception() missing 1 required positional argument: 'message'");
    throw ValueError(to_str(*a[0]));
  }));
  sc.set("strftime_now", callable_value("strftime_now", [](Interp& in, CallArgs& args) -> Value {
    auto a = bind("strftime_now", args, {"format"});
    if (!a[0]) throw ValueError("strftime_now() missing 1 required positional argument: 'format'");
    return Value::string(now_strftime(need_str(*a[0], "strftime_now() argument"), in.now()));
  }));
}

// --- filters --------------------------------------------------------------------------------------

Value Interp::apply_filter(const std::string& name, const Value& v, CallArgs& args) {
  const std::string& f = name;
  if (f == "default" || f == "d") {
    auto a = bind(f, args, {"default_value", "boolean"});
    Value dflt = a[0] ? *a[0] : Value::string("");
    if (v.is_undefined() || (a[1] && truthy(*a[1]) && !truthy(v))) return dflt;
    return v;
  }
  if (f == "length" || f == "count") {
    bind(f, args, {});
    return Value::integer(py_length(v));
  }
  if (f == "string") {
    bind(f, args, {});
    return soft_str(v);
  }
  if (f == "trim") {
    auto a = bind(f, args, {"chars"});
    Value s = soft_str(v);
    std::string chars;
    const std::string* cp = nullptr;
    if (a[0] && !a[0]->is_none()) {
      chars = need_str(*a[0], "trim chars");
      cp = &chars;
    }
    return Value::string(py_strip(s.str(), cp, true, true), s.markup());
  }
  if (f == "upper" || f == "lower" || f == "capitalize") {
    bind(f, args, {});
    Value s = soft_str(v);
    return Value::string(f == "upper" ? py_upper(s.str()) : f == "lower" ? py_lower(s.str()) : py_capitalize(s.str()),
                         s.markup());
  }
  if (f == "title") {
    bind(f, args, {});
    // jinja2 do_title: split on runs of [-\s({\[<] and upper-case the first character of each piece.
    Value s = soft_str(v);
    std::u32string cps = utf8_decode(s.str());
    auto is_delim = [](char32_t c) { return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || py_isspace(c); };
    std::string out;
    size_t i = 0;
    while (i < cps.size()) {
      size_t j = i;
      bool delim = is_delim(cps[i]);
      while (j < cps.size() && is_delim(cps[j]) == delim) j++;
      std::u32string_view piece(cps.data() + i, j - i);
      out += py_upper(utf8_encode(piece.substr(0, 1)));
      out += py_lower(utf8_encode(piece.substr(1)));
      i = j;
    }
    return Value::string(out, s.markup());
  }
  if (f == "replace") {
    auto a = bind(f, args, {"old", "new", "count"});
    if (!a[0] || !a[1]) throw ValueError("replace() missing required arguments 'old' and 'new'");
    Value s = soft_str(v);
    int64_t count = (a[2] && !a[2]->is_none()) ? need_int(*a[2], "count") : -1;
    return Value::string(py_replace(s.str(), to_str(*a[0]), to_str(*a[1]), count), s.markup());
  }
  if (f == "join") {
    auto a = bind(f, args, {"d", "attribute"});
    std::string sep = a[0] ? to_str(*a[0]) : "";
    std::string out;
    bool first = true;
    for (auto& item : iterate(v)) {
      Value x = (a[1] && !a[1]->is_none()) ? get_attribute_path(*this, item, *a[1]) : item;
      if (!first) out += sep;
      first = false;
      out += to_str(x);
    }
    return Value::string(out);
  }
  if (f == "tojson") {
    // transformers: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
    auto a = bind(f, args, {"ensure_ascii", "indent", "separators", "sort_keys"});
    JsonDumpOptions opt;
    opt.ensure_ascii = a[0] && truthy(*a[0]);
    if (a[1] && !a[1]->is_none()) {
      opt.indent_set = true;
      if (a[1]->is_string()) {
        opt.indent = a[1]->str();
      } else if (a[1]->is_number() && !a[1]->is_float()) {
        int64_t n = a[1]->as_int();
        if (n > 4096) throw ValueError("tojson indent " + std::to_string(n) + " is too large");
        opt.indent = std::string(n > 0 ? static_cast<size_t>(n) : 0, ' ');
      } else {
        throw ValueError("tojson indent must be an int or a str");
      }
    }
    if (a[2] && !a[2]->is_none()) {
      auto parts = iterate(*a[2]);
      if (parts.size() != 2 || !parts[0].is_string() || !parts[1].is_string())
        throw ValueError("tojson separators must be a pair of strings");
      opt.separators_set = true;
      opt.item_sep = parts[0].str();
      opt.key_sep = parts[1].str();
    }
    opt.sort_keys = a[3] && truthy(*a[3]);
    if (v.is_undefined()) throw ValueError("Object of type Undefined is not JSON serializable");
    return Value::string(json_dumps(v, opt));
  }
  if (f == "list") {
    bind(f, args, {});
    return Value::list(iterate(v));
  }
  if (f == "first") {
    bind(f, args, {});
    if (v.is_seq() && v.seq().kind == SeqKind::Iterator) {
      SeqObj& s = v.seq();
      if (s.pos < s.items.size()) return s.items[s.pos++];
      return Value::undefined("No first item, sequence was empty.");
    }
    auto items = iterate(v);
    return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
  }
  if (f == "last") {
    bind(f, args, {});
    if (v.is_seq() && v.seq().kind == SeqKind::Iterator) throw ValueError("'generator' object is not reversible");
    auto items = iterate(v);
    return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
  }
  if (f == "reverse") {
    bind(f, args, {});
    if (v.is_string()) {
      std::u32string cps = utf8_decode(v.str());
      std::reverse(cps.begin(), cps.end());
      return Value::string(utf8_encode(cps), v.markup());
    }
    bool iterator = v.is_seq() && v.seq().kind == SeqKind::Iterator;
    auto items = iterate(v);
    std::reverse(items.begin(), items.end());
    // reversed() gives an iterator; a generator is not reversible, so jinja2 falls back to a list.
    return iterator ? Value::list(std::move(items)) : iterator_of(std::move(items));
  }
  if (f == "sort") {
    auto a = bind(f, args, {"reverse", "case_sensitive", "attribute"});
    bool rev = a[0] && truthy(*a[0]);
    bool cs = a[1] && truthy(*a[1]);
    auto items = iterate(v);
    std::vector<std::pair<Value, size_t>> keyed;
    for (size_t i = 0; i < items.size(); i++) {
      Value k = (a[2] && !a[2]->is_none()) ? get_attribute_path(*this, items[i], *a[2]) : items[i];
      keyed.emplace_back(cs ? k : ignore_case(k), i);
    }
    std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
      return rev ? py_lt(y.first, x.first) : py_lt(x.first, y.first);
    });
    std::vector<Value> out;
    for (auto& k : keyed) out.push_back(items[k.second]);
    return Value::list(std::move(out));
  }
  if (f == "dictsort") {
    auto a = bind(f, args, {"case_sensitive", "by", "reverse"});
    if (v.is_undefined()) fail_undefined(v);
    if (!v.is_dict()) throw ValueError("'" + type_name(v) + "' object has no attribute 'items'");
    bool cs = a[0] && truthy(*a[0]);
    std::string by = a[1] ? to_str(*a[1]) : "key";
    if (by != "key" && by != "value") throw ValueError("You can only sort by either \"key\" or \"value\"");
    bool rev = a[2] && truthy(*a[2]);
    std::vector<std::pair<Value, Value>> items = v.dict().items;
    auto key = [&](const std::pair<Value, Value>& kv) { return cs ? (by == "key" ? kv.first : kv.second)
                                                                  : ignore_case(by == "key" ? kv.first : kv.second); };
    std::stable_sort(items.begin(), items.end(), [&](const auto& x, const auto& y) {
      return rev ? py_lt(key(y), key(x)) : py_lt(key(x), key(y));
    });
    std::vector<Value> out;
    for (auto& kv : items) out.push_back(Value::tuple({kv.first, kv.second}));
    return Value::list(std::move(out));
  }
  if (f == "unique") {
    auto a = bind(f, args, {"case_sensitive", "attribute"});
    bool cs = a[0] && truthy(*a[0]);
    std::vector<Value> seen, out;
    for (auto& item : iterate(v)) {
      Value k = (a[1] && !a[1]->is_none()) ? get_attribute_path(*this, item, *a[1]) : item;
      if (!cs) k = ignore_case(k);
      if (!is_hashable(k)) throw ValueError("unhashable type: '" + type_name(k) + "'");
      if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return py_eq(s, k); })) {
        seen.push_back(k);
        out.push_back(item);
      }
    }
    return iterator_of(std::move(out));
  }
  if (f == "min" || f == "max") {
    auto a = bind(f, args, {"case_sensitive", "attribute"});
    bool cs = a[0] && truthy(*a[0]);
    auto items = iterate(v);
    if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
    auto key = [&](const Value& x) {
      Value k = (a[1] && !a[1]->is_none()) ? get_attribute_path(*this, x, *a[1]) : x;
      return cs ? k : ignore_case(k);
    };
    size_t best = 0;
    Value best_key = key(items[0]);
    for (size_t i = 1; i < items.size(); i++) {
      Value k = key(items[i]);
      if (f == "min" ? py_lt(k, best_key) : py_lt(best_key, k)) {
        best = i;
        best_key = k;
      }
    }
    return items[best];
  }
  if (f == "sum") {
    auto a = bind(f, args, {"attribute", "start"});
    Value acc = a[1] ? *a[1] : Value::integer(0);
    if (acc.is_string()) throw ValueError("sum() can't sum strings [use ''.join(seq) instead]");
    for (auto& item : iterate(v)) {
      Value x = (a[0] && !a[0]->is_none()) ? get_attribute_path(*this, item, *a[0]) : item;
      acc = binary_op("+", acc, x);
    }
    return acc;
  }
  if (f == "map") {
    std::vector<Value> out;
    if (!truthy(v)) return iterator_of({});  // jinja2: `if value:` before anything else
    auto attr_it = std::find_if(args.kw.begin(), args.kw.end(), [](auto& kv) { return kv.first == "attribute"; });
    if (attr_it != args.kw.end()) {
      if (!args.pos.empty()) throw ValueError("map() with an attribute takes no positional arguments");
      std::optional<Value> dflt;
      for (auto& kv : args.kw) {
        if (kv.first == "default") {
          dflt = kv.second;
        } else if (kv.first != "attribute") {
          throw ValueError("Unexpected keyword argument '" + kv.first + "'");
        }
      }
      for (auto& item : iterate(v)) {
        Value x = get_attribute_path(*this, item, attr_it->second);
        out.push_back(dflt && x.is_undefined() ? *dflt : x);
      }
      return iterator_of(std::move(out));
    }
    if (args.pos.empty()) throw ValueError("map requires a filter argument");
    std::string fname = to_str(args.pos[0]);
    if (!is_known_filter(fname)) throw ValueError("No filter named '" + fname + "'.");
    CallArgs rest;
    rest.pos.assign(args.pos.begin() + 1, args.pos.end());
    rest.kw = args.kw;
    for (auto& item : iterate(v)) {
      CallArgs copy = rest;
      out.push_back(apply_filter(fname, item, copy));
    }
    return iterator_of(std::move(out));
  }
  if (f == "select" || f == "reject" || f == "selectattr" || f == "rejectattr") {
    if (!truthy(v)) return iterator_of({});  // jinja2: `if value:` before anything else
    if (!args.kw.empty()) throw ValueError(f + "() takes no keyword arguments");
    bool attr_mode = f == "selectattr" || f == "rejectattr";
    bool want = f == "select" || f == "selectattr";
    size_t k = 0;
    Value attribute;
    if (attr_mode) {
      if (args.pos.empty()) throw ValueError("Missing parameter for attribute name");
      attribute = args.pos[k++];
    }
    std::optional<std::string> test;
    if (k < args.pos.size()) test = to_str(args.pos[k++]);
    if (test && !is_known_test(*test)) throw ValueError("No test named '" + *test + "'.");
    CallArgs targs;
    targs.pos.assign(args.pos.begin() + static_cast<std::ptrdiff_t>(k), args.pos.end());
    std::vector<Value> out;
    for (auto& item : iterate(v)) {
      Value x = attr_mode ? get_attribute_path(*this, item, attribute) : item;
      bool r;
      if (test) {
        CallArgs copy = targs;
        r = apply_test(*test, x, copy);
      } else {
        r = truthy(x);
      }
      if (r == want) out.push_back(item);
    }
    return iterator_of(std::move(out));
  }
  if (f == "items") {
    bind(f, args, {});
    if (v.is_undefined()) return iterator_of({});
    if (!v.is_dict()) throw ValueError("Can only get item pairs from a mapping.");
    std::vector<Value> out;
    for (auto& kv : v.dict().items) out.push_back(Value::tuple({kv.first, kv.second}));
    return iterator_of(std::move(out));
  }
  if (f == "int") {
    auto a = bind(f, args, {"default", "base"});
    Value dflt = a[0] ? *a[0] : Value::integer(0);
    int base = a[1] ? static_cast<int>(need_int(*a[1], "base")) : 10;
    if (v.is_undefined()) fail_undefined(v);
    if (v.is_string()) {
      if (auto i = parse_py_int(v.str(), base)) return Value::integer(*i);
      if (auto d = parse_py_float(v.str())) {
        if (std::isnan(*d)) return dflt;
        if (std::isinf(*d)) throw ValueError("cannot convert float infinity to integer");
        return Value::integer(static_cast<int64_t>(std::trunc(*d)));
      }
      return dflt;
    }
    if (v.is_float()) {
      double d = v.as_float();
      if (std::isnan(d)) return dflt;
      if (std::isinf(d)) throw ValueError("cannot convert float infinity to integer");
      if (std::fabs(d) >= 9.2e18) throw ValueError("integer too large (mc supports 64-bit integers)");
      return Value::integer(static_cast<int64_t>(std::trunc(d)));
    }
    if (v.is_number()) return Value::integer(v.as_int());
    return dflt;
  }
  if (f == "float") {
    auto a = bind(f, args, {"default"});
    Value dflt = a[0] ? *a[0] : Value::real(0.0);
    if (v.is_undefined()) fail_undefined(v);
    if (v.is_number()) return Value::real(v.as_float());
    if (v.is_string()) {
      if (auto d = parse_py_float(v.str())) return Value::real(*d);
    }
    return dflt;
  }
  if (f == "abs") {
    bind(f, args, {});
    if (v.is_undefined()) fail_undefined(v);
    if (!v.is_number()) throw ValueError("bad operand type for abs(): '" + type_name(v) + "'");
    if (v.is_float()) return Value::real(std::fabs(v.as_float()));
    if (v.as_int() == INT64_MIN) throw ValueError("integer overflow");
    return Value::integer(std::llabs(v.as_int()));
  }
  if (f == "round") {
    auto a = bind(f, args, {"precision", "method"});
    int64_t prec = a[0] ? need_int(*a[0], "precision") : 0;
    std::string method = a[1] ? to_str(*a[1]) : "common";
    if (method != "common" && method != "ceil" && method != "floor")
      throw ValueError("method must be common, ceil or floor");
    if (v.is_undefined()) fail_undefined(v);
    if (!v.is_number()) throw ValueError("type " + type_name(v) + " doesn't define __round__ method");
    if (method == "common") {
      if (!v.is_float()) {
        int64_t x = v.as_int();
        if (prec >= 0) return Value::integer(x);
        if (prec < -18) return Value::integer(0);
        int64_t p = 1;
        for (int64_t i = 0; i < -prec; i++) p *= 10;
        int64_t q = x / p, r = x % p;
        if (r < 0) {
          r += p;
          q -= 1;
        }
        if (2 * r > p || (2 * r == p && (q & 1))) q += 1;
        return Value::integer(q * p);
      }
      return Value::real(py_round(v.as_float(), prec));
    }
    double p = std::pow(10.0, static_cast<double>(prec));
    double x = v.as_float() * p;
    return Value::real((method == "ceil" ? std::ceil(x) : std::floor(x)) / p);
  }
  if (f == "indent") {
    auto a = bind(f, args, {"width", "first", "blank"});
    std::string ind = "    ";
    if (a[0]) {
      if (a[0]->is_string()) {
        ind = a[0]->str();
      } else {
        int64_t w = need_int(*a[0], "width");
        if (w > 4096) throw ValueError("indent width " + std::to_string(w) + " is too large");
        ind = std::string(w > 0 ? static_cast<size_t>(w) : 0, ' ');
      }
    }
    bool first = a[1] && truthy(*a[1]);
    bool blank = a[2] && truthy(*a[2]);
    if (v.is_undefined()) fail_undefined(v);
    if (!v.is_string()) throw ValueError("unsupported operand type(s) for +=: '" + type_name(v) + "' and 'str'");
    std::vector<std::string> lines = py_splitlines(v.str() + "\n");
    std::string rv;
    if (blank) {
      for (size_t i = 0; i < lines.size(); i++) rv += (i ? "\n" + ind : "") + lines[i];
    } else {
      rv = lines.empty() ? "" : lines[0];
      for (size_t i = 1; i < lines.size(); i++) rv += "\n" + (lines[i].empty() ? lines[i] : ind + lines[i]);
    }
    if (first) rv = ind + rv;
    return Value::string(rv, v.markup());
  }
  if (f == "center") {
    auto a = bind(f, args, {"width"});
    Value s = soft_str(v);
    return Value::string(pad(s.str(), a[0] ? need_int(*a[0], "width") : 80, " ", 0), s.markup());
  }
  if (f == "wordcount") {
    bind(f, args, {});
    std::string s = to_str(v);
    int64_t n = 0;
    bool in_word = false;
    size_t i = 0;
    while (i < s.size()) {
      auto cp = static_cast<utf8proc_int32_t>(utf8_next(s, i));
      auto cat = utf8proc_category(cp);
      bool w = cp == '_' || (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO) ||
               cat == UTF8PROC_CATEGORY_PC;
      if (w && !in_word) n++;
      in_word = w;
    }
    return Value::integer(n);
  }
  if (f == "escape" || f == "e" || f == "forceescape") {
    bind(f, args, {});
    if (v.is_string() && v.markup() && f != "forceescape") return v;
    return Value::string(html_escape(to_str(v)), true);
  }
  if (f == "safe") {
    bind(f, args, {});
    return Value::string(to_str(v), true);
  }
  if (f == "attr") {
    auto a = bind(f, args, {"name"});
    if (!a[0]) throw ValueError("attr() missing required argument 'name'");
    std::string attr = to_str(*a[0]);
    if (v.is_dict()) {  // getattr() only: dict keys are not attributes
      if (attr == "get" || attr == "items" || attr == "keys" || attr == "values" || attr == "copy") return getattr(v, attr);
      return no_attribute(v, attr);
    }
    return getattr(v, attr);
  }
  if (f == "format") {
    if (!args.pos.empty() && !args.kw.empty())
      throw ValueError("can't handle positional and keyword arguments at the same time");
    Value fmt = soft_str(v);
    if (!args.kw.empty()) {
      auto d = std::make_shared<DictObj>();
      for (auto& kv : args.kw) d->set(Value::string(kv.first), kv.second);
      return binary_op("%", fmt, Value::dict(d));
    }
    return binary_op("%", fmt, Value::tuple(args.pos));
  }
  if (f == "batch" || f == "slice") {
    auto a = bind(f, args, {f == "batch" ? "linecount" : "slices", "fill_with"});
    if (!a[0]) throw ValueError(f + "() missing required argument");
    int64_t n = need_int(*a[0], f);
    auto items = iterate(v);
    std::vector<Value> out;
    if (f == "batch") {
      if (n <= 0) throw ValueError("batch size must be positive");
      for (size_t i = 0; i < items.size(); i += static_cast<size_t>(n)) {
        std::vector<Value> chunk(items.begin() + static_cast<std::ptrdiff_t>(i),
                                 items.begin() + static_cast<std::ptrdiff_t>(std::min(items.size(), i + static_cast<size_t>(n))));
        if (a[1] && !a[1]->is_none())
          while (chunk.size() < static_cast<size_t>(n)) chunk.push_back(*a[1]);
        out.push_back(Value::list(std::move(chunk)));
      }
    } else {
      if (n <= 0) throw ValueError("slices must be positive");
      size_t len = items.size(), per = len / static_cast<size_t>(n), extra = len % static_cast<size_t>(n), offset = 0;
      for (size_t k = 0; k < static_cast<size_t>(n); k++) {
        size_t start = offset + k * per;
        if (k < extra) offset++;
        size_t end = offset + (k + 1) * per;
        std::vector<Value> chunk(items.begin() + static_cast<std::ptrdiff_t>(start), items.begin() + static_cast<std::ptrdiff_t>(end));
        if (a[1] && !a[1]->is_none() && k >= extra) chunk.push_back(*a[1]);
        out.push_back(Value::list(std::move(chunk)));
      }
    }
    return iterator_of(std::move(out));
  }
  throw ValueError("No filter named '" + f + "'.");
}

// --- tests ----------------------------------------------------------------------------------------

bool Interp::apply_test(const std::string& name, const Value& v, CallArgs& args) {
  const std::string& t = name;
  auto one = [&](const char* what) -> Value {
    auto a = bind(t, args, {what});
    if (!a[0]) throw ValueError(t + "() missing 1 required positional argument: '" + what + "'");
    return *a[0];
  };
  if (t == "defined") return bind(t, args, {}), !v.is_undefined();
  if (t == "undefined") return bind(t, args, {}), v.is_undefined();
  if (t == "none") return bind(t, args, {}), v.is_none();
  if (t == "boolean") return bind(t, args, {}), v.is_bool();
  if (t == "true") return bind(t, args, {}), v.is_bool() && v.as_bool();
  if (t == "false") return bind(t, args, {}), v.is_bool() && !v.as_bool();
  if (t == "integer") return bind(t, args, {}), v.is_int();
  if (t == "float") return bind(t, args, {}), v.is_float();
  if (t == "number") return bind(t, args, {}), v.is_number();
  if (t == "string") return bind(t, args, {}), v.is_string();
  if (t == "mapping") return bind(t, args, {}), v.is_dict();
  if (t == "iterable") {
    bind(t, args, {});
    return v.is_undefined() || v.is_string() || v.is_seq() || v.is_dict();
  }
  if (t == "sequence") {
    bind(t, args, {});
    if (v.is_undefined() || v.is_string() || v.is_dict()) return true;
    return v.is_seq() && (v.seq().kind == SeqKind::List || v.seq().kind == SeqKind::Tuple || v.seq().kind == SeqKind::Range);
  }
  if (t == "callable") return bind(t, args, {}), v.is_callable() || v.is_undefined();
  if (t == "escaped") return bind(t, args, {}), v.is_string() && v.markup();
  if (t == "lower" || t == "upper") {
    bind(t, args, {});
    std::string s = to_str(v);
    return t == "lower" ? py_islower(s) : py_isupper(s);
  }
  if (t == "odd" || t == "even") {
    bind(t, args, {});
    Value r = binary_op("%", v, Value::integer(2));
    return py_eq(r, Value::integer(t == "odd" ? 1 : 0));
  }
  if (t == "divisibleby") return py_eq(binary_op("%", v, one("num")), Value::integer(0));
  if (t == "eq" || t == "equalto" || t == "==") return py_eq(v, one("other"));
  if (t == "ne" || t == "!=") return !py_eq(v, one("other"));
  if (t == "lt" || t == "lessthan" || t == "<") return py_lt(v, one("other"));
  if (t == "gt" || t == "greaterthan" || t == ">") return py_lt(one("other"), v);
  if (t == "le" || t == "<=") {
    Value o = one("other");
    return py_lt(v, o) || py_eq(v, o);
  }
  if (t == "ge" || t == ">=") {
    Value o = one("other");
    return py_lt(o, v) || py_eq(v, o);
  }
  if (t == "in") return py_contains(one("seq"), v);
  if (t == "sameas") {
    Value o = one("other");
    if (v.type() != o.type()) return false;
    switch (v.type()) {
      case Value::Type::None:
      case Value::Type::Undefined: return v.is_none() || v.object() == o.object();
      case Value::Type::Bool: return v.as_bool() == o.as_bool();
      case Value::Type::Int: return v.as_int() == o.as_int() && v.as_int() >= -5 && v.as_int() <= 256;
      case Value::Type::Float:
      case Value::Type::String: return false;
      default: return v.object() == o.object();
    }
  }
  if (t == "filter") return bind(t, args, {}), v.is_string() && is_known_filter(v.str());
  if (t == "test") return bind(t, args, {}), v.is_string() && is_known_test(v.str());
  throw ValueError("No test named '" + t + "'.");
}

}  // namespace mc::jinja

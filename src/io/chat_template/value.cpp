// Python semantics of the interpreter's values (see value.h): truthiness, str()/repr(), equality and
// ordering, arithmetic (CPython's int/float rules, printf-style str % args), slicing, iteration,
// json.dumps as transformers' tojson filter calls it, and conversion from the JSON input model.
#include "io/chat_template/value.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "io/chat_template/pystr.h"

namespace mc::jinja {

// --- construction and access ---------------------------------------------------------------------

Value Value::undefined(std::string hint) {
  Value v;
  v.s_ = std::move(hint);
  return v;
}
Value Value::none() {
  Value v;
  v.type_ = Type::None;
  return v;
}
Value Value::boolean(bool b) {
  Value v;
  v.type_ = Type::Bool;
  v.b_ = b;
  return v;
}
Value Value::integer(int64_t i) {
  Value v;
  v.type_ = Type::Int;
  v.i_ = i;
  return v;
}
Value Value::real(double d) {
  Value v;
  v.type_ = Type::Float;
  v.f_ = d;
  return v;
}
Value Value::string(std::string s, bool markup) {
  Value v;
  v.type_ = Type::String;
  v.s_ = std::move(s);
  v.markup_ = markup;
  return v;
}
Value Value::seq(SeqKind kind, std::vector<Value> items) {
  auto obj = std::make_shared<SeqObj>();
  obj->kind = kind;
  obj->items = std::move(items);
  Value v;
  v.type_ = Type::Seq;
  v.obj_ = std::move(obj);
  return v;
}
Value Value::dict(std::shared_ptr<DictObj> d) {
  Value v;
  v.type_ = Type::Dict;
  v.obj_ = std::move(d);
  return v;
}
Value Value::ns(std::shared_ptr<NamespaceObj> n) {
  Value v;
  v.type_ = Type::Namespace;
  v.obj_ = std::move(n);
  return v;
}
Value Value::callable(std::shared_ptr<CallableObj> c) {
  Value v;
  v.type_ = Type::Callable;
  v.obj_ = std::move(c);
  return v;
}
Value Value::loop(std::shared_ptr<LoopObj> l) {
  Value v;
  v.type_ = Type::Loop;
  v.obj_ = std::move(l);
  return v;
}

double Value::as_float() const {
  if (type_ == Type::Float) return f_;
  return static_cast<double>(as_int());
}
SeqObj& Value::seq() const { return static_cast<SeqObj&>(*obj_); }
DictObj& Value::dict() const { return static_cast<DictObj&>(*obj_); }
NamespaceObj& Value::ns() const { return static_cast<NamespaceObj&>(*obj_); }
CallableObj& Value::callable() const { return static_cast<CallableObj&>(*obj_); }
LoopObj& Value::loop() const { return static_cast<LoopObj&>(*obj_); }

const Value* DictObj::find(const Value& key) const {
  for (auto& kv : items)
    if (py_eq(kv.first, key)) return &kv.second;
  return nullptr;
}
const Value* DictObj::find(const std::string& key) const {
  for (auto& kv : items)
    if (kv.first.is_string() && kv.first.str() == key) return &kv.second;
  return nullptr;
}
void DictObj::set(Value key, Value value) {
  for (auto& kv : items)
    if (py_eq(kv.first, key)) {
      kv.second = std::move(value);
      return;
    }
  items.emplace_back(std::move(key), std::move(value));
}

// --- names -------------------------------------------------------------------------------------

static const char* seq_type_name(SeqKind k) {
  switch (k) {
    case SeqKind::List: return "list";
    case SeqKind::Tuple: return "tuple";
    case SeqKind::Range: return "range";
    case SeqKind::Keys: return "dict_keys";
    case SeqKind::Values: return "dict_values";
    case SeqKind::Items: return "dict_items";
    case SeqKind::Iterator: return "generator";
  }
  return "list";
}

std::string type_name(const Value& v) {
  switch (v.type()) {
    case Value::Type::Undefined: return "Undefined";
    case Value::Type::None: return "NoneType";
    case Value::Type::Bool: return "bool";
    case Value::Type::Int: return "int";
    case Value::Type::Float: return "float";
    case Value::Type::String: return v.markup() ? "Markup" : "str";
    case Value::Type::Seq: return seq_type_name(v.seq().kind);
    case Value::Type::Dict: return "dict";
    case Value::Type::Namespace: return "Namespace";
    case Value::Type::Callable: return v.callable().is_macro ? "Macro" : "builtin_function_or_method";
    case Value::Type::Loop: return "LoopContext";
  }
  return "object";
}

std::string object_type_repr(const Value& v) {
  if (v.is_none()) return "None";
  if (v.is_ns()) return "transformers.utils.chat_template_utils.TemplateNamespace object";
  if (v.is_loop()) return "jinja2.runtime.LoopContext object";
  if (v.is_callable() && v.callable().is_macro) return "jinja2.runtime.Macro object";
  if (v.is_string() && v.markup()) return "markupsafe.Markup object";
  return type_name(v) + " object";
}

void fail_undefined(const Value& v) {
  throw ValueError(v.str().empty() ? std::string("undefined value") : v.str());
}

// --- truthiness, str, repr -----------------------------------------------------------------------

bool truthy(const Value& v) {
  switch (v.type()) {
    case Value::Type::Undefined:
    case Value::Type::None: return false;
    case Value::Type::Bool: return v.as_bool();
    case Value::Type::Int: return v.as_int() != 0;
    case Value::Type::Float: return v.as_float() != 0.0;
    case Value::Type::String: return !v.str().empty();
    case Value::Type::Seq:
      return v.seq().kind == SeqKind::Iterator || !v.seq().items.empty();  // generators are always true
    case Value::Type::Dict: return !v.dict().items.empty();
    default: return true;
  }
}

static std::string join_repr(const std::vector<Value>& items, size_t from = 0) {
  std::string out;
  for (size_t i = from; i < items.size(); i++) {
    if (i > from) out += ", ";
    out += repr(items[i]);
  }
  return out;
}

static std::string dict_repr(const DictObj& d) {
  std::string out = "{";
  bool first = true;
  for (auto& kv : d.items) {
    if (!first) out += ", ";
    first = false;
    out += repr(kv.first) + ": " + repr(kv.second);
  }
  return out + "}";
}

std::string to_str(const Value& v) {
  switch (v.type()) {
    case Value::Type::Undefined: return "";
    case Value::Type::None: return "None";
    case Value::Type::Bool: return v.as_bool() ? "True" : "False";
    case Value::Type::Int: return std::to_string(v.as_int());
    case Value::Type::Float: return py_repr_float(v.as_float());
    case Value::Type::String: return v.str();
    case Value::Type::Seq: {
      const SeqObj& s = v.seq();
      switch (s.kind) {
        case SeqKind::List: return "[" + join_repr(s.items) + "]";
        case SeqKind::Tuple:
          return s.items.size() == 1 ? "(" + repr(s.items[0]) + ",)" : "(" + join_repr(s.items) + ")";
        case SeqKind::Range:
          return "range(" + std::to_string(s.start) + ", " + std::to_string(s.stop) +
                 (s.step != 1 ? ", " + std::to_string(s.step) : "") + ")";
        case SeqKind::Keys: return "dict_keys([" + join_repr(s.items) + "])";
        case SeqKind::Values: return "dict_values([" + join_repr(s.items) + "])";
        case SeqKind::Items: return "dict_items([" + join_repr(s.items) + "])";
        case SeqKind::Iterator: throw ValueError("cannot convert a generator (the result of a filter such as "
                                                 "select or map) to text; apply |list first");
      }
      return "";
    }
    case Value::Type::Dict: return dict_repr(v.dict());
    case Value::Type::Namespace: return "<Namespace " + dict_repr(v.ns().attrs) + ">";
    case Value::Type::Callable:
      if (v.callable().is_macro) return "<Macro " + py_repr_str(v.callable().name) + ">";
      throw ValueError("cannot convert the function '" + v.callable().name + "' to text");
    case Value::Type::Loop: throw ValueError("cannot convert a loop object to text");
  }
  return "";
}

std::string repr(const Value& v) {
  if (v.is_string()) return v.markup() ? "Markup(" + py_repr_str(v.str()) + ")" : py_repr_str(v.str());
  if (v.is_undefined()) return "Undefined";
  return to_str(v);
}

// --- comparison ----------------------------------------------------------------------------------

static bool int_eq_float(int64_t a, double b) {
  if (!std::isfinite(b) || std::floor(b) != b) return false;
  if (b < -9223372036854775808.0 || b >= 9223372036854775808.0) return false;
  return static_cast<int64_t>(b) == a;
}

static bool num_eq(const Value& a, const Value& b) {
  if (!a.is_float() && !b.is_float()) return a.as_int() == b.as_int();
  if (a.is_float() && b.is_float()) return a.as_float() == b.as_float();
  return a.is_float() ? int_eq_float(b.as_int(), a.as_float()) : int_eq_float(a.as_int(), b.as_float());
}

static bool same_items_as_sets(const std::vector<Value>& a, const std::vector<Value>& b) {
  if (a.size() != b.size()) return false;
  for (auto& x : a)
    if (std::none_of(b.begin(), b.end(), [&](const Value& y) { return py_eq(x, y); })) return false;
  return true;
}

bool py_eq(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return num_eq(a, b);
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Value::Type::Undefined:
    case Value::Type::None: return true;
    case Value::Type::String: return a.str() == b.str();
    case Value::Type::Seq: {
      const SeqObj& x = a.seq();
      const SeqObj& y = b.seq();
      if (&x == &y) return true;
      if (x.kind != y.kind) return false;
      if (x.kind == SeqKind::Keys || x.kind == SeqKind::Items) return same_items_as_sets(x.items, y.items);
      if (x.kind == SeqKind::Values || x.kind == SeqKind::Iterator) return false;
      if (x.items.size() != y.items.size()) return false;
      for (size_t i = 0; i < x.items.size(); i++)
        if (!py_eq(x.items[i], y.items[i])) return false;
      return true;
    }
    case Value::Type::Dict: {
      const DictObj& x = a.dict();
      const DictObj& y = b.dict();
      if (&x == &y) return true;
      if (x.items.size() != y.items.size()) return false;
      for (auto& kv : x.items) {
        const Value* other = y.find(kv.first);
        if (!other || !py_eq(kv.second, *other)) return false;
      }
      return true;
    }
    default: return a.object() == b.object();
  }
}

[[noreturn]] static void fail_compare(const char* op, const Value& a, const Value& b) {
  throw ValueError(std::string("'") + op + "' not supported between instances of '" + type_name(a) + "' and '" +
                   type_name(b) + "'");
}

bool py_lt(const Value& a, const Value& b) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  if (a.is_number() && b.is_number()) {
    if (!a.is_float() && !b.is_float()) return a.as_int() < b.as_int();
    if (a.is_float() && b.is_float()) return a.as_float() < b.as_float();
    // Exact int/float comparison as CPython does it.
    double f = a.is_float() ? a.as_float() : b.as_float();
    int64_t i = a.is_float() ? b.as_int() : a.as_int();
    if (std::isnan(f)) return false;
    long double fi = static_cast<long double>(i), ff = static_cast<long double>(f);
    return a.is_float() ? ff < fi : fi < ff;
  }
  if (a.is_string() && b.is_string()) return a.str() < b.str();  // UTF-8 byte order == code point order
  if (a.is_seq() && b.is_seq() && a.seq().kind == b.seq().kind &&
      (a.seq().kind == SeqKind::List || a.seq().kind == SeqKind::Tuple)) {
    auto& x = a.seq().items;
    auto& y = b.seq().items;
    for (size_t i = 0; i < x.size() && i < y.size(); i++) {
      if (py_eq(x[i], y[i])) continue;
      return py_lt(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  fail_compare("<", a, b);
}

// --- iteration and length ------------------------------------------------------------------------

std::vector<Value> iterate(const Value& v) {
  switch (v.type()) {
    case Value::Type::Undefined: return {};
    case Value::Type::String: {
      std::vector<Value> out;
      const std::string& s = v.str();
      size_t i = 0;
      while (i < s.size()) {
        size_t b = i;
        utf8_next(s, i);
        out.push_back(Value::string(s.substr(b, i - b)));  // iterating a Markup yields plain str
      }
      return out;
    }
    case Value::Type::Seq: {
      SeqObj& s = v.seq();
      if (s.kind == SeqKind::Iterator) {
        std::vector<Value> out(s.items.begin() + static_cast<std::ptrdiff_t>(std::min(s.pos, s.items.size())),
                               s.items.end());
        s.pos = s.items.size();
        return out;
      }
      return s.items;
    }
    case Value::Type::Dict: {
      std::vector<Value> out;
      for (auto& kv : v.dict().items) out.push_back(kv.first);
      return out;
    }
    default: throw ValueError("'" + type_name(v) + "' object is not iterable");
  }
}

int64_t py_length(const Value& v) {
  switch (v.type()) {
    case Value::Type::Undefined: return 0;
    case Value::Type::String: return static_cast<int64_t>(py_len(v.str()));
    case Value::Type::Seq:
      if (v.seq().kind == SeqKind::Iterator) break;
      return static_cast<int64_t>(v.seq().items.size());
    case Value::Type::Dict: return static_cast<int64_t>(v.dict().items.size());
    default: break;
  }
  throw ValueError("object of type '" + type_name(v) + "' has no len()");
}

bool is_hashable(const Value& v) {
  if (v.is_string() || v.is_number() || v.is_none() || v.is_undefined()) return true;
  if (v.is_seq() && v.seq().kind == SeqKind::Tuple)
    return std::all_of(v.seq().items.begin(), v.seq().items.end(), is_hashable);
  return v.is_callable() || v.is_ns() || v.is_loop();  // hashed by identity
}

bool py_contains(const Value& container, const Value& item) {
  switch (container.type()) {
    case Value::Type::Undefined: return false;
    case Value::Type::String:
      if (item.is_undefined()) fail_undefined(item);
      if (!item.is_string())
        throw ValueError("'in <string>' requires string as left operand, not " + type_name(item));
      return container.str().find(item.str()) != std::string::npos;
    case Value::Type::Seq: {
      SeqObj& s = container.seq();
      if (s.kind == SeqKind::Iterator) {
        while (s.pos < s.items.size())
          if (py_eq(s.items[s.pos++], item)) return true;
        return false;
      }
      return std::any_of(s.items.begin(), s.items.end(), [&](const Value& x) { return py_eq(x, item); });
    }
    case Value::Type::Dict:
      if (!is_hashable(item)) throw ValueError("unhashable type: '" + type_name(item) + "'");
      return container.dict().find(item) != nullptr;
    default: throw ValueError("argument of type '" + type_name(container) + "' is not iterable");
  }
}

// --- arithmetic ----------------------------------------------------------------------------------

[[noreturn]] static void fail_operands(const std::string& op, const Value& a, const Value& b) {
  throw ValueError("unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
}

static Value checked(bool overflow, int64_t r) {
  if (overflow) throw ValueError("integer overflow (Python integers are unbounded; mc supports 64-bit integers)");
  return Value::integer(r);
}

static double float_mod(double vx, double wx, double* floordiv) {
  // CPython float_divmod.
  double mod = std::fmod(vx, wx);
  double div = (vx - mod) / wx;
  if (mod != 0) {
    if ((wx < 0) != (mod < 0)) {
      mod += wx;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, wx);
  }
  double fd;
  if (div != 0) {
    fd = std::floor(div);
    if (div - fd > 0.5) fd += 1.0;
  } else {
    fd = std::copysign(0.0, vx / wx);
  }
  if (floordiv) *floordiv = fd;
  return mod;
}

static Value repeat_seq(const Value& s, int64_t n) {
  if (n < 0) n = 0;
  if (s.is_string()) {
    if (n > 0 && s.str().size() * static_cast<size_t>(n) > (size_t{1} << 30))
      throw ValueError("string repetition result too large");
    std::string out;
    for (int64_t i = 0; i < n; i++) out += s.str();
    return Value::string(std::move(out), s.markup());
  }
  auto& items = s.seq().items;
  if (n > 0 && items.size() * static_cast<size_t>(n) > (size_t{1} << 24))
    throw ValueError("sequence repetition result too large");
  std::vector<Value> out;
  for (int64_t i = 0; i < n; i++) out.insert(out.end(), items.begin(), items.end());
  return Value::seq(s.seq().kind, std::move(out));
}

static bool is_plain_seq(const Value& v) {
  return v.is_seq() && (v.seq().kind == SeqKind::List || v.seq().kind == SeqKind::Tuple);
}

static Value percent_format(const Value& fmt, const Value& args);

Value binary_op(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) fail_undefined(a);
  if (op == "%" && a.is_string()) return percent_format(a, b);  // str % Undefined is str % mapping
  if (b.is_undefined()) fail_undefined(b);
  bool both_num = a.is_number() && b.is_number();
  bool any_float = a.is_float() || b.is_float();
  int64_t r = 0;
  if (op == "+") {
    if (both_num) {
      if (any_float) return Value::real(a.as_float() + b.as_float());
      bool ovf = __builtin_add_overflow(a.as_int(), b.as_int(), &r);
      return checked(ovf, r);
    }
    if (a.is_string() && b.is_string()) {
      // markupsafe: Markup + str escapes the str (and str + Markup likewise).
      if (a.markup() || b.markup()) {
        std::string l = a.markup() ? a.str() : html_escape(a.str());
        std::string rr = b.markup() ? b.str() : html_escape(b.str());
        return Value::string(l + rr, true);
      }
      return Value::string(a.str() + b.str());
    }
    if (is_plain_seq(a) && is_plain_seq(b) && a.seq().kind == b.seq().kind) {
      std::vector<Value> out = a.seq().items;
      out.insert(out.end(), b.seq().items.begin(), b.seq().items.end());
      return Value::seq(a.seq().kind, std::move(out));
    }
    if (a.is_string() && !b.is_string())
      throw ValueError("can only concatenate str (not \"" + type_name(b) + "\") to str");
    if (is_plain_seq(a))
      throw ValueError("can only concatenate " + type_name(a) + " (not \"" + type_name(b) + "\") to " + type_name(a));
    fail_operands("+", a, b);
  }
  if (op == "-") {
    if (!both_num) fail_operands("-", a, b);
    if (any_float) return Value::real(a.as_float() - b.as_float());
    bool ovf = __builtin_sub_overflow(a.as_int(), b.as_int(), &r);
    return checked(ovf, r);
  }
  if (op == "*") {
    if (both_num) {
      if (any_float) return Value::real(a.as_float() * b.as_float());
      bool ovf = __builtin_mul_overflow(a.as_int(), b.as_int(), &r);
      return checked(ovf, r);
    }
    if ((a.is_string() || is_plain_seq(a)) && b.is_number() && !b.is_float()) return repeat_seq(a, b.as_int());
    if ((b.is_string() || is_plain_seq(b)) && a.is_number() && !a.is_float()) return repeat_seq(b, a.as_int());
    if ((a.is_string() || is_plain_seq(a)) && b.is_float())
      throw ValueError("can't multiply sequence by non-int of type 'float'");
    fail_operands("*", a, b);
  }
  if (op == "/") {
    if (!both_num) fail_operands("/", a, b);
    if (b.as_float() == 0.0) throw ValueError("division by zero");
    return Value::real(a.as_float() / b.as_float());
  }
  if (op == "//") {
    if (!both_num) fail_operands("//", a, b);
    if (any_float) {
      if (b.as_float() == 0.0) throw ValueError("float floor division by zero");
      double fd;
      float_mod(a.as_float(), b.as_float(), &fd);
      return Value::real(fd);
    }
    int64_t x = a.as_int(), y = b.as_int();
    if (y == 0) throw ValueError("integer division or modulo by zero");
    if (x == INT64_MIN && y == -1) checked(true, 0);
    int64_t q = x / y;
    if ((x % y != 0) && ((x < 0) != (y < 0))) q -= 1;
    return Value::integer(q);
  }
  if (op == "%") {
    if (a.is_string()) return percent_format(a, b);
    if (!both_num) fail_operands("%", a, b);
    if (any_float) {
      if (b.as_float() == 0.0) throw ValueError("float modulo");
      return Value::real(float_mod(a.as_float(), b.as_float(), nullptr));
    }
    int64_t x = a.as_int(), y = b.as_int();
    if (y == 0) throw ValueError("integer division or modulo by zero");
    if (y == -1) return Value::integer(0);
    int64_t m = x % y;
    if (m != 0 && ((m < 0) != (y < 0))) m += y;
    return Value::integer(m);
  }
  if (op == "**") {
    if (!both_num) fail_operands("** or pow()", a, b);
    if (!any_float && b.as_int() >= 0) {
      int64_t base = a.as_int(), e = b.as_int(), acc = 1;
      while (e > 0) {
        if (e & 1)
          if (__builtin_mul_overflow(acc, base, &acc)) checked(true, 0);
        e >>= 1;
        if (e > 0 && __builtin_mul_overflow(base, base, &base)) checked(true, 0);
      }
      return Value::integer(acc);
    }
    if (a.as_float() == 0.0 && b.as_float() < 0)
      throw ValueError("0.0 cannot be raised to a negative power");
    double res = std::pow(a.as_float(), b.as_float());
    if (std::isnan(res) && !std::isnan(a.as_float()) && !std::isnan(b.as_float()))
      throw ValueError("complex results are not supported");
    return Value::real(res);
  }
  throw ValueError("unknown operator " + op);
}

Value unary_op(char op, const Value& v) {
  if (v.is_undefined()) fail_undefined(v);
  if (!v.is_number()) throw ValueError(std::string("bad operand type for unary ") + op + ": '" + type_name(v) + "'");
  if (op == '+') return v.is_float() ? v : Value::integer(v.as_int());
  if (v.is_float()) return Value::real(-v.as_float());
  if (v.as_int() == INT64_MIN) checked(true, 0);
  return Value::integer(-v.as_int());
}

// --- printf-style formatting (str % args) ----------------------------------------------------------

static int64_t to_int_for_format(const Value& v, char conv) {
  if (v.is_number()) return v.is_float() ? static_cast<int64_t>(std::trunc(v.as_float())) : v.as_int();
  throw ValueError(std::string("%") + conv + " format: a real number is required, not " + type_name(v));
}

static Value percent_format(const Value& fmt_v, const Value& args) {
  const std::string& fmt = fmt_v.str();
  std::vector<Value> pos;
  const DictObj* mapping = nullptr;
  // CPython treats any non-tuple, non-str argument with __getitem__ (dict, list, range, jinja2's
  // Undefined) as a mapping: unused arguments are then not an error.
  bool mapping_like = false;
  if (args.is_seq() && args.seq().kind == SeqKind::Tuple) {
    pos = args.seq().items;
  } else {
    if (args.is_dict()) mapping = &args.dict();
    mapping_like = args.is_dict() || args.is_undefined() ||
                   (args.is_seq() && (args.seq().kind == SeqKind::List || args.seq().kind == SeqKind::Range));
    pos.push_back(args);
  }
  size_t next = 0;
  bool used_mapping = false;
  std::string out;
  for (size_t i = 0; i < fmt.size(); i++) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    if (++i >= fmt.size()) throw ValueError("incomplete format");
    const Value* arg = nullptr;
    if (fmt[i] == '(') {
      size_t close = fmt.find(')', i);
      if (close == std::string::npos) throw ValueError("incomplete format key");
      if (!mapping) {
        if (args.is_undefined()) fail_undefined(args);
        throw ValueError("format requires a mapping");
      }
      arg = mapping->find(fmt.substr(i + 1, close - i - 1));
      if (!arg) throw ValueError("KeyError: " + py_repr_str(fmt.substr(i + 1, close - i - 1)));
      used_mapping = true;
      i = close + 1;
    }
    std::string flags;
    while (i < fmt.size() && std::string("-+ #0").find(fmt[i]) != std::string::npos) flags += fmt[i++];
    std::string width, prec;
    while (i < fmt.size() && std::isdigit(static_cast<unsigned char>(fmt[i]))) width += fmt[i++];
    if (i < fmt.size() && fmt[i] == '.') {
      prec = ".";
      i++;
      while (i < fmt.size() && std::isdigit(static_cast<unsigned char>(fmt[i]))) prec += fmt[i++];
    }
    if (i < fmt.size() && fmt[i] == '*') throw ValueError("'*' widths are not supported in % formatting");
    if (width.size() > 3 || prec.size() > 4) throw ValueError("% format width or precision is too large");
    while (i < fmt.size() && (fmt[i] == 'l' || fmt[i] == 'h' || fmt[i] == 'L')) i++;
    if (i >= fmt.size()) throw ValueError("incomplete format");
    char conv = fmt[i];
    if (conv == '%') {
      out += '%';
      continue;
    }
    if (!arg) {
      if (next >= pos.size()) throw ValueError("not enough arguments for format string");
      arg = &pos[next++];
    }
    std::string spec = "%" + flags + width + prec;
    char buf[4096];  // width and precision are at most 999: always enough
    switch (conv) {
      case 's':
      case 'r':
      case 'a': {
        std::string s = conv == 's' ? to_str(*arg) : repr(*arg);
        if (!prec.empty() && prec.size() > 1) {
          size_t n = static_cast<size_t>(std::stoll(prec.substr(1)));
          std::u32string cps = utf8_decode(s);
          if (cps.size() > n) s = utf8_encode(std::u32string_view(cps).substr(0, n));
        }
        size_t w = width.empty() ? 0 : static_cast<size_t>(std::stoll(width));
        size_t len = py_len(s);
        if (len < w) {
          std::string pad(w - len, ' ');
          s = flags.find('-') != std::string::npos ? s + pad : pad + s;
        }
        out += s;
        break;
      }
      case 'd':
      case 'i':
      case 'u':
        std::snprintf(buf, sizeof buf, (spec + "lld").c_str(), static_cast<long long>(to_int_for_format(*arg, conv)));
        out += buf;
        break;
      case 'x':
      case 'X':
      case 'o': {
        if (!arg->is_number() || arg->is_float())
          throw ValueError(std::string("%") + conv + " format: an integer is required, not " + type_name(*arg));
        // Laid out by hand: Python writes the sign before the digits and "0o" (not C's "0") for %#o.
        long long x = arg->as_int();
        unsigned long long mag = x < 0 ? 0ULL - static_cast<unsigned long long>(x) : static_cast<unsigned long long>(x);
        std::snprintf(buf, sizeof buf, conv == 'o' ? "%llo" : conv == 'x' ? "%llx" : "%llX", mag);
        std::string digits = buf;
        if (prec.size() > 1) {
          size_t p = static_cast<size_t>(std::stoul(prec.substr(1)));
          if (digits.size() < p) digits = std::string(p - digits.size(), '0') + digits;
        }
        std::string sign = x < 0 ? "-" : flags.find('+') != std::string::npos ? "+"
                                       : flags.find(' ') != std::string::npos ? " " : "";
        std::string prefix = flags.find('#') == std::string::npos ? "" : conv == 'o' ? "0o" : conv == 'x' ? "0x" : "0X";
        size_t w = width.empty() ? 0 : static_cast<size_t>(std::stoul(width));
        size_t len = sign.size() + prefix.size() + digits.size();
        if (len < w) {
          if (flags.find('-') != std::string::npos) {
            digits += std::string(w - len, ' ');
          } else if (flags.find('0') != std::string::npos) {
            digits = std::string(w - len, '0') + digits;
          } else {
            sign = std::string(w - len, ' ') + sign;
          }
        }
        out += sign + prefix + digits;
        break;
      }
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G': {
        if (!arg->is_number())
          throw ValueError(std::string("must be real number, not ") + type_name(*arg));
        std::snprintf(buf, sizeof buf, (spec + conv).c_str(), arg->as_float());
        out += buf;
        break;
      }
      case 'c': {
        if (arg->is_string() && py_len(arg->str()) == 1) {
          out += arg->str();
        } else if (arg->is_number() && !arg->is_float() && arg->as_int() >= 0 && arg->as_int() <= 0x10FFFF) {
          utf8_append(out, static_cast<char32_t>(arg->as_int()));
        } else {
          throw ValueError("%c requires int or char");
        }
        break;
      }
      default: throw ValueError(std::string("unsupported format character '") + conv + "'");
    }
  }
  if (!used_mapping && !mapping_like && next < pos.size())
    throw ValueError("not all arguments converted during string formatting");
  return Value::string(std::move(out), fmt_v.markup());
}

// --- slicing ---------------------------------------------------------------------------------------

static int64_t slice_bound(const Value& b, const char* what) {
  if (b.is_number() && !b.is_float()) return b.as_int();
  throw ValueError(std::string("slice indices must be integers or None (") + what + ")");
}

Value slice_of(const Value& v, const Value& start_v, const Value& stop_v, const Value& step_v) {
  int64_t step = step_v.is_none() ? 1 : slice_bound(step_v, "step");
  if (step == 0) throw ValueError("slice step cannot be zero");
  int64_t n;
  std::u32string cps;
  if (v.is_string()) {
    cps = utf8_decode(v.str());
    n = static_cast<int64_t>(cps.size());
  } else if (v.is_seq() && v.seq().kind != SeqKind::Iterator && v.seq().kind != SeqKind::Keys &&
             v.seq().kind != SeqKind::Values && v.seq().kind != SeqKind::Items) {
    n = static_cast<int64_t>(v.seq().items.size());
  } else {
    throw ValueError("'" + type_name(v) + "' object is not subscriptable");
  }
  // CPython PySlice_AdjustIndices.
  int64_t lo = step < 0 ? -1 : 0, hi = step < 0 ? n - 1 : n;
  auto adjust = [&](const Value& b, int64_t dflt) {
    if (b.is_none()) return dflt;
    int64_t x = slice_bound(b, "bound");
    if (x < 0) {
      x += n;
      if (x < lo) x = lo;
    } else if (x > hi) {
      x = hi;
    }
    return x;
  };
  int64_t start = adjust(start_v, step < 0 ? n - 1 : 0);
  int64_t stop = adjust(stop_v, step < 0 ? -1 : n);
  std::vector<int64_t> idx;
  if (step > 0) {
    for (int64_t i = start; i < stop; i += step) idx.push_back(i);
  } else {
    for (int64_t i = start; i > stop; i += step) idx.push_back(i);
  }
  if (v.is_string()) {
    std::u32string out;
    for (int64_t i : idx) out += cps[static_cast<size_t>(i)];
    return Value::string(utf8_encode(out), v.markup());
  }
  std::vector<Value> out;
  for (int64_t i : idx) out.push_back(v.seq().items[static_cast<size_t>(i)]);
  SeqKind kind = v.seq().kind;
  if (kind == SeqKind::Range) {
    Value r = Value::seq(SeqKind::Range, std::move(out));
    SeqObj& src = v.seq();
    SeqObj& dst = r.seq();
    dst.step = src.step * step;
    dst.start = src.start + start * src.step;
    dst.stop = dst.start + static_cast<int64_t>(dst.items.size()) * dst.step;
    return r;
  }
  return Value::seq(kind, std::move(out));
}

// --- json.dumps ------------------------------------------------------------------------------------

static void json_string(std::string& out, std::string_view s, bool ensure_ascii) {
  out += '"';
  size_t i = 0;
  char buf[16];
  while (i < s.size()) {
    size_t b = i;
    char32_t cp = utf8_next(s, i);
    switch (cp) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    if (cp < 0x20 || (ensure_ascii && cp >= 0x7F)) {
      if (cp >= 0x10000) {
        char32_t v = cp - 0x10000;
        std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 | (v >> 10)),
                      static_cast<unsigned>(0xDC00 | (v & 0x3FF)));
      } else {
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
      }
      out += buf;
    } else {
      out.append(s.substr(b, i - b));
    }
  }
  out += '"';
}

static std::string json_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d < 0 ? "-Infinity" : "Infinity";
  return py_repr_float(d);
}

static void json_value(std::string& out, const Value& v, const JsonDumpOptions& opt, int level) {
  const std::string item_sep = opt.separators_set ? opt.item_sep : (opt.indent_set ? "," : ", ");
  const std::string key_sep = opt.separators_set ? opt.key_sep : ": ";
  auto newline = [&](int lvl) {
    out += '\n';
    for (int k = 0; k < lvl; k++) out += opt.indent;
  };
  switch (v.type()) {
    case Value::Type::None: out += "null"; return;
    case Value::Type::Bool: out += v.as_bool() ? "true" : "false"; return;
    case Value::Type::Int: out += std::to_string(v.as_int()); return;
    case Value::Type::Float: out += json_float(v.as_float()); return;
    case Value::Type::String: json_string(out, v.str(), opt.ensure_ascii); return;
    case Value::Type::Seq: {
      const SeqObj& s = v.seq();
      if (s.kind != SeqKind::List && s.kind != SeqKind::Tuple) break;
      if (s.items.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < s.items.size(); i++) {
        if (i > 0) out += item_sep;
        if (opt.indent_set) newline(level + 1);
        json_value(out, s.items[i], opt, level + 1);
      }
      if (opt.indent_set) newline(level);
      out += ']';
      return;
    }
    case Value::Type::Dict: {
      std::vector<const std::pair<Value, Value>*> items;
      for (auto& kv : v.dict().items) items.push_back(&kv);
      if (items.empty()) {
        out += "{}";
        return;
      }
      if (opt.sort_keys)
        std::stable_sort(items.begin(), items.end(), [](auto* x, auto* y) { return py_lt(x->first, y->first); });
      out += '{';
      bool first = true;
      for (auto* kv : items) {
        if (!first) out += item_sep;
        first = false;
        if (opt.indent_set) newline(level + 1);
        const Value& k = kv->first;
        if (k.is_string()) {
          json_string(out, k.str(), opt.ensure_ascii);
        } else if (k.is_float()) {
          json_string(out, json_float(k.as_float()), false);
        } else if (k.is_bool()) {
          json_string(out, k.as_bool() ? "true" : "false", false);
        } else if (k.is_int()) {
          json_string(out, std::to_string(k.as_int()), false);
        } else if (k.is_none()) {
          json_string(out, "null", false);
        } else {
          throw ValueError("keys must be str, int, float, bool or None, not " + type_name(k));
        }
        out += key_sep;
        json_value(out, kv->second, opt, level + 1);
      }
      if (opt.indent_set) newline(level);
      out += '}';
      return;
    }
    default: break;
  }
  throw ValueError("Object of type " + type_name(v) + " is not JSON serializable");
}

std::string json_dumps(const Value& v, const JsonDumpOptions& opt) {
  std::string out;
  json_value(out, v, opt, 0);
  return out;
}

// --- from JSON -------------------------------------------------------------------------------------

template <typename J>
static Value from_json_impl(const J& j) {
  switch (j.type()) {
    case J::value_t::null: return Value::none();
    case J::value_t::boolean: return Value::boolean(j.template get<bool>());
    case J::value_t::number_integer: return Value::integer(j.template get<int64_t>());
    case J::value_t::number_unsigned: {
      auto u = j.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) throw ValueError("integer " + std::to_string(u) + " is out of range");
      return Value::integer(static_cast<int64_t>(u));
    }
    case J::value_t::number_float: return Value::real(j.template get<double>());
    case J::value_t::string: {
      const auto& s = j.template get_ref<const std::string&>();
      if (!utf8_valid(s)) throw ValueError("string is not valid UTF-8");
      return Value::string(s);
    }
    case J::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& x : j) items.push_back(from_json_impl(x));
      return Value::list(std::move(items));
    }
    case J::value_t::object: {
      auto d = std::make_shared<DictObj>();
      d->items.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (!utf8_valid(it.key())) throw ValueError("object key is not valid UTF-8");
        d->items.emplace_back(Value::string(it.key()), from_json_impl(it.value()));
      }
      return Value::dict(std::move(d));
    }
    default: throw ValueError("unsupported JSON value (binary)");
  }
}

Value from_json(const Json& j) { return from_json_impl(j); }
Value from_json(const OrderedJson& j) { return from_json_impl(j); }

}  // namespace mc::jinja

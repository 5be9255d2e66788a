// The value model of the chat-template interpreter: the Python objects a Jinja2 template sees when
// transformers renders it (None, bool, int, float, str, list, tuple, dict, jinja2's Undefined and
// Namespace, macros, loop contexts), with Python's semantics for truthiness, equality, ordering,
// arithmetic, str() and repr(). Containers are shared by reference like Python objects, so a dict
// read from `messages[i]` keeps its identity through slices and filters (span tracking relies on it).
// Not a general Python: integers are 64-bit (overflow is an error), and values are immutable except
// namespaces, as in transformers' ImmutableSandboxedEnvironment.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/json.h"

namespace mc::jinja {

/// A Python-level error raised while evaluating (TypeError, UndefinedError, ...). The interpreter
/// adds the template location and rethrows it as mc::Error.
struct ValueError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Value;
class Interp;

/// Kinds of sequence objects. They differ in how they print (list vs tuple vs dict_keys(...)),
/// whether they have a length and can be indexed, and (Iterator) in being single-use and always
/// truthy, like the generators jinja2's select/map filters return.
enum class SeqKind : uint8_t { List, Tuple, Range, Keys, Values, Items, Iterator };

struct Object {
  virtual ~Object() = default;
};

struct SeqObj;
struct DictObj;
struct NamespaceObj;
struct CallableObj;
struct LoopObj;

class Value {
 public:
  enum class Type : uint8_t { Undefined, None, Bool, Int, Float, String, Seq, Dict, Namespace, Callable, Loop };

  Value() = default;  // Undefined with no hint
  static Value undefined(std::string hint);
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value real(double d);
  static Value string(std::string s, bool markup = false);
  static Value seq(SeqKind kind, std::vector<Value> items);
  static Value list(std::vector<Value> items) { return seq(SeqKind::List, std::move(items)); }
  static Value tuple(std::vector<Value> items) { return seq(SeqKind::Tuple, std::move(items)); }
  static Value dict(std::shared_ptr<DictObj> d);
  static Value ns(std::shared_ptr<NamespaceObj> n);
  static Value callable(std::shared_ptr<CallableObj> c);
  static Value loop(std::shared_ptr<LoopObj> l);

  Type type() const { return type_; }
  bool is_undefined() const { return type_ == Type::Undefined; }
  bool is_none() const { return type_ == Type::None; }
  bool is_bool() const { return type_ == Type::Bool; }
  bool is_int() const { return type_ == Type::Int; }  // not bool
  bool is_float() const { return type_ == Type::Float; }
  bool is_number() const { return type_ == Type::Bool || type_ == Type::Int || type_ == Type::Float; }
  bool is_string() const { return type_ == Type::String; }
  bool is_seq() const { return type_ == Type::Seq; }
  bool is_dict() const { return type_ == Type::Dict; }
  bool is_ns() const { return type_ == Type::Namespace; }
  bool is_callable() const { return type_ == Type::Callable; }
  bool is_loop() const { return type_ == Type::Loop; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return type_ == Type::Bool ? (b_ ? 1 : 0) : i_; }  // bool or int
  double as_float() const;                                                  // any number
  const std::string& str() const { return s_; }  // String text, or Undefined hint
  bool markup() const { return markup_; }
  SeqObj& seq() const;
  DictObj& dict() const;
  NamespaceObj& ns() const;
  CallableObj& callable() const;
  LoopObj& loop() const;
  const std::shared_ptr<Object>& object() const { return obj_; }

 private:
  Type type_ = Type::Undefined;
  bool markup_ = false;
  bool b_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  std::string s_;
  std::shared_ptr<Object> obj_;
};

struct SeqObj : Object {
  SeqKind kind = SeqKind::List;
  std::vector<Value> items;
  int64_t start = 0, stop = 0, step = 1;  // Range only, for repr
  size_t pos = 0;                         // Iterator only: items before pos were consumed
};

/// An insertion-ordered dict (Python 3.7+ order). Keys are hashable scalars (str, int, float,
/// bool, None) compared with Python equality (1 == 1.0 == True).
struct DictObj : Object {
  std::vector<std::pair<Value, Value>> items;
  const Value* find(const Value& key) const;
  const Value* find(const std::string& key) const;
  void set(Value key, Value value);
};

/// jinja2.utils.Namespace: a mutable attribute bag created by namespace(...).
struct NamespaceObj : Object {
  DictObj attrs;
};

/// Positional and keyword arguments of a call.
struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
};

/// Anything callable: builtins (range, namespace, raise_exception, ...), bound methods of str/dict,
/// macros and `caller`.
struct CallableObj : Object {
  std::string name;
  bool is_macro = false;
  std::function<Value(Interp&, CallArgs&)> fn;
};

/// jinja2.runtime.LoopContext for one iteration.
struct LoopObj : Object {
  std::shared_ptr<SeqObj> items;  // the (filtered) items being iterated
  size_t index0 = 0;
  size_t depth0 = 0;
  size_t cycle_unused = 0;
  bool has_changed_last = false;
  Value changed_last;
};

// --- Python semantics --------------------------------------------------------------------------

/// Python type name as used in error messages ("str", "int", "list", "dict", "NoneType", ...).
std::string type_name(const Value& v);
/// jinja2's object_type_repr, used in Undefined hints ("dict object", "None", "str object").
std::string object_type_repr(const Value& v);
/// Throws the UndefinedError `v` carries ("'x' is undefined").
[[noreturn]] void fail_undefined(const Value& v);

bool truthy(const Value& v);
/// str(v) as jinja2 prints it (Undefined -> "", None -> "None", lists in repr form).
std::string to_str(const Value& v);
/// repr(v).
std::string repr(const Value& v);
/// Python ==.
bool py_eq(const Value& a, const Value& b);
/// Python < (TypeError on incomparable types).
bool py_lt(const Value& a, const Value& b);

/// Items of an iterable (list, tuple, str, dict keys, views, Undefined -> empty). Consumes
/// single-use iterators. Throws ValueError for non-iterables.
std::vector<Value> iterate(const Value& v);
/// len(v), or ValueError.
int64_t py_length(const Value& v);
/// Whether Python can hash `v` (a dict key or set member): str, numbers, None, tuples of those.
bool is_hashable(const Value& v);
/// `item in container`.
bool py_contains(const Value& container, const Value& item);

/// Binary arithmetic with Python semantics: "+", "-", "*", "/", "//", "%", "**".
Value binary_op(const std::string& op, const Value& a, const Value& b);
/// Unary minus and plus.
Value unary_op(char op, const Value& v);

/// v[start:stop:step] for str, list, tuple and range (bounds are Int or None). Python semantics,
/// including negative bounds and steps; a zero step is a ValueError.
Value slice_of(const Value& v, const Value& start, const Value& stop, const Value& step);

/// json.dumps(v, ensure_ascii, indent, separators, sort_keys) as transformers' tojson filter.
struct JsonDumpOptions {
  bool ensure_ascii = false;
  bool indent_set = false;
  std::string indent;  // the per-level indent string when indent_set
  bool separators_set = false;
  std::string item_sep, key_sep;
  bool sort_keys = false;
};
std::string json_dumps(const Value& v, const JsonDumpOptions& opt);

/// Conversion from the JSON input model (object key order is kept for OrderedJson).
Value from_json(const Json& j);
Value from_json(const OrderedJson& j);

}  // namespace mc::jinja

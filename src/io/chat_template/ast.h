// Syntax tree of a parsed chat template, and the lexer/parser entry point. The grammar and the
// whitespace rules are jinja2 3.1's (lexer.py, parser.py) with the settings transformers uses:
// trim_blocks=True, lstrip_blocks=True, the loopcontrols extension (break/continue) and
// transformers' {% generation %} tag. Template inheritance, includes, imports and autoescape blocks
// are not supported and are rejected at parse time with their line and column.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/chat_template/value.h"

namespace mc::jinja {

enum class ExprKind : uint8_t {
  Const,     // value
  Name,      // name
  List,      // args = items
  Tuple,     // args = items
  Dict,      // args = key0, value0, key1, value1, ...
  Getattr,   // args[0] = object, name = attribute
  Getitem,   // args[0] = object, args[1] = key (possibly a Slice)
  Slice,     // args = start, stop, step (each may be null)
  Call,      // args[0] = callee, args[1..] = positional; kwargs; dyn_args; dyn_kwargs
  Filter,    // args[0] = subject (null inside {% filter %} / {% set x | f %}), args[1..]; name; kwargs
  Test,      // args[0] = subject, args[1..]; name; kwargs
  Not,       // args[0]
  Neg,       // args[0]
  Pos,       // args[0]
  Binary,    // name = "+", "-", "*", "/", "//", "%", "**"; args[0], args[1]
  Compare,   // args[0], then one operand per entry of ops ("eq", "ne", "lt", "lteq", "gt", "gteq", "in", "notin")
  And,       // args[0], args[1]
  Or,        // args[0], args[1]
  Concat,    // args (the ~ operator)
  CondExpr,  // args = test, then-value, else-value (may be null)
  NSRef,     // name = namespace variable, attr = attribute (assignment targets only)
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  ExprKind kind = ExprKind::Const;
  size_t offset = 0;  // byte offset in the (newline-normalised) source, for error locations
  Value value;
  std::string name;
  std::string attr;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  ExprPtr dyn_args, dyn_kwargs;
  std::vector<std::string> ops;
};

enum class StmtKind : uint8_t {
  Output,       // items
  If,           // conds[i] guards bodies[i]; else_body
  For,          // target, iter, filter (may be null), body, else_body
  Set,          // target, expr
  SetBlock,     // target, filter (chain with null subject, may be null), body
  Macro,        // name, params, defaults (aligned to the last params), body
  CallBlock,    // expr (the call), params, defaults, body
  FilterBlock,  // filter (chain), body
  With,         // targets (in params order) = values (conds), body
  Break,
  Continue,
  Generation,   // body: transformers' {% generation %} ... {% endgeneration %}
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct OutputItem {
  std::string data;  // template text, when expr is null
  ExprPtr expr;
};

struct Stmt {
  StmtKind kind = StmtKind::Output;
  size_t offset = 0;
  std::vector<OutputItem> items;
  std::vector<ExprPtr> conds;
  std::vector<Body> bodies;
  Body body, else_body;
  ExprPtr target, iter, filter, expr;
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;
  bool uses_varargs = false, uses_kwargs = false, uses_caller = false;  // Macro / CallBlock
};

/// A parsed template: the tree plus the normalised source, for mapping offsets to line:column.
struct Template {
  std::string source_name;
  std::string source;  // newlines normalised to \n, one trailing newline removed (jinja2's lexer)
  Body body;
  bool has_generation = false;
};

/// Thrown by the lexer, parser and interpreter with a byte offset into Template::source; the public
/// API turns it into mc::Error("chat_template", "<name>:<line>:<col>: <message>").
struct TemplateError : std::runtime_error {
  size_t offset;
  TemplateError(size_t off, const std::string& msg) : std::runtime_error(msg), offset(off) {}
};

/// jinja2's source preparation: \r\n and \r become \n, and one trailing newline is dropped.
std::string normalize_source(const std::string& source);

/// Lexes and parses `source`. Throws TemplateError (offsets into normalize_source(source)).
std::shared_ptr<Template> parse_template(const std::string& source, const std::string& source_name);

/// "line:col" (1-based; the column counts code points) of a byte offset in the normalised source.
std::string source_location(const std::string& source, size_t offset);

/// Filters and tests the interpreter implements (unknown names are rejected at parse time).
bool is_known_filter(const std::string& name);
bool is_known_test(const std::string& name);

}  // namespace mc::jinja

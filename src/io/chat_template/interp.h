// The tree-walking interpreter that renders a parsed chat template, with jinja2's runtime
// semantics as transformers configures it (ImmutableSandboxedEnvironment, default Undefined,
// loopcontrols, transformers' globals raise_exception / strftime_now / dict / namespace and its
// tojson filter). It can also trace which output bytes were produced while a loop iterated over
// each message, and where {% generation %} blocks start and end, for assistant-span tracking.
#pragma once
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "io/chat_template/ast.h"
#include "io/chat_template/value.h"

namespace mc::jinja {

/// A variable scope. Jinja2 resolves names through nested frames: each for-loop iteration, macro
/// call and {% with %} block gets a fresh child scope, so `set` inside them does not leak out
/// (the reason templates use namespace()), while `if` blocks share their parent's scope.
struct Scope {
  std::shared_ptr<Scope> parent;
  std::vector<std::pair<std::string, Value>> vars;
  const Value* find(const std::string& name) const;
  void set(const std::string& name, Value v);
};

/// What a traced render records. Offsets are bytes of the rendered text.
struct RenderTrace {
  static constexpr size_t kNone = static_cast<size_t>(-1);
  std::unordered_map<const Object*, size_t> message_ids;  // message dict -> index in `messages`
  std::vector<std::pair<size_t, size_t>> turns;           // per message: [begin, end) of its loop output
  struct Generation {
    size_t begin, end, message;
  };
  std::vector<Generation> generation;  // {% generation %} blocks in output order
  bool generation_untracked = false;   // a generation block rendered inside a macro or set block
};

class Interp {
 public:
  /// `now` fixes strftime_now's clock (for reproducible renders); nullopt uses the current time.
  Interp(const Template& t, RenderTrace* trace, std::optional<std::time_t> now);

  /// Renders with `context` (a dict) as the template variables. Throws TemplateError.
  std::string render(const Value& context);

  // Used by the builtins.
  Value call(const Value& fn, CallArgs& args);
  Value getattr(const Value& obj, const std::string& name);
  Value getitem(const Value& obj, const Value& key);
  Value apply_filter(const std::string& name, const Value& subject, CallArgs& args);
  bool apply_test(const std::string& name, const Value& subject, CallArgs& args);
  std::optional<std::time_t> now() const { return now_; }

 private:
  enum class Flow { Normal, Break, Continue };

  const Template& t_;
  RenderTrace* trace_;
  std::optional<std::time_t> now_;
  std::string top_;              // the template's output
  std::string* out_ = nullptr;   // where output goes now (top_, or a macro / set-block buffer)
  size_t cur_msg_ = RenderTrace::kNone;
  int depth_ = 0;
  std::vector<std::shared_ptr<Scope>> keep_alive_;  // scopes that macros were defined in

  void install_globals(Scope& sc);
  void emit(const std::string& text);

  Flow exec_body(const Body& body, const std::shared_ptr<Scope>& sc);
  Flow exec(const Stmt& s, const std::shared_ptr<Scope>& sc);
  Flow exec_for(const Stmt& s, const std::shared_ptr<Scope>& sc);
  std::string render_to_string(const Body& body, const std::shared_ptr<Scope>& sc);
  void assign(const Expr& target, const Value& v, Scope& sc);
  Value make_macro(const Stmt& m, const std::string& name, const std::shared_ptr<Scope>& closure);
  Value call_macro(const Stmt& m, const std::string& name, const std::shared_ptr<Scope>& closure, CallArgs& args);

  Value eval(const Expr& e, Scope& sc);
  Value eval_inner(const Expr& e, Scope& sc);
  void eval_call_args(const Expr& e, size_t first, Scope& sc, CallArgs& out);
  Value eval_filter_chain(const Expr& e, Scope& sc, const Value& input);
};

}  // namespace mc::jinja

// Statement execution and expression evaluation for the chat-template interpreter (see interp.h).
// Scoping, macro calls, call blocks, loop contexts and the evaluation order of operators follow
// jinja2 3.1's compiled code (compiler.py, runtime.py); builtins live in builtins.cpp.
#include "io/chat_template/interp.h"

#include <algorithm>

#include "io/chat_template/pystr.h"

namespace mc::jinja {

namespace {
constexpr int kMaxCallDepth = 200;
}

const Value* Scope::find(const std::string& name) const {
  for (const Scope* s = this; s; s = s->parent.get())
    for (auto it = s->vars.rbegin(); it != s->vars.rend(); ++it)
      if (it->first == name) return &it->second;
  return nullptr;
}

void Scope::set(const std::string& name, Value v) {
  for (auto& kv : vars)
    if (kv.first == name) {
      kv.second = std::move(v);
      return;
    }
  vars.emplace_back(name, std::move(v));
}

Interp::Interp(const Template& t, RenderTrace* trace, std::optional<std::time_t> now)
    : t_(t), trace_(trace), now_(now) {}

std::string Interp::render(const Value& context) {
  auto globals = std::make_shared<Scope>();
  install_globals(*globals);
  auto ctx = std::make_shared<Scope>();
  ctx->parent = globals;
  if (context.is_dict())
    for (auto& kv : context.dict().items)
      if (kv.first.is_string()) ctx->set(kv.first.str(), kv.second);
  auto top = std::make_shared<Scope>();
  top->parent = ctx;
  top_.clear();
  out_ = &top_;
  if (trace_) {
    size_t n = 0;
    for (auto& kv : trace_->message_ids) n = std::max(n, kv.second + 1);
    trace_->turns.assign(n, {RenderTrace::kNone, RenderTrace::kNone});
    trace_->generation.clear();
    trace_->generation_untracked = false;
  }
  exec_body(t_.body, top);
  return std::move(top_);
}

void Interp::emit(const std::string& text) {
  if (text.empty()) return;
  if (trace_ && out_ == &top_ && cur_msg_ != RenderTrace::kNone) {
    auto& turn = trace_->turns[cur_msg_];
    if (turn.first == RenderTrace::kNone) turn.first = top_.size();
    turn.second = top_.size() + text.size();
  }
  out_->append(text);
}

// --- statements ------------------------------------------------------------------------------------

Interp::Flow Interp::exec_body(const Body& body, const std::shared_ptr<Scope>& sc) {
  for (auto& s : body) {
    Flow f = exec(*s, sc);
    if (f != Flow::Normal) return f;
  }
  return Flow::Normal;
}

std::string Interp::render_to_string(const Body& body, const std::shared_ptr<Scope>& sc) {
  std::string buf;
  std::string* saved = out_;
  out_ = &buf;
  try {
    exec_body(body, sc);
  } catch (...) {
    out_ = saved;
    throw;
  }
  out_ = saved;
  return buf;
}

static std::shared_ptr<Scope> child_of(const std::shared_ptr<Scope>& parent) {
  auto c = std::make_shared<Scope>();
  c->parent = parent;
  return c;
}

Interp::Flow Interp::exec(const Stmt& s, const std::shared_ptr<Scope>& sc) {
  switch (s.kind) {
    case StmtKind::Output:
      for (auto& item : s.items) {
        if (!item.expr) {
          emit(item.data);
          continue;
        }
        Value v = eval(*item.expr, *sc);
        try {
          emit(to_str(v));
        } catch (const ValueError& e) {
          throw TemplateError(item.expr->offset, e.what());
        }
      }
      return Flow::Normal;
    case StmtKind::If:
      for (size_t i = 0; i < s.conds.size(); i++)
        if (truthy(eval(*s.conds[i], *sc))) return exec_body(s.bodies[i], sc);
      return exec_body(s.else_body, sc);
    case StmtKind::For: return exec_for(s, sc);
    case StmtKind::Set: {
      Value v = eval(*s.expr, *sc);
      assign(*s.target, v, *sc);
      return Flow::Normal;
    }
    case StmtKind::SetBlock: {
      Value v = Value::string(render_to_string(s.body, child_of(sc)));
      if (s.filter) v = eval_filter_chain(*s.filter, *sc, v);
      assign(*s.target, v, *sc);
      return Flow::Normal;
    }
    case StmtKind::Macro:
      sc->set(s.name, make_macro(s, s.name, sc));
      return Flow::Normal;
    case StmtKind::CallBlock: {
      const Expr& call = *s.expr;
      Value fn = eval(*call.args[0], *sc);
      CallArgs args;
      Value r;
      try {
        eval_call_args(call, 1, *sc, args);
        args.kw.emplace_back("caller", make_macro(s, "caller", sc));
        r = this->call(fn, args);
        emit(to_str(r));
      } catch (const ValueError& e) {
        throw TemplateError(call.offset, e.what());
      }
      return Flow::Normal;
    }
    case StmtKind::FilterBlock: {
      Value v = Value::string(render_to_string(s.body, child_of(sc)));
      v = eval_filter_chain(*s.filter, *sc, v);
      try {
        emit(to_str(v));
      } catch (const ValueError& e) {
        throw TemplateError(s.offset, e.what());
      }
      return Flow::Normal;
    }
    case StmtKind::With: {
      auto inner = child_of(sc);
      for (size_t i = 0; i < s.params.size(); i++) inner->set(s.params[i], eval(*s.conds[i], *sc));
      return exec_body(s.body, inner);
    }
    case StmtKind::Break: return Flow::Break;
    case StmtKind::Continue: return Flow::Continue;
    case StmtKind::Generation: {
      // transformers' AssistantTracker: the block's output, and where it starts in the output.
      if (out_ != &top_) {
        if (trace_) trace_->generation_untracked = true;
        return exec_body(s.body, sc);
      }
      size_t begin = top_.size();
      Flow f = exec_body(s.body, sc);
      if (trace_) trace_->generation.push_back({begin, top_.size(), cur_msg_});
      return f;
    }
  }
  return Flow::Normal;
}

Interp::Flow Interp::exec_for(const Stmt& s, const std::shared_ptr<Scope>& sc) {
  Value iterable = eval(*s.iter, *sc);
  std::vector<Value> items;
  try {
    items = iterate(iterable);
  } catch (const ValueError& e) {
    throw TemplateError(s.iter->offset, e.what());
  }
  if (s.filter) {
    std::vector<Value> kept;
    for (auto& item : items) {
      auto fs = child_of(sc);
      assign(*s.target, item, *fs);
      if (truthy(eval(*s.filter, *fs))) kept.push_back(item);
    }
    items = std::move(kept);
  }
  if (items.empty()) return exec_body(s.else_body, child_of(sc));
  auto seq = std::make_shared<SeqObj>();
  seq->items = std::move(items);
  size_t n = seq->items.size();
  Value changed_last;
  bool has_changed = false;
  for (size_t i = 0; i < n; i++) {
    auto it = child_of(sc);
    const Value& item = seq->items[i];
    assign(*s.target, item, *it);
    auto loop = std::make_shared<LoopObj>();
    loop->items = seq;
    loop->index0 = i;
    loop->has_changed_last = has_changed;
    loop->changed_last = changed_last;
    it->set("loop", Value::loop(loop));
    size_t saved_msg = cur_msg_;
    if (trace_ && item.is_dict()) {
      auto found = trace_->message_ids.find(item.object().get());
      if (found != trace_->message_ids.end()) cur_msg_ = found->second;
    }
    Flow f;
    try {
      f = exec_body(s.body, it);
    } catch (...) {
      cur_msg_ = saved_msg;
      throw;
    }
    cur_msg_ = saved_msg;
    has_changed = loop->has_changed_last;
    changed_last = loop->changed_last;
    if (f == Flow::Break) break;
  }
  return Flow::Normal;
}

void Interp::assign(const Expr& target, const Value& v, Scope& sc) {
  switch (target.kind) {
    case ExprKind::Name: sc.set(target.name, v); return;
    case ExprKind::Tuple: {
      std::vector<Value> items;
      try {
        items = iterate(v);
      } catch (const ValueError&) {
        throw TemplateError(target.offset, "cannot unpack non-iterable " + type_name(v) + " object");
      }
      size_t n = target.args.size();
      if (items.size() < n)
        throw TemplateError(target.offset, "not enough values to unpack (expected " + std::to_string(n) + ", got " +
                                               std::to_string(items.size()) + ")");
      if (items.size() > n)
        throw TemplateError(target.offset, "too many values to unpack (expected " + std::to_string(n) + ")");
      for (size_t i = 0; i < n; i++) sc.set(target.args[i]->name, items[i]);
      return;
    }
    case ExprKind::NSRef: {
      const Value* ns = sc.find(target.name);
      if (!ns || !ns->is_ns()) throw TemplateError(target.offset, "cannot assign attribute on non-namespace object");
      if (!target.attr.empty() && target.attr[0] == '_')
        throw TemplateError(target.offset, "Chat templates cannot store underscore-prefixed attributes on a namespace, "
                                           "but got '" + target.attr + "'. Please rename the attribute.");
      ns->ns().attrs.set(Value::string(target.attr), v);
      return;
    }
    default: throw TemplateError(target.offset, "invalid assignment target");
  }
}

Value Interp::make_macro(const Stmt& m, const std::string& name, const std::shared_ptr<Scope>& closure) {
  auto c = std::make_shared<CallableObj>();
  c->name = name;
  c->is_macro = true;
  const Stmt* node = &m;
  // The macro refers to its defining scope weakly (the scope holds the macro: a strong reference
  // would be a cycle); keep_alive_ holds the scope for the rest of the render.
  keep_alive_.push_back(closure);
  std::weak_ptr<Scope> weak = closure;
  c->fn = [node, name, weak](Interp& in, CallArgs& args) {
    auto cl = weak.lock();
    if (!cl) throw ValueError("macro '" + name + "' called after its scope ended");
    return in.call_macro(*node, name, cl, args);
  };
  return Value::callable(c);
}

Value Interp::call_macro(const Stmt& m, const std::string& name, const std::shared_ptr<Scope>& closure,
                         CallArgs& args) {
  if (depth_ >= kMaxCallDepth) throw ValueError("maximum recursion depth exceeded in macro '" + name + "'");
  auto sc = child_of(closure);
  size_t np = m.params.size(), nd = m.defaults.size();
  std::vector<bool> bound(np, false);
  std::vector<Value> extra_pos;
  for (size_t i = 0; i < args.pos.size(); i++) {
    if (i < np) {
      sc->set(m.params[i], args.pos[i]);
      bound[i] = true;
    } else {
      extra_pos.push_back(args.pos[i]);
    }
  }
  if (!extra_pos.empty() && !m.uses_varargs)
    throw ValueError("macro '" + name + "' takes not more than " + std::to_string(np) + " argument(s)");
  auto extra_kw = std::make_shared<DictObj>();
  Value caller = Value::undefined("No caller defined");
  for (auto& kv : args.kw) {
    auto it = std::find(m.params.begin(), m.params.end(), kv.first);
    if (it != m.params.end()) {
      size_t idx = static_cast<size_t>(it - m.params.begin());
      if (bound[idx]) throw ValueError("macro '" + name + "' got multiple values for argument '" + kv.first + "'");
      sc->set(kv.first, kv.second);
      bound[idx] = true;
    } else if (kv.first == "caller" && m.uses_caller) {
      caller = kv.second;
    } else if (m.uses_kwargs) {
      extra_kw->set(Value::string(kv.first), kv.second);
    } else {
      throw ValueError("macro '" + name + "' takes no keyword argument '" + kv.first + "'");
    }
  }
  depth_++;
  try {
    for (size_t i = 0; i < np; i++) {
      if (bound[i]) continue;
      if (i >= np - nd) {
        sc->set(m.params[i], eval(*m.defaults[i - (np - nd)], *sc));
      } else {
        sc->set(m.params[i], Value::undefined("parameter '" + m.params[i] + "' was not provided"));
      }
    }
    if (m.uses_varargs) sc->set("varargs", Value::tuple(extra_pos));
    if (m.uses_kwargs) sc->set("kwargs", Value::dict(extra_kw));
    if (m.uses_caller) sc->set("caller", caller);
    std::string out = render_to_string(m.body, sc);
    depth_--;
    return Value::string(std::move(out));
  } catch (...) {
    depth_--;
    throw;
  }
}

// --- expressions -----------------------------------------------------------------------------------

Value Interp::eval(const Expr& e, Scope& sc) {
  try {
    return eval_inner(e, sc);
  } catch (const ValueError& err) {
    throw TemplateError(e.offset, err.what());
  }
}

void Interp::eval_call_args(const Expr& e, size_t first, Scope& sc, CallArgs& out) {
  for (size_t i = first; i < e.args.size(); i++) out.pos.push_back(eval(*e.args[i], sc));
  for (auto& kv : e.kwargs) out.kw.emplace_back(kv.first, eval(*kv.second, sc));
  if (e.dyn_args) {
    for (auto& v : iterate(eval(*e.dyn_args, sc))) out.pos.push_back(v);
  }
  if (e.dyn_kwargs) {
    Value d = eval(*e.dyn_kwargs, sc);
    if (!d.is_dict()) throw ValueError("argument after ** must be a mapping, not " + type_name(d));
    for (auto& kv : d.dict().items) {
      if (!kv.first.is_string()) throw ValueError("keywords must be strings");
      out.kw.emplace_back(kv.first.str(), kv.second);
    }
  }
}

Value Interp::eval_filter_chain(const Expr& e, Scope& sc, const Value& input) {
  Value subject = e.args[0] ? eval_filter_chain(*e.args[0], sc, input) : input;
  CallArgs args;
  try {
    eval_call_args(e, 1, sc, args);
    return apply_filter(e.name, subject, args);
  } catch (const ValueError& err) {
    throw TemplateError(e.offset, err.what());
  }
}

static bool compare(const std::string& op, const Value& a, const Value& b) {
  if (op == "eq") return py_eq(a, b);
  if (op == "ne") return !py_eq(a, b);
  if (op == "in") return py_contains(b, a);
  if (op == "notin") return !py_contains(b, a);
  if (a.is_number() && b.is_number() && (a.is_float() || b.is_float())) {
    double x = a.as_float(), y = b.as_float();
    if (!a.is_float() || !b.is_float()) {
      // Mixed int/float: exact comparison through py_lt / py_eq.
      bool lt = py_lt(a, b), gt = py_lt(b, a), eq = py_eq(a, b);
      if (op == "lt") return lt;
      if (op == "gt") return gt;
      if (op == "lteq") return lt || eq;
      return gt || eq;
    }
    if (op == "lt") return x < y;
    if (op == "gt") return x > y;
    if (op == "lteq") return x <= y;
    return x >= y;
  }
  if (op == "lt") return py_lt(a, b);
  if (op == "gt") return py_lt(b, a);
  if (op == "lteq") return py_lt(a, b) || py_eq(a, b);
  return py_lt(b, a) || py_eq(a, b);
}

Value Interp::eval_inner(const Expr& e, Scope& sc) {
  switch (e.kind) {
    case ExprKind::Const: return e.value;
    case ExprKind::Name: {
      const Value* v = sc.find(e.name);
      if (v) return *v;
      return Value::undefined("'" + e.name + "' is undefined");
    }
    case ExprKind::List:
    case ExprKind::Tuple: {
      std::vector<Value> items;
      items.reserve(e.args.size());
      for (auto& a : e.args) items.push_back(eval(*a, sc));
      return e.kind == ExprKind::List ? Value::list(std::move(items)) : Value::tuple(std::move(items));
    }
    case ExprKind::Dict: {
      auto d = std::make_shared<DictObj>();
      for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
        Value k = eval(*e.args[i], sc);
        if (!(k.is_string() || k.is_number() || k.is_none() ||
              (k.is_seq() && k.seq().kind == SeqKind::Tuple)))
          throw ValueError("unhashable type: '" + type_name(k) + "'");
        d->set(std::move(k), eval(*e.args[i + 1], sc));
      }
      return Value::dict(d);
    }
    case ExprKind::Getattr: return getattr(eval(*e.args[0], sc), e.name);
    case ExprKind::Getitem: {
      Value obj = eval(*e.args[0], sc);
      const Expr& key = *e.args[1];
      if (key.kind == ExprKind::Slice) {
        Value b[3];
        for (int k = 0; k < 3; k++) b[k] = key.args[static_cast<size_t>(k)] ? eval(*key.args[static_cast<size_t>(k)], sc) : Value::none();
        // Slices compile to a plain Python subscript in jinja2 (no sandbox fallback to Undefined).
        if (obj.is_undefined()) fail_undefined(obj);
        bool sliceable = obj.is_string() || (obj.is_seq() && (obj.seq().kind == SeqKind::List ||
                                                              obj.seq().kind == SeqKind::Tuple ||
                                                              obj.seq().kind == SeqKind::Range));
        if (!sliceable) throw ValueError("'" + type_name(obj) + "' object is not subscriptable");
        for (auto& x : b) {
          if (x.is_undefined()) fail_undefined(x);
          if (!(x.is_none() || (x.is_number() && !x.is_float())))
            throw ValueError("slice indices must be integers or None or have an __index__ method");
        }
        return slice_of(obj, b[0], b[1], b[2]);
      }
      return getitem(obj, eval(key, sc));
    }
    case ExprKind::Slice: throw ValueError("slice outside of a subscript");
    case ExprKind::Call: {
      Value fn = eval(*e.args[0], sc);
      CallArgs args;
      eval_call_args(e, 1, sc, args);
      return call(fn, args);
    }
    case ExprKind::Filter: {
      Value subject = eval(*e.args[0], sc);
      CallArgs args;
      eval_call_args(e, 1, sc, args);
      return apply_filter(e.name, subject, args);
    }
    case ExprKind::Test: {
      Value subject = eval(*e.args[0], sc);
      CallArgs args;
      eval_call_args(e, 1, sc, args);
      return Value::boolean(apply_test(e.name, subject, args));
    }
    case ExprKind::Not: return Value::boolean(!truthy(eval(*e.args[0], sc)));
    case ExprKind::Neg: return unary_op('-', eval(*e.args[0], sc));
    case ExprKind::Pos: return unary_op('+', eval(*e.args[0], sc));
    case ExprKind::Binary: {
      Value a = eval(*e.args[0], sc);
      Value b = eval(*e.args[1], sc);
      return binary_op(e.name, a, b);
    }
    case ExprKind::Compare: {
      Value left = eval(*e.args[0], sc);
      for (size_t i = 0; i < e.ops.size(); i++) {
        Value right = eval(*e.args[i + 1], sc);
        if (!compare(e.ops[i], left, right)) return Value::boolean(false);
        left = std::move(right);
      }
      return Value::boolean(true);
    }
    case ExprKind::And: {
      Value a = eval(*e.args[0], sc);
      return truthy(a) ? eval(*e.args[1], sc) : a;
    }
    case ExprKind::Or: {
      Value a = eval(*e.args[0], sc);
      return truthy(a) ? a : eval(*e.args[1], sc);
    }
    case ExprKind::Concat: {
      std::string out;
      for (auto& a : e.args) out += to_str(eval(*a, sc));
      return Value::string(std::move(out));
    }
    case ExprKind::CondExpr: {
      if (truthy(eval(*e.args[0], sc))) return eval(*e.args[1], sc);
      if (e.args[2]) return eval(*e.args[2], sc);
      std::string loc = source_location(t_.source, e.offset);
      return Value::undefined("the inline if-expression on line " + loc.substr(0, loc.find(':')) +
                              " evaluated to false and no else section was defined.");
    }
    case ExprKind::NSRef: throw ValueError("namespace reference outside of an assignment");
  }
  throw ValueError("unknown expression");
}

Value Interp::call(const Value& fn, CallArgs& args) {
  if (fn.is_undefined()) fail_undefined(fn);
  if (!fn.is_callable()) throw ValueError("'" + type_name(fn) + "' object is not callable");
  return fn.callable().fn(*this, args);
}

}  // namespace mc::jinja

// Public chat-template API (see chat_template.h): parsing with located errors, rendering from JSON,
// apply_chat_template's input preparation (transformers tokenization_utils_base.py and
// chat_template_utils.py), template selection from tokenizer_config.json, and assistant spans.
#include "io/chat_template/chat_template.h"

#include <algorithm>

#include "core/error.h"
#include "io/chat_template/ast.h"
#include "io/chat_template/interp.h"
#include "io/chat_template/value.h"

namespace mc {

namespace {

constexpr const char* kComponent = "chat_template";

[[noreturn]] void fail_at(const jinja::Template& t, const jinja::TemplateError& e) {
  throw Error(kComponent, str(t.source_name, ":", jinja::source_location(t.source, e.offset), ": ", e.what()));
}

// Runs a render, turning the interpreter's errors into mc::Error. Every evaluation error is
// located by the interpreter; the ValueError branch is a safety net for one that escaped.
template <typename F>
std::string guarded(const jinja::Template& t, F&& f) {
  try {
    return f();
  } catch (const jinja::TemplateError& e) {
    fail_at(t, e);
  } catch (const jinja::ValueError& e) {
    throw Error(kComponent, str(t.source_name, ": ", e.what()));
  }
}

template <typename J>
jinja::Value context_value(const J& context, const std::string& name) {
  if (!context.is_object()) throw Error(kComponent, str(name, ": the render context must be a JSON object"));
  try {
    return jinja::from_json(context);
  } catch (const jinja::ValueError& e) {
    throw Error(kComponent, str(name, ": context: ", e.what()));
  }
}

size_t common_prefix(const std::string& a, const std::string& b) {
  size_t n = std::min(a.size(), b.size()), i = 0;
  while (i < n && a[i] == b[i]) i++;
  // Never split a UTF-8 sequence: back off to the start of the code point.
  while (i > 0 && i < b.size() && (static_cast<unsigned char>(b[i]) & 0xC0) == 0x80) i--;
  return i;
}

}  // namespace

// --- inputs ----------------------------------------------------------------------------------------

OrderedJson chat_template_context(const ChatInputs& in) {
  if (!in.messages.is_array()) throw Error(kComponent, "messages must be a list of message objects");
  if (in.messages.empty())
    throw Error(kComponent, "Cannot apply chat template to an empty conversation. Provide at least one message.");
  OrderedJson messages = OrderedJson::array();
  for (size_t i = 0; i < in.messages.size(); i++) {
    const OrderedJson& m = in.messages[i];
    if (!m.is_object()) throw Error(kComponent, str("message ", i, " is not an object"));
    // apply_chat_template drops keys whose value is None.
    OrderedJson msg = OrderedJson::object();
    for (auto it = m.begin(); it != m.end(); ++it)
      if (!it.value().is_null()) msg[it.key()] = it.value();
    // _alias_reasoning_fields: {"thinking": r, **message, "reasoning_content": r}.
    const OrderedJson* reasoning = nullptr;
    for (const char* key : {"reasoning_content", "thinking", "reasoning"}) {
      auto f = msg.find(key);
      if (f != msg.end()) {
        reasoning = &*f;
        break;
      }
    }
    if (reasoning) {
      OrderedJson r = *reasoning;
      OrderedJson aliased = OrderedJson::object();
      aliased["thinking"] = r;
      for (auto it = msg.begin(); it != msg.end(); ++it) aliased[it.key()] = it.value();
      aliased["reasoning_content"] = r;
      msg = std::move(aliased);
    }
    messages.push_back(std::move(msg));
  }
  if (!in.tools.is_null()) {
    if (!in.tools.is_array()) throw Error(kComponent, "tools must be a list of JSON schemas");
    for (auto& t : in.tools)
      if (!t.is_object())
        throw Error(kComponent, "Tools should either be a JSON schema, or a callable function with type hints");
  }
  if (!in.documents.is_null()) {
    if (!in.documents.is_array()) throw Error(kComponent, "documents must be a list");
    for (auto& d : in.documents)
      if (!d.is_object()) throw Error(kComponent, "Documents should be a list of dicts with 'title' and 'text' keys!");
  }
  OrderedJson ctx = OrderedJson::object();
  ctx["messages"] = std::move(messages);
  ctx["tools"] = in.tools;
  ctx["documents"] = in.documents;
  ctx["add_generation_prompt"] = in.add_generation_prompt;
  for (const OrderedJson* extra : {&in.special_tokens, &in.kwargs}) {
    if (extra->is_null()) continue;
    if (!extra->is_object()) throw Error(kComponent, "special tokens and template kwargs must be JSON objects");
    for (auto it = extra->begin(); it != extra->end(); ++it) {
      const std::string& k = it.key();
      if (k == "messages" || k == "tools" || k == "documents" || k == "add_generation_prompt")
        throw Error(kComponent, str("template kwarg '", k, "' collides with an apply_chat_template argument"));
      ctx[k] = it.value();
    }
  }
  return ctx;
}

std::optional<std::string> chat_template_from_config(const Json& cfg, bool with_tools) {
  if (!cfg.is_object()) return std::nullopt;
  auto it = cfg.find("chat_template");
  if (it == cfg.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array()) throw Error(kComponent, "tokenizer_config.json: chat_template must be a string or a list");
  std::optional<std::string> dflt, tool_use;
  for (auto& entry : *it) {
    if (!entry.is_object() || !entry.contains("name") || !entry.contains("template") || !entry["name"].is_string() ||
        !entry["template"].is_string())
      throw Error(kComponent, "tokenizer_config.json: chat_template list entries must be {name, template} strings");
    std::string name = entry["name"].get<std::string>();
    if (name == "default") dflt = entry["template"].get<std::string>();
    if (name == "tool_use") tool_use = entry["template"].get<std::string>();
  }
  if (with_tools && tool_use) return tool_use;
  if (dflt) return dflt;
  throw Error(kComponent, "tokenizer_config.json: multiple chat templates and none is named 'default'");
}

// --- ChatTemplate ----------------------------------------------------------------------------------

ChatTemplate ChatTemplate::parse(std::string source_text, std::string source_name) {
  ChatTemplate ct;
  try {
    ct.tmpl_ = jinja::parse_template(source_text, source_name);
  } catch (const jinja::TemplateError& e) {
    std::string src = jinja::normalize_source(source_text);
    throw Error(kComponent, str(source_name, ":", jinja::source_location(src, e.offset), ": ", e.what()));
  }
  return ct;
}

bool ChatTemplate::has_generation_tags() const { return tmpl_->has_generation; }
const std::string& ChatTemplate::source_name() const { return tmpl_->source_name; }

std::string ChatTemplate::render(const OrderedJson& context) const {
  jinja::Value ctx = context_value(context, tmpl_->source_name);
  jinja::Interp in(*tmpl_, nullptr, now_);
  return guarded(*tmpl_, [&] { return in.render(ctx); });
}

std::string ChatTemplate::render(const Json& context) const {
  jinja::Value ctx = context_value(context, tmpl_->source_name);
  jinja::Interp in(*tmpl_, nullptr, now_);
  return guarded(*tmpl_, [&] { return in.render(ctx); });
}

ChatTemplate::Rendered ChatTemplate::render_with_spans(const OrderedJson& context, const SpanOptions& options) const {
  const std::string& name = tmpl_->source_name;
  jinja::Value ctx = context_value(context, name);
  const jinja::Value* msgs_v = ctx.dict().find(std::string("messages"));
  if (!msgs_v || !msgs_v->is_seq() || msgs_v->seq().kind != jinja::SeqKind::List)
    throw Error(kComponent, str(name, ": assistant spans need a 'messages' list in the context"));
  const std::vector<jinja::Value> messages = msgs_v->seq().items;

  auto render_ctx = [&](const jinja::Value& c, jinja::RenderTrace* trace) {
    jinja::Interp in(*tmpl_, trace, now_);
    return guarded(*tmpl_, [&] { return in.render(c); });
  };
  // The context with messages[:k] and the given add_generation_prompt (same message objects).
  auto prefix_ctx = [&](size_t k, bool gen) {
    auto d = std::make_shared<jinja::DictObj>();
    d->items = ctx.dict().items;
    d->set(jinja::Value::string("messages"),
           jinja::Value::list(std::vector<jinja::Value>(messages.begin(), messages.begin() + static_cast<std::ptrdiff_t>(k))));
    d->set(jinja::Value::string("add_generation_prompt"), jinja::Value::boolean(gen));
    return jinja::Value::dict(d);
  };

  // Byte offset where message i's content starts in the full rendering: the first difference
  // between two renderings whose message i has the private-use probe contents U+E000 and U+E001.
  auto content_start = [&](const jinja::Value& base, const std::vector<jinja::Value>& msgs, size_t i) -> size_t {
    const jinja::Value* content = msgs[i].dict().find(std::string("content"));
    if (!content || !content->is_string()) return std::string::npos;
    std::string probes[2];
    for (int k = 0; k < 2; k++) {
      auto m = std::make_shared<jinja::DictObj>();
      m->items = msgs[i].dict().items;
      m->set(jinja::Value::string("content"), jinja::Value::string(k == 0 ? "\xEE\x80\x80" : "\xEE\x80\x81"));
      std::vector<jinja::Value> probe_msgs = msgs;
      probe_msgs[i] = jinja::Value::dict(m);
      auto d = std::make_shared<jinja::DictObj>();
      d->items = base.dict().items;
      d->set(jinja::Value::string("messages"), jinja::Value::list(std::move(probe_msgs)));
      try {
        probes[k] = render_ctx(jinja::Value::dict(d), nullptr);
      } catch (const Error&) {
        return std::string::npos;
      }
    }
    if (probes[0] == probes[1]) return std::string::npos;
    return common_prefix(probes[0], probes[1]);
  };

  jinja::RenderTrace trace;
  for (size_t i = 0; i < messages.size(); i++)
    if (messages[i].is_dict()) trace.message_ids[messages[i].object().get()] = i;
  Rendered out;
  out.text = render_ctx(ctx, &trace);
  const std::string& full = out.text;

  if (tmpl_->has_generation) {
    if (trace.generation_untracked)
      throw Error(kComponent, str(name, ": a {% generation %} block is rendered inside a macro or set block; "
                                        "its position in the output cannot be tracked"));
    for (auto& g : trace.generation)
      out.assistant.push_back(ChatSpan{g.message == jinja::RenderTrace::kNone ? ChatSpan::kNoMessage : g.message,
                                       g.begin, g.end});
    return out;
  }

  std::vector<std::string> markers = options.end_markers;
  if (markers.empty()) {
    const jinja::Value* eos = ctx.dict().find(std::string("eos_token"));
    if (eos && eos->is_string() && !eos->str().empty()) markers.push_back(eos->str());
  }

  for (size_t i = 0; i < messages.size(); i++) {
    const jinja::Value& m = messages[i];
    if (!m.is_dict()) continue;
    const jinja::Value* role = m.dict().find(std::string("role"));
    if (!role || !role->is_string() || role->str() != "assistant") continue;
    auto turn = trace.turns[i];
    bool traced = turn.first != jinja::RenderTrace::kNone;

    // Start: where the model starts generating after messages[:i] + generation prompt.
    size_t start;
    if (i == 0) {
      start = traced ? turn.first : 0;
    } else {
      std::string prompt = render_ctx(prefix_ctx(i, true), nullptr);
      bool is_prefix = full.compare(0, prompt.size(), prompt) == 0;
      if (is_prefix && (!traced || (prompt.size() >= turn.first && prompt.size() <= turn.second))) {
        start = prompt.size();
      } else if (traced) {
        // Earlier turns render differently in the prefix: match the generation prompt (what
        // add_generation_prompt adds to messages[:i]) against the start of message i's turn.
        std::string bare = render_ctx(prefix_ctx(i, false), nullptr);
        std::string gen = prompt.substr(common_prefix(bare, prompt));
        std::string turn_text = full.substr(turn.first, turn.second - turn.first);
        size_t header = common_prefix(gen, turn_text);
        // The header cannot reach into the message's own content: find where the content starts
        // by rendering the conversation with two different probe contents.
        if (size_t c = content_start(ctx, messages, i); c != std::string::npos && c >= turn.first)
          header = std::min(header, c - turn.first);
        start = turn.first + header;
      } else {
        throw Error(kComponent,
                    str(name, ": cannot locate assistant message ", i,
                        ": rendering messages[:", i, "] with add_generation_prompt is not a prefix of the full "
                        "conversation, and the template does not render the messages in a loop"));
      }
    }

    // End: just after the first end-of-turn marker inside the turn, else the end of the turn.
    size_t limit = traced ? turn.second : full.size();
    size_t end = std::string::npos;
    size_t best = std::string::npos;
    for (const std::string& mk : markers) {
      size_t p = full.find(mk, start);
      if (p != std::string::npos && p + mk.size() <= limit && (best == std::string::npos || p < best ||
                                                                (p == best && p + mk.size() > end))) {
        best = p;
        end = p + mk.size();
      }
    }
    if (end == std::string::npos) {
      if (!traced)
        throw Error(kComponent, str(name, ": no end-of-turn marker after assistant message ", i,
                                    " (pass SpanOptions::end_markers)"));
      end = turn.second;
    }
    if (end < start) end = start;
    out.assistant.push_back(ChatSpan{i, start, end});
  }
  return out;
}

}  // namespace mc

// Hugging Face chat templates: parse a template once, render conversations exactly as
// transformers' tokenizer.apply_chat_template(..., tokenize=False) does (transformers 5.23 with
// jinja2 3.1: trim_blocks, lstrip_blocks, the sandbox, raise_exception/strftime_now/namespace,
// the tojson override and the {% generation %} tag), and find the byte ranges of assistant turns
// for loss masks. A template construct we do not implement is an error naming the template line
// and column, never a silent mis-render.
//
// Assistant spans. With {% generation %} tags the spans are the blocks' output, as transformers'
// return_assistant_tokens_mask computes them. Without tags (most templates) we combine two views:
//   * prefix diff: the span of assistant message i starts where the rendering of messages[:i] with
//     add_generation_prompt=true stops matching the full rendering (normally: right after the
//     generation prompt, e.g. "<|im_start|>assistant\n"), so the span is what the model would
//     generate at that point;
//   * loop tracing: while rendering, every output byte written while a {% for %} loop iterates over
//     message i is attributed to message i; that bounds the span to message i's turn.
// When messages[:i] does not render as a prefix of the full conversation (Qwen3 drops the empty
// think block of past turns; Mistral v3 moves the system prompt into the last user message), the
// span starts inside the traced turn after the common prefix of the generation prompt and the
// turn, cut where the message's content starts (found by rendering two probe contents).
// The span ends after the first end-of-turn marker (default: the context's eos_token) found after
// its start inside the turn, or at the end of the turn when the turn has no marker (so "\n" after
// "<|im_end|>" is not trained, and Llama 3's "<|eot_id|>" is). Limits: a template that renders a
// message outside a loop over the messages (or inside a macro whose output is emitted after the
// loop) has no traced turn; then the prefix diff must hold and the span ends at the first marker
// (an error if there is none). Content that itself contains the end marker ends the span early.
// The tools script checks these spans against a Python prefix-diff reference computed from
// transformers' renderings, and {% generation %} spans against transformers' own indices.
#pragma once
#include <cstddef>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/json.h"

namespace mc {

namespace jinja {
struct Template;
}

/// One assistant turn in a rendered conversation: bytes [begin, end) of the rendered text.
struct ChatSpan {
  static constexpr size_t kNoMessage = static_cast<size_t>(-1);
  size_t message_index = kNoMessage;  // index in `messages`, or kNoMessage when unknown
  size_t begin = 0;
  size_t end = 0;
};

/// The inputs of tokenizer.apply_chat_template.
struct ChatInputs {
  OrderedJson messages = OrderedJson::array();  // [{role, content, ...}, ...]
  OrderedJson tools;                            // list of tool schemas, or null
  OrderedJson documents;                        // list of documents, or null
  bool add_generation_prompt = false;
  OrderedJson special_tokens = OrderedJson::object();  // tokenizer.special_tokens_map (bos_token, eos_token, ...)
  OrderedJson kwargs = OrderedJson::object();          // extra template variables (enable_thinking, ...)
};

/// Builds the template variables exactly as apply_chat_template does: message keys whose value is
/// null are dropped; reasoning given as reasoning_content, thinking or reasoning is copied to both
/// `reasoning_content` and `thinking`; tools, documents and add_generation_prompt are always set;
/// special tokens come first and kwargs override them. Throws mc::Error for malformed input.
OrderedJson chat_template_context(const ChatInputs& in);

/// Picks the template from a parsed tokenizer_config.json the way transformers does: a string
/// "chat_template", or from a list of {name, template}: "tool_use" when `with_tools` and present,
/// else "default". Returns nullopt when the config has no chat template.
std::optional<std::string> chat_template_from_config(const Json& tokenizer_config, bool with_tools = false);

struct SpanOptions {
  /// End-of-turn markers. Empty: use the context's eos_token (when it is a string).
  std::vector<std::string> end_markers;
};

/// A parsed template. Immutable after parse(): render() may be called from several threads at once.
class ChatTemplate {
 public:
  /// Parses a template. `source_name` names it in error messages ("<name>:<line>:<col>: ...").
  /// Throws mc::Error("chat_template", ...) on a syntax error or an unsupported construct.
  static ChatTemplate parse(std::string source_text, std::string source_name);

  /// Renders with `context` (a JSON object) as the template variables. Object key order is kept
  /// for OrderedJson (it shows in |tojson and dict iteration); nlohmann::json sorts keys.
  /// Throws mc::Error("chat_template", "<name>:<line>:<col>: <what>"), including for
  /// raise_exception(<what>) in the template.
  std::string render(const OrderedJson& context) const;
  std::string render(const Json& context) const;

  /// Renders `context` and returns the assistant spans (see the file comment). `context` must hold
  /// a `messages` list; the text is the same as render(context).
  struct Rendered {
    std::string text;
    std::vector<ChatSpan> assistant;
  };
  Rendered render_with_spans(const OrderedJson& context, const SpanOptions& options = {}) const;
  std::vector<ChatSpan> assistant_spans(const OrderedJson& context, const SpanOptions& options = {}) const {
    return render_with_spans(context, options).assistant;
  }

  /// Whether the template marks assistant output with {% generation %} blocks.
  bool has_generation_tags() const;
  const std::string& source_name() const;

  /// Fixes the clock strftime_now() reads (reproducible renders); by default it is the current time.
  void set_now(std::time_t t) { now_ = t; }

 private:
  ChatTemplate() = default;  // made by parse()
  std::shared_ptr<const jinja::Template> tmpl_;
  std::optional<std::time_t> now_;
};

}  // namespace mc

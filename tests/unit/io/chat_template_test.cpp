// Unit tests of the chat-template engine. The construct corpus (tests/data/chat_templates/
// constructs.jsonl, written by tools/gen_chat_template_goldens.py) holds ~200 snippets — every
// statement, operator, filter, test, method and whitespace rule, plus the error paths — with the
// output or error of jinja2 3.1.6 in transformers 5.23's environment; each is rendered here. The
// other tests pin the API: located error messages, unsupported constructs, context preparation as
// apply_chat_template does it, template selection, and the assistant-span fallbacks.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "io/chat_template/chat_template.h"
#include "test_util.h"

namespace mc {
namespace {

std::string render(const std::string& tpl, const OrderedJson& ctx = OrderedJson::object()) {
  return ChatTemplate::parse(tpl, "t").render(ctx);
}

// The error text render/parse throws, or "" when it succeeds.
std::string error_of(const std::string& tpl, const OrderedJson& ctx = OrderedJson::object()) {
  try {
    ChatTemplate::parse(tpl, "t").render(ctx);
  } catch (const Error& e) {
    EXPECT_EQ(e.component(), "chat_template");
    EXPECT_EQ(e.code(), ExitCode::BadInput);
    return e.what();
  }
  return "";
}

// --- the oracle corpus ---------------------------------------------------------------------------

TEST(ChatTemplateConstructs, MatchJinja2) {
  std::ifstream f(test::data_path("chat_templates/constructs.jsonl"), std::ios::binary);
  ASSERT_TRUE(f.good());
  std::string line;
  std::getline(f, line);  // meta
  size_t n = 0, n_err = 0;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    OrderedJson c = OrderedJson::parse(line);
    const std::string tpl = c["template"].get<std::string>();
    SCOPED_TRACE(tpl);
    n++;
    if (c.contains("expected")) {
      try {
        EXPECT_EQ(ChatTemplate::parse(tpl, "constructs").render(c["context"]), c["expected"].get<std::string>());
      } catch (const Error& e) {
        ADD_FAILURE() << "unexpected error: " << e.what();
      }
      continue;
    }
    n_err++;
    try {
      std::string out = ChatTemplate::parse(tpl, "constructs").render(c["context"]);
      ADD_FAILURE() << "jinja2 raised " << c["error_type"] << ": " << c["error"] << "; mc rendered: " << out;
    } catch (const Error& e) {
      std::string what = e.what();
      EXPECT_EQ(what.rfind("[chat_template] constructs:", 0), 0u) << what;
      if (c.contains("line")) {  // syntax errors: the same line as jinja2 reports
        EXPECT_EQ(what.rfind("[chat_template] constructs:" + std::to_string(c["line"].get<int>()) + ":", 0), 0u)
            << what << " vs jinja2: " << c["error"];
      }
      if (c["error_type"] == "TemplateError") {  // raise_exception: the template's own message
        EXPECT_NE(what.find(c["error"].get<std::string>()), std::string::npos) << what;
      }
    }
  }
  EXPECT_GE(n, 200u);
  EXPECT_GE(n_err, 50u);
}

// --- located errors --------------------------------------------------------------------------------

TEST(ChatTemplateErrors, NameSourceLineAndColumn) {
  try {
    ChatTemplate::parse("line one\n  {{ x | nosuch }}", "my.jinja");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "[chat_template] my.jinja:2:10: No filter named 'nosuch'.");
  }
  EXPECT_EQ(error_of("{% for x in [1] %}\n{{ 1 +  }}\n{% endfor %}"),
            "[chat_template] t:2:9: unexpected 'end of print statement'");
  // Columns count code points, lines follow \r\n and \r as jinja2 does.
  EXPECT_EQ(error_of("é\r\n日本 {{ a b }}"), "[chat_template] t:2:9: expected token 'end of print statement', got 'b'");
  EXPECT_EQ(error_of("{% if true %}\n{{ x.y }}{% endif %}"), "[chat_template] t:2:5: 'x' is undefined");
}

TEST(ChatTemplateErrors, RaiseExceptionKeepsTheTemplateMessage) {
  std::string err = error_of("{% if messages|length > 1 %}{{ raise_exception('Only one message, got ' ~ messages|length) }}{% endif %}",
                             OrderedJson{{"messages", {1, 2}}});
  EXPECT_EQ(err, "[chat_template] t:1:47: Only one message, got 2");
}

TEST(ChatTemplateErrors, UnsupportedConstructsAreRejectedAtParseTime) {
  for (std::string tag : {"include 'x'", "extends 'x'", "import 'x' as y", "from 'x' import y", "block b",
                          "autoescape true"}) {
    std::string err = error_of("text\n{% " + tag + " %}");
    EXPECT_EQ(err.rfind("[chat_template] t:2:4: the '", 0), 0u) << err;
    EXPECT_NE(err.find("is not supported"), std::string::npos) << err;
  }
  EXPECT_EQ(error_of("{% for x in y recursive %}{% endfor %}"), "[chat_template] t:1:15: recursive for loops are not supported");
  EXPECT_EQ(error_of("{% do x %}"), "[chat_template] t:1:4: Encountered unknown tag 'do'.");
  EXPECT_EQ(error_of("{{ x | groupby('a') }}"), "[chat_template] t:1:8: No filter named 'groupby'.");
  EXPECT_EQ(error_of("{{ 'a'.encode() }}"), "[chat_template] t:1:14: the str method 'encode' is not supported");
  EXPECT_EQ(error_of("{{ x }}", OrderedJson{{"x", static_cast<uint64_t>(1) << 63}}),
            "[chat_template] t: context: integer 9223372036854775808 is out of range");
}

TEST(ChatTemplateErrors, ObjectsWithoutAStableTextFormAreNotPrinted) {
  // jinja2 would print "<generator object ... at 0x7f...>" or "<built-in method ...>".
  OrderedJson ctx = {{"m", {{{"role", "user"}}}}, {"d", OrderedJson::object()}};
  EXPECT_NE(error_of("{{ m|selectattr('role') }}", ctx).find("cannot convert a generator"), std::string::npos);
  EXPECT_NE(error_of("{{ d.items }}", ctx).find("cannot convert the function 'items'"), std::string::npos);
  EXPECT_NE(error_of("{{ raise_exception }}").find("cannot convert the function"), std::string::npos);
  EXPECT_NE(error_of("{% for x in [1] %}{{ loop }}{% endfor %}").find("loop object"), std::string::npos);
  EXPECT_NE(error_of("{{ 9223372036854775807 + 1 }}").find("integer overflow"), std::string::npos);
}

TEST(ChatTemplateErrors, RunawayTemplatesStop) {
  EXPECT_NE(error_of("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}").find("maximum recursion depth"),
            std::string::npos);
  EXPECT_NE(error_of("{% for i in range(200000) %}{% endfor %}").find("Range too big"), std::string::npos);
  EXPECT_NE(error_of("{{ 'x' * 2000000000 }}").find("too large"), std::string::npos);
  EXPECT_EQ(error_of("bad \xff utf-8"), "[chat_template] t:1:1: template is not valid UTF-8");
}

// --- rendering API -------------------------------------------------------------------------------

TEST(ChatTemplateRender, OrderedContextKeepsKeyOrderAndJsonSortsIt) {
  const std::string tpl = "{{ x|tojson }}|{% for k in x %}{{ k }}{% endfor %}";
  OrderedJson ordered = {{"x", {{"b", 1}, {"a", 2}}}};
  EXPECT_EQ(render(tpl, ordered), "{\"b\": 1, \"a\": 2}|ba");
  Json sorted = Json::parse("{\"x\": {\"b\": 1, \"a\": 2}}");
  EXPECT_EQ(ChatTemplate::parse(tpl, "t").render(sorted), "{\"a\": 2, \"b\": 1}|ab");
}

TEST(ChatTemplateRender, StrftimeNowReadsTheFixedClock) {
  ChatTemplate t = ChatTemplate::parse("{{ strftime_now('%Y-%m') }}", "t");
  t.set_now(365 * 86400 + 43200);  // 1971-01-01 12:00 UTC: the same month in every time zone
  EXPECT_EQ(t.render(OrderedJson::object()), "1971-01");
}

TEST(ChatTemplateRender, ContextMustBeAnObject) {
  ChatTemplate t = ChatTemplate::parse("x", "t");
  EXPECT_THROW(t.render(OrderedJson::array()), Error);
  EXPECT_EQ(t.render(OrderedJson::object()), "x");
}

// --- apply_chat_template inputs ------------------------------------------------------------------

TEST(ChatTemplateContext, PreparesInputsAsApplyChatTemplate) {
  ChatInputs in;
  // transformers 5.23: None-valued keys dropped, reasoning aliased to {"thinking": r, **m, "reasoning_content": r}.
  in.messages = OrderedJson::parse(R"([{"role": "assistant", "content": "x", "reasoning": "r", "name": null},
                                       {"role": "assistant", "thinking": "t", "reasoning_content": "rc"},
                                       {"role": "user", "content": "u"}])");
  in.special_tokens = {{"eos_token", "<|im_end|>"}, {"pad_token", "<|endoftext|>"}};
  in.kwargs = {{"eos_token", "E"}, {"x", 1}};
  OrderedJson ctx = chat_template_context(in);
  EXPECT_EQ(ctx["messages"].dump(), OrderedJson::parse(R"([
      {"thinking": "r", "role": "assistant", "content": "x", "reasoning": "r", "reasoning_content": "r"},
      {"thinking": "t", "role": "assistant", "reasoning_content": "rc"},
      {"role": "user", "content": "u"}])").dump());
  EXPECT_TRUE(ctx["tools"].is_null());
  EXPECT_TRUE(ctx["documents"].is_null());
  EXPECT_EQ(ctx["add_generation_prompt"], false);
  // Same output as transformers for this template (see gen_chat_template_goldens.py for the oracle runs).
  std::string out = render("{{ messages[2] }}|{{ tools }}|{{ documents }}|{{ add_generation_prompt }}|{{ eos_token }}|{{ pad_token }}|{{ x }}", ctx);
  EXPECT_EQ(out, "{'role': 'user', 'content': 'u'}|None|None|False|E|<|endoftext|>|1");
}

TEST(ChatTemplateContext, RejectsMalformedInputs) {
  ChatInputs in;
  EXPECT_THROW(chat_template_context(in), Error);  // empty conversation
  in.messages = OrderedJson::parse(R"(["not an object"])");
  EXPECT_THROW(chat_template_context(in), Error);
  in.messages = OrderedJson::parse(R"([{"role": "user", "content": "x"}])");
  in.tools = OrderedJson::parse(R"(["not a schema"])");
  EXPECT_THROW(chat_template_context(in), Error);
  in.tools = nullptr;
  in.kwargs = {{"messages", 1}};
  EXPECT_THROW(chat_template_context(in), Error);
}

TEST(ChatTemplateContext, SelectsTheTemplateFromTokenizerConfig) {
  EXPECT_FALSE(chat_template_from_config(Json::object()).has_value());
  EXPECT_EQ(*chat_template_from_config(Json{{"chat_template", "T"}}), "T");
  Json multi = Json::parse(R"({"chat_template": [{"name": "default", "template": "D"},
                                                 {"name": "tool_use", "template": "U"}]})");
  EXPECT_EQ(*chat_template_from_config(multi), "D");
  EXPECT_EQ(*chat_template_from_config(multi, true), "U");
  EXPECT_THROW(chat_template_from_config(Json::parse(R"({"chat_template": [{"name": "rag", "template": "R"}]})")), Error);
  EXPECT_THROW(chat_template_from_config(Json{{"chat_template", 5}}), Error);
}

// --- assistant spans -----------------------------------------------------------------------------

const char* kChatML =
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

OrderedJson conversation(const std::string& eos = "<|im_end|>") {
  ChatInputs in;
  in.messages = OrderedJson::parse(R"([{"role": "system", "content": "S"}, {"role": "user", "content": "Q1"},
                                       {"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"},
                                       {"role": "assistant", "content": "Ä2"}])");
  in.special_tokens = {{"bos_token", "<|begin_of_text|>"}, {"eos_token", eos}};
  return chat_template_context(in);
}

std::vector<std::string> span_texts(const ChatTemplate::Rendered& r) {
  std::vector<std::string> out;
  for (auto& s : r.assistant) out.push_back(std::to_string(s.message_index) + ":" + r.text.substr(s.begin, s.end - s.begin));
  return out;
}

TEST(ChatTemplateSpans, PrefixDiffCoversContentAndEndMarkerNotTheHeader) {
  ChatTemplate t = ChatTemplate::parse(kChatML, "chatml");
  auto r = t.render_with_spans(conversation());
  EXPECT_EQ(r.text, t.render(conversation()));
  EXPECT_EQ(span_texts(r), (std::vector<std::string>{"2:A1<|im_end|>", "4:Ä2<|im_end|>"}));
}

TEST(ChatTemplateSpans, WithoutAMarkerTheTurnEndsTheSpan) {
  // eos_token never rendered: the traced turn (what the loop wrote for the message) bounds the span,
  // so the trailing "\n" belongs to it.
  ChatTemplate t = ChatTemplate::parse(kChatML, "chatml");
  auto r = t.render_with_spans(conversation("<|endoftext|>"));
  EXPECT_EQ(span_texts(r), (std::vector<std::string>{"2:A1<|im_end|>\n", "4:Ä2<|im_end|>\n"}));
  SpanOptions so;
  so.end_markers = {"<|im_end|>"};
  EXPECT_EQ(span_texts(t.render_with_spans(conversation("<|endoftext|>"), so)),
            (std::vector<std::string>{"2:A1<|im_end|>", "4:Ä2<|im_end|>"}));
}

TEST(ChatTemplateSpans, Llama3TurnEndsAtEotWithoutBeingTold) {
  std::string tpl = test::read_bytes(test::data_path("chat_templates/llama3.jinja"));
  ChatTemplate t = ChatTemplate::parse(tpl, "llama3");
  OrderedJson ctx = conversation("<|end_of_text|>");  // the base model's eos never appears in turns
  SpanOptions eot;
  eot.end_markers = {"<|eot_id|>"};
  auto by_turn = t.render_with_spans(ctx);
  EXPECT_EQ(span_texts(by_turn), (std::vector<std::string>{"2:A1<|eot_id|>", "4:Ä2<|eot_id|>"}));
  EXPECT_EQ(span_texts(by_turn), span_texts(t.render_with_spans(ctx, eot)));
}

TEST(ChatTemplateSpans, EarlierTurnsThatChangeUseTheTracedTurn) {
  // Like Mistral v3, the system prompt goes into the LAST user message, so messages[:i] is not a
  // prefix of the full rendering; the traced turn still locates the answer.
  const char* tpl =
      "{% set sys = messages[0]['content'] %}{% for m in messages[1:] %}"
      "{% if m['role'] == 'user' %}[INST] {% if loop.last %}{{ sys }} {% endif %}{{ m['content'] }}[/INST]"
      "{% else %} {{ m['content'] }}</s>{% endif %}{% endfor %}";
  ChatTemplate t = ChatTemplate::parse(tpl, "t");
  OrderedJson ctx = conversation("</s>");
  EXPECT_EQ(span_texts(t.render_with_spans(ctx)), (std::vector<std::string>{"2: A1</s>", "4: Ä2</s>"}));
}

TEST(ChatTemplateSpans, EmptyContentStillSpansTheMarker) {
  const char* tpl =
      "{% for m in messages %}{% if m['role'] == 'assistant' %}<A>{% if loop.last %}<think></think>{% endif %}"
      "{{ m['content'] }}<E>{% else %}<U>{{ m['content'] }}<E>{% endif %}{% endfor %}"
      "{% if add_generation_prompt %}<A><think></think>{% endif %}";
  ChatInputs in;
  in.messages = OrderedJson::parse(R"([{"role": "user", "content": "q"}, {"role": "assistant", "content": ""},
                                       {"role": "user", "content": "q2"}, {"role": "assistant", "content": "a"}])");
  SpanOptions so;
  so.end_markers = {"<E>"};
  auto r = ChatTemplate::parse(tpl, "t").render_with_spans(chat_template_context(in), so);
  EXPECT_EQ(span_texts(r), (std::vector<std::string>{"1:<E>", "3:a<E>"}));
}

TEST(ChatTemplateSpans, GenerationTagsGiveTheBlocks) {
  std::string tpl = test::read_bytes(test::data_path("chat_templates/chatml_generation.jinja"));
  ChatTemplate t = ChatTemplate::parse(tpl, "gen");
  EXPECT_TRUE(t.has_generation_tags());
  EXPECT_FALSE(ChatTemplate::parse(kChatML, "chatml").has_generation_tags());
  auto r = t.render_with_spans(conversation());
  EXPECT_EQ(span_texts(r), (std::vector<std::string>{"2:A1<|im_end|>", "4:Ä2<|im_end|>"}));
  // A generation block rendered into a macro's buffer has no position in the output.
  ChatTemplate in_macro = ChatTemplate::parse(
      "{% macro turn(m) %}{% generation %}{{ m['content'] }}{% endgeneration %}{% endmacro %}"
      "{% for m in messages %}{{ turn(m) }}{% endfor %}",
      "macro");
  EXPECT_THROW(in_macro.render_with_spans(conversation()), Error);
  EXPECT_EQ(in_macro.render(conversation()), "SQ1A1Q2Ä2");
}

TEST(ChatTemplateSpans, TemplatesWithoutAMessageLoopNeedAMarker) {
  const char* tpl = "{{ messages|map(attribute='content')|join('</s>') }}</s>";
  ChatTemplate t = ChatTemplate::parse(tpl, "t");
  EXPECT_THROW(t.render_with_spans(conversation("<|im_end|>")), Error);  // no marker and no traced turn
  auto r = t.render_with_spans(conversation("</s>"));
  EXPECT_EQ(span_texts(r), (std::vector<std::string>{"2:A1</s>", "4:Ä2</s>"}));
}

TEST(ChatTemplateSpans, NeedMessages) {
  ChatTemplate t = ChatTemplate::parse(kChatML, "chatml");
  EXPECT_THROW(t.render_with_spans(OrderedJson::object()), Error);
  // Raw contexts may hold anything in messages; non-dict entries are simply not spanned.
  ChatTemplate any = ChatTemplate::parse("{% for m in messages %}{{ m }}|{% endfor %}", "t");
  OrderedJson ctx = OrderedJson::parse(R"({"messages": [{"role": "assistant", "content": "a"}, "text", 3]})");
  auto r = any.render_with_spans(ctx, SpanOptions{{"|"}});
  ASSERT_EQ(r.assistant.size(), 1u);
  EXPECT_EQ(r.assistant[0].message_index, 0u);
}

}  // namespace
}  // namespace mc

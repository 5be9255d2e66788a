// Chat templates against transformers 5.23 (jinja2 3.1.6): every conversation in
// tests/data/chat_templates/<name>.jsonl (written by tools/gen_chat_template_goldens.py from
// tokenizer.apply_chat_template(..., tokenize=False)) is rendered through chat_template_context +
// ChatTemplate::render and compared byte for byte; conversations where transformers raised must
// raise the same message; assistant spans are compared with the script's reference spans
// (transformers' generation indices for {% generation %} templates, the prefix-diff reference
// otherwise).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "io/chat_template/chat_template.h"
#include "test_util.h"

namespace mc {
namespace {

struct Golden {
  OrderedJson meta;
  std::vector<OrderedJson> cases;
  std::string template_text;
};

Golden load_golden(const std::string& name) {
  Golden g;
  std::ifstream f(test::data_path("chat_templates/" + name + ".jsonl"), std::ios::binary);
  EXPECT_TRUE(f.good()) << name;
  std::string line;
  bool first = true;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    OrderedJson j = OrderedJson::parse(line);
    if (first) {
      g.meta = j["meta"];
      first = false;
    } else {
      g.cases.push_back(std::move(j));
    }
  }
  g.template_text = test::read_bytes(test::data_path("chat_templates/" + g.meta["template"].get<std::string>()));
  return g;
}

struct Counts {
  size_t rendered = 0, errors = 0, spans = 0;
};

Counts check_template(const std::string& name) {
  Golden g = load_golden(name);
  ChatTemplate t = ChatTemplate::parse(g.template_text, name + ".jinja");
  SpanOptions so;
  for (auto& m : g.meta["end_markers"]) so.end_markers.push_back(m.get<std::string>());
  Counts n;
  for (const OrderedJson& c : g.cases) {
    SCOPED_TRACE(c["id"].get<std::string>());
    ChatInputs in;
    in.messages = c["messages"];
    in.tools = c["tools"];
    in.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    in.special_tokens = g.meta["special_tokens"];
    in.kwargs = c["kwargs"];
    OrderedJson ctx = chat_template_context(in);
    if (c.contains("error")) {
      std::string want = c["error"].get<std::string>();
      try {
        t.render(ctx);
        ADD_FAILURE() << "expected the template to raise: " << want;
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
        EXPECT_EQ(e.component(), "chat_template");
      }
      n.errors++;
      continue;
    }
    const std::string want = c["expected"].get<std::string>();
    EXPECT_EQ(t.render(ctx), want);
    n.rendered++;
    if (c.contains("spans") && !c["spans"].is_null()) {
      ChatTemplate::Rendered r = t.render_with_spans(ctx, so);
      EXPECT_EQ(r.text, want);
      std::vector<std::vector<size_t>> got, exp;
      for (auto& s : r.assistant) got.push_back({s.message_index, s.begin, s.end});
      for (auto& s : c["spans"]) exp.push_back({s[0].get<size_t>(), s[1].get<size_t>(), s[2].get<size_t>()});
      EXPECT_EQ(got, exp);
      n.spans++;
    }
  }
  return n;
}

TEST(ChatTemplateGolden, Qwen3) {
  Counts n = check_template("qwen3");
  EXPECT_GE(n.rendered, 50u);
  EXPECT_GE(n.spans, 40u);
}

TEST(ChatTemplateGolden, Llama3) {
  Counts n = check_template("llama3");
  EXPECT_GE(n.rendered, 50u);
  EXPECT_GE(n.spans, 40u);
}

TEST(ChatTemplateGolden, Mistral) {
  Counts n = check_template("mistral");
  EXPECT_GE(n.rendered, 50u);
  EXPECT_GE(n.errors, 4u);
  EXPECT_GE(n.spans, 40u);
}

TEST(ChatTemplateGolden, MistralV3Tools) {
  Counts n = check_template("mistral_v3");
  EXPECT_GE(n.rendered, 50u);
  EXPECT_GE(n.errors, 4u);
  EXPECT_GE(n.spans, 15u);
}

TEST(ChatTemplateGolden, SmolLM2) {
  Counts n = check_template("smollm2");
  EXPECT_GE(n.rendered, 50u);
  EXPECT_GE(n.spans, 40u);
}

TEST(ChatTemplateGolden, GenerationTagsMatchAssistantMask) {
  Counts n = check_template("chatml_generation");
  EXPECT_GE(n.rendered, 20u);
  EXPECT_GE(n.spans, 20u);
}

// The SmolLM2 template stored in the golden directory is the one inside the real GGUF.
TEST(ChatTemplateGolden, SmolLM2TemplateParsesFromTokenizerConfigShape) {
  Golden g = load_golden("smollm2");
  Json cfg = Json::object();
  cfg["chat_template"] = g.template_text;
  auto src = chat_template_from_config(cfg);
  ASSERT_TRUE(src.has_value());
  EXPECT_EQ(*src, g.template_text);
}

}  // namespace
}  // namespace mc

// Record validation, canonical form and file loading (see record.h).
#include "io/dataset/record.h"

#include <algorithm>

#include "core/error.h"
#include "core/fs.h"

namespace mc {

namespace {

constexpr const char* kComponent = "dataset";

const char* json_type(const OrderedJson& j) {
  switch (j.type()) {
    case OrderedJson::value_t::null: return "null";
    case OrderedJson::value_t::boolean: return "a boolean";
    case OrderedJson::value_t::string: return "a string";
    case OrderedJson::value_t::array: return "a list";
    case OrderedJson::value_t::object: return "an object";
    default: return "a number";
  }
}

[[noreturn]] void fail(const std::string& where, const std::string& what) { throw Error(kComponent, where + ": " + what); }

void check_messages(const OrderedJson& msgs, const std::string& where, const char* field) {
  if (!msgs.is_array()) fail(where, str("'", field, "' must be a list of messages, got ", json_type(msgs)));
  if (msgs.empty()) fail(where, str("'", field, "' is an empty list"));
  for (size_t i = 0; i < msgs.size(); i++) {
    const OrderedJson& m = msgs[i];
    std::string at = str(field, "[", i, "]");
    if (!m.is_object()) fail(where, str(at, " must be an object, got ", json_type(m)));
    auto role = m.find("role");
    if (role == m.end()) fail(where, str(at, " has no 'role'"));
    if (!role->is_string()) fail(where, str(at, ".role must be a string, got ", json_type(*role)));
    if (role->get_ref<const std::string&>().empty()) fail(where, str(at, ".role is empty"));
    auto content = m.find("content");
    if (content == m.end()) {
      if (!m.contains("tool_calls")) fail(where, str(at, " has no 'content'"));
    } else if (!content->is_string() && !content->is_null() && !content->is_array()) {
      fail(where, str(at, ".content must be a string, null or a list, got ", json_type(*content)));
    }
  }
}

void check_tools(const OrderedJson& tools, const std::string& where) {
  if (tools.is_null()) return;
  if (!tools.is_array()) fail(where, str("'tools' must be a list of tool schemas, got ", json_type(tools)));
  for (size_t i = 0; i < tools.size(); i++)
    if (!tools[i].is_object()) fail(where, str("tools[", i, "] must be an object, got ", json_type(tools[i])));
}

bool blank(const std::string& s) { return s.find_first_not_of(" \t\r\n\f\v") == std::string::npos; }

bool has_assistant(const OrderedJson& msgs) {
  return std::any_of(msgs.begin(), msgs.end(), [](const OrderedJson& m) { return m.value("role", "") == "assistant"; });
}

}  // namespace

const char* record_kind_name(RecordKind k) {
  switch (k) {
    case RecordKind::Text: return "text";
    case RecordKind::PromptCompletion: return "prompt/completion";
    case RecordKind::Messages: return "messages";
  }
  return "?";
}

Record record_from_json(const OrderedJson& j, const std::string& where, std::vector<std::string>* ignored_keys) {
  if (!j.is_object()) fail(where, str("a record must be a JSON object, got ", json_type(j)));
  const bool has_text = j.contains("text"), has_msgs = j.contains("messages");
  const bool has_prompt = j.contains("prompt"), has_completion = j.contains("completion");
  int shapes = int(has_text) + int(has_msgs) + int(has_prompt || has_completion);
  if (shapes == 0) fail(where, "no 'text', 'messages' or 'prompt'/'completion' field");
  if (shapes > 1) {
    std::string keys;
    for (const char* k : {"text", "messages", "prompt", "completion"})
      if (j.contains(k)) keys += (keys.empty() ? "'" : ", '") + std::string(k) + "'";
    fail(where, "ambiguous record: it has " + keys + " (use exactly one of text, messages, prompt/completion)");
  }
  Record r;
  r.where = where;
  std::vector<std::string> used;
  if (has_text) {
    const OrderedJson& t = j["text"];
    if (!t.is_string()) fail(where, str("'text' must be a string, got ", json_type(t)));
    r.kind = RecordKind::Text;
    r.text = t.get<std::string>();
    used = {"text"};
  } else if (has_msgs) {
    check_messages(j["messages"], where, "messages");
    r.kind = RecordKind::Messages;
    r.messages = j["messages"];
    if (j.contains("tools")) {
      check_tools(j["tools"], where);
      r.tools = j["tools"];
    }
    used = {"messages", "tools"};
  } else {
    if (!has_prompt) fail(where, "has 'completion' but no 'prompt'");
    if (!has_completion) fail(where, "has 'prompt' but no 'completion'");
    const OrderedJson &p = j["prompt"], &c = j["completion"];
    r.kind = RecordKind::PromptCompletion;
    if (p.is_string() && c.is_string()) {
      used = {"prompt", "completion"};
    } else if (p.is_array() && c.is_array()) {
      check_messages(p, where, "prompt");
      check_messages(c, where, "completion");
      if (j.contains("tools")) {
        check_tools(j["tools"], where);
        r.tools = j["tools"];
      }
      used = {"prompt", "completion", "tools"};
    } else {
      fail(where, str("'prompt' and 'completion' must both be strings or both be message lists, got ", json_type(p),
                      " and ", json_type(c)));
    }
    r.prompt = p;
    r.completion = c;
  }
  if (ignored_keys)
    for (auto it = j.begin(); it != j.end(); ++it)
      if (std::find(used.begin(), used.end(), it.key()) == used.end()) ignored_keys->push_back(it.key());
  return r;
}

OrderedJson record_to_json(const Record& r) {
  OrderedJson j = OrderedJson::object();
  switch (r.kind) {
    case RecordKind::Text: j["text"] = r.text; break;
    case RecordKind::PromptCompletion:
      j["prompt"] = r.prompt;
      j["completion"] = r.completion;
      if (!r.tools.is_null()) j["tools"] = r.tools;
      break;
    case RecordKind::Messages:
      j["messages"] = r.messages;
      if (!r.tools.is_null()) j["tools"] = r.tools;
      break;
  }
  return j;
}

std::optional<std::string> record_drop_reason(const Record& r) {
  switch (r.kind) {
    case RecordKind::Text:
      if (blank(r.text)) return std::string(r.text.empty() ? "empty text" : "text is only whitespace");
      break;
    case RecordKind::PromptCompletion:
      if (r.conversational()) {
        if (!has_assistant(r.completion)) return std::string("the completion has no assistant message");
      } else if (r.completion.get_ref<const std::string&>().empty()) {
        return std::string("empty completion");
      }
      break;
    case RecordKind::Messages:
      if (!has_assistant(r.messages)) return std::string("no assistant message (nothing to train on)");
      break;
  }
  return std::nullopt;
}

LoadedRecords load_records(const std::string& path, bool skip_invalid) {
  LoadedRecords out;
  auto take = [&](const OrderedJson& value, const std::string& where) {
    std::vector<std::string> ignored;
    try {
      out.records.push_back(record_from_json(value, where, &ignored));
    } catch (const Error& e) {
      if (!skip_invalid) throw;
      std::string msg = e.what();
      size_t p = msg.find(where + ": ");
      out.invalid.push_back({where, p == std::string::npos ? msg : msg.substr(p + where.size() + 2)});
      return;
    }
    for (const std::string& k : ignored) out.ignored_keys[k]++;
  };

  const bool is_json = path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
  if (is_json) {
    std::string text = read_file(path, kComponent);
    if (size_t bad = utf8_find_invalid(text); bad != std::string::npos) {
      size_t line = 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(bad), '\n'));
      fail(str(path, ":", line), "invalid UTF-8");
    }
    OrderedJson doc;
    try {
      doc = OrderedJson::parse(text);
    } catch (const OrderedJson::parse_error& e) {
      size_t line = 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(
                                                                                     std::min(e.byte, text.size())), '\n'));
      std::string what = e.what();
      if (auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
      fail(str(path, ":", line), "invalid JSON (" + what + ")");
    } catch (const OrderedJson::exception& e) {  // out_of_range.406: a number beyond double (1e999)
      std::string what = e.what();
      if (auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
      fail(path, "invalid JSON (" + what + ")");
    }
    if (!doc.is_array()) fail(path, str("a .json dataset must be a list of records, got ", json_type(doc)));
    std::vector<size_t> lines = json_array_element_lines(text);
    MC_CHECK(lines.size() == doc.size(), "json_array_element_lines found ", lines.size(), " elements, parser ", doc.size());
    for (size_t i = 0; i < doc.size(); i++) take(doc[i], str(path, ":", lines[i]));
    out.lines = doc.size();
  } else {
    // Line by line (not jsonl_read) so that JSON and record problems are reported in line order.
    std::string text = read_file(path, kComponent);
    bool any = false;
    for (const TextLine& l : split_lines(text)) {
      if (l.text.find_first_not_of(" \t\r\f\v") == std::string_view::npos) continue;
      any = true;
      const std::string where = str(path, ":", l.line);
      OrderedJson value;
      try {
        value = jsonl_parse_line(l.text, where);
      } catch (const Error& e) {
        if (!skip_invalid) throw;
        std::string msg = e.what();
        size_t p = msg.find(where + ": ");
        out.invalid.push_back({where, p == std::string::npos ? msg : msg.substr(p + where.size() + 2)});
        out.lines++;
        continue;
      }
      out.lines++;
      take(value, where);
    }
    if (!any) fail(path, "no records (the file is empty)");
  }
  if (out.records.empty() && out.invalid.empty()) fail(path, "no records (the file holds none)");
  return out;
}

}  // namespace mc

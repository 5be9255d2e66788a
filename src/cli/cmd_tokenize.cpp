// `mc tokenize`: look at what the model's tokenizer and chat template make of text and data — ids and
// pieces of a string, text of ids, a record's tokens with the ones that carry the loss marked, token
// counts of a dataset. Argument parsing and printing only (io/dataset does the work).
#include <cstdio>
#include <fstream>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/format.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "io/dataset/jsonl.h"
#include "io/dataset/model_tokenizer.h"
#include "io/dataset/record.h"
#include "io/dataset/tokenize.h"

namespace mc::cli {

namespace {

// Brackets around the runs of tokens that carry the loss in `--chat` output.
constexpr const char* kLossOpen = "\xE2\x9F\xA6";   // ⟦
constexpr const char* kLossClose = "\xE2\x9F\xA7";  // ⟧

// Bytes shown in quotes on one line: valid UTF-8 as is, \n \r \t \\ \' escaped, other control
// characters and stray bytes (a piece holding part of a character) as \xNN.
std::string visible(std::string_view s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\\': out += "\\\\"; break;
        case '\'': out += "\\'"; break;
        default:
          if (c < 0x20 || c == 0x7F) {
            out += str("\\x", "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15]);
          } else {
            out += static_cast<char>(c);
          }
      }
      i++;
      continue;
    }
    size_t len = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (i + len <= s.size() && utf8_find_invalid(s.substr(i, len)) == std::string_view::npos) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += str("\\x", "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15]);
      i++;
    }
  }
  return out;
}

int64_t parse_int(const std::string& name, const std::string& v) {
  size_t used = 0;
  int64_t x = 0;
  try {
    x = std::stoll(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != v.size()) throw Error("cli", str(name, " must be an integer, got '", v, "'"));
  return x;
}

std::vector<int32_t> parse_ids(const std::string& s) {
  std::vector<int32_t> ids;
  std::string cur;
  auto flush = [&] {
    if (cur.empty()) return;
    int64_t v = parse_int("--decode id", cur);
    if (v < 0 || v > INT32_MAX) throw Error("cli", str("--decode: id ", v, " is out of range"));
    ids.push_back(static_cast<int32_t>(v));
    cur.clear();
  };
  for (char c : s) {
    if (c == ',' || c == ' ' || c == '\t' || c == '[' || c == ']') {
      flush();
    } else {
      cur += c;
    }
  }
  flush();
  if (ids.empty()) throw Error("cli", "--decode needs a list of ids, e.g. --decode 1,2,3");
  return ids;
}

// --chat FILE: a .jsonl/.json dataset (record --record N), a .json object (one record) or a .json list
// of messages (one conversation).
Record chat_record(const std::string& path, int64_t index) {
  if (index < 1) throw Error("cli", str("--record must be 1 or more, got ", index));
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) {
    OrderedJson doc;
    std::string text = read_file(path, "dataset");
    utf8_check(text, path);
    try {
      doc = OrderedJson::parse(text);
    } catch (const OrderedJson::exception& e) {  // parse_error, and out_of_range for numbers like 1e999
      std::string what = e.what();
      if (auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
      throw Error("dataset", str(path, ": invalid JSON (", what, ")"));
    }
    if (doc.is_object()) {
      if (index != 1) throw Error("cli", str(path, " holds one record; --record ", index, " does not exist"));
      return record_from_json(doc, path);
    }
    if (doc.is_array() && !doc.empty() && doc[0].is_object() && doc[0].contains("role")) {
      if (index != 1) throw Error("cli", str(path, " holds one conversation; --record ", index, " does not exist"));
      return record_from_json(OrderedJson{{"messages", doc}}, path);
    }
  }
  LoadedRecords l = load_records(path, false);
  if (static_cast<size_t>(index) > l.records.size())
    throw Error("cli", str(path, " holds ", l.records.size(), " records; --record ", index, " does not exist"));
  return l.records[static_cast<size_t>(index - 1)];
}

std::string stats_line(const LengthStats& s) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "min %.0f · median %s · mean %.1f · p95 %.0f · max %.0f", s.min,
                format_number(s.median).c_str(), s.mean, s.p95, s.max);
  return buf;
}

int show_chat(const ModelTokenizerBundle& b, const Record& rec, const TokenizeOptions& opt, bool json) {
  TokenizedView v = tokenize_record_view(b, rec, opt);
  const TokenizedExample& ex = v.example;
  const Tokenizer& tok = b.tokenizer();
  auto piece_of = [&](size_t i) {
    if (i < v.offsets.size() && v.offsets[i].end > v.offsets[i].begin)
      return v.text.substr(v.offsets[i].begin, v.offsets[i].end - v.offsets[i].begin);
    return b.token_bytes(ex.input_ids[i]);
  };
  if (json) {
    OrderedJson j;
    j["schema"] = "mc.tokenize.chat.v1";
    j["model"] = b.source();
    j["record"] = rec.where;
    j["kind"] = record_kind_name(rec.kind);
    j["text"] = v.text;
    j["ids"] = ex.input_ids;
    OrderedJson mask = OrderedJson::array(), tokens = OrderedJson::array(), offsets = OrderedJson::array();
    for (size_t i = 0; i < ex.input_ids.size(); i++) {
      mask.push_back(ex.loss_mask[i]);
      tokens.push_back(tok.id_to_token(ex.input_ids[i]).value_or(""));
      if (i < v.offsets.size()) offsets.push_back({v.offsets[i].begin, v.offsets[i].end});
    }
    j["loss_mask"] = mask;
    j["tokens"] = tokens;
    j["offsets"] = v.offsets.empty() ? OrderedJson(nullptr) : offsets;
    j["loss_tokens"] = ex.loss_tokens();
    std::printf("%s\n", json_dump(j, -1).c_str());
    return 0;
  }
  std::printf("record %s (%s): %zu tokens, %zu carry the loss (marked %s...%s)\n\n", rec.where.c_str(),
              record_kind_name(rec.kind), ex.input_ids.size(), ex.loss_tokens(), kLossOpen, kLossClose);
  std::string view;
  bool open = false;
  for (size_t i = 0; i < ex.input_ids.size(); i++) {
    bool loss = ex.loss_mask[i] && i > 0;
    if (loss && !open) view += kLossOpen;
    if (!loss && open) view += kLossClose;
    open = loss;
    view += piece_of(i);
  }
  if (open) view += kLossClose;
  std::printf("%s\n\n", view.c_str());
  std::printf(" index        id  loss  piece\n");
  for (size_t i = 0; i < ex.input_ids.size(); i++)
    std::printf("%6zu  %8d  %4s  '%s'\n", i, ex.input_ids[i], ex.loss_mask[i] && i > 0 ? "*" : "",
                visible(piece_of(i)).c_str());
  return 0;
}

int show_count(const ModelTokenizerBundle& b, const std::string& path, const TokenizeOptions& opt, bool skip_invalid,
               bool json) {
  LoadedRecords l = load_records(path, skip_invalid);
  std::vector<size_t> lengths;
  uint64_t loss = 0;
  std::vector<DatasetIssue> failed;
  for (const Record& r : l.records) {
    try {
      TokenizedExample ex = tokenize_record(b, r, opt);
      lengths.push_back(ex.input_ids.size());
      loss += ex.loss_tokens();
    } catch (const Error& e) {
      std::string msg = e.what();
      size_t p = msg.find(r.where + ": ");
      failed.push_back({r.where, p == std::string::npos ? msg : msg.substr(p + r.where.size() + 2)});
    }
  }
  LengthStats s = length_stats(lengths);
  if (json) {
    OrderedJson j;
    j["schema"] = "mc.tokenize.count.v1";
    j["model"] = b.source();
    j["file"] = path;
    j["records"] = l.records.size();
    j["tokenized"] = s.count;
    j["tokens"] = s.total;
    j["loss_tokens"] = loss;
    j["per_record"] = {{"min", s.min}, {"median", s.median}, {"mean", s.mean}, {"p95", s.p95}, {"max", s.max}};
    OrderedJson f = OrderedJson::array(), inv = OrderedJson::array();
    for (const auto& d : failed) f.push_back({{"where", d.where}, {"reason", d.reason}});
    for (const auto& d : l.invalid) inv.push_back({{"where", d.where}, {"reason", d.reason}});
    j["failed"] = f;
    j["invalid"] = inv;
    std::printf("%s\n", json_dump(j, -1).c_str());
    return 0;
  }
  std::printf("%-11s%s (%s records)\n", "file", path.c_str(), format_count(l.records.size()).c_str());
  std::printf("%-11s%s total, %s carry the loss\n", "tokens", format_count(s.total).c_str(), format_count(loss).c_str());
  if (s.count) std::printf("%-11s%s\n", "per record", stats_line(s).c_str());
  for (const auto& d : l.invalid) std::printf("  invalid  %s: %s\n", d.where.c_str(), d.reason.c_str());
  for (const auto& d : failed) std::printf("  failed   %s: %s\n", d.where.c_str(), d.reason.c_str());
  return 0;
}

}  // namespace

int cmd_tokenize(const std::vector<std::string>& argv) {
  // TEXT is required unless another mode is chosen.
  bool other_mode = false;
  for (const std::string& a : argv)
    for (const char* m : {"--decode", "--chat", "--count"})
      if (a == m || a.rfind(std::string(m) + "=", 0) == 0) other_mode = true;
  Args args("mc tokenize -m MODEL TEXT | --decode IDS | --chat FILE [--record N] | --count FILE  [options]",
            "Shows what the model's tokenizer makes of text and data:\n"
            "  TEXT           its ids and pieces (special tokens added as the tokenizer's post-processor does)\n"
            "  --decode IDS   the text of a list of ids (1,2,3)\n"
            "  --chat FILE    a record of a dataset rendered for training (chat records through the model's chat\n"
            "                 template), every token with the ones that carry the loss marked\n"
            "  --count FILE   token counts of a .jsonl/.json dataset, as training would tokenize it\n"
            "MODEL is a model directory (tokenizer.json, tokenizer_config.json), a tokenizer.json or a .gguf file.",
            {{"model", 'm', "MODEL", "model directory, tokenizer.json or .gguf file"},
             {"json", 0, "", "print JSON (schemas mc.tokenize.v1, .decode.v1, .chat.v1, .count.v1)"},
             {"no-special", 0, "", "TEXT: do not add the post-processor's special tokens"},
             {"decode", 0, "IDS", "decode ids (comma- or space-separated)"},
             {"skip-special", 0, "", "--decode: leave special tokens out"},
             {"chat", 0, "FILE", "show a record's training tokens and loss mask"},
             {"record", 0, "N", "--chat: which record of FILE (1-based, default 1)"},
             {"count", 0, "FILE", "count the tokens of a dataset"},
             {"skip-invalid", 0, "", "--count: skip invalid lines instead of failing"},
             {"chat-template", 0, "FILE", "Jinja chat template to use instead of the model's"},
             {"as-chat", 0, "", "render plain prompt/completion records as user/assistant chats"}},
            other_mode ? std::vector<std::string>{} : std::vector<std::string>{"TEXT"},
            "  mc tokenize -m models/SmolLM2-135M-Instruct \"Hello world\"\n"
            "  mc tokenize -m models/SmolLM2-135M-Instruct --decode 19556,905\n"
            "  mc tokenize -m models/SmolLM2-135M-Instruct --chat train.jsonl --record 3\n"
            "  mc tokenize -m models/SmolLM2-135M-Instruct --count train.jsonl");
  if (!args.parse(argv)) return 0;
  auto model = args.value("model");
  if (!model) throw Error("cli", "tokenize needs -m MODEL (a model directory, tokenizer.json or .gguf file)");
  int modes = int(args.value("decode").has_value()) + int(args.value("chat").has_value()) + int(args.value("count").has_value());
  if (modes > 1) throw Error("cli", "choose one of TEXT, --decode, --chat and --count");
  BundleOptions bo;
  bo.chat_template_file = args.value_or("chat-template", "");
  ModelTokenizerBundle b = ModelTokenizerBundle::load(*model, bo);
  const bool json = args.flag("json");
  if (!json)
    for (const std::string& n : b.notes()) std::fprintf(stderr, "mc: note: %s\n", n.c_str());
  TokenizeOptions opt;
  opt.prompt_completion_as_chat = args.flag("as-chat");

  if (auto ids = args.value("decode")) {
    std::vector<int32_t> v = parse_ids(*ids);
    std::string text = b.tokenizer().decode(v, args.flag("skip-special"));
    if (json) {
      OrderedJson j{{"schema", "mc.tokenize.decode.v1"}, {"model", b.source()}, {"ids", v}, {"text", text}};
      std::printf("%s\n", json_dump(j, -1).c_str());
    } else {
      std::printf("%s\n", text.c_str());
    }
    return 0;
  }
  if (auto file = args.value("chat")) {
    int64_t index = args.value("record") ? parse_int("--record", *args.value("record")) : 1;
    return show_chat(b, chat_record(*file, index), opt, json);
  }
  if (auto file = args.value("count")) return show_count(b, *file, opt, args.flag("skip-invalid"), json);

  const std::string& text = args.positionals()[0];
  const bool special = !args.flag("no-special");
  std::vector<int32_t> ids = b.tokenizer().encode(text, special);
  if (json) {
    OrderedJson tokens = OrderedJson::array();
    for (int32_t id : ids) tokens.push_back(b.tokenizer().id_to_token(id).value_or(""));
    OrderedJson j{{"schema", "mc.tokenize.v1"}, {"model", b.source()}, {"count", ids.size()}, {"ids", ids}, {"tokens", tokens}};
    std::printf("%s\n", json_dump(j, -1).c_str());
    return 0;
  }
  std::printf("%zu tokens%s\n", ids.size(), special ? "" : " (no special tokens added)");
  std::printf(" index        id  piece\n");
  for (size_t i = 0; i < ids.size(); i++)
    std::printf("%6zu  %8d  '%s'\n", i, ids[i], visible(b.token_bytes(ids[i])).c_str());
  return 0;
}

}  // namespace mc::cli

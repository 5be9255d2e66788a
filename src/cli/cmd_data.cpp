// `mc data ...` commands: argument parsing and printing only (the work is in io/dataset/prepare.h).
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/format.h"
#include "core/error.h"
#include "core/json.h"
#include "io/dataset/prepare.h"

namespace mc::cli {

namespace {

int64_t parse_int_option(const Args& args, const std::string& name, int64_t dflt) {
  auto v = args.value(name);
  if (!v) return dflt;
  size_t used = 0;
  int64_t x = 0;
  try {
    x = std::stoll(*v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != v->size()) throw Error("cli", str("--", name, " must be an integer, got '", *v, "'"));
  return x;
}

std::string stats_line(const LengthStats& s) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "min %.0f · median %s · mean %.1f · p95 %.0f · max %.0f", s.min,
                format_number(s.median).c_str(), s.mean, s.p95, s.max);
  return buf;
}

OrderedJson stats_json(const LengthStats& s) {
  return {{"count", s.count}, {"total", s.total}, {"min", s.min}, {"median", s.median},
          {"mean", s.mean},   {"p95", s.p95},     {"max", s.max}};
}

OrderedJson issues_json(const std::vector<DatasetIssue>& v) {
  OrderedJson a = OrderedJson::array();
  for (const auto& d : v) a.push_back({{"where", d.where}, {"reason", d.reason}});
  return a;
}

}  // namespace

int cmd_data_prepare(const std::vector<std::string>& argv) {
  Args args("mc data prepare SRC -o OUT.jsonl [--model DIR] [--chunk-tokens N] [--overlap N] [--prompt-column C "
            "--completion-column C] [--skip-invalid] [--force] [--json]",
            "Turns SRC into a validated, normalised JSONL training set of {\"text\"}, {\"prompt\",\"completion\"}\n"
            "or {\"messages\"} records:\n"
            "  .txt .md       text records: one per paragraph, or with --model windows of --chunk-tokens tokens\n"
            "                 (consecutive windows share --overlap tokens)\n"
            "  .csv .tsv      one record per row; the header names the columns (--prompt-column and\n"
            "                 --completion-column, else 'prompt'+'completion', else 'text'); RFC 4180 quoting\n"
            "  .json          a list of records        .jsonl   one record per line (validated, normalised)\n"
            "Prints counts, length statistics (tokens with --model) and every skipped or dropped record with\n"
            "file:line and the reason. An invalid line is an error unless --skip-invalid; an empty result is\n"
            "an error. OUT is written atomically and never replaced without --force.",
            {{"out", 'o', "OUT", "output JSONL file"},
             {"model", 'm', "DIR", "model directory or .gguf: token chunks, token statistics, template checks"},
             {"chat-template", 0, "FILE", "Jinja chat template to use instead of the model's"},
             {"chunk-tokens", 0, "N", str("tokens per text chunk (with --model; default ", kDefaultChunkTokens, ")")},
             {"overlap", 0, "N", "tokens shared by consecutive text chunks (default 0)"},
             {"prompt-column", 0, "C", "CSV/TSV column holding the prompt"},
             {"completion-column", 0, "C", "CSV/TSV column holding the completion"},
             {"as-chat", 0, "", "count plain prompt/completion records as user/assistant chats (statistics)"},
             {"skip-invalid", 0, "", "report and skip invalid lines instead of failing"},
             {"force", 0, "", "replace OUT if it exists"},
             {"json", 0, "", "print one JSON document (schema mc.data.prepare.v1)"}},
            {"SRC"},
            "  mc data prepare notes.md -o notes.jsonl --model models/SmolLM2-135M-Instruct --chunk-tokens 256\n"
            "  mc data prepare qa.csv -o qa.jsonl --prompt-column question --completion-column answer");
  if (!args.parse(argv)) return 0;
  PrepareOptions o;
  o.src = args.positionals()[0];
  auto out = args.value("out");
  if (!out) throw Error("cli", "data prepare needs -o OUT.jsonl (the output file)");
  o.out = *out;
  o.model = args.value_or("model", "");
  o.chat_template_file = args.value_or("chat-template", "");
  if (!o.chat_template_file.empty() && o.model.empty()) throw Error("cli", "--chat-template needs --model");
  o.chunk_tokens = parse_int_option(args, "chunk-tokens", kDefaultChunkTokens);
  o.overlap = parse_int_option(args, "overlap", 0);
  if (o.model.empty() && (args.value("chunk-tokens") || args.value("overlap")))
    throw Error("cli", "--chunk-tokens and --overlap need --model (without it text is cut into paragraphs)");
  o.prompt_column = args.value_or("prompt-column", "");
  o.completion_column = args.value_or("completion-column", "");
  o.skip_invalid = args.flag("skip-invalid");
  o.force = args.flag("force");
  o.tokenize.prompt_completion_as_chat = args.flag("as-chat");

  PrepareReport r = data_prepare(o);

  if (args.flag("json")) {
    OrderedJson j;
    j["schema"] = "mc.data.prepare.v1";
    j["source"] = o.src;
    j["format"] = r.format;
    if (!r.chunking.empty()) j["chunking"] = r.chunking;
    j["output"] = o.out;
    j["read"] = r.read;
    j["written"] = r.written;
    j["bytes_written"] = r.bytes_written;
    j["kinds"] = r.kinds;
    j["invalid"] = issues_json(r.invalid);
    j["dropped"] = issues_json(r.dropped);
    j["ignored_keys"] = r.ignored_keys;
    j["characters"] = stats_json(r.chars);
    if (r.tokens) {
      j["model"] = o.model;
      j["tokens"] = stats_json(*r.tokens);
      j["loss_tokens"] = r.loss_tokens;
    } else {
      j["tokens"] = nullptr;
    }
    j["notes"] = r.notes;
    std::printf("%s\n", json_dump(j).c_str());
    return 0;
  }

  auto row = [](const char* key, const std::string& value) { std::printf("%-11s%s\n", key, value.c_str()); };
  for (const std::string& n : r.notes) std::fprintf(stderr, "mc: note: %s\n", n.c_str());
  row("source", str(o.src, " (", r.format, r.chunking.empty() ? "" : ", " + r.chunking, "): ", format_count(r.read),
                    r.format == "text" ? (r.chunking == "paragraphs" ? " paragraphs" : " chunks") : r.format == "csv" || r.format == "tsv" ? " rows" : " records"));
  if (!r.invalid.empty()) {
    row("invalid", str(format_count(r.invalid.size()), " skipped (--skip-invalid)"));
    for (const auto& d : r.invalid) std::printf("  %s: %s\n", d.where.c_str(), d.reason.c_str());
  }
  if (!r.dropped.empty()) {
    row("dropped", format_count(r.dropped.size()));
    for (const auto& d : r.dropped) std::printf("  %s: %s\n", d.where.c_str(), d.reason.c_str());
  }
  if (!r.ignored_keys.empty()) {
    std::string keys;
    for (const auto& [k, n] : r.ignored_keys) keys += str(keys.empty() ? "" : ", ", "'", k, "' (", n, ")");
    row("ignored", "keys " + keys);
  }
  std::string kinds;
  for (const auto& [k, n] : r.kinds) kinds += str(kinds.empty() ? "" : ", ", format_count(n), " ", k);
  row("written", str(format_count(r.written), " records to ", o.out, " (", format_bytes(r.bytes_written), "): ", kinds));
  row("characters", stats_line(r.chars));
  if (r.tokens)
    row("tokens", str(stats_line(*r.tokens), "  (total ", format_count(r.tokens->total), ", ",
                      format_count(r.loss_tokens), " carry the loss)"));
  return 0;
}

}  // namespace mc::cli

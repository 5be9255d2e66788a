// `mc data prepare` (see prepare.h).
#include "io/dataset/prepare.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>

#include "core/error.h"
#include "core/fs.h"
#include "io/dataset/csv.h"
#include "io/dataset/model_tokenizer.h"
#include "io/dataset/token_offsets.h"

namespace mc {

namespace {

constexpr const char* kComponent = "dataset";

[[noreturn]] void fail(const std::string& what) { throw Error(kComponent, what); }

std::string lower_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

// The message of an mc::Error without its "[component] " and "<where>: " prefixes.
std::string reason_of(const Error& e, const std::string& where) {
  std::string msg = e.what();
  const std::string prefix = "[" + e.component() + "] ";
  if (msg.rfind(prefix, 0) == 0) msg = msg.substr(prefix.size());
  if (!where.empty() && msg.rfind(where + ": ", 0) == 0) msg = msg.substr(where.size() + 2);
  return e.component() == kComponent ? msg : e.component() + ": " + msg;
}

bool blank(std::string_view s) { return s.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos; }

size_t code_points(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

size_t record_chars(const Record& r) {
  auto messages_chars = [](const OrderedJson& msgs) {
    size_t n = 0;
    for (const OrderedJson& m : msgs)
      if (m.contains("content") && m["content"].is_string()) n += code_points(m["content"].get_ref<const std::string&>());
    return n;
  };
  switch (r.kind) {
    case RecordKind::Text: return code_points(r.text);
    case RecordKind::Messages: return messages_chars(r.messages);
    case RecordKind::PromptCompletion:
      if (r.conversational()) return messages_chars(r.prompt) + messages_chars(r.completion);
      return code_points(r.prompt.get_ref<const std::string&>()) + code_points(r.completion.get_ref<const std::string&>());
  }
  return 0;
}

struct Collected {
  std::vector<Record> records;
  PrepareReport* report = nullptr;
  bool skip_invalid = false;

  void invalid(const std::string& where, const std::string& reason) {
    if (!skip_invalid) fail(where + ": " + reason);
    report->invalid.push_back({where, reason});
  }
};

// .txt/.md: lines with invalid UTF-8 are invalid lines; the rest is kept, lines joined with "\n".
struct CleanText {
  std::string text;
  std::vector<size_t> line_start;  // offset in `text` of each kept line
  std::vector<size_t> line_no;     // its line number in the file
  size_t line_at(size_t offset) const {
    size_t i = static_cast<size_t>(std::upper_bound(line_start.begin(), line_start.end(), offset) - line_start.begin());
    return i == 0 ? 1 : line_no[i - 1];
  }
};

CleanText read_text(const std::string& path, Collected& c) {
  std::string raw = read_file(path, kComponent);
  CleanText t;
  for (const TextLine& l : split_lines(raw)) {
    if (size_t bad = utf8_find_invalid(l.text); bad != std::string_view::npos) {
      c.invalid(str(path, ":", l.line), str("invalid UTF-8 at column ", bad + 1));
      t.line_start.push_back(t.text.size());
      t.line_no.push_back(l.line);
      t.text += "\n";  // keeps a paragraph break where the line was
      continue;
    }
    t.line_start.push_back(t.text.size());
    t.line_no.push_back(l.line);
    t.text.append(l.text);
    t.text += "\n";
  }
  if (!raw.empty() && raw.back() != '\n' && !t.text.empty()) t.text.pop_back();
  return t;
}

void text_paragraphs(const std::string& path, const CleanText& t, Collected& c) {
  size_t i = 0;
  const size_t n = t.line_start.size();
  while (i < n) {
    auto line_text = [&](size_t k) {
      size_t b = t.line_start[k], e = k + 1 < n ? t.line_start[k + 1] : t.text.size();
      std::string_view v(t.text.data() + b, e - b);
      if (!v.empty() && v.back() == '\n') v.remove_suffix(1);
      return v;
    };
    if (blank(line_text(i))) {
      i++;
      continue;
    }
    Record r;
    r.kind = RecordKind::Text;
    r.where = str(path, ":", t.line_no[i]);
    while (i < n && !blank(line_text(i))) {
      if (!r.text.empty()) r.text += "\n";
      r.text.append(line_text(i));
      i++;
    }
    c.records.push_back(std::move(r));
  }
}

void text_chunks(const std::string& path, const CleanText& t, const ModelTokenizerBundle& b, const PrepareOptions& o,
                 Collected& c) {
  std::vector<int32_t> ids = b.tokenizer().encode(t.text, false);
  std::vector<TokenSpan> off = token_offsets(b, t.text, ids, path);
  const auto n = static_cast<int64_t>(ids.size());
  const int64_t step = o.chunk_tokens - o.overlap;
  auto is_cont = [&](size_t p) { return p < t.text.size() && (static_cast<unsigned char>(t.text[p]) & 0xC0) == 0x80; };
  for (int64_t s = 0; s < n; s += step) {
    const int64_t e = std::min(n, s + o.chunk_tokens);
    size_t bb = t.text.size(), ee = 0;
    for (int64_t k = s; k < e; k++) {
      const TokenSpan& sp = off[static_cast<size_t>(k)];
      if (sp.end > sp.begin) {
        bb = std::min(bb, sp.begin);
        ee = std::max(ee, sp.end);
      }
    }
    if (ee > bb) {
      // Byte-level tokens may split a character: widen the cut to whole characters.
      while (bb > 0 && is_cont(bb)) bb--;
      while (is_cont(ee)) ee++;
      Record r;
      r.kind = RecordKind::Text;
      r.where = str(path, ":", t.line_at(bb));
      r.text = t.text.substr(bb, ee - bb);
      c.records.push_back(std::move(r));
    }
    if (e == n) break;
  }
}

void read_table(const std::string& path, char delim, const PrepareOptions& o, Collected& c) {
  std::string raw = read_file(path, kComponent);
  std::vector<CsvRow> rows = csv_parse(raw, delim, path);
  if (rows.empty()) fail(path + ": no rows (the file is empty)");
  const CsvRow& head = rows[0];
  if (!head.error.empty()) fail(str(path, ":", head.line, ": header: ", head.error));
  for (const std::string& f : head.fields)
    if (utf8_find_invalid(f) != std::string::npos) fail(str(path, ":", head.line, ": header: invalid UTF-8"));
  auto column = [&](const std::string& name) -> std::optional<size_t> {
    auto it = std::find(head.fields.begin(), head.fields.end(), name);
    if (it == head.fields.end()) return std::nullopt;
    return static_cast<size_t>(it - head.fields.begin());
  };
  std::string columns;
  for (const std::string& f : head.fields) columns += (columns.empty() ? "" : ", ") + f;
  std::optional<size_t> pc, cc, tc;
  if (!o.prompt_column.empty() || !o.completion_column.empty()) {
    if (o.prompt_column.empty() || o.completion_column.empty())
      fail("--prompt-column and --completion-column go together (name both columns)");
    pc = column(o.prompt_column);
    cc = column(o.completion_column);
    if (!pc) fail(str(path, ": no column '", o.prompt_column, "' in the header (columns: ", columns, ")"));
    if (!cc) fail(str(path, ": no column '", o.completion_column, "' in the header (columns: ", columns, ")"));
  } else if (column("prompt") && column("completion")) {
    pc = column("prompt");
    cc = column("completion");
  } else if (column("text")) {
    tc = column("text");
  } else {
    fail(str(path, ": no 'prompt'/'completion' or 'text' columns (columns: ", columns,
             "); name them with --prompt-column and --completion-column"));
  }
  for (size_t i = 1; i < rows.size(); i++) {
    const CsvRow& row = rows[i];
    const std::string where = str(path, ":", row.line);
    c.report->read++;
    if (!row.error.empty()) {
      c.invalid(where, row.error);
      continue;
    }
    if (row.fields.size() != head.fields.size()) {
      c.invalid(where, str(row.fields.size(), " fields, the header has ", head.fields.size()));
      continue;
    }
    bool utf8_ok = true;
    for (const std::string& f : row.fields)
      if (size_t bad = utf8_find_invalid(f); bad != std::string::npos) {
        c.invalid(where, "invalid UTF-8 in a field");
        utf8_ok = false;
        break;
      }
    if (!utf8_ok) continue;
    Record r;
    r.where = where;
    if (tc) {
      r.kind = RecordKind::Text;
      r.text = row.fields[*tc];
    } else {
      r.kind = RecordKind::PromptCompletion;
      r.prompt = row.fields[*pc];
      r.completion = row.fields[*cc];
    }
    c.records.push_back(std::move(r));
  }
}

}  // namespace

PrepareReport data_prepare(const PrepareOptions& o) {
  namespace fs = std::filesystem;
  if (o.src.empty()) fail("no source file given");
  if (o.out.empty()) fail("no output file given (-o OUT.jsonl)");
  if (!path_exists(o.src)) fail(str(o.src, ": no such file"));
  if (is_directory(o.src)) fail(str(o.src, ": is a directory (give a file)"));
  if (is_directory(o.out)) fail(str(o.out, ": is a directory (give the output file's name)"));
  if (o.chunk_tokens <= 0) fail(str("--chunk-tokens must be positive, got ", o.chunk_tokens));
  if (o.overlap < 0 || o.overlap >= o.chunk_tokens)
    fail(str("--overlap must be at least 0 and less than --chunk-tokens (", o.chunk_tokens, "), got ", o.overlap));

  if (path_exists(o.out)) {
    std::error_code ec;
    if (fs::equivalent(o.src, o.out, ec)) fail(str(o.out, ": the output would replace the source"));
    if (!o.force) fail(str(o.out, ": already exists (use --force to replace it)"));
  }
  PrepareReport rep;
  std::unique_ptr<ModelTokenizerBundle> bundle;
  if (!o.model.empty()) {
    BundleOptions bo;
    bo.chat_template_file = o.chat_template_file;
    bundle = std::make_unique<ModelTokenizerBundle>(ModelTokenizerBundle::load(o.model, bo));
    rep.notes = bundle->notes();
  }

  Collected c;
  c.report = &rep;
  c.skip_invalid = o.skip_invalid;
  const std::string ext = lower_extension(o.src);
  if (ext == ".txt" || ext == ".md" || ext == ".markdown" || ext == ".text") {
    rep.format = "text";
    CleanText t = read_text(o.src, c);
    if (bundle) {
      rep.chunking = str(o.chunk_tokens, "-token windows, overlap ", o.overlap);
      text_chunks(o.src, t, *bundle, o, c);
    } else {
      rep.chunking = "paragraphs";
      text_paragraphs(o.src, t, c);
    }
    rep.read = c.records.size();
  } else if (ext == ".csv" || ext == ".tsv" || ext == ".tab") {
    rep.format = ext == ".csv" ? "csv" : "tsv";
    read_table(o.src, ext == ".csv" ? ',' : '\t', o, c);
  } else if (ext == ".json" || ext == ".jsonl" || ext == ".ndjson") {
    rep.format = ext == ".json" ? "json" : "jsonl";
    LoadedRecords l = load_records(o.src, o.skip_invalid);
    rep.read = l.lines;
    rep.invalid = std::move(l.invalid);
    rep.ignored_keys = std::move(l.ignored_keys);
    c.records = std::move(l.records);
  } else {
    fail(str(o.src, ": unknown source format '", ext, "' (expected .txt, .md, .csv, .tsv, .json or .jsonl)"));
  }

  // Keep what can train; tokenize with the model for the statistics.
  std::vector<const Record*> keep;
  std::vector<size_t> chars, tokens;
  for (const Record& r : c.records) {
    if (auto why = record_drop_reason(r)) {
      rep.dropped.push_back({r.where, *why});
      continue;
    }
    if (bundle) {
      try {
        TokenizedExample ex = tokenize_record(*bundle, r, o.tokenize);
        if (ex.loss_tokens() == 0) {
          rep.dropped.push_back({r.where, "no token carries the loss"});
          continue;
        }
        tokens.push_back(ex.input_ids.size());
        rep.loss_tokens += ex.loss_tokens();
      } catch (const Error& e) {
        rep.dropped.push_back({r.where, reason_of(e, r.where)});
        continue;
      }
    }
    chars.push_back(record_chars(r));
    keep.push_back(&r);
  }
  if (keep.empty())
    fail(str(o.src, ": no records left to write (", rep.read, " read, ", rep.invalid.size(), " invalid, ",
             rep.dropped.size(), " dropped)"));

  AtomicFile f(o.out, kComponent);
  for (const Record* r : keep) {
    f.write(record_to_json(*r).dump());
    f.write("\n");
    rep.kinds[record_kind_name(r->kind)]++;
  }
  rep.bytes_written = f.bytes_written();
  f.commit();
  rep.written = keep.size();
  rep.chars = length_stats(chars);
  if (bundle) rep.tokens = length_stats(tokens);
  return rep;
}

}  // namespace mc

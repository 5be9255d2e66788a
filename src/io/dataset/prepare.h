// `mc data prepare`: turns a source file into a validated, normalised JSONL dataset of records
// (record.h). Sources, chosen by extension:
//   .txt .md .markdown .text  {"text"} records: without a model, one per paragraph (runs of non-blank
//                             lines, joined with "\n"); with a model, windows of chunk_tokens tokens of
//                             the whole file's tokenization, consecutive windows sharing `overlap`
//                             tokens, each cut from the original text at its tokens' byte offsets
//                             (re-tokenized alone, a chunk may differ by a token at its edges).
//   .csv .tsv .tab            one record per row (RFC 4180, csv.h); the header names the columns:
//                             --prompt-column/--completion-column, else "prompt"+"completion", else "text".
//   .json                     a list of records.   .jsonl .ndjson   one record per line.
// Every record is validated; an invalid one (malformed line or row, wrong types, missing fields, invalid
// UTF-8) is an error naming file:line unless skip_invalid, which reports and skips it. Valid records
// that cannot train (record_drop_reason; with a model also chat-template failures and records where no
// token carries the loss) are dropped and reported with file:line and reason. An empty result is an
// error. The output is written atomically and never replaces an existing file unless `force`.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "io/dataset/jsonl.h"
#include "io/dataset/tokenize.h"

namespace mc {

/// Default token window for text chunking: a common training sequence length that keeps a chunk's
/// context useful without exceeding small models' windows (SmolLM2 trains at 2048, many at 4096).
constexpr int64_t kDefaultChunkTokens = 512;

struct PrepareOptions {
  std::string     src;
  std::string     out;
  std::string     model;               // model directory / tokenizer.json / .gguf; "" = none
  std::string     chat_template_file;  // overrides the model's chat template
  int64_t         chunk_tokens = kDefaultChunkTokens;
  int64_t         overlap = 0;         // tokens shared by consecutive chunks; 0 <= overlap < chunk_tokens
  std::string     prompt_column;       // CSV/TSV; "" = automatic
  std::string     completion_column;
  bool            skip_invalid = false;
  bool            force = false;
  TokenizeOptions tokenize;            // how records are tokenized for the statistics and drop checks
};

struct PrepareReport {
  std::string                   format;        // "text", "csv", "tsv", "json", "jsonl"
  std::string                   chunking;      // text sources: how they were cut
  size_t                        read = 0;      // records (or rows, chunks) found in the source
  std::vector<DatasetIssue>     invalid;       // skipped invalid lines (skip_invalid)
  std::vector<DatasetIssue>     dropped;       // valid records that cannot train
  std::map<std::string, size_t> ignored_keys;  // unused record keys -> number of records
  std::map<std::string, size_t> kinds;         // written records per kind
  size_t                        written = 0;
  uint64_t                      bytes_written = 0;
  LengthStats                   chars;         // characters (code points) of each written record's text
  std::optional<LengthStats>    tokens;        // tokens per written record (with a model)
  uint64_t                      loss_tokens = 0;
  std::vector<std::string>      notes;         // what the tokenizer loader did (ModelTokenizerBundle::notes)
};

/// Runs the whole preparation. Throws mc::Error("dataset", ...) on bad options, unreadable or invalid
/// input (without skip_invalid), an existing output (without force), or an empty result; nothing is
/// written then.
PrepareReport data_prepare(const PrepareOptions& options);

}  // namespace mc

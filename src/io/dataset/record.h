// Training records: the three JSONL shapes mc trains on (DESIGN.md "Data files", DECISIONS.md row 4)
//   {"text": "..."}                                  language modelling: loss on every token
//   {"prompt": "...", "completion": "..."}           loss on the completion only
//   {"prompt": [messages], "completion": [messages]} conversational prompt/completion (TRL's form):
//                                                    rendered as one conversation, loss on the
//                                                    completion's assistant turns
//   {"messages": [{"role", "content", ...}, ...]}    rendered with the model's chat template, loss on the
//                                                    assistant turns only; optional "tools" (list of schemas)
// Validation (record_from_json) and the canonical form written by `mc data prepare` (record_to_json).
// Loading whole files (.jsonl, .json arrays) with file:line errors. Tokenization is in tokenize.h.
#pragma once
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/json.h"
#include "io/dataset/jsonl.h"

namespace mc {

enum class RecordKind { Text, PromptCompletion, Messages };

/// "text", "prompt/completion" or "messages".
const char* record_kind_name(RecordKind k);

struct Record {
  RecordKind  kind = RecordKind::Text;
  std::string where;                       // "file:line" (or another label) for messages
  std::string text;                        // Text
  OrderedJson prompt;                      // PromptCompletion: a string, or a list of messages
  OrderedJson completion;                  // PromptCompletion: a string, or a list of messages
  OrderedJson messages;                    // Messages: the list of message objects
  OrderedJson tools;                       // Messages / conversational prompt-completion: tool schemas or null

  /// A prompt/completion record whose prompt and completion are message lists.
  bool conversational() const { return kind == RecordKind::PromptCompletion && prompt.is_array(); }
};

/// Validates one parsed record. Throws mc::Error("dataset", "<where>: <problem>") for a value that is
/// not an object, has no or more than one record shape, or has fields of the wrong type (text,
/// prompt, completion, role: strings; messages: a non-empty list of objects with a string "role" and a
/// "content" that is a string, null or a list; tools: a list of objects). Keys mc does not use are
/// ignored and, when `ignored_keys` is given, appended to it.
Record record_from_json(const OrderedJson& j, const std::string& where,
                        std::vector<std::string>* ignored_keys = nullptr);

/// The canonical JSON of a record: {"text"}, {"prompt","completion"} or {"messages"[,"tools"]}
/// (conversational prompt/completion keeps "tools" too). Message objects are kept as given.
OrderedJson record_to_json(const Record& r);

/// Why a valid record cannot train anything (empty text, empty completion, no assistant message), or
/// nullopt when it can.
std::optional<std::string> record_drop_reason(const Record& r);

struct LoadedRecords {
  std::vector<Record>           records;
  std::vector<DatasetIssue>     invalid;       // skipped lines (only with skip_invalid)
  std::map<std::string, size_t> ignored_keys;  // unused top-level keys and how many records had them
  size_t                        lines = 0;     // values read (records + invalid)
};

/// Reads a dataset file: JSON Lines (.jsonl, one record per line) or a JSON array of records (.json).
/// Invalid lines throw mc::Error("dataset", "<file>:<line>: <problem>") unless `skip_invalid`, which
/// collects them in `invalid`. A file without any record is an error.
LoadedRecords load_records(const std::string& path, bool skip_invalid);

}  // namespace mc

// libFuzzer target for the dataset readers: the input's first byte picks a mode, the rest is the text.
//   mode 0: JSON Lines — every line through jsonl_parse_line and record_from_json (canonical JSON and
//           the drop reason of a valid record are computed too);
//   mode 1: CSV with ',' and mode 2: TSV — csv_parse after the UTF-8 check its callers make.
// Every input must either succeed or throw mc::Error; anything else (a crash, another exception, a
// sanitizer report) is a bug.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"
#include "io/dataset/csv.h"
#include "io/dataset/jsonl.h"
#include "io/dataset/record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const int mode = data[0] % 3;
  try {
    if (mode == 0) {
      for (const mc::TextLine& l : mc::split_lines(text)) {
        try {
          mc::OrderedJson j = mc::jsonl_parse_line(l.text, "fuzz.jsonl:" + std::to_string(l.line));
          mc::Record r = mc::record_from_json(j, "fuzz.jsonl");
          (void)mc::record_to_json(r);
          (void)mc::record_drop_reason(r);
        } catch (const mc::Error&) {  // a bad line: the next one is still read
        }
      }
    } else {
      mc::utf8_check(text, "fuzz.csv");
      for (const mc::CsvRow& row : mc::csv_parse(text, mode == 1 ? ',' : '\t', "fuzz.csv")) (void)row.fields.size();
    }
  } catch (const mc::Error&) {
  }
  return 0;
}

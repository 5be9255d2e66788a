// libFuzzer target for the tokenizer: the input's first byte picks a mode.
//   mode 0: the rest is a tokenizer.json; loading must succeed or throw mc::Error, and a loaded
//           tokenizer must encode and decode a fixed text without crashing.
//   mode 1: the rest is text (any bytes) for a fixed tokenizer with every component wired in; encode
//           must not crash and decode(encode(text)) must succeed.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/json.h"
#include "io/tokenizer/tokenizer.h"

namespace {

const char* kTokenizer = R"J({
  "added_tokens": [
    {"id": 0, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 9, "content": "<m>", "single_word": true, "lstrip": true, "rstrip": true, "normalized": true, "special": false}],
  "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"},
                 {"type": "Replace", "pattern": {"Regex": "\\d{3,}"}, "content": "#"}, {"type": "Prepend", "prepend": "▁"}]},
  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
     {"type": "Split", "pattern": {"Regex": "(?i:'s|'t)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false},
     {"type": "Digits", "individual_digits": true},
     {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true},
     {"type": "ByteLevel", "add_prefix_space": true, "use_regex": true}]},
  "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                     "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]}}},
  "decoder": {"type": "Sequence", "decoders": [{"type": "ByteLevel"}, {"type": "ByteFallback"}, {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first"},
              {"type": "Strip", "content": " ", "start": 1, "stop": 1}]},
  "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true,
            "vocab": {"<s>": 0, "<unk>": 1, "a": 2, "b": 3, "ab": 4, "Ġ": 5, "Ġab": 6, "<0x41>": 7, "▁": 8},
            "merges": [["a", "b"], ["Ġ", "ab"]]}
})J";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    if (data[0] % 2 == 0) {
      mc::Json j = mc::Json::parse(rest, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded()) return 0;
      mc::Tokenizer t = mc::Tokenizer::from_json(j, "fuzz.json");
      auto ids = t.encode("Hello, world! 123 <s> héllo", true);
      (void)t.decode(ids, false);
    } else {
      static const mc::Tokenizer t = mc::Tokenizer::from_json(mc::Json::parse(kTokenizer), "fuzz.json");
      auto ids = t.encode(rest, true);
      (void)t.decode(ids, true);
    }
  } catch (const mc::Error&) {
  }
  return 0;
}

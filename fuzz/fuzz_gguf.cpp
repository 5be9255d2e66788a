// libFuzzer target for the GGUF reader (src/io/gguf.cpp, gguf_dequant.cpp): parses arbitrary bytes with
// GgufFile::from_memory, reads back the metadata lookups and dequantizes every tensor of a supported type.
// mc::Error is the only acceptable failure; a crash, a sanitizer report, a leak or any other exception is
// a bug. Seed corpus: fuzz/corpus/gguf (copies of tests/data/gguf fixtures).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "io/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    mc::GgufFile g = mc::GgufFile::from_memory({data, size}, "fuzz.gguf");
    (void)g.get_int("general.alignment");
    (void)g.get_string("general.architecture");
    (void)g.get_float("llama.rope.freq_base");
    for (const auto& [key, v] : g.metadata()) (void)v.as_float();
    for (const mc::GgufTensorInfo& t : g.tensors()) {
      (void)t.shape();
      (void)g.raw(t);
      if (!mc::ggml_type_supported(t.type)) continue;
      std::vector<float> y = g.dequantize(t);
      if (y.size() != t.numel()) __builtin_trap();
    }
  } catch (const mc::Error&) {
  }
  return 0;
}

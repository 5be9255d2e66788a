// libFuzzer target for the safetensors reader: any byte string must either parse (and then every
// tensor converts to f32 without reading outside the buffer) or throw mc::Error; never crash, leak or
// trip a sanitizer. Seeds: fuzz/corpus/safetensors/.
//   CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DMC_FUZZ=ON -DMC_TESTS=OFF && ninja -C build-fuzz fuzz_safetensors
//   build-fuzz/fuzz/fuzz_safetensors -max_total_time=60 fuzz/corpus/safetensors
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/error.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto f = mc::SafetensorsFile::from_memory(std::span<const uint8_t>(data, size), "fuzz");
    for (const auto& t : f.tensors()) {
      std::vector<float> v = f.to_f32(t);
      if (v.size() != t.numel() || f.find(t.name) == nullptr) __builtin_trap();
      (void)f.raw(t);
    }
  } catch (const mc::Error&) {
  }
  return 0;
}

#include "model/arch/arch.h"

#include <algorithm>

#include "core/error.h"
#include "model/arch/lfm2/lfm2.h"
#include "model/arch/llama/llama.h"
#include "model/arch/qwen2/qwen2.h"
#include "model/arch/qwen3/qwen3.h"

namespace mc {

namespace {
struct ArchEntry {
  const char* model_type;
  ArchSpec (*build)(const ModelConfig&);
};
// The registry. mistral is llama with a sliding window (transformers' MistralModel differs from
// LlamaModel only in the mask).
const ArchEntry kArchTable[] = {
    {"llama", arch_llama}, {"mistral", arch_llama}, {"qwen2", arch_qwen2}, {"qwen3", arch_qwen3}, {"lfm2", arch_lfm2},
};
}  // namespace

const std::vector<std::string>& arch_supported_types() {
  static const std::vector<std::string> types = [] {
    std::vector<std::string> t;
    for (const auto& e : kArchTable) t.emplace_back(e.model_type);
    return t;
  }();
  return types;
}

ArchSpec arch_spec(const ModelConfig& c) {
  for (const auto& e : kArchTable)
    if (c.model_type == e.model_type) return e.build(c);
  std::string list;
  for (const auto& t : arch_supported_types()) list += (list.empty() ? "" : ", ") + t;
  throw Error("model", str("model_type '", c.model_type, "' has no engine support (supported: ", list, ")"));
}

}  // namespace mc

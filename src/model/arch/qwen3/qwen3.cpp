#include "model/arch/qwen3/qwen3.h"

#include <string>

#include "model/arch/qwen2/qwen2.h"

namespace mc {

ArchSpec arch_qwen3(const ModelConfig& c) {
  ArchSpec a = arch_qwen2(c);
  for (size_t il = 0; il < a.layers.size(); ++il) {
    const std::string p = "model.layers." + std::to_string(il) + ".self_attn.";
    a.layers[il].q_norm = p + "q_norm";
    a.layers[il].k_norm = p + "k_norm";
  }
  return a;
}

}  // namespace mc

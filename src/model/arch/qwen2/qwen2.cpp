#include "model/arch/qwen2/qwen2.h"

#include "model/arch/llama/llama.h"

namespace mc {

ArchSpec arch_qwen2(const ModelConfig& c) {
  ArchSpec a;
  for (int64_t il = 0; il < c.num_hidden_layers; ++il) {
    LayerSpec s = llama_layer(il);
    bool sliding = !c.layer_types.empty() && c.layer_types[static_cast<size_t>(il)] == "sliding_attention";
    s.window = sliding ? c.sliding_window : 0;
    a.layers.push_back(s);
  }
  return a;
}

}  // namespace mc

// LoRA adapters as the engine applies them (Hu et al. 2021, "LoRA", arXiv:2106.09685, eq. 3): a linear
// module W (out, in) gets y = W x + scale · B (A drop(x)) with A (r, in), B (out, r), i.e.
// ΔW = scale · B A — exactly PEFT 0.21's LoraLayer (lora_A.weight = A, lora_B.weight = B, scaling =
// lora_alpha / r, or lora_alpha / √r with use_rslora; dropout on the LoRA input only).
//
// The engine knows only this plain form. NB-LoRA (src/train) is a reparameterisation that produces A
// and B from its own parameters before each forward and pulls the gradients dA, dB back.
//
// Modules are addressed by HF path (e.g. "model.layers.3.self_attn.q_proj") and resolved to a
// (layer, site) pair of the engine's layer layout (model/arch/arch.h's LayerSpec names).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/arch/arch.h"
#include "tensor/tensor.h"

namespace mc {

/// The linear modules of a decoder layer LoRA can adapt, in the engine's order.
enum class LoraSite : int {
  Q = 0, K, V, O,      // attention q/k/v/o_proj (LFM2's out_proj is O)
  ConvIn, ConvOut,     // LFM2 short conv in_proj / out_proj
  Gate, Up, Down,      // SwiGLU MLP
  Count
};

/// The leaf name PEFT's target_modules use for a site ("q_proj", ..., LFM2 "in_proj"/"out_proj").
const char* lora_site_name(LoraSite s);

/// One adapted module. Tensors are fp32, PEFT layout.
struct LoraWeights {
  std::string module;          // HF module path without ".weight"
  int64_t     layer = -1;      // decoder layer index
  LoraSite    site = LoraSite::Q;
  int64_t     r = 0, in = 0, out = 0;
  float       scale = 1.0f;    // ΔW = scale · B A
  float       dropout = 0.0f;  // probability of zeroing an element of the LoRA input (training only)
  Tensor      A;               // (r, in)   lora_A.weight
  Tensor      B;               // (out, r)  lora_B.weight
};

/// The adapters of one model: at most one per (layer, site).
struct LoraSet {
  std::vector<LoraWeights> modules;
  std::vector<int>         index;  // (L · LoraSite::Count) position in `modules`, −1 when not adapted

  bool empty() const { return modules.empty(); }
  /// The adapter of (layer, site), or null.
  const LoraWeights* find(int64_t layer, LoraSite site) const;
  LoraWeights* find(int64_t layer, LoraSite site);
  /// Rebuilds `index` for a model of n_layers layers (call after changing `modules`).
  void reindex(int64_t n_layers);
  /// Trainable parameter count Σ r·(in + out).
  int64_t n_params() const;
};

/// Where HF module path `module` sits in a model of layout `arch`: its layer and site, and the (out,
/// in) shape of its weight for config c. Returns false when the path names no adaptable linear module.
bool lora_resolve(const ArchSpec& arch, const ModelConfig& c, const std::string& module, int64_t& layer,
                  LoraSite& site, int64_t& out, int64_t& in);

/// Every adaptable module path of the model whose leaf name is in `targets` (e.g. {"q_proj", "v_proj"}),
/// in layer then site order. Throws mc::Error("[lora] ...") naming a target that matches no module.
std::vector<std::string> lora_target_modules(const ArchSpec& arch, const ModelConfig& c,
                                             const std::vector<std::string>& targets);

/// Gradients of the LoRA parameters, parallel to LoraSet::modules.
struct LoraGrads {
  std::vector<Tensor> dA;  // (r, in) each
  std::vector<Tensor> dB;  // (out, r) each
  /// Zeroed buffers shaped like `set`.
  void init(const LoraSet& set);
  void zero();
};

}  // namespace mc

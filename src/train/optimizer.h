// Optimizers of `mc train run-research` (the conventional baseline), with PyTorch 2.x's update rules so a
// run can be compared step for step with torch + PEFT (tests/golden/train_grad_golden_test.cpp):
//   AdamW (Loshchilov & Hutter 2019, decoupled weight decay; torch.optim.AdamW, foreach=False):
//     p ← p·(1 − lr·wd);  m ← lerp(m, g, 1 − β₁);  v ← β₂·v + (1 − β₂)·g²
//     p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
//   SGD (torch.optim.SGD): g ← g + wd·p (L2); with momentum μ: b ← g (first step), else b ← μ·b + g;
//     p ← p − lr·b.
// Global gradient-norm clipping as torch.nn.utils.clip_grad_norm_ (HF Trainer's max_grad_norm).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace mc::train {

enum class OptimizerKind { AdamW, Sgd };
const char* optimizer_name(OptimizerKind k);
/// "adamw" or "sgd"; throws mc::Error("[train] ...") otherwise.
OptimizerKind optimizer_from_name(const std::string& name);

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::AdamW;
  double beta1 = 0.9, beta2 = 0.999;  // AdamW (torch defaults)
  double eps = 1e-8;                  // AdamW (torch default)
  double weight_decay = 0.0;          // HF TrainingArguments default
  double momentum = 0.0;              // SGD
};

/// One trainable tensor and its gradient (same numel).
struct ParamRef {
  float*       p = nullptr;
  const float* g = nullptr;
  int64_t      n = 0;
};

class Optimizer {
 public:
  Optimizer(const OptimizerConfig& cfg, const std::vector<ParamRef>& params);
  /// One update with learning rate lr. Gradients must be final (accumulated, clipped).
  void step(const std::vector<ParamRef>& params, double lr);

  const OptimizerConfig& config() const { return cfg_; }
  int64_t steps() const { return t_; }
  /// State for checkpoints: first/second moments (or momentum buffers) per parameter, step count.
  std::vector<Tensor>& m() { return m_; }
  std::vector<Tensor>& v() { return v_; }
  void set_steps(int64_t t) { t_ = t; }

 private:
  OptimizerConfig     cfg_;
  int64_t             t_ = 0;
  std::vector<Tensor> m_, v_;  // (n) each; v_ unused for SGD
};

/// √Σ‖g‖² over all gradients, as clip_grad_norm_ computes it (per-tensor norms, then the norm of norms).
double global_grad_norm(const std::vector<ParamRef>& params);
/// Scales the gradients in place by max_norm / (norm + 1e-6) when that is < 1 (torch's clip_coef);
/// returns the norm before clipping. max_norm <= 0 disables clipping. `grads` are the mutable buffers.
double clip_grad_norm(std::vector<Tensor*>& grads, double max_norm);

}  // namespace mc::train

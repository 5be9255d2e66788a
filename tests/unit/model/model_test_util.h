// Shared by the model-level tests: a random LoRA set on every adaptable module, a small ragged batch
// with loss targets, and the loss / LoRA gradients of one forward + backward pass.
#pragma once
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/transformer.h"

namespace mc::test {

/// A LoRA set on every adaptable module with small random A and B (B ≠ 0 so dA ≠ 0).
inline LoraSet random_lora(const Model& m, uint32_t seed, float dropout = 0.0f) {
  std::vector<std::string> targets = {"q_proj", "k_proj", "v_proj", "o_proj", "out_proj", "in_proj",
                                      "gate_proj", "up_proj", "down_proj", "w1", "w2", "w3"};
  std::vector<std::string> avail;
  for (const auto& t : targets) {
    try {
      lora_target_modules(m.arch(), m.config(), {t});
      avail.push_back(t);
    } catch (const Error&) {
    }
  }
  LoraSet set;
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (const auto& mod : lora_target_modules(m.arch(), m.config(), avail)) {
    LoraWeights w;
    w.module = mod;
    EXPECT_TRUE(lora_resolve(m.arch(), m.config(), mod, w.layer, w.site, w.out, w.in));
    w.r = 3;
    w.scale = 1.5f;
    w.dropout = dropout;
    w.A = Tensor({w.r, w.in});
    w.B = Tensor({w.out, w.r});
    for (int64_t i = 0; i < w.A.numel(); ++i) w.A[i] = 0.2f * nd(rng);
    for (int64_t i = 0; i < w.B.numel(); ++i) w.B[i] = 0.2f * nd(rng);
    set.modules.push_back(std::move(w));
  }
  set.reindex(m.config().num_hidden_layers);
  return set;
}

struct Problem {
  TokenBatch batch;
  std::vector<int32_t> targets;
  std::vector<float> dscale;
};

inline Problem make_problem(const Model& m, uint32_t seed) {
  std::mt19937 rng(seed);
  const int32_t V = static_cast<int32_t>(m.config().vocab_size);
  Problem p;
  for (int len : {7, 12}) {
    std::vector<int32_t> s;
    for (int i = 0; i < len; ++i) s.push_back(static_cast<int32_t>(rng() % static_cast<uint32_t>(V)));
    p.batch.add(s);
  }
  const int64_t N = p.batch.n_tokens();
  int64_t n_t = 0;
  for (int64_t n = 0; n < N; ++n) {
    const bool t = (rng() % 4) != 0;  // a quarter of the positions carry no loss
    p.targets.push_back(t ? static_cast<int32_t>(rng() % static_cast<uint32_t>(V)) : -1);
    n_t += t;
  }
  p.dscale.assign(static_cast<size_t>(N), 1.0f / static_cast<float>(n_t));
  return p;
}

inline double loss_of(const Model& m, const LoraSet& lora, const Problem& p, bool training = false, uint64_t seed = 0) {
  Activations acts;
  BackwardScratch ws;
  ForwardOptions fo;
  fo.logits = LogitsMode::None;
  fo.lora = &lora;
  fo.training = training;
  fo.dropout_seed = seed;
  m.forward(p.batch, acts, fo);
  std::vector<float> losses(static_cast<size_t>(p.batch.n_tokens()));
  m.token_losses(acts, p.targets.data(), losses.data(), ws);
  double s = 0;
  for (size_t i = 0; i < losses.size(); ++i) s += static_cast<double>(losses[i]) * p.dscale[i];
  return s;
}

inline LoraGrads grads_of(const Model& m, const LoraSet& lora, const Problem& p, bool checkpoint, bool training = false,
                   uint64_t seed = 0, double* loss = nullptr) {
  Activations acts;
  BackwardScratch ws;
  ForwardOptions fo;
  fo.logits = LogitsMode::None;
  fo.lora = &lora;
  fo.keep_acts = !checkpoint;
  fo.capture_hidden = checkpoint;
  fo.training = training;
  fo.dropout_seed = seed;
  m.forward(p.batch, acts, fo);
  LoraGrads g;
  g.init(lora);
  std::vector<float> losses(static_cast<size_t>(p.batch.n_tokens()));
  m.backward(p.batch, acts, fo, p.targets.data(), p.dscale.data(), losses.data(), g, ws);
  if (loss) {
    *loss = 0;
    for (size_t i = 0; i < losses.size(); ++i) *loss += static_cast<double>(losses[i]) * p.dscale[i];
  }
  return g;
}

}  // namespace mc::test

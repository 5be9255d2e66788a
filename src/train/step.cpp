#include "train/step.h"

#include <algorithm>

#include <fstream>
#include <string>

#include "core/error.h"

namespace mc::train {

int64_t activation_bytes_per_token(const ModelConfig& c) {
  const int64_t D = c.hidden_size, F = c.ffn_dim, Dq = c.q_dim(), Dkv = c.kv_dim(), H = c.num_attention_heads;
  const int64_t mlp = 2 + 5 * D + 3 * F;                             // rstd1,2; norm1, res1, norm2, ffn, out; gate_up, act
  const int64_t attn = (Dq + 2 * Dkv) + Dq + 2 * Dkv + Dq + H + D + 2 * H;  // qkv, q, k, v, att, lse, mix, q/k rstd
  const int64_t conv = 3 * D + 3 * D + D;                              // bcx, bx, conv, y, mix
  int64_t per_layer_max = mlp + std::max(attn, conv);
  return per_layer_max * c.num_hidden_layers * static_cast<int64_t>(sizeof(float));
}

bool checkpointing_needed(const ModelConfig& c, int64_t tokens) {
  std::ifstream f("/proc/meminfo");
  std::string key;
  int64_t kb = -1;
  while (f >> key) {
    if (key == "MemAvailable:") {
      f >> kb;
      break;
    }
    std::string rest;
    std::getline(f, rest);
  }
  if (kb <= 0) return true;
  const double need = static_cast<double>(activation_bytes_per_token(c)) * static_cast<double>(tokens);
  return need > kActivationMemoryShare * static_cast<double>(kb) * 1024.0;
}

TrainBatch make_batch(const std::vector<TokenizedExample>& examples, const std::vector<int64_t>& idx) {
  TrainBatch b;
  for (int64_t i : idx) {
    const TokenizedExample& ex = examples.at(static_cast<size_t>(i));
    MC_CHECK(ex.input_ids.size() == ex.loss_mask.size(), "example ", ex.where, ": ids and mask differ in length");
    b.tokens.add(ex.input_ids);
    const size_t T = ex.input_ids.size();
    for (size_t t = 0; t < T; ++t) {
      const bool has = t + 1 < T && ex.loss_mask[t + 1] != 0;
      b.targets.push_back(has ? ex.input_ids[t + 1] : -1);
      b.n_targets += has ? 1 : 0;
    }
    b.examples.push_back(i);
  }
  return b;
}

double train_micro_step(const Model& model, const LoraSet& lora, const TrainBatch& batch, double denominator,
                        LoraGrads& grads, StepWorkspace& ws, const StepOptions& options) {
  MC_CHECK(denominator > 0, "train_micro_step: the logical batch has no target tokens");
  ForwardOptions fo;
  fo.logits = LogitsMode::None;
  fo.keep_acts = !options.checkpointing;
  fo.capture_hidden = options.checkpointing;
  fo.lora = &lora;
  fo.training = options.training;
  fo.dropout_seed = options.dropout_seed;
  model.forward(batch.tokens, ws.acts, fo);
  const size_t N = static_cast<size_t>(batch.tokens.n_tokens());
  ws.losses.assign(N, 0.0f);
  ws.dscale.assign(N, static_cast<float>(1.0 / denominator));
  model.backward(batch.tokens, ws.acts, fo, batch.targets.data(), ws.dscale.data(), ws.losses.data(), grads,
                 ws.scratch);
  double sum = 0.0;
  for (size_t n = 0; n < N; ++n) sum += ws.losses[n];
  return sum;
}

std::vector<double> example_losses(const Model& model, const LoraSet* lora, const TrainBatch& batch,
                                   StepWorkspace& ws) {
  ForwardOptions fo;
  fo.logits = LogitsMode::None;
  fo.lora = lora;
  model.forward(batch.tokens, ws.acts, fo);
  const size_t N = static_cast<size_t>(batch.tokens.n_tokens());
  ws.losses.assign(N, 0.0f);
  model.token_losses(ws.acts, batch.targets.data(), ws.losses.data(), ws.scratch);
  std::vector<double> out(static_cast<size_t>(batch.tokens.n_seq()), 0.0);
  for (int64_t b = 0; b < batch.tokens.n_seq(); ++b)
    for (int64_t n = batch.tokens.offsets[static_cast<size_t>(b)]; n < batch.tokens.offsets[static_cast<size_t>(b + 1)];
         ++n)
      out[static_cast<size_t>(b)] += ws.losses[static_cast<size_t>(n)];
  return out;
}

}  // namespace mc::train

#include "train/step.h"

#include "core/error.h"

namespace mc::train {

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

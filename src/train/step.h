// One training or evaluation pass over a batch of tokenized examples, shared by the research trainer
// and the geometry-derived trainer: ragged batches (no padding), next-token targets from the loss
// masks, forward with the LoRA set, chunked cross-entropy and the backward pass into LoRA gradients.
//
// Loss convention (the token-weighted mean of HF Trainer ≥ 4.46 with num_items_in_batch, and of
// mlx-lm's default_loss): the objective of a logical batch is Σ (CE of every target token) / (number of
// target tokens in the logical batch), over all its micro-batches, so gradient accumulation gives the
// same gradient as one large batch.
#pragma once
#include <cstdint>
#include <vector>

#include "io/dataset/tokenize.h"
#include "model/transformer.h"

namespace mc::train {

/// A ragged batch and its targets: targets[n] = the next token when it carries the loss, else −1.
struct TrainBatch {
  TokenBatch           tokens;
  std::vector<int32_t> targets;    // (N)
  std::vector<int64_t> examples;   // indices of the examples, in batch order
  int64_t              n_targets = 0;
};

/// Builds the batch of examples[idx...]. Example token t+1 is the target of position t when its mask
/// bit is set (tokenize.h's convention); the last position of each example has none.
TrainBatch make_batch(const std::vector<TokenizedExample>& examples, const std::vector<int64_t>& idx);

/// Bytes the backward pass keeps per token when every layer's activations are stored (LayerActs of
/// model/transformer.h: norms, q/k/v, attention output and LSE, residuals, MLP gate/up and activation,
/// or the conv block's tensors), summed over layers.
int64_t activation_bytes_per_token(const ModelConfig& c);

/// Whether to recompute layers in the backward pass (gradient checkpointing) for micro-batches of
/// `tokens` tokens: yes when keeping every activation would take more than kActivationMemoryShare of
/// the memory available now (/proc/meminfo MemAvailable; yes when unknown).
inline constexpr double kActivationMemoryShare = 0.25;
bool checkpointing_needed(const ModelConfig& c, int64_t tokens);

/// Buffers reused across steps.
struct StepWorkspace {
  Activations          acts;
  BackwardScratch      scratch;
  std::vector<float>   losses;  // (N)
  std::vector<float>   dscale;  // (N)
};

struct StepOptions {
  bool     checkpointing = true;   // recompute each layer in the backward pass instead of keeping it
  bool     training = true;        // LoRA dropout active
  uint64_t dropout_seed = 0;
};

/// Forward + backward of one micro-batch whose loss is divided by `denominator` (the logical batch's
/// target count). Accumulates into grads; returns the micro-batch's summed (not divided) target loss.
double train_micro_step(const Model& model, const LoraSet& lora, const TrainBatch& batch, double denominator,
                        LoraGrads& grads, StepWorkspace& ws, const StepOptions& options);

/// Summed target loss of each example of the batch (no gradients, no dropout); lora may be null.
std::vector<double> example_losses(const Model& model, const LoraSet* lora, const TrainBatch& batch,
                                   StepWorkspace& ws);

}  // namespace mc::train

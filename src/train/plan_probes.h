// Activation probes for the plan's RMT rank ceiling (spec/training.md §3.11): the base model's
// mean-pooled hidden states of the eval samples, one (N, D) matrix per decoder layer, which
// plan_derive.h's signal_ranks() turns into per-layer Marchenko–Pastur signal ranks.
// Layer L's matrix holds the residual stream after decoder layer L (Activations::layer_output(L)),
// averaged over each probe's tokens, as upstream's per-layer probes do; the same states serve as the
// "base activations" the CKA gate compares against after training (§8).
#pragma once
#include <cstdint>
#include <vector>

#include "geometry/matrix.h"
#include "model/lora.h"

namespace mc {
class Model;
}

namespace mc::train {

/// Per decoder layer L: X_L (N, D), row i = mean over the tokens of sequences[i] of the hidden state
/// after layer L, accumulated in double (with `lora`: of the adapted model). Runs one forward per
/// sequence (no logits). Throws mc::Error
/// for an empty sequence or a token outside the vocabulary.
std::vector<geometry::MatrixD> mean_pooled_hidden_states(const Model& model,
                                                         const std::vector<std::vector<int32_t>>& sequences,
                                                         const LoraSet* lora = nullptr);

}  // namespace mc::train

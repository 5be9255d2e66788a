// Dataset evaluation shared by the trainers and `mc train evaluate`: the token-weighted mean
// next-token loss of a model (optionally with a LoRA set) over tokenized examples, and each example's
// own mean loss (for paired comparisons: n_improved / n_degraded, bootstrap intervals).
#pragma once
#include <cstdint>
#include <vector>

#include "io/dataset/tokenize.h"
#include "model/lora.h"
#include "model/transformer.h"
#include "train/step.h"

namespace mc::train {

struct EvalResult {
  double              loss = 0.0;        // Σ target losses / Σ targets
  double              n_targets = 0.0;
  std::vector<double> per_example;       // mean target loss of each example (0 for one without targets)
  std::vector<double> per_example_sum;   // summed target loss of each example
};

/// Evaluates `exs` in batches of `batch_size` examples (no dropout). lora may be null (base model).
EvalResult evaluate_examples(const Model& model, const LoraSet* lora, const std::vector<TokenizedExample>& exs,
                             int64_t batch_size, StepWorkspace& ws);

/// exp(loss) with the exponent capped at ln(FLT_MAX) (spec/training.md §10) so it stays finite.
double perplexity(double loss);

}  // namespace mc::train

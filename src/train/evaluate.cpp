#include "train/evaluate.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

namespace mc::train {

EvalResult evaluate_examples(const Model& model, const LoraSet* lora, const std::vector<TokenizedExample>& exs,
                             int64_t batch_size, StepWorkspace& ws) {
  EvalResult r;
  double sum = 0.0;
  const size_t bs = static_cast<size_t>(std::max<int64_t>(1, batch_size));
  for (size_t i0 = 0; i0 < exs.size(); i0 += bs) {
    std::vector<int64_t> idx;
    for (size_t i = i0; i < std::min(exs.size(), i0 + bs); ++i) idx.push_back(static_cast<int64_t>(i));
    TrainBatch b = make_batch(exs, idx);
    std::vector<double> l = example_losses(model, lora, b, ws);
    for (size_t k = 0; k < idx.size(); ++k) {
      const double nt = static_cast<double>(exs[static_cast<size_t>(idx[k])].loss_tokens());
      sum += l[k];
      r.n_targets += nt;
      r.per_example.push_back(nt > 0 ? l[k] / nt : 0.0);
      r.per_example_sum.push_back(l[k]);
    }
  }
  r.loss = r.n_targets > 0 ? sum / r.n_targets : 0.0;
  return r;
}

double perplexity(double loss) { return std::exp(std::min(loss, std::log(static_cast<double>(FLT_MAX)))); }

}  // namespace mc::train

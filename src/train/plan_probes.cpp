// Mean-pooled hidden states of probe sequences (plan_probes.h).
#include "train/plan_probes.h"

#include "core/error.h"
#include "model/transformer.h"

namespace mc::train {

std::vector<geometry::MatrixD> mean_pooled_hidden_states(const Model& model,
                                                         const std::vector<std::vector<int32_t>>& sequences,
                                                         const LoraSet* lora) {
  const int64_t L = model.config().num_hidden_layers, D = model.config().hidden_size;
  const int64_t N = static_cast<int64_t>(sequences.size());
  std::vector<geometry::MatrixD> out(static_cast<size_t>(L), geometry::MatrixD(N, D));
  Activations acts;
  ForwardOptions fo;
  fo.logits = LogitsMode::None;
  fo.capture_hidden = true;
  fo.lora = lora;
  for (int64_t i = 0; i < N; ++i) {
    const auto& seq = sequences[static_cast<size_t>(i)];
    if (seq.empty()) throw Error("plan", "probe " + std::to_string(i) + " has no token");
    model.forward(TokenBatch::from_sequences({seq}), acts, fo);
    const int64_t T = static_cast<int64_t>(seq.size());
    for (int64_t il = 0; il < L; ++il) {
      const Tensor& h = acts.layer_output(il);  // (T, D)
      geometry::MatrixD& x = out[static_cast<size_t>(il)];
      for (int64_t t = 0; t < T; ++t) {
        const float* row = h.row(t);
        for (int64_t d = 0; d < D; ++d) x(i, d) += row[d];
      }
      for (int64_t d = 0; d < D; ++d) x(i, d) /= static_cast<double>(T);
    }
  }
  return out;
}

}  // namespace mc::train

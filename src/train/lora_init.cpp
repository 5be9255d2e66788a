#include "train/lora_init.h"

#include <cmath>

#include "core/error.h"

namespace mc::train {

LoraSet lora_create(const Model& model, const std::vector<LoraModuleSpec>& specs, const LoraCreateOptions& options,
                    Rng& rng) {
  if (!(options.dropout >= 0.0 && options.dropout < 1.0))
    throw Error("lora", str("dropout must be in [0, 1), got ", options.dropout));
  LoraSet set;
  for (const LoraModuleSpec& s : specs) {
    LoraWeights w;
    w.module = s.module;
    if (!lora_resolve(model.arch(), model.config(), s.module, w.layer, w.site, w.out, w.in))
      throw Error("lora", str("'", s.module, "' is not an adaptable linear module of this ", model.config().model_type,
                              " model"));
    if (s.r < 1 || s.r > std::min(w.in, w.out))
      throw Error("lora", str("rank ", s.r, " for ", s.module, " must be between 1 and min(out, in) = ",
                              std::min(w.in, w.out), " (the matrix is ", w.out, "x", w.in, ")"));
    if (!(s.alpha > 0.0) || !std::isfinite(s.alpha))
      throw Error("lora", str("lora alpha must be positive, got ", s.alpha));
    w.r = s.r;
    w.scale = static_cast<float>(options.use_rslora ? s.alpha / std::sqrt(static_cast<double>(s.r))
                                                    : s.alpha / static_cast<double>(s.r));
    w.dropout = static_cast<float>(options.dropout);
    w.A = Tensor({w.r, w.in});
    w.B = Tensor({w.out, w.r});
    const double bound = 1.0 / std::sqrt(static_cast<double>(w.in));
    for (int64_t i = 0; i < w.A.numel(); ++i) w.A[i] = static_cast<float>((2.0 * rng.uniform() - 1.0) * bound);
    set.modules.push_back(std::move(w));
  }
  set.reindex(model.config().num_hidden_layers);
  return set;
}

}  // namespace mc::train

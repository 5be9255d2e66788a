// Token embedding lookup (torch.nn.Embedding forward). The op is a row copy, so there is no separate
// scalar reference; the backward (scatter-add into dwte) joins it when embeddings become trainable.
#pragma once
#include <cstdint>

#include "kernels/linear.h"

namespace mc {

/// out (N, D) = wte[tokens[n], :] for each of the N tokens; wte is (V, D). Token ids must lie in [0, V)
/// (callers validate user input; a bad id here is a programmer error and aborts).
void embedding_forward(float* out, const int32_t* tokens, const float* wte, int64_t N, int64_t D, int64_t V);
/// The same lookup from a table kept in either dtype (bf16 rows are widened exactly).
void embedding_forward(float* out, const int32_t* tokens, WeightView wte, int64_t N, int64_t D, int64_t V);

}  // namespace mc

#include "kernels/embedding.h"

#include <cstring>

#include "core/error.h"
#include "tensor/dtype.h"

namespace mc {

void embedding_forward(float* out, const int32_t* tokens, const float* wte, int64_t N, int64_t D, int64_t V) {
  for (int64_t n = 0; n < N; ++n) {
    int64_t t = tokens[n];
    MC_CHECK(t >= 0 && t < V, "token id ", t, " outside [0, ", V, ")");
    std::memcpy(out + n * D, wte + t * D, static_cast<size_t>(D) * sizeof(float));
  }
}

void embedding_forward(float* out, const int32_t* tokens, WeightView wte, int64_t N, int64_t D, int64_t V) {
  if (wte.f32) {
    embedding_forward(out, tokens, wte.f32, N, D, V);
    return;
  }
  for (int64_t n = 0; n < N; ++n) {
    int64_t t = tokens[n];
    MC_CHECK(t >= 0 && t < V, "token id ", t, " outside [0, ", V, ")");
    convert_to_f32(Dtype::BF16, wte.bf16 + t * D, out + n * D, static_cast<size_t>(D));
  }
}

}  // namespace mc

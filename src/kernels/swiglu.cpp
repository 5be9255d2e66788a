#include "kernels/swiglu.h"

#include <cmath>

namespace mc {

void swiglu_forward(float* out, const float* gate_up, int64_t N, int64_t F) {
  for (int64_t n = 0; n < N; ++n) {
    const float* g = gate_up + n * 2 * F;
    const float* u = g + F;
    float* o = out + n * F;
    for (int64_t i = 0; i < F; ++i) {
      float x = g[i];
      o[i] = (x / (1.0f + std::exp(-x))) * u[i];
    }
  }
}

void swiglu_forward_ref(float* out, const float* gate_up, int64_t N, int64_t F) {
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t i = 0; i < F; ++i) {
      double g = gate_up[n * 2 * F + i];
      double u = gate_up[n * 2 * F + F + i];
      out[n * F + i] = static_cast<float>(g / (1.0 + std::exp(-g)) * u);
    }
  }
}

}  // namespace mc

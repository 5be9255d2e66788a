// Residual connection: out = a + b elementwise (the decoder's h = r + f(h)). No reference version: one add.
#pragma once
#include <cstdint>

namespace mc {

/// out (n) = a (n) + b (n); out may alias a or b.
inline void residual_forward(float* out, const float* a, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

}  // namespace mc

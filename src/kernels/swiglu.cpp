#include "kernels/swiglu.h"

#include <cmath>

#include "kernels/vec_exp.h"

namespace mc {

namespace {

/// σ(x) per lane from e = exp(−|x|) ∈ (0, 1] (vec::exp takes x ≤ 0): 1 / (1 + e) for x ≥ 0 and
/// e / (1 + e) for x < 0 — the same value as 1 / (1 + exp(−x)) without overflow, within a few ulp.
inline vec::f32x4 sigmoid4(vec::f32x4 x) {
  const vec::f32x4 ax = x < 0.0f ? -x : x;
  const vec::f32x4 e = vec::exp(-ax);
  const vec::f32x4 inv = 1.0f / (1.0f + e);
  return x >= 0.0f ? inv : e * inv;
}

}  // namespace

void swiglu_forward(float* out, const float* gate_up, int64_t N, int64_t F) {
  for (int64_t n = 0; n < N; ++n) {
    const float* g = gate_up + n * 2 * F;
    const float* u = g + F;
    float* o = out + n * F;
    int64_t i = 0;
    for (; i + 4 <= F; i += 4) {  // four lanes with the vectorised exp (libm's expf is scalar)
      const vec::f32x4 x = vec::load(g + i);
      vec::store(o + i, x * sigmoid4(x) * vec::load(u + i));
    }
    for (; i < F; ++i) {
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

// silu(g) = g σ(g) and silu'(g) = σ(g) (1 + g (1 − σ(g))). σ = 1 / (1 + exp(−g)) saturates cleanly in
// both directions (exp overflows to inf for g < −88, giving σ = 0; g (1 − σ) → 0 for large g), so the
// derivative stays finite for any finite g.
void swiglu_backward(float* dgate_up, const float* dout, const float* gate_up, int64_t N, int64_t F) {
  for (int64_t n = 0; n < N; ++n) {
    const float* g = gate_up + n * 2 * F;
    const float* u = g + F;
    const float* dy = dout + n * F;
    float* dg = dgate_up + n * 2 * F;
    float* du = dg + F;
    int64_t i = 0;
    for (; i + 4 <= F; i += 4) {
      const vec::f32x4 x = vec::load(g + i), sig = sigmoid4(x), gy = vec::load(dy + i);
      vec::store(dg + i, gy * vec::load(u + i) * (sig * (1.0f + x * (1.0f - sig))));
      vec::store(du + i, gy * (x * sig));
    }
    for (; i < F; ++i) {
      const float x = g[i];
      const float sig = 1.0f / (1.0f + std::exp(-x));
      const float dsilu = sig * (1.0f + x * (1.0f - sig));
      const float gy = dy[i];
      dg[i] = gy * u[i] * dsilu;
      du[i] = gy * (x * sig);
    }
  }
}

void swiglu_forward_ref(double* out, const double* gate_up, int64_t N, int64_t F) {
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t i = 0; i < F; ++i) {
      const double g = gate_up[n * 2 * F + i], u = gate_up[n * 2 * F + F + i];
      out[n * F + i] = g / (1.0 + std::exp(-g)) * u;
    }
  }
}

void swiglu_backward_ref(double* dgate_up, const double* dout, const double* gate_up, int64_t N, int64_t F) {
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t i = 0; i < F; ++i) {
      const double g = gate_up[n * 2 * F + i], u = gate_up[n * 2 * F + F + i];
      const double sig = 1.0 / (1.0 + std::exp(-g));
      const double dy = dout[n * F + i];
      dgate_up[n * 2 * F + i] = dy * u * sig * (1.0 + g * (1.0 - sig));
      dgate_up[n * 2 * F + F + i] = dy * g * sig;
    }
  }
}

}  // namespace mc

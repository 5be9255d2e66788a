// Fused cross-entropy forward and backward over vocabulary rows, and its double reference. The fast path
// reads each row three times (max; exp and sum, storing the exponentials in dlogits; scale) and computes
// one vectorised exp per logit, because it runs over V ≈ 50k columns for every training token.
#include "kernels/cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/vec_exp.h"

namespace mc {

namespace {

// max of x (n), n >= 1
float row_max(const float* x, int64_t n) {
  vec::f32x4 m0 = vec::broadcast(x[0]), m1 = m0;
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    m0 = vec::max(m0, vec::load(x + j));
    m1 = vec::max(m1, vec::load(x + j + 4));
  }
  m0 = vec::max(m0, m1);
  float m = std::max(std::max(m0[0], m0[1]), std::max(m0[2], m0[3]));
  for (; j < n; ++j) m = std::max(m, x[j]);
  return m;
}

// Σ_j exp(x[j] − m) in double; the exponentials are stored in e (n) when e is non-null (e may alias x).
double row_exp_sum(float* e, const float* x, float m, int64_t n) {
  typedef double f64x4 __attribute__((vector_size(32)));  // local only: never passed across a call
  const vec::f32x4 mv = vec::broadcast(m);
  f64x4 s0 = {}, s1 = {};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const vec::f32x4 e0 = vec::exp(vec::load(x + j) - mv), e1 = vec::exp(vec::load(x + j + 4) - mv);
    if (e) {
      vec::store(e + j, e0);
      vec::store(e + j + 4, e1);
    }
    s0 += __builtin_convertvector(e0, f64x4);
    s1 += __builtin_convertvector(e1, f64x4);
  }
  if (j < n) {  // the tail, through the same exp (zero-padded lanes are dropped)
    float buf[8] = {};
    const int64_t rest = n - j;
    std::memcpy(buf, x + j, static_cast<size_t>(rest) * sizeof(float));
    const vec::f32x4 e0 = vec::exp(vec::load(buf) - mv), e1 = vec::exp(vec::load(buf + 4) - mv);
    vec::store(buf, e0);
    vec::store(buf + 4, e1);
    if (e) std::memcpy(e + j, buf, static_cast<size_t>(rest) * sizeof(float));
    for (int64_t i = 0; i < rest; ++i) s0[0] += buf[i];
  }
  s0 += s1;
  return (s0[0] + s0[1]) + (s0[2] + s0[3]);
}

}  // namespace

void cross_entropy_forward_backward(float* losses, float* dlogits, const float* logits, const int32_t* targets,
                                    const float* dscale, int64_t n, int64_t V) {
  MC_CHECK(V > 0 && n >= 0, "cross_entropy: n ", n, " V ", V);
  for (int64_t r = 0; r < n; ++r) {
    const float* x = logits + r * V;
    float* dx = dlogits ? dlogits + r * V : nullptr;
    const int32_t t = targets[r];
    MC_CHECK(t < V, "cross_entropy: target ", t, " >= V ", V);
    if (t < 0) {  // ignored row
      losses[r] = 0.0f;
      if (dx) std::memset(dx, 0, static_cast<size_t>(V) * sizeof(float));
      continue;
    }
    const float xt = x[t];  // read before dx (which may alias x) is overwritten
    const float m = row_max(x, V);
    const double sum = row_exp_sum(dx, x, m, V);
    // loss = logsumexp − x[t] = (m − x[t]) + log Σ exp(x − m); m − x[t] is exact enough in double
    losses[r] = static_cast<float>((static_cast<double>(m) - xt) + std::log(sum));
    if (!dx) continue;
    // dx = dscale · (exp(x − m) / sum − onehot(t)); dx holds exp(x − m)
    const float ds = dscale[r];
    const float f = static_cast<float>(static_cast<double>(ds) / sum);
    const vec::f32x4 fv = vec::broadcast(f);
    int64_t j = 0;
    for (; j + 4 <= V; j += 4) vec::store(dx + j, vec::load(dx + j) * fv);
    for (; j < V; ++j) dx[j] *= f;
    dx[t] -= ds;
  }
}

void cross_entropy_forward_backward_ref(double* losses, double* dlogits, const double* logits,
                                        const int32_t* targets, const double* dscale, int64_t n, int64_t V) {
  for (int64_t r = 0; r < n; ++r) {
    const double* x = logits + r * V;
    const int32_t t = targets[r];
    if (t < 0) {
      losses[r] = 0.0;
      if (dlogits) std::fill(dlogits + r * V, dlogits + (r + 1) * V, 0.0);
      continue;
    }
    double m = x[0];
    for (int64_t j = 1; j < V; ++j) m = std::max(m, x[j]);
    double sum = 0.0;
    for (int64_t j = 0; j < V; ++j) sum += std::exp(x[j] - m);
    const double xt = x[t];
    losses[r] = m + std::log(sum) - xt;
    if (!dlogits) continue;
    for (int64_t j = 0; j < V; ++j)
      dlogits[r * V + j] = dscale[r] * (std::exp(x[j] - m) / sum - (j == t ? 1.0 : 0.0));
  }
}

}  // namespace mc

#include "kernels/short_conv.h"

#include <cstring>
#include <vector>

#include "core/error.h"

namespace mc {

namespace {
// Bx row at chunk position t (t may be negative: then it comes from the state, or is zero).
inline const float* bx_row(const float* bx, const float* state, int64_t t, int64_t D, int64_t L) {
  if (t >= 0) return bx + t * D;
  if (!state) return nullptr;
  return state + (L - 1 + t) * D;  // t in [-(L-1), -1]
}
}  // namespace

void short_conv_forward(float* y, float* bx, float* conv, const float* bcx, const float* state, const float* weight,
                        const float* bias, int64_t T, int64_t D, int64_t L) {
  MC_CHECK(L >= 1 && D > 0 && T >= 0, "short_conv dims");
  for (int64_t t = 0; t < T; ++t) {
    const float* b = bcx + t * 3 * D;
    const float* x = b + 2 * D;
    float* o = bx + t * D;
    for (int64_t c = 0; c < D; ++c) o[c] = b[c] * x[c];
  }
  // the weight transposed to (L, D) so the channel loop is contiguous
  std::vector<float> wt(static_cast<size_t>(L * D));
  for (int64_t c = 0; c < D; ++c)
    for (int64_t kk = 0; kk < L; ++kk) wt[static_cast<size_t>(kk * D + c)] = weight[c * L + kk];
  for (int64_t t = 0; t < T; ++t) {
    float* o = conv + t * D;
    if (bias) std::memcpy(o, bias, static_cast<size_t>(D) * sizeof(float));
    else std::memset(o, 0, static_cast<size_t>(D) * sizeof(float));
    for (int64_t kk = 0; kk < L; ++kk) {
      const float* src = bx_row(bx, state, t - (L - 1) + kk, D, L);
      if (!src) continue;
      const float* w = wt.data() + kk * D;
      for (int64_t c = 0; c < D; ++c) o[c] += w[c] * src[c];
    }
    const float* cg = bcx + t * 3 * D + D;
    float* yo = y + t * D;
    for (int64_t c = 0; c < D; ++c) yo[c] = cg[c] * o[c];
  }
}

void short_conv_forward_ref(float* y, float* bx, float* conv, const float* bcx, const float* state,
                            const float* weight, const float* bias, int64_t T, int64_t D, int64_t L) {
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < D; ++c) bx[t * D + c] = bcx[t * 3 * D + c] * bcx[t * 3 * D + 2 * D + c];
  for (int64_t c = 0; c < D; ++c) {
    for (int64_t t = 0; t < T; ++t) {
      double acc = bias ? static_cast<double>(bias[c]) : 0.0;
      for (int64_t kk = 0; kk < L; ++kk) {
        int64_t src = t - (L - 1) + kk;
        double val = 0.0;
        if (src >= 0) val = static_cast<double>(bcx[src * 3 * D + c]) * bcx[src * 3 * D + 2 * D + c];
        else if (state) val = state[(L - 1 + src) * D + c];
        acc += static_cast<double>(weight[c * L + kk]) * val;
      }
      conv[t * D + c] = static_cast<float>(acc);
      y[t * D + c] = static_cast<float>(static_cast<double>(bcx[t * 3 * D + D + c]) * acc);
    }
  }
}

void short_conv_state_update(float* state, const float* bx, int64_t T, int64_t D, int64_t L) {
  const int64_t S = L - 1;
  if (S <= 0 || T <= 0) return;
  if (T >= S) {
    std::memcpy(state, bx + (T - S) * D, static_cast<size_t>(S * D) * sizeof(float));
    return;
  }
  // shift the old rows up by T, then append the T new rows
  std::memmove(state, state + T * D, static_cast<size_t>((S - T) * D) * sizeof(float));
  std::memcpy(state + (S - T) * D, bx, static_cast<size_t>(T * D) * sizeof(float));
}

}  // namespace mc

#include "kernels/short_conv.h"

#include <algorithm>
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

// Backward, with dconv = dy ⊙ C:
//   dC[t]  = dy[t] ⊙ conv[t]
//   dBx[s] = Σ_k w[:, k] ⊙ dconv[s + (L−1) − k]   (terms with s + (L−1) − k ≥ T dropped)
//   dB = dBx ⊙ x, dx = dBx ⊙ B;  dw[:, k] = Σ_t dconv[t] ⊙ Bx[t − (L−1) + k];  dbias = Σ_t dconv[t].
// dconv is staged in the B columns of dbcx: row s of dBx needs dconv rows s .. s + L − 1 only, so walking
// s upwards, dB[s] can overwrite dconv[s] once row s is done (no (T, D) scratch).
void short_conv_backward(float* dbcx, float* dweight, float* dbias, const float* dy, const float* bcx,
                         const float* bx, const float* conv, const float* weight, int64_t T, int64_t D, int64_t L) {
  MC_CHECK(L >= 1 && D > 0 && T >= 0, "short_conv dims");
  const int64_t W = 3 * D;  // row stride of bcx and dbcx
  for (int64_t t = 0; t < T; ++t) {
    const float* g = dy + t * D;
    const float* cg = bcx + t * W + D;
    const float* cv = conv + t * D;
    float* dconv = dbcx + t * W;     // staged in the B columns
    float* dcg = dbcx + t * W + D;   // dC
    for (int64_t c = 0; c < D; ++c) {
      dconv[c] = g[c] * cg[c];
      dcg[c] = g[c] * cv[c];
    }
  }
  std::vector<float> wt(static_cast<size_t>(L * D));  // the weight as (L, D): contiguous channel loops
  for (int64_t c = 0; c < D; ++c)
    for (int64_t kk = 0; kk < L; ++kk) wt[static_cast<size_t>(kk * D + c)] = weight[c * L + kk];
  std::vector<double> dw(dweight ? static_cast<size_t>(L * D) : 0, 0.0);  // (L, D) sums over T in double
  std::vector<double> db(dbias ? static_cast<size_t>(D) : 0, 0.0);
  std::vector<float> dbx(static_cast<size_t>(D));
  for (int64_t s = 0; s < T; ++s) {
    std::fill(dbx.begin(), dbx.end(), 0.0f);
    for (int64_t kk = 0; kk < L; ++kk) {
      const int64_t t = s + (L - 1) - kk;  // output row that reads Bx[s] through tap kk
      if (t >= T) continue;
      const float* dconv = dbcx + t * W;
      const float* w = wt.data() + kk * D;
      for (int64_t c = 0; c < D; ++c) dbx[static_cast<size_t>(c)] += w[c] * dconv[c];
    }
    // weight and bias gradients of output row s, while dconv[s] is still staged
    const float* dconv_s = dbcx + s * W;
    if (dweight) {
      for (int64_t kk = 0; kk < L; ++kk) {
        const int64_t src = s - (L - 1) + kk;
        if (src < 0) continue;
        const float* b = bx + src * D;
        double* a = dw.data() + kk * D;
        for (int64_t c = 0; c < D; ++c) a[c] += static_cast<double>(dconv_s[c]) * b[c];
      }
    }
    if (dbias)
      for (int64_t c = 0; c < D; ++c) db[static_cast<size_t>(c)] += dconv_s[c];
    const float* b = bcx + s * W;
    const float* x = b + 2 * D;
    float* dbo = dbcx + s * W;
    float* dxo = dbo + 2 * D;
    for (int64_t c = 0; c < D; ++c) {
      dxo[c] = dbx[static_cast<size_t>(c)] * b[c];
      dbo[c] = dbx[static_cast<size_t>(c)] * x[c];  // overwrites dconv[s], no longer needed
    }
  }
  if (dweight)
    for (int64_t c = 0; c < D; ++c)
      for (int64_t kk = 0; kk < L; ++kk) dweight[c * L + kk] += static_cast<float>(dw[static_cast<size_t>(kk * D + c)]);
  if (dbias)
    for (int64_t c = 0; c < D; ++c) dbias[c] += static_cast<float>(db[static_cast<size_t>(c)]);
}

namespace {
// conv (T, D) of a fresh sequence in double: bias + Σ_k w[c, k] · B·x at t − (L−1) + k.
void short_conv_conv_ref(double* conv, const double* bcx, const double* weight, const double* bias, int64_t T,
                         int64_t D, int64_t L) {
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t c = 0; c < D; ++c) {
      double acc = bias ? bias[c] : 0.0;
      for (int64_t kk = 0; kk < L; ++kk) {
        const int64_t src = t - (L - 1) + kk;
        if (src >= 0) acc += weight[c * L + kk] * bcx[src * 3 * D + c] * bcx[src * 3 * D + 2 * D + c];
      }
      conv[t * D + c] = acc;
    }
  }
}
}  // namespace

void short_conv_forward_ref(double* y, const double* bcx, const double* weight, const double* bias, int64_t T,
                            int64_t D, int64_t L) {
  std::vector<double> conv(static_cast<size_t>(T * D));
  short_conv_conv_ref(conv.data(), bcx, weight, bias, T, D, L);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < D; ++c) y[t * D + c] = bcx[t * 3 * D + D + c] * conv[static_cast<size_t>(t * D + c)];
}

void short_conv_backward_ref(double* dbcx, double* dweight, double* dbias, const double* dy, const double* bcx,
                             const double* weight, const double* bias, int64_t T, int64_t D, int64_t L) {
  std::vector<double> conv(static_cast<size_t>(T * D));
  short_conv_conv_ref(conv.data(), bcx, weight, bias, T, D, L);
  if (dweight) std::fill(dweight, dweight + D * L, 0.0);
  if (dbias) std::fill(dbias, dbias + D, 0.0);
  for (int64_t c = 0; c < D; ++c) {
    for (int64_t s = 0; s < T; ++s) {
      const double b = bcx[s * 3 * D + c], x = bcx[s * 3 * D + 2 * D + c];
      const double dconv_s = dy[s * D + c] * bcx[s * 3 * D + D + c];
      dbcx[s * 3 * D + D + c] = dy[s * D + c] * conv[static_cast<size_t>(s * D + c)];
      double dbx = 0.0;  // Σ over the outputs t = s + (L−1) − k that read Bx[s]
      for (int64_t kk = 0; kk < L; ++kk) {
        const int64_t t = s + (L - 1) - kk;
        if (t < T) dbx += weight[c * L + kk] * dy[t * D + c] * bcx[t * 3 * D + D + c];
        const int64_t src = s - (L - 1) + kk;  // what output s read through tap kk
        if (dweight && src >= 0) dweight[c * L + kk] += dconv_s * bcx[src * 3 * D + c] * bcx[src * 3 * D + 2 * D + c];
      }
      if (dbias) dbias[c] += dconv_s;
      dbcx[s * 3 * D + c] = dbx * x;
      dbcx[s * 3 * D + 2 * D + c] = dbx * b;
    }
  }
}

}  // namespace mc

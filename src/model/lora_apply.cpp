#include "model/lora_apply.h"

#include <algorithm>
#include <cstring>

#include "kernels/gemm.h"

namespace mc {

namespace {

/// SplitMix64 (Steele, Lea & Flood 2014): a bijective 64-bit mixer, used as a counter-based hash so
/// each dropout decision depends only on (seed, layer, site, element).
uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/// mask (n) = 1/(1 − p) where the element is kept, 0 where it is dropped (probability p). Each
/// splitmix64 output gives four 16-bit uniforms u; an element is dropped when u < round(p·2¹⁶), so p is
/// resolved to 1/65536.
void dropout_mask(float* mask, const LoraWeights& w, int64_t n, uint64_t seed) {
  const float keep_scale = static_cast<float>(1.0 / (1.0 - static_cast<double>(w.dropout)));
  const uint64_t threshold = static_cast<uint64_t>(static_cast<double>(w.dropout) * 65536.0 + 0.5);
  const uint64_t stream = splitmix64(seed ^ splitmix64(static_cast<uint64_t>(w.layer) * 64 +
                                                        static_cast<uint64_t>(w.site)));
  for (int64_t e0 = 0; e0 < n; e0 += 4) {
    uint64_t h = splitmix64(stream + static_cast<uint64_t>(e0 / 4));
    for (int64_t e = e0; e < std::min(n, e0 + 4); ++e, h >>= 16) mask[e] = (h & 0xFFFF) < threshold ? 0.0f : keep_scale;
  }
}

/// s.mask and s.xdrop = x ⊙ mask for the block's input.
const float* dropped_input(const LoraWeights& w, const float* x, int64_t N, LoraScratch& s, uint64_t seed) {
  const int64_t n = N * w.in;
  s.mask.resize({N, w.in});
  s.xdrop.resize({N, w.in});
  dropout_mask(s.mask.data(), w, n, seed);
  for (int64_t e = 0; e < n; ++e) s.xdrop[e] = x[e] * s.mask[e];
  return s.xdrop.data();
}

}  // namespace

void lora_forward(const LoraBlock& blk, float* out, int64_t ld, const float* x, int64_t N, Tensor& t,
                  LoraScratch& s, bool dropout_active, uint64_t seed) {
  const LoraWeights& w = *blk.w;
  const float* xin = dropout_active && w.dropout > 0.0f ? dropped_input(w, x, N, s, seed) : x;
  t.resize({N, w.r});
  // t (N, r) = xin (N, in) · Aᵀ
  gemm(false, true, N, w.r, w.in, 1.0f, xin, w.in, w.A.data(), w.in, 0.0f, t.data(), w.r);
  // out[:, col:col+out] (N, out) += scale · t (N, r) · Bᵀ
  gemm(false, true, N, w.out, w.r, w.scale, t.data(), w.r, w.B.data(), w.r, 1.0f, out + blk.col, ld);
}

void lora_backward(const LoraBlock& blk, const float* dout, int64_t ld, const float* x, const float* t, int64_t N,
                   float* dx, Tensor& dA, Tensor& dB, LoraScratch& s, bool dropout_active, uint64_t seed) {
  const LoraWeights& w = *blk.w;
  const float* dblk = dout + blk.col;  // (N, out) with leading dimension ld
  const bool drop = dropout_active && w.dropout > 0.0f;
  // dB (out, r) += scale · dblkᵀ (out, N) · t (N, r)
  gemm(true, false, w.out, w.r, N, w.scale, dblk, ld, t, w.r, 1.0f, dB.data(), w.r);
  // dt (N, r) = scale · dblk (N, out) · B (out, r)
  s.dt.resize({N, w.r});
  gemm(false, false, N, w.r, w.out, w.scale, dblk, ld, w.B.data(), w.r, 0.0f, s.dt.data(), w.r);
  const float* xin = drop ? dropped_input(w, x, N, s, seed) : x;
  // dA (r, in) += dtᵀ (r, N) · xin (N, in)
  gemm(true, false, w.r, w.in, N, 1.0f, s.dt.data(), w.r, xin, w.in, 1.0f, dA.data(), w.in);
  if (!drop) {
    // dx (N, in) += dt (N, r) · A (r, in)
    gemm(false, false, N, w.in, w.r, 1.0f, s.dt.data(), w.r, w.A.data(), w.in, 1.0f, dx, w.in);
    return;
  }
  // with dropout the input gradient passes through the same mask: dx += (dt A) ⊙ mask
  s.g.resize({N, w.in});
  gemm(false, false, N, w.in, w.r, 1.0f, s.dt.data(), w.r, w.A.data(), w.in, 0.0f, s.g.data(), w.in);
  const int64_t n = N * w.in;
  for (int64_t e = 0; e < n; ++e) dx[e] += s.g[e] * s.mask[e];
}

}  // namespace mc

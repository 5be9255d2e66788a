#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/error.h"
#include "kernels/gemm.h"

namespace mc {

namespace {

// Tile sizes: the query tile stacks the G = H / Hkv heads that share a kv head, so one score GEMM is
// (G·kTileQ) × kTileK × Dh. 32 × 128 keeps the score tile and the accumulator in L2 for Dh ≤ 128.
constexpr int64_t kTileQ = 32;
constexpr int64_t kTileK = 128;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

void check_dims(int64_t Tq, int64_t Tk, int64_t H, int64_t Hkv, int64_t Dh) {
  MC_CHECK(Tq >= 0 && Tk >= Tq, "attention: Tq ", Tq, " Tk ", Tk);
  MC_CHECK(Hkv > 0 && H % Hkv == 0, "attention: H ", H, " is not a multiple of Hkv ", Hkv);
  MC_CHECK(Dh > 0, "attention: Dh ", Dh);
}

}  // namespace

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, int64_t Tq,
                       int64_t Tk, int64_t H, int64_t Hkv, int64_t Dh, float scale, int64_t window) {
  check_dims(Tq, Tk, H, Hkv, Dh);
  if (Tq == 0) return;
  const int64_t G = H / Hkv;
  const int64_t q_stride = H * Dh, kv_stride = Hkv * Dh;
  const int64_t offset = Tk - Tq;  // position of query 0
  const int64_t rows = G * kTileQ;
  std::vector<float> qt(static_cast<size_t>(rows * Dh));      // (G·nq, Dh) packed queries
  std::vector<float> s(static_cast<size_t>(rows * kTileK));   // (G·nq, kTileK) scores, then probabilities
  std::vector<float> acc(static_cast<size_t>(rows * Dh));     // (G·nq, Dh) unnormalised output
  std::vector<float> m(static_cast<size_t>(rows)), l(static_cast<size_t>(rows));  // running max and sum

  for (int64_t hk = 0; hk < Hkv; ++hk) {
    const float* kh = k + hk * Dh;
    const float* vh = v + hk * Dh;
    for (int64_t i0 = 0; i0 < Tq; i0 += kTileQ) {
      const int64_t nq = std::min(kTileQ, Tq - i0);
      const int64_t M = G * nq;  // packed row r = g·nq + ii holds query i0 + ii of head hk·G + g
      for (int64_t g = 0; g < G; ++g)
        for (int64_t ii = 0; ii < nq; ++ii)
          std::memcpy(qt.data() + (g * nq + ii) * Dh, q + (i0 + ii) * q_stride + (hk * G + g) * Dh,
                      static_cast<size_t>(Dh) * sizeof(float));
      std::fill(m.begin(), m.begin() + M, kNegInf);
      std::fill(l.begin(), l.begin() + M, 0.0f);
      std::fill(acc.begin(), acc.begin() + M * Dh, 0.0f);

      const int64_t p_first = offset + i0, p_last = offset + i0 + nq - 1;
      const int64_t j_begin = window > 0 ? std::max<int64_t>(0, p_first - window + 1) : 0;
      const int64_t j_end = p_last + 1;  // exclusive
      for (int64_t j0 = j_begin; j0 < j_end; j0 += kTileK) {
        const int64_t nk = std::min(kTileK, j_end - j0);
        // S (M, nk) = scale · Q (M, Dh) · K[j0 : j0 + nk]ᵀ
        gemm(false, true, M, nk, Dh, scale, qt.data(), Dh, kh + j0 * kv_stride, kv_stride, 0.0f, s.data(), kTileK);
        for (int64_t r = 0; r < M; ++r) {
          const int64_t p = offset + i0 + r % nq;
          const int64_t jl = window > 0 ? std::max(j0, p - window + 1) : j0;  // visible keys [jl, jh)
          const int64_t jh = std::min(j0 + nk, p + 1);
          float* sr = s.data() + r * kTileK;
          if (jl >= jh) {  // nothing visible in this tile: contributes zero
            std::fill(sr, sr + nk, 0.0f);
            continue;
          }
          float mx = m[static_cast<size_t>(r)];
          for (int64_t j = jl; j < jh; ++j) mx = std::max(mx, sr[j - j0]);
          // online softmax: rescale what was accumulated under the old max (exp(-inf) = 0 at the start)
          const float alpha = std::exp(m[static_cast<size_t>(r)] - mx);
          float sum = 0.0f;
          for (int64_t j = j0; j < j0 + nk; ++j) {
            if (j >= jl && j < jh) {
              float e = std::exp(sr[j - j0] - mx);
              sr[j - j0] = e;
              sum += e;
            } else {
              sr[j - j0] = 0.0f;
            }
          }
          l[static_cast<size_t>(r)] = l[static_cast<size_t>(r)] * alpha + sum;
          if (alpha != 1.0f) {
            float* ar = acc.data() + r * Dh;
            for (int64_t d = 0; d < Dh; ++d) ar[d] *= alpha;
          }
          m[static_cast<size_t>(r)] = mx;
        }
        // acc (M, Dh) += P (M, nk) · V[j0 : j0 + nk]
        gemm(false, false, M, Dh, nk, 1.0f, s.data(), kTileK, vh + j0 * kv_stride, kv_stride, 1.0f, acc.data(), Dh);
      }
      for (int64_t r = 0; r < M; ++r) {
        const int64_t g = r / nq, ii = r % nq, h = hk * G + g;
        const float inv = 1.0f / l[static_cast<size_t>(r)];
        float* o = out + (i0 + ii) * q_stride + h * Dh;
        const float* ar = acc.data() + r * Dh;
        for (int64_t d = 0; d < Dh; ++d) o[d] = ar[d] * inv;
        lse[(i0 + ii) * H + h] = m[static_cast<size_t>(r)] + std::log(l[static_cast<size_t>(r)]);
      }
    }
  }
}

void attention_forward_ref(float* out, float* lse, const float* q, const float* k, const float* v, int64_t Tq,
                           int64_t Tk, int64_t H, int64_t Hkv, int64_t Dh, float scale, int64_t window) {
  check_dims(Tq, Tk, H, Hkv, Dh);
  const int64_t G = H / Hkv;
  std::vector<double> sc(static_cast<size_t>(Tk));
  for (int64_t i = 0; i < Tq; ++i) {
    const int64_t p = Tk - Tq + i;
    for (int64_t h = 0; h < H; ++h) {
      const int64_t hk = h / G;
      const float* qr = q + (i * H + h) * Dh;
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < Tk; ++j) {
        bool visible = j <= p && (window <= 0 || p - j < window);
        if (!visible) continue;
        const float* kr = k + (j * Hkv + hk) * Dh;
        double dot = 0.0;
        for (int64_t d = 0; d < Dh; ++d) dot += static_cast<double>(qr[d]) * kr[d];
        sc[static_cast<size_t>(j)] = dot * scale;
        mx = std::max(mx, sc[static_cast<size_t>(j)]);
      }
      double sum = 0.0;
      std::vector<double> o(static_cast<size_t>(Dh), 0.0);
      for (int64_t j = 0; j < Tk; ++j) {
        bool visible = j <= p && (window <= 0 || p - j < window);
        if (!visible) continue;
        double e = std::exp(sc[static_cast<size_t>(j)] - mx);
        sum += e;
        const float* vr = v + (j * Hkv + hk) * Dh;
        for (int64_t d = 0; d < Dh; ++d) o[static_cast<size_t>(d)] += e * vr[d];
      }
      for (int64_t d = 0; d < Dh; ++d) out[(i * H + h) * Dh + d] = static_cast<float>(o[static_cast<size_t>(d)] / sum);
      lse[i * H + h] = static_cast<float>(mx + std::log(sum));
    }
  }
}

}  // namespace mc

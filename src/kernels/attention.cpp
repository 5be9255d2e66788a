#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/error.h"
#include "kernels/gemm.h"
#include "kernels/vec_exp.h"

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

// x (n) = exp(x − shift) in place, four lanes at a time (the tail through the same zero-padded exp).
void exp_shifted(float* x, float shift, int64_t n) {
  const vec::f32x4 sv = vec::broadcast(shift);
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) vec::store(x + j, vec::exp(vec::load(x + j) - sv));
  if (j < n) {
    float buf[4] = {};
    std::memcpy(buf, x + j, static_cast<size_t>(n - j) * sizeof(float));
    vec::store(buf, vec::exp(vec::load(buf) - sv));
    std::memcpy(x + j, buf, static_cast<size_t>(n - j) * sizeof(float));
  }
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
          std::fill(sr, sr + (jl - j0), 0.0f);  // masked keys
          std::fill(sr + (jh - j0), sr + nk, 0.0f);
          exp_shifted(sr + (jl - j0), mx, jh - jl);  // the visible scores become exp(s − max)
          float sum = 0.0f;
          for (int64_t j = jl; j < jh; ++j) sum += sr[j - j0];
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

namespace {

// The reference forward on storage type Tf (float or double), computing in double either way.
template <class Tf>
void attention_forward_ref_impl(Tf* out, Tf* lse, const Tf* q, const Tf* k, const Tf* v, int64_t Tq, int64_t Tk,
                                int64_t H, int64_t Hkv, int64_t Dh, double scale, int64_t window) {
  check_dims(Tq, Tk, H, Hkv, Dh);
  const int64_t G = H / Hkv;
  std::vector<double> sc(static_cast<size_t>(Tk));
  for (int64_t i = 0; i < Tq; ++i) {
    const int64_t p = Tk - Tq + i;
    for (int64_t h = 0; h < H; ++h) {
      const int64_t hk = h / G;
      const Tf* qr = q + (i * H + h) * Dh;
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < Tk; ++j) {
        bool visible = j <= p && (window <= 0 || p - j < window);
        if (!visible) continue;
        const Tf* kr = k + (j * Hkv + hk) * Dh;
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
        const Tf* vr = v + (j * Hkv + hk) * Dh;
        for (int64_t d = 0; d < Dh; ++d) o[static_cast<size_t>(d)] += e * vr[d];
      }
      for (int64_t d = 0; d < Dh; ++d) out[(i * H + h) * Dh + d] = static_cast<Tf>(o[static_cast<size_t>(d)] / sum);
      if (lse) lse[i * H + h] = static_cast<Tf>(mx + std::log(sum));
    }
  }
}

}  // namespace

void attention_forward_ref(float* out, float* lse, const float* q, const float* k, const float* v, int64_t Tq,
                           int64_t Tk, int64_t H, int64_t Hkv, int64_t Dh, float scale, int64_t window) {
  attention_forward_ref_impl(out, lse, q, k, v, Tq, Tk, H, Hkv, Dh, static_cast<double>(scale), window);
}

void attention_forward_ref(double* out, double* lse, const double* q, const double* k, const double* v, int64_t Tq,
                           int64_t Tk, int64_t H, int64_t Hkv, int64_t Dh, double scale, int64_t window) {
  attention_forward_ref_impl(out, lse, q, k, v, Tq, Tk, H, Hkv, Dh, scale, window);
}

// FlashAttention-2 backward (Dao 2023, Algorithm 2) on the forward's tiling: per kv head, the query tile
// stacks the G heads that share it (packed row r = g·nq + ii, as in the forward). For every query tile
// we pack Q, dO, lse and D = rowsum(dO ⊙ O) once, then walk the visible key tiles:
//   S  = scale · Q Kᵀ,  P = exp(S − lse) (0 where masked)     (M, nk)
//   dV += Pᵀ dO                                               (nk, Dh), straight into dv (ldc = Hkv·Dh)
//   dP = dO Vᵀ,  dS = P ⊙ (dP − D)                            (M, nk)
//   dQ += scale · dS K                                        (M, Dh), packed, written once per query tile
//   dK += scale · dSᵀ Q                                       (nk, Dh), straight into dk
// Algorithm 2 puts key tiles in the outer loop so dK/dV stay on chip and dQ is updated atomically; on
// one CPU thread the query-outer order is equivalent and lets dQ accumulate in the packed tile while the
// strided rows of one kv head in dk/dv are a plain gemm output. Memory: five (G·32) × {Dh, 128} tiles.
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* out, const float* lse, int64_t T, int64_t H, int64_t Hkv,
                        int64_t Dh, float scale, int64_t window) {
  check_dims(T, T, H, Hkv, Dh);
  std::fill(dk, dk + T * Hkv * Dh, 0.0f);
  std::fill(dv, dv + T * Hkv * Dh, 0.0f);
  if (T == 0) return;
  const int64_t G = H / Hkv;
  const int64_t q_stride = H * Dh, kv_stride = Hkv * Dh;
  const int64_t rows = G * kTileQ;
  std::vector<float> qt(static_cast<size_t>(rows * Dh));     // (G·nq, Dh) packed queries
  std::vector<float> dot(static_cast<size_t>(rows * Dh));    // (G·nq, Dh) packed dout
  std::vector<float> dqt(static_cast<size_t>(rows * Dh));    // (G·nq, Dh) dq accumulator
  std::vector<float> p(static_cast<size_t>(rows * kTileK));  // (G·nq, kTileK) probabilities
  std::vector<float> ds(static_cast<size_t>(rows * kTileK)); // (G·nq, kTileK) dP, then dS
  std::vector<float> lt(static_cast<size_t>(rows)), dd(static_cast<size_t>(rows));  // lse and D per row

  for (int64_t hk = 0; hk < Hkv; ++hk) {
    const float* kh = k + hk * Dh;
    const float* vh = v + hk * Dh;
    float* dkh = dk + hk * Dh;
    float* dvh = dv + hk * Dh;
    for (int64_t i0 = 0; i0 < T; i0 += kTileQ) {
      const int64_t nq = std::min(kTileQ, T - i0);
      const int64_t M = G * nq;
      for (int64_t g = 0; g < G; ++g) {
        for (int64_t ii = 0; ii < nq; ++ii) {
          const int64_t r = g * nq + ii, off = (i0 + ii) * q_stride + (hk * G + g) * Dh;
          std::memcpy(qt.data() + r * Dh, q + off, static_cast<size_t>(Dh) * sizeof(float));
          std::memcpy(dot.data() + r * Dh, dout + off, static_cast<size_t>(Dh) * sizeof(float));
          double acc = 0.0;  // D = dO · O, in double: it is subtracted from dP, where cancellation bites
          for (int64_t d = 0; d < Dh; ++d) acc += static_cast<double>(dout[off + d]) * out[off + d];
          dd[static_cast<size_t>(r)] = static_cast<float>(acc);
          lt[static_cast<size_t>(r)] = lse[(i0 + ii) * H + hk * G + g];
        }
      }
      std::fill(dqt.begin(), dqt.begin() + M * Dh, 0.0f);

      const int64_t p_first = i0, p_last = i0 + nq - 1;
      const int64_t j_begin = window > 0 ? std::max<int64_t>(0, p_first - window + 1) : 0;
      const int64_t j_end = p_last + 1;  // exclusive
      for (int64_t j0 = j_begin; j0 < j_end; j0 += kTileK) {
        const int64_t nk = std::min(kTileK, j_end - j0);
        const float* kt = kh + j0 * kv_stride;
        const float* vt = vh + j0 * kv_stride;
        // S (M, nk) = scale · Q (M, Dh) · K[j0 : j0 + nk]ᵀ
        gemm(false, true, M, nk, Dh, scale, qt.data(), Dh, kt, kv_stride, 0.0f, p.data(), kTileK);
        for (int64_t r = 0; r < M; ++r) {
          const int64_t pos = i0 + r % nq;
          const int64_t jl = std::clamp(window > 0 ? pos - window + 1 : j0, j0, j0 + nk);  // visible [jl, jh)
          const int64_t jh = std::clamp(pos + 1, jl, j0 + nk);
          float* pr = p.data() + r * kTileK;
          std::fill(pr, pr + (jl - j0), 0.0f);
          exp_shifted(pr + (jl - j0), lt[static_cast<size_t>(r)], jh - jl);
          std::fill(pr + (jh - j0), pr + nk, 0.0f);
        }
        // dV[j0 : j0 + nk] (nk, Dh) += Pᵀ (nk, M) · dO (M, Dh)
        gemm(true, false, nk, Dh, M, 1.0f, p.data(), kTileK, dot.data(), Dh, 1.0f, dvh + j0 * kv_stride, kv_stride);
        // dP (M, nk) = dO (M, Dh) · V[j0 : j0 + nk]ᵀ, then dS = P ⊙ (dP − D) in place
        gemm(false, true, M, nk, Dh, 1.0f, dot.data(), Dh, vt, kv_stride, 0.0f, ds.data(), kTileK);
        for (int64_t r = 0; r < M; ++r) {
          const float* pr = p.data() + r * kTileK;
          float* dr = ds.data() + r * kTileK;
          const float dr0 = dd[static_cast<size_t>(r)];
          for (int64_t j = 0; j < nk; ++j) dr[j] = pr[j] * (dr[j] - dr0);
        }
        // dQ (M, Dh) += scale · dS (M, nk) · K[j0 : j0 + nk] (nk, Dh)
        gemm(false, false, M, Dh, nk, scale, ds.data(), kTileK, kt, kv_stride, 1.0f, dqt.data(), Dh);
        // dK[j0 : j0 + nk] (nk, Dh) += scale · dSᵀ (nk, M) · Q (M, Dh)
        gemm(true, false, nk, Dh, M, scale, ds.data(), kTileK, qt.data(), Dh, 1.0f, dkh + j0 * kv_stride, kv_stride);
      }
      for (int64_t g = 0; g < G; ++g)
        for (int64_t ii = 0; ii < nq; ++ii)
          std::memcpy(dq + (i0 + ii) * q_stride + (hk * G + g) * Dh, dqt.data() + (g * nq + ii) * Dh,
                      static_cast<size_t>(Dh) * sizeof(float));
    }
  }
}

void attention_backward_ref(double* dq, double* dk, double* dv, const double* dout, const double* q,
                            const double* k, const double* v, int64_t T, int64_t H, int64_t Hkv, int64_t Dh,
                            double scale, int64_t window) {
  check_dims(T, T, H, Hkv, Dh);
  const int64_t G = H / Hkv;
  std::fill(dq, dq + T * H * Dh, 0.0);
  std::fill(dk, dk + T * Hkv * Dh, 0.0);
  std::fill(dv, dv + T * Hkv * Dh, 0.0);
  std::vector<double> pr(static_cast<size_t>(T)), dp(static_cast<size_t>(T));
  for (int64_t i = 0; i < T; ++i) {
    const int64_t jlo = window > 0 ? std::max<int64_t>(0, i - window + 1) : 0;  // visible keys [jlo, i]
    for (int64_t h = 0; h < H; ++h) {
      const int64_t hk = h / G;
      const double* qr = q + (i * H + h) * Dh;
      const double* gr = dout + (i * H + h) * Dh;
      // probabilities of the full row
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t j = jlo; j <= i; ++j) {
        const double* kr = k + (j * Hkv + hk) * Dh;
        double s = 0.0;
        for (int64_t d = 0; d < Dh; ++d) s += qr[d] * kr[d];
        pr[static_cast<size_t>(j)] = s * scale;
        mx = std::max(mx, pr[static_cast<size_t>(j)]);
      }
      double sum = 0.0;
      for (int64_t j = jlo; j <= i; ++j) sum += (pr[static_cast<size_t>(j)] = std::exp(pr[static_cast<size_t>(j)] - mx));
      // dP_j = dO · v_j, and the softmax Jacobian: dS_j = P_j (dP_j − Σ_l P_l dP_l)
      double pdp = 0.0;
      for (int64_t j = jlo; j <= i; ++j) {
        pr[static_cast<size_t>(j)] /= sum;
        const double* vr = v + (j * Hkv + hk) * Dh;
        double g = 0.0;
        for (int64_t d = 0; d < Dh; ++d) g += gr[d] * vr[d];
        dp[static_cast<size_t>(j)] = g;
        pdp += pr[static_cast<size_t>(j)] * g;
      }
      double* dqr = dq + (i * H + h) * Dh;
      for (int64_t j = jlo; j <= i; ++j) {
        const double pj = pr[static_cast<size_t>(j)];
        const double dsj = pj * (dp[static_cast<size_t>(j)] - pdp) * scale;  // scale from S = scale · q kᵀ
        const double* kr = k + (j * Hkv + hk) * Dh;
        double* dkr = dk + (j * Hkv + hk) * Dh;
        double* dvr = dv + (j * Hkv + hk) * Dh;
        for (int64_t d = 0; d < Dh; ++d) {
          dvr[d] += pj * gr[d];
          dqr[d] += dsj * kr[d];
          dkr[d] += dsj * qr[d];
        }
      }
    }
  }
}

}  // namespace mc

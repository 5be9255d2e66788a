// Four-lane single-precision exp for the softmax loops of cross-entropy and the attention backward,
// written with GCC vector extensions so that it vectorises at -O2 on baseline x86-64 (SSE2) without
// -ffast-math (libm's expf is scalar and ~4× slower here; DESIGN.md forbids fast-math). Internal to
// src/kernels; not a general math library: inputs are softmax exponents x ≤ 0.
#pragma once
#include <cstdint>
#include <cstring>

namespace mc::vec {

typedef float f32x4 __attribute__((vector_size(16)));    // four floats (one SSE register)
typedef int32_t i32x4 __attribute__((vector_size(16)));  // the matching lanes as integers

inline f32x4 load(const float* p) {
  f32x4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, f32x4 v) { std::memcpy(p, &v, sizeof v); }
inline f32x4 broadcast(float x) { return f32x4{x, x, x, x}; }
inline f32x4 max(f32x4 a, f32x4 b) { return a > b ? a : b; }

/// exp(x) per lane for x ≤ 0, within 2 ulp of the correctly rounded value for x ≥ −86 (measured
/// against double exp over [−86, 0] in steps of 1e-4: 1.7 ulp); exactly 0 below −86, where exp(x) < 5e-38 is
/// negligible against a softmax denominator ≥ 1 and the 2ⁿ scaling below would leave the normal range.
/// Not for x > 88 (overflow is not handled).
/// Method (Cody–Waite): x = n·ln2 + r with n = round(x / ln2) and |r| ≤ ln2/2, ln2 split in a part with
/// 15 significant bits (n·ln2_hi is exact for |n| < 2⁹) and the remainder; exp(r) by its Taylor series to
/// r⁷ (truncation r⁸/8! < 6e-9 on |r| ≤ 0.347); the result is exp(r) with n added to its exponent field.
inline f32x4 exp(f32x4 x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kRound = 12582912.0f;            // 1.5 · 2²³: adding it rounds to an integer
  constexpr float kLn2Hi = 0.693145751953125f;     // 0x3F317200
  constexpr float kLn2Lo = 1.428606820309417232e-6f;  // ln 2 − kLn2Hi
  constexpr float kLow = -86.0f;
  const f32x4 n = (x * kLog2e + kRound) - kRound;  // round(x / ln2); no FMA contraction under -std=c++20
  f32x4 r = x - n * kLn2Hi;
  r = r - n * kLn2Lo;
  f32x4 p = broadcast(1.0f / 5040.0f);
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const i32x4 e = __builtin_convertvector(n, i32x4) << 23;  // n is integral, so truncation is exact
  const f32x4 res = reinterpret_cast<f32x4>(reinterpret_cast<i32x4>(p) + e);
  return x < kLow ? f32x4{} : res;
}

}  // namespace mc::vec

// xoshiro256** + splitmix64 seeding + Box–Muller. Reference: https://prng.di.unimi.it/ (public domain
// algorithm description); written from the published recurrences.
#include "core/rng.h"

#include <cmath>

#include "core/error.h"

namespace mc {

namespace {

inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

constexpr double kTwoPi = 6.283185307179586476925286766559;

}  // namespace

uint64_t splitmix64_next(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

Rng::Rng(uint64_t seed) {
  uint64_t sm = seed;
  for (uint64_t& w : s_) w = splitmix64_next(sm);
}

Rng::Rng(const std::array<uint64_t, 4>& state) {
  MC_CHECK(state[0] | state[1] | state[2] | state[3], "xoshiro256** state must not be all zero");
  for (int i = 0; i < 4; ++i) s_[i] = state[i];
}

uint64_t Rng::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::uniform() {
  // The top 53 bits scaled by 2^-53: every representable multiple of 2^-53 in [0, 1) equally likely.
  return static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
}

uint64_t Rng::uniform_int(uint64_t n) {
  MC_CHECK(n > 0, "uniform_int needs n > 0");
  // Reject the incomplete last block of 2^64 mod n values so every residue is equally likely.
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % n + 1) % n;
  uint64_t x;
  do {
    x = next_u64();
  } while (x > limit);
  return x % n;
}

double Rng::normal() {
  if (has_cached_normal_) {
    has_cached_normal_ = false;
    return cached_normal_;
  }
  // u1 in (0, 1] so log(u1) is finite; u2 in [0, 1).
  const double u1 = 1.0 - uniform();
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  cached_normal_ = r * std::sin(kTwoPi * u2);
  has_cached_normal_ = true;
  return r * std::cos(kTwoPi * u2);
}

}  // namespace mc

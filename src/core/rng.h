// Small deterministic random number generator for tests, synthetic data and randomized algorithms:
// xoshiro256** (Blackman & Vigna 2018, "Scrambled linear pseudorandom number generators") seeded
// through splitmix64, with uniform doubles and Box–Muller normals. Not cryptographic, and not the
// same stream as numpy or PyTorch: goldens store their inputs instead of relying on a shared stream.
#pragma once
#include <array>
#include <cstdint>

namespace mc {

/// splitmix64 step (Steele, Lea & Flood 2014): advances `state` and returns the next output.
/// Used to expand one 64-bit seed into the 256-bit xoshiro state (Vigna's recommended seeding).
uint64_t splitmix64_next(uint64_t& state);

class Rng {
 public:
  /// Seeds the four state words from splitmix64(seed); every seed (0 included) gives a valid state.
  explicit Rng(uint64_t seed);
  /// Starts from an explicit xoshiro256** state (not all zero), e.g. to check published test vectors.
  explicit Rng(const std::array<uint64_t, 4>& state);

  /// Next 64 random bits (xoshiro256**).
  uint64_t next_u64();
  /// Uniform double in [0, 1) with 53 random bits.
  double uniform();
  /// Uniform integer in [0, n) without modulo bias (rejection sampling); n must be > 0.
  uint64_t uniform_int(uint64_t n);
  /// Standard normal N(0, 1) by the Box–Muller transform (Box & Muller 1958). Values come in pairs;
  /// the second one of a pair is cached and returned by the next call.
  double normal();

 private:
  uint64_t s_[4];
  double cached_normal_ = 0.0;
  bool has_cached_normal_ = false;
};

}  // namespace mc

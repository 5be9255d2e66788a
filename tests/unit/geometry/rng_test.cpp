// mc::Rng (src/core/rng.h): published test vectors for splitmix64 and xoshiro256**, determinism, and
// the moments of the uniform and normal draws. Lives with the geometry tests, its main user.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/rng.h"

namespace mc {
namespace {

TEST(Rng, Splitmix64KnownAnswers) {
  // Vigna's splitmix64.c from state 0.
  uint64_t state = 0;
  EXPECT_EQ(splitmix64_next(state), 0xe220a8397b1dcdafull);
  EXPECT_EQ(splitmix64_next(state), 0x6e789e6aa1b965f4ull);
  EXPECT_EQ(splitmix64_next(state), 0x06c45d188009454full);
}

TEST(Rng, Xoshiro256StarStarKnownAnswers) {
  // Reference xoshiro256starstar.c started from s = {1, 2, 3, 4}.
  Rng rng(std::array<uint64_t, 4>{1, 2, 3, 4});
  EXPECT_EQ(rng.next_u64(), 11520ull);
  EXPECT_EQ(rng.next_u64(), 0ull);
  EXPECT_EQ(rng.next_u64(), 1509978240ull);
  EXPECT_EQ(rng.next_u64(), 1215971899390074240ull);
}

TEST(Rng, DeterministicPerSeed) {
  Rng a(42), b(42), c(43);
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    EXPECT_NE(x, c.next_u64());
  }
  Rng z(0);  // seed 0 is valid (splitmix64 expands it)
  EXPECT_NE(z.next_u64(), 0ull);
}

TEST(Rng, UniformAndNormalMoments) {
  // n = 200k draws: standard errors ≈ 0.0007 (uniform mean), 0.0022 (normal mean), 0.0032 (normal
  // variance); the bounds are ~5 standard errors.
  Rng rng(7);
  const int n = 200000;
  double su = 0, sn = 0, sn2 = 0, sn4 = 0;
  for (int i = 0; i < n; ++i) {
    const double u = rng.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    su += u;
    const double z = rng.normal();
    ASSERT_TRUE(std::isfinite(z));
    sn += z;
    sn2 += z * z;
    sn4 += z * z * z * z;
  }
  EXPECT_NEAR(su / n, 0.5, 0.004);
  EXPECT_NEAR(sn / n, 0.0, 0.011);
  EXPECT_NEAR(sn2 / n, 1.0, 0.016);
  EXPECT_NEAR(sn4 / n, 3.0, 0.1);  // Gaussian kurtosis
}

TEST(Rng, UniformIntCoversRangeEvenly) {
  Rng rng(9);
  std::vector<int> counts(7, 0);
  for (int i = 0; i < 70000; ++i) ++counts[rng.uniform_int(7)];
  for (int c : counts) EXPECT_NEAR(c, 10000, 500);  // sd ≈ 93
  EXPECT_EQ(rng.uniform_int(1), 0u);
}

}  // namespace
}  // namespace mc

// Tiled online-softmax attention against the one-row-at-a-time reference: shapes that cross the query
// (32) and key (128) tile sizes, GQA groupings, sliding windows, and decoding (fewer queries than keys).
#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "kernels/attention.h"
#include "kernels/gemm.h"
#include "kernel_test_util.h"

namespace mc {
namespace {

struct Case {
  int64_t Tq, Tk, H, Hkv, Dh, window;
};

void run_case(const Case& c, uint32_t seed) {
  auto q = test::randn(static_cast<size_t>(c.Tq * c.H * c.Dh), seed);
  auto k = test::randn(static_cast<size_t>(c.Tk * c.Hkv * c.Dh), seed + 1);
  auto v = test::randn(static_cast<size_t>(c.Tk * c.Hkv * c.Dh), seed + 2);
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.Dh)));
  std::vector<float> out(q.size()), ref(q.size()), lse(static_cast<size_t>(c.Tq * c.H)), lse_ref(lse.size());
  attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), c.Tq, c.Tk, c.H, c.Hkv, c.Dh, scale, c.window);
  attention_forward_ref(ref.data(), lse_ref.data(), q.data(), k.data(), v.data(), c.Tq, c.Tk, c.H, c.Hkv, c.Dh, scale,
                        c.window);
  EXPECT_LE(test::max_rel_err(out, ref), test::kFastVsRefTol)
      << "Tq " << c.Tq << " Tk " << c.Tk << " H " << c.H << "/" << c.Hkv << " Dh " << c.Dh << " window " << c.window;
  EXPECT_LE(test::max_rel_err(lse, lse_ref), test::kFastVsRefTol) << "lse, Tq " << c.Tq << " Tk " << c.Tk;
}

TEST(Attention, MatchesReferenceOnOddShapes) {
  gemm_set_threads(1);
  const Case cases[] = {
      {1, 1, 1, 1, 8, 0},      {7, 7, 4, 2, 13, 0},   {33, 33, 6, 2, 8, 0},   {130, 130, 3, 3, 16, 0},
      {300, 300, 9, 3, 64, 0}, {40, 40, 6, 2, 8, 32}, {150, 150, 4, 1, 8, 5}, {1, 200, 4, 2, 16, 0},
      {5, 150, 6, 3, 12, 0},   {1, 260, 2, 1, 8, 100}, {37, 290, 4, 2, 8, 130},
  };
  uint32_t seed = 1000;
  for (const Case& c : cases) run_case(c, seed += 3);
}

TEST(Attention, FirstPositionCopiesItsValue) {
  // the query at position 0 sees only key 0, so its output is v[0] whatever the scores
  auto q = test::randn(2 * 2 * 4, 1), k = test::randn(2 * 1 * 4, 2), v = test::randn(2 * 1 * 4, 3);
  std::vector<float> out(q.size()), lse(4);
  attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), 2, 2, 2, 1, 4, 0.5f, 0);
  for (int h = 0; h < 2; ++h)
    for (int d = 0; d < 4; ++d) EXPECT_EQ(out[static_cast<size_t>(h * 4 + d)], v[static_cast<size_t>(d)]);
}

TEST(Attention, WindowOfOneCopiesTheOwnValue) {
  auto q = test::randn(9 * 2 * 4, 4), k = test::randn(9 * 2 * 4, 5), v = test::randn(9 * 2 * 4, 6);
  std::vector<float> out(q.size()), lse(18);
  attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), 9, 9, 2, 2, 4, 0.5f, 1);
  EXPECT_EQ(out, v);
}

}  // namespace
}  // namespace mc

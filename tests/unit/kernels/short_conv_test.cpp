// LFM2 gated short convolution against its reference, and chunked evaluation with the conv state equal
// to one pass over the whole sequence (what cached decoding relies on).
#include <gtest/gtest.h>

#include <tuple>

#include "kernels/short_conv.h"
#include "kernel_test_util.h"

namespace mc {
namespace {

TEST(ShortConv, MatchesReferenceWithAndWithoutStateAndBias) {
  uint32_t seed = 50;
  for (auto [T, D, L] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{1, 1, 1}, {1, 3, 3}, {2, 5, 3}, {9, 7, 4}, {17, 64, 3}}) {
    auto bcx = test::randn(static_cast<size_t>(T * 3 * D), seed++);
    auto w = test::randn(static_cast<size_t>(D * L), seed++);
    auto bias = test::randn(static_cast<size_t>(D), seed++);
    auto state = test::randn(static_cast<size_t>((L - 1) * D), seed++);
    for (int with_state = 0; with_state < 2; ++with_state) {
      for (int with_bias = 0; with_bias < 2; ++with_bias) {
        const float* st = with_state ? state.data() : nullptr;
        const float* bs = with_bias ? bias.data() : nullptr;
        std::vector<float> y(static_cast<size_t>(T * D)), bx(y.size()), cv(y.size());
        std::vector<float> yr(y.size()), bxr(y.size()), cvr(y.size());
        short_conv_forward(y.data(), bx.data(), cv.data(), bcx.data(), st, w.data(), bs, T, D, L);
        short_conv_forward_ref(yr.data(), bxr.data(), cvr.data(), bcx.data(), st, w.data(), bs, T, D, L);
        EXPECT_LE(test::max_rel_err(y, yr), test::kFastVsRefTol) << T << " " << D << " " << L;
        EXPECT_LE(test::max_rel_err(cv, cvr), test::kFastVsRefTol);
        EXPECT_EQ(bx, bxr);
      }
    }
  }
}

TEST(ShortConv, ChunksWithStateEqualOnePass) {
  const int64_t T = 13, D = 6, L = 3;
  auto bcx = test::randn(static_cast<size_t>(T * 3 * D), 77);
  auto w = test::randn(static_cast<size_t>(D * L), 78);
  std::vector<float> y(static_cast<size_t>(T * D)), bx(y.size()), cv(y.size());
  short_conv_forward(y.data(), bx.data(), cv.data(), bcx.data(), nullptr, w.data(), nullptr, T, D, L);

  std::vector<float> state(static_cast<size_t>((L - 1) * D), 0.0f);
  std::vector<float> yc(y.size()), bxc(y.size()), cvc(y.size());
  int64_t t0 = 0;
  for (int64_t n : {1, 1, 4, 1, 6}) {  // chunks shorter and longer than the state
    short_conv_forward(yc.data() + t0 * D, bxc.data() + t0 * D, cvc.data() + t0 * D, bcx.data() + t0 * 3 * D,
                       state.data(), w.data(), nullptr, n, D, L);
    short_conv_state_update(state.data(), bxc.data() + t0 * D, n, D, L);
    t0 += n;
  }
  ASSERT_EQ(t0, T);
  EXPECT_EQ(yc, y);
}

TEST(ShortConv, HandValues) {
  // D = 1, L = 2, weight [a, b] = [2, 3]: conv[t] = 2·Bx[t−1] + 3·Bx[t]; y = C · conv
  const float bcx[] = {1, 10, 2,   // t0: B = 1, C = 10, x = 2 -> Bx = 2
                       3, 1, -1};  // t1: B = 3, C = 1, x = -1 -> Bx = -3
  const float w[] = {2, 3};
  float y[2], bx[2], cv[2];
  short_conv_forward(y, bx, cv, bcx, nullptr, w, nullptr, 2, 1, 2);
  EXPECT_EQ(bx[0], 2.0f);
  EXPECT_EQ(bx[1], -3.0f);
  EXPECT_EQ(cv[0], 6.0f);
  EXPECT_EQ(cv[1], 2.0f * 2.0f + 3.0f * -3.0f);
  EXPECT_EQ(y[0], 60.0f);
  EXPECT_EQ(y[1], -5.0f);
}

}  // namespace
}  // namespace mc

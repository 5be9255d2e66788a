// rms_norm_forward, swiglu_forward and embedding_forward against their references and hand values.
#include <gtest/gtest.h>

#include <cmath>
#include <utility>

#include "kernels/embedding.h"
#include "kernels/rms_norm.h"
#include "kernels/swiglu.h"
#include "kernel_test_util.h"

namespace mc {
namespace {

TEST(RmsNorm, MatchesReferenceOnOddShapes) {
  uint32_t seed = 7;
  for (auto [N, D] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 5}, {17, 64}, {5, 67}, {2, 1031}}) {
    auto x = test::randn(static_cast<size_t>(N * D), seed++, 3.0f);
    auto w = test::randn(static_cast<size_t>(D), seed++);
    std::vector<float> out(x.size()), ref(x.size()), rstd(static_cast<size_t>(N)), rstd_ref(rstd.size());
    rms_norm_forward(out.data(), rstd.data(), x.data(), w.data(), N, D, 1e-5f);
    rms_norm_forward_ref(ref.data(), rstd_ref.data(), x.data(), w.data(), N, D, 1e-5f);
    EXPECT_LE(test::max_rel_err(out, ref), test::kFastVsRefTol) << N << "x" << D;
    EXPECT_LE(test::max_rel_err(rstd, rstd_ref), test::kFastVsRefTol) << N << "x" << D;
    // in place gives the same result
    std::vector<float> inplace = x;
    rms_norm_forward(inplace.data(), rstd.data(), inplace.data(), w.data(), N, D, 1e-5f);
    EXPECT_EQ(inplace, out);
  }
}

TEST(RmsNorm, HandValues) {
  // x = [3, 4]: mean square 12.5, rstd = 1/sqrt(12.5 + eps)
  const float x[] = {3, 4}, w[] = {1, 2};
  float out[2], rstd[1];
  rms_norm_forward(out, rstd, x, w, 1, 2, 0.0f);
  EXPECT_FLOAT_EQ(rstd[0], static_cast<float>(1.0 / std::sqrt(12.5)));
  EXPECT_FLOAT_EQ(out[0], static_cast<float>(3.0 / std::sqrt(12.5)));
  EXPECT_FLOAT_EQ(out[1], static_cast<float>(8.0 / std::sqrt(12.5)));
}

TEST(Swiglu, MatchesReferenceIncludingLargeInputs) {
  uint32_t seed = 11;
  for (auto [N, F] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 7}, {9, 65}}) {
    auto gu = test::randn(static_cast<size_t>(N * 2 * F), seed++, 4.0f);
    gu[0] = 100.0f;  // silu saturates: x
    if (F > 1) gu[1] = -100.0f;  // exp(100) overflows fp32: silu -> -0
    std::vector<float> out(static_cast<size_t>(N * F)), ref(out.size());
    swiglu_forward(out.data(), gu.data(), N, F);
    swiglu_forward_ref(ref.data(), gu.data(), N, F);
    EXPECT_LE(test::max_rel_err(out, ref), test::kFastVsRefTol) << N << "x" << F;
    for (float v : out) EXPECT_TRUE(std::isfinite(v));
  }
}

TEST(Swiglu, HandValues) {
  // gate | up = [0, 2 | 5, 3]: silu(0) = 0, silu(2) = 2 / (1 + e^-2)
  const float gu[] = {0, 2, 5, 3};
  float out[2];
  swiglu_forward(out, gu, 1, 2);
  EXPECT_FLOAT_EQ(out[0], 0.0f);
  EXPECT_FLOAT_EQ(out[1], static_cast<float>(3.0 * 2.0 / (1.0 + std::exp(-2.0))));
}

TEST(Embedding, CopiesRows) {
  const float wte[] = {0, 1, 10, 11, 20, 21};  // (V=3, D=2)
  const int32_t tok[] = {2, 0, 2};
  float out[6];
  embedding_forward(out, tok, wte, 3, 2, 3);
  const float expected[] = {20, 21, 0, 1, 20, 21};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(out[i], expected[i]);
}

}  // namespace
}  // namespace mc

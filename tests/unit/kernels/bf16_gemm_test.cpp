// The bf16 GEMM path (kernels/bf16.h, gemm_bf16, linear with a bf16 WeightView) against double-precision
// references evaluated on the same bf16 values. bf16 × bf16 products are exact in fp32, so the only
// error left is fp32 summation: the fast paths must match to kFastVsRefTol like the fp32 kernels.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <tuple>

#include "kernels/bf16.h"
#include "kernels/embedding.h"
#include "kernels/gemm.h"
#include "kernels/linear.h"
#include "kernel_test_util.h"
#include "tensor/dtype.h"

namespace mc {
namespace {

// oneDNN 2.6 has bf16 matmuls only for AVX-512 CPUs (native with AVX512-BF16, emulated without).
#define MC_SKIP_WITHOUT_AVX512() \
  if (!__builtin_cpu_supports("avx512f")) GTEST_SKIP() << "oneDNN's bf16 matmul needs AVX-512"

std::vector<uint16_t> to_bf16(const std::vector<float>& x) {
  std::vector<uint16_t> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = f32_to_bf16(x[i]);
  return y;
}

std::vector<float> widen(const std::vector<uint16_t>& x) {
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = bf16_to_f32(x[i]);
  return y;
}

TEST(Bf16, RowConversionEqualsScalarRoundToNearestEvenWithSubnormalsFlushed) {
  // lengths around the 32-lane vector width; values include ties, NaN, ±inf, ±0, subnormals, max
  for (int64_t n : {0, 1, 31, 32, 33, 64, 100}) {
    std::vector<float> x = test::randn(static_cast<size_t>(n), static_cast<uint32_t>(7 + n), 3.0f);
    const bool i_sub = n % 2 == 1;  // odd lengths use a negative subnormal
    const float special[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                             -std::numeric_limits<float>::infinity(), 0.0f, -0.0f, (i_sub ? -1e-40f : 1e-40f),
                             std::numeric_limits<float>::max(), f32_from_bits(0x3f808000u) /* tie: rounds to even */,
                             f32_from_bits(0x3f818000u) /* tie: rounds up */, -f32_from_bits(0x3f80ffffu)};
    for (size_t i = 0; i < x.size(); ++i) x[i] = i % 3 == 0 ? special[(i / 3) % 10] : x[i];
    std::vector<uint16_t> y(x.size(), 0xdead);
    f32_to_bf16_row(x.data(), y.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const float xi = x[static_cast<size_t>(i)];
      if (std::isnan(xi)) {
        EXPECT_TRUE(std::isnan(bf16_to_f32(y[static_cast<size_t>(i)]))) << i;
      } else if (xi != 0.0f && std::fpclassify(xi) == FP_SUBNORMAL) {
        EXPECT_EQ(y[static_cast<size_t>(i)], std::signbit(xi) ? 0x8000 : 0x0000) << "n " << n << " i " << i;
      } else {
        EXPECT_EQ(y[static_cast<size_t>(i)], f32_to_bf16(x[static_cast<size_t>(i)])) << "n " << n << " i " << i;
      }
    }
  }
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3f808000u)), 0x3f80);  // the tie goes to the even mantissa
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3f818000u)), 0x3f82);
}

TEST(Bf16, GemvMatchesDoubleReferenceOnOddShapes) {
  uint32_t seed = 300;
  for (auto [M, K] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 31}, {5, 32}, {7, 33}, {9, 64}, {13, 577}, {64, 1536}}) {
    auto W = to_bf16(test::randn(static_cast<size_t>(M * K), seed++, 0.1f));
    auto x = to_bf16(test::randn(static_cast<size_t>(K), seed++));
    std::vector<float> y(static_cast<size_t>(M), 7.0f), r(y.size());
    gemv_bf16(M, K, W.data(), x.data(), y.data());
    gemv_bf16_ref(M, K, W.data(), x.data(), r.data());
    EXPECT_LE(test::max_rel_err(y, r), test::kFastVsRefTol) << M << "x" << K;
  }
}

TEST(Bf16, GemmMatchesReferenceOnBf16Values) {
  MC_SKIP_WITHOUT_AVX512();
  gemm_set_threads(1);
  uint32_t seed = 400;
  for (auto [M, N, K] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{1, 1, 1}, {2, 3, 5}, {17, 33, 65}, {64, 7, 129}, {130, 96, 576}}) {
    for (int tb = 0; tb < 2; ++tb) {
      auto A = to_bf16(test::randn(static_cast<size_t>(M * K), seed++));
      auto B = to_bf16(test::randn(static_cast<size_t>(K * N), seed++, 0.1f));
      std::vector<float> C(static_cast<size_t>(M * N), 7.0f), R(C.size());
      gemm_bf16(tb, M, N, K, A.data(), B.data(), C.data());
      const auto Af = widen(A), Bf = widen(B);
      gemm_ref(false, tb, M, N, K, 1.0f, Af.data(), K, Bf.data(), tb ? K : N, 0.0f, R.data(), N);
      EXPECT_LE(test::max_rel_err(C, R), test::kFastVsRefTol) << M << "x" << N << "x" << K << " tb " << tb;
    }
  }
}

TEST(Bf16, LinearWithBf16WeightEqualsReferenceOnRoundedInputs) {
  MC_SKIP_WITHOUT_AVX512();
  // The bf16 path rounds the input rows to bf16 and multiplies exactly-widened bf16 weights: the fp32
  // reference on those rounded values is its exact target. N = 1 takes the gemv path, N > 1 oneDNN.
  gemm_set_threads(1);
  uint32_t seed = 500;
  for (auto [N, C, OC] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{1, 7, 3}, {1, 576, 65}, {2, 7, 3}, {17, 64, 33}, {33, 129, 65}}) {
    auto x = test::randn(static_cast<size_t>(N * C), seed++);
    auto w = to_bf16(test::randn(static_cast<size_t>(OC * C), seed++, 0.1f));
    auto b = test::randn(static_cast<size_t>(OC), seed++);
    const auto xr = widen(to_bf16(x)), wf = widen(w);
    for (bool with_bias : {false, true}) {
      std::vector<float> out(static_cast<size_t>(N * OC), 7.0f), ref(out.size());
      linear_forward(out.data(), x.data(), WeightView::of_bf16(w.data()), with_bias ? b.data() : nullptr, N, C, OC);
      linear_forward_ref(ref.data(), xr.data(), wf.data(), with_bias ? b.data() : nullptr, N, C, OC);
      EXPECT_LE(test::max_rel_err(out, ref), test::kFastVsRefTol) << N << "x" << C << "->" << OC << " bias " << with_bias;
    }
    // backward to the input: dinp (N, C) = dout (N, OC) · W
    auto dout = test::randn(static_cast<size_t>(N * OC), seed++);
    const auto dr = widen(to_bf16(dout));
    std::vector<float> dinp(static_cast<size_t>(N * C), 7.0f), dref(dinp.size(), 0.0f);
    linear_backward_input(dinp.data(), dout.data(), WeightView::of_bf16(w.data()), N, C, OC);
    gemm_ref(false, false, N, C, OC, 1.0f, dr.data(), OC, wf.data(), C, 0.0f, dref.data(), C);
    EXPECT_LE(test::max_rel_err(dinp, dref), test::kFastVsRefTol) << "backward " << N << "x" << C << "->" << OC;
  }
}

TEST(Bf16, LinearBf16StaysCloseToFp32) {
  MC_SKIP_WITHOUT_AVX512();
  // What bf16 costs against the fp32 product of the unrounded inputs: input rounding (2^-9 relative
  // per element) averages out over C terms, so the outputs stay within ~1% of their scale.
  const int64_t N = 16, C = 576, OC = 64;
  auto x = test::randn(static_cast<size_t>(N * C), 11);
  auto wf = widen(to_bf16(test::randn(static_cast<size_t>(OC * C), 12, 0.05f)));
  auto w = to_bf16(wf);
  std::vector<float> out(static_cast<size_t>(N * OC)), ref(out.size());
  linear_forward(out.data(), x.data(), WeightView::of_bf16(w.data()), nullptr, N, C, OC);
  linear_forward_ref(ref.data(), x.data(), wf.data(), nullptr, N, C, OC);
  double scale = 0.0, err = 0.0;
  for (size_t i = 0; i < out.size(); ++i) {
    scale = std::max(scale, std::abs(static_cast<double>(ref[i])));
    err = std::max(err, std::abs(static_cast<double>(out[i]) - ref[i]));
  }
  EXPECT_GT(err, 0.0);  // the inputs really were rounded
  EXPECT_LE(err / scale, 1e-2);
}

TEST(Bf16, EmbeddingWidensRowsExactly) {
  const int64_t V = 5, D = 3;
  auto table = to_bf16(test::randn(static_cast<size_t>(V * D), 21));
  const int32_t tokens[] = {4, 0, 4};
  std::vector<float> out(3 * D);
  embedding_forward(out.data(), tokens, WeightView::of_bf16(table.data()), 3, D, V);
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t d = 0; d < D; ++d)
      EXPECT_EQ(out[static_cast<size_t>(n * D + d)], bf16_to_f32(table[static_cast<size_t>(tokens[n] * D + d)]));
}

}  // namespace
}  // namespace mc

// gemm (cblas_sgemm) and linear_forward against their scalar references on odd shapes.
#include <gtest/gtest.h>

#include <tuple>

#include "kernels/gemm.h"
#include "kernels/linear.h"
#include "kernel_test_util.h"

namespace mc {
namespace {

TEST(Gemm, MatchesReferenceForAllTransposesAndStrides) {
  gemm_set_threads(1);
  const std::vector<std::tuple<int64_t, int64_t, int64_t>> shapes = {{1, 1, 1}, {3, 5, 7}, {17, 33, 65}, {64, 1, 129}};
  uint32_t seed = 1;
  for (auto [M, N, K] : shapes) {
    for (int ta = 0; ta < 2; ++ta) {
      for (int tb = 0; tb < 2; ++tb) {
        // padded leading dimensions (+3) exercise the strides
        const int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 3, ldc = N + 3;
        auto A = test::randn(static_cast<size_t>((ta ? K : M) * lda), seed++);
        auto B = test::randn(static_cast<size_t>((tb ? N : K) * ldb), seed++);
        auto C0 = test::randn(static_cast<size_t>(M * ldc), seed++);
        for (float beta : {0.0f, 1.0f, -0.5f}) {
          auto C = C0, R = C0;
          gemm(ta, tb, M, N, K, 0.75f, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
          gemm_ref(ta, tb, M, N, K, 0.75f, A.data(), lda, B.data(), ldb, beta, R.data(), ldc);
          EXPECT_LE(test::max_rel_err(C, R), test::kFastVsRefTol) << M << "x" << N << "x" << K << " ta " << ta
                                                                  << " tb " << tb << " beta " << beta;
        }
      }
    }
  }
}

TEST(Linear, MatchesReferenceWithAndWithoutBias) {
  gemm_set_threads(1);
  const std::vector<std::tuple<int64_t, int64_t, int64_t>> shapes = {{1, 1, 1}, {1, 129, 65}, {2, 7, 3}, {3, 5, 7}, {17, 64, 33}, {33, 129, 65}};
  uint32_t seed = 100;
  for (auto [N, C, OC] : shapes) {
    auto x = test::randn(static_cast<size_t>(N * C), seed++);
    auto w = test::randn(static_cast<size_t>(OC * C), seed++, 0.1f);
    auto b = test::randn(static_cast<size_t>(OC), seed++);
    for (bool with_bias : {false, true}) {
      std::vector<float> out(static_cast<size_t>(N * OC), 7.0f), ref(out.size());
      linear_forward(out.data(), x.data(), w.data(), with_bias ? b.data() : nullptr, N, C, OC);
      linear_forward_ref(ref.data(), x.data(), w.data(), with_bias ? b.data() : nullptr, N, C, OC);
      EXPECT_LE(test::max_rel_err(out, ref), test::kFastVsRefTol) << N << "x" << C << "->" << OC << " bias " << with_bias;
    }
  }
}

TEST(Linear, ComputesXTimesWTransposedPlusBias) {
  // out = x · Wᵀ + b by hand: x (1, 2) = [1, 2], W (3, 2) = [[1, 0], [0, 1], [1, 1]], b = [0.5, 0, -1]
  const float x[] = {1, 2}, w[] = {1, 0, 0, 1, 1, 1}, b[] = {0.5f, 0, -1};
  float out[3];
  linear_forward(out, x, w, b, 1, 2, 3);
  EXPECT_FLOAT_EQ(out[0], 1.5f);
  EXPECT_FLOAT_EQ(out[1], 2.0f);
  EXPECT_FLOAT_EQ(out[2], 2.0f);
}

}  // namespace
}  // namespace mc

namespace mc {
namespace {

TEST(GemmThreads, Bf16ThreadingKeepsTheCountAndTheResults) {
  // gemm_set_bf16_threading hands the threads to oneDNN (OpenBLAS then runs on one): the engine's thread
  // count stays what gemm_set_threads said, and products — large ones and small ones — are unchanged.
  gemm_set_threads(2);
  const int64_t M = 96, N = 80, K = 70;
  auto A = test::randn(static_cast<size_t>(M * K), 1), B = test::randn(static_cast<size_t>(K * N), 2);
  std::vector<float> c0(static_cast<size_t>(M * N)), c1(c0.size()), s0(8 * 8), s1(8 * 8);
  gemm(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, c0.data(), N);
  gemm(false, false, 8, 8, 8, 1.0f, A.data(), K, B.data(), N, 0.0f, s0.data(), 8);
  gemm_set_bf16_threading(true);
  EXPECT_EQ(gemm_threads(), 2);
  gemm(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, c1.data(), N);
  gemm(false, false, 8, 8, 8, 1.0f, A.data(), K, B.data(), N, 0.0f, s1.data(), 8);
  gemm_set_bf16_threading(false);
  EXPECT_EQ(gemm_threads(), 2);
  EXPECT_EQ(c0, c1);
  EXPECT_EQ(s0, s1);
  gemm_set_threads(1);
}

}  // namespace
}  // namespace mc

#include "kernels/gemm.h"

#include <cblas.h>

#include "core/error.h"

namespace mc {

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  MC_CHECK(M > 0 && N > 0 && K >= 0, "gemm dims ", M, "x", N, "x", K);
  MC_CHECK(M < (int64_t(1) << 31) && N < (int64_t(1) << 31) && K < (int64_t(1) << 31), "gemm dims exceed blasint");
  cblas_sgemm(/* Order = */ CblasRowMajor, /* TransA = */ trans_a ? CblasTrans : CblasNoTrans,
              /* TransB = */ trans_b ? CblasTrans : CblasNoTrans, /* M = */ static_cast<blasint>(M),
              /* N = */ static_cast<blasint>(N), /* K = */ static_cast<blasint>(K), alpha, A,
              /* lda = */ static_cast<blasint>(lda), B, /* ldb = */ static_cast<blasint>(ldb), beta, C,
              /* ldc = */ static_cast<blasint>(ldc));
}

void gemv(int64_t M, int64_t K, float alpha, const float* A, int64_t lda, const float* x, float beta, float* y) {
  if (M == 0) return;
  MC_CHECK(M > 0 && K >= 0 && M < (int64_t(1) << 31) && K < (int64_t(1) << 31), "gemv dims ", M, "x", K);
  cblas_sgemv(/* order = */ CblasRowMajor, /* TransA = */ CblasNoTrans, /* M = */ static_cast<blasint>(M),
              /* N = */ static_cast<blasint>(K), alpha, A, /* lda = */ static_cast<blasint>(lda), x, /* incx = */ 1,
              beta, y, /* incy = */ 1);
}

void gemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
              int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        double a = trans_a ? A[k * lda + i] : A[i * lda + k];
        double b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        acc += a * b;
      }
      double c = beta == 0.0f ? 0.0 : static_cast<double>(beta) * C[i * ldc + j];
      C[i * ldc + j] = static_cast<float>(static_cast<double>(alpha) * acc + c);
    }
  }
}

void gemm_set_threads(int n) {
  MC_CHECK(n >= 1, "thread count ", n);
  openblas_set_num_threads(n);
}

int gemm_threads() { return openblas_get_num_threads(); }

}  // namespace mc

// GEMM entry points of the engine: row-major single-precision matrix products on OpenBLAS's
// cblas_sgemm (measured at ~100 GFLOP/s per core here, bench/perf-baseline.md §2), plus the thread
// count OpenBLAS uses. Everything else in the engine is single-threaded for now, so this one knob sets
// the engine's parallelism. A scalar reference (gemm_ref) exists for tests of callers' fast paths.
#pragma once
#include <cstdint>

namespace mc {

/// C (M, N) = alpha · op(A) · op(B) + beta · C, all row-major with leading dimensions lda/ldb/ldc.
/// op(A) is (M, K): A is (M, K) when !trans_a, (K, M) when trans_a; op(B) is (K, N): B is (K, N) when
/// !trans_b, (N, K) when trans_b (a PyTorch Linear weight (out, in) is used with trans_b = true).
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

/// y (M) = alpha · A (M, K) · x (K) + beta · y with A row-major (leading dimension lda): cblas_sgemv,
/// which streams A once. For single-row products (decoding) sgemm would first repack all of A.
void gemv(int64_t M, int64_t K, float alpha, const float* A, int64_t lda, const float* x, float beta, float* y);

/// The same product computed with plain loops and double accumulation (tests only; slow).
void gemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
              int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

/// Sets the number of threads OpenBLAS uses for every later gemm (process-wide). n >= 1.
void gemm_set_threads(int n);
int gemm_threads();

}  // namespace mc

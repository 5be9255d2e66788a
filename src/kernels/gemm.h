// GEMM entry points of the engine: row-major single-precision matrix products on OpenBLAS's
// cblas_sgemm (measured at ~100 GFLOP/s per core here, bench/perf-baseline.md §2), bf16 × bf16 → fp32
// products on oneDNN's matmul (vdpbf16ps, ~220 GFLOP/s per core: 2× sgemm), and the thread count both
// use. Everything else in the engine is single-threaded for now, so this one knob sets the engine's
// parallelism. A scalar reference (gemm_ref) exists for tests of callers' fast paths.
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

/// C (M, N) = A (M, K) · op(B) in bf16 with fp32 accumulation, C overwritten, all row-major and dense
/// (leading dimension = row length). op(B) is (K, N): B is (N, K) when trans_b (a Linear weight (out, in)),
/// (K, N) otherwise. The products of bf16 values are exact in fp32, so C differs from gemm_ref on the
/// same (bf16-valued) inputs only by fp32 summation order. One oneDNN primitive per (K, N, trans_b) is
/// created on first use and kept (M is a runtime dimension). Call it from one thread at a time: oneDNN
/// as Debian builds it shares one scratchpad between executions (the engine's forward is one thread).
void gemm_bf16(bool trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* A, const uint16_t* B, float* C);

/// Whether this CPU multiplies bf16 natively (AVX512-BF16). Without it gemm_bf16 still works (oneDNN
/// emulates or falls back) but is not faster than fp32.
bool cpu_has_bf16();

/// Sets the number of threads OpenBLAS and oneDNN (OpenMP) use for every later gemm (process-wide). n >= 1.
void gemm_set_threads(int n);
int gemm_threads();

/// With `on`, the parallel work is oneDNN's (a model with bf16 weights): OpenBLAS runs on one thread
/// whatever gemm_set_threads says, because its workers spin after every parallel call and take the
/// cores oneDNN's OpenMP threads need (measured on 2 vCPUs: bf16 prefill at 2 threads went from
/// 620-680 to ~900 tok/s, a derived training run from 136 to 290 tok/s; at 1 thread it ran 195).
/// Results do not depend on it.
void gemm_set_bf16_threading(bool on);

}  // namespace mc

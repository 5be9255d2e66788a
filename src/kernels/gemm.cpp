#include "kernels/gemm.h"

#include <cblas.h>

#include <atomic>
#include <dnnl.hpp>
#include <map>
#include <mutex>
#include <tuple>
#ifdef MC_HAVE_OPENMP
#include <omp.h>
#endif

#include "core/error.h"

namespace mc {

namespace {

/// The engine's GEMM thread count (gemm_set_threads); 0 until set: OpenBLAS's own default then.
std::atomic<int> g_threads{0};
/// gemm_set_bf16_threading: oneDNN (OpenMP) gets the threads, OpenBLAS one.
std::atomic<bool> g_onednn_threads{false};

/// OpenBLAS's thread count before we changed it (its default: the number of cores).
int blas_default_threads() {
  static const int n = openblas_get_num_threads();
  return n;
}

/// Applies g_threads / g_onednn_threads to both libraries.
void apply_threads() {
  const int dflt = blas_default_threads();
  const int n = g_threads.load() > 0 ? g_threads.load() : dflt;
  openblas_set_num_threads(g_onednn_threads.load() ? 1 : n);
#ifdef MC_HAVE_OPENMP
  omp_set_num_threads(n);
#endif
}

}  // namespace

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

namespace {

/// oneDNN's CPU engine and one matmul primitive per (K, N, trans_b) with a runtime M.
struct Bf16Matmuls {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  std::mutex   mutex;
  std::map<std::tuple<int64_t, int64_t, bool>, dnnl::matmul> prims;

  static Bf16Matmuls& get() {
    static Bf16Matmuls m;
    return m;
  }

  dnnl::matmul prim(int64_t N, int64_t K, bool trans_b) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    std::lock_guard<std::mutex> lock(mutex);
    auto key = std::make_tuple(K, N, trans_b);
    auto it = prims.find(key);
    if (it != prims.end()) return it->second;
    const dnnl::memory::dim RM = DNNL_RUNTIME_DIM_VAL;
    dnnl::memory::desc a({RM, K}, dt::bf16, tag::ab);                       // A (M, K)
    dnnl::memory::desc b({K, N}, dt::bf16, trans_b ? tag::ba : tag::ab);    // op(B) (K, N)
    dnnl::memory::desc c({RM, N}, dt::f32, tag::ab);                        // C (M, N)
    try {
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), engine);
      return prims.emplace(key, dnnl::matmul(pd)).first->second;
    } catch (const dnnl::error& e) {  // no bf16 matmul on this CPU (oneDNN needs AVX-512)
      throw Error("kernels", str("oneDNN cannot multiply bf16 on this CPU (", e.what(), "); use --dtype f32"));
    }
  }
};

}  // namespace

void gemm_bf16(bool trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* A, const uint16_t* B, float* C) {
  if (M == 0 || N == 0) return;
  MC_CHECK(M > 0 && N > 0 && K > 0, "gemm_bf16 dims ", M, "x", N, "x", K);
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  Bf16Matmuls& mm = Bf16Matmuls::get();
  dnnl::matmul prim = mm.prim(N, K, trans_b);
  // oneDNN takes non-const handles; it only reads src and weights
  dnnl::memory a({{M, K}, dt::bf16, tag::ab}, mm.engine, const_cast<uint16_t*>(A));
  dnnl::memory b({{K, N}, dt::bf16, trans_b ? tag::ba : tag::ab}, mm.engine, const_cast<uint16_t*>(B));
  dnnl::memory c({{M, N}, dt::f32, tag::ab}, mm.engine, C);
  dnnl::stream s(mm.engine);
  prim.execute(s, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
  s.wait();
}

bool cpu_has_bf16() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16");
}

void gemm_set_threads(int n) {
  MC_CHECK(n >= 1, "thread count ", n);
  blas_default_threads();  // remember OpenBLAS's default before the first change
  g_threads.store(n);
  apply_threads();
}

void gemm_set_bf16_threading(bool on) {
  blas_default_threads();
  g_onednn_threads.store(on);
  apply_threads();
}

int gemm_threads() {
  const int n = g_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : blas_default_threads();
}

}  // namespace mc

// Minimal matrix types for the geometry library: a non-owning row-major view over float or double
// data (a weight (out, in) exactly as HF stores it, or an activation matrix (N, D)) and an owning
// row-major double matrix for results. Not a tensor library: just enough to hand buffers to
// LAPACK/BLAS without copies. Dims are in PyTorch order (rows first).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mc::geometry {

/// Read-only view of a row-major matrix: element (i, j) is data[i * ld + j], ld >= cols.
template <typename T>
struct MatrixView {
  const T* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t ld = 0;  // row stride in elements

  MatrixView() = default;
  MatrixView(const T* d, int64_t r, int64_t c) : data(d), rows(r), cols(c), ld(c) {}
  MatrixView(const T* d, int64_t r, int64_t c, int64_t stride) : data(d), rows(r), cols(c), ld(stride) {}

  const T& operator()(int64_t i, int64_t j) const { return data[i * ld + j]; }
  const T* row(int64_t i) const { return data + i * ld; }
  bool empty() const { return rows == 0 || cols == 0; }
};

using MatrixViewF = MatrixView<float>;
using MatrixViewD = MatrixView<double>;

/// Owning row-major double matrix (rows, cols), contiguous.
struct MatrixD {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<double> data;  // (rows, cols)

  MatrixD() = default;
  MatrixD(int64_t r, int64_t c) : rows(r), cols(c), data(static_cast<size_t>(r * c), 0.0) {}

  double& operator()(int64_t i, int64_t j) { return data[static_cast<size_t>(i * cols + j)]; }
  double operator()(int64_t i, int64_t j) const { return data[static_cast<size_t>(i * cols + j)]; }
  MatrixViewD view() const { return {data.data(), rows, cols}; }
};

/// Throws mc::Error([component] "<what>: ...") when the view is malformed (null data with a non-zero
/// size, negative dims, ld < cols) or holds a NaN/Inf. Every public estimator calls this first:
/// LAPACK on non-finite input can loop or return garbage without an error code.
template <typename T>
void check_matrix(MatrixView<T> a, const std::string& component, const std::string& what);

/// Copies a view into a contiguous row-major double buffer (rows * cols), exactly (float -> double is exact).
template <typename T>
std::vector<double> to_double(MatrixView<T> a);

}  // namespace mc::geometry

// Tensor: an owning, contiguous, row-major fp32 array of up to 4 dims in PyTorch dim order ((B, T, D);
// a weight is (out, in) as HF stores it), and TensorView, a non-owning pointer + shape over one.
// Deliberately small (style/anchors.md §3.3): no strides, no dtype, no autograd. Kernels take raw
// pointers plus explicit dims (llm.c style); Tensor only owns and describes the buffers they work on.
// Buffers are reused: resize() keeps the allocation when the element count does not grow.
#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace mc {

inline constexpr int kTensorMaxDims = 4;

struct Shape {
  std::array<int64_t, kTensorMaxDims> dims{};
  int                                 ndim = 0;

  Shape() = default;
  Shape(std::initializer_list<int64_t> d);
  int64_t numel() const;
  int64_t operator[](int i) const { return dims[static_cast<size_t>(i)]; }
  bool operator==(const Shape& o) const;
  std::string to_string() const;  // "(2, 3, 4)"
};

/// Non-owning view: `data` holds shape.numel() contiguous floats.
struct TensorView {
  float* data = nullptr;
  Shape  shape;
  int64_t numel() const { return shape.numel(); }
};

class Tensor {
 public:
  Tensor() = default;
  /// Zero-filled tensor of the given shape.
  explicit Tensor(const Shape& shape);
  Tensor(std::initializer_list<int64_t> dims) : Tensor(Shape(dims)) {}

  /// Gives the tensor a new shape. Contents are unspecified afterwards (zero where memory was added);
  /// the allocation is kept when it is large enough, so per-step buffers are not reallocated.
  void resize(const Shape& shape);
  /// resize() and fill with zeros.
  void resize_zero(const Shape& shape);
  void fill(float v);

  float*       data() { return data_.data(); }
  const float* data() const { return data_.data(); }
  const Shape& shape() const { return shape_; }
  int          ndim() const { return shape_.ndim; }
  int64_t      dim(int i) const { return shape_[i]; }
  int64_t      numel() const { return shape_.numel(); }
  bool         empty() const { return numel() == 0; }
  float&       operator[](int64_t i) { return data_[static_cast<size_t>(i)]; }
  float        operator[](int64_t i) const { return data_[static_cast<size_t>(i)]; }
  /// Pointer to row `r` of the tensor seen as (numel / dim(-1), dim(-1)).
  float*       row(int64_t r) { return data() + r * shape_[shape_.ndim - 1]; }
  const float* row(int64_t r) const { return data() + r * shape_[shape_.ndim - 1]; }
  TensorView   view() { return {data(), shape_}; }

 private:
  std::vector<float> data_;
  Shape              shape_;
};

}  // namespace mc

#include "tensor/tensor.h"

#include <algorithm>

#include "core/error.h"

namespace mc {

Shape::Shape(std::initializer_list<int64_t> d) {
  MC_CHECK(d.size() <= static_cast<size_t>(kTensorMaxDims), "a tensor has at most ", kTensorMaxDims, " dims");
  for (int64_t x : d) {
    MC_CHECK(x >= 0, "negative dimension ", x);
    dims[static_cast<size_t>(ndim++)] = x;
  }
}

int64_t Shape::numel() const {
  if (ndim == 0) return 0;
  int64_t n = 1;
  for (int i = 0; i < ndim; ++i) n *= dims[static_cast<size_t>(i)];
  return n;
}

bool Shape::operator==(const Shape& o) const {
  if (ndim != o.ndim) return false;
  for (int i = 0; i < ndim; ++i)
    if (dims[static_cast<size_t>(i)] != o.dims[static_cast<size_t>(i)]) return false;
  return true;
}

std::string Shape::to_string() const {
  std::string s = "(";
  for (int i = 0; i < ndim; ++i) s += (i ? ", " : "") + std::to_string(dims[static_cast<size_t>(i)]);
  return s + ")";
}

Tensor::Tensor(const Shape& shape) { resize_zero(shape); }

void Tensor::resize(const Shape& shape) {
  shape_ = shape;
  size_t n = static_cast<size_t>(shape.numel());
  if (data_.size() < n) data_.resize(n, 0.0f);
}

void Tensor::resize_zero(const Shape& shape) {
  resize(shape);
  fill(0.0f);
}

void Tensor::fill(float v) { std::fill(data_.begin(), data_.begin() + numel(), v); }

}  // namespace mc

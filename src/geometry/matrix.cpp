// Validation and conversion helpers for the geometry matrix views.
#include "geometry/matrix.h"

#include <cmath>

#include "core/error.h"

namespace mc::geometry {

template <typename T>
void check_matrix(MatrixView<T> a, const std::string& component, const std::string& what) {
  if (a.rows < 0 || a.cols < 0)
    throw Error(component, str(what, ": negative shape (", a.rows, ", ", a.cols, ")"));
  if (a.ld < a.cols) throw Error(component, str(what, ": row stride ", a.ld, " is smaller than ", a.cols, " columns"));
  if (a.rows > 0 && a.cols > 0 && a.data == nullptr) throw Error(component, str(what, ": no data"));
  for (int64_t i = 0; i < a.rows; ++i) {
    const T* r = a.row(i);
    for (int64_t j = 0; j < a.cols; ++j) {
      if (!std::isfinite(r[j]))
        throw Error(component, str(what, ": non-finite value ", r[j], " at (", i, ", ", j, ")"));
    }
  }
}

template <typename T>
std::vector<double> to_double(MatrixView<T> a) {
  std::vector<double> out(static_cast<size_t>(a.rows * a.cols));
  for (int64_t i = 0; i < a.rows; ++i) {
    const T* r = a.row(i);
    double* o = out.data() + i * a.cols;
    for (int64_t j = 0; j < a.cols; ++j) o[j] = static_cast<double>(r[j]);
  }
  return out;
}

template void check_matrix<float>(MatrixView<float>, const std::string&, const std::string&);
template void check_matrix<double>(MatrixView<double>, const std::string&, const std::string&);
template std::vector<double> to_double<float>(MatrixView<float>);
template std::vector<double> to_double<double>(MatrixView<double>);

}  // namespace mc::geometry

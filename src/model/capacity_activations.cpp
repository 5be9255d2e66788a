// Activation matrix loading from .npy / .safetensors; see capacity_activations.h.
#include "model/capacity_activations.h"

#include <cstring>

#include "core/error.h"
#include "core/fs.h"
#include "io/safetensors.h"

namespace mc {

namespace {

bool has_ext(const std::string& path, const std::string& ext) {
  return path.size() > ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0;
}

}  // namespace

geometry::DenseMatrix activation_matrix_load(const std::string& path, const std::string& tensor) {
  if (!path_exists(path)) throw Error("activations", path + ": no such file");
  if (is_directory(path)) throw Error("activations", path + ": is a directory (expected a .npy or .safetensors file)");
  if (has_ext(path, ".npy")) {
    if (!tensor.empty()) throw Error("activations", path + ": --tensor applies to .safetensors files only");
    return geometry::npy_load(path);
  }
  if (!has_ext(path, ".safetensors"))
    throw Error("activations", path + ": unknown file type (expected .npy or .safetensors)");
  SafetensorsFile f = SafetensorsFile::open(path);
  const SafetensorsTensorInfo* t = nullptr;
  if (tensor.empty()) {
    if (f.tensors().size() != 1)
      throw Error("activations", path + ": holds " + std::to_string(f.tensors().size()) +
                                     " tensors; pick one with --tensor NAME");
    t = &f.tensors()[0];
  } else {
    t = f.find(tensor);
    if (!t) throw Error("activations", path + ": no tensor named '" + tensor + "'");
  }
  if (!(t->dtype == Dtype::F32 || t->dtype == Dtype::F64 || t->dtype == Dtype::F16 || t->dtype == Dtype::BF16))
    throw Error("activations", path + ": tensor '" + t->name + "' has dtype " + std::string(dtype_name(t->dtype)) +
                                   " (need a floating-point type)");
  if (t->shape.size() != 2)
    throw Error("activations", path + ": tensor '" + t->name + "' is " + std::to_string(t->shape.size()) +
                                   "-D (expected 2-D: samples × features)");
  if (t->shape[0] == 0 || t->shape[1] == 0) throw Error("activations", path + ": tensor '" + t->name + "' is empty");
  geometry::DenseMatrix m;
  m.rows = t->shape[0];
  m.cols = t->shape[1];
  m.dtype = std::string(dtype_name(t->dtype));
  if (t->dtype == Dtype::F64) {
    auto raw = f.raw(*t);
    m.data.resize(static_cast<size_t>(m.rows * m.cols));
    std::memcpy(m.data.data(), raw.data(), raw.size());
  } else {
    std::vector<float> v = f.to_f32(*t);
    m.data.assign(v.begin(), v.end());
  }
  return m;
}

}  // namespace mc

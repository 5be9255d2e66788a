// Activation matrices for the file-based analyses (`mc analyze intrinsic-dimension`, `mc analyze cka`):
// a 2-D float tensor (N samples, D features) from a .npy file (geometry/report/npy.h, strict) or from a
// .safetensors file (one tensor picked by name, or the only one). Rows are samples.
#pragma once
#include <string>

#include "geometry/report/npy.h"

namespace mc {

/// Loads FILE: by extension, .npy or .safetensors. `tensor` names the safetensors tensor; empty means
/// "the only tensor" (an error when the file holds several, listing how many). Throws mc::Error
/// ("[npy] ..." / "[safetensors] ..." / "[activations] ...") for a missing file, an unknown extension,
/// a missing or ambiguous tensor, a tensor that is not 2-D, empty or of a non-float dtype.
geometry::DenseMatrix activation_matrix_load(const std::string& path, const std::string& tensor = "");

}  // namespace mc

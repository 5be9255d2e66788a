// Element types at the I/O boundary and the exact conversions between them. Compute is fp32; bf16 and
// f16 exist in files and (later) in weight storage. bf16 is written with round-to-nearest-even and NaNs
// stay quiet NaNs (safetensors/PyTorch behaviour); f16 conversion is IEEE 754 binary16 with RNE.
#pragma once
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace mc {

enum class Dtype : uint8_t { F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL };

/// Bytes per element.
size_t dtype_size(Dtype dt);
/// safetensors spelling: "F32", "BF16", "BOOL", ...
std::string_view dtype_name(Dtype dt);
/// Parses a safetensors dtype string; nullopt for anything unknown.
std::optional<Dtype> dtype_from_name(std::string_view name);
bool dtype_is_float(Dtype dt);

inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float f32_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/// bf16 -> f32 is exact: the bf16 bits are the top half of the f32.
inline float bf16_to_f32(uint16_t h) { return f32_from_bits(static_cast<uint32_t>(h) << 16); }

/// f32 -> bf16 with round-to-nearest-even; NaN becomes a quiet NaN with the same sign.
inline uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

/// IEEE binary16 -> f32 (exact, subnormals included).
float f16_to_f32(uint16_t h);
/// f32 -> IEEE binary16 with round-to-nearest-even; overflow goes to ±inf, NaN stays NaN.
uint16_t f32_to_f16(float f);

/// Converts `n` elements of a float dtype (F64/F32/F16/BF16) or integer dtype at `src` to f32.
void convert_to_f32(Dtype dt, const void* src, float* dst, size_t n);

}  // namespace mc

#include "tensor/dtype.h"

#include "core/error.h"

namespace mc {

size_t dtype_size(Dtype dt) {
  switch (dt) {
    case Dtype::F64: case Dtype::I64: case Dtype::U64: return 8;
    case Dtype::F32: case Dtype::I32: case Dtype::U32: return 4;
    case Dtype::F16: case Dtype::BF16: case Dtype::I16: case Dtype::U16: return 2;
    case Dtype::I8: case Dtype::U8: case Dtype::BOOL: return 1;
  }
  MC_CHECK(false, "unknown dtype ", static_cast<int>(dt));
  return 0;
}

std::string_view dtype_name(Dtype dt) {
  switch (dt) {
    case Dtype::F64: return "F64";
    case Dtype::F32: return "F32";
    case Dtype::F16: return "F16";
    case Dtype::BF16: return "BF16";
    case Dtype::I64: return "I64";
    case Dtype::I32: return "I32";
    case Dtype::I16: return "I16";
    case Dtype::I8: return "I8";
    case Dtype::U64: return "U64";
    case Dtype::U32: return "U32";
    case Dtype::U16: return "U16";
    case Dtype::U8: return "U8";
    case Dtype::BOOL: return "BOOL";
  }
  return "?";
}

std::optional<Dtype> dtype_from_name(std::string_view name) {
  static constexpr Dtype all[] = {Dtype::F64, Dtype::F32, Dtype::F16, Dtype::BF16, Dtype::I64,
                                  Dtype::I32, Dtype::I16, Dtype::I8,  Dtype::U64,  Dtype::U32,
                                  Dtype::U16, Dtype::U8,  Dtype::BOOL};
  for (Dtype dt : all)
    if (dtype_name(dt) == name) return dt;
  return std::nullopt;
}

bool dtype_is_float(Dtype dt) {
  return dt == Dtype::F64 || dt == Dtype::F32 || dt == Dtype::F16 || dt == Dtype::BF16;
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        e++;
        man <<= 1;
      } while ((man & 0x400u) == 0);
      bits = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  return f32_from_bits(bits);
}

uint16_t f32_to_f16(float f) {
  uint32_t u = f32_bits(f);
  uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));  // NaN
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520 -> inf
  if (a < 0x38800000u) {  // result is subnormal or zero
    if (a < 0x33000000u) return sign;  // below half the smallest subnormal
    uint32_t exp = a >> 23;
    uint32_t man = (a & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - exp;  // 113 - exp + 13
    uint32_t half = man >> shift;
    uint32_t rem = man & ((1u << shift) - 1u);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u))) half++;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t r = a - 0x38000000u;  // rebias exponent 127 -> 15
  r += 0xfffu + ((r >> 13) & 1u);
  return static_cast<uint16_t>(sign | (r >> 13));
}

void convert_to_f32(Dtype dt, const void* src, float* dst, size_t n) {
  const auto* b = static_cast<const uint8_t*>(src);
  auto load = [&](auto tag, size_t i) {
    decltype(tag) v;
    std::memcpy(&v, b + i * sizeof(v), sizeof(v));
    return v;
  };
  for (size_t i = 0; i < n; ++i) {
    switch (dt) {
      case Dtype::F64: dst[i] = static_cast<float>(load(double{}, i)); break;
      case Dtype::F32: dst[i] = load(float{}, i); break;
      case Dtype::F16: dst[i] = f16_to_f32(load(uint16_t{}, i)); break;
      case Dtype::BF16: dst[i] = bf16_to_f32(load(uint16_t{}, i)); break;
      case Dtype::I64: dst[i] = static_cast<float>(load(int64_t{}, i)); break;
      case Dtype::I32: dst[i] = static_cast<float>(load(int32_t{}, i)); break;
      case Dtype::I16: dst[i] = static_cast<float>(load(int16_t{}, i)); break;
      case Dtype::I8: dst[i] = static_cast<float>(load(int8_t{}, i)); break;
      case Dtype::U64: dst[i] = static_cast<float>(load(uint64_t{}, i)); break;
      case Dtype::U32: dst[i] = static_cast<float>(load(uint32_t{}, i)); break;
      case Dtype::U16: dst[i] = static_cast<float>(load(uint16_t{}, i)); break;
      case Dtype::U8: case Dtype::BOOL: dst[i] = static_cast<float>(b[i]); break;
    }
  }
}

}  // namespace mc

// ggml type table (block sizes, names) and dequantization of F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0,
// Q5_1, Q4_K, Q5_K and Q6_K blocks to f32. Mirrors gguf-py 0.19.0 `gguf/quants.py` (`dequantize_blocks`
// of each class), whose numpy code computes every step in f32: we do the same operations in the same
// order, one rounding per operation, so the results are identical bit for bit (tests/golden checks it).
// The products and sums must never be fused into an FMA (that would skip a rounding): GCC compiles
// ISO C++ with -ffp-contract=off, and we switch contraction off explicitly below for both compilers.
// Not here: quantization, and the other ggml types (Q2_K, Q3_K, Q8_K, IQ*, TQ*, ...), which throw.
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/gguf.h"
#include "tensor/dtype.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace mc {

namespace {

struct TypeTraits {
  GgmlType    type;
  const char* name;
  uint64_t    block_elems;
  uint64_t    block_bytes;
  bool        supported;
};

// Block sizes as gguf-py 0.19.0 constants.GGML_QUANT_SIZES.
constexpr TypeTraits kTypes[] = {
    {GgmlType::F32, "F32", 1, 4, true},
    {GgmlType::F16, "F16", 1, 2, true},
    {GgmlType::Q4_0, "Q4_0", 32, 2 + 16, true},
    {GgmlType::Q4_1, "Q4_1", 32, 2 + 2 + 16, true},
    {GgmlType::Q5_0, "Q5_0", 32, 2 + 4 + 16, true},
    {GgmlType::Q5_1, "Q5_1", 32, 2 + 2 + 4 + 16, true},
    {GgmlType::Q8_0, "Q8_0", 32, 2 + 32, true},
    {GgmlType::Q8_1, "Q8_1", 32, 4 + 4 + 32, false},
    {GgmlType::Q2_K, "Q2_K", 256, 2 + 2 + 256 / 16 + 256 / 4, false},
    {GgmlType::Q3_K, "Q3_K", 256, 2 + 256 / 4 + 256 / 8 + 12, false},
    {GgmlType::Q4_K, "Q4_K", 256, 2 + 2 + 256 / 2 + 12, true},
    {GgmlType::Q5_K, "Q5_K", 256, 2 + 2 + 256 / 2 + 256 / 8 + 12, true},
    {GgmlType::Q6_K, "Q6_K", 256, 2 + 256 / 2 + 256 / 4 + 256 / 16, true},
    {GgmlType::Q8_K, "Q8_K", 256, 4 + 256 + 256 / 8, false},
    {GgmlType::IQ2_XXS, "IQ2_XXS", 256, 2 + 256 / 4, false},
    {GgmlType::IQ2_XS, "IQ2_XS", 256, 2 + 256 / 4 + 256 / 32, false},
    {GgmlType::IQ3_XXS, "IQ3_XXS", 256, 2 + 256 / 4 + 256 / 8, false},
    {GgmlType::IQ1_S, "IQ1_S", 256, 2 + 256 / 8 + 256 / 16, false},
    {GgmlType::IQ4_NL, "IQ4_NL", 32, 2 + 16, false},
    {GgmlType::IQ3_S, "IQ3_S", 256, 2 + 256 / 4 + 256 / 8 + 256 / 32 + 4, false},
    {GgmlType::IQ2_S, "IQ2_S", 256, 2 + 256 / 4 + 256 / 16, false},
    {GgmlType::IQ4_XS, "IQ4_XS", 256, 2 + 2 + 256 / 2 + 256 / 64, false},
    {GgmlType::I8, "I8", 1, 1, false},
    {GgmlType::I16, "I16", 1, 2, false},
    {GgmlType::I32, "I32", 1, 4, false},
    {GgmlType::I64, "I64", 1, 8, false},
    {GgmlType::F64, "F64", 1, 8, false},
    {GgmlType::IQ1_M, "IQ1_M", 256, 256 / 8 + 256 / 16 + 256 / 32, false},
    {GgmlType::BF16, "BF16", 1, 2, true},
    {GgmlType::TQ1_0, "TQ1_0", 256, 2 + 4 * 13, false},
    {GgmlType::TQ2_0, "TQ2_0", 256, 2 + 64, false},
    {GgmlType::MXFP4, "MXFP4", 32, 1 + 16, false},
    {GgmlType::NVFP4, "NVFP4", 64, 4 + 32, false},
    {GgmlType::Q1_0, "Q1_0", 128, 2 + 16, false},
};

const TypeTraits* traits(GgmlType t) {
  for (const TypeTraits& tt : kTypes)
    if (tt.type == t) return &tt;
  return nullptr;
}

inline uint16_t load_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline uint32_t load_u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}
// numpy's f16 -> f32 cast is exact (NaN payloads kept, signalling NaNs not quieted), as is f16_to_f32.
inline float load_f16(const uint8_t* p) { return f16_to_f32(load_u16(p)); }

// f16 -> f32 bits for all 65536 halves, so F16 tensors convert with one load per element.
const uint32_t* f16_table() {
  static const std::vector<uint32_t> table = [] {
    std::vector<uint32_t> t(65536);
    for (uint32_t h = 0; h < 65536; h++) t[h] = f32_bits(f16_to_f32(static_cast<uint16_t>(h)));
    return t;
  }();
  return table.data();
}

// Q4_0 (18 bytes): d f16 | qs[16]. y[j] = d * ((qs[j] & 0xF) - 8), y[j+16] = d * ((qs[j] >> 4) - 8).
void block_q4_0(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 16; j++) {
    y[j]      = d * static_cast<float>((qs[j] & 0x0F) - 8);
    y[j + 16] = d * static_cast<float>((qs[j] >> 4) - 8);
  }
}

// Q4_1 (20 bytes): d f16 | m f16 | qs[16]. y = (d * q) + m, two roundings.
void block_q4_1(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const float m = load_f16(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < 16; j++) {
    const float lo = d * static_cast<float>(qs[j] & 0x0F);
    const float hi = d * static_cast<float>(qs[j] >> 4);
    y[j]      = lo + m;
    y[j + 16] = hi + m;
  }
}

// Q5_0 (22 bytes): d f16 | qh u32 | qs[16]. Element j takes bit j of qh as its fifth bit; q - 16.
void block_q5_0(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const uint32_t qh = load_u32(b + 2);
  const uint8_t* qs = b + 6;
  for (int j = 0; j < 16; j++) {
    const int lo = (qs[j] & 0x0F) | static_cast<int>(((qh >> j) & 1u) << 4);
    const int hi = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
    y[j]      = d * static_cast<float>(lo - 16);
    y[j + 16] = d * static_cast<float>(hi - 16);
  }
}

// Q5_1 (24 bytes): d f16 | m f16 | qh u32 | qs[16]. y = (d * q) + m.
void block_q5_1(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const float m = load_f16(b + 2);
  const uint32_t qh = load_u32(b + 4);
  const uint8_t* qs = b + 8;
  for (int j = 0; j < 16; j++) {
    const uint32_t lo = (qs[j] & 0x0Fu) | (((qh >> j) & 1u) << 4);
    const uint32_t hi = (static_cast<uint32_t>(qs[j]) >> 4) | (((qh >> (j + 16)) & 1u) << 4);
    const float plo = d * static_cast<float>(lo);
    const float phi = d * static_cast<float>(hi);
    y[j]      = plo + m;
    y[j + 16] = phi + m;
  }
}

// Q8_0 (34 bytes): d f16 | int8 qs[32]. y = q * d.
void block_q8_0(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 32; j++) y[j] = static_cast<float>(static_cast<int8_t>(qs[j])) * d;
}

// The 12 packed scale bytes of Q4_K/Q5_K hold 8 six-bit scales and 8 six-bit mins
// (gguf-py Q4_K.get_scale_min): bytes 0-3 low scales, 4-7 low mins, 8-11 the high parts.
void k_scale_min(const uint8_t* s, uint8_t* sc, uint8_t* mn) {
  for (int i = 0; i < 4; i++) {
    sc[i]     = s[i] & 0x3F;
    mn[i]     = s[4 + i] & 0x3F;
    sc[4 + i] = static_cast<uint8_t>((s[8 + i] & 0x0F) | ((s[i] >> 2) & 0x30));
    mn[4 + i] = static_cast<uint8_t>((s[8 + i] >> 4) | ((s[4 + i] >> 2) & 0x30));
  }
}

// Q4_K (144 bytes): d f16 | dmin f16 | scales[12] | qs[128]. Sub-block j (32 elements) has
// D = d * sc[j] and M = dmin * mn[j] (each rounded to f32), then y = (D * q) - M.
// Sub-blocks 2c and 2c+1 are the low and high nibbles of qs[32c .. 32c+31].
void block_q4_k(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const float dmin = load_f16(b + 2);
  uint8_t sc[8], mn[8];
  k_scale_min(b + 4, sc, mn);
  const uint8_t* qs = b + 16;
  for (int c = 0; c < 4; c++) {
    const float d_lo = d * static_cast<float>(sc[2 * c]);
    const float m_lo = dmin * static_cast<float>(mn[2 * c]);
    const float d_hi = d * static_cast<float>(sc[2 * c + 1]);
    const float m_hi = dmin * static_cast<float>(mn[2 * c + 1]);
    float* y_lo = y + 64 * c;
    float* y_hi = y_lo + 32;
    const uint8_t* q = qs + 32 * c;
    for (int l = 0; l < 32; l++) {
      const float p_lo = d_lo * static_cast<float>(q[l] & 0x0F);
      const float p_hi = d_hi * static_cast<float>(q[l] >> 4);
      y_lo[l] = p_lo - m_lo;
      y_hi[l] = p_hi - m_hi;
    }
  }
}

// Q5_K (176 bytes): d f16 | dmin f16 | scales[12] | qh[32] | qs[128]. As Q4_K, plus bit j of qh[l]
// is the fifth bit of element l of sub-block j.
void block_q5_k(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const float dmin = load_f16(b + 2);
  uint8_t sc[8], mn[8];
  k_scale_min(b + 4, sc, mn);
  const uint8_t* qh = b + 16;
  const uint8_t* qs = b + 48;
  for (int j = 0; j < 8; j++) {
    const float dj = d * static_cast<float>(sc[j]);
    const float mj = dmin * static_cast<float>(mn[j]);
    const uint8_t* q = qs + 32 * (j / 2);
    const int shift = 4 * (j % 2);
    float* yj = y + 32 * j;
    for (int l = 0; l < 32; l++) {
      const uint32_t v = ((static_cast<uint32_t>(q[l]) >> shift) & 0x0Fu) | (((static_cast<uint32_t>(qh[l]) >> j) & 1u) << 4);
      const float p = dj * static_cast<float>(v);
      yj[l] = p - mj;
    }
  }
}

// Q6_K (210 bytes): ql[128] | qh[64] | int8 scales[16] | d f16. Element e = 128h + 32t + l
// (h in 0..1, t in 0..3, l in 0..31) has low nibble (ql[64h + 32(t%2) + l] >> 4(t/2)) & 0xF and high
// bits (qh[32h + l] >> 2t) & 3; q = value - 32, y = (d * scales[e/16]) * q.
void block_q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192);
  const float d = load_f16(b + 208);
  float ds[16];
  for (int k = 0; k < 16; k++) ds[k] = d * static_cast<float>(scales[k]);
  for (int h = 0; h < 2; h++) {
    for (int t = 0; t < 4; t++) {
      const uint8_t* qlp = ql + 64 * h + 32 * (t % 2);
      const int lshift = 4 * (t / 2);
      const uint8_t* qhp = qh + 32 * h;
      const int hshift = 2 * t;
      const int e0 = 128 * h + 32 * t;
      for (int l = 0; l < 32; l++) {
        const int v = ((qlp[l] >> lshift) & 0x0F) | (((qhp[l] >> hshift) & 3) << 4);
        y[e0 + l] = ds[(e0 + l) / 16] * static_cast<float>(v - 32);
      }
    }
  }
}

template <void (*Block)(const uint8_t*, float*)>
void run_blocks(const uint8_t* src, float* dst, uint64_t n_blocks, uint64_t block_elems, uint64_t block_bytes) {
  for (uint64_t i = 0; i < n_blocks; i++) Block(src + i * block_bytes, dst + i * block_elems);
}

}  // namespace

std::string ggml_type_name(GgmlType t) {
  const TypeTraits* tt = traits(t);
  return tt ? std::string(tt->name) : str("type", static_cast<uint32_t>(t));
}

bool ggml_type_block(GgmlType t, uint64_t* block_elems, uint64_t* block_bytes) {
  const TypeTraits* tt = traits(t);
  if (tt == nullptr) return false;
  if (block_elems) *block_elems = tt->block_elems;
  if (block_bytes) *block_bytes = tt->block_bytes;
  return true;
}

bool ggml_type_supported(GgmlType t) {
  const TypeTraits* tt = traits(t);
  return tt != nullptr && tt->supported;
}

void ggml_dequantize(GgmlType type, const uint8_t* src, float* dst, uint64_t n) {
  const TypeTraits* tt = traits(type);
  if (tt == nullptr || !tt->supported)
    throw Error("gguf", str("quant type ", ggml_type_name(type), " cannot be dequantized by mc"));
  MC_CHECK(n % tt->block_elems == 0, "ggml_dequantize: ", n, " elements is not a multiple of the ",
           tt->name, " block size ", tt->block_elems);
  const uint64_t nb = n / tt->block_elems;
  const uint64_t be = tt->block_elems, bb = tt->block_bytes;
  switch (type) {
    case GgmlType::F32:
      if (n > 0) std::memcpy(dst, src, n * 4);
      break;
    case GgmlType::F16: {
      const uint32_t* table = f16_table();
      for (uint64_t i = 0; i < n; i++) {
        const uint32_t bits = table[load_u16(src + 2 * i)];
        std::memcpy(dst + i, &bits, 4);
      }
      break;
    }
    case GgmlType::BF16:  // gguf-py: (int16 -> int32) << 16, viewed as f32; the bits move unchanged
      for (uint64_t i = 0; i < n; i++) {
        const uint32_t bits = static_cast<uint32_t>(load_u16(src + 2 * i)) << 16;
        std::memcpy(dst + i, &bits, 4);
      }
      break;
    case GgmlType::Q4_0: run_blocks<block_q4_0>(src, dst, nb, be, bb); break;
    case GgmlType::Q4_1: run_blocks<block_q4_1>(src, dst, nb, be, bb); break;
    case GgmlType::Q5_0: run_blocks<block_q5_0>(src, dst, nb, be, bb); break;
    case GgmlType::Q5_1: run_blocks<block_q5_1>(src, dst, nb, be, bb); break;
    case GgmlType::Q8_0: run_blocks<block_q8_0>(src, dst, nb, be, bb); break;
    case GgmlType::Q4_K: run_blocks<block_q4_k>(src, dst, nb, be, bb); break;
    case GgmlType::Q5_K: run_blocks<block_q5_k>(src, dst, nb, be, bb); break;
    case GgmlType::Q6_K: run_blocks<block_q6_k>(src, dst, nb, be, bb); break;
    default:
      MC_CHECK(false, "ggml_dequantize: type ", tt->name, " is marked supported but has no kernel");
  }
}

}  // namespace mc

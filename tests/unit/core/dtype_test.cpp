// bf16 / f16 conversions: exhaustive round trips and the rounding rules safetensors and PyTorch use.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tensor/dtype.h"

namespace mc {

TEST(Dtype, Bf16RoundTripsEveryPattern) {
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    float f = bf16_to_f32(static_cast<uint16_t>(h));
    uint16_t back = f32_to_bf16(f);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(bf16_to_f32(back)));
    } else {
      EXPECT_EQ(back, h) << std::hex << h;
    }
  }
}

TEST(Dtype, Bf16RoundsToNearestEven) {
  // 1 + 2^-8 is exactly half way between bf16 1.0 and the next value: ties go to even (1.0).
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  // 1 + 3·2^-8 is half way between 1+2^-7 (odd mantissa) and 1+2^-6: goes up to even.
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  // just above half way rounds up
  EXPECT_EQ(f32_to_bf16(std::nextafter(1.0f + std::ldexp(1.0f, -8), 2.0f)), 0x3f81);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  uint16_t nan = f32_to_bf16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_TRUE(std::isnan(bf16_to_f32(nan)));
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x7f800001u)) & 0x7fc0, 0x7fc0);  // signalling NaN made quiet
}

TEST(Dtype, F16RoundTripsEveryPattern) {
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    float f = f16_to_f32(static_cast<uint16_t>(h));
    uint16_t back = f32_to_f16(f);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(back)));
    } else {
      EXPECT_EQ(back, h) << std::hex << h;
    }
  }
}

TEST(Dtype, F16RoundingMatchesHalfWayRule) {
  // Compare against a double-precision oracle for values between neighbouring f16 values.
  for (uint32_t h = 0; h < 0x7bffu; h += 7) {
    double lo = f16_to_f32(static_cast<uint16_t>(h));
    double hi = f16_to_f32(static_cast<uint16_t>(h + 1));
    float mid = static_cast<float>((lo + hi) / 2);
    if (static_cast<double>(mid) != (lo + hi) / 2) continue;  // not representable in f32
    uint16_t expect = (h & 1u) ? static_cast<uint16_t>(h + 1) : static_cast<uint16_t>(h);
    EXPECT_EQ(f32_to_f16(mid), expect) << std::hex << h;
  }
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // rounds to infinity
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(1e-8f), 0x0000);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
}

TEST(Dtype, NamesRoundTrip) {
  for (const char* n : {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL"}) {
    auto dt = dtype_from_name(n);
    ASSERT_TRUE(dt.has_value()) << n;
    EXPECT_EQ(dtype_name(*dt), n);
  }
  EXPECT_FALSE(dtype_from_name("F8_E4M3").has_value());
  EXPECT_FALSE(dtype_from_name("f32").has_value());
}

}  // namespace mc

// SHA-256 against the FIPS 180-4 example vectors (NIST "Examples with intermediate values") and
// digests computed with Python 3.11 hashlib.sha256 for lengths around the padding boundaries.
#include "core/sha256.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mc {
namespace {

std::string hex_of(std::string_view s) {
  return sha256_hex({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
}

// bytes (i*7+3) mod 256, i = 0..n-1: the pattern the hashlib digests below were computed on.
std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> b(n);
  for (size_t i = 0; i < n; i++) b[i] = static_cast<uint8_t>((i * 7 + 3) % 256);
  return b;
}

struct LengthCase {
  size_t      n;
  const char* hex;
};

// hashlib.sha256(bytes((i*7+3)%256 for i in range(n))).hexdigest()
const LengthCase kHashlibCases[] = {
    {55, "e7313d333c272e639f790978283f9eb392e843d0f29b7016828bb1daa4aac70b"},
    {56, "4324d65f3c103567f5589c710bc08f8523f929a9272e3af36fc968e52abc6c27"},
    {57, "35df609437dcfea3279283ab79fd554e2bf78f8f7ae2de532d8ee300b09e8f73"},
    {63, "81c80242132f230c3bd41b3e63bbcff16107339549214a99614ff26664625055"},
    {64, "39e3d7b6b5d075d37d053ad89b24b41bef4f3c29760c84447cab3f3be1882241"},
    {65, "aacca6ff74fdbb296d165a45cecfa04e5127bc008770fbbdd48006f2d2fae95e"},
    {119, "9ce7368e4daf32341631b492e80359dc9f594b48453cd0dd5bf0b19279cc177e"},
    {120, "7836b787757e95e58b3ca5aec90b1b004e8deba1e50e9675af9cabf1a13a04b5"},
    {127, "a8d23e75d936f303d248888d9b165ee543f4cbafcad3c9dd2a79bd84faa11d07"},
    {128, "d2742f1f4ac6bb7ca2b239ee18402ba8b3f9f8e652d2a72973c2b9ba11c08cf6"},
    {1000, "1e9bc38cbf860b9ec31918b065f9b52476c549a782e0e7990bed8ce3868d2371"},
};

TEST(Sha256, FipsVectors) {
  EXPECT_EQ(hex_of(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex_of("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(hex_of("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
                   "mnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(Sha256, MillionAs) {
  std::string a(1000000, 'a');
  EXPECT_EQ(hex_of(a), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // The same message fed in uneven pieces.
  Sha256 h;
  size_t pos = 0, step = 1;
  while (pos < a.size()) {
    size_t n = std::min(step, a.size() - pos);
    h.update(std::string_view(a).substr(pos, n));
    pos += n;
    step = step * 3 + 1;
    if (step > 5000) step = 7;
  }
  EXPECT_EQ(h.hex_digest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, PaddingBoundariesMatchHashlib) {
  for (const LengthCase& c : kHashlibCases) {
    std::vector<uint8_t> b = pattern(c.n);
    EXPECT_EQ(sha256_hex(b), c.hex) << "n = " << c.n;
  }
}

TEST(Sha256, IncrementalSplitsAgreeWithOneShot) {
  for (const LengthCase& c : kHashlibCases) {
    std::vector<uint8_t> b = pattern(c.n);
    for (size_t split = 0; split <= c.n; split += (c.n > 200 ? 37 : 1)) {
      Sha256 h;
      h.update(std::span<const uint8_t>(b).subspan(0, split));
      h.update(std::span<const uint8_t>(b).subspan(split));
      ASSERT_EQ(h.hex_digest(), c.hex) << "n = " << c.n << ", split = " << split;
    }
  }
}

TEST(Sha256, DigestResetsTheHasher) {
  Sha256 h;
  h.update(std::string_view("abc"));
  EXPECT_EQ(h.hex_digest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(h.hex_digest(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  h.update(std::string_view("ab"));
  h.reset();
  h.update(std::string_view("abc"));
  std::array<uint8_t, 32> d = h.digest();
  EXPECT_EQ(d[0], 0xba);
  EXPECT_EQ(d[31], 0xad);
}

}  // namespace
}  // namespace mc

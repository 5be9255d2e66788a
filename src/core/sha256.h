// SHA-256 (FIPS 180-4 §6.2): a one-shot hex digest and an incremental hasher. Used to fingerprint
// tensors and files (golden digests computed with Python's hashlib). Not constant-time and not meant for
// anything secret: it identifies bytes, it does not protect them.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace mc {

/// Incremental SHA-256: update() any number of times, then digest() or hex_digest() once.
class Sha256 {
 public:
  Sha256() { reset(); }
  /// Starts a new message.
  void reset();
  void update(std::span<const uint8_t> bytes);
  void update(const void* data, size_t n) { update({static_cast<const uint8_t*>(data), n}); }
  void update(std::string_view s) { update(s.data(), s.size()); }
  /// Finishes the message and returns the 32-byte digest; the hasher is reset afterwards.
  std::array<uint8_t, 32> digest();
  /// Finishes the message and returns the digest as 64 lowercase hex characters; resets the hasher.
  std::string hex_digest();

 private:
  void compress(const uint8_t* block);  // one 64-byte block

  std::array<uint32_t, 8> h_{};
  std::array<uint8_t, 64> buf_{};
  size_t                  buf_len_ = 0;   // bytes waiting in buf_
  uint64_t                total_   = 0;   // message length so far, in bytes
};

/// SHA-256 of `bytes` as 64 lowercase hex characters (the same text as hashlib.sha256(b).hexdigest()).
std::string sha256_hex(std::span<const uint8_t> bytes);

}  // namespace mc

// Number formatting for human-readable output: 134,515,008 / 134.5M / 256.3 MiB / 1e+05.
#pragma once
#include <cstdint>
#include <string>

namespace mc::cli {

std::string format_count(uint64_t n);      // 134515008 -> "134,515,008"
std::string format_si(double n);           // 134515008 -> "134.5M"
std::string format_bytes(uint64_t bytes);  // 269030400 -> "256.6 MiB"
std::string format_number(double x);       // shortest round-trip-ish: 100000 -> "100000", 1e-05 -> "1e-05"

}  // namespace mc::cli

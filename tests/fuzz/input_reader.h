// Reads a fuzz input front to back, little-endian; zeros once it runs out,
// so every input, however short, drives a whole run.
#pragma once

#include <cstddef>
#include <cstdint>

struct reader {
  const std::uint8_t* p;
  std::size_t n;
  bool empty() const { return n == 0; }
  std::uint64_t bytes(unsigned k)
  {
    std::uint64_t v = 0;
    for (unsigned i = 0; i < k; ++i, ++p, --n) {
      if (n == 0) break;
      v |= (std::uint64_t)*p << (8 * i);
    }
    return v;
  }
  std::uint8_t u8() { return (std::uint8_t)bytes(1); }
  std::uint16_t u16() { return (std::uint16_t)bytes(2); }
  std::uint32_t u32() { return (std::uint32_t)bytes(4); }
  std::uint64_t u64() { return bytes(8); }
};

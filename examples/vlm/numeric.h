// Number formats and the load checksum, the same on the host, in the loader
// kernel and in the simulator: fp16 / bf16 <-> fp32 by bit manipulation
// (no cuda_fp16.h, so plain C++ compiles it), and a position-dependent,
// order-independent checksum of a tensor's bytes.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define VLM_HD __host__ __device__
#else
#define VLM_HD
#endif

namespace vlm {

VLM_HD inline float bits_to_float(std::uint32_t u)
{
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
VLM_HD inline std::uint32_t float_to_bits(float f)
{
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

VLM_HD inline float bf16_to_float(std::uint16_t h) { return bits_to_float(std::uint32_t(h) << 16); }

// Round to nearest even; NaN stays NaN.
VLM_HD inline std::uint16_t float_to_bf16(float f)
{
  std::uint32_t u = float_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return std::uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return std::uint16_t(u >> 16);
}

VLM_HD inline float f16_to_float(std::uint16_t h)
{
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (exp == 0) {
    if (man == 0) return bits_to_float(sign);
    // subnormal: normalize
    exp = 127 - 15 + 1;
    while (!(man & 0x400u)) {
      man <<= 1;
      --exp;
    }
    man &= 0x3ffu;
    return bits_to_float(sign | (exp << 23) | (man << 13));
  }
  if (exp == 31) return bits_to_float(sign | 0x7f800000u | (man << 13));
  return bits_to_float(sign | ((exp + 127 - 15) << 23) | (man << 13));
}

// Round to nearest even, overflow to infinity.
VLM_HD inline std::uint16_t float_to_f16(float f)
{
  const std::uint32_t u = float_to_bits(f);
  const std::uint16_t sign = std::uint16_t((u >> 16) & 0x8000u);
  const std::uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return std::uint16_t(sign | 0x7e00u);
  if (a >= 0x477ff000u) return std::uint16_t(sign | 0x7c00u);  // rounds to >= 65520
  if (a < 0x38800000u) {  // subnormal or zero in fp16
    const float x = bits_to_float(a) * 16777216.0f;  // / 2^-24
    std::uint32_t m = std::uint32_t(x);
    const float rem = x - float(m);
    if (rem > 0.5f || (rem == 0.5f && (m & 1u))) ++m;
    return std::uint16_t(sign | m);
  }
  std::uint32_t r = a - 0x38000000u;  // rebias 127 -> 15
  r += 0xfffu + ((r >> 13) & 1u);
  return std::uint16_t(sign | (r >> 13));
}

// Checksum term of the 4-byte word at word index `i` of a tensor (the last
// partial word zero-padded): splitmix64 of (i, word). A tensor's checksum is
// the sum of its terms mod 2^64, so blocks may add their chunks in any order.
VLM_HD inline std::uint64_t checksum_term(std::uint64_t i, std::uint32_t word)
{
  std::uint64_t z = (i << 32) ^ word ^ 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The checksum of `n` bytes that start at byte `start` of a tensor (start a
// multiple of 4).
inline std::uint64_t checksum_bytes(const unsigned char* p, std::uint64_t n, std::uint64_t start = 0)
{
  std::uint64_t s = 0;
  for (std::uint64_t j = 0; j < n; j += 4) {
    std::uint32_t w = 0;
    for (std::uint64_t b = 0; b < 4 && j + b < n; ++b) w |= std::uint32_t(p[j + b]) << (8 * b);
    s += checksum_term((start + j) / 4, w);
  }
  return s;
}

}  // namespace vlm

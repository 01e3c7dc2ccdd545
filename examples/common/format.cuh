// Tiny formatting helpers for kernels (no printf into buffers on a GPU).
#pragma once

namespace ex {

// Decimal digits of v (at least 1).
__host__ __device__ inline unsigned decimal_digits(unsigned long long v)
{
  unsigned d = 1;
  while (v >= 10) {
    v /= 10;
    ++d;
  }
  return d;
}

// Writes v right-aligned in `width` columns (wider if it needs more);
// returns the bytes written.
__host__ __device__ inline unsigned put_decimal(char* out, unsigned long long v, unsigned width = 0)
{
  const unsigned d = decimal_digits(v);
  unsigned pad = width > d ? width - d : 0;
  for (unsigned i = 0; i < pad; ++i) out[i] = ' ';
  for (unsigned i = 0; i < d; ++i) {
    out[pad + d - 1 - i] = char('0' + v % 10);
    v /= 10;
  }
  return pad + d;
}

__host__ __device__ inline unsigned put_bytes(char* out, const char* s, unsigned n)
{
  for (unsigned i = 0; i < n; ++i) out[i] = s[i];
  return n;
}

}  // namespace ex

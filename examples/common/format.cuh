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

// Writes v in fixed point with `decimals` (at most 9) digits after the
// point, rounded half up; "null" (JSON's word for no number) for NaN,
// infinities and magnitudes of 1e18 and more. Returns the bytes written
// (at most 30).
__host__ __device__ inline unsigned put_fixed(char* out, double v, unsigned decimals = 4)
{
  if (decimals > 9) decimals = 9;
  if (!(v == v) || v >= 1e18 || v <= -1e18) return put_bytes(out, "null", 4);
  unsigned long long scale = 1;
  for (unsigned i = 0; i < decimals; ++i) scale *= 10;
  const bool negative = v < 0;
  const double a = negative ? -v : v;
  unsigned long long whole = (unsigned long long)a;
  unsigned long long frac = (unsigned long long)((a - (double)whole) * (double)scale + 0.5);
  if (frac >= scale) frac -= scale, ++whole;  // the rounding carried
  unsigned n = 0;
  if (negative && (whole || frac)) out[n++] = '-';  // no "-0.0000"
  n += put_decimal(out + n, whole);
  if (decimals) {
    out[n++] = '.';
    for (unsigned long long d = scale / 10; d; d /= 10) out[n++] = char('0' + frac / d % 10);
  }
  return n;
}

}  // namespace ex

// The p-th percentile (p in [0, 100]) of a sample, as every benchmark and
// latency report of the project computes it: the value at rank
// floor(p / 100 * n) of the sorted sample, the largest for p = 100; 0 for an
// empty one.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace ex {

template <class T>
double percentile(std::vector<T> v, double p)
{
  if (v.empty()) return 0;
  const std::size_t i = std::min(v.size() - 1, (std::size_t)(p / 100.0 * (double)v.size()));
  std::nth_element(v.begin(), v.begin() + (std::ptrdiff_t)i, v.end());
  return (double)v[i];
}

}  // namespace ex

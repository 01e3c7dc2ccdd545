// The bit helpers a claim round runs in every lane (device/genesys/
// platform.h) and the simulator's __popc, against plain loops, on the
// device: the edges (no bit, every bit, bit 31) and pseudo-random words.
#include <genesys.cuh>

#include <vector>

#include "support/test_env.h"

namespace {

constexpr int kWords = 200;

// Per word x: popc, then for each n < 32 the n-th set bit (32 where x has
// no n-th) and the lowest n bits.
struct answers {
  unsigned popc;
  unsigned nth[32];
  unsigned lowest[33];
};

__global__ void bit_helpers(const unsigned* words, answers* out)
{
  const unsigned x = words[threadIdx.x];
  answers& a = out[threadIdx.x];
  a.popc = (unsigned)__popc(x);
  for (unsigned n = 0; n < 32; ++n) a.nth[n] = n < a.popc ? gsys::detail::nth_set_bit(x, n) : 32u;
  for (unsigned n = 0; n <= 32; ++n) a.lowest[n] = gsys::detail::lowest_bits(x, n);
}

std::vector<unsigned> test_words()
{
  std::vector<unsigned> w = {0u, 1u, 0x80000000u, 0xffffffffu, 0x7fffffffu, 0xfffffffeu, 0x55555555u, 0xaaaaaaaau,
                             0x0000ffffu, 0xffff0000u, 0x80000001u, 0x00f00f00u};
  unsigned long long s = 7;
  while (w.size() < kWords) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    w.push_back((unsigned)(s >> 32) & (unsigned)(s >> 11));  // sparser words too
  }
  return w;
}

TEST(BitHelpers, MatchPlainLoops)
{
  GSYS_REQUIRE_DEVICE();
  gsys::runtime rt(gsys_test::options_for(gsys::executor_kind::sync));
  const std::vector<unsigned> w = test_words();
  unsigned* words = static_cast<unsigned*>(rt.alloc(kWords * sizeof(unsigned)));
  answers* out = static_cast<answers*>(rt.alloc(kWords * sizeof(answers)));
  for (int i = 0; i < kWords; ++i) words[i] = w[i];
  gsys::launch(bit_helpers, dim3(1), dim3(kWords), words, out);
  gsys::synchronize();
  for (int i = 0; i < kWords; ++i) {
    const unsigned x = w[i];
    std::vector<unsigned> set;
    for (unsigned b = 0; b < 32; ++b)
      if (x >> b & 1u) set.push_back(b);
    EXPECT_EQ(out[i].popc, set.size()) << std::hex << x;
    for (unsigned n = 0; n < 32; ++n) {
      EXPECT_EQ(out[i].nth[n], n < set.size() ? set[n] : 32u) << std::hex << x << std::dec << " n " << n;
      unsigned low = 0;
      for (unsigned k = 0; k < n && k < set.size(); ++k) low |= 1u << set[k];
      EXPECT_EQ(out[i].lowest[n], low) << std::hex << x << std::dec << " n " << n;
    }
    EXPECT_EQ(out[i].lowest[32], x);
  }
}

}  // namespace

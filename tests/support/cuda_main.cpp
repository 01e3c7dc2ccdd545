// main() of the CUDA variants of the device tests: without a GPU there is
// nothing to run them on, so the whole binary reports a skip (exit 77, which
// ctest shows as "Skipped") instead of one skipped line per test.
#include <cuda_runtime_api.h>

#include <cstdio>

#include <gtest/gtest.h>

int main(int argc, char** argv)
{
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("%s: no CUDA device on this machine; skipping (the simulator variant ran these tests)\n", argv[0]);
    return 77;
  }
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}

// The simulator's half of cpu_share.h: block threads note the CPU they
// wait on, for executors of the same process, and withdraw it when the
// block ends.
#include <genesys/sim/cpu_share.h>
#include <genesys/sim/sim.h>
#include <gtest/gtest.h>

#include "../support/pin_cpu.h"

namespace {

using gsys::sim::block_thread_on_my_cpu;
using gsys::sim::cpu_presence;

TEST(CpuShare, APresenceCountsOnItsCpuUntilItLeaves)
{
  gsys_test::pinned_here pin;
  ASSERT_TRUE(pin.ok());
  EXPECT_FALSE(block_thread_on_my_cpu());
  {
    cpu_presence a, b;
    a.note();
    b.note();
    a.note();  // noting again on the same CPU counts once
    EXPECT_TRUE(block_thread_on_my_cpu());
    a.leave();
    EXPECT_TRUE(block_thread_on_my_cpu()) << "b is still here";
  }
  EXPECT_FALSE(block_thread_on_my_cpu()) << "a presence outlived its object";
}

struct seen {
  int before = -1, after = -1;
};

// Pins its block thread, then looks for a block thread on its CPU before
// and after one __nanosleep.
__global__ void look_around_a_nap(seen* out)
{
  gsys_test::pinned_here pin;
  if (!pin.ok()) return;
  out->before = block_thread_on_my_cpu();
  __nanosleep(100);
  out->after = block_thread_on_my_cpu();
}

// Finding (this session): on one CPU an executor spun its whole spin time
// after each call while the block thread that would queue the next call
// waited for that CPU (68-81 µs per nop). A block thread now notes its CPU
// when its threads wait, so an executor there sleeps instead.
TEST(CpuShare, ABlockThreadNotesTheCpuItWaitsOn)
{
  seen s;
  gsys::sim::launch(look_around_a_nap, dim3(1), dim3(1), &s);
  gsys::sim::synchronize();
  ASSERT_NE(s.after, -1) << "could not pin the block thread";
  EXPECT_EQ(s.after, 1) << "a waiting block thread did not note its CPU";
  gsys_test::pinned_here pin;
  ASSERT_TRUE(pin.ok());
  EXPECT_FALSE(block_thread_on_my_cpu()) << "the block ended and left its presence";
}

}  // namespace

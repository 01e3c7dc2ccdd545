// The application's signals and the executors' threads. Each case runs in
// a fresh process (a death test, "threadsafe" style) because it changes
// process-wide signal state, with a watchdog thread that ends a hung case.
//
// - Stopping an executor with a call blocked in the kernel interrupts it
//   with a real-time signal. The sync executor's destructor hung forever
//   when the application ignored or handled SIGRTMIN+7, or had blocked
//   every signal before making the runtime (the threads inherited the
//   mask): now the first real-time signal the application leaves at its
//   default is used, and executor threads set their own mask.
// - Executor threads did not block the application's asynchronous
//   signals, so its handlers could run on them, under seccomp and Landlock.
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <thread>

#include <genesys.cuh>

#include "support/test_env.h"

namespace {

__global__ void read_pipe(gsys::ring r, int fd, char* buf, long* out)
{
  out[0] = gsys::read(r, fd, buf, 1);
}

// Ends the process with status 3 if the case has not finished in time.
void watchdog(int seconds)
{
  std::thread([seconds] {
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    ::_exit(3);
  }).detach();
}

enum class app_signals { ignores_interrupt, handles_interrupt, blocks_everything };

// A read from an empty pipe times out on the device, then the runtime is
// destroyed with the read still blocked in its executor thread.
void destroy_with_a_blocked_read(gsys::executor_kind k, app_signals s)
{
  watchdog(20);
  if (s == app_signals::ignores_interrupt) ::signal(SIGRTMIN + 7, SIG_IGN);
  if (s == app_signals::handles_interrupt) ::signal(SIGRTMIN + 7, [](int) {});
  if (s == app_signals::blocks_everything) {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
  }
  int p[2];
  if (::pipe(p) != 0) ::_exit(4);
  gsys::runtime_options o = gsys_test::options_for(k);
  o.timeout = std::chrono::milliseconds(300);
  auto* rt = new gsys::runtime(o);
  char* buf = static_cast<char*>(rt->alloc(16));
  long* out = static_cast<long*>(rt->alloc(sizeof(long)));
  gsys::launch(read_pipe, dim3(1), dim3(1), rt->ring(), p[0], buf, out);
  gsys::synchronize();
  if (out[0] != -ETIMEDOUT) ::_exit(5);
  delete rt;
  ::_exit(0);
}

class Signals : public testing::TestWithParam<gsys::executor_kind> {
 protected:
  void SetUp() override
  {
    GSYS_REQUIRE_DEVICE();
    GTEST_FLAG_SET(death_test_style, "threadsafe");
  }
};

TEST_P(Signals, StoppingWhenTheApplicationIgnoresTheInterruptSignal)
{
  EXPECT_EXIT(destroy_with_a_blocked_read(GetParam(), app_signals::ignores_interrupt), testing::ExitedWithCode(0), "");
}

TEST_P(Signals, StoppingWhenTheApplicationHandlesTheInterruptSignal)
{
  EXPECT_EXIT(destroy_with_a_blocked_read(GetParam(), app_signals::handles_interrupt), testing::ExitedWithCode(0), "");
}

TEST_P(Signals, StoppingWhenTheApplicationBlockedEverySignal)
{
  EXPECT_EXIT(destroy_with_a_blocked_read(GetParam(), app_signals::blocks_everything), testing::ExitedWithCode(0), "");
}

std::atomic<int> handled{0}, handled_sandboxed{0};

// Queued real-time signals to the process while the main thread blocks
// them: each goes to a thread that does not, and an executor thread is
// restricted (getuid is not on its seccomp list), so a handler run there
// sees EPERM. Then the main thread takes the rest.
void signals_to_the_process(gsys::executor_kind k)
{
  watchdog(20);
  const int sig = SIGRTMIN + 3;
  struct sigaction sa {};
  sa.sa_handler = [](int) {
    const int saved = errno;
    if (::syscall(SYS_getuid) == -1 && errno == EPERM) handled_sandboxed.fetch_add(1);
    handled.fetch_add(1);
    errno = saved;
  };
  sigaction(sig, &sa, nullptr);
  gsys::runtime rt(gsys_test::options_for(k));
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sig);
  pthread_sigmask(SIG_BLOCK, &one, nullptr);
  constexpr int kSignals = 50;
  for (int i = 0; i < kSignals; ++i) {
    ::kill(::getpid(), sig);
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
  for (int i = 0; i < 2000 && handled.load() < kSignals; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ::_exit(handled_sandboxed.load() ? 6 : handled.load() == kSignals ? 0 : 7);
}

TEST_P(Signals, TheApplicationsHandlersNeverRunOnAnExecutorThread)
{
  EXPECT_EXIT(signals_to_the_process(GetParam()), testing::ExitedWithCode(0), "");
}

INSTANTIATE_TEST_SUITE_P(Executors, Signals, testing::ValuesIn(gsys_test::executors()), gsys_test::executor_name);

}  // namespace

// Pins the calling thread to the CPU it runs on, for the scope of the
// object, so that sched_getcpu() keeps one answer (tests of cpu_share.h).
#pragma once

#include <sched.h>

namespace gsys_test {

class pinned_here {
 public:
  pinned_here()
  {
    saved_ok_ = sched_getaffinity(0, sizeof saved_, &saved_) == 0;
    cpu_ = sched_getcpu();
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu_, &one);
    ok_ = cpu_ >= 0 && sched_setaffinity(0, sizeof one, &one) == 0;
  }
  ~pinned_here()
  {
    if (saved_ok_) sched_setaffinity(0, sizeof saved_, &saved_);
  }
  pinned_here(const pinned_here&) = delete;
  pinned_here& operator=(const pinned_here&) = delete;

  bool ok() const { return ok_; }
  int cpu() const { return cpu_; }

 private:
  cpu_set_t saved_{};
  bool saved_ok_ = false;
  bool ok_ = false;
  int cpu_ = -1;
};

}  // namespace gsys_test

// Where a harness reports what its oracle found: a copy of stderr taken
// before libFuzzer's -close_fd_mask=2 (tests/fuzz/run.sh) discards fd 2, so
// the finding is printed next to libFuzzer's and the sanitizers' reports.
#pragma once

#include <unistd.h>

#include <cstdio>

inline FILE*& report_stream()
{
  static FILE* f = stderr;
  return f;
}

inline FILE* report() { return report_stream(); }

// libFuzzer calls this once, before it parses its flags.
extern "C" int LLVMFuzzerInitialize(int*, char***)
{
  const int fd = dup(2);
  if (fd >= 0)
    if (FILE* f = fdopen(fd, "w")) {
      setvbuf(f, nullptr, _IONBF, 0);
      report_stream() = f;
    }
  return 0;
}

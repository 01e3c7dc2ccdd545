// Host-side helpers the examples share: option values (sizes, counts,
// executors) and JSON for the --stats lines. Header-only: the programs are
// built twice (simulator and CUDA), each against its own runtime library.
// Define EX_CLI_NO_RUNTIME in programs that do not use genesys.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

#ifndef EX_CLI_NO_RUNTIME
#include <genesys/runtime.h>
#endif

#include "common/json.h"

namespace ex {

// A usage error the way coreutils report one, then exit(status).
[[noreturn]] inline void usage_error(const char* prog, int status, const char* what, const char* arg = nullptr)
{
  if (arg) std::fprintf(stderr, "%s: %s '%s'\n", prog, what, arg);
  else std::fprintf(stderr, "%s: %s\n", prog, what);
  std::fprintf(stderr, "Try '%s --help' for more information.\n", prog);
  std::exit(status);
}

// An option getopt refused: getopt has named it already ("PATH: unrecognized
// option '--x'", as GNU tools do), so only the way to help is left to say.
[[noreturn]] inline void try_help(const char* prog, int status)
{
  std::fprintf(stderr, "Try '%s --help' for more information.\n", prog);
  std::exit(status);
}

// "4096", "64K", "1M", "2G" (powers of 1024). False on garbage or overflow.
inline bool parse_size(const char* s, std::uint64_t& out)
{
  if (!s || !*s || *s == '-') return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno || end == s) return false;
  unsigned shift = 0;
  switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; ++end; break;
    case 'm': case 'M': shift = 20; ++end; break;
    case 'g': case 'G': shift = 30; ++end; break;
    default: return false;
  }
  if (*end == 'i' && shift) ++end;  // 64KiB
  if ((*end == 'B' || *end == 'b') && shift) ++end;
  if (*end != '\0') return false;
  if (shift && v > (~0ull >> shift)) return false;
  out = v << shift;
  return true;
}

// A decimal count in [lo, hi].
inline bool parse_count(const char* s, std::uint64_t lo, std::uint64_t hi, std::uint64_t& out)
{
  if (!s || !*s || *s == '-') return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno || *end != '\0' || v < lo || v > hi) return false;
  out = v;
  return true;
}

#ifndef EX_CLI_NO_RUNTIME
// --executor sync|uring|kmod|auto.
inline bool parse_executor_arg(const char* s, gsys::executor_kind& out)
{
  auto k = gsys::parse_executor(s ? s : "");
  if (!k) return false;
  out = *k;
  return true;
}

#endif

// Threads per block must fill whole warps: the kernels use warp shuffles.
inline bool valid_block_threads(std::uint64_t t) { return t >= 32 && t <= 1024 && t % 32 == 0; }

inline std::string json_escape(std::string_view s) { return json::escape(s); }

// Appends one line to `path` ("-" is stderr). Returns false when it cannot.
inline bool append_line(const std::string& path, const std::string& line)
{
  if (path == "-") {
    std::fprintf(stderr, "%s\n", line.c_str());
    return true;
  }
  std::ofstream f(path, std::ios::app);
  f << line << "\n";
  return bool(f);
}

}  // namespace ex

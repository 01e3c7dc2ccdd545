// Command-line options gsys-grep and gsys-wc share: how the grid reads the
// files (chunk size, blocks, threads), the executor and the --stats file.
#pragma once

#include <getopt.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "common/cli.h"

namespace ex {

struct fs_run_options {
  std::uint64_t chunk = 64 << 10;
  std::uint64_t blocks = 0, threads = 128;  // blocks 0: one per SM / host core
  gsys::executor_kind executor = gsys::executor_kind::automatic;
  std::string stats;
};

// --help lines of the shared options after --chunk-size (whose wording is
// the program's own), kept next to the parser so the two agree.
constexpr const char* kFsOptionsHelp =
    "      --blocks=N        blocks in the grid (default: one per SM / host core)\n"
    "      --threads=N       threads per block, a multiple of 32 (default 128)\n"
    "      --executor=KIND   sync, uring, kmod or auto (default: the first of kmod, uring, sync that works here)\n"
    "      --stats=FILE      append one JSON line with device, executor, bytes, seconds\n"
    "                        (\"-\": standard error)\n"
    "      --help            this text\n";

// getopt_long values of the shared options (above any short option).
enum fs_option_id { kFsChunk = 256, kFsBlocks, kFsThreads, kFsExecutor, kFsStats, kFsHelp };

// The program's own long options followed by the shared ones and the end marker.
inline std::vector<option> with_fs_options(std::vector<option> own)
{
  for (const option& o : {option{"chunk-size", required_argument, nullptr, kFsChunk},
                          option{"blocks", required_argument, nullptr, kFsBlocks},
                          option{"threads", required_argument, nullptr, kFsThreads},
                          option{"executor", required_argument, nullptr, kFsExecutor},
                          option{"stats", required_argument, nullptr, kFsStats},
                          option{"help", no_argument, nullptr, kFsHelp}, option{nullptr, 0, nullptr, 0}})
    own.push_back(o);
  return own;
}

// Applies shared option `ch` (not --help, which the program prints itself).
// False when `ch` is not a shared option; a bad value is a usage error.
inline bool parse_fs_option(int ch, const char* arg, fs_run_options& o, const char* prog, int usage_status)
{
  auto bad = [&](const char* what) { usage_error(prog, usage_status, what, arg); };
  switch (ch) {
    case kFsChunk:
      if (!parse_size(arg, o.chunk) || o.chunk == 0 || o.chunk > (256u << 20)) bad("--chunk-size wants 1 to 256M bytes, got");
      return true;
    case kFsBlocks:
      if (!parse_count(arg, 1, 4096, o.blocks)) bad("--blocks wants 1 to 4096, got");
      return true;
    case kFsThreads:
      if (!parse_count(arg, 32, 1024, o.threads) || !valid_block_threads(o.threads))
        bad("--threads wants a multiple of 32 from 32 to 1024, got");
      return true;
    case kFsExecutor:
      if (!parse_executor_arg(arg, o.executor)) bad("--executor wants sync, uring, kmod or auto, got");
      return true;
    case kFsStats: o.stats = arg; return true;
    default: return false;
  }
}

// Appends the --stats JSON line of a finished run (nothing without --stats).
// False when the line could not be written (the caller's exit status says so).
inline bool write_fs_stats(const char* prog, const char* example, const fs_run_options& o, const std::string& device,
                           gsys::executor_kind executor, std::size_t files, std::uint64_t bytes, double secs,
                           std::uint64_t blocks, std::uint64_t chunk)
{
  if (o.stats.empty()) return true;
  char line[512];
  std::snprintf(line, sizeof line,
                "{\"example\":\"%s\",\"device\":\"%s\",\"executor\":\"%s\",\"files\":%zu,\"bytes\":%llu,"
                "\"seconds\":%.6f,\"mb_per_s\":%.3f,\"blocks\":%llu,\"threads\":%llu,\"chunk\":%llu}",
                example, json_escape(device).c_str(), gsys::to_string(executor), files, (unsigned long long)bytes, secs,
                bytes / 1e6 / (secs > 0 ? secs : 1e-9), (unsigned long long)blocks, (unsigned long long)o.threads,
                (unsigned long long)chunk);
  if (append_line(o.stats, line)) return true;
  std::fprintf(stderr, "%s: cannot write %s\n", prog, o.stats.c_str());
  return false;
}

}  // namespace ex

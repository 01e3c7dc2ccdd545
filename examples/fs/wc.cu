// gsys-wc: wc whose file opening, reading, counting and output happen in a
// GPU kernel through genesys (see wc_kernel.cuh). The host parses options,
// stats the files for the column width (as wc does) and launches.
#include <getopt.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <genesys.cuh>
#include <genesys/runtime.h>

#include "common/cli.h"
#include "fs/fs_options.h"
#include "common/device_info.cuh"
#include "fs/input_list.h"
#include "fs/wc_kernel.cuh"

namespace {

const char* const kProg = "gsys-wc";

struct options : ex::fs_run_options {
  bool lines = false, words = false, bytes = false;
};

void usage(FILE* to)
{
  std::fprintf(to,
               "usage: %s [OPTION]... FILE...\n"
               "Prints newline, word and byte counts for each FILE and a total line for several,\n"
               "like wc in the C locale. A GPU kernel opens and reads the files (gsys::openat,\n"
               "gsys::pread: one chunk per block), counts them and writes the lines (gsys::write).\n\n"
               "  -l, --lines           print the newline counts\n"
               "  -w, --words           print the word counts\n"
               "  -c, --bytes           print the byte counts\n"
               "      --chunk-size=N    bytes one block reads per chunk (default 64K; K, M suffixes)\n"
               "%s\n"
               "Exit status: 0 on success, 1 if a file could not be read or the --stats FILE\n"
               "could not be written.\n",
               kProg, ex::kFsOptionsHelp);
}

[[noreturn]] void bad_usage(const char* what, const char* arg = nullptr)
{
  ex::usage_error(kProg, 1, what, arg);
}

std::vector<std::string> parse(int argc, char** argv, options& o)
{
  static const std::vector<option> longopts = ex::with_fs_options(
      {{"lines", no_argument, nullptr, 'l'}, {"words", no_argument, nullptr, 'w'}, {"bytes", no_argument, nullptr, 'c'}});
  for (int ch; (ch = getopt_long(argc, argv, "lwc", longopts.data(), nullptr)) != -1;) {
    switch (ch) {
      case 'l': o.lines = true; break;
      case 'w': o.words = true; break;
      case 'c': o.bytes = true; break;
      case ex::kFsHelp: usage(stdout); std::exit(0);
      default:
        if (!ex::parse_fs_option(ch, optarg, o, kProg, 1)) ex::try_help(kProg, 1);
    }
  }
  if (!o.lines && !o.words && !o.bytes) o.lines = o.words = o.bytes = true;
  return std::vector<std::string>(argv + optind, argv + argc);
}

// GNU wc's column width: the digits of the regular files' total size, at
// least 7 if an input is not a regular file, and 1 when a single count of a
// single file is printed or the first file cannot be stat'ed.
ex::u32 column_width(const std::vector<ex::input_file>& files, int columns)
{
  if ((files.size() == 1 && columns == 1) || files.empty() || files[0].stat_failed) return 1;
  std::uint64_t regular_total = 0;
  ex::u32 min_width = 1;
  for (const auto& f : files) {
    if (f.stat_failed) continue;
    if (f.regular) regular_total += f.size;
    else min_width = 7;
  }
  return std::max(ex::decimal_digits(regular_total), min_width);
}

}  // namespace

int main(int argc, char** argv)
{
  options o;
  const std::vector<std::string> operands = parse(argc, argv, o);
  if (operands.empty()) bad_usage("reading standard input is not supported: name the files");

  if (!ex::require_device(kProg)) return 1;
  try {
    gsys::runtime_options ro;
    ro.executor = o.executor;
    gsys::runtime rt(ro);

    const std::vector<ex::input_file> files = ex::list_inputs(operands, false);
    ex::wc_job j{};
    j.lines = o.lines;
    j.words = o.words;
    j.bytes = o.bytes;
    j.width = column_width(files, (int)o.lines + (int)o.words + (int)o.bytes);
    j.print_total = files.size() > 1;
    j.in = ex::layout_inputs(rt, files, o.chunk, kProg);
    const std::uint64_t blocks = std::min<std::uint64_t>(o.blocks ? o.blocks : ex::default_blocks(), j.in.total_chunks);
    j.chunk = (ex::u32)o.chunk;
    // A counts line (three 20-digit columns) or an error message.
    j.out_cap = ex::longest_name(files) + std::max<ex::u32>(j.width, 20) * 3 + 512;
    j.buf = static_cast<char*>(rt.alloc(blocks * j.chunk));
    j.out = static_cast<char*>(rt.alloc(blocks * j.out_cap));
    j.relay = static_cast<ex::wc_relay*>(rt.alloc(sizeof(ex::wc_relay)));

    const auto t0 = std::chrono::steady_clock::now();
    // Co-resident: chunk g's block waits for chunk g-1's (the relay).
    gsys::launch(ex::wc_kernel, dim3((unsigned)blocks), dim3((unsigned)o.threads), gsys::cooperative{}, rt.ring(), j);
    gsys::synchronize();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    const ex::wc_relay& rel = *j.relay;
    if (rel.write_errno) std::fprintf(stderr, "%s: write error: %s\n", kProg, std::strerror((int)rel.write_errno));
    const bool stats_ok = ex::write_fs_stats(kProg, "wc", o, ex::device_label(), rt.executor(), files.size(),
                                             j.in.total_bytes + rel.unsized_bytes, secs, blocks, o.chunk);
    return rel.any_error || !stats_ok ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kProg, e.what());
    return 1;
  }
}

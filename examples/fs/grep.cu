// gsys-grep: grep -F whose searching, file opening, reading and output all
// happen in a GPU kernel through genesys (see grep_kernel.cuh). The host
// only parses options and lists the files (walking directories for -r).
#include <getopt.h>
#include <sys/stat.h>

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
#include "fs/grep_kernel.cuh"
#include "fs/input_list.h"

namespace {

const char* const kProg = "gsys-grep";

struct options : ex::fs_run_options {
  std::vector<std::string> patterns;
  bool have_e = false;
  bool line_numbers = false;
  bool recursive = false;
  int with_filename = -1;  // -1: as GNU grep decides
};

void usage(FILE* to)
{
  std::fprintf(to,
               "usage: %s [OPTION]... PATTERN [FILE]...\n"
               "       %s [OPTION]... -e PATTERN... [FILE]...\n"
               "Prints the lines of each FILE that contain PATTERN, a fixed string, like grep -F.\n"
               "A GPU kernel opens and reads the files (gsys::openat, gsys::pread: one chunk per\n"
               "block), searches them and writes the lines in order (gsys::write).\n\n"
               "  -F, --fixed-strings   accepted for compatibility: patterns are always fixed strings\n"
               "  -e, --regexp=PATTERN  search for PATTERN (repeatable); a PATTERN with newlines is\n"
               "                        several patterns\n"
               "  -n, --line-number     prefix each line with its line number\n"
               "  -H, --with-filename   prefix each line with its file name\n"
               "  -h, --no-filename     never print file names\n"
               "  -r, --recursive       search the files under each directory (no FILE: \".\");\n"
               "                        symbolic links and special files inside are skipped\n"
               "      --chunk-size=N    bytes one block owns per chunk (default 64K; K, M suffixes)\n"
               "%s\n"
               "Exit status: 0 if a line was selected, 1 if none was, 2 if an error occurred\n"
               "(--stats FILE not written included).\n",
               kProg, kProg, ex::kFsOptionsHelp);
}

[[noreturn]] void bad_usage(const char* what, const char* arg = nullptr)
{
  ex::usage_error(kProg, 2, what, arg);
}

std::vector<std::string> parse(int argc, char** argv, options& o)
{
  static const std::vector<option> longopts = ex::with_fs_options({
      {"fixed-strings", no_argument, nullptr, 'F'},   {"regexp", required_argument, nullptr, 'e'},
      {"line-number", no_argument, nullptr, 'n'},     {"with-filename", no_argument, nullptr, 'H'},
      {"no-filename", no_argument, nullptr, 'h'},     {"recursive", no_argument, nullptr, 'r'}});
  for (int ch; (ch = getopt_long(argc, argv, "Fe:nHhr", longopts.data(), nullptr)) != -1;) {
    switch (ch) {
      case 'F': break;
      case 'e': o.patterns.push_back(optarg); o.have_e = true; break;
      case 'n': o.line_numbers = true; break;
      case 'H': o.with_filename = 1; break;
      case 'h': o.with_filename = 0; break;
      case 'r': o.recursive = true; break;
      case ex::kFsHelp: usage(stdout); std::exit(0);
      default:
        if (!ex::parse_fs_option(ch, optarg, o, kProg, 2)) ex::try_help(kProg, 2);
    }
  }
  if (!o.have_e) {
    if (optind >= argc) bad_usage("no PATTERN given");
    o.patterns.push_back(argv[optind++]);
  }
  return std::vector<std::string>(argv + optind, argv + argc);
}

// Splits on newlines, as grep does: "a\nb" is two patterns, "a\n" is "a" and "".
std::vector<std::string> split_patterns(const std::vector<std::string>& in)
{
  std::vector<std::string> out;
  for (const std::string& p : in) {
    std::size_t from = 0;
    for (std::size_t nl; (nl = p.find('\n', from)) != std::string::npos; from = nl + 1) out.push_back(p.substr(from, nl - from));
    out.push_back(p.substr(from));
  }
  return out;
}

bool is_directory(const std::string& path)
{
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

int main(int argc, char** argv)
{
  options o;
  const std::vector<std::string> operands = parse(argc, argv, o);
  if (operands.empty() && !o.recursive)
    bad_usage("reading standard input is not supported: name the files, or use -r");
  const std::vector<std::string> patterns = split_patterns(o.patterns);
  if (patterns.size() > ex::kMaxPatterns) bad_usage("too many patterns (at most 64)");

  ex::grep_job j{};
  std::string joined;
  j.npatterns = (ex::u32)patterns.size();
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    j.pattern_off[i] = (ex::u32)joined.size();
    joined += patterns[i];
    j.longest = std::max(j.longest, (ex::u32)patterns[i].size());
    j.match_all |= patterns[i].empty();
  }
  j.pattern_off[patterns.size()] = (ex::u32)joined.size();
  j.line_numbers = o.line_numbers;
  // GNU grep: names when there are several operands, or when -r walks a directory.
  j.with_filename = o.with_filename >= 0 ? o.with_filename == 1
                                         : operands.size() > 1 || (o.recursive && (operands.empty() || is_directory(operands[0])));
  // A pattern longer than a chunk could never lie inside one window.
  const std::uint64_t chunk = std::max<std::uint64_t>(o.chunk, std::max<ex::u32>(j.longest, 1));

  if (!ex::require_device(kProg)) return 2;
  try {
    gsys::runtime_options ro;
    ro.executor = o.executor;
    gsys::runtime rt(ro);

    const std::vector<ex::input_file> files = ex::list_inputs(operands, o.recursive);
    if (files.empty()) return 1;  // -r over an empty directory: nothing selected
    j.in = ex::layout_inputs(rt, files, chunk, kProg);
    const std::uint64_t blocks = std::min<std::uint64_t>(o.blocks ? o.blocks : ex::default_blocks(), j.in.total_chunks);
    j.chunk = (ex::u32)chunk;
    j.window = (ex::u32)(1 + 2 * chunk);
    // One round (a line per thread) must fit: all of the window plus a
    // prefix ("name:lineno:") and a newline per line.
    j.out_cap = j.window + (ex::u32)o.threads * (ex::longest_name(files) + 24);
    char* pat = static_cast<char*>(rt.alloc(joined.size() + 1));
    std::memcpy(pat, joined.data(), joined.size());
    j.patterns = pat;
    j.buf = static_cast<char*>(rt.alloc(blocks * j.window));
    j.out = static_cast<char*>(rt.alloc(blocks * j.out_cap));
    j.relay = static_cast<ex::grep_relay*>(rt.alloc(sizeof(ex::grep_relay)));
    const std::uint64_t per_block = chunk + 1;
    j.starts = static_cast<ex::u32*>(ex::scratch_alloc(blocks * per_block * sizeof(ex::u32)));
    j.sel = static_cast<ex::u32*>(ex::scratch_alloc(blocks * per_block * sizeof(ex::u32)));
    j.hit = static_cast<unsigned char*>(ex::scratch_alloc(blocks * per_block));

    const auto t0 = std::chrono::steady_clock::now();
    // Co-resident: chunk g's block waits for chunk g-1's (the relay).
    gsys::launch(ex::grep_kernel, dim3((unsigned)blocks), dim3((unsigned)o.threads), gsys::cooperative{}, rt.ring(), j);
    gsys::synchronize();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    ex::scratch_free(j.starts);
    ex::scratch_free(j.sel);
    ex::scratch_free(j.hit);
    const ex::grep_relay& rel = *j.relay;
    if (rel.write_errno) std::fprintf(stderr, "%s: write error: %s\n", kProg, std::strerror((int)rel.write_errno));
    // Statistics asked for and lost are trouble too: 2, even after a match.
    const bool stats_ok = ex::write_fs_stats(kProg, "grep", o, ex::device_label(), rt.executor(), files.size(),
                                             j.in.total_bytes + rel.unsized_bytes, secs, blocks, chunk);
    return rel.any_error || !stats_ok ? 2 : rel.any_selected ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kProg, e.what());
    return 2;
  }
}

// The benchmarks' command-line values, parsed strictly: a value that is not
// entirely what the option wants is a usage error, "prog: --opt wants X,
// got 'Y'" on stderr and exit 2, before anything is measured. Never a silent
// default (atoi("abc") is 0) nor a wrap-around (atoi("-3") as unsigned is
// ~4 billion threads). No genesys headers, so gsys-blindsight-bench and
// gsys-sim-bench use it too; bench_common.h includes it.
#pragma once

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace bench {

// "a,b,,c" -> {"a", "b", "c"}: the benchmarks' comma-separated options.
inline std::vector<std::string> split_list(const std::string& s)
{
  std::vector<std::string> v;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) v.push_back(item);
  return v;
}

[[noreturn]] inline void bad_arg(const char* prog, const char* opt, const std::string& want, const std::string& got)
{
  std::fprintf(stderr, "%s: %s wants %s, got '%s'\n", prog, opt, want.c_str(), got.c_str());
  std::exit(2);
}

// "from 1 to 64", ">= 10".
inline std::string range_text(long long lo, long long hi)
{
  return hi == LLONG_MAX ? ">= " + std::to_string(lo) : "from " + std::to_string(lo) + " to " + std::to_string(hi);
}

// The whole text as a decimal integer in [lo, hi]: no sign-less garbage, no
// trailing characters, no leading blanks, no overflow.
inline bool to_int(const std::string& text, long long lo, long long hi, long long& v)
{
  const char* s = text.c_str();
  if (!((*s >= '0' && *s <= '9') || ((*s == '-' || *s == '+') && s[1] >= '0' && s[1] <= '9'))) return false;
  char* end = nullptr;
  errno = 0;
  v = std::strtoll(s, &end, 10);
  return *end == '\0' && errno != ERANGE && v >= lo && v <= hi;
}

inline long long parse_int(const char* prog, const char* opt, const std::string& text, long long lo,
                           long long hi = LLONG_MAX)
{
  long long v = 0;
  if (!to_int(text, lo, hi, v)) bad_arg(prog, opt, "an integer " + range_text(lo, hi), text);
  return v;
}

// The whole text as a finite decimal number in [lo, hi] ("0.5", "1e4"; not
// "nan", "inf" or "1s").
inline bool to_number(const std::string& text, double lo, double hi, double& v)
{
  const char* s = text.c_str();
  if (!((*s >= '0' && *s <= '9') || *s == '.' || *s == '-' || *s == '+')) return false;
  char* end = nullptr;
  errno = 0;
  v = std::strtod(s, &end);
  return end != s && *end == '\0' && errno != ERANGE && std::isfinite(v) && v >= lo && v <= hi;
}

// `want` says what, e.g. "seconds from 0.001 to 3600".
inline double parse_number(const char* prog, const char* opt, const std::string& text, double lo, double hi,
                           const std::string& want)
{
  double v = 0;
  if (!to_number(text, lo, hi, v)) bad_arg(prog, opt, want, text);
  return v;
}

inline std::vector<double> parse_number_list(const char* prog, const char* opt, const std::string& text, double lo,
                                             double hi, const std::string& want)
{
  std::vector<double> out;
  for (const auto& item : split_list(text)) out.push_back(parse_number(prog, opt, item, lo, hi, want));
  if (out.empty()) bad_arg(prog, opt, want, text);
  return out;
}

// "1,8,32": each item an integer in [lo, hi]; an empty list is an error too.
inline std::vector<long long> parse_int_list(const char* prog, const char* opt, const std::string& text, long long lo,
                                             long long hi = LLONG_MAX)
{
  const std::string want = "a comma-separated list of integers " + range_text(lo, hi);
  std::vector<long long> out;
  for (const auto& item : split_list(text)) {
    long long v = 0;
    if (!to_int(item, lo, hi, v)) bad_arg(prog, opt, want, item);
    out.push_back(v);
  }
  if (out.empty()) bad_arg(prog, opt, want, text);
  return out;
}

// "thread,grid" with every name one of `names` ("thread,warp,block,grid");
// an empty list is an error too.
inline std::vector<std::string> parse_names(const char* prog, const char* opt, const std::string& text,
                                            const std::string& names)
{
  const std::vector<std::string> known = split_list(names);
  const std::vector<std::string> out = split_list(text);
  for (const auto& n : out) {
    bool ok = false;
    for (const auto& k : known) ok = ok || n == k;
    if (!ok) bad_arg(prog, opt, "a comma-separated list of " + names, n);
  }
  if (out.empty()) bad_arg(prog, opt, "a comma-separated list of " + names, text);
  return out;
}

// "BxT": B blocks >= 1, T threads from 1 to 1024 (CUDA's limit per block).
// False when the text is not exactly that; the caller adds its own limits
// and reports with bad_arg.
inline bool parse_grid(const std::string& text, int& blocks, int& threads)
{
  const auto x = text.find('x');
  long long b = 0, t = 0;
  if (x == std::string::npos || !to_int(text.substr(0, x), 1, INT_MAX, b) || !to_int(text.substr(x + 1), 1, 1024, t))
    return false;
  blocks = (int)b, threads = (int)t;
  return true;
}

// getopt leaves operands at argv[first..]; the benchmarks take none.
inline void reject_operands(const char* prog, int argc, char** argv, int first)
{
  if (first < argc) {
    std::fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", prog, argv[first]);
    std::exit(2);
  }
}

}  // namespace bench

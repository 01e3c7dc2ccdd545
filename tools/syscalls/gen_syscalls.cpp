// Builds genesys's system-call table: every x86_64 system call of a kernel's
// asm/unistd_64.h, the hand-written judgement of each in annotations.txt
// (class, whether a GPU kernel can sensibly make it, why), and whether the
// op table (include/genesys/ops.h) supports it. From that one table it
// writes the data file, docs/syscalls.md and the header the runtime's
// default allow-list is built from, so the three cannot disagree.
//
//   gen_syscalls --annotations FILE [--header unistd_64.h]
//                [--table OUT.tsv] [--doc OUT.md] [--allow OUT.h] [--older-header-ok]
//
// It fails, naming every offender, when the header has a call the
// annotations lack, when an annotation names a call the header does not
// have (only noted with --older-header-ok, which the build passes so that an
// older kernel's headers still build), and when an operation genesys supports is judged unsuitable: a new
// kernel's new system call cannot slip through unjudged. Without --header
// (no x86_64 kernel headers on the build machine) only --allow is written.
// OUT may be "-" for standard output.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "op_table.h"

namespace {

// The classes an annotation may use, in the order the summary lists them.
const std::vector<std::string> kClasses = {
    "file", "fs",     "net",      "memory", "process", "sched",  "signal",  "time",
    "ipc",  "event",  "aio",      "sync",   "security", "system", "debug",  "unimplemented",
};

enum class suitability { yes, care, no };

const char* suitability_text(suitability s)
{
  return s == suitability::yes ? "yes" : s == suitability::care ? "with care" : "no";
}

struct annotation {
  std::string cls;
  suitability gpu;
  std::string reason;
  int line;
};

struct row {
  long nr;
  std::string name;
  const annotation* note;
  bool supported;
};

std::vector<std::string> errors;

void fail(std::string msg) { errors.push_back(std::move(msg)); }

// `#define __NR_<name> <nr>` lines; __NR_syscalls (a count, not a call) is
// skipped.
std::vector<std::pair<long, std::string>> read_header(const std::string& path)
{
  std::ifstream in(path);
  if (!in) {
    fail(path + ": cannot read");
    return {};
  }
  static const std::regex def(R"(^\s*#\s*define\s+__NR_([A-Za-z0-9_]+)\s+([0-9]+)\s*$)");
  std::vector<std::pair<long, std::string>> calls;
  std::set<std::string> seen;
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_match(line, m, def) || m[1] == "syscalls") continue;
    if (!seen.insert(m[1]).second) fail(path + ": __NR_" + m[1].str() + " defined twice");
    calls.emplace_back(std::stol(m[2]), m[1]);
  }
  if (calls.empty()) fail(path + ": no __NR_ definitions (not an asm/unistd_64.h?)");
  std::sort(calls.begin(), calls.end());
  return calls;
}

// One call a line: `name class yes|care|no reason to the end of the line`;
// blank lines and lines starting with '#' are skipped.
std::map<std::string, annotation> read_annotations(const std::string& path)
{
  std::map<std::string, annotation> notes;
  std::ifstream in(path);
  if (!in) {
    fail(path + ": cannot read");
    return notes;
  }
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    std::string where = path + ":" + std::to_string(n) + ": ";
    std::size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    std::istringstream fields(line);
    std::string name, cls, gpu, reason;
    fields >> name >> cls >> gpu;
    std::getline(fields >> std::ws, reason);
    while (!reason.empty() && (reason.back() == ' ' || reason.back() == '\t')) reason.pop_back();
    annotation a{cls, suitability::no, reason, n};
    if (gpu == "yes") a.gpu = suitability::yes;
    else if (gpu == "care") a.gpu = suitability::care;
    else if (gpu != "no") fail(where + name + ": suitability '" + gpu + "' is not yes, care or no");
    if (std::find(kClasses.begin(), kClasses.end(), cls) == kClasses.end())
      fail(where + name + ": unknown class '" + cls + "'");
    if (reason.empty()) fail(where + name + ": no reason");
    if (reason.find('|') != std::string::npos) fail(where + name + ": '|' in the reason breaks the tables");
    if (!notes.emplace(name, a).second) fail(where + name + ": annotated twice");
  }
  return notes;
}

const gsys::detail::op_info* supported_op(const std::string& name)
{
  for (const auto& op : gsys::detail::kOps)
    if (op.nr != GSYS_NR_NOP && name == op.name) return &op;
  return nullptr;
}

bool allowed_by_default(const row& r) { return r.supported && r.note->gpu != suitability::no; }

// Writes through `out` to `path` ("-": stdout); false if it cannot.
template <class F>
bool write_file(const std::string& path, F out)
{
  if (path == "-") {
    out(std::cout);
    return bool(std::cout.flush());
  }
  std::ofstream f(path);
  out(f);
  f.close();
  if (!f) std::fprintf(stderr, "gen_syscalls: cannot write %s\n", path.c_str());
  return bool(f);
}

void write_table(std::ostream& o, const std::vector<row>& rows)
{
  o << "# nr\tname\tclass\tgpu\tsupported\treason\n";
  for (const row& r : rows)
    o << r.nr << '\t' << r.name << '\t' << r.note->cls << '\t' << suitability_text(r.note->gpu) << '\t'
      << (r.supported ? "yes" : "no") << '\t' << r.note->reason << '\n';
}

void write_doc(std::ostream& o, const std::vector<row>& rows)
{
  long top = rows.empty() ? 0 : rows.back().nr;
  o << "# System calls from a GPU\n\n"
       "Generated by `tools/syscalls/gen_syscalls` from the kernel headers' `asm/unistd_64.h`,\n"
       "the judgements in `tools/syscalls/annotations.txt` and the op table in\n"
       "`include/genesys/ops.h`; do not edit. Change the annotations (or the op table) and\n"
       "run `cmake --build build --target update_syscalls_doc`.\n\n"
    << "Every x86_64 system call of the kernel headers the build found (" << rows.size()
    << " calls,\nnumbers 0 to " << top
    << "), with its class, whether a GPU kernel can sensibly make it\n"
       "through genesys, why, and whether genesys supports it now (it is in the op\n"
       "table; docs/operations.md has each supported call's arguments and ordering).\n"
       "A new kernel's new call fails the build until it is annotated.\n\n"
       "- **yes**: useful from a GPU and harmless to the host process.\n"
       "- **with care**: useful, but it blocks a host executor thread, changes state the\n"
       "  whole host process shares, or hands the GPU memory it must be given access to.\n"
       "- **no**: meaningless or harmful from a GPU.\n\n"
       "What shapes the judgements: a GPU thread has no process context of its own. Its\n"
       "call runs on a host executor thread, so anything that reads or sets per-thread\n"
       "state (signal masks, credentials set by a raw call, scheduling, affinity, robust\n"
       "futex lists, seccomp, Landlock) acts on that executor thread, not on the GPU\n"
       "thread; process control (fork, execve, clone, exit) and signal handling need a\n"
       "CPU context the GPU does not have; a blocking call holds an executor worker; and\n"
       "the GPU reaches only host memory mapped for it. File, network and\n"
       "information calls are the useful core, as GENESYS (ISCA'18) concluded.\n\n"
       "The runtime's default allow-list (`policy_options::allow` left empty) is the\n"
       "supported calls judged yes or with care, plus genesys's own `nop`; it is\n"
       "generated from this table (`syscall_allow.h`), and tests/syscall_table_test.cpp\n"
       "checks the policy, the op table and this file against it.\n\n";

  o << "## Summary\n\n"
       "| class | calls | yes | with care | no | supported |\n"
       "|---|---:|---:|---:|---:|---:|\n";
  auto count = [&](const std::string& cls, auto pred) {
    return std::count_if(rows.begin(), rows.end(),
                         [&](const row& r) { return (cls.empty() || r.note->cls == cls) && pred(r); });
  };
  auto all = [](const row&) { return true; };
  auto is = [](suitability s) { return [s](const row& r) { return r.note->gpu == s; }; };
  auto sup = [](const row& r) { return r.supported; };
  for (const std::string& c : kClasses) {
    if (!count(c, all)) continue;
    o << "| " << c << " | " << count(c, all) << " | " << count(c, is(suitability::yes)) << " | "
      << count(c, is(suitability::care)) << " | " << count(c, is(suitability::no)) << " | " << count(c, sup)
      << " |\n";
  }
  o << "| **all** | **" << count("", all) << "** | **" << count("", is(suitability::yes)) << "** | **"
    << count("", is(suitability::care)) << "** | **" << count("", is(suitability::no)) << "** | **"
    << count("", sup) << "** |\n\n";

  o << "## Default allow-list\n\n"
    << count("", allowed_by_default) << " system calls and genesys's `nop`:\n\n";
  bool first = true;
  for (const row& r : rows) {
    if (!allowed_by_default(r)) continue;
    o << (first ? "" : ", ") << '`' << r.name << '`';
    first = false;
  }
  o << (first ? "" : ", ") << "`nop`.\n\n";

  o << "## All system calls\n\n"
       "| nr | name | class | GPU | supported | reason |\n"
       "|---:|---|---|---|---|---|\n";
  for (const row& r : rows)
    o << "| " << r.nr << " | " << r.name << " | " << r.note->cls << " | " << suitability_text(r.note->gpu) << " | "
      << (r.supported ? "**yes**" : "no") << " | " << r.note->reason << " |\n";
}

void write_allow(std::ostream& o, const std::vector<row>& rows)
{
  o << "// Generated by tools/syscalls/gen_syscalls from tools/syscalls/annotations.txt\n"
       "// and include/genesys/ops.h; do not edit. docs/syscalls.md is the same table.\n"
       "#pragma once\n\n"
       "#include <string_view>\n\n"
       "namespace gsys::detail {\n\n"
       "// The runtime's default allow-list: the operations of the op table that the\n"
       "// table judges a GPU may make (\"yes\" or \"with care\"), plus nop.\n"
       "inline constexpr std::string_view kDefaultAllowNames[] = {\n";
  for (const row& r : rows)
    if (allowed_by_default(r)) o << "    \"" << r.name << "\",\n";
  o << "    \"nop\",\n"
       "};\n\n"
       "constexpr bool default_allowed(std::string_view name)\n"
       "{\n"
       "  for (std::string_view n : kDefaultAllowNames)\n"
       "    if (n == name) return true;\n"
       "  return false;\n"
       "}\n\n"
       "}  // namespace gsys::detail\n";
}

int usage()
{
  std::fprintf(stderr,
               "usage: gen_syscalls --annotations FILE [--header unistd_64.h] [--table OUT] [--doc OUT] [--allow OUT]\n"
               "                    [--older-header-ok]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv)
{
  std::string header, notes_path, table_out, doc_out, allow_out;
  bool older_header_ok = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--older-header-ok") {
      older_header_ok = true;
      continue;
    }
    if (i + 1 >= argc) return usage();
    std::string v = argv[++i];
    if (a == "--header") header = v;
    else if (a == "--annotations") notes_path = v;
    else if (a == "--table") table_out = v;
    else if (a == "--doc") doc_out = v;
    else if (a == "--allow") allow_out = v;
    else return usage();
  }
  if (notes_path.empty() || (header.empty() && (!table_out.empty() || !doc_out.empty()))) return usage();

  std::map<std::string, annotation> notes = read_annotations(notes_path);
  std::vector<row> rows;
  if (!header.empty()) {
    std::set<std::string> in_header;
    for (const auto& [nr, name] : read_header(header)) {
      in_header.insert(name);
      auto it = notes.find(name);
      const gsys::detail::op_info* op = supported_op(name);
      if (it == notes.end()) {
        fail(notes_path + ": " + name + " (" + std::to_string(nr) + ") is in " + header + " but not annotated");
        continue;
      }
      if (op && op->nr != nr)
        fail(name + ": the op table's number " + std::to_string(op->nr) + " is not the header's " + std::to_string(nr));
      rows.push_back({nr, name, &it->second, op != nullptr});
    }
    // A name the header lacks is a typo, or a call newer than the header.
    // The build tolerates the second (--older-header-ok: Debian 12 without
    // backports has only 6.1's headers), the tests do not; a typo also
    // leaves the real call unannotated, which fails above either way.
    std::string newer;
    for (const auto& [name, a] : notes)
      if (!in_header.count(name)) {
        if (!older_header_ok) fail(notes_path + ":" + std::to_string(a.line) + ": " + name + " is not a system call of " + header);
        newer += " " + name;
      }
    if (older_header_ok && !newer.empty())
      std::fprintf(stderr, "gen_syscalls: note: %s lacks annotated calls (an older kernel's header?); left out:%s\n",
                   header.c_str(), newer.c_str());
  } else {
    // No kernel header: the table is the op table's calls alone.
    for (const auto& op : gsys::detail::kOps) {
      if (op.nr == GSYS_NR_NOP) continue;
      auto it = notes.find(op.name);
      if (it != notes.end()) rows.push_back({op.nr, op.name, &it->second, true});
    }
    std::sort(rows.begin(), rows.end(), [](const row& a, const row& b) { return a.nr < b.nr; });
  }
  for (const auto& op : gsys::detail::kOps) {
    if (op.nr == GSYS_NR_NOP) continue;
    auto it = notes.find(op.name);
    if (it == notes.end()) fail(std::string("the op table's ") + op.name + " is not annotated");
    else if (it->second.gpu == suitability::no)
      fail(notes_path + ":" + std::to_string(it->second.line) + ": genesys supports " + op.name +
           " but the annotation says a GPU should not call it");
  }

  if (!errors.empty()) {
    for (const std::string& e : errors) std::fprintf(stderr, "gen_syscalls: %s\n", e.c_str());
    std::fprintf(stderr, "gen_syscalls: %zu error(s); nothing written\n", errors.size());
    return 1;
  }
  bool ok = true;
  if (!table_out.empty()) ok &= write_file(table_out, [&](std::ostream& o) { write_table(o, rows); });
  if (!doc_out.empty()) ok &= write_file(doc_out, [&](std::ostream& o) { write_doc(o, rows); });
  if (!allow_out.empty()) ok &= write_file(allow_out, [&](std::ostream& o) { write_allow(o, rows); });
  return ok ? 0 : 1;
}

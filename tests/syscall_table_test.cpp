// The system-call table (tools/syscalls) is the one source of docs/syscalls.md
// and of the runtime's default allow-list: these tests tie the policy the
// runtime builds, the op table and the committed doc to it, so none of them
// can drift from the others.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "op_table.h"
#include "policy.h"
#include "syscall_sources.h"

using namespace gsys::detail;

namespace {

struct table_row {
  long nr;
  std::string name, cls, gpu, supported, reason;
};

// The build's data file (syscalls.tsv), keyed by number.
std::map<long, table_row> read_table()
{
  std::map<long, table_row> rows;
  std::ifstream in(GSYS_SYSCALLS_TABLE);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream f(line);
    table_row r;
    std::string nr;
    std::getline(f, nr, '\t');
    std::getline(f, r.name, '\t');
    std::getline(f, r.cls, '\t');
    std::getline(f, r.gpu, '\t');
    std::getline(f, r.supported, '\t');
    std::getline(f, r.reason);
    r.nr = std::stol(nr);
    rows[r.nr] = r;
  }
  return rows;
}

std::string read_file(const std::string& path)
{
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool suitable(const table_row& r) { return r.gpu == "yes" || r.gpu == "with care"; }

class SyscallTable : public ::testing::Test {
 protected:
  void SetUp() override
  {
    if (!*GSYS_SYSCALLS_HEADER) GTEST_SKIP() << "no x86_64 unistd_64.h at configure time: no table";
    rows = read_table();
    ASSERT_FALSE(rows.empty()) << GSYS_SYSCALLS_TABLE << " is missing or empty";
  }
  std::map<long, table_row> rows;
};

}  // namespace

// Every __NR_ of the header the build used is a row, with its number.
TEST_F(SyscallTable, HasEveryCallOfTheHeader)
{
  std::ifstream in(GSYS_SYSCALLS_HEADER);
  std::string line;
  std::size_t calls = 0;
  while (std::getline(in, line)) {
    char name[64];
    long nr;
    if (std::sscanf(line.c_str(), "#define __NR_%63s %ld", name, &nr) != 2 || std::string(name) == "syscalls")
      continue;
    ++calls;
    auto it = rows.find(nr);
    ASSERT_NE(it, rows.end()) << name << " (" << nr << ") is not in the table";
    EXPECT_EQ(it->second.name, name);
  }
  EXPECT_GT(calls, 300u);
  EXPECT_EQ(rows.size(), calls);
}

// The policy a runtime builds with no allow-list is exactly the table's
// supported calls judged "yes" or "with care", plus nop.
TEST_F(SyscallTable, DefaultAllowListIsTheSupportedSuitableCalls)
{
  policy p{gsys::policy_options{}};
  for (unsigned nr = 0; nr <= GSYS_NR_MAX; ++nr) {
    if (!p.allowed(nr) || nr == GSYS_NR_NOP) continue;
    auto it = rows.find(nr);
    ASSERT_NE(it, rows.end()) << "the default policy allows " << nr << ", which is not in the table";
    EXPECT_EQ(it->second.supported, "yes") << it->second.name << " is allowed but not marked supported";
    EXPECT_TRUE(suitable(it->second)) << it->second.name << " is allowed but judged '" << it->second.gpu << "'";
  }
  for (const auto& [nr, r] : rows) {
    if (r.supported != "yes" || !suitable(r)) continue;
    EXPECT_TRUE(p.allowed((unsigned)nr)) << r.name << " is supported and suitable but not allowed by default";
  }
  EXPECT_TRUE(p.allowed(GSYS_NR_NOP));
}

// Every operation of include/genesys/ops.h is a row marked supported, and
// no other row is.
TEST_F(SyscallTable, EverySupportedOpIsInTheTable)
{
  std::set<long> ops;
  for (const op_info& op : kOps) {
    if (op.nr == GSYS_NR_NOP) continue;
    ops.insert(op.nr);
    auto it = rows.find(op.nr);
    ASSERT_NE(it, rows.end()) << op.name << " (" << op.nr << ") is not in the table";
    EXPECT_EQ(it->second.name, op.name);
    EXPECT_EQ(it->second.supported, "yes") << op.name;
    EXPECT_TRUE(suitable(it->second)) << op.name << " is supported but judged '" << it->second.gpu << "'";
  }
  for (const auto& [nr, r] : rows) {
    if (r.supported != "yes") continue;
    EXPECT_TRUE(ops.count(nr)) << r.name << " is marked supported but not in the op table";
  }
}

// A kernel's new call cannot go unjudged: the generator refuses a header
// call without an annotation, and an annotation that names no call (a typo,
// or a call a newer kernel removed).
TEST_F(SyscallTable, GeneratorRefusesUnannotatedAndUnknownCalls)
{
  std::string notes = read_file(GSYS_SYSCALLS_ANNOTATIONS);
  auto run = [](const std::string& annotations, const char* flags = "") {
    char tmp[] = "/tmp/gsys-annotations-XXXXXX";
    int fd = mkstemp(tmp);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, annotations.data(), annotations.size()), (ssize_t)annotations.size());
    close(fd);
    std::string cmd = std::string("'") + GSYS_SYSCALLS_GENERATOR + "' --header '" + GSYS_SYSCALLS_HEADER +
                      "' --annotations '" + tmp + "' --table /dev/null " + flags + " 2>/dev/null";
    int rc = std::system(cmd.c_str());
    unlink(tmp);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  ASSERT_EQ(run(notes), 0) << "the annotations as they are must be accepted";
  // Without the line of the header's highest call.
  const std::string last = rows.rbegin()->second.name + " ";
  std::size_t at = notes.find("\n" + last);
  ASSERT_NE(at, std::string::npos) << last << "has no annotation line";
  std::string missing = notes;
  missing.erase(at + 1, notes.find('\n', at + 1) - at);
  EXPECT_NE(run(missing), 0) << "a call of the header without an annotation was accepted";
  EXPECT_NE(run(notes + "no_such_call process no A call no kernel has.\n"), 0)
      << "an annotation of a call the header lacks was accepted";
  // What the build passes, so an older kernel's header (6.1's lacks 6.12's
  // newer calls) still builds: extra annotations are noted, missing ones
  // still fail.
  EXPECT_EQ(run(notes + "no_such_call process no A call no kernel has.\n", "--older-header-ok"), 0);
  EXPECT_NE(run(missing, "--older-header-ok"), 0) << "--older-header-ok accepted a call without an annotation";
}

// docs/syscalls.md in the tree is what the generator writes now from the
// header, the annotations and the op table.
TEST_F(SyscallTable, DocIsCurrent)
{
  char tmp[] = "/tmp/gsys-syscalls-XXXXXX";
  int fd = mkstemp(tmp);
  ASSERT_GE(fd, 0);
  close(fd);
  std::string cmd = std::string("'") + GSYS_SYSCALLS_GENERATOR + "' --header '" + GSYS_SYSCALLS_HEADER +
                    "' --annotations '" + GSYS_SYSCALLS_ANNOTATIONS + "' --doc '" + tmp + "'";
  int rc = std::system(cmd.c_str());
  std::string fresh = read_file(tmp);
  unlink(tmp);
  ASSERT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << cmd << " failed";
  std::string committed = read_file(GSYS_SYSCALLS_DOC);
  if (committed == fresh) return;
  std::istringstream a(committed), b(fresh);
  std::string la, lb;
  for (int n = 1;; ++n) {
    bool more_a = bool(std::getline(a, la)), more_b = bool(std::getline(b, lb));
    if (la != lb || more_a != more_b) {
      ADD_FAILURE() << GSYS_SYSCALLS_DOC << " is stale (cmake --build <build> --target update_syscalls_doc); line " << n
                    << ":\n  in the tree: " << (more_a ? la : "<end>") << "\n  generated:   " << (more_b ? lb : "<end>");
      return;
    }
  }
}

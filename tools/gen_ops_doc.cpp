// Prints docs/operations.md from the op table (include/genesys/ops.h), so the
// documentation cannot drift from what the wrappers and the policy use.
// A test compares its output with the committed file.
#include <cstdio>

#include "op_table.h"

namespace {

const char* kind_name(unsigned k)
{
  switch (k) {
    case GSYS_A_INT: return "int";
    case GSYS_A_FD: return "fd";
    case GSYS_A_FD_OPT: return "fd or -1";
    case GSYS_A_DIRFD: return "dirfd";
    case GSYS_A_LEN: return "length";
    case GSYS_A_OFF: return "offset";
    case GSYS_A_BUF_IN: return "buffer (read)";
    case GSYS_A_BUF_OUT: return "buffer (written)";
    case GSYS_A_PATH: return "path";
    case GSYS_A_MAP_HINT: return "address hint";
    case GSYS_A_MAPPING: return "genesys mapping";
    case GSYS_A_SOCKADDR_IN: return "sockaddr (read)";
    case GSYS_A_SOCKADDR_OUT: return "sockaddr (written)";
    case GSYS_A_SOCKLEN_PTR: return "socklen_t*";
    case GSYS_A_STAT_OUT: return "struct stat*";
    case GSYS_A_RUSAGE_OUT: return "struct rusage*";
    default: return "";
  }
}

const char* dir_name(unsigned d)
{
  return d == GSYS_DIR_IN ? "in (barrier after)" : d == GSYS_DIR_OUT ? "out (barrier before)" : "control (none)";
}

}  // namespace

int main()
{
  std::printf(
      "# Operations\n\n"
      "Generated from `include/genesys/ops.h` by `tools/gen_ops_doc`; do not edit.\n"
      "These are the operations the default policy allows, with the barrier that\n"
      "relaxed ordering keeps for each (see docs/device.md) and the argument checks\n"
      "the executors apply before running them. Anything else goes through\n"
      "`gsys::syscall(nr, ...)` and must be allowed explicitly in\n"
      "`runtime_options::policy.allow`, which replaces the default list when set:\n"
      "start from `gsys::default_allow()` and add the call.\n\n"
      "| operation | opcode | relaxed barrier | arguments |\n"
      "|---|---|---|---|\n");
  for (const auto& op : gsys::detail::kOps) {
    std::printf("| %s | %ld | %s |", op.name, op.nr, dir_name(op.dir));
    bool first = true;
    for (unsigned k : op.arg) {
      if (!k) continue;
      std::printf("%s %s", first ? "" : ",", kind_name(k));
      first = false;
    }
    std::printf(" |\n");
  }
  return 0;
}

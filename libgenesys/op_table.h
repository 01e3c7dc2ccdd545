// Host-side view of include/genesys/ops.h: per-opcode names, directions and
// argument kinds, looked up in O(1).
#pragma once

#include <genesys/ops.h>

#include <array>
#include <cstdint>

namespace gsys::detail {

struct op_info {
  const char* name;
  long nr;
  unsigned dir;
  unsigned arg[GSYS_SLOT_ARGS];
};

inline constexpr std::array<op_info, GSYS_OP_COUNT> kOps = {{
#define GSYS_OP_ROW(name, nr, dir, a0, a1, a2, a3, a4, a5) {#name, nr, dir, {a0, a1, a2, a3, a4, a5}},
    GSYS_OP_TABLE(GSYS_OP_ROW)
#undef GSYS_OP_ROW
}};

// Index of `nr` in kOps, or kOps.size() for an opcode outside the table.
inline constexpr std::size_t kOtherOp = GSYS_OP_COUNT;

inline std::size_t op_index(unsigned nr)
{
  static const auto table = [] {
    std::array<std::uint8_t, GSYS_NR_MAX + 1> t{};
    t.fill((std::uint8_t)kOtherOp);
    for (std::size_t i = 0; i < kOps.size(); ++i) t[(unsigned)kOps[i].nr] = (std::uint8_t)i;
    return t;
  }();
  return nr <= GSYS_NR_MAX ? table[nr] : kOtherOp;
}

inline const op_info* find_op(unsigned nr)
{
  std::size_t i = op_index(nr);
  return i == kOtherOp ? nullptr : &kOps[i];
}

}  // namespace gsys::detail

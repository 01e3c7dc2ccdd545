// Host side of the file-system examples: turning command-line operands into
// the ordered list of files to read (walking directories for -r the way GNU
// grep does), and laying that list out for the kernels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fs/fs_inputs.h"

namespace gsys {
class runtime;
}

namespace ex {

struct input_file {
  std::string name;          // opened by the kernel and printed
  std::uint64_t size = 0;    // from stat; 0 when stat failed (the kernel's open reports why)
  int list_errno = 0;        // a directory that could not be read
  bool regular = false;      // a regular file (wc's column width counts only these)
  bool directory = false;    // (without -r) read like a file, so that its read reports EISDIR
  bool special = false;      // a FIFO, device or socket: nothing is read (its size says 0)
  bool stat_failed = false;
};

// Operands in order. With `recursive`, a directory operand is replaced by the
// files under it in directory order, depth first (as GNU grep -r: symbolic
// links and special files found inside are skipped, a directory that cannot
// be read is reported); no operand means ".", printed without "./".
std::vector<input_file> list_inputs(const std::vector<std::string>& operands, bool recursive);

// Copies the list into runtime memory, cut into chunks of `chunk_bytes`.
fs_inputs layout_inputs(gsys::runtime& rt, const std::vector<input_file>& files, std::uint64_t chunk_bytes,
                        const std::string& prog);

// The longest name, for sizing output buffers.
std::uint32_t longest_name(const std::vector<input_file>& files);

}  // namespace ex

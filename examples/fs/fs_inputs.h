// The inputs of the file-system examples (gsys-grep, gsys-wc) as the GPU
// sees them: a table of files in output order, cut into chunks that blocks
// take in turn, plus the strings the kernels print (names, strerror texts).
// Plain data in memory from runtime::alloc(), shared by host and kernels.
#pragma once

#include <cstdint>

namespace ex {

constexpr int kMaxErrno = 134;  // error texts the kernels can print: strerror(0..133)

// fs_file::size of a regular file whose size says 0: it may still have
// content (procfs, some FUSE files), so it is read until a read returns 0.
// It has one chunk, whose block reads on chunk after chunk. (Also that of a
// directory that says 0, as on sysfs: its read still reports EISDIR.)
constexpr std::uint64_t kSizeUnknown = ~std::uint64_t{0};

struct fs_file {
  std::uint64_t size;         // bytes to read: the size when the host listed it, or kSizeUnknown
  std::uint64_t first_chunk;  // global index of its first chunk
  std::uint32_t chunks;       // >= 1: every input gets a turn, if only to report an error
  std::int32_t list_errno;    // nonzero: listing it failed; the kernel only reports this
  std::uint32_t name;         // offset in `strings` of the path, NUL-terminated (opened and printed)
  std::uint32_t name_len;
  std::uint32_t special;      // neither a regular file nor a directory (a FIFO, a device): opened O_NONBLOCK
};

struct fs_inputs {
  fs_file* files = nullptr;
  std::uint32_t nfiles = 0;
  std::uint64_t total_chunks = 0;
  std::uint64_t chunk_bytes = 0;
  char* strings = nullptr;
  std::uint32_t* errtext = nullptr;  // [kMaxErrno] offsets in `strings`
  std::uint32_t prog = 0, prog_len = 0;  // the program name, for messages
  std::uint64_t total_bytes = 0;          // sum of the known sizes (--stats adds what files of unknown size held)
};

}  // namespace ex

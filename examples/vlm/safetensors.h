// safetensors on the host: the header only. The file is an 8-byte
// little-endian header length N, N bytes of JSON ({"name": {"dtype",
// "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}) and the
// data, offsets relative to byte 8 + N. The tensors' bytes are read later,
// by the loader kernel (gsys::pread), never here.
//
// parse_safetensors is pure (bytes in, tensors or error out) so a fuzzer can
// drive it; open_checkpoint does the file I/O around it: one file
// (model.safetensors) or shards listed in model.safetensors.index.json.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "vlm/config.h"

namespace vlm {

// Largest file read_file takes: its callers read JSON (config, index,
// prompt spec, heads), and a prompt of 2^24 token ids is about 170 MB.
constexpr std::uint64_t kMaxTextFileBytes = 1ull << 30;

// The whole regular file at `path` into `out`: "" or "PATH: why" (its
// strerror, "is a directory", "not a regular file", over kMaxTextFileBytes).
// A directory opens and reads as empty, which parsers would report as
// "unexpected end of input". Opened without blocking: a FIFO is refused,
// not waited on.
std::string read_file(const std::string& path, std::string& out);
// The same, false on any error (for files that may be absent).
bool read_whole_file(const std::string& path, std::string& out);
// "" when `fd` (opened from `path`) is a regular file, with its size in
// `size`; else "PATH: is a directory", "PATH: not a regular file" or
// "PATH: strerror". (lseek(SEEK_END) on a directory "succeeds" with a huge
// offset, and read(2) fails, so callers check this first.)
std::string regular_file_size(int fd, const std::string& path, std::uint64_t& size);

struct tensor_info {
  std::string name;
  dtype dt = dtype::f32;
  std::vector<std::int64_t> shape;
  std::uint64_t offset = 0;  // absolute, in its file
  std::uint64_t bytes = 0;
  std::uint32_t file = 0;    // index into checkpoint::files
  std::int64_t numel() const
  {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

std::string shape_string(const std::vector<std::int64_t>& s);  // "[1536, 8960]"

// Largest header accepted (the format's own limit is 100 MB).
constexpr std::uint64_t kMaxHeaderBytes = 100ull << 20;

struct header_result {
  std::vector<tensor_info> tensors;  // in data order
  std::uint64_t header_bytes = 0;    // N: the JSON's length (0 when even that was unreadable)
  std::string error;                 // "<file>: ..." ; empty on success
  bool ok() const { return error.empty(); }
};

// How many bytes of the file parse_safetensors needs: 8 + N, or 8 when
// `first8` is shorter than 8 bytes.
std::uint64_t safetensors_prefix_bytes(std::string_view first8);

// Parses a header: `prefix` is the file's first bytes (at least 8 + N of
// them, else "truncated header"), `file_size` the whole file's size (data
// past its end is "truncated file"), `file` names it in messages and
// `file_index` goes into every tensor_info. Checks dtypes, shapes, that every
// tensor's byte count matches its shape and that tensors neither overlap nor
// reach past the file.
header_result parse_safetensors(std::string_view prefix, std::uint64_t file_size, std::string_view file,
                                std::uint32_t file_index = 0);

struct checkpoint {
  std::string dir;
  std::vector<std::string> files;  // paths
  std::vector<std::uint64_t> file_sizes;
  std::vector<tensor_info> tensors;
  std::unordered_map<std::string, std::size_t> by_name;
  const tensor_info* find(const std::string& name) const
  {
    auto it = by_name.find(name);
    return it == by_name.end() ? nullptr : &tensors[it->second];
  }
};

struct checkpoint_result {
  checkpoint ckpt;
  std::string error;
  bool ok() const { return error.empty(); }
};

// Pure: the shard file names of a model.safetensors.index.json, and which
// tensor each holds. Error on a malformed index.
struct index_result {
  std::vector<std::string> files;                              // distinct, in first-use order
  std::vector<std::pair<std::string, std::string>> weight_map;  // tensor -> file
  std::string error;
  bool ok() const { return error.empty(); }
};
index_result parse_safetensors_index(std::string_view json_text, std::string_view source);

// Reads the headers of `dir`/model.safetensors.index.json's shards, or of
// `dir`/model.safetensors. Only the headers are read.
checkpoint_result open_checkpoint(const std::string& dir);

// Writing: a header for `tensors` (name, dtype, shape; offsets assigned in
// order from 0, data 8-aligned by padding the header with spaces).
// Returns the whole prefix (8-byte length + JSON); the tensors' offsets are
// filled in (absolute: prefix size + relative offset).
std::string make_safetensors_header(std::vector<tensor_info>& tensors);

}  // namespace vlm

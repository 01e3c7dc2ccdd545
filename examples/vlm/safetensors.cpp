#include "vlm/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/json.h"

namespace vlm {

std::string shape_string(const std::vector<std::int64_t>& s)
{
  std::string o = "[";
  for (std::size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
  return o + "]";
}

static std::uint64_t le64(const char* p)
{
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | (unsigned char)p[i];
  return v;
}

std::uint64_t safetensors_prefix_bytes(std::string_view first8)
{
  if (first8.size() < 8) return 8;
  const std::uint64_t n = le64(first8.data());
  return n > kMaxHeaderBytes ? 8 : 8 + n;
}

header_result parse_safetensors(std::string_view prefix, std::uint64_t file_size, std::string_view file,
                                std::uint32_t file_index)
{
  header_result r;
  const std::string f(file);
  if (file_size < 8 || prefix.size() < 8) {
    r.error = f + ": truncated file: " + std::to_string(file_size) + " bytes, no safetensors header length";
    return r;
  }
  const std::uint64_t n = le64(prefix.data());
  if (n < 2 || n > kMaxHeaderBytes) {
    r.error = f + ": corrupt header: header length " + std::to_string(n) + " is not in [2, " +
              std::to_string(kMaxHeaderBytes) + "]";
    return r;
  }
  if (8 + n > file_size || prefix.size() < 8 + n) {
    r.error = f + ": truncated header: it claims " + std::to_string(n) + " bytes, the file has " +
              std::to_string(file_size > 8 ? file_size - 8 : 0) + " after the length";
    return r;
  }
  r.header_bytes = n;
  const ex::json::result j = ex::json::parse(prefix.substr(8, n));
  if (!j.ok()) {
    r.error = f + ": corrupt header: " + j.error;
    return r;
  }
  if (!j.val.is_object()) {
    r.error = f + ": corrupt header: not a JSON object";
    return r;
  }
  const std::uint64_t data_start = 8 + n, data_bytes = file_size - data_start;
  for (const auto& member : j.val.members) {
    const std::string& name = member.first;  // not a structured binding: clang < 16 cannot capture one in `bad`
    const ex::json::value& v = member.second;
    if (name == "__metadata__") continue;
    auto bad = [&](const std::string& what) {
      r.error = f + ": tensor " + name + ": " + what;
      r.tensors.clear();
      return r;
    };
    if (!v.is_object()) return bad("not an object");
    tensor_info t;
    t.name = name;
    t.file = file_index;
    const auto* dt = v.find("dtype");
    if (!dt || !dt->is_string()) return bad("no dtype");
    if (dt->s == "F32") t.dt = dtype::f32;
    else if (dt->s == "F16") t.dt = dtype::f16;
    else if (dt->s == "BF16") t.dt = dtype::bf16;
    else return bad("dtype " + dt->s + " is not supported (F32, F16, BF16)");
    const auto* sh = v.find("shape");
    if (!sh || !sh->is_array()) return bad("no shape");
    std::uint64_t numel = 1;
    for (const auto& d : sh->items) {
      std::int64_t x;
      if (!d.get_int(x) || x < 0 || x > (std::int64_t(1) << 40)) return bad("invalid shape");
      t.shape.push_back(x);
      if (x && numel > (std::uint64_t(1) << 50) / std::uint64_t(x)) return bad("shape too large");
      numel *= std::uint64_t(x);
    }
    const auto* off = v.find("data_offsets");
    std::int64_t b, e;
    if (!off || !off->is_array() || off->items.size() != 2 || !off->items[0].get_int(b) ||
        !off->items[1].get_int(e) || b < 0 || e < b)
      return bad("invalid data_offsets");
    t.bytes = std::uint64_t(e - b);
    if (t.bytes != numel * dtype_bytes(t.dt))
      return bad("data_offsets hold " + std::to_string(t.bytes) + " bytes, shape " + shape_string(t.shape) + " of " +
                 dtype_name(t.dt) + " needs " + std::to_string(numel * dtype_bytes(t.dt)));
    if (std::uint64_t(e) > data_bytes)
      return bad("truncated file: data ends at byte " + std::to_string(data_start + std::uint64_t(e)) +
                 ", the file has " + std::to_string(file_size));
    t.offset = data_start + std::uint64_t(b);
    r.tensors.push_back(std::move(t));
  }
  std::sort(r.tensors.begin(), r.tensors.end(),
            [](const tensor_info& a, const tensor_info& b) { return a.offset < b.offset; });
  for (std::size_t i = 1; i < r.tensors.size(); ++i) {
    const tensor_info& a = r.tensors[i - 1];
    if (a.offset + a.bytes > r.tensors[i].offset) {
      r.error = f + ": corrupt header: tensors " + a.name + " and " + r.tensors[i].name + " overlap";
      r.tensors.clear();
      return r;
    }
  }
  return r;
}

index_result parse_safetensors_index(std::string_view text, std::string_view source)
{
  index_result r;
  const std::string src(source);
  const ex::json::result j = ex::json::parse(text);
  if (!j.ok()) {
    r.error = src + ": " + j.error;
    return r;
  }
  const ex::json::value* wm = j.val.find("weight_map");
  if (!wm || !wm->is_object()) {
    r.error = src + ": no \"weight_map\" object";
    return r;
  }
  for (const auto& [name, file] : wm->members) {
    if (!file.is_string() || file.s.empty() || file.s.find('/') != std::string::npos || file.s == "..") {
      r.error = src + ": tensor " + name + ": the shard must be a file name in the same directory";
      r.files.clear();
      r.weight_map.clear();
      return r;
    }
    if (std::find(r.files.begin(), r.files.end(), file.s) == r.files.end()) r.files.push_back(file.s);
    r.weight_map.emplace_back(name, file.s);
  }
  if (r.files.empty()) r.error = src + ": \"weight_map\" is empty";
  return r;
}

std::string regular_file_size(int fd, const std::string& path, std::uint64_t& size)
{
  struct stat st {};
  if (::fstat(fd, &st) != 0) return path + ": " + std::strerror(errno);
  if (S_ISDIR(st.st_mode)) return path + ": is a directory";
  if (!S_ISREG(st.st_mode)) return path + ": not a regular file";
  size = std::uint64_t(st.st_size);
  return "";
}

std::string read_file(const std::string& path, std::string& out)
{
  // O_NONBLOCK: a FIFO without a writer would block the open for good; it is
  // refused below, as anything that is not a regular file is.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return path + ": " + std::strerror(errno);
  std::uint64_t size = 0;
  std::string err = regular_file_size(fd, path, size);
  if (err.empty() && size > kMaxTextFileBytes)
    err = path + ": too large (" + std::to_string(size) + " bytes; at most " + std::to_string(kMaxTextFileBytes) + ")";
  out.clear();
  char buf[1 << 16];
  while (err.empty()) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = path + ": " + std::strerror(errno);
    if (n <= 0) break;
    out.append(buf, std::size_t(n));
    if (out.size() > kMaxTextFileBytes) err = path + ": too large (more than " + std::to_string(kMaxTextFileBytes) +
                                              " bytes)";  // it grew, or said 0 (procfs)
  }
  ::close(fd);
  return err;
}

bool read_whole_file(const std::string& path, std::string& out) { return read_file(path, out).empty(); }

namespace {

// Reads 8 + N bytes of `path` into `prefix`; "" or an error.
std::string read_prefix(const std::string& path, std::string& prefix, std::uint64_t& size)
{
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);  // a FIFO: refused, not waited on
  if (fd < 0) return path + ": " + std::strerror(errno);
  if (std::string e = regular_file_size(fd, path, size); !e.empty()) {
    ::close(fd);
    return e;
  }
  prefix.assign(8, '\0');
  ssize_t n = ::pread(fd, prefix.data(), 8, 0);
  if (n < 0) n = 0;
  prefix.resize(std::size_t(n));
  const std::uint64_t want = safetensors_prefix_bytes(prefix);
  if (want > 8 && want <= size) {
    prefix.resize(want);
    std::uint64_t got = 8;
    while (got < want) {
      const ssize_t m = ::pread(fd, prefix.data() + got, want - got, off_t(got));
      if (m <= 0) break;
      got += std::uint64_t(m);
    }
    prefix.resize(got);
  }
  ::close(fd);
  return "";
}

}  // namespace

checkpoint_result open_checkpoint(const std::string& dir)
{
  checkpoint_result r;
  checkpoint& c = r.ckpt;
  c.dir = dir;
  const std::string index_path = dir + "/model.safetensors.index.json";
  std::string text;
  index_result idx;
  // An index that is there but cannot be read (a directory, a FIFO, no
  // permission) is an error, not a checkpoint without shards.
  struct stat st {};
  if (::stat(index_path.c_str(), &st) == 0 || errno != ENOENT) {
    if (std::string e = read_file(index_path, text); !e.empty()) {
      r.error = e;
      return r;
    }
    idx = parse_safetensors_index(text, index_path);
    if (!idx.ok()) {
      r.error = idx.error;
      return r;
    }
    for (const auto& f : idx.files) c.files.push_back(dir + "/" + f);
  } else {
    c.files.push_back(dir + "/model.safetensors");
  }
  for (std::uint32_t i = 0; i < c.files.size(); ++i) {
    std::string prefix;
    std::uint64_t size = 0;
    if (std::string e = read_prefix(c.files[i], prefix, size); !e.empty()) {
      r.error = e;
      return r;
    }
    header_result h = parse_safetensors(prefix, size, c.files[i], i);
    if (!h.ok()) {
      r.error = h.error;
      return r;
    }
    c.file_sizes.push_back(size);
    for (auto& t : h.tensors) {
      if (c.by_name.count(t.name)) {
        r.error = c.files[i] + ": tensor " + t.name + " is also in " + c.files[c.find(t.name)->file];
        return r;
      }
      c.by_name[t.name] = c.tensors.size();
      c.tensors.push_back(std::move(t));
    }
  }
  for (const auto& [name, file] : idx.weight_map) {
    const tensor_info* t = c.find(name);
    if (!t) {
      r.error = index_path + ": tensor " + name + " is not in " + dir + "/" + file;
      return r;
    }
    if (c.files[t->file] != dir + "/" + file) {
      r.error = index_path + ": tensor " + name + " is listed in " + file + " but found in " + c.files[t->file];
      return r;
    }
  }
  return r;
}

std::string make_safetensors_header(std::vector<tensor_info>& tensors)
{
  std::string j = "{\"__metadata__\":{\"format\":\"pt\"}";
  std::uint64_t off = 0;
  std::vector<std::uint64_t> rel;
  for (const auto& t : tensors) {
    rel.push_back(off);
    j += "," + ex::json::quote(t.name) + ":{\"dtype\":\"" + dtype_name(t.dt) + "\",\"shape\":[";
    for (std::size_t i = 0; i < t.shape.size(); ++i) j += (i ? "," : "") + std::to_string(t.shape[i]);
    j += "],\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(off + t.bytes) + "]}";
    off += t.bytes;
  }
  j += "}";
  while ((8 + j.size()) % 8) j += ' ';
  std::string out(8, '\0');
  std::uint64_t n = j.size();
  for (int i = 0; i < 8; ++i) out[std::size_t(i)] = char((n >> (8 * i)) & 0xff);
  out += j;
  for (std::size_t i = 0; i < tensors.size(); ++i) tensors[i].offset = out.size() + rel[i];
  return out;
}

}  // namespace vlm

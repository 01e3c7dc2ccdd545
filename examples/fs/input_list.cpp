#include "fs/input_list.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <genesys/runtime.h>

namespace ex {

namespace {

input_file from_stat(const std::string& name, const struct stat* st)
{
  input_file f;
  f.name = name;
  if (!st) {
    f.stat_failed = true;
    return f;
  }
  f.regular = S_ISREG(st->st_mode);
  f.directory = S_ISDIR(st->st_mode);
  f.special = !f.regular && !f.directory;
  f.size = f.regular || S_ISDIR(st->st_mode) ? (std::uint64_t)st->st_size : 0;
  return f;
}

// "dir" + "x" -> "dir/x"; "" (the implicit ".") + "x" -> "x"; "/" + "x" -> "/x".
std::string join(const std::string& dir, const char* entry)
{
  if (dir.empty()) return entry;
  if (dir.back() == '/') return dir + entry;
  return dir + "/" + entry;
}

// Preorder, entries in readdir order: what gnulib's fts gives GNU grep
// (it sorts only directories of more than 10000 entries, by inode).
void walk(const std::string& dir, const std::string& shown, std::vector<input_file>& out)
{
  DIR* d = opendir(dir.c_str());
  if (!d) {
    input_file f;
    f.name = shown.empty() ? "." : shown;
    f.list_errno = errno;
    out.push_back(f);
    return;
  }
  std::vector<std::pair<std::string, unsigned char>> entries;
  errno = 0;
  while (dirent* e = readdir(d)) {
    if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
    entries.emplace_back(e->d_name, e->d_type);
  }
  const int read_errno = errno;
  closedir(d);
  for (auto& [name, type] : entries) {
    const std::string path = join(dir == "." && shown.empty() ? "" : dir, name.c_str());
    const std::string label = join(shown, name.c_str());
    struct stat st;
    if (type == DT_UNKNOWN || type == DT_DIR || type == DT_REG) {
      if (lstat(path.c_str(), &st) != 0) {
        out.push_back(from_stat(label, nullptr));
        continue;
      }
    } else {
      continue;  // symbolic links, devices, FIFOs, sockets: skipped, as grep -r does
    }
    if (S_ISDIR(st.st_mode)) walk(path, label, out);
    else if (S_ISREG(st.st_mode)) out.push_back(from_stat(label, &st));
  }
  if (read_errno) {
    input_file f;
    f.name = shown.empty() ? "." : shown;
    f.list_errno = read_errno;
    out.push_back(f);
  }
}

// GNU grep prints "d/x" for the operand "d/" or "d//": trailing slashes go.
std::string strip_slashes(std::string s)
{
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

std::vector<input_file> list_inputs(const std::vector<std::string>& operands, bool recursive)
{
  std::vector<input_file> out;
  if (operands.empty() && recursive) {
    walk(".", "", out);
    return out;
  }
  for (const std::string& op : operands) {
    struct stat st;
    const bool ok = stat(op.c_str(), &st) == 0;  // operands: symbolic links are followed
    if (recursive && ok && S_ISDIR(st.st_mode)) {
      const std::string dir = strip_slashes(op);
      walk(dir, dir, out);
    } else {
      out.push_back(from_stat(op, ok ? &st : nullptr));
    }
  }
  return out;
}

std::uint32_t longest_name(const std::vector<input_file>& files)
{
  std::size_t m = 0;
  for (const auto& f : files) m = std::max(m, f.name.size());
  return (std::uint32_t)m;
}

fs_inputs layout_inputs(gsys::runtime& rt, const std::vector<input_file>& files, std::uint64_t chunk_bytes,
                        const std::string& prog)
{
  if (chunk_bytes == 0) throw std::invalid_argument("chunk size must be positive");
  std::string strings;
  auto add = [&](std::string_view s) {
    if (strings.size() + s.size() + 1 > 0xffffffffu) throw std::length_error("too many file names");
    const auto off = (std::uint32_t)strings.size();
    strings.append(s);
    strings.push_back('\0');
    return off;
  };

  fs_inputs in;
  in.nfiles = (std::uint32_t)files.size();
  in.chunk_bytes = chunk_bytes;
  in.files = static_cast<fs_file*>(rt.alloc(sizeof(fs_file) * std::max<std::size_t>(files.size(), 1)));
  std::vector<std::uint32_t> errtext(kMaxErrno);
  for (int e = 0; e < kMaxErrno; ++e) errtext[e] = add(std::strerror(e));
  in.prog = add(prog);
  in.prog_len = (std::uint32_t)prog.size();

  std::uint64_t chunk = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    fs_file& f = in.files[i];
    // A regular file that says 0 bytes is read to its end (see kSizeUnknown);
    // so is a directory that does (sysfs): its first read reports EISDIR.
    const bool unknown = (files[i].regular || files[i].directory) && files[i].size == 0;
    f.size = unknown ? kSizeUnknown : files[i].size;
    f.first_chunk = chunk;
    const std::uint64_t n = files[i].size ? (files[i].size + chunk_bytes - 1) / chunk_bytes : 1;
    if (n > 0xffffffffu) throw std::length_error(files[i].name + ": too many chunks; use a larger --chunk-size");
    f.chunks = (std::uint32_t)n;
    f.list_errno = files[i].list_errno;
    f.name = add(files[i].name);
    f.name_len = (std::uint32_t)files[i].name.size();
    f.special = files[i].special;
    chunk += n;
    in.total_bytes += files[i].size;
  }
  in.total_chunks = chunk;
  in.strings = static_cast<char*>(rt.alloc(strings.size()));
  std::memcpy(in.strings, strings.data(), strings.size());
  in.errtext = static_cast<std::uint32_t*>(rt.alloc(sizeof(std::uint32_t) * kMaxErrno));
  std::memcpy(in.errtext, errtext.data(), sizeof(std::uint32_t) * kMaxErrno);
  return in;
}

}  // namespace ex

#include "vlm/weights.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <new>

#include "common/json.h"
#include "vlm/numeric.h"

namespace vlm {

std::uint64_t name_hash(const std::string& s)
{
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::vector<tensor_spec> expected_tensors(const config& c)
{
  std::vector<tensor_spec> t;
  const std::int64_t h = c.hidden, q = c.q_dim(), kv = c.kv_dim(), f = c.ffn;
  t.push_back({"model.embed_tokens.weight", {c.vocab, h}, role::embedding});
  for (std::int64_t l = 0; l < c.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    t.push_back({p + "input_layernorm.weight", {h}, role::norm});
    t.push_back({p + "self_attn.q_proj.weight", {q, h}, role::linear});
    t.push_back({p + "self_attn.q_proj.bias", {q}, role::bias});
    t.push_back({p + "self_attn.k_proj.weight", {kv, h}, role::linear});
    t.push_back({p + "self_attn.k_proj.bias", {kv}, role::bias});
    t.push_back({p + "self_attn.v_proj.weight", {kv, h}, role::linear});
    t.push_back({p + "self_attn.v_proj.bias", {kv}, role::bias});
    t.push_back({p + "self_attn.o_proj.weight", {h, q}, role::linear});
    t.push_back({p + "post_attention_layernorm.weight", {h}, role::norm});
    t.push_back({p + "mlp.gate_proj.weight", {f, h}, role::linear});
    t.push_back({p + "mlp.up_proj.weight", {f, h}, role::linear});
    t.push_back({p + "mlp.down_proj.weight", {h, f}, role::linear});
  }
  t.push_back({"model.norm.weight", {h}, role::norm});
  if (!c.tie_embeddings) t.push_back({"lm_head.weight", {c.vocab, h}, role::linear});
  return t;
}

weight_plan plan_weights(const checkpoint& ck, const config& c)
{
  weight_plan p;
  const std::vector<tensor_spec> want = expected_tensors(c);
  const std::string where = ck.files.size() == 1 ? ck.files[0] : ck.dir;
  for (const tensor_spec& s : want) {
    const tensor_info* t = ck.find(s.name);
    if (!t && s.name.rfind("model.", 0) == 0) t = ck.find("model.language_model." + s.name.substr(6));
    if (!t && s.name == "lm_head.weight") t = ck.find("model.lm_head.weight");
    if (!t) {
      p.error = where + ": missing tensor " + s.name + " (expected shape " + shape_string(s.shape) + ")";
      return p;
    }
    if (t->shape != s.shape) {
      p.error = ck.files[t->file] + ": tensor " + t->name + ": expected shape " + shape_string(s.shape) +
                ", found " + shape_string(t->shape);
      return p;
    }
    p.tensors.push_back(t);
    p.bytes += t->bytes;
    p.params += std::uint64_t(t->numel());
  }
  return p;
}

float synthetic_value(std::uint64_t seed, const tensor_spec& t, std::uint64_t i)
{
  const std::uint64_t h = checksum_term(i, std::uint32_t(name_hash(t.name) ^ seed)) ^ (seed * 0x9e3779b97f4a7c15ull);
  const float u = float((h >> 40) & 0xffffffu) / float(1 << 23) - 1.0f;  // [-1, 1)
  switch (t.r) {
    case role::embedding: return u;
    case role::linear: return u / std::sqrt(float(t.shape[1]));
    case role::bias: return 0.1f * u;
    case role::norm: return 1.0f + 0.1f * u;
  }
  return 0;
}

namespace {

std::string write_all(int fd, const void* p, std::size_t n, const std::string& path)
{
  const char* c = static_cast<const char*>(p);
  while (n) {
    const ssize_t w = ::write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return path + ": " + std::strerror(errno);
    }
    c += w;
    n -= std::size_t(w);
  }
  return "";
}

}  // namespace

std::string write_synthetic_checkpoint(const std::string& dir, const config& c, dtype dt, unsigned shards,
                                       std::uint64_t seed,
                                       const std::function<void(std::uint64_t, std::uint64_t)>& progress,
                                       const std::function<float(const tensor_spec&, std::uint64_t, float)>& adjust)
{
  if (std::string e = validate(c); !e.empty()) return "invalid config: " + e;
  const std::vector<tensor_spec> specs = expected_tensors(c);
  auto bytes_of = [&](const tensor_spec& t) {
    std::uint64_t n = dtype_bytes(dt);
    for (auto d : t.shape) n *= std::uint64_t(d);
    return n;
  };
  if (shards == 0) shards = 1;
  // Exactly `shards` files, named -of-<shards>: each needs a tensor.
  if (shards > specs.size())
    return std::to_string(shards) + " shards: the model has " + std::to_string(specs.size()) +
           " tensors, at most one shard each";
  if (::mkdir(dir.c_str(), 0777) != 0 && errno != EEXIST) return dir + ": " + std::strerror(errno);
  {
    config cc = c;
    cc.torch_dtype = dt;
    std::ofstream f(dir + "/config.json");
    f << to_json(cc);
    if (!f) return dir + "/config.json: cannot write";
  }
  std::uint64_t total = 0;
  for (const auto& t : specs) total += bytes_of(t);
  // Cut the tensor list into `shards` runs of about equal bytes, none empty:
  // a tensor bigger than a share (the embeddings) takes the next cuts with it
  // unless every shard gets one tensor and leaves one to each after it.
  std::vector<std::size_t> first(shards + 1, specs.size());
  first[0] = 0;
  {
    std::uint64_t acc = 0;  // bytes of specs[0, i)
    std::size_t i = 0;
    for (unsigned s = 1; s < shards; ++s) {
      const std::size_t last = specs.size() - (shards - s);
      do acc += bytes_of(specs[i++]);
      while (i < last && acc < total * s / shards);
      first[s] = i;
    }
  }
  std::string index = "{\n  \"metadata\": {\"total_size\": " + std::to_string(total) + "},\n  \"weight_map\": {";
  std::uint64_t written = 0;
  std::vector<unsigned char> buf;
  bool first_entry = true;
  for (unsigned s = 0; s < shards; ++s) {
    const std::string name = shards == 1 ? "model.safetensors"
                                         : "model-" + std::string(5 - std::to_string(s + 1).size(), '0') +
                                               std::to_string(s + 1) + "-of-" +
                                               std::string(5 - std::to_string(shards).size(), '0') +
                                               std::to_string(shards) + ".safetensors";
    const std::string path = dir + "/" + name;
    std::vector<tensor_info> infos;
    for (std::size_t i = first[s]; i < first[s + 1]; ++i) {
      tensor_info t;
      t.name = specs[i].name;
      t.dt = dt;
      t.shape = specs[i].shape;
      t.bytes = std::uint64_t(t.numel()) * dtype_bytes(dt);
      infos.push_back(t);
      index += std::string(first_entry ? "\n" : ",\n") + "    " + ex::json::quote(t.name) + ": " + ex::json::quote(name);
      first_entry = false;
    }
    const std::string header = make_safetensors_header(infos);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return path + ": " + std::strerror(errno);
    std::string err = write_all(fd, header.data(), header.size(), path);
    for (std::size_t i = first[s]; err.empty() && i < first[s + 1]; ++i) {
      const tensor_spec& sp = specs[i];
      const std::uint64_t n = std::uint64_t(infos[i - first[s]].numel());
      const std::uint64_t step = 1 << 20;
      for (std::uint64_t a = 0; err.empty() && a < n; a += step) {
        const std::uint64_t m = std::min(step, n - a);
        buf.resize(m * dtype_bytes(dt));
        for (std::uint64_t j = 0; j < m; ++j) {
          float v = synthetic_value(seed, sp, a + j);
          if (adjust) v = adjust(sp, a + j, v);
          if (dt == dtype::f32) {
            std::memcpy(&buf[j * 4], &v, 4);
          } else {
            const std::uint16_t h = dt == dtype::bf16 ? float_to_bf16(v) : float_to_f16(v);
            std::memcpy(&buf[j * 2], &h, 2);
          }
        }
        err = write_all(fd, buf.data(), buf.size(), path);
        written += buf.size();
        if (progress) progress(written, total);
      }
    }
    if (::close(fd) != 0 && err.empty()) err = path + ": " + std::strerror(errno);
    if (!err.empty()) return err;
  }
  if (shards > 1) {
    index += "\n  }\n}\n";
    std::ofstream f(dir + "/model.safetensors.index.json");
    f << index;
    if (!f) return dir + "/model.safetensors.index.json: cannot write";
  } else {
    ::unlink((dir + "/model.safetensors.index.json").c_str());
  }
  return "";
}

std::string read_tensor_bytes(const checkpoint& ck, const tensor_info& t, std::vector<unsigned char>& out)
{
  const std::string& path = ck.files[t.file];
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);  // a FIFO: not waited on
  if (fd < 0) return path + ": " + std::strerror(errno);
  try {
    out.resize(t.bytes);
  } catch (const std::bad_alloc&) {
    ::close(fd);
    return path + ": tensor " + t.name + ": " + std::to_string(t.bytes) + " bytes do not fit in memory";
  }
  std::uint64_t got = 0;
  while (got < t.bytes) {
    const ssize_t n = ::pread(fd, out.data() + got, t.bytes - got, off_t(t.offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return path + ": tensor " + t.name + ": " + (n < 0 ? std::strerror(errno) : "truncated file");
    }
    got += std::uint64_t(n);
  }
  ::close(fd);
  return "";
}

std::string read_tensor_f32(const checkpoint& ck, const tensor_info& t, std::vector<float>& out)
{
  std::vector<unsigned char> raw;
  if (std::string e = read_tensor_bytes(ck, t, raw); !e.empty()) return e;
  const std::uint64_t n = std::uint64_t(t.numel());
  try {
    out.resize(n);
  } catch (const std::bad_alloc&) {
    return ck.files[t.file] + ": tensor " + t.name + ": " + std::to_string(n * 4) + " bytes of fp32 do not fit in memory";
  }
  for (std::uint64_t i = 0; i < n; ++i) {
    if (t.dt == dtype::f32) {
      std::memcpy(&out[i], &raw[i * 4], 4);
    } else {
      std::uint16_t h;
      std::memcpy(&h, &raw[i * 2], 2);
      out[i] = t.dt == dtype::bf16 ? bf16_to_float(h) : f16_to_float(h);
    }
  }
  return "";
}

}  // namespace vlm

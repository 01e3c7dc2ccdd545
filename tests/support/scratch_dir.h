// A fresh directory under $TMPDIR, removed with its files at the end: what
// every suite's temporary files go into (test_env.h, the gsys-vlm tests).
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace gsys_test {

class scratch_dir {
 public:
  scratch_dir()
  {
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base ? base : "/tmp") + "/genesys-test-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
    path_ = buf.data();
  }
  ~scratch_dir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace gsys_test

// The parts of `genesys info` that do not depend on the back end: the PCIe
// link from sysfs and the executor the runtime would choose.
#include "link_info.h"

#include <cctype>
#include <cstdio>
#include <fstream>

#include <genesys/runtime.h>

namespace gsys::detail {

namespace {

// The first line of a sysfs file, or "" when it is missing.
std::string sysfs_line(const std::string& path)
{
  std::ifstream f(path);
  std::string line;
  if (f) std::getline(f, line);
  return line;
}

int sysfs_int(const std::string& path, int missing)
{
  std::string s = sysfs_line(path);
  try {
    return s.empty() ? missing : std::stoi(s);
  } catch (const std::exception&) {
    return missing;  // "Unknown" and the like
  }
}

// sysfs spells bus ids "0000:19:00.0"; CUDA may use upper case, nvidia-smi
// an 8-digit domain.
std::string sysfs_bus_id(std::string id)
{
  for (char& c : id) c = (char)std::tolower((unsigned char)c);
  if (id.size() == 16 && id.compare(0, 4, "0000") == 0) id.erase(0, 4);
  return id;
}

}  // namespace

std::string cuda_version_string(int v)
{
  if (v <= 0) return "none";
  return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
}

link_info query_link_info()
{
  link_info info;
  query_gpus(info);
  for (gpu_info& g : info.gpus) {
    if (g.pci_bus_id.empty()) continue;
    g.pci_bus_id = sysfs_bus_id(g.pci_bus_id);
    const std::string dir = "/sys/bus/pci/devices/" + g.pci_bus_id + "/";
    g.link_speed = sysfs_line(dir + "current_link_speed");
    g.max_link_speed = sysfs_line(dir + "max_link_speed");
    g.link_width = sysfs_int(dir + "current_link_width", 0);
    g.max_link_width = sysfs_int(dir + "max_link_width", 0);
    g.numa_node = sysfs_int(dir + "numa_node", -1);
  }
  // The automatic choice of runtime.cpp: kmod when the module is there,
  // else io_uring, else plain system calls.
  info.kmod = kmod_available();
  info.io_uring = io_uring_available();
  info.executor = info.kmod ? "kmod" : info.io_uring ? "uring" : "sync";
  return info;
}

}  // namespace gsys::detail

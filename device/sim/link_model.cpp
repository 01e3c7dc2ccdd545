// The link-cost model's per-thread half (device/genesys/sim/link_model.h):
// the gsys::detail helpers report each access here; an access to a
// registered host range is counted on the running simulated thread, and a
// device atomic there is checked against the host executor's.
#include "genesys/sim/link_model.h"

#include "genesys/sim/block.h"

namespace gsys::sim {

namespace link_detail {

void note_device(const void* p, std::size_t size, link_access a)
{
  detail::block* b = detail::current_block;
  if (!b) return;  // a host thread, not a simulated device thread
  const std::uintptr_t addr = (std::uintptr_t)p;
  const found f = lookup(addr);
  if (f.kind != link_memory::host) return;  // device or local memory: no link crossing
  link_counters& c = b->running_thread().link;
  switch (a) {
    case link_access::load:
      ++c.nonposted_loads;
      if (!c.completion_polls) ++c.nonposted_before_poll;
      break;
    case link_access::poll: ++c.completion_polls; break;
    case link_access::store: ++c.posted_stores; break;
    case link_access::rmw:
      ++c.nonposted_atomics;
      if (!c.completion_polls) ++c.nonposted_before_poll;
      note_rmw(f, addr, size, kDeviceRmw);
      break;
    case link_access::device_scope: note_device_scope(f, addr); break;
  }
}

}  // namespace link_detail

link_counters link_now()
{
  detail::block* b = detail::current_block;
  return b ? b->running_thread().link : link_counters{};
}

void link_reset()
{
  if (detail::block* b = detail::current_block) b->running_thread().link = link_counters{};
}

}  // namespace gsys::sim

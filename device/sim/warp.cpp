// Warp collectives and __activemask.
//
// A collective is identified by its mask: lanes arriving with the same mask
// join one pending group, and the group completes when every lane of the
// mask has arrived; the last arrival computes every lane's result in one
// pass over the lanes. Lanes of one warp may run disjoint collectives at the
// same time (after diverging), so a warp keeps a small table of groups.
//
// __activemask models divergence deterministically: the caller parks, and
// once every live lane of its warp is parked somewhere (any scheduling point,
// or exited), each lane waiting in __activemask gets the set of lanes waiting
// at the same call site. Lanes that reach the site in the same round thus
// see each other, as converged lanes do on a GPU.
#include <cstdio>
#include <string>

#include "genesys/sim/block.h"

namespace gsys::sim::detail {

namespace {

const char* op_name(warp_op op)
{
  switch (op) {
    case warp_op::sync: return "__syncwarp";
    case warp_op::shfl_idx: return "__shfl_sync";
    case warp_op::shfl_up: return "__shfl_up_sync";
    case warp_op::shfl_down: return "__shfl_down_sync";
    case warp_op::shfl_xor: return "__shfl_xor_sync";
    case warp_op::ballot: return "__ballot_sync";
    case warp_op::any: return "__any_sync";
    case warp_op::all: return "__all_sync";
    case warp_op::match_any: return "__match_any_sync";
    case warp_op::match_all: return "__match_all_sync";
    case warp_op::reduce_add: return "__reduce_add_sync";
    case warp_op::reduce_min_u: return "__reduce_min_sync(unsigned)";
    case warp_op::reduce_min_s: return "__reduce_min_sync(int)";
    case warp_op::reduce_max_u: return "__reduce_max_sync(unsigned)";
    case warp_op::reduce_max_s: return "__reduce_max_sync(int)";
    case warp_op::reduce_and: return "__reduce_and_sync";
    case warp_op::reduce_or: return "__reduce_or_sync";
    case warp_op::reduce_xor: return "__reduce_xor_sync";
  }
  return "?";
}

u32 lowest(u32 m) { return (u32)__builtin_ctz(m); }

// The lane a shuffle reads, or `lane` itself where CUDA gives the caller its
// own value: a source past the end of the caller's `width`-lane segment, or
// one that is not taking part in the shuffle.
u32 shuffle_source(warp_op op, u32 lane, u32 param, u32 width, u32 mask)
{
  const u32 base = lane & ~(width - 1);
  u32 src = lane;
  switch (op) {
    case warp_op::shfl_idx:
      src = base + (param & (width - 1));
      break;
    case warp_op::shfl_up:
      if (param <= lane - base) src = lane - param;
      break;
    case warp_op::shfl_down:
      if (param < base + width - lane) src = lane + param;
      break;
    case warp_op::shfl_xor:
      src = (lane ^ param) & 31;  // earlier segments are readable, later ones are not
      if (src >= base + width) src = lane;
      break;
    default:
      break;
  }
  return (mask >> src) & 1 ? src : lane;
}

u32 reduce(warp_op op, u32 a, u32 b)
{
  switch (op) {
    case warp_op::reduce_add: return a + b;
    case warp_op::reduce_min_u: return a < b ? a : b;
    case warp_op::reduce_min_s: return (int)a < (int)b ? a : b;
    case warp_op::reduce_max_u: return a > b ? a : b;
    case warp_op::reduce_max_s: return (int)a > (int)b ? a : b;
    case warp_op::reduce_and: return a & b;
    case warp_op::reduce_or: return a | b;
    default: return a ^ b;  // reduce_xor
  }
}

}  // namespace

u64 block::collective(warp_op op, u32 mask, u64 value, u32 param, u32 width, u64 value2)
{
  const u32 t = current_, w = t / 32, bit = 1u << (t % 32);
  sim_thread& th = threads_[t];
  if (!(mask & bit))
    fatal("%s: thread (%u,%u,%u) of block (%u,%u,%u), lane %u, is not in its own mask 0x%08x", op_name(op), th.idx.x,
          th.idx.y, th.idx.z, index_.x, index_.y, index_.z, t % 32, mask);
  if (width == 0 || width > 32 || (width & (width - 1)) != 0)
    fatal("%s: width %u is not a power of two between 1 and 32", op_name(op), width);
  warp_state& ws = warps_[w];
  mask &= ws.lanes;
  th.op = op;
  th.mask = mask;
  th.value = value;
  th.value2 = value2;
  th.param = param;
  th.width = width;
  park(t, wait_kind::warp);

  warp_state::group* g = nullptr;
  for (u32 i = 0; i < ws.npending && !g; ++i)
    if (ws.pending[i].mask == mask) g = &ws.pending[i];
  if (!g) {
    g = &ws.pending[ws.npending++];  // at most 32: each group holds a lane, each lane one group
    *g = {mask, 0, op};
  } else if (g->op != op) {
    fatal("warp %u of block (%u,%u,%u): lanes 0x%08x called %s and lane %u called %s, all with mask 0x%08x; "
          "every lane of a mask must make the same call",
          w, index_.x, index_.y, index_.z, g->arrived, op_name(g->op), t % 32, op_name(op), mask);
  }
  g->arrived |= bit;
  if (g->arrived == mask) {
    const warp_state::group done = *g;
    *g = ws.pending[--ws.npending];
    complete(done, w);
  } else {
    settle(w);
  }
  switch_away();
  return th.value;
}

void block::complete(const warp_state::group& g, u32 w)
{
  sim_thread* lanes = &threads_[w * 32];
  u64 in[32], in2[32];
  u32 ballot = 0;
  bool all_equal = true;
  const bool reduction = g.op >= warp_op::reduce_add;
  u32 folded = (u32)lanes[lowest(g.mask)].value;
  for (u32 m = g.mask; m; m &= m - 1) {
    const u32 l = lowest(m);
    in[l] = lanes[l].value;
    in2[l] = lanes[l].value2;
    if (in[l]) ballot |= 1u << l;
    all_equal = all_equal && in[l] == in[lowest(g.mask)];
    if (reduction && m != g.mask) folded = reduce(g.op, folded, (u32)in[l]);
  }
  for (u32 m = g.mask; m; m &= m - 1) {
    const u32 l = lowest(m);
    u64& out = lanes[l].value;
    switch (g.op) {
      case warp_op::sync: out = 0; break;
      case warp_op::shfl_idx:
      case warp_op::shfl_up:
      case warp_op::shfl_down:
      case warp_op::shfl_xor: {
        const u32 src = shuffle_source(g.op, l, lanes[l].param, lanes[l].width, g.mask);
        out = in[src];
        lanes[l].value2 = in2[src];
        break;
      }
      case warp_op::ballot: out = ballot; break;
      case warp_op::any: out = ballot != 0; break;
      case warp_op::all: out = ballot == g.mask; break;
      case warp_op::match_any: {
        u32 same = 0;
        for (u32 k = g.mask; k; k &= k - 1)
          if (in[lowest(k)] == in[l]) same |= 1u << lowest(k);
        out = same;
        break;
      }
      case warp_op::match_all: out = all_equal ? g.mask : 0; break;
      default: out = folded; break;  // the reductions
    }
    make_runnable(w * 32 + l);
  }
}

u32 block::activemask(const void* site)
{
  const u32 t = current_;
  threads_[t].site = site;
  park(t, wait_kind::activemask);
  warps_[t / 32].in_activemask |= 1u << (t % 32);
  settle(t / 32);
  switch_away();
  return (u32)threads_[t].value;
}

// Called whenever a lane of warp w parks or exits.
void block::settle(u32 w)
{
  warp_state& ws = warps_[w];
  if (ws.running != 0 || ws.in_activemask == 0) return;
  sim_thread* lanes = &threads_[w * 32];
  for (u32 left = ws.in_activemask; left;) {
    const void* site = lanes[lowest(left)].site;
    u32 same = 0;
    for (u32 m = left; m; m &= m - 1)
      if (lanes[lowest(m)].site == site) same |= 1u << lowest(m);
    for (u32 m = same; m; m &= m - 1) {
      lanes[lowest(m)].value = same;
      make_runnable(w * 32 + lowest(m));
    }
    left &= ~same;
  }
  ws.in_activemask = 0;
}

std::string block::describe_collective(u32 t) const
{
  const sim_thread& th = threads_[t];
  const warp_state& ws = warps_[t / 32];
  u32 arrived = 0;
  for (u32 i = 0; i < ws.npending; ++i)
    if (ws.pending[i].mask == th.mask) arrived = ws.pending[i].arrived;
  const u32 missing = th.mask & ~arrived;
  char text[160];
  std::snprintf(text, sizeof text, "%s(mask 0x%08x), waiting for lanes 0x%08x (exited: 0x%08x)", op_name(th.op),
                th.mask, missing, missing & ~ws.live);
  return text;
}

u64 warp_collective(warp_op op, unsigned mask, u64 value, unsigned param, unsigned width)
{
  return running_block(op_name(op)).collective(op, mask, value, param, width);
}

word_pair warp_shuffle_pair(unsigned mask, u64 first, u64 second, unsigned src)
{
  block& b = running_block("__shfl_sync");
  const u64 x = b.collective(warp_op::shfl_idx, mask, first, src, 32, second);
  return {x, b.running_thread().value2};
}

}  // namespace gsys::sim::detail

// noinline: the return address is the call site that groups the lanes, so
// this must stay a real call even under LTO.
__attribute__((noinline)) unsigned __activemask()
{
  return gsys::sim::detail::running_block("__activemask").activemask(__builtin_return_address(0));
}

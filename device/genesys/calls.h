// Typed wrappers: the GENESYS 13 (read, write, pread, pwrite, lseek, open,
// close, mmap, munmap, madvise, recvfrom, sendto, getrusage) plus openat,
// fstat, fsync, getpid, getppid and nop, and gsys::syscall for anything else
// the host policy allows. Each returns the kernel's result: >= 0, or -errno.
//
//   long n = gsys::pread<gsys::block, gsys::relaxed>(ring, fd, buf, len, off);
//
// A call whose first argument is a file (read, write, pread, pwrite, lseek,
// fstat, fsync, recvfrom, sendto, their staged forms; syscall, post and
// submit with it first) takes a descriptor or gsys::fixed(i): entry i of
// the host's runtime::register_files table.
//
// Buffers must be host-accessible (pinned/mapped or managed memory) and,
// with memory confinement on (the default, simulator included), given to
// the GPU (docs/device.md "Memory"); device memory goes through gsys::staged::
// (staging.h). Non-blocking forms: gsys::post (fire-and-forget) and
// gsys::submit<gsys::thread> (a future).
#pragma once

#include <fcntl.h>
#include <sys/types.h>

#include <type_traits>

#include "group.h"

struct stat;
struct rusage;
struct sockaddr;

namespace gsys {

// A file of the host's fixed-file table (runtime::register_files), named by
// its index: the host holds it, so it need not be open in the process's
// descriptor table under any number. An index with no file is -EBADF; on a
// call that takes no file first (close, mmap, ...) it is -EINVAL.
struct fixed_file {
  u32 index;
};
GSYS_DEVICE constexpr fixed_file fixed(u32 index) { return {index}; }

namespace detail {

// A file parameter: a descriptor, or a fixed file (the request then carries
// GSYS_SLOT_F_FIXED_FILE and the index in arg[0]).
struct file_arg {
  u64 word;
  u16 flag;
  GSYS_DEVICE file_arg(int fd) : word((u64)(long)fd), flag(0) {}
  GSYS_DEVICE file_arg(fixed_file f) : word(f.index), flag(GSYS_SLOT_F_FIXED_FILE) {}
};

// One argument's word in the request; a file_arg also sets its flag.
template <class T>
GSYS_DEVICE u64 slot_word(T a, u16&) { return (u64)a; }
GSYS_DEVICE u64 slot_word(file_arg f, u16& flags)
{
  flags |= f.flag;
  return f.word;
}

// syscall, post and submit pass each argument as a long, a fixed file as itself.
template <class T>
GSYS_DEVICE long raw_arg(T a) { return (long)a; }
GSYS_DEVICE file_arg raw_arg(fixed_file f) { return f; }

// The op table's ordering direction for an opcode; an opcode outside the
// table is treated as control (relaxed adds no barrier).
GSYS_DEVICE constexpr u32 op_dir(u32 nr)
{
#define GSYS_DIR_CASE(name, num, dir, a0, a1, a2, a3, a4, a5) \
  if (nr == (u32)(num)) return dir;
  GSYS_OP_TABLE(GSYS_DIR_CASE)
#undef GSYS_DIR_CASE
  return GSYS_DIR_CTL;
}

// The ABI names a fixed file only in arg[0].
template <class A0 = void, class... A>
constexpr bool file_first_only = !(std::is_same_v<A, file_arg> || ...);

// Every call's request starts here. A number outside the ABI's nr field
// (negative, or above GSYS_NR_MAX) becomes kNoOpcode, which invoke() and
// submit() refuse with -ENOSYS: cut to 16 bits, 0x10027 ran getpid.
template <class... A>
GSYS_DEVICE request make_request(long nr, u16 flags, A... a)
{
  static_assert(sizeof...(A) <= GSYS_SLOT_ARGS, "at most six arguments");
  static_assert(file_first_only<A...>, "a fixed file can only be a call's first argument");
  request q;
  q.nr = nr >= 0 && nr <= (long)GSYS_NR_MAX ? (u32)nr : kNoOpcode;
  unsigned i = 0;
  ((q.arg[i++] = slot_word(a, flags)), ...);  // a fold, not a loop: no "pointless comparison" for zero arguments
  (void)i;
  q.flags = flags;
  return q;
}

template <class G, class O, class... A>
GSYS_DEVICE long do_call(const ring& r, long nr, A... a)
{
  const request q = make_request(nr, 0, a...);
  return invoke<G, O>(r, q, op_dir(q.nr));
}

template <class T>
GSYS_DEVICE u64 ptr(T* p) { return (u64)(uintptr_t)p; }

}  // namespace detail

// Any opcode: a host system call number or a GSYS_NR_* private op. A number
// the ABI cannot carry (negative, or above GSYS_NR_MAX) is -ENOSYS, and
// nothing is queued.
template <class G = thread, class O = relaxed, class... A>
GSYS_DEVICE long syscall(const ring& r, long nr, A... args)
{
  return detail::do_call<G, O>(r, nr, detail::raw_arg(args)...);
}

template <class G = thread, class O = relaxed>
GSYS_DEVICE long read(const ring& r, detail::file_arg fd, void* buf, size_t n)
{ return detail::do_call<G, O>(r, __NR_read, fd, detail::ptr(buf), n); }

template <class G = thread, class O = relaxed>
GSYS_DEVICE long write(const ring& r, detail::file_arg fd, const void* buf, size_t n)
{ return detail::do_call<G, O>(r, __NR_write, fd, detail::ptr(buf), n); }

template <class G = thread, class O = relaxed>
GSYS_DEVICE long pread(const ring& r, detail::file_arg fd, void* buf, size_t n, off_t off)
{ return detail::do_call<G, O>(r, __NR_pread64, fd, detail::ptr(buf), n, off); }

template <class G = thread, class O = relaxed>
GSYS_DEVICE long pwrite(const ring& r, detail::file_arg fd, const void* buf, size_t n, off_t off)
{ return detail::do_call<G, O>(r, __NR_pwrite64, fd, detail::ptr(buf), n, off); }

template <class G = thread, class O = relaxed>
GSYS_DEVICE long lseek(const ring& r, detail::file_arg fd, off_t off, int whence)
{ return detail::do_call<G, O>(r, __NR_lseek, fd, off, whence); }

template <class G = thread, class O = relaxed>
GSYS_DEVICE long openat(const ring& r, int dirfd, const char* path, int flags, int mode = 0)
{ return detail::do_call<G, O>(r, __NR_openat, dirfd, detail::ptr(path), flags, mode); }

// open(2) is openat(AT_FDCWD, ...), as on architectures without __NR_open.
template <class G = thread, class O = relaxed>
GSYS_DEVICE long open(const ring& r, const char* path, int flags, int mode = 0)
{ return openat<G, O>(r, AT_FDCWD, path, flags, mode); }

template <class G = thread, class O = relaxed>
GSYS_DEVICE long close(const ring& r, int fd)
{ return detail::do_call<G, O>(r, __NR_close, fd); }

// Returns the mapping's address, or -errno. MAP_FIXED is refused by policy.
template <class G = thread, class O = relaxed>
GSYS_DEVICE long mmap(const ring& r, void* addr, size_t len, int prot, int flags, int fd, off_t off)
{ return detail::do_call<G, O>(r, __NR_mmap, detail::ptr(addr), len, prot, flags, fd, off); }

template <class G = thread, class O = relaxed>
GSYS_DEVICE long munmap(const ring& r, void* addr, size_t len)
{ return detail::do_call<G, O>(r, __NR_munmap, detail::ptr(addr), len); }

template <class G = thread, class O = relaxed>
GSYS_DEVICE long madvise(const ring& r, void* addr, size_t len, int advice)
{ return detail::do_call<G, O>(r, __NR_madvise, detail::ptr(addr), len, advice); }

template <class G = thread, class O = relaxed>
GSYS_DEVICE long recvfrom(const ring& r, detail::file_arg fd, void* buf, size_t n, int flags,
                          sockaddr* src = nullptr, unsigned* addrlen = nullptr)
{ return detail::do_call<G, O>(r, __NR_recvfrom, fd, detail::ptr(buf), n, flags, detail::ptr(src), detail::ptr(addrlen)); }

template <class G = thread, class O = relaxed>
GSYS_DEVICE long sendto(const ring& r, detail::file_arg fd, const void* buf, size_t n, int flags,
                        const sockaddr* dst = nullptr, unsigned addrlen = 0)
{ return detail::do_call<G, O>(r, __NR_sendto, fd, detail::ptr(buf), n, flags, detail::ptr(dst), addrlen); }

template <class G = thread, class O = relaxed>
GSYS_DEVICE long getrusage(const ring& r, int who, struct rusage* usage)
{ return detail::do_call<G, O>(r, __NR_getrusage, who, detail::ptr(usage)); }

template <class G = thread, class O = relaxed>
GSYS_DEVICE long fstat(const ring& r, detail::file_arg fd, struct stat* st)
{ return detail::do_call<G, O>(r, __NR_fstat, fd, detail::ptr(st)); }

template <class G = thread, class O = relaxed>
GSYS_DEVICE long fsync(const ring& r, detail::file_arg fd)
{ return detail::do_call<G, O>(r, __NR_fsync, fd); }

template <class G = thread, class O = relaxed>
GSYS_DEVICE long getpid(const ring& r) { return detail::do_call<G, O>(r, __NR_getpid); }

template <class G = thread, class O = relaxed>
GSYS_DEVICE long getppid(const ring& r) { return detail::do_call<G, O>(r, __NR_getppid); }

// A round trip through the ring that runs no system call: the protocol's cost.
template <class G = thread, class O = relaxed>
GSYS_DEVICE long nop(const ring& r) { return detail::do_call<G, O>(r, GSYS_NR_NOP); }

// Fire-and-forget: queued with the non-blocking flag; the result is dropped
// (counted in stats) and the slot is reclaimed by a later call once the host
// has finished it. Returns 0 once queued (-ENOSYS for a number the ABI
// cannot carry, as syscall). Buffers must stay valid until the call has run.
template <class G = thread, class O = relaxed, class... A>
GSYS_DEVICE long post(const ring& r, long nr, A... args)
{
  const detail::request q = detail::make_request(nr, GSYS_SLOT_F_NONBLOCK, detail::raw_arg(args)...);
  return detail::invoke<G, O>(r, q, detail::op_dir(q.nr));
}

// A call in flight, owned by one thread. wait() returns its result (or
// -ETIMEDOUT after the ring's timeout) and frees the slot; call it once.
class future {
 public:
  future() = default;  // defaulted: host and device alike (nvcc ignores __device__ here, with a warning)
  GSYS_DEVICE future(const ring& r, u32 idx, long early) : r_(r), idx_(idx), early_(early) {}
  GSYS_DEVICE bool valid() const { return idx_ != detail::kNoSlot; }
  // True once the result is there (wait() will not block).
  GSYS_DEVICE bool ready() const
  {
    return !valid() || GSYS_SLOT_FINISHED(detail::poll_acquire(&r_.slots[idx_].state));
  }
  GSYS_DEVICE long wait()
  {
    if (!valid()) return early_;
    bool park = false;
    long ret = detail::wait_slot(r_, idx_, park);
    detail::settle_slots(r_, 1u << detail::lane_id(), detail::single_claim(idx_), park, GSYS_NO_CHUNK);
    if (park) detail::count_timeouts(r_, 1);
    idx_ = detail::kNoSlot;
    early_ = ret;
    return ret;
  }

 private:
  ring r_;
  u32 idx_ = detail::kNoSlot;
  long early_ = -EINVAL;
};

// Starts a call and returns at once; the warp's submissions are aggregated.
// A future holds its slot until wait(): keep the futures outstanding at once
// below the ring's slot count, or later submits wait (and time out). A
// number the ABI cannot carry gives a future whose wait() is -ENOSYS.
template <class G = thread, class... A>
GSYS_DEVICE future submit(const ring& r, long nr, A... args)
{
  static_assert(G::code == GSYS_GRAN_THREAD, "submit() returns a per-thread future: use gsys::thread");
  const detail::request q = detail::with_granularity(detail::make_request(nr, 0, detail::raw_arg(args)...), G::code);
  if (q.nr == detail::kNoOpcode) return future(r, detail::kNoSlot, -ENOSYS);  // as invoke(): before the lanes meet
  const u32 mask = __activemask();
  u32 mine = detail::kNoSlot, pending = mask;
  while (pending) {
    const detail::claim c = detail::queue_round(r, mask, pending, q);
    if (c.timed_out) break;
    if (c.idx != detail::kNoSlot) mine = c.idx;
  }
  return mine == detail::kNoSlot ? future(r, mine, -ETIMEDOUT) : future(r, mine, 0);
}

}  // namespace gsys

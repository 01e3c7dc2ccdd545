// Every kind of device call, compiled to PTX only (never run): what
// tests/ptx/check_ptx.sh reads to pin the atomics' scopes (atomic.h) and
// the staged copies' width (staging.h).
#include <genesys.cuh>

__global__ void thread_calls(gsys::ring r, long* out)
{
  out[0] = gsys::nop<gsys::thread, gsys::relaxed>(r);
  out[1] = gsys::post<gsys::thread>(r, GSYS_NR_NOP);
  gsys::future f = gsys::submit<gsys::thread>(r, GSYS_NR_NOP);
  out[2] = f.wait();
}

__global__ void group_calls(gsys::ring r, long* out)
{
  out[0] = gsys::nop<gsys::warp, gsys::strong>(r);
  out[1] = gsys::nop<gsys::block, gsys::relaxed>(r);
  out[2] = gsys::nop<gsys::grid, gsys::strong>(r);
  out[3] = gsys::post<gsys::grid>(r, GSYS_NR_NOP);
}

__global__ void staged_calls(gsys::ring r, int fd, char* dev_buf, long* out)
{
  out[0] = gsys::staged::pread<gsys::block>(r, fd, dev_buf, 1 << 20, 0);
  out[1] = gsys::staged::write<gsys::thread>(r, fd, dev_buf, 100);
}

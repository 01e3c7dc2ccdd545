/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * The one table of genesys operations: opcode, ordering class and the shape
 * of each argument. The device wrappers, the userspace policy, the kernel
 * module's policy, the stats names and docs/syscalls.md are all derived from
 * it, so an operation is added here and nowhere else.
 *
 *   GSYS_OP(name, nr, dir, a0, a1, a2, a3, a4, a5)
 *
 * dir says which group barrier relaxed ordering keeps (device/genesys/group.h):
 *   GSYS_DIR_IN   the call fills caller memory (barrier after the call)
 *   GSYS_DIR_OUT  the call sends caller memory out (barrier before)
 *   GSYS_DIR_CTL  neither (no barrier; the result is still broadcast)
 *
 * Argument kinds. A buffer's length is always the next argument.
 */
#ifndef GENESYS_OPS_H
#define GENESYS_OPS_H

#include "abi.h"
#ifdef __KERNEL__
#include <asm/unistd.h>
#else
#include <sys/syscall.h>
#endif

#define GSYS_DIR_CTL 0u
#define GSYS_DIR_IN 1u
#define GSYS_DIR_OUT 2u

#define GSYS_A_NONE 0u        /* unused */
#define GSYS_A_INT 1u         /* flags, modes, whence, advice: passed as is */
#define GSYS_A_FD 2u          /* file descriptor (fixed-file index if flagged) */
#define GSYS_A_FD_OPT 3u      /* file descriptor or -1 */
#define GSYS_A_DIRFD 4u       /* file descriptor or AT_FDCWD */
#define GSYS_A_LEN 5u         /* byte count */
#define GSYS_A_OFF 6u         /* file offset */
#define GSYS_A_BUF_IN 7u      /* memory the call reads; length follows */
#define GSYS_A_BUF_OUT 8u     /* memory the call writes; length follows */
#define GSYS_A_PATH 9u        /* NUL-terminated path */
#define GSYS_A_MAP_HINT 10u   /* mmap address hint (MAP_FIXED is refused) */
#define GSYS_A_MAPPING 11u    /* a range genesys mapped; length follows */
#define GSYS_A_SOCKADDR_IN 12u  /* optional sockaddr read; length follows */
#define GSYS_A_SOCKADDR_OUT 13u /* optional sockaddr written; socklen_t* follows */
#define GSYS_A_SOCKLEN_PTR 14u  /* socklen_t in/out */
#define GSYS_A_STAT_OUT 15u   /* struct stat written */
#define GSYS_A_RUSAGE_OUT 16u /* struct rusage written */

#define GSYS_OP_TABLE(X)                                                         \
	X(read, __NR_read, GSYS_DIR_IN, GSYS_A_FD, GSYS_A_BUF_OUT, GSYS_A_LEN,   \
	  GSYS_A_NONE, GSYS_A_NONE, GSYS_A_NONE)                                 \
	X(write, __NR_write, GSYS_DIR_OUT, GSYS_A_FD, GSYS_A_BUF_IN, GSYS_A_LEN, \
	  GSYS_A_NONE, GSYS_A_NONE, GSYS_A_NONE)                                 \
	X(pread64, __NR_pread64, GSYS_DIR_IN, GSYS_A_FD, GSYS_A_BUF_OUT,         \
	  GSYS_A_LEN, GSYS_A_OFF, GSYS_A_NONE, GSYS_A_NONE)                      \
	X(pwrite64, __NR_pwrite64, GSYS_DIR_OUT, GSYS_A_FD, GSYS_A_BUF_IN,       \
	  GSYS_A_LEN, GSYS_A_OFF, GSYS_A_NONE, GSYS_A_NONE)                      \
	X(lseek, __NR_lseek, GSYS_DIR_CTL, GSYS_A_FD, GSYS_A_OFF, GSYS_A_INT,    \
	  GSYS_A_NONE, GSYS_A_NONE, GSYS_A_NONE)                                 \
	X(openat, __NR_openat, GSYS_DIR_CTL, GSYS_A_DIRFD, GSYS_A_PATH,          \
	  GSYS_A_INT, GSYS_A_INT, GSYS_A_NONE, GSYS_A_NONE)                      \
	X(close, __NR_close, GSYS_DIR_CTL, GSYS_A_FD, GSYS_A_NONE, GSYS_A_NONE,  \
	  GSYS_A_NONE, GSYS_A_NONE, GSYS_A_NONE)                                 \
	X(mmap, __NR_mmap, GSYS_DIR_CTL, GSYS_A_MAP_HINT, GSYS_A_LEN,            \
	  GSYS_A_INT, GSYS_A_INT, GSYS_A_FD_OPT, GSYS_A_OFF)                     \
	X(munmap, __NR_munmap, GSYS_DIR_CTL, GSYS_A_MAPPING, GSYS_A_LEN,         \
	  GSYS_A_NONE, GSYS_A_NONE, GSYS_A_NONE, GSYS_A_NONE)                    \
	X(madvise, __NR_madvise, GSYS_DIR_CTL, GSYS_A_MAPPING, GSYS_A_LEN,       \
	  GSYS_A_INT, GSYS_A_NONE, GSYS_A_NONE, GSYS_A_NONE)                     \
	X(recvfrom, __NR_recvfrom, GSYS_DIR_IN, GSYS_A_FD, GSYS_A_BUF_OUT,       \
	  GSYS_A_LEN, GSYS_A_INT, GSYS_A_SOCKADDR_OUT, GSYS_A_SOCKLEN_PTR)       \
	X(sendto, __NR_sendto, GSYS_DIR_OUT, GSYS_A_FD, GSYS_A_BUF_IN,           \
	  GSYS_A_LEN, GSYS_A_INT, GSYS_A_SOCKADDR_IN, GSYS_A_LEN)                \
	X(getrusage, __NR_getrusage, GSYS_DIR_IN, GSYS_A_INT,                    \
	  GSYS_A_RUSAGE_OUT, GSYS_A_NONE, GSYS_A_NONE, GSYS_A_NONE, GSYS_A_NONE) \
	X(fstat, __NR_fstat, GSYS_DIR_IN, GSYS_A_FD, GSYS_A_STAT_OUT,            \
	  GSYS_A_NONE, GSYS_A_NONE, GSYS_A_NONE, GSYS_A_NONE)                    \
	X(fsync, __NR_fsync, GSYS_DIR_CTL, GSYS_A_FD, GSYS_A_NONE, GSYS_A_NONE,  \
	  GSYS_A_NONE, GSYS_A_NONE, GSYS_A_NONE)                                 \
	X(getpid, __NR_getpid, GSYS_DIR_CTL, GSYS_A_NONE, GSYS_A_NONE,           \
	  GSYS_A_NONE, GSYS_A_NONE, GSYS_A_NONE, GSYS_A_NONE)                    \
	X(getppid, __NR_getppid, GSYS_DIR_CTL, GSYS_A_NONE, GSYS_A_NONE,         \
	  GSYS_A_NONE, GSYS_A_NONE, GSYS_A_NONE, GSYS_A_NONE)                    \
	X(nop, GSYS_NR_NOP, GSYS_DIR_CTL, GSYS_A_NONE, GSYS_A_NONE, GSYS_A_NONE, \
	  GSYS_A_NONE, GSYS_A_NONE, GSYS_A_NONE)

/* Number of table entries. */
#define GSYS_OP_COUNT_ONE(name, nr, dir, a0, a1, a2, a3, a4, a5) +1
#define GSYS_OP_COUNT (0 GSYS_OP_TABLE(GSYS_OP_COUNT_ONE))

#endif /* GENESYS_OPS_H */

/* SPDX-License-Identifier: MIT */
/* System calls that return -errno and never touch errno.
 *
 * The sandbox's init shares moat's address space (sandbox.c says why), and with it glibc's
 * thread-local errno, while both run: init's reaper loop, and moat's wait while init sets the
 * sandbox up, use these so that neither can change the errno the other is about to read.
 * x86-64 only, like the rest of the sandbox executor (see ns.c). */
#pragma once

#if !defined(__x86_64__)
#error "raw-syscall.h: only x86-64 is implemented"
#endif

#include <signal.h>
#include <sys/syscall.h>

/* The kernel's sigset_t, for rt_sig* calls (glibc's is 128 bytes, the kernel takes 8). */
#define KERNEL_SIGSET_BYTES (_NSIG / 8)

static inline long raw_syscall6(long n, long a1, long a2, long a3, long a4, long a5, long a6) {
        long ret;
        register long r10 __asm__("r10") = a4;
        register long r8 __asm__("r8") = a5;
        register long r9 __asm__("r9") = a6;

        __asm__ volatile("syscall"
                         : "=a"(ret)
                         : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                         : "rcx", "r11", "memory");
        return ret;
}

#define raw_syscall0(n) raw_syscall6((n), 0, 0, 0, 0, 0, 0)
#define raw_syscall1(n, a) raw_syscall6((n), (long) (a), 0, 0, 0, 0, 0)
#define raw_syscall2(n, a, b) raw_syscall6((n), (long) (a), (long) (b), 0, 0, 0, 0)
#define raw_syscall3(n, a, b, c) raw_syscall6((n), (long) (a), (long) (b), (long) (c), 0, 0, 0)
#define raw_syscall4(n, a, b, c, d) \
        raw_syscall6((n), (long) (a), (long) (b), (long) (c), (long) (d), 0, 0)
#define raw_syscall5(n, a, b, c, d, e) \
        raw_syscall6((n), (long) (a), (long) (b), (long) (c), (long) (d), (long) (e), 0)

/* close(fd) when fd >= 0; the result is of no use to anyone here. */
static inline void raw_close(int fd) {
        if (fd >= 0)
                (void) raw_syscall1(SYS_close, fd);
}

/* SPDX-License-Identifier: MIT */
/* The probes of the seccomp tests, shared by the fixture test and the shipped-policy test: raw
 * syscalls on each ABI, and the default-set probe list with its expected answers. */
#pragma once

#include <linux/keyctl.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "child.h"
#include "sys/caps.h"
#include "sys/seccomp.h"

#define X32_BIT 0x40000000L
#define NR_I386_GETPID 20
#define NR_I386_KEYCTL 288
#define NR_I386_VM86 166
#define NR_X32_KEYCTL (250 | X32_BIT)
#define KEYCTL_BOGUS 0x7fff /* unknown keyctl op: EOPNOTSUPP without the filter */

static inline long syscall_i386(long nr, long a, long b, long c) {
        long ret;

        /* int $0x80 from 64-bit code enters the i386 ABI (AUDIT_ARCH_I386); the kernel zeroes
         * r8-r11 on return. */
        __asm__ volatile("int $0x80"
                         : "=a"(ret)
                         : "a"(nr), "b"(a), "c"(b), "d"(c)
                         : "memory", "r8", "r9", "r10", "r11");
        return ret;
}

static inline long syscall_x32(long nr, long a, long b, long c) {
        long ret;

        /* x32 is the x86-64 entry with bit 30 set in the syscall number. */
        __asm__ volatile("syscall"
                         : "=a"(ret)
                         : "a"(nr), "D"(a), "S"(b), "d"(c)
                         : "memory", "rcx", "r11");
        return ret;
}

static inline int child_load(SeccompProgram *prog, int *ret_notify_fd) {
        int r = sys_no_new_privs();

        if (r < 0)
                return r;
        return sys_seccomp_load(prog, ret_notify_fd);
}

enum {
        P_LOAD,
        P_KEYCTL,
        P_BPF,
        P_UNSHARE_USER,
        P_CLONE_NS,
        P_TIOCSTI,
        P_TIOCSTI_HIGH,
        P_PACKET,
        P_MOUNT,
        P_PTRACE,
        P_PERSONALITY,
        P_CLONE3,
        P_GETPID,
        P_PIPE_IO,
        P_OPEN,
        P_SECCOMP_MODE,
        P_PERSONALITY_QUERY,
        _P_MAX,
};

static inline void probe_default(int *res) {
        char c = 'x', buf[1];
        int p[2], fd;
        long r;

        res[P_KEYCTL] = ERRNO_OF(syscall(SYS_keyctl, KEYCTL_BOGUS, 0, 0, 0, 0));
        res[P_BPF] = ERRNO_OF(syscall(SYS_bpf, -1, NULL, 0));
        r = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
        if (r == 0)
                _exit(0);
        if (r > 0)
                waitpid((pid_t) r, NULL, 0);
        res[P_CLONE_NS] = ERRNO_OF(r);
        res[P_TIOCSTI] = ERRNO_OF(ioctl(0, TIOCSTI, &c));
        res[P_TIOCSTI_HIGH] = ERRNO_OF(syscall(SYS_ioctl, 0, (1UL << 32) | TIOCSTI, &c));
        fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
        res[P_PACKET] = ERRNO_OF(fd);
        if (fd >= 0)
                close(fd);
        res[P_MOUNT] =
                ERRNO_OF(syscall(SYS_mount, "none", "/nonexistent-moat-test", "tmpfs", 0, NULL));
        res[P_PTRACE] = ERRNO_OF(ptrace(PTRACE_PEEKDATA, (pid_t) 0x3ffffff0, NULL, NULL));
        res[P_PERSONALITY] = ERRNO_OF(personality(PER_BSD));
        res[P_PERSONALITY_QUERY] = ERRNO_OF(personality(0xffffffff));
        res[P_CLONE3] = ERRNO_OF(syscall(SYS_clone3, NULL, 0));
        res[P_GETPID] = syscall(SYS_getpid) == getpid() ? 0 : -1;
        res[P_PIPE_IO] = pipe2(p, O_CLOEXEC) == 0 && write(p[1], "y", 1) == 1 &&
                                         read(p[0], buf, 1) == 1 && buf[0] == 'y'
                                 ? 0
                                 : -1;
        fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
        res[P_OPEN] = ERRNO_OF(fd);
        if (fd >= 0)
                close(fd);
        res[P_SECCOMP_MODE] = (int) proc_status_hex("Seccomp");
        /* Last: when it succeeds (no filter) the child loses its capabilities over the
         * initial namespaces, which would change the answers above. */
        res[P_UNSHARE_USER] = ERRNO_OF(unshare(CLONE_NEWUSER));
}

static inline void child_default(int *res, void *userdata) {
        res[P_LOAD] = child_load(userdata, NULL);
        if (res[P_LOAD] < 0)
                return;
        probe_default(res);
}

static inline void child_unfiltered(int *res, void *userdata) {
        res[P_LOAD] = 0;
        probe_default(res);
}

static inline void assert_default_denied(const int *res) {
        assert_int_equal(res[P_LOAD], 0);
        assert_int_equal(res[P_KEYCTL], EPERM);
        assert_int_equal(res[P_BPF], EPERM);
        assert_int_equal(res[P_UNSHARE_USER], EPERM);
        assert_int_equal(res[P_CLONE_NS], EPERM);
        assert_int_equal(res[P_TIOCSTI], EPERM);
        assert_int_equal(res[P_TIOCSTI_HIGH], EPERM);
        assert_int_equal(res[P_PACKET], EPERM);
        assert_int_equal(res[P_MOUNT], EPERM);
        assert_int_equal(res[P_PTRACE], EPERM);
        assert_int_equal(res[P_PERSONALITY], EPERM);
        assert_int_equal(res[P_CLONE3], ENOSYS);
        assert_int_equal(res[P_GETPID], 0);
        assert_int_equal(res[P_PIPE_IO], 0);
        assert_int_equal(res[P_OPEN], 0);
        assert_int_equal(res[P_PERSONALITY_QUERY], 0);
        assert_int_equal(res[P_SECCOMP_MODE], 2);
}

/* SPDX-License-Identifier: MIT */
/* Namespace creation and pidfd handling; see ns.h for who runs what. */
#include <errno.h>
#include <linux/sched.h>
#include <net/if.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "basic/macros.h"
#include "sys/ns.h"
#include "sys/raw-syscall.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* clone3() whose child calls fn(arg) on the given stack and exits with its return value, as
 * glibc's clone() does for the legacy call (which cannot take CLONE_NEWTIME or
 * CLONE_INTO_CGROUP). The child starts with the parent's registers except rax = 0 and rsp = the
 * top of its stack (the kernel sets both): fn and arg travel in r8 and r9, which the syscall
 * preserves, and the call leaves rsp 16-byte aligned minus the return address, as the ABI
 * wants at function entry. rbp = 0 ends the child's frame chain. */
long moat_clone3_call(struct clone_args *args, size_t size, int (*fn)(void *), void *arg);
__asm__(".pushsection .text\n"
        ".type moat_clone3_call, @function\n"
        "moat_clone3_call:\n"
        "        mov %rdx, %r8\n"
        "        mov %rcx, %r9\n"
        "        mov $" STRINGIFY(__NR_clone3) ", %eax\n"
        "        syscall\n"
        "        test %rax, %rax\n"
        "        jnz 1f\n"
        "        xor %ebp, %ebp\n"
        "        mov %r9, %rdi\n"
        "        call *%r8\n"
        "        mov %eax, %edi\n"
        "        mov $" STRINGIFY(__NR_exit_group) ", %eax\n"
        "        syscall\n"
        "        hlt\n"
        "1:      ret\n"
        ".size moat_clone3_call, . - moat_clone3_call\n"
        ".popsection\n");

pid_t sys_ns_clone(uint64_t flags, int cgroup_fd, void *stack, size_t stack_size, int (*fn)(void *),
                   void *arg, int *ret_pidfd) {
        int pidfd = -EBADF;
        struct clone_args args = {
                .flags = flags | CLONE_PIDFD | (cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0),
                .pidfd = (uint64_t) (uintptr_t) &pidfd,
                .exit_signal = SIGCHLD,
                .stack = (uint64_t) (uintptr_t) stack,
                .stack_size = stack_size,
                .cgroup = cgroup_fd >= 0 ? (uint64_t) cgroup_fd : 0,
        };

        if (!stack || stack_size < 16 || ((uintptr_t) stack + stack_size) % 16 != 0)
                return -EINVAL;
        long pid = moat_clone3_call(&args, sizeof(args), fn, arg);
        if (pid < 0)
                return (pid_t) pid;
        *ret_pidfd = pidfd;
        return (pid_t) pid;
}

int sys_ns_set_hostname(const char *name) {
        return RET_NERRNO(sethostname(name, strlen(name)));
}

int sys_ns_loopback_up(void) {
        _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq ifr = {};

        if (fd < 0)
                return -errno;
        strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                return -errno;
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        return RET_NERRNO(ioctl(fd, SIOCSIFFLAGS, &ifr));
}

int sys_pidfd_send_signal(int pidfd, int sig) {
        return RET_NERRNO((int) syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0));
}

int sys_pidfd_wait(int pidfd, siginfo_t *ret_info, struct rusage *ret_usage) {
        int r;

        memset(ret_info, 0, sizeof(*ret_info));
        /* The raw syscall takes a fifth argument, the rusage, that glibc's waitid() hides. */
        do
                r = (int) syscall(SYS_waitid, P_PIDFD, pidfd, ret_info, WEXITED, ret_usage);
        while (r < 0 && errno == EINTR);
        return r < 0 ? -errno : 0;
}

int sys_proc_die_with_parent(void) {
        return (int) raw_syscall2(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
}

int sys_ns_join(int fd, int nstype) {
        return syscall(SYS_setns, fd, nstype) < 0 ? -errno : 0;
}

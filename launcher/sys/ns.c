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

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

pid_t sys_ns_clone(uint64_t flags, int cgroup_fd, int *ret_pidfd) {
        int pidfd = -EBADF;
        struct clone_args args = {
                .flags = flags | CLONE_PIDFD | (cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0),
                .pidfd = (uint64_t) (uintptr_t) &pidfd,
                .exit_signal = SIGCHLD,
                .cgroup = cgroup_fd >= 0 ? (uint64_t) cgroup_fd : 0,
        };
        /* No stack: the child continues on a copy of ours, like fork(). moat is
         * single-threaded at this point, so no lock can be held across the copy. */
        long pid = syscall(SYS_clone3, &args, sizeof(args));
        if (pid < 0)
                return -errno;
        if (pid == 0)
                return 0;
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
        return RET_NERRNO(prctl(PR_SET_PDEATHSIG, SIGKILL));
}

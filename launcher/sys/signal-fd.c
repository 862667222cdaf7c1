/* SPDX-License-Identifier: MIT */
/* signalfd/timerfd helpers; contract in signal.h. */
#include <errno.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "basic/macros.h"
#include "sys/signal-fd.h"

void sys_signal_forwarded_set(sigset_t *ret) {
        sigemptyset(ret);
        sigaddset(ret, SIGINT);
        sigaddset(ret, SIGTERM);
        sigaddset(ret, SIGHUP);
}

int sys_signal_block_fd(const sigset_t *set, sigset_t *ret_old) {
        if (sigprocmask(SIG_BLOCK, set, ret_old) < 0)
                return -errno;
        int fd = signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
        return fd < 0 ? -errno : fd;
}

int sys_signal_read(int sfd) {
        struct signalfd_siginfo si;
        ssize_t n = read(sfd, &si, sizeof(si));
        if (n < 0)
                return errno == EAGAIN ? 0 : -errno;
        return n == sizeof(si) ? (int) si.ssi_signo : -EIO;
}

int sys_timer_rearm(int tfd, uint64_t ms) {
        struct itimerspec its = {
                .it_value = { .tv_sec = (time_t) (ms / 1000),
                              .tv_nsec = (long) (ms % 1000) * 1000000L },
        };
        if (ms == 0)
                its.it_value.tv_nsec = 1;
        return RET_NERRNO(timerfd_settime(tfd, 0, &its, NULL));
}

int sys_timer_fd(uint64_t ms) {
        int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (fd < 0)
                return -errno;
        int r = sys_timer_rearm(fd, ms);
        if (r < 0) {
                close(fd);
                return r;
        }
        return fd;
}

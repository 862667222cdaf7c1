/* SPDX-License-Identifier: MIT */
/* Runs in both the parent and the child (see fd.h); no privilege needed. The sync socket's
 * send and receive never touch errno: see raw-syscall.h. */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "basic/macros.h"
#include "sys/fd.h"
#include "sys/raw-syscall.h"

int sys_sync_pair(int ret_fds[2]) {
        return RET_NERRNO(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ret_fds));
}

int sys_sync_send(int sock, int32_t step, int32_t value, int32_t index, int fd_to_pass) {
        SyncRecord rec = { .step = step, .value = value, .index = index };
        struct iovec iov = { .iov_base = &rec, .iov_len = sizeof(rec) };
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (fd_to_pass >= 0) {
                msg.msg_control = control.buf;
                msg.msg_controllen = sizeof(control.buf);
                struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &fd_to_pass, sizeof(int));
        }
        long n;
        do
                n = raw_syscall3(SYS_sendmsg, sock, &msg, MSG_NOSIGNAL);
        while (n == -EINTR);
        if (n < 0)
                return (int) n;
        return n == sizeof(rec) ? 0 : -EIO;
}

int sys_sync_recv(int sock, SyncRecord *ret, int *ret_fd) {
        struct iovec iov = { .iov_base = ret, .iov_len = sizeof(*ret) };
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct msghdr msg = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = control.buf,
                .msg_controllen = sizeof(control.buf),
        };
        int received = -EBADF;

        if (ret_fd)
                *ret_fd = -EBADF;
        long n;
        do
                n = raw_syscall3(SYS_recvmsg, sock, &msg, MSG_CMSG_CLOEXEC);
        while (n == -EINTR);
        if (n < 0)
                return (int) n;
        /* The control buffer has room for exactly one fd, so one header at most. */
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len == CMSG_LEN(sizeof(int)))
                memcpy(&received, CMSG_DATA(c), sizeof(int));
        if (n != sizeof(*ret) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
                raw_close(received);
                return n == 0 ? 0 : -EBADMSG;
        }
        if (ret_fd)
                *ret_fd = received;
        else
                raw_close(received);
        return 1;
}

static int cmp_int(const void *a, const void *b) {
        return *(const int *) a - *(const int *) b;
}

int sys_fd_close_all_except(const int *keep, unsigned n_keep) {
        int sorted[16];
        unsigned n = 0;
        unsigned next = 3;

        if (n_keep > ELEMENTSOF(sorted))
                return -E2BIG;
        for (unsigned i = 0; i < n_keep; i++)
                if (keep[i] >= 3)
                        sorted[n++] = keep[i];
        qsort(sorted, n, sizeof(int), cmp_int);
        for (unsigned i = 0; i < n; i++) {
                if ((unsigned) sorted[i] > next &&
                    close_range(next, (unsigned) sorted[i] - 1, 0) < 0)
                        return -errno;
                next = (unsigned) sorted[i] + 1;
        }
        /* Everything above the highest kept fd, closed: no O_CLOEXEC pass after it, which
         * would mark the fds open at that moment, none (an fd opened later is not covered by
         * it either: every fd moat opens is born O_CLOEXEC). */
        return RET_NERRNO(close_range(next, ~0U, 0));
}

int sys_fd_move_above_stdio(int fd) {
        if (fd < 0 || fd >= 3)
                return fd;
        int r = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (r < 0)
                return -errno;
        close(fd);
        return r;
}

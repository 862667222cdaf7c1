/* SPDX-License-Identifier: MIT */
/* Helpers for the sys/ unit tests: every control is applied in a forked child (it cannot be
 * undone), which reports what it observed as an array of ints over a pipe; the parent asserts.
 * A child that dies before reporting leaves the array at CHILD_NO_RESULT. */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILD_NO_RESULT (-99999)
#define CHILD_MAX_RESULTS 32
/* errno of a failed call, 0 on success: what each probe records. */
#define ERRNO_OF(call) ((call) < 0 ? errno : 0)

typedef void (*ChildFn)(int *res, void *userdata);

/* The test framework traps crash signals to report them; a forked child must crash for real
 * (and be seen by the parent's waitpid), not unwind into the framework. */
static inline void child_default_signals(void) {
        const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS, SIGABRT };

        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
                signal(sigs[i], SIG_DFL);
}

/* Runs fn(res, userdata) in a child; returns the child's wait status. */
static inline int child_run(ChildFn fn, void *userdata, int res[CHILD_MAX_RESULTS]) {
        int pipefd[2], status = 0;
        pid_t pid;

        for (size_t i = 0; i < CHILD_MAX_RESULTS; i++)
                res[i] = CHILD_NO_RESULT;
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                abort();
        pid = fork();
        if (pid < 0)
                abort();
        if (pid == 0) {
                int out[CHILD_MAX_RESULTS];

                child_default_signals();
                close(pipefd[0]);
                for (size_t i = 0; i < CHILD_MAX_RESULTS; i++)
                        out[i] = CHILD_NO_RESULT;
                fn(out, userdata);
                if (write(pipefd[1], out, sizeof(out)) != (ssize_t) sizeof(out))
                        _exit(2);
                _exit(0);
        }
        close(pipefd[1]);
        if (read(pipefd[0], res, sizeof(int) * CHILD_MAX_RESULTS) !=
            (ssize_t) (sizeof(int) * CHILD_MAX_RESULTS))
                for (size_t i = 0; i < CHILD_MAX_RESULTS; i++)
                        res[i] = CHILD_NO_RESULT;
        close(pipefd[0]);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        return status;
}

static inline int child_send_fd(int sock, int fd) {
        char dummy = 'F';
        struct iovec iov = { .iov_base = &dummy, .iov_len = 1 };
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } u = {};
        struct msghdr msg = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = u.buf,
                .msg_controllen = sizeof(u.buf),
        };
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
        return sendmsg(sock, &msg, MSG_NOSIGNAL) == 1 ? 0 : -errno;
}

static inline int child_recv_fd(int sock) {
        char dummy;
        struct iovec iov = { .iov_base = &dummy, .iov_len = 1 };
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } u = {};
        struct msghdr msg = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = u.buf,
                .msg_controllen = sizeof(u.buf),
        };
        struct cmsghdr *c;
        int fd;

        if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1)
                return -EIO;
        c = CMSG_FIRSTHDR(&msg);
        if (!c || c->cmsg_type != SCM_RIGHTS)
                return -EIO;
        memcpy(&fd, CMSG_DATA(c), sizeof(int));
        return fd;
}

/* MOAT_MUST_WORK=1: a skip for a capability this machine has is a failure. */
static inline bool test_must_work(void) {
        const char *e = getenv("MOAT_MUST_WORK");

        return e && strcmp(e, "1") == 0;
}

/* Reads "Field:\t<hex>" from /proc/self/status; UINT64_MAX if absent. */
static inline uint64_t proc_status_hex(const char *field) {
        char line[256];
        size_t n = strlen(field);
        uint64_t v = UINT64_MAX;
        FILE *f = fopen("/proc/self/status", "re");

        if (!f)
                return UINT64_MAX;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, field, n) == 0 && line[n] == ':') {
                        v = strtoull(line + n + 1, NULL, 16);
                        break;
                }
        fclose(f);
        return v;
}

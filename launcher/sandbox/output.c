/* SPDX-License-Identifier: MIT */
/* resources.output: the workload's stdout and stderr through pipes that moat relays to its own
 * and counts (sandbox-internal.h, OutputRelay).
 *
 * Without the limit the workload gets the caller's fds themselves and moat copies nothing;
 * this file is used only when the plan sets one. With it, moat makes one pipe per stream
 * before clone3 (one for both when the caller's stdout and stderr are the same open file, so
 * that their interleaving is kept), init puts the write ends on fds 1 and 2 (child.c), and the
 * supervisor moves what arrives to the caller's fds: at most `cap` bytes in all, taken from
 * the pipes in the order they come. Once the cap is used up, any further byte in a pipe means
 * the command wrote more than it may: the supervisor kills the tree, exactly `cap` bytes
 * having been passed on.
 *
 * The supervisor must never block on the caller's side, or the timeout and the cpu_time
 * watcher would stop with it (a reader that does not read, a terminal stopped with ^S). So:
 * to a pipe, splice() with SPLICE_F_NONBLOCK, which makes both pipe ends non-blocking whatever
 * the caller's file status flags are (fs/splice.c, splice_pipe_to_pipe); to a regular file
 * (not O_APPEND, which splice refuses) or /dev/null, splice(), which does not wait; to a
 * socket, send(MSG_DONTWAIT); to anything else (a terminal, an O_APPEND file), write() of at
 * most PIPE_BUF bytes once poll() says POLLOUT. The caller's file status flags are never
 * changed: that description is shared with the caller's other processes.
 *
 * A caller's side that is gone (EPIPE) closes that pipe's read end, so the workload's next
 * write fails with EPIPE/SIGPIPE as it would have without the relay. moat itself ignores
 * SIGPIPE while it relays. What the workload sees differently: its stdout and stderr are
 * pipes, so isatty() is false on them even when moat's are a terminal. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "basic/macros.h"
#include "sandbox/sandbox-internal.h"

#define COPY_BUF_SIZE 65536
#define SPLICE_CHUNK (1024 * 1024)

static bool same_open_file(void) {
        struct stat a, b;
        pid_t self = getpid();
        long r = syscall(SYS_kcmp, self, self, KCMP_FILE, 1, 2);

        if (r == 0)
                return true;
        if (r > 0)
                return false;
        /* No kcmp (CONFIG_KCMP off): the same pipe, socket or terminal is one stream whichever
         * description reaches it; a regular file's two descriptions are not (two offsets). */
        if (fstat(1, &a) < 0 || fstat(2, &b) < 0)
                return false;
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino && !S_ISREG(a.st_mode);
}

static OutputMode out_mode(int fd) {
        struct stat st;
        int fl = fcntl(fd, F_GETFL);

        if (fstat(fd, &st) < 0 || fl < 0)
                return OUTPUT_WRITE;
        if (S_ISFIFO(st.st_mode))
                return OUTPUT_SPLICE;
        if (S_ISREG(st.st_mode) && !(fl & O_APPEND))
                return OUTPUT_SPLICE;
        if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)) /* /dev/null */
                return OUTPUT_SPLICE;
        if (S_ISSOCK(st.st_mode))
                return OUTPUT_SEND;
        return OUTPUT_WRITE;
}

void sandbox_output_init(OutputRelay *r) {
        *r = (OutputRelay){ .child_fd = { -EBADF, -EBADF } };
        for (size_t i = 0; i < ELEMENTSOF(r->s); i++)
                r->s[i] = (OutputStream){ .in_fd = -EBADF, .out_fd = -EBADF };
}

int sandbox_output_prepare(OutputRelay *r, uint64_t cap) {
        bool open1 = fcntl(1, F_GETFD) >= 0, open2 = fcntl(2, F_GETFD) >= 0;
        bool shared = open1 && open2 && same_open_file();
        int fds[2];

        r->cap = r->left = cap;
        for (int fd = 1; fd <= 2; fd++) {
                OutputStream *s = &r->s[r->n];

                if (!(fd == 1 ? open1 : open2))
                        continue; /* closed in moat: closed in the workload, as without a limit */
                if (fd == 2 && shared) {
                        r->child_fd[1] = r->child_fd[0];
                        break;
                }
                if (pipe2(fds, O_CLOEXEC) < 0)
                        return -errno;
                s->in_fd = fds[0];
                r->child_fd[fd - 1] = fds[1];
                if (fcntl(s->in_fd, F_SETFL, O_NONBLOCK) < 0)
                        return -errno;
                s->out_fd = fd;
                s->mode = out_mode(fd);
                r->n++;
        }
        r->active = true;
        return 0;
}

/* After clone3: only init and the workload hold the write ends, so the pipes end (EOF) when
 * the whole tree is gone. */
void sandbox_output_close_child_ends(OutputRelay *r) {
        if (r->child_fd[1] != r->child_fd[0])
                r->child_fd[1] = safe_close(r->child_fd[1]);
        else
                r->child_fd[1] = -EBADF;
        r->child_fd[0] = safe_close(r->child_fd[0]);
}

static void stream_close(OutputStream *s) {
        s->in_fd = safe_close(s->in_fd);
        s->len = s->off = 0;
        s->blocked = false;
}

void sandbox_output_done(OutputRelay *r) {
        sandbox_output_close_child_ends(r);
        for (size_t i = 0; i < ELEMENTSOF(r->s); i++) {
                stream_close(&r->s[i]);
                free(r->s[i].buf);
                r->s[i].buf = NULL;
        }
        r->active = false;
}

void sandbox_output_hold_count(OutputRelay *r) {
        r->left = UINT64_MAX;
}

void sandbox_output_count_from_now(OutputRelay *r) {
        for (;;) {
                struct pollfd p[2];
                sandbox_output_pollfds(r, p);
                if (poll(p, 2, 0) <= 0 || !((p[0].revents | p[1].revents) & POLLIN))
                        break;
                (void) sandbox_output_handle(r, p);
        }
        r->left = r->cap;
}

bool sandbox_output_open(const OutputRelay *r) {
        for (size_t i = 0; i < ELEMENTSOF(r->s); i++)
                if (r->s[i].in_fd >= 0)
                        return true;
        return false;
}

void sandbox_output_pollfds(const OutputRelay *r, struct pollfd *p) {
        for (size_t i = 0; i < ELEMENTSOF(r->s); i++) {
                const OutputStream *s = &r->s[i];
                bool wait_out = s->in_fd >= 0 && (s->blocked || s->off < s->len);
                p[i] = (struct pollfd){ .fd = wait_out ? s->out_fd : s->in_fd,
                                        .events = wait_out ? POLLOUT : POLLIN };
        }
}

/* Pass on what is pending in the copy buffer; false when the caller's side is gone. */
static bool copy_flush(OutputStream *s) {
        while (s->off < s->len) {
                size_t n = s->len - s->off;
                ssize_t w;

                if (s->mode == OUTPUT_SEND)
                        w = send(s->out_fd, s->buf + s->off, n, MSG_DONTWAIT | MSG_NOSIGNAL);
                else
                        w = write(s->out_fd, s->buf + s->off, MIN(n, (size_t) PIPE_BUF));
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0 && errno == EAGAIN) {
                        s->blocked = true;
                        return true;
                }
                if (w <= 0)
                        return false;
                s->off += (size_t) w;
                /* write(): one PIPE_BUF per POLLOUT, which a terminal or pipe then takes
                 * without blocking */
                if (s->mode == OUTPUT_WRITE && s->off < s->len) {
                        s->blocked = true;
                        return true;
                }
        }
        s->off = s->len = 0;
        return true;
}

/* Take up to `left` bytes from the pipe into the copy buffer and pass them on. */
static int copy_step(OutputRelay *r, OutputStream *s) {
        ssize_t n;

        if (!s->buf && !(s->buf = malloc(COPY_BUF_SIZE)))
                return -ENOMEM;
        n = read(s->in_fd, s->buf, MIN(r->left, (uint64_t) COPY_BUF_SIZE));
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        if (n == 0)
                return -EPIPE; /* EOF: the tree is gone */
        r->left -= (uint64_t) n;
        s->len = (size_t) n;
        s->off = 0;
        return copy_flush(s) ? 0 : -EPIPE;
}

static int splice_step(OutputRelay *r, OutputStream *s) {
        ssize_t n = splice(s->in_fd, NULL, s->out_fd, NULL, MIN(r->left, (uint64_t) SPLICE_CHUNK),
                           SPLICE_F_NONBLOCK);
        if (n > 0) {
                r->left -= (uint64_t) n;
                return 0;
        }
        if (n == 0)
                return -EPIPE; /* EOF */
        if (errno == EINTR)
                return 0;
        if (errno == EAGAIN) { /* the caller's pipe is full (or ours empty): wait for room */
                s->blocked = true;
                return 0;
        }
        if (errno == EINVAL) { /* this file does not splice: copy, same rules */
                s->mode = out_mode(s->out_fd) == OUTPUT_SEND ? OUTPUT_SEND : OUTPUT_WRITE;
                return 0;
        }
        return -errno;
}

int sandbox_output_handle(OutputRelay *r, const struct pollfd *p) {
        for (size_t i = 0; i < ELEMENTSOF(r->s); i++) {
                OutputStream *s = &r->s[i];
                int k;

                if (s->in_fd < 0 || !p[i].revents)
                        continue;
                if (p[i].events & POLLOUT) {
                        s->blocked = false;
                        if (s->mode != OUTPUT_SPLICE && !copy_flush(s))
                                stream_close(s);
                        continue;
                }
                /* Everything allowed has been taken: a byte more is the command writing past
                 * the limit. POLLIN on a pipe means it holds data (fs/pipe.c, pipe_poll). */
                if (r->left == 0) {
                        if (p[i].revents & POLLIN) {
                                r->exceeded = true;
                                for (size_t j = 0; j < ELEMENTSOF(r->s); j++)
                                        stream_close(&r->s[j]);
                                return 1;
                        }
                        stream_close(s); /* POLLHUP without data: EOF */
                        continue;
                }
                k = s->mode == OUTPUT_SPLICE ? splice_step(r, s) : copy_step(r, s);
                if (k < 0)
                        stream_close(s); /* EOF, or the caller's side is gone (EPIPE) */
        }
        return 0;
}

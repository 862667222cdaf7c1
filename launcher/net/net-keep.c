/* SPDX-License-Identifier: MIT */
/* The proxy's keeper for a launcher that does not stay, and the decision table (net-keep.h). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basic/macros.h"
#include "net/net-keep.h"
#include "sys/fd.h"

#define KEEP_WRITE_MS 500
#define KEEP_STOP_MS 500
#define NOBODY 65534

void net_table_add(RunNetwork *n, const NetRecord *rec) {
        RunNetDest *d = NULL;

        if (rec->allowed)
                n->allowed++;
        else
                n->denied++;
        n->bytes_up += rec->bytes_up;
        n->bytes_down += rec->bytes_down;
        for (size_t i = 0; i < n->n_dest && !d; i++)
                if (n->dest[i].port == rec->port && n->dest[i].allowed == rec->allowed &&
                    strcmp(n->dest[i].host, rec->host) == 0 &&
                    strcmp(n->dest[i].reason, rec->reason) == 0)
                        d = &n->dest[i];
        if (!d) {
                if (!n->dest)
                        n->dest = calloc(RUN_NET_MAX_DEST, sizeof(*n->dest));
                if (!n->dest || n->n_dest == RUN_NET_MAX_DEST) {
                        n->dropped++;
                        return;
                }
                d = &n->dest[n->n_dest++];
                snprintf(d->host, sizeof(d->host), "%.*s", (int) sizeof(rec->host) - 1, rec->host);
                d->port = rec->port;
                d->allowed = rec->allowed;
                snprintf(d->reason, sizeof(d->reason), "%.*s", (int) sizeof(rec->reason) - 1,
                         rec->reason);
                snprintf(d->method, sizeof(d->method), "%.*s", (int) sizeof(rec->method) - 1,
                         rec->method);
        }
        if (rec->addr[0])
                snprintf(d->addr, sizeof(d->addr), "%.*s", (int) sizeof(rec->addr) - 1, rec->addr);
        d->count++;
        d->bytes_up += rec->bytes_up;
        d->bytes_down += rec->bytes_down;
        d->ms += rec->ms;
}

static uint64_t mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void table_write(int fd, const RunNetwork *n) {
        json_t *dest = json_array(), *j;
        char *text;

        for (size_t i = 0; dest && i < n->n_dest; i++) {
                const RunNetDest *d = &n->dest[i];
                json_array_append_new(
                        dest, json_pack("{s:s, s:i, s:b, s:s, s:s, s:s, s:I, s:I, s:I, s:I}",
                                        "host", d->host, "port", (int) d->port, "allowed",
                                        d->allowed, "method", d->method, "reason", d->reason,
                                        "addr", d->addr, "count", (json_int_t) d->count, "bytes_up",
                                        (json_int_t) d->bytes_up, "bytes_down",
                                        (json_int_t) d->bytes_down, "ms", (json_int_t) d->ms));
        }
        j = json_pack("{s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:o*}", "active", n->active,
                      "proxy_died", n->proxy_died, "allowed", (json_int_t) n->allowed, "denied",
                      (json_int_t) n->denied, "bytes_up", (json_int_t) n->bytes_up, "bytes_down",
                      (json_int_t) n->bytes_down, "dropped", (json_int_t) n->dropped, "dest", dest);
        text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!text)
                return;
        size_t len = strlen(text);
        if (pwrite(fd, text, len, 0) == (ssize_t) len)
                (void) !ftruncate(fd, (off_t) len);
        free(text);
}

int net_table_load(int dir_fd, const char *name, RunNetwork *n) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        json_t *j, *d;
        size_t i;

        if (fd < 0)
                return -errno;
        j = json_loadfd(fd, 0, NULL);
        if (!json_is_object(j)) {
                json_decref(j);
                return -EINVAL;
        }
        n->active = json_is_true(json_object_get(j, "active"));
        n->proxy_died = json_is_true(json_object_get(j, "proxy_died"));
        n->allowed = (uint64_t) json_integer_value(json_object_get(j, "allowed"));
        n->denied = (uint64_t) json_integer_value(json_object_get(j, "denied"));
        n->bytes_up = (uint64_t) json_integer_value(json_object_get(j, "bytes_up"));
        n->bytes_down = (uint64_t) json_integer_value(json_object_get(j, "bytes_down"));
        n->dropped = (uint64_t) json_integer_value(json_object_get(j, "dropped"));
        json_array_foreach(json_object_get(j, "dest"), i, d) {
                if (!n->dest && !(n->dest = calloc(RUN_NET_MAX_DEST, sizeof(*n->dest))))
                        break;
                if (n->n_dest == RUN_NET_MAX_DEST)
                        break;
                RunNetDest *x = &n->dest[n->n_dest++];
                snprintf(x->host, sizeof(x->host), "%s",
                         json_string_value(json_object_get(d, "host")) ?: "");
                x->port = (uint16_t) json_integer_value(json_object_get(d, "port"));
                x->allowed = json_is_true(json_object_get(d, "allowed"));
                snprintf(x->method, sizeof(x->method), "%s",
                         json_string_value(json_object_get(d, "method")) ?: "");
                snprintf(x->reason, sizeof(x->reason), "%s",
                         json_string_value(json_object_get(d, "reason")) ?: "");
                snprintf(x->addr, sizeof(x->addr), "%s",
                         json_string_value(json_object_get(d, "addr")) ?: "");
                x->count = (uint64_t) json_integer_value(json_object_get(d, "count"));
                x->bytes_up = (uint64_t) json_integer_value(json_object_get(d, "bytes_up"));
                x->bytes_down = (uint64_t) json_integer_value(json_object_get(d, "bytes_down"));
                x->ms = (uint64_t) json_integer_value(json_object_get(d, "ms"));
        }
        json_decref(j);
        return 0;
}

bool net_records_drain(int fd, RunNetwork *n) {
        for (;;) {
                NetRecord rec;
                ssize_t k = recv(fd, &rec, sizeof(rec), MSG_DONTWAIT);
                if (k == (ssize_t) sizeof(rec)) {
                        rec.host[sizeof(rec.host) - 1] = rec.reason[sizeof(rec.reason) - 1] = 0;
                        rec.addr[sizeof(rec.addr) - 1] = rec.method[sizeof(rec.method) - 1] = 0;
                        net_table_add(n, &rec);
                        continue;
                }
                if (k < 0 && (errno == EAGAIN || errno == EINTR))
                        return true;
                if (k > 0)
                        continue; /* a short record is no record */
                return false;
        }
}

/* Records until EOF on fd or the deadline (CLOCK_MONOTONIC ms). */
static void drain_until(int fd, RunNetwork *n, uint64_t deadline) {
        while (fd >= 0 && net_records_drain(fd, n)) {
                uint64_t now = mono_ms();
                struct pollfd p = { .fd = fd, .events = POLLIN };
                if (now >= deadline || poll(&p, 1, (int) (deadline - now) + 1) <= 0)
                        break;
        }
}

void net_helper_stop(pid_t *pid, int *fd, RunNetwork *n, unsigned stop_ms) {
        uint64_t deadline = mono_ms() + stop_ms;

        if (*pid > 0) {
                if (waitpid(*pid, NULL, WNOHANG) == *pid) {
                        n->proxy_died = true;
                        *pid = 0;
                } else
                        (void) kill(*pid, SIGTERM);
                drain_until(*fd, n, deadline);
                if (*pid > 0) {
                        (void) kill(*pid, SIGKILL);
                        while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
                                ;
                }
        }
        *pid = 0;
        *fd = safe_close(*fd);
}

/* Root: the bounding set emptied while CAP_SETPCAP is still there, then nobody (which clears
 * the permitted and effective sets). Another caller has nothing to drop. */
static int drop_privileges(void) {
        if (geteuid() != 0)
                return 0;
        for (int cap = 0; cap <= 63; cap++)
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                        return -errno;
        if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
            setresuid(NOBODY, NOBODY, NOBODY) < 0)
                return -errno;
        return 0;
}

_Noreturn static void keeper_main(const PlanEgress *e, int ready_fd) {
        /* fds: 3 listener, 4 table, 5 pidfd of the watched process */
        RunNetwork n = {};
        pid_t proxy = 0;
        int rep = -EBADF, r;
        uint64_t written = 0;

        r = drop_privileges();
        /* Not dumpable: another process of the same account cannot ptrace it or read its
         * memory (it can still signal it: the proxy then dies and the network closes). */
        if (r >= 0 &&
            (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0))
                r = -errno;
        if (r >= 0)
                r = net_proxy_spawn(e, 3, &proxy, &rep);
        (void) !write(ready_fd, &r, sizeof(r));
        close(ready_fd);
        close(3);
        if (r < 0)
                _exit(1);
        n.active = true;
        table_write(4, &n);
        /* Idle (nothing new since the last write): no timeout, no wake-up. */
        for (bool dirty = false;;) {
                struct pollfd p[2] = { { .fd = 5, .events = POLLIN },
                                       { .fd = rep, .events = POLLIN } };
                uint64_t before = n.allowed + n.denied;
                int k = poll(p, rep >= 0 ? 2 : 1, dirty ? KEEP_WRITE_MS : -1);
                if (k < 0 && errno != EINTR)
                        break;
                if (rep >= 0 && p[1].revents && !net_records_drain(rep, &n)) {
                        /* The proxy is gone before the container: the network stays closed. */
                        rep = safe_close(rep);
                        n.proxy_died = true;
                        dirty = true;
                }
                if (p[0].revents)
                        break;
                dirty = dirty || n.allowed + n.denied != before;
                if (dirty && mono_ms() - written >= KEEP_WRITE_MS) {
                        table_write(4, &n);
                        written = mono_ms();
                        dirty = false;
                }
        }
        /* The container's init ended: the proxy takes no new connection, the ones under way
         * report, and whatever is left after KEEP_STOP_MS is killed. */
        (void) kill(proxy, SIGTERM);
        drain_until(rep, &n, mono_ms() + KEEP_STOP_MS);
        (void) kill(proxy, SIGKILL);
        (void) waitpid(proxy, NULL, 0);
        table_write(4, &n);
        _exit(0);
}

int net_proxy_keep(const PlanEgress *e, int listen_fd, pid_t watched, int table_fd,
                   pid_t *ret_pid) {
        _cleanup_close_ int pidfd = (int) syscall(SYS_pidfd_open, watched, 0);
        int ready[2], r = 0;
        pid_t pid;

        /* via: transparent is the sandbox tier's `moat run` only (slirp4netns and the rules
         * are set up by its executor): a container never gets the proxy in its place. */
        if (e->transparent)
                return -EPROTONOSUPPORT;
        if (pidfd < 0)
                return -errno;
        if (pipe2(ready, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(ready[0]);
                close(ready[1]);
                return r;
        }
        if (pid == 0) {
                int l = fcntl(listen_fd, F_DUPFD_CLOEXEC, 10),
                    t = fcntl(table_fd, F_DUPFD_CLOEXEC, 10), w = fcntl(pidfd, F_DUPFD_CLOEXEC, 10),
                    y = fcntl(ready[1], F_DUPFD_CLOEXEC, 10),
                    null = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (l < 0 || t < 0 || w < 0 || y < 0 || null < 0 || dup3(l, 3, O_CLOEXEC) < 0 ||
                    dup3(t, 4, O_CLOEXEC) < 0 || dup3(w, 5, O_CLOEXEC) < 0 ||
                    dup3(y, 6, O_CLOEXEC) < 0)
                        _exit(1);
                for (int fd = 0; fd <= 2; fd++)
                        if (dup2(null, fd) < 0)
                                _exit(1);
                close_range(7, ~0U, 0);
                /* Out of the engine's session and process group: its signals are the
                 * container's business; the keeper goes when the container's init does. */
                (void) setsid();
                signal(SIGCHLD, SIG_DFL);
                signal(SIGPIPE, SIG_IGN);
                sigset_t none;
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                keeper_main(e, 6);
        }
        close(ready[1]);
        ssize_t k;
        do
                k = read(ready[0], &r, sizeof(r));
        while (k < 0 && errno == EINTR);
        close(ready[0]);
        if (k != sizeof(r))
                r = -EPIPE;
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return r;
        }
        *ret_pid = pid;
        return 0;
}

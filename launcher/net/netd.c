/* SPDX-License-Identifier: MIT */
/* The egress proxy process (netd.h). Everything after the fork runs confined; only the
 * resolver list is read before it. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basic/macros.h"
#include "net/netd.h"
#include "net/proxy-parse.h"
#include "sys/net-confine.h"

#define NET_MAX_RESOLVERS 3
#define NET_MAX_LOCAL 64
#define NET_MAX_CONNECTIONS 64
#define NET_MAX_ADDRS 16
#define NET_HEAD_TIMEOUT_MS 10000
#define NET_DNS_TIMEOUT_MS 2000
#define NET_CONNECT_TIMEOUT_MS 10000
#define NET_RELAY_BUF (1024 * 1024)

typedef struct Resolver {
        struct sockaddr_storage sa;
        socklen_t len;
} Resolver;

typedef struct Proxy {
        const EgressRule *rules;
        size_t n_rules;
        Resolver resolvers[NET_MAX_RESOLVERS];
        size_t n_resolvers;
        int report_fd;
        /* The addresses of moat's own network namespace (read before the fork): a service
         * that listens on 0.0.0.0 is reachable through them, so an answer naming one is
         * refused like loopback unless a CIDR rule lists it. */
        struct Addr {
                int family;
                uint8_t a[16];
        } local[NET_MAX_LOCAL];
        size_t n_local;
} Proxy;

typedef struct Addr Addr;

static void read_local_addrs(Proxy *p) {
        struct ifaddrs *list = NULL;

        if (getifaddrs(&list) < 0)
                return;
        for (struct ifaddrs *i = list; i && p->n_local < NET_MAX_LOCAL; i = i->ifa_next) {
                Addr *a = &p->local[p->n_local];
                if (!i->ifa_addr)
                        continue;
                if (i->ifa_addr->sa_family == AF_INET) {
                        a->family = AF_INET;
                        memcpy(a->a, &((struct sockaddr_in *) i->ifa_addr)->sin_addr, 4);
                } else if (i->ifa_addr->sa_family == AF_INET6) {
                        a->family = AF_INET6;
                        memcpy(a->a, &((struct sockaddr_in6 *) i->ifa_addr)->sin6_addr, 16);
                } else
                        continue;
                p->n_local++;
        }
        freeifaddrs(list);
}

static bool is_local(const Proxy *p, const Addr *a) {
        for (size_t i = 0; i < p->n_local; i++)
                if (p->local[i].family == a->family &&
                    memcmp(p->local[i].a, a->a, a->family == AF_INET ? 4 : 16) == 0)
                        return true;
        return false;
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* nameserver lines of /etc/resolv.conf, IPv4 or IPv6, port 53. */
static int read_resolvers(Proxy *p) {
        FILE *f = fopen("/etc/resolv.conf", "re");
        char line[256];

        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f) && p->n_resolvers < NET_MAX_RESOLVERS) {
                char addr[INET6_ADDRSTRLEN + 1];
                Resolver *r = &p->resolvers[p->n_resolvers];
                if (sscanf(line, " nameserver %46s", addr) != 1)
                        continue;
                struct sockaddr_in *v4 = (struct sockaddr_in *) &r->sa;
                struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) &r->sa;
                memset(r, 0, sizeof(*r));
                if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
                        v4->sin_family = AF_INET;
                        v4->sin_port = htons(53);
                        r->len = sizeof(*v4);
                } else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
                        v6->sin6_family = AF_INET6;
                        v6->sin6_port = htons(53);
                        r->len = sizeof(*v6);
                } else
                        continue;
                p->n_resolvers++;
        }
        fclose(f);
        return p->n_resolvers > 0 ? 0 : -ENOENT;
}

static bool wait_fd(int fd, short events, int timeout_ms) {
        struct pollfd pfd = { .fd = fd, .events = events };
        int r;
        do
                r = poll(&pfd, 1, timeout_ms);
        while (r < 0 && errno == EINTR);
        return r > 0;
}

static void report(const Proxy *p, const NetRecord *rec) {
        (void) !send(p->report_fd, rec, sizeof(*rec), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* --- DNS: one query per type, answers A/AAAA of class IN anywhere in the answer section --- */

static size_t dns_query(uint8_t *q, uint16_t id, const char *name, uint16_t type) {
        size_t off = 12;
        memset(q, 0, 12);
        q[0] = (uint8_t) (id >> 8);
        q[1] = (uint8_t) id;
        q[2] = 0x01; /* RD */
        q[5] = 1;    /* QDCOUNT */
        for (const char *l = name; *l;) {
                size_t n = strcspn(l, ".");
                q[off++] = (uint8_t) n;
                memcpy(q + off, l, n);
                off += n;
                l += n;
                if (*l == '.')
                        l++;
        }
        q[off++] = 0;
        q[off++] = (uint8_t) (type >> 8);
        q[off++] = (uint8_t) type;
        q[off++] = 0;
        q[off++] = 1; /* IN */
        return off;
}

static bool dns_skip_name(const uint8_t *m, size_t len, size_t *off) {
        for (unsigned guard = 0; *off < len && guard < 128; guard++) {
                uint8_t c = m[*off];
                if (c == 0) {
                        (*off)++;
                        return true;
                }
                if ((c & 0xc0) == 0xc0) {
                        *off += 2;
                        return *off <= len;
                }
                if (c & 0xc0)
                        return false;
                *off += 1 + c;
        }
        return false;
}

static void dns_answers(const uint8_t *m, size_t len, uint16_t id, uint16_t type, Addr *out,
                        size_t *n_out) {
        size_t off = 12;
        unsigned qd, an;

        if (len < 12 || ((m[0] << 8) | m[1]) != id || !(m[2] & 0x80) || (m[3] & 0x0f) != 0)
                return;
        qd = (unsigned) (m[4] << 8 | m[5]);
        an = (unsigned) (m[6] << 8 | m[7]);
        for (unsigned i = 0; i < qd; i++)
                if (!dns_skip_name(m, len, &off) || (off += 4) > len)
                        return;
        for (unsigned i = 0; i < an && *n_out < NET_MAX_ADDRS; i++) {
                if (!dns_skip_name(m, len, &off) || off + 10 > len)
                        return;
                uint16_t t = (uint16_t) (m[off] << 8 | m[off + 1]);
                uint16_t cls = (uint16_t) (m[off + 2] << 8 | m[off + 3]);
                size_t rdlen = (size_t) (m[off + 8] << 8 | m[off + 9]);
                off += 10;
                if (off + rdlen > len)
                        return;
                if (cls == 1 && t == type && rdlen == (type == 1 ? 4u : 16u)) {
                        out[*n_out].family = type == 1 ? AF_INET : AF_INET6;
                        memcpy(out[*n_out].a, m + off, rdlen);
                        (*n_out)++;
                }
                off += rdlen;
        }
}

static void resolve(const Proxy *p, const char *name, Addr *out, size_t *n_out) {
        static const uint16_t types[] = { 1, 28 };

        *n_out = 0;
        for (size_t t = 0; t < ELEMENTSOF(types); t++)
                for (size_t i = 0; i < p->n_resolvers; i++) {
                        const Resolver *r = &p->resolvers[i];
                        uint8_t q[300], a[1500];
                        uint16_t id;
                        int fd;
                        bool answered = false;

                        if (getrandom(&id, sizeof(id), 0) != sizeof(id))
                                continue;
                        fd = socket(r->sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                        if (fd < 0)
                                continue;
                        /* connect(): only datagrams from the resolver's address reach us. */
                        size_t ql = dns_query(q, id, name, types[t]);
                        if (connect(fd, (const struct sockaddr *) &r->sa, r->len) == 0 &&
                            send(fd, q, ql, 0) == (ssize_t) ql &&
                            wait_fd(fd, POLLIN, NET_DNS_TIMEOUT_MS)) {
                                ssize_t n = recv(fd, a, sizeof(a), 0);
                                if (n > 0) {
                                        dns_answers(a, (size_t) n, id, types[t], out, n_out);
                                        answered = true;
                                }
                        }
                        close(fd);
                        if (answered)
                                break;
                }
}

/* --- one connection ------------------------------------------------------------------ */

static int connect_to(const Addr *a, uint16_t port) {
        struct sockaddr_storage ss = {};
        socklen_t len;
        int fd, err = 0;
        socklen_t el = sizeof(err);

        if (a->family == AF_INET) {
                struct sockaddr_in *v4 = (struct sockaddr_in *) &ss;
                v4->sin_family = AF_INET;
                v4->sin_port = htons(port);
                memcpy(&v4->sin_addr, a->a, 4);
                len = sizeof(*v4);
        } else {
                struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) &ss;
                v6->sin6_family = AF_INET6;
                v6->sin6_port = htons(port);
                memcpy(&v6->sin6_addr, a->a, 16);
                len = sizeof(*v6);
        }
        fd = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &ss, len) < 0 && errno != EINPROGRESS) {
                err = errno;
                close(fd);
                return -err;
        }
        if (!wait_fd(fd, POLLOUT, NET_CONNECT_TIMEOUT_MS) ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
                close(fd);
                return -(err ?: ETIMEDOUT);
        }
        (void) fcntl(fd, F_SETFL, 0);
        return fd;
}

static bool write_all(int fd, const void *buf, size_t len) {
        const char *b = buf;
        while (len > 0) {
                ssize_t n = write(fd, b, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return false;
                b += n;
                len -= (size_t) n;
        }
        return true;
}

/* One read's worth from `from` to `to` through the pipe: 1 moved, 0 end of stream, -1 error. */
static int pump(int from, int to, const int pipe_fd[2], uint64_t *count) {
        ssize_t n, m;

        do
                n = splice(from, NULL, pipe_fd[1], NULL, NET_RELAY_BUF, SPLICE_F_MOVE);
        while (n < 0 && errno == EINTR);
        if (n <= 0)
                return n == 0 ? 0 : -1;
        for (size_t left = (size_t) n; left > 0; left -= (size_t) m) {
                m = splice(pipe_fd[0], NULL, to, NULL, left, SPLICE_F_MOVE);
                if (m < 0 && errno == EINTR) {
                        m = 0;
                        continue;
                }
                if (m <= 0)
                        return -1;
        }
        *count += (uint64_t) n;
        return 1;
}

/* Both directions with splice() through a pipe each: the bytes are never copied to us. A
 * side's end of stream is passed on as a shutdown of the other's write side. */
static void relay(int a, int b, NetRecord *rec) {
        struct pollfd pf[2] = { { .fd = a, .events = POLLIN }, { .fd = b, .events = POLLIN } };
        int pipes[2][2];

        if (pipe2(pipes[0], O_CLOEXEC) < 0 || pipe2(pipes[1], O_CLOEXEC) < 0)
                return;
        for (int i = 0; i < 2; i++)
                (void) fcntl(pipes[i][1], F_SETPIPE_SZ, NET_RELAY_BUF);
        while (pf[0].fd >= 0 || pf[1].fd >= 0) {
                if (poll(pf, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return;
                }
                for (int i = 0; i < 2; i++) {
                        if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        int to = i == 0 ? b : a;
                        int r = pump(pf[i].fd, to, pipes[i],
                                     i == 0 ? &rec->bytes_up : &rec->bytes_down);
                        if (r < 0)
                                return;
                        if (r == 0) {
                                pf[i].fd = -1;
                                (void) shutdown(to, SHUT_WR);
                        }
                }
        }
}

_Noreturn static void deny(const Proxy *p, int c, NetRecord *rec, const char *status,
                           const char *reason, uint64_t t0) {
        char resp[160];
        int n = snprintf(resp, sizeof(resp),
                         "HTTP/1.1 %s\r\nX-Moat-Deny: %s\r\nContent-Length: 0\r\n"
                         "Connection: close\r\n\r\n",
                         status, reason);
        if (status)
                (void) write_all(c, resp, (size_t) n);
        rec->allowed = false;
        snprintf(rec->reason, sizeof(rec->reason), "%s", reason);
        rec->ms = now_ms() - t0;
        report(p, rec);
        _exit(0);
}

/* Which resolved addresses may be used: outside the refused ranges, or listed by a CIDR rule. */
static size_t filter_addrs(const Proxy *p, Addr *a, size_t n, uint16_t port, const char **why) {
        size_t k = 0;
        *why = "no-address";
        for (size_t i = 0; i < n; i++) {
                const char *r = egress_addr_refused(a[i].family, a[i].a);
                if (!r && is_local(p, &a[i]))
                        r = "host-address";
                if (r && egress_match_addr(p->rules, p->n_rules, a[i].family, a[i].a, port) < 0) {
                        *why = r;
                        continue;
                }
                a[k++] = a[i];
        }
        return k;
}

_Noreturn static void serve(const Proxy *p, int c) {
        static char head[PROXY_HEAD_MAX];
        static uint8_t hello[16384 + 5];
        NetRecord rec = {};
        ProxyRequest req;
        const char *why;
        size_t len = 0, hl = 0, n_addrs = 0;
        uint64_t t0 = now_ms();
        Addr addrs[NET_MAX_ADDRS];
        int r, up = -1;
        char reason[40];

        for (;;) {
                if (!wait_fd(c, POLLIN, NET_HEAD_TIMEOUT_MS))
                        deny(p, c, &rec, "408 Request Timeout", "head-timeout", t0);
                ssize_t n = read(c, head + len, sizeof(head) - len);
                if (n <= 0)
                        _exit(0);
                len += (size_t) n;
                r = proxy_parse_request(head, len, &req, &why);
                if (r > 0)
                        break;
                if (r < 0)
                        deny(p, c, &rec, "400 Bad Request", why, t0);
        }
        snprintf(rec.host, sizeof(rec.host), "%s", req.host);
        rec.port = req.port;
        snprintf(rec.method, sizeof(rec.method), "%s",
                 req.method == PROXY_CONNECT ? "CONNECT" : "HTTP");

        if (req.is_addr) {
                if (egress_match_addr(p->rules, p->n_rules, req.family, req.addr, req.port) < 0)
                        deny(p, c, &rec, "403 Forbidden", "not-in-allowlist", t0);
                addrs[0].family = req.family;
                memcpy(addrs[0].a, req.addr, 16);
                n_addrs = 1;
        } else {
                if (egress_match_name(p->rules, p->n_rules, req.host, req.port) < 0)
                        deny(p, c, &rec, "403 Forbidden", "not-in-allowlist", t0);
                resolve(p, req.host, addrs, &n_addrs);
                if (n_addrs == 0)
                        deny(p, c, &rec, "502 Bad Gateway", "no-address", t0);
                n_addrs = filter_addrs(p, addrs, n_addrs, req.port, &why);
                if (n_addrs == 0) {
                        snprintf(reason, sizeof(reason), "forbidden-address:%s", why);
                        deny(p, c, &rec, "403 Forbidden", reason, t0);
                }
        }

        if (req.method == PROXY_CONNECT) {
                static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
                /* Bytes after the head belong to the tunnel. */
                hl = len - req.head_len;
                memmove(hello, head + req.head_len, hl);
                if (!write_all(c, ok, sizeof(ok) - 1))
                        _exit(0);
                if (req.port == 443) {
                        char sni[EGRESS_HOST_MAX + 1];
                        bool ech;
                        for (;;) {
                                r = proxy_parse_client_hello(hello, hl, sni, &ech);
                                if (r != 0)
                                        break;
                                if (hl == sizeof(hello) || !wait_fd(c, POLLIN, NET_HEAD_TIMEOUT_MS))
                                        deny(p, c, &rec, NULL, "client-hello-timeout", t0);
                                ssize_t n = read(c, hello + hl, sizeof(hello) - hl);
                                if (n <= 0)
                                        _exit(0);
                                hl += (size_t) n;
                        }
                        if (r < 0)
                                deny(p, c, &rec, NULL, "not-tls", t0);
                        if (ech)
                                deny(p, c, &rec, NULL, "ech-refused", t0);
                        /* A name request: the server name must be that name. An address
                         * request (a CIDR rule): no name, or one the rules allow on this port. */
                        if (req.is_addr ? sni[0] && egress_match_name(p->rules, p->n_rules, sni,
                                                                      req.port) < 0
                                        : strcmp(sni, req.host) != 0) {
                                snprintf(reason, sizeof(reason), "sni-mismatch:%.26s", sni);
                                deny(p, c, &rec, NULL, reason, t0);
                        }
                }
        }

        for (size_t i = 0; i < n_addrs && up < 0; i++) {
                up = connect_to(&addrs[i], req.port);
                inet_ntop(addrs[i].family, addrs[i].a, rec.addr, sizeof(rec.addr));
        }
        if (up < 0)
                deny(p, c, &rec, req.method == PROXY_CONNECT ? NULL : "502 Bad Gateway",
                     "connect-failed", t0);
        if (req.method == PROXY_CONNECT) {
                if (!write_all(up, hello, hl))
                        _exit(0);
        } else if (!write_all(up, req.origin_line, strlen(req.origin_line)) ||
                   !write_all(up, head + req.line_len, len - req.line_len))
                _exit(0);
        rec.allowed = true;
        snprintf(rec.reason, sizeof(rec.reason), "allowed");
        relay(c, up, &rec);
        rec.ms = now_ms() - t0;
        report(p, &rec);
        _exit(0);
}

static volatile sig_atomic_t stopping;

static void on_term(int sig) {
        stopping = 1;
}

/* Until moat's SIGTERM at the end of the run: then no new connection, and the ones under way
 * (their workload side is closed by now) finish and report before we exit. */
_Noreturn static void proxy_main(const Proxy *p, int listen_fd) {
        struct sigaction sa = { .sa_handler = on_term }; /* no SA_RESTART: accept() returns */
        unsigned live = 0;
        pid_t self = getpid();

        if (sigaction(SIGTERM, &sa, NULL) < 0)
                _exit(1);
        for (;;) {
                if (stopping) {
                        close(listen_fd);
                        while (waitpid(-1, NULL, 0) > 0)
                                ;
                        _exit(0);
                }
                while (waitpid(-1, NULL, WNOHANG) > 0)
                        live--;
                int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0) {
                        if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE ||
                            errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                                continue;
                        _exit(1);
                }
                if (live >= NET_MAX_CONNECTIONS) {
                        while (live >= NET_MAX_CONNECTIONS && waitpid(-1, NULL, 0) > 0)
                                live--;
                }
                pid_t pid = fork();
                if (pid == 0) {
                        signal(SIGTERM, SIG_DFL);
                        close(listen_fd);
                        if (sys_net_die_with_parent(self) < 0)
                                _exit(1);
                        serve(p, c);
                }
                if (pid > 0)
                        live++;
                close(c);
        }
}

int net_proxy_spawn(const PlanEgress *e, int listen_fd, pid_t *ret_pid, int *ret_report_fd) {
        Proxy p = { .rules = e->allow, .n_rules = e->n_allow };
        int sv[2], r;
        pid_t moat = getpid(), pid;

        if (e->transparent) /* no proxy in its place: the plan asked for the rules */
                return -EPROTONOSUPPORT;
        if ((r = read_resolvers(&p)) < 0)
                return r;
        read_local_addrs(&p);
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(sv[0]);
                close(sv[1]);
                return r;
        }
        if (pid == 0) {
                /* Keep the listener and the record socket; moat's other fds are not ours. */
                int l = fcntl(listen_fd, F_DUPFD_CLOEXEC, 10),
                    rep = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
                if (l < 0 || rep < 0 || dup3(l, 3, O_CLOEXEC) < 0 || dup3(rep, 4, O_CLOEXEC) < 0)
                        _exit(1);
                close_range(5, ~0U, 0);
                close_range(0, 2, 0); /* nothing of the caller's terminal or pipes */
                signal(SIGCHLD, SIG_DFL);
                sigset_t all;
                sigemptyset(&all);
                sigprocmask(SIG_SETMASK, &all, NULL);
                p.report_fd = 4;
                if (sys_net_confine(moat) < 0)
                        _exit(1);
                proxy_main(&p, 3);
        }
        close(sv[1]);
        (void) fcntl(sv[0], F_SETFL, O_NONBLOCK);
        *ret_pid = pid;
        *ret_report_fd = sv[0];
        return 0;
}

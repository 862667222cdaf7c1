/* SPDX-License-Identifier: MIT */
/* The DNS stub process (dns-stub.h). Everything after the fork runs confined; only the
 * resolver list and moat's own addresses are read before it. One query at a time. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/dns-msg.h"
#include "net/dns-stub.h"
#include "net/netd.h"
#include "net/nft-pin.h"
#include "profile/egress.h"
#include "sys/net-confine.h"
#include "sys/nft.h"

#define STUB_MAX_RESOLVERS 3
#define STUB_MAX_LOCAL 64
#define STUB_MAX_ADDRS 32
#define STUB_UPSTREAM_TIMEOUT_MS 2000
#define STUB_TCP_TIMEOUT_MS 5000

typedef struct Stub {
        const EgressRule *rules;
        size_t n_rules;
        struct sockaddr_storage resolver[STUB_MAX_RESOLVERS];
        socklen_t resolver_len[STUB_MAX_RESOLVERS];
        size_t n_resolvers;
        DnsAddr local[STUB_MAX_LOCAL]; /* moat's own addresses: refused like loopback */
        size_t n_local;
        int nft_fd, report_fd;
        uint32_t seq;
        uint16_t next_id;
} Stub;

static int read_resolvers(Stub *s) {
        FILE *f = fopen("/etc/resolv.conf", "re");
        char line[256];

        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f) && s->n_resolvers < STUB_MAX_RESOLVERS) {
                char addr[INET6_ADDRSTRLEN + 1];
                struct sockaddr_storage *ss = &s->resolver[s->n_resolvers];
                struct sockaddr_in *v4 = (struct sockaddr_in *) ss;
                struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) ss;
                if (sscanf(line, " nameserver %46s", addr) != 1)
                        continue;
                memset(ss, 0, sizeof(*ss));
                if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
                        v4->sin_family = AF_INET;
                        v4->sin_port = htons(53);
                        s->resolver_len[s->n_resolvers++] = sizeof(*v4);
                } else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
                        v6->sin6_family = AF_INET6;
                        v6->sin6_port = htons(53);
                        s->resolver_len[s->n_resolvers++] = sizeof(*v6);
                }
        }
        fclose(f);
        return s->n_resolvers > 0 ? 0 : -ENOENT;
}

static void read_local_addrs(Stub *s) {
        struct ifaddrs *list = NULL;

        if (getifaddrs(&list) < 0)
                return;
        for (struct ifaddrs *i = list; i && s->n_local < STUB_MAX_LOCAL; i = i->ifa_next) {
                DnsAddr *a = &s->local[s->n_local];
                if (!i->ifa_addr)
                        continue;
                memset(a, 0, sizeof(*a));
                if (i->ifa_addr->sa_family == AF_INET)
                        memcpy(a->addr, &((struct sockaddr_in *) i->ifa_addr)->sin_addr, 4);
                else if (i->ifa_addr->sa_family == AF_INET6)
                        memcpy(a->addr, &((struct sockaddr_in6 *) i->ifa_addr)->sin6_addr, 16);
                else
                        continue;
                a->family = i->ifa_addr->sa_family;
                s->n_local++;
        }
        freeifaddrs(list);
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static bool wait_fd(int fd, int timeout_ms) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r;
        do
                r = poll(&p, 1, timeout_ms);
        while (r < 0 && errno == EINTR);
        return r > 0;
}

static void report(const Stub *s, NetRecord *rec, bool allowed, const char *reason, uint64_t t0) {
        rec->allowed = allowed;
        snprintf(rec->method, sizeof(rec->method), "DNS");
        snprintf(rec->reason, sizeof(rec->reason), "%s", reason);
        rec->ms = now_ms() - t0;
        (void) !send(s->report_fd, rec, sizeof(*rec), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* The indexes of the rules that allow the name on some port (HOST, SUFFIX, ANY). */
static size_t name_rules(const Stub *s, const char *name, size_t *idx, size_t max) {
        size_t n = 0;
        for (size_t i = 0; i < s->n_rules && n < max; i++)
                if (s->rules[i].kind != EGRESS_CIDR &&
                    egress_match_name(&s->rules[i], 1, name, s->rules[i].port_lo[0]) >= 0)
                        idx[n++] = i;
        return n;
}

/* The query, with a fresh id, to each resolver in turn; the first answer that parses. */
static ssize_t forward(Stub *s, const uint8_t *q, size_t qlen, uint8_t *ans, size_t size,
                       uint16_t *ret_id) {
        uint8_t m[DNS_MSG_MAX];

        memcpy(m, q, qlen);
        for (size_t i = 0; i < s->n_resolvers; i++) {
                uint16_t id = (uint16_t) (s->next_id++ ^ (uint16_t) now_ms());
                int fd = socket(s->resolver[i].ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        continue;
                m[0] = (uint8_t) (id >> 8);
                m[1] = (uint8_t) id;
                /* connect(): only datagrams from the resolver's address reach us. */
                if (connect(fd, (struct sockaddr *) &s->resolver[i], s->resolver_len[i]) == 0 &&
                    send(fd, m, qlen, 0) == (ssize_t) qlen) {
                        uint64_t end = now_ms() + STUB_UPSTREAM_TIMEOUT_MS;
                        while (now_ms() < end && wait_fd(fd, (int) (end - now_ms()))) {
                                ssize_t n = recv(fd, ans, size, 0);
                                if (n >= 12 && ans[0] == m[0] && ans[1] == m[1]) {
                                        close(fd);
                                        *ret_id = id;
                                        return n;
                                }
                                if (n < 0 && errno != EINTR)
                                        break;
                        }
                }
                close(fd);
        }
        return -ETIMEDOUT;
}

static bool addr_refused(const Stub *s, const DnsAddr *a, const size_t *idx, size_t n_idx,
                         const char **why) {
        const char *r = egress_addr_refused(a->family, a->addr);
        for (size_t i = 0; !r && i < s->n_local; i++)
                if (s->local[i].family == a->family &&
                    memcmp(s->local[i].addr, a->addr, a->family == AF_INET ? 4 : 16) == 0)
                        r = "host-address";
        if (!r)
                return false;
        /* a CIDR rule that lists it on a port an allowing rule gives */
        for (size_t i = 0; i < n_idx; i++) {
                const EgressRule *nr = &s->rules[idx[i]];
                for (size_t j = 0; j < nr->n_ports; j++)
                        if (egress_match_addr(s->rules, s->n_rules, a->family, a->addr,
                                              nr->port_lo[j]) >= 0)
                                return false;
        }
        *why = r;
        return true;
}

/* One query in, one answer out (length in *out_len, 0: none). */
static void handle(Stub *s, const uint8_t *q, size_t qlen, uint8_t *out, size_t size,
                   size_t *out_len) {
        static uint8_t ans[DNS_MSG_MAX];
        DnsQuestion question;
        DnsAddr addrs[STUB_MAX_ADDRS];
        size_t idx[EGRESS_MAX_RULES], n_idx, n_addrs;
        NetRecord rec = {};
        uint64_t t0 = now_ms();
        int rcode, r;
        uint16_t id;
        const char *why = NULL;
        char reason[40];

        *out_len = 0;
        if (dns_parse_query(q, qlen, &question) < 0)
                return report(s, &rec, false, "malformed-query", t0);
        snprintf(rec.host, sizeof(rec.host), "%s", question.name);
        n_idx = name_rules(s, question.name, idx, EGRESS_MAX_RULES);
        if (n_idx == 0) {
                r = dns_make_answer(q, &question, DNS_RCODE_NXDOMAIN, out, size);
                *out_len = r > 0 ? (size_t) r : 0;
                return report(s, &rec, false, "not-in-allowlist", t0);
        }
        if (question.qclass != DNS_CLASS_IN ||
            (question.qtype != DNS_TYPE_A && question.qtype != DNS_TYPE_AAAA)) {
                r = dns_make_answer(q, &question, DNS_RCODE_NOERROR, out, size);
                *out_len = r > 0 ? (size_t) r : 0;
                return report(s, &rec, false, "query-type", t0);
        }
        ssize_t n = forward(s, q, qlen, ans, sizeof(ans), &id);
        if (n < 0 ||
            dns_parse_answer(ans, (size_t) n, id, addrs, STUB_MAX_ADDRS, &n_addrs, &rcode) < 0) {
                r = dns_make_answer(q, &question, DNS_RCODE_SERVFAIL, out, size);
                *out_len = r > 0 ? (size_t) r : 0;
                return report(s, &rec, false, "upstream-failed", t0);
        }
        for (size_t i = 0; i < n_addrs; i++)
                if (addr_refused(s, &addrs[i], idx, n_idx, &why)) {
                        inet_ntop(addrs[i].family, addrs[i].addr, rec.addr, sizeof(rec.addr));
                        r = dns_make_answer(q, &question, DNS_RCODE_REFUSED, out, size);
                        *out_len = r > 0 ? (size_t) r : 0;
                        snprintf(reason, sizeof(reason), "forbidden-address:%s", why);
                        return report(s, &rec, false, reason, t0);
                }
        /* Pin before the workload learns the address. */
        for (size_t i = 0; i < n_addrs; i++)
                for (size_t k = 0; k < n_idx; k++) {
                        uint8_t batch[NFT_PIN_MSG_MAX];
                        int len = nft_pin_encode(addrs[i].family, addrs[i].addr, &s->rules[idx[k]],
                                                 addrs[i].ttl, s->seq, batch, sizeof(batch));
                        if (len < 0 ||
                            sys_nft_send(s->nft_fd, batch, (size_t) len, s->seq + 1) < 0) {
                                r = dns_make_answer(q, &question, DNS_RCODE_SERVFAIL, out, size);
                                *out_len = r > 0 ? (size_t) r : 0;
                                return report(s, &rec, false, "pin-failed", t0);
                        }
                        s->seq += 3;
                }
        if (n_addrs > 0)
                inet_ntop(addrs[0].family, addrs[0].addr, rec.addr, sizeof(rec.addr));
        if ((size_t) n > size)
                return report(s, &rec, false, "answer-too-long", t0);
        memcpy(out, ans, (size_t) n);
        out[0] = (uint8_t) (question.id >> 8);
        out[1] = (uint8_t) question.id;
        *out_len = (size_t) n;
        report(s, &rec, rcode == DNS_RCODE_NOERROR,
               rcode == DNS_RCODE_NOERROR ? "allowed" : "upstream-rcode", t0);
}

static bool read_full(int fd, uint8_t *buf, size_t len) {
        size_t got = 0;
        while (got < len) {
                if (!wait_fd(fd, STUB_TCP_TIMEOUT_MS))
                        return false;
                ssize_t n = read(fd, buf + got, len - got);
                if (n <= 0)
                        return false;
                got += (size_t) n;
        }
        return true;
}

static void serve_tcp(Stub *s, int c) {
        static uint8_t q[DNS_MSG_MAX], out[DNS_MSG_MAX + 2];
        uint8_t l[2];
        size_t out_len;

        if (!read_full(c, l, 2))
                return;
        size_t qlen = (size_t) (l[0] << 8 | l[1]);
        if (qlen > sizeof(q) || !read_full(c, q, qlen))
                return;
        handle(s, q, qlen, out + 2, sizeof(out) - 2, &out_len);
        if (out_len == 0)
                return;
        out[0] = (uint8_t) (out_len >> 8);
        out[1] = (uint8_t) out_len;
        (void) !write(c, out, out_len + 2);
}

_Noreturn static void stub_main(Stub *s, int udp_fd, int tcp_fd) {
        static uint8_t q[DNS_MSG_MAX], out[DNS_MSG_MAX];

        for (;;) {
                struct pollfd p[2] = { { .fd = udp_fd, .events = POLLIN },
                                       { .fd = tcp_fd, .events = POLLIN } };
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        _exit(1);
                }
                if (p[0].revents & POLLIN) {
                        struct sockaddr_storage from;
                        socklen_t fl = sizeof(from);
                        size_t out_len;
                        ssize_t n = recvfrom(udp_fd, q, sizeof(q), MSG_DONTWAIT,
                                             (struct sockaddr *) &from, &fl);
                        if (n > 0) {
                                handle(s, q, (size_t) n, out, sizeof(out), &out_len);
                                if (out_len)
                                        (void) !sendto(udp_fd, out, out_len, MSG_DONTWAIT,
                                                       (struct sockaddr *) &from, fl);
                        }
                }
                if (p[1].revents & POLLIN) {
                        int c = accept4(tcp_fd, NULL, NULL, SOCK_CLOEXEC);
                        if (c >= 0) {
                                serve_tcp(s, c);
                                close(c);
                        }
                }
                if ((p[0].revents | p[1].revents) & (POLLERR | POLLNVAL))
                        _exit(1);
        }
}

int net_dns_spawn(const PlanEgress *e, int udp_fd, int tcp_fd, int nft_fd, pid_t *ret_pid,
                  int *ret_report_fd) {
        Stub s = { .rules = e->allow, .n_rules = e->n_allow, .seq = 1 };
        int sv[2], r;
        pid_t moat = getpid(), pid;

        if ((r = read_resolvers(&s)) < 0)
                return r;
        read_local_addrs(&s);
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
                /* Keep the three sockets and the record socket; nothing else of moat's. */
                int f[4] = { udp_fd, tcp_fd, nft_fd, sv[1] };
                for (int i = 0; i < 4; i++)
                        if ((f[i] = fcntl(f[i], F_DUPFD_CLOEXEC, 10)) < 0)
                                _exit(1);
                for (int i = 0; i < 4; i++)
                        if (dup3(f[i], 3 + i, O_CLOEXEC) < 0)
                                _exit(1);
                close_range(7, ~0U, 0);
                close_range(0, 2, 0);
                sigset_t all;
                sigemptyset(&all);
                sigprocmask(SIG_SETMASK, &all, NULL);
                s.nft_fd = 5;
                s.report_fd = 6;
                if (sys_net_confine(moat) < 0)
                        _exit(1);
                stub_main(&s, 3, 4);
        }
        close(sv[1]);
        (void) fcntl(sv[0], F_SETFL, O_NONBLOCK);
        *ret_pid = pid;
        *ret_report_fd = sv[0];
        return 0;
}

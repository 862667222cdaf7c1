/* SPDX-License-Identifier: MIT */
/* dns-stub-run SOCKET RULE...: moat's DNS stub (launcher/net/dns-stub.c) for
 * tests/integration/network/nft-rules.sh. Listens on the unix socket SOCKET, takes three fds
 * from the one connection (UDP and TCP sockets on the sandbox's 127.0.0.1:53, its
 * NETLINK_NETFILTER socket), starts the stub on them with the allowlist RULE..., answers "k",
 * and prints each decision record ("ALLOW|DENY HOST REASON ADDR") until it is killed (the
 * stub dies with it) or 30 s pass without one. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/dns-stub.h"
#include "net/netd.h"
#include "profile/egress.h"

int main(int argc, char **argv) {
        static EgressRule rules[EGRESS_MAX_RULES];
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        PlanEgress e = { .active = true, .allow = rules };
        char err[256], byte;
        int l, c, fds[3], rep;
        pid_t pid;

        if (argc < 3 || strlen(argv[1]) >= sizeof(sa.sun_path))
                return 2;
        for (int i = 2; i < argc && e.n_allow < EGRESS_MAX_RULES; i++)
                if (egress_rule_parse(argv[i], &rules[e.n_allow++], err, sizeof(err)) < 0) {
                        fprintf(stderr, "dns-stub-run: %s: %s\n", argv[i], err);
                        return 2;
                }
        strcpy(sa.sun_path, argv[1]);
        l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (l < 0 || bind(l, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(l, 1) < 0)
                return 1;
        printf("listening\n");
        fflush(stdout);
        c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
                return 1;
        union {
                struct cmsghdr h;
                char b[CMSG_SPACE(sizeof(fds))];
        } cm;
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        struct msghdr m = { .msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = cm.b,
                            .msg_controllen = sizeof(cm.b) };
        struct cmsghdr *h;
        if (recvmsg(c, &m, MSG_CMSG_CLOEXEC) <= 0 || !(h = CMSG_FIRSTHDR(&m)) ||
            h->cmsg_type != SCM_RIGHTS || h->cmsg_len != CMSG_LEN(sizeof(fds)))
                return 1;
        memcpy(fds, CMSG_DATA(h), sizeof(fds));
        int r = net_dns_spawn(&e, fds[0], fds[1], fds[2], &pid, &rep);
        if (r < 0) {
                fprintf(stderr, "dns-stub-run: %s\n", strerror(-r));
                return 1;
        }
        close(fds[0]);
        close(fds[1]);
        close(fds[2]);
        printf("stub %d\n", (int) pid);
        fflush(stdout);
        if (write(c, "k", 1) != 1)
                return 1;
        close(c);
        for (;;) {
                struct pollfd p[1] = { { .fd = rep, .events = POLLIN } };
                if (poll(p, 1, 30000) <= 0)
                        break;
                if (p[0].revents & POLLIN) {
                        NetRecord rec;
                        if (recv(rep, &rec, sizeof(rec), 0) == (ssize_t) sizeof(rec)) {
                                rec.host[sizeof(rec.host) - 1] =
                                        rec.reason[sizeof(rec.reason) - 1] = 0;
                                rec.addr[sizeof(rec.addr) - 1] = 0;
                                printf("%s %s %s %s\n", rec.allowed ? "ALLOW" : "DENY", rec.host,
                                       rec.reason, rec.addr[0] ? rec.addr : "-");
                                fflush(stdout);
                        }
                } else if (p[0].revents)
                        break;
        }
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return 0;
}

/* SPDX-License-Identifier: MIT */
/* moat's egress proxy for network: outbound (profiles/README.md "network").
 *
 * The sandbox's init makes a listening socket on 127.0.0.1:PORT inside the sandbox's network
 * namespace and hands it to moat; net_proxy_spawn() forks a process that serves it from moat's
 * own network namespace. That process confines itself first (sys/net-confine.h: no
 * capabilities, no file system, a seccomp allowlist, death with moat), then accepts, and forks
 * one process per connection which reads the request head, decides against the plan's rules,
 * resolves names itself through the nameservers of moat's /etc/resolv.conf (read before the
 * fork), drops answers in refused ranges, checks the TLS server name on port 443, connects and
 * relays. Each decision goes to moat as one NetRecord over a SOCK_SEQPACKET socket.
 * If the proxy dies, the sandbox keeps its loopback and nothing else: the network is closed. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "plan/plan.h"

typedef struct NetRecord {
        bool allowed;
        char host[254];
        uint16_t port;
        char method[8];  /* "CONNECT", "HTTP" */
        char reason[40]; /* "allowed", "not-in-allowlist", "forbidden-address:loopback", ... */
        char addr[46];   /* the address connected to, "" if none */
        uint64_t bytes_up, bytes_down;
        uint64_t ms;
} NetRecord;

/* Parent (moat). Forks the proxy for listen_fd (which the caller keeps or closes; the proxy has
 * its own copy). *ret_report_fd: moat's end of the record socket (O_CLOEXEC|O_NONBLOCK).
 * -ENOENT when /etc/resolv.conf names no nameserver, else -errno. */
int net_proxy_spawn(const PlanEgress *e, int listen_fd, pid_t *ret_pid, int *ret_report_fd);

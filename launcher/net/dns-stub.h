/* SPDX-License-Identifier: MIT */
/* moat's DNS stub for transparent egress (network.outbound.via: transparent).
 *
 * The sandbox's root binds UDP and TCP sockets on 127.0.0.1:53 in the sandbox's network
 * namespace (where the ruleset of nft-rules.h redirects every port-53 query) and opens a
 * NETLINK_NETFILTER socket there, and hands the three to moat; net_dns_spawn() forks a process
 * that serves them from moat's own network namespace. That process confines itself first
 * (sys/net-confine.h), then, for each query: a name no rule allows gets NXDOMAIN and is never
 * forwarded; a query other than A or AAAA for an allowed name gets an empty answer; an A or
 * AAAA query is forwarded to the nameservers of moat's /etc/resolv.conf (read before the fork)
 * and its answer is checked: an address in a refused range (egress_addr_refused(), or one of
 * moat's own addresses) that no CIDR rule lists makes the whole answer REFUSED (DNS rebinding);
 * otherwise every address is pinned into the ruleset's pin sets, with the ports of every rule
 * that allows the name, before the answer is returned (a pin that fails: SERVFAIL). Each
 * decision goes to moat as one NetRecord (method "DNS"). If the stub dies, queries go
 * unanswered and nothing new is pinned: the network stays closed. */
#pragma once

#include <sys/types.h>

#include "plan/plan.h"

/* Parent (moat). The caller keeps its copies of the three fds. *ret_report_fd as for
 * net_proxy_spawn(). -ENOENT when /etc/resolv.conf names no nameserver, else -errno. */
int net_dns_spawn(const PlanEgress *e, int udp_fd, int tcp_fd, int nft_fd, pid_t *ret_pid,
                  int *ret_report_fd);

/* SPDX-License-Identifier: MIT */
/* The sandbox tier's transparent egress (network.outbound.via: transparent), the parts that
 * start processes: slirp4netns on the sandbox's network namespace (moat, the parent), and the
 * nftables ruleset loaded and read back by the sandbox's root (init, before it drops its
 * capabilities). The ruleset itself: nft-rules.h; the DNS stub: dns-stub.h.
 *
 * slirp4netns runs with moat's credentials, started between the id maps and the child's
 * release (it joins the sandbox's user and network namespaces by pid and makes tap0 there),
 * with --disable-host-loopback (10.0.2.2 is not the host's loopback), --disable-dns (no
 * forwarder to the host's resolver: the only DNS is moat's stub), --enable-seccomp (a
 * system-call filter of its own), and for a root caller --enable-sandbox (its own mount
 * namespace, capabilities dropped). --enable-sandbox needs uid 0 mapped in the target's user
 * namespace when the caller is not root, which a one-id sandbox lacks: then moat confines it
 * with Landlock before exec instead (read and execute /usr, read /etc/ld.so.cache, /dev/net/tun
 * read-write and nothing else of the file system; no TCP bind; on ABI 6 no abstract socket and
 * no signal outside its domain). nsfs (the /proc/PID/ns files it joins) is not path-checked.
 * --ready-fd and --exit-fd (it ends when moat's end of that pipe closes, kill -9 of moat
 * included), and PR_SET_PDEATHSIG SIGKILL as a second tie. Its stdio is /dev/null. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define NET_SLIRP_READY_MS 2000

typedef struct NetSlirp {
        pid_t pid;   /* 0: none */
        int pidfd;   /* -EBADF: none */
        int exit_fd; /* moat's end of --exit-fd's pipe */
} NetSlirp;

#define NET_SLIRP_INIT \
        { .pidfd = -EBADF, .exit_fd = -EBADF }

/* Parent. slirp4netns at path on the network namespace of target, waited for (ready-fd) up to
 * NET_SLIRP_READY_MS; landlock_abi 0: with --enable-sandbox, else confined by Landlock of that
 * ABI (-EOPNOTSUPP when the kernel has less). 0, or -errno (-ETIMEDOUT: not ready in time; -ECHILD: it exited first,
 * *ret_status its wait status); on failure nothing is left running. */
int net_slirp_start(const char *path, pid_t target, int landlock_abi, NetSlirp *s, int *ret_status);
/* Ends it (the exit-fd closed, SIGKILL after 200 ms) and reaps it. */
void net_slirp_stop(NetSlirp *s);

/* Child (init, as the root of the sandbox's user namespace, in its network namespace, before
 * its mounts: nft is the host's). `nft -f -` of text: 0, or -errno; a non-zero exit of nft is
 * -EPROTO with *ret_status its wait status. */
int net_rules_load(const char *nft, const char *text, int *ret_status);
/* `nft list ruleset`, compared with text in canonical form (nft_rules_canonical()): 0 when
 * equal, -EPROTO when not (another table, a rule or element more or less, another policy),
 * else -errno. */
int net_rules_readback(const char *nft, const char *text);

struct NftCounted;
/* Parent, at the end of the run: the pairs the ruleset's denied4 and denied6 counted
 * (nft-pin.h), read over fd, a NETLINK_NETFILTER socket the sandbox's root opened (its network
 * namespace lives as long as the socket does). Up to max into out, *ret_n; 0 or -errno. */
int net_denied_read(int fd, struct NftCounted *out, size_t max, size_t *ret_n);

/* SPDX-License-Identifier: MIT */
/* PURE. The nftables ruleset of transparent egress (network.outbound.via: transparent), as
 * text for `nft -f`, built from the plan's allowlist; and the pin the DNS stub adds for each
 * answer it returns.
 *
 * One table, `inet moat`, so IPv4 and IPv6 fall under the same rules:
 *   - set cidr4/cidr6 (interval): every CIDR rule's block . port range, written here;
 *   - set pin4/pin6 (interval, timeout, bounded size): address . port range, added at run time
 *     by the DNS stub for the answers of allowed names, before it returns them;
 *   - chain dns (nat, hook output): every query to port 53, UDP or TCP, whatever address the
 *     workload's resolver configuration or a tool names, is redirected to the sandbox's own
 *     loopback, where moat's DNS stub listens; its answers carry the address asked (conntrack);
 *   - chain out (hook output, policy drop): loopback (the sandbox's own; by address too, since
 *     a redirected query still names its first interface as oif), established and related
 *     traffic, IPv6 neighbour discovery, then TCP to the
 *     cidr and pin sets; everything else, all UDP included, is counted in `denied` (TCP and
 *     UDP also per address . port, with a counter each, in the dynamic sets denied4/denied6 of
 *     at most NFT_DENIED_SET_SIZE pairs) and rejected (admin-prohibited: a connect fails at
 *     once instead of waiting out its timeout);
 *   - chain in (hook input, policy drop): loopback, established and related, neighbour
 *     discovery.
 * A rule that allows every destination (EGRESS_ANY, only where the site policy allows it) is
 * 0.0.0.0/0 and ::/0 in the cidr sets, on its ports.
 *
 * Nothing here runs nft or touches the kernel: the caller does (before capabilities drop, in
 * the sandbox's network namespace). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "profile/egress.h"

#define NFT_TABLE "moat"
#define NFT_PIN_SET_SIZE 4096
#define NFT_PIN_MIN_TIMEOUT_S 120 /* answers with a TTL of 0 stay usable for a connect */
#define NFT_PIN_MAX_TIMEOUT_S 86400
#define NFT_DENIED_SET_SIZE 64

/* The ruleset for rules[0..n) into buf. The length written (excluding the NUL), -ENOSPC when
 * buf is too small, -EINVAL for a rule of an unknown kind. */
int nft_rules_text(const EgressRule *rules, size_t n, char *buf, size_t size);

/* "add element inet moat pin4 { 198.51.100.10 . 443 timeout 120s, ... }\n": the address
 * (AF_INET or AF_INET6) with every port range of the rule that allowed the name, for
 * max(ttl, NFT_PIN_MIN_TIMEOUT_S) capped at NFT_PIN_MAX_TIMEOUT_S. Length or -ENOSPC/-EINVAL. */
int nft_pin_text(int family, const uint8_t *addr, const EgressRule *rule, uint32_t ttl, char *buf,
                 size_t size);

/* The canonical form of a ruleset as text, so that what `nft -f` loaded and what `nft list
 * ruleset` prints of it compare equal whatever nft's layout: our two leading lines (the
 * create-and-delete of the table) and counter values dropped, an element list continued over
 * several lines joined, whitespace collapsed, the items of each inline { ... } list sorted,
 * host prefixes (/32, /128) dropped, and the table's sets, counters and chains sorted as
 * blocks (a chain's rules keep their order). NULL on -ENOMEM (errno). The caller frees. */
char *nft_rules_canonical(const char *text);

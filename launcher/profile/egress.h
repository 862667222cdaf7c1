/* SPDX-License-Identifier: MIT */
/* PURE. The outbound allowlist of `network: {outbound: {allow: [...]}}`: one rule per entry,
 * parsed from its written form, normalised, matched against a name or an address and a port,
 * and the address ranges that a name's answers may never fall in unless a CIDR rule lists them.
 * Shared by the profile parser, the site policy, the plan and the proxy (launcher/net/), so
 * every one of them reads a rule the same way. Fixed-size, no heap: the proxy matches inside a
 * confined process with no allocator to spare. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile/profile.h"

#define EGRESS_MAX_RULES 256
#define EGRESS_MAX_PORT_RANGES 16
#define EGRESS_HOST_MAX 253
#define EGRESS_DEFAULT_PORT 443

typedef enum EgressKind {
        EGRESS_HOST,   /* exactly this name */
        EGRESS_SUFFIX, /* "*.example.org": every name below it, never the name itself */
        EGRESS_CIDR,   /* an address block (a bare address is a /32 or /128) */
        EGRESS_ANY,    /* "*", 0.0.0.0/0, ::/0: unrestricted, only where the site policy allows */
        _EGRESS_KIND_MAX,
} EgressKind;

typedef struct EgressRule {
        EgressKind kind;
        char host[EGRESS_HOST_MAX + 1]; /* lower case, no trailing dot; SUFFIX: without "*." */
        int family;                     /* CIDR: AF_INET or AF_INET6 */
        uint8_t addr[16];               /* CIDR: network address (host bits zero) */
        unsigned prefix;
        uint16_t port_lo[EGRESS_MAX_PORT_RANGES], port_hi[EGRESS_MAX_PORT_RANGES];
        unsigned n_ports; /* >= 1 */
        SrcPos pos;       /* where the rule was written (profile or site policy) */
} EgressRule;

/* Parse "HOST[:PORTS]", "*.SUFFIX[:PORTS]", "A.B.C.D[/N][:PORTS]", "[V6[/N]][:PORTS]" or "*".
 * PORTS: "443", "443,22", "8000-8100" (TCP; default 443). 0 or -EINVAL with a message. */
int egress_rule_parse(const char *s, EgressRule *ret, char *err, size_t err_size);
/* The normalised written form ("*.cdn.example.org:443", "203.0.113.0/24:80,443"). */
const char *egress_rule_format(const EgressRule *r, char *buf, size_t size);
#define EGRESS_RULE_FORMAT_MAX (EGRESS_HOST_MAX + 16 + EGRESS_MAX_PORT_RANGES * 12)

bool egress_rule_has_port(const EgressRule *r, uint16_t port);
/* "1".."65535", decimal, no sign, no leading zero. 0 or -EINVAL. */
int egress_port_parse(const char *s, size_t len, uint16_t *ret);
/* A name (already lower case, no trailing dot) and port: the first HOST/SUFFIX/ANY rule that
 * allows it, or -1. */
int egress_match_name(const EgressRule *rules, size_t n, const char *host, uint16_t port);
/* An address and port: the first CIDR/ANY rule that allows it, or -1. */
int egress_match_addr(const EgressRule *rules, size_t n, int family, const uint8_t *addr,
                      uint16_t port);
/* Why an answer in this range is refused unless a CIDR rule lists it ("loopback", "private",
 * "link-local", "metadata", "unique-local", "cgnat", "multicast", "unspecified", "reserved",
 * "v4-mapped" for a mapped address that is itself refused), or NULL for a public address. */
const char *egress_addr_refused(int family, const uint8_t *addr);
/* outer allows everything inner allows (site policy's maximum allowlist). */
bool egress_rule_covers(const EgressRule *outer, const EgressRule *inner);
/* Lower-case, validate a DNS name as the proxy receives it (CONNECT target, Host, SNI):
 * letters, digits, '-', '.', labels of 1-63, at most 253, one trailing dot dropped. */
bool egress_host_normalise(const char *in, size_t len, char out[EGRESS_HOST_MAX + 1]);

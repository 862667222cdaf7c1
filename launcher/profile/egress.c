/* SPDX-License-Identifier: MIT */
/* PURE. Allowlist rules: parsing, normalising, matching (egress.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "basic/macros.h"
#include "profile/egress.h"

_printf_(3, 4) static int bad(char *err, size_t size, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err, size, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static bool label_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

bool egress_host_normalise(const char *in, size_t len, char out[EGRESS_HOST_MAX + 1]) {
        size_t label = 0;

        if (len > 0 && in[len - 1] == '.')
                len--;
        if (len == 0 || len > EGRESS_HOST_MAX)
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = in[i];
                if (c >= 'A' && c <= 'Z')
                        c = (char) (c - 'A' + 'a');
                if (c == '.') {
                        if (label == 0 || out[i - 1] == '-')
                                return false;
                        label = 0;
                } else if (!label_char(c) || (label == 0 && c == '-') || ++label > 63)
                        return false;
                out[i] = c;
        }
        out[len] = '\0';
        return label > 0 && out[len - 1] != '-';
}

int egress_port_parse(const char *s, size_t len, uint16_t *ret) {
        unsigned v = 0;

        if (len == 0 || len > 5)
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned) (s[i] - '0');
        }
        if (v == 0 || v > 65535 || (len > 1 && s[0] == '0'))
                return -EINVAL;
        *ret = (uint16_t) v;
        return 0;
}

static int parse_ports(const char *s, EgressRule *r, char *err, size_t size) {
        const char *p = s;

        r->n_ports = 0;
        for (;;) {
                size_t n = strcspn(p, ","), dash = strcspn(p, "-");
                uint16_t lo, hi;

                if (r->n_ports == EGRESS_MAX_PORT_RANGES)
                        return bad(err, size, "more than %d port ranges in one rule",
                                   EGRESS_MAX_PORT_RANGES);
                if (dash < n) {
                        if (egress_port_parse(p, dash, &lo) < 0 ||
                            egress_port_parse(p + dash + 1, n - dash - 1, &hi) < 0 || lo > hi)
                                return bad(err, size,
                                           "invalid port range '%.*s' (expected LOW-HIGH, 1-65535)",
                                           (int) n, p);
                } else if (egress_port_parse(p, n, &lo) < 0)
                        return bad(err, size, "invalid port '%.*s' (expected 1-65535)", (int) n, p);
                else
                        hi = lo;
                r->port_lo[r->n_ports] = lo;
                r->port_hi[r->n_ports] = hi;
                r->n_ports++;
                if (p[n] == '\0')
                        return 0;
                p += n + 1;
        }
}

static int parse_cidr(const char *s, bool v6, EgressRule *r, char *err, size_t size) {
        char a[INET6_ADDRSTRLEN + 1];
        const char *slash = strchr(s, '/');
        size_t alen = slash ? (size_t) (slash - s) : strlen(s);
        unsigned max = v6 ? 128 : 32, prefix = max;

        if (alen == 0 || alen >= sizeof(a))
                return bad(err, size, "invalid address '%s'", s);
        memcpy(a, s, alen);
        a[alen] = '\0';
        r->family = v6 ? AF_INET6 : AF_INET;
        if (inet_pton(r->family, a, r->addr) != 1)
                return bad(err, size, "invalid %s address '%s'", v6 ? "IPv6" : "IPv4", a);
        if (slash) {
                char *end;
                unsigned long v;
                if (!slash[1] || slash[1] < '0' || slash[1] > '9')
                        return bad(err, size, "invalid prefix length in '%s'", s);
                v = strtoul(slash + 1, &end, 10);
                if (*end || v > max)
                        return bad(err, size, "invalid prefix length in '%s' (0-%u)", s, max);
                prefix = (unsigned) v;
        }
        r->prefix = prefix;
        for (unsigned bit = prefix; bit < max; bit++)
                if (r->addr[bit / 8] & (0x80 >> (bit % 8)))
                        return bad(err, size, "'%s' has bits set past the /%u prefix", s, prefix);
        r->kind = prefix == 0 ? EGRESS_ANY : EGRESS_CIDR;
        return 0;
}

static bool looks_v4(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '/'))
                        return false;
        return n > 0;
}

int egress_rule_parse(const char *s, EgressRule *ret, char *err, size_t size) {
        EgressRule r = { .n_ports = 1,
                         .port_lo = { EGRESS_DEFAULT_PORT },
                         .port_hi = { EGRESS_DEFAULT_PORT } };
        char target[EGRESS_HOST_MAX + 64];
        const char *ports = NULL;
        size_t n;
        int k;

        if (!*s)
                return bad(err, size, "empty rule");
        if (s[0] == '[') {
                const char *close = strchr(s, ']');
                if (!close)
                        return bad(err, size, "'%s': missing ']' after the IPv6 address", s);
                n = (size_t) (close - s - 1);
                if (close[1] == ':')
                        ports = close + 2;
                else if (close[1])
                        return bad(err, size, "'%s': expected ':PORTS' after ']'", s);
                if (n >= sizeof(target))
                        return bad(err, size, "'%s': address too long", s);
                memcpy(target, s + 1, n);
                target[n] = '\0';
                k = parse_cidr(target, true, &r, err, size);
                if (k < 0)
                        return k;
        } else {
                const char *colon = strchr(s, ':');
                n = colon ? (size_t) (colon - s) : strlen(s);
                if (colon && strchr(colon + 1, ':'))
                        return bad(err, size,
                                   "'%s': write an IPv6 address in brackets: [2001:db8::/32]:443",
                                   s);
                ports = colon ? colon + 1 : NULL;
                if (n == 0 || n >= sizeof(target))
                        return bad(err, size, "'%s': invalid host", s);
                memcpy(target, s, n);
                target[n] = '\0';
                if (strcmp(target, "*") == 0)
                        r.kind = EGRESS_ANY;
                else if (looks_v4(target, n)) {
                        k = parse_cidr(target, false, &r, err, size);
                        if (k < 0)
                                return k;
                } else if (strncmp(target, "*.", 2) == 0) {
                        if (!egress_host_normalise(target + 2, n - 2, r.host) ||
                            target[n - 1] == '.')
                                return bad(err, size,
                                           "'%s': invalid name after '*.' (letters, digits, '-' "
                                           "and '.'; non-ASCII names in their xn-- form)",
                                           target);
                        if (!strchr(r.host, '.'))
                                return bad(err, size,
                                           "'%s': a wildcard must keep at least two labels "
                                           "('*.example.org', not '*.org')",
                                           target);
                        r.kind = EGRESS_SUFFIX;
                } else if (strchr(target, '*'))
                        return bad(err, size,
                                   "'%s': '*' is allowed only as the whole first label "
                                   "('*.example.org')",
                                   target);
                else if (!egress_host_normalise(target, n, r.host) || target[n - 1] == '.')
                        return bad(err, size,
                                   "'%s': invalid host name (letters, digits, '-' and '.', no "
                                   "trailing dot; non-ASCII names in their xn-- form)",
                                   target);
                else
                        r.kind = EGRESS_HOST;
        }
        if (ports && (k = parse_ports(ports, &r, err, size)) < 0)
                return k;
        *ret = r;
        return 0;
}

static size_t append(char *buf, size_t size, size_t off, const char *fmt, ...) {
        va_list ap;
        int n;

        if (off >= size)
                return off;
        va_start(ap, fmt);
        n = vsnprintf(buf + off, size - off, fmt, ap);
        va_end(ap);
        return n < 0 ? off : off + (size_t) n;
}

const char *egress_rule_format(const EgressRule *r, char *buf, size_t size) {
        char a[INET6_ADDRSTRLEN];
        size_t off = 0;

        buf[0] = '\0';
        switch (r->kind) {
        case EGRESS_HOST:
                off = append(buf, size, off, "%s", r->host);
                break;
        case EGRESS_SUFFIX:
                off = append(buf, size, off, "*.%s", r->host);
                break;
        case EGRESS_CIDR:
                inet_ntop(r->family, r->addr, a, sizeof(a));
                off = append(buf, size, off, r->family == AF_INET6 ? "[%s/%u]" : "%s/%u", a,
                             r->prefix);
                break;
        default:
                off = append(buf, size, off, "*");
                break;
        }
        for (unsigned i = 0; i < r->n_ports; i++) {
                off = append(buf, size, off, "%s%u", i == 0 ? ":" : ",", r->port_lo[i]);
                if (r->port_hi[i] != r->port_lo[i])
                        off = append(buf, size, off, "-%u", r->port_hi[i]);
        }
        return buf;
}

bool egress_rule_has_port(const EgressRule *r, uint16_t port) {
        for (unsigned i = 0; i < r->n_ports; i++)
                if (port >= r->port_lo[i] && port <= r->port_hi[i])
                        return true;
        return false;
}

static bool suffix_matches(const char *suffix, const char *host) {
        size_t hl = strlen(host), sl = strlen(suffix);

        return hl > sl + 1 && host[hl - sl - 1] == '.' && strcmp(host + hl - sl, suffix) == 0;
}

int egress_match_name(const EgressRule *rules, size_t n, const char *host, uint16_t port) {
        for (size_t i = 0; i < n; i++) {
                const EgressRule *r = &rules[i];
                bool name = (r->kind == EGRESS_HOST && strcmp(r->host, host) == 0) ||
                            (r->kind == EGRESS_SUFFIX && suffix_matches(r->host, host)) ||
                            r->kind == EGRESS_ANY;
                if (name && egress_rule_has_port(r, port))
                        return (int) i;
        }
        return -1;
}

static bool prefix_contains(const uint8_t *net, unsigned prefix, const uint8_t *addr) {
        unsigned full = prefix / 8, rest = prefix % 8;

        if (memcmp(net, addr, full) != 0)
                return false;
        return rest == 0 || ((net[full] ^ addr[full]) & (uint8_t) (0xff << (8 - rest))) == 0;
}

int egress_match_addr(const EgressRule *rules, size_t n, int family, const uint8_t *addr,
                      uint16_t port) {
        for (size_t i = 0; i < n; i++) {
                const EgressRule *r = &rules[i];
                bool in = r->kind == EGRESS_ANY || (r->kind == EGRESS_CIDR && r->family == family &&
                                                    prefix_contains(r->addr, r->prefix, addr));
                if (in && egress_rule_has_port(r, port))
                        return (int) i;
        }
        return -1;
}

typedef struct Range {
        uint8_t net[16];
        unsigned prefix;
        const char *why;
} Range;

static const Range v4_refused[] = {
        { { 0 }, 8, "unspecified" },
        { { 10 }, 8, "private" },
        { { 100, 64 }, 10, "cgnat" },
        { { 127 }, 8, "loopback" },
        { { 169, 254, 169, 254 }, 32, "metadata" },
        { { 169, 254 }, 16, "link-local" },
        { { 172, 16 }, 12, "private" },
        { { 192, 0, 0 }, 24, "reserved" },
        { { 192, 168 }, 16, "private" },
        { { 198, 18 }, 15, "reserved" }, /* benchmarking, used for internal networks */
        { { 224 }, 4, "multicast" },
        { { 240 }, 4, "reserved" }, /* and 255.255.255.255 */
};

static const Range v6_refused[] = {
        { { 0 }, 127, "unspecified" }, /* :: and ::1 (::1 named below first) */
        { { 0xfd, 0x00, 0x0e, 0xc2, [14] = 0x02, [15] = 0x54 }, 128, "metadata" }, /* AWS */
        { { 0xfc }, 7, "unique-local" },
        { { 0xfe, 0x80 }, 10, "link-local" },
        { { 0xfe, 0xc0 }, 10, "reserved" }, /* deprecated site-local */
        { { 0xff }, 8, "multicast" },
};

const char *egress_addr_refused(int family, const uint8_t *addr) {
        static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
        static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };
        static const uint8_t loop6[16] = { [15] = 1 };

        if (family == AF_INET) {
                for (size_t i = 0; i < ELEMENTSOF(v4_refused); i++)
                        if (prefix_contains(v4_refused[i].net, v4_refused[i].prefix, addr))
                                return v4_refused[i].why;
                return NULL;
        }
        if (memcmp(addr, loop6, 16) == 0)
                return "loopback";
        /* ::ffff:a.b.c.d and 64:ff9b::a.b.c.d reach an IPv4 address: judge that one. */
        if (memcmp(addr, mapped, 12) == 0 || memcmp(addr, nat64, 12) == 0)
                return egress_addr_refused(AF_INET, addr + 12) ? "v4-mapped" : NULL;
        for (size_t i = 0; i < ELEMENTSOF(v6_refused); i++)
                if (prefix_contains(v6_refused[i].net, v6_refused[i].prefix, addr))
                        return v6_refused[i].why;
        return NULL;
}

static bool ports_cover(const EgressRule *outer, const EgressRule *inner) {
        for (unsigned i = 0; i < inner->n_ports; i++) {
                bool in = false;
                for (unsigned j = 0; j < outer->n_ports && !in; j++)
                        in = inner->port_lo[i] >= outer->port_lo[j] &&
                             inner->port_hi[i] <= outer->port_hi[j];
                if (!in)
                        return false;
        }
        return true;
}

bool egress_rule_covers(const EgressRule *outer, const EgressRule *inner) {
        if (!ports_cover(outer, inner))
                return false;
        switch (outer->kind) {
        case EGRESS_ANY:
                return true;
        case EGRESS_HOST:
                return inner->kind == EGRESS_HOST && strcmp(outer->host, inner->host) == 0;
        case EGRESS_SUFFIX:
                return (inner->kind == EGRESS_HOST || inner->kind == EGRESS_SUFFIX) &&
                       (suffix_matches(outer->host, inner->host) ||
                        (inner->kind == EGRESS_SUFFIX && strcmp(outer->host, inner->host) == 0));
        case EGRESS_CIDR:
                return inner->kind == EGRESS_CIDR && inner->family == outer->family &&
                       inner->prefix >= outer->prefix &&
                       prefix_contains(outer->addr, outer->prefix, inner->addr);
        default:
                return false;
        }
}

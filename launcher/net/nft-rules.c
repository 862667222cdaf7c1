/* SPDX-License-Identifier: MIT */
/* PURE. nft-rules.h: the transparent egress ruleset as `nft -f` text. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "basic/macros.h"
#include "net/nft-rules.h"

typedef struct Out {
        char *buf;
        size_t size, len;
        bool overflow;
} Out;

__attribute__((format(printf, 2, 3))) static void out(Out *o, const char *fmt, ...) {
        va_list ap;
        int n;

        if (o->overflow)
                return;
        va_start(ap, fmt);
        n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t) n >= o->size - o->len) {
                o->overflow = true;
                return;
        }
        o->len += (size_t) n;
}

static void out_ports(Out *o, const EgressRule *r, size_t i) {
        if (r->port_lo[i] == r->port_hi[i])
                out(o, "%u", r->port_lo[i]);
        else
                out(o, "%u-%u", r->port_lo[i], r->port_hi[i]);
}

/* The elements of one CIDR set: "A/N . P, A/N . P-Q, ..." for the rules of that family. */
static void out_cidr_elements(Out *o, const EgressRule *rules, size_t n, int family) {
        bool first = true;

        for (size_t i = 0; i < n; i++) {
                const EgressRule *r = &rules[i];
                char a[INET6_ADDRSTRLEN];
                unsigned prefix;

                if (r->kind == EGRESS_CIDR && r->family == family) {
                        inet_ntop(family, r->addr, a, sizeof(a));
                        prefix = r->prefix;
                } else if (r->kind == EGRESS_ANY) {
                        snprintf(a, sizeof(a), "%s", family == AF_INET ? "0.0.0.0" : "::");
                        prefix = 0;
                } else
                        continue;
                for (size_t j = 0; j < r->n_ports; j++) {
                        out(o, "%s%s/%u . ", first ? "" : ", ", a, prefix);
                        out_ports(o, r, j);
                        first = false;
                }
        }
}

static bool has_cidr(const EgressRule *rules, size_t n, int family) {
        for (size_t i = 0; i < n; i++)
                if (rules[i].kind == EGRESS_ANY ||
                    (rules[i].kind == EGRESS_CIDR && rules[i].family == family))
                        return true;
        return false;
}

int nft_rules_text(const EgressRule *rules, size_t n, char *buf, size_t size) {
        Out o = { .buf = buf, .size = size };
        static const struct {
                int family;
                const char *name, *type;
        } fam[] = { { AF_INET, "4", "ipv4_addr" }, { AF_INET6, "6", "ipv6_addr" } };

        if (!buf || size == 0)
                return -ENOSPC;
        buf[0] = 0;
        for (size_t i = 0; i < n; i++)
                if (rules[i].kind < 0 || rules[i].kind >= _EGRESS_KIND_MAX)
                        return -EINVAL;
        /* Start from nothing: a table of the same name left by anyone is replaced whole. */
        out(&o, "table inet " NFT_TABLE " {}\ndelete table inet " NFT_TABLE "\n");
        out(&o, "table inet " NFT_TABLE " {\n");
        for (size_t f = 0; f < ELEMENTSOF(fam); f++) {
                out(&o,
                    "\tset pin%s {\n\t\ttype %s . inet_service\n\t\tsize %u\n"
                    "\t\tflags interval,timeout\n\t}\n",
                    fam[f].name, fam[f].type, NFT_PIN_SET_SIZE);
                out(&o, "\tset cidr%s {\n\t\ttype %s . inet_service\n\t\tflags interval\n",
                    fam[f].name, fam[f].type);
                if (has_cidr(rules, n, fam[f].family)) {
                        out(&o, "\t\telements = { ");
                        out_cidr_elements(&o, rules, n, fam[f].family);
                        out(&o, " }\n");
                }
                out(&o, "\t}\n");
        }
        out(&o, "\tcounter denied {\n\t}\n");
        out(&o,
            "\tchain dns {\n"
            "\t\ttype nat hook output priority -100; policy accept;\n"
            "\t\tudp dport 53 redirect to :53\n"
            "\t\ttcp dport 53 redirect to :53\n"
            "\t}\n"
            "\tchain out {\n"
            "\t\ttype filter hook output priority filter; policy drop;\n"
            "\t\toif \"lo\" accept\n"
            "\t\tip daddr 127.0.0.0/8 accept\n"
            "\t\tip6 daddr ::1 accept\n"
            "\t\tct state established,related accept\n"
            "\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } "
            "accept\n"
            "\t\tip daddr . tcp dport @pin4 accept\n"
            "\t\tip6 daddr . tcp dport @pin6 accept\n"
            "\t\tip daddr . tcp dport @cidr4 accept\n"
            "\t\tip6 daddr . tcp dport @cidr6 accept\n"
            "\t\tcounter name \"denied\"\n"
            "\t\treject with icmpx admin-prohibited\n"
            "\t}\n"
            "\tchain in {\n"
            "\t\ttype filter hook input priority filter; policy drop;\n"
            "\t\tiif \"lo\" accept\n"
            "\t\tct state established,related accept\n"
            "\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } "
            "accept\n"
            "\t}\n"
            "}\n");
        return o.overflow ? -ENOSPC : (int) o.len;
}

int nft_pin_text(int family, const uint8_t *addr, const EgressRule *rule, uint32_t ttl, char *buf,
                 size_t size) {
        Out o = { .buf = buf, .size = size };
        char a[INET6_ADDRSTRLEN];
        uint32_t t = ttl < NFT_PIN_MIN_TIMEOUT_S   ? NFT_PIN_MIN_TIMEOUT_S
                     : ttl > NFT_PIN_MAX_TIMEOUT_S ? NFT_PIN_MAX_TIMEOUT_S
                                                   : ttl;

        if (!buf || size == 0)
                return -ENOSPC;
        buf[0] = 0;
        if ((family != AF_INET && family != AF_INET6) || !addr || !rule || rule->n_ports == 0 ||
            !inet_ntop(family, addr, a, sizeof(a)))
                return -EINVAL;
        out(&o, "add element inet " NFT_TABLE " pin%s { ", family == AF_INET ? "4" : "6");
        for (size_t j = 0; j < rule->n_ports; j++) {
                out(&o, "%s%s . ", j ? ", " : "", a);
                out_ports(&o, rule, j);
                out(&o, " timeout %us", t);
        }
        out(&o, " }\n");
        return o.overflow ? -ENOSPC : (int) o.len;
}

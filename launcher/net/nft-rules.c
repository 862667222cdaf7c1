/* SPDX-License-Identifier: MIT */
/* PURE. nft-rules.h: the transparent egress ruleset as `nft -f` text. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
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
        /* What the out chain rejected, per address . port (TCP and UDP), with a counter each;
         * at most NFT_DENIED_SET_SIZE pairs, later new ones only in `denied`. Read at the end
         * of the run for the audit record (nft_denied_*()). */
        for (size_t f = 0; f < ELEMENTSOF(fam); f++)
                out(&o,
                    "\tset denied%s {\n\t\ttype %s . inet_service\n\t\tsize %u\n"
                    "\t\tflags dynamic\n\t\tcounter\n\t}\n",
                    fam[f].name, fam[f].type, NFT_DENIED_SET_SIZE);
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
            "\t\tmeta l4proto { tcp, udp } update @denied4 { ip daddr . th dport }\n"
            "\t\tmeta l4proto { tcp, udp } update @denied6 { ip6 daddr . th dport }\n"
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

/* --- read-back: the canonical form (nft-rules.h) ---------------------------------------- */

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Whitespace runs to one space, trimmed; "/32" and "/128" after an address dropped. */
static void squeeze(char *s) {
        char *w = s;
        bool space = false;

        for (const char *r = s; *r; r++) {
                if (*r == ' ' || *r == '\t' || *r == '\n' || *r == '\r') {
                        space = w != s;
                        continue;
                }
                if (space)
                        *w++ = ' ';
                space = false;
                *w++ = *r;
        }
        *w = 0;
        for (char *p = s; (p = strchr(p, '/'));) {
                size_t n = strncmp(p, "/32", 3) == 0 ? 3 : strncmp(p, "/128", 4) == 0 ? 4 : 0;
                if (n && (p[n] == ' ' || p[n] == ',' || p[n] == 0) && p > s &&
                    (p[-1] == ':' || (p[-1] >= '0' && p[-1] <= '9') ||
                     (p[-1] >= 'a' && p[-1] <= 'f')))
                        memmove(p, p + n, strlen(p + n) + 1);
                else
                        p++;
        }
}

/* The items of each inline "{ a, b }" sorted; into a new string. Items are joined with ", ",
 * so a list written "a,b" grows by one byte per comma: the new string has room for that. */
static char *sort_lists(const char *s) {
        size_t len = strlen(s), commas = 0;
        for (const char *p = s; *p; p++)
                commas += *p == ',';
        char *out = malloc(len + commas + 1), *w = out;

        if (!out)
                return NULL;
        while (*s) {
                const char *open = strstr(s, "{ "), *close = open ? strstr(open + 1, " }") : NULL;
                if (!open || !close) {
                        strcpy(w, s);
                        return out;
                }
                if (close == open + 1) { /* "{ }": nothing to sort */
                        memcpy(w, s, (size_t) (close - s) + 2);
                        w += close - s + 2;
                        s = close + 2;
                        *w = 0;
                        continue;
                }
                memcpy(w, s, (size_t) (open - s) + 2);
                w += open - s + 2;
                char *items = strndup(open + 2, (size_t) (close - open - 2)), *tok, *save = NULL;
                char **v = calloc(strlen(open) + 1, sizeof(char *));
                size_t n = 0;
                if (!items || !v) {
                        free(items);
                        free(v);
                        free(out);
                        return NULL;
                }
                for (tok = strtok_r(items, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                        while (*tok == ' ')
                                tok++;
                        v[n++] = tok;
                }
                qsort(v, n, sizeof(char *), cmp_str);
                for (size_t i = 0; i < n; i++) {
                        size_t l = strlen(v[i]);
                        while (l && v[i][l - 1] == ' ')
                                l--;
                        if (i)
                                *w++ = ',', *w++ = ' ';
                        memcpy(w, v[i], l);
                        w += l;
                }
                free(items);
                free(v);
                s = close;
                *w = 0;
        }
        *w = 0;
        return out;
}

static int depth_change(const char *s) {
        int d = 0, inner = 0;
        /* Braces opened and closed on the same line (inline lists) do not count. */
        for (; *s; s++)
                if (*s == '{')
                        inner++;
                else if (*s == '}') {
                        if (inner > 0)
                                inner--;
                        else
                                d--;
                }
        return d + inner;
}

char *nft_rules_canonical(const char *text) {
        char *copy = strdup(text ? text : ""), **lines = NULL, **blocks = NULL, *out = NULL;
        size_t n_lines = 0, n_blocks = 0, total = 1;
        char *save = NULL;

        if (!copy)
                return NULL;
        lines = calloc(strlen(copy) + 1, sizeof(char *));
        blocks = calloc(strlen(copy) + 1, sizeof(char *));
        if (!lines || !blocks)
                goto done;
        /* Lines, with a list continued after a trailing ',' joined. */
        for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                char *t = strdup(l);
                if (!t)
                        goto done;
                squeeze(t);
                if (!t[0] || strncmp(t, "packets ", 8) == 0 ||
                    strcmp(t, "table inet " NFT_TABLE " {}") == 0 ||
                    strcmp(t, "delete table inet " NFT_TABLE) == 0) {
                        free(t);
                        continue;
                }
                if (n_lines && lines[n_lines - 1][strlen(lines[n_lines - 1]) - 1] == ',') {
                        char *j = malloc(strlen(lines[n_lines - 1]) + strlen(t) + 2);
                        if (!j) {
                                free(t);
                                goto done;
                        }
                        sprintf(j, "%s %s", lines[n_lines - 1], t);
                        free(lines[n_lines - 1]);
                        free(t);
                        lines[n_lines - 1] = j;
                        continue;
                }
                lines[n_lines++] = t;
        }
        for (size_t i = 0; i < n_lines; i++) {
                char *t = sort_lists(lines[i]);
                if (!t)
                        goto done;
                free(lines[i]);
                lines[i] = t;
        }
        /* A block: a set, counter or chain of a table, from its opening line to its closing
         * brace; a table's own opening and closing lines are blocks of their own. */
        {
                int depth = 0;
                char *cur = NULL;
                size_t cur_len = 0;
                for (size_t i = 0; i < n_lines; i++) {
                        int before = depth;
                        depth += depth_change(lines[i]);
                        if (before == 1 || (before >= 1 && cur)) {
                                size_t l = strlen(lines[i]);
                                char *g = realloc(cur, cur_len + l + 2);
                                if (!g)
                                        goto done;
                                cur = g;
                                memcpy(cur + cur_len, lines[i], l);
                                cur_len += l;
                                cur[cur_len++] = '\n';
                                cur[cur_len] = 0;
                                if (depth == 1 || depth == 0) {
                                        blocks[n_blocks++] = cur;
                                        cur = NULL;
                                        cur_len = 0;
                                }
                                continue;
                        }
                        size_t l = strlen(lines[i]);
                        char *b = malloc(l + 2);
                        if (!b)
                                goto done;
                        sprintf(b, "%s\n", lines[i]);
                        blocks[n_blocks++] = b;
                }
                free(cur);
        }
        /* Sort each run of blocks that belong to one table: those between a "table ... {" line
         * and its closing "}" line (which is a block of its own, "}\n"). */
        for (size_t i = 0; i < n_blocks; i++) {
                if (strncmp(blocks[i], "table ", 6) != 0)
                        continue;
                size_t j = i + 1;
                while (j < n_blocks && strcmp(blocks[j], "}\n") != 0)
                        j++;
                qsort(blocks + i + 1, j - i - 1, sizeof(char *), cmp_str);
                i = j;
        }
        for (size_t i = 0; i < n_blocks; i++)
                total += strlen(blocks[i]);
        out = malloc(total);
        if (out) {
                out[0] = 0;
                for (size_t i = 0; i < n_blocks; i++)
                        strcat(out, blocks[i]);
        }
done:
        for (size_t i = 0; lines && i < n_lines; i++)
                free(lines[i]);
        for (size_t i = 0; blocks && i < n_blocks; i++)
                free(blocks[i]);
        free(lines);
        free(blocks);
        free(copy);
        return out;
}

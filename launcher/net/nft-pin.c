/* SPDX-License-Identifier: MIT */
/* PURE. nft-pin.h: a pin as an nf_tables netlink batch. Concatenated keys: each field is
 * padded to 4 bytes (ipv4_addr . inet_service = 4 + 4, ipv6_addr . inet_service = 16 + 4). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include "net/nft-pin.h"
#include "net/nft-rules.h"

typedef struct Msg {
        uint8_t *buf;
        size_t size, len;
        bool overflow;
} Msg;

static void *put(Msg *m, size_t n) {
        size_t need = NLMSG_ALIGN(n);
        void *p;

        if (m->overflow || need > m->size - m->len) {
                m->overflow = true;
                return NULL;
        }
        p = m->buf + m->len;
        memset(p, 0, need);
        m->len += need;
        return p;
}

/* Starts a netlink message; returns its offset (the length is patched by end_msg). */
static size_t begin_msg(Msg *m, uint16_t type, uint16_t flags, uint32_t seq, uint8_t family,
                        uint16_t res_id) {
        size_t off = m->len;
        struct nlmsghdr *h = put(m, sizeof(*h));
        struct nfgenmsg *g = put(m, sizeof(*g));

        if (h && g) {
                h->nlmsg_type = type;
                h->nlmsg_flags = NLM_F_REQUEST | flags;
                h->nlmsg_seq = seq;
                g->nfgen_family = family;
                g->version = NFNETLINK_V0;
                g->res_id = htons(res_id);
        }
        return off;
}

static void end_msg(Msg *m, size_t off) {
        if (!m->overflow)
                ((struct nlmsghdr *) (m->buf + off))->nlmsg_len = (uint32_t) (m->len - off);
}

static size_t begin_nest(Msg *m, uint16_t type) {
        size_t off = m->len;
        struct nlattr *a = put(m, NLA_HDRLEN);

        if (a)
                a->nla_type = type | NLA_F_NESTED;
        return off;
}

static void end_nest(Msg *m, size_t off) {
        if (!m->overflow)
                ((struct nlattr *) (m->buf + off))->nla_len = (uint16_t) (m->len - off);
}

static void attr(Msg *m, uint16_t type, const void *data, size_t n) {
        struct nlattr *a = put(m, NLA_HDRLEN + n);

        if (a) {
                a->nla_type = type;
                a->nla_len = (uint16_t) (NLA_HDRLEN + n);
                memcpy((uint8_t *) a + NLA_HDRLEN, data, n);
        }
}

static void key(Msg *m, uint16_t type, const uint8_t *addr, size_t alen, uint16_t port) {
        uint8_t k[16 + 4] = { 0 };
        uint16_t p = htons(port);
        size_t nest = begin_nest(m, type);

        memcpy(k, addr, alen);
        memcpy(k + alen, &p, sizeof(p));
        attr(m, NFTA_DATA_VALUE, k, alen + 4);
        end_nest(m, nest);
}

int nft_pin_encode(int family, const uint8_t *addr, const EgressRule *rule, uint32_t ttl,
                   uint32_t seq, uint8_t *buf, size_t size) {
        Msg m = { .buf = buf, .size = size };
        size_t alen = family == AF_INET ? 4 : 16, msg, list;
        uint32_t t = ttl < NFT_PIN_MIN_TIMEOUT_S   ? NFT_PIN_MIN_TIMEOUT_S
                     : ttl > NFT_PIN_MAX_TIMEOUT_S ? NFT_PIN_MAX_TIMEOUT_S
                                                   : ttl;
        uint64_t timeout_ms = htobe64((uint64_t) t * 1000);

        if ((family != AF_INET && family != AF_INET6) || !addr || !rule || rule->n_ports == 0 ||
            rule->n_ports > EGRESS_MAX_PORT_RANGES || !buf)
                return -EINVAL;
        msg = begin_msg(&m, NFNL_MSG_BATCH_BEGIN, 0, seq, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
        end_msg(&m, msg);
        msg = begin_msg(&m, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM,
                        NLM_F_CREATE | NLM_F_ACK, seq + 1, NFPROTO_INET, 0);
        attr(&m, NFTA_SET_ELEM_LIST_TABLE, NFT_TABLE, sizeof(NFT_TABLE));
        attr(&m, NFTA_SET_ELEM_LIST_SET, family == AF_INET ? "pin4" : "pin6", sizeof("pin4"));
        list = begin_nest(&m, NFTA_SET_ELEM_LIST_ELEMENTS);
        for (size_t i = 0; i < rule->n_ports; i++) {
                size_t el = begin_nest(&m, NFTA_LIST_ELEM);
                key(&m, NFTA_SET_ELEM_KEY, addr, alen, rule->port_lo[i]);
                key(&m, NFTA_SET_ELEM_KEY_END, addr, alen, rule->port_hi[i]);
                attr(&m, NFTA_SET_ELEM_TIMEOUT, &timeout_ms, sizeof(timeout_ms));
                end_nest(&m, el);
        }
        end_nest(&m, list);
        end_msg(&m, msg);
        msg = begin_msg(&m, NFNL_MSG_BATCH_END, 0, seq + 2, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
        end_msg(&m, msg);
        return m.overflow ? -ENOSPC : (int) m.len;
}

int nft_setelem_dump_encode(const char *set, uint32_t seq, uint8_t *buf, size_t size) {
        Msg m = { .buf = buf, .size = size };
        size_t msg;

        if (!set || !buf || strlen(set) >= 32)
                return -EINVAL;
        msg = begin_msg(&m, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETSETELEM, NLM_F_DUMP, seq,
                        NFPROTO_INET, 0);
        attr(&m, NFTA_SET_ELEM_LIST_TABLE, NFT_TABLE, sizeof(NFT_TABLE));
        attr(&m, NFTA_SET_ELEM_LIST_SET, set, strlen(set) + 1);
        end_msg(&m, msg);
        return m.overflow ? -ENOSPC : (int) m.len;
}

/* The attribute of type t in [p, p+len), or NULL; nested attributes carry NLA_F_NESTED. */
static const struct nlattr *find_attr(const uint8_t *p, size_t len, uint16_t t) {
        while (len >= NLA_HDRLEN) {
                const struct nlattr *a = (const struct nlattr *) p;
                if (a->nla_len < NLA_HDRLEN || a->nla_len > len)
                        return NULL;
                if ((a->nla_type & NLA_TYPE_MASK) == t)
                        return a;
                size_t step = NLA_ALIGN(a->nla_len);
                if (step >= len)
                        return NULL;
                p += step;
                len -= step;
        }
        return NULL;
}

#define ATTR_DATA(a) ((const uint8_t *) (a) + NLA_HDRLEN)
#define ATTR_LEN(a) ((size_t) (a)->nla_len - NLA_HDRLEN)

static uint64_t be64_at(const uint8_t *p) {
        uint64_t v;
        memcpy(&v, p, sizeof(v));
        return be64toh(v);
}

/* A counter expression (NFTA_EXPR_NAME "counter", NFTA_EXPR_DATA) into c. */
static void read_counter(const struct nlattr *expr, NftCounted *c) {
        const struct nlattr *name = find_attr(ATTR_DATA(expr), ATTR_LEN(expr), NFTA_EXPR_NAME),
                            *data = find_attr(ATTR_DATA(expr), ATTR_LEN(expr), NFTA_EXPR_DATA);
        const struct nlattr *p, *b;

        if (!name || !data || ATTR_LEN(name) < 8 || memcmp(ATTR_DATA(name), "counter", 8) != 0)
                return;
        p = find_attr(ATTR_DATA(data), ATTR_LEN(data), NFTA_COUNTER_PACKETS);
        b = find_attr(ATTR_DATA(data), ATTR_LEN(data), NFTA_COUNTER_BYTES);
        if (p && ATTR_LEN(p) == 8)
                c->packets = be64_at(ATTR_DATA(p));
        if (b && ATTR_LEN(b) == 8)
                c->bytes = be64_at(ATTR_DATA(b));
}

int nft_setelem_parse(const void *msg, size_t len, int family, NftCounted *out, size_t max,
                      size_t *n) {
        const struct nlmsghdr *h = msg;
        size_t alen = family == AF_INET ? 4 : 16, hl = NLMSG_LENGTH(sizeof(struct nfgenmsg));
        const struct nlattr *list;

        if (!msg || len < hl || h->nlmsg_len > len || h->nlmsg_len < hl ||
            (family != AF_INET && family != AF_INET6))
                return -EINVAL;
        list = find_attr((const uint8_t *) msg + hl, h->nlmsg_len - hl,
                         NFTA_SET_ELEM_LIST_ELEMENTS);
        if (!list)
                return 0;
        const uint8_t *p = ATTR_DATA(list);
        size_t left = ATTR_LEN(list);
        while (left >= NLA_HDRLEN) {
                const struct nlattr *el = (const struct nlattr *) p;
                if (el->nla_len < NLA_HDRLEN || el->nla_len > left)
                        return -EINVAL;
                const struct nlattr *key = find_attr(ATTR_DATA(el), ATTR_LEN(el),
                                                     NFTA_SET_ELEM_KEY),
                                    *val = key ? find_attr(ATTR_DATA(key), ATTR_LEN(key),
                                                           NFTA_DATA_VALUE)
                                               : NULL;
                if (val && ATTR_LEN(val) == alen + 4 && *n < max) {
                        NftCounted *c = &out[*n];
                        uint16_t port;
                        memset(c, 0, sizeof(*c));
                        c->family = family;
                        memcpy(c->addr, ATTR_DATA(val), alen);
                        memcpy(&port, ATTR_DATA(val) + alen, 2);
                        c->port = ntohs(port);
                        const struct nlattr *e =
                                find_attr(ATTR_DATA(el), ATTR_LEN(el), NFTA_SET_ELEM_EXPR);
                        if (e)
                                read_counter(e, c);
                        else if ((e = find_attr(ATTR_DATA(el), ATTR_LEN(el),
                                                NFTA_SET_ELEM_EXPRESSIONS))) {
                                const struct nlattr *first =
                                        find_attr(ATTR_DATA(e), ATTR_LEN(e), NFTA_LIST_ELEM);
                                if (first)
                                        read_counter(first, c);
                        }
                        (*n)++;
                }
                size_t step = NLA_ALIGN(el->nla_len);
                if (step >= left)
                        break;
                p += step;
                left -= step;
        }
        return 0;
}

/* SPDX-License-Identifier: MIT */
/* PURE. dns-msg.h. RFC 1035 section 4; names may be compressed in answers (pointers are
 * followed only backwards, so a loop cannot be built), never in the query. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "net/dns-msg.h"

#define HDR 12

static uint16_t get16(const uint8_t *p) {
        return (uint16_t) (p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* Skip a (possibly compressed) name at *off; *off is moved past it. 0 or -EINVAL. */
static int skip_name(const uint8_t *m, size_t len, size_t *off) {
        size_t o = *off;

        for (;;) {
                if (o >= len)
                        return -EINVAL;
                uint8_t l = m[o];
                if (l == 0) {
                        *off = o + 1;
                        return 0;
                }
                if ((l & 0xc0) == 0xc0) {
                        if (o + 1 >= len)
                                return -EINVAL;
                        *off = o + 2;
                        return 0;
                }
                if (l & 0xc0)
                        return -EINVAL;
                o += 1 + (size_t) l;
        }
}

int dns_parse_query(const uint8_t *m, size_t len, DnsQuestion *q) {
        char text[EGRESS_HOST_MAX + 2];
        size_t o = HDR, t = 0;

        if (!m || len < HDR || len > DNS_MSG_MAX)
                return -EINVAL;
        memset(q, 0, sizeof(*q));
        if ((m[2] & 0x80) || (m[2] & 0x78) || get16(m + 4) != 1 || get16(m + 6) != 0 ||
            get16(m + 8) != 0)
                return -EINVAL;
        for (;;) {
                if (o >= len)
                        return -EINVAL;
                uint8_t l = m[o++];
                if (l == 0)
                        break;
                if (l > 63 || o + l > len || t + l + 1 > EGRESS_HOST_MAX + 1)
                        return -EINVAL;
                if (t)
                        text[t++] = '.';
                memcpy(text + t, m + o, l);
                t += l;
                o += l;
        }
        if (o + 4 > len)
                return -EINVAL;
        text[t] = 0;
        if (t && (memchr(text, 0, t) || !egress_host_normalise(text, t, q->name)))
                return -EINVAL;
        q->id = get16(m);
        q->qtype = get16(m + o);
        q->qclass = get16(m + o + 2);
        q->question_end = o + 4;
        return 0;
}

int dns_make_answer(const uint8_t *query, const DnsQuestion *q, int rcode, uint8_t *out,
                    size_t size) {
        size_t n = q->question_end;

        if (n < HDR || n > size)
                return -ENOSPC;
        memcpy(out, query, n);
        out[2] = (uint8_t) (0x80 | (query[2] & 0x01)); /* QR, opcode 0, RD as asked */
        out[3] = (uint8_t) (0x80 | (rcode & 0x0f));    /* RA */
        memset(out + 4, 0, 8);
        out[5] = 1; /* one question, no records */
        return (int) n;
}

int dns_parse_answer(const uint8_t *m, size_t len, uint16_t id, DnsAddr *addrs, size_t max,
                     size_t *ret_n, int *ret_rcode) {
        size_t o = HDR, n = 0;
        unsigned qd, an;

        if (!m || len < HDR || get16(m) != id || !(m[2] & 0x80))
                return -EINVAL;
        qd = get16(m + 4);
        an = get16(m + 6);
        for (unsigned i = 0; i < qd; i++) {
                if (skip_name(m, len, &o) < 0 || o + 4 > len)
                        return -EINVAL;
                o += 4;
        }
        for (unsigned i = 0; i < an; i++) {
                uint16_t type, class, rdlen;
                uint32_t ttl;

                if (skip_name(m, len, &o) < 0 || o + 10 > len)
                        return -EINVAL;
                type = get16(m + o);
                class = get16(m + o + 2);
                ttl = get32(m + o + 4);
                rdlen = get16(m + o + 8);
                o += 10;
                if (o + rdlen > len)
                        return -EINVAL;
                if (class == DNS_CLASS_IN && ((type == DNS_TYPE_A && rdlen == 4) ||
                                              (type == DNS_TYPE_AAAA && rdlen == 16))) {
                        if (n == max)
                                return -E2BIG;
                        addrs[n].family = type == DNS_TYPE_A ? AF_INET : AF_INET6;
                        memset(addrs[n].addr, 0, sizeof(addrs[n].addr));
                        memcpy(addrs[n].addr, m + o, rdlen);
                        addrs[n].ttl = ttl > 0x7fffffff ? 0 : ttl;
                        n++;
                } else if (class == DNS_CLASS_IN && (type == DNS_TYPE_A || type == DNS_TYPE_AAAA))
                        return -EINVAL; /* an address record of the wrong size */
                o += rdlen;
        }
        *ret_n = n;
        *ret_rcode = m[3] & 0x0f;
        return 0;
}

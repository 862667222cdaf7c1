/* SPDX-License-Identifier: MIT */
/* PURE. Request head and ClientHello parsing for the proxy (proxy-parse.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "net/proxy-parse.h"

static const char *find_head_end(const char *buf, size_t len) {
        for (size_t i = 0; i + 3 < len; i++)
                if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' &&
                    buf[i + 3] == '\n')
                        return buf + i + 4;
        return NULL;
}

/* "host:port", "[v6]:port", or (default_port != 0) either without ":port". */
static int parse_authority(const char *s, size_t n, uint16_t default_port, ProxyRequest *r) {
        char a[INET6_ADDRSTRLEN + 1];
        const char *host = s, *colon = NULL;
        size_t hl;

        if (n > 0 && s[0] == '[') {
                const char *close = memchr(s, ']', n);
                if (!close)
                        return -EINVAL;
                host = s + 1;
                hl = (size_t) (close - host);
                if (close + 1 < s + n) {
                        if (close[1] != ':')
                                return -EINVAL;
                        colon = close + 1;
                }
                if (hl == 0 || hl >= sizeof(a))
                        return -EINVAL;
                memcpy(a, host, hl);
                a[hl] = '\0';
                if (inet_pton(AF_INET6, a, r->addr) != 1)
                        return -EINVAL;
                r->is_addr = true;
                r->family = AF_INET6;
                snprintf(r->host, sizeof(r->host), "%s", a);
        } else {
                colon = memrchr(s, ':', n);
                hl = colon ? (size_t) (colon - s) : n;
                if (hl == 0)
                        return -EINVAL;
                if (hl < sizeof(a)) {
                        memcpy(a, s, hl);
                        a[hl] = '\0';
                        if (inet_pton(AF_INET, a, r->addr) == 1) {
                                r->is_addr = true;
                                r->family = AF_INET;
                                snprintf(r->host, sizeof(r->host), "%s", a);
                        }
                }
                if (!r->is_addr && !egress_host_normalise(s, hl, r->host))
                        return -EINVAL;
        }
        if (colon)
                return egress_port_parse(colon + 1, (size_t) (s + n - colon - 1), &r->port);
        if (!default_port)
                return -EINVAL;
        r->port = default_port;
        return 0;
}

int proxy_parse_request(const char *buf, size_t len, ProxyRequest *r, const char **why) {
        const char *end = find_head_end(buf, len > PROXY_HEAD_MAX ? PROXY_HEAD_MAX : len);
        const char *eol, *sp1, *sp2, *target;
        size_t tl;

        *why = NULL;
        if (!end) {
                if (len >= PROXY_HEAD_MAX) {
                        *why = "head-too-long";
                        return -E2BIG;
                }
                return 0;
        }
        memset(r, 0, sizeof(*r));
        r->head_len = (size_t) (end - buf);
        eol = memchr(buf, '\r', r->head_len);
        if (eol[1] != '\n') {
                *why = "bad-request-line";
                return -EINVAL;
        }
        r->line_len = (size_t) (eol - buf) + 2;
        sp1 = memchr(buf, ' ', (size_t) (eol - buf));
        sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t) (eol - sp1 - 1)) : NULL;
        if (!sp1 || !sp2 || (size_t) (eol - sp2 - 1) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
            (sp2[8] != '0' && sp2[8] != '1')) {
                *why = "bad-request-line";
                return -EINVAL;
        }
        for (const char *c = buf; c < eol; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f) {
                        *why = "bad-request-line";
                        return -EINVAL;
                }
        target = sp1 + 1;
        tl = (size_t) (sp2 - target);
        if ((size_t) (sp1 - buf) == 7 && memcmp(buf, "CONNECT", 7) == 0) {
                r->method = PROXY_CONNECT;
                if (parse_authority(target, tl, 0, r) < 0) {
                        *why = "bad-connect-target";
                        return -EINVAL;
                }
                return 1;
        }
        /* Absolute form: METHOD http://authority[/path] -> METHOD /path */
        static const char scheme[] = "http://";
        size_t ml = (size_t) (sp1 - buf);
        for (size_t i = 0; i < ml; i++)
                if (buf[i] < 'A' || buf[i] > 'Z') {
                        *why = "bad-method";
                        return -EINVAL;
                }
        if (tl < sizeof(scheme) - 1 || strncasecmp(target, scheme, sizeof(scheme) - 1) != 0) {
                *why = "not-absolute-http";
                return -EINVAL;
        }
        const char *auth = target + sizeof(scheme) - 1;
        const char *path = memchr(auth, '/', (size_t) (sp2 - auth));
        const char *aend = path ? path : sp2;
        if (memchr(auth, '@', (size_t) (aend - auth)) ||
            memchr(auth, '?', (size_t) (aend - auth)) ||
            memchr(auth, '#', (size_t) (aend - auth))) {
                *why = "bad-authority";
                return -EINVAL;
        }
        r->method = PROXY_HTTP;
        if (parse_authority(auth, (size_t) (aend - auth), 80, r) < 0) {
                *why = "bad-authority";
                return -EINVAL;
        }
        int n = snprintf(r->origin_line, sizeof(r->origin_line), "%.*s %.*s HTTP/1.%c\r\n",
                         (int) ml, buf, path ? (int) (sp2 - path) : 1, path ? path : "/", sp2[8]);
        if (n < 0 || (size_t) n >= sizeof(r->origin_line)) {
                *why = "path-too-long";
                return -EINVAL;
        }
        return 1;
}

static uint32_t be(const uint8_t *p, int n) {
        uint32_t v = 0;
        for (int i = 0; i < n; i++)
                v = v << 8 | p[i];
        return v;
}

/* The server_name extension: list length, then entries {type, length, name}; type 0 is a
 * host name, and only one may be present (RFC 6066 3). */
static int parse_sni(const uint8_t *p, size_t n, char sni[EGRESS_HOST_MAX + 1]) {
        size_t list, off = 2;

        if (n < 2 || (list = be(p, 2)) != n - 2)
                return -EINVAL;
        while (off + 3 <= n) {
                uint8_t type = p[off];
                size_t len = be(p + off + 1, 2);
                off += 3;
                if (off + len > n)
                        return -EINVAL;
                if (type == 0) {
                        if (sni[0] || !egress_host_normalise((const char *) p + off, len, sni))
                                return -EINVAL;
                }
                off += len;
        }
        return off == n ? 0 : -EINVAL;
}

int proxy_parse_client_hello(const uint8_t *buf, size_t len, char sni[EGRESS_HOST_MAX + 1],
                             bool *ret_ech) {
        size_t rec, hs, off;

        sni[0] = '\0';
        *ret_ech = false;
        if (len < 5)
                return 0;
        /* One handshake record holding the whole ClientHello: what every TLS client sends; a
         * ClientHello split over records is refused rather than reassembled. */
        if (buf[0] != 0x16 || buf[1] != 0x03)
                return -EINVAL;
        rec = be(buf + 3, 2);
        if (rec < 4 || rec > 16384)
                return -EINVAL;
        if (len < 5 + rec)
                return 0;
        const uint8_t *p = buf + 5;
        if (p[0] != 0x01)
                return -EINVAL;
        hs = be(p + 1, 3);
        if (hs + 4 > rec)
                return -EINVAL;
        p += 4;
        /* version(2) random(32) session_id(1+n) cipher_suites(2+n) compression(1+n) ext(2+n) */
        off = 34;
        if (off + 1 > hs)
                return -EINVAL;
        off += 1 + p[off];
        if (off + 2 > hs)
                return -EINVAL;
        off += 2 + be(p + off, 2);
        if (off + 1 > hs)
                return -EINVAL;
        off += 1 + p[off];
        if (off == hs)
                return 1; /* no extensions: no server name */
        if (off + 2 > hs)
                return -EINVAL;
        size_t ext_end = off + 2 + be(p + off, 2);
        if (ext_end != hs)
                return -EINVAL;
        off += 2;
        while (off + 4 <= ext_end) {
                uint32_t type = be(p + off, 2);
                size_t elen = be(p + off + 2, 2);
                off += 4;
                if (off + elen > ext_end)
                        return -EINVAL;
                if (type == 0 && parse_sni(p + off, elen, sni) < 0)
                        return -EINVAL;
                if (type == 0xfe0d) /* encrypted_client_hello */
                        *ret_ech = true;
                off += elen;
        }
        return off == ext_end ? 1 : -EINVAL;
}

/* SPDX-License-Identifier: MIT */
/* The proxy's parsers (launcher/net/proxy-parse.c): what they accept, how they normalise,
 * and what they refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "net/proxy-parse.h"

static int req(const char *s, ProxyRequest *r, const char **why) {
        return proxy_parse_request(s, strlen(s), r, why);
}

static void test_connect(void **state) {
        ProxyRequest r;
        const char *why;

        assert_int_equal(
                req("CONNECT PKG.Example.org:443 HTTP/1.1\r\nHost: x\r\n\r\nTLS", &r, &why), 1);
        assert_int_equal(r.method, PROXY_CONNECT);
        assert_string_equal(r.host, "pkg.example.org");
        assert_int_equal(r.port, 443);
        assert_false(r.is_addr);
        assert_int_equal(r.head_len,
                         strlen("CONNECT PKG.Example.org:443 HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert_int_equal(req("CONNECT 203.0.113.5:8443 HTTP/1.0\r\n\r\n", &r, &why), 1);
        assert_true(r.is_addr);
        assert_int_equal(r.family, AF_INET);
        assert_int_equal(r.port, 8443);
        assert_int_equal(req("CONNECT [2001:db8::1]:443 HTTP/1.1\r\n\r\n", &r, &why), 1);
        assert_true(r.is_addr);
        assert_int_equal(r.family, AF_INET6);
        /* incomplete: read more */
        assert_int_equal(req("CONNECT pkg.example.org:443 HTTP/1.1\r\n", &r, &why), 0);
        /* refused */
        assert_int_equal(req("CONNECT pkg.example.org HTTP/1.1\r\n\r\n", &r, &why), -EINVAL);
        assert_string_equal(why, "bad-connect-target");
        assert_int_equal(req("CONNECT pkg.example.org:0 HTTP/1.1\r\n\r\n", &r, &why), -EINVAL);
        assert_int_equal(req("CONNECT a..b:443 HTTP/1.1\r\n\r\n", &r, &why), -EINVAL);
        assert_int_equal(req("CONNECT evil\x01.org:443 HTTP/1.1\r\n\r\n", &r, &why), -EINVAL);
        assert_int_equal(req("CONNECT pkg.example.org:443 SPDY/3\r\n\r\n", &r, &why), -EINVAL);
        assert_string_equal(why, "bad-request-line");
}

static void test_absolute(void **state) {
        ProxyRequest r;
        const char *why;
        const char *get =
                "GET http://pkg.example.org:8080/simple/?q=1 HTTP/1.1\r\nHost: "
                "pkg.example.org\r\n\r\n";

        assert_int_equal(req(get, &r, &why), 1);
        assert_int_equal(r.method, PROXY_HTTP);
        assert_string_equal(r.host, "pkg.example.org");
        assert_int_equal(r.port, 8080);
        assert_string_equal(r.origin_line, "GET /simple/?q=1 HTTP/1.1\r\n");
        assert_int_equal(req("HEAD http://pkg.example.org HTTP/1.0\r\n\r\n", &r, &why), 1);
        assert_int_equal(r.port, 80);
        assert_string_equal(r.origin_line, "HEAD / HTTP/1.0\r\n");
        /* origin form, another scheme, credentials in the authority: refused */
        assert_int_equal(req("GET /x HTTP/1.1\r\n\r\n", &r, &why), -EINVAL);
        assert_string_equal(why, "not-absolute-http");
        assert_int_equal(req("GET ftp://pkg.example.org/ HTTP/1.1\r\n\r\n", &r, &why), -EINVAL);
        assert_int_equal(req("GET http://user@evil.org/ HTTP/1.1\r\n\r\n", &r, &why), -EINVAL);
        assert_string_equal(why, "bad-authority");
        assert_int_equal(req("get http://pkg.example.org/ HTTP/1.1\r\n\r\n", &r, &why), -EINVAL);
}

static void test_head_limit(void **state) {
        static char big[PROXY_HEAD_MAX + 10];
        ProxyRequest r;
        const char *why;

        memset(big, 'a', sizeof(big));
        memcpy(big, "CONNECT a.b:443 HTTP/1.1\r\nX: ", 29);
        assert_int_equal(proxy_parse_request(big, sizeof(big), &r, &why), -E2BIG);
}

/* A ClientHello with the given server name (or none), optionally with an ECH extension. */
static size_t hello(uint8_t *b, const char *sni, bool ech) {
        uint8_t ext[600];
        size_t e = 0, n = sni ? strlen(sni) : 0, o = 0;

        if (sni) {
                ext[e++] = 0, ext[e++] = 0; /* server_name */
                ext[e++] = 0, ext[e++] = (uint8_t) (n + 5);
                ext[e++] = 0, ext[e++] = (uint8_t) (n + 3);
                ext[e++] = 0, ext[e++] = 0, ext[e++] = (uint8_t) n;
                memcpy(ext + e, sni, n);
                e += n;
        }
        if (ech) {
                ext[e++] = 0xfe, ext[e++] = 0x0d, ext[e++] = 0, ext[e++] = 1, ext[e++] = 0;
        }
        uint8_t body[700];
        size_t bl = 0;
        body[bl++] = 3, body[bl++] = 3;
        memset(body + bl, 0x11, 32);
        bl += 32;
        body[bl++] = 0;                                                    /* session id */
        body[bl++] = 0, body[bl++] = 2, body[bl++] = 0x13, body[bl++] = 1; /* suites */
        body[bl++] = 1, body[bl++] = 0;                                    /* compression */
        body[bl++] = (uint8_t) (e >> 8), body[bl++] = (uint8_t) e;
        memcpy(body + bl, ext, e);
        bl += e;
        b[o++] = 0x16, b[o++] = 3, b[o++] = 1;
        b[o++] = (uint8_t) ((bl + 4) >> 8), b[o++] = (uint8_t) (bl + 4);
        b[o++] = 1, b[o++] = 0, b[o++] = (uint8_t) (bl >> 8), b[o++] = (uint8_t) bl;
        memcpy(b + o, body, bl);
        return o + bl;
}

static void test_client_hello(void **state) {
        uint8_t b[800];
        char sni[EGRESS_HOST_MAX + 1];
        bool ech;
        size_t n;

        n = hello(b, "PKG.example.org", false);
        assert_int_equal(proxy_parse_client_hello(b, n, sni, &ech), 1);
        assert_string_equal(sni, "pkg.example.org");
        assert_false(ech);
        assert_int_equal(proxy_parse_client_hello(b, n - 1, sni, &ech), 0); /* read more */
        n = hello(b, NULL, false);
        assert_int_equal(proxy_parse_client_hello(b, n, sni, &ech), 1);
        assert_string_equal(sni, "");
        n = hello(b, "pkg.example.org", true);
        assert_int_equal(proxy_parse_client_hello(b, n, sni, &ech), 1);
        assert_true(ech);
        n = hello(b, "bad..name", false);
        assert_int_equal(proxy_parse_client_hello(b, n, sni, &ech), -EINVAL);
        memcpy(b, "GET / HTTP/1.1\r\n\r\n", 18);
        assert_int_equal(proxy_parse_client_hello(b, 18, sni, &ech), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_connect),
                cmocka_unit_test(test_absolute),
                cmocka_unit_test(test_head_limit),
                cmocka_unit_test(test_client_hello),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

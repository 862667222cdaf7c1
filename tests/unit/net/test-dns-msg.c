/* SPDX-License-Identifier: MIT */
/* The DNS stub's messages (launcher/net/dns-msg.c): the query it accepts, the refusal it
 * writes, the addresses it reads from an upstream answer; and what it refuses to parse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "net/dns-msg.h"

/* id 0x1234, RD, one question: Pkg.Example.ORG A IN */
static const uint8_t query[] = { 0x12, 0x34, 0x01, 0x00, 0,   1,   0,   0,   0,   0,   0,
                                 0,    3,    'P',  'k',  'g', 7,   'E', 'x', 'a', 'm', 'p',
                                 'l',  'e',  3,    'O',  'R', 'G', 0,   0,   1,   0,   1 };

static void test_query(void **state) {
        DnsQuestion q;

        assert_int_equal(dns_parse_query(query, sizeof(query), &q), 0);
        assert_int_equal(q.id, 0x1234);
        assert_string_equal(q.name, "pkg.example.org");
        assert_int_equal(q.qtype, DNS_TYPE_A);
        assert_int_equal(q.qclass, DNS_CLASS_IN);
        assert_int_equal(q.question_end, sizeof(query));
        /* EDNS OPT in the additional section is fine */
        uint8_t edns[sizeof(query) + 11];
        memcpy(edns, query, sizeof(query));
        edns[11] = 1;
        const uint8_t opt[] = { 0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0 };
        memcpy(edns + sizeof(query), opt, sizeof(opt));
        assert_int_equal(dns_parse_query(edns, sizeof(edns), &q), 0);
}

static void test_query_refused(void **state) {
        uint8_t m[sizeof(query)];
        DnsQuestion q;

        memcpy(m, query, sizeof(m));
        m[2] |= 0x80; /* a response */
        assert_int_equal(dns_parse_query(m, sizeof(m), &q), -EINVAL);
        memcpy(m, query, sizeof(m));
        m[5] = 2; /* two questions */
        assert_int_equal(dns_parse_query(m, sizeof(m), &q), -EINVAL);
        memcpy(m, query, sizeof(m));
        m[12] = 0xc0; /* a compression pointer in a query */
        assert_int_equal(dns_parse_query(m, sizeof(m), &q), -EINVAL);
        memcpy(m, query, sizeof(m));
        m[14] = '_'; /* not a host name */
        assert_int_equal(dns_parse_query(m, sizeof(m), &q), -EINVAL);
        memcpy(m, query, sizeof(m));
        m[14] = 0; /* a NUL inside a label */
        assert_int_equal(dns_parse_query(m, sizeof(m), &q), -EINVAL);
        assert_int_equal(dns_parse_query(query, sizeof(query) - 1, &q), -EINVAL);
        assert_int_equal(dns_parse_query(query, 11, &q), -EINVAL);
}

static void test_answer_made(void **state) {
        uint8_t out[512];
        DnsQuestion q;

        assert_int_equal(dns_parse_query(query, sizeof(query), &q), 0);
        assert_int_equal(dns_make_answer(query, &q, DNS_RCODE_REFUSED, out, sizeof(out)),
                         sizeof(query));
        assert_int_equal(out[0], 0x12);
        assert_int_equal(out[2], 0x81); /* QR, RD */
        assert_int_equal(out[3], 0x85); /* RA, REFUSED */
        assert_int_equal(out[5], 1);
        assert_int_equal(out[7] | out[9] | out[11], 0);
        assert_memory_equal(out + 12, query + 12, sizeof(query) - 12);
        assert_int_equal(dns_make_answer(query, &q, DNS_RCODE_REFUSED, out, 10), -ENOSPC);
}

/* The answer: question, then pkg CNAME -> mirror (compressed), mirror A, mirror AAAA. */
static size_t answer(uint8_t *m) {
        static const uint8_t
                tail[] = {
                        0xc0, 12,  0,   5,   0,    1,  0, 0, 0,    60,   0, 9,  6,    'm',  'i',
                        'r',  'r', 'o', 'r', 0xc0, 16, /* mirror.example.org */
                        0xc0, 45,  0,   1,   0,    1,  0, 0, 0x0e, 0x10, 0, 4,  198,  51,   100,
                        11, /* A, ttl 3600 */
                        0xc0, 45,  0,   28,  0,    1,  0, 0, 0,    0,    0, 16, 0x20, 0x01, 0x0d,
                        0xb8, 0,   0,   0,   0,    0,  0, 0, 0,    0,    0, 0,  0x11, /* AAAA, ttl 0 */
                };
        memcpy(m, query, sizeof(query));
        m[2] = 0x81;
        m[3] = 0x80;
        m[7] = 3;
        memcpy(m + sizeof(query), tail, sizeof(tail));
        return sizeof(query) + sizeof(tail);
}

static void test_answer_parsed(void **state) {
        uint8_t m[512];
        size_t len = answer(m), n;
        DnsAddr a[4];
        int rcode;

        assert_int_equal(dns_parse_answer(m, len, 0x1234, a, 4, &n, &rcode), 0);
        assert_int_equal(rcode, DNS_RCODE_NOERROR);
        assert_int_equal(n, 2);
        assert_int_equal(a[0].family, AF_INET);
        assert_int_equal(a[0].ttl, 3600);
        const uint8_t v4[4] = { 198, 51, 100, 11 };
        assert_memory_equal(a[0].addr, v4, 4);
        assert_int_equal(a[1].family, AF_INET6);
        assert_int_equal(a[1].addr[15], 0x11);
        assert_int_equal(a[1].ttl, 0);
        /* not ours, too many, cut short */
        assert_int_equal(dns_parse_answer(m, len, 0x4321, a, 4, &n, &rcode), -EINVAL);
        assert_int_equal(dns_parse_answer(m, len, 0x1234, a, 1, &n, &rcode), -E2BIG);
        for (size_t cut = 12; cut < len; cut++)
                assert_int_equal(dns_parse_answer(m, cut, 0x1234, a, 4, &n, &rcode), -EINVAL);
        /* an A record of 5 bytes */
        m[sizeof(query) + 21 + 11] = 5;
        assert_int_equal(dns_parse_answer(m, len + 1, 0x1234, a, 4, &n, &rcode), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_query),
                cmocka_unit_test(test_query_refused),
                cmocka_unit_test(test_answer_made),
                cmocka_unit_test(test_answer_parsed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

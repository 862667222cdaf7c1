/* SPDX-License-Identifier: MIT */
/* The transparent egress ruleset (launcher/net/nft-rules.c): the text for the plan's rules and
 * the DNS stub's pins. tests/integration/network/nft-rules-load.sh loads the same text into a
 * real nf_tables in a namespace of its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include "net/nft-pin.h"
#include "net/nft-rules.h"

static EgressRule rule(const char *s) {
        EgressRule r;
        char err[256];

        assert_int_equal(egress_rule_parse(s, &r, err, sizeof(err)), 0);
        return r;
}

static void test_cidr_elements(void **state) {
        EgressRule rules[] = { rule("pkg.example.org:443"), rule("203.0.113.0/24:80,8000-8100"),
                               rule("[2001:db8::/32]:443"), rule("*.cdn.example.org") };
        char buf[8192];

        assert_true(nft_rules_text(rules, 4, buf, sizeof(buf)) > 0);
        /* replaced whole, whatever was there */
        assert_non_null(strstr(buf, "table inet moat {}\ndelete table inet moat\n"));
        assert_non_null(
                strstr(buf, "elements = { 203.0.113.0/24 . 80, 203.0.113.0/24 . 8000-8100 }"));
        assert_non_null(strstr(buf, "elements = { 2001:db8::/32 . 443 }"));
        /* names are pinned at run time, never written in the table */
        assert_null(strstr(buf, "example.org"));
        assert_non_null(strstr(buf, "policy drop;\n\t\toif \"lo\" accept"));
        assert_non_null(strstr(buf, "reject with icmpx admin-prohibited"));
        assert_non_null(strstr(buf, "size 4096"));
        /* no rule accepts UDP; port 53 goes to the sandbox's own stub */
        assert_null(strstr(buf, "udp dport 53 accept"));
        assert_non_null(strstr(buf, "udp dport 53 redirect to :53"));
        assert_non_null(strstr(buf, "tcp dport 53 redirect to :53"));
}

static void test_names_only(void **state) {
        EgressRule rules[] = { rule("pkg.example.org:443") };
        char buf[8192];

        assert_true(nft_rules_text(rules, 1, buf, sizeof(buf)) > 0);
        assert_null(strstr(buf, "elements"));
        assert_true(nft_rules_text(NULL, 0, buf, sizeof(buf)) > 0);
        assert_null(strstr(buf, "elements"));
}

static void test_any(void **state) {
        EgressRule rules[] = { rule("*") };
        char buf[8192];

        assert_true(nft_rules_text(rules, 1, buf, sizeof(buf)) > 0);
        assert_non_null(strstr(buf, "elements = { 0.0.0.0/0 . 443 }"));
        assert_non_null(strstr(buf, "elements = { ::/0 . 443 }"));
}

static void test_too_small(void **state) {
        EgressRule rules[] = { rule("203.0.113.0/24:80") };
        char buf[64];

        assert_int_equal(nft_rules_text(rules, 1, buf, sizeof(buf)), -ENOSPC);
        rules[0].kind = _EGRESS_KIND_MAX;
        char big[8192];
        assert_int_equal(nft_rules_text(rules, 1, big, sizeof(big)), -EINVAL);
}

static void test_pin(void **state) {
        EgressRule r = rule("pkg.example.org:443,8000-8100");
        const uint8_t v4[4] = { 198, 51, 100, 10 };
        const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
        char buf[512];

        assert_true(nft_pin_text(AF_INET, v4, &r, 0, buf, sizeof(buf)) > 0);
        assert_string_equal(buf,
                            "add element inet moat pin4 { 198.51.100.10 . 443 timeout 120s, "
                            "198.51.100.10 . 8000-8100 timeout 120s }\n");
        assert_true(nft_pin_text(AF_INET6, v6, &r, 3600, buf, sizeof(buf)) > 0);
        assert_string_equal(buf,
                            "add element inet moat pin6 { 2001:db8::1 . 443 timeout 3600s, "
                            "2001:db8::1 . 8000-8100 timeout 3600s }\n");
        assert_true(nft_pin_text(AF_INET, v4, &r, 10000000, buf, sizeof(buf)) > 0);
        assert_non_null(strstr(buf, "timeout 86400s"));
        assert_int_equal(nft_pin_text(AF_UNIX, v4, &r, 0, buf, sizeof(buf)), -EINVAL);
        assert_int_equal(nft_pin_text(AF_INET, v4, &r, 0, buf, 20), -ENOSPC);
}

/* The netlink form: three messages (batch begin, NEWSETELEM with an ack, batch end), numbered
 * from seq; the element's keys are address . port padded to 4 bytes, the timeout in ms. The
 * kernel's side is checked in tests/integration/network/nft-rules.sh. */
static void test_pin_netlink(void **state) {
        EgressRule r = rule("pkg.example.org:443,8000-8100");
        const uint8_t v4[4] = { 198, 51, 100, 10 };
        const uint8_t key443[8] = { 198, 51, 100, 10, 0x01, 0xbb, 0, 0 };
        const uint8_t key8100[8] = { 198, 51, 100, 10, 0x1f, 0xa4, 0, 0 };
        uint8_t buf[NFT_PIN_MSG_MAX];
        int n = nft_pin_encode(AF_INET, v4, &r, 5, 7, buf, sizeof(buf));
        const struct nlmsghdr *h = (const void *) buf;
        size_t left;

        assert_true(n > 0);
        left = (size_t) n;
        assert_true(NLMSG_OK(h, left));
        assert_int_equal(h->nlmsg_type, NFNL_MSG_BATCH_BEGIN);
        assert_int_equal(h->nlmsg_seq, 7);
        h = NLMSG_NEXT(h, left);
        assert_true(NLMSG_OK(h, left));
        assert_int_equal(h->nlmsg_type, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM);
        assert_int_equal(h->nlmsg_flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK);
        assert_int_equal(h->nlmsg_seq, 8);
        assert_non_null(memmem(h, h->nlmsg_len, "moat", 5));
        assert_non_null(memmem(h, h->nlmsg_len, "pin4", 5));
        assert_non_null(memmem(h, h->nlmsg_len, key443, sizeof(key443)));
        assert_non_null(memmem(h, h->nlmsg_len, key8100, sizeof(key8100)));
        uint64_t ms = htobe64(120000); /* the floor */
        assert_non_null(memmem(h, h->nlmsg_len, &ms, sizeof(ms)));
        h = NLMSG_NEXT(h, left);
        assert_true(NLMSG_OK(h, left));
        assert_int_equal(h->nlmsg_type, NFNL_MSG_BATCH_END);
        assert_int_equal(h->nlmsg_seq, 9);
        h = NLMSG_NEXT(h, left);
        assert_int_equal(left, 0);
        assert_int_equal(nft_pin_encode(AF_UNIX, v4, &r, 5, 7, buf, sizeof(buf)), -EINVAL);
        assert_int_equal(nft_pin_encode(AF_INET, v4, &r, 5, 7, buf, 40), -ENOSPC);
}

/* What nft 1.0.6 prints (`nft list ruleset`) after loading nft_rules_text() of these rules:
 * objects first, elements over several lines, /32 dropped, icmpv6 types reordered. The
 * canonical forms of the two are equal; a rule more, a changed policy or element is not. */
static const char listing[] =
        "table inet moat {\n"
        "\tcounter denied {\n"
        "\t\tpackets 0 bytes 0\n"
        "\t}\n"
        "\n"
        "\tset pin4 {\n"
        "\t\ttype ipv4_addr . inet_service\n"
        "\t\tsize 4096\n"
        "\t\tflags interval,timeout\n"
        "\t}\n"
        "\n"
        "\tset cidr4 {\n"
        "\t\ttype ipv4_addr . inet_service\n"
        "\t\tflags interval\n"
        "\t\telements = { 10.77.0.1 . 80,\n"
        "\t\t\t     198.51.100.0/24 . 443,\n"
        "\t\t\t     10.0.0.0/8 . 7000-7010 }\n"
        "\t}\n"
        "\n"
        "\tset pin6 {\n"
        "\t\ttype ipv6_addr . inet_service\n"
        "\t\tsize 4096\n"
        "\t\tflags interval,timeout\n"
        "\t}\n"
        "\n"
        "\tset cidr6 {\n"
        "\t\ttype ipv6_addr . inet_service\n"
        "\t\tflags interval\n"
        "\t}\n"
        "\n"
        "\tset denied4 {\n"
        "\t\ttype ipv4_addr . inet_service\n"
        "\t\tsize 64\n"
        "\t\tflags dynamic\n"
        "\t\tcounter\n"
        "\t}\n"
        "\n"
        "\tset denied6 {\n"
        "\t\ttype ipv6_addr . inet_service\n"
        "\t\tsize 64\n"
        "\t\tflags dynamic\n"
        "\t\tcounter\n"
        "\t}\n"
        "\n"
        "\tchain dns {\n"
        "\t\ttype nat hook output priority -100; policy accept;\n"
        "\t\tudp dport 53 redirect to :53\n"
        "\t\ttcp dport 53 redirect to :53\n"
        "\t}\n"
        "\n"
        "\tchain out {\n"
        "\t\ttype filter hook output priority filter; policy drop;\n"
        "\t\toif \"lo\" accept\n"
        "\t\tip daddr 127.0.0.0/8 accept\n"
        "\t\tip6 daddr ::1 accept\n"
        "\t\tct state established,related accept\n"
        "\t\ticmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } accept\n"
        "\t\tip daddr . tcp dport @pin4 accept\n"
        "\t\tip6 daddr . tcp dport @pin6 accept\n"
        "\t\tip daddr . tcp dport @cidr4 accept\n"
        "\t\tip6 daddr . tcp dport @cidr6 accept\n"
        "\t\tmeta l4proto { tcp, udp } update @denied4 { ip daddr . th dport }\n"
        "\t\tmeta l4proto { tcp, udp } update @denied6 { ip6 daddr . th dport }\n"
        "\t\tcounter name \"denied\"\n"
        "\t\treject with icmpx admin-prohibited\n"
        "\t}\n"
        "\n"
        "\tchain in {\n"
        "\t\ttype filter hook input priority filter; policy drop;\n"
        "\t\tiif \"lo\" accept\n"
        "\t\tct state established,related accept\n"
        "\t\ticmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept\n"
        "\t}\n"
        "}\n";

static void test_canonical(void **state) {
        EgressRule rules[3];
        char buf[8192], err[256];
        char *a, *b, *c;

        assert_int_equal(egress_rule_parse("10.77.0.1/32:80", &rules[0], err, sizeof(err)), 0);
        assert_int_equal(egress_rule_parse("198.51.100.0/24:443", &rules[1], err, sizeof(err)), 0);
        assert_int_equal(egress_rule_parse("10.0.0.0/8:7000-7010", &rules[2], err, sizeof(err)), 0);
        assert_true(nft_rules_text(rules, 3, buf, sizeof(buf)) > 0);
        a = nft_rules_canonical(buf);
        b = nft_rules_canonical(listing);
        assert_non_null(a);
        assert_non_null(b);
        assert_string_equal(a, b);
        free(b);
        /* a changed policy */
        char *bad = strdup(listing), *p = strstr(bad, "hook input priority filter; policy drop");
        assert_non_null(p);
        memcpy(strstr(p, "drop"), "acpt", 4);
        c = nft_rules_canonical(bad);
        assert_string_not_equal(a, c);
        free(c);
        free(bad);
        /* an element fewer */
        assert_true(nft_rules_text(rules, 2, buf, sizeof(buf)) > 0);
        c = nft_rules_canonical(buf);
        assert_non_null(c);
        assert_string_not_equal(c, a);
        free(c);
        /* a rule more, or another table */
        size_t n = strlen(listing);
        bad = malloc(n + 64);
        strcpy(bad, listing);
        strcpy(strstr(bad, "\t\tcounter name"), "\t\tip daddr 10.0.0.0/8 accept\n\t}\n}\n");
        c = nft_rules_canonical(bad);
        assert_string_not_equal(a, c);
        free(c);
        snprintf(bad, n + 64, "%stable ip other {\n}\n", listing);
        c = nft_rules_canonical(bad);
        assert_string_not_equal(a, c);
        free(c);
        free(bad);
        free(a);
        /* a list written without spaces sorts as one with them (it is longer once joined
         * with ", "); an empty list stays as it is */
        a = nft_rules_canonical("table inet moat {\n\tset s {\n\t\telements = { b,a,c }\n\t}\n}\n");
        b = nft_rules_canonical(
                "table inet moat {\n\tset s {\n\t\telements = { a, b, c }\n\t}\n}\n");
        assert_non_null(a);
        assert_non_null(b);
        assert_string_equal(a, b);
        free(a);
        free(b);
        a = nft_rules_canonical("table inet moat {\n\tset s {\n\t\telements = { }\n\t}\n}\n");
        assert_non_null(a);
        assert_non_null(strstr(a, "{ }"));
        free(a);
}

/* A NEWSETELEM message as the kernel dumps denied4: two elements, key address . port (padded
 * to 4), a counter expression each (NFTA_SET_ELEM_EXPR, then NFTA_SET_ELEM_EXPRESSIONS). */
static size_t put_attr(uint8_t *b, size_t off, uint16_t type, const void *data, size_t len) {
        struct nlattr *a = (struct nlattr *) (b + off);
        a->nla_type = type;
        a->nla_len = (uint16_t) (NLA_HDRLEN + len);
        if (len)
                memcpy(b + off + NLA_HDRLEN, data, len);
        return off + NLA_ALIGN(a->nla_len);
}
static void close_nest(uint8_t *b, size_t start, size_t end) {
        ((struct nlattr *) (b + start))->nla_len = (uint16_t) (end - start);
}
static size_t put_elem(uint8_t *b, size_t off, const uint8_t *addr, uint16_t port, uint64_t pk,
                       bool list) {
        size_t el = off, key, val, ex = 0, data;
        uint8_t k[8] = { 0 };
        uint16_t p = htons(port);
        uint64_t packets = htobe64(pk), bytes = htobe64(pk * 60);

        memcpy(k, addr, 4);
        memcpy(k + 4, &p, 2);
        off = put_attr(b, off, NFTA_LIST_ELEM | NLA_F_NESTED, NULL, 0);
        key = off;
        off = put_attr(b, off, NFTA_SET_ELEM_KEY | NLA_F_NESTED, NULL, 0);
        val = off;
        off = put_attr(b, off, NFTA_DATA_VALUE, k, 8);
        (void) val;
        close_nest(b, key, off);
        if (list) {
                ex = off;
                off = put_attr(b, off, NFTA_SET_ELEM_EXPRESSIONS | NLA_F_NESTED, NULL, 0);
        }
        size_t e = off;
        off = put_attr(b, off, (list ? NFTA_LIST_ELEM : NFTA_SET_ELEM_EXPR) | NLA_F_NESTED, NULL,
                       0);
        off = put_attr(b, off, NFTA_EXPR_NAME, "counter", 8);
        data = off;
        off = put_attr(b, off, NFTA_EXPR_DATA | NLA_F_NESTED, NULL, 0);
        off = put_attr(b, off, NFTA_COUNTER_BYTES, &bytes, 8);
        off = put_attr(b, off, NFTA_COUNTER_PACKETS, &packets, 8);
        close_nest(b, data, off);
        close_nest(b, e, off);
        if (list)
                close_nest(b, ex, off);
        close_nest(b, el, off);
        return off;
}

static void test_denied_parse(void **state) {
        static uint8_t b[1024];
        uint8_t a1[4] = { 198, 51, 100, 12 }, a2[4] = { 10, 0, 2, 9 };
        struct nlmsghdr *h = (struct nlmsghdr *) b;
        size_t off = NLMSG_LENGTH(sizeof(struct nfgenmsg)), list, n = 0;
        NftCounted c[4];

        memset(b, 0, sizeof(b));
        h->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM;
        off = put_attr(b, off, NFTA_SET_ELEM_LIST_TABLE, "moat", 5);
        off = put_attr(b, off, NFTA_SET_ELEM_LIST_SET, "denied4", 8);
        list = off;
        off = put_attr(b, off, NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED, NULL, 0);
        off = put_elem(b, off, a1, 80, 3, false);
        off = put_elem(b, off, a2, 9998, 1, true);
        close_nest(b, list, off);
        h->nlmsg_len = (uint32_t) off;
        assert_int_equal(nft_setelem_parse(b, off, AF_INET, c, 4, &n), 0);
        assert_int_equal(n, 2);
        assert_memory_equal(c[0].addr, a1, 4);
        assert_int_equal(c[0].port, 80);
        assert_int_equal(c[0].packets, 3);
        assert_int_equal(c[0].bytes, 180);
        assert_memory_equal(c[1].addr, a2, 4);
        assert_int_equal(c[1].port, 9998);
        assert_int_equal(c[1].packets, 1);
        /* bounded: at most max kept */
        n = 0;
        assert_int_equal(nft_setelem_parse(b, off, AF_INET, c, 1, &n), 0);
        assert_int_equal(n, 1);
        /* a truncated message, a length past the buffer */
        n = 0;
        assert_int_equal(nft_setelem_parse(b, 10, AF_INET, c, 4, &n), -EINVAL);
        h->nlmsg_len = (uint32_t) off + 100;
        assert_int_equal(nft_setelem_parse(b, off, AF_INET, c, 4, &n), -EINVAL);
        /* an element whose length runs past its list */
        h->nlmsg_len = (uint32_t) off;
        ((struct nlattr *) (b + list + NLA_HDRLEN))->nla_len = 2000;
        n = 0;
        assert_int_equal(nft_setelem_parse(b, off, AF_INET, c, 4, &n), -EINVAL);
        /* the dump request */
        assert_true(nft_setelem_dump_encode("denied6", 5, b, sizeof(b)) > 0);
        assert_int_equal(h->nlmsg_type, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETSETELEM);
        assert_int_equal(h->nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
        assert_non_null(memmem(b, h->nlmsg_len, "denied6", 8));
        assert_int_equal(nft_setelem_dump_encode("denied6", 5, b, 20), -ENOSPC);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cidr_elements), cmocka_unit_test(test_names_only),
                cmocka_unit_test(test_any),           cmocka_unit_test(test_too_small),
                cmocka_unit_test(test_pin),           cmocka_unit_test(test_pin_netlink),
                cmocka_unit_test(test_canonical),     cmocka_unit_test(test_denied_parse),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

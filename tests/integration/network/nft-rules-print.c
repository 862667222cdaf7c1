/* SPDX-License-Identifier: MIT */
/* nft-rules-print RULE...: the transparent egress ruleset (launcher/net/nft-rules.c) for the
 * given allowlist rules, as `nft -f` text on stdout.
 * nft-rules-print --pin ADDRESS TTL RULE: the DNS stub's pin of ADDRESS under RULE's ports.
 * nft-rules-print --pin-netlink ADDRESS TTL RULE: the same pin sent as the DNS stub sends it
 * (launcher/net/nft-pin.c over launcher/sys/nft.c) into this network namespace's nf_tables;
 * exit 0 on the kernel's acknowledgement.
 * nft-rules-print --pin-netlink-fd FD ADDRESS TTL RULE: the same over an inherited
 * NETLINK_NETFILTER socket (opened in another network namespace, by its root).
 * For tests/integration/network/nft-rules.sh, which loads the text into a real nf_tables. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net/nft-pin.h"
#include "net/nft-rules.h"
#include "sys/nft.h"

static int parse(const char *s, EgressRule *r) {
        char err[256];

        if (egress_rule_parse(s, r, err, sizeof(err)) < 0) {
                fprintf(stderr, "nft-rules-print: %s: %s\n", s, err);
                return -1;
        }
        return 0;
}

int main(int argc, char **argv) {
        static EgressRule rules[EGRESS_MAX_RULES];
        static char buf[1 << 20];
        int n;

        int fd = -1;
        if (argc == 6 && strcmp(argv[1], "--pin-netlink-fd") == 0) {
                fd = atoi(argv[2]);
                argv[2] = (char *) "--pin-netlink";
                argv++;
                argc--;
        }
        if (argc == 5 && strcmp(argv[1], "--pin-netlink") == 0) {
                uint8_t a[16];
                int family = strchr(argv[2], ':') ? AF_INET6 : AF_INET;
                if (inet_pton(family, argv[2], a) != 1 || parse(argv[4], &rules[0]) < 0)
                        return 2;
                n = nft_pin_encode(family, a, &rules[0], (uint32_t) strtoul(argv[3], NULL, 10),
                                   1000, (uint8_t *) buf, sizeof(buf));
                if (n >= 0 && (fd >= 0 || (fd = sys_nft_open()) >= 0))
                        n = sys_nft_send(fd, buf, (size_t) n, 1001);
                else if (n >= 0)
                        n = fd;
                if (n < 0)
                        fprintf(stderr, "nft-rules-print: pin: %s\n", strerror(-n));
                return n < 0 ? 1 : 0;
        }
        if (argc == 5 && strcmp(argv[1], "--pin") == 0) {
                uint8_t a[16];
                int family = strchr(argv[2], ':') ? AF_INET6 : AF_INET;
                if (inet_pton(family, argv[2], a) != 1 || parse(argv[4], &rules[0]) < 0)
                        return 2;
                n = nft_pin_text(family, a, &rules[0], (uint32_t) strtoul(argv[3], NULL, 10), buf,
                                 sizeof(buf));
        } else {
                if (argc - 1 > EGRESS_MAX_RULES)
                        return 2;
                for (int i = 1; i < argc; i++)
                        if (parse(argv[i], &rules[i - 1]) < 0)
                                return 2;
                n = nft_rules_text(rules, (size_t) argc - 1, buf, sizeof(buf));
        }
        if (n < 0) {
                fprintf(stderr, "nft-rules-print: %s\n", strerror(-n));
                return 1;
        }
        fputs(buf, stdout);
        return 0;
}

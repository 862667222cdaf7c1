/* SPDX-License-Identifier: MIT */
/* The DNS stub's parsers (launcher/net/dns-msg.c) on arbitrary bytes: queries the workload
 * sends the stub, answers the upstream resolver (or whoever answers in its place) returns.
 * The first byte picks: even a query, odd an answer (id taken from the next two bytes).
 * Besides memory safety: a parsed query has a normalised name and its question inside the
 * input, and the refusal made from it is the question's length; an answer's addresses are
 * A or AAAA, no more than asked for. */
#include <string.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "net/dns-msg.h"

#pragma weak dns_parse_query
#pragma weak dns_make_answer
#pragma weak dns_parse_answer

const char *fuzz_missing_function(void) {
        if (!dns_parse_query)
                return "dns_parse_query";
        if (!dns_make_answer)
                return "dns_make_answer";
        if (!dns_parse_answer)
                return "dns_parse_answer";
        return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1)
                return 0;
        if (data[0] % 2 == 0) {
                DnsQuestion q;
                static uint8_t out[DNS_MSG_MAX];
                char again[EGRESS_HOST_MAX + 1];
                if (dns_parse_query(data + 1, size - 1, &q) == 0) {
                        FUZZ_CHECK(q.question_end <= size - 1);
                        FUZZ_CHECK(!q.name[0] ||
                                   (egress_host_normalise(q.name, strlen(q.name), again) &&
                                    strcmp(again, q.name) == 0));
                        FUZZ_CHECK(dns_make_answer(data + 1, &q, DNS_RCODE_REFUSED, out,
                                                   sizeof(out)) == (int) q.question_end);
                }
        } else if (size >= 3) {
                DnsAddr a[8];
                size_t n = 99;
                int rcode = -1;
                uint16_t id = (uint16_t) (data[1] << 8 | data[2]);
                if (dns_parse_answer(data + 3, size - 3, id, a, 8, &n, &rcode) == 0) {
                        FUZZ_CHECK(n <= 8 && rcode >= 0 && rcode <= 15);
                        for (size_t i = 0; i < n; i++)
                                FUZZ_CHECK(a[i].family == AF_INET || a[i].family == AF_INET6);
                }
        }
        return 0;
}

/* SPDX-License-Identifier: MIT */
/* PURE. The DNS messages moat's DNS stub (transparent egress) reads and writes: the workload's
 * query (one question, a name the stub judges against the allowlist), the refusal it answers
 * with, and the addresses of the upstream resolver's answer (A and AAAA records of the answer
 * section, with their TTLs), which the stub checks and pins before it returns the answer.
 * Fuzzed (tests/fuzz/): everything here reads bytes the workload or the network wrote. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile/egress.h"

#define DNS_MSG_MAX 4096
#define DNS_TYPE_A 1
#define DNS_TYPE_AAAA 28
#define DNS_CLASS_IN 1
#define DNS_RCODE_NOERROR 0
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3
#define DNS_RCODE_REFUSED 5

typedef struct DnsQuestion {
        uint16_t id;
        char name[EGRESS_HOST_MAX + 1]; /* lower case, no trailing dot; "" for the root */
        uint16_t qtype, qclass;
        size_t question_end; /* offset just past the question */
} DnsQuestion;

typedef struct DnsAddr {
        int family; /* AF_INET, AF_INET6 */
        uint8_t addr[16];
        uint32_t ttl;
} DnsAddr;

/* A standard query (QR 0, opcode 0) with exactly one question and no answer or authority
 * records, whose name is a valid host name (egress_host_normalise()). 0 or -EINVAL. */
int dns_parse_query(const uint8_t *msg, size_t len, DnsQuestion *ret);

/* The answer to q with rcode and no records: header (id, QR, RD copied, RA) + q's question
 * as the query wrote it. Length or -ENOSPC. */
int dns_make_answer(const uint8_t *query, const DnsQuestion *q, int rcode, uint8_t *out,
                    size_t size);

/* An upstream answer to the query with this id: *ret_rcode, and up to max A/AAAA records of
 * class IN from the answer section into addrs (*ret_n). 0, -EINVAL when it does not parse or
 * is not an answer to id, -E2BIG when it has more than max addresses. */
int dns_parse_answer(const uint8_t *msg, size_t len, uint16_t id, DnsAddr *addrs, size_t max,
                     size_t *ret_n, int *ret_rcode);

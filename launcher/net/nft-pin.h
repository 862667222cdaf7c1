/* SPDX-License-Identifier: MIT */
/* PURE. The DNS stub's pin (nft-rules.h) as one nf_tables netlink batch, for a
 * NETLINK_NETFILTER socket of the sandbox's network namespace: BATCH_BEGIN, one NEWSETELEM
 * (NLM_F_CREATE|NLM_F_ACK) into set pin4 or pin6 of table inet moat with one element per port
 * range of the rule that allowed the name (key address . first port, key end address . last
 * port, timeout max(ttl, NFT_PIN_MIN_TIMEOUT_S) capped at NFT_PIN_MAX_TIMEOUT_S), BATCH_END.
 * Encoding only: launcher/sys/nft.c sends it and reads the kernel's answer. The same pin that
 * nft_pin_text() writes for `nft -f` (tests/integration/network/nft-rules.sh adds both). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "profile/egress.h"

#define NFT_PIN_MSG_MAX 4096

/* Encode into buf; seq numbers the three messages seq, seq+1, seq+2 (the NEWSETELEM is seq+1,
 * the one the kernel acknowledges). The length, or -EINVAL / -ENOSPC. */
int nft_pin_encode(int family, const uint8_t *addr, const EgressRule *rule, uint32_t ttl,
                   uint32_t seq, uint8_t *buf, size_t size);

/* The end of the run: what the ruleset's dynamic sets denied4/denied6 counted (nft-rules.h),
 * read over the same socket. A dump request (NFT_MSG_GETSETELEM, NLM_F_DUMP) for set
 * ("denied4" or "denied6") of table inet moat: the length, or -ENOSPC. */
int nft_setelem_dump_encode(const char *set, uint32_t seq, uint8_t *buf, size_t size);

typedef struct NftCounted {
        int family; /* AF_INET, AF_INET6 */
        uint8_t addr[16];
        uint16_t port;
        uint64_t packets, bytes;
} NftCounted;

/* One message of the dump's answer (NFT_MSG_NEWSETELEM, header included, len bytes): each
 * element's key (address . port, for family) and counter appended to out[*n..max). 0, or
 * -EINVAL for a message that does not parse; elements past max are not kept. */
int nft_setelem_parse(const void *msg, size_t len, int family, NftCounted *out, size_t max,
                      size_t *n);

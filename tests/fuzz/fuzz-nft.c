/* SPDX-License-Identifier: MIT */
/* Transparent egress's readers (launcher/net/nft-pin.c, nft-rules.c) on arbitrary bytes: the
 * kernel's answer to the dump of the denied4/denied6 sets (nft_setelem_parse(), one netlink
 * message), and the text `nft list ruleset` prints, which nft_rules_canonical() compares with
 * the plan's. The first byte picks: bit 0 clear a netlink message (bit 1: IPv6), set a
 * listing. Besides memory safety: no more elements than asked for, each of the family asked
 * for; a canonical form is a string of whole lines (NULL only when memory ran out). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "net/nft-pin.h"
#include "net/nft-rules.h"

#pragma weak nft_setelem_parse
#pragma weak nft_rules_canonical

const char *fuzz_missing_function(void) {
        if (!nft_setelem_parse)
                return "nft_setelem_parse";
        if (!nft_rules_canonical)
                return "nft_rules_canonical";
        return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1)
                return 0;
        if (!(data[0] & 1)) {
                int family = data[0] & 2 ? AF_INET6 : AF_INET;
                NftCounted c[4];
                size_t n = 0;
                /* a copy of its own size, so that a read past it is seen by the sanitizer */
                uint8_t *msg = malloc(size - 1 ? size - 1 : 1);
                if (!msg)
                        return 0;
                memcpy(msg, data + 1, size - 1);
                if (nft_setelem_parse(msg, size - 1, family, c, 4, &n) == 0) {
                        FUZZ_CHECK(n <= 4);
                        for (size_t i = 0; i < n; i++)
                                FUZZ_CHECK(c[i].family == family);
                }
                free(msg);
                return 0;
        }
        char *text = malloc(size);
        if (!text)
                return 0;
        memcpy(text, data + 1, size - 1);
        text[size - 1] = '\0';
        char *canon = nft_rules_canonical(text);
        /* NULL only when memory ran out; otherwise a string, every line of it ended */
        FUZZ_CHECK(canon || errno == ENOMEM);
        if (canon) {
                size_t len = strlen(canon);
                FUZZ_CHECK(len == 0 || canon[len - 1] == '\n');
                free(canon);
        }
        free(text);
        return 0;
}

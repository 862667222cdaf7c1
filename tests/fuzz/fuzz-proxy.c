/* SPDX-License-Identifier: MIT */
/* The proxy's parsers (launcher/net/proxy-parse.c) on arbitrary bytes: what the workload
 * sends moat's proxy from inside the sandbox. The first byte picks the parser:
 *   even  the request head (CONNECT or an absolute-form http:// request),
 *   odd   the TLS ClientHello.
 * Besides memory safety: a parsed request names a normalised host (or an address) and a
 * port > 0, its head lies inside the input, and a server name is normalised. */
#include <string.h>

#include "fuzz.h"
#include "net/proxy-parse.h"

#pragma weak proxy_parse_request
#pragma weak proxy_parse_client_hello

const char *fuzz_missing_function(void) {
        if (!proxy_parse_request)
                return "proxy_parse_request";
        if (!proxy_parse_client_hello)
                return "proxy_parse_client_hello";
        return NULL;
}

static void check_name(const char *s) {
        char again[EGRESS_HOST_MAX + 1];
        FUZZ_CHECK(strlen(s) <= EGRESS_HOST_MAX);
        FUZZ_CHECK(!s[0] || (egress_host_normalise(s, strlen(s), again) && strcmp(s, again) == 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1)
                return 0;
        if (data[0] % 2 == 0) {
                ProxyRequest r;
                const char *why;
                int k = proxy_parse_request((const char *) data + 1, size - 1, &r, &why);
                if (k > 0) {
                        FUZZ_CHECK(r.port > 0);
                        FUZZ_CHECK(r.head_len <= size - 1 && r.line_len <= r.head_len);
                        if (!r.is_addr)
                                check_name(r.host);
                } else if (k < 0)
                        FUZZ_CHECK(why != NULL);
        } else {
                char sni[EGRESS_HOST_MAX + 1];
                bool ech;
                if (proxy_parse_client_hello(data + 1, size - 1, sni, &ech) > 0)
                        check_name(sni);
        }
        return 0;
}

/* SPDX-License-Identifier: MIT */
/* PURE. What the proxy reads from the workload before it decides: the request head (CONNECT
 * or an absolute-form http:// request) and, on port 443, the TLS ClientHello's server name.
 * Both parse untrusted bytes from inside the sandbox; they take a buffer and a length, never
 * read past either, allocate nothing, and are fuzzed (tests/fuzz/fuzz-proxy.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile/egress.h"

#define PROXY_HEAD_MAX 16384 /* a request head longer than this is refused */

typedef enum ProxyMethod {
        PROXY_CONNECT,
        PROXY_HTTP, /* absolute-form "GET http://host[:port]/path HTTP/1.1" */
} ProxyMethod;

typedef struct ProxyRequest {
        ProxyMethod method;
        char host[EGRESS_HOST_MAX + 1]; /* a normalised name, or an address literal */
        bool is_addr;                   /* host is an IPv4 or IPv6 literal */
        int family;                     /* is_addr: AF_INET or AF_INET6 */
        uint8_t addr[16];
        uint16_t port;
        size_t head_len; /* bytes of the head, through the blank line */
        /* PROXY_HTTP: the request line rewritten to origin form ("GET /path HTTP/1.1\r\n");
         * the headers after the request line are head[line_len..head_len). */
        char origin_line[1024];
        size_t line_len;
} ProxyRequest;

/* 0: the head is not complete yet (read more); 1: *ret filled; -EINVAL: malformed or not
 * allowed by the grammar (ret_why says which), -E2BIG: longer than PROXY_HEAD_MAX. */
int proxy_parse_request(const char *buf, size_t len, ProxyRequest *ret, const char **ret_why);

/* A TLS record with a ClientHello. 0: incomplete; 1: parsed, sni[] is the server name
 * (normalised, "" when there is none), *ret_ech whether it carries Encrypted Client Hello;
 * -EINVAL: not a ClientHello or malformed. */
int proxy_parse_client_hello(const uint8_t *buf, size_t len, char sni[EGRESS_HOST_MAX + 1],
                             bool *ret_ech);

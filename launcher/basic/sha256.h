/* SPDX-License-Identifier: MIT */
/* SHA-256 through libcrypto's one-shot implementation, without the OpenSSL 3 provider machinery.
 *
 * Why not EVP: the first EVP_Digest()/EVP_MD_fetch() of a process initialises the provider store
 * and reads openssl.cnf — about 5 million instructions, a third of a whole `moat explain` and a
 * sizeable share of a sandbox launch. moat hashes on every run (profile digest, policy digest,
 * audit chain), so it uses the direct SHA256_* functions, which compute the same digest with the
 * same code and no fetch. HMAC-SHA256 (keyed audit chains) is built on them (RFC 2104).
 *
 * The moat binary links these few objects statically from libcrypto.a: loading libcrypto.so
 * and processing its relocations costs 3-4 ms per process here, more than a third of a whole
 * bubblewrap launch. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_BYTES 32

typedef struct Sha256 {
        uint64_t state[16]; /* opaque storage for OpenSSL's SHA256_CTX (112 bytes) */
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t len);
void sha256_final(Sha256 *s, uint8_t out[SHA256_DIGEST_BYTES]);
void sha256_buffer(const void *data, size_t len, uint8_t out[SHA256_DIGEST_BYTES]);
/* HMAC-SHA256 (RFC 2104); keys longer than the 64-byte block are hashed first. */
void hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                 uint8_t out[SHA256_DIGEST_BYTES]);

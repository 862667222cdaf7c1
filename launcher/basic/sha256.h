/* SPDX-License-Identifier: MIT */
/* SHA-256 through libcrypto's one-shot implementation, without the OpenSSL 3 provider machinery.
 *
 * Why not EVP: the first EVP_Digest()/EVP_MD_fetch() of a process initialises the provider store
 * and reads openssl.cnf — about 5 million instructions, a third of a whole `moat explain` and a
 * sizeable share of a sandbox launch. moat hashes on every run (profile digest, policy digest,
 * audit chain), so it uses the direct SHA256_* functions, which compute the same digest with the
 * same code and no fetch. HMAC (keyed audit chains only) still goes through EVP. */
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

/* SPDX-License-Identifier: MIT */
/* The SHA256_Init/Update/Final functions are deprecated in OpenSSL 3 in favour of EVP, which is what sha256.h
 * explains we avoid on the launch path; they remain part of the 3.x ABI. */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>

#include "sha256.h"

_Static_assert(sizeof(SHA256_CTX) <= sizeof(((Sha256 *) 0)->state),
               "Sha256 too small for SHA256_CTX");

void sha256_init(Sha256 *s) {
        SHA256_Init((SHA256_CTX *) s->state);
}

void sha256_update(Sha256 *s, const void *data, size_t len) {
        SHA256_Update((SHA256_CTX *) s->state, data, len);
}

void sha256_final(Sha256 *s, uint8_t out[SHA256_DIGEST_BYTES]) {
        SHA256_Final(out, (SHA256_CTX *) s->state);
        memset(s, 0, sizeof(*s));
}

/* Not SHA256(): in OpenSSL 3 the one-shot function is a wrapper around EVP_Q_digest(), which
 * fetches from the provider store; the context functions compute directly. */
void sha256_buffer(const void *data, size_t len, uint8_t out[SHA256_DIGEST_BYTES]) {
        Sha256 s;

        sha256_init(&s);
        sha256_update(&s, data, len);
        sha256_final(&s, out);
}

void hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                 uint8_t out[SHA256_DIGEST_BYTES]) {
        uint8_t block[64] = {}, pad[64], inner[SHA256_DIGEST_BYTES];
        Sha256 s;

        if (key_len > sizeof(block))
                sha256_buffer(key, key_len, block);
        else if (key_len > 0)
                memcpy(block, key, key_len);

        for (size_t i = 0; i < sizeof(pad); i++)
                pad[i] = block[i] ^ 0x36;
        sha256_init(&s);
        sha256_update(&s, pad, sizeof(pad));
        sha256_update(&s, data, len);
        sha256_final(&s, inner);

        for (size_t i = 0; i < sizeof(pad); i++)
                pad[i] = block[i] ^ 0x5c;
        sha256_init(&s);
        sha256_update(&s, pad, sizeof(pad));
        sha256_update(&s, inner, sizeof(inner));
        sha256_final(&s, out);

        OPENSSL_cleanse(block, sizeof(block));
        OPENSSL_cleanse(pad, sizeof(pad));
        OPENSSL_cleanse(inner, sizeof(inner));
}

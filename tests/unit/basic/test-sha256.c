/* SPDX-License-Identifier: MIT */
/* SHA-256 (FIPS 180-4 examples) and HMAC-SHA256 (RFC 4231 test cases 1, 2 and 6) through
 * moat's wrapper, so that the direct-libcrypto path and the HMAC built on it stay correct. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "basic/sha256.h"

static void hex(const uint8_t *d, char *out) {
        for (int i = 0; i < 32; i++)
                sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha256_vectors(void **state) {
        uint8_t d[32];
        char h[65];
        Sha256 s;

        sha256_buffer("abc", 3, d);
        hex(d, h);
        assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

        sha256_buffer("", 0, d);
        hex(d, h);
        assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

        /* incremental == one-shot */
        sha256_init(&s);
        sha256_update(&s, "abcdbcdecdefdefgefghfghighijhijk", 32);
        sha256_update(&s, "ijkljklmklmnlmnomnopnopq", 24);
        sha256_final(&s, d);
        hex(d, h);
        assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_hmac_rfc4231(void **state) {
        uint8_t key[131], d[32];
        char h[65];

        /* test case 1 */
        memset(key, 0x0b, 20);
        hmac_sha256(key, 20, "Hi There", 8, d);
        hex(d, h);
        assert_string_equal(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

        /* test case 2: key shorter than the block */
        hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d);
        hex(d, h);
        assert_string_equal(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

        /* test case 6: key longer than the block is hashed first */
        memset(key, 0xaa, sizeof(key));
        const char *m = "Test Using Larger Than Block-Size Key - Hash Key First";
        hmac_sha256(key, sizeof(key), m, strlen(m), d);
        hex(d, h);
        assert_string_equal(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sha256_vectors),
                cmocka_unit_test(test_hmac_rfc4231),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

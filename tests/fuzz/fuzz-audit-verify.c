/* SPDX-License-Identifier: MIT */
/* audit_chain_verify_buffer() on arbitrary bytes: `moat audit verify` reads a file that an
 * attacker may have written, so the verifier must survive any content and report a break
 * consistently. The first byte chooses between the plain chain and a keyed (HMAC) one. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "audit.h"
#include "fuzz.h"

#pragma weak audit_chain_verify_buffer

const char *fuzz_missing_function(void) {
        if (!audit_chain_verify_buffer)
                return "audit_chain_verify_buffer";
        return NULL;
}

static void notice(size_t line, const char *message, void *userdata) {
        size_t *n = userdata;
        FUZZ_CHECK(message);
        (*n)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const uint8_t key[32] = "moat-fuzz-hmac-key-0123456789ab";
        if (size < 1)
                return 0;
        bool keyed = data[0] & 1;
        const char *buf = (const char *) data + 1;
        size_t len = size - 1;

        AuditVerifyReport report = {};
        size_t n_notices = 0;
        int r = audit_chain_verify_buffer(buf, len, keyed ? key : NULL, keyed ? sizeof(key) : 0,
                                          notice, &n_notices, &report);
        FUZZ_CHECK(r == 0 || r == -ENOMEM);
        if (r < 0)
                return 0;

        FUZZ_CHECK(memchr(report.message, 0, sizeof(report.message)));
        FUZZ_CHECK(memchr(report.last_hash, 0, sizeof(report.last_hash)));
        FUZZ_CHECK(report.n_records <= report.n_lines);
        FUZZ_CHECK(report.bad_line <= report.n_lines + 1);
        if (report.bad_line > 0)
                FUZZ_CHECK(report.message[0]);
        /* Without a key, a keyed record is a break ("needs --key"), never accepted. */
        if (!keyed && report.bad_line == 0)
                FUZZ_CHECK(!report.keyed);
        return 0;
}

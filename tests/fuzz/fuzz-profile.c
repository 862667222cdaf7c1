/* SPDX-License-Identifier: MIT */
/* profile_parse_buffer() on arbitrary bytes: no crash, no leak, no sanitizer report, and the
 * documented contract holds: success gives a Profile that serialises; a bad input fails with
 * a located error and no Profile. */
#include <errno.h>
#include <jansson.h>

#include "fuzz.h"
#include "profile/profile.h"

#pragma weak profile_parse_buffer
#pragma weak profile_free
#pragma weak profile_to_json

const char *fuzz_missing_function(void) {
        if (!profile_parse_buffer)
                return "profile_parse_buffer";
        if (!profile_free)
                return "profile_free";
        if (!profile_to_json)
                return "profile_to_json";
        return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        fuzz_require_linked();
        fuzz_setup_environment();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Profile *p = NULL;
        MoatError error = {};

        int r = profile_parse_buffer((const char *) data, size, "fuzz.yaml", &p, &error);
        if (r < 0) {
                FUZZ_CHECK(!p);
                /* Only allocation failure may come back without saying where and why. */
                FUZZ_CHECK(r == -ENOMEM || moat_error_is_set(&error));
                return 0;
        }

        FUZZ_CHECK(p);
        json_t *j = profile_to_json(p);
        FUZZ_CHECK(j);
        char *text = json_dumps(j, JSON_COMPACT);
        FUZZ_CHECK(text);
        free(text);
        json_decref(j);
        profile_free(p);
        return 0;
}

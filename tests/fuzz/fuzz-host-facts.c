/* SPDX-License-Identifier: MIT */
/* host_facts_from_json_buffer() on arbitrary bytes. `--host-facts FILE` is how golden tests
 * and users feed a host to the resolver, so the loader must survive any file. A loaded
 * HostFacts must round-trip: to_json(from_json(to_json(h))) == to_json(h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "host/host.h"

#pragma weak host_facts_from_json_buffer
#pragma weak host_facts_to_json
#pragma weak host_facts_done

const char *fuzz_missing_function(void) {
        if (!host_facts_from_json_buffer)
                return "host_facts_from_json_buffer";
        if (!host_facts_to_json)
                return "host_facts_to_json";
        if (!host_facts_done)
                return "host_facts_done";
        return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        fuzz_require_linked();
        fuzz_setup_environment();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        HostFacts h = {}, again = {};
        MoatError error = {};

        int r = host_facts_from_json_buffer((const char *) data, size, "fuzz.json", &h, &error);
        if (r < 0) {
                FUZZ_CHECK(r == -ENOMEM || moat_error_is_set(&error));
                host_facts_done(&h);
                return 0;
        }

        char *first = host_facts_to_json(&h);
        FUZZ_CHECK(first);
        MoatError error2 = {};
        r = host_facts_from_json_buffer(first, strlen(first), "fuzz.json", &again, &error2);
        if (r < 0) {
                char buf[1024];
                fprintf(stderr, "serialised facts do not load back: %s\n%s\n",
                        moat_error_format(&error2, buf, sizeof(buf)), first);
        }
        FUZZ_CHECK(r >= 0);
        char *second = host_facts_to_json(&again);
        FUZZ_CHECK(second);
        FUZZ_CHECK(strcmp(first, second) == 0);

        free(first);
        free(second);
        host_facts_done(&again);
        host_facts_done(&h);
        return 0;
}

/* SPDX-License-Identifier: MIT */
#include <stdlib.h>

#include "config.h"
#include "fuzz.h"

const char *fuzz_source_dir(void) {
        const char *s = getenv("MOAT_SOURCE_DIR");
        return s && *s ? s : MOAT_SOURCE_DIR;
}

void fuzz_setup_environment(void) {
        const char *src = fuzz_source_dir();
        char path[4096];

        setenv("MOAT_DATA_DIR", src, 1);
        snprintf(path, sizeof(path), "%s/profiles", src);
        setenv("MOAT_PROFILE_PATH", path, 1);
        /* Nothing under these exists: the user's and the site's files stay out of the run. */
        setenv("XDG_CONFIG_HOME", "/nonexistent/moat-fuzz", 1);
        setenv("HOME", "/nonexistent/moat-fuzz", 1);
}

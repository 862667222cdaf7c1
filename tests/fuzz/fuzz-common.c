/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

char *fuzz_read_all(const char *path, size_t *ret_len) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
                fprintf(stderr, "fuzz: cannot read %s: %s\n", path, strerror(errno));
                exit(1);
        }
        char *buf = malloc((size_t) st.st_size + 1);
        FUZZ_CHECK(buf);
        ssize_t n = read(fd, buf, (size_t) st.st_size);
        FUZZ_CHECK(n == st.st_size);
        buf[n] = '\0';
        close(fd);
        *ret_len = (size_t) n;
        return buf;
}

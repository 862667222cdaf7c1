/* SPDX-License-Identifier: MIT */
/* Replay driver for builds without libFuzzer: feed every regular file named on the command
 * line (directories are walked one level deep, in name order) to LLVMFuzzerTestOneInput().
 * A crash, sanitizer report or assertion in the harness fails the test; an empty corpus is
 * an error, so a missing seed directory cannot pass silently. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/macros.h"
#include "fuzz.h"

static int read_file(const char *path, uint8_t **ret, size_t *ret_size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;

        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EISDIR;

        size_t size = (size_t) st.st_size;
        /* malloc(size) exactly, not more: ASan then catches a harness reading past the input. */
        _cleanup_free_ uint8_t *buf = malloc(size > 0 ? size : 1);
        if (!buf)
                return -ENOMEM;
        size_t done = 0;
        while (done < size) {
                ssize_t n = read(fd, buf + done, size - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                done += (size_t) n;
        }
        *ret = TAKE_PTR(buf);
        *ret_size = done;
        return 0;
}

static int run_one(const char *path, unsigned *count) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size = 0;
        int r = read_file(path, &buf, &size);
        if (r < 0) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(-r));
                return r;
        }
        printf("replay: %s (%zu bytes)\n", path, size);
        fflush(stdout);
        LLVMFuzzerTestOneInput(buf, size);
        (*count)++;
        return 0;
}

static int name_cmp(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

static int run_dir(const char *dir, unsigned *count) {
        struct dirent **entries = NULL;
        int n = scandir(dir, &entries, NULL, name_cmp);
        if (n < 0) {
                fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
                return -errno;
        }
        int r = 0;
        for (int i = 0; i < n; i++) {
                if (r >= 0 && entries[i]->d_name[0] != '.') {
                        _cleanup_free_ char *path = NULL;
                        if (asprintf(&path, "%s/%s", dir, entries[i]->d_name) < 0)
                                r = -ENOMEM;
                        else
                                r = run_one(path, count);
                }
                free(entries[i]);
        }
        free(entries);
        return r;
}

int main(int argc, char **argv) {
        unsigned count = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
                return 2;
        }
        const char *missing = fuzz_missing_function();
        if (missing) {
                const char *must = getenv("MOAT_MUST_WORK");
                bool must_work = must && strcmp(must, "1") == 0;
                fprintf(stderr, "replay: %s is not built yet, %s\n", missing,
                        must_work ? "failing (MOAT_MUST_WORK=1)" : "skipping");
                return must_work ? 1 : 77;
        }
        if (LLVMFuzzerInitialize)
                LLVMFuzzerInitialize(&argc, &argv);

        for (int i = 1; i < argc; i++) {
                struct stat st;
                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
                        return 1;
                }
                int r = S_ISDIR(st.st_mode) ? run_dir(argv[i], &count) : run_one(argv[i], &count);
                if (r < 0)
                        return 1;
        }
        if (count == 0) {
                fprintf(stderr, "replay: no inputs found; a corpus must not be empty\n");
                return 1;
        }
        printf("replay: %u inputs, no crash\n", count);
        return 0;
}

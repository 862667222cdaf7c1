/* SPDX-License-Identifier: MIT */
/* The libFuzzer entry points every harness defines. Built two ways (tests/fuzz/meson.build):
 * with -fsanitize=fuzzer (clang, -Dfuzz=true) libFuzzer supplies main(); otherwise
 * replay-main.c runs each harness once per file of its kept corpus, so a regression on a
 * known input fails `meson test` in every build, sanitized or not. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The harness's own check that the code it drives is linked in: NULL when it is, else the
 * name of the first missing function. The functions under test are referenced weakly while
 * the modules land one by one, so an unfinished module makes its harness skip (or fail under
 * MOAT_MUST_WORK=1) instead of breaking the whole build. */
const char *fuzz_missing_function(void);
/* Optional; replay-main.c calls it when the harness defines it. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Invariant checks stay on in every build type (assert() may be compiled out). */
#define FUZZ_CHECK(cond)                                                                       \
        do {                                                                                   \
                if (!(cond)) {                                                                 \
                        fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, \
                                #cond);                                                        \
                        abort();                                                               \
                }                                                                              \
        } while (0)

/* For LLVMFuzzerInitialize(): fuzzing a harness whose code is not linked is an error. */
static inline void fuzz_require_linked(void) {
        const char *missing = fuzz_missing_function();
        if (missing) {
                fprintf(stderr, "fuzz: %s is not built into this harness\n", missing);
                exit(1);
        }
}

/* Point every search path at the source tree and away from the caller's home and /etc, so
 * a run depends only on the input (and "extends:" finds the shipped profiles). */
void fuzz_setup_environment(void);
/* MOAT_SOURCE_DIR from the environment, else the one compiled in. */
const char *fuzz_source_dir(void);
/* A whole file of the source tree, NUL-terminated (its length in *ret_len); exits if it cannot
 * be read: a harness without its fixtures would fuzz nothing. */
char *fuzz_read_all(const char *path, size_t *ret_len);

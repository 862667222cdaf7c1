/* SPDX-License-Identifier: MIT */
/* PURE. The shipped policy compiled at build time (policy-gen.c writes policy-compiled.c from
 * the tree's policies/), so that a launch does not parse YAML it parsed at build time.
 *
 * It carries the exact bytes of every shipped file it was made from. policy_load() uses it only
 * when the directory it is asked to load holds exactly those files (the same names, every byte
 * equal) and no site file is layered on top; anything else is parsed as before. So the policy a
 * run gets, and its digest (SHA-256 over the bytes of the files, computed at build time from the
 * same bytes), are those of the files on disk: an edited, added or removed file, another data
 * directory or a binary older than the files can never run with a stale policy.
 *
 * Only the moat binaries link policy-compiled.c; elsewhere (unit tests, fuzzers, the build tools)
 * the symbol is absent and every load parses. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "policy/policy.h"

typedef struct PolicyCompiledFile {
        const char *name; /* relative to the policies directory: "escalation.yaml" */
        const unsigned char *bytes;
        size_t len;
} PolicyCompiledFile;

typedef struct PolicyCompiled {
        Policy *policy; /* static: never freed, never changed */
        const PolicyCompiledFile *files;
        size_t n_files;
} PolicyCompiled;

extern const PolicyCompiled moat_policy_compiled __attribute__((weak));

/* Whether p is the compiled policy (static: policy_free() leaves it alone). */
static inline bool policy_is_compiled(const Policy *p) {
        return &moat_policy_compiled && p == moat_policy_compiled.policy;
}

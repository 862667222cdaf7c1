/* SPDX-License-Identifier: MIT */
/* The seccomp programs compiled at build time by moat-seccomp-gen (seccomp-gen.c) for the
 * shipped profiles and policy, in the generated seccomp-precompiled-table.c. */
#pragma once

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sys/seccomp.h"

typedef struct SeccompPrecompiled {
        uint8_t key[SECCOMP_KEY_BYTES]; /* sys_seccomp_key() of the rule set it was compiled from */
        bool notify;
        unsigned short len;
        const struct sock_filter *insns;
        const char *source; /* "minimal.yaml, notify": where the rule set came from */
} SeccompPrecompiled;

extern const SeccompPrecompiled seccomp_precompiled[];
extern const size_t seccomp_precompiled_count;

/* The entry for key, or NULL. */
const SeccompPrecompiled *sys_seccomp_precompiled_find(const uint8_t key[SECCOMP_KEY_BYTES]);

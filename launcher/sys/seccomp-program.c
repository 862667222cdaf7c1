/* SPDX-License-Identifier: MIT */
/* sys_seccomp_program_for(): the build-time program when there is one, else a run-time compile.
 *
 * Compiling the default set with libseccomp costs about 2 ms of the launcher's CPU here (113
 * rules on three ABIs, binary-tree optimisation): the largest single item of a sandbox launch.
 * The shipped profiles resolve, with the shipped policy, to a handful of rule sets, so the build
 * compiles those once (moat-seccomp-gen, with the same sys_seccomp_compile() and the same
 * libseccomp that moat links) and embeds the programs in the binary, each under the key of the
 * rule set it came from. At run time the plan's rule set is hashed (sys_seccomp_key(), a few
 * microseconds) and only an exact match is used; any difference at all (a site denial, a
 * profile's allow or deny, an edited policy file, another libseccomp) is compiled as before.
 *
 * Why not a cache on disk: the next launch would trust a file that something inside an earlier
 * sandbox may have been able to write ($HOME or /run/user bound read-write), and a cached
 * program cannot be checked against its plan without compiling the plan, which is the cost to
 * avoid. The embedded programs are as trusted as the binary that carries them. */
#include <string.h>

#include "sys/seccomp-precompiled.h"

const SeccompPrecompiled *sys_seccomp_precompiled_find(const uint8_t key[SECCOMP_KEY_BYTES]) {
        for (size_t i = 0; i < seccomp_precompiled_count; i++)
                if (memcmp(seccomp_precompiled[i].key, key, SECCOMP_KEY_BYTES) == 0)
                        return &seccomp_precompiled[i];
        return NULL;
}

int sys_seccomp_program_for(const PlanSeccomp *p, SeccompProgram *ret) {
        uint8_t key[SECCOMP_KEY_BYTES];
        const SeccompPrecompiled *e;

        sys_seccomp_key(p, key);
        e = sys_seccomp_precompiled_find(key);
        if (!e || e->notify != p->notify_denials || e->len == 0 || e->len > BPF_MAXINSNS)
                return sys_seccomp_compile(p, ret);
        *ret = (SeccompProgram){
                .fprog = { .len = e->len, .filter = (struct sock_filter *) e->insns },
                .notify = e->notify,
                .precompiled = true,
        };
        return 0;
}

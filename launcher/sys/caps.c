/* SPDX-License-Identifier: MIT */
/* Capabilities and no_new_privs. See caps.h for the contract.
 *
 * Order matters: the bounding set is reduced first, while CAP_SETPCAP is still effective;
 * then ambient is cleared, the three process sets are replaced, and only then are the kept
 * capabilities raised in ambient (which needs each of them permitted and inheritable).
 *
 * The secure bits are left alone on purpose. With the bounding set reduced to the kept list
 * and no_new_privs set, an execve() by uid 0 or of a file with capabilities can never gain a
 * capability outside that list (P' = (P(inh) & F(inh)) | (F(perm) & bounding) | ambient), so
 * SECBIT_NOROOT and friends would add nothing but would stop a kept capability from reaching
 * a uid 0 workload through the root exec rules. */
#include <errno.h>
#include <stdbool.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "basic/macros.h"
#include "sys/caps.h"

int sys_no_new_privs(void) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
        /* Read back: everything after this step (Landlock, seccomp) relies on it. */
        if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
                return -EPERM;
        return 0;
}

static bool caps_is_kept(const int *keep, size_t n_keep, int cap) {
        for (size_t i = 0; i < n_keep; i++)
                if (keep[i] == cap)
                        return true;
        return false;
}

static void cap_freep(cap_t *c) {
        if (*c)
                cap_free(*c);
        *c = NULL;
}

static int caps_set_process(const int *keep, size_t n_keep) {
        __attribute__((cleanup(cap_freep))) cap_t caps = NULL;
        cap_value_t v;

        caps = cap_init(); /* all clear */
        if (!caps)
                return -ENOMEM;
        for (size_t i = 0; i < n_keep; i++) {
                v = keep[i];
                if (cap_set_flag(caps, CAP_PERMITTED, 1, &v, CAP_SET) < 0 ||
                    cap_set_flag(caps, CAP_EFFECTIVE, 1, &v, CAP_SET) < 0 ||
                    cap_set_flag(caps, CAP_INHERITABLE, 1, &v, CAP_SET) < 0)
                        return -errno;
        }
        if (cap_set_proc(caps) < 0)
                return -errno;
        return 0;
}

int sys_caps_drop_except(const int *keep, size_t n_keep) {
        int last = (int) cap_max_bits(); /* number of capabilities the running kernel knows */
        int r;

        for (size_t i = 0; i < n_keep; i++)
                if (keep[i] < 0 || keep[i] >= last)
                        return -EINVAL;

        for (int c = 0; c < last; c++) {
                if (caps_is_kept(keep, n_keep, c))
                        continue;
                if (cap_drop_bound(c) < 0)
                        return -errno;
        }

        /* One call (libcap's cap_reset_ambient() asks about every capability first). */
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
                return -errno;
        r = caps_set_process(keep, n_keep);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_keep; i++)
                if (cap_set_ambient(keep[i], CAP_SET) < 0)
                        return -errno;

        /* Verify the bounding set rather than trust n calls' return values. */
        for (int c = 0; c < last; c++)
                if (!caps_is_kept(keep, n_keep, c) && cap_get_bound(c) != 0)
                        return -EPERM;
        return 0;
}

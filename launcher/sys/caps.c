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
#include <linux/capability.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

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

/* Capability numbers are bits of a 64-bit set (two 32-bit words in capset()). */
#define CAPS_MAX 64

static bool caps_is_kept(const int *keep, size_t n_keep, int cap) {
        for (size_t i = 0; i < n_keep; i++)
                if (keep[i] == cap)
                        return true;
        return false;
}

/* inheritable = permitted = effective = keep, in one capset() (libcap's cap_set_proc() asks
 * with capget() first, and its constructor probes the kernel's last capability at every
 * start of moat, sandbox or not). */
static int caps_set_process(const int *keep, size_t n_keep) {
        struct __user_cap_header_struct head = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct data[2] = {};

        for (size_t i = 0; i < n_keep; i++) {
                uint32_t bit = UINT32_C(1) << (keep[i] % 32);
                data[keep[i] / 32].permitted |= bit;
                data[keep[i] / 32].effective |= bit;
                data[keep[i] / 32].inheritable |= bit;
        }
        return RET_NERRNO((int) syscall(SYS_capset, &head, data));
}

int sys_caps_drop_except(const int *keep, size_t n_keep) {
        int last = CAPS_MAX; /* how many capabilities the running kernel knows */
        int r;

        for (size_t i = 0; i < n_keep; i++)
                if (keep[i] < 0 || keep[i] >= CAPS_MAX)
                        return -EINVAL;

        /* The kernel refuses a capability it does not know with EINVAL: the first one ends
         * the loop and tells how many there are (no separate probe). */
        for (int c = 0; c < CAPS_MAX; c++) {
                if (caps_is_kept(keep, n_keep, c))
                        continue;
                if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) == 0)
                        continue;
                if (errno != EINVAL || c == 0)
                        return -errno;
                last = c;
                break;
        }
        for (size_t i = 0; i < n_keep; i++)
                if (keep[i] >= last)
                        return -EINVAL;

        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
                return -errno;
        r = caps_set_process(keep, n_keep);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_keep; i++)
                if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, keep[i], 0, 0) < 0)
                        return -errno;

        /* Verify the bounding set rather than trust n calls' return values. */
        for (int c = 0; c < last; c++)
                if (!caps_is_kept(keep, n_keep, c) && prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 0)
                        return -EPERM;
        return 0;
}

/* The process's sets as they are, one capget(). */
static int caps_get(struct __user_cap_data_struct data[2]) {
        struct __user_cap_header_struct head = { .version = _LINUX_CAPABILITY_VERSION_3 };

        return RET_NERRNO((int) syscall(SYS_capget, &head, data));
}

int sys_caps_ambient_raise(int cap) {
        struct __user_cap_header_struct head = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct data[2] = {};
        int r;

        if (cap < 0 || cap >= CAPS_MAX)
                return -EINVAL;
        if ((r = caps_get(data)) < 0)
                return r;
        data[cap / 32].inheritable |= UINT32_C(1) << (cap % 32);
        if ((r = RET_NERRNO((int) syscall(SYS_capset, &head, data))) < 0)
                return r;
        return RET_NERRNO(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0));
}

int sys_caps_ambient_clear(void) {
        struct __user_cap_header_struct head = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct data[2] = {};
        int r;

        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
                return -errno;
        if ((r = caps_get(data)) < 0)
                return r;
        data[0].inheritable = data[1].inheritable = 0;
        return RET_NERRNO((int) syscall(SYS_capset, &head, data));
}

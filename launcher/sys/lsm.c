/* SPDX-License-Identifier: MIT */
/* LSM exec labels. See lsm.h for the contract.
 *
 * Both calls only arm a transition at the next execve(); nothing here can weaken the current
 * process. A requested label that cannot be armed is an error, never ignored: the caller
 * decides from plan->sandbox.mac_status whether the run may continue without it.
 *
 * libapparmor and libselinux are loaded with dlopen() by sys_lsm_prepare(), in the parent and
 * only when the plan asks for a label: linked in, they (and libselinux's pcre2) would be loaded
 * into every launch, which costs more than the rest of the process start. Loading happens
 * before clone3, never in the child: after pivot_root a dlopen() would map code from the
 * sandbox's root (an image root is untrusted). The child inherits the resolved pointers.
 *
 * Whether the LSM is enabled is asked in the parent too: aa_is_enabled() looks for securityfs
 * in /proc/mounts and under /sys, and the sandbox's root has no /sys, so asked in the child it
 * answers "no" on every AppArmor host and the run stops at the exec label step. Enabled is a
 * property of the kernel, the same for parent and child. */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#if HAVE_APPARMOR
#include <sys/apparmor.h>
#endif
#if HAVE_SELINUX
#include <selinux/selinux.h>
#endif

#include "sys/lsm.h"

static struct {
        int (*aa_change_onexec)(const char *profile);
        int (*setexeccon)(const char *context);
        bool aa_enabled, selinux_enabled; /* asked in the parent by sys_lsm_prepare() */
} lsm;

static bool lsm_requested(const char *label) {
        return label && label[0];
}

/* Resolve every symbol or none: a half-loaded library must not look usable. */
static void *lsm_open(const char *soname, const char *const *names, void **slots, size_t n) {
        void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);

        if (!h)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                slots[i] = dlsym(h, names[i]);
                if (!slots[i]) {
                        for (size_t j = 0; j < n; j++)
                                slots[j] = NULL;
                        dlclose(h);
                        return NULL;
                }
        }
        return h;
}

int sys_lsm_prepare(const char *apparmor_profile, const char *selinux_context) {
        int r = 0;

#if HAVE_APPARMOR
        if (lsm_requested(apparmor_profile) && !lsm.aa_change_onexec) {
                static const char *const names[] = { "aa_is_enabled", "aa_change_onexec" };
                void *slots[2];
                if (lsm_open("libapparmor.so.1", names, slots, 2)) {
                        lsm.aa_enabled = ((int (*)(void)) slots[0])() > 0;
                        lsm.aa_change_onexec = (int (*)(const char *)) slots[1];
                } else
                        r = -ELIBACC;
        }
#else
        if (lsm_requested(apparmor_profile))
                r = -EOPNOTSUPP;
#endif
#if HAVE_SELINUX
        if (lsm_requested(selinux_context) && !lsm.setexeccon) {
                static const char *const names[] = { "is_selinux_enabled", "setexeccon" };
                void *slots[2];
                if (lsm_open("libselinux.so.1", names, slots, 2)) {
                        lsm.selinux_enabled = ((int (*)(void)) slots[0])() > 0;
                        lsm.setexeccon = (int (*)(const char *)) slots[1];
                } else if (r == 0)
                        r = -ELIBACC;
        }
#else
        if (lsm_requested(selinux_context) && r == 0)
                r = -EOPNOTSUPP;
#endif
        return r;
}

static int lsm_apparmor(const char *profile) {
        if (!lsm.aa_change_onexec || !lsm.aa_enabled)
                return -EOPNOTSUPP;
        if (lsm.aa_change_onexec(profile) < 0)
                return -errno;
        return 0;
}

static int lsm_selinux(const char *context) {
        if (!lsm.setexeccon || !lsm.selinux_enabled)
                return -EOPNOTSUPP;
        if (lsm.setexeccon(context) < 0)
                return -errno;
        return 0;
}

int sys_lsm_set_exec_label(const char *apparmor_profile, const char *selinux_context) {
        int r;

        if (lsm_requested(apparmor_profile)) {
                r = lsm_apparmor(apparmor_profile);
                if (r < 0)
                        return r;
        }
        if (lsm_requested(selinux_context)) {
                r = lsm_selinux(selinux_context);
                if (r < 0)
                        return r;
        }
        return 0;
}

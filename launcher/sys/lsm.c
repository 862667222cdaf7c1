/* SPDX-License-Identifier: MIT */
/* LSM exec labels. See lsm.h for the contract.
 *
 * Both calls only arm a transition at the next execve(); nothing here can weaken the current
 * process. A requested label that cannot be armed is an error, never ignored: the caller
 * decides from plan->sandbox.mac_status whether the run may continue without it. */
#include <errno.h>
#include <stdbool.h>

#include "config.h"

#if HAVE_APPARMOR
#include <sys/apparmor.h>
#endif
#if HAVE_SELINUX
#include <selinux/selinux.h>
#endif

#include "sys/lsm.h"

static bool lsm_requested(const char *label) {
        return label && label[0];
}

static int lsm_apparmor(const char *profile) {
#if HAVE_APPARMOR
        if (aa_is_enabled() <= 0)
                return -EOPNOTSUPP;
        if (aa_change_onexec(profile) < 0)
                return -errno;
        return 0;
#else
        (void) profile;
        return -EOPNOTSUPP;
#endif
}

static int lsm_selinux(const char *context) {
#if HAVE_SELINUX
        if (is_selinux_enabled() <= 0)
                return -EOPNOTSUPP;
        if (setexeccon(context) < 0)
                return -errno;
        return 0;
#else
        (void) context;
        return -EOPNOTSUPP;
#endif
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

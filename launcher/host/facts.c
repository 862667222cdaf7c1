/* SPDX-License-Identifier: MIT */
/* HostFacts lifetime and the per-tier feasibility verdict. No I/O: the verdict is a pure
 * function of the facts, so that it reads the same for a probed host and for a fixture. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/strv.h"
#include "host/host.h"
#include "profile/profile.h"

void host_facts_done(HostFacts *h) {
        if (!h)
                return;
        strv_free(h->root_symlinks);
        strv_free(h->root_dirs);
        free(h->userns_reason);
        strv_free(h->seccomp_actions);
        strv_free(h->lsms);
        strv_free(h->apparmor_moat_profiles);
        strv_free(h->cgroup_v2_controllers);
        strv_free(h->cgroup_v1_controllers);
        free(h->guest_kernel);
        free(h->vm_reason);
        free(h->kvm_reason);
        free(h->project_quota_reason);
        *h = (HostFacts){};
}

static char *copy_string(const char *s, bool *oom) {
        char *c = s ? strdup(s) : NULL;
        if (s && !c)
                *oom = true;
        return c;
}

/* What host_facts_done() frees, copied; a field added to the one is added here. */
int host_facts_copy(const HostFacts *src, HostFacts *dst) {
        bool oom = false;
        HostFacts h = *src;

        h.root_symlinks = strv_copy_or_null(src->root_symlinks, &oom);
        h.root_dirs = strv_copy_or_null(src->root_dirs, &oom);
        h.userns_reason = copy_string(src->userns_reason, &oom);
        h.seccomp_actions = strv_copy_or_null(src->seccomp_actions, &oom);
        h.lsms = strv_copy_or_null(src->lsms, &oom);
        h.apparmor_moat_profiles = strv_copy_or_null(src->apparmor_moat_profiles, &oom);
        h.cgroup_v2_controllers = strv_copy_or_null(src->cgroup_v2_controllers, &oom);
        h.cgroup_v1_controllers = strv_copy_or_null(src->cgroup_v1_controllers, &oom);
        h.guest_kernel = copy_string(src->guest_kernel, &oom);
        h.vm_reason = copy_string(src->vm_reason, &oom);
        h.kvm_reason = copy_string(src->kvm_reason, &oom);
        h.project_quota_reason = copy_string(src->project_quota_reason, &oom);
        if (oom) {
                host_facts_done(&h);
                *dst = (HostFacts){};
                return -ENOMEM;
        }
        *dst = h;
        return 0;
}

const char *cgroup_layout_to_string(CgroupLayout l) {
        static const char *const names[_CGROUP_LAYOUT_MAX] = {
                [CGROUP_LAYOUT_NONE] = "none",
                [CGROUP_LAYOUT_V1] = "v1",
                [CGROUP_LAYOUT_HYBRID] = "hybrid",
                [CGROUP_LAYOUT_V2] = "v2",
        };

        if ((unsigned) l >= _CGROUP_LAYOUT_MAX)
                return NULL;
        return names[l];
}

const char *kvm_state_to_string(KvmState s) {
        static const char *const names[_KVM_STATE_MAX] = {
                [KVM_STATE_ABSENT] = "absent",           [KVM_STATE_NO_ACCESS] = "no-access",
                [KVM_STATE_UNSUPPORTED] = "unsupported", [KVM_STATE_FAILED] = "failed",
                [KVM_STATE_UNPROVEN] = "unproven",       [KVM_STATE_PROVEN] = "proven",
        };

        if ((unsigned) s >= _KVM_STATE_MAX)
                return NULL;
        return names[s];
}

KvmState kvm_state_from_string(const char *s) {
        for (KvmState k = 0; k < _KVM_STATE_MAX; k++)
                if (s && strcmp(s, kvm_state_to_string(k)) == 0)
                        return k;
        return _KVM_STATE_MAX;
}

bool host_uid_map_is_initial(const char *uid_map) {
        unsigned long inside, outside, count;
        int end = 0;

        /* One line, exactly "0 0 4294967295" in the kernel's column layout. */
        if (sscanf(uid_map, " %lu %lu %lu%n", &inside, &outside, &count, &end) != 3)
                return false;
        uid_map += end;
        uid_map += strspn(uid_map, " \n");
        return inside == 0 && outside == 0 && count == 4294967295UL && *uid_map == '\0';
}

const char *host_userns_unusable_reason(const HostFacts *h, bool kernel_has_userns) {
        if (!kernel_has_userns)
                return "the kernel has no user namespaces (/proc/self/ns/user is missing)";
        if (h->max_user_namespaces < 0)
                return "user.max_user_namespaces cannot be read, so user namespace support is "
                       "unknown";
        if (h->max_user_namespaces == 0)
                return "user.max_user_namespaces is 0: user namespaces are disabled on this host";
        if (h->is_root)
                return NULL;
        if (h->unprivileged_userns_clone == 0)
                return "kernel.unprivileged_userns_clone is 0: only root may create user "
                       "namespaces";
        /* Checked even when AppArmor looks disabled: the sysctl only exists when AppArmor is
         * built in, and claiming "usable" on a guess would fail at run time instead. The
         * restriction applies to the unconfined label: moat under its own profile "moat"
         * (`moat policy install`), whose userns rule grants them, is let through. */
        if (h->apparmor_restrict_userns == 1 && !h->apparmor_moat_attached)
                return "kernel.apparmor_restrict_unprivileged_userns is 1: AppArmor denies user "
                       "namespaces to unprivileged programs without a profile that allows them";
        return NULL;
}

static bool can_run_sandbox(const HostFacts *h, const char **ret_reason) {
        if (!h->userns_usable) {
                *ret_reason = h->userns_reason ? h->userns_reason
                                               : "user namespaces are not usable by this user, and "
                                                 "the sandbox tier is built on one";
                return false;
        }
        if (!h->seccomp_filter) {
                *ret_reason =
                        "the kernel offers no seccomp filters (CONFIG_SECCOMP_FILTER), and the "
                        "sandbox tier never runs a workload without its syscall filter";
                return false;
        }
        return true;
}

static bool can_run_system(const HostFacts *h, const char **ret_reason) {
        if (!h->lxc_present) {
                *ret_reason =
                        "liblxc is not available to this moat build, and system containers "
                        "are run through it";
                return false;
        }
        if (!h->is_root && !h->userns_usable) {
                *ret_reason =
                        "system containers need root or a user namespace, and this user can "
                        "create no user namespace";
                return false;
        }
        return true;
}

static bool can_run_vm(const HostFacts *h, const char **ret_reason) {
        const char *missing = NULL;

        if (!h->qemu_present)
                missing =
                        "QEMU (qemu-system) is not installed, and the vm tier boots its guest with "
                        "it";
        else if (!h->libvirt_present)
                missing = "libvirt is not installed, and the vm tier defines its guest through it";
        else if (!h->guest_kernel)
                missing =
                        "no guest kernel was found (set MOAT_GUEST_KERNEL or install one under "
                        "/var/lib/moat/guest)";
        if (!missing)
                return true;
        /* The probe's own sentence names the paths it looked at; prefer it when present. */
        *ret_reason = h->vm_reason ? h->vm_reason : missing;
        return false;
}

bool host_can_run_tier(const HostFacts *h, int tier, const char **ret_reason) {
        const char *reason = NULL;
        bool ok;

        switch (tier) {
        case TIER_SANDBOX:
                ok = can_run_sandbox(h, &reason);
                break;
        case TIER_SYSTEM:
                ok = can_run_system(h, &reason);
                break;
        case TIER_VM:
                ok = can_run_vm(h, &reason);
                break;
        default:
                ok = false;
                reason = "unknown isolation tier";
                break;
        }
        if (ret_reason)
                *ret_reason = ok ? NULL : reason;
        return ok;
}

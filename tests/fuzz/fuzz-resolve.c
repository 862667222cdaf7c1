/* SPDX-License-Identifier: MIT */
/* Profile bytes -> profile_parse_buffer() -> plan_resolve() with the shipped policy and a
 * fixed host, then both serialisations. The first input byte picks the host fixture (a host
 * that can enforce everything, one with nothing, one that can run no vm); the rest is the
 * profile. Besides memory safety this checks the ladder rules that must hold for any
 * profile: a plan never goes below the tier the profile fixed, never above its max_tier, a
 * hostile workload never runs outside a vm, and a refusal always says why. */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "fuzz.h"
#include "plan/plan.h"
#include "policy/policy.h"
#include "profile/profile.h"

#pragma weak profile_parse_buffer
#pragma weak profile_free
#pragma weak policy_load
#pragma weak policy_free
#pragma weak plan_resolve
#pragma weak plan_free
#pragma weak plan_to_json
#pragma weak plan_to_text

const char *fuzz_missing_function(void) {
        static const struct {
                const char *name;
                const void *fn;
        } needed[] = {
                { "profile_parse_buffer", (const void *) profile_parse_buffer },
                { "profile_free", (const void *) profile_free },
                { "policy_load", (const void *) policy_load },
                { "policy_free", (const void *) policy_free },
                { "plan_resolve", (const void *) plan_resolve },
                { "plan_free", (const void *) plan_free },
                { "plan_to_json", (const void *) plan_to_json },
                { "plan_to_text", (const void *) plan_to_text },
        };
        for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++)
                if (!needed[i].fn)
                        return needed[i].name;
        return NULL;
}

static char *full_lsms[] = { "lockdown", "capability", "landlock", "yama", "apparmor", NULL };
static char *full_v2_controllers[] = { "memory", "pids", "cpu", NULL };
static char *full_v1_controllers[] = { "memory", "pids", "cpu", NULL };
static char *actions[] = {
        "kill_process", "kill_thread", "trap", "errno", "user_notif", "trace", "log", "allow", NULL,
};
static char *root_symlinks[] = {
        "bin=usr/bin", "sbin=usr/sbin", "lib=usr/lib", "lib64=usr/lib64", NULL,
};
static char *no_list[] = { NULL };

/* Everything available, unprivileged caller, KVM. */
static HostFacts host_full = {
        .source = "fuzz-fixture-full",
        .kernel_release = "6.18.0",
        .kernel_major = 6,
        .kernel_minor = 18,
        .arch = "x86_64",
        .merged_usr = true,
        .root_symlinks = root_symlinks,
        .root_dirs = no_list,
        .uid = 1000,
        .gid = 1000,
        .user = "fuzz",
        .max_user_namespaces = 63455,
        .unprivileged_userns_clone = 1,
        .apparmor_restrict_userns = -1,
        .userns_usable = true,
        .time_ns = true,
        .seccomp_filter = true,
        .seccomp_user_notif = true,
        .seccomp_actions = actions,
        .landlock_abi = 6,
        .lsms = full_lsms,
        .apparmor_enabled = true,
        .apparmor_moat_loaded = true,
        .selinux_mode = -1,
        .cgroup_layout = CGROUP_LAYOUT_V2,
        .cgroup_v2_writable = true,
        .cgroup_v2_controllers = full_v2_controllers,
        .cgroup_v1_controllers = no_list,
        .kvm_usable = true,
        .qemu_present = true,
        .qemu_path = "/usr/bin/qemu-system-x86_64",
        .libvirt_present = true,
        .guest_kernel = "/usr/lib/moat/vmlinux",
        .vm_boot_ms = 900,
        .lxc_present = true,
        .lxc_version = "5.0.2",
};

/* An old, locked-down host: no user namespaces, no Landlock, no MAC, no cgroups, no vm. */
static HostFacts host_none = {
        .source = "fuzz-fixture-none",
        .kernel_release = "4.19.0",
        .kernel_major = 4,
        .kernel_minor = 19,
        .arch = "x86_64",
        .root_symlinks = no_list,
        .root_dirs = no_list,
        .uid = 1000,
        .gid = 1000,
        .user = "fuzz",
        .max_user_namespaces = 0,
        .unprivileged_userns_clone = 0,
        .apparmor_restrict_userns = -1,
        .userns_reason = "user.max_user_namespaces is 0",
        .seccomp_actions = no_list,
        .lsms = no_list,
        .selinux_mode = -1,
        .cgroup_layout = CGROUP_LAYOUT_NONE,
        .cgroup_v2_controllers = no_list,
        .cgroup_v1_controllers = no_list,
        .vm_reason = "qemu-system-x86_64 is not installed",
};

/* This machine's shape: root, hybrid cgroups, Landlock, no AppArmor/SELinux, TCG only. */
static HostFacts host_hybrid = {
        .source = "fuzz-fixture-hybrid",
        .kernel_release = "6.18.0",
        .kernel_major = 6,
        .kernel_minor = 18,
        .arch = "x86_64",
        .merged_usr = true,
        .root_symlinks = root_symlinks,
        .root_dirs = no_list,
        .uid = 0,
        .gid = 0,
        .user = "root",
        .is_root = true,
        .max_user_namespaces = 63455,
        .unprivileged_userns_clone = 1,
        .apparmor_restrict_userns = -1,
        .userns_usable = true,
        .time_ns = true,
        .seccomp_filter = true,
        .seccomp_user_notif = true,
        .seccomp_actions = actions,
        .landlock_abi = 6,
        .lsms = no_list,
        .selinux_mode = -1,
        .cgroup_layout = CGROUP_LAYOUT_HYBRID,
        .cgroup_v2_controllers = no_list,
        .cgroup_v1_writable = true,
        .cgroup_v1_controllers = full_v1_controllers,
        .qemu_present = true,
        .qemu_path = "/usr/bin/qemu-system-x86_64",
        .libvirt_present = true,
        .guest_kernel = "/usr/lib/moat/vmlinux",
        .lxc_present = true,
        .lxc_version = "5.0.2",
};

static const HostFacts *const hosts[] = { &host_full, &host_none, &host_hybrid };
static Policy *policy;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        char dir[4096];
        MoatError error = {};

        fuzz_require_linked();
        fuzz_setup_environment();
        snprintf(dir, sizeof(dir), "%s/policies", fuzz_source_dir());
        int r = policy_load(dir, "", &policy, &error);
        if (r < 0) {
                char buf[1024];
                fprintf(stderr, "fuzz: cannot load the shipped policy from %s: %s\n", dir,
                        moat_error_format(&error, buf, sizeof(buf)));
                exit(1);
        }
        return 0;
}

static void check_plan(const Profile *p, const Plan *plan) {
        if (plan->refused) {
                FUZZ_CHECK(plan->refusal && plan->refusal[0]);
                return;
        }
        FUZZ_CHECK(plan->tier >= TIER_SANDBOX && plan->tier < _TIER_MAX);
        /* Climb, never down: a fixed isolation is a floor. */
        if (p->isolation != TIER_AUTO)
                FUZZ_CHECK(plan->tier >= p->isolation);
        /* Never above what the profile allows: that is a refusal instead. */
        FUZZ_CHECK(plan->tier <= p->max_tier);
        /* The shipped policy sends hostile workloads to their own kernel. */
        if (p->trust == TRUST_HOSTILE)
                FUZZ_CHECK(plan->tier == TIER_VM);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1 || !policy)
                return 0;
        const HostFacts *host = hosts[data[0] % (sizeof(hosts) / sizeof(hosts[0]))];

        Profile *p = NULL;
        MoatError error = {};
        if (profile_parse_buffer((const char *) data + 1, size - 1, "fuzz.yaml", &p, &error) < 0) {
                FUZZ_CHECK(!p);
                return 0;
        }

        Plan *plan = NULL;
        int r = plan_resolve(p, policy, host, &plan);
        FUZZ_CHECK(r >= 0 || r == -ENOMEM);
        if (r >= 0) {
                FUZZ_CHECK(plan);
                check_plan(p, plan);

                json_t *j = plan_to_json(plan);
                FUZZ_CHECK(j);
                char *s = json_dumps(j, JSON_COMPACT);
                FUZZ_CHECK(s);
                free(s);
                json_decref(j);

                char *text = plan_to_text(plan);
                FUZZ_CHECK(text);
                free(text);
        }
        plan_free(plan);
        profile_free(p);
        return 0;
}

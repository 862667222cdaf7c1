/* SPDX-License-Identifier: MIT */
/* Hand-built inputs for resolver tests: a baseline profile (ci-like: untrusted, work dir
 * bind, no network, Landlock required) and a host that can enforce everything. Tests copy
 * them and change one fact at a time. Strings are static; nothing here is freed. */
#pragma once

#include <stdlib.h>
#include <string.h>

#include "host/host.h"
#include "plan/plan.h"
#include "policy/policy.h"
#include "profile/profile.h"

static char *fx_empty[] = { NULL };
static char *fx_v2[] = { "memory", "pids", "cpu", NULL };
static char *fx_symlinks[] = { "bin=usr/bin", "sbin=usr/sbin", "lib=usr/lib", "lib64=usr/lib64",
                               NULL };
static char *fx_actions[] = { "kill_process", "errno", "user_notif", "allow", NULL };
static char *fx_lsms[] = { "capability", "landlock", "apparmor", NULL };
static ProfileBind fx_binds[] = {
        { .source = ".",
          .target = "/work",
          .mode = BIND_RW,
          .exec = true,
          .pos = { "fixture.yaml", 9, 7 } },
        { .source = "/srv/data",
          .target = "/data",
          .mode = BIND_RO,
          .pos = { "fixture.yaml", 10, 7 } },
        { .source = "out",
          .target = "/out",
          .mode = BIND_RW,
          .optional = true,
          .pos = { "fixture.yaml", 11, 7 } },
};

static inline Profile fixture_profile(void) {
        return (Profile){
                .name = "fixture",
                .path = "fixture.yaml",
                .trust = TRUST_UNTRUSTED,
                .isolation = TIER_AUTO,
                .max_tier = TIER_VM,
                .max_tier_pos = { "fixture.yaml", 5, 11 },
                .fs = { .root = ROOT_HOST_READONLY, .binds = fx_binds, .n_binds = 3 },
                .network = NETWORK_NONE,
                .resources = { .memory = 1ULL << 30,
                               .cpus_milli = 1500,
                               .pids = 256,
                               .timeout_ms = 60000,
                               .enforce = ENFORCE_BEST_EFFORT },
                .env = { .clear = true },
                .mac = { .landlock = LANDLOCK_REQUIRED, .enforce = ENFORCE_REQUIRED },
                .hostname = NULL,
        };
}

static inline HostFacts fixture_host(void) {
        HostFacts h = {
                .kernel_release = "6.18.0",
                .kernel_major = 6,
                .kernel_minor = 18,
                .arch = "x86_64",
                .merged_usr = true,
                .root_symlinks = fx_symlinks,
                .root_dirs = fx_empty,
                .uid = 1000,
                .gid = 1000,
                .user = "tester",
                .max_user_namespaces = 1000,
                .unprivileged_userns_clone = -1,
                .apparmor_restrict_userns = -1,
                .userns_usable = true,
                .time_ns = true,
                .seccomp_filter = true,
                .seccomp_user_notif = true,
                .seccomp_actions = fx_actions,
                .landlock_abi = 6,
                .lsms = fx_lsms,
                .apparmor_enabled = true,
                .apparmor_moat_loaded = true,
                .selinux_mode = -1,
                .cgroup_layout = CGROUP_LAYOUT_V2,
                .cgroup_v2_writable = true,
                .cgroup_v2_controllers = fx_v2,
                .cgroup_v1_controllers = fx_empty,
                .kvm_usable = true,
                .qemu_present = true,
                .qemu_path = "/usr/bin/qemu-system-x86_64",
                .libvirt_present = true,
                .guest_kernel = "/var/lib/moat/guest/vmlinux",
                .lxc_present = true,
        };
        strcpy(h.source, "fixture");
        return h;
}

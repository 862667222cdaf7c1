/* SPDX-License-Identifier: MIT */
/* plan_resolve() with hand-built profiles and host facts against the shipped policy: every
 * escalation rule, the ladder (never down, max_tier, host capability), best-effort
 * degradation, seccomp expansion, Landlock clamping, the mount list, JSON and text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <sys/resource.h>

#include "basic/macros.h"
#include "basic/strv.h"
#include "plan-fixture.h"
#include "profile/egress.h"

static Policy *policy;

static int setup(void **state) {
        MoatError e = {};
        char buf[1024];
        int r = policy_load(SOURCE_ROOT "/policies", "", &policy, &e);
        if (r < 0)
                fprintf(stderr, "policy_load: %s\n", moat_error_format(&e, buf, sizeof(buf)));
        return r < 0 ? -1 : 0;
}

static int teardown(void **state) {
        policy = policy_free(policy);
        return 0;
}

static Plan *resolve(const Profile *pr, const HostFacts *h) {
        Plan *p = NULL;
        assert_int_equal(plan_resolve(pr, policy, h, &p), 0);
        assert_non_null(p);
        return p;
}

static bool has_decision(const Plan *p, const char *id) {
        for (size_t i = 0; i < p->n_decisions; i++)
                if (strcmp(p->decisions[i].rule_id, id) == 0)
                        return true;
        return false;
}

static ControlStatus status_of(const Plan *p, const char *control) {
        const PlanControl *c = plan_find_control(p, control);
        assert_non_null(c);
        return c->status;
}

/* Resolve, assert the tier and the rule that fired, and that the plan is not refused. */
static void expect_tier(const Profile *pr, const HostFacts *h, Tier tier, const char *rule) {
        Plan *p = resolve(pr, h);
        if (p->refused)
                fail_msg("unexpected refusal: %s", p->refusal);
        assert_int_equal(p->tier, tier);
        if (rule && !has_decision(p, rule))
                fail_msg("rule %s did not fire", rule);
        plan_free(p);
}

static void expect_selinux_refused(const Profile *pr, const HostFacts *h) {
        Plan *p = resolve(pr, h);
        assert_true(p->refused);
        assert_int_equal(p->tier, TIER_VM);
        assert_true(has_decision(p, "missing-mac"));
        assert_non_null(strstr(p->refusal, "cannot be enforced in the vm tier"));
        assert_non_null(strstr(p->refusal, "moat policy install"));
        plan_free(p);
}

static void test_baseline_sandbox(void **state) {
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        Plan *p = resolve(&pr, &h);
        static const char *const controls[] = {
                "userns",     "mountns",   "pidns",           "netns",         "ipcns",
                "utsns",      "cgroupns",  "timens",          "pivot_root",    "readonly-root",
                "proc-masks", "dev",       "no_new_privs",    "caps",          "seccomp",
                "landlock",   "apparmor",  "selinux",         "cgroup.memory", "cgroup.pids",
                "cgroup.cpu", "rlimits",   "timeout",         "env",           "network",
                "setsid",     "close-fds", "die-with-parent",
        };

        assert_false(p->refused);
        assert_int_equal(p->tier, TIER_SANDBOX);
        assert_true(has_decision(p, "default"));
        for (size_t i = 0; i < sizeof(controls) / sizeof(controls[0]); i++)
                assert_non_null(plan_find_control(p, controls[i]));
        assert_int_equal(p->sandbox.clone_flags, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID |
                                                         CLONE_NEWNET | CLONE_NEWIPC |
                                                         CLONE_NEWUTS | CLONE_NEWCGROUP | 0x80);
        assert_int_equal(p->sandbox.uid_inside, 1000);
        assert_int_equal(p->sandbox.n_caps_keep, 0);
        assert_int_equal(p->resources.mechanism, CGROUP_MECH_V2);
        assert_int_equal(p->resources.status, CONTROL_BEST_EFFORT);
        assert_string_equal(p->sandbox.workdir_target, "/work");
        assert_true(p->sandbox.seccomp.notify_denials);
        plan_free(p);
}

static const PlanRlimit *find_rlimit(const Plan *p, int resource) {
        for (size_t i = 0; i < p->sandbox.n_rlimits; i++)
                if (p->sandbox.rlimits[i].resource == resource)
                        return &p->sandbox.rlimits[i];
        return NULL;
}

static void test_rlimits(void **state) {
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        Plan *p;

        p = resolve(&pr, &h);
        assert_non_null(find_rlimit(p, RLIMIT_CORE));
        assert_int_equal(find_rlimit(p, RLIMIT_CORE)->hard, 0);
        assert_int_equal(find_rlimit(p, RLIMIT_CORE)->soft, 0);
        assert_int_equal(find_rlimit(p, RLIMIT_NOFILE)->hard, 1024);
        assert_null(find_rlimit(p, RLIMIT_FSIZE));
        assert_null(find_rlimit(p, RLIMIT_AS)); /* cgroups enforce memory here */
        assert_null(find_rlimit(p, RLIMIT_NPROC));
        plan_free(p);

        pr.resources.nofile = 4096;
        pr.resources.tmpfs_total = 100 << 20;
        h.seccomp_user_notif = false;
        p = resolve(&pr, &h);
        assert_int_equal(find_rlimit(p, RLIMIT_NOFILE)->soft, 4096);
        assert_int_equal(find_rlimit(p, RLIMIT_FSIZE)->hard, 100 << 20);
        assert_false(p->sandbox.seccomp.notify_denials);
        plan_free(p);
}

static void test_trust_hostile(void **state) {
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        expect_tier(&pr, &h, TIER_SANDBOX, NULL);
        pr.trust = TRUST_HOSTILE;
        expect_tier(&pr, &h, TIER_VM, "trust-hostile");
}

static void test_kernel_needs(void **state) {
        static char *bpf[] = { "bpf", NULL }, *raw[] = { "raw-devices", NULL };
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        Plan *p;

        pr.kernel.needs = bpf;
        p = resolve(&pr, &h);
        assert_int_equal(p->tier, TIER_VM);
        for (size_t i = 0; i < p->n_decisions; i++)
                if (strcmp(p->decisions[i].rule_id, "kernel-needs") == 0)
                        assert_non_null(strstr(p->decisions[i].sentence, "(bpf)"));
        plan_free(p);
        pr.kernel.needs = raw;
        expect_tier(&pr, &h, TIER_VM, "kernel-needs");
}

static void test_kernel_version(void **state) {
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();

        pr.kernel.min_version = "6.1";
        expect_tier(&pr, &h, TIER_SANDBOX, NULL);
        pr.kernel.min_version = "6.18";
        expect_tier(&pr, &h, TIER_SANDBOX, NULL);
        pr.kernel.min_version = "6.19";
        expect_tier(&pr, &h, TIER_VM, "kernel-version");
        pr.kernel.min_version = "7";
        expect_tier(&pr, &h, TIER_VM, "kernel-version");
}

static void test_root_equivalent_caps(void **state) {
        static char *nbs[] = { "net_bind_service", NULL };
        static const char *const root_eq[] = { "sys_admin",  "sys_module", "sys_rawio",
                                               "sys_ptrace", "bpf",        "perfmon" };
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        Plan *p;

        pr.capabilities = nbs;
        p = resolve(&pr, &h);
        assert_int_equal(p->tier, TIER_SANDBOX);
        assert_int_equal(p->sandbox.n_caps_keep, 1);
        assert_int_equal(p->sandbox.caps_keep[0], CAP_NET_BIND_SERVICE);
        plan_free(p);

        for (size_t i = 0; i < sizeof(root_eq) / sizeof(root_eq[0]); i++) {
                char *caps[] = { "chown", (char *) root_eq[i], NULL };
                pr.capabilities = caps;
                expect_tier(&pr, &h, TIER_VM, "root-equivalent-capability");
        }
}

static void test_unknown_capability_refused(void **state) {
        static char *caps[] = { "sys_everything", NULL };
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        Plan *p;

        pr.capabilities = caps;
        p = resolve(&pr, &h);
        assert_true(p->refused);
        assert_non_null(strstr(p->refusal, "sys_everything"));
        plan_free(p);
}

static void test_devices_and_full_os(void **state) {
        static char *fuse[] = { "/dev/fuse", NULL };
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();

        pr.devices = fuse;
        expect_tier(&pr, &h, TIER_VM, "host-devices");
        pr.devices = NULL;
        pr.os.full_os = true;
        expect_tier(&pr, &h, TIER_SYSTEM, "full-os");
}

/* The system tier takes the plan's label like the sandbox tier: a loaded profile is required
 * and handed to liblxc, a missing one escalates (refused under max_tier system), a best-effort
 * one that is missing is degraded and no label is handed out. */
static void test_system_mac(void **state) {
        static char *loaded[] = { "moat", "moat-default", "moat-container", NULL };
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        Plan *p;

        pr.os.full_os = true;
        pr.max_tier = TIER_SYSTEM;
        pr.mac.apparmor = "moat-container";
        h.apparmor_enabled = true;
        h.apparmor_moat_loaded = true;
        h.apparmor_moat_profiles = loaded;
        p = resolve(&pr, &h);
        assert_false(p->refused);
        assert_int_equal(p->tier, TIER_SYSTEM);
        assert_string_equal(p->sandbox.apparmor_profile, "moat-container");
        assert_int_equal(status_of(p, "apparmor"), CONTROL_REQUIRED);
        assert_non_null(
                strstr(plan_find_control(p, "apparmor")->detail, "read back from the host"));
        plan_free(p);

        h.apparmor_enabled = false;
        p = resolve(&pr, &h);
        assert_true(p->refused);
        assert_non_null(strstr(p->refusal, "missing-mac"));
        plan_free(p);

        pr.mac.enforce = ENFORCE_BEST_EFFORT;
        p = resolve(&pr, &h);
        assert_false(p->refused);
        assert_int_equal(p->tier, TIER_SYSTEM);
        assert_null(p->sandbox.apparmor_profile);
        assert_int_equal(status_of(p, "apparmor"), CONTROL_DEGRADED);
        plan_free(p);
}

static void test_missing_controls_escalate(void **state) {
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();

        h.landlock_abi = 0;
        expect_tier(&pr, &h, TIER_VM, "missing-landlock");

        h = fixture_host();
        h.userns_usable = false;
        h.userns_reason = "user.max_user_namespaces is 0";
        expect_tier(&pr, &h, TIER_VM, "missing-userns");

        h = fixture_host();
        h.seccomp_filter = false;
        expect_tier(&pr, &h, TIER_VM, "missing-seccomp");

        h = fixture_host();
        h.apparmor_enabled = false;
        pr.mac.apparmor = "moat-default";
        expect_tier(&pr, &h, TIER_VM, "missing-mac");
        h.apparmor_enabled = true;
        h.apparmor_moat_loaded = false;
        expect_tier(&pr, &h, TIER_VM, "missing-mac");
        h.apparmor_moat_loaded = true;
        expect_tier(&pr, &h, TIER_SANDBOX, NULL);
        /* The loaded list, when known, decides for each of moat's names. */
        char *only_moat[] = { (char *) "moat", NULL },
             *both[] = { (char *) "moat", (char *) "moat-default", NULL };
        h.apparmor_moat_profiles = only_moat;
        expect_tier(&pr, &h, TIER_VM, "missing-mac");
        h.apparmor_moat_profiles = both;
        expect_tier(&pr, &h, TIER_SANDBOX, NULL);
        pr.mac.apparmor = "moat-container";
        expect_tier(&pr, &h, TIER_VM, "missing-mac");
        pr.mac.apparmor = "site-profile"; /* not moat's: the exec transition fails closed */
        expect_tier(&pr, &h, TIER_SANDBOX, NULL);

        /* SELinux missing: the vm tier's guest cannot apply a context, so a required one is
         * refused there (never run without it); best-effort escalates. */
        pr = fixture_profile();
        pr.mac.selinux = "moat_sandbox_t";
        h = fixture_host();
        expect_selinux_refused(&pr, &h); /* selinux disabled */
        h.selinux_mode = 0;
        expect_selinux_refused(&pr, &h); /* permissive enforces nothing */
        h.selinux_mode = 1;
        expect_selinux_refused(&pr, &h); /* moat's module is not loaded */
        h.selinux_moat_loaded = true;
        expect_tier(&pr, &h, TIER_SANDBOX, NULL);
        /* best-effort in the vm tier: run, with the context listed as degraded there */
        {
                Profile vpr = fixture_profile();
                HostFacts vh = fixture_host();
                vpr.mac.selinux = "moat_sandbox_t";
                vpr.mac.enforce = ENFORCE_BEST_EFFORT;
                vpr.isolation = TIER_VM;
                Plan *vp = resolve(&vpr, &vh);
                assert_false(vp->refused);
                assert_int_equal(vp->tier, TIER_VM);
                assert_int_equal(status_of(vp, "guest.selinux"), CONTROL_DEGRADED);
                plan_free(vp);
        }

        pr = fixture_profile();
        pr.resources.enforce = ENFORCE_REQUIRED;
        h = fixture_host();
        h.cgroup_v2_writable = false;
        expect_tier(&pr, &h, TIER_VM, "missing-limits");
        h.cgroup_v1_writable = true;
        h.cgroup_v1_controllers = fx_v2;
        expect_tier(&pr, &h, TIER_SANDBOX, NULL);
}

static void test_best_effort_degrades(void **state) {
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        Plan *p;

        /* Limits: no cgroup -> rlimits, AS instead of memory, NPROC instead of pids. */
        h.cgroup_v2_writable = false;
        p = resolve(&pr, &h);
        assert_false(p->refused);
        assert_int_equal(p->tier, TIER_SANDBOX);
        assert_int_equal(p->resources.mechanism, CGROUP_MECH_RLIMIT);
        assert_int_equal(status_of(p, "cgroup.memory"), CONTROL_DEGRADED);
        assert_non_null(strstr(plan_find_control(p, "cgroup.memory")->detail,
                               "address space, not resident memory"));
        bool as = false;
        for (size_t i = 0; i < p->sandbox.n_rlimits; i++) {
                if (p->sandbox.rlimits[i].resource == RLIMIT_AS) {
                        as = true;
                        assert_int_equal(p->sandbox.rlimits[i].hard, 1ULL << 30);
                }
        }
        assert_true(as);
        plan_free(p);

        /* Landlock best-effort on a kernel without it. */
        pr = fixture_profile();
        pr.mac.landlock = LANDLOCK_BEST_EFFORT;
        h = fixture_host();
        h.landlock_abi = 0;
        p = resolve(&pr, &h);
        assert_int_equal(p->tier, TIER_SANDBOX);
        assert_int_equal(p->sandbox.landlock.status, CONTROL_DEGRADED);
        assert_int_equal(status_of(p, "landlock"), CONTROL_DEGRADED);
        char *text = plan_to_text(p);
        assert_non_null(strstr(text, "degraded"));
        free(text);
        plan_free(p);

        /* MAC best-effort without AppArmor: no transition is planned. */
        pr = fixture_profile();
        pr.mac.apparmor = "moat-default";
        pr.mac.enforce = ENFORCE_BEST_EFFORT;
        h = fixture_host();
        h.apparmor_enabled = false;
        p = resolve(&pr, &h);
        assert_int_equal(p->tier, TIER_SANDBOX);
        assert_int_equal(status_of(p, "apparmor"), CONTROL_DEGRADED);
        assert_null(p->sandbox.apparmor_profile);
        plan_free(p);

        /* ... and with it, the transition is required. */
        h.apparmor_enabled = true;
        h.apparmor_moat_loaded = true;
        p = resolve(&pr, &h);
        assert_int_equal(status_of(p, "apparmor"), CONTROL_BEST_EFFORT);
        assert_string_equal(p->sandbox.apparmor_profile, "moat-default");
        plan_free(p);
}

static uint64_t rlimit_hard(const Plan *p, int resource) {
        for (size_t i = 0; i < p->sandbox.n_rlimits; i++)
                if (p->sandbox.rlimits[i].resource == resource)
                        return p->sandbox.rlimits[i].hard;
        return 0;
}

/* resources.cpu_time: the cgroup's accounting (v2 needs no controller, v1 needs cpuacct),
 * RLIMIT_CPU only without a cgroup and then degraded; in the vm tier the guest init's cgroup. */
static void test_cpu_time(void **state) {
        static char *v1_no_cpuacct[] = { "memory", "pids", "cpu", NULL };
        static char *v1_all[] = { "memory", "pids", "cpu", "cpuacct", NULL };
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        Plan *p;

        pr.resources.cpu_time_ms = 1500;
        p = resolve(&pr, &h);
        assert_false(p->refused);
        assert_int_equal(p->resources.mechanism, CGROUP_MECH_V2);
        assert_int_equal(p->resources.cpu_time_ms, 1500);
        assert_int_equal(status_of(p, "cpu_time"), p->resources.status);
        assert_non_null(strstr(plan_find_control(p, "cpu_time")->detail, "cpu.stat usage_usec"));
        assert_int_equal(rlimit_hard(p, RLIMIT_CPU), 0);
        plan_free(p);

        /* v2 without any controller delegated: cpu_time alone still gets the cgroup */
        pr = fixture_profile();
        pr.resources = (typeof(pr.resources)){ .cpu_time_ms = 200, .enforce = ENFORCE_REQUIRED };
        h.cgroup_v2_controllers = fx_empty;
        p = resolve(&pr, &h);
        assert_false(p->refused);
        assert_int_equal(p->resources.mechanism, CGROUP_MECH_V2);
        plan_free(p);

        /* v1 needs cpuacct */
        h = fixture_host();
        h.cgroup_layout = CGROUP_LAYOUT_HYBRID;
        h.cgroup_v2_writable = false;
        h.cgroup_v1_writable = true;
        h.is_root = true;
        h.cgroup_v1_controllers = v1_all;
        pr = fixture_profile();
        pr.resources.cpu_time_ms = 1000;
        pr.resources.enforce = ENFORCE_REQUIRED;
        p = resolve(&pr, &h);
        assert_false(p->refused);
        assert_int_equal(p->resources.mechanism, CGROUP_MECH_V1);
        assert_non_null(strstr(plan_find_control(p, "cpu_time")->detail, "cpuacct.usage"));
        plan_free(p);
        h.cgroup_v1_controllers = v1_no_cpuacct;
        p = resolve(&pr, &h);
        assert_int_not_equal(p->resources.mechanism, CGROUP_MECH_V1);
        assert_true(p->refused || p->tier == TIER_VM);
        plan_free(p);

        /* no cgroup, best-effort: RLIMIT_CPU in whole seconds, degraded */
        h = fixture_host();
        h.cgroup_v2_writable = false;
        pr = fixture_profile();
        pr.resources.cpu_time_ms = 1200;
        pr.resources.enforce = ENFORCE_BEST_EFFORT;
        p = resolve(&pr, &h);
        assert_false(p->refused);
        assert_int_equal(p->tier, TIER_SANDBOX);
        assert_int_equal(p->resources.mechanism, CGROUP_MECH_RLIMIT);
        assert_int_equal(status_of(p, "cpu_time"), CONTROL_DEGRADED);
        assert_non_null(strstr(plan_find_control(p, "cpu_time")->detail, "not the tree"));
        assert_int_equal(rlimit_hard(p, RLIMIT_CPU), 3);
        for (size_t i = 0; i < p->sandbox.n_rlimits; i++)
                if (p->sandbox.rlimits[i].resource == RLIMIT_CPU)
                        assert_int_equal(p->sandbox.rlimits[i].soft, 2);
        plan_free(p);

        /* no cgroup, required: never RLIMIT_CPU in its place; escalated to the vm tier, where
         * the guest init enforces it */
        pr.resources.enforce = ENFORCE_REQUIRED;
        p = resolve(&pr, &h);
        assert_int_equal(p->tier, TIER_VM);
        assert_false(p->refused);
        assert_int_equal(status_of(p, "cpu_time"), CONTROL_REQUIRED);
        assert_non_null(strstr(plan_find_control(p, "cpu_time")->detail,
                               "guest cgroup v2 cpu.stat of the command tree"));
        assert_int_equal(p->resources.cpu_time_ms, 1200);
        plan_free(p);

        /* vm tier, best-effort: best-effort, no longer degraded; guest root: the whole guest */
        pr = fixture_profile();
        pr.isolation = TIER_VM;
        pr.resources.cpu_time_ms = 1000;
        pr.resources.enforce = ENFORCE_BEST_EFFORT;
        h = fixture_host();
        p = resolve(&pr, &h);
        assert_int_equal(p->tier, TIER_VM);
        assert_false(p->refused);
        assert_int_equal(status_of(p, "cpu_time"), CONTROL_BEST_EFFORT);
        plan_free(p);
        pr.vm.guest_root = true;
        pr.resources.enforce = ENFORCE_REQUIRED;
        p = resolve(&pr, &h);
        assert_false(p->refused);
        assert_int_equal(status_of(p, "cpu_time"), CONTROL_REQUIRED);
        assert_non_null(strstr(plan_find_control(p, "cpu_time")->detail, "of the whole guest"));
        plan_free(p);

        /* and without cpu_time: not applicable, no RLIMIT_CPU */
        pr = fixture_profile();
        p = resolve(&pr, &h);
        assert_int_equal(status_of(p, "cpu_time"), CONTROL_NOT_APPLICABLE);
        assert_int_equal(rlimit_hard(p, RLIMIT_CPU), 0);
        plan_free(p);
}

/* resources.disk: a project quota where the host facts say the run's writable binds can have
 * one (root; in the vm tier on the shares QEMU writes, with the guest's RLIMIT_FSIZE as well);
 * else RLIMIT_FSIZE per file, only ever degraded (the smaller of it and tmpfs_total), required
 * refused; without a writable bind the mounts hold it. */
static void test_disk(void **state) {
        static ProfileBind ro[] = {
                { .source = (char *) ".", .target = (char *) "/work", .mode = BIND_RO }
        };
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        Plan *p;

        pr.resources.disk = 8 << 20;
        pr.resources.enforce = ENFORCE_BEST_EFFORT;
        p = resolve(&pr, &h);
        assert_false(p->refused);
        assert_int_equal(p->resources.disk_mechanism, DISK_MECH_RLIMIT_FSIZE);
        assert_int_equal(status_of(p, "disk"), CONTROL_DEGRADED);
        assert_non_null(strstr(plan_find_control(p, "disk")->detail, "not the total"));
        assert_int_equal(rlimit_hard(p, RLIMIT_FSIZE), 8 << 20);
        /* fallocate past the end is not measured by RLIMIT_FSIZE: any mode but 0 is denied */
        bool fallocate_denied = false;
        for (size_t i = 0; i < p->sandbox.seccomp.n_rules; i++) {
                const PlanSyscallRule *sr = &p->sandbox.seccomp.rules[i];
                if (strcmp(sr->name, "fallocate") == 0 && sr->n_args == 1 && sr->args[0].arg == 1 &&
                    sr->args[0].op == ARG_OP_NE && sr->args[0].value == 0 &&
                    sr->errno_value == EOPNOTSUPP)
                        fallocate_denied = true;
        }
        assert_true(fallocate_denied);
        plan_free(p);

        /* one RLIMIT_FSIZE, the smaller bound */
        pr.resources.tmpfs_total = 4 << 20;
        p = resolve(&pr, &h);
        assert_int_equal(rlimit_hard(p, RLIMIT_FSIZE), 4 << 20);
        size_t n = 0;
        for (size_t i = 0; i < p->sandbox.n_rlimits; i++)
                n += p->sandbox.rlimits[i].resource == RLIMIT_FSIZE;
        assert_int_equal(n, 1);
        plan_free(p);
        pr.resources.tmpfs_total = 64 << 20;
        p = resolve(&pr, &h);
        assert_int_equal(rlimit_hard(p, RLIMIT_FSIZE), 8 << 20);
        plan_free(p);
        pr.resources.tmpfs_total = 0;

        /* required: refused, never the per-file bound in its place; root alone changes
         * nothing, the probe's reason is named */
        pr.resources.enforce = ENFORCE_REQUIRED;
        h.is_root = true;
        h.uid = 0;
        h.project_quota_reason = (char *) "/w: project quotas are off on this file system";
        p = resolve(&pr, &h);
        assert_true(p->refused);
        assert_non_null(strstr(p->refusal, "resources.disk"));
        assert_non_null(strstr(p->refusal, "each file, not the total"));
        assert_non_null(strstr(p->refusal, "project quotas are off"));
        assert_int_equal(status_of(p, "disk"), CONTROL_REQUIRED);
        plan_free(p);

        /* a project quota: the total, required holds, no RLIMIT_FSIZE, no fallocate rule */
        h.project_quota = true;
        h.project_quota_reason = NULL;
        p = resolve(&pr, &h);
        assert_false(p->refused);
        assert_int_equal(p->resources.disk_mechanism, DISK_MECH_PROJECT_QUOTA);
        assert_int_equal(status_of(p, "disk"), CONTROL_REQUIRED);
        assert_non_null(strstr(plan_find_control(p, "disk")->detail, "project quota"));
        assert_int_equal(rlimit_hard(p, RLIMIT_FSIZE), 0);
        for (size_t i = 0; i < p->sandbox.seccomp.n_rules; i++)
                assert_string_not_equal(p->sandbox.seccomp.rules[i].name, "fallocate");
        plan_free(p);
        pr.resources.enforce = ENFORCE_BEST_EFFORT;
        p = resolve(&pr, &h);
        assert_int_equal(status_of(p, "disk"), CONTROL_BEST_EFFORT);
        plan_free(p);
        /* ... in the vm tier too, on the shares QEMU writes as moat-vm; the guest's
         * RLIMIT_FSIZE stays as a second layer (no fallocate rule: the quota counts it) */
        pr.isolation = TIER_VM;
        p = resolve(&pr, &h);
        assert_int_equal(p->tier, TIER_VM);
        assert_false(p->refused);
        assert_int_equal(p->resources.disk_mechanism, DISK_MECH_PROJECT_QUOTA);
        assert_int_equal(status_of(p, "disk"), CONTROL_BEST_EFFORT);
        assert_non_null(strstr(plan_find_control(p, "disk")->detail, "project quota"));
        assert_int_equal(rlimit_hard(p, RLIMIT_FSIZE), 8 << 20);
        plan_free(p);
        pr.resources.enforce = ENFORCE_REQUIRED;
        p = resolve(&pr, &h);
        assert_false(p->refused);
        assert_int_equal(status_of(p, "disk"), CONTROL_REQUIRED);
        plan_free(p);
        pr.isolation = TIER_AUTO;
        pr.resources.enforce = ENFORCE_REQUIRED;
        h.project_quota = false;

        /* no writable bind: nothing reaches the host, the required bound holds */
        pr.fs.binds = ro;
        pr.fs.n_binds = 1;
        p = resolve(&pr, &h);
        assert_false(p->refused);
        assert_int_equal(p->resources.disk_mechanism, DISK_MECH_NO_WRITABLE_BIND);
        assert_int_equal(status_of(p, "disk"), CONTROL_REQUIRED);
        assert_int_equal(rlimit_hard(p, RLIMIT_FSIZE), 0);
        plan_free(p);

        /* vm tier without a project quota: per file in the guest; required refused,
         * best-effort degraded */
        pr = fixture_profile();
        h = fixture_host();
        pr.isolation = TIER_VM;
        pr.resources.disk = 8 << 20;
        pr.resources.enforce = ENFORCE_REQUIRED;
        p = resolve(&pr, &h);
        assert_int_equal(p->tier, TIER_VM);
        assert_true(p->refused);
        assert_non_null(strstr(p->refusal, "vm tier"));
        assert_non_null(strstr(p->refusal, "each file, not the total"));
        plan_free(p);
        pr.resources.enforce = ENFORCE_BEST_EFFORT;
        p = resolve(&pr, &h);
        assert_false(p->refused);
        assert_int_equal(p->resources.disk_mechanism, DISK_MECH_RLIMIT_FSIZE);
        assert_int_equal(status_of(p, "disk"), CONTROL_DEGRADED);
        assert_int_equal(rlimit_hard(p, RLIMIT_FSIZE), 8 << 20);
        plan_free(p);

        /* not asked for */
        pr = fixture_profile();
        p = resolve(&pr, &h);
        assert_int_equal(status_of(p, "disk"), CONTROL_NOT_APPLICABLE);
        assert_int_equal(p->resources.disk_mechanism, DISK_MECH_NONE);
        plan_free(p);
}

/* resources.output: moat's own relay in both tiers, so never a reason to escalate or refuse;
 * required or best-effort as the profile says, even on a host without any cgroup. */
static void test_output(void **state) {
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        Plan *p;

        p = resolve(&pr, &h);
        assert_int_equal(p->resources.output_bytes, 0);
        assert_int_equal(status_of(p, "output"), CONTROL_NOT_APPLICABLE);
        plan_free(p);

        h.cgroup_v2_writable = false;
        pr.resources = (typeof(pr.resources)){ .output = 1 << 20, .enforce = ENFORCE_REQUIRED };
        p = resolve(&pr, &h);
        assert_false(p->refused);
        assert_int_equal(p->tier, TIER_SANDBOX);
        assert_int_equal(p->resources.output_bytes, 1 << 20);
        assert_int_equal(status_of(p, "output"), CONTROL_REQUIRED);
        assert_non_null(strstr(plan_find_control(p, "output")->detail, "killed past 1 MiB"));
        plan_free(p);

        pr.resources.enforce = ENFORCE_BEST_EFFORT;
        p = resolve(&pr, &h);
        assert_int_equal(status_of(p, "output"), CONTROL_BEST_EFFORT);
        plan_free(p);

        /* the vm tier counts the guest's ports: required holds there too */
        pr.isolation = TIER_VM;
        pr.resources.enforce = ENFORCE_REQUIRED;
        h = fixture_host();
        p = resolve(&pr, &h);
        assert_int_equal(p->tier, TIER_VM);
        assert_false(p->refused);
        assert_int_equal(status_of(p, "output"), CONTROL_REQUIRED);
        assert_non_null(strstr(plan_find_control(p, "output")->detail, "guest is destroyed"));
        plan_free(p);
}

static EgressRule rule_of(const char *text, unsigned line) {
        EgressRule r;
        char err[256];
        assert_int_equal(egress_rule_parse(text, &r, err, sizeof(err)), 0);
        r.pos = (SrcPos){ .file = "p.yaml", .line = line, .column = 9 };
        return r;
}

static bool env_has(const Plan *p, const char *entry) {
        STRV_FOREACH (e, p->env_set)
                if (strcmp(*e, entry) == 0)
                        return true;
        return false;
}

static void test_network_outbound(void **state) {
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        EgressRule rules[2] = { rule_of("pkg.example.org", 12), rule_of("*", 13) };
        Plan *p;

        pr.network = NETWORK_OUTBOUND;
        pr.outbound.allow = rules;
        pr.outbound.n_allow = 1;
        p = resolve(&pr, &h);
        assert_false(p->refused);
        assert_true(p->egress.active);
        assert_int_equal(p->egress.proxy_port, 3128);
        assert_int_equal(p->sandbox.landlock.connect_port, 3128);
        assert_int_equal(p->sandbox.landlock.handled_net, 3);
        assert_true(env_has(p, "https_proxy=http://127.0.0.1:3128"));
        assert_true(env_has(p, "HTTP_PROXY=http://127.0.0.1:3128"));
        assert_non_null(strstr(plan_find_control(p, "egress.allow")->detail,
                               "pkg.example.org:443 (p.yaml:12:9)"));
        plan_free(p);

        /* "*" needs the site policy's explicit consent; the refusal names the rule. */
        pr.outbound.n_allow = 2;
        p = resolve(&pr, &h);
        assert_true(p->refused);
        assert_non_null(strstr(p->refusal, "rule '*:443' (p.yaml:13:9)"));
        plan_free(p);

        /* The vm tier serves the same proxy over the guest's egress port: the allowlist and
         * the proxy environment carry over, the guest has no other route, and no Landlock TCP
         * rule is planned there (the guest kernel's ABI has none). */
        pr.outbound.n_allow = 1;
        pr.trust = TRUST_HOSTILE;
        p = resolve(&pr, &h);
        assert_false(p->refused);
        assert_int_equal(p->tier, TIER_VM);
        assert_true(p->egress.active);
        assert_int_equal(p->egress.proxy_port, 3128);
        assert_true(env_has(p, "https_proxy=http://127.0.0.1:3128"));
        assert_non_null(plan_find_control(p, "egress.port"));
        assert_non_null(strstr(plan_find_control(p, "egress.port")->detail, "no network device"));
        plan_free(p);
        pr.network = NETWORK_LOOPBACK;
        pr.trust = TRUST_UNTRUSTED;
        expect_tier(&pr, &h, TIER_SANDBOX, NULL);
}

static void test_max_tier_refusal(void **state) {
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        Plan *p;

        pr.trust = TRUST_HOSTILE;
        pr.max_tier = TIER_SANDBOX;
        p = resolve(&pr, &h);
        assert_true(p->refused);
        assert_int_equal(p->tier, TIER_VM); /* the plan shows what would be needed, not less */
        assert_non_null(strstr(p->refusal, "at most sandbox"));
        assert_non_null(strstr(p->refusal, "fixture.yaml:5:11"));
        assert_non_null(strstr(p->refusal, "To run it:"));
        plan_free(p);

        pr = fixture_profile();
        pr.max_tier = TIER_SANDBOX;
        h.landlock_abi = 0;
        p = resolve(&pr, &h);
        assert_true(p->refused);
        assert_non_null(strstr(p->refusal, "missing-landlock"));
        assert_non_null(strstr(p->refusal, "best-effort"));
        plan_free(p);
}

static void test_never_downgrade(void **state) {
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        Plan *p;

        pr.isolation = TIER_VM;
        p = resolve(&pr, &h);
        assert_false(p->refused);
        assert_int_equal(p->tier, TIER_VM);
        assert_true(has_decision(p, "profile-isolation"));
        plan_free(p);

        pr.isolation = TIER_SYSTEM;
        pr.trust = TRUST_HOSTILE;
        expect_tier(&pr, &h, TIER_VM, "trust-hostile");

        /* full_os asks for system; a hostile profile still climbs to vm, not down to system. */
        pr = fixture_profile();
        pr.os.full_os = true;
        pr.trust = TRUST_HOSTILE;
        expect_tier(&pr, &h, TIER_VM, "full-os");

        /* A tier this host cannot run is a refusal, never a lower tier. */
        h.qemu_present = false;
        p = resolve(&pr, &h);
        assert_true(p->refused);
        assert_int_equal(p->tier, TIER_VM);
        assert_non_null(strstr(p->refusal, "cannot run on this host"));
        plan_free(p);
}

static void test_fail_closed_without_rules(void **state) {
        Policy empty = { .seccomp_sets = policy->seccomp_sets,
                         .n_seccomp_sets = policy->n_seccomp_sets };
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        Plan *p = NULL;

        h.landlock_abi = 0;
        assert_int_equal(plan_resolve(&pr, &empty, &h, &p), 0);
        assert_true(p->refused);
        assert_int_equal(p->tier, TIER_SANDBOX);
        assert_non_null(strstr(p->refusal, "landlock"));
        plan_free(p);
}

static const PlanSyscallRule *find_rule(const Plan *p, const char *name, size_t nth) {
        for (size_t i = 0; i < p->sandbox.seccomp.n_rules; i++)
                if (strcmp(p->sandbox.seccomp.rules[i].name, name) == 0 && nth-- == 0)
                        return &p->sandbox.seccomp.rules[i];
        return NULL;
}

static size_t count_rules(const Plan *p, const char *name) {
        size_t n = 0;
        while (find_rule(p, name, n))
                n++;
        return n;
}

static void test_seccomp_expansion(void **state) {
        static const uint64_t ns_flags[] = { 0x00020000, 0x02000000, 0x04000000, 0x08000000,
                                             0x10000000, 0x20000000, 0x40000000 };
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        Plan *p = resolve(&pr, &h);
        const PlanSeccomp *sc = &p->sandbox.seccomp;

        assert_int_equal(sc->default_action, SECCOMP_ACTION_ALLOW);
        assert_int_equal(sc->foreign_arch_action, SECCOMP_ACTION_KILL);
        assert_true(strv_contains(sc->arches, "x86_64") && strv_contains(sc->arches, "x32") &&
                    strv_contains(sc->arches, "x86"));

        /* clone: one masked rule per namespace flag, never an unconditional denial. */
        assert_int_equal(count_rules(p, "clone"), 7);
        for (size_t i = 0; i < 7; i++) {
                const PlanSyscallRule *r = find_rule(p, "clone", i);
                assert_int_equal(r->n_args, 1);
                assert_int_equal(r->args[0].arg, 0);
                assert_int_equal(r->args[0].op, ARG_OP_MASKED_EQ);
                assert_int_equal(r->args[0].mask, ns_flags[i]);
                assert_int_equal(r->args[0].value, ns_flags[i]);
                assert_int_equal(r->errno_value, EPERM);
                assert_string_equal(r->group, "namespaces");
                assert_non_null(strstr(r->origin, "policies/seccomp/default.yaml:"));
        }
        const PlanSyscallRule *c3 = find_rule(p, "clone3", 0);
        assert_non_null(c3);
        assert_int_equal(c3->errno_value, ENOSYS);

        /* TIOCSTI and TIOCLINUX on arg1, compared on the low 32 bits only. */
        assert_int_equal(count_rules(p, "ioctl"), 2);
        const PlanSyscallRule *sti = find_rule(p, "ioctl", 0);
        assert_int_equal(sti->args[0].arg, 1);
        assert_int_equal(sti->args[0].op, ARG_OP_MASKED_EQ);
        assert_int_equal(sti->args[0].mask, 0xffffffffu);
        assert_int_equal(sti->args[0].value, 0x5412);
        assert_int_equal(find_rule(p, "ioctl", 1)->args[0].value, 0x541c);

        /* raw sockets: two arguments in one rule */
        const PlanSyscallRule *raw = find_rule(p, "socket", 1);
        assert_int_equal(raw->n_args, 2);
        assert_int_equal(raw->args[1].mask, 0xf);
        assert_int_equal(raw->args[1].value, 3);

        static const char *const denied[] = { "keyctl",
                                              "add_key",
                                              "request_key",
                                              "bpf",
                                              "perf_event_open",
                                              "userfaultfd",
                                              "io_uring_setup",
                                              "kexec_load",
                                              "init_module",
                                              "open_by_handle_at",
                                              "mount",
                                              "fsopen",
                                              "unshare",
                                              "setns",
                                              "ptrace",
                                              "process_vm_readv",
                                              "acct",
                                              "syslog",
                                              "clock_settime",
                                              "_sysctl",
                                              "iopl",
                                              "quotactl_fd",
                                              "fanotify_init" };
        for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
                const PlanSyscallRule *r = find_rule(p, denied[i], 0);
                if (!r)
                        fail_msg("%s is not denied", denied[i]);
                assert_int_equal(r->n_args, 0);
        }
        assert_null(find_rule(p, "mbind", 0)); /* @mempolicy is defined but not denied */
        plan_free(p);
}

static void test_seccomp_profile_and_site(void **state) {
        static char *allow[] = { "@ptrace", "keyctl", NULL };
        static char *deny[] = { "@mempolicy", "clone", "chroot", NULL };
        static char *site[] = { "keyctl", "@io_uring", NULL };
        static SrcPos site_pos[] = { { "site.yaml", 4, 5 }, { "site.yaml", 5, 5 } };
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        Plan *p;

        pr.syscalls.allow = allow;
        pr.syscalls.deny = deny;
        p = resolve(&pr, &h);
        assert_null(find_rule(p, "ptrace", 0));
        assert_true(has_decision(p, "profile-syscalls-allow"));
        assert_null(find_rule(p, "process_vm_writev", 0));
        assert_null(find_rule(p, "keyctl", 0));
        assert_non_null(find_rule(p, "add_key", 0));
        assert_non_null(find_rule(p, "mbind", 0));
        assert_non_null(find_rule(p, "chroot", 0));
        assert_string_equal(find_rule(p, "chroot", 0)->group, "profile");
        /* An unconditional profile denial replaces the filtered clone rules. */
        assert_int_equal(count_rules(p, "clone"), 1);
        assert_int_equal(find_rule(p, "clone", 0)->n_args, 0);
        plan_free(p);

        /* The site's denials come last: a profile cannot allow them back. */
        Policy with_site = *policy;
        with_site.extra_denied_syscalls = site;
        with_site.extra_denied_pos = site_pos;
        Plan *q = NULL;
        assert_int_equal(plan_resolve(&pr, &with_site, &h, &q), 0);
        const PlanSyscallRule *k = find_rule(q, "keyctl", 0);
        assert_non_null(k);
        assert_string_equal(k->group, "site");
        assert_string_equal(k->origin, "site.yaml:4:5");
        assert_int_equal(count_rules(q, "io_uring_setup"), 1);
        plan_free(q);

        /* Unknown group names refuse, with the profile position. */
        static char *bad[] = { "@no-such-group", NULL };
        static SrcPos bad_pos[] = { { "fixture.yaml", 20, 9 } };
        pr = fixture_profile();
        pr.syscalls.deny = bad;
        pr.syscalls.deny_pos = bad_pos;
        p = resolve(&pr, &h);
        assert_true(p->refused);
        assert_non_null(strstr(p->refusal, "fixture.yaml:20:9"));
        plan_free(p);
}

static bool personality_denied(const Plan *p, uint64_t x) {
        for (size_t i = 0; i < p->sandbox.seccomp.n_rules; i++) {
                const PlanSyscallRule *r = &p->sandbox.seccomp.rules[i];
                bool all = strcmp(r->name, "personality") == 0;
                for (unsigned k = 0; all && k < r->n_args; k++)
                        all = r->args[k].op == ARG_OP_MASKED_EQ &&
                              (x & r->args[k].mask) == r->args[k].value;
                if (all)
                        return true;
        }
        return false;
}

static void test_seccomp_personality(void **state) {
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        Plan *p = resolve(&pr, &h);

        assert_false(personality_denied(p, 0));
        assert_false(personality_denied(p, 0xffffffff));
        /* Upper bits are ignored by the kernel (unsigned int), so by the filter too. */
        assert_false(personality_denied(p, 0xffffffff00000000ULL));
        static const uint64_t bad[] = { 0x8,        0x0040000,  0x0400000,
                                        0x20008,    0x80000000, 0x7fffffff,
                                        0xfffffffe, 0x1,        0x100000008ULL };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (!personality_denied(p, bad[i]))
                        fail_msg("personality(0x%llx) is not denied", (unsigned long long) bad[i]);
        /* Pseudo-random sweep of 32-bit values. */
        uint32_t x = 12345;
        for (int i = 0; i < 100000; i++) {
                x = x * 1103515245u + 12345u;
                if (x != 0 && x != 0xffffffffu && !personality_denied(p, x))
                        fail_msg("personality(0x%x) is not denied", x);
        }
        plan_free(p);
}

static uint64_t landlock_access(const Plan *p, const char *path) {
        for (size_t i = 0; i < p->sandbox.landlock.n_paths; i++)
                if (strcmp(p->sandbox.landlock.paths[i].path, path) == 0)
                        return p->sandbox.landlock.paths[i].access;
        fail_msg("no landlock rule for %s", path);
        return 0;
}

static void test_landlock_abi(void **state) {
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        Plan *p;

        h.landlock_abi = 9; /* newer than the plan knows: clamp */
        p = resolve(&pr, &h);
        assert_int_equal(p->sandbox.landlock.abi, 6);
        assert_int_equal(p->sandbox.landlock.handled_fs, (1ULL << 16) - 1);
        assert_int_equal(p->sandbox.landlock.handled_net, 3);
        assert_int_equal(p->sandbox.landlock.scoped, 3);
        assert_true(landlock_access(p, "/usr") & 1);           /* execute */
        assert_true(landlock_access(p, "/work") & 1);          /* the work dir executes */
        assert_false(landlock_access(p, "/out") & 1);          /* other rw binds do not */
        assert_true(landlock_access(p, "/out") & (1ULL << 1)); /* but are writable */
        assert_false(landlock_access(p, "/tmp") & 1);
        assert_false(landlock_access(p, "/data") & ((1ULL << 1) | 1)); /* ro bind: read only */
        assert_false(landlock_access(p, "/etc") & ((1ULL << 1) | 1));
        assert_int_equal(landlock_access(p, "/dev/null"), (1ULL << 1) | (1ULL << 2) | (1ULL << 15));
        plan_free(p);

        h.landlock_abi = 3;
        p = resolve(&pr, &h);
        assert_int_equal(p->sandbox.landlock.abi, 3);
        assert_int_equal(p->sandbox.landlock.handled_fs, (1ULL << 15) - 1);
        assert_int_equal(p->sandbox.landlock.handled_net, 0);
        assert_int_equal(p->sandbox.landlock.scoped, 0);
        assert_int_equal(landlock_access(p, "/dev/null"),
                         (1ULL << 1) | (1ULL << 2)); /* no IOCTL_DEV right */
        plan_free(p);

        h.landlock_abi = 4;
        pr.network = NETWORK_LOOPBACK;
        p = resolve(&pr, &h);
        assert_int_equal(p->sandbox.landlock.handled_net, 0);
        plan_free(p);
        pr.network = NETWORK_NONE;
        p = resolve(&pr, &h);
        assert_int_equal(p->sandbox.landlock.handled_net, 3);
        plan_free(p);

        pr.mac.landlock = LANDLOCK_OFF;
        p = resolve(&pr, &h);
        assert_int_equal(p->sandbox.landlock.status, CONTROL_NOT_APPLICABLE);
        assert_int_equal(p->sandbox.landlock.n_paths, 0);
        plan_free(p);
}

static ssize_t mount_index(const Plan *p, PlanMountKind kind, const char *target) {
        for (size_t i = 0; i < p->sandbox.n_mounts; i++)
                if (p->sandbox.mounts[i].kind == kind &&
                    strcmp(p->sandbox.mounts[i].target, target) == 0)
                        return (ssize_t) i;
        return -1;
}

static void test_mounts(void **state) {
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        Plan *p;

        h.uid = 0;
        h.is_root = true;
        p = resolve(&pr, &h);
        const PlanMount *m = p->sandbox.mounts;
        assert_int_equal(m[0].kind, PLAN_MOUNT_BIND);
        assert_string_equal(m[0].target, "/usr");
        assert_int_equal(m[0].flags, PLAN_MOUNT_RDONLY | PLAN_MOUNT_NOSUID | PLAN_MOUNT_NODEV);
        assert_string_equal(m[1].target, "/etc");
        assert_int_equal(m[2].kind, PLAN_MOUNT_SYMLINK);
        assert_string_equal(m[2].target, "/bin");
        assert_string_equal(m[2].source, "usr/bin");

        ssize_t proc = mount_index(p, PLAN_MOUNT_PROC, "/proc");
        ssize_t kcore = mount_index(p, PLAN_MOUNT_MASK, "/proc/kcore");
        ssize_t sys = mount_index(p, PLAN_MOUNT_READONLY, "/proc/sys");
        ssize_t dev = mount_index(p, PLAN_MOUNT_DEV, "/dev");
        ssize_t tmp = mount_index(p, PLAN_MOUNT_TMPFS, "/tmp");
        ssize_t work = mount_index(p, PLAN_MOUNT_BIND, "/work");
        ssize_t shadow = mount_index(p, PLAN_MOUNT_MASK, "/etc/shadow");
        assert_true(proc > 2 && kcore > proc && sys > proc && dev > sys && tmp > dev &&
                    work > tmp && shadow > work);
        assert_int_not_equal(mount_index(p, PLAN_MOUNT_MASK, "/proc/sysrq-trigger"), -1);
        assert_int_not_equal(mount_index(p, PLAN_MOUNT_MASK, "/proc/kmsg"), -1);
        assert_int_not_equal(mount_index(p, PLAN_MOUNT_READONLY, "/proc/irq"), -1);
        assert_false(m[sys].flags & PLAN_MOUNT_OPTIONAL);
        assert_int_not_equal(mount_index(p, PLAN_MOUNT_MASK, "/etc/gshadow"), -1);
        assert_int_not_equal(mount_index(p, PLAN_MOUNT_MASK, "/etc/ssh/ssh_host_ed25519_key"), -1);
        /* The host's identifiers: files of the run's own, after every bind (none uncovers them),
         * boot_id after /dev (the executor writes the files there). No mask of boot_id left. */
        ssize_t mid = mount_index(p, PLAN_MOUNT_IDENTITY, "/etc/machine-id");
        ssize_t dbus = mount_index(p, PLAN_MOUNT_IDENTITY, "/var/lib/dbus/machine-id");
        ssize_t boot = mount_index(p, PLAN_MOUNT_IDENTITY, "/proc/sys/kernel/random/boot_id");
        assert_true(mid > shadow && dbus > mid && boot > dev && boot < tmp);
        assert_string_equal(m[mid].source, "machine-id");
        assert_string_equal(m[dbus].source, "machine-id");
        assert_string_equal(m[boot].source, "boot-id");
        assert_int_equal(mount_index(p, PLAN_MOUNT_MASK, "/proc/sys/kernel/random/boot_id"), -1);
        assert_null(p->sandbox.machine_id);
        assert_string_equal(plan_find_control(p, "machine-id")->detail,
                            "own /etc/machine-id, random per run; own boot_id, random per run");
        assert_true(m[work].flags & PLAN_MOUNT_WORKDIR);
        assert_false(m[work].flags & PLAN_MOUNT_NOEXEC);
        assert_true(m[mount_index(p, PLAN_MOUNT_BIND, "/out")].flags & PLAN_MOUNT_NOEXEC);
        assert_true(m[mount_index(p, PLAN_MOUNT_BIND, "/out")].flags & PLAN_MOUNT_OPTIONAL);
        assert_true(m[mount_index(p, PLAN_MOUNT_BIND, "/data")].flags & PLAN_MOUNT_RDONLY);
        assert_false(m[mount_index(p, PLAN_MOUNT_BIND, "/data")].flags & PLAN_MOUNT_WORKDIR);
        assert_true(m[tmp].flags & PLAN_MOUNT_NOEXEC);
        assert_int_equal(mount_index(p, PLAN_MOUNT_SYS, "/sys"), -1);
        assert_int_equal(p->sandbox.uid_inside, 0);
        plan_free(p);

        /* A profile /tmp replaces the default one; /sys only when asked; image roots bind "/". */
        static ProfileTmpfs tmpfs[] = { { .target = "/tmp", .size = 1 << 20 } };
        pr.fs.tmpfs = tmpfs;
        pr.fs.n_tmpfs = 1;
        pr.fs.sys = true;
        pr.fs.root = ROOT_IMAGE;
        pr.fs.image = "/srv/rootfs";
        p = resolve(&pr, &h);
        assert_int_equal(p->sandbox.mounts[0].kind, PLAN_MOUNT_BIND);
        assert_string_equal(p->sandbox.mounts[0].target, "/");
        assert_string_equal(p->sandbox.mounts[0].source, "/srv/rootfs");
        assert_int_equal(mount_index(p, PLAN_MOUNT_BIND, "/usr"), -1);
        size_t tmps = 0;
        for (size_t i = 0; i < p->sandbox.n_mounts; i++)
                tmps += p->sandbox.mounts[i].kind == PLAN_MOUNT_TMPFS;
        assert_int_equal(tmps, 1);
        assert_int_equal(p->sandbox.mounts[mount_index(p, PLAN_MOUNT_TMPFS, "/tmp")].size, 1 << 20);
        assert_int_not_equal(mount_index(p, PLAN_MOUNT_SYS, "/sys"), -1);
        assert_true(mount_index(p, PLAN_MOUNT_MASK, "/sys/devices/virtual/powercap") >
                    mount_index(p, PLAN_MOUNT_SYS, "/sys"));
        plan_free(p);
}

/* pids without a cgroup: RLIMIT_NPROC where it counts only the sandbox's own tasks (Linux >=
 * 5.14, ucounts per user namespace) and binds at all (not the host's root); degraded either
 * way, with what it counts. */
static void test_pids_nproc_fallback(void **state) {
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        Plan *p;

        h.cgroup_v2_writable = false;
        p = resolve(&pr, &h);
        assert_false(p->refused);
        assert_int_equal(p->resources.mechanism, CGROUP_MECH_RLIMIT);
        assert_non_null(find_rlimit(p, RLIMIT_NPROC));
        assert_int_equal(find_rlimit(p, RLIMIT_NPROC)->soft, 256);
        assert_int_equal(find_rlimit(p, RLIMIT_NPROC)->hard, 256);
        assert_int_equal(status_of(p, "cgroup.pids"), CONTROL_DEGRADED);
        assert_non_null(strstr(plan_find_control(p, "cgroup.pids")->detail,
                               "RLIMIT_NPROC 256: at most 256 tasks"));
        assert_non_null(strstr(plan_find_control(p, "cgroup.pids")->detail, "user namespace"));
        assert_non_null(strstr(plan_find_control(p, "rlimits")->detail, "nproc 256"));
        plan_free(p);

        /* Before 5.14 RLIMIT_NPROC counts every process of the uid on the host: not used. */
        h.kernel_major = 5;
        h.kernel_minor = 13;
        p = resolve(&pr, &h);
        assert_null(find_rlimit(p, RLIMIT_NPROC));
        assert_int_equal(status_of(p, "cgroup.pids"), CONTROL_DEGRADED);
        assert_non_null(strstr(plan_find_control(p, "cgroup.pids")->detail, "no substitute"));
        plan_free(p);
        h.kernel_minor = 14;
        p = resolve(&pr, &h);
        assert_non_null(find_rlimit(p, RLIMIT_NPROC));
        plan_free(p);

        /* The host's root is exempt from RLIMIT_NPROC in copy_process(). */
        h = fixture_host();
        h.cgroup_v2_writable = false;
        h.uid = 0;
        h.is_root = true;
        p = resolve(&pr, &h);
        assert_null(find_rlimit(p, RLIMIT_NPROC));
        assert_non_null(strstr(plan_find_control(p, "cgroup.pids")->detail, "exempts"));
        plan_free(p);

        /* A cgroup is the mechanism wherever there is one; no pids, no NPROC. */
        h = fixture_host();
        p = resolve(&pr, &h);
        assert_int_equal(p->resources.mechanism, CGROUP_MECH_V2);
        assert_null(find_rlimit(p, RLIMIT_NPROC));
        plan_free(p);
        h.cgroup_v2_writable = false;
        pr.resources.pids = 0;
        p = resolve(&pr, &h);
        assert_null(find_rlimit(p, RLIMIT_NPROC));
        plan_free(p);

        /* required pids and no cgroup: still escalated, never the rlimit. */
        pr = fixture_profile();
        pr.resources.enforce = ENFORCE_REQUIRED;
        p = resolve(&pr, &h);
        assert_int_not_equal(p->tier, TIER_SANDBOX);
        plan_free(p);
}

static const ProfileBind *find_bind(const Profile *pr, const char *target) {
        for (size_t i = 0; i < pr->fs.n_binds; i++)
                if (strcmp(pr->fs.binds[i].target, target) == 0)
                        return &pr->fs.binds[i];
        return NULL;
}

/* exec: the mount flag and the Landlock execute right say the same thing, and the check that
 * compares them catches either one being changed alone. */
static void test_bind_exec(void **state) {
        ProfileBind binds[] = {
                { .source = ".", .target = "/work", .mode = BIND_RW, .exec = true },
                { .source = "/opt/jdk", .target = "/opt/jdk", .mode = BIND_RO, .exec = true },
                { .source = "/srv/data", .target = "/data", .mode = BIND_RO, .exec = false },
                { .source = "out", .target = "/out", .mode = BIND_RW, .exec = false },
                { .source = ".", .target = "/ro-work", .mode = BIND_RO, .exec = false },
        };
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        const char *above = NULL;
        Plan *p;

        pr.fs.binds = binds;
        pr.fs.n_binds = ELEMENTSOF(binds);
        p = resolve(&pr, &h);
        assert_false(p->refused);
        for (size_t i = 0; i < ELEMENTSOF(binds); i++) {
                const PlanMount *m =
                        &p->sandbox.mounts[mount_index(p, PLAN_MOUNT_BIND, binds[i].target)];
                assert_int_equal(!(m->flags & PLAN_MOUNT_NOEXEC), (int) binds[i].exec);
                assert_int_equal(!!(landlock_access(p, binds[i].target) & 1), binds[i].exec);
                assert_int_equal(plan_landlock_exec_source(p, binds[i].target) != NULL,
                                 binds[i].exec);
        }
        assert_int_equal(plan_exec_disagreement(p, &pr, NULL), -1);

        /* Either layer changed alone is caught. */
        PlanMount *data = &p->sandbox.mounts[mount_index(p, PLAN_MOUNT_BIND, "/data")];
        data->flags &= ~PLAN_MOUNT_NOEXEC;
        assert_int_equal(plan_exec_disagreement(p, &pr, NULL), 2);
        data->flags |= PLAN_MOUNT_NOEXEC;
        for (size_t i = 0; i < p->sandbox.landlock.n_paths; i++)
                if (strcmp(p->sandbox.landlock.paths[i].path, "/opt/jdk") == 0)
                        p->sandbox.landlock.paths[i].access &= ~1ULL;
        assert_int_equal(plan_exec_disagreement(p, &pr, NULL), 1);
        plan_free(p);

        /* exec: false beneath a path Landlock lets execute cannot hold: refused, naming it. */
        ProfileBind nested[] = {
                { .source = ".", .target = "/work", .mode = BIND_RW, .exec = true },
                { .source = "/srv/cache",
                  .target = "/work/cache",
                  .mode = BIND_RW,
                  .pos = { "fixture.yaml", 12, 7 } },
        };
        pr.fs.binds = nested;
        pr.fs.n_binds = ELEMENTSOF(nested);
        p = resolve(&pr, &h);
        assert_true(p->refused);
        assert_non_null(strstr(p->refusal, "/work/cache says exec: false"));
        assert_non_null(strstr(p->refusal, "beneath /work"));
        assert_non_null(strstr(p->refusal, "fixture.yaml:12:7"));
        assert_int_equal(plan_exec_disagreement(p, &pr, &above), 1);
        assert_string_equal(above, "/work");
        plan_free(p);
        nested[1].target = "/usr/local/cache"; /* /usr executes too */
        p = resolve(&pr, &h);
        assert_true(p->refused);
        plan_free(p);
        nested[1].exec = true; /* what the message suggests */
        p = resolve(&pr, &h);
        assert_false(p->refused);
        plan_free(p);

        /* Without Landlock the mount flag is the only layer: nothing to disagree with. */
        nested[1].exec = false;
        pr.mac.landlock = LANDLOCK_OFF;
        p = resolve(&pr, &h);
        assert_false(p->refused);
        assert_true(p->sandbox.mounts[mount_index(p, PLAN_MOUNT_BIND, "/usr/local/cache")].flags &
                    PLAN_MOUNT_NOEXEC);
        plan_free(p);
        assert_non_null(find_bind(&pr, "/usr/local/cache"));
}

static void test_namespaces_and_ids(void **state) {
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        Plan *p;

        h.time_ns = false;
        pr.uid_set = true;
        pr.uid = 0;
        pr.gid = 0;
        p = resolve(&pr, &h);
        assert_false(p->sandbox.clone_flags & 0x80);
        assert_int_equal(status_of(p, "timens"), CONTROL_NOT_APPLICABLE);
        assert_int_equal(p->sandbox.uid_inside, 0);
        plan_free(p);
}

/* host_namespaces is a permission for moat oci: a moat run still makes every namespace, and
 * the why list says so, with what the site policy takes away. */
static void test_host_namespaces(void **state) {
        static char *shared[] = { "network", "uts", NULL };
        static char *site_allow[] = { "network", NULL };
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        Plan *p;

        pr.network = NETWORK_LOOPBACK;
        pr.host_namespaces = shared;
        pr.host_namespaces_list_pos = (SrcPos){ "fixture.yaml", 7, 18 };
        p = resolve(&pr, &h);
        assert_false(p->refused);
        assert_true(has_decision(p, "host-namespaces"));
        for (size_t i = 0; i < p->n_decisions; i++)
                if (strcmp(p->decisions[i].rule_id, "host-namespaces") == 0) {
                        assert_non_null(strstr(p->decisions[i].sentence, "fixture.yaml:7:18"));
                        assert_non_null(strstr(p->decisions[i].sentence, "network, uts"));
                        assert_null(strstr(p->decisions[i].sentence, "site policy"));
                        assert_int_equal(p->decisions[i].min_tier, TIER_SANDBOX);
                }
        assert_true(p->sandbox.clone_flags & CLONE_NEWNET);
        assert_true(p->sandbox.clone_flags & CLONE_NEWUTS);
        assert_int_equal(status_of(p, "netns"), CONTROL_REQUIRED);
        plan_free(p);

        Policy with_site = *policy;
        with_site.host_namespaces.set = true;
        with_site.host_namespaces.allow = site_allow;
        Plan *q = NULL;
        assert_int_equal(plan_resolve(&pr, &with_site, &h, &q), 0);
        for (size_t i = 0; i < q->n_decisions; i++)
                if (strcmp(q->decisions[i].rule_id, "host-namespaces") == 0)
                        assert_non_null(strstr(q->decisions[i].sentence,
                                               "leaves out network shares the host's (the site "
                                               "policy forbids uts)"));
        plan_free(q);

        pr.host_namespaces = NULL;
        p = resolve(&pr, &h);
        assert_false(has_decision(p, "host-namespaces"));
        plan_free(p);
}

static void test_vm_plan(void **state) {
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        Plan *p;

        pr.trust = TRUST_HOSTILE;
        h.kvm_usable = false;
        h.vm_boot_ms = 0;
        p = resolve(&pr, &h);
        assert_int_equal(p->tier, TIER_VM);
        assert_false(p->vm.kvm);
        /* resources.memory for the command's cgroup, plus the guest kernel's share */
        assert_int_equal(p->vm.memory, (1ULL << 30) + (128ULL << 20));
        assert_int_equal(p->vm.vcpus, 2);
        assert_string_equal(p->vm.kernel, "/var/lib/moat/guest/vmlinux");
        assert_non_null(plan_find_control(p, "separate-kernel"));
        /* Escalation never drops a control: the sandbox tier's, applied in the guest. */
        static const char *const guest[] = { "no_new_privs", "caps",          "seccomp",
                                             "landlock",     "nested-userns", "rlimits" };
        for (size_t i = 0; i < sizeof(guest) / sizeof(guest[0]); i++) {
                const PlanControl *c = plan_find_control(p, guest[i]);
                assert_non_null(c);
                assert_int_equal(c->status, CONTROL_REQUIRED);
        }
        assert_false(p->sandbox.seccomp.notify_denials);  /* no listener in the guest */
        for (size_t i = 0; i < p->sandbox.n_rlimits; i++) /* the guest has cgroups */
                assert_true(p->sandbox.rlimits[i].resource != RLIMIT_AS &&
                            p->sandbox.rlimits[i].resource != RLIMIT_NPROC);
        assert_false(p->refused);
        assert_true(p->vm.n_not_in_guest > 0);
        const char *vm_name = NULL;
        assert_non_null(plan_vm_not_in_guest("pidns", false, &vm_name));
        assert_null(plan_vm_not_in_guest("seccomp", false, &vm_name));
        assert_non_null(plan_vm_not_in_guest("seccomp", true, &vm_name));
        assert_string_equal(plan_find_control(p, "accel")->detail, "tcg");
        char *text = plan_to_text(p);
        assert_non_null(strstr(
                text, "tier: vm (TCG, software emulation: slower, still a separate kernel)"));
        assert_non_null(strstr(text, "unknown until first run"));
        free(text);
        plan_free(p);

        h.vm_boot_ms = 8987;
        p = resolve(&pr, &h);
        text = plan_to_text(p);
        assert_non_null(strstr(text, "boot time: 8987 ms"));
        free(text);
        plan_free(p);

        pr.resources.memory = 0;
        h.guest_kernel = NULL;
        p = resolve(&pr, &h);
        assert_true(p->refused);
        assert_non_null(strstr(p->refusal, "guest kernel"));
        plan_free(p);

        /* A profile's own kernel stands in for the one the probe did not find, whatever the
         * probe said about the missing one. */
        pr.vm.kernel = (char *) "/opt/kernels/vmlinux";
        h.vm_reason = (char *) "no guest kernel under /var/lib/moat/guest";
        p = resolve(&pr, &h);
        assert_false(p->refused);
        assert_int_equal(p->tier, TIER_VM);
        assert_string_equal(p->vm.kernel, "/opt/kernels/vmlinux");
        plan_free(p);
        pr.vm.kernel = NULL;
        h.vm_reason = NULL;
}

static void test_json_and_text(void **state) {
        static char *set[] = { "TOKEN=secret-value", NULL };
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        pr.env.set = set;
        Plan *p = resolve(&pr, &h);
        json_t *j = plan_to_json(p);
        static const char *const keys[] = { "moat_plan", "tier",     "refused",   "refusal",
                                            "profile",   "policy",   "trust",     "decisions",
                                            "controls",  "env",      "resources", "sandbox",
                                            "vm",        "reachable" };

        assert_non_null(j);
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                if (!json_object_get(j, keys[i]))
                        fail_msg("plan JSON lacks %s", keys[i]);
        assert_string_equal(json_string_value(json_object_get(j, "tier")), "sandbox");
        char *dump = json_dumps(j, 0);
        assert_null(strstr(dump, "secret-value")); /* env values never serialised */
        assert_non_null(strstr(dump, "\"TOKEN\""));
        free(dump);
        json_decref(j);

        char *text = plan_to_text(p);
        assert_non_null(text);
        const char *tier = strstr(text, "tier: sandbox"), *why = strstr(text, "why:"),
                   *controls = strstr(text, "controls:"),
                   *reach = strstr(text, "what the workload can still reach:");
        assert_true(tier && why && controls && reach && tier < why && why < controls &&
                    controls < reach);
        free(text);
        plan_free(p);
}

static char *read_all(const char *path) {
        FILE *f = fopen(path, "re");
        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        long n = ftell(f);
        assert_true(n > 0);
        rewind(f);
        char *buf = calloc(1, (size_t) n + 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t) n, f), (size_t) n);
        fclose(f);
        return buf;
}

/* key appears as a field name: delimited by backticks, braces, brackets, commas or spaces. */
static bool documented(const char *text, const char *key) {
        size_t n = strlen(key);
        for (const char *s = strstr(text, key); s; s = strstr(s + 1, key)) {
                char before = s == text ? ' ' : s[-1], after = s[n];
                if (strchr("`{[, (\n", before) && after && strchr("`}[], ()\n", after))
                        return true;
        }
        return false;
}

/* policies/README.md "Plan JSON" documents every field plan_to_json() writes. */
static void test_json_documented(void **state) {
        static char *caps[] = { "net_bind_service", NULL };
        Profile pr = fixture_profile();
        HostFacts h = fixture_host();
        char *readme = read_all(SOURCE_ROOT "/policies/README.md");
        const char *section = strstr(readme, "## Plan JSON");
        const char *key;
        json_t *v;

        assert_non_null(section);
        pr.capabilities = caps;
        pr.trust = TRUST_HOSTILE; /* vm tier: both sections are filled */
        Plan *p = resolve(&pr, &h);
        json_t *j = plan_to_json(p);
        json_t *objects[] = { j,
                              json_object_get(j, "sandbox"),
                              json_object_get(j, "vm"),
                              json_object_get(j, "resources"),
                              json_object_get(json_object_get(j, "sandbox"), "seccomp"),
                              json_object_get(json_object_get(j, "sandbox"), "landlock") };
        for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++) {
                assert_true(json_is_object(objects[i]));
                json_object_foreach(objects[i], key, v) {
                        if (!documented(section, key))
                                fail_msg(
                                        "plan JSON field '%s' is not documented in "
                                        "policies/README.md",
                                        key);
                }
        }
        json_decref(j);
        plan_free(p);
        free(readme);
}

/* Overwrites what was just freed: blocks of every size up to 4 KiB (glibc hands back the
 * freed blocks of a size first), filled with a byte no plan string holds. Freed with
 * churn_done(). */
#define CHURN_SIZES 256
#define CHURN_EACH 12
static void *churn_blocks[CHURN_SIZES * CHURN_EACH];

static void churn(void) {
        for (size_t i = 0; i < CHURN_SIZES * CHURN_EACH; i++) {
                size_t size = 16 * (i % CHURN_SIZES + 1);
                churn_blocks[i] = malloc(size);
                assert_non_null(churn_blocks[i]);
                memset(churn_blocks[i], 0x5a, size);
        }
}

static void churn_done(void) {
        for (size_t i = 0; i < CHURN_SIZES * CHURN_EACH; i++)
                free(churn_blocks[i]);
}

/* What plan_dup() must carry: the JSON, the explain text and the source positions (which
 * neither prints; the sandbox's mount errors name them). */
static char *plan_json_text(const Plan *p) {
        json_t *j = plan_to_json(p);
        char *s = json_dumps(j, JSON_SORT_KEYS | JSON_INDENT(1));
        char *text = plan_to_text(p);
        char *all = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&all, &size);

        assert_non_null(s);
        assert_non_null(text);
        assert_non_null(f);
        fprintf(f, "%s\n%s\n", s, text);
        for (size_t i = 0; i < p->sandbox.n_mounts; i++) {
                const SrcPos *pos = &p->sandbox.mounts[i].pos;
                fprintf(f, "mount %zu: %s:%u:%u\n", i, pos->file ? pos->file : "-", pos->line,
                        pos->column);
        }
        for (size_t i = 0; i < p->egress.n_allow; i++) {
                const SrcPos *pos = &p->egress.allow[i].pos;
                fprintf(f, "egress %zu: %s:%u:%u\n", i, pos->file ? pos->file : "-", pos->line,
                        pos->column);
        }
        assert_int_equal(fclose(f), 0);
        json_decref(j);
        free(s);
        free(text);
        return all;
}

/* plan_dup(): the copy reads the same as the original after the original and the profile it
 * was resolved from (when given) are freed and their memory overwritten: it shares nothing with
 * either. */
static void expect_dup_equal(Plan *p, Profile *profile) {
        char *before = plan_json_text(p), *after;
        Plan *c = NULL;

        assert_int_equal(plan_dup(p, &c), 0);
        assert_non_null(c);
        plan_free(p);
        profile_free(profile);
        churn();
        after = plan_json_text(c);
        assert_string_equal(before, after);
        churn_done();
        free(before);
        free(after);
        plan_free(c);
}

static void test_plan_dup(void **state) {
        static const char *const shipped[] = {
                "build",   "ci-untrusted",   "grader",           "hostile",         "kernel-lab",
                "minimal", "network-client", "pod-host-network", "system-container"
        };
        static char *caps[] = { "net_bind_service", NULL };
        HostFacts h = fixture_host();
        EgressRule rules[2] = { rule_of("pkg.example.org", 12), rule_of("*", 13) };
        size_t n = 0, positions = 0;

        /* freed blocks are overwritten at once (glibc), those glibc caches per thread by churn() */
        /* glibc overwrites what is freed; under AddressSanitizer, whose allocator has no
         * M_PERTURB (mallopt() returns 0), any read of freed memory is reported instead */
        bool perturb = mallopt(M_PERTURB, 0xa5) == 1;
        setenv("MOAT_DATA_DIR", SOURCE_ROOT, 1);
        for (size_t i = 0; i < sizeof(shipped) / sizeof(shipped[0]); i++) {
                HostFacts variants[3] = { h, h, h };
                variants[1].landlock_abi = 0;      /* escalations, degraded controls */
                variants[2].userns_usable = false; /* vm tier or a refusal */
                for (size_t v = 0; v < 3; v++, n++) {
                        char path[512];
                        MoatError e = {};
                        Profile *pr = NULL;
                        snprintf(path, sizeof(path), SOURCE_ROOT "/profiles/%s.yaml", shipped[i]);
                        if (profile_load(path, &pr, &e) < 0)
                                fail_msg("%s: %s", path, e.message);
                        Plan *p = resolve(pr, &variants[v]);
                        for (size_t m = 0; m < p->sandbox.n_mounts; m++)
                                positions += p->sandbox.mounts[m].pos.file != NULL;
                        expect_dup_equal(p, pr);
                }
        }
        assert_int_equal(n, 27);
        assert_true(positions > 0); /* the comparison above covers profile positions */
        /* the fields the shipped profiles leave empty: capabilities, egress rules, the vm tier */
        Profile pr = fixture_profile();
        pr.capabilities = caps;
        pr.network = NETWORK_OUTBOUND;
        pr.outbound.allow = rules;
        pr.outbound.n_allow = 1;
        expect_dup_equal(resolve(&pr, &h), NULL);
        pr.trust = TRUST_HOSTILE;
        expect_dup_equal(resolve(&pr, &h), NULL);
        pr.outbound.n_allow = 2; /* refused */
        expect_dup_equal(resolve(&pr, &h), NULL);
        if (perturb)
                assert_int_equal(mallopt(M_PERTURB, 0), 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_baseline_sandbox),
                cmocka_unit_test(test_rlimits),
                cmocka_unit_test(test_trust_hostile),
                cmocka_unit_test(test_kernel_needs),
                cmocka_unit_test(test_kernel_version),
                cmocka_unit_test(test_root_equivalent_caps),
                cmocka_unit_test(test_unknown_capability_refused),
                cmocka_unit_test(test_devices_and_full_os),
                cmocka_unit_test(test_system_mac),
                cmocka_unit_test(test_missing_controls_escalate),
                cmocka_unit_test(test_best_effort_degrades),
                cmocka_unit_test(test_cpu_time),
                cmocka_unit_test(test_disk),
                cmocka_unit_test(test_output),
                cmocka_unit_test(test_network_outbound),
                cmocka_unit_test(test_max_tier_refusal),
                cmocka_unit_test(test_never_downgrade),
                cmocka_unit_test(test_fail_closed_without_rules),
                cmocka_unit_test(test_seccomp_expansion),
                cmocka_unit_test(test_seccomp_profile_and_site),
                cmocka_unit_test(test_seccomp_personality),
                cmocka_unit_test(test_landlock_abi),
                cmocka_unit_test(test_mounts),
                cmocka_unit_test(test_pids_nproc_fallback),
                cmocka_unit_test(test_bind_exec),
                cmocka_unit_test(test_namespaces_and_ids),
                cmocka_unit_test(test_host_namespaces),
                cmocka_unit_test(test_vm_plan),
                cmocka_unit_test(test_json_and_text),
                cmocka_unit_test(test_json_documented),
                cmocka_unit_test(test_plan_dup),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}

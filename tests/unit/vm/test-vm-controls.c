/* SPDX-License-Identifier: MIT */
/* vm-controls.c: the plan's controls as configuration records for the guest init (they must
 * parse with the guest's own parser and carry what the plan says), the check of the guest's
 * report, and the per-control outcomes for the audit record. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "vm/guest/vm-proto.h"
#include "vm/vm-controls.h"

static PlanControl controls[] = {
        { .name = "separate-kernel", .status = CONTROL_REQUIRED },
        { .name = "no_new_privs", .status = CONTROL_REQUIRED },
        { .name = "caps", .status = CONTROL_REQUIRED },
        { .name = "seccomp", .status = CONTROL_REQUIRED },
        { .name = "landlock", .status = CONTROL_BEST_EFFORT },
        { .name = "nested-userns", .status = CONTROL_REQUIRED },
        { .name = "cgroup.memory", .status = CONTROL_REQUIRED },
        { .name = "cgroup.pids", .status = CONTROL_NOT_APPLICABLE },
        { .name = "rlimits", .status = CONTROL_REQUIRED },
};

static void fixture(Plan *p) {
        static char *arches[] = { "x86_64", "x32", "x86", NULL };
        static PlanSyscallRule rules[] = {
                { .name = "keyctl", .action = SECCOMP_ACTION_ERRNO, .errno_value = EPERM },
                { .name = "ptrace", .action = SECCOMP_ACTION_ERRNO, .errno_value = EPERM },
        };
        static PlanLandlockPath paths[] = { { .path = "/usr", .access = 0xd },
                                            { .path = "/", .access = 0x8 } };
        static PlanRlimit rlimits[] = { { .resource = RLIMIT_NOFILE, .soft = 256, .hard = 256 },
                                        { .resource = RLIMIT_CORE, .soft = 0, .hard = 0 } };
        static int keep[] = { 10 };

        *p = (Plan){ .tier = TIER_VM, .controls = controls, .n_controls = 9 };
        p->sandbox.seccomp = (PlanSeccomp){ .status = CONTROL_REQUIRED,
                                            .default_action = SECCOMP_ACTION_ALLOW,
                                            .arches = arches,
                                            .foreign_arch_action = SECCOMP_ACTION_KILL,
                                            .rules = rules,
                                            .n_rules = 2,
                                            .notify_denials = true };
        p->sandbox.landlock = (PlanLandlock){ .status = CONTROL_BEST_EFFORT,
                                              .abi = 6,
                                              .handled_fs = 0xffff,
                                              .handled_net = 3,
                                              .scoped = 3,
                                              .paths = paths,
                                              .n_paths = 2 };
        p->sandbox.rlimits = rlimits;
        p->sandbox.n_rlimits = 2;
        p->sandbox.caps_keep = keep;
        p->sandbox.n_caps_keep = 1;
        p->resources.memory = 256 << 20;
        p->resources.pids = 64; /* its control is not applicable: not sent */
}

static void test_config_records(void **state) {
        Plan p;
        VmControlSet set = {};
        char *buf = NULL, msg[256] = "";
        size_t len = 0;
        VmConfig *c = malloc(sizeof(*c));
        const char *why = NULL;

        fixture(&p);
        assert_int_equal(vm_config_append(&buf, &len, 'u', "1000", 4), 0);
        assert_int_equal(vm_config_append(&buf, &len, 'g', "1000", 4), 0);
        assert_int_equal(vm_config_append(&buf, &len, 'c', "/work", 5), 0);
        assert_int_equal(vm_config_append(&buf, &len, 'a', "true", 4), 0);
        assert_int_equal(vm_config_append(&buf, &len, 'i', "0f3a5c7e9b1d4f60a2c4e6f8091b3d5e", 32),
                         0);
        if (vm_controls_config(&p, &buf, &len, &set, msg, sizeof(msg)) < 0)
                fail_msg("vm_controls_config: %s", msg);
        assert_int_equal(vm_config_append(&buf, &len, 'z', "", 0), 0);
        if (vm_config_parse(buf, len, c, &why) < 0)
                fail_msg("the guest refuses the records: %s", why);

        unsigned all = (1u << VM_CONTROL_NO_NEW_PRIVS) | (1u << VM_CONTROL_CAPS) |
                       (1u << VM_CONTROL_SECCOMP) | (1u << VM_CONTROL_LANDLOCK) |
                       (1u << VM_CONTROL_USERNS) | (1u << VM_CONTROL_MEMORY) |
                       (1u << VM_CONTROL_RLIMITS);
        assert_int_equal(set.sent, all);
        assert_int_equal(c->controls, all);
        assert_int_equal(set.required, all & ~(1u << VM_CONTROL_LANDLOCK)); /* best-effort */
        /* A classic BPF program: starts by loading the architecture, ends with a return. */
        assert_true(c->n_seccomp > 4);
        assert_int_equal(c->seccomp[0].code, 0x20);
        assert_int_equal(c->seccomp[0].k, 4);
        assert_int_equal(c->seccomp[c->n_seccomp - 1].code & 0x07, 0x06);
        assert_int_equal(c->n_caps_keep, 1);
        assert_int_equal(c->caps_keep[0], 10);
        assert_false(c->landlock_required);
        assert_int_equal(c->landlock_fs, 0xffff);
        assert_int_equal(c->n_landlock, 2);
        assert_string_equal(c->landlock[1].path, "/");
        assert_int_equal(c->n_rlimits, 2);
        assert_int_equal(c->rlimits[0].resource, RLIMIT_NOFILE);
        assert_int_equal(c->memory_max, 256 << 20);
        assert_int_equal(c->pids_max, 0);
        free(c);
        free(buf);
}

static void test_check_and_outcomes(void **state) {
        Plan p;
        VmControlSet set = { .sent = 0x0f, .required = 0x07 };
        char msg[256];
        ControlOutcome *o;

        fixture(&p);
        assert_int_equal(vm_controls_check(&set, 0x0f, msg, sizeof(msg)), 0);
        assert_int_equal(vm_controls_check(&set, 0x07, msg, sizeof(msg)), 0); /* best-effort */
        assert_int_equal(vm_controls_check(&set, 0x0b, msg, sizeof(msg)), -EPROTO);
        assert_non_null(strstr(msg, "required control no_new_privs"));
        assert_int_equal(vm_controls_check(&set, 0x1f, msg, sizeof(msg)), -EPROTO);
        assert_non_null(strstr(msg, "not asked for"));

        /* started, everything reported */
        o = vm_controls_outcomes(&p, true, true, (1u << _VM_CONTROL_MAX) - 1);
        assert_int_equal(o[0], CONTROL_OUTCOME_APPLIED);
        assert_int_equal(o[3], CONTROL_OUTCOME_APPLIED);
        assert_int_equal(o[7], CONTROL_OUTCOME_NOT_APPLICABLE);
        free(o);
        /* started without Landlock (best-effort): degraded */
        o = vm_controls_outcomes(&p, true, true,
                                 ((1u << _VM_CONTROL_MAX) - 1) & ~(1u << VM_CONTROL_LANDLOCK));
        assert_int_equal(o[4], CONTROL_OUTCOME_DEGRADED);
        free(o);
        /* stopped at the start for a missing seccomp: failed, the rest not reached */
        o = vm_controls_outcomes(&p, false, true,
                                 ((1u << _VM_CONTROL_MAX) - 1) & ~(1u << VM_CONTROL_SECCOMP));
        assert_int_equal(o[3], CONTROL_OUTCOME_FAILED);
        assert_int_equal(o[2], CONTROL_OUTCOME_APPLIED);
        assert_int_equal(o[0], CONTROL_OUTCOME_NOT_REACHED);
        free(o);
        /* never started */
        o = vm_controls_outcomes(&p, false, false, 0);
        assert_int_equal(o[3], CONTROL_OUTCOME_NOT_REACHED);
        free(o);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_config_records),
                cmocka_unit_test(test_check_and_outcomes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

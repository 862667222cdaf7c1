/* SPDX-License-Identifier: MIT */
/* audit_record_build() on hand-built plans and outcomes: a successful run, a refusal, a failed
 * start, a timeout, a run with denials, and the edge cases a record must not smooth over. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "audit.h"

typedef struct Fixture {
        PlanControl controls[3];
        PlanDecision decisions[2];
        PlanSyscallRule rules[2];
        ControlOutcome outcomes[3];
        RunDenial denials[2];
        char *argv[4];
        Plan plan;
        RunRequest req;
        RunOutcome out;
        HostFacts host;
        AuditContext ctx;
} Fixture;

static void fixture_init(Fixture *f) {
        *f = (Fixture) {
                .controls = {
                        { .name = "userns", .status = CONTROL_REQUIRED, .detail = "uid 1000 -> 1000" },
                        { .name = "seccomp", .status = CONTROL_REQUIRED, .detail = "x86_64,x32,x86" },
                        { .name = "landlock", .status = CONTROL_BEST_EFFORT },
                },
                .decisions = {
                        { .rule_id = "profile-isolation", .sentence = "asked for sandbox", .min_tier = TIER_SANDBOX },
                        { .rule_id = "trust-hostile", .sentence = "hostile code needs a vm", .min_tier = TIER_VM },
                },
                .rules = {
                        { .name = "keyctl", .group = "keys", .origin = "policies/seccomp/default.yaml:41" },
                        { .name = "ptrace", .group = "debug", .origin = "profile ci.yaml:14:9" },
                },
                .outcomes = { CONTROL_OUTCOME_APPLIED, CONTROL_OUTCOME_APPLIED, CONTROL_OUTCOME_DEGRADED },
                .argv = { "make", "test", NULL },
        };
        f->plan = (Plan){
                .tier = TIER_SANDBOX,
                .profile_name = "ci-untrusted",
                .profile_path = "/usr/share/moat/profiles/ci-untrusted.yaml",
                .decisions = f->decisions,
                .n_decisions = 2,
                .controls = f->controls,
                .n_controls = 3,
                .trust = TRUST_UNTRUSTED,
        };
        memset(f->plan.profile_digest, 0xab, 32);
        memset(f->plan.policy_digest, 0x01, 32);
        f->plan.sandbox.seccomp.rules = f->rules;
        f->plan.sandbox.seccomp.n_rules = 2;
        f->req = (RunRequest){ .argv = f->argv, .workdir = "/home/u/src" };
        f->out = (RunOutcome){
                .started = true,
                .exit_status = 0,
                .exit_code = 0,
                .wall_ns = 1500000000ULL,
                .cpu_user_ns = 700,
                .cpu_sys_ns = 300,
                .peak_memory = 64 << 20,
                .peak_pids = 7,
                .controls = f->outcomes,
                .n_controls = 3,
        };
        snprintf(f->out.tier_detail, sizeof(f->out.tier_detail), "cgroup v1");
        snprintf(f->host.kernel_release, sizeof(f->host.kernel_release), "6.18.0");
        snprintf(f->host.arch, sizeof(f->host.arch), "x86_64");
        f->host.landlock_abi = 6;
        f->host.userns_usable = true;
        f->host.cgroup_layout = CGROUP_LAYOUT_HYBRID;
        f->ctx = (AuditContext){
                .plan = &f->plan,
                .host = &f->host,
                .request = &f->req,
                .outcome = &f->out,
                .profile_arg = "ci-untrusted",
                .start_realtime_ns = 1700000000123456789ULL,
        };
}

static const char *str_at(json_t *r, const char *path) {
        char buf[256], *save = NULL;
        json_t *j = r;

        snprintf(buf, sizeof(buf), "%s", path);
        for (char *k = strtok_r(buf, ".", &save); k && j; k = strtok_r(NULL, ".", &save)) {
                if (json_is_array(j))
                        j = json_array_get(j, strtoul(k, NULL, 10));
                else
                        j = json_object_get(j, k);
        }
        return json_string_value(j);
}

static json_int_t int_at(json_t *r, const char *a, const char *b) {
        json_t *j = json_object_get(r, a);
        return json_integer_value(b ? json_object_get(j, b) : j);
}

static void test_successful_run(void **state) {
        Fixture f;
        fixture_init(&f);
        json_auto_t *r = audit_record_build(&f.ctx);

        assert_non_null(r);
        assert_int_equal(int_at(r, "schema", NULL), 1);
        assert_string_equal(str_at(r, "type"), "run");
        assert_string_equal(str_at(r, "result"), "exited");
        assert_string_equal(str_at(r, "time"), "2023-11-14T22:13:20.123456789Z");
        assert_string_equal(str_at(r, "tier"), "sandbox");
        assert_string_equal(str_at(r, "tier_detail"), "cgroup v1");
        assert_string_equal(str_at(r, "command.argv.1"), "test");
        assert_string_equal(str_at(r, "command.workdir"), "/home/u/src");
        assert_string_equal(str_at(r, "profile.name"), "ci-untrusted");
        assert_string_equal(str_at(r, "profile.sha256"),
                            "abababababababababababababababababababababababababababababababab");
        assert_string_equal(str_at(r, "policy.sha256"),
                            "0101010101010101010101010101010101010101010101010101010101010101");
        assert_string_equal(str_at(r, "decisions.1.rule"), "trust-hostile");
        assert_string_equal(str_at(r, "decisions.1.min_tier"), "vm");
        assert_string_equal(str_at(r, "controls.0.outcome"), "applied");
        assert_string_equal(str_at(r, "controls.2.outcome"), "degraded");
        assert_string_equal(str_at(r, "controls.2.planned"), "best-effort");
        assert_null(json_object_get(json_array_get(json_object_get(r, "controls"), 2),
                                    "contract_violation"));
        assert_int_equal(int_at(r, "exit", "status"), 0);
        assert_int_equal(int_at(r, "exit", "code"), 0);
        assert_null(json_object_get(json_object_get(r, "exit"), "signal"));
        assert_int_equal(int_at(r, "usage", "wall_ns"), 1500000000LL);
        assert_int_equal(int_at(r, "usage", "peak_memory_bytes"), 64 << 20);
        assert_int_equal(int_at(r, "usage", "peak_pids"), 7);
        assert_string_equal(str_at(r, "host_facts.cgroup_layout"), "hybrid");
        assert_int_equal(int_at(r, "host_facts", "landlock_abi"), 6);
        assert_int_equal(json_array_size(json_object_get(r, "denials")), 0);
        assert_null(json_object_get(r, "error"));
        /* The chain fields are the log's business, not the builder's. */
        assert_null(json_object_get(r, "hash"));
        assert_null(json_object_get(r, "prev"));
}

static void test_refusal_marks_every_control_not_reached(void **state) {
        Fixture f;
        fixture_init(&f);
        f.plan.refused = true;
        f.plan.refusal = "the vm tier cannot run here: no guest kernel";
        f.plan.tier = TIER_VM;
        f.ctx.outcome = NULL;
        json_auto_t *r = audit_record_build(&f.ctx);

        assert_non_null(r);
        assert_string_equal(str_at(r, "result"), "refused");
        assert_string_equal(str_at(r, "tier"), "vm");
        assert_int_equal(int_at(r, "exit", "status"), 125);
        assert_string_equal(str_at(r, "error.message"),
                            "the vm tier cannot run here: no guest kernel");
        for (size_t i = 0; i < 3; i++) {
                char path[32];
                snprintf(path, sizeof(path), "controls.%zu.outcome", i);
                assert_string_equal(str_at(r, path), "not-reached");
        }
        assert_null(json_object_get(r, "usage"));
}

static void test_failed_start(void **state) {
        Fixture f;
        fixture_init(&f);
        f.out.started = false;
        f.out.exit_status = 125;
        f.out.exit_code = -1;
        f.out.failed_errno = ENOENT;
        snprintf(f.out.failed_step, sizeof(f.out.failed_step), "mount /work");
        snprintf(f.out.message, sizeof(f.out.message),
                 "cannot bind /work: No such file or directory");
        f.outcomes[1] = CONTROL_OUTCOME_FAILED;
        f.outcomes[2] = CONTROL_OUTCOME_NOT_REACHED;
        json_auto_t *r = audit_record_build(&f.ctx);

        assert_non_null(r);
        assert_string_equal(str_at(r, "result"), "failed-to-start");
        assert_int_equal(int_at(r, "exit", "status"), 125);
        assert_null(json_object_get(json_object_get(r, "exit"), "code"));
        assert_string_equal(str_at(r, "error.step"), "mount /work");
        assert_string_equal(str_at(r, "error.errno_name"), "ENOENT");
        assert_int_equal(int_at(r, "error", "errno"), ENOENT);
        assert_string_equal(str_at(r, "error.message"),
                            "cannot bind /work: No such file or directory");
        assert_string_equal(str_at(r, "controls.1.outcome"), "failed");
        assert_string_equal(str_at(r, "controls.2.outcome"), "not-reached");
}

static void test_timeout(void **state) {
        Fixture f;
        fixture_init(&f);
        f.out.timed_out = true;
        f.out.signal = SIGKILL;
        f.out.exit_code = -1;
        f.out.exit_status = 128 + SIGKILL;
        json_auto_t *r = audit_record_build(&f.ctx);

        assert_non_null(r);
        assert_string_equal(str_at(r, "result"), "timeout");
        assert_string_equal(str_at(r, "exit.signal_name"), "SIGKILL");
        assert_int_equal(int_at(r, "exit", "signal"), SIGKILL);
        assert_int_equal(int_at(r, "exit", "status"), 137);
        assert_true(json_is_true(json_object_get(json_object_get(r, "exit"), "timed_out")));
        assert_null(json_object_get(json_object_get(r, "exit"), "code"));
}

static void test_denials(void **state) {
        Fixture f;
        fixture_init(&f);
        f.denials[0] = (RunDenial){ .syscall = "keyctl",
                                    .arch = "x86_64",
                                    .count = 3,
                                    .first_ns = 1700000000000000000ULL,
                                    .rule_index = 0 };
        f.denials[1] =
                (RunDenial){ .syscall = "ptrace", .arch = "x86", .count = 1, .rule_index = 1 };
        f.out.denials = f.denials;
        f.out.n_denials = 2;
        json_auto_t *r = audit_record_build(&f.ctx);
        json_t *d = json_object_get(r, "denials");

        assert_non_null(r);
        assert_int_equal(json_array_size(d), 2);
        assert_string_equal(str_at(r, "denials.0.syscall"), "keyctl");
        assert_string_equal(str_at(r, "denials.0.arch"), "x86_64");
        assert_int_equal(json_integer_value(json_object_get(json_array_get(d, 0), "count")), 3);
        assert_string_equal(str_at(r, "denials.0.first_seen"), "2023-11-14T22:13:20.000000000Z");
        assert_string_equal(str_at(r, "denials.0.group"), "keys");
        assert_string_equal(str_at(r, "denials.0.origin"), "policies/seccomp/default.yaml:41");
        assert_string_equal(str_at(r, "denials.1.syscall"), "ptrace");
        assert_string_equal(str_at(r, "denials.1.arch"), "x86");
        assert_string_equal(str_at(r, "denials.1.origin"), "profile ci.yaml:14:9");
}

static void test_denial_with_bad_rule_index_has_no_origin(void **state) {
        Fixture f;
        fixture_init(&f);
        f.denials[0] =
                (RunDenial){ .syscall = "keyctl", .arch = "x86_64", .count = 1, .rule_index = 7 };
        /* A supervisor handing over an unterminated name must not make us read past it. */
        memset(f.denials[1].syscall, 'a', sizeof(f.denials[1].syscall));
        memset(f.denials[1].arch, 'b', sizeof(f.denials[1].arch));
        f.denials[1].rule_index = -1;
        f.out.denials = f.denials;
        f.out.n_denials = 2;
        json_auto_t *r = audit_record_build(&f.ctx);

        assert_non_null(r);
        assert_null(str_at(r, "denials.0.origin"));
        assert_null(str_at(r, "denials.0.group"));
        assert_int_equal(strlen(str_at(r, "denials.1.syscall")), sizeof(f.denials[1].syscall));
        assert_int_equal(strlen(str_at(r, "denials.1.arch")), sizeof(f.denials[1].arch));
}

static void test_degraded_required_control_is_flagged(void **state) {
        Fixture f;
        fixture_init(&f);
        f.outcomes[1] = CONTROL_OUTCOME_DEGRADED; /* seccomp was REQUIRED */
        json_auto_t *r = audit_record_build(&f.ctx);

        assert_non_null(r);
        assert_string_equal(str_at(r, "controls.1.outcome"), "degraded");
        assert_true(json_is_true(json_object_get(json_array_get(json_object_get(r, "controls"), 1),
                                                 "contract_violation")));
}

static void test_missing_control_outcomes_are_not_reported_as_applied(void **state) {
        Fixture f;
        fixture_init(&f);
        f.out.controls = NULL;
        f.out.n_controls = 0;
        json_auto_t *r = audit_record_build(&f.ctx);

        assert_non_null(r);
        assert_string_equal(str_at(r, "controls.0.outcome"), "not-reported");
}

static void test_no_plan(void **state) {
        Fixture f;
        fixture_init(&f);
        Policy policy = {};
        memset(policy.digest, 0x22, 32);
        f.ctx.plan = NULL;
        f.ctx.outcome = NULL;
        f.ctx.policy = &policy;
        f.ctx.host = NULL;
        f.ctx.profile_arg = "./broken.yaml";
        f.ctx.error = "broken.yaml:3:7: unknown key \"isolaton\"";
        json_auto_t *r = audit_record_build(&f.ctx);

        assert_non_null(r);
        assert_string_equal(str_at(r, "result"), "failed-to-start");
        assert_string_equal(str_at(r, "profile.arg"), "./broken.yaml");
        assert_null(json_object_get(json_object_get(r, "profile"), "sha256"));
        assert_string_equal(str_at(r, "policy.sha256"),
                            "2222222222222222222222222222222222222222222222222222222222222222");
        assert_string_equal(str_at(r, "error.message"),
                            "broken.yaml:3:7: unknown key \"isolaton\"");
        assert_null(json_object_get(r, "tier"));
        assert_null(json_object_get(r, "host_facts"));
        assert_int_equal(json_array_size(json_object_get(r, "controls")), 0);
}

static void test_non_utf8_argv_is_kept_visible(void **state) {
        Fixture f;
        fixture_init(&f);
        char bad[] = { 'a', (char) 0xff, 'b', '\\', 0 };
        f.argv[1] = bad;
        json_auto_t *r = audit_record_build(&f.ctx);

        assert_non_null(r);
        assert_string_equal(str_at(r, "command.argv.1"), "a\\xffb\\x5c");
}

static void test_huge_argv_is_truncated_and_flagged(void **state) {
        Fixture f;
        fixture_init(&f);
        static char big[100 * 1024];
        char *argv[] = { big, big, big, big, NULL };
        memset(big, 'x', sizeof(big) - 1);
        f.req.argv = argv;
        json_auto_t *r = audit_record_build(&f.ctx);

        assert_non_null(r);
        assert_true(json_is_true(json_object_get(json_object_get(r, "command"), "argv_truncated")));
        assert_int_equal(int_at(r, "command", "argc"), 4);
        assert_int_equal(json_array_size(json_object_get(json_object_get(r, "command"), "argv")),
                         2);
}

static void test_identity(void **state) {
        Fixture f;
        fixture_init(&f);
        json_auto_t *r = audit_record_build(&f.ctx);

        assert_int_equal(audit_record_set_identity(r, "build-7", 1000, 100, "alice"), 0);
        assert_string_equal(str_at(r, "host"), "build-7");
        assert_string_equal(str_at(r, "user.name"), "alice");
        assert_int_equal(int_at(r, "user", "uid"), 1000);
        assert_int_equal(int_at(r, "user", "gid"), 100);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_successful_run),
                cmocka_unit_test(test_refusal_marks_every_control_not_reached),
                cmocka_unit_test(test_failed_start),
                cmocka_unit_test(test_timeout),
                cmocka_unit_test(test_denials),
                cmocka_unit_test(test_denial_with_bad_rule_index_has_no_origin),
                cmocka_unit_test(test_degraded_required_control_is_flagged),
                cmocka_unit_test(test_missing_control_outcomes_are_not_reported_as_applied),
                cmocka_unit_test(test_no_plan),
                cmocka_unit_test(test_non_utf8_argv_is_kept_visible),
                cmocka_unit_test(test_huge_argv_is_truncated_and_flagged),
                cmocka_unit_test(test_identity),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

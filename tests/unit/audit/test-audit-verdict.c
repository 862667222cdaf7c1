/* SPDX-License-Identifier: MIT */
/* run_verdict(): every verdict from the facts that make it, the precedence between them, and
 * the look-alikes that must not be taken for one (a SIGKILL is not an OOM kill, a SIGXCPU
 * without the RLIMIT_CPU fallback is just a signal). audit_result_build() for the shapes of
 * the --result document. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "audit.h"

static RunOutcome exited(int code) {
        return (RunOutcome){ .started = true, .exit_code = code, .exit_status = code };
}

static RunOutcome killed(int sig) {
        return (RunOutcome){
                .started = true, .exit_code = -1, .signal = sig, .exit_status = 128 + sig
        };
}

static void assert_verdict(const RunOutcome *o, bool refused, const char *want) {
        assert_string_equal(run_verdict_to_string(run_verdict(o, refused)), want);
}

static void test_no_executor(void **state) {
        assert_verdict(NULL, true, "refused");
        assert_verdict(NULL, false, "failed-to-start");
        RunOutcome o = { .started = false, .exit_status = 127, .exit_code = -1 };
        assert_verdict(&o, false, "failed-to-start");
}

static void test_exited_and_signaled(void **state) {
        RunOutcome o = exited(0);
        assert_verdict(&o, false, "exited");
        o = exited(3);
        assert_verdict(&o, false, "exited");
        o = killed(SIGSEGV);
        assert_verdict(&o, false, "signaled");
        /* a SIGKILL alone says nothing about why */
        o = killed(SIGKILL);
        assert_verdict(&o, false, "signaled");
        /* SIGXCPU without the RLIMIT_CPU fallback: sent by someone, not by a limit of moat's */
        o = killed(SIGXCPU);
        assert_verdict(&o, false, "signaled");
}

static void test_cpu_time(void **state) {
        RunOutcome o = killed(SIGKILL);
        o.cpu_time_exceeded = true;
        assert_verdict(&o, false, "cpu-time");
        /* the watcher's kill wins over an OOM kill counted on the way */
        o.oom_killed = true;
        assert_verdict(&o, false, "cpu-time");
        /* RLIMIT_CPU fallback: the command died by SIGXCPU */
        o = killed(SIGXCPU);
        o.cpu_rlimit_hard_ns = 2000000000ULL;
        assert_verdict(&o, false, "cpu-time");
        /* ... but its SIGKILL at the hard limit cannot be told from another */
        o = killed(SIGKILL);
        o.cpu_rlimit_hard_ns = 2000000000ULL;
        o.cpu_user_ns = 3000000000ULL;
        assert_verdict(&o, false, "signaled");
        /* a shell whose child died by SIGXCPU exits 152: its own exit */
        o = exited(128 + SIGXCPU);
        o.cpu_rlimit_hard_ns = 2000000000ULL;
        assert_verdict(&o, false, "exited");
}

static void test_timeout(void **state) {
        RunOutcome o = killed(SIGTERM);
        o.timed_out = true;
        assert_verdict(&o, false, "timeout");
        o = exited(0); /* exited cleanly on the timeout's SIGTERM: still the timeout */
        o.timed_out = true;
        assert_verdict(&o, false, "timeout");
        o.cpu_time_exceeded = true;
        assert_verdict(&o, false, "cpu-time");
}

static void test_output(void **state) {
        RunOutcome o = killed(SIGKILL);
        o.output_exceeded = true;
        assert_verdict(&o, false, "output");
        /* the tree ended before the relay saw the byte too many: cut all the same */
        o = exited(0);
        o.output_exceeded = true;
        assert_verdict(&o, false, "output");
        /* moat's other kills come first; the relay's kill wins over the kernel's counters */
        o.timed_out = true;
        assert_verdict(&o, false, "timeout");
        o = killed(SIGKILL);
        o.output_exceeded = true;
        o.oom_killed = true;
        o.pids_max_events = 1;
        assert_verdict(&o, false, "output");
        /* never from a SIGKILL alone, nor when the relay did not stop anything */
        o = killed(SIGKILL);
        assert_verdict(&o, false, "signaled");
}

static void test_memory(void **state) {
        RunOutcome o = killed(SIGKILL);
        o.oom_killed = true;
        assert_verdict(&o, false, "memory");
        /* a child OOM-killed, the parent exits 1: the limit was hit */
        o = exited(1);
        o.oom_killed = true;
        assert_verdict(&o, false, "memory");
        o.timed_out = true;
        assert_verdict(&o, false, "timeout");
}

static void test_pids(void **state) {
        RunOutcome o = exited(2);
        o.pids_max_events = 5;
        assert_verdict(&o, false, "pids");
        o = killed(SIGSEGV);
        o.pids_max_events = 1;
        assert_verdict(&o, false, "pids");
        /* the program coped with EAGAIN and succeeded */
        o = exited(0);
        o.pids_max_events = 5;
        assert_verdict(&o, false, "exited");
        o = exited(2);
        o.pids_max_events = 5;
        o.oom_killed = true;
        assert_verdict(&o, false, "memory");
}

/* resources.disk under RLIMIT_FSIZE: the command's death by SIGXFSZ, and only with the limit
 * in force; an EFBIG the program handled itself is its own exit. Under a project quota: the
 * usage at the bound in a run that did not succeed. */
static void test_disk(void **state) {
        RunOutcome o = killed(SIGXFSZ);
        o.disk_rlimit_bytes = 8 << 20;
        assert_verdict(&o, false, "disk");
        o.pids_max_events = 1; /* the certain cause first */
        assert_verdict(&o, false, "disk");
        o = killed(SIGXFSZ); /* no disk limit (tmpfs_total's RLIMIT_FSIZE, or a kill): a signal */
        assert_verdict(&o, false, "signaled");
        o = exited(1); /* SIGXFSZ ignored, EFBIG reported by the program */
        o.disk_rlimit_bytes = 8 << 20;
        assert_verdict(&o, false, "exited");
        o = killed(SIGXFSZ);
        o.disk_rlimit_bytes = 8 << 20;
        o.timed_out = true;
        assert_verdict(&o, false, "timeout");

        /* a project quota: EDQUOT, no signal; usage at the bound and a failed run */
        o = exited(1);
        o.disk_quota_bytes = 1 << 20;
        o.disk_added = (1 << 20) - 4096;
        assert_verdict(&o, false, "disk");
        o = exited(0); /* handled it and succeeded */
        o.disk_quota_bytes = 1 << 20;
        o.disk_added = 1 << 20;
        assert_verdict(&o, false, "exited");
        o = exited(1); /* far below the bound: not the cause */
        o.disk_quota_bytes = 1 << 20;
        o.disk_added = 4096;
        assert_verdict(&o, false, "exited");
}

static void test_names(void **state) {
        static const char *const want[] = { "exited",  "signaled",       "timeout", "cpu-time",
                                            "memory",  "pids",           "disk",    "output",
                                            "refused", "failed-to-start" };
        assert_int_equal(_RUN_VERDICT_MAX, sizeof(want) / sizeof(want[0]));
        for (int v = 0; v < _RUN_VERDICT_MAX; v++)
                assert_string_equal(run_verdict_to_string((RunVerdict) v), want[v]);
        assert_null(run_verdict_to_string(_RUN_VERDICT_MAX));
        assert_null(run_verdict_to_string((RunVerdict) -1));
}

static void test_result_document(void **state) {
        PlanControl controls[2] = {
                { .name = "cgroup.memory", .status = CONTROL_DEGRADED },
                { .name = "cpu_time", .status = CONTROL_REQUIRED },
        };
        ControlOutcome outcomes[2] = { CONTROL_OUTCOME_DEGRADED, CONTROL_OUTCOME_APPLIED };
        Plan plan = { .tier = TIER_SANDBOX, .controls = controls, .n_controls = 2 };
        plan.resources.cpu_time_ms = 1000;
        plan.resources.output_bytes = 1 << 20;
        RunOutcome o = killed(SIGKILL);
        o.cpu_time_exceeded = true;
        o.cpu_user_ns = 1001000000ULL;
        o.wall_ns = 1100000000ULL;
        o.controls = outcomes;
        o.n_controls = 2;
        AuditContext ctx = { .plan = &plan, .outcome = &o };

        json_t *j = audit_result_build(&ctx);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "verdict")), "cpu-time");
        assert_int_equal(json_integer_value(json_object_get(j, "status")), 137);
        assert_true(json_is_null(json_object_get(j, "exit_code")));
        assert_int_equal(json_integer_value(json_object_get(j, "signal")), SIGKILL);
        assert_string_equal(json_string_value(json_object_get(j, "signal_name")), "SIGKILL");
        assert_int_equal(json_integer_value(json_object_get(j, "cpu_user_ns")), 1001000000);
        assert_true(json_is_null(json_object_get(j, "peak_memory_bytes")));
        assert_int_equal(
                json_integer_value(json_object_get(json_object_get(j, "limits"), "cpu_time_ms")),
                1000);
        assert_int_equal(
                json_integer_value(json_object_get(json_object_get(j, "limits"), "output_bytes")),
                1 << 20);
        assert_true(json_is_null(json_object_get(json_object_get(j, "limits"), "memory_bytes")));
        assert_int_equal(json_array_size(json_object_get(j, "degraded")), 1);
        assert_string_equal(json_string_value(json_array_get(json_object_get(j, "degraded"), 0)),
                            "cgroup.memory");
        json_decref(j);

        /* refused: no outcome; the refusal is the message, usage is null */
        plan.refused = true;
        plan.refusal = "required control limits cannot be enforced";
        ctx = (AuditContext){ .plan = &plan };
        j = audit_result_build(&ctx);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "verdict")), "refused");
        assert_int_equal(json_integer_value(json_object_get(j, "status")), 125);
        assert_true(json_is_null(json_object_get(j, "wall_ns")));
        assert_true(json_is_null(json_object_get(j, "signal")));
        assert_string_equal(json_string_value(json_object_get(j, "message")), plan.refusal);
        json_decref(j);

        /* no plan at all (the profile did not load) */
        ctx = (AuditContext){ .error = "ci.yaml:3:1: unknown key" };
        j = audit_result_build(&ctx);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "verdict")), "failed-to-start");
        assert_true(json_is_null(json_object_get(j, "tier")));
        json_decref(j);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_no_executor), cmocka_unit_test(test_exited_and_signaled),
                cmocka_unit_test(test_cpu_time),    cmocka_unit_test(test_timeout),
                cmocka_unit_test(test_output),      cmocka_unit_test(test_memory),
                cmocka_unit_test(test_pids),        cmocka_unit_test(test_disk),
                cmocka_unit_test(test_names),       cmocka_unit_test(test_result_document),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/* The shipped default seccomp set (policies/seccomp/default.yaml), resolved for the
 * ci-untrusted profile, through the real compiler and loader: the probe list of test-seccomp
 * must get the same answers, and notify mode must answer every probe exactly as ERRNO mode
 * does. This ties the policy file, the resolver and sys/seccomp together; the fixture tests in
 * test-seccomp.c do not depend on any of that. */
#include <poll.h>

#include "seccomp-probes.h"
#include "sys/seccomp-notify.h"
#include "plan/plan.h"
#include "policy/policy.h"
#include "profile/profile.h"
#include "host/host.h"

typedef struct Loaded {
        Profile *profile;
        Policy *policy;
        HostFacts host;
        Plan *plan;
} Loaded;

static Loaded loaded;

static int setup(void **state) {
        const char *src = getenv("MOAT_SOURCE_DIR");
        char profile[4096], policies[4096], buf[1024];
        MoatError e = {};
        int r;

        if (!src) {
                fprintf(stderr, "MOAT_SOURCE_DIR is not set (run through meson test)\n");
                return -1;
        }
        snprintf(profile, sizeof(profile), "%s/profiles/ci-untrusted.yaml", src);
        snprintf(policies, sizeof(policies), "%s/policies", src);
        r = profile_load(profile, &loaded.profile, &e);
        if (r >= 0)
                r = policy_load(policies, NULL, &loaded.policy, &e);
        if (r >= 0)
                r = host_facts_probe(&loaded.host);
        if (r >= 0)
                r = plan_resolve(loaded.profile, loaded.policy, &loaded.host, &loaded.plan);
        if (r < 0) {
                fprintf(stderr, "cannot resolve the plan: %s\n",
                        moat_error_is_set(&e) ? moat_error_format(&e, buf, sizeof(buf))
                                              : strerror(-r));
                return -1;
        }
        return 0;
}

static int teardown(void **state) {
        loaded.plan = plan_free(loaded.plan);
        loaded.policy = policy_free(loaded.policy);
        loaded.profile = profile_free(loaded.profile);
        host_facts_done(&loaded.host);
        return 0;
}

static PlanSeccomp policy_seccomp(bool notify) {
        PlanSeccomp p = loaded.plan->sandbox.seccomp; /* shallow copy, only the flag differs */

        p.notify_denials = notify;
        return p;
}

static void run_errno_mode(int res[CHILD_MAX_RESULTS]) {
        PlanSeccomp p = policy_seccomp(false);
        SeccompProgram prog = {};
        int status;

        assert_true(p.n_rules > 0);
        assert_int_equal(sys_seccomp_compile(&p, &prog), 0);
        status = child_run(child_default, &prog, res);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        sys_seccomp_program_done(&prog);
}

static void test_policy_denies(void **state) {
        int res[CHILD_MAX_RESULTS];

        assert_int_equal(loaded.plan->sandbox.seccomp.status, CONTROL_REQUIRED);
        run_errno_mode(res);
        assert_default_denied(res);
}

typedef struct NotifyChild {
        SeccompProgram *prog;
        int sock;
} NotifyChild;

static void child_notify_probes(int *res, void *userdata) {
        NotifyChild *c = userdata;
        int fd = -EBADF;

        res[P_LOAD] = child_load(c->prog, &fd);
        if (res[P_LOAD] < 0)
                return;
        if (child_send_fd(c->sock, fd) < 0) {
                res[P_LOAD] = -EIO;
                return;
        }
        close(fd);
        probe_default(res);
}

static void test_policy_notify_same_answers(void **state) {
        PlanSeccomp p = policy_seccomp(true);
        SeccompProgram prog = {};
        DenialTable t = {};
        int sv[2], res_pipe[2], expected[CHILD_MAX_RESULTS], res[CHILD_MAX_RESULTS];
        int notify_fd, status;
        NotifyChild c = { .prog = &prog };
        pid_t pid;

        run_errno_mode(expected);
        assert_int_equal(sys_seccomp_compile(&p, &prog), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(pipe2(res_pipe, O_CLOEXEC), 0);
        c.sock = sv[1];
        alarm(30);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int out[CHILD_MAX_RESULTS];

                child_default_signals();
                for (size_t i = 0; i < CHILD_MAX_RESULTS; i++)
                        out[i] = CHILD_NO_RESULT;
                child_notify_probes(out, &c);
                _exit(write(res_pipe[1], out, sizeof(out)) == (ssize_t) sizeof(out) ? 0 : 2);
        }
        close(sv[1]);
        close(res_pipe[1]);
        notify_fd = child_recv_fd(sv[0]);
        assert_true(notify_fd >= 0);
        for (;;) {
                struct pollfd pfd = { .fd = notify_fd, .events = POLLIN };

                assert_true(poll(&pfd, 1, 10000) > 0);
                if (pfd.revents & POLLIN)
                        assert_true(sys_seccomp_notify_handle(notify_fd, &p, &t) >= 0);
                else if (pfd.revents & (POLLHUP | POLLERR))
                        break;
        }
        assert_int_equal(read(res_pipe[0], res, sizeof(res)), (ssize_t) sizeof(res));
        assert_int_equal(waitpid(pid, &status, 0), pid);
        alarm(0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        for (int i = 0; i < _P_MAX; i++)
                assert_int_equal(res[i], expected[i]);
        /* Every denied probe went through the supervisor and was recorded with its rule. */
        assert_true(t.n >= 9);
        for (size_t i = 0; i < t.n; i++) {
                assert_true(t.items[i].rule_index >= 0);
                assert_string_equal(p.rules[t.items[i].rule_index].name, t.items[i].syscall);
        }

        close(notify_fd);
        close(res_pipe[0]);
        close(sv[0]);
        denial_table_done(&t);
        sys_seccomp_program_done(&prog);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_policy_denies),
                cmocka_unit_test(test_policy_notify_same_answers),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}

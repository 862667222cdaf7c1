/* SPDX-License-Identifier: MIT */
/* seccomp compile + load: each probe runs in a child that sets no_new_privs, loads the filter
 * and records errno values; the parent asserts. Every expected errno differs from what the same
 * call gives without the filter (checked by test_probes_differ_without_filter), so removing a
 * rule or the filter fails these tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <linux/audit.h>
#include <linux/keyctl.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include "basic/macros.h"
#include "child.h"
#include "seccomp-probes.h"
#include "seccomp-fixture.h"
#include "sys/caps.h"
#include "sys/seccomp.h"
#include "sys/seccomp-notify.h"

static void test_default_set_denies(void **state) {
        PlanSeccomp p;
        SeccompProgram prog = {};
        int res[CHILD_MAX_RESULTS], status;

        fixture_default_seccomp(&p, false);
        assert_int_equal(sys_seccomp_compile(&p, &prog), 0);
        assert_false(prog.notify);
        assert_non_null(prog.fprog.filter);
        status = child_run(child_default, &prog, res);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_default_denied(res);
        sys_seccomp_program_done(&prog);
        fixture_seccomp_done(&p);
}

/* Without the filter every denied probe must give something else, or the test above could
 * not detect a missing rule. The namespace and AF_PACKET probes succeed only with privilege:
 * as another uid they are EPERM anyway, so only a root run proves those rules (CI is root). */
static void test_probes_differ_without_filter(void **state) {
        int res[CHILD_MAX_RESULTS], status;
        const int denied[] = { P_KEYCTL, P_BPF,    P_TIOCSTI,    P_TIOCSTI_HIGH,
                               P_MOUNT,  P_PTRACE, P_PERSONALITY };

        status = child_run(child_unfiltered, NULL, res);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        for (size_t i = 0; i < ELEMENTSOF(denied); i++) {
                if (res[denied[i]] == EPERM)
                        fail_msg("probe %d gives EPERM without the filter", denied[i]);
        }
        assert_int_not_equal(res[P_CLONE3], ENOSYS);
        assert_int_not_equal(res[P_SECCOMP_MODE], 2);
        if (geteuid() == 0) {
                assert_int_not_equal(res[P_CLONE_NS], EPERM);
                assert_int_not_equal(res[P_UNSHARE_USER], EPERM);
                assert_int_not_equal(res[P_PACKET], EPERM);
        }
}

/* Does the kernel accept int 0x80 from a 64-bit process? Asked of the kernel, in a child, each
 * time: CONFIG_IA32_EMULATION can be built in and still be off at run time (ia32_emulation=off,
 * CONFIG_IA32_EMULATION_DEFAULT_DISABLED, or a guest kernel that turns it off itself, which
 * logs "32-bit emulation disabled"). A kernel without the i386 entry has no user-callable int
 * 0x80 gate: the instruction raises a general protection fault, SIGSEGV; an emulating kernel
 * may answer ENOSYS instead. Those two are a refusal, and *ret_why says which; anything else
 * (getpid through int 0x80 giving another pid, another signal, fork failing) fails the test, so
 * a broken probe cannot pass for a kernel without i386. */
static bool ia32_accepted(const char **ret_why) {
        pid_t pid = fork();
        int status;

        assert_true(pid >= 0);
        if (pid == 0) {
                long r;

                child_default_signals();
                r = syscall_i386(NR_I386_GETPID, 0, 0, 0);
                _exit(r == getpid() ? 0 : r == -ENOSYS ? 1 : 2);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return true;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 1) {
                *ret_why = "int 0x80 returned ENOSYS";
                return false;
        }
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV) {
                *ret_why =
                        "int 0x80 raised a general protection fault (SIGSEGV): the kernel has "
                        "no i386 syscall entry, IA32 emulation is off or not built";
                return false;
        }
        fail_msg("int 0x80 probe: unexpected wait status 0x%x", (unsigned) status);
        return false;
}

/* The i386 parts are tests of their own, so that a refusal shows up as a skip in the counts,
 * with its reason, and never as a pass. Not a failure under MOAT_MUST_WORK: where the kernel
 * refuses int 0x80 no workload can enter the i386 ABI either. Call it before allocating: skip()
 * does not return. */
static void skip_unless_ia32(void) {
        const char *why = NULL;

        if (ia32_accepted(&why))
                return;
        printf("# i386 probes not run: %s\n", why);
        fflush(stdout);
        skip();
}

enum {
        A_LOAD,
        A_X32_KEYCTL,
        A_I386_KEYCTL,
        A_I386_VM86,
        A_I386_GETPID
};

static void child_other_abis(int *res, void *userdata) {
        const bool *with_i386 = ((void **) userdata)[1];
        long r;

        res[A_LOAD] = child_load(((void **) userdata)[0], NULL);
        if (res[A_LOAD] < 0)
                return;
        /* Raw returns are -errno. x32: without the filter this kernel (no CONFIG_X86_X32_ABI)
         * gives ENOSYS, with it the deny rule's EPERM. */
        r = syscall_x32(NR_X32_KEYCTL, KEYCTL_BOGUS, 0, 0);
        res[A_X32_KEYCTL] = r < 0 ? (int) -r : 0;
        if (!*with_i386)
                return;
        r = syscall_i386(NR_I386_KEYCTL, KEYCTL_BOGUS, 0, 0);
        res[A_I386_KEYCTL] = r < 0 ? (int) -r : 0;
        /* vm86 exists only on i386: the rule must be there for that ABI only. */
        r = syscall_i386(NR_I386_VM86, 0, 0, 0);
        res[A_I386_VM86] = r < 0 ? (int) -r : 0;
        res[A_I386_GETPID] = syscall_i386(NR_I386_GETPID, 0, 0, 0) == getpid() ? 0 : -1;
}

static void assert_other_abis_denied(bool with_i386) {
        PlanSeccomp p;
        SeccompProgram prog = {};
        int res[CHILD_MAX_RESULTS], status;
        void *args[2] = { &prog, &with_i386 };

        fixture_default_seccomp(&p, false);
        assert_int_equal(sys_seccomp_compile(&p, &prog), 0);
        status = child_run(child_other_abis, args, res);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(res[A_LOAD], 0);
        assert_int_equal(res[A_X32_KEYCTL], EPERM);
        if (with_i386) {
                assert_int_equal(res[A_I386_KEYCTL], EPERM);
                assert_int_equal(res[A_I386_VM86], EPERM);
                assert_int_equal(res[A_I386_GETPID], 0);
        }
        sys_seccomp_program_done(&prog);
        fixture_seccomp_done(&p);
}

static void test_x32_denied(void **state) {
        assert_other_abis_denied(false);
}

static void test_i386_denied(void **state) {
        skip_unless_ia32();
        assert_other_abis_denied(true);
}

/* An ABI the filter does not list is killed, never allowed by default: i386 (int 0x80) is a
 * separate audit arch (SCMP_FLTATR_ACT_BADARCH); x32 shares AUDIT_ARCH_X86_64 and is told apart
 * by bit 30 of the syscall number. Drop each from the plan and call getpid through it. */
static void child_foreign_abi(int *res, void *userdata) {
        const bool *use_i386 = ((void **) userdata)[1];

        res[0] = child_load(((void **) userdata)[0], NULL);
        if (res[0] < 0)
                return;
        if (*use_i386)
                res[1] = (int) syscall_i386(NR_I386_GETPID, 0, 0, 0);
        else
                res[1] = (int) syscall_x32(39 | X32_BIT, 0, 0, 0);
}

static void assert_foreign_abi_killed(const char *drop, bool use_i386) {
        PlanSeccomp p;
        SeccompProgram prog = {};
        int res[CHILD_MAX_RESULTS], status;
        void *args[2] = { &prog, &use_i386 };
        size_t j = 0;

        fixture_default_seccomp(&p, false);
        for (size_t i = 0; p.arches[i]; i++) {
                if (strcmp(p.arches[i], drop) == 0)
                        free(p.arches[i]);
                else
                        p.arches[j++] = p.arches[i];
        }
        p.arches[j] = NULL;
        assert_int_equal(sys_seccomp_compile(&p, &prog), 0);
        status = child_run(child_foreign_abi, args, res);
        assert_int_equal(res[0], CHILD_NO_RESULT); /* killed before it could report */
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGSYS);
        sys_seccomp_program_done(&prog);
        fixture_seccomp_done(&p);
}

static void test_foreign_abi_killed(void **state) {
        assert_foreign_abi_killed("x32", false);
}

/* The plan without x86 must compile on any host (test_compile_abi_subsets); here it runs. */
static void test_foreign_abi_killed_i386(void **state) {
        skip_unless_ia32();
        assert_foreign_abi_killed("x86", true);
}

static void test_compile_refuses_bad_plans(void **state) {
        PlanSeccomp p;
        SeccompProgram prog = {};
        PlanSyscallRule *r;

        /* A name no x86 ABI knows (pciconfig_read exists on other architectures). */
        fixture_default_seccomp(&p, false);
        fixture_push(&p, "pciconfig_read", EPERM);
        assert_int_equal(sys_seccomp_compile(&p, &prog), -EINVAL);
        fixture_seccomp_done(&p);

        fixture_default_seccomp(&p, false);
        fixture_push(&p, "no_such_syscall", EPERM);
        assert_int_equal(sys_seccomp_compile(&p, &prog), -EINVAL);
        fixture_seccomp_done(&p);

        /* Two answers for one syscall: the supervisor could not mirror the filter. */
        fixture_default_seccomp(&p, false);
        fixture_push(&p, "keyctl", ENOSYS);
        assert_int_equal(sys_seccomp_compile(&p, &prog), -EINVAL);
        fixture_seccomp_done(&p);

        fixture_default_seccomp(&p, false);
        r = fixture_push(&p, "prctl", EPERM);
        fixture_arg(r, 6, ARG_OP_EQ, 0, 1);
        assert_int_equal(sys_seccomp_compile(&p, &prog), -EINVAL);
        fixture_seccomp_done(&p);

        fixture_default_seccomp(&p, false);
        p.foreign_arch_action = SECCOMP_ACTION_ALLOW;
        assert_int_equal(sys_seccomp_compile(&p, &prog), -EINVAL);
        fixture_seccomp_done(&p);

        fixture_default_seccomp(&p, false);
        p.default_action = SECCOMP_ACTION_ERRNO;
        assert_int_equal(sys_seccomp_compile(&p, &prog), -EINVAL);
        fixture_seccomp_done(&p);

        fixture_default_seccomp(&p, false);
        free(p.arches[1]);
        p.arches[1] = strdup("no-such-arch");
        assert_int_equal(sys_seccomp_compile(&p, &prog), -EINVAL);
        fixture_seccomp_done(&p);

        assert_null(prog.fprog.filter);
}

/* The default-like set names syscalls that only some ABIs have (vm86 only i386, tuxcall only
 * x86_64 and x32). Leaving an ABI out of the filter (it is then killed wholesale) must not turn
 * those rules into errors: every subset compiles, and a rule whose syscall no filtered ABI has
 * adds nothing, so the program equals the one compiled without it. A name unknown on every x86
 * ABI (a typo, or pciconfig_read of other architectures) is refused whatever the subset. */
static const char *const i386_only[] = { "break",  "ftime",  "gtty",   "lock", "mpx",
                                         "prof",   "profil", "stime",  "stty", "ulimit",
                                         "umount", "vm86",   "vm86old" };

static void fixture_set_arches(PlanSeccomp *p, const char *const *arches) {
        size_t n = 0;

        for (char **a = p->arches; *a; a++)
                free(*a);
        while (arches[n]) {
                p->arches[n] = strdup(arches[n]);
                n++;
        }
        p->arches[n] = NULL;
}

static void fixture_drop_rules(PlanSeccomp *p, const char *const *names, size_t n_names) {
        size_t j = 0;

        for (size_t i = 0; i < p->n_rules; i++) {
                bool drop = false;

                for (size_t k = 0; k < n_names; k++)
                        drop = drop || strcmp(p->rules[i].name, names[k]) == 0;
                if (drop) {
                        free(p->rules[i].name);
                        free(p->rules[i].group);
                        free(p->rules[i].origin);
                } else
                        p->rules[j++] = p->rules[i];
        }
        p->n_rules = j;
}

static void assert_same_program(const SeccompProgram *a, const SeccompProgram *b) {
        assert_int_equal(a->fprog.len, b->fprog.len);
        assert_memory_equal(a->fprog.filter, b->fprog.filter,
                            a->fprog.len * sizeof(struct sock_filter));
}

static void test_compile_abi_subsets(void **state) {
        static const char *const subsets[][4] = {
                { "x86_64", "x32", "x86", NULL },
                { "x86_64", "x32", NULL },
                { "x86_64", "x86", NULL },
                { "x86_64", NULL },
                { "x32", NULL },
                { "x86", NULL },
        };
        static const char *const unknown[] = { "pciconfig_read", "no_such_syscall" };
        static const char *const no_i386[] = { "x86_64", "x32", NULL };
        PlanSeccomp p, q;
        SeccompProgram prog = {}, without = {};

        for (size_t i = 0; i < ELEMENTSOF(subsets); i++) {
                fixture_default_seccomp(&p, false);
                fixture_set_arches(&p, subsets[i]);
                if (sys_seccomp_compile(&p, &prog) != 0)
                        fail_msg("the default-like set does not compile for ABI set %zu", i);
                sys_seccomp_program_done(&prog);
                for (size_t k = 0; k < ELEMENTSOF(unknown); k++) {
                        fixture_push(&p, unknown[k], EPERM);
                        assert_int_equal(sys_seccomp_compile(&p, &prog), -EINVAL);
                        assert_null(prog.fprog.filter);
                        fixture_drop_rules(&p, &unknown[k], 1);
                }
                fixture_seccomp_done(&p);
        }

        /* Without i386 the i386-only rules change nothing in the program. */
        fixture_default_seccomp(&p, false);
        fixture_set_arches(&p, no_i386);
        fixture_default_seccomp(&q, false);
        fixture_set_arches(&q, no_i386);
        fixture_drop_rules(&q, i386_only, ELEMENTSOF(i386_only));
        assert_int_equal(q.n_rules + ELEMENTSOF(i386_only), p.n_rules);
        assert_int_equal(sys_seccomp_compile(&p, &prog), 0);
        assert_int_equal(sys_seccomp_compile(&q, &without), 0);
        assert_same_program(&prog, &without);
        sys_seccomp_program_done(&prog);
        sys_seccomp_program_done(&without);
        fixture_seccomp_done(&q);
        fixture_seccomp_done(&p);
}

static int rule_index(const PlanSeccomp *p, const char *name) {
        for (size_t i = 0; i < p->n_rules; i++)
                if (strcmp(p->rules[i].name, name) == 0)
                        return (int) i;
        return -1;
}

static void test_rule_match(void **state) {
        PlanSeccomp p;
        uint64_t args[6] = {};
        int tiocsti = -1;

        fixture_default_seccomp(&p, false);
        for (size_t i = 0; i < p.n_rules; i++)
                if (strcmp(p.rules[i].name, "ioctl") == 0 && p.rules[i].args[0].value == TIOCSTI)
                        tiocsti = (int) i;
        assert_true(tiocsti >= 0);

        assert_int_equal(sys_seccomp_rule_match(&p, AUDIT_ARCH_X86_64, SYS_keyctl, args),
                         rule_index(&p, "keyctl"));
        assert_int_equal(sys_seccomp_rule_match(&p, AUDIT_ARCH_I386, NR_I386_KEYCTL, args),
                         rule_index(&p, "keyctl"));
        assert_int_equal(sys_seccomp_rule_match(&p, AUDIT_ARCH_X86_64, NR_X32_KEYCTL, args),
                         rule_index(&p, "keyctl"));
        args[1] = TIOCSTI | (1ULL << 32);
        assert_int_equal(sys_seccomp_rule_match(&p, AUDIT_ARCH_X86_64, SYS_ioctl, args), tiocsti);
        args[1] = TCGETS;
        assert_int_equal(sys_seccomp_rule_match(&p, AUDIT_ARCH_X86_64, SYS_ioctl, args), -1);
        assert_int_equal(sys_seccomp_rule_match(&p, AUDIT_ARCH_X86_64, SYS_getpid, args), -1);
        assert_int_equal(sys_seccomp_rule_match(&p, AUDIT_ARCH_AARCH64, 0, args), -1);
        fixture_seccomp_done(&p);

        /* An exact 64-bit comparison: the full word on x86_64, the low word on x32 and i386,
         * as libseccomp generates it. */
        fixture_default_seccomp(&p, false);
        fixture_arg(fixture_push(&p, "fcntl", EPERM), 1, ARG_OP_EQ, 0, (1ULL << 32) | 1234);
        memset(args, 0, sizeof(args));
        args[1] = 1234;
        assert_int_equal(sys_seccomp_rule_match(&p, AUDIT_ARCH_X86_64, SYS_fcntl, args), -1);
        assert_int_equal(sys_seccomp_rule_match(&p, AUDIT_ARCH_X86_64, SYS_fcntl | X32_BIT, args),
                         (int) p.n_rules - 1);
        assert_int_equal(sys_seccomp_rule_match(&p, AUDIT_ARCH_I386, 55 /* fcntl */, args),
                         (int) p.n_rules - 1);
        args[1] = (1ULL << 32) | 1234;
        assert_int_equal(sys_seccomp_rule_match(&p, AUDIT_ARCH_X86_64, SYS_fcntl, args),
                         (int) p.n_rules - 1);
        fixture_seccomp_done(&p);
}

/* Notify mode: the child passes the listener up and makes denied calls; the parent runs the
 * supervisor until the filter has no user left. */
typedef struct NotifyArgs {
        SeccompProgram *prog;
        int sock;
        bool with_i386;
        bool block_forever; /* make one denied call and wait for the parent to kill us */
} NotifyArgs;

enum {
        N_LOAD,
        N_SEND,
        N_KEYCTL1,
        N_KEYCTL2,
        N_CLONE3,
        N_X32,
        N_I386,
        N_GETPID
};

static void child_notify(int *res, void *userdata) {
        NotifyArgs *a = userdata;
        int fd = -EBADF;
        long r;

        res[N_LOAD] = child_load(a->prog, &fd);
        if (res[N_LOAD] < 0)
                return;
        res[N_SEND] = child_send_fd(a->sock, fd);
        close(fd);
        if (res[N_SEND] < 0)
                return;
        if (a->block_forever) {
                syscall(SYS_keyctl, KEYCTL_BOGUS, 0, 0, 0, 0);
                _exit(3); /* only reached if the supervisor answered */
        }
        res[N_KEYCTL1] = ERRNO_OF(syscall(SYS_keyctl, KEYCTL_BOGUS, 0, 0, 0, 0));
        res[N_KEYCTL2] = ERRNO_OF(syscall(SYS_keyctl, KEYCTL_BOGUS, 0, 0, 0, 0));
        res[N_CLONE3] = ERRNO_OF(syscall(SYS_clone3, NULL, 0));
        r = syscall_x32(NR_X32_KEYCTL, KEYCTL_BOGUS, 0, 0);
        res[N_X32] = r < 0 ? (int) -r : 0;
        if (a->with_i386) {
                r = syscall_i386(NR_I386_KEYCTL, KEYCTL_BOGUS, 0, 0);
                res[N_I386] = r < 0 ? (int) -r : 0;
        }
        res[N_GETPID] = syscall(SYS_getpid) == getpid() ? 0 : -1;
}

static const RunDenial *find_denial(const DenialTable *t, const char *name, const char *arch) {
        for (size_t i = 0; i < t->n; i++)
                if (strcmp(t->items[i].syscall, name) == 0 && strcmp(t->items[i].arch, arch) == 0)
                        return &t->items[i];
        return NULL;
}

static pid_t spawn(ChildFn fn, void *userdata, int *ret_res_fd) {
        int pipefd[2];
        pid_t pid;

        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int out[CHILD_MAX_RESULTS];

                child_default_signals();
                for (size_t i = 0; i < CHILD_MAX_RESULTS; i++)
                        out[i] = CHILD_NO_RESULT;
                fn(out, userdata);
                _exit(write(pipefd[1], out, sizeof(out)) == (ssize_t) sizeof(out) ? 0 : 2);
        }
        close(pipefd[1]);
        *ret_res_fd = pipefd[0];
        return pid;
}

static void assert_notify_same_errno_and_recorded(bool with_i386) {
        PlanSeccomp p;
        SeccompProgram prog = {};
        DenialTable t = {};
        int sv[2], res[CHILD_MAX_RESULTS], res_fd, notify_fd, pidfd, status, r;
        NotifyArgs a = { .prog = &prog, .with_i386 = with_i386 };
        const RunDenial *d;
        pid_t pid;

        fixture_default_seccomp(&p, true);
        assert_int_equal(sys_seccomp_compile(&p, &prog), 0);
        assert_true(prog.notify);
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
        a.sock = sv[1];
        alarm(20); /* a supervisor bug must fail the test, not hang it */
        pid = spawn(child_notify, &a, &res_fd);
        close(sv[1]);
        notify_fd = child_recv_fd(sv[0]);
        assert_true(notify_fd >= 0);
        pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        assert_true(pidfd >= 0);

        /* Until the child has exited, as moat's supervisor does (sandbox.c). Not until the
         * listener's POLLHUP: older kernels (Debian's 6.1) drop a task's filter only when the
         * task is reaped (release_task()), not when it exits, so the listener of an unreaped
         * child never hangs up. A child that exited has no notification pending: each of its
         * calls waited for its answer. */
        for (;;) {
                struct pollfd pfd[2] = { { .fd = notify_fd, .events = POLLIN },
                                         { .fd = pidfd, .events = POLLIN } };

                assert_true(poll(pfd, ELEMENTSOF(pfd), 5000) > 0);
                if (pfd[0].revents & POLLIN) {
                        r = sys_seccomp_notify_handle(notify_fd, &p, &t);
                        assert_true(r >= 0);
                        continue;
                }
                if (pfd[1].revents & POLLIN)
                        break;
        }
        close(pidfd);
        assert_int_equal(read(res_fd, res, sizeof(res)), (ssize_t) sizeof(res));
        assert_int_equal(waitpid(pid, &status, 0), pid);
        alarm(0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        /* Same errno as the ERRNO-mode filter gives. */
        assert_int_equal(res[N_LOAD], 0);
        assert_int_equal(res[N_KEYCTL1], EPERM);
        assert_int_equal(res[N_KEYCTL2], EPERM);
        assert_int_equal(res[N_CLONE3], ENOSYS);
        assert_int_equal(res[N_X32], EPERM);
        assert_int_equal(res[N_GETPID], 0);

        d = find_denial(&t, "keyctl", "x86_64");
        assert_non_null(d);
        assert_int_equal(d->count, 2);
        assert_int_equal(d->rule_index, rule_index(&p, "keyctl"));
        assert_true(d->first_ns > 0);
        d = find_denial(&t, "clone3", "x86_64");
        assert_non_null(d);
        assert_int_equal(d->count, 1);
        assert_int_equal(d->rule_index, rule_index(&p, "clone3"));
        d = find_denial(&t, "keyctl", "x32");
        assert_non_null(d);
        assert_int_equal(d->count, 1);
        if (a.with_i386) {
                assert_int_equal(res[N_I386], EPERM);
                d = find_denial(&t, "keyctl", "x86");
                assert_non_null(d);
                assert_int_equal(d->count, 1);
        }
        assert_int_equal(t.n, a.with_i386 ? 4 : 3);

        close(notify_fd);
        close(res_fd);
        close(sv[0]);
        denial_table_done(&t);
        sys_seccomp_program_done(&prog);
        fixture_seccomp_done(&p);
}

static void test_notify_same_errno_and_recorded(void **state) {
        assert_notify_same_errno_and_recorded(false);
}

static void test_notify_i386(void **state) {
        skip_unless_ia32();
        assert_notify_same_errno_and_recorded(true);
}

/* The target dies while its notification is pending: the supervisor must return, not block. */
static void test_notify_target_died(void **state) {
        PlanSeccomp p;
        SeccompProgram prog = {};
        DenialTable t = {};
        int sv[2], res_fd, notify_fd, status;
        NotifyArgs a = { .prog = &prog, .block_forever = true };
        struct pollfd pfd;
        pid_t pid;

        fixture_default_seccomp(&p, true);
        assert_int_equal(sys_seccomp_compile(&p, &prog), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
        a.sock = sv[1];
        alarm(20);
        pid = spawn(child_notify, &a, &res_fd);
        close(sv[1]);
        notify_fd = child_recv_fd(sv[0]);
        assert_true(notify_fd >= 0);

        pfd = (struct pollfd){ .fd = notify_fd, .events = POLLIN };
        assert_int_equal(poll(&pfd, 1, 5000), 1);
        assert_true(pfd.revents & POLLIN);
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        assert_int_equal(sys_seccomp_notify_handle(notify_fd, &p, &t), 0);
        assert_int_equal(t.n, 0);
        alarm(0);

        close(notify_fd);
        close(res_fd);
        close(sv[0]);
        denial_table_done(&t);
        sys_seccomp_program_done(&prog);
        fixture_seccomp_done(&p);
}

static void test_load_requires_no_new_privs(void **state);

/* test-sys-seccomp [TEST_NAME]...: with names, only those tests run (tests/integration/vm/ia32.sh
 * runs the i386 ones in a guest whose kernel accepts int 0x80); a name that is not a test is an
 * error, so that a renamed test cannot quietly run nothing. */
int main(int argc, char **argv) {
        static const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_default_set_denies),
                cmocka_unit_test(test_probes_differ_without_filter),
                cmocka_unit_test(test_x32_denied),
                cmocka_unit_test(test_i386_denied),
                cmocka_unit_test(test_foreign_abi_killed),
                cmocka_unit_test(test_foreign_abi_killed_i386),
                cmocka_unit_test(test_compile_refuses_bad_plans),
                cmocka_unit_test(test_compile_abi_subsets),
                cmocka_unit_test(test_rule_match),
                cmocka_unit_test(test_notify_same_errno_and_recorded),
                cmocka_unit_test(test_notify_i386),
                cmocka_unit_test(test_notify_target_died),
                cmocka_unit_test(test_load_requires_no_new_privs),
        };

        struct CMUnitTest selected[ELEMENTSOF(tests)];
        size_t n = 0;

        if (argc < 2)
                return cmocka_run_group_tests(tests, NULL, NULL);
        for (int i = 1; i < argc; i++) {
                size_t k = 0;

                while (k < ELEMENTSOF(tests) && strcmp(tests[k].name, argv[i]) != 0)
                        k++;
                if (k == ELEMENTSOF(tests) || n == ELEMENTSOF(selected)) {
                        fprintf(stderr, "test-sys-seccomp: no test named '%s'\n", argv[i]);
                        return 2;
                }
                selected[n++] = tests[k];
        }
        return _cmocka_run_group_tests("tests", selected, n, NULL, NULL);
}

/* Without no_new_privs and without CAP_SYS_ADMIN the kernel refuses the filter; the loader
 * reports that instead of pretending. Needs an unprivileged uid: drop to nobody in the child. */
static void child_no_nnp(int *res, void *userdata) {
        if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0) {
                res[0] = -errno;
                return;
        }
        res[1] = sys_seccomp_load(userdata, NULL);
}

static void test_load_requires_no_new_privs(void **state) {
        PlanSeccomp p;
        SeccompProgram prog = {};
        int res[CHILD_MAX_RESULTS];

        if (geteuid() != 0)
                skip(); /* cannot change uid; an unprivileged run covers the same path anyway */
        fixture_default_seccomp(&p, false);
        assert_int_equal(sys_seccomp_compile(&p, &prog), 0);
        child_run(child_no_nnp, &prog, res);
        assert_int_equal(res[0], CHILD_NO_RESULT);
        assert_int_equal(res[1], -EACCES);
        sys_seccomp_program_done(&prog);
        fixture_seccomp_done(&p);
}

/* SPDX-License-Identifier: MIT */
/* The seccomp programs built into moat (seccomp-program.c): every shipped profile, resolved with
 * the shipped policy on this host, with and without denial notification, must be served from
 * the built-in table and be byte for byte what sys_seccomp_compile() makes of its plan at run
 * time. Any change to a rule set (one errno, one argument, one more rule, the ABI list, the
 * notify flag) must change its key and so be compiled, never served a program made for another
 * rule set. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>

#include "basic/macros.h"
#include "host/host.h"
#include "plan/plan.h"
#include "policy/policy.h"
#include "profile/profile.h"
#include "sys/seccomp-precompiled.h"

static Policy *policy;
static HostFacts host;

static int setup(void **state) {
        const char *src = getenv("MOAT_SOURCE_DIR");
        char policies[4096], buf[1024];
        MoatError e = {};
        int r;

        if (!src) {
                fprintf(stderr, "MOAT_SOURCE_DIR is not set (run through meson test)\n");
                return -1;
        }
        snprintf(policies, sizeof(policies), "%s/policies", src);
        r = policy_load(policies, "", &policy, &e); /* shipped only, as the build */
        if (r >= 0)
                r = host_facts_probe(&host);
        if (r < 0) {
                fprintf(stderr, "setup: %s\n",
                        moat_error_is_set(&e) ? moat_error_format(&e, buf, sizeof(buf))
                                              : strerror(-r));
                return -1;
        }
        return 0;
}

static int teardown(void **state) {
        policy = policy_free(policy);
        host_facts_done(&host);
        return 0;
}

static Plan *resolve(const char *profile_file) {
        char path[4096], buf[1024];
        Profile *profile = NULL;
        Plan *plan = NULL;
        MoatError e = {};
        int r;

        snprintf(path, sizeof(path), "%s/profiles/%s", getenv("MOAT_SOURCE_DIR"), profile_file);
        r = profile_load(path, &profile, &e);
        if (r >= 0)
                r = plan_resolve(profile, policy, &host, &plan);
        if (r < 0)
                fail_msg("%s: %s", path,
                         moat_error_is_set(&e) ? moat_error_format(&e, buf, sizeof(buf))
                                               : strerror(-r));
        profile_free(profile);
        return plan;
}

static void assert_same_program(const SeccompProgram *a, const SeccompProgram *b) {
        assert_int_equal(a->notify, b->notify);
        assert_int_equal(a->fprog.len, b->fprog.len);
        assert_memory_equal(a->fprog.filter, b->fprog.filter,
                            a->fprog.len * sizeof(struct sock_filter));
}

/* program_for() of p, checked against a run-time compile; returns whether it was built in. */
static bool check_program(const PlanSeccomp *p) {
        SeccompProgram served = {}, compiled = {};
        bool precompiled;

        assert_int_equal(sys_seccomp_program_for(p, &served), 0);
        assert_int_equal(sys_seccomp_compile(p, &compiled), 0);
        assert_same_program(&served, &compiled);
        precompiled = served.precompiled;
        assert_false(compiled.precompiled);
        sys_seccomp_program_done(&served);
        sys_seccomp_program_done(&compiled);
        return precompiled;
}

/* The kernel's seccomp_is_const_allow() (kernel/seccomp.c), for one syscall of one ABI: the
 * result of the program when it depends on the syscall number and the ABI only, and is ALLOW.
 * Such a call is allowed from the filter's action cache, without running the program at all;
 * any other, including one whose path reads an argument, runs the program on every call. */
static bool kernel_const_allow(const struct sock_fprog *prog, uint32_t arch, int nr) {
        uint32_t a = 0;

        for (unsigned pc = 0; pc < prog->len; pc++) {
                const struct sock_filter *in = &prog->filter[pc];
                bool taken;

                switch (in->code) {
                case BPF_LD | BPF_W | BPF_ABS:
                        if (in->k == offsetof(struct seccomp_data, nr))
                                a = (uint32_t) nr;
                        else if (in->k == offsetof(struct seccomp_data, arch))
                                a = arch;
                        else
                                return false;
                        continue;
                case BPF_RET | BPF_K:
                        return in->k == SECCOMP_RET_ALLOW;
                case BPF_JMP | BPF_JA:
                        pc += in->k;
                        continue;
                case BPF_JMP | BPF_JEQ | BPF_K:
                        taken = a == in->k;
                        break;
                case BPF_JMP | BPF_JGE | BPF_K:
                        taken = a >= in->k;
                        break;
                case BPF_JMP | BPF_JGT | BPF_K:
                        taken = a > in->k;
                        break;
                case BPF_JMP | BPF_JSET | BPF_K:
                        taken = (a & in->k) != 0;
                        break;
                case BPF_ALU | BPF_AND | BPF_K:
                        a &= in->k;
                        continue;
                default:
                        return false;
                }
                pc += taken ? in->jt : in->jf;
        }
        return false;
}

static bool plan_has_rule(const PlanSeccomp *p, const char *name, bool *unconditional) {
        bool found = false;

        *unconditional = false;
        for (size_t i = 0; i < p->n_rules; i++)
                if (strcmp(p->rules[i].name, name) == 0) {
                        found = true;
                        *unconditional = *unconditional || p->rules[i].n_args == 0;
                }
        return found;
}

/* Every system call a plan does not deny costs its workload no BPF at all: the program decides
 * it from the ABI and the number alone, so the kernel's action cache allows it. A program that
 * read an argument (or the instruction pointer) before dispatching on the number would run for
 * every call of the workload (the getppid/stat loop of tests/bench/sandbox.sh). Denied calls
 * are never cached as allowed. x86-64 and i386 (but for i386's multiplexers). */
static void check_cacheable(const char *what, const PlanSeccomp *p) {
        static const struct {
                uint32_t scmp, audit;
        } abis[] = { { SCMP_ARCH_X86_64, AUDIT_ARCH_X86_64 }, { SCMP_ARCH_X86, AUDIT_ARCH_I386 } };
        SeccompProgram prog = {};
        unsigned allowed = 0, denied = 0;

        assert_int_equal(sys_seccomp_program_for(p, &prog), 0);
        for (size_t k = 0; k < ELEMENTSOF(abis); k++)
                for (int nr = 0; nr < 512; nr++) {
                        _cleanup_free_ char *name =
                                seccomp_syscall_resolve_num_arch(abis[k].scmp, nr);
                        bool unconditional, cached;

                        if (!name)
                                continue;
                        cached = kernel_const_allow(&prog.fprog, abis[k].audit, nr);
                        if (!plan_has_rule(p, name, &unconditional)) {
                                /* i386 multiplexes socket calls through socketcall(2) and SysV
                                 * IPC through ipc(2), whose first argument names the call: a
                                 * rule on one of those reads it there */
                                if (!cached && abis[k].scmp == SCMP_ARCH_X86 &&
                                    (strcmp(name, "socketcall") == 0 || strcmp(name, "ipc") == 0))
                                        continue;
                                if (!cached)
                                        fail_msg(
                                                "%s: %s (%d, ABI %zu) is not denied but runs the "
                                                "program on every call",
                                                what, name, nr, k);
                                allowed++;
                        } else if (cached)
                                fail_msg("%s: %s (%d, ABI %zu) is denied but cached as allowed",
                                         what, name, nr, k);
                        else
                                denied += unconditional;
                }
        sys_seccomp_program_done(&prog);
        assert_true(allowed > 300);
        assert_true(denied > 50);
}

static void test_allowed_calls_bypass_the_program(void **state) {
        char dir[4096];
        struct dirent *de;
        DIR *d;

        snprintf(dir, sizeof(dir), "%s/profiles", getenv("MOAT_SOURCE_DIR"));
        d = opendir(dir);
        assert_non_null(d);
        while ((de = readdir(d))) {
                size_t n = strlen(de->d_name);
                Plan *plan;

                if (n <= 5 || strcmp(de->d_name + n - 5, ".yaml") != 0)
                        continue;
                plan = resolve(de->d_name);
                for (int notify = 0; notify <= 1; notify++) {
                        PlanSeccomp p = plan->sandbox.seccomp;

                        p.notify_denials = notify;
                        check_cacheable(de->d_name, &p);
                }
                plan_free(plan);
        }
        closedir(d);
}

static void test_shipped_profiles_built_in(void **state) {
        char dir[4096];
        struct dirent *de;
        unsigned profiles = 0;
        DIR *d;

        snprintf(dir, sizeof(dir), "%s/profiles", getenv("MOAT_SOURCE_DIR"));
        d = opendir(dir);
        assert_non_null(d);
        while ((de = readdir(d))) {
                size_t n = strlen(de->d_name);
                Plan *plan;

                if (n <= 5 || strcmp(de->d_name + n - 5, ".yaml") != 0)
                        continue;
                plan = resolve(de->d_name);
                for (int notify = 0; notify <= 1; notify++) {
                        PlanSeccomp p = plan->sandbox.seccomp; /* shallow: only the flag differs */

                        p.notify_denials = notify;
                        assert_true(p.n_rules > 0);
                        if (!check_program(&p))
                                fail_msg("%s (notify %d) is not among the built-in programs",
                                         de->d_name, notify);
                }
                plan_free(plan);
                profiles++;
        }
        closedir(d);
        assert_true(profiles >= 7);
        assert_true(seccomp_precompiled_count >= 2);
}

/* A copy of the minimal profile's rule set with room for one more rule. */
typedef struct Variant {
        Plan *plan;
        PlanSeccomp p;
        PlanSyscallRule *rules;
} Variant;

static void variant_init(Variant *v) {
        v->plan = resolve("minimal.yaml");
        v->p = v->plan->sandbox.seccomp;
        v->rules = calloc(v->p.n_rules + 1, sizeof(PlanSyscallRule));
        assert_non_null(v->rules);
        memcpy(v->rules, v->p.rules, v->p.n_rules * sizeof(PlanSyscallRule));
        v->p.rules = v->rules;
}

static void variant_done(Variant *v) {
        free(v->rules);
        plan_free(v->plan);
}

static void key_of(const PlanSeccomp *p, uint8_t key[SECCOMP_KEY_BYTES]) {
        sys_seccomp_key(p, key);
}

static void test_any_change_is_compiled(void **state) {
        uint8_t base[SECCOMP_KEY_BYTES], k[SECCOMP_KEY_BYTES], again[SECCOMP_KEY_BYTES];
        Variant v;
        size_t last;

        variant_init(&v);
        last = v.p.n_rules - 1;
        key_of(&v.p, base);
        key_of(&v.p, again);
        assert_memory_equal(base, again, sizeof(base)); /* deterministic */
        assert_true(check_program(&v.p));

        /* one errno */
        v.rules[0].errno_value = v.rules[0].errno_value == EPERM ? ENOSYS : EPERM;
        key_of(&v.p, k);
        assert_memory_not_equal(base, k, sizeof(base));
        assert_false(check_program(&v.p));
        v.rules[0] = v.plan->sandbox.seccomp.rules[0];

        /* the action of the last rule */
        v.rules[last].action = SECCOMP_ACTION_KILL;
        key_of(&v.p, k);
        assert_memory_not_equal(base, k, sizeof(base));
        assert_false(check_program(&v.p));
        v.rules[last] = v.plan->sandbox.seccomp.rules[last];

        /* an argument of a rule that has one */
        for (size_t i = 0; i < v.p.n_rules; i++)
                if (v.rules[i].n_args > 0) {
                        v.rules[i].args[0].value ^= 1;
                        key_of(&v.p, k);
                        assert_memory_not_equal(base, k, sizeof(base));
                        assert_false(check_program(&v.p));
                        v.rules[i] = v.plan->sandbox.seccomp.rules[i];
                        break;
                }

        /* one more denied syscall */
        v.rules[v.p.n_rules] = (PlanSyscallRule){ .name = (char *) "uname",
                                                  .action = SECCOMP_ACTION_ERRNO,
                                                  .errno_value = EPERM };
        v.p.n_rules++;
        key_of(&v.p, k);
        assert_memory_not_equal(base, k, sizeof(base));
        assert_false(check_program(&v.p));
        v.p.n_rules--;

        /* the notify flag: both are built in, but never one for the other */
        v.p.notify_denials = !v.p.notify_denials;
        key_of(&v.p, k);
        assert_memory_not_equal(base, k, sizeof(base));
        v.p.notify_denials = !v.p.notify_denials;

        /* the ABI list */
        char *abis[] = { (char *) "x86_64", (char *) "x86", NULL };
        char **saved = v.p.arches;
        v.p.arches = abis;
        key_of(&v.p, k);
        assert_memory_not_equal(base, k, sizeof(base));
        assert_false(check_program(&v.p));
        v.p.arches = saved;

        /* and back: the same key, served built in again */
        key_of(&v.p, k);
        assert_memory_equal(base, k, sizeof(base));
        assert_true(check_program(&v.p));
        variant_done(&v);
}

/* A table entry is found only under its own key. */
static void test_lookup_exact(void **state) {
        uint8_t k[SECCOMP_KEY_BYTES];

        for (size_t i = 0; i < seccomp_precompiled_count; i++) {
                assert_ptr_equal(sys_seccomp_precompiled_find(seccomp_precompiled[i].key),
                                 &seccomp_precompiled[i]);
                memcpy(k, seccomp_precompiled[i].key, sizeof(k));
                k[SECCOMP_KEY_BYTES - 1] ^= 0x80;
                assert_null(sys_seccomp_precompiled_find(k));
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_shipped_profiles_built_in),
                cmocka_unit_test(test_any_change_is_compiled),
                cmocka_unit_test(test_allowed_calls_bypass_the_program),
                cmocka_unit_test(test_lookup_exact),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}

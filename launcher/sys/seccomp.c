/* SPDX-License-Identifier: MIT */
/* seccomp: compile in the parent with libseccomp, load in the child with one seccomp(2) call.
 * See seccomp.h for the contract.
 *
 * Why the child does not call seccomp_load(): by the time the child loads the filter it has
 * pivoted into the new root, dropped capabilities and entered its Landlock domain; running
 * libseccomp's allocator-heavy compiler there only widens what must work in that state. The
 * parent exports the finished classic BPF and the child hands it to the kernel.
 *
 * Programs for the shipped profiles are compiled at build time (seccomp-gen.c) and embedded in
 * the binary, keyed by sys_seccomp_key(); see seccomp-precompiled.c for why that and not a cache
 * on disk. A plan whose rule set is not among them is compiled here at run time.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "basic/macros.h"
#include "basic/sha256.h"
#include "sys/seccomp.h"

static void seccomp_ctx_releasep(scmp_filter_ctx *ctx) {
        if (*ctx)
                seccomp_release(*ctx);
        *ctx = NULL;
}

/* Two rules for one syscall that answer differently are refused: libseccomp silently picks one
 * when their argument conditions overlap, and the denial supervisor (seccomp-notify.c) must be
 * able to answer with exactly the errno the ERRNO-mode filter would have returned. */
static int seccomp_check_consistent(const PlanSeccomp *p) {
        for (size_t i = 0; i < p->n_rules; i++)
                for (size_t j = i + 1; j < p->n_rules; j++) {
                        const PlanSyscallRule *a = &p->rules[i], *b = &p->rules[j];

                        if (!a->name || !b->name)
                                return -EINVAL;
                        if (strcmp(a->name, b->name) != 0)
                                continue;
                        if (a->action != b->action ||
                            (a->action == SECCOMP_ACTION_ERRNO && a->errno_value != b->errno_value))
                                return -EINVAL;
                }
        return 0;
}

static int seccomp_action_for(const PlanSeccomp *p, const PlanSyscallRule *r, uint32_t *ret) {
        switch (r->action) {
        case SECCOMP_ACTION_ALLOW:
                *ret = SCMP_ACT_ALLOW;
                return 0;
        case SECCOMP_ACTION_KILL:
                *ret = SCMP_ACT_KILL_PROCESS;
                return 0;
        case SECCOMP_ACTION_ERRNO:
                /* SECCOMP_RET_DATA carries 16 bits, but errno values above MAX_ERRNO (4095)
                 * would not be seen as errors by libc. */
                if (r->errno_value <= 0 || r->errno_value > 4095)
                        return -EINVAL;
                *ret = p->notify_denials ? SCMP_ACT_NOTIFY : SCMP_ACT_ERRNO(r->errno_value);
                return 0;
        default:
                return -EINVAL;
        }
}

static int seccomp_arg_cmps(const PlanSyscallRule *r, struct scmp_arg_cmp *cmps) {
        if (r->n_args > PLAN_MAX_ARG_CMPS)
                return -EINVAL;
        for (unsigned i = 0; i < r->n_args; i++) {
                const PlanArgCmp *a = &r->args[i];

                if (a->arg > 5)
                        return -EINVAL;
                cmps[i] = (struct scmp_arg_cmp){ .arg = a->arg };
                switch (a->op) {
                case ARG_OP_EQ:
                        cmps[i].op = SCMP_CMP_EQ;
                        cmps[i].datum_a = a->value;
                        break;
                case ARG_OP_NE:
                        cmps[i].op = SCMP_CMP_NE;
                        cmps[i].datum_a = a->value;
                        break;
                case ARG_OP_MASKED_EQ:
                        cmps[i].op = SCMP_CMP_MASKED_EQ;
                        cmps[i].datum_a = a->mask;
                        cmps[i].datum_b = a->value;
                        break;
                default:
                        return -EINVAL;
                }
        }
        return 0;
}

/* Does libseccomp know name on this ABI? It answers -1 (__NR_SCMP_ERROR) for a name it has never
 * heard of and a pseudo number <= -10000 (__PNR_*) for one this ABI lacks; -100..-299 are the
 * socketcall and ipc multiplexed calls of i386, which do exist there. */
static bool seccomp_name_on_arch(uint32_t token, const char *name) {
        int nr = seccomp_syscall_resolve_name_arch(token, name);

        return nr >= 0 || (nr < -1 && nr > -10000);
}

/* Every ABI a process of this machine's family can enter, whichever ones a plan filters: on
 * x86-64 the three of them. */
static size_t seccomp_family(uint32_t ret[static 3]) {
        uint32_t native = seccomp_arch_native();

        if (native != SCMP_ARCH_X86_64 && native != SCMP_ARCH_X32 && native != SCMP_ARCH_X86) {
                ret[0] = native;
                return 1;
        }
        ret[0] = SCMP_ARCH_X86_64;
        ret[1] = SCMP_ARCH_X32;
        ret[2] = SCMP_ARCH_X86;
        return 3;
}

/* 1: add the rule. 0: skip it, its syscall exists only on ABIs the filter leaves out (vm86, an
 * i386 call, when the plan filters x86_64 and x32): those ABIs are killed whole by the bad-arch
 * action, so there is nothing left to deny. libseccomp would drop such a rule silently too, but
 * it drops a syscall of another architecture the same way (pciconfig_read has a pseudo number on
 * every x86 ABI), and that one must be refused: so the choice is made here, explicitly.
 * -EINVAL: the name is unknown on every ABI of the family (a typo, a syscall this libseccomp
 * predates, or one of another architecture such as pciconfig_read), and is refused rather than
 * dropped. Whether a name is known must not depend on which ABIs are filtered: it did, and a plan
 * without i386 then refused the default set's i386-only rules. */
static int seccomp_rule_applies(const PlanSeccomp *p, const char *name) {
        uint32_t family[3];
        size_t n = seccomp_family(family);

        for (char **a = p->arches; a && *a; a++) {
                uint32_t token = seccomp_arch_resolve_name(*a);

                if (token != 0 && seccomp_name_on_arch(token, name))
                        return 1;
        }
        for (size_t i = 0; i < n; i++)
                if (seccomp_name_on_arch(family[i], name))
                        return 0;
        return -EINVAL;
}

static int seccomp_add_rules(scmp_filter_ctx ctx, const PlanSeccomp *p) {
        for (size_t i = 0; i < p->n_rules; i++) {
                const PlanSyscallRule *r = &p->rules[i];
                struct scmp_arg_cmp cmps[PLAN_MAX_ARG_CMPS];
                uint32_t action;
                int nr, k;

                k = seccomp_action_for(p, r, &action);
                if (k < 0)
                        return k;
                /* An allow rule under an allow default changes nothing; libseccomp refuses
                 * rules whose action equals the default. */
                if (r->action == p->default_action)
                        continue;
                k = seccomp_arg_cmps(r, cmps);
                if (k < 0)
                        return k;
                k = seccomp_rule_applies(p, r->name);
                if (k < 0)
                        return k;
                if (k == 0)
                        continue;
                nr = seccomp_syscall_resolve_name(r->name);
                if (nr == __NR_SCMP_ERROR)
                        return -EINVAL;
                k = seccomp_rule_add_array(ctx, action, nr, r->n_args, cmps);
                if (k < 0)
                        return k;
        }
        return 0;
}

static int seccomp_setup_ctx(const PlanSeccomp *p, scmp_filter_ctx *ret) {
        __attribute__((cleanup(seccomp_ctx_releasep))) scmp_filter_ctx ctx = NULL;
        uint32_t def;
        bool native_wanted = false;
        int r;

        if (p->default_action == SECCOMP_ACTION_ALLOW)
                def = SCMP_ACT_ALLOW;
        else if (p->default_action == SECCOMP_ACTION_KILL)
                def = SCMP_ACT_KILL_PROCESS;
        else
                return -EINVAL; /* an ERRNO default has no errno in the plan */
        /* Any other ABI is how deny lists are bypassed (int 0x80 from a 64-bit process):
         * only killing is acceptable there. */
        if (p->foreign_arch_action != SECCOMP_ACTION_KILL)
                return -EINVAL;
        if (!p->arches || !p->arches[0])
                return -EINVAL;

        ctx = seccomp_init(def);
        if (!ctx)
                return -ENOMEM;
        for (char **a = p->arches; *a; a++) {
                uint32_t token = seccomp_arch_resolve_name(*a);

                if (token == 0)
                        return -EINVAL;
                if (token == seccomp_arch_native()) {
                        native_wanted = true;
                        continue;
                }
                r = seccomp_arch_add(ctx, token);
                if (r < 0 && r != -EEXIST)
                        return r;
        }
        if (!native_wanted) {
                r = seccomp_arch_remove(ctx, seccomp_arch_native());
                if (r < 0)
                        return r;
        }

        r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
        if (r < 0)
                return r;
        /* The child sets no_new_privs itself, earlier, and loads the raw program. */
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
        if (r < 0)
                return r;
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 0);
        if (r < 0)
                return r;
        /* Binary search over syscall numbers instead of a linear chain: the per-call cost
         * then grows with log(rules), which keeps the filter overhead under a few percent. */
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(ctx);
        return 0;
}

/* libseccomp 2.5.4 has no seccomp_export_bpf_mem(): export into a private memfd (no path,
 * O_CLOEXEC, never passed on) and read the program back. */
static int seccomp_export(scmp_filter_ctx ctx, struct sock_fprog *ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ struct sock_filter *insns = NULL;
        struct stat st;
        ssize_t n;
        int r;

        fd = memfd_create("moat-seccomp", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = seccomp_export_bpf(ctx, fd);
        if (r < 0)
                return r;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0)
                return -EIO;
        if ((size_t) st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS)
                return -E2BIG;

        insns = malloc(st.st_size);
        if (!insns)
                return -ENOMEM;
        n = pread(fd, insns, st.st_size, 0);
        if (n < 0)
                return -errno;
        if (n != st.st_size)
                return -EIO;

        ret->len = st.st_size / sizeof(struct sock_filter);
        ret->filter = TAKE_PTR(insns);
        return 0;
}

int sys_seccomp_compile(const PlanSeccomp *p, SeccompProgram *ret) {
        __attribute__((cleanup(seccomp_ctx_releasep))) scmp_filter_ctx ctx = NULL;
        SeccompProgram prog = { .notify = p->notify_denials };
        int r;

        r = seccomp_check_consistent(p);
        if (r < 0)
                return r;
        r = seccomp_setup_ctx(p, &ctx);
        if (r < 0)
                return r;
        r = seccomp_add_rules(ctx, p);
        if (r < 0)
                return r;
        r = seccomp_export(ctx, &prog.fprog);
        if (r < 0)
                return r;

        *ret = prog;
        return 0;
}

int sys_seccomp_load(const SeccompProgram *prog, int *ret_notify_fd) {
        unsigned flags = 0;
        long r;

        if (!prog->fprog.filter || prog->fprog.len == 0)
                return -EINVAL;
        if (prog->notify) {
                if (!ret_notify_fd)
                        return -EINVAL;
                flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
        }

        r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog->fprog);
        if (r < 0)
                return -errno;

        if (ret_notify_fd)
                *ret_notify_fd = prog->notify ? (int) r : -EBADF;
        return 0;
}

/* The key's bytes go through a buffer and reach SHA-256 a kilobyte at a time: fed field by
 * field, the per-call cost was most of a key (some 2,000 calls for the default set). The bytes
 * and so the keys are the same either way. */
typedef struct KeyHash {
        Sha256 h;
        size_t n;
        uint8_t buf[1024];
} KeyHash;

static void key_bytes(KeyHash *k, const void *data, size_t len) {
        const uint8_t *d = data;

        while (len > 0) {
                size_t m = MIN(len, sizeof(k->buf) - k->n);
                memcpy(k->buf + k->n, d, m);
                k->n += m;
                d += m;
                len -= m;
                if (k->n == sizeof(k->buf)) {
                        sha256_update(&k->h, k->buf, k->n);
                        k->n = 0;
                }
        }
}

static void key_u64(KeyHash *k, uint64_t v) {
        uint8_t b[8];
        for (int i = 0; i < 8; i++)
                b[i] = (uint8_t) (v >> (8 * i));
        key_bytes(k, b, sizeof(b));
}

static void key_str(KeyHash *k, const char *s) {
        /* with its NUL: "ab","c" and "a","bc" feed different bytes */
        key_bytes(k, s ? s : "", s ? strlen(s) + 1 : 1);
        key_u64(k, s != NULL);
}

void sys_seccomp_key(const PlanSeccomp *p, uint8_t key[SECCOMP_KEY_BYTES]) {
        const struct scmp_version *v = seccomp_version();
        KeyHash h = {};

        sha256_init(&h.h);
        key_str(&h, SECCOMP_KEY_FORMAT);
        /* The compiler is part of the input: another libseccomp may emit another program. */
        key_u64(&h, v ? v->major : 0);
        key_u64(&h, v ? v->minor : 0);
        key_u64(&h, v ? v->micro : 0);
        key_u64(&h, seccomp_arch_native());
        key_u64(&h, p->default_action);
        key_u64(&h, p->foreign_arch_action);
        key_u64(&h, p->notify_denials);
        for (char **a = p->arches; a && *a; a++)
                key_str(&h, *a);
        key_u64(&h, UINT64_MAX); /* end of the ABI list */
        key_u64(&h, p->n_rules);
        for (size_t i = 0; i < p->n_rules; i++) {
                const PlanSyscallRule *r = &p->rules[i];

                key_str(&h, r->name);
                key_u64(&h, r->action);
                key_u64(&h, (uint64_t) (int64_t) r->errno_value);
                key_u64(&h, r->n_args);
                /* the comparisons the compiler reads: n_args of them (it rejects more than
                 * PLAN_MAX_ARG_CMPS, and a rule without any is most of a set) */
                for (unsigned j = 0; j < MIN(r->n_args, (unsigned) PLAN_MAX_ARG_CMPS); j++) {
                        key_u64(&h, r->args[j].arg);
                        key_u64(&h, r->args[j].op);
                        key_u64(&h, r->args[j].mask);
                        key_u64(&h, r->args[j].value);
                }
        }
        sha256_update(&h.h, h.buf, h.n);
        sha256_final(&h.h, key);
}

void sys_seccomp_program_done(SeccompProgram *p) {
        if (!p)
                return;
        if (!p->precompiled)
                free(p->fprog.filter);
        p->precompiled = false;
        p->fprog.filter = NULL;
        p->fprog.len = 0;
}

/* For other compilers of libseccomp contexts (seccomp-oci.c). */
int sys_seccomp_export_ctx(void *ctx, struct sock_fprog *ret) {
        return seccomp_export(ctx, ret);
}

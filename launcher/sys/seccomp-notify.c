/* SPDX-License-Identifier: MIT */
/* The denial supervisor. See seccomp-notify.h for the contract.
 *
 * The filter sends every deny-rule match here instead of failing it in the kernel; this file
 * must therefore answer exactly as the ERRNO-mode filter would have, and never let the call
 * run: SECCOMP_USER_NOTIF_FLAG_CONTINUE is not used anywhere in moat. sys_seccomp_compile()
 * guarantees that all rules naming one syscall share one errno, so matching by name gives the
 * errno even when an argument cannot be re-evaluated here (i386 socketcall, whose arguments
 * live in the workload's memory).
 *
 * SECCOMP_IOCTL_NOTIF_ID_VALID is not needed: the supervisor never reads the target's memory
 * or /proc/<pid>, which is what a recycled pid could turn against it. A target that died after
 * RECV makes SEND fail with ENOENT, which is answered by moving on. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "basic/macros.h"
#include "sys/seccomp-notify.h"

#define X32_SYSCALL_BIT 0x40000000

static int notify_arch(uint32_t audit_arch, int nr, uint32_t *ret_token, const char **ret_name) {
        if (audit_arch == AUDIT_ARCH_X86_64 && (nr & X32_SYSCALL_BIT)) {
                *ret_token = SCMP_ARCH_X32;
                *ret_name = "x32";
        } else if (audit_arch == AUDIT_ARCH_X86_64) {
                *ret_token = SCMP_ARCH_X86_64;
                *ret_name = "x86_64";
        } else if (audit_arch == AUDIT_ARCH_I386) {
                *ret_token = SCMP_ARCH_X86;
                *ret_name = "x86";
        } else
                return -EAFNOSUPPORT;
        return 0;
}

/* libseccomp compares only the low 32 bits of an argument on 32-bit ABIs, and x32 counts as
 * one (seccomp_export_pfc shows "$a1 == low word" for an x32 rule): mirror that exactly. */
static bool notify_arch_is_32bit(uint32_t token) {
        return token == SCMP_ARCH_X86 || token == SCMP_ARCH_X32;
}

static bool notify_args_match(const PlanSyscallRule *r, bool is_32bit, const uint64_t args[6]) {
        for (unsigned i = 0; i < r->n_args && i < PLAN_MAX_ARG_CMPS; i++) {
                const PlanArgCmp *c = &r->args[i];
                uint64_t v, mask = is_32bit ? UINT32_MAX : UINT64_MAX;

                if (c->arg > 5)
                        return false;
                v = args[c->arg] & mask;
                switch (c->op) {
                case ARG_OP_EQ:
                        if (v != (c->value & mask))
                                return false;
                        break;
                case ARG_OP_NE:
                        if (v == (c->value & mask))
                                return false;
                        break;
                case ARG_OP_MASKED_EQ:
                        if ((v & c->mask & mask) != (c->value & mask))
                                return false;
                        break;
                default:
                        return false;
                }
        }
        return true;
}

static int notify_rule_by_name(const PlanSeccomp *p, const char *name, bool check_args,
                               bool is_32bit, const uint64_t args[6]) {
        for (size_t i = 0; i < p->n_rules; i++) {
                const PlanSyscallRule *r = &p->rules[i];

                if (r->action != SECCOMP_ACTION_ERRNO || !r->name || strcmp(r->name, name) != 0)
                        continue;
                if (check_args && !notify_args_match(r, is_32bit, args))
                        continue;
                return (int) i;
        }
        return -1;
}

int sys_seccomp_rule_match(const PlanSeccomp *p, uint32_t arch, int nr, const uint64_t args[6]) {
        _cleanup_free_ char *name = NULL;
        const char *arch_name;
        uint32_t token;

        if (notify_arch(arch, nr, &token, &arch_name) < 0)
                return -1;
        name = seccomp_syscall_resolve_num_arch(token, nr);
        if (!name)
                return -1;
        return notify_rule_by_name(p, name, true, notify_arch_is_32bit(token), args);
}

static int denial_table_record(DenialTable *t, const char *name, const char *arch, int rule) {
        struct timespec ts;

        for (size_t i = 0; i < t->n; i++)
                if (strcmp(t->items[i].syscall, name) == 0 && strcmp(t->items[i].arch, arch) == 0) {
                        t->items[i].count++;
                        return 0;
                }

        if (t->n == t->allocated) {
                size_t a = t->allocated ? t->allocated * 2 : 8;
                RunDenial *items = reallocarray(t->items, a, sizeof(RunDenial));

                if (!items)
                        return -ENOMEM;
                t->items = items;
                t->allocated = a;
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        t->items[t->n] = (RunDenial){
                .count = 1,
                .first_ns = (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec,
                .rule_index = rule,
        };
        snprintf(t->items[t->n].syscall, sizeof(t->items[t->n].syscall), "%s", name);
        snprintf(t->items[t->n].arch, sizeof(t->items[t->n].arch), "%s", arch);
        t->n++;
        return 0;
}

/* The kernel copies its own struct size out; size the buffers by what it reports. */
static int notify_sizes(size_t *ret_notif, size_t *ret_resp) {
        struct seccomp_notif_sizes sizes = {};

        if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0)
                return -errno;
        *ret_notif = MAX((size_t) sizes.seccomp_notif, sizeof(struct seccomp_notif));
        *ret_resp = MAX((size_t) sizes.seccomp_notif_resp, sizeof(struct seccomp_notif_resp));
        return 0;
}

int sys_seccomp_notify_handle(int notify_fd, const PlanSeccomp *p, DenialTable *t) {
        _cleanup_free_ struct seccomp_notif *req = NULL;
        _cleanup_free_ struct seccomp_notif_resp *resp = NULL;
        _cleanup_free_ char *name = NULL;
        char fallback[24];
        const char *arch_name = "unknown";
        uint32_t token = 0;
        size_t notif_size = 0, resp_size = 0;
        int rule, err, r;

        r = notify_sizes(&notif_size, &resp_size);
        if (r < 0)
                return r;
        req = calloc(1, notif_size);
        resp = calloc(1, resp_size);
        if (!req || !resp)
                return -ENOMEM;

        if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_RECV, req) < 0) {
                if (errno == EINTR || errno == ENOENT)
                        return 0;
                return -errno;
        }

        rule = -1;
        if (notify_arch(req->data.arch, req->data.nr, &token, &arch_name) >= 0) {
                name = seccomp_syscall_resolve_num_arch(token, req->data.nr);
                if (name) {
                        bool is_32bit = notify_arch_is_32bit(token);
                        uint64_t args[6];

                        for (size_t i = 0; i < 6; i++)
                                args[i] = req->data.args[i];
                        rule = notify_rule_by_name(p, name, true, is_32bit, args);
                        if (rule < 0)
                                rule = notify_rule_by_name(p, name, false, is_32bit, NULL);
                }
        }
        if (!name)
                snprintf(fallback, sizeof(fallback), "#%d", req->data.nr);

        /* A notification no rule explains cannot come from a filter compiled from p; deny it
         * anyway rather than let anything through. */
        err = rule >= 0 ? p->rules[rule].errno_value : EPERM;
        resp->id = req->id;
        resp->val = 0;
        resp->error = -err;
        resp->flags = 0;

        r = denial_table_record(t, name ? name : fallback, arch_name, rule);
        if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0) {
                if (errno == ENOENT)
                        return 0; /* the target died or was interrupted meanwhile */
                return -errno;
        }
        if (r < 0)
                return r;
        return 1;
}

void denial_table_take(DenialTable *t, RunDenial **ret_items, size_t *ret_n) {
        *ret_items = TAKE_PTR(t->items);
        *ret_n = t->n;
        t->n = t->allocated = 0;
}

void denial_table_done(DenialTable *t) {
        if (!t)
                return;
        free(t->items);
        *t = (DenialTable){};
}

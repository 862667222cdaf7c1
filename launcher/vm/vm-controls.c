/* SPDX-License-Identifier: MIT */
/* See vm-controls.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macros.h"
#include "sys/seccomp.h"
#include "vm-controls.h"
#include "vm/guest/vm-proto.h"

/* The record value that carries one chunk of hex instructions. */
#define SECCOMP_INSNS_PER_RECORD (VM_RECORD_MAX / 16)

static bool asked(const Plan *plan, VmControl k) {
        const PlanControl *c = plan_find_control(plan, vm_control_plan_name(k));
        return c && (c->status == CONTROL_REQUIRED || c->status == CONTROL_BEST_EFFORT);
}

static bool required(const Plan *plan, VmControl k) {
        const PlanControl *c = plan_find_control(plan, vm_control_plan_name(k));
        return c && c->status == CONTROL_REQUIRED;
}

static int add(char **buf, size_t *len, char tag, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int add(char **buf, size_t *len, char tag, const char *fmt, ...) {
        char v[VM_PATH_MAX + 64];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(v, sizeof(v), fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t) n >= sizeof(v))
                return -EINVAL;
        return vm_config_append(buf, len, tag, v, (size_t) n);
}

static int add_seccomp(const Plan *plan, char **buf, size_t *len, char *msg, size_t msg_size) {
        _cleanup_free_ char *hex = NULL;
        PlanSeccomp sc = plan->sandbox.seccomp; /* shallow: only read */
        SeccompProgram prog = {};
        int r;

        /* No supervisor reads a listener inside the guest: denials answer with their errno. */
        sc.notify_denials = false;
        r = sys_seccomp_program_for(&sc, &prog);
        if (r < 0) {
                snprintf(msg, msg_size, "cannot compile the seccomp program for the guest: %s",
                         strerror(-r));
                return r;
        }
        if (prog.fprog.len == 0 || prog.fprog.len > VM_SECCOMP_INSNS_MAX) {
                snprintf(msg, msg_size,
                         "the seccomp program has %u instructions; the guest takes 1..%u",
                         (unsigned) prog.fprog.len, VM_SECCOMP_INSNS_MAX);
                sys_seccomp_program_done(&prog);
                return -E2BIG;
        }
        hex = malloc(SECCOMP_INSNS_PER_RECORD * 16 + 1);
        if (!hex) {
                sys_seccomp_program_done(&prog);
                return -ENOMEM;
        }
        r = 0;
        for (size_t i = 0; r >= 0 && i < prog.fprog.len; i += SECCOMP_INSNS_PER_RECORD) {
                size_t n = MIN((size_t) prog.fprog.len - i, (size_t) SECCOMP_INSNS_PER_RECORD);
                for (size_t j = 0; j < n; j++) {
                        const struct sock_filter *f = &prog.fprog.filter[i + j];
                        snprintf(hex + j * 16, 17, "%04x%02x%02x%08" PRIx32, f->code, f->jt, f->jf,
                                 (uint32_t) f->k);
                }
                r = vm_config_append(buf, len, 'S', hex, n * 16);
        }
        sys_seccomp_program_done(&prog);
        return r;
}

static int add_landlock(const Plan *plan, char **buf, size_t *len) {
        const PlanLandlock *l = &plan->sandbox.landlock;
        int r;

        if (l->n_paths > VM_LANDLOCK_PATHS_MAX)
                return -E2BIG;
        r = add(buf, len, 'L', "%s %" PRIu64 " %" PRIu64 " %" PRIu64,
                l->status == CONTROL_REQUIRED ? "required" : "best-effort", l->handled_fs,
                l->handled_net, l->scoped);
        for (size_t i = 0; r >= 0 && i < l->n_paths; i++)
                r = add(buf, len, 'l', "%" PRIu64 " %s", l->paths[i].access, l->paths[i].path);
        return r;
}

static int add_caps(const Plan *plan, char **buf, size_t *len) {
        char v[VM_RECORD_MAX] = "";
        size_t n = 0;

        for (size_t i = 0; i < plan->sandbox.n_caps_keep; i++) {
                if (plan->sandbox.caps_keep[i] < 0 || plan->sandbox.caps_keep[i] > VM_CAP_MAX)
                        return -EINVAL;
                n += (size_t) snprintf(v + n, sizeof(v) - n, "%s%d", i ? "," : "",
                                       plan->sandbox.caps_keep[i]);
        }
        return vm_config_append(buf, len, 'k', v, n);
}

static void limit(uint64_t v, char *s, size_t size) {
        if (v == UINT64_MAX)
                snprintf(s, size, "inf");
        else
                snprintf(s, size, "%" PRIu64, v);
}

int vm_controls_config(const Plan *plan, char **buf, size_t *len, VmControlSet *ret, char *msg,
                       size_t msg_size) {
        VmControlSet set = {};
        int r = 0;

        for (int k = 0; r >= 0 && k < _VM_CONTROL_MAX; k++) {
                if (!asked(plan, (VmControl) k))
                        continue;
                switch (k) {
                case VM_CONTROL_SECCOMP:
                        r = add_seccomp(plan, buf, len, msg, msg_size);
                        break;
                case VM_CONTROL_CAPS:
                        r = add_caps(plan, buf, len);
                        break;
                case VM_CONTROL_NO_NEW_PRIVS:
                        r = add(buf, len, 'n', "1");
                        break;
                case VM_CONTROL_LANDLOCK:
                        r = add_landlock(plan, buf, len);
                        break;
                case VM_CONTROL_USERNS:
                        r = add(buf, len, 'U', "0");
                        break;
                case VM_CONTROL_PIDS:
                        if (plan->resources.pids > VM_PIDS_MAX) {
                                snprintf(msg, msg_size,
                                         "resources.pids %" PRIu64
                                         " is above the guest "
                                         "kernel's %u",
                                         plan->resources.pids, VM_PIDS_MAX);
                                return -ERANGE;
                        }
                        r = add(buf, len, 'x', "%" PRIu64, plan->resources.pids);
                        break;
                case VM_CONTROL_MEMORY:
                        if (plan->resources.memory < VM_MEMORY_MIN ||
                            plan->resources.memory > VM_MEMORY_MAX) {
                                snprintf(msg, msg_size,
                                         "resources.memory %" PRIu64
                                         " is outside what the "
                                         "guest init accepts",
                                         plan->resources.memory);
                                return -ERANGE;
                        }
                        r = add(buf, len, 'y', "%" PRIu64, plan->resources.memory);
                        break;
                case VM_CONTROL_RLIMITS:
                        if (plan->sandbox.n_rlimits == 0 ||
                            plan->sandbox.n_rlimits > VM_RLIMITS_MAX)
                                continue; /* nothing to apply (or refused below) */
                        for (size_t i = 0; r >= 0 && i < plan->sandbox.n_rlimits; i++) {
                                const PlanRlimit *rl = &plan->sandbox.rlimits[i];
                                char soft[24], hard[24];
                                limit(rl->soft, soft, sizeof(soft));
                                limit(rl->hard, hard, sizeof(hard));
                                r = add(buf, len, 'r', "%d %s %s", rl->resource, soft, hard);
                        }
                        break;
                default:
                        continue;
                }
                if (r < 0)
                        break;
                set.sent |= 1u << k;
                if (required(plan, (VmControl) k))
                        set.required |= 1u << k;
        }
        if (r < 0) {
                if (!msg[0])
                        snprintf(msg, msg_size, "cannot describe the guest's controls: %s",
                                 strerror(-r));
                return r;
        }
        *ret = set;
        return 0;
}

int vm_controls_check(const VmControlSet *set, unsigned applied, char *msg, size_t msg_size) {
        for (int k = 0; k < _VM_CONTROL_MAX; k++) {
                if ((set->required & (1u << k)) && !(applied & (1u << k))) {
                        snprintf(msg, msg_size,
                                 "the guest did not apply the required control %s; the run was "
                                 "stopped",
                                 vm_control_plan_name((VmControl) k));
                        return -EPROTO;
                }
                if (!(set->sent & (1u << k)) && (applied & (1u << k))) {
                        snprintf(msg, msg_size,
                                 "the guest reported control %s applied, which was not asked "
                                 "for; the run was stopped",
                                 vm_control_plan_name((VmControl) k));
                        return -EPROTO;
                }
        }
        return 0;
}

ControlOutcome *vm_controls_outcomes(const Plan *plan, bool started, bool reported,
                                     unsigned applied) {
        ControlOutcome *out = calloc(plan->n_controls ? plan->n_controls : 1, sizeof(*out));

        if (!out)
                return NULL;
        for (size_t i = 0; i < plan->n_controls; i++) {
                const PlanControl *c = &plan->controls[i];
                int guest = -1;

                for (int k = 0; k < _VM_CONTROL_MAX; k++)
                        if (strcmp(c->name, vm_control_plan_name((VmControl) k)) == 0)
                                guest = k;
                if (c->status == CONTROL_NOT_APPLICABLE)
                        out[i] = CONTROL_OUTCOME_NOT_APPLICABLE;
                else if (guest == VM_CONTROL_RLIMITS && plan->sandbox.n_rlimits == 0)
                        out[i] = started ? CONTROL_OUTCOME_APPLIED : CONTROL_OUTCOME_NOT_REACHED;
                else if (!started && reported && guest >= 0)
                        out[i] = applied & (1u << guest)         ? CONTROL_OUTCOME_APPLIED
                                 : c->status == CONTROL_REQUIRED ? CONTROL_OUTCOME_FAILED
                                                                 : CONTROL_OUTCOME_DEGRADED;
                else if (!started)
                        out[i] = CONTROL_OUTCOME_NOT_REACHED;
                else if (guest >= 0 && !(applied & (1u << guest)))
                        out[i] = c->status == CONTROL_REQUIRED ? CONTROL_OUTCOME_FAILED
                                                               : CONTROL_OUTCOME_DEGRADED;
                else if (c->status == CONTROL_DEGRADED)
                        out[i] = CONTROL_OUTCOME_DEGRADED;
                else
                        out[i] = CONTROL_OUTCOME_APPLIED;
        }
        return out;
}

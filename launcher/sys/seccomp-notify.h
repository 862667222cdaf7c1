/* SPDX-License-Identifier: MIT */
/* The denial supervisor: runs in the moat parent, outside every sandbox namespace, with the
 * caller's credentials, for as long as the workload runs. It owns the listener fd the child
 * obtained from sys_seccomp_load() and passed up. Each notification is a denied call; the
 * supervisor re-evaluates it against the plan's rules (syscall number per ABI, arguments),
 * answers with that rule's errno (never SECCOMP_USER_NOTIF_FLAG_CONTINUE: the call is never
 * executed) and records it in a DenialTable for the audit record. It changes no state of its
 * own besides the table; closing the listener makes any further deny-rule call fail with
 * ENOSYS in the workload (still denied). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "executor.h"
#include "plan/plan.h"

typedef struct DenialTable {
        RunDenial *items;
        size_t n, allocated;
} DenialTable;

/* Receive one notification (SECCOMP_IOCTL_NOTIF_RECV; it blocks, so call it when poll()
 * reports POLLIN on notify_fd; POLLHUP means no task uses the filter any more), find the rule
 * it matched, answer with -errno_value (SECCOMP_IOCTL_NOTIF_SEND) and record the syscall
 * name, ABI, count and first time in t.
 * Returns 1 when a denial was answered and recorded, 0 when there was nothing to answer (the
 * target died or was interrupted: ENOENT, the notification is gone, the workload is never left
 * waiting), -errno on a failure of the fd itself (the caller stops supervising). A call that
 * matches no rule (cannot happen with a filter compiled from p) is answered with EPERM and
 * recorded with rule_index -1. */
int sys_seccomp_notify_handle(int notify_fd, const PlanSeccomp *p, DenialTable *t);

/* The rule of p a call (AUDIT_ARCH_* arch, syscall nr, six arguments) matches, first in plan
 * order, or -1. Exposed for the supervisor and its tests. */
int sys_seccomp_rule_match(const PlanSeccomp *p, uint32_t arch, int nr, const uint64_t args[6]);

/* Move the recorded denials out (for RunOutcome.denials/n_denials); t is left empty. */
void denial_table_take(DenialTable *t, RunDenial **ret_items, size_t *ret_n);
void denial_table_done(DenialTable *t);

/* SPDX-License-Identifier: MIT */
/* The sandbox tier's controls on the command, applied inside the guest by moat-init: which of
 * them the plan asks for (by the plan's control names, vm_control_plan_name()), their
 * configuration records (vm-proto.h: S k n L l U r x y), and, after the run, the per-control
 * outcome for the audit record from what the guest reported applied. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "executor.h"
#include "plan/plan.h"

typedef struct VmControlSet {
        unsigned sent;     /* 1u << VmControl: records sent, the guest must apply or fail */
        unsigned required; /* of those, the ones the plan requires */
} VmControlSet;

/* Appends the records for every control the plan lists as required or best-effort and the
 * guest applies. Compiles the seccomp program here, on the host, with libseccomp (the sandbox
 * tier's compiler, the same rules: x86-64, x32 and i386, other ABIs killed). 0 or -errno with
 * a sentence in msg. */
int vm_controls_config(const Plan *plan, char **buf, size_t *len, VmControlSet *ret, char *msg,
                       size_t msg_size);

/* Checks the guest's report at "started": every required control sent must be reported
 * applied, and nothing that was not sent may be. 0, or -EPROTO with the first missing or
 * unexpected control named in msg. PURE. */
int vm_controls_check(const VmControlSet *set, unsigned applied, char *msg, size_t msg_size);

/* Per-control outcomes in plan order (n = plan->n_controls), malloc()ed; NULL on -ENOMEM.
 * reported: the guest reached the start and reported what it applied (also when moat then
 * stopped the run for a missing one: those are failed, the others not reached). PURE. */
ControlOutcome *vm_controls_outcomes(const Plan *plan, bool started, bool reported,
                                     unsigned applied);

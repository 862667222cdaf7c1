/* SPDX-License-Identifier: MIT */
/* Resource limits (setrlimit) from plan->sandbox.rlimits: run in the sandbox child before it
 * forks the workload, so init and the workload are both bound. Permanent for the process and
 * its descendants (a lowered hard limit cannot be raised again without privilege over the
 * host's user namespace). */
#pragma once

#include <stddef.h>

#include "plan/plan.h"

/* Apply every limit; a containing limit (NPROC, AS, FSIZE, CPU, CORE) whose current hard value
 * is already lower keeps that lower value. Stops at the first failure and returns its -errno with *ret_failed set to
 * its index. */
int sys_rlimit_apply(const PlanRlimit *limits, size_t n, size_t *ret_failed);

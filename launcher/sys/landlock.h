/* SPDX-License-Identifier: MIT */
/* Landlock: runs in the child after pivot_root (so every path in the plan is resolved inside
 * the new root) and after no_new_privs, before seccomp, with whatever credentials the child has
 * then (no privilege needed). It uses the raw syscalls (landlock_create_ruleset, add_rule,
 * restrict_self). It leaves behind a Landlock domain on the calling thread, inherited by every
 * descendant and irreversible; every fd it opens is O_CLOEXEC and closed before it returns. */
#pragma once

#include "plan/plan.h"

/* The running kernel's Landlock ABI version, 0 when Landlock is unavailable or disabled. */
int sys_landlock_abi(void);

/* The access rights and scopes ABI abi knows (every one of them, for a ruleset that handles
 * all it can): 0 for an ABI that has none. */
uint64_t sys_landlock_known_fs(int abi);
uint64_t sys_landlock_known_net(int abi);
uint64_t sys_landlock_known_scoped(int abi);

/* Apply the plan's ruleset. 0, or -errno; whether a failure stops the run (required) or
 * degrades it (best-effort) is the caller's decision from p->status. p->abi == 0 gives
 * -EOPNOTSUPP; an ABI above the running kernel's gives -EOPNOTSUPP too (the plan was computed
 * for another host). Access bits the running ABI does not know are refused (-EINVAL), never
 * silently passed or dropped. A path rule whose path does not exist in the new root is skipped
 * (nothing exists there to grant access to, and the rule only ever widens access); any other
 * error opening it fails. Rights on a non-directory are reduced to the file rights. */
int sys_landlock_apply(const PlanLandlock *p);

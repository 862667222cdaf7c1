/* SPDX-License-Identifier: MIT */
/* User namespace id maps, written by the moat parent (never a setuid newuidmap) for a child it
 * just created with CLONE_NEWUSER: one line each, the caller's uid and gid mapped to the ids
 * the plan asks for inside, and setgroups denied first (required before an unprivileged gid
 * map, and it keeps the child from dropping supplementary groups used as deny rules). As root
 * the same single-id map is written: the sandbox never sees more than one host id. */
#pragma once

#include <sys/types.h>

int sys_idmap_write_from_parent(pid_t child, uid_t inside_uid, uid_t outside_uid, gid_t inside_gid,
                                gid_t outside_gid);

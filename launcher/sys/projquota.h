/* SPDX-License-Identifier: MIT */
/* Project quotas (ext4, xfs) on directory trees: the total a writable bind may receive.
 *
 * A project quota counts every block charged to one project id on one file system, whoever
 * writes it. moat gives each run a project id of its own, puts every directory and regular file
 * of the bind's tree into it (directories with PROJINHERIT, so that what the workload creates
 * there joins the project), sets the id's hard limit to what the tree holds plus
 * resources.disk, and afterwards puts every inode of the tree that carries the id back into
 * project 0 and removes the limit. Only the initial user namespace may change a project id or
 * the inherit flag (fileattr_set_prepare()), so the workload, in its own user namespace, cannot
 * leave the project; the hard limit is ignored only for CAP_SYS_RESOURCE in the initial user
 * namespace, which no workload has.
 *
 * Everything here needs the initial namespace's CAP_SYS_ADMIN (quotactl Q_SETQUOTA) and
 * CAP_FOWNER or ownership (FS_IOC_FSSETXATTR): moat uses it only for root callers. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Whether the file system of fd (any fd on it, O_PATH included) accounts and enforces project
 * quota limits. 0 when it does; otherwise -errno with *ret_reason saying why (static text). */
int sys_projquota_check(int fd, const char **ret_reason);

/* The id's usage in bytes and its hard limit in bytes (0 = none) on fd's file system. */
int sys_projquota_get(int fd, uint32_t id, uint64_t *ret_used, uint64_t *ret_limit);

/* Sets the id's hard block limit to `bytes` rounded up to a KiB (0 removes every limit). */
int sys_projquota_set_limit(int fd, uint32_t id, uint64_t bytes);

/* An id nothing on fd's file system is charged to and that has no limit, chosen at random
 * from moat's range [MOAT_PROJID_MIN, MOAT_PROJID_MAX]. */
#define MOAT_PROJID_MIN 0x6d000000u
#define MOAT_PROJID_MAX 0x6dffffffu
int sys_projquota_pick_id(int fd, uint32_t *ret_id);

/* Puts the tree at root_fd (a directory or a regular file; O_PATH is enough) into project `id`:
 * every directory (with PROJINHERIT) and regular file, never following a symbolic link and
 * never crossing into another mount. Fails with -EEXIST when an inode already belongs to
 * another project (or inherits one), -EXDEV at a mount inside the tree, and with *ret_path
 * (allocated, relative to the root; may be NULL) naming the inode. What it changed before a
 * failure stays changed: sys_projquota_tree_release() undoes it. */
int sys_projquota_tree_assign(int root_fd, uint32_t id, char **ret_path);

/* Puts every inode of the tree that carries `id` back into project 0 and clears PROJINHERIT.
 * Directories and regular files are changed in place; symbolic links, FIFOs and sockets, which
 * cannot be opened for the ioctl, are replaced by identical copies made outside the project
 * (same target or mode, owner, timestamps) when they were born at or after since_sec (all of
 * them where the file system does not record birth times). Inodes of other projects are not
 * touched. Goes on after an error and returns the first. */
int sys_projquota_tree_release(int root_fd, uint32_t id, int64_t since_sec);

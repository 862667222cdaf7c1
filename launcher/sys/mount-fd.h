/* SPDX-License-Identifier: MIT */
/* Mounts, with the fd-based API only (fsopen/fsmount, open_tree, move_mount, mount_setattr).
 *
 * Runs in the sandbox child, inside its new user and mount namespaces, holding a full
 * capability set over them and nothing over the host. It changes only the child's private
 * mount namespace (sys_mount_make_private() first cuts propagation to and from the host), and
 * the directories and empty files it creates as mount points inside the new root (which can
 * be inside a writable bind, like bubblewrap does). Every target is resolved inside the new
 * root with openat2(RESOLVE_IN_ROOT|RESOLVE_NO_SYMLINKS): a symlink anywhere on a target path
 * (for instance one planted in a writable bind by an earlier run) stops the mount with ELOOP
 * instead of redirecting it. There is no fallback to mount(2) with paths: a kernel without the
 * new API (< 5.12 for mount_setattr) fails the run, because the old API cannot make a
 * recursive bind read-only recursively. */
#pragma once

#include <stdbool.h>

typedef enum MountCreate {
        MOUNT_CREATE_NONE, /* the target must exist */
        MOUNT_CREATE_DIR,  /* create missing components as directories */
        MOUNT_CREATE_FILE, /* ... and the last one as an empty file */
} MountCreate;

/* mount --make-rprivate / in the current (new) mount namespace. */
int sys_mount_make_private(void);

/* A new, detached filesystem instance (fsopen + fsconfig + fsmount). opts is NULL or a
 * NULL-terminated list of "key=value" or "flag" strings; plan_flags are PLAN_MOUNT_*. */
int sys_mount_fs(const char *fstype, const char *const *opts, unsigned plan_flags, int *ret_mnt_fd);
/* A detached recursive clone of the tree at path (open_tree OPEN_TREE_CLONE|AT_RECURSIVE),
 * with plan_flags applied recursively (mount_setattr AT_RECURSIVE), so a read-only bind is
 * read-only on every submount too. path is resolved in the current root, following symlinks
 * (sources are host paths the profile names). */
int sys_mount_clone_tree(const char *path, unsigned plan_flags, int *ret_mnt_fd);
/* The same for the object fd refers to (an O_PATH fd from sys_mount_resolve()). */
int sys_mount_clone_fd(int fd, unsigned plan_flags, int *ret_mnt_fd);
int sys_mount_set_flags(int mnt_fd, unsigned plan_flags, bool recursive);
/* A detached clone of the single mount mnt_fd refers to (attached or not), with its flags:
 * one source for many identical masks without setting the flags each time. */
int sys_mount_clone_mount(int mnt_fd, int *ret_mnt_fd);
/* Create name directly in dir_fd, a directory moat itself just created in a file system only
 * it can write to yet (a fresh tmpfs): an empty file (O_CREAT|O_EXCL|O_NOFOLLOW, the fd is
 * returned) or a directory (an O_PATH fd, no symlink followed). A mount target without any
 * path resolution. */
int sys_mount_new_point(int dir_fd, const char *name, MountCreate create, int *ret_fd);

/* O_PATH fd of path below dir_fd: no "..", no absolute path, no symlink anywhere on the way.
 * For bind sources given relative to the work directory, which an earlier run may have
 * filled with symlinks pointing anywhere on the host. */
int sys_mount_open_beneath(int dir_fd, const char *path, int *ret_fd);
/* O_PATH fd of path inside root_fd, never leaving it and never following a symlink. */
int sys_mount_resolve(int root_fd, const char *path, MountCreate create, int *ret_fd);
/* Attach a detached mount onto the object target_fd refers to. */
int sys_mount_attach(int mnt_fd, int target_fd);
/* Attach a detached mount onto an absolute path of the current root (the staging point). */
int sys_mount_attach_path(int mnt_fd, const char *path);
/* Create path inside root_fd as a symlink to content (parents created as directories); an
 * existing identical symlink is accepted. */
int sys_mount_symlink(int root_fd, const char *path, const char *content);

/* Make root_fd (an attached mount) the root of this mount namespace and detach the old root. */
int sys_mount_pivot_root(int root_fd);

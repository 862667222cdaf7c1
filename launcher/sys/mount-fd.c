/* SPDX-License-Identifier: MIT */
/* fd-based mounts in the sandbox child; contract in mount-fd.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "basic/macros.h"
#include "plan/plan.h"
#include "sys/mount-fd.h"

/* Resolution rules for a target inside the new root. NO_SYMLINKS implies NO_MAGICLINKS; both
 * are spelled out so that loosening one is a visible decision. */
#define RESOLVE_TARGET (RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)
#define RESOLVE_COMPONENT (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)

static int openat2_path(int dfd, const char *path, uint64_t resolve) {
        struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = resolve };
        int fd;

        do
                fd = (int) syscall(SYS_openat2, dfd, path, &how, sizeof(how));
        while (fd < 0 && errno == EAGAIN);
        return fd < 0 ? -errno : fd;
}

static uint64_t plan_flags_to_attr(unsigned plan_flags) {
        uint64_t a = 0;
        if (plan_flags & PLAN_MOUNT_RDONLY)
                a |= MOUNT_ATTR_RDONLY;
        if (plan_flags & PLAN_MOUNT_NOSUID)
                a |= MOUNT_ATTR_NOSUID;
        if (plan_flags & PLAN_MOUNT_NODEV)
                a |= MOUNT_ATTR_NODEV;
        if (plan_flags & PLAN_MOUNT_NOEXEC)
                a |= MOUNT_ATTR_NOEXEC;
        return a;
}

int sys_mount_make_private(void) {
        return RET_NERRNO(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
}

int sys_mount_fs(const char *fstype, const char *const *opts, unsigned plan_flags,
                 int *ret_mnt_fd) {
        _cleanup_close_ int fs_fd = fsopen(fstype, FSOPEN_CLOEXEC);
        if (fs_fd < 0)
                return -errno;
        for (const char *const *o = opts; o && *o; o++) {
                char key[64];
                const char *eq = strchr(*o, '=');
                int r;
                if (eq) {
                        size_t kl = (size_t) (eq - *o);
                        if (kl >= sizeof(key))
                                return -EINVAL;
                        memcpy(key, *o, kl);
                        key[kl] = 0;
                        r = fsconfig(fs_fd, FSCONFIG_SET_STRING, key, eq + 1, 0);
                } else
                        r = fsconfig(fs_fd, FSCONFIG_SET_FLAG, *o, NULL, 0);
                if (r < 0)
                        return -errno;
        }
        if (fsconfig(fs_fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return -errno;
        int mnt_fd = fsmount(fs_fd, FSMOUNT_CLOEXEC, (unsigned) plan_flags_to_attr(plan_flags));
        if (mnt_fd < 0)
                return -errno;
        *ret_mnt_fd = mnt_fd;
        return 0;
}

int sys_mount_set_flags(int mnt_fd, unsigned plan_flags, bool recursive) {
        struct mount_attr attr = { .attr_set = plan_flags_to_attr(plan_flags) };
        if (attr.attr_set == 0)
                return 0;
        return RET_NERRNO(mount_setattr(mnt_fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0),
                                        &attr, sizeof(attr)));
}

static int clone_at(int dfd, const char *path, unsigned flags, unsigned plan_flags,
                    int *ret_mnt_fd) {
        _cleanup_close_ int mnt_fd =
                open_tree(dfd, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | flags);
        if (mnt_fd < 0)
                return -errno;
        int r = sys_mount_set_flags(mnt_fd, plan_flags, true);
        if (r < 0)
                return r;
        *ret_mnt_fd = TAKE_FD(mnt_fd);
        return 0;
}

int sys_mount_clone_tree(const char *path, unsigned plan_flags, int *ret_mnt_fd) {
        return clone_at(AT_FDCWD, path, 0, plan_flags, ret_mnt_fd);
}

int sys_mount_clone_fd(int fd, unsigned plan_flags, int *ret_mnt_fd) {
        return clone_at(fd, "", AT_EMPTY_PATH, plan_flags, ret_mnt_fd);
}

/* Walk path component by component below root_fd, creating what is missing. Called once the
 * whole path did not resolve: when every parent did, the last component is the one missing, so
 * it is created without being looked up first (EEXIST, a race in our own mount namespace, is
 * then opened as it is, with the same rules). */
static int resolve_creating(int root_fd, const char *path, MountCreate create, int *ret_fd) {
        char buf[PATH_MAX];
        char *save = NULL;
        _cleanup_close_ int owned = -EBADF;
        int cur = root_fd; /* the walk starts at root_fd itself: RESOLVE_BENEATH of it */

        if (strlen(path) >= sizeof(buf))
                return -ENAMETOOLONG;
        strcpy(buf, path);
        for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                bool last = !save || *save == 0 || strspn(save, "/") == strlen(save);
                int fd = -ENOENT;

                if (strcmp(c, ".") == 0 || strcmp(c, "..") == 0)
                        return -EINVAL;
                if (!last)
                        fd = openat2_path(cur, c, RESOLVE_COMPONENT);
                if (fd == -ENOENT) {
                        int r;
                        if (last && create == MOUNT_CREATE_FILE) {
                                r = openat(cur, c,
                                           O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC |
                                                   O_NOCTTY,
                                           0644);
                                if (r >= 0)
                                        close(r);
                        } else
                                r = mkdirat(cur, c, 0755);
                        if (r < 0 && errno != EEXIST)
                                return -errno;
                        fd = openat2_path(cur, c, RESOLVE_COMPONENT);
                }
                if (fd < 0)
                        return fd;
                safe_close(owned);
                cur = owned = fd;
        }
        if (owned < 0) /* no component: the root itself */
                owned = openat2_path(root_fd, ".", RESOLVE_COMPONENT);
        if (owned < 0)
                return owned;
        *ret_fd = TAKE_FD(owned);
        return 0;
}

int sys_mount_clone_mount(int mnt_fd, int *ret_mnt_fd) {
        int fd = open_tree(mnt_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
        if (fd < 0)
                return -errno;
        *ret_mnt_fd = fd;
        return 0;
}

int sys_mount_new_point(int dir_fd, const char *name, MountCreate create, int *ret_fd) {
        int fd;

        if (create == MOUNT_CREATE_FILE) {
                fd = openat(dir_fd, name,
                            O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
                if (fd < 0)
                        return -errno;
                *ret_fd = fd;
                return 0;
        }
        if (create != MOUNT_CREATE_DIR)
                return -EINVAL;
        if (mkdirat(dir_fd, name, 0755) < 0)
                return -errno;
        fd = openat2_path(dir_fd, name, RESOLVE_COMPONENT);
        if (fd < 0)
                return fd;
        *ret_fd = fd;
        return 0;
}

int sys_mount_open_beneath(int dir_fd, const char *path, int *ret_fd) {
        int fd = openat2_path(dir_fd, path, RESOLVE_COMPONENT);
        if (fd < 0)
                return fd;
        *ret_fd = fd;
        return 0;
}

int sys_mount_resolve(int root_fd, const char *path, MountCreate create, int *ret_fd) {
        int fd = openat2_path(root_fd, path, RESOLVE_TARGET);
        if (fd >= 0) {
                *ret_fd = fd;
                return 0;
        }
        if (fd != -ENOENT || create == MOUNT_CREATE_NONE)
                return fd;
        return resolve_creating(root_fd, path, create, ret_fd);
}

int sys_mount_attach(int mnt_fd, int target_fd) {
        return RET_NERRNO(move_mount(mnt_fd, "", target_fd, "",
                                     MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH));
}

int sys_mount_attach_path(int mnt_fd, const char *path) {
        return RET_NERRNO(move_mount(mnt_fd, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH));
}

int sys_mount_symlink(int root_fd, const char *path, const char *content) {
        char parent[PATH_MAX];
        const char *slash = strrchr(path, '/');
        _cleanup_close_ int parent_fd = -EBADF;
        int r;

        if (!slash || slash[1] == 0 || strlen(path) >= sizeof(parent))
                return -EINVAL;
        memcpy(parent, path, (size_t) (slash - path));
        parent[slash - path] = 0;
        if (parent[0]) {
                r = sys_mount_resolve(root_fd, parent, MOUNT_CREATE_DIR, &parent_fd);
                if (r < 0)
                        return r;
        }
        /* A link in "/" is made in root_fd itself: nothing to resolve. */
        if (symlinkat(content, parent[0] ? parent_fd : root_fd, slash + 1) >= 0)
                return 0;
        if (errno != EEXIST)
                return -errno;
        char existing[PATH_MAX];
        ssize_t n = readlinkat(parent[0] ? parent_fd : root_fd, slash + 1, existing,
                               sizeof(existing) - 1);
        if (n < 0)
                return -EEXIST;
        existing[n] = 0;
        return strcmp(existing, content) == 0 ? 0 : -EEXIST;
}

int sys_mount_pivot_root(int root_fd) {
        if (fchdir(root_fd) < 0)
                return -errno;
        /* pivot_root(".", ".") stacks the old root on top of the new one; detaching "."
         * then removes the old root without needing a directory for it (see pivot_root(2)). */
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                return -errno;
        if (umount2(".", MNT_DETACH) < 0)
                return -errno;
        return RET_NERRNO(chdir("/"));
}

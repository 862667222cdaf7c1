/* SPDX-License-Identifier: MIT */
/* Project quotas on directory trees (see projquota.h).
 *
 * quotactl_fd(2) (Linux 5.14) addresses the file system by any fd on it, so no block device
 * path is needed. Q_XGETQSTATV works on ext4 (dquot_get_state) as on xfs and tells accounting
 * (FS_QUOTA_PDQ_ACCT) from enforcement (FS_QUOTA_PDQ_ENFD): ext4 mounted without the prjquota
 * option, or xfs without pquota, accounts project usage but ignores every limit, and a quota
 * set there would fail open. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/dqblk_xfs.h>
#include <linux/fs.h>
#include <linux/quota.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "basic/macros.h"
#include "sys/projquota.h"

#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif

/* Deeper trees are refused rather than walked: each level holds a directory fd. */
#define WALK_MAX_DEPTH 256

static int quotactl_fd_(int fd, unsigned cmd, unsigned type, uint32_t id, void *addr) {
        long r = syscall(SYS_quotactl_fd, fd, QCMD(cmd, type), id, addr);
        return r < 0 ? -errno : 0;
}

int sys_projquota_check(int fd, const char **ret_reason) {
        struct fs_quota_statv st = { .qs_version = FS_QSTATV_VERSION1 };
        int r = quotactl_fd_(fd, Q_XGETQSTATV, PRJQUOTA, 0, &st);

        /* ENOSYS is also a file system's answer without the operation: a bad fd tells */
        if (r == -ENOSYS && quotactl_fd_(-1, Q_XGETQSTATV, PRJQUOTA, 0, &st) == -ENOSYS) {
                *ret_reason = "the kernel has no quotactl_fd (Linux 5.14 or later is needed)";
                return r;
        }
        if (r < 0) {
                /* ENOSYS, EINVAL from the file system: no quota operations for it */
                *ret_reason = r == -ENOSYS ? "this kernel has no quota support for the file "
                                             "system (ext4 needs CONFIG_QFMT_V2, xfs "
                                             "CONFIG_XFS_QUOTA)"
                                           : "the file system has no quota support";
                return r;
        }
        if (!(st.qs_flags & FS_QUOTA_PDQ_ACCT)) {
                *ret_reason =
                        "project quotas are off on this file system (ext4: tune2fs -O "
                        "quota,project and mount -o prjquota; xfs: mount -o pquota)";
                return -ENOTSUP;
        }
        if (!(st.qs_flags & FS_QUOTA_PDQ_ENFD)) {
                *ret_reason =
                        "project quotas are accounted but not enforced on this file system "
                        "(ext4: mount -o prjquota; xfs: mount -o pquota)";
                return -ENOTSUP;
        }
        *ret_reason = NULL;
        return 0;
}

int sys_projquota_get(int fd, uint32_t id, uint64_t *ret_used, uint64_t *ret_limit) {
        struct if_dqblk q = {};
        int r = quotactl_fd_(fd, Q_GETQUOTA, PRJQUOTA, id, &q);
        if (r < 0)
                return r;
        if (ret_used)
                *ret_used = q.dqb_curspace;
        if (ret_limit)
                *ret_limit = q.dqb_bhardlimit * QIF_DQBLKSIZE;
        return 0;
}

int sys_projquota_set_limit(int fd, uint32_t id, uint64_t bytes) {
        struct if_dqblk q = {
                .dqb_bhardlimit = (bytes + QIF_DQBLKSIZE - 1) / QIF_DQBLKSIZE,
                .dqb_valid = QIF_LIMITS,
        };
        return quotactl_fd_(fd, Q_SETQUOTA, PRJQUOTA, id, &q);
}

int sys_projquota_pick_id(int fd, uint32_t *ret_id) {
        for (int attempt = 0; attempt < 64; attempt++) {
                struct if_dqblk q = {};
                uint32_t v;
                if (getrandom(&v, sizeof(v), 0) != sizeof(v))
                        return -errno ?: -EIO;
                uint32_t id = MOAT_PROJID_MIN + v % (MOAT_PROJID_MAX - MOAT_PROJID_MIN + 1);
                int r = quotactl_fd_(fd, Q_GETQUOTA, PRJQUOTA, id, &q);
                if (r < 0)
                        return r;
                if (!q.dqb_curspace && !q.dqb_curinodes && !q.dqb_bhardlimit && !q.dqb_bsoftlimit &&
                    !q.dqb_ihardlimit && !q.dqb_isoftlimit) {
                        *ret_id = id;
                        return 0;
                }
        }
        return -EBUSY;
}

typedef struct Walk {
        uint32_t id;
        bool assign;
        int64_t since_sec;   /* release: special inodes born before this are left alone */
        uint64_t mnt_id;     /* the root's mount */
        char path[PATH_MAX]; /* the inode in hand, relative to the root */
        int error;           /* the first error */
        char *error_path;
} Walk;

static void walk_fail(Walk *w, int r) {
        if (w->error < 0)
                return;
        w->error = r;
        w->error_path = strdup(w->path[0] ? w->path : ".");
}

static int mount_id(int fd, uint64_t *ret) {
        struct statx stx = {};
        if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) < 0)
                return -errno;
        if (!(stx.stx_mask & STATX_MNT_ID))
                return -EOPNOTSUPP;
        *ret = stx.stx_mnt_id;
        return 0;
}

/* Assign or release one directory or regular file, open as fd. */
static int change_inode(Walk *w, int fd, bool dir) {
        struct fsxattr a = {};
        uint64_t mnt;
        int r;

        if ((r = mount_id(fd, &mnt)) < 0)
                return r;
        if (mnt != w->mnt_id)
                return -EXDEV;
        if (ioctl(fd, FS_IOC_FSGETXATTR, &a) < 0)
                return -errno;
        if (w->assign) {
                if (a.fsx_projid == w->id && (!dir || (a.fsx_xflags & FS_XFLAG_PROJINHERIT)))
                        return 0; /* a second link to an inode already done */
                if (a.fsx_projid != 0 || (a.fsx_xflags & FS_XFLAG_PROJINHERIT))
                        return -EEXIST;
                a.fsx_projid = w->id;
                if (dir)
                        a.fsx_xflags |= FS_XFLAG_PROJINHERIT;
        } else {
                if (a.fsx_projid != w->id)
                        return 0;
                a.fsx_projid = 0;
                a.fsx_xflags &= ~(unsigned) FS_XFLAG_PROJINHERIT;
        }
        return ioctl(fd, FS_IOC_FSSETXATTR, &a) < 0 ? -errno : 0;
}

/* Release: a symbolic link, FIFO, socket or device node made in a directory of the project
 * carries its id, and no ioctl reaches it. An identical copy made now, in the directory that
 * is back in project 0, replaces it. */
static int recreate_special(Walk *w, int dfd, const char *name) {
        struct statx stx = {};
        char tmp[64], target[PATH_MAX];
        int r = 0;

        if (statx(dfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &stx) < 0)
                return errno == ENOENT ? 0 : -errno;
        if ((stx.stx_mask & STATX_BTIME) && stx.stx_btime.tv_sec < w->since_sec)
                return 0; /* older than the project: never in it */
        uint32_t rnd;
        if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
                return -EIO;
        snprintf(tmp, sizeof(tmp), ".moat-projquota-%08x", rnd);
        mode_t type = stx.stx_mode & S_IFMT;
        if (type == S_IFLNK) {
                ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
                if (n < 0)
                        return -errno;
                target[n] = 0;
                if (symlinkat(target, dfd, tmp) < 0)
                        return -errno;
        } else {
                /* the mode exactly, at creation: a chmod by name afterwards would follow a
                 * symbolic link that another user of the directory put in tmp's place */
                mode_t old = umask(0);
                int m = mknodat(dfd, tmp, type | (stx.stx_mode & 07777),
                                makedev(stx.stx_rdev_major, stx.stx_rdev_minor));
                int e = errno;
                umask(old);
                if (m < 0)
                        return -e;
        }
        struct timespec times[2] = {
                { .tv_sec = stx.stx_atime.tv_sec, .tv_nsec = stx.stx_atime.tv_nsec },
                { .tv_sec = stx.stx_mtime.tv_sec, .tv_nsec = stx.stx_mtime.tv_nsec },
        };
        /* by name, never following: the owner and the times apply to tmp itself */
        if (fchownat(dfd, tmp, stx.stx_uid, stx.stx_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
            utimensat(dfd, tmp, times, AT_SYMLINK_NOFOLLOW) < 0 ||
            renameat(dfd, tmp, dfd, name) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dfd, tmp, 0);
        return r;
}

static void walk_dir(Walk *w, int fd, unsigned depth);

/* One entry of the directory dfd; w->path names it. */
static void walk_entry(Walk *w, int dfd, const char *name, unsigned char d_type, bool parent_ours,
                       unsigned depth) {
        struct stat st;
        int r;

        if (d_type == DT_UNKNOWN) {
                if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno != ENOENT)
                                walk_fail(w, -errno);
                        return;
                }
                d_type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_LNK;
        }
        if (d_type == DT_DIR || d_type == DT_REG) {
                int cfd = openat(dfd, name,
                                 (d_type == DT_DIR ? O_DIRECTORY : O_NONBLOCK | O_NOCTTY) |
                                         O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                if (cfd < 0) {
                        if (errno != ENOENT)
                                walk_fail(w, -errno);
                        return;
                }
                if (d_type == DT_DIR) {
                        if (depth + 1 > WALK_MAX_DEPTH) {
                                walk_fail(w, -ELOOP);
                                close(cfd);
                                return;
                        }
                        walk_dir(w, cfd, depth + 1); /* takes cfd */
                        return;
                }
                r = change_inode(w, cfd, false);
                close(cfd);
                if (r < 0)
                        walk_fail(w, r);
                return;
        }
        /* Symbolic links, FIFOs, sockets, device nodes hold no blocks of the workload's data
         * (a long link target holds one): assign leaves them, release recreates those that
         * may have been made inside the project. */
        if (!w->assign && parent_ours && (r = recreate_special(w, dfd, name)) < 0)
                walk_fail(w, r);
}

/* Takes fd (a directory open O_RDONLY). */
static void walk_dir(Walk *w, int fd, unsigned depth) {
        struct fsxattr a = {};
        bool ours = ioctl(fd, FS_IOC_FSGETXATTR, &a) == 0 && a.fsx_projid == w->id;
        int r = change_inode(w, fd, true);
        if (r < 0) {
                walk_fail(w, r);
                close(fd);
                /* Assign stops here; release goes on below anything it could not change. */
                if (w->assign || r == -EXDEV)
                        return;
                fd = -1;
        }
        if (fd < 0)
                return;
        DIR *d = fdopendir(fd);
        if (!d) {
                walk_fail(w, -errno);
                close(fd);
                return;
        }
        size_t len = strlen(w->path);
        struct dirent *de;
        errno = 0;
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                int n = snprintf(w->path + len, sizeof(w->path) - len, "%s%s", len ? "/" : "",
                                 de->d_name);
                if (n < 0 || (size_t) n >= sizeof(w->path) - len) {
                        w->path[len] = 0;
                        walk_fail(w, -ENAMETOOLONG);
                        continue;
                }
                walk_entry(w, dirfd(d), de->d_name, de->d_type, ours, depth);
                w->path[len] = 0;
                if (w->assign && w->error < 0)
                        break;
                errno = 0;
        }
        if (errno && !de)
                walk_fail(w, -errno);
        closedir(d);
}

static int walk(int root_fd, uint32_t id, bool assign, int64_t since_sec, char **ret_path) {
        Walk w = { .id = id, .assign = assign, .since_sec = since_sec };
        struct stat st;
        int r, fd;

        if (ret_path)
                *ret_path = NULL;
        if ((r = mount_id(root_fd, &w.mnt_id)) < 0)
                return r;
        if (fstat(root_fd, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
                return -EINVAL;
        /* the root again, readable (root_fd may be O_PATH) */
        fd = openat(root_fd, ".", O_RDONLY | O_CLOEXEC | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
        if (fd < 0 && errno == ENOTDIR) {
                char proc[64];
                snprintf(proc, sizeof(proc), "/proc/self/fd/%d", root_fd);
                fd = open(proc, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        }
        if (fd < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                walk_dir(&w, fd, 0);
        else {
                r = change_inode(&w, fd, false);
                close(fd);
                if (r < 0)
                        walk_fail(&w, r);
        }
        if (ret_path)
                *ret_path = w.error_path;
        else
                free(w.error_path);
        return w.error;
}

int sys_projquota_tree_assign(int root_fd, uint32_t id, char **ret_path) {
        return walk(root_fd, id, true, 0, ret_path);
}

int sys_projquota_tree_release(int root_fd, uint32_t id, int64_t since_sec) {
        return walk(root_fd, id, false, since_sec, NULL);
}

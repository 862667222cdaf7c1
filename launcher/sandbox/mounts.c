/* SPDX-License-Identifier: MIT */
/* The sandbox's root file system, built in the child inside its new user and mount namespaces
 * (full capabilities over those only), before pivot_root.
 *
 * 1. Propagation to and from the host is cut (rprivate).
 * 2. Every bind source is cloned first (open_tree), while the host tree is still complete:
 *    the new root is staged on the host's /tmp (in this private namespace only), which would
 *    otherwise hide sources below /tmp.
 * 3. The root is a fresh tmpfs (or the plan's bind at "/", for an image root), staged on /tmp.
 * 4. plan->sandbox.mounts are applied in order; every target is resolved inside the new root
 *    with no symlink allowed on the way (sys/mount.c), so nothing a writable bind contains can
 *    redirect a later mount.
 * 5. pivot_root into it, detach the old root, and make the root tmpfs read-only (only mount
 *    points live there).
 *
 * The host's identifiers (/etc/machine-id, D-Bus's copy, boot_id) are covered by read-only files
 * holding the run's own values (mount_identity()). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/macros.h"
#include "plan/plan.h"
#include "sandbox/sandbox-internal.h"
#include "sys/mount-fd.h"

#define STAGING_DIR "/tmp"
#define DEFAULT_TMPFS_SIZE (64ULL << 20)

static const char *const dev_nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };

/* Clone a bind's source. Absolute sources are host paths the profile names, resolved as given.
 * Sources relative to the work directory are resolved beneath it with no symlink allowed:
 * the work directory is writable by earlier runs, and a symlink planted there must not turn
 * "./cache" into a bind of ~/.ssh. */
static int bind_clone(const PlanMount *m, const char *workdir, int *workdir_fd, int *ret_mnt_fd) {
        const char *src = m->source ? m->source : ".";
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (!(m->flags & PLAN_MOUNT_WORKDIR) || src[0] == '/') {
                if (src[0] != '/')
                        return -EINVAL;
                return sys_mount_clone_tree(src, m->flags, ret_mnt_fd);
        }
        if (!workdir || workdir[0] != '/')
                return -EINVAL;
        if (*workdir_fd < 0) {
                *workdir_fd = open(workdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (*workdir_fd < 0)
                        return -errno;
        }
        if (strcmp(src, ".") == 0 || src[0] == 0)
                return sys_mount_clone_fd(*workdir_fd, m->flags, ret_mnt_fd);
        r = sys_mount_open_beneath(*workdir_fd, src, &fd);
        if (r < 0)
                return r;
        return sys_mount_clone_fd(fd, m->flags, ret_mnt_fd);
}

static int attach_at(int root_fd, const char *target, MountCreate create, int mnt_fd) {
        _cleanup_close_ int target_fd = -EBADF;
        int r = sys_mount_resolve(root_fd, target, create, &target_fd);
        if (r < 0)
                return r;
        return sys_mount_attach(mnt_fd, target_fd);
}

static int mount_fs_at(int root_fd, const char *target, const char *fstype, const char *const *opts,
                       unsigned flags) {
        _cleanup_close_ int mnt_fd = -EBADF;
        int r = sys_mount_fs(fstype, opts, flags, &mnt_fd);
        if (r < 0)
                return r;
        return attach_at(root_fd, target, MOUNT_CREATE_DIR, mnt_fd);
}

static int mount_tmpfs_at(int root_fd, const char *target, uint64_t size, const char *mode,
                          unsigned flags) {
        char size_opt[48], mode_opt[16];
        snprintf(size_opt, sizeof(size_opt), "size=%llu",
                 (unsigned long long) (size ? size : DEFAULT_TMPFS_SIZE));
        snprintf(mode_opt, sizeof(mode_opt), "mode=%s", mode);
        const char *opts[] = { size_opt, mode_opt, NULL };
        return mount_fs_at(root_fd, target, "tmpfs", opts, flags);
}

/* The same mount sources serve every mask of a kind: the first mask is built (a clone of the
 * host's /dev/null made read-only, an empty read-only tmpfs), every later one is a clone of
 * that mount, flags and all. */
typedef struct MountCtx {
        int root_fd;
        int file_mask_fd;              /* the first attached /dev/null mask, or -EBADF */
        int dir_mask_fd;               /* the first attached empty tmpfs mask, or -EBADF */
        int dev_fd;                    /* moat's /dev tmpfs, once mounted, or -EBADF */
        int machine_id_fd, boot_id_fd; /* the first identity mount of each, or -EBADF */
        const SandboxIdentity *identity;
} MountCtx;

/* A tmpfs (nosuid, nodev, noexec; shm lives in it) with bind mounts of the host's harmless
 * device nodes, the fd symlinks, devpts and shm. Everything inside is created through dev_fd,
 * the root of the fresh tmpfs: nothing else can have written there, so nothing is resolved.
 * nosuid and noexec are set once, recursively, at the end (the node binds keep their own
 * nodev-less flags, which is what makes them usable). */
static int mount_dev(MountCtx *ctx, const char *target) {
        static const char *const links[][2] = {
                { "fd", "/proc/self/fd" },       { "stdin", "/proc/self/fd/0" },
                { "stdout", "/proc/self/fd/1" }, { "stderr", "/proc/self/fd/2" },
                { "ptmx", "pts/ptmx" },
        };
        static const char *const pts_opts[] = { "newinstance", "ptmxmode=0666", "mode=0620", NULL };
        _cleanup_close_ int dev_fd = -EBADF, shm_fd = -EBADF;
        char path[PATH_MAX], size_opt[48];
        int r;

        snprintf(size_opt, sizeof(size_opt), "size=%llu", (unsigned long long) DEFAULT_TMPFS_SIZE);
        const char *opts[] = { size_opt, "mode=0755", NULL };
        r = sys_mount_fs("tmpfs", opts, PLAN_MOUNT_NOSUID | PLAN_MOUNT_NODEV | PLAN_MOUNT_NOEXEC,
                         &dev_fd);
        if (r < 0 || (r = attach_at(ctx->root_fd, target, MOUNT_CREATE_DIR, dev_fd)) < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(dev_nodes); i++) {
                _cleanup_close_ int mnt_fd = -EBADF, node_fd = -EBADF;
                snprintf(path, sizeof(path), "/dev/%s", dev_nodes[i]);
                if ((r = sys_mount_clone_tree(path, 0, &mnt_fd)) < 0 ||
                    (r = sys_mount_new_point(dev_fd, dev_nodes[i], MOUNT_CREATE_FILE, &node_fd)) <
                            0 ||
                    (r = sys_mount_attach(mnt_fd, node_fd)) < 0)
                        return r;
        }
        for (size_t i = 0; i < ELEMENTSOF(links); i++)
                if (symlinkat(links[i][1], dev_fd, links[i][0]) < 0)
                        return -errno;
        {
                _cleanup_close_ int pts_fd = -EBADF, mnt_fd = -EBADF;
                if ((r = sys_mount_fs("devpts", pts_opts, PLAN_MOUNT_NOSUID | PLAN_MOUNT_NOEXEC,
                                      &mnt_fd)) < 0 ||
                    (r = sys_mount_new_point(dev_fd, "pts", MOUNT_CREATE_DIR, &pts_fd)) < 0 ||
                    (r = sys_mount_attach(mnt_fd, pts_fd)) < 0)
                        return r;
        }
        /* shm: sticky and world-writable whatever the umask, like /tmp */
        if (mkdirat(dev_fd, "shm", 0755) < 0)
                return -errno;
        shm_fd = openat(dev_fd, "shm", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (shm_fd < 0 || fchmod(shm_fd, 01777) < 0)
                return -errno;
        r = sys_mount_set_flags(dev_fd, PLAN_MOUNT_NOSUID | PLAN_MOUNT_NOEXEC, true);
        if (r >= 0)
                ctx->dev_fd = TAKE_FD(dev_fd);
        return r;
}

/* The names of the identity files in moat's /dev tmpfs, until identity_unlink(). */
static const char *const identity_names[] = { ".moat-machine-id", ".moat-boot-id" };

/* A read-only file holding value and a newline, as a detached mount. It is written in moat's
 * /dev tmpfs and cloned; identity_unlink() removes the name once every mount is in place (the
 * kernel refuses to attach a mount whose root is already unlinked). Root inside owns /dev, so a
 * name left there would let the workload rewrite its machine id under the read-only bind. */
static int identity_file(int dev_fd, const char *name, const char *value, int *ret_mnt_fd) {
        _cleanup_close_ int fd = -EBADF;
        char buf[64];
        int n = snprintf(buf, sizeof(buf), "%s\n", value);

        if (dev_fd < 0 || n <= 1 || (size_t) n >= sizeof(buf))
                return -EINVAL; /* a plan that puts identities before /dev */
        fd = openat(dev_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
        if (fd < 0)
                return -errno;
        if (write(fd, buf, (size_t) n) != n)
                return -EIO;
        return sys_mount_clone_fd(
                fd, PLAN_MOUNT_RDONLY | PLAN_MOUNT_NOSUID | PLAN_MOUNT_NODEV | PLAN_MOUNT_NOEXEC,
                ret_mnt_fd);
}

static int identity_unlink(const MountCtx *ctx) {
        if (ctx->dev_fd < 0)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(identity_names); i++)
                if (unlinkat(ctx->dev_fd, identity_names[i], 0) < 0 && errno != ENOENT)
                        return -errno;
        return 0;
}

bool sandbox_identity_link_ok(const char *parent, const char *link) {
        size_t depth = 0, ups = 0;
        const char *p;

        if (strcmp(link, "/etc/machine-id") == 0)
                return true;
        /* Relative: enough ".." to climb from the parent to the root (".." of the root is the
         * root), then etc/machine-id. */
        for (const char *c = parent; *c; c++)
                depth += *c == '/';
        for (p = link; strncmp(p, "../", 3) == 0; p += 3)
                ups++;
        return ups >= depth && strcmp(p, "etc/machine-id") == 0;
}

/* A symlink in the last component of a machine id path is left alone only when it leads to
 * /etc/machine-id (D-Bus's copy on Debian): inside, it then reads the run's own. Anywhere else
 * it could lead to a host file moat does not cover: the run stops (ELOOP). */
static int identity_symlink_ok(int root_fd, const char *target) {
        _cleanup_close_ int parent_fd = -EBADF;
        char parent[PATH_MAX], link[PATH_MAX];
        const char *slash = strrchr(target, '/');
        ssize_t n;

        if (!slash || slash == target || (size_t) (slash - target) >= sizeof(parent) ||
            strcmp(target, "/etc/machine-id") == 0)
                return -ELOOP;
        memcpy(parent, target, (size_t) (slash - target));
        parent[slash - target] = 0;
        if (sys_mount_resolve(root_fd, parent, MOUNT_CREATE_NONE, &parent_fd) < 0)
                return -ELOOP;
        n = readlinkat(parent_fd, slash + 1, link, sizeof(link) - 1);
        if (n <= 0)
                return -ELOOP;
        link[n] = 0;
        return sandbox_identity_link_ok(parent, link) ? 0 : -ELOOP;
}

static int mount_identity(MountCtx *ctx, const PlanMount *m) {
        _cleanup_close_ int target_fd = -EBADF, mnt_fd = -EBADF;
        bool boot = m->source && strcmp(m->source, "boot-id") == 0;
        struct stat st;
        int r;

        if (!ctx->identity || (!boot && (!m->source || strcmp(m->source, "machine-id") != 0)))
                return -EINVAL;
        r = sys_mount_resolve(ctx->root_fd, m->target, MOUNT_CREATE_NONE, &target_fd);
        if (r == -ENOENT && (m->flags & PLAN_MOUNT_OPTIONAL))
                return 0; /* nothing of the host's to hide */
        if (r == -ELOOP && !boot)
                return identity_symlink_ok(ctx->root_fd, m->target);
        if (r < 0)
                return r;
        if (fstat(target_fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        int *first = boot ? &ctx->boot_id_fd : &ctx->machine_id_fd;
        if (*first >= 0)
                r = sys_mount_clone_mount(*first, &mnt_fd);
        else
                r = identity_file(ctx->dev_fd, identity_names[boot],
                                  boot ? ctx->identity->boot_id : ctx->identity->machine_id,
                                  &mnt_fd);
        if (r < 0 || (r = sys_mount_attach(mnt_fd, target_fd)) < 0)
                return r;
        if (*first < 0)
                *first = TAKE_FD(mnt_fd);
        return 0;
}

/* Hide what is at target: /dev/null over a file, an empty read-only tmpfs over a directory.
 * Nothing at target means nothing to hide. */
static int mount_mask(MountCtx *ctx, const char *target) {
        _cleanup_close_ int target_fd = -EBADF, mnt_fd = -EBADF;
        struct stat st;
        int r = sys_mount_resolve(ctx->root_fd, target, MOUNT_CREATE_NONE, &target_fd);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (fstat(target_fd, &st) < 0)
                return -errno;
        int *first = S_ISDIR(st.st_mode) ? &ctx->dir_mask_fd : &ctx->file_mask_fd;
        if (*first >= 0)
                r = sys_mount_clone_mount(*first, &mnt_fd);
        else if (S_ISDIR(st.st_mode)) {
                const char *opts[] = { "size=4k", "nr_inodes=1", "mode=0555", NULL };
                r = sys_mount_fs("tmpfs", opts,
                                 PLAN_MOUNT_RDONLY | PLAN_MOUNT_NOSUID | PLAN_MOUNT_NODEV |
                                         PLAN_MOUNT_NOEXEC,
                                 &mnt_fd);
        } else
                r = sys_mount_clone_tree("/dev/null",
                                         PLAN_MOUNT_RDONLY | PLAN_MOUNT_NOSUID | PLAN_MOUNT_NOEXEC,
                                         &mnt_fd);
        if (r < 0 || (r = sys_mount_attach(mnt_fd, target_fd)) < 0)
                return r;
        if (*first < 0)
                *first = TAKE_FD(mnt_fd);
        return 0;
}

/* Make what is at target read-only, submounts included: clone it, set the clone read-only
 * recursively and stack the clone on top. */
static int mount_readonly(int root_fd, const PlanMount *m) {
        _cleanup_close_ int target_fd = -EBADF, mnt_fd = -EBADF;
        int r = sys_mount_resolve(root_fd, m->target, MOUNT_CREATE_NONE, &target_fd);
        if (r == -ENOENT && (m->flags & PLAN_MOUNT_OPTIONAL))
                return 0;
        if (r < 0)
                return r;
        r = sys_mount_clone_fd(target_fd, m->flags | PLAN_MOUNT_RDONLY, &mnt_fd);
        if (r < 0)
                return r;
        return sys_mount_attach(mnt_fd, target_fd);
}

static int apply_one(MountCtx *ctx, const PlanMount *m, int *bind_fd) {
        int root_fd = ctx->root_fd;
        struct stat st;
        switch (m->kind) {
        case PLAN_MOUNT_BIND:
                if (*bind_fd < 0)
                        return 0; /* optional and missing */
                if (fstat(*bind_fd, &st) < 0)
                        return -errno;
                return attach_at(root_fd, m->target,
                                 S_ISDIR(st.st_mode) ? MOUNT_CREATE_DIR : MOUNT_CREATE_FILE,
                                 *bind_fd);
        case PLAN_MOUNT_TMPFS:
                return mount_tmpfs_at(root_fd, m->target, m->size, "0755",
                                      m->flags | PLAN_MOUNT_NOSUID | PLAN_MOUNT_NODEV);
        case PLAN_MOUNT_PROC:
                return mount_fs_at(root_fd, m->target, "proc", NULL,
                                   m->flags | PLAN_MOUNT_NOSUID | PLAN_MOUNT_NODEV |
                                           PLAN_MOUNT_NOEXEC);
        case PLAN_MOUNT_SYS:
                return mount_fs_at(root_fd, m->target, "sysfs", NULL,
                                   m->flags | PLAN_MOUNT_RDONLY | PLAN_MOUNT_NOSUID |
                                           PLAN_MOUNT_NODEV | PLAN_MOUNT_NOEXEC);
        case PLAN_MOUNT_DEV:
                return mount_dev(ctx, m->target);
        case PLAN_MOUNT_MASK:
                return mount_mask(ctx, m->target);
        case PLAN_MOUNT_SYMLINK:
                return m->source ? sys_mount_symlink(root_fd, m->target, m->source) : -EINVAL;
        case PLAN_MOUNT_READONLY:
                return mount_readonly(root_fd, m);
        case PLAN_MOUNT_IDENTITY:
                return mount_identity(ctx, m);
        case PLAN_MOUNT_DIR: {
                _cleanup_close_ int fd = -EBADF;
                return sys_mount_resolve(root_fd, m->target, MOUNT_CREATE_DIR, &fd);
        }
        default:
                return -EINVAL;
        }
}

static void close_all(int *fds, size_t n) {
        for (size_t i = 0; i < n; i++)
                fds[i] = safe_close(fds[i]);
}

int sandbox_mounts_setup(const Plan *plan, const char *workdir, const SandboxIdentity *identity,
                         int *ret_index, SandboxStep *ret_step) {
        const PlanSandbox *sb = &plan->sandbox;
        _cleanup_free_ int *bind_fds = calloc(sb->n_mounts + 1, sizeof(int));
        _cleanup_close_ int root_fd = -EBADF, new_root = -EBADF, workdir_fd = -EBADF;
        size_t first = 0;
        int r;

        *ret_step = STEP_MOUNT;
        *ret_index = -1;
        if (!bind_fds)
                return -ENOMEM;
        for (size_t i = 0; i < sb->n_mounts; i++)
                bind_fds[i] = -EBADF;
        r = sys_mount_make_private();
        if (r < 0)
                return r;

        for (size_t i = 0; i < sb->n_mounts; i++) {
                const PlanMount *m = &sb->mounts[i];
                if (m->kind != PLAN_MOUNT_BIND)
                        continue;
                *ret_index = (int) i;
                if (!m->target || m->target[0] != '/' || (strcmp(m->target, "/") == 0 && i != 0))
                        r = -EINVAL;
                else
                        r = bind_clone(m, workdir, &workdir_fd, &bind_fds[i]);
                if (r == -ENOENT && (m->flags & PLAN_MOUNT_OPTIONAL))
                        continue;
                if (r < 0) {
                        close_all(bind_fds, sb->n_mounts);
                        return r;
                }
        }

        *ret_index = -1;
        if (sb->n_mounts > 0 && sb->mounts[0].kind == PLAN_MOUNT_BIND &&
            strcmp(sb->mounts[0].target, "/") == 0 && bind_fds[0] >= 0) {
                root_fd = TAKE_FD(bind_fds[0]); /* an image root */
                first = 1;
        } else {
                const char *opts[] = { "size=1m", "mode=0755", NULL };
                r = sys_mount_fs("tmpfs", opts, PLAN_MOUNT_NOSUID | PLAN_MOUNT_NODEV, &root_fd);
        }
        if (r >= 0)
                r = sys_mount_attach_path(root_fd, STAGING_DIR);
        MountCtx ctx = {
                .root_fd = root_fd,
                .file_mask_fd = -EBADF,
                .dir_mask_fd = -EBADF,
                .dev_fd = -EBADF,
                .machine_id_fd = -EBADF,
                .boot_id_fd = -EBADF,
                .identity = identity,
        };
        for (size_t i = first; r >= 0 && i < sb->n_mounts; i++) {
                *ret_index = (int) i;
                r = apply_one(&ctx, &sb->mounts[i], &bind_fds[i]);
        }
        if (r >= 0) {
                *ret_index = -1;
                r = identity_unlink(&ctx);
        }
        safe_close(ctx.file_mask_fd);
        safe_close(ctx.dir_mask_fd);
        safe_close(ctx.dev_fd);
        safe_close(ctx.machine_id_fd);
        safe_close(ctx.boot_id_fd);
        close_all(bind_fds, sb->n_mounts);
        if (r < 0)
                return r;

        *ret_index = -1;
        *ret_step = STEP_PIVOT_ROOT;
        r = sys_mount_pivot_root(root_fd);
        if (r < 0)
                return r;
        if (first == 0) {
                new_root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (new_root < 0)
                        return -errno;
                r = sys_mount_set_flags(new_root, PLAN_MOUNT_RDONLY, false);
        }
        return r;
}

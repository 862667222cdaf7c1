/* SPDX-License-Identifier: MIT */
/* PURE. The sandbox half of the plan: namespaces, the mount list, Landlock, capabilities,
 * resource limits; and the vm parameters. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "basic/macros.h"
#include "basic/strv.h"
#include "plan-internal.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* Landlock rights (include/uapi/linux/landlock.h); spelled out because the build host's
 * headers may predate the ABI the plan is written for. */
#define LL_FS_EXECUTE (1ULL << 0)
#define LL_FS_WRITE_FILE (1ULL << 1)
#define LL_FS_READ_FILE (1ULL << 2)
#define LL_FS_READ_DIR (1ULL << 3)
#define LL_FS_REMOVE_DIR (1ULL << 4)
#define LL_FS_REMOVE_FILE (1ULL << 5)
#define LL_FS_MAKE_CHAR (1ULL << 6)
#define LL_FS_MAKE_DIR (1ULL << 7)
#define LL_FS_MAKE_REG (1ULL << 8)
#define LL_FS_MAKE_SOCK (1ULL << 9)
#define LL_FS_MAKE_FIFO (1ULL << 10)
#define LL_FS_MAKE_BLOCK (1ULL << 11)
#define LL_FS_MAKE_SYM (1ULL << 12)
#define LL_FS_REFER (1ULL << 13)     /* ABI 2 */
#define LL_FS_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define LL_NET_BIND_TCP (1ULL << 0)  /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)

/* The newest ABI this plan knows how to write rules for. */
#define PLAN_LANDLOCK_ABI_MAX 6

#define MIB (UINT64_C(1) << 20)
#define TMPFS_DEFAULT_SIZE (64 * MIB)
#define VM_MEMORY_DEFAULT (512 * MIB)
/* Guest RAM beyond resources.memory: the guest kernel, moat-init, the 9p page cache. The
 * command's cgroup gets memory.max = resources.memory, so the limit binds where the sandbox
 * tier's does, not at the guest's RAM. */
#define VM_MEMORY_OVERHEAD (128 * MIB)

uint64_t plan_landlock_fs_rights(int abi) {
        uint64_t r = 0;
        if (abi >= 1)
                r |= (LL_FS_MAKE_SYM << 1) - 1;
        if (abi >= 2)
                r |= LL_FS_REFER;
        if (abi >= 3)
                r |= LL_FS_TRUNCATE;
        if (abi >= 5)
                r |= LL_FS_IOCTL_DEV;
        return r;
}

/* Secrets that root inside the user namespace could read when the caller is root on the host
 * (the single-uid map then maps 0 to 0 and root-owned 0600 files become readable). A fixed
 * list, no patterns: each entry is masked if it exists. */
static const char *const secret_masks[] = {
        "/etc/shadow",
        "/etc/shadow-",
        "/etc/gshadow",
        "/etc/gshadow-",
        "/etc/security/opasswd",
        "/etc/sudoers",
        "/etc/sudoers.d",
        "/etc/ssh/ssh_host_rsa_key",
        "/etc/ssh/ssh_host_ecdsa_key",
        "/etc/ssh/ssh_host_ed25519_key",
        "/etc/ssh/ssh_host_dsa_key",
        "/etc/ssl/private",
        "/etc/krb5.keytab",
        "/etc/moat/audit.key",
};

/* /proc entries that expose the host kernel or let a process poke it (moby masks the same).
 * boot_id identifies the host's boot across runs: it gets a value of the run's own instead
 * (identity_files). */
static const char *const proc_masks[] = {
        "/proc/kcore",         "/proc/keys",       "/proc/kallsyms",    "/proc/kmsg",
        "/proc/sysrq-trigger", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
        "/proc/latency_stats", "/proc/acpi",       "/proc/asound",      "/proc/scsi",
};

/* Host identifiers every workload could read, replaced by read-only files of the run's own
 * (machine-id(5), random(4)). The machine id of D-Bus is a file on some hosts and a symlink to
 * /etc/machine-id on others; the executor leaves such a symlink alone, it then reads the run's
 * /etc/machine-id. Missing paths have nothing to hide. */
static const struct {
        const char *value, *target;
} identity_files[] = {
        { "machine-id", "/etc/machine-id" },
        { "machine-id", "/var/lib/dbus/machine-id" },
};

/* Host-wide knobs under /proc that stay visible but read-only. */
static const char *const proc_readonly[] = { "/proc/sys", "/proc/bus", "/proc/fs", "/proc/irq" };

/* /sys, when a profile asks for it: firmware tables and RAPL energy counters (CVE-2020-8694,
 * PLATYPUS) are hidden. */
static const char *const sys_masks[] = { "/sys/firmware", "/sys/devices/virtual/powercap" };

static bool profile_has_tmpfs(const Profile *pr, const char *target) {
        for (size_t i = 0; i < pr->fs.n_tmpfs; i++)
                if (strcmp(pr->fs.tmpfs[i].target, target) == 0)
                        return true;
        return false;
}

static bool bind_is_workdir(const ProfileBind *b) {
        return strcmp(b->source, ".") == 0;
}

static const char *const system_dirs_image[] = { "/usr",   "/bin",   "/sbin",  "/lib",
                                                 "/lib64", "/lib32", "/libx32" };

static int build_root_mounts(Plan *p, const Profile *pr, const HostFacts *h) {
        const unsigned ro = PLAN_MOUNT_RDONLY | PLAN_MOUNT_NOSUID | PLAN_MOUNT_NODEV;
        int r;

        if (pr->fs.root == ROOT_IMAGE)
                return plan_add_mount(p, PLAN_MOUNT_BIND, pr->fs.image, "/", ro, 0, &pr->fs.pos);

        if ((r = plan_add_mount(p, PLAN_MOUNT_BIND, "/usr", "/usr", ro, 0, NULL)) < 0 ||
            (r = plan_add_mount(p, PLAN_MOUNT_BIND, "/etc", "/etc", ro, 0, NULL)) < 0)
                return r;
        STRV_FOREACH (l, h->root_symlinks) {
                const char *eq = strchr(*l, '=');
                _cleanup_free_ char *target = NULL;
                if (!eq || eq == *l || !eq[1] || memchr(*l, '/', (size_t) (eq - *l)))
                        continue; /* malformed fact: never guess a root layout */
                if (asprintf(&target, "/%.*s", (int) (eq - *l), *l) < 0)
                        return -ENOMEM;
                if ((r = plan_add_mount(p, PLAN_MOUNT_SYMLINK, eq + 1, target, 0, 0, NULL)) < 0)
                        return r;
        }
        STRV_FOREACH (d, h->root_dirs) {
                _cleanup_free_ char *path = NULL;
                if (!**d || strchr(*d, '/') || strcmp(*d, ".") == 0 || strcmp(*d, "..") == 0)
                        continue;
                if (asprintf(&path, "/%s", *d) < 0)
                        return -ENOMEM;
                if ((r = plan_add_mount(p, PLAN_MOUNT_BIND, path, path, ro | PLAN_MOUNT_OPTIONAL, 0,
                                        NULL)) < 0)
                        return r;
        }
        return 0;
}

static int build_mounts(Plan *p, const Profile *pr, const HostFacts *h) {
        int r;

        r = build_root_mounts(p, pr, h);
        if (r < 0)
                return r;
        if ((r = plan_add_mount(p, PLAN_MOUNT_PROC, NULL, "/proc",
                                PLAN_MOUNT_NOSUID | PLAN_MOUNT_NODEV | PLAN_MOUNT_NOEXEC, 0,
                                NULL)) < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(proc_masks); i++)
                if ((r = plan_add_mount(p, PLAN_MOUNT_MASK, NULL, proc_masks[i],
                                        PLAN_MOUNT_OPTIONAL, 0, NULL)) < 0)
                        return r;
        /* /proc/sys must exist (it is where sysctls would be written); the others are optional
         * because kernels without ISA or IRQ support leave them out. */
        for (size_t i = 0; i < ELEMENTSOF(proc_readonly); i++)
                if ((r = plan_add_mount(p, PLAN_MOUNT_READONLY, NULL, proc_readonly[i],
                                        i == 0 ? 0 : PLAN_MOUNT_OPTIONAL, 0, NULL)) < 0)
                        return r;
        if ((r = plan_add_mount(p, PLAN_MOUNT_DEV, NULL, "/dev",
                                PLAN_MOUNT_NOSUID | PLAN_MOUNT_NOEXEC, 0, NULL)) < 0)
                return r;
        /* After /dev: the executor writes the run's files in moat's /dev tmpfs (and unlinks
         * them there). Over the read-only /proc/sys clone, so nothing uncovers it. */
        if ((r = plan_add_mount(p, PLAN_MOUNT_IDENTITY, "boot-id",
                                "/proc/sys/kernel/random/boot_id", PLAN_MOUNT_OPTIONAL, 0, NULL)) <
            0)
                return r;

        /* Writable places never hold executables: execution comes only from read-only system
         * paths and the work directory (Landlock enforces the same rule where available). */
        const unsigned rw = PLAN_MOUNT_NOSUID | PLAN_MOUNT_NODEV | PLAN_MOUNT_NOEXEC;
        if (!profile_has_tmpfs(pr, "/tmp") &&
            (r = plan_add_mount(p, PLAN_MOUNT_TMPFS, NULL, "/tmp", rw, TMPFS_DEFAULT_SIZE, NULL)) <
                    0)
                return r;
        for (size_t i = 0; i < pr->fs.n_tmpfs; i++) {
                const ProfileTmpfs *t = &pr->fs.tmpfs[i];
                if ((r = plan_add_mount(p, PLAN_MOUNT_TMPFS, NULL, t->target, rw,
                                        t->size ? t->size : TMPFS_DEFAULT_SIZE, &t->pos)) < 0)
                        return r;
        }
        for (size_t i = 0; i < pr->fs.n_binds; i++) {
                const ProfileBind *b = &pr->fs.binds[i];
                unsigned flags = PLAN_MOUNT_NOSUID | PLAN_MOUNT_NODEV;

                if (b->mode == BIND_RO)
                        flags |= PLAN_MOUNT_RDONLY;
                /* The same bit decides the Landlock execute right in build_landlock(). */
                if (!b->exec)
                        flags |= PLAN_MOUNT_NOEXEC;
                if (b->source[0] != '/')
                        flags |= PLAN_MOUNT_WORKDIR;
                if (b->optional)
                        flags |= PLAN_MOUNT_OPTIONAL;
                if ((r = plan_add_mount(p, PLAN_MOUNT_BIND, b->source, b->target, flags, 0,
                                        &b->pos)) < 0)
                        return r;
                if (bind_is_workdir(b) && !p->sandbox.workdir_target &&
                    !(p->sandbox.workdir_target = strdup(b->target)))
                        return -ENOMEM;
        }
        /* Masks last, so no bind can uncover them. */
        for (size_t i = 0; i < ELEMENTSOF(secret_masks); i++)
                if ((r = plan_add_mount(p, PLAN_MOUNT_MASK, NULL, secret_masks[i],
                                        PLAN_MOUNT_OPTIONAL, 0, NULL)) < 0)
                        return r;
        for (size_t i = 0; i < ELEMENTSOF(identity_files); i++)
                if ((r = plan_add_mount(p, PLAN_MOUNT_IDENTITY, identity_files[i].value,
                                        identity_files[i].target, PLAN_MOUNT_OPTIONAL, 0,
                                        pr->identity.machine_id ? &pr->identity.pos : NULL)) < 0)
                        return r;
        STRV_FOREACH (m, pr->fs.masked)
                if ((r = plan_add_mount(p, PLAN_MOUNT_MASK, NULL, *m, 0, 0, &pr->fs.pos)) < 0)
                        return r;
        if (pr->fs.sys && (r = plan_add_mount(p, PLAN_MOUNT_SYS, NULL, "/sys",
                                              PLAN_MOUNT_RDONLY | PLAN_MOUNT_NOSUID |
                                                      PLAN_MOUNT_NODEV | PLAN_MOUNT_NOEXEC,
                                              0, NULL)) < 0)
                return r;
        for (size_t i = 0; pr->fs.sys && i < ELEMENTSOF(sys_masks); i++)
                if ((r = plan_add_mount(p, PLAN_MOUNT_MASK, NULL, sys_masks[i], PLAN_MOUNT_OPTIONAL,
                                        0, NULL)) < 0)
                        return r;
        return 0;
}

static int build_landlock(Plan *p, const Profile *pr, const HostFacts *h) {
        PlanLandlock *l = &p->sandbox.landlock;
        int r;

        if (pr->mac.landlock == LANDLOCK_OFF) {
                l->status = CONTROL_NOT_APPLICABLE;
                return 0;
        }
        l->abi = MIN(MAX(h->landlock_abi, 0), PLAN_LANDLOCK_ABI_MAX);
        /* In the vm tier the guest kernel enforces the rules, whatever the host has: they are
         * written for the newest ABI moat knows, and moat-init hands the guest kernel the rights
         * its own ABI knows (the guest reports that ABI). */
        if (p->tier == TIER_VM)
                l->abi = PLAN_LANDLOCK_ABI_MAX;
        if (l->abi == 0) {
                /* required: the missing-landlock rule moves the run off this kernel; the status
                 * stays required so an executor that got this plan anyway fails closed. */
                l->status =
                        pr->mac.landlock == LANDLOCK_REQUIRED ? CONTROL_REQUIRED : CONTROL_DEGRADED;
                return 0;
        }
        l->status = pr->mac.landlock == LANDLOCK_REQUIRED ? CONTROL_REQUIRED : CONTROL_BEST_EFFORT;
        l->handled_fs = plan_landlock_fs_rights(l->abi);
        if (l->abi >= 4 && pr->network == NETWORK_NONE)
                l->handled_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
        if (l->abi >= 6)
                l->scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;

        const uint64_t R = LL_FS_READ_FILE | LL_FS_READ_DIR, RX = R | LL_FS_EXECUTE;
        const uint64_t RW = (R | LL_FS_WRITE_FILE | LL_FS_REMOVE_DIR | LL_FS_REMOVE_FILE |
                             LL_FS_MAKE_DIR | LL_FS_MAKE_REG | LL_FS_MAKE_SOCK | LL_FS_MAKE_FIFO |
                             LL_FS_MAKE_SYM | LL_FS_REFER | LL_FS_TRUNCATE) &
                            l->handled_fs;
        const uint64_t DEV = (LL_FS_READ_FILE | LL_FS_WRITE_FILE | LL_FS_IOCTL_DEV) & l->handled_fs;
        static const char *const dev_nodes[] = { "/dev/null",   "/dev/zero",    "/dev/full",
                                                 "/dev/random", "/dev/urandom", "/dev/tty",
                                                 "/dev/ptmx",   "/dev/pts" };

        /* Listing directories reveals names only; reading or running anything needs more. */
        if ((r = plan_add_landlock_path(p, "/", LL_FS_READ_DIR)) < 0)
                return r;
        if (pr->fs.root == ROOT_IMAGE) {
                if ((r = plan_add_landlock_path(p, "/", R)) < 0)
                        return r;
                for (size_t i = 0; i < ELEMENTSOF(system_dirs_image); i++)
                        if ((r = plan_add_landlock_path(p, system_dirs_image[i], RX)) < 0)
                                return r;
        } else {
                if ((r = plan_add_landlock_path(p, "/usr", RX)) < 0)
                        return r;
                STRV_FOREACH (d, h->root_dirs) {
                        _cleanup_free_ char *path = NULL;
                        if (!**d || strchr(*d, '/') || strcmp(*d, ".") == 0 ||
                            strcmp(*d, "..") == 0)
                                continue;
                        if (asprintf(&path, "/%s", *d) < 0)
                                return -ENOMEM;
                        if ((r = plan_add_landlock_path(p, path, RX)) < 0)
                                return r;
                }
        }
        if ((r = plan_add_landlock_path(p, "/etc", R)) < 0 ||
            (r = plan_add_landlock_path(p, "/proc", R)) < 0 ||
            (r = plan_add_landlock_path(p, "/dev", LL_FS_READ_DIR)) < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(dev_nodes); i++)
                if ((r = plan_add_landlock_path(
                             p, dev_nodes[i],
                             DEV | (strcmp(dev_nodes[i], "/dev/pts") == 0 ? LL_FS_READ_DIR : 0))) <
                    0)
                        return r;
        if ((r = plan_add_landlock_path(p, "/dev/shm", RW)) < 0)
                return r;
        if (!profile_has_tmpfs(pr, "/tmp") && (r = plan_add_landlock_path(p, "/tmp", RW)) < 0)
                return r;
        for (size_t i = 0; i < pr->fs.n_tmpfs; i++)
                if ((r = plan_add_landlock_path(p, pr->fs.tmpfs[i].target, RW)) < 0)
                        return r;
        for (size_t i = 0; i < pr->fs.n_binds; i++) {
                const ProfileBind *b = &pr->fs.binds[i];
                uint64_t a = (b->mode == BIND_RO ? R : RW) | (b->exec ? LL_FS_EXECUTE : 0);
                if ((r = plan_add_landlock_path(p, b->target, a)) < 0)
                        return r;
        }
        if (pr->fs.sys && (r = plan_add_landlock_path(p, "/sys", R)) < 0)
                return r;
        return 0;
}

static bool path_beneath(const char *path, const char *dir) {
        size_t n = strlen(dir);
        if (strcmp(dir, "/") == 0)
                return true;
        return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static bool landlock_restricts_exec(const PlanLandlock *l) {
        return (l->status == CONTROL_REQUIRED || l->status == CONTROL_BEST_EFFORT) && l->abi > 0 &&
               (l->handled_fs & LL_FS_EXECUTE);
}

const PlanLandlockPath *plan_landlock_exec_source(const Plan *p, const char *path) {
        const PlanLandlock *l = &p->sandbox.landlock;

        if (!landlock_restricts_exec(l))
                return NULL;
        for (size_t i = 0; i < l->n_paths; i++)
                if ((l->paths[i].access & LL_FS_EXECUTE) && path_beneath(path, l->paths[i].path))
                        return &l->paths[i];
        return NULL;
}

/* A bind's exec is enforced twice: MOUNT_ATTR_NOEXEC on the mount, and the absence of the
 * Landlock execute right at its target. Landlock rights are the union of the rules on every
 * directory above a file, across mount points (security/landlock/fs.c walks up to the real
 * root), so a right granted above the target (the work directory, /usr) cannot be withheld
 * beneath it. */
int plan_exec_disagreement(const Plan *p, const Profile *pr, const char **ret_above) {
        bool ll = landlock_restricts_exec(&p->sandbox.landlock);

        for (size_t i = 0; i < pr->fs.n_binds; i++) {
                const ProfileBind *b = &pr->fs.binds[i];
                const PlanMount *m = NULL;
                for (size_t j = 0; j < p->sandbox.n_mounts; j++)
                        if (p->sandbox.mounts[j].kind == PLAN_MOUNT_BIND &&
                            strcmp(p->sandbox.mounts[j].target, b->target) == 0)
                                m = &p->sandbox.mounts[j];
                const PlanLandlockPath *lp = plan_landlock_exec_source(p, b->target);
                bool mount_exec = m && !(m->flags & PLAN_MOUNT_NOEXEC);
                if (mount_exec != b->exec || (ll && (lp != NULL) != b->exec)) {
                        if (ret_above)
                                *ret_above = lp ? lp->path : NULL;
                        return (int) i;
                }
        }
        return -1;
}

static int check_exec(Plan *p, const Profile *pr) {
        const char *above = NULL;
        char where[300];
        int i;

        /* vm: vm-layout applies the mount flag; the guest's Landlock ABI may lack what the
         * disagreement is about, and a guest exec right above a noexec mount executes nothing. */
        if (p->tier == TIER_VM)
                return 0;
        i = plan_exec_disagreement(p, pr, &above);
        if (i < 0)
                return 0;
        plan_format_pos(&pr->fs.binds[i].pos, where, sizeof(where));
        if (above && !pr->fs.binds[i].exec)
                return plan_refuse(p,
                                   "the bind at %s says exec: false, but Landlock lets everything "
                                   "beneath %s execute and cannot take that back below it: set "
                                   "exec: true, or bind it outside %s%s%s%s",
                                   pr->fs.binds[i].target, above, above, where[0] ? " (" : "",
                                   where, where[0] ? ")" : "");
        return plan_refuse(p,
                           "the bind at %s: its noexec mount flag and its Landlock execute "
                           "right disagree%s%s%s",
                           pr->fs.binds[i].target, where[0] ? " (" : "", where,
                           where[0] ? ")" : "");
}

static int cmp_int(const void *a, const void *b) {
        return *(const int *) a - *(const int *) b;
}

static int build_caps(Plan *p, const Profile *pr) {
        PlanSandbox *s = &p->sandbox;
        size_t n = strv_length(pr->capabilities);

        if (n == 0)
                return 0;
        s->caps_keep = calloc(n, sizeof(int));
        if (!s->caps_keep)
                return -ENOMEM;
        STRV_FOREACH (c, pr->capabilities) {
                int cap = capability_from_name(*c);
                char where[300];
                if (cap < 0) {
                        plan_format_pos(&pr->capabilities_pos, where, sizeof(where));
                        int r = plan_refuse(p, "the profile keeps an unknown capability '%s'%s%s%s",
                                            *c, where[0] ? " (" : "", where, where[0] ? ")" : "");
                        if (r < 0)
                                return r;
                        continue;
                }
                bool dup = false;
                for (size_t i = 0; i < s->n_caps_keep; i++)
                        dup = dup || s->caps_keep[i] == cap;
                if (!dup)
                        s->caps_keep[s->n_caps_keep++] = cap;
        }
        qsort(s->caps_keep, s->n_caps_keep, sizeof(int), cmp_int);
        return 0;
}

/* RLIMIT_NPROC as a stand-in for pids.max. Since Linux 5.14 (commit 21d1c5e386bc, "Reimplement
 * RLIMIT_NPROC on top of ucounts") copy_process() checks it with is_rlimit_overlimit() against
 * the count of tasks (threads included) whose real uid is that uid *in the task's own user
 * namespace*: in the sandbox's single-uid namespace that is the sandbox's tasks, moat's init
 * included, and none of the caller's processes outside, nor another sandbox's. Before 5.14 it
 * counted every process of the uid on the host (a limit that would break the caller's other
 * work, or never bind). copy_process() exempts tasks whose real user is the host's root
 * (INIT_USER), so a sandbox of a root caller (mapped to host uid 0) is not limited at all. */
bool plan_nproc_bounds_sandbox(const HostFacts *h) {
        bool ucounts = h->kernel_major > 5 || (h->kernel_major == 5 && h->kernel_minor >= 14);
        return ucounts && h->uid != 0;
}

/* resources.disk bounds what the workload adds to the host's file systems, and only writable
 * binds reach them: tmpfs writes stay in memory, bounded by the tmpfs sizes, and the root is
 * read-only. Without a writable bind the mounts alone hold the bound. Otherwise a project quota
 * of the run's own where the host facts say the run's writable binds can have one
 * (host_probe_project_quota(): root, one file system that enforces project quotas), in both
 * tiers: in the vm tier QEMU writes the 9p shares on the host as the unprivileged moat-vm
 * (no CAP_SYS_RESOURCE), so the quota on the share trees bounds the guest's total
 * (vm-execute.c), and the guest's RLIMIT_FSIZE stays as a second layer (build_resources()).
 * Without one, RLIMIT_FSIZE (in the vm tier: the guest's, on the command), which bounds each
 * file the workload writes, not their total: never the same rule, so only ever degraded
 * (check_disk() refuses a required one). */
DiskMechanism plan_disk_mechanism(const Profile *pr, const HostFacts *h) {
        bool writable = false;

        if (!pr->resources.disk)
                return DISK_MECH_NONE;
        for (size_t i = 0; i < pr->fs.n_binds; i++)
                writable = writable || pr->fs.binds[i].mode == BIND_RW;
        if (!writable)
                return DISK_MECH_NO_WRITABLE_BIND;
        return h->project_quota ? DISK_MECH_PROJECT_QUOTA : DISK_MECH_RLIMIT_FSIZE;
}

static int build_resources(Plan *p, const Profile *pr, const HostFacts *h, const PlanFindings *f) {
        PlanResources *res = &p->resources;
        int r;

        *res = (PlanResources){
                .mechanism = f->mechanism,
                .memory = pr->resources.memory,
                .cpus_milli = pr->resources.cpus_milli,
                .pids = pr->resources.pids,
                .timeout_ms = pr->resources.timeout_ms,
                .cpu_time_ms = pr->resources.cpu_time_ms,
                .tmpfs_total = pr->resources.tmpfs_total,
                .disk = pr->resources.disk,
                .disk_mechanism = plan_disk_mechanism(pr, h),
                .output_bytes = pr->resources.output,
                .output_status = !pr->resources.output ? CONTROL_NOT_APPLICABLE
                                 : pr->resources.enforce == ENFORCE_REQUIRED ? CONTROL_REQUIRED
                                                                             : CONTROL_BEST_EFFORT,
        };
        uint64_t fsize = pr->resources.tmpfs_total;
        /* mechanism and status describe the host's cgroups. In the vm tier the guest kernel has
         * cgroup v2 with every controller: moat-init sets the limits on the command's cgroup
         * there (controls_vm_guest()), and no rlimit stands in for a missing host cgroup. */
        bool fallback = res->mechanism == CGROUP_MECH_RLIMIT && p->tier != TIER_VM;
        if (!f->limits_asked)
                res->status = CONTROL_NOT_APPLICABLE;
        else if (res->mechanism == CGROUP_MECH_RLIMIT)
                res->status = pr->resources.enforce == ENFORCE_REQUIRED ? CONTROL_REQUIRED
                                                                        : CONTROL_DEGRADED;
        else
                res->status = pr->resources.enforce == ENFORCE_REQUIRED ? CONTROL_REQUIRED
                                                                        : CONTROL_BEST_EFFORT;

        uint64_t nofile = pr->resources.nofile ? pr->resources.nofile : 1024;
        if ((r = plan_add_rlimit(p, RLIMIT_CORE, 0, 0)) < 0 ||
            (r = plan_add_rlimit(p, RLIMIT_NOFILE, nofile, nofile)) < 0)
                return r;
        /* One RLIMIT_FSIZE serves both: the smaller bound. SIGXFSZ at it (default action:
         * terminate), EFBIG for a process that ignores the signal. In the vm tier it stays
         * beside the project quota: the guest's own bound on each file, a second layer. */
        bool disk_fsize = res->disk_mechanism == DISK_MECH_RLIMIT_FSIZE ||
                          (p->tier == TIER_VM && res->disk_mechanism == DISK_MECH_PROJECT_QUOTA);
        if (disk_fsize && (!fsize || res->disk < fsize))
                fsize = res->disk;
        if (fsize && (r = plan_add_rlimit(p, RLIMIT_FSIZE, fsize, fsize)) < 0)
                return r;
        if (fallback && pr->resources.memory &&
            (r = plan_add_rlimit(p, RLIMIT_AS, pr->resources.memory, pr->resources.memory)) < 0)
                return r;
        if (fallback && pr->resources.pids && plan_nproc_bounds_sandbox(h) &&
            (r = plan_add_rlimit(p, RLIMIT_NPROC, pr->resources.pids, pr->resources.pids)) < 0)
                return r;
        /* Without a cgroup, RLIMIT_CPU: whole seconds, rounded up; SIGXCPU at the soft limit
         * (default action: terminate), SIGKILL one second later for a process that catches it.
         * It bounds each process, not the tree: degraded (control_cpu_time()). */
        if (fallback && pr->resources.cpu_time_ms) {
                uint64_t sec = (pr->resources.cpu_time_ms + 999) / 1000;
                if ((r = plan_add_rlimit(p, RLIMIT_CPU, sec, sec + 1)) < 0)
                        return r;
        }
        return 0;
}

int plan_build_sandbox(Plan *p, const Profile *pr, const HostFacts *h, const PlanFindings *f) {
        PlanSandbox *s = &p->sandbox;
        int r;

        s->clone_flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
                         CLONE_NEWUTS | CLONE_NEWCGROUP;
        s->time_ns = h->time_ns;
        if (s->time_ns)
                s->clone_flags |= CLONE_NEWTIME;
        s->uid_inside = pr->uid_set ? pr->uid : h->uid;
        s->gid_inside = pr->uid_set ? pr->gid : h->gid;
        /* a system container's own root is uid 0 inside (the caller, or moat's range) */
        if (p->tier == TIER_SYSTEM && !pr->uid_set)
                s->uid_inside = s->gid_inside = 0;
        s->network = pr->network;
        s->hostname = strdup(pr->hostname ? pr->hostname : "moat");
        if (!s->hostname)
                return -ENOMEM;
        if (pr->identity.machine_id && !(s->machine_id = strdup(pr->identity.machine_id)))
                return -ENOMEM;
        s->mac_status = f->mac_status;
        if (pr->mac.apparmor && f->mac_status != CONTROL_DEGRADED &&
            !(s->apparmor_profile = strdup(pr->mac.apparmor)))
                return -ENOMEM;
        if (pr->mac.selinux && !pr->mac.apparmor && f->mac_status != CONTROL_DEGRADED &&
            !(s->selinux_context = strdup(pr->mac.selinux)))
                return -ENOMEM;

        if ((r = build_mounts(p, pr, h)) < 0 || (r = build_landlock(p, pr, h)) < 0 ||
            (r = check_exec(p, pr)) < 0 || (r = build_caps(p, pr)) < 0)
                return r;
        return build_resources(p, pr, h, f);
}

int plan_build_vm(Plan *p, const Profile *pr, const HostFacts *h) {
        PlanVm *vm = &p->vm;
        const char *kernel = pr->vm.kernel ? pr->vm.kernel : h->guest_kernel;

        vm->kvm = h->kvm_usable;
        vm->memory = pr->resources.memory ? pr->resources.memory + VM_MEMORY_OVERHEAD
                                          : VM_MEMORY_DEFAULT;
        vm->vcpus = pr->vm.vcpus ? pr->vm.vcpus : MAX(1u, (pr->resources.cpus_milli + 999) / 1000);
        vm->guest_root = pr->vm.guest_root;
        vm->boot_ms = h->vm_boot_ms;
        if (kernel && !(vm->kernel = strdup(kernel)))
                return -ENOMEM;
        if (pr->mac.apparmor && !(vm->guest_apparmor = strdup(pr->mac.apparmor)))
                return -ENOMEM;
        return 0;
}

/* SPDX-License-Identifier: MIT */
/* Plan -> guest filesystem (see vm-layout.h).
 *
 * The guest root is a tmpfs, or for root: {image: NAME} an overlay of the image (a read-only
 * share) with an upper layer in guest RAM (add_image_root()). The host's /usr and /etc are
 * otherwise always shared read-only, and the
 * top-level merged-/usr symlinks (bin -> usr/bin, ...) are recreated as on the host: never the
 * host's whole /, which would expose /proc, /sys, /dev, /home and /tmp of the host to the
 * guest's root (9p follows whatever QEMU can open). Binds from the plan become further shares,
 * read-only ones enforced by QEMU itself; tmpfs mounts live in guest RAM; /proc, /sys and a
 * minimal /dev are the guest's own. A bind's exec: false is the guest mount's noexec. Anything
 * the guest cannot reproduce faithfully (a bind of a single file outside /etc, a writable bind
 * under /usr or /etc, a file under /usr that must not be executable) stops the run: a share that
 * silently differs from the plan would be a downgrade. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/id128.h"
#include "basic/macros.h"
#include "basic/strv.h"
#include "config.h"
#include "sandbox/sandbox-internal.h"
#include "vm-layout.h"
#include "vm/guest/vm-proto.h"

static int add_record(VmLayout *l, char tag, const char *fmt, ...) _printf_(3, 4);
static int add_record(VmLayout *l, char tag, const char *fmt, ...) {
        _cleanup_free_ char *v = NULL;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&v, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        return vm_config_append(&l->config, &l->config_len, tag, v, (size_t) n);
}

/* One share, one tag, one mount in the guest: a virtio-9p tag mounts once (a second mount of
 * it fails with EBUSY), so two binds of the same directory are two shares of it. */
static int add_share(VmLayout *l, const char *source, bool readonly, const char **ret_tag) {
        if (l->n_shares >= VM_DOMAIN_SHARES_MAX)
                return -E2BIG;
        size_t i = l->n_shares;
        l->sources[i] = strdup(source);
        if (!l->sources[i])
                return -ENOMEM;
        snprintf(l->tags[i], sizeof(l->tags[i]), "s%zu", i);
        l->shares[i] =
                (VmShare){ .source = l->sources[i], .tag = l->tags[i], .readonly = readonly };
        l->n_shares++;
        *ret_tag = l->tags[i];
        return 0;
}

static bool path_under(const char *p, const char *dir) {
        size_t n = strlen(dir);
        return strncmp(p, dir, n) == 0 && (p[n] == 0 || p[n] == '/');
}

static bool under_system_share(const char *target) {
        return path_under(target, "/usr") || path_under(target, "/etc");
}

/* /usr and /etc: shared whole and read-only, so read-only binds beneath them are already there
 * when they agree on exec: /usr is executable; /etc is noexec, as the sandbox tier's Landlock
 * rules (read, no execute, on /etc) make it. */
static bool covered_by_system_share(const char *target, bool exec) {
        /* The root's own /usr and /etc binds (root: host-readonly) are the system shares: the
         * sandbox tier leaves /etc's mount executable and denies execution there through
         * Landlock, which the guest's noexec /etc stands for. A second mount of the same 9p tag
         * would fail in the guest (EBUSY). */
        if (strcmp(target, "/usr") == 0 || strcmp(target, "/etc") == 0)
                return true;
        return exec ? path_under(target, "/usr") : path_under(target, "/etc");
}

static int add_system(VmLayout *l, char *msg, size_t msg_size) {
        static const char *const top[] = { "bin", "sbin", "lib", "lib32", "lib64", "libx32" };
        const char *tag;
        int r;

        if ((r = add_share(l, "/usr", true, &tag)) < 0 ||
            (r = add_record(l, 'm', "9p %s ro /usr", tag)) < 0 ||
            (r = add_share(l, "/etc", true, &tag)) < 0 ||
            (r = add_record(l, 'm', "9p %s ro,noexec /etc", tag)) < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(top); i++) {
                char path[32], link[PATH_MAX];
                struct stat st;
                ssize_t n;

                snprintf(path, sizeof(path), "/%s", top[i]);
                if (lstat(path, &st) < 0)
                        continue;
                if (S_ISLNK(st.st_mode)) {
                        n = readlink(path, link, sizeof(link) - 1);
                        if (n <= 0)
                                return -errno;
                        link[n] = 0;
                        if (strchr(link, ' '))
                                return -EINVAL;
                        r = add_record(l, 'm', "link %s %s", link, path);
                } else if (S_ISDIR(st.st_mode)) {
                        /* Not merged-/usr: share the real directory read-only. */
                        r = add_share(l, path, true, &tag);
                        if (r >= 0)
                                r = add_record(l, 'm', "9p %s ro %s", tag, path);
                } else
                        continue;
                if (r < 0) {
                        snprintf(msg, msg_size, "cannot reproduce /%s in the guest", top[i]);
                        return r;
                }
        }
        return 0;
}

static int add_bind(VmLayout *l, const PlanMount *m, const char *workdir, char *msg,
                    size_t msg_size) {
        _cleanup_free_ char *src = NULL;
        bool ro = m->flags & PLAN_MOUNT_RDONLY, exec = !(m->flags & PLAN_MOUNT_NOEXEC);
        const char *tag;
        struct stat st;
        int r;

        if (m->flags & PLAN_MOUNT_WORKDIR) {
                if (!m->source || !m->source[0] || strcmp(m->source, ".") == 0)
                        src = strdup(workdir);
                else if (asprintf(&src, "%s/%s", workdir, m->source) < 0)
                        src = NULL;
        } else
                src = m->source ? strdup(m->source) : NULL;
        if (!src)
                return -ENOMEM;
        if (ro && !l->image_root && covered_by_system_share(m->target, exec))
                return 0;
        if (stat(src, &st) < 0) {
                r = -errno;
                if (r == -ENOENT && (m->flags & PLAN_MOUNT_OPTIONAL))
                        return 0;
                snprintf(msg, msg_size, "bind %s: %s", src, strerror(-r));
                return r;
        }
        if (!S_ISDIR(st.st_mode)) {
                snprintf(msg, msg_size, "bind %s -> %s: the vm tier shares directories only", src,
                         m->target);
                return -ENOTDIR;
        }
        if (!ro && !l->image_root && under_system_share(m->target)) {
                snprintf(msg, msg_size, "writable bind %s inside the read-only guest %s", m->target,
                         path_under(m->target, "/usr") ? "/usr" : "/etc");
                return -EROFS;
        }
        /* QEMU opens the share as this process's uid: find out now, not at boot. */
        if (access(src, ro ? (R_OK | X_OK) : (R_OK | W_OK | X_OK)) < 0) {
                r = -errno;
                snprintf(msg, msg_size, "bind %s: not %s by uid %u, as which QEMU runs: %s", src,
                         ro ? "readable" : "writable", (unsigned) getuid(), strerror(-r));
                return r;
        }
        if ((r = add_share(l, src, ro, &tag)) < 0) {
                snprintf(msg, msg_size, "too many shared directories (at most %d)",
                         VM_DOMAIN_SHARES_MAX);
                return r;
        }
        /* The bind's exec: noexec on the guest's mount, as on the sandbox tier's. */
        return add_record(l, 'm', "9p %s %s%s %s", tag, ro ? "ro" : "rw", exec ? "" : ",noexec",
                          m->target);
}

static int add_mounts(VmLayout *l, const Plan *plan, const RunRequest *req, char *msg,
                      size_t msg_size) {
        bool workdir_mounted = false;
        int r = 0;

        for (size_t i = 0; i < plan->sandbox.n_mounts; i++) {
                const PlanMount *m = &plan->sandbox.mounts[i];

                if (m->target && strcmp(m->target, "/") == 0) {
                        /* The image root, shared by add_image_root() first. */
                        if (l->image_root && m->kind == PLAN_MOUNT_BIND)
                                continue;
                        snprintf(msg, msg_size,
                                 "the vm tier cannot reproduce a mount on / other than an "
                                 "image's");
                        return -EOPNOTSUPP;
                }
                if (!m->target || !vm_path_is_clean(m->target)) {
                        snprintf(msg, msg_size, "mount target %s is not a clean absolute path",
                                 m->target ? m->target : "(none)");
                        return -EINVAL;
                }
                /* /proc and /sys are the guest kernel's own, not the host's: the sandbox
                 * tier's masks and read-only remounts there protect a shared kernel. */
                if ((m->kind == PLAN_MOUNT_MASK || m->kind == PLAN_MOUNT_READONLY) &&
                    (path_under(m->target, "/proc") || path_under(m->target, "/sys")))
                        continue;
                /* The guest init covers the machine id files itself (record 'i'); its boot_id
                 * is its own kernel's. */
                if (m->kind == PLAN_MOUNT_IDENTITY)
                        continue;
                switch (m->kind) {
                case PLAN_MOUNT_BIND:
                        r = add_bind(l, m, req->workdir, msg, msg_size);
                        if (plan->sandbox.workdir_target &&
                            strcmp(m->target, plan->sandbox.workdir_target) == 0)
                                workdir_mounted = true;
                        break;
                case PLAN_MOUNT_TMPFS:
                        r = add_record(
                                l, 'm', "tmpfs %llu %s",
                                (unsigned long long) (m->size ? m->size : plan->vm.memory / 4),
                                m->target);
                        break;
                case PLAN_MOUNT_PROC:
                case PLAN_MOUNT_DEV:
                case PLAN_MOUNT_SYS:
                        /* The guest init mounts its own /proc, /sys and minimal /dev. */
                        break;
                case PLAN_MOUNT_MASK:
                        r = add_record(l, 'm', "mask %s", m->target);
                        break;
                case PLAN_MOUNT_SYMLINK:
                        if (strcmp(m->target, "/bin") == 0 || strcmp(m->target, "/sbin") == 0 ||
                            strncmp(m->target, "/lib", 4) == 0)
                                break; /* reproduced from the host by add_system() */
                        if (!m->source || !m->source[0] || strchr(m->source, ' '))
                                r = -EINVAL;
                        else
                                r = add_record(l, 'm', "link %s %s", m->source, m->target);
                        break;
                case PLAN_MOUNT_DIR:
                        r = add_record(l, 'm', "dir %s", m->target);
                        break;
                default:
                        r = -EINVAL;
                }
                if (r < 0) {
                        if (!msg[0])
                                snprintf(msg, msg_size, "cannot reproduce mount %s in the guest",
                                         m->target);
                        return r;
                }
        }

        /* A plan without an explicit work directory mount still runs in the caller's work
         * directory, shared writable at the same path, as the sandbox tier does. */
        if (plan->sandbox.workdir_target && !workdir_mounted) {
                PlanMount wd = { .kind = PLAN_MOUNT_BIND,
                                 .source = (char *) ".",
                                 .target = plan->sandbox.workdir_target,
                                 .flags = PLAN_MOUNT_WORKDIR };
                return add_bind(l, &wd, req->workdir, msg, msg_size);
        }
        return 0;
}

/* The same environment the sandbox tier gives: the plan's clear/allow/set rules applied to
 * the caller's environment, PATH always present. */
static int add_env(VmLayout *l, const Plan *plan, const RunRequest *req) {
        _cleanup_strv_free_ char **env = NULL;
        int r;

        if ((r = sandbox_env_build(plan, req->caller_env, &env)) < 0)
                return r;
        STRV_FOREACH (e, env)
                if ((r = vm_config_append(&l->config, &l->config_len, 'e', *e, strlen(*e))) < 0)
                        return r;
        return 0;
}

/* The guest kernel enforces the plan's AppArmor profile: its source goes to the guest init,
 * from /etc/apparmor.d/NAME (installed there by an administrator) or the data directory's
 * policies/apparmor/NAME. No source, no run. */
static int add_apparmor(VmLayout *l, const char *name, char *msg, size_t msg_size) {
        const char *data = getenv("MOAT_DATA_DIR");
        char paths[2][PATH_MAX], text[VM_RECORD_MAX + 1];
        ssize_t n = -1;
        int r;

        if (strchr(name, '/') || name[0] == '.' || !name[0]) {
                snprintf(msg, msg_size, "bad AppArmor profile name %s", name);
                return -EINVAL;
        }
        snprintf(paths[0], sizeof(paths[0]), "/etc/apparmor.d/%s", name);
        snprintf(paths[1], sizeof(paths[1]), "%s/policies/apparmor/%s",
                 data && data[0] == '/' ? data : MOAT_INSTALLED_DATA_DIR, name);
        for (size_t i = 0; i < ELEMENTSOF(paths) && n < 0; i++) {
                _cleanup_close_ int fd = open(paths[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0)
                        continue;
                n = read(fd, text, sizeof(text));
                if (n < 0 || n > (ssize_t) VM_RECORD_MAX) {
                        snprintf(msg, msg_size, "AppArmor profile %s: %s", paths[i],
                                 n < 0 ? strerror(errno) : "larger than 8 KiB");
                        return -EFBIG;
                }
        }
        if (n <= 0) {
                snprintf(msg, msg_size,
                         "AppArmor profile %s required in the guest, but neither "
                         "%s nor %s holds it",
                         name, paths[0], paths[1]);
                return -ENOENT;
        }
        if ((r = add_record(l, 'p', "%s", name)) < 0)
                return r;
        return vm_config_append(&l->config, &l->config_len, 'P', text, (size_t) n);
}

/* root: {image: NAME}: the plan's read-only bind of the image on / becomes a read-only share
 * and the first mount record, "overlay": the guest init makes it the lower layer of an overlay
 * with an upper layer in guest RAM (guest/init.c). The host's /usr and /etc are not shared. */
static const PlanMount *image_root_mount(const Plan *plan) {
        for (size_t i = 0; i < plan->sandbox.n_mounts; i++) {
                const PlanMount *m = &plan->sandbox.mounts[i];
                if (m->kind == PLAN_MOUNT_BIND && m->target && strcmp(m->target, "/") == 0)
                        return m;
        }
        return NULL;
}

static int add_image_root(VmLayout *l, const Plan *plan, const PlanMount *m, char *msg,
                          size_t msg_size) {
        const char *tag;
        struct stat st;
        int r;

        if (!m->source || m->source[0] != '/' || !(m->flags & PLAN_MOUNT_RDONLY)) {
                snprintf(msg, msg_size, "the image root %s is not an absolute, read-only bind",
                         m->source ? m->source : "(none)");
                return -EINVAL;
        }
        r = stat(m->source, &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
        if (r < 0) {
                snprintf(msg, msg_size, "image %s: %s", m->source, strerror(-r));
                return r;
        }
        /* QEMU opens the share as this process's uid: find out now, not at boot. */
        if (access(m->source, R_OK | X_OK) < 0) {
                r = -errno;
                snprintf(msg, msg_size, "image %s: not readable by uid %u, as which QEMU runs: %s",
                         m->source, (unsigned) getuid(), strerror(-r));
                return r;
        }
        if ((r = add_share(l, m->source, true, &tag)) < 0)
                return r;
        l->image_root = true;
        if ((r = add_record(l, 'm', "overlay %s %llu /", tag,
                            (unsigned long long) (plan->vm.memory ?: (256ull << 20)) / 4)) < 0)
                return r;
        if (!plan->system.boot)
                return 0;
        /* Boot mode: the image's init boots the image's system in the guest; the command runs
         * in it once it is ready, within the run's timeout (the boot is bounded by it on the
         * host too), else VM_BOOT_DEFAULT_READY_MS. */
        if (!plan->system.init || !vm_path_is_clean(plan->system.init) ||
            strlen(plan->system.init) >= sizeof(((VmConfig *) 0)->boot_init)) {
                snprintf(msg, msg_size, "os.init %s is not an absolute, clean path in the image",
                         plan->system.init ? plan->system.init : "(none)");
                return -EINVAL;
        }
        return add_record(
                l, 'B', "%llu %s",
                (unsigned long long) (plan->resources.timeout_ms && plan->resources.timeout_ms <
                                                                            VM_BOOT_READY_MS_MAX
                                              ? plan->resources.timeout_ms
                                              : VM_BOOT_DEFAULT_READY_MS),
                plan->system.init);
}

int vm_layout_build(const Plan *plan, const RunRequest *req, uid_t uid, gid_t gid, VmLayout *ret,
                    char *msg, size_t msg_size) {
        VmLayout l = {};
        int r;

        msg[0] = 0;
        /* The host path only goes into the domain XML (escaped); the guest path travels in
         * the space-separated mount records and must be clean. */
        const char *cwd = plan->sandbox.workdir_target ?: req->workdir;
        if (!req->workdir || req->workdir[0] != '/' || !cwd || !vm_path_is_clean(cwd)) {
                snprintf(msg, msg_size,
                         "work directory %s is not a clean absolute path "
                         "(no spaces or control characters) for the guest",
                         cwd ? cwd : "(none)");
                return -EINVAL;
        }
        l.cwd = strdup(cwd);
        if (!l.cwd)
                return -ENOMEM;
        if (plan->sandbox.machine_id)
                snprintf(l.machine_id, sizeof(l.machine_id), "%s", plan->sandbox.machine_id);
        else if ((r = id128_random_machine_id(l.machine_id, sizeof(l.machine_id))) < 0) {
                snprintf(msg, msg_size, "cannot draw a machine id: %s", strerror(-r));
                vm_layout_done(&l);
                return r;
        }
        r = add_record(&l, 'u', "%u", (unsigned) uid);
        if (r >= 0)
                r = add_record(&l, 'i', "%s", l.machine_id);
        if (r >= 0)
                r = add_record(&l, 'g', "%u", (unsigned) gid);
        if (r >= 0)
                r = add_record(&l, 'c', "%s", l.cwd);
        if (r >= 0)
                r = image_root_mount(plan)
                            ? add_image_root(&l, plan, image_root_mount(plan), msg, msg_size)
                            : add_system(&l, msg, msg_size);
        if (r >= 0) {
                if (plan->sandbox.n_mounts > 0)
                        r = add_mounts(&l, plan, req, msg, msg_size);
                else {
                        /* A plan without a filesystem section: /tmp in RAM, the work
                         * directory writable where it is on the host. */
                        PlanMount wd = { .kind = PLAN_MOUNT_BIND,
                                         .source = (char *) ".",
                                         .target = l.cwd,
                                         .flags = PLAN_MOUNT_WORKDIR };
                        r = add_record(&l, 'm', "tmpfs %llu /tmp",
                                       (unsigned long long) plan->vm.memory / 4);
                        if (r >= 0)
                                r = add_bind(&l, &wd, req->workdir, msg, msg_size);
                }
        }
        if (r >= 0 && plan->sandbox.hostname)
                r = add_record(&l, 'h', "%s", plan->sandbox.hostname);
        /* resources.cpu_time: the guest init measures and kills the tree (record t). */
        if (r >= 0 && plan->resources.cpu_time_ms > VM_CPU_TIME_MS_MAX) {
                snprintf(msg, msg_size,
                         "resources.cpu_time of %" PRIu64
                         " ms is more than the guest init "
                         "accepts (%" PRIu64 " ms)",
                         plan->resources.cpu_time_ms, VM_CPU_TIME_MS_MAX);
                r = -ERANGE;
        } else if (r >= 0 && plan->resources.cpu_time_ms)
                r = add_record(&l, 't', "%" PRIu64, plan->resources.cpu_time_ms);
        if (r >= 0 && plan->vm.guest_apparmor)
                r = add_apparmor(&l, plan->vm.guest_apparmor, msg, msg_size);
        if (r >= 0)
                r = add_env(&l, plan, req);
        STRV_FOREACH (a, req->argv) {
                if (r < 0)
                        break;
                r = vm_config_append(&l.config, &l.config_len, 'a', *a, strlen(*a));
        }
        if (r < 0) {
                if (!msg[0])
                        snprintf(msg, msg_size, "cannot describe the run to the guest: %s",
                                 strerror(-r));
                vm_layout_done(&l);
                return r;
        }
        *ret = l;
        /* The tags live in the layout itself: point at the caller's copy, not at this frame. */
        for (size_t i = 0; i < ret->n_shares; i++)
                ret->shares[i].tag = ret->tags[i];
        return 0;
}

void vm_layout_done(VmLayout *l) {
        for (size_t i = 0; i < l->n_shares; i++)
                free(l->sources[i]);
        free(l->config);
        free(l->cwd);
        *l = (VmLayout){};
}

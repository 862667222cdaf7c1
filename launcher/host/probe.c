/* SPDX-License-Identifier: MIT */
/* host_facts_probe(): what this host can enforce for the calling user, found READ-ONLY.
 *
 * Contract: runs in the launcher process, before any plan exists, with the caller's own
 * privileges. It only reads /proc, /sys and a few files under /etc, /boot and the caller's
 * cache directory, and asks access(2)/statfs(2)/lstat(2) questions. Beyond that:
 * landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION), which returns the ABI
 * version and creates nothing, and the KVM check of host/kvm.c: where /dev/kvm exists, it is
 * opened with QEMU's credentials (for a root caller in a forked child that becomes moat-vm),
 * asked its API version and extensions, and a VM is created and closed at once. It never
 * creates namespaces, cgroups or files, never executes a helper, and never connects to
 * libvirt: `moat explain` must be cheap and must not change the host it describes.
 *
 * A fact that cannot be read is reported as absent (false, -1 or NULL), which every rule
 * downstream treats as "cannot enforce". The only hard failure is running out of memory.
 *
 * In two stages for moat run and moat explain (HOST_PROBE_BASE): the base facts decide the
 * tier and build a sandbox plan; the caller's name, the rootless helpers and the vm and system
 * tiers' facts (QEMU, libvirt, the guest kernel, KVM, liblxc) follow only for a plan that
 * needs them (host_facts_probe_rest()). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <linux/magic.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "basic/macros.h"
#include "basic/strv.h"
#include "config.h"
#include "host/host.h"
#include "sys/projquota.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

/* The v1 controllers moat can use for limits; the order is the one reported. */
/* cpuacct: v1 only (a resources.cpu_time watcher reads cpuacct.usage); v2 accounts CPU time
 * in every cgroup's cpu.stat without a controller. */
static const char *const limit_controllers[] = { "memory", "pids", "cpu", "cpuacct" };

/* Reads at most size-1 bytes of a small kernel or config file, NUL-terminated, with the
 * trailing newline removed. Returns the length or -errno. */
static int read_small_file(const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = -EBADF;
        size_t n = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        while (n < size - 1) {
                ssize_t k = read(fd, buf + n, size - 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        if (n == size - 1) {
                /* Full buffer: a truncated fact is not a fact (the "0::" line of
                 * /proc/self/cgroup comes last, for one). */
                char extra;
                ssize_t k = read(fd, &extra, 1);
                if (k != 0)
                        return k < 0 ? -errno : -EFBIG;
        }
        buf[n] = '\0';
        if (strlen(buf) != n)
                return -EBADMSG; /* embedded NUL: not a text file we understand */
        while (n > 0 && buf[n - 1] == '\n')
                buf[--n] = '\0';
        return (int) n;
}

/* A sysctl holding one integer; -ENOENT when the kernel does not have it. */
static int read_int64_file(const char *path, int64_t *ret) {
        char buf[64], *end;
        long long v;
        int r;

        r = read_small_file(path, buf, sizeof(buf));
        if (r < 0)
                return r;
        errno = 0;
        v = strtoll(buf, &end, 10);
        if (errno != 0 || end == buf || *end != '\0')
                return -EBADMSG;
        *ret = v;
        return 0;
}

static int read_tristate_sysctl(const char *path) {
        int64_t v;

        if (read_int64_file(path, &v) < 0)
                return -1;
        return v != 0 ? 1 : 0;
}

/* Appends each token of s (separated by any of seps) to *l, keeping only those in filter
 * when filter is given. */
static int strv_split_append(char ***l, const char *s, const char *seps, const char *const *filter,
                             size_t n_filter) {
        _cleanup_free_ char *copy = strdup(s);
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        for (char *t = strtok_r(copy, seps, &save); t; t = strtok_r(NULL, seps, &save)) {
                bool keep = !filter;
                for (size_t i = 0; filter && i < n_filter; i++)
                        keep = keep || strcmp(t, filter[i]) == 0;
                if (keep && strv_extend_unique(l, t) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* An allocated empty list: "known to be empty", as opposed to NULL "unknown". */
static int strv_ensure(char ***l) {
        if (*l)
                return 0;
        *l = calloc(1, sizeof(char *));
        return *l ? 0 : -ENOMEM;
}

static bool is_executable_file(const char *path) {
        struct stat st;

        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
                return false;
        return faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) == 0;
}

static bool is_readable_file(const char *path) {
        struct stat st;

        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
                return false;
        return faccessat(AT_FDCWD, path, R_OK, AT_EACCESS) == 0;
}

static bool is_writable(const char *path) {
        return faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) == 0;
}

static bool statfs_magic_is(const char *path, long magic) {
        struct statfs sfs;

        if (statfs(path, &sfs) < 0)
                return false;
        return (long) sfs.f_type == magic;
}

static void probe_kernel(HostFacts *h) {
        struct utsname u;
        char *end;

        if (uname(&u) < 0)
                return;
        snprintf(h->kernel_release, sizeof(h->kernel_release), "%s", u.release);
        snprintf(h->arch, sizeof(h->arch), "%.31s", u.machine);
        h->kernel_major = (unsigned) strtoul(u.release, &end, 10);
        if (*end == '.')
                h->kernel_minor = (unsigned) strtoul(end + 1, NULL, 10);
}

/* /bin, /sbin, /lib* as they are on this host, so that a new root can mirror them. */
static int probe_root_layout(HostFacts *h) {
        static const char *const dirs[] = { "bin", "sbin", "lib", "lib32", "lib64", "libx32" };
        unsigned merged = 0;

        if (strv_ensure(&h->root_symlinks) < 0 || strv_ensure(&h->root_dirs) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                char path[16], target[256], entry[280];
                struct stat st;
                ssize_t n;

                snprintf(path, sizeof(path), "/%s", dirs[i]);
                if (lstat(path, &st) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        if (strv_extend(&h->root_dirs, dirs[i]) < 0)
                                return -ENOMEM;
                        continue;
                }
                if (!S_ISLNK(st.st_mode))
                        continue;
                n = readlink(path, target, sizeof(target) - 1);
                if (n <= 0)
                        continue;
                target[n] = '\0';
                snprintf(entry, sizeof(entry), "%s=%s", dirs[i], target);
                if (strv_extend(&h->root_symlinks, entry) < 0)
                        return -ENOMEM;
                if (i < 3 && (strncmp(target, "usr/", 4) == 0 || strncmp(target, "/usr/", 5) == 0))
                        merged++;
        }
        h->merged_usr = merged == 3;
        return 0;
}

/* The POSIX portable user name set (plus a trailing '$' for machine accounts). Anything else,
 * a name in a legacy 8-bit encoding say, is reported by number: the facts are JSON text. */
static bool user_name_is_portable(const char *name) {
        size_t n =
                strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-@");

        if (n == 0 || name[0] == '-')
                return false;
        return name[n] == '\0' || (name[n] == '$' && name[n + 1] == '\0');
}

static void probe_caller(HostFacts *h) {
        char map[128];

        h->uid = getuid();
        h->gid = getgid();
        if (h->uid == 0 && read_small_file("/proc/self/uid_map", map, sizeof(map)) > 0)
                h->is_root = host_uid_map_is_initial(map);
}

/* The caller's name (NSS: /etc/passwd, or a directory service): for /etc/subuid, QEMU's
 * account and the report, never for a plan. */
static void probe_user_name(HostFacts *h) {
        struct passwd pw, *res = NULL;
        char buf[4096];

        if (getpwuid_r(h->uid, &pw, buf, sizeof(buf), &res) == 0 && res &&
            user_name_is_portable(res->pw_name))
                snprintf(h->user, sizeof(h->user), "%s", res->pw_name);
        else
                snprintf(h->user, sizeof(h->user), "%u", (unsigned) h->uid);
}

static int probe_userns(HostFacts *h) {
        const char *why;
        char label[256];
        int64_t v;

        h->max_user_namespaces =
                read_int64_file("/proc/sys/user/max_user_namespaces", &v) < 0 ? -1 : v;
        h->unprivileged_userns_clone =
                read_tristate_sysctl("/proc/sys/kernel/unprivileged_userns_clone");
        h->apparmor_restrict_userns =
                read_tristate_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
        /* AppArmor's own attr directory (5.8+) first: attr/current is the first LSM's. */
        if (read_small_file("/proc/self/attr/apparmor/current", label, sizeof(label)) > 0 ||
            read_small_file("/proc/self/attr/current", label, sizeof(label)) > 0)
                h->apparmor_moat_attached = strncmp(label, "moat (", strlen("moat (")) == 0;
        h->time_ns = access("/proc/self/ns/time", F_OK) == 0;

        why = host_userns_unusable_reason(h, access("/proc/self/ns/user", F_OK) == 0);
        h->userns_usable = !why;
        if (why) {
                h->userns_reason = strdup(why);
                if (!h->userns_reason)
                        return -ENOMEM;
        }
        return 0;
}

static int probe_seccomp(HostFacts *h) {
        char status[16384], actions[512];
        const char *p;

        /* "Seccomp:" exists with CONFIG_SECCOMP; mode 1 (strict) would forbid everything we
         * do next. Filter support itself is CONFIG_SECCOMP_FILTER, visible as actions_avail. */
        if (read_small_file("/proc/self/status", status, sizeof(status)) < 0)
                return 0;
        p = strstr(status, "\nSeccomp:");
        if (!p)
                return 0;
        p += strlen("\nSeccomp:");
        p += strspn(p, " \t");
        if (*p == '1')
                return 0;
        if (read_small_file("/proc/sys/kernel/seccomp/actions_avail", actions, sizeof(actions)) < 0)
                return 0;
        if (strv_ensure(&h->seccomp_actions) < 0 ||
            strv_split_append(&h->seccomp_actions, actions, " \t\n", NULL, 0) < 0)
                return -ENOMEM;
        h->seccomp_filter = strv_contains(h->seccomp_actions, "errno") &&
                            strv_contains(h->seccomp_actions, "kill_process");
        h->seccomp_user_notif = strv_contains(h->seccomp_actions, "user_notif");
        return 0;
}

static void probe_landlock(HostFacts *h) {
        long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

        /* ENOSYS (old kernel) and EOPNOTSUPP (built but disabled at boot) both mean none. */
        h->landlock_abi = abi > 0 ? (int) abi : 0;
}

static bool is_moat_profile_name(const char *name) {
        return strcmp(name, "moat") == 0 || strncmp(name, "moat-", strlen("moat-")) == 0;
}

/* The policy introspection directory (CONFIG_SECURITY_APPARMOR_INTROSPECT_POLICY) has one
 * directory "NAME.N" per loaded profile, with a "name" file that any user may read. */
static int apparmor_moat_profiles_in_policy_dir(char ***list) {
        DIR *d = opendir("/sys/kernel/security/apparmor/policy/profiles");
        struct dirent *de;
        char path[512], name[256];
        int r = 0;

        if (!d)
                return 0;
        while (r >= 0 && (de = readdir(d))) {
                if (strncmp(de->d_name, "moat", strlen("moat")) != 0)
                        continue;
                snprintf(path, sizeof(path),
                         "/sys/kernel/security/apparmor/policy/profiles/%s/name", de->d_name);
                if (read_small_file(path, name, sizeof(name)) > 0 && is_moat_profile_name(name) &&
                    !strv_contains(*list, name))
                        r = strv_extend(list, name);
        }
        closedir(d);
        return r;
}

/* The loaded AppArmor profiles named "moat" or "moat-*" (moat's names, `moat policy install`).
 * Lines of the profile list read "NAME (MODE)". The list is readable only with the policy-view
 * capability (root): an unprivileged caller gets EACCES and looks in the policy directory
 * instead, which says the same for the names it lists. */
static int probe_apparmor_moat_profiles(HostFacts *h) {
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        int r;
        FILE *f;

        if ((r = strv_ensure(&h->apparmor_moat_profiles)) < 0)
                return r;
        f = fopen("/sys/kernel/security/apparmor/profiles", "re");
        if (!f)
                r = errno == EACCES
                            ? apparmor_moat_profiles_in_policy_dir(&h->apparmor_moat_profiles)
                            : 0;
        while (f && r >= 0 && (n = getline(&line, &cap, f)) > 0) {
                char *mode = strstr(line, " (");
                if (!mode)
                        continue;
                *mode = '\0';
                if (is_moat_profile_name(line) && !strv_contains(h->apparmor_moat_profiles, line))
                        r = strv_extend(&h->apparmor_moat_profiles, line);
        }
        if (f)
                fclose(f);
        h->apparmor_moat_loaded = strv_contains(h->apparmor_moat_profiles, "moat-default");
        return r;
}

/* Whether the loaded SELinux policy knows moat's workload domain (moat's module is loaded):
 * selinuxfs validates a context written to "context" without changing anything
 * (security_check_context()). MLS/MCS policies need the level, others refuse it. */
static bool selinux_moat_domain_known(void) {
        static const char *const contexts[] = { "system_u:system_r:moat_sandbox_t:s0",
                                                "system_u:system_r:moat_sandbox_t" };

        for (size_t i = 0; i < ELEMENTSOF(contexts); i++) {
                _cleanup_close_ int fd = open("/sys/fs/selinux/context", O_RDWR | O_CLOEXEC);
                if (fd < 0)
                        return false;
                if (write(fd, contexts[i], strlen(contexts[i]) + 1) >= 0)
                        return true;
        }
        return false;
}

static int probe_lsms(HostFacts *h) {
        char buf[512];

        /* securityfs may not be mounted (containers, minimal hosts). Then the list of active
         * LSMs stays NULL, "unknown", and each LSM is judged from its own interface. */
        if (read_small_file("/sys/kernel/security/lsm", buf, sizeof(buf)) >= 0)
                if (strv_ensure(&h->lsms) < 0 || strv_split_append(&h->lsms, buf, ",", NULL, 0) < 0)
                        return -ENOMEM;

        if (h->lsms)
                h->apparmor_enabled = strv_contains(h->lsms, "apparmor");
        else if (read_small_file("/sys/module/apparmor/parameters/enabled", buf, sizeof(buf)) > 0)
                h->apparmor_enabled = buf[0] == 'Y';
        if (h->apparmor_enabled && probe_apparmor_moat_profiles(h) < 0)
                return -ENOMEM;

        h->selinux_mode = -1;
        if ((!h->lsms || strv_contains(h->lsms, "selinux")) &&
            read_small_file("/sys/fs/selinux/enforce", buf, sizeof(buf)) > 0)
                h->selinux_mode = buf[0] == '1' ? 1 : buf[0] == '0' ? 0 : -1;
        if (h->selinux_mode >= 0)
                h->selinux_moat_loaded = selinux_moat_domain_known();
        return 0;
}

/* The caller's own v2 cgroup, from the "0::PATH" line, under the v2 mount point. */
static int cgroup_v2_own_dir(const char *mnt, char *ret, size_t size) {
        char buf[16384];
        const char *p;

        if (read_small_file("/proc/self/cgroup", buf, sizeof(buf)) < 0)
                return -ENOENT;
        p = strncmp(buf, "0::", 3) == 0 ? buf : strstr(buf, "\n0::");
        if (!p)
                return -ENOENT;
        p += p == buf ? 3 : 4;
        if (*p != '/' || strstr(p, "/../"))
                return -EBADMSG;
        if ((size_t) snprintf(ret, size, "%s%.*s", mnt, (int) strcspn(p, "\n"), p) >= size)
                return -ENAMETOOLONG;
        return 0;
}

/* Whether the v2 cgroup dir holds no process but this one (cgroup.procs lists our pid only). */
static bool cgroup_v2_only_us(const char *dir) {
        char file[4200], buf[256];
        long pid;
        char *end;

        snprintf(file, sizeof(file), "%s/cgroup.procs", dir);
        if (read_small_file(file, buf, sizeof(buf)) <= 0)
                return false;
        errno = 0;
        pid = strtol(buf, &end, 10);
        return errno == 0 && pid == (long) getpid() && (*end == 0 || (*end == '\n' && end[1] == 0));
}

/* The controllers a child of the caller's own cgroup D can get:
 *   - those already in D/cgroup.subtree_control (the root cgroup, or a D prepared so);
 *   - when D is a cgroup of moat's own (it holds no other process: `systemd-run --user --scope
 *     -p Delegate=yes moat run ...`, a CI job's own cgroup) and its subtree_control is
 *     writable, also those D/cgroup.controllers offers: the executor then moves itself into a
 *     leaf of D and enables them (the no-internal-process rule forbids enabling controllers
 *     for the children of a cgroup that has processes of its own). moat never moves another
 *     process; a D shared with others gets only what its subtree_control already has.
 * Writable means the directory (mkdir) and cgroup.procs (CLONE_INTO_CGROUP migrates through
 * the common ancestor, which is D) are both writable by this caller. */
static int probe_cgroup_v2(HostFacts *h, const char *mnt) {
        char dir[4096], file[4200], buf[512];
        int r;

        if (strv_ensure(&h->cgroup_v2_controllers) < 0)
                return -ENOMEM;
        if (cgroup_v2_own_dir(mnt, dir, sizeof(dir)) < 0)
                return 0;
        snprintf(file, sizeof(file), "%s/cgroup.procs", dir);
        h->cgroup_v2_writable = is_writable(dir) && is_writable(file);
        if (!h->cgroup_v2_writable)
                return 0;
        snprintf(file, sizeof(file), "%s/cgroup.subtree_control", dir);
        if (read_small_file(file, buf, sizeof(buf)) < 0)
                return 0;
        r = strv_split_append(&h->cgroup_v2_controllers, buf, " \n", limit_controllers,
                              ELEMENTSOF(limit_controllers));
        if (r < 0 || !is_writable(file) || !cgroup_v2_only_us(dir))
                return r;
        snprintf(file, sizeof(file), "%s/cgroup.controllers", dir);
        if (read_small_file(file, buf, sizeof(buf)) < 0)
                return 0;
        /* strv_split_append() adds only what is not listed yet */
        return strv_split_append(&h->cgroup_v2_controllers, buf, " \n", limit_controllers,
                                 ELEMENTSOF(limit_controllers));
}

/* Legacy controllers: moat creates its cgroup at the controller root, which needs write
 * access there (in practice: root). Every mounted one must be writable, or none counts. */
static int probe_cgroup_v1(HostFacts *h) {
        bool writable = true;

        if (strv_ensure(&h->cgroup_v1_controllers) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(limit_controllers); i++) {
                char path[64];

                snprintf(path, sizeof(path), "/sys/fs/cgroup/%s", limit_controllers[i]);
                if (!statfs_magic_is(path, CGROUP_SUPER_MAGIC))
                        continue;
                if (strv_extend(&h->cgroup_v1_controllers, limit_controllers[i]) < 0)
                        return -ENOMEM;
                writable = writable && is_writable(path);
        }
        h->cgroup_v1_writable = writable && h->cgroup_v1_controllers[0];
        return 0;
}

static int probe_cgroups(HostFacts *h) {
        int r;

        if (statfs_magic_is("/sys/fs/cgroup", CGROUP2_SUPER_MAGIC)) {
                h->cgroup_layout = CGROUP_LAYOUT_V2;
                r = strv_ensure(&h->cgroup_v1_controllers);
                return r < 0 ? r : probe_cgroup_v2(h, "/sys/fs/cgroup");
        }
        if (!statfs_magic_is("/sys/fs/cgroup", TMPFS_MAGIC)) {
                h->cgroup_layout = CGROUP_LAYOUT_NONE;
                if (strv_ensure(&h->cgroup_v1_controllers) < 0 ||
                    strv_ensure(&h->cgroup_v2_controllers) < 0)
                        return -ENOMEM;
                return 0;
        }
        r = probe_cgroup_v1(h);
        if (r < 0)
                return r;
        if (statfs_magic_is("/sys/fs/cgroup/unified", CGROUP2_SUPER_MAGIC)) {
                h->cgroup_layout = CGROUP_LAYOUT_HYBRID;
                return probe_cgroup_v2(h, "/sys/fs/cgroup/unified");
        }
        h->cgroup_layout = h->cgroup_v1_controllers[0] ? CGROUP_LAYOUT_V1 : CGROUP_LAYOUT_NONE;
        return strv_ensure(&h->cgroup_v2_controllers);
}

static void probe_qemu(HostFacts *h, char *name, size_t size) {
        static const char *const dirs[] = { "/usr/bin", "/usr/local/bin" };
        const char *path = secure_getenv("PATH");
        const char *arch = strcmp(h->arch, "i686") == 0 ? "i386" : h->arch;
        char cand[4096];

        snprintf(name, size, "qemu-system-%s", arch[0] ? arch : "x86_64");
        /* PATH first, as a user would find it; relative entries are ignored on purpose. */
        for (const char *p = path; p && *p; p += strcspn(p, ":"), p += *p == ':') {
                size_t len = strcspn(p, ":");
                if (len == 0 || p[0] != '/')
                        continue;
                if ((size_t) snprintf(cand, sizeof(cand), "%.*s/%s", (int) len, p, name) >=
                    sizeof(cand))
                        continue;
                if (is_executable_file(cand))
                        goto found;
        }
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                snprintf(cand, sizeof(cand), "%s/%s", dirs[i], name);
                if (is_executable_file(cand))
                        goto found;
        }
        return;
found:
        h->qemu_present = snprintf(h->qemu_path, sizeof(h->qemu_path), "%s", cand) <
                          (int) sizeof(h->qemu_path);
}

/* $MOAT_GUEST_KERNEL is an explicit choice: when it is set but unusable, the probe says so
 * rather than silently booting some other kernel. */
static int probe_guest_kernel(HostFacts *h, char *why, size_t size) {
        const char *env = secure_getenv("MOAT_GUEST_KERNEL");
        char boot[128];
        const char *cands[] = { boot, "/var/lib/moat/guest/vmlinux",
                                "/var/lib/moat/guest/vmlinuz" };

        if (env && *env) {
                if (env[0] == '/' && is_readable_file(env))
                        return (h->guest_kernel = strdup(env)) ? 0 : -ENOMEM;
                snprintf(why, size,
                         "MOAT_GUEST_KERNEL=%s is not a readable file given by absolute path", env);
                return 0;
        }
        snprintf(boot, sizeof(boot), "/boot/vmlinuz-%s", h->kernel_release);
        for (size_t i = 0; i < ELEMENTSOF(cands); i++)
                if (is_readable_file(cands[i]))
                        return (h->guest_kernel = strdup(cands[i])) ? 0 : -ENOMEM;
        snprintf(why, size,
                 "no readable guest kernel (set MOAT_GUEST_KERNEL, or install %s or "
                 "/var/lib/moat/guest/vmlinuz)",
                 boot);
        return 0;
}

static void probe_vm_boot_ms(HostFacts *h) {
        const char *xdg = secure_getenv("XDG_CACHE_HOME"), *home = secure_getenv("HOME");
        char path[4096], buf[32], *end;
        unsigned long v;

        if (xdg && xdg[0] == '/')
                snprintf(path, sizeof(path), "%s/moat/vm-boot-ms", xdg);
        else if (home && home[0] == '/')
                snprintf(path, sizeof(path), "%s/.cache/moat/vm-boot-ms", home);
        else
                return;
        if (read_small_file(path, buf, sizeof(buf)) <= 0 || buf[0] < '0' || buf[0] > '9')
                return;
        errno = 0;
        v = strtoul(buf, &end, 10);
        if (errno == 0 && *end == '\0' && v <= UINT32_MAX)
                h->vm_boot_ms = (uint32_t) v;
}

static int probe_vm(HostFacts *h, unsigned flags) {
        char qemu[64], kernel_why[512] = "", why[1024] = "";
        int r;

        probe_qemu(h, qemu, sizeof(qemu));
        h->libvirt_present = is_executable_file("/usr/sbin/libvirtd") ||
                             is_executable_file("/usr/sbin/virtqemud");
        r = probe_guest_kernel(h, kernel_why, sizeof(kernel_why));
        if (r < 0)
                return r;
        probe_vm_boot_ms(h);

        if (!h->qemu_present)
                snprintf(why, sizeof(why),
                         "%s is not installed (not on PATH, /usr/bin or /usr/local/bin)", qemu);
        if (!h->libvirt_present)
                snprintf(
                        why + strlen(why), sizeof(why) - strlen(why),
                        "%slibvirt is not installed (no /usr/sbin/libvirtd or /usr/sbin/virtqemud)",
                        why[0] ? "; " : "");
        if (!h->guest_kernel)
                snprintf(why + strlen(why), sizeof(why) - strlen(why), "%s%s", why[0] ? "; " : "",
                         kernel_why);
        if (why[0] && !(h->vm_reason = strdup(why)))
                return -ENOMEM;
        if (flags & HOST_PROBE_SKIP_KVM) {
                h->kvm_state = KVM_STATE_UNPROVEN;
                return (h->kvm_reason = strdup("not probed by this command: the vm executor "
                                               "probes KVM itself"))
                               ? 0
                               : -ENOMEM;
        }
        /* After the guest kernel and QEMU: the cached proof is keyed by them. */
        return host_probe_kvm(h, flags & HOST_PROBE_KVM_TEST_GUEST);
}

static bool subuid_has_range(const HostFacts *h) {
        _cleanup_free_ char *line = NULL;
        char uid[16];
        size_t cap = 0, nlen = strlen(h->user);
        bool found = false;
        FILE *f;

        snprintf(uid, sizeof(uid), "%u", (unsigned) h->uid);
        f = fopen("/etc/subuid", "re");
        if (!f)
                return false;
        while (!found && getline(&line, &cap, f) > 0) {
                unsigned long start, count;
                const char *rest;

                if (strncmp(line, h->user, nlen) == 0 && line[nlen] == ':')
                        rest = line + nlen + 1;
                else if (strncmp(line, uid, strlen(uid)) == 0 && line[strlen(uid)] == ':')
                        rest = line + strlen(uid) + 1;
                else
                        continue;
                found = sscanf(rest, "%lu:%lu", &start, &count) == 2 && count > 0;
        }
        fclose(f);
        return found;
}

static void probe_helpers(HostFacts *h) {
#ifdef MOAT_LXC_LIBRARY
        /* liblxc is deliberately not linked into moat (it would be loaded on every launch; the
         * system tier's runner execs moat-system-run, which has it): report whether the library
         * moat was built against is installed, and the version it was built against. */
        if (access(MOAT_LXC_LIBRARY, R_OK) == 0) {
                h->lxc_present = true;
                snprintf(h->lxc_version, sizeof(h->lxc_version), "%s", MOAT_LXC_BUILD_VERSION);
        }
#endif
        h->newuidmap_present = is_executable_file("/usr/bin/newuidmap");
        h->subuid_range = subuid_has_range(h);
}

/* network.outbound.via: transparent is a sandbox-tier plan: its facts belong to the base probe. */
static void probe_transparent_net(HostFacts *h) {
        static const char *const slirp[] = { "/usr/bin/slirp4netns", "/usr/local/bin/slirp4netns" };
        static const char *const nft[] = { "/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft" };

        /* Read-only: access() with the caller's real ids, as slirp4netns's open() will be. */
        h->tun_usable = access("/dev/net/tun", R_OK | W_OK) == 0;
        for (size_t i = 0; i < ELEMENTSOF(slirp) && !h->slirp4netns_present; i++)
                if (is_executable_file(slirp[i])) {
                        h->slirp4netns_present = true;
                        snprintf(h->slirp4netns_path, sizeof(h->slirp4netns_path), "%s", slirp[i]);
                }
        for (size_t i = 0; i < ELEMENTSOF(nft) && !h->nft_present; i++)
                if (is_executable_file(nft[i])) {
                        h->nft_present = true;
                        snprintf(h->nft_path, sizeof(h->nft_path), "%s", nft[i]);
                }
}

int host_facts_probe(HostFacts *h) {
        return host_facts_probe_flags(h, 0);
}

/* The facts every plan needs, whatever its tier: what decides the tier (the findings of
 * plan-resolve.c), what the sandbox tier's plan is built from, and what its audit record
 * carries (audit/record.c: build_host). */
static int probe_base(HostFacts *h) {
        int r;

        probe_kernel(h);
        probe_landlock(h);
        probe_caller(h);
        probe_transparent_net(h);
        r = probe_root_layout(h);
        if (r >= 0)
                r = probe_lsms(h);
        if (r >= 0)
                r = probe_userns(h);
        if (r >= 0)
                r = probe_seccomp(h);
        if (r >= 0)
                r = probe_cgroups(h);
        return r;
}

int host_facts_probe_flags(HostFacts *h, unsigned flags) {
        int r;

        *h = (HostFacts){};
        snprintf(h->source, sizeof(h->source), "probe");
        r = probe_base(h);
        h->partial = true;
        if (r >= 0 && !(flags & HOST_PROBE_BASE))
                r = host_facts_probe_rest(h, flags);
        if (r < 0) {
                host_facts_done(h);
                return r;
        }
        return 0;
}

int host_facts_probe_rest(HostFacts *h, unsigned flags) {
        int r;

        if (!h->partial)
                return 0;
        probe_user_name(h);
        probe_helpers(h); /* after the name: /etc/subuid is keyed by it */
        r = probe_vm(h, flags);
        if (r < 0)
                return r;
        h->partial = false;
        return 0;
}

/* resources.disk's strongest mechanism for this run's writable binds. Root only: a project id
 * and a quota limit change only from the initial user namespace with CAP_SYS_ADMIN/CAP_FOWNER.
 * All binds on one file system, so that one limit bounds their total; nested mounts inside a
 * bind are found when the executor walks the tree (the run then stops). */
int host_probe_project_quota(HostFacts *h, char *const *dirs) {
        const char *why = NULL;
        dev_t dev = 0;
        bool first = true;

        free(h->project_quota_reason);
        h->project_quota_reason = NULL;
        h->project_quota = false;
        if (!h->is_root)
                why = "the caller is not root (a project quota is set from the initial user "
                      "namespace with CAP_SYS_ADMIN)";
        else if (!dirs || !dirs[0])
                why = "no writable bind";
        for (size_t i = 0; !why && dirs[i]; i++) {
                struct stat st;
                const char *reason;
                int fd = open(dirs[i], O_PATH | O_CLOEXEC);
                if (fd < 0 || fstat(fd, &st) < 0) {
                        if (fd >= 0)
                                close(fd);
                        return asprintf(&h->project_quota_reason, "cannot open %s: %s", dirs[i],
                                        strerror(errno)) < 0
                                       ? -ENOMEM
                                       : 0;
                }
                int r = sys_projquota_check(fd, &reason);
                close(fd);
                if (r < 0)
                        return asprintf(&h->project_quota_reason, "%s: %s", dirs[i], reason) < 0
                                       ? -ENOMEM
                                       : 0;
                if (!first && st.st_dev != dev)
                        why = "the writable binds are on different file systems";
                dev = st.st_dev;
                first = false;
        }
        if (why)
                return (h->project_quota_reason = strdup(why)) ? 0 : -ENOMEM;
        h->project_quota = true;
        return 0;
}

/* SPDX-License-Identifier: MIT */
/* cgroup limits; contract in cgroup.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "basic/file-util.h"
#include "basic/macros.h"
#include "sys/cgroup.h"
#include "sys/raw-syscall.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

static int open_child(const char *dir, const char *file, int flags) {
        char path[PATH_MAX];
        if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path))
                return -ENAMETOOLONG;
        int fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW);
        return fd < 0 ? -errno : fd;
}

static int write_file(const char *dir, const char *file, const char *value) {
        _cleanup_close_ int fd = open_child(dir, file, O_WRONLY);
        if (fd < 0)
                return fd;
        size_t len = strlen(value);
        ssize_t n = write(fd, value, len);
        if (n < 0)
                return -errno;
        return (size_t) n == len ? 0 : -EIO;
}

static int read_u64(const char *dir, const char *file, uint64_t *ret) {
        char path[PATH_MAX], buf[64];
        snprintf(path, sizeof(path), "%s/%s", dir, file);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return n < 0 ? -errno : -ENODATA;
        buf[n] = 0;
        *ret = strtoull(buf, NULL, 10);
        return 0;
}

/* /proc/self/cgroup, read once for all the hierarchies a sandbox needs. */
static int read_own_cgroups(char **ret) {
        _cleanup_close_ int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
        size_t len;

        if (fd < 0)
                return -errno;
        /* a few hundred bytes: one read(2) with a hint of 1 KiB (0 would read 1, 2, 4, ...) */
        return read_fd_bounded(fd, 1024, 64 * 1024, ret, &len);
}

/* Our own cgroup in the hierarchy named `controller` ("" for v2), from the text of
 * /proc/self/cgroup ("ID:CONTROLLERS:PATH" lines). */
static int own_cgroup(const char *cgroups, const char *controller, char *ret, size_t size) {
        for (const char *line = cgroups; *line;) {
                const char *end = strchrnul(line, '\n');
                const char *c1 = memchr(line, ':', (size_t) (end - line));
                const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t) (end - c1 - 1)) : NULL;

                if (c2) {
                        bool match = false;
                        if (controller[0] == 0)
                                match = c1 - line == 1 && line[0] == '0' && c1 + 1 == c2;
                        else
                                /* the controller list is comma-separated: "cpu,cpuacct" */
                                for (const char *t = c1 + 1; t < c2;) {
                                        const char *te = memchr(t, ',', (size_t) (c2 - t));
                                        if (!te)
                                                te = c2;
                                        if ((size_t) (te - t) == strlen(controller) &&
                                            memcmp(t, controller, (size_t) (te - t)) == 0)
                                                match = true;
                                        t = te + 1;
                                }
                        if (match) {
                                size_t n = (size_t) (end - c2 - 1);
                                if (n >= size)
                                        return -ENAMETOOLONG;
                                memcpy(ret, c2 + 1, n);
                                ret[n] = 0;
                                return 0;
                        }
                }
                line = *end ? end + 1 : end;
        }
        return -ENOENT;
}

static int v2_mount_point(const char **ret) {
        struct statfs sf;
        if (statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC) {
                *ret = "/sys/fs/cgroup";
                return 0;
        }
        if (statfs("/sys/fs/cgroup/unified", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC) {
                *ret = "/sys/fs/cgroup/unified";
                return 0;
        }
        return -ENOENT;
}

/* The path of a new child `name` of our own cgroup under the hierarchy mounted at root; root
 * must be a cgroup file system. Nothing is created. */
static int child_path(const char *cgroups, const char *root, const char *controller,
                      const char *name, char **ret) {
        char own[PATH_MAX];
        struct statfs sf;
        int r = own_cgroup(cgroups, controller, own, sizeof(own));
        if (r < 0)
                return r;
        /* Before anything is created below /sys/fs/cgroup, make sure it is a cgroup fs. */
        if (statfs(root, &sf) < 0)
                return -errno;
        if (sf.f_type != CGROUP2_SUPER_MAGIC && sf.f_type != CGROUP_SUPER_MAGIC)
                return -EMEDIUMTYPE;
        if (asprintf(ret, "%s%s/%s", root, strcmp(own, "/") == 0 ? "" : own, name) < 0) {
                *ret = NULL;
                return -ENOMEM;
        }
        return 0;
}

/* Whether the space-separated list has the word. */
static bool list_has(const char *list, const char *word) {
        size_t n = strlen(word);
        for (const char *p = list; (p = strstr(p, word)); p += n)
                if ((p == list || p[-1] == ' ' || p[-1] == '\n') &&
                    (p[n] == 0 || p[n] == ' ' || p[n] == '\n'))
                        return true;
        return false;
}

/* v2: the controllers the limits need that D = the parent of paths[0] does not yet give its
 * children. None missing: nothing to do. Otherwise leaf mode (cgroup.h). */
static int prepare_v2_leaf(const PlanResources *res, const char *name, SandboxCgroup *cg) {
        static const char *const need[] = { "memory", "pids", "cpu" };
        bool wanted[] = { res->memory > 0, res->pids > 0, res->cpus_milli > 0 };
        _cleanup_free_ char *parent = strdup(cg->paths[0]), *subtree = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t len;
        char *slash;
        int r;

        if (!parent)
                return -ENOMEM;
        slash = strrchr(parent, '/');
        if (!slash)
                return -EINVAL;
        *slash = 0;
        fd = open_child(parent, "cgroup.subtree_control", O_RDONLY);
        if (fd < 0)
                return fd;
        r = read_fd_bounded(fd, 256, 4096, &subtree, &len);
        if (r < 0)
                return r;
        cg->v2_enable[0] = 0;
        for (size_t i = 0; i < ELEMENTSOF(need); i++)
                if (wanted[i] && !list_has(subtree, need[i])) {
                        size_t at = strlen(cg->v2_enable);
                        snprintf(cg->v2_enable + at, sizeof(cg->v2_enable) - at, "%s+%s",
                                 at ? " " : "", need[i]);
                }
        if (!cg->v2_enable[0])
                return 0;
        snprintf(cg->v2_disable, sizeof(cg->v2_disable), "%s", cg->v2_enable);
        for (char *p = cg->v2_disable; (p = strchr(p, '+')); p++)
                *p = '-';
        if (asprintf(&cg->v2_leaf, "%s/%s.supervisor", parent, name) < 0) {
                cg->v2_leaf = NULL;
                return -ENOMEM;
        }
        cg->v2_parent = TAKE_PTR(parent);
        return 0;
}

int sys_cgroup_prepare(CgroupMechanism mech, const char *name, const PlanResources *res,
                       SandboxCgroup *ret) {
        _cleanup_free_ char *cgroups = NULL;
        int r;

        *ret = (SandboxCgroup) SANDBOX_CGROUP_INIT;
        ret->mechanism = mech;
        r = read_own_cgroups(&cgroups);
        if (r < 0)
                return r;
        if (mech == CGROUP_MECH_V1) {
                if (res->memory)
                        r = child_path(cgroups, "/sys/fs/cgroup/memory", "memory", name,
                                       &ret->paths[CGROUP_V1_MEMORY]);
                if (r >= 0 && res->pids)
                        r = child_path(cgroups, "/sys/fs/cgroup/pids", "pids", name,
                                       &ret->paths[CGROUP_V1_PIDS]);
                if (r >= 0 && res->cpus_milli)
                        r = child_path(cgroups, "/sys/fs/cgroup/cpu", "cpu", name,
                                       &ret->paths[CGROUP_V1_CPU]);
                if (r >= 0 && res->cpu_time_ms)
                        r = child_path(cgroups, "/sys/fs/cgroup/cpuacct", "cpuacct", name,
                                       &ret->paths[CGROUP_V1_CPUACCT]);
        } else if (mech == CGROUP_MECH_V2) {
                const char *root;
                r = v2_mount_point(&root);
                if (r >= 0)
                        r = child_path(cgroups, root, "", name, &ret->paths[0]);
                if (r >= 0)
                        r = prepare_v2_leaf(res, name, ret);
        } else
                r = -EOPNOTSUPP;
        if (r < 0)
                sys_cgroup_forget(ret);
        return r;
}

/* Leaf mode: moat (and its guard) out of D into the leaf, then the controllers on for D's
 * children. EBUSY from the last write: another process is in D after all. */
static int enter_v2_leaf(SandboxCgroup *cg, pid_t guard) {
        char buf[32];
        int r;

        if (mkdir(cg->v2_leaf, 0755) < 0)
                return -errno;
        r = write_file(cg->v2_leaf, "cgroup.procs", "0");
        if (r < 0)
                return r;
        if (guard > 0) {
                snprintf(buf, sizeof(buf), "%d", (int) guard);
                r = write_file(cg->v2_leaf, "cgroup.procs", buf);
                if (r < 0)
                        return r;
                cg->v2_guard = guard;
        }
        return write_file(cg->v2_parent, "cgroup.subtree_control", cg->v2_enable);
}

/* Undo enter_v2_leaf(), whatever part of it was done: D as it was found. */
static int leave_v2_leaf(SandboxCgroup *cg) {
        char buf[32];
        int r, ret = 0;

        r = write_file(cg->v2_parent, "cgroup.subtree_control", cg->v2_disable);
        if (r < 0 && r != -ENOENT)
                ret = r;
        r = write_file(cg->v2_parent, "cgroup.procs", "0");
        if (r < 0 && ret == 0)
                ret = r;
        if (cg->v2_guard > 0) {
                snprintf(buf, sizeof(buf), "%d", (int) cg->v2_guard);
                r = write_file(cg->v2_parent, "cgroup.procs", buf);
                if (r < 0 && r != -ESRCH && ret == 0)
                        ret = r;
        }
        if (rmdir(cg->v2_leaf) < 0 && errno != ENOENT && ret == 0)
                ret = -errno;
        return ret;
}

static int create_v2(const PlanResources *res, SandboxCgroup *cg, pid_t guard) {
        char buf[64];
        int r;

        if (cg->v2_leaf) {
                r = enter_v2_leaf(cg, guard);
                if (r < 0)
                        return r;
        }
        if (mkdir(cg->paths[0], 0755) < 0)
                return -errno;
        if (res->memory) {
                snprintf(buf, sizeof(buf), "%" PRIu64, res->memory);
                r = write_file(cg->paths[0], "memory.max", buf);
                if (r < 0)
                        return r;
                r = write_file(cg->paths[0], "memory.swap.max", "0");
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        if (res->pids) {
                snprintf(buf, sizeof(buf), "%" PRIu64, res->pids);
                r = write_file(cg->paths[0], "pids.max", buf);
                if (r < 0)
                        return r;
        }
        if (res->cpus_milli) {
                snprintf(buf, sizeof(buf), "%" PRIu64 " 100000", (uint64_t) res->cpus_milli * 100);
                r = write_file(cg->paths[0], "cpu.max", buf);
                if (r < 0)
                        return r;
        }
        cg->v2_fd = open(cg->paths[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return cg->v2_fd < 0 ? -errno : 0;
}

int sys_cgroup_create(SandboxCgroup *cg, const PlanResources *res, pid_t guard) {
        if (cg->mechanism == CGROUP_MECH_V1) {
                /* One way to write v1's limits, the raw one (it also serves where only system
                 * calls may be made); the CPU accounting fd is the caller's to open. */
                int cpu_usage_fd = -EBADF, r = sys_cgroup_create_v1_raw(cg, res, &cpu_usage_fd);
                safe_close(cpu_usage_fd);
                return r;
        }
        if (cg->mechanism == CGROUP_MECH_V2 && cg->paths[0])
                return create_v2(res, cg, guard);
        return -EOPNOTSUPP;
}

void sys_cgroup_forget(SandboxCgroup *cg) {
        cg->v2_fd = safe_close(cg->v2_fd);
        free(cg->v2_parent);
        free(cg->v2_leaf);
        cg->v2_parent = cg->v2_leaf = NULL;
        for (int i = 0; i < _CGROUP_V1_MAX; i++) {
                free(cg->paths[i]);
                cg->paths[i] = NULL;
        }
}

/* Raw system calls and plain string copies only (no errno, no stdio, no allocation): the
 * sandbox's parent calls this while its init, in the same memory, runs libc (sandbox.c). */
/* The raw forms of write_file() and read_u64() for sys_cgroup_attach() and
 * sys_cgroup_create_v1_raw(): a stack buffer
 * for the path, raw system calls, -errno returned. */
static long raw_open_child(const char *dir, const char *file, int flags) {
        char path[PATH_MAX];
        size_t dl = strlen(dir), fl = strlen(file);

        if (dl + 1 + fl >= sizeof(path))
                return -ENAMETOOLONG;
        memcpy(path, dir, dl);
        path[dl] = '/';
        memcpy(path + dl + 1, file, fl + 1);
        return raw_syscall4(SYS_openat, AT_FDCWD, path, flags | O_CLOEXEC | O_NOFOLLOW, 0);
}

static int raw_write_file(const char *dir, const char *file, const char *value) {
        long fd = raw_open_child(dir, file, O_WRONLY), w;
        size_t len = strlen(value);

        if (fd < 0)
                return (int) fd;
        w = raw_syscall3(SYS_write, fd, value, len);
        raw_close((int) fd);
        if (w < 0)
                return (int) w;
        return (size_t) w == len ? 0 : -EIO;
}

int sys_cgroup_attach(const SandboxCgroup *cg, pid_t pid) {
        char digits[16], *d = digits + sizeof(digits) - 1;
        unsigned long v = (unsigned long) pid;

        if (cg->mechanism != CGROUP_MECH_V1)
                return 0;
        if (pid <= 0)
                return -EINVAL;
        *d = '\0';
        do
                *--d = (char) ('0' + v % 10);
        while ((v /= 10) > 0);
        for (int i = 0; i < _CGROUP_V1_MAX; i++) {
                int r = cg->paths[i] ? raw_write_file(cg->paths[i], "tasks", d) : 0;
                if (r < 0)
                        return r;
        }
        return 0;
}

int sys_cgroup_open_tasks_raw(const SandboxCgroup *cg, int fds[_CGROUP_V1_MAX]) {
        for (int i = 0; i < _CGROUP_V1_MAX; i++)
                fds[i] = -EBADF;
        if (cg->mechanism != CGROUP_MECH_V1)
                return -EINVAL;
        for (int i = 0; i < _CGROUP_V1_MAX; i++) {
                long fd = cg->paths[i] ? raw_open_child(cg->paths[i], "tasks", O_WRONLY) : -EBADF;
                if (fd < 0 && cg->paths[i]) {
                        for (int j = 0; j < i; j++)
                                raw_close(fds[j]);
                        for (int j = 0; j < i; j++)
                                fds[j] = -EBADF;
                        return (int) fd;
                }
                fds[i] = (int) fd;
        }
        return 0;
}

/* v in decimal at buf (at least 21 bytes), NUL-terminated. */
static void u64_decimal(uint64_t v, char *buf) {
        char tmp[21], *d = tmp + sizeof(tmp);
        size_t n;

        do
                *--d = (char) ('0' + v % 10);
        while ((v /= 10) > 0);
        n = (size_t) (tmp + sizeof(tmp) - d);
        memcpy(buf, d, n);
        buf[n] = '\0';
}

int sys_cgroup_create_v1_raw(const SandboxCgroup *cg, const PlanResources *res,
                             int *ret_cpu_usage_fd) {
        char buf[32];
        long r;

        *ret_cpu_usage_fd = -EBADF;
        if (cg->mechanism != CGROUP_MECH_V1)
                return -EOPNOTSUPP;
        for (int i = 0; i < _CGROUP_V1_MAX; i++)
                if (cg->paths[i] &&
                    (r = raw_syscall3(SYS_mkdirat, AT_FDCWD, cg->paths[i], 0755)) < 0)
                        return (int) r;
        if (res->memory) {
                u64_decimal(res->memory, buf);
                r = raw_write_file(cg->paths[CGROUP_V1_MEMORY], "memory.limit_in_bytes", buf);
                if (r < 0)
                        return (int) r;
                /* Without swap accounting memsw does not exist; with it, swap must not widen
                 * the limit. */
                r = raw_write_file(cg->paths[CGROUP_V1_MEMORY], "memory.memsw.limit_in_bytes", buf);
                if (r < 0 && r != -ENOENT)
                        return (int) r;
                (void) raw_write_file(cg->paths[CGROUP_V1_MEMORY], "memory.swappiness", "0");
        }
        if (res->pids) {
                u64_decimal(res->pids, buf);
                r = raw_write_file(cg->paths[CGROUP_V1_PIDS], "pids.max", buf);
                if (r < 0)
                        return (int) r;
        }
        if (res->cpus_milli) {
                /* A new cgroup starts with the 100 ms period the quota assumes; writing it
                 * anyway costs a bandwidth reset (~0.1 ms). */
                char period[32] = "";
                long fd = raw_open_child(cg->paths[CGROUP_V1_CPU], "cpu.cfs_period_us", O_RDONLY);
                if (fd >= 0) {
                        long n = raw_syscall3(SYS_read, fd, period, sizeof(period) - 1);
                        raw_close((int) fd);
                        period[n > 0 ? n : 0] = '\0';
                }
                if (strcmp(period, "100000\n") != 0) {
                        r = raw_write_file(cg->paths[CGROUP_V1_CPU], "cpu.cfs_period_us", "100000");
                        if (r < 0)
                                return (int) r;
                }
                u64_decimal((uint64_t) res->cpus_milli * 100, buf);
                r = raw_write_file(cg->paths[CGROUP_V1_CPU], "cpu.cfs_quota_us", buf);
                if (r < 0)
                        return (int) r;
        }
        if (res->cpu_time_ms) {
                if (!cg->paths[CGROUP_V1_CPUACCT])
                        return -ENOENT;
                r = raw_open_child(cg->paths[CGROUP_V1_CPUACCT], "cpuacct.usage", O_RDONLY);
                if (r < 0)
                        return (int) r;
                *ret_cpu_usage_fd = (int) r;
        }
        return 0;
}

void sys_cgroup_read_peaks(const SandboxCgroup *cg, uint64_t *ret_memory, uint64_t *ret_pids) {
        *ret_memory = *ret_pids = 0;
        if (cg->mechanism == CGROUP_MECH_V2 && cg->paths[0]) {
                (void) read_u64(cg->paths[0], "memory.peak", ret_memory);
                (void) read_u64(cg->paths[0], "pids.peak", ret_pids);
        } else if (cg->mechanism == CGROUP_MECH_V1) {
                if (cg->paths[CGROUP_V1_MEMORY])
                        (void) read_u64(cg->paths[CGROUP_V1_MEMORY], "memory.max_usage_in_bytes",
                                        ret_memory);
                if (cg->paths[CGROUP_V1_PIDS])
                        (void) read_u64(cg->paths[CGROUP_V1_PIDS], "pids.peak", ret_pids);
        }
}

static bool file_has_nonzero(const char *dir, const char *file, const char *key) {
        char path[PATH_MAX];
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        bool found = false;
        snprintf(path, sizeof(path), "%s/%s", dir, file);
        FILE *f = fopen(path, "re");
        if (!f)
                return false;
        size_t kl = strlen(key);
        while (getline(&line, &cap, f) > 0)
                if (strncmp(line, key, kl) == 0 && line[kl] == ' ' &&
                    strtoull(line + kl + 1, NULL, 10) > 0)
                        found = true;
        fclose(f);
        return found;
}

bool sys_cgroup_oom_killed(const SandboxCgroup *cg) {
        if (cg->mechanism == CGROUP_MECH_V2 && cg->paths[0])
                return file_has_nonzero(cg->paths[0], "memory.events", "oom_kill");
        if (cg->mechanism == CGROUP_MECH_V1 && cg->paths[CGROUP_V1_MEMORY])
                return file_has_nonzero(cg->paths[CGROUP_V1_MEMORY], "memory.oom_control",
                                        "oom_kill");
        return false;
}

uint64_t sys_cgroup_pids_max_events(const SandboxCgroup *cg) {
        const char *dir = cg->mechanism == CGROUP_MECH_V2   ? cg->paths[0]
                          : cg->mechanism == CGROUP_MECH_V1 ? cg->paths[CGROUP_V1_PIDS]
                                                            : NULL;
        char path[PATH_MAX];
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        uint64_t n = 0;

        if (!dir)
                return 0;
        snprintf(path, sizeof(path), "%s/pids.events", dir);
        FILE *f = fopen(path, "re");
        if (!f)
                return 0;
        while (getline(&line, &cap, f) > 0)
                if (strncmp(line, "max ", 4) == 0)
                        n = strtoull(line + 4, NULL, 10);
        fclose(f);
        return n;
}

static const char *cpu_dir(const SandboxCgroup *cg) {
        if (cg->mechanism == CGROUP_MECH_V2)
                return cg->paths[0];
        if (cg->mechanism == CGROUP_MECH_V1)
                return cg->paths[CGROUP_V1_CPUACCT];
        return NULL;
}

int sys_cgroup_cpu_usage_open(const SandboxCgroup *cg) {
        const char *dir = cpu_dir(cg);
        if (!dir)
                return -ENOENT;
        return open_child(dir, cg->mechanism == CGROUP_MECH_V2 ? "cpu.stat" : "cpuacct.usage",
                          O_RDONLY);
}

/* The value of "key N" in a flat-keyed file's text (cpu.stat). */
static int keyed_u64(const char *text, const char *key, uint64_t *ret) {
        size_t kl = strlen(key);
        for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strncmp(l, key, kl) == 0 && l[kl] == ' ') {
                        *ret = strtoull(l + kl + 1, NULL, 10);
                        return 0;
                }
        return -ENODATA;
}

/* Called every few ms by the watcher: one pread() into a stack buffer, no allocation. */
int sys_cgroup_cpu_usage_read(int fd, CgroupMechanism mech, uint64_t *ret_ns) {
        char buf[1024];
        uint64_t v;
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        if (mech != CGROUP_MECH_V2) {
                *ret_ns = strtoull(buf, NULL, 10);
                return 0;
        }
        int r = keyed_u64(buf, "usage_usec", &v);
        if (r < 0)
                return r;
        *ret_ns = v * 1000;
        return 0;
}

int sys_cgroup_cpu_times(const SandboxCgroup *cg, uint64_t *ret_user_ns, uint64_t *ret_sys_ns) {
        const char *dir = cpu_dir(cg);
        uint64_t user, sys;
        int r;

        if (!dir)
                return -ENOENT;
        if (cg->mechanism == CGROUP_MECH_V1) {
                uint64_t total;
                r = read_u64(dir, "cpuacct.usage_user", &user);
                if (r >= 0)
                        r = read_u64(dir, "cpuacct.usage_sys", &sys);
                if (r >= 0)
                        r = read_u64(dir, "cpuacct.usage", &total);
                if (r < 0)
                        return r;
                /* usage_user and usage_sys are sampled at the timer tick (4 ms steps at
                 * HZ=250); cpuacct.usage, which the watcher compares with the limit, is exact.
                 * Split the exact total in the sampled ratio, as the kernel's cputime_adjust()
                 * does for a process's times and cgroup v2's cpu.stat. */
                if (user + sys > 0) {
                        *ret_user_ns = (uint64_t) ((unsigned __int128) total * user / (user + sys));
                        *ret_sys_ns = total - *ret_user_ns;
                } else {
                        *ret_user_ns = total;
                        *ret_sys_ns = 0;
                }
                return 0;
        }
        char buf[1024];
        _cleanup_close_ int fd = open_child(dir, "cpu.stat", O_RDONLY);
        if (fd < 0)
                return fd;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        r = keyed_u64(buf, "user_usec", &user);
        if (r >= 0)
                r = keyed_u64(buf, "system_usec", &sys);
        if (r < 0)
                return r;
        *ret_user_ns = user * 1000;
        *ret_sys_ns = sys * 1000;
        return 0;
}

static void kill_procs(const char *dir) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
        FILE *f = fopen(path, "re");
        if (!f)
                return;
        long pid;
        while (fscanf(f, "%ld", &pid) == 1)
                if (pid > 0)
                        (void) kill((pid_t) pid, SIGKILL);
        fclose(f);
}

static int remove_dir(const char *dir, bool v2) {
        /* Normally the sandbox is gone and the cgroup empty: rmdir right away. Otherwise kill
         * what is left; killed tasks leave asynchronously: retry rmdir for up to ~2 s. */
        for (int i = 0; i < 200; i++) {
                if (rmdir(dir) >= 0 || errno == ENOENT)
                        return 0;
                if (errno != EBUSY)
                        return -errno;
                if (v2)
                        (void) write_file(dir, "cgroup.kill", "1");
                else
                        kill_procs(dir);
                if (rmdir(dir) >= 0 || errno == ENOENT)
                        return 0;
                nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
        }
        return -EBUSY;
}

int sys_cgroup_destroy(SandboxCgroup *cg) {
        int ret = 0;
        if (!cg)
                return 0;
        cg->v2_fd = safe_close(cg->v2_fd);
        for (int i = 0; i < _CGROUP_V1_MAX; i++) {
                if (!cg->paths[i])
                        continue;
                int r = remove_dir(cg->paths[i], cg->mechanism == CGROUP_MECH_V2);
                if (r < 0 && ret == 0)
                        ret = r;
                free(cg->paths[i]);
                cg->paths[i] = NULL;
        }
        if (cg->v2_leaf) {
                int r = leave_v2_leaf(cg);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        free(cg->v2_parent);
        free(cg->v2_leaf);
        cg->v2_parent = cg->v2_leaf = NULL;
        return ret;
}

/* The guard: a process that outlives moat only to remove the cgroups should moat be killed.
 *
 * It runs in moat's memory (CLONE_VM: a fork would write-protect every page of moat's and make
 * each later write a copy-on-write fault, about 0.5 ms of a launch here) and so, like the
 * sandbox's init, only makes raw system calls and reads only its own block of memory: the
 * paths are copied there, and moat unmaps the block after reaping the guard. It waits on a pipe
 * whose write end only moat holds: a byte means moat ended normally and removed the cgroups
 * itself; EOF without one means moat is gone, and the guard kills what is left in each cgroup
 * (cgroup.kill on v2, every pid in cgroup.procs on v1) and retries rmdir for up to ~2 s. */
#define GUARD_STACK_SIZE (64 * 1024)

typedef struct GuardBlock {
        int fd;
        bool v2;
        unsigned n;
        char paths[_CGROUP_V1_MAX][PATH_MAX];
        char parent[PATH_MAX]; /* v2 leaf mode: D, the leaf, "-memory -pids" */
        char leaf[PATH_MAX];
        char disable[32];
        char scratch[PATH_MAX + 32];
        char buf[4096];
} GuardBlock;

static long guard_open(GuardBlock *g, const char *dir, const char *file, int flags) {
        size_t dl = strlen(dir), fl = strlen(file);
        if (dl + 1 + fl >= sizeof(g->scratch))
                return -ENAMETOOLONG;
        memcpy(g->scratch, dir, dl);
        g->scratch[dl] = '/';
        memcpy(g->scratch + dl + 1, file, fl + 1);
        return raw_syscall4(SYS_openat, AT_FDCWD, g->scratch, flags | O_CLOEXEC | O_NOFOLLOW, 0);
}

static void guard_write(GuardBlock *g, const char *dir, const char *file, const char *value) {
        long fd = guard_open(g, dir, file, O_WRONLY);
        if (fd >= 0) {
                (void) raw_syscall3(SYS_write, fd, value, strlen(value));
                raw_close((int) fd);
        }
}

static void guard_kill_all(GuardBlock *g, const char *dir) {
        long fd;
        if (g->v2) {
                guard_write(g, dir, "cgroup.kill", "1");
                return;
        }
        fd = guard_open(g, dir, "cgroup.procs", O_RDONLY);
        if (fd < 0)
                return;
        long pid = 0, n;
        bool digits = false;
        while ((n = raw_syscall3(SYS_read, fd, g->buf, sizeof(g->buf))) > 0 || n == -EINTR)
                for (long i = 0; i < n; i++) {
                        char c = g->buf[i];
                        if (c >= '0' && c <= '9') {
                                pid = pid * 10 + (c - '0');
                                digits = true;
                                continue;
                        }
                        if (digits && pid > 0)
                                (void) raw_syscall2(SYS_kill, pid, SIGKILL);
                        pid = 0;
                        digits = false;
                }
        if (digits && pid > 0)
                (void) raw_syscall2(SYS_kill, pid, SIGKILL);
        raw_close((int) fd);
}

bool sys_guard_wait(int fd) {
        uint64_t blocked = ~UINT64_C(0); /* SIGKILL and SIGSTOP stay deliverable, as always */
        char c;
        long n;

        (void) raw_syscall4(SYS_rt_sigprocmask, SIG_SETMASK, &blocked, NULL, KERNEL_SIGSET_BYTES);
        if (fd > 3)
                (void) raw_syscall3(SYS_close_range, 3, fd - 1, 0);
        (void) raw_syscall3(SYS_close_range, fd + 1, ~0U, 0);
        do
                n = raw_syscall3(SYS_read, fd, &c, 1);
        while (n == -EINTR);
        return n == 1;
}

static int guard_main(void *arg) {
        GuardBlock *g = arg;
        long n;

        if (sys_guard_wait(g->fd))
                return 0; /* moat ended normally and removed the cgroups itself */
        for (unsigned i = 0; i < g->n; i++)
                for (int attempt = 0; attempt < 200; attempt++) {
                        struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
                        guard_kill_all(g, g->paths[i]);
                        n = raw_syscall1(SYS_rmdir, g->paths[i]);
                        if (n == 0 || n != -EBUSY)
                                break;
                        (void) raw_syscall2(SYS_nanosleep, &ts, NULL);
                }
        /* v2 leaf mode: D as it was found; the guard itself leaves the leaf last */
        if (g->leaf[0]) {
                guard_write(g, g->parent, "cgroup.subtree_control", g->disable);
                guard_write(g, g->parent, "cgroup.procs", "0");
                (void) raw_syscall1(SYS_rmdir, g->leaf);
        }
        return 0;
}

int sys_cgroup_guard_start(const SandboxCgroup *cg, CgroupGuard *ret) {
        size_t size = sizeof(GuardBlock) + GUARD_STACK_SIZE;
        int p[2], r;

        *ret = (CgroupGuard){ .fd = -EBADF };
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (map == MAP_FAILED) {
                r = -errno;
                goto fail;
        }
        GuardBlock *g = map;
        g->fd = p[0];
        g->v2 = cg->mechanism == CGROUP_MECH_V2;
        for (int i = 0; i < _CGROUP_V1_MAX; i++)
                if (cg->paths[i]) {
                        if (strlen(cg->paths[i]) >= sizeof(g->paths[0])) {
                                r = -ENAMETOOLONG;
                                goto fail;
                        }
                        strcpy(g->paths[g->n++], cg->paths[i]);
                }
        if (cg->v2_leaf) {
                if (strlen(cg->v2_leaf) >= sizeof(g->leaf)) {
                        r = -ENAMETOOLONG;
                        goto fail;
                }
                strcpy(g->parent, cg->v2_parent);
                strcpy(g->leaf, cg->v2_leaf);
                snprintf(g->disable, sizeof(g->disable), "%s", cg->v2_disable);
        }
        /* The 64 KiB stack grows down from the end of the mapping towards the block (the
         * guard's frames take a few hundred bytes); clone() aligns the top itself. */
        pid_t pid = clone(guard_main, (char *) map + size, CLONE_VM | SIGCHLD, g);
        if (pid < 0) {
                r = -errno;
                goto fail;
        }
        safe_close(p[0]);
        *ret = (CgroupGuard){ .pid = pid, .fd = p[1], .map = map, .map_size = size };
        return 0;
fail:
        if (map != MAP_FAILED)
                (void) munmap(map, size);
        safe_close(p[0]);
        safe_close(p[1]);
        return r;
}

void sys_cgroup_guard_release(CgroupGuard *g, bool removed) {
        /* One byte: "done, nothing to clean"; EOF without it: the guard cleans up. */
        if (g->fd >= 0 && removed)
                (void) !write(g->fd, "x", 1);
        g->fd = safe_close(g->fd);
}

void sys_cgroup_guard_stop(CgroupGuard *g, bool removed) {
        sys_cgroup_guard_release(g, removed);
        if (g->pid > 0)
                while (waitpid(g->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        if (g->map)
                (void) munmap(g->map, g->map_size);
        *g = (CgroupGuard){ .fd = -EBADF };
}

/* mkdir -p of the directories above path (not path itself), each 0755. */
static int mkdir_parents(const char *path) {
        char buf[PATH_MAX];
        if (strlen(path) >= sizeof(buf))
                return -ENAMETOOLONG;
        strcpy(buf, path);
        for (char *s = strchr(buf + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = 0;
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        return 0;
}

int sys_cgroup_prepare_at(CgroupMechanism mech, const char *path, SandboxCgroup *ret) {
        static const char *const v1[_CGROUP_V1_MAX] = {
                [CGROUP_V1_MEMORY] = "memory",   [CGROUP_V1_PIDS] = "pids",
                [CGROUP_V1_CPU] = "cpu",         [CGROUP_V1_CPUACCT] = "cpuacct",
                [CGROUP_V1_FREEZER] = "freezer",
        };
        int r = 0;

        *ret = (SandboxCgroup) SANDBOX_CGROUP_INIT;
        ret->mechanism = mech;
        if (!path || path[0] != '/' || strstr(path, "/..") || strstr(path, "/./"))
                return -EINVAL;
        if (mech == CGROUP_MECH_V1) {
                for (int i = 0; r >= 0 && i < _CGROUP_V1_MAX; i++) {
                        if (!v1[i])
                                r = -EINVAL; /* a controller without a name: never guess */
                        else if (asprintf(&ret->paths[i], "/sys/fs/cgroup/%s%s", v1[i], path) < 0) {
                                ret->paths[i] = NULL;
                                r = -ENOMEM;
                        } else
                                r = mkdir_parents(ret->paths[i]);
                }
        } else if (mech == CGROUP_MECH_V2) {
                const char *root;
                r = v2_mount_point(&root);
                if (r >= 0 && asprintf(&ret->paths[0], "%s%s", root, path) < 0) {
                        ret->paths[0] = NULL;
                        r = -ENOMEM;
                }
                if (r >= 0)
                        r = mkdir_parents(ret->paths[0]);
        } else
                r = -EOPNOTSUPP;
        if (r < 0)
                sys_cgroup_forget(ret);
        return r;
}

int sys_cgroup_join(const SandboxCgroup *cg, pid_t pid) {
        char buf[32];
        if (cg->mechanism == CGROUP_MECH_V1)
                return sys_cgroup_attach(cg, pid);
        if (cg->mechanism != CGROUP_MECH_V2 || !cg->paths[0])
                return 0;
        snprintf(buf, sizeof(buf), "%d", (int) pid);
        return write_file(cg->paths[0], "cgroup.procs", buf);
}

int sys_cgroup_set_limits(const SandboxCgroup *cg, const PlanResources *res) {
        bool v1 = cg->mechanism == CGROUP_MECH_V1;
        const char *mem = v1 ? cg->paths[CGROUP_V1_MEMORY] : cg->paths[0];
        const char *pids = v1 ? cg->paths[CGROUP_V1_PIDS] : cg->paths[0];
        const char *cpu = v1 ? cg->paths[CGROUP_V1_CPU] : cg->paths[0];
        char buf[64];
        int r;

        if (!v1 && cg->mechanism != CGROUP_MECH_V2)
                return -EOPNOTSUPP;
        if (res->memory && mem) {
                snprintf(buf, sizeof(buf), "%" PRIu64, res->memory);
                if (v1) {
                        /* memory <= memsw at every moment: lowering goes memory first, raising
                         * memsw first; EINVAL from the first write means the other order. */
                        r = write_file(mem, "memory.limit_in_bytes", buf);
                        if (r == -EINVAL) {
                                r = write_file(mem, "memory.memsw.limit_in_bytes", buf);
                                if (r >= 0)
                                        r = write_file(mem, "memory.limit_in_bytes", buf);
                        } else if (r >= 0) {
                                r = write_file(mem, "memory.memsw.limit_in_bytes", buf);
                                if (r == -ENOENT)
                                        r = 0;
                        }
                } else
                        r = write_file(mem, "memory.max", buf);
                if (r < 0)
                        return r;
        }
        if (res->pids && pids) {
                snprintf(buf, sizeof(buf), "%" PRIu64, res->pids);
                if ((r = write_file(pids, "pids.max", buf)) < 0)
                        return r;
        }
        if (res->cpus_milli && cpu) {
                snprintf(buf, sizeof(buf), "%" PRIu64 "%s", (uint64_t) res->cpus_milli * 100,
                         v1 ? "" : " 100000");
                if (v1 && (r = write_file(cpu, "cpu.cfs_period_us", "100000")) < 0)
                        return r;
                if ((r = write_file(cpu, v1 ? "cpu.cfs_quota_us" : "cpu.max", buf)) < 0)
                        return r;
        }
        return 0;
}

int sys_cgroup_freeze(const SandboxCgroup *cg, bool frozen) {
        if (cg->mechanism == CGROUP_MECH_V2 && cg->paths[0])
                return write_file(cg->paths[0], "cgroup.freeze", frozen ? "1" : "0");
        if (cg->mechanism != CGROUP_MECH_V1 || !cg->paths[CGROUP_V1_FREEZER])
                return -ENOENT;
        const char *dir = cg->paths[CGROUP_V1_FREEZER];
        int r = write_file(dir, "freezer.state", frozen ? "FROZEN" : "THAWED");
        if (r < 0 || !frozen)
                return r;
        /* FREEZING until every task has stopped */
        for (int i = 0; i < 100; i++) {
                char state[32] = "";
                _cleanup_close_ int fd = open_child(dir, "freezer.state", O_RDONLY);
                if (fd < 0)
                        return fd;
                ssize_t n = read(fd, state, sizeof(state) - 1);
                if (n > 0 && strncmp(state, "FROZEN", 6) == 0)
                        return 0;
                (void) write_file(dir, "freezer.state", "FROZEN");
                usleep(10000);
        }
        return -EBUSY;
}

/* SPDX-License-Identifier: MIT */
/* The system tier's executor (executor.h), command mode and boot mode. Runs in moat itself,
 * which never loads liblxc: liblxc is linked only into moat-system-run (lxc-run.c), which the
 * runner and the attacher exec, so liblxc never runs in moat's process (it moves its caller
 * between cgroups and leaks some, LXC-NOTES P2) and is never loaded by a sandbox launch. The
 * plan is made once, here: moat-system-run gets the keys and the gate's argv over a pipe.
 *
 * Processes:
 *   moat (this)             starts the guard and the runner, prepares the run directory and
 *                           the keys while the runner loads liblxc, then verifies the container
 *                           from the host, lets the gate go, forwards signals, enforces the
 *                           timeout, waits, and at the end removes what the run left
 *                           (lxc_run_cleanup(): cgroups, liblxc's run files, the run directory).
 *   guard                   in moat's memory (CLONE_VM, raw system calls; lxc-cleanup.c),
 *                           its own session, blocks on a pipe only this process holds. A byte:
 *                           moat removed everything. EOF without one (this process was
 *                           SIGKILLed, or something was left) -> exec of moat-system-run
 *                           cleanup, which kills what is in the run's cgroups and runs the same
 *                           lxc_run_cleanup(). One implementation for both paths.
 *   runner                  PR_SET_PDEATHSIG=SIGKILL, then exec of moat-system-run start: sets
 *                           every key moat sent (each checked), then start() with daemonize
 *                           off: it is liblxc's monitor, and the container's pid 1 dies with
 *                           it (liblxc sets pid 1's death signal).
 *   pid 1                   command mode: /.moat-gate ... -- COMMAND (liblxc's start() with the
 *                           gate as the init command): it checks itself, waits for moat's go,
 *                           forks the command, stays its init and exits with its status. Boot
 *                           mode: the image's init (lxc.init.cmd),
 *                           under the same keys as command mode; systemd under its boot
 *                           confinement (lxc-config.h), reporting READY=1 on RUN/notify.
 *   attacher (boot mode)    PR_SET_PDEATHSIG=SIGKILL, exec of moat-system-run attach; once the
 *                           init runs (systemd: once it is ready), attach_run_wait()s /.moat-gate ... -- COMMAND as the plan's
 *                           user (systemd: /.moat-enter as root, which becomes that user) and
 *                           exits with its status; then the runner is killed, which stops the
 *                           container (systemd: SIGRTMIN+3 first, STOP_GRACE_MS to halt).
 *   resources               cpu_time: this process polls the container's cgroup accounting;
 *                           output: the command's stdout and stderr through its relay.
 *   proxy (network outbound) once the gate is verified, a short-lived child of this process
 *                           joins the container's network namespace (loopback only), checks
 *                           it and makes the listener 127.0.0.1:PORT there; this process
 *                           forks moat's egress proxy (launcher/net/netd.h: no capabilities,
 *                           its own seccomp filter, dies with this process) on it and only
 *                           then lets the gate go. The container never holds the listener.
 *
 * Verification (because keys fail open): /proc/<gate>/status from the host (NoNewPrivs 1,
 * Seccomp 2 with more filters than this process has, CapBnd = the plan's; in boot mode the
 * image's init too), uid_map and gid_map, the namespaces differ from the host's, the MAC label
 * in force (attr/current: the plan's AppArmor profile in enforce mode, or its SELinux context
 * in an enforcing, non-permissive domain), the rlimits (which attach does not apply: in boot
 * mode moat sets them on the gate first) and each cgroup limit read back from the payload
 * cgroup's own files. The gate checks the same from inside and waits for moat's 'g' on
 * /.moat-go before it execs the command. Any mismatch: 125 naming the control. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basic/id128.h"
#include "basic/macros.h"
#include "config.h"
#include "executor.h"
#include "image/image.h"
#include "lxc-cleanup.h"
#include "lxc-config.h"
#include "net/net-keep.h"
#include "net/netd.h"
#include "sandbox/sandbox-internal.h"
#include "sys/cgroup.h"
#include "sys/raw-syscall.h"
#include "sys/seccomp.h"
#include "sys/signal-fd.h"

extern char **environ;

#define SUBID_FILE "/etc/moat/system-idmap"
#define RANGE 65536u
#define VERIFY_TIMEOUT_MS 60000
/* systemd: from SIGRTMIN+3 (halt) to SIGKILL of the container; it halted in 132-145 ms here */
#define STOP_GRACE_MS 5000

typedef struct Run {
        char id[33];
        char *dir;
        char *lower;
        uint32_t base, gbase, count;
        CgroupGuard guard;      /* guard_start() */
        LxcRunCgroups *cgroups; /* where the run may have cgroups, made while the command runs */
        bool cleaned;           /* lxc_run_cleanup() ran, with cleanup_r */
        int cleanup_r;
        pid_t runner;
        int err_fd; /* read end of the runner's error pipe */
        int go_fd;
        int ready_fd;  /* read end of the fifo the gate writes once it waits for go_fd */
        int exit_fd;   /* liblxc's monitor fifo: pid 1's exit status, before its teardown */
        int notify_fd; /* systemd: the socket of NOTIFY_SOCKET (READY=1) */
        bool systemd;  /* boot mode, the image's init is systemd */
        unsigned cap_last;
} Run;

static int fail(RunOutcome *o, const char *step, int err, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int fail(RunOutcome *o, const char *step, int err, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(o->message, sizeof(o->message), fmt, ap);
        va_end(ap);
        snprintf(o->failed_step, sizeof(o->failed_step), "%s", step);
        o->failed_errno = err;
        o->started = false;
        o->exit_status = 125;
        fprintf(stderr, "moat: %s\n", o->message);
        return 0;
}

/* ---- the id range moat reserves for root's containers ---------------------------------- */

static void max_end(const char *path, uint64_t *end) {
        FILE *f = fopen(path, "re");
        char line[256];
        if (!f)
                return;
        while (fgets(line, sizeof(line), f)) {
                char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
                if (!b)
                        continue;
                uint64_t s = strtoull(a + 1, NULL, 10), n = strtoull(b + 1, NULL, 10);
                if (s + n > *end)
                        *end = s + n;
        }
        fclose(f);
}

/* "moat:BASE:65536" in SUBID_FILE, written once (by root, so no newuidmap is needed), above
 * every range /etc/subuid and /etc/subgid hand out. */
static int reserved_range(uint32_t *ret) {
        char line[128];
        FILE *f = fopen(SUBID_FILE, "re");
        if (f) {
                unsigned long b = 0, n = 0;
                int ok = fgets(line, sizeof(line), f) && sscanf(line, "moat:%lu:%lu", &b, &n) == 2;
                fclose(f);
                if (!ok || n != RANGE || b == 0 || b > UINT32_MAX - RANGE)
                        return -EBADMSG;
                *ret = (uint32_t) b;
                return 0;
        }
        if (errno != ENOENT)
                return -errno;
        uint64_t end = 1000000;
        max_end("/etc/subuid", &end);
        max_end("/etc/subgid", &end);
        end = (end + RANGE - 1) / RANGE * RANGE;
        if (end > UINT32_MAX - RANGE)
                return -ERANGE;
        if (mkdir("/etc/moat", 0755) < 0 && errno != EEXIST)
                return -errno;
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&tmp, "%s.%d", SUBID_FILE, (int) getpid()) < 0)
                return -ENOMEM;
        f = fopen(tmp, "wxe");
        if (!f)
                return -errno;
        fprintf(f, "moat:%" PRIu64 ":%u\n", end, RANGE);
        if (fclose(f) != 0 || link(tmp, SUBID_FILE) < 0) {
                int r = -errno;
                (void) unlink(tmp);
                /* a concurrent first run wrote it: read theirs */
                return r == -EEXIST ? reserved_range(ret) : r;
        }
        (void) unlink(tmp);
        *ret = (uint32_t) end;
        return 0;
}

/* ---- cgroups: where a pid's cgroup of a controller is, from the host ----------------------- */

/* The mount point of the hierarchy with `ctrl` ("memory", "pids", "cpu", "" for v2). */
static int cgroup_mount(const char *ctrl, char *buf, size_t size) {
        FILE *f = fopen("/proc/self/mountinfo", "re");
        char line[1024];
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                char *sep = strstr(line, " - ");
                char mnt[512], fstype[32], src[64], opts[512];
                if (!sep || sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1 ||
                    sscanf(sep + 3, "%31s %63s %511s", fstype, src, opts) != 3)
                        continue;
                bool match = false;
                if (!ctrl[0])
                        match = strcmp(fstype, "cgroup2") == 0;
                else if (strcmp(fstype, "cgroup") == 0)
                        for (char *t = strtok(opts, ","); t && !match; t = strtok(NULL, ","))
                                match = strcmp(t, ctrl) == 0;
                if (match) {
                        snprintf(buf, size, "%s", mnt);
                        fclose(f);
                        return 0;
                }
        }
        fclose(f);
        return -ENOENT;
}

/* Directory of pid's cgroup for ctrl ("" = the v2 hierarchy). */
static int cgroup_dir(pid_t pid, const char *ctrl, char *buf, size_t size) {
        char path[64], line[1024], mnt[512];
        snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        int r = -ENOENT;
        while (r < 0 && fgets(line, sizeof(line), f)) {
                char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
                if (!b)
                        continue;
                *b = '\0';
                b[1 + strcspn(b + 1, "\n")] = '\0';
                bool match = false;
                if (!ctrl[0])
                        match = a[1] == '\0';
                else
                        for (char *t = strtok(a + 1, ","); t && !match; t = strtok(NULL, ","))
                                match = strcmp(t, ctrl) == 0;
                if (match && cgroup_mount(ctrl, mnt, sizeof(mnt)) >= 0) {
                        snprintf(buf, size, "%s%s", mnt, b + 1);
                        r = 0;
                }
        }
        fclose(f);
        return r;
}

static int read_line(const char *path, char *buf, size_t size) {
        FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        if (!fgets(buf, (int) size, f)) {
                fclose(f);
                return -EIO;
        }
        fclose(f);
        buf[strcspn(buf, "\n")] = '\0';
        return 0;
}

/* ---- the guard ----------------------------------------------------------------------------- */

/* A process that outlives moat only to remove what the run left should moat be killed. It
 * blocks on a pipe only moat holds; sys_cgroup_guard_stop(g, true) tells it that moat removed
 * everything itself (lxc_run_cleanup() returned 0); EOF without that (moat gone, or something
 * left) makes it exec `moat-system-run cleanup ID DIR`, which runs lxc_run_cleanup() in its
 * place: its own session, the cgroups it had at start.
 *
 * It runs in moat's memory (CLONE_VM: a fork copied moat's page tables and write-protected
 * every page, so that moat's later writes and the guard's own were copy-on-write faults: some
 * 2 ms of a launch here, on the way to the container's start and after its end) and so makes
 * only raw system calls on its own block, which moat unmaps after reaping it. */
#define GUARD_STACK_SIZE (64 * 1024)

typedef struct GuardBlock {
        int fd;
        char helper[PATH_MAX];
        char id[64];
        char dir[PATH_MAX];
        char *argv[5];
        char *envp[1];
} GuardBlock;

static int guard_main(void *arg) {
        GuardBlock *g = arg;

        /* its own session: the caller's terminal and process group (Ctrl-C) end moat, not the
         * cleanup; stdio stays for the helper's messages */
        (void) raw_syscall0(SYS_setsid);
        (void) raw_syscall2(SYS_prctl, PR_SET_NAME, "moat-guard");
        if (sys_guard_wait(g->fd))
                return 0; /* moat removed everything itself */
        (void) raw_syscall3(SYS_execve, g->helper, g->argv, g->envp);
        return 127;
}

static int guard_start(const char *helper, const char *id, const char *dir, CgroupGuard *ret) {
        size_t size = sizeof(GuardBlock) + GUARD_STACK_SIZE;
        int p[2], r;

        *ret = (CgroupGuard){ .fd = -EBADF };
        if (strlen(helper) >= PATH_MAX || strlen(id) >= 64 || strlen(dir) >= PATH_MAX)
                return -ENAMETOOLONG;
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        /* populated: its few pages now, not as faults of the guard's */
        void *map = mmap(NULL, size, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (map == MAP_FAILED) {
                r = -errno;
                safe_close(p[0]);
                safe_close(p[1]);
                return r;
        }
        GuardBlock *g = map;
        g->fd = p[0];
        strcpy(g->helper, helper);
        strcpy(g->id, id);
        strcpy(g->dir, dir);
        g->argv[0] = (char *) "moat-system-run";
        g->argv[1] = (char *) "cleanup";
        g->argv[2] = g->id;
        g->argv[3] = g->dir;
        g->argv[4] = NULL;
        g->envp[0] = NULL;
        /* the stack grows down from the end of the mapping towards the block */
        pid_t pid = clone(guard_main, (char *) map + size, CLONE_VM | SIGCHLD, g);
        if (pid < 0) {
                r = -errno;
                (void) munmap(map, size);
                safe_close(p[0]);
                safe_close(p[1]);
                return r;
        }
        safe_close(p[0]);
        *ret = (CgroupGuard){ .pid = pid, .fd = p[1], .map = map, .map_size = size };
        return 0;
}

/* lxc_run_cleanup() of a run, on a thread beside the audit record's writing. */
static void *cleanup_thread(void *arg) {
        Run *run = arg;
        run->cleanup_r = lxc_run_cleanup(run->id, run->dir, run->cgroups);
        return NULL;
}

/* The runner reaped and, once it is, the run removed: on a thread beside the audit record's
 * writing, in command mode when the command's status came before the runner's end. */
typedef struct {
        Run *run;
        bool reaped; /* and cleaned: run->cleanup_r */
} Reaper;

static void *reap_thread(void *arg) {
        Reaper *r = arg;
        while (waitpid(r->run->runner, NULL, 0) < 0)
                if (errno != EINTR)
                        return NULL;
        r->reaped = true;
        return cleanup_thread(r->run);
}

/* The cgroup hierarchies liblxc may use (lxc.cgroup.use), NULL for all of them. When the
 * container cannot mount a cgroup tree (no sys_admin: command mode, and boot mode with an init
 * other than systemd), liblxc gets the v1 hierarchies that carry one of the plan's limits
 * (memory, pids, cpu) or its CPU accounting (cpuacct, for cpu_time), and always the pids
 * hierarchy: the container's own cgroup there holds every process of it, which is what the guard
 * kills and removes. Every other v1 hierarchy (blkio, devices, freezer, net_cls, perf_event,
 * name=systemd, ...; the plan sets nothing in them) is left out: the container stays in the
 * runner's cgroup there, which its cgroup namespace shows as its root and which it cannot write
 * or mount (no sys_admin). Each hierarchy left out is a mkdir of three cgroups, two
 * cgroup.procs writes, a chown by liblxc's id-mapped helper and three rmdirs less per run (9 v1
 * hierarchies here, 2-3 used). cpuset in particular is never used: the first cpuset cgroup the
 * host gets switches the kernel's cpuset static keys on, which patches kernel text on every
 * CPU (3-15 ms here, on every run when no other cpuset cgroup exists). The v2 hierarchy (the
 * unified one of a hybrid host) is always used: lxc.cgroup.use does not apply to it. Root
 * only: a user's liblxc makes no v1 cgroup that is not delegated to it, and reads its global
 * configuration from the user's home. systemd keeps every hierarchy (it mounts its own tree). */
static bool cgroup_use_wants(const Plan *p, const char *ctrl) {
        const PlanResources *res = &p->resources;
        return strcmp(ctrl, "pids") == 0 || (strcmp(ctrl, "memory") == 0 && res->memory) ||
               (strcmp(ctrl, "cpu") == 0 && res->cpus_milli) ||
               (strcmp(ctrl, "cpuacct") == 0 && res->cpu_time_ms);
}

static char *cgroup_use(const Plan *p, const Run *run) {
        char line[1024], use[1024] = "";
        bool tracked = false;

        if (geteuid() != 0 || run->systemd)
                return NULL;
        FILE *f = fopen("/proc/self/cgroup", "re");
        if (!f)
                return NULL;
        while (fgets(line, sizeof(line), f)) {
                char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
                if (!b || b == a + 1)
                        continue; /* the v2 hierarchy: lxc.cgroup.use does not apply to it */
                *b = '\0';
                /* a hierarchy with several controllers (cpu,cpuacct) is used whole when the
                 * plan wants one of them */
                bool want = false;
                char ctrls[512];
                snprintf(ctrls, sizeof(ctrls), "%s", a + 1);
                for (char *save = NULL, *c = strtok_r(ctrls, ",", &save); c;
                     c = strtok_r(NULL, ",", &save))
                        if (cgroup_use_wants(p, c)) {
                                want = true;
                                tracked = tracked || strcmp(c, "pids") == 0;
                        }
                if (!want)
                        continue;
                size_t n = strlen(use);
                if ((size_t) snprintf(use + n, sizeof(use) - n, "%s%s", n ? "," : "", a + 1) >=
                    sizeof(use) - n) {
                        fclose(f);
                        return NULL; /* all of them, as without the key */
                }
        }
        fclose(f);
        /* without a pids hierarchy the container would have no v1 cgroup of its own to be
         * found by: every hierarchy then */
        return tracked ? strdup(use) : NULL;
}

/* ---- moat-system-run: what runs liblxc ------------------------------------------------------ */

/* What moat-system-run reads on fd 3 (lxc-run.c): NUL-terminated strings. */
typedef struct Blob {
        char *buf;
        size_t len, cap;
        bool oom;
} Blob;

static void blob_add(Blob *b, const char *s) {
        size_t n = strlen(s) + 1;
        if (b->oom)
                return;
        if (b->len + n > b->cap) {
                size_t cap = MAX(b->cap * 2, b->len + n + 4096);
                char *nb = realloc(b->buf, cap);
                if (!nb) {
                        b->oom = true;
                        return;
                }
                b->buf = nb;
                b->cap = cap;
        }
        memcpy(b->buf + b->len, s, n);
        b->len += n;
}

static void blob_num(Blob *b, unsigned long v) {
        char s[24];
        snprintf(s, sizeof(s), "%lu", v);
        blob_add(b, s);
}

static void blob_head(Blob *b, const char *mode, const char *dir, const char *use, uid_t uid,
                      gid_t gid) {
        blob_add(b, "moat-lxc-1");
        blob_add(b, mode);
        blob_add(b, dir);
        blob_add(b, use);
        blob_num(b, uid);
        blob_num(b, gid);
}

static void blob_argv(Blob *b, char **argv) {
        size_t n = 0;
        while (argv[n])
                n++;
        blob_num(b, n);
        for (size_t i = 0; i < n; i++)
                blob_add(b, argv[i]);
}

/* Writes all of buf to a helper's pipe: a helper that died before it read is EPIPE, not moat's
 * death. 0 or -errno. */
static int helper_write(int fd, const void *buf, size_t len) {
        struct sigaction ign = { .sa_handler = SIG_IGN }, prev;
        int r = 0;
        (void) sigaction(SIGPIPE, &ign, &prev);
        for (size_t off = 0; r == 0 && off < len;) {
                ssize_t n = write(fd, (const char *) buf + off, len - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        r = n < 0 ? -errno : -EIO;
                else
                        off += (size_t) n;
        }
        (void) sigaction(SIGPIPE, &prev, NULL);
        return r;
}

/* Writes it all, then closes fd. */
static int blob_send(int fd, const Blob *b) {
        int r = b->oom ? -ENOMEM : helper_write(fd, b->buf, b->len);
        (void) close(fd);
        return r;
}

/* What a helper's child reads until its exec, and its stack. The child shares moat's memory
 * (clone with CLONE_VM: nothing of moat's is copied, which was most of a fork's way to the
 * exec) but, unlike vfork(), moat goes on at once instead of sleeping until the exec: on this
 * 2-vCPU VM moat was then woken on the child's CPU and waited there while the runner loaded
 * liblxc (1.1 ms in most runs, against 0.1 ms when it came back on its own CPU). So the child
 * writes nothing but its own stack: raw system calls only (glibc's errno is moat's
 * thread-local one), and everything it reads is in its block, written before the clone and
 * not again while a child may still run on it (one block per mode; moat starts each helper
 * once and reaps it before it returns). */
#define SPAWN_STACK_SIZE (16 * 1024)
typedef struct {
        pid_t parent;
        int cfg_fd, err_fd;
        /* resources.output: fds 1 and 2 of what runs the command become the relay's pipes (the
         * runner in command mode: pid 1 and the command inherit them; the attacher in boot
         * mode); -1: moat's own */
        int stdio_fd[2];
        uint64_t mask; /* the signal mask to restore (the kernel's 64 bits) */
        char helper[PATH_MAX];
        char *argv[3];
        char **envp; /* a copy of environ's pointers: a setenv() could move the array */
        char stack[SPAWN_STACK_SIZE] __attribute__((aligned(16)));
} SpawnBlock;

static SpawnBlock spawn_blocks[2]; /* [0] the runner, [1] the attacher */

static const char *self_dir_file(const char *name, char *buf, size_t size);

/* Once the helper of a block is gone (reaped): its copy of the environment. */
static void spawn_block_release(int which) {
        free(spawn_blocks[which].envp);
        spawn_blocks[which].envp = NULL;
}

static void raw_write_str(int fd, const char *s) {
        size_t n = 0;
        while (s[n])
                n++;
        (void) raw_syscall3(SYS_write, fd, s, n);
}

/* The runner (mode "start") or the attacher ("attach"): dies with moat (set here, kept across
 * the exec), gets the configuration on fd 3 and on fd 4, for start, the error pipe, for
 * attach, the pipe on which moat says go (a write of the error there fails: nothing is read
 * from it but one byte); nothing else of moat's crosses the exec. */
static int helper_child(void *arg) {
        const SpawnBlock *sb = arg;
        /* SIG_DFL: SIGPIPE is the helper's (and the command's), not moat's ignored one */
        struct {
                unsigned long handler, flags, restorer, mask;
        } dfl = { 0, 0, 0, 0 };
        long c, e = -1;

        (void) raw_syscall4(SYS_rt_sigprocmask, SIG_SETMASK, &sb->mask, NULL, KERNEL_SIGSET_BYTES);
        if (raw_syscall2(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL) < 0 ||
            raw_syscall0(SYS_getppid) != sb->parent)
                return 125;
        (void) raw_syscall4(SYS_rt_sigaction, SIGPIPE, &dfl, NULL, KERNEL_SIGSET_BYTES);
        for (int i = 0; i < 2; i++)
                if (sb->stdio_fd[i] >= 0 && raw_syscall3(SYS_dup3, sb->stdio_fd[i], i + 1, 0) < 0)
                        return 125;
        c = raw_syscall3(SYS_fcntl, sb->cfg_fd, F_DUPFD, 10);
        if (sb->err_fd >= 0)
                e = raw_syscall3(SYS_fcntl, sb->err_fd, F_DUPFD, 10);
        if (c < 0 || (sb->err_fd >= 0 && e < 0) || raw_syscall3(SYS_dup3, c, 3, 0) < 0 ||
            (sb->err_fd >= 0 && raw_syscall3(SYS_dup3, e, 4, 0) < 0) ||
            raw_syscall3(SYS_close_range, sb->err_fd >= 0 ? 5 : 4, ~0U, 0) < 0)
                return 125;
        long r = raw_syscall3(SYS_execve, sb->helper, sb->argv, sb->envp);
        if (sb->err_fd >= 0) {
                /* strerrordesc_np: a constant string, nothing written (moat is linked with
                 * -z now: no lazy binding writes either) */
                const char *why = strerrordesc_np((int) -r);
                raw_write_str(4, "cannot start ");
                raw_write_str(4, sb->helper);
                raw_write_str(4, ": ");
                raw_write_str(4, why ? why : "cannot execute");
        }
        return 125;
}

/* Starts a helper (see helper_child) with moat's environment and returns its pid at once, or -1
 * with errno. */
static pid_t helper_spawn(pid_t parent, const char *helper, const char *mode, int cfg_fd,
                          int err_fd, bool relay_stdio, const OutputRelay *relay,
                          const sigset_t *mask) {
        int which = strcmp(mode, "start") == 0 ? 0 : 1;
        SpawnBlock *sb = &spawn_blocks[which];
        size_t n = 0;

        if (strlen(helper) >= sizeof(sb->helper)) {
                errno = ENAMETOOLONG;
                return -1;
        }
        while (environ && environ[n])
                n++;
        spawn_block_release(which);
        sb->envp = calloc(n + 1, sizeof(char *));
        if (!sb->envp)
                return -1;
        if (n)
                memcpy(sb->envp, environ, n * sizeof(char *));
        sb->parent = parent;
        sb->cfg_fd = cfg_fd;
        sb->err_fd = err_fd;
        for (int i = 0; i < 2; i++)
                sb->stdio_fd[i] = relay_stdio && relay ? relay->child_fd[i] : -1;
        memcpy(&sb->mask, mask, sizeof(sb->mask));
        strcpy(sb->helper, helper);
        sb->argv[0] = (char *) "moat-system-run";
        sb->argv[1] = (char *) mode;
        sb->argv[2] = NULL;
        pid_t pid = clone(helper_child, sb->stack + sizeof(sb->stack), CLONE_VM | SIGCHLD, sb);
        if (pid < 0) {
                int e = errno;
                spawn_block_release(which);
                errno = e;
        }
        return pid;
}

int system_runner_prestart(SystemRunner *ret) {
        char helper[PATH_MAX];
        int ep[2] = { -EBADF, -EBADF }, cp[2] = { -EBADF, -EBADF };
        sigset_t cur;

        *ret = (SystemRunner){ .cfg_fd = -EBADF, .err_fd = -EBADF };
        self_dir_file("moat-system-run", helper, sizeof(helper));
        if (sigprocmask(SIG_SETMASK, NULL, &cur) < 0 || pipe2(ep, O_CLOEXEC) < 0 ||
            pipe2(cp, O_CLOEXEC) < 0) {
                int e = errno;
                safe_close(ep[0]);
                safe_close(ep[1]);
                return -e;
        }
        pid_t pid = helper_spawn(getpid(), helper, "start", cp[0], ep[1], false, NULL, &cur);
        int e = errno;
        safe_close(ep[1]);
        safe_close(cp[0]);
        if (pid < 0) {
                safe_close(ep[0]);
                safe_close(cp[1]);
                return -e;
        }
        *ret = (SystemRunner){ .pid = pid, .cfg_fd = cp[1], .err_fd = ep[0] };
        return 0;
}

void system_runner_discard(SystemRunner *r) {
        if (r->pid > 0) {
                (void) kill(r->pid, SIGKILL);
                while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                spawn_block_release(0);
        }
        safe_close(r->cfg_fd);
        safe_close(r->err_fd);
        *r = (SystemRunner){ .cfg_fd = -EBADF, .err_fd = -EBADF };
}

/* Whether pid has exec'd something other than the program of ref (the image's init, not the
 * fork of moat-system-run that pid 1 is until then). */
static bool has_execd(pid_t pid, pid_t ref) {
        char a[4096], b[4096], path[64], rpath[64];
        snprintf(path, sizeof(path), "/proc/%d/exe", (int) pid);
        snprintf(rpath, sizeof(rpath), "/proc/%d/exe", (int) ref);
        ssize_t n = readlink(path, a, sizeof(a) - 1), m = readlink(rpath, b, sizeof(b) - 1);
        if (n <= 0 || m <= 0)
                return false;
        a[n] = b[m] = '\0';
        return strcmp(a, b) != 0;
}

/* Whether pid is a descendant of ancestor (PPid links, as the host sees them). */
static bool descends_from(pid_t pid, pid_t ancestor) {
        char path[64], v[32];
        for (int depth = 0; pid > 1 && depth < 8; depth++) {
                snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
                FILE *f = fopen(path, "re");
                char line[256];
                pid_t pp = 0;
                if (!f)
                        return false;
                while (fgets(line, sizeof(line), f))
                        if (sscanf(line, "PPid: %31s", v) == 1) {
                                pp = (pid_t) strtol(v, NULL, 10);
                                break;
                        }
                fclose(f);
                if (pp == ancestor)
                        return true;
                pid = pp;
        }
        return false;
}

/* The process named comm in pid's pid namespace (the attached gate), 0 if none. */
static pid_t find_in_pidns(pid_t pid, const char *comm) {
        char want[64], have[64], path[300], c[32];
        DIR *d;
        struct dirent *de;
        pid_t found = 0;
        snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int) pid);
        ssize_t n = readlink(path, want, sizeof(want) - 1);
        if (n <= 0 || !(d = opendir("/proc")))
                return 0;
        want[n] = '\0';
        while (!found && (de = readdir(d))) {
                if (de->d_name[0] < '1' || de->d_name[0] > '9')
                        continue;
                snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
                if (read_line(path, c, sizeof(c)) < 0 || strcmp(c, comm) != 0)
                        continue;
                snprintf(path, sizeof(path), "/proc/%s/ns/pid", de->d_name);
                ssize_t m = readlink(path, have, sizeof(have) - 1);
                if (m > 0 && (have[m] = '\0', strcmp(have, want) == 0))
                        found = (pid_t) strtol(de->d_name, NULL, 10);
        }
        closedir(d);
        return found;
}

/* ---- verification from the host ------------------------------------------------------------ */

/* /proc/PID/status of the few processes one verify() looks at, each read once: the checks of
 * one pass see one snapshot per process (ten reads of the file were a tenth of a millisecond
 * on the way to the gate's release). */
static struct {
        pid_t pid[3];
        char text[3][4096];
        int n;
} status_cache;

static void status_cache_clear(void) {
        status_cache.n = 0;
}

static const char *status_text(pid_t pid) {
        int i;
        for (i = 0; i < status_cache.n; i++)
                if (status_cache.pid[i] == pid)
                        return status_cache.text[i];
        if (i == (int) ELEMENTSOF(status_cache.pid))
                i = 0; /* never more than three in one pass; stay correct if there were */
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        size_t len = 0;
        ssize_t k;
        while (len < sizeof(status_cache.text[i]) - 1 &&
               (k = read(fd, status_cache.text[i] + len, sizeof(status_cache.text[i]) - 1 - len)) >
                       0)
                len += (size_t) k;
        close(fd);
        if (len == 0)
                return NULL;
        status_cache.text[i][len] = '\0';
        status_cache.pid[i] = pid;
        if (i == status_cache.n)
                status_cache.n++;
        return status_cache.text[i];
}

static int status_field(pid_t pid, const char *field, char *buf, size_t size) {
        const char *t = status_text(pid);
        size_t n = strlen(field);
        if (!t)
                return -ENOENT;
        for (const char *l = t; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : "")
                if (strncmp(l, field, n) == 0 && l[n] == ':') {
                        const char *v = l + n + 1;
                        v += strspn(v, " \t");
                        snprintf(buf, size, "%.*s", (int) strcspn(v, "\n"), v);
                        return 0;
                }
        return -ENOENT;
}

/* The first child of pid (from /proc/PID/task/PID/children), 0 if none. */
static pid_t first_child(pid_t pid) {
        char path[96], buf[256];
        snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int) pid, (int) pid);
        if (read_line(path, buf, sizeof(buf)) < 0)
                return 0;
        return (pid_t) strtol(buf, NULL, 10);
}

static bool same_ns(pid_t pid, const char *ns) {
        char a[64], b[64], pa[64], pb[64];
        snprintf(pa, sizeof(pa), "/proc/%d/ns/%s", (int) pid, ns);
        snprintf(pb, sizeof(pb), "/proc/self/ns/%s", ns);
        ssize_t n = readlink(pa, a, sizeof(a) - 1), m = readlink(pb, b, sizeof(b) - 1);
        if (n < 0 || m < 0)
                return true; /* unknown counts as shared: the check fails closed */
        a[n] = b[m] = '\0';
        return strcmp(a, b) == 0;
}

/* systemd: whether liblxc's mounts are locked for pid 1 (gate.c lock_mounts()): its mount
 * namespace is owned by its user namespace, and that one is nested in another than moat's
 * (the container's). Anything unknown counts as not locked. */
static bool mounts_locked(pid_t pid) {
        char path[64];
        struct stat own, owner, parent, host;
        snprintf(path, sizeof(path), "/proc/%d/ns/user", (int) pid);
        _cleanup_close_ int user = open(path, O_RDONLY | O_CLOEXEC);
        snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int) pid);
        _cleanup_close_ int mnt = open(path, O_RDONLY | O_CLOEXEC);
        if (user < 0 || mnt < 0)
                return false;
        _cleanup_close_ int mnt_owner = ioctl(mnt, NS_GET_USERNS);
        _cleanup_close_ int up = ioctl(user, NS_GET_PARENT);
        if (mnt_owner < 0 || up < 0 || fstat(user, &own) < 0 || fstat(mnt_owner, &owner) < 0 ||
            fstat(up, &parent) < 0 || stat("/proc/self/ns/user", &host) < 0)
                return false;
        return own.st_dev == owner.st_dev && own.st_ino == owner.st_ino &&
               !(parent.st_dev == host.st_dev && parent.st_ino == host.st_ino);
}

static void norm_map(pid_t pid, const char *which, char *out, size_t size) {
        char path[64], buf[256];
        size_t j = 0;
        bool sp = true;
        snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, which);
        out[0] = '\0';
        if (read_line(path, buf, sizeof(buf)) < 0)
                return;
        for (size_t i = 0; buf[i] && j + 1 < size; i++) {
                bool ws = buf[i] == ' ' || buf[i] == '\t';
                if (ws && !sp)
                        out[j++] = ' ';
                if (!ws)
                        out[j++] = buf[i];
                sp = ws;
        }
        while (j > 0 && out[j - 1] == ' ')
                j--;
        out[j] = '\0';
}

static int check_cgroup(pid_t pid, const char *ctrl, const char *file, const char *want, char *err,
                        size_t size) {
        char dir[2048], path[2200], have[128];
        int r = cgroup_dir(pid, ctrl, dir, sizeof(dir));
        if (r < 0) {
                snprintf(err, size, "cgroup %s: the container is in no %s cgroup", file,
                         ctrl[0] ? ctrl : "v2");
                return -EPERM;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, file);
        if (read_line(path, have, sizeof(have)) < 0 || strcmp(have, want) != 0) {
                snprintf(err, size, "cgroup %s is '%s', the plan requires '%s'", file, have, want);
                return -EPERM;
        }
        return 0;
}

/* The kernel's view of pid's label: AppArmor's own attribute file where the kernel has one
 * (right under LSM stacking), else the shared attr/current. Trailing newline and NUL removed. */
static int read_label(pid_t pid, bool apparmor, char *buf, size_t size) {
        char path[64];
        int r = -ENOENT;
        for (int i = apparmor ? 0 : 1; i < 2 && r < 0; i++) {
                snprintf(path, sizeof(path), "/proc/%d/attr/%s", (int) pid,
                         i == 0 ? "apparmor/current" : "current");
                _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
                ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);
                if (n < 0) {
                        r = -errno;
                        continue;
                }
                while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\0'))
                        n--;
                buf[n] = '\0';
                r = 0;
        }
        if (r < 0)
                snprintf(buf, size, "unreadable: %s", strerror(-r));
        return r;
}

static const char *self_dir_file(const char *name, char *buf, size_t size);

/* Whether the policy runs ctx's domain permissive (or does not know it): asked through
 * libselinux in moat-system-run, so that libselinux stays out of moat's process. 0: known and
 * enforcing. */
static int selinux_permissive(const char *ctx) {
        char helper[4096];
        char *const argv[] = { (char *) "moat-system-run", (char *) "selinux-permissive",
                               (char *) ctx, NULL };
        int st;
        self_dir_file("moat-system-run", helper, sizeof(helper));
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                (void) close_range(3, ~0U, 0);
                execve(helper, argv, environ);
                _exit(127);
        }
        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

/* P5: liblxc's AppArmor and SELinux keys are ignored without the LSM (its nop driver), and a
 * profile loaded in complain mode or a permissive domain enforces nothing. The gate (exec'd in
 * the container, running the command) must carry the plan's label, in force. liblxc 5.0
 * changes pid 1's own AppArmor profile at once ("changeprofile", before pid 1 runs anything),
 * so pid 1 is checked too. An SELinux context is armed for the next exec (setexeccon): in boot
 * mode pid 1 exec'd the image's init and carries it (checked); in command mode pid 1 is the
 * gate. */
static int verify_mac(const Plan *p, pid_t init, pid_t gate, char *err, size_t size) {
        const char *aa = p->sandbox.apparmor_profile, *se = p->sandbox.selinux_context;
        char have[512], want[512];

        if (aa) {
                snprintf(want, sizeof(want), "%s (enforce)", aa);
                for (int i = 0; i < 2; i++) {
                        (void) read_label(i == 0 ? init : gate, true, have, sizeof(have));
                        if (strcmp(have, want) != 0) {
                                snprintf(err, size,
                                         "apparmor: the container's %s has the label '%.160s', the "
                                         "plan requires '%.160s'",
                                         i == 0 ? "pid 1" : "command", have, want);
                                return -EPERM;
                        }
                }
        }
        if (se) {
                char enforce[8] = "";
                for (int i = p->system.boot ? 0 : 1; i < 2; i++) {
                        (void) read_label(i == 0 ? init : gate, false, have, sizeof(have));
                        if (strcmp(have, se) != 0) {
                                snprintf(err, size,
                                         "selinux: the container's %s has the context '%.160s', "
                                         "the plan requires '%.160s'",
                                         i == 0 ? "pid 1" : "command", have, se);
                                return -EPERM;
                        }
                }
                if (read_line("/sys/fs/selinux/enforce", enforce, sizeof(enforce)) < 0 ||
                    strcmp(enforce, "1") != 0) {
                        snprintf(err, size, "selinux: the host is not enforcing (enforce '%s')",
                                 enforce);
                        return -EPERM;
                }
                if (selinux_permissive(have) != 0) {
                        snprintf(err, size,
                                 "selinux: the domain of '%.160s' is permissive, or unknown to the "
                                 "policy",
                                 have);
                        return -EPERM;
                }
        }
        return 0;
}

/* NoNewPrivs, the seccomp filter and the capability bounding set of one process of the
 * container: the gate (the command to be) and, in boot mode, the image's init (the workload's
 * code too). who is appended to the message. */
static int verify_process(const Plan *p, pid_t pid, uint64_t capbnd, unsigned layers,
                          const char *who, char *err, size_t size) {
        char v[64], want[64], mine[64];

        if (status_field(pid, "NoNewPrivs", v, sizeof(v)) < 0 || strcmp(v, "1") != 0) {
                snprintf(err, size, "no_new_privs: NoNewPrivs is %s%s", v, who);
                return -EPERM;
        }
        if (p->sandbox.seccomp.status != CONTROL_NOT_APPLICABLE) {
                /* P4: under a filter of the caller's, liblxc silently skips its own unless
                 * allow_nesting; the container must have more filters than this process, and
                 * under systemd (layers 2) liblxc's and one more: pid 1's own (gate.c
                 * lock_mounts()) or, for the command, the plan's */
                if (status_field(pid, "Seccomp", v, sizeof(v)) < 0 || strcmp(v, "2") != 0) {
                        snprintf(err, size, "seccomp: Seccomp is %s, not 2 (filter)%s", v, who);
                        return -EPERM;
                }
                if (status_field(getpid(), "Seccomp_filters", mine, sizeof(mine)) < 0)
                        snprintf(mine, sizeof(mine), "0");
                if (status_field(pid, "Seccomp_filters", v, sizeof(v)) < 0 ||
                    strtoul(v, NULL, 10) < strtoul(mine, NULL, 10) + layers) {
                        snprintf(err, size,
                                 "seccomp: %s filters in the container, %s in moat: the plan's "
                                 "filter was not loaded%s",
                                 v, mine, who);
                        return -EPERM;
                }
        }
        snprintf(want, sizeof(want), "%016" PRIx64, capbnd);
        if (status_field(pid, "CapBnd", v, sizeof(v)) < 0 || strcmp(v, want) != 0) {
                snprintf(err, size, "caps: CapBnd is %s, the plan requires %s%s", v, want, who);
                return -EPERM;
        }
        return 0;
}

/* Checks of the gate process (what the command will be) and of its parent, pid 1. */
static int verify(const Plan *p, const Run *run, pid_t init, pid_t gate, char *err, size_t size) {
        char v[64], want[64];
        static const char *const ns[] = { "user", "mnt", "pid", "net", "ipc", "uts", "cgroup" };

        status_cache_clear();
        for (size_t i = 0; i < ELEMENTSOF(ns); i++)
                if (same_ns(init, ns[i])) {
                        snprintf(err, size, "%sns: the container shares the host's", ns[i]);
                        return -EPERM;
                }
        if (run->systemd && !mounts_locked(init)) {
                snprintf(err, size,
                         "mounts: systemd (pid 1) is in the container's own user namespace, where "
                         "the read-only binds and /proc masks are not locked for it");
                return -EPERM;
        }
        if (p->sandbox.time_ns && same_ns(gate, "time")) {
                snprintf(err, size, "timens: the container shares the host's clocks");
                return -EPERM;
        }
        /* systemd (boot mode): liblxc's boot filter and one more on each, pid 1's own (gate.c
         * lock_mounts()) and the command's, the plan's (gate.c enter()); the command under the
         * plan's bounding set, pid 1 under the boot set */
        unsigned layers = run->systemd ? 2 : 1;
        if (verify_process(p, gate, lxc_plan_capbnd(p), layers, "", err, size) < 0 ||
            (p->system.boot &&
             verify_process(p, init,
                            run->systemd ? lxc_boot_capbnd(run->cap_last) : lxc_plan_capbnd(p),
                            layers, " (the image's init, pid 1)", err, size) < 0))
                return -EPERM;
        if (verify_mac(p, init, gate, err, size) < 0)
                return -EPERM;
        /* the command's user: host view of uid/gid inside (all four ids) */
        static const char *const ids[] = { "Uid", "Gid" };
        for (size_t i = 0; i < 2; i++) {
                unsigned in = i == 0 ? p->sandbox.uid_inside : p->sandbox.gid_inside;
                unsigned host = (i == 0 ? run->base : run->gbase) + in;
                snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", host, host, host, host);
                if (status_field(gate, ids[i], v, sizeof(v)) < 0 || strcmp(v, want) != 0) {
                        snprintf(err, size,
                                 "userns: %s is %s, the plan requires %u inside (%u on "
                                 "the host)",
                                 ids[i], v, in, host);
                        return -EPERM;
                }
        }
        snprintf(want, sizeof(want), "0 %u %u", run->base, run->count);
        norm_map(gate, "uid_map", v, sizeof(v));
        if (strcmp(v, want) != 0) {
                snprintf(err, size, "userns: uid_map is '%s', the plan requires '%s'", v, want);
                return -EPERM;
        }
        snprintf(want, sizeof(want), "0 %u %u", run->gbase, run->count);
        norm_map(gate, "gid_map", v, sizeof(v));
        if (strcmp(v, want) != 0) {
                snprintf(err, size, "userns: gid_map is '%s', the plan requires '%s'", v, want);
                return -EPERM;
        }

        /* rlimits (lxc.prlimit.*) read back with prlimit(2) */
        for (size_t i = 0; i < p->sandbox.n_rlimits; i++) {
                const PlanRlimit *l = &p->sandbox.rlimits[i];
                struct rlimit have;
                uint64_t soft, hard;
                if (prlimit(gate, (__rlimit_resource_t) l->resource, NULL, &have) < 0) {
                        snprintf(err, size, "rlimits: cannot read limit %d of the container: %s",
                                 l->resource, strerror(errno));
                        return -EPERM;
                }
                soft = have.rlim_cur == RLIM_INFINITY ? UINT64_MAX : have.rlim_cur;
                hard = have.rlim_max == RLIM_INFINITY ? UINT64_MAX : have.rlim_max;
                if (soft != l->soft || hard != l->hard) {
                        snprintf(err, size,
                                 "rlimits: limit %d is %" PRIu64 ":%" PRIu64
                                 ", the plan requires %" PRIu64 ":%" PRIu64,
                                 l->resource, soft, hard, l->soft, l->hard);
                        return -EPERM;
                }
        }

        const PlanResources *res = &p->resources;
        char w[64];
        if (res->mechanism == CGROUP_MECH_V1) {
                long page = sysconf(_SC_PAGESIZE);
                if (res->memory) {
                        snprintf(w, sizeof(w), "%" PRIu64, res->memory / page * page);
                        if (check_cgroup(gate, "memory", "memory.limit_in_bytes", w, err, size) <
                                    0 ||
                            check_cgroup(gate, "memory", "memory.memsw.limit_in_bytes", w, err,
                                         size) < 0)
                                return -EPERM;
                }
                if (res->pids) {
                        snprintf(w, sizeof(w), "%" PRIu64, res->pids);
                        if (check_cgroup(gate, "pids", "pids.max", w, err, size) < 0)
                                return -EPERM;
                }
                if (res->cpus_milli) {
                        snprintf(w, sizeof(w), "%u", res->cpus_milli * 100);
                        if (check_cgroup(gate, "cpu", "cpu.cfs_quota_us", w, err, size) < 0)
                                return -EPERM;
                }
        } else if (res->mechanism == CGROUP_MECH_V2) {
                if (res->memory) {
                        snprintf(w, sizeof(w), "%" PRIu64, res->memory / 4096 * 4096);
                        if (check_cgroup(gate, "", "memory.max", w, err, size) < 0)
                                return -EPERM;
                }
                if (res->pids) {
                        snprintf(w, sizeof(w), "%" PRIu64, res->pids);
                        if (check_cgroup(gate, "", "pids.max", w, err, size) < 0)
                                return -EPERM;
                }
                if (res->cpus_milli) {
                        snprintf(w, sizeof(w), "%u 100000", res->cpus_milli * 100);
                        if (check_cgroup(gate, "", "cpu.max", w, err, size) < 0)
                                return -EPERM;
                }
        }
        return 0;
}

/* ---- preparing the run directory ----------------------------------------------------------- */

static int write_file(const char *dir, const char *name, const char *text, mode_t mode, uid_t uid,
                      gid_t gid) {
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd < 0)
                return -errno;
        size_t len = strlen(text);
        if (write(fd, text, len) != (ssize_t) len)
                return -EIO;
        if (fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0)
                return -errno;
        return 0;
}

/* One more of the plan's machine-id files than /etc/machine-id (D-Bus's), as the sandbox tier
 * treats it (sandbox/mounts.c): where the image has a regular file at TARGET, the run's id
 * (LINE) goes over it in the writable layer, read-only, so that no two runs of an image share
 * it; the directories on the way are made in the layer with the image's own owner and mode (an
 * upper directory's attributes are those the merged one shows). A symbolic link there is left
 * alone when it leads to /etc/machine-id (D-Bus's usual link), which holds the run's id. A
 * missing path has nothing to hide. Anything else (a link elsewhere, a link on the way, which
 * this host would resolve outside the image, a directory or a device at TARGET) is an id moat
 * cannot cover: -ELOOP or -EINVAL, with why. */
static int cover_identity_file(const Run *run, const char *target, const char *line, char *why,
                               size_t why_size) {
        _cleanup_free_ char *upper = NULL, *rel = strdup(target + strspn(target, "/"));
        _cleanup_close_ int low = -EBADF, up = -EBADF;
        char *comp, *next, *save = NULL, parent[PATH_MAX] = "";
        struct stat st;

        if (!rel || asprintf(&upper, "%s/upper", run->dir) < 0)
                return -ENOMEM;
        low = open(run->lower, O_PATH | O_DIRECTORY | O_CLOEXEC);
        up = open(upper, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (low < 0 || up < 0)
                return -errno;
        for (comp = strtok_r(rel, "/", &save); comp; comp = next) {
                next = strtok_r(NULL, "/", &save);
                if (strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0)
                        return -EINVAL; /* the plan's targets are normal paths */
                if (fstatat(low, comp, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return errno == ENOENT ? 0 : -errno;
                if (!next)
                        break;
                if (!S_ISDIR(st.st_mode)) {
                        snprintf(why, why_size, "%s/%s is %s", parent, comp,
                                 S_ISLNK(st.st_mode) ? "a symbolic link" : "not a directory");
                        return S_ISLNK(st.st_mode) ? -ELOOP : -EINVAL;
                }
                if (mkdirat(up, comp, 0700) == 0) {
                        if (fchownat(up, comp, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
                            fchmodat(up, comp, st.st_mode & 07777, 0) < 0)
                                return -errno;
                } else if (errno != EEXIST)
                        return -errno;
                int l = openat(low, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (l < 0)
                        return -errno;
                safe_close(low);
                low = l;
                int u = openat(up, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (u < 0)
                        return -errno;
                safe_close(up);
                up = u;
                size_t n = strlen(parent);
                snprintf(parent + n, sizeof(parent) - n, "/%s", comp);
        }
        if (!comp)
                return 0;
        if (S_ISLNK(st.st_mode)) {
                char link[PATH_MAX];
                ssize_t n = readlinkat(low, comp, link, sizeof(link) - 1);
                if (n < 0)
                        return -errno;
                link[n] = '\0';
                if (sandbox_identity_link_ok(parent, link))
                        return 0;
                snprintf(why, why_size, "%s is a symbolic link to %s, not to /etc/machine-id",
                         target, link);
                return -ELOOP;
        }
        if (!S_ISREG(st.st_mode)) {
                snprintf(why, why_size, "%s is not a regular file", target);
                return -EINVAL;
        }
        _cleanup_close_ int fd =
                openat(up, comp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
        size_t len = strlen(line);
        if (fd < 0)
                return -errno;
        if (write(fd, line, len) != (ssize_t) len)
                return -EIO;
        if (fchown(fd, run->base, run->gbase) < 0 || fchmod(fd, 0444) < 0)
                return -errno;
        return 0;
}

static bool on_tmpfs(const char *path) {
        struct statfs sf;
        return statfs(path, &sf) == 0 && sf.f_type == TMPFS_MAGIC;
}

/* Where a run's directory goes: for root below; for another user their runtime directory,
 * else /dev/shm when that is a tmpfs, else /tmp. Both of a user's are tmpfs on a stock host:
 * some thirty directories and files are made and removed per run (the writable layer's
 * skeleton, liblxc's lock and fifo directories), and on a disk file system with online discard
 * each removal waits for the device (1.9 ms per run against 0.8 on tmpfs, measured). The
 * writable layer lives there too, so what a container writes to its root is memory, as with
 * the sandbox tier's tmpfs: charged to the container's memory cgroup when it has one (tmpfs
 * pages are charged to the cgroup of the process that writes them).
 *
 * root's: /run/moat/system where /run/moat (or /run) is a tmpfs, as with systemd. Where it is
 * a disk file system, the overlay's upper layer, the fifos and their removal there cost root's
 * run 8-9 ms more here (ext4 with online discard: 23.0 against 14.3 ms, /bin/true): then
 * /dev/shm/moat-system-0 on a tmpfs /dev/shm, a directory root makes, used only when it is
 * root's, a directory and writable by no one else (one that someone made first is left alone,
 * and the run goes to /run/moat/system). */
static const char *root_run_dir_base(void) {
        static const char shm[] = "/dev/shm/moat-system-0";
        struct stat st;
        if (on_tmpfs(access("/run/moat", F_OK) == 0 ? "/run/moat" : "/run") ||
            !on_tmpfs("/dev/shm"))
                return "/run/moat/system";
        if ((mkdir(shm, 0711) < 0 && errno != EEXIST) || lstat(shm, &st) < 0 ||
            !S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022))
                return "/run/moat/system";
        return shm;
}

static int run_dir_base(char **ret) {
        const char *x = getenv("XDG_RUNTIME_DIR");
        struct statfs sf;
        if (geteuid() == 0)
                *ret = strdup(root_run_dir_base());
        else if (x && x[0] == '/' && access(x, W_OK) == 0) {
                if (asprintf(ret, "%s/moat-system", x) < 0)
                        *ret = NULL;
        } else if (statfs("/dev/shm", &sf) == 0 && sf.f_type == TMPFS_MAGIC &&
                   access("/dev/shm", W_OK) == 0) {
                if (asprintf(ret, "/dev/shm/moat-system-%u", (unsigned) getuid()) < 0)
                        *ret = NULL;
        } else if (asprintf(ret, "/tmp/moat-system-%u", (unsigned) getuid()) < 0)
                *ret = NULL;
        return *ret ? 0 : -ENOMEM;
}

/* s compiled as the sandbox tier compiles the plan's filter, written to RUN/NAME (0444) for the
 * gate to stack on itself; -ENOEXEC: it does not compile. */
static int write_filter(const PlanSeccomp *s, const Run *run, const char *name) {
        _cleanup_free_ char *path = NULL;
        SeccompProgram prog = {};
        int r = sys_seccomp_program_for(s, &prog);
        if (r < 0)
                return -ENOEXEC;
        if (asprintf(&path, "%s/%s", run->dir, name) < 0) {
                sys_seccomp_program_done(&prog);
                return -ENOMEM;
        }
        {
                _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
                size_t len = prog.fprog.len * sizeof(struct sock_filter);
                r = fd < 0 ? -errno : write(fd, prog.fprog.filter, len) != (ssize_t) len ? -EIO : 0;
        }
        sys_seccomp_program_done(&prog);
        return r;
}

/* The plan's filter, for the gate to stack on itself before the command (command mode, and the
 * command of systemd's boot mode): RUN/filter, bound read-only at /.moat-filter. */
static int prepare_filter(const Plan *p, Run *run, char **ret_seccomp_err) {
        if (p->sandbox.seccomp.notify_denials) {
                *ret_seccomp_err =
                        strdup("seccomp: denial notification (audit of denied calls) "
                               "has no system-tier form");
                return -EOPNOTSUPP;
        }
        int r = write_filter(&p->sandbox.seccomp, run, "filter");
        if (r == -ENOEXEC)
                *ret_seccomp_err = strdup("seccomp: the plan's filter does not compile");
        return r;
}

/* The filter pid 1 stacks on itself before it execs systemd (gate.c lock_mounts()): unshare(2)
 * denied outright, for every ABI the plan filters (the boot filter lets pid 1's own call
 * through). RUN/boot-filter, bound read-only at /.moat-boot-filter. */
static int prepare_boot_filter(const Plan *p, Run *run, char **ret_seccomp_err) {
        PlanSyscallRule rule = { .name = (char *) "unshare",
                                 .action = SECCOMP_ACTION_ERRNO,
                                 .errno_value = EPERM };
        PlanSeccomp s = { .status = CONTROL_REQUIRED,
                          .default_action = SECCOMP_ACTION_ALLOW,
                          .arches = p->sandbox.seccomp.arches,
                          .foreign_arch_action = p->sandbox.seccomp.foreign_arch_action,
                          .rules = &rule,
                          .n_rules = 1 };
        int r = write_filter(&s, run, "boot-filter");
        if (r == -ENOEXEC)
                *ret_seccomp_err = strdup("seccomp: pid 1's own filter does not compile");
        return r;
}

/* systemd (boot mode): the command's filter, pid 1's own (prepare_boot_filter()), and the socket
 * on which systemd reports READY=1, writable by the container's root only. */
static int prepare_systemd(const Plan *p, Run *run, char **ret_seccomp_err) {
        int r = prepare_filter(p, run, ret_seccomp_err);
        if (r < 0)
                return r;
        r = prepare_boot_filter(p, run, ret_seccomp_err);
        if (r < 0)
                return r;

        /* the generators masked for systemd (lxc-config.h), bound read-only at
         * /run/systemd/system-generators */
        _cleanup_free_ char *gen = NULL;
        if (asprintf(&gen, "%s/generators", run->dir) < 0)
                return -ENOMEM;
        if (mkdir(gen, 0755) < 0)
                return -errno;
        _cleanup_close_ int gfd = open(gen, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (gfd < 0)
                return -errno;
        for (size_t i = 0; lxc_systemd_masked_generators[i]; i++)
                if (symlinkat("/dev/null", gfd, lxc_systemd_masked_generators[i]) < 0)
                        return -errno;

        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int one = 1;
        if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", run->dir) >=
            (int) sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        run->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (run->notify_fd < 0)
                return -errno;
        if (bind(run->notify_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            setsockopt(run->notify_fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
            chown(sa.sun_path, run->base, run->gbase) < 0 || chmod(sa.sun_path, 0600) < 0)
                return -errno;
        return 0;
}

/* One datagram from the notify socket: 1 when it is READY=1 sent by the container's pid 1. */
static int notify_ready(int fd, pid_t init) {
        char buf[4096];
        union {
                struct cmsghdr h;
                char b[CMSG_SPACE(sizeof(struct ucred))];
        } ctl;
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) - 1 };
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl, .msg_controllen = sizeof(ctl)
        };
        ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        pid_t from = 0;
        if (n < 0)
                return 0;
        buf[n] = '\0';
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                        struct ucred u;
                        memcpy(&u, CMSG_DATA(c), sizeof(u));
                        from = u.pid;
                }
        /* the kernel's translation of the sender's pid into this pid namespace */
        if (from != init || init <= 0)
                return 0;
        for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strncmp(l, "READY=1", 7) == 0 && (l[7] == '\n' || l[7] == '\0'))
                        return 1;
        return 0;
}

/* liblxc's monitor writes pid 1's exit status to <rundir>/lxc<lxcpath>/monitor-fifo when one
 * is there (lxc_monitor_send_exit_code(), before it tears the container down), as a struct
 * lxc_msg (monitor.h). Command mode takes the status from there and kills the monitor: the
 * container ended with its pid 1, and what liblxc would still do (move itself to a pivot cgroup
 * and remove its cgroups, unmount the rootfs in the container's own mount namespace) the guard
 * and the kernel do. Only a shortcut: without the fifo the status comes when the runner exits. */
struct lxc_monitor_msg {
        int type; /* lxc_msg_state, lxc_msg_priority, lxc_msg_exit_code */
        char name[NAME_MAX + 1];
        int value;
};
#define LXC_MSG_EXIT_CODE 2
_Static_assert(sizeof(struct lxc_monitor_msg) == 264, "liblxc's struct lxc_msg");

static void exit_fifo_open(Run *run) {
        char path[4096];
        lxc_run_path(run->dir, false, path, sizeof(path));
        for (char *sl = strchr(path + 1, '/');; sl = strchr(sl + 1, '/')) {
                if (sl)
                        *sl = '\0';
                if (mkdir(path, sl ? 0755 : 0700) < 0 && errno != EEXIST)
                        return;
                if (!sl)
                        break;
                *sl = '/';
        }
        size_t n = strlen(path);
        snprintf(path + n, sizeof(path) - n, "/monitor-fifo");
        if (mkfifo(path, 0600) == 0)
                run->exit_fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
}

/* The run directory itself (empty); prepare() fills it. */
static int prepare_dir(Run *run, char *why, size_t why_size) {
        _cleanup_free_ char *base = NULL;
        int r;

        r = run_dir_base(&base);
        if (r < 0)
                return r;
        /* 0711: container root (another host uid for a range map) must traverse it */
        if (geteuid() == 0 && strncmp(base, "/run/moat/", 10) == 0 &&
            mkdir("/run/moat", 0755) < 0 && errno != EEXIST)
                return -errno;
        if (mkdir(base, 0711) < 0 && errno != EEXIST)
                return -errno;
        struct stat st;
        if (lstat(base, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
                /* a run directory base of someone else's (made first in a directory all can
                 * write, such as /dev/shm): never use it */
                snprintf(why, why_size,
                         "%s is not a directory of this user's (a symbolic link, not a directory, "
                         "or another user's): moat does not use it",
                         base);
                return -EPERM;
        }
        if (asprintf(&run->dir, "%s/%s", base, run->id) < 0)
                return -ENOMEM;
        if (mkdir(run->dir, 0711) < 0)
                return -errno;
        return 0;
}

static int prepare(const Plan *p, Run *run, RunOutcome *o, char **ret_seccomp_err) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        char err[256], mid[33], boot[40];
        int r;

        /* the gate runs as the plan's user inside: its fifo and status file are that user's */
        uid_t gate_uid = run->base + p->sandbox.uid_inside;
        gid_t gate_gid = run->gbase + p->sandbox.gid_inside;

        static const char *const dirs[] = { "upper", "work",
                                            "upper/etc" }; /* liblxc: upper/../work */
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                free(path);
                if (asprintf(&path, "%s/%s", run->dir, dirs[i]) < 0)
                        return -ENOMEM;
                if (mkdir(path, 0755) < 0 || chown(path, run->base, run->gbase) < 0)
                        return -errno;
        }
        if (p->sandbox.seccomp.status != CONTROL_NOT_APPLICABLE) {
                r = (run->systemd ? lxc_seccomp_boot_text
                                  : lxc_seccomp_text)(&p->sandbox.seccomp, &text, err, sizeof(err));
                if (r < 0) {
                        *ret_seccomp_err = strdup(err);
                        return r;
                }
                /* where the gate loads moat's compiled filter (command mode), the text only
                 * proves that liblxc could take the plan's rules (the same refusals in both
                 * modes) */
                if (!lxc_gate_loads_filter(p) &&
                    (r = write_file(run->dir, "seccomp", text, 0444, (uid_t) -1, (gid_t) -1)) < 0)
                        return r;
                if (lxc_gate_loads_filter(p) && (r = prepare_filter(p, run, ret_seccomp_err)) < 0)
                        return r;
        }
        if (run->systemd && (r = prepare_systemd(p, run, ret_seccomp_err)) < 0)
                return r;
        /* the run's own machine identity (plan: machine-id, boot-id), in the upper layer and
         * in a file bound over the kernel's boot_id */
        if (p->sandbox.machine_id)
                snprintf(mid, sizeof(mid), "%s", p->sandbox.machine_id);
        else if ((r = id128_random_machine_id(mid, sizeof(mid))) < 0)
                return r;
        if ((r = id128_random_uuid(boot, sizeof(boot))) < 0)
                return r;
        char line[64];
        snprintf(line, sizeof(line), "%s\n", mid);
        if ((r = write_file(run->dir, "upper/etc/machine-id", line, 0444, run->base, run->gbase)) <
            0)
                return r;
        for (size_t i = 0; i < p->sandbox.n_mounts; i++) {
                const PlanMount *m = &p->sandbox.mounts[i];
                char why[PATH_MAX + 128] = "";
                if (m->kind == PLAN_MOUNT_IDENTITY && strcmp(m->source, "machine-id") == 0 &&
                    strcmp(m->target, "/etc/machine-id") != 0 &&
                    (r = cover_identity_file(run, m->target, line, why, sizeof(why))) < 0) {
                        /* named here: the caller's message is the run directory's */
                        fail(o, "machine-id", -r,
                             "machine-id: the image's %s cannot be given the run's own id: %s",
                             m->target, why[0] ? why : strerror(-r));
                        return r;
                }
        }
        snprintf(o->machine_id, sizeof(o->machine_id), "%s", mid);
        snprintf(line, sizeof(line), "%s\n", boot);
        if ((r = write_file(run->dir, "boot_id", line, 0444, (uid_t) -1, (gid_t) -1)) < 0 ||
            (r = write_file(run->dir, "status", "", 0600, gate_uid, gate_gid)) < 0)
                return r;
        free(path);
        if (asprintf(&path, "%s/go", run->dir) < 0)
                return -ENOMEM;
        if (mkfifo(path, 0600) < 0 || chown(path, gate_uid, gate_gid) < 0)
                return -errno;
        /* O_RDWR: never blocks, and the byte written stays readable while this fd is open */
        run->go_fd = open(path, O_RDWR | O_CLOEXEC);
        if (run->go_fd < 0)
                return -errno;
        /* the gate's wake-up: it writes a byte here when it waits for go, so the host checks
         * it then instead of at its next poll. Only a hint: whatever writes it, the host checks
         * the gate it finds itself, and still looks every few ms without it. */
        free(path);
        if (asprintf(&path, "%s/ready", run->dir) < 0)
                return -ENOMEM;
        if (mkfifo(path, 0600) < 0 || chown(path, gate_uid, gate_gid) < 0)
                return -errno;
        run->ready_fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (run->ready_fd < 0)
                return -errno;
        exit_fifo_open(run);
        return 0;
}

static const char *self_dir_file(const char *name, char *buf, size_t size) {
        char self[2048];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0) {
                self[n] = '\0';
                char *slash = strrchr(self, '/');
                if (slash) {
                        *slash = '\0';
                        snprintf(buf, size, "%s/%s", self, name);
                        if (access(buf, X_OK) == 0)
                                return buf;
                        /* the build tree: launcher/lxc/ beside the binary */
                        snprintf(buf, size, "%s/launcher/lxc/%s", self, name);
                        if (access(buf, X_OK) == 0)
                                return buf;
                }
        }
        snprintf(buf, size, "%s/%s", MOAT_LIBEXEC_DIR, name);
        return buf;
}

/* /.moat-gate's argv: what it checks, the Landlock ruleset, the environment, the command. */
static char **gate_argv(const Plan *p, const RunRequest *req, const Run *run, char **envp,
                        bool checks, bool filter) {
        size_t n = 0, cap = 32;
        char **a = calloc(cap, sizeof(char *));
#define PUSH(s)                                                             \
        do {                                                                \
                if (n + 2 >= cap) {                                         \
                        char **b = realloc(a, (cap *= 2) * sizeof(char *)); \
                        if (!b)                                             \
                                return NULL;                                \
                        a = b;                                              \
                }                                                           \
                a[n++] = (s);                                               \
                a[n] = NULL;                                                \
        } while (0)
        char *s;
        if (!a)
                return NULL;
        PUSH(run->systemd ? "/.moat-enter" : "/.moat-gate");
        if (run->systemd) {
                /* attached as the container's root under systemd's confinement: the gate takes
                 * the plan's user, bounding set and filter itself (gate.c enter()) */
                if (asprintf(&s, "%u:%u:%016" PRIx64, (unsigned) p->sandbox.uid_inside,
                             (unsigned) p->sandbox.gid_inside, lxc_plan_capbnd(p)) < 0)
                        return NULL;
                PUSH("--enter");
                PUSH(s);
                PUSH("--filter");
                PUSH("/.moat-filter");
        }
        if (!run->systemd && filter && lxc_gate_loads_filter(p)) {
                /* command mode: the gate stacks the plan's filter on itself first (gate.c
                 * load_filter()); under MOAT_SYSTEM_FAULT a filter that does not load is left
                 * to the host's checks */
                PUSH(checks ? "--filter" : "--filter-unchecked");
                PUSH("/.moat-filter");
        }
        if (!checks) /* MOAT_SYSTEM_FAULT: the host's checks alone */
                goto unchecked;
        PUSH("--nnp");
        if (p->sandbox.seccomp.status != CONTROL_NOT_APPLICABLE) {
                PUSH("--seccomp");
                PUSH("1");
        }
        if (asprintf(&s, "%016" PRIx64, lxc_plan_capbnd(p)) < 0)
                return NULL;
        PUSH("--capbnd");
        PUSH(s);
        /* systemd: the command is in pid 1's nested user namespace (gate.c lock_mounts()), whose
         * map inside is each of the container's ids to itself; the host checks the whole chain,
         * down to the range on the host (verify()) */
        if (asprintf(&s, "0 %u %u", run->systemd ? 0 : run->base, run->count) < 0)
                return NULL;
        PUSH("--uidmap");
        PUSH(s);
        if (asprintf(&s, "0 %u %u", run->systemd ? 0 : run->gbase, run->count) < 0)
                return NULL;
        PUSH("--gidmap");
        PUSH(s);
        if (p->sandbox.apparmor_profile) {
                if (asprintf(&s, "apparmor:%s (enforce)", p->sandbox.apparmor_profile) < 0)
                        return NULL;
                PUSH("--label");
                PUSH(s);
        } else if (p->sandbox.selinux_context) {
                if (asprintf(&s, "selinux:%s", p->sandbox.selinux_context) < 0)
                        return NULL;
                PUSH("--label");
                PUSH(s);
        }
unchecked:;
        const PlanLandlock *ll = &p->sandbox.landlock;
        if (ll->status == CONTROL_REQUIRED || ll->status == CONTROL_BEST_EFFORT) {
                if (asprintf(&s, "%d,%" PRIx64 ",%" PRIx64 ",%" PRIx64, ll->abi, ll->handled_fs,
                             ll->handled_net, ll->scoped) < 0)
                        return NULL;
                PUSH("--landlock");
                PUSH(s);
                if (ll->connect_port) {
                        if (asprintf(&s, "%u", (unsigned) ll->connect_port) < 0)
                                return NULL;
                        PUSH("--ll-connect");
                        PUSH(s);
                }
                for (size_t i = 0; i < ll->n_paths; i++) {
                        if (asprintf(&s, "%s=%" PRIx64, ll->paths[i].path, ll->paths[i].access) < 0)
                                return NULL;
                        PUSH("--ll");
                        PUSH(s);
                }
        }
        PUSH("--cwd");
        PUSH(p->sandbox.workdir_target ? p->sandbox.workdir_target : "/");
        for (size_t i = 0; envp && envp[i]; i++) {
                PUSH("--env");
                PUSH(envp[i]);
        }
        PUSH("--");
        for (size_t i = 0; req->argv[i]; i++)
                PUSH(req->argv[i]);
        return a;
#undef PUSH
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* /proc/... from the host's /proc (same layout inside); anything else from the image. A
 * symbolic link counts as absent: the mask would land on whatever it points to. */
static char target_kind(const char *target, void *userdata) {
        char path[4096];
        struct stat st;
        if (strncmp(target, "/proc/", 6) == 0)
                snprintf(path, sizeof(path), "%s", target);
        else
                snprintf(path, sizeof(path), "%s%s", (const char *) userdata, target);
        if (lstat(path, &st) < 0 || S_ISLNK(st.st_mode))
                return 0;
        return S_ISDIR(st.st_mode) ? 'd' : 'f';
}

/* The first ERROR line of liblxc's log, for the message and the audit record. */
static void lxc_log_error(const char *dir, char *buf, size_t size) {
        char path[4096], line[1024];
        snprintf(path, sizeof(path), "%s/lxc.log", dir);
        FILE *f = fopen(path, "re");
        buf[0] = '\0';
        while (f && fgets(line, sizeof(line), f)) {
                char *e = strstr(line, " ERROR ");
                if (!e)
                        continue;
                char *m = strstr(e, " - ");
                m = m ? strstr(m + 3, " - ") : NULL; /* after "file:func:line - " */
                line[strcspn(line, "\n")] = '\0';
                snprintf(buf, size, "%s", m ? m + 3 : e + 7);
                break;
        }
        if (f)
                fclose(f);
}

/* Boot mode runs the image's init under command mode's confinement (no capability beyond the
 * plan's, the plan's seccomp filter), except systemd, which needs more (capabilities, mounts,
 * personality) and gets the boot confinement (lxc-config.h). The init path is resolved inside
 * the image (symbolic links relative to its root). 1: the init is systemd, 0: another. */
static int boot_init_check(const char *lower, const char *init, char *err, size_t size) {
        char path[4096], link[4096], full[8192];
        snprintf(path, sizeof(path), "%s", init);
        for (int depth = 0; depth < 16; depth++) {
                struct stat st;
                snprintf(full, sizeof(full), "%s%s", lower, path);
                if (lstat(full, &st) < 0) {
                        snprintf(err, size, "boot mode: the image has no init %s (%s)", init, path);
                        return -ENOENT;
                }
                if (!S_ISLNK(st.st_mode)) {
                        const char *base = strrchr(path, '/');
                        if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111)) {
                                snprintf(err, size,
                                         "boot mode: the init %s is not an executable file", init);
                                return -ENOEXEC;
                        }
                        return strcmp(base ? base + 1 : path, "systemd") == 0;
                }
                ssize_t n = readlink(full, link, sizeof(link) - 1);
                if (n <= 0)
                        break;
                link[n] = '\0';
                if (link[0] == '/')
                        snprintf(path, sizeof(path), "%s", link);
                else {
                        char *slash = strrchr(path, '/');
                        if (slash)
                                slash[1] = '\0';
                        size_t l = strlen(path);
                        snprintf(path + l, sizeof(path) - l, "%s", link);
                }
        }
        snprintf(err, size, "boot mode: the init %s does not resolve in the image", init);
        return -ELOOP;
}

/* ---- the test hook MOAT_SYSTEM_FAULT -------------------------------------------------------- */

/* Documented test hook (launcher/lxc/README.md): makes one lxc key fail open the way liblxc's
 * keys do (LXC-NOTES §7) and turns the gate's own checks off, so that a test sees the host's
 * check alone catch it. It can only fail the run: the gate is never released under a fault,
 * and a fault the host's checks miss is reported as such (125). */
typedef struct Fault {
        const char *name, *key, *value; /* value NULL: the key is removed */
} Fault;

static const Fault faults[] = {
        { "gate", NULL, NULL },                     /* the gate's checks off, nothing else */
        { "nnp", "lxc.no_new_privs", "0" },         /* NoNewPrivs */
        { "seccomp", "lxc.seccomp.profile", NULL }, /* no filter at all */
        { "seccomp-nesting", "lxc.seccomp.allow_nesting", "0" }, /* P4, under a caller's filter */
        { "caps", "lxc.cap.keep", "chown" },                     /* CapBnd */
        { "boot-caps", "lxc.cap.drop", "sys_module" },           /* systemd's CapBnd (boot mode) */
        { "rlimits", "lxc.prlimit.nofile", "1000:1000" }, /* a limit read back with prlimit */
        { "pids", "lxc.cgroup.pids.max", "max" },         /* a cgroup value read back */
        { "memory", "lxc.cgroup.memory.memsw.limit_in_bytes", "-1" }, /* swap unbounded */
        { "cpu", "lxc.cgroup.cpu.cfs_quota_us", "-1" },
        { "ipcns", "lxc.namespace.clone", "cgroup mnt net pid user uts" }, /* a namespace */
        { "apparmor", "lxc.apparmor.profile", "unchanged" }, /* P5: the label not applied */
        { "selinux", "lxc.selinux.context", NULL },
        /* systemd without pid 1's nested namespaces (gate.c lock_mounts()): the tests' init */
        { "lock-mounts", "lxc.init.cmd", "/sbin/init" },
        /* systemd: the refusal of a host without user namespaces for the container's root
         * (kernel.unprivileged_userns_clone 0) skipped before start, so that pid 1's shows */
        { "userns", NULL, NULL },
};

static const Fault *fault_find(const char *name) {
        for (size_t i = 0; name && i < ELEMENTSOF(faults); i++)
                if (strcmp(faults[i].name, name) == 0)
                        return &faults[i];
        return NULL;
}

/* Applies f to cfg; the key must be there: a fault that changes nothing would prove nothing. */
static int fault_apply(const Fault *f, LxcConfig *cfg) {
        if (!f->key)
                return 0;
        for (size_t i = 0; i < cfg->n_keys; i++) {
                if (strcmp(cfg->keys[i].key, f->key) != 0)
                        continue;
                free(cfg->keys[i].value);
                if (f->value) {
                        cfg->keys[i].value = strdup(f->value);
                        return cfg->keys[i].value ? 0 : -ENOMEM;
                }
                free(cfg->keys[i].key);
                /* the order of the rest is kept (mount entries apply in order) */
                memmove(&cfg->keys[i], &cfg->keys[i + 1], (--cfg->n_keys - i) * sizeof(LxcKey));
                return 0;
        }
        return -ENOENT;
}

/* ---- network: outbound ---------------------------------------------------------------------- */

typedef struct EgressReply {
        int err;        /* 0, or the errno of the step that failed */
        char what[200]; /* that step */
} EgressReply;

static _Noreturn void egress_child(int fd, pid_t pid, uint16_t port) {
        EgressReply rep = {};
        char path[64];
        int ufd = -EBADF, nfd, l = -EBADF;
        struct if_nameindex *ifs = NULL;

        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
#define CHILD_FAIL(e, ...)                                         \
        do {                                                       \
                rep.err = (e);                                     \
                snprintf(rep.what, sizeof(rep.what), __VA_ARGS__); \
                goto send;                                         \
        } while (0)
        /* a user joins the container's user namespace first (it owns it): setns() to a
         * network namespace needs CAP_SYS_ADMIN over it and in the caller's own namespace */
        if (geteuid() != 0) {
                snprintf(path, sizeof(path), "/proc/%d/ns/user", (int) pid);
                if ((ufd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || setns(ufd, CLONE_NEWUSER) < 0)
                        CHILD_FAIL(errno, "cannot join the container's user namespace");
        }
        snprintf(path, sizeof(path), "/proc/%d/ns/net", (int) pid);
        if ((nfd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || setns(nfd, CLONE_NEWNET) < 0)
                CHILD_FAIL(errno, "cannot join the container's network namespace");
        /* loopback only, and up (lxc.net.0.type empty, flags up) */
        if (!(ifs = if_nameindex()))
                CHILD_FAIL(errno, "cannot list the container's network interfaces");
        for (struct if_nameindex *i = ifs; i->if_index; i++)
                if (strcmp(i->if_name, "lo") != 0)
                        CHILD_FAIL(EPERM,
                                   "the container's network namespace has the interface %s "
                                   "besides lo",
                                   i->if_name);
        l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (l < 0)
                CHILD_FAIL(errno, "cannot make a socket in the container's network namespace");
        struct ifreq ifr = {};
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
        if (ioctl(l, SIOCGIFFLAGS, &ifr) < 0 || !(ifr.ifr_flags & IFF_UP))
                CHILD_FAIL(ENETDOWN, "the container's loopback is not up");
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons(port),
                                  .sin_addr = { htonl(INADDR_LOOPBACK) } };
        if (bind(l, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(l, 128) < 0)
                CHILD_FAIL(errno, "cannot listen on 127.0.0.1:%u in the container",
                           (unsigned) port);
send:;
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } u = {};
        struct iovec iov = { .iov_base = &rep, .iov_len = sizeof(rep) };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
        if (rep.err == 0) {
                m.msg_control = u.buf;
                m.msg_controllen = sizeof(u.buf);
                struct cmsghdr *c = CMSG_FIRSTHDR(&m);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &l, sizeof(int));
        }
        _exit(sendmsg(fd, &m, MSG_NOSIGNAL) == (ssize_t) sizeof(rep) ? 0 : 1);
#undef CHILD_FAIL
}

/* The proxy's listener 127.0.0.1:PORT in the network namespace of the gate (the command's),
 * made by a child of this process that joins it; *ret_fd is this process's copy, to hand to
 * the proxy and close. -errno, err naming the step. */
static int egress_listener(pid_t init, pid_t gate, uint16_t port, int *ret_fd, char *err,
                           size_t size) {
        char a[64], b[64], la[64] = "", lb[64] = "";
        EgressReply rep = {};
        int sv[2], st, r = 0;

        snprintf(a, sizeof(a), "/proc/%d/ns/net", (int) init);
        snprintf(b, sizeof(b), "/proc/%d/ns/net", (int) gate);
        if (readlink(a, la, sizeof(la) - 1) < 0 || readlink(b, lb, sizeof(lb) - 1) < 0 ||
            strcmp(la, lb) != 0) {
                snprintf(err, size,
                         "egress proxy: the command's network namespace is not the container's "
                         "(%s, %s)",
                         la, lb);
                return -EPERM;
        }
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
                r = -errno;
                snprintf(err, size, "egress proxy: socketpair: %s", strerror(errno));
                return r;
        }
        fflush(NULL);
        pid_t c = fork();
        if (c == 0) {
                close(sv[0]);
                egress_child(sv[1], gate, port);
        }
        close(sv[1]);
        if (c < 0) {
                r = -errno;
                close(sv[0]);
                snprintf(err, size, "egress proxy: fork: %s", strerror(-r));
                return r;
        }
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } u = {};
        struct iovec iov = { .iov_base = &rep, .iov_len = sizeof(rep) };
        struct msghdr m = { .msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = u.buf,
                            .msg_controllen = sizeof(u.buf) };
        ssize_t n = recvmsg(sv[0], &m, MSG_CMSG_CLOEXEC);
        int e = errno;
        close(sv[0]);
        while (waitpid(c, &st, 0) < 0 && errno == EINTR)
                ;
        struct cmsghdr *cm = n == (ssize_t) sizeof(rep) ? CMSG_FIRSTHDR(&m) : NULL;
        if (n != (ssize_t) sizeof(rep)) {
                snprintf(err, size, "egress proxy: the helper that makes the listener ended: %s",
                         n < 0 ? strerror(e) : "no answer");
                return -EPIPE;
        }
        rep.what[sizeof(rep.what) - 1] = '\0';
        if (rep.err) {
                snprintf(err, size, "egress proxy: %s: %s", rep.what, strerror(rep.err));
                return -rep.err;
        }
        if (!cm || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(int))) {
                snprintf(err, size, "egress proxy: no listener came back");
                return -EPIPE;
        }
        memcpy(ret_fd, CMSG_DATA(cm), sizeof(int));
        return 0;
}

/* ---- what the audit record says of each control ------------------------------------------ */

/* The plan's control a host or gate check names (its message's first word). */
static const char *check_control(const char *msg) {
        static const struct {
                const char *prefix, *control;
        } map[] = {
                { "userns", "userns" },
                { "/proc/self/uid_map", "userns" },
                { "/proc/self/gid_map", "userns" },
                { "mntns", "mountns" },
                { "pidns", "pidns" },
                { "netns", "netns" },
                { "ipcns", "ipcns" },
                { "utsns", "utsns" },
                { "cgroupns", "cgroupns" },
                { "timens", "timens" },
                { "no_new_privs", "no_new_privs" },
                { "seccomp", "seccomp" },
                { "caps", "caps" },
                { "CapBnd", "caps" },
                { "CapPrm", "caps" },
                { "CapEff", "caps" },
                { "CapAmb", "caps" },
                { "rlimits", "rlimits" },
                { "cgroup memory", "cgroup.memory" },
                { "cgroup pids", "cgroup.pids" },
                { "cgroup cpu", "cgroup.cpu" },
                { "apparmor", "apparmor" },
                { "selinux", "selinux" },
                { "landlock", "landlock" },
                { "egress proxy", "egress.proxy" },
        };
        for (size_t i = 0; msg && i < ELEMENTSOF(map); i++)
                if (strncmp(msg, map[i].prefix, strlen(map[i].prefix)) == 0)
                        return map[i].control;
        return NULL;
}

/* Per control, indexed like p->controls: after the host's and the gate's checks passed, every
 * planned control is applied (degraded where the plan says so); a failed check marks its
 * control failed and the rest not reached (the command never ran). */
static void set_outcomes(const Plan *p, RunOutcome *o, bool verified, const char *failed) {
        if (!verified && !failed)
                return; /* ended before any check: recorded as not reported */
        o->controls = calloc(p->n_controls ? p->n_controls : 1, sizeof(ControlOutcome));
        if (!o->controls)
                return;
        o->n_controls = p->n_controls;
        for (size_t i = 0; i < p->n_controls; i++) {
                const PlanControl *c = &p->controls[i];
                if (c->status == CONTROL_NOT_APPLICABLE)
                        o->controls[i] = CONTROL_OUTCOME_NOT_APPLICABLE;
                else if (failed)
                        o->controls[i] = strcmp(c->name, failed) == 0 ? CONTROL_OUTCOME_FAILED
                                                                      : CONTROL_OUTCOME_NOT_REACHED;
                else if (c->status == CONTROL_DEGRADED)
                        o->controls[i] = CONTROL_OUTCOME_DEGRADED;
                else
                        o->controls[i] = CONTROL_OUTCOME_APPLIED;
        }
}

/* ---- resources.cpu_time ---------------------------------------------------------------------- */

/* As the sandbox tier's watcher (launcher/sandbox/sandbox.c): the container's CPU time grows by
 * at most the host's CPU count per second, so the next read comes when the rest of the budget
 * could be spent at the earliest, between 1 and 50 ms. */
static uint64_t cpu_poll_ms(const Plan *p, uint64_t used_ns) {
        static long width;
        uint64_t limit = p->resources.cpu_time_ms * 1000000ULL;
        uint64_t left = used_ns < limit ? limit - used_ns : 0;
        if (!width)
                width = MAX(sysconf(_SC_NPROCESSORS_ONLN), 1L);
        return MAX((uint64_t) 1, MIN(left / (uint64_t) width / 1000000ULL, (uint64_t) 50));
}

/* The CPU accounting of the container's whole cgroup (moat-ID/payload: pid 1, the command, and
 * in boot mode every service), in the plan's hierarchy (v1 cpuacct.usage, v2 cpu.stat). */
static int cpu_usage_open(const Plan *p, const Run *run, pid_t init, char *err, size_t size) {
        bool v2 = p->resources.mechanism == CGROUP_MECH_V2;
        char dir[2048], tail[64], path[2200];
        int fd;

        if (p->resources.mechanism != CGROUP_MECH_V1 && !v2) {
                snprintf(err, size,
                         "cpu_time: the plan has no cgroup to account the container's "
                         "CPU time in");
                return -EOPNOTSUPP;
        }
        if (cgroup_dir(init, v2 ? "" : "cpuacct", dir, sizeof(dir)) < 0) {
                snprintf(err, size, "cpu_time: the container is in no %s cgroup",
                         v2 ? "v2" : "cpuacct");
                return -ENOENT;
        }
        snprintf(tail, sizeof(tail), "/moat-%s/payload", run->id);
        char *at = strstr(dir, tail);
        if (!at) {
                snprintf(err, size, "cpu_time: the container's cgroup %.300s is not the run's",
                         dir);
                return -ENOENT;
        }
        at[strlen(tail)] = '\0';
        snprintf(path, sizeof(path), "%s/%s", dir, v2 ? "cpu.stat" : "cpuacct.usage");
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                snprintf(err, size, "cpu_time: cannot open %.300s: %s", path, strerror(errno));
                return -errno;
        }
        return fd;
}

/* ---- the executor -------------------------------------------------------------------------- */

/* What system_execute() concludes once the run is over: the outcome, the controls' outcomes,
 * tier_detail and the wall time. */
typedef struct {
        int status;             /* the command's (boot mode) or pid 1's, else the runner's */
        bool verified;          /* moat's checks passed and the gate was released */
        const char *runner_msg; /* what the runner wrote on its error pipe, or NULL */
        const char *failed_control;
        bool ready, stop_forced; /* systemd: READY=1 seen; killed after the grace period */
        uint64_t ready_ms, start;
} Conclusion;

static void conclude(const Plan *p, const RunRequest *req, const Run *run, RunOutcome *o,
                     Conclusion *c) {
        /* the runner's note that liblxc's setup process died before it configured the
         * container and the start was made again (lxc-run.c) */
        char note[PATH_MAX];
        snprintf(note, sizeof(note), "%s/setup-retried", run->dir);
        bool setup_retried = access(note, F_OK) == 0;
        if (setup_retried && !req->quiet)
                fprintf(stderr,
                        "moat: liblxc's setup process died before it set up the container "
                        "(its id-map race; a \"free(): invalid pointer\" above is its "
                        "abort): the container was started again\n");
        _cleanup_free_ char *sp = NULL;
        char gate_msg[512] = "";
        if (asprintf(&sp, "%s/status", run->dir) >= 0)
                (void) read_line(sp, gate_msg, sizeof(gate_msg));
        if (o->failed_step[0]) {
                /* already failed (verification, start) */
        } else if (c->runner_msg) {
                char le[384];
                lxc_log_error(run->dir, le, sizeof(le));
                fail(o, "lxc start", 0, "%s%s%s", c->runner_msg, le[0] ? "; liblxc: " : "", le);
        } else if (gate_msg[0] && c->status == 125) {
                /* the gate writes it before exiting 125; a command that writes there
                 * itself can only misreport its own run */
                snprintf(o->message, sizeof(o->message), "system gate: %s", gate_msg);
                c->failed_control = check_control(gate_msg);
                snprintf(o->failed_step, sizeof(o->failed_step), "gate");
                o->started = false;
                o->exit_status = 125;
        } else if (o->cpu_time_exceeded || o->output_exceeded) {
                /* the container was killed at the budget: as the sandbox tier */
                o->started = c->verified;
                o->exit_status = 128 + SIGKILL;
                o->signal = SIGKILL;
        } else if (o->timed_out) {
                o->started = c->verified;
                o->exit_status = 128 + SIGKILL;
                o->signal = SIGKILL;
        } else if (!c->verified) {
                char le[384];
                lxc_log_error(run->dir, le, sizeof(le));
                fail(o, "start", 0,
                     "the container ended (status %d) before moat could verify it%s%s", c->status,
                     le[0] ? "; liblxc: " : "", le);
        } else {
                o->started = true;
                o->exit_status = c->status;
                if (c->status > 128 && c->status < 128 + 65) {
                        o->signal = c->status - 128;
                        o->exit_code = -1;
                } else
                        o->exit_code = c->status;
        }
        set_outcomes(p, o, c->verified && o->started, c->failed_control);
        char sd[96] = "";
        if (run->systemd)
                snprintf(sd, sizeof(sd), " (systemd, %s%" PRIu64 " ms%s)",
                         c->ready ? "ready at " : "not ready after ",
                         c->ready ? c->ready_ms : now_ms() - c->start,
                         c->stop_forced ? ", killed after the stop grace period" : "");
        snprintf(o->tier_detail, sizeof(o->tier_detail), "%s%s%s, %s map at %u, image sha256:%s%s",
                 p->system.boot ? "boot mode, init " : "command mode",
                 p->system.boot ? p->system.init : "", sd, run->count == 1 ? "single-uid" : "range",
                 run->base, p->system.image_digest,
                 setup_retried ? ", started twice: liblxc's setup process died at its start" : "");
        o->wall_ns = (now_ms() - c->start) * 1000000ULL;
}

int system_execute(const Plan *p, const RunRequest *req, RunOutcome *o) {
        Run run = { .guard = { .fd = -EBADF },
                    .err_fd = -EBADF,
                    .go_fd = -EBADF,
                    .ready_fd = -EBADF,
                    .exit_fd = -EBADF,
                    .notify_fd = -EBADF };
        LxcConfig cfg = {};
        ImageInfo img = {};
        _cleanup_free_ char *seccomp_err = NULL;
        char err[512], gate[4096], helper[4096];
        char **envp = NULL, **argv = NULL;
        uint64_t start = now_ms();
        int cfg_fd = -EBADF; /* moat-system-run's configuration, until it is written */
        int r, status = 125, sfd = -EBADF, pidfd = -EBADF, apidfd = -EBADF, cmd_status = 125;
        int attach_go = -EBADF; /* boot mode: the attacher's go, until it is written */
        int init_status = -1;   /* command mode: pid 1's exit status from liblxc's monitor fifo */
        pid_t attacher = 0, cmd_pid = 0, init_pid = 0;
        bool synced = false;
        char runner_msg[512];  /* what the runner wrote on its error pipe */
        ssize_t runner_n = -1; /* its length, -1: not read yet */
        OutputRelay relay;
        int cpu_fd = -EBADF; /* resources.cpu_time: the container's CPU accounting */
        int net_fd = -EBADF; /* network outbound: the proxy's decision records */
        pid_t net_pid = 0;   /* and the proxy */
        uint64_t cpu_next = 0;
        bool verified = false, killed = false, ready = false, stop_forced = false;
        uint64_t stop_deadline = 0, ready_ms = 0;
        const char *fault_name = getenv("MOAT_SYSTEM_FAULT"), *failed_control = NULL;
        const Fault *fault = NULL;
        bool gate_filter = true; /* command mode: the gate stacks the plan's filter */
        bool gate_waits = false; /* command mode: the gate wrote its byte on ready */
        sigset_t old;

        o->exit_status = 125;
        o->exit_code = -1;
        sandbox_output_init(&relay);
        if (!p->system.image_name)
                return fail(o, "image", 0,
                            "the system tier runs images of the store: name one in "
                            "filesystem.root.image (moat image import NAME TARBALL), not a "
                            "directory (%s)",
                            p->system.image ? p->system.image : "none");
        r = image_lookup(p->system.image_name, &img);
        if (r < 0 || strcmp(img.digest, p->system.image_digest) != 0) {
                image_info_done(&img);
                return fail(o, "image", r < 0 ? -r : 0, "image %s: %s", p->system.image_name,
                            r < 0 ? strerror(-r) : "it changed since the plan was made");
        }
        if (geteuid() == 0) {
                if (!p->system.range_map) {
                        image_info_done(&img);
                        return fail(o, "userns", 0, "userns: the plan was made for another user");
                }
                r = reserved_range(&run.base);
                if (r < 0) {
                        image_info_done(&img);
                        return fail(o, "userns", -r,
                                    "userns: cannot reserve the id range in " SUBID_FILE ": %s",
                                    strerror(-r));
                }
                run.gbase = run.base;
                run.count = RANGE;
                /* the first run on a new range copies and shifts the image (once) */
                r = image_shifted(&img, run.base, &run.lower);
                if (r < 0) {
                        image_info_done(&img);
                        return fail(o, "image", -r,
                                    "image %s: cannot make its copy for ids %u+: %s", img.name,
                                    run.base, strerror(-r));
                }
        } else {
                struct stat st;
                if (p->system.range_map) {
                        image_info_done(&img);
                        return fail(o, "userns", 0,
                                    "userns: a range map needs root here (no newuidmap): the "
                                    "plan was made for root");
                }
                if (p->sandbox.uid_inside != 0 || p->sandbox.gid_inside != 0) {
                        image_info_done(&img);
                        return fail(o, "userns", 0,
                                    "userns: uid %u gid %u inside needs a range map of several "
                                    "ids, which only root can set up on this host (no "
                                    "newuidmap); a user's container has uid 0 only",
                                    (unsigned) p->sandbox.uid_inside,
                                    (unsigned) p->sandbox.gid_inside);
                }
                run.base = getuid();
                run.gbase = getgid();
                run.count = 1;
                if (stat(img.rootfs, &st) < 0 || st.st_uid != getuid()) {
                        image_info_done(&img);
                        return fail(o, "image", 0,
                                    "image %s: with a single-uid map every file must be yours; "
                                    "import it as this user",
                                    img.name);
                }
                run.lower = strdup(img.rootfs);
        }
        image_info_done(&img);
        if (!run.lower)
                return -ENOMEM;
        /* with a range map, container root is another host uid: it must be able to reach the
         * image's copy, or liblxc's overlay mount fails with a bare EACCES */
        if (run.count > 1) {
                _cleanup_free_ char *walk = strdup(run.lower);
                struct stat st;
                for (char *sl = walk; sl;) {
                        sl = strchr(sl + 1, '/');
                        if (sl)
                                *sl = '\0';
                        if (stat(walk[0] ? walk : "/", &st) == 0 && !(st.st_mode & S_IXOTH) &&
                            st.st_uid != run.base) {
                                fail(o, "image", EACCES,
                                     "image %s: %s is not searchable by others (mode %o), so the "
                                     "container's root (host uid %u) cannot reach the image",
                                     p->system.image_name, walk, st.st_mode & 07777, run.base);
                                free(run.lower);
                                return 0;
                        }
                        if (sl)
                                *sl = '/';
                }
        }

        if (p->system.boot) {
                r = boot_init_check(run.lower, p->system.init, err, sizeof(err));
                if (r < 0) {
                        fail(o, "boot", 0, "%s", err);
                        free(run.lower);
                        return 0;
                }
                run.systemd = r > 0;
        }
        /* systemd needs a writable cgroup of its own (a user's needs one delegated by root) and
         * the services of a distribution several ids: root's range map */
        if (run.systemd && run.count == 1) {
                fail(o, "boot", 0,
                     "boot mode: the image's init %s is systemd, which moat boots as root only "
                     "(a range map of ids and a cgroup subtree of its own); as a user, use "
                     "os.init: none (command mode) or a small init",
                     p->system.init);
                free(run.lower);
                return 0;
        }
        /* the container's root owns systemd's private socket (/run/systemd/private, 0700): a
         * command as uid 0, without a capability, could still have systemd start a unit, which
         * runs under systemd's confinement, not the plan's (seen: systemctl link + start) */
        if (run.systemd && p->sandbox.uid_inside == 0) {
                fail(o, "boot", 0,
                     "boot mode: the image's init %s is systemd, and the command would run as the "
                     "container's root (uid 0, the default when the profile names no uid), which "
                     "can have systemd start a unit under systemd's confinement instead of the "
                     "plan's; give the profile a uid other than 0 (a user of the image, e.g. "
                     "uid: 33) or use os.init: none (command mode)",
                     p->system.init);
                free(run.lower);
                return 0;
        }
        /* systemd runs in a user namespace that the container's root makes (gate.c
         * lock_mounts()), which Debian's kernel.unprivileged_userns_clone 0 forbids to anyone
         * without CAP_SYS_ADMIN in the host's initial namespace: refused here, before anything
         * is made, rather than by pid 1 once the container is up (which the fault "userns"
         * shows: the gate refuses too) */
        if (run.systemd && !(fault_name && strcmp(fault_name, "userns") == 0)) {
                char v[16] = "";
                if (read_line("/proc/sys/kernel/unprivileged_userns_clone", v, sizeof(v)) == 0 &&
                    strcmp(v, "0") == 0) {
                        fail(o, "boot", 0,
                             "boot mode: the image's init %s is systemd, which moat runs in a "
                             "user namespace of its own made by the container's root (so that "
                             "moat's read-only mounts and /proc masks are locked against "
                             "systemd's services), and this host's "
                             "kernel.unprivileged_userns_clone is 0, which gives user namespaces "
                             "to the host's root only; set it to 1 or use os.init: none "
                             "(command mode)",
                             p->system.init);
                        free(run.lower);
                        return 0;
                }
        }
        if (run.systemd) {
                char cl[16] = "";
                if (read_line("/proc/sys/kernel/cap_last_cap", cl, sizeof(cl)) < 0) {
                        fail(o, "caps", errno, "cannot read cap_last_cap");
                        free(run.lower);
                        return 0;
                }
                run.cap_last = (unsigned) strtoul(cl, NULL, 10);
        }
        if ((r = id128_random_machine_id(run.id, sizeof(run.id))) < 0)
                goto out_nomem;
        char why[768] = "";
        r = prepare_dir(&run, why, sizeof(why));
        if (r < 0) {
                if (run.dir)
                        (void) lxc_run_cleanup(run.id, run.dir, run.cgroups);
                if (why[0])
                        fail(o, "run directory", -r, "%s", why);
                else
                        fail(o, "run directory", -r, "cannot prepare the run directory: %s",
                             strerror(-r));
                goto out;
        }

        /* The guard first: from here on whatever the run leaves is its to remove. */
        int ep[2], cp[2];
        self_dir_file("moat-system-run", helper, sizeof(helper));
        r = guard_start(helper, run.id, run.dir, &run.guard);
        if (r < 0) {
                fail(o, "fork", -r, "cannot start the guard: %s", strerror(-r));
                goto out_rm;
        }

        /* resources.output: the command's stdout and stderr through pipes this process relays
         * and counts (the sandbox tier's relay, launcher/sandbox/output.c); the guard has none
         * of them */
        if (p->resources.output_bytes) {
                r = sandbox_output_prepare(&relay, p->resources.output_bytes);
                if (r < 0) {
                        fail(o, "output", -r, "resources.output: cannot make the relay: %s",
                             strerror(-r));
                        goto out_guard;
                }
                /* until the command can run, what comes through is liblxc's and the gate's
                 * (a setup process's abort, lxc-run.c): passed on, not the command's count */
                sandbox_output_hold_count(&relay);
                (void) signal(SIGPIPE, SIG_IGN);
        }

        sigset_t fwd;
        sys_signal_forwarded_set(&fwd);
        sfd = sys_signal_block_fd(&fwd, &old);
        if (sfd < 0) {
                fail(o, "signals", -sfd, "signalfd: %s", strerror(-sfd));
                goto out_guard;
        }
        /* The runner next: it execs moat-system-run and loads liblxc while this process writes
         * the run directory and makes the keys, then waits for them on the pipe. moat run
         * started it already, as soon as the profile asked for this tier (cmd-run.c), unless
         * the command's output goes through the relay: its stdio is then the relay's. */
        pid_t self = getpid();
        SystemRunner *pre = req->system_runner;
        if (pre && pre->pid > 0 && p->resources.output_bytes && !p->system.boot)
                system_runner_discard(pre);
        if (pre && pre->pid > 0) {
                run.runner = pre->pid;
                cfg_fd = pre->cfg_fd;
                run.err_fd = pre->err_fd;
                *pre = (SystemRunner){ .cfg_fd = -EBADF, .err_fd = -EBADF };
        } else {
                if (pipe2(ep, O_CLOEXEC) < 0 || pipe2(cp, O_CLOEXEC) < 0) {
                        fail(o, "pipe", errno, "pipe: %s", strerror(errno));
                        goto out_guard;
                }
                run.runner = helper_spawn(self, helper, "start", cp[0], ep[1], !p->system.boot,
                                          &relay, &old);
                if (run.runner < 0) {
                        fail(o, "fork", errno, "cannot start %s: %s", helper, strerror(errno));
                        goto out_guard;
                }
                close(ep[1]);
                close(cp[0]);
                cfg_fd = cp[1];
                run.err_fd = ep[0];
        }
        if (!p->system.boot) /* boot mode: the attacher, forked later, takes them */
                sandbox_output_close_child_ends(&relay);
        pidfd = (int) syscall(SYS_pidfd_open, run.runner, 0);
        if (pidfd < 0) {
                (void) kill(run.runner, SIGKILL);
                killed = true;
                fail(o, "pidfd", errno, "pidfd_open: %s", strerror(errno));
                goto out_wait;
        }

        r = prepare(p, &run, o, &seccomp_err);
        if (r < 0) {
                (void) kill(run.runner, SIGKILL);
                killed = true;
                if (!o->failed_step[0]) /* else prepare() named the control itself */
                        fail(o, seccomp_err ? "seccomp" : "run directory", -r, "%s%s%s",
                             seccomp_err ? seccomp_err : "cannot prepare the run directory",
                             seccomp_err ? "" : ": ", seccomp_err ? "" : strerror(-r));
                goto out_wait;
        }

        LxcParams params = {
                .run_dir = run.dir,
                .lower = run.lower,
                .gate = self_dir_file("moat-system-gate", gate, sizeof(gate)),
                .workdir = req->workdir,
                .id = run.id,
                .uid_base = run.base,
                .gid_base = run.gbase,
                .id_count = run.count,
                .layout = CGROUP_LAYOUT_NONE,
                .target_kind = target_kind,
                .userdata = run.lower,
                .systemd = run.systemd,
                .cap_last = run.cap_last,
        };
        {
                /* the layout only: which family of cgroup keys liblxc will honour */
                struct stat st;
                if (stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0)
                        params.layout = CGROUP_LAYOUT_V2;
                else if (stat("/sys/fs/cgroup/unified/cgroup.controllers", &st) == 0)
                        params.layout = CGROUP_LAYOUT_HYBRID;
                else if (stat("/sys/fs/cgroup/memory", &st) == 0)
                        params.layout = CGROUP_LAYOUT_V1;
                char mnt[512], f[600], yes[8] = "";
                /* the test liblxc's AppArmor driver makes (lsm/apparmor.c) */
                params.apparmor_enabled = read_line("/sys/module/apparmor/parameters/enabled", yes,
                                                    sizeof(yes)) >= 0 &&
                                          yes[0] == 'Y';
                if (cgroup_mount("memory", mnt, sizeof(mnt)) >= 0) {
                        snprintf(f, sizeof(f), "%s/memory.memsw.limit_in_bytes", mnt);
                        params.has_memsw = access(f, F_OK) == 0;
                }
        }
        if (access(params.gate, X_OK) < 0) {
                (void) kill(run.runner, SIGKILL);
                killed = true;
                fail(o, "gate", errno, "the system gate %s is missing: %s", params.gate,
                     strerror(errno));
                goto out_wait;
        }
        r = lxc_config_build(p, &params, &cfg, err, sizeof(err));
        if (r < 0) {
                (void) kill(run.runner, SIGKILL);
                killed = true;
                fail(o, "lxc config", -r, "%s", r == -EOPNOTSUPP ? err : strerror(-r));
                goto out_wait;
        }
        if (fault_name && fault_name[0]) {
                fault = fault_find(fault_name);
                /* command mode has no liblxc seccomp key: the filter missing is the gate not
                 * stacking it (what a caller's filter without nesting was to liblxc, P4) */
                if (fault && lxc_gate_loads_filter(p) &&
                    (strcmp(fault->name, "seccomp") == 0 ||
                     strcmp(fault->name, "seccomp-nesting") == 0))
                        gate_filter = false;
                else if (fault && strcmp(fault->name, "userns") == 0)
                        r = run.systemd ? 0 : -ENOENT; /* the refusal before start is systemd's */
                else
                        r = fault ? fault_apply(fault, &cfg) : -EINVAL;
                if (r < 0) {
                        (void) kill(run.runner, SIGKILL);
                        killed = true;
                        fail(o, "MOAT_SYSTEM_FAULT", -r, "MOAT_SYSTEM_FAULT=%s: %s", fault_name,
                             !fault         ? "no such fault"
                             : r == -ENOENT ? "this plan has no such key to make fail"
                                            : strerror(-r));
                        goto out_wait;
                }
        }
        r = sandbox_env_build(p, req->caller_env, &envp);
        if (r < 0 || !(argv = gate_argv(p, req, &run, envp, !fault, gate_filter))) {
                (void) kill(run.runner, SIGKILL);
                killed = true;
                fail(o, "env", ENOMEM, "out of memory");
                goto out_wait;
        }
        {
                Blob b = {};
                _cleanup_free_ char *use = cgroup_use(p, &run);
                blob_head(&b, p->system.boot ? "boot" : "command", run.dir, use ? use : "", 0, 0);
                blob_num(&b, cfg.n_keys);
                for (size_t i = 0; i < cfg.n_keys; i++) {
                        blob_add(&b, cfg.keys[i].key);
                        blob_add(&b, cfg.keys[i].value);
                }
                blob_argv(&b, argv);
                r = blob_send(cfg_fd, &b);
                cfg_fd = -EBADF;
                free(b.buf);
                if (r < 0) {
                        /* the runner is gone (its error says why) or moat is out of memory */
                        (void) kill(run.runner, SIGKILL);
                        killed = true;
                        if (r == -ENOMEM)
                                fail(o, "lxc config", ENOMEM, "out of memory");
                        goto out_wait;
                }
        }

        uint64_t deadline = p->resources.timeout_ms ? start + p->resources.timeout_ms : 0;
        bool boot = p->system.boot;
        for (;;) {
                /* negative descriptors (no attacher yet, no systemd) are ignored by poll */
                struct pollfd pf[9] = { { .fd = pidfd, .events = POLLIN },
                                        { .fd = sfd, .events = POLLIN },
                                        { .fd = apidfd, .events = POLLIN },
                                        { .fd = ready ? -1 : run.notify_fd, .events = POLLIN },
                                        [6] = { .fd = verified || killed ? -1 : run.ready_fd,
                                                .events = POLLIN },
                                        [7] = { .fd = boot ? -1 : run.exit_fd, .events = POLLIN },
                                        [8] = { .fd = net_fd, .events = POLLIN } };
                /* command mode waits for the gate's byte on ready (and the runner's pidfd,
                 * signals, the exit fifo): no need to look every 5 ms as boot mode does for
                 * its init and attacher */
                int ms = verified ? 1000 : boot || gate_waits ? 5 : 50;
                uint64_t t = now_ms();
                sandbox_output_pollfds(&relay, &pf[4]);
                if (cpu_next && cpu_next > t && cpu_next - t < (uint64_t) ms)
                        ms = (int) (cpu_next - t);
                else if (cpu_next && cpu_next <= t)
                        ms = 0;
                if (deadline && deadline > t && deadline - t < (uint64_t) ms)
                        ms = (int) (deadline - t);
                if (stop_deadline && stop_deadline > t && stop_deadline - t < (uint64_t) ms)
                        ms = (int) (stop_deadline - t);
                int n = poll(pf, 9, ms);
                if (n < 0 && errno != EINTR)
                        break;
                /* the proxy gone mid-run: the container keeps its loopback and nothing else */
                if (n > 0 && pf[8].revents && !net_records_drain(net_fd, &o->network)) {
                        net_fd = safe_close(net_fd);
                        o->network.proxy_died = true;
                }
                if (n > 0 && (pf[6].revents & POLLIN)) {
                        /* the gate waits: drain the hint, the checks below run now */
                        char drain[64];
                        while (read(run.ready_fd, drain, sizeof(drain)) > 0)
                                ;
                        gate_waits = true;
                }
                if (n > 0 && (pf[7].revents & POLLIN)) {
                        struct lxc_monitor_msg m;
                        while (read(run.exit_fd, &m, sizeof(m)) == (ssize_t) sizeof(m))
                                if (m.type == LXC_MSG_EXIT_CODE && verified && !killed &&
                                    WIFEXITED(m.value)) {
                                        init_status = WEXITSTATUS(m.value);
                                        (void) kill(run.runner, SIGKILL);
                                        killed = true;
                                }
                        /* nothing more to relay or to hear from the proxy: the outcome is final
                         * now, concluded while the runner dies (out_wait) */
                        if (init_status >= 0 && !relay.active && net_pid <= 0)
                                break;
                }
                if (n > 0 && relay.active && !relay.exceeded &&
                    sandbox_output_handle(&relay, &pf[4]) == 1) {
                        /* a byte past the cap: the whole container, as the sandbox's tree */
                        o->output_exceeded = true;
                        (void) kill(run.runner, SIGKILL);
                        killed = true;
                        stop_deadline = 0;
                }
                if (cpu_next && now_ms() >= cpu_next && !o->cpu_time_exceeded) {
                        uint64_t used = 0;
                        int cr = sys_cgroup_cpu_usage_read(cpu_fd, p->resources.mechanism, &used);
                        if (cr >= 0 && used < p->resources.cpu_time_ms * 1000000ULL)
                                cpu_next = now_ms() + cpu_poll_ms(p, used);
                        else if (cr < 0 && init_pid > 0 && kill(init_pid, 0) < 0 && errno == ESRCH)
                                cpu_next = 0; /* the container ended: liblxc removed its cgroup */
                        else {
                                /* past the budget, or the accounting is gone: fail closed */
                                if (cr >= 0)
                                        o->cpu_time_exceeded = true;
                                else
                                        fail(o, "cpu_time", -cr,
                                             "the container's CPU time cannot be read (%s): "
                                             "the run was stopped",
                                             strerror(-cr));
                                (void) kill(run.runner, SIGKILL);
                                killed = true;
                                stop_deadline = 0;
                                cpu_next = 0;
                        }
                }
                if (pf[0].revents & POLLIN)
                        break; /* the container stopped (in boot mode: its init ended) */
                if (n > 0 && (pf[3].revents & POLLIN) && init_pid <= 0)
                        init_pid = first_child(run.runner);
                if (n > 0 && (pf[3].revents & POLLIN) && notify_ready(run.notify_fd, init_pid)) {
                        ready = true;
                        ready_ms = now_ms() - start;
                }
                if (apidfd >= 0 && (pf[2].revents & POLLIN) && attach_go >= 0) {
                        /* the attacher ended before it was told to attach: no command ran */
                        (void) waitpid(attacher, NULL, 0);
                        attacher = 0;
                        apidfd = safe_close(apidfd);
                        attach_go = safe_close(attach_go);
                        (void) kill(run.runner, SIGKILL);
                        killed = true;
                        fail(o, "attach", 0, "the attacher ended before the container was ready");
                        continue;
                }
                if (apidfd >= 0 && (pf[2].revents & POLLIN)) {
                        /* boot mode: the command ended; stop the container (the runner is
                         * liblxc's monitor: its death kills pid 1, and with it the pid
                         * namespace). systemd is asked first (SIGRTMIN+3: halt, which in a
                         * container ends pid 1) and given STOP_GRACE_MS. */
                        int st;
                        if (waitpid(attacher, &st, 0) == attacher)
                                cmd_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                        attacher = 0;
                        apidfd = safe_close(apidfd);
                        cpu_next = 0; /* the command ended: systemd's halt is not its budget */
                        if (run.systemd && init_pid > 0 && !killed &&
                            kill(init_pid, SIGRTMIN + 3) == 0)
                                stop_deadline = now_ms() + STOP_GRACE_MS;
                        else
                                (void) kill(run.runner, SIGKILL);
                        killed = true;
                        continue;
                }
                if (stop_deadline && now_ms() >= stop_deadline) {
                        /* systemd did not halt within the grace period */
                        (void) kill(run.runner, SIGKILL);
                        stop_deadline = 0;
                        stop_forced = true;
                }
                if (pf[1].revents & POLLIN) {
                        int sig = sys_signal_read(sfd);
                        /* to the command (boot mode) or to the gate, pid 1, which passes
                         * it on to the command (command mode); until the gate is released,
                         * to liblxc's monitor, which passes it to pid 1, where it waits for
                         * the command */
                        if (sig > 0)
                                (void) kill(cmd_pid > 0 ? cmd_pid : run.runner, sig);
                }
                t = now_ms();
                if (deadline && t >= deadline && (!killed || stop_deadline)) {
                        /* the timeout is hard, a graceful stop included */
                        stop_deadline = 0;
                        o->timed_out = true;
                        killed = true;
                        (void) kill(run.runner, SIGKILL);
                        continue;
                }
                if (verified || killed)
                        continue;
                pid_t init = first_child(run.runner), g = 0;
                char comm[32] = "", path[64];
                if (init > 0)
                        init_pid = init;
                /* command mode: the gate is exec'd as .moat-gate and stacks the plan's filter
                 * on itself after that: it is checked once it says it waits (before, it would
                 * be found without its filter and the run stopped). Nothing of the workload
                 * runs before the gate: a byte there early only makes the check come early,
                 * and the check fails closed. */
                if (!boot)
                        g = init && gate_waits ? init : 0; /* the gate is pid 1 */
                if (boot && init > 0 && attacher == 0 && has_execd(init, run.runner)) {
                        /* the image's init runs: the attacher starts now and waits for its go
                         * (on fd 4) before it attaches the gate (systemd: as the container's
                         * root; the gate becomes the plan's user, gate.c enter()), so that its
                         * exec and liblxc's load are done while systemd boots */
                        Blob b = {};
                        int ap[2] = { -EBADF, -EBADF }, gp[2] = { -EBADF, -EBADF };
                        blob_head(&b, "attach", run.dir, "",
                                  run.systemd ? 0 : p->sandbox.uid_inside,
                                  run.systemd ? 0 : p->sandbox.gid_inside);
                        blob_num(&b, 0);
                        blob_argv(&b, argv);
                        fflush(NULL);
                        attacher = b.oom || pipe2(ap, O_CLOEXEC) < 0 || pipe2(gp, O_CLOEXEC) < 0
                                           ? -1
                                           : helper_spawn(self, helper, "attach", ap[0], gp[0],
                                                          true, &relay, &old);
                        safe_close(ap[0]);
                        safe_close(gp[0]);
                        attach_go = gp[1];
                        r = attacher > 0 ? blob_send(ap[1], &b) : (safe_close(ap[1]), -ENOMEM);
                        free(b.buf);
                        sandbox_output_close_child_ends(&relay);
                        if (attacher < 0 || r < 0 ||
                            (apidfd = (int) syscall(SYS_pidfd_open, attacher, 0)) < 0) {
                                (void) kill(run.runner, SIGKILL);
                                killed = true;
                                fail(o, "attach", errno, "cannot attach to the container: %s",
                                     strerror(errno));
                                continue;
                        }
                }
                if (boot && attacher > 0 && attach_go >= 0 && (!run.systemd || ready)) {
                        /* the image's init is ready (systemd: READY=1): attach */
                        r = helper_write(attach_go, "g", 1);
                        attach_go = safe_close(attach_go);
                        if (r < 0) {
                                (void) kill(run.runner, SIGKILL);
                                killed = true;
                                fail(o, "attach", -r, "cannot attach to the container: %s",
                                     strerror(-r));
                                continue;
                        }
                } else if (boot && init > 0 && attacher > 0 && attach_go < 0) {
                        /* the attacher's own descendant: a process of the image named so is
                         * not the gate */
                        g = find_in_pidns(init, ".moat-gate");
                        if (g > 0 && !descends_from(g, attacher))
                                g = 0;
                }
                if (g > 0) {
                        snprintf(path, sizeof(path), "/proc/%d/comm", (int) g);
                        (void) read_line(path, comm, sizeof(comm));
                }
                if (g > 0 && strcmp(comm, ".moat-gate") == 0) {
                        cmd_pid = g;
                        /* liblxc's attach does not apply lxc.prlimit.* (pid 1 has them): moat
                         * sets the plan's on the waiting gate, then reads them back below */
                        for (size_t i = 0; boot && i < p->sandbox.n_rlimits; i++) {
                                const PlanRlimit *l = &p->sandbox.rlimits[i];
                                struct rlimit rl = {
                                        .rlim_cur = l->soft == UINT64_MAX ? RLIM_INFINITY : l->soft,
                                        .rlim_max = l->hard == UINT64_MAX ? RLIM_INFINITY : l->hard,
                                };
                                (void) prlimit(g, (__rlimit_resource_t) l->resource, &rl, NULL);
                        }
                        r = verify(p, &run, init, g, err, sizeof(err));
                        if (r < 0) {
                                (void) kill(run.runner, SIGKILL);
                                killed = true;
                                fail(o, "verify", EPERM, "%s (checked from the host)", err);
                                failed_control = check_control(err);
                                continue;
                        }
                        if (fault) {
                                /* the hook can only fail the run: the gate is never released */
                                (void) kill(run.runner, SIGKILL);
                                killed = true;
                                fail(o, "MOAT_SYSTEM_FAULT", 0,
                                     "MOAT_SYSTEM_FAULT=%s was not detected by the host's checks",
                                     fault->name);
                                continue;
                        }
                        if (p->resources.cpu_time_ms) {
                                cpu_fd = cpu_usage_open(p, &run, init, err, sizeof(err));
                                if (cpu_fd < 0) {
                                        (void) kill(run.runner, SIGKILL);
                                        killed = true;
                                        fail(o, "verify", -cpu_fd, "%s", err);
                                        failed_control = "cpu_time";
                                        continue;
                                }
                                cpu_next = now_ms();
                        }
                        if (p->egress.active) {
                                /* the listener in the container's network namespace and moat's
                                 * proxy on it, before the command exists */
                                int lfd = -EBADF;
                                r = egress_listener(init, g, p->egress.proxy_port, &lfd, err,
                                                    sizeof(err));
                                if (r >= 0) {
                                        r = net_proxy_spawn(&p->egress, lfd, &net_pid, &net_fd);
                                        safe_close(lfd);
                                        if (r < 0)
                                                snprintf(err, sizeof(err),
                                                         "egress proxy: cannot start moat's "
                                                         "proxy: %s",
                                                         r == -ENOENT ? "/etc/resolv.conf names "
                                                                        "no nameserver"
                                                                      : strerror(-r));
                                }
                                if (r < 0) {
                                        (void) kill(run.runner, SIGKILL);
                                        killed = true;
                                        fail(o, "egress proxy", -r, "%s", err);
                                        failed_control = "egress.proxy";
                                        continue;
                                }
                                o->network.active = true;
                        }
                        verified = true;
                        /* the gate waits for its go: from here the relay is the command's */
                        if (relay.active)
                                sandbox_output_count_from_now(&relay);
                        if (write(run.go_fd, "g", 1) != 1) {
                                (void) kill(run.runner, SIGKILL);
                                killed = true;
                                fail(o, "verify", errno, "cannot release the gate: %s",
                                     strerror(errno));
                        } else {
                                /* the command runs: the audit record's writer gets ready,
                                 * and the list of the run's cgroups for the end */
                                if (req->hooks && req->hooks->started)
                                        req->hooks->started(req->hooks->userdata);
                                run.cgroups = malloc(sizeof(*run.cgroups));
                                if (run.cgroups)
                                        lxc_run_cgroups(run.id, run.cgroups);
                        }
                } else if (t - start > VERIFY_TIMEOUT_MS) {
                        (void) kill(run.runner, SIGKILL);
                        killed = true;
                        if (run.systemd && !ready)
                                fail(o, "start", ETIMEDOUT,
                                     "systemd did not report that it finished booting (READY=1) "
                                     "within %d s",
                                     VERIFY_TIMEOUT_MS / 1000);
                        else
                                fail(o, "start", ETIMEDOUT,
                                     "the container did not reach the gate within %d s",
                                     VERIFY_TIMEOUT_MS / 1000);
                }
        }

out_wait:
        if (attacher > 0) {
                /* boot mode, the container ended first (or the run was stopped) */
                int st;
                (void) kill(attacher, SIGKILL);
                if (waitpid(attacher, &st, 0) == attacher && !killed)
                        cmd_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        /* Command mode, pid 1's exit status from liblxc's monitor and nothing else of the run
         * to come (no relay, no proxy, no budget or timeout hit, no message from the runner):
         * the outcome is final before the runner, killed above, is gone. It is recorded and
         * synced while the runner dies, taking the container's last namespaces with it (its
         * descriptors hold them: the mounts go as they close), and is reaped and the run
         * removed on a thread: some 0.5 ms here, before, one after the other. */
        Reaper reaper = { .run = &run };
        if (!p->system.boot && init_status >= 0 && verified && killed && !o->failed_step[0] &&
            !relay.active && net_pid <= 0 && !o->cpu_time_exceeded && !o->output_exceeded &&
            !o->timed_out && fcntl(run.err_fd, F_SETFL, O_NONBLOCK) == 0) {
                runner_n = read(run.err_fd, runner_msg, sizeof(runner_msg) - 1);
                pthread_t t;
                /* else the runner said something after all: concluded below, with its words */
                if (runner_n <= 0 && (runner_n == 0 || errno == EAGAIN)) {
                        runner_n = 0;
                        /* before the thread: the gate's status is read from the run directory */
                        conclude(p, req, &run, o,
                                 &(Conclusion){ .status = init_status,
                                                .verified = true,
                                                .failed_control = failed_control,
                                                .start = start });
                        bool threaded = pthread_create(&t, NULL, reap_thread, &reaper) == 0;
                        if (req->hooks && req->hooks->finished)
                                req->hooks->finished(o, req->hooks->userdata);
                        if (req->hooks && req->hooks->waiting)
                                req->hooks->waiting(req->hooks->userdata);
                        synced = true;
                        if (threaded)
                                (void) pthread_join(t, NULL);
                        run.cleaned = reaper.reaped;
                }
                (void) fcntl(run.err_fd, F_SETFL, 0);
        }
        for (; !reaper.reaped;) {
                int st;
                if (waitpid(run.runner, &st, 0) >= 0) {
                        status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                        break;
                }
                if (errno != EINTR)
                        break;
        }
        net_helper_stop(&net_pid, &net_fd, &o->network, NET_STOP_MS);
        if (p->system.boot)
                status = cmd_status; /* the command's, not the init's */
        else if (init_status >= 0)
                status = init_status; /* the runner was killed once it had it */
        /* what the command wrote before it ended: every writer is gone (the container with its
         * pid namespace, the runner, the attacher), so the pipes reach their end */
        sandbox_output_close_child_ends(&relay);
        while (relay.active && !relay.exceeded && sandbox_output_open(&relay)) {
                struct pollfd rp[2];
                sandbox_output_pollfds(&relay, rp);
                if (poll(rp, 2, 1000) <= 0 && errno != EINTR)
                        break;
                if (sandbox_output_handle(&relay, rp) == 1) {
                        o->output_exceeded = true;
                        break;
                }
        }
        if (o->output_exceeded && !req->quiet)
                fprintf(stderr,
                        "moat: the command wrote more than resources.output (%" PRIu64
                        " bytes): stopped\n",
                        p->resources.output_bytes);
        if (sfd >= 0)
                (void) sigprocmask(SIG_SETMASK, &old, NULL);
        if (!synced) {
                if (runner_n < 0)
                        runner_n = read(run.err_fd, runner_msg, sizeof(runner_msg) - 1);
                if (runner_n > 0)
                        runner_msg[runner_n] = '\0';
                conclude(p, req, &run, o,
                         &(Conclusion){ .status = status,
                                        .verified = verified,
                                        .runner_msg = runner_n > 0 ? runner_msg : NULL,
                                        .failed_control = failed_control,
                                        .ready = ready,
                                        .ready_ms = ready_ms,
                                        .stop_forced = stop_forced,
                                        .start = start });
        }
        /* The outcome is final: what the run left is removed on a thread of its own while the
         * audit record is written (its pages start going to the disk); the guard is told so,
         * or, when something could not be removed, left to try again after this returns */
        pthread_t cleaner;
        bool threaded = !synced && pthread_create(&cleaner, NULL, cleanup_thread, &run) == 0;
        if (!synced && req->hooks && req->hooks->finished)
                req->hooks->finished(o, req->hooks->userdata);
        if (threaded) {
                /* the record's fdatasync while the cleaner removes the run */
                if (req->hooks && req->hooks->waiting)
                        req->hooks->waiting(req->hooks->userdata);
                synced = true;
                (void) pthread_join(cleaner, NULL);
                run.cleaned = true;
        }
out_guard:
        /* the guard ends (or, with something left, cleans up) while the audit record is
         * synced, unless that was done beside the cleaner */
        if (!run.cleaned)
                run.cleanup_r = lxc_run_cleanup(run.id, run.dir, run.cgroups);
        sys_cgroup_guard_release(&run.guard, run.cleanup_r == 0);
        if (!synced && req->hooks && req->hooks->waiting)
                req->hooks->waiting(req->hooks->userdata);
        sys_cgroup_guard_stop(&run.guard, false);
        goto out;
out_rm:
        /* before the guard: nothing but the directory */
        (void) lxc_run_cleanup(run.id, run.dir, run.cgroups);
out:
        if (!o->wall_ns)
                o->wall_ns = (now_ms() - start) * 1000000ULL;
        /* the runner and the attacher are reaped (or never started) */
        spawn_block_release(0);
        spawn_block_release(1);
        safe_close(cfg_fd);
        safe_close(run.err_fd);
        safe_close(run.go_fd);
        safe_close(run.ready_fd);
        safe_close(run.exit_fd);
        safe_close(run.notify_fd);
        safe_close(cpu_fd);
        sandbox_output_done(&relay);
        safe_close(sfd);
        safe_close(pidfd);
        safe_close(apidfd);
        safe_close(attach_go);
        lxc_config_done(&cfg);
        free(run.dir);
        free(run.cgroups);
        free(run.lower);
        free(envp);
        free(argv);
        return 0;
out_nomem:
        free(run.lower);
        return -ENOMEM;
}

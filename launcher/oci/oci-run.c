/* SPDX-License-Identifier: MIT */
/* The container lifecycle of `moat oci`, run as root by a containerd shim (or CRI-O's conmon).
 *
 * Processes. `create` (C) builds the plan, the state directory <root>/<id>, the cgroup at
 * linux.cgroupsPath and a listening socket <root>/<id>/start.sock, then forks a helper (H) that
 * joins the namespaces the spec names by path (a CNI network namespace as real root first; a
 * pod's user namespace, then its ipc, uts, network and pid namespaces) and clones the
 * container's init (I) with every other namespace new. H exits at once, so I is reparented to
 * the nearest subreaper: the shim, which reaps it. C writes the id maps and (cgroup v1) moves
 * I into the cgroup, then lets I go. I builds the root (the sandbox tier's mounts), pivots, and
 * confines itself exactly as the sandbox tier's init does (no_new_privs, capabilities,
 * Landlock, moat's seccomp filter, then the spec's, rlimits), reports ready and blocks in
 * accept() on start.sock: that blocked process, inside the container's namespaces, is the pid
 * that C writes to --pid-file and that `state` reports.
 *
 * `start` connects to start.sock. I forks the workload (W), which sets its session (and the
 * console's terminal), restores the signal mask and execs process.args; I reports the exec
 * result over that connection, then stays as the container's init: it forwards the signals
 * the engine sends it (kill ID SIG) to W, enforces resources.timeout (SIGTERM, 2 s, SIGKILL),
 * reaps, and exits with W's status (128+N for a signal), which the shim reports. W dies with I
 * (PR_SET_PDEATHSIG), which matters when the pid namespace is a pod's and not I's own.
 *
 * Supervision that `moat run` does from outside moves inside: the timeout is I's; seccomp
 * denials are not reported (no supervisor stays to hold a listener), which the plan says.
 *
 * network: outbound (a container with a network namespace of its own only: the plan refuses a
 * path). After MSG_GO, I brings its loopback up, makes the proxy's listener on 127.0.0.1:PORT
 * and hands it to C, which forks the keeper (K, net/net-keep.h) before anything is joined, so
 * K and the proxy it starts connect out from the runtime's network namespace. K outlives C
 * (reparented like I), watches I through a pidfd and stops the proxy when I ends; its pid is
 * in the state for delete, which waits for K's last table write (network.json in the state
 * directory) and puts it in the audit record. A failed start is create's failure at step
 * "egress proxy", before the workload exists. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "basic/id128.h"
#include "basic/macros.h"
#include "basic/strv.h"
#include "audit.h"
#include "commands.h"
#include "context.h"
#include "net/net-keep.h"
#include "oci/oci-internal.h"
#include "oci/oci-run.h"
#include "sandbox/sandbox-internal.h"
#include "sys/caps.h"
#include "sys/cgroup.h"
#include "sys/exec.h"
#include "sys/fd.h"
#include "sys/idmap.h"
#include "sys/landlock.h"
#include "sys/lsm.h"
#include "sys/ns.h"
#include "sys/rlimit.h"
#include "sys/seccomp-oci.h"
#include "sys/seccomp.h"

#define OCI_MSG_READY 200
#define INIT_STACK_SIZE (1024 * 1024)
#define TIMEOUT_GRACE_MS 2000

typedef struct OciInit {
        const OciPlan *o;
        const SandboxIdentity *identity;
        char **envp;
        const SeccompProgram *moat_seccomp; /* NULL: none */
        const SeccompProgram *spec_seccomp; /* NULL: none */
        int sync_fd, parent_sync_fd;
        int listen_fd;
        int console_fd; /* connected --console-socket, or -EBADF */
        int exit_fd;    /* <state>/exit, opened before Landlock: how the workload ended */
        sigset_t original_mask;
} OciInit;

/* ---- small helpers ---- */

static bool id_valid(const char *id) {
        size_t n = strlen(id);
        if (n == 0 || n > 1024 || id[0] == '.')
                return false;
        return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+.-") ==
               n;
}

/* The start time of pid (field 22 of /proc/PID/stat), 0 when it is gone. A pid in the state
 * file names the container's init only while this still matches (pids are reused). */
static unsigned long long proc_start_time(pid_t pid) {
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return 0;
        buf[n] = 0;
        char *p = strrchr(buf, ')');
        if (!p)
                return 0;
        /* after ") " come fields 3.. ; start time is field 22 */
        unsigned long long v = 0;
        int field = 2;
        char state = 0;
        for (char *t = p + 2; *t && field < 22; t++)
                if (*t == ' ') {
                        field++;
                        if (field == 22)
                                v = strtoull(t + 1, NULL, 10);
                } else if (field == 2)
                        state = *t;
        return state == 'Z' ? 0 : v;
}

static int write_file_atomic(const char *path, const char *text) {
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        size_t len = strlen(text);
        if (write(fd, text, len) != (ssize_t) len)
                return -EIO;
        if (rename(tmp, path) < 0)
                return -errno;
        return 0;
}

static int mkdir_p(const char *path) {
        char buf[PATH_MAX];
        if (strlen(path) >= sizeof(buf) || path[0] != '/')
                return -EINVAL;
        strcpy(buf, path);
        for (char *s = strchr(buf + 1, '/');; s = strchr(s + 1, '/')) {
                if (s)
                        *s = 0;
                if (mkdir(buf, 0700) < 0 && errno != EEXIST)
                        return -errno;
                if (!s)
                        return 0;
                *s = '/';
        }
}

typedef struct OciState {
        char *dir; /* <root>/<id> */
        json_t *j; /* state.json */
        pid_t pid;
        unsigned long long start_time;
        const char *status; /* in j */
} OciState;

static void state_done(OciState *s) {
        free(s->dir);
        json_decref(s->j);
        *s = (OciState){};
}

/* 1 loaded, 0 no such container, <0 error. */
static int state_load(OciGlobal *g, const char *id, OciState *s) {
        _cleanup_free_ char *file = NULL;
        json_error_t je;

        *s = (OciState){};
        if (asprintf(&s->dir, "%s/%s", g->root, id) < 0 ||
            asprintf(&file, "%s/state.json", s->dir) < 0)
                return -ENOMEM;
        s->j = json_load_file(file, 0, &je);
        if (!s->j) {
                struct stat st;
                if (stat(s->dir, &st) < 0 && errno == ENOENT)
                        return 0;
                return -EBADMSG;
        }
        s->pid = (pid_t) json_integer_value(json_object_get(s->j, "pid"));
        s->start_time =
                (unsigned long long) json_integer_value(json_object_get(s->j, "pid_start_time"));
        s->status = json_string_value(json_object_get(s->j, "status"));
        return s->pid > 0 && s->status ? 1 : -EBADMSG;
}

static bool state_alive(const OciState *s) {
        return s->pid > 0 && proc_start_time(s->pid) == s->start_time;
}

static int state_save(const OciState *s) {
        _cleanup_free_ char *file = NULL, *text = NULL;
        if (asprintf(&file, "%s/state.json", s->dir) < 0)
                return -ENOMEM;
        text = json_dumps(s->j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!text)
                return -ENOMEM;
        return write_file_atomic(file, text);
}

/* The verb's container id (the last non-option argument) and the rest parsed by the caller. */
static const char *load_container(OciGlobal *g, const char *verb, const char *id, OciState *s,
                                  int *ret_status) {
        int r;
        *ret_status = EXIT_MOAT_FAILED;
        if (!id) {
                oci_log(g, "error", "%s: a container id is required", verb);
                return NULL;
        }
        if (!id_valid(id)) {
                oci_log(g, "error", "%s: invalid container id '%s'", verb, id);
                return NULL;
        }
        r = state_load(g, id, s);
        if (r == 0) {
                oci_log(g, "error", "container %s does not exist", id);
                return NULL;
        }
        if (r < 0) {
                oci_log(g, "error", "%s: cannot read the state of container %s: %s", verb, id,
                        strerror(-r));
                return NULL;
        }
        return id;
}

static int state_cgroup(const OciState *s, SandboxCgroup *cg) {
        const char *cgp = json_string_value(json_object_get(s->j, "cgroups_path"));
        int mech = (int) json_integer_value(json_object_get(s->j, "cgroup_mechanism"));
        *cg = (SandboxCgroup) SANDBOX_CGROUP_INIT;
        if (!cgp || !mech)
                return -ENOENT;
        return sys_cgroup_prepare_at(mech == 1 ? CGROUP_MECH_V1 : CGROUP_MECH_V2, cgp, cg);
}

static int cg_write(const char *dir, const char *file, const char *value) {
        char path[PATH_MAX];
        if (!dir)
                return -ENOENT;
        if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int) sizeof(path))
                return -ENAMETOOLONG;
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        size_t len = strlen(value);
        ssize_t n = write(fd, value, len);
        return n < 0 ? -errno : (size_t) n == len ? 0 : -EIO;
}

/* cpu.shares of the spec: cgroup v2 cpu.weight (converted), v1 cpu.shares. */
static int cg_set_cpu_weight(const SandboxCgroup *cg, uint64_t shares) {
        char buf[32];
        if (!shares)
                return 0;
        if (cg->mechanism == CGROUP_MECH_V2) {
                snprintf(buf, sizeof(buf), "%" PRIu64, oci_cpu_weight_from_shares(shares));
                return cg_write(cg->paths[0], "cpu.weight", buf);
        }
        snprintf(buf, sizeof(buf), "%" PRIu64, shares);
        return cg_write(cg->paths[CGROUP_V1_CPU], "cpu.shares", buf);
}

static bool word_in(const char *list, const char *word) {
        size_t n = strlen(word);
        for (const char *p = list; (p = strstr(p, word)); p += n)
                if ((p == list || p[-1] == ' ') && (p[n] == 0 || p[n] == ' ' || p[n] == '\n'))
                        return true;
        return false;
}

/* cgroup v2: a cgroup gets the controllers its limits need only when every ancestor enables
 * them for its children (cgroup.subtree_control). moat oci makes the container's cgroup from
 * the hierarchy's root, as runc does, so it enables them on the way down to cgroupsPath (an
 * ancestor with processes of its own refuses: EBUSY, the no-internal-process rule). */
static int enable_v2_path(const OciPlan *o, const char *leaf, const char *path) {
        const PlanResources *res = &o->plan->resources;
        const char *need[3];
        size_t n = 0;
        char buf[PATH_MAX];

        if (res->memory)
                need[n++] = "memory";
        if (res->pids)
                need[n++] = "pids";
        if (res->cpus_milli || o->cpu_shares)
                need[n++] = "cpu";
        if (strlen(leaf) >= sizeof(buf) || strlen(path) > strlen(leaf))
                return -ENAMETOOLONG;
        strcpy(buf, leaf);
        /* each '/' of path ends an ancestor: the hierarchy's root first, never the leaf */
        for (char *s = buf + strlen(leaf) - strlen(path); n && s && *s == '/';
             s = strchr(s + 1, '/')) {
                *s = 0;
                const char *dir = buf[0] ? buf : "/";
                for (size_t i = 0; i < n; i++) {
                        char file[PATH_MAX + 32], have[512], word[16];
                        snprintf(file, sizeof(file), "%s/cgroup.subtree_control", dir);
                        _cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC);
                        ssize_t got = fd < 0 ? -1 : read(fd, have, sizeof(have) - 1);
                        if (got < 0)
                                return -errno;
                        have[got] = 0;
                        snprintf(word, sizeof(word), "+%s", need[i]);
                        int r = word_in(have, need[i])
                                        ? 0
                                        : cg_write(dir, "cgroup.subtree_control", word);
                        if (r < 0)
                                return r;
                }
                *s = '/';
        }
        return 0;
}

static int prepare_cgroup(const OciPlan *o, const char *id, SandboxCgroup *cg) {
        CgroupMechanism mech = o->plan->resources.mechanism;
        _cleanup_free_ char *fallback = NULL;
        const char *path = o->cgroups_path;

        if (mech != CGROUP_MECH_V1 && mech != CGROUP_MECH_V2) {
                *cg = (SandboxCgroup) SANDBOX_CGROUP_INIT;
                return 0;
        }
        if (!path) {
                if (asprintf(&fallback, "/moat-oci/%s", id) < 0)
                        return -ENOMEM;
                path = fallback;
        }
        int r = sys_cgroup_prepare_at(mech, path, cg);
        if (r >= 0 && mech == CGROUP_MECH_V2)
                r = enable_v2_path(o, cg->paths[0], path);
        return r;
}

/* ---- the init (I), from clone3 to the workload's end ---- */

_Noreturn static void init_fail(int sync_fd, SandboxStep step, int r, int index) {
        (void) sys_sync_send(sync_fd, step, r, index, -EBADF);
        _exit(EXIT_MOAT_FAILED);
}

static void init_signals(sigset_t *set) {
        static const int forwarded[] = { SIGINT,  SIGTERM,  SIGHUP,  SIGQUIT, SIGUSR1,
                                         SIGUSR2, SIGWINCH, SIGCONT, SIGTSTP };
        sigemptyset(set);
        sigaddset(set, SIGCHLD);
        for (size_t i = 0; i < ELEMENTSOF(forwarded); i++)
                sigaddset(set, forwarded[i]);
}

/* A pseudo-terminal made inside the container's /dev/pts; the master goes to the engine over
 * the console socket, the slave becomes the workload's stdio and controlling terminal. */
static int init_console(int console_fd, int *ret_slave) {
        _cleanup_close_ int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
        int unlock = 0, r;

        if (master < 0)
                return -errno;
        if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
                return -errno;
        int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave < 0)
                return -errno;
        r = sys_sync_send(console_fd, 0, 0, 0, master);
        if (r < 0) {
                close(slave);
                return r;
        }
        *ret_slave = slave;
        return 0;
}

typedef struct Workload {
        const OciInit *c;
        int conn_fd;
        int tty_fd;
} Workload;

_Noreturn static void workload_exec(const Workload *w) {
        const OciInit *c = w->c;
        int r = 0;

        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || setsid() < 0)
                r = -errno;
        if (r >= 0 && w->tty_fd >= 0) {
                if (ioctl(w->tty_fd, TIOCSCTTY, 0) < 0)
                        r = -errno;
                for (int fd = 0; r >= 0 && fd <= 2; fd++)
                        if (dup2(w->tty_fd, fd) < 0)
                                r = -errno;
        }
        if (r >= 0 && sigprocmask(SIG_SETMASK, &c->original_mask, NULL) < 0)
                r = -errno;
        if (r >= 0)
                r = sys_exec_search(c->o->args, c->envp);
        (void) !write(w->conn_fd, &r, sizeof(r));
        _exit(r == -ENOENT ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE);
}

static uint64_t mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* "exited CODE" or "signaled SIG", and " timeout" when resources.timeout ended it: read by
 * `delete` for the audit record (the shim, not moat, reaps the init). */
static void init_record_exit(int exit_fd, int status, bool timed_out) {
        char buf[64];
        int n = snprintf(buf, sizeof(buf), "%s %d%s\n", WIFEXITED(status) ? "exited" : "signaled",
                         WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                         timed_out ? " timeout" : "");
        (void) !write(exit_fd, buf, (size_t) n);
}

_Noreturn static void init_loop(const OciPlan *o, pid_t workload, const sigset_t *set,
                                int exit_fd) {
        uint64_t timeout = o->plan->resources.timeout_ms, deadline = 0;
        bool grace = false;

        if (timeout)
                deadline = mono_ms() + timeout;
        for (;;) {
                siginfo_t si;
                struct timespec ts, *tsp = NULL;
                if (deadline) {
                        uint64_t now = mono_ms(), left = deadline > now ? deadline - now : 0;
                        ts = (struct timespec){ .tv_sec = (time_t) (left / 1000),
                                                .tv_nsec = (long) (left % 1000) * 1000000 };
                        tsp = &ts;
                }
                int sig = sigtimedwait(set, &si, tsp);
                if (sig < 0 && errno == EAGAIN) {
                        /* resources.timeout: SIGTERM, a grace, then SIGKILL */
                        (void) kill(workload, grace ? SIGKILL : SIGTERM);
                        deadline = grace ? 0 : mono_ms() + TIMEOUT_GRACE_MS;
                        grace = true;
                        continue;
                }
                if (sig < 0)
                        continue;
                if (sig != SIGCHLD) {
                        (void) kill(workload, sig);
                        continue;
                }
                int status;
                pid_t p;
                while ((p = waitpid(-1, &status, WNOHANG)) > 0)
                        if (p == workload) {
                                init_record_exit(exit_fd, status, grace);
                                _exit(WIFEXITED(status) ? WEXITSTATUS(status)
                                                        : 128 + WTERMSIG(status));
                        }
        }
}

/* network: outbound: loopback up and a listener on 127.0.0.1:PORT in the container's own
 * network namespace, handed to create, which starts the proxy's keeper (net/net-keep.h) in the
 * namespace moat runs in; we wait for its answer. The workload never holds the listener. */
static void init_egress(const OciInit *c) {
        const PlanEgress *e = &c->o->plan->egress;
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons(e->proxy_port),
                                  .sin_addr = { htonl(INADDR_LOOPBACK) } };
        int sync_fd = c->sync_fd, r;
        SyncRecord ack;

        /* The plan refuses a joined network namespace under outbound; a shared one would
         * reach everything around the allowlist. */
        if (!(c->o->plan->sandbox.clone_flags & CLONE_NEWNET) || c->o->ns_path[OCI_NS_NETWORK])
                init_fail(sync_fd, STEP_EGRESS, -EPERM, -1);
        if ((r = sys_ns_loopback_up()) < 0)
                init_fail(sync_fd, STEP_NETWORK, r, -1);
        _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                init_fail(sync_fd, STEP_EGRESS, -errno, -1);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 128) < 0)
                init_fail(sync_fd, STEP_EGRESS, -errno, -1);
        if ((r = sys_sync_send(sync_fd, MSG_PROXY_FD, 0, -1, fd)) < 0)
                init_fail(sync_fd, STEP_EGRESS, r, -1);
        r = sys_sync_recv(sync_fd, &ack, NULL);
        if (r <= 0 || ack.step != MSG_PROXY_READY)
                init_fail(sync_fd, STEP_EGRESS, r < 0 ? r : -EPIPE, -1);
        if (ack.value < 0)
                init_fail(sync_fd, STEP_EGRESS, ack.value, -1);
}

static void init_confine(const OciInit *c, int *tty_fd) {
        const Plan *plan = c->o->plan;
        const PlanSandbox *sb = &plan->sandbox;
        int sync_fd = c->sync_fd, index = -1, r;
        SandboxStep step;

        r = sandbox_mounts_setup(plan, "/", c->identity, &index, &step);
        if (r < 0)
                init_fail(sync_fd, step, r, index);
        if (sb->hostname && (sb->clone_flags & CLONE_NEWUTS) &&
            (r = sys_ns_set_hostname(sb->hostname)) < 0)
                init_fail(sync_fd, STEP_HOSTNAME, r, -1);
        if (sb->network == NETWORK_LOOPBACK && (sb->clone_flags & CLONE_NEWNET) &&
            (r = sys_ns_loopback_up()) < 0)
                init_fail(sync_fd, STEP_NETWORK, r, -1);
        if (sb->network == NETWORK_OUTBOUND)
                init_egress(c);
        if (chdir(c->o->cwd) < 0)
                init_fail(sync_fd, STEP_WORKDIR, -errno, -1);
        if (c->console_fd >= 0) {
                if ((r = init_console(c->console_fd, tty_fd)) < 0)
                        init_fail(sync_fd, STEP_SETSID, r, -1);
                /* With a terminal, create's stdio is the engine's pipe to read create's own
                 * output to its end (go-runc's cmdOutput): the init must not hold it. */
                for (int fd = 0; fd <= 2; fd++)
                        if (dup2(*tty_fd, fd) < 0)
                                init_fail(sync_fd, STEP_SETSID, -errno, -1);
        }
        if ((sb->apparmor_profile && *sb->apparmor_profile) ||
            (sb->selinux_context && *sb->selinux_context)) {
                r = sys_lsm_set_exec_label(sb->apparmor_profile, sb->selinux_context);
                if (r < 0 && sb->mac_status == CONTROL_REQUIRED)
                        init_fail(sync_fd, STEP_LSM, r, -1);
        }
        if ((r = sys_no_new_privs()) < 0)
                init_fail(sync_fd, STEP_NO_NEW_PRIVS, r, -1);
        if ((r = sys_caps_drop_except(sb->caps_keep, sb->n_caps_keep)) < 0)
                init_fail(sync_fd, STEP_CAPS, r, -1);
        if (sb->landlock.status == CONTROL_REQUIRED || sb->landlock.status == CONTROL_BEST_EFFORT) {
                r = sys_landlock_apply(&sb->landlock);
                if (r < 0 && sb->landlock.status == CONTROL_REQUIRED)
                        init_fail(sync_fd, STEP_LANDLOCK, r, -1);
        }
        /* Only stdio, the sync socket, start.sock and the terminal stay: containerd leaves fds
         * of its own open in the runtime, and none may reach the workload. */
        int keep[4] = { sync_fd, c->listen_fd, c->exit_fd, *tty_fd };
        if ((r = sys_fd_close_all_except(keep, *tty_fd >= 0 ? 4 : 3)) < 0)
                init_fail(sync_fd, STEP_FDS, r, -1);
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                init_fail(sync_fd, STEP_FDS, -errno, -1);
}

static int oci_init_main(void *arg) {
        const OciInit *c = arg;
        int sync_fd = c->sync_fd, tty_fd = -EBADF, r;
        SyncRecord go;
        sigset_t set;

        safe_close(c->parent_sync_fd);
        /* v1 limit cgroups: their tasks files first (MSG_CGROUP_FD), through which this init
         * moves itself in (sandbox/child.c child_enter_cgroup(): a thread that moves itself
         * is moved without the kernel's cgroup_threadgroup_rwsem and its RCU grace period) */
        for (;;) {
                int fd;
                r = sys_sync_recv(sync_fd, &go, &fd);
                if (r <= 0 || go.step != MSG_CGROUP_FD) {
                        safe_close(fd);
                        break;
                }
                if (fd < 0)
                        init_fail(sync_fd, STEP_CGROUP, -EBADMSG, go.index);
                if (write(fd, "0", 1) != 1)
                        init_fail(sync_fd, STEP_CGROUP, -errno, go.index);
                safe_close(fd);
        }
        if (r <= 0 || go.step != MSG_GO)
                _exit(EXIT_MOAT_FAILED);

        init_confine(c, &tty_fd);
        init_signals(&set);
        if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
                init_fail(sync_fd, STEP_FORK, -errno, -1);
        if (c->moat_seccomp && (r = sys_seccomp_load(c->moat_seccomp, NULL)) < 0)
                init_fail(sync_fd, STEP_SECCOMP, r, -1);
        if (c->spec_seccomp && (r = sys_seccomp_load(c->spec_seccomp, NULL)) < 0)
                init_fail(sync_fd, STEP_SECCOMP, r, 1);
        size_t failed;
        if ((r = sys_rlimit_apply(c->o->plan->sandbox.rlimits, c->o->plan->sandbox.n_rlimits,
                                  &failed)) < 0)
                init_fail(sync_fd, STEP_RLIMIT, r, (int) failed);
        (void) sys_sync_send(sync_fd, OCI_MSG_READY, 0, -1, -EBADF);
        safe_close(sync_fd);

        /* Created: blocked here, inside every namespace of the container, until `start`. */
        int conn;
        do
                conn = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        while (conn < 0 && errno == EINTR);
        if (conn < 0)
                _exit(EXIT_MOAT_FAILED);
        safe_close(c->listen_fd);

        Workload w = { .c = c, .conn_fd = conn, .tty_fd = tty_fd };
        pid_t pid = fork();
        if (pid == 0)
                workload_exec(&w);
        if (pid < 0) {
                int e = -errno;
                (void) !write(conn, &e, sizeof(e));
                _exit(EXIT_MOAT_FAILED);
        }
        safe_close(tty_fd);
        safe_close(conn); /* `start` sees EOF once the workload's copy goes at execve() */
        init_loop(c->o, pid, &set, c->exit_fd);
}

/* ---- create ---- */

/* A refused container gets its record too, as a refused `moat run` does. */
static void oci_audit_refusal(OciGlobal *g, const char *id, OciPlan *o, const RunContext *ctx) {
        RunRequest req = { .argv = o->args, .workdir = o->cwd };
        Profile *pr = o->profiles[1] ? o->profiles[1] : o->profiles[0];

        /* The record's plan says refused, with the reason: the combined plan when the refusal
         * came after it was resolved, else the profile's own. */
        if (!o->plan && pr && plan_resolve(pr, ctx->policy, &ctx->host, &o->plan) < 0)
                o->plan = NULL;
        if (o->plan) {
                free(o->plan->refusal);
                o->plan->refused = true;
                o->plan->refusal = o->refusal ? strdup(o->refusal) : NULL;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        AuditContext actx = {
                .plan = o->plan,
                .policy = ctx->policy,
                .host = o->plan ? &ctx->host : NULL,
                .request = &req,
                .profile_arg = o->profile_name,
                .error = o->refusal,
                .start_realtime_ns = (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec,
        };
        const char *env = getenv("MOAT_AUDIT_LOG");
        _cleanup_free_ char *path = env && *env ? strdup(env) : audit_log_default_path(ctx->policy);
        int r = path ? audit_log_run(&actx, path) : -ENOMEM;
        if (r < 0)
                oci_log(g, "error", "create %s: cannot write the audit record to %s: %s", id,
                        path ?: "?", audit_log_strerror(r));
}

static int open_ns_fds(const OciPlan *o, int fds[_OCI_NS_MAX]) {
        for (int i = 0; i < _OCI_NS_MAX; i++) {
                fds[i] = -EBADF;
                if (!o->ns_path[i])
                        continue;
                fds[i] = open(o->ns_path[i], O_RDONLY | O_CLOEXEC);
                if (fds[i] < 0)
                        return -errno;
        }
        return 0;
}

/* A namespace the spec joins by path may be the host's (the one moat runs in): an app container
 * of a hostNetwork pod joins the pause container's network namespace, which is the host's. It is
 * shared only when the profile allows it (oci_plan_share_host()), and then not joined (moat is
 * in it already; setns() from the pod's user namespace could not). 0, or -EPERM with the
 * refusal in *ret_refusal, or another negative errno. */
static int check_host_joins(OciPlan *o, int fds[_OCI_NS_MAX], char **ret_refusal) {
        *ret_refusal = NULL;
        for (int i = 0; i < _OCI_NS_MAX; i++) {
                char self[64], how[PATH_MAX + 64];
                struct stat a, b;
                if (fds[i] < 0)
                        continue;
                snprintf(self, sizeof(self), "/proc/self/ns/%s", oci_namespace_proc_name(i));
                if (fstat(fds[i], &a) < 0 || stat(self, &b) < 0)
                        return -errno;
                if (a.st_ino != b.st_ino || a.st_dev != b.st_dev)
                        continue;
                snprintf(how, sizeof(how), "the spec joins %s", o->ns_path[i]);
                int r = oci_plan_share_host(o, (OciNamespace) i, how, ret_refusal);
                if (r < 0)
                        return r;
                fds[i] = safe_close(fds[i]);
        }
        return 0;
}

/* H: join what the spec names, clone I, tell C its pid, exit. */
static int helper_main(const OciPlan *o, int ns_fds[_OCI_NS_MAX], OciInit *init, int cgroup_fd,
                       int pid_pipe) {
        static const struct {
                OciNamespace ns;
                int type;
        } order[] = { { OCI_NS_USER, CLONE_NEWUSER },
                      { OCI_NS_IPC, CLONE_NEWIPC },
                      { OCI_NS_UTS, CLONE_NEWUTS },
                      { OCI_NS_NETWORK, CLONE_NEWNET },
                      { OCI_NS_PID, CLONE_NEWPID } };
        const PlanSandbox *sb = &o->plan->sandbox;
        int r, pidfd = -EBADF;

        /* A CNI network namespace belongs to the initial user namespace: joined as root,
         * before moat's own user namespace. */
        if (ns_fds[OCI_NS_NETWORK] >= 0 && !o->ns_path[OCI_NS_USER] &&
            (r = sys_ns_join(ns_fds[OCI_NS_NETWORK], CLONE_NEWNET)) < 0)
                return r;
        for (size_t i = 0; o->ns_path[OCI_NS_USER] && i < ELEMENTSOF(order); i++)
                if (ns_fds[order[i].ns] >= 0 &&
                    (r = sys_ns_join(ns_fds[order[i].ns], order[i].type)) < 0)
                        return r;
        uint64_t flags = sb->clone_flags | (sb->time_ns ? CLONE_NEWTIME : 0);
        void *stack = mmap(NULL, INIT_STACK_SIZE, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stack == MAP_FAILED)
                return -errno;
        pid_t pid =
                sys_ns_clone(flags, cgroup_fd, stack, INIT_STACK_SIZE, oci_init_main, init, &pidfd);
        if (pid < 0)
                return pid;
        return write(pid_pipe, &pid, sizeof(pid)) == sizeof(pid) ? 0 : -EIO;
}

/* One option of a verb, as runc spells it: "--name" (and a short "-n"), a flag or one taking a
 * value ("--name VALUE" or "--name=VALUE"). */
typedef struct OciOpt {
        const char *name, *short_name;
        const char **value; /* takes a value: stored here */
        bool *flag;         /* a flag: set here */
} OciOpt;

/* A verb's command line: the options of `opts` (NULL-name terminated) and at most n_pos
 * positional arguments, in order (the container id first). An unknown option, a missing value
 * or one positional argument too many is logged (with `extra` appended, when given) and
 * -EINVAL. */
static int parse_verb(OciGlobal *g, const char *verb, int argc, char **argv, const OciOpt *opts,
                      const char **pos, size_t n_pos, const char *extra) {
        size_t got = 0;

        for (int k = 1; k < argc; k++) {
                const char *s = argv[k], *eq = strchr(s, '=');
                size_t n = eq ? (size_t) (eq - s) : strlen(s);
                const OciOpt *o = NULL;

                if (s[0] != '-' || !s[1]) {
                        if (got == n_pos) {
                                oci_log(g, "error", "%s: unexpected argument '%s'%s", verb, s,
                                        extra ?: "");
                                return -EINVAL;
                        }
                        pos[got++] = s;
                        continue;
                }
                for (const OciOpt *x = opts; x && x->name && !o; x++)
                        if ((strlen(x->name) == n && strncmp(s, x->name, n) == 0) ||
                            (x->short_name && strlen(x->short_name) == n &&
                             strncmp(s, x->short_name, n) == 0))
                                o = x;
                if (!o) {
                        oci_log(g, "error", "%s: unknown option '%.*s'%s", verb, (int) n, s,
                                extra ?: "");
                        return -EINVAL;
                }
                if (o->flag) {
                        if (eq) {
                                oci_log(g, "error", "%s: option '%.*s' takes no value", verb,
                                        (int) n, s);
                                return -EINVAL;
                        }
                        *o->flag = true;
                        continue;
                }
                if (!eq && k + 1 >= argc) {
                        oci_log(g, "error", "%s: option '%s' needs a value", verb, s);
                        return -EINVAL;
                }
                *o->value = eq ? eq + 1 : argv[++k];
        }
        return 0;
}

typedef struct CreateArgs {
        const char *bundle, *pid_file, *console_socket, *id;
        unsigned preserve_fds;
        bool no_pivot;
} CreateArgs;

static int parse_create(OciGlobal *g, int argc, char **argv, CreateArgs *a) {
        const char *preserve = NULL;
        bool keyring = false;
        const OciOpt opts[] = {
                { "--bundle", "-b", .value = &a->bundle },
                { "--pid-file", NULL, .value = &a->pid_file },
                { "--console-socket", NULL, .value = &a->console_socket },
                { "--preserve-fds", NULL, .value = &preserve },
                { "--no-pivot", NULL, .flag = &a->no_pivot },
                /* the seccomp "keys" group denies the keyring calls anyway */
                { "--no-new-keyring", NULL, .flag = &keyring },
                {},
        };

        if (parse_verb(g, "create", argc, argv, opts, &a->id, 1, NULL) < 0)
                return -EINVAL;
        if (preserve)
                a->preserve_fds = (unsigned) strtoul(preserve, NULL, 10);
        if (a->no_pivot) {
                oci_log(g, "error",
                        "create: --no-pivot is refused: moat always pivots into the "
                        "container's root (configure NoPivotRoot = false)");
                return -EINVAL;
        }
        if (a->preserve_fds) {
                oci_log(g, "error",
                        "create: --preserve-fds %u is refused: no fd above 2 reaches "
                        "a moat container",
                        a->preserve_fds);
                return -EINVAL;
        }
        return 0;
}

static int connect_unix(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* start.sock through /proc/self/fd/DIRFD: state paths can pass sun_path's 108 bytes. */
static int start_sock_path(int dir_fd, char *buf, size_t size) {
        return snprintf(buf, size, "/proc/self/fd/%d/start.sock", dir_fd) < (int) size
                       ? 0
                       : -ENAMETOOLONG;
}

static int listen_start(int dir_fd) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int r = start_sock_path(dir_fd, sa.sun_path, sizeof(sa.sun_path));
        if (r < 0)
                return r;
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static void remove_state_dir(const char *dir) {
        static const char *const files[] = { "state.json", "state.json.tmp", "start.sock", "exit",
                                             "network.json" };
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        for (size_t i = 0; fd >= 0 && i < ELEMENTSOF(files); i++)
                (void) unlinkat(fd, files[i], 0);
        (void) rmdir(dir);
}

static const char *step_name(int step) {
        return step == OCI_MSG_READY ? "ready" : sandbox_step_to_string(step);
}

int oci_create(OciGlobal *g, int argc, char **argv) {
        CreateArgs a = { .bundle = "." };
        _cleanup_oci_plan_ OciPlan *o = NULL;
        _cleanup_free_ char *bundle = NULL, *dir = NULL;
        _cleanup_strv_free_ char **envp = NULL;
        _cleanup_close_ int dir_fd = -EBADF, listen_fd = -EBADF, console_fd = -EBADF,
                            exit_fd = -EBADF, net_fd = -EBADF;
        pid_t keeper = 0;
        SandboxCgroup cg = SANDBOX_CGROUP_INIT;
        SeccompProgram moat_sc = {}, spec_sc = {};
        bool have_moat_sc = false, have_spec_sc = false, dir_made = false;
        SandboxIdentity identity = {};
        int ns_fds[_OCI_NS_MAX], sync[2] = { -EBADF, -EBADF }, pid_pipe[2] = { -EBADF, -EBADF };
        int r, status = EXIT_MOAT_FAILED;
        pid_t pid = -1;

        for (int i = 0; i < _OCI_NS_MAX; i++)
                ns_fds[i] = -EBADF;
        if (parse_create(g, argc, argv, &a) < 0)
                return EXIT_MOAT_FAILED;
        if (!a.id || !id_valid(a.id)) {
                oci_log(g, "error", "create: a valid container id is required");
                return EXIT_MOAT_FAILED;
        }
        bundle = realpath(a.bundle, NULL);
        if (!bundle) {
                oci_log(g, "error", "create: bundle %s: %s", a.bundle, strerror(errno));
                return EXIT_MOAT_FAILED;
        }
        RunContext ctx = {};
        if (oci_load_plan(g, bundle, NULL, NULL, &o, &ctx) < 0)
                return EXIT_MOAT_FAILED;
        if (o->refused) {
                oci_log(g, "error", "refused: %s", o->refusal);
                oci_audit_refusal(g, a.id, o, &ctx);
                run_context_done(&ctx);
                return EXIT_MOAT_FAILED;
        }
        if ((r = open_ns_fds(o, ns_fds)) < 0) {
                oci_log(g, "error", "create %s: namespace paths: %s", a.id, strerror(-r));
                run_context_done(&ctx);
                goto fail;
        }
        char *host_refusal = NULL;
        if ((r = check_host_joins(o, ns_fds, &host_refusal)) < 0) {
                if (r == -EPERM && host_refusal) {
                        free(o->refusal);
                        o->refusal = host_refusal;
                        o->refused = true;
                        oci_log(g, "error", "refused: %s", o->refusal);
                        oci_audit_refusal(g, a.id, o, &ctx);
                } else
                        oci_log(g, "error", "create %s: namespace paths: %s", a.id, strerror(-r));
                run_context_done(&ctx);
                goto fail;
        }
        /* The record is written at delete: a container whose record the log would refuse (a
         * symbolic link, another user's file, one others can write) is not created, as
         * `moat run` starts no such run (audit_writer_check()). */
        {
                const char *env = getenv("MOAT_AUDIT_LOG");
                _cleanup_(audit_writer_freep) AuditWriter *w = NULL;
                r = audit_writer_new(env && *env ? env : NULL, ctx.policy, &w);
                if (r >= 0)
                        r = audit_writer_check(w);
                if (r < 0) {
                        oci_log(g, "error",
                                "create %s: the audit log %s would refuse the container's "
                                "record: %s; not created",
                                a.id, w ? audit_writer_path(w) : "?", audit_log_strerror(r));
                        run_context_done(&ctx);
                        goto fail;
                }
        }
        run_context_done(&ctx);
        if (mkdir_p(g->root) < 0) {
                oci_log(g, "error", "create: cannot make --root %s: %s", g->root, strerror(errno));
                goto fail;
        }
        if (asprintf(&dir, "%s/%s", g->root, a.id) < 0) {
                dir = NULL;
                goto fail;
        }
        if (mkdir(dir, 0700) < 0) {
                oci_log(g, "error",
                        errno == EEXIST ? "container with id %s already exists"
                                        : "create: cannot make the state of %s",
                        a.id);
                goto fail;
        }
        dir_made = true;
        dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        const char *what = "state directory";
        r = dir_fd < 0 ? -errno : 0;
        if (r >= 0) {
                what = "start socket";
                r = listen_fd = listen_start(dir_fd);
        }
        if (r >= 0) {
                what = "exit file";
                r = exit_fd = openat(dir_fd, "exit", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                if (r < 0)
                        r = -errno;
        }
        if (r >= 0 && a.console_socket) {
                what = "console socket";
                r = console_fd = connect_unix(a.console_socket);
        }
        if (r >= 0) {
                what = "environment";
                r = sandbox_env_build(o->plan, NULL, &envp);
        }
        if (r >= 0) {
                what = "machine identity";
                r = id128_random_machine_id(identity.machine_id, sizeof(identity.machine_id));
                if (r >= 0)
                        r = id128_random_uuid(identity.boot_id, sizeof(identity.boot_id));
        }
        if (r >= 0 && o->plan->sandbox.seccomp.status != CONTROL_NOT_APPLICABLE) {
                what = "moat's seccomp filter";
                r = sys_seccomp_program_for(&o->plan->sandbox.seccomp, &moat_sc);
                have_moat_sc = r >= 0;
        }
        if (r >= 0 && o->seccomp) {
                what = "the spec's seccomp filter";
                r = sys_seccomp_compile_oci(o->seccomp, &spec_sc);
                have_spec_sc = r >= 0;
        }
        if (r >= 0) {
                what = "cgroup at linux.cgroupsPath";
                r = prepare_cgroup(o, a.id, &cg);
                if (r >= 0 && cg.mechanism != CGROUP_MECH_NONE)
                        r = sys_cgroup_create(&cg, &o->plan->resources, 0);
                if (r >= 0 && cg.mechanism != CGROUP_MECH_NONE)
                        r = cg_set_cpu_weight(&cg, o->cpu_shares);
                if (r < 0 && o->plan->resources.status != CONTROL_REQUIRED) {
                        oci_log(g, "warning",
                                "cgroup limits not applied (%s): resources.enforce is "
                                "best-effort",
                                strerror(-r));
                        (void) sys_cgroup_destroy(&cg);
                        cg = (SandboxCgroup) SANDBOX_CGROUP_INIT;
                        r = 0;
                }
        }
        if (r >= 0) {
                what = "sync socket";
                r = sys_sync_pair(sync);
                if (r >= 0 && pipe2(pid_pipe, O_CLOEXEC) < 0)
                        r = -errno;
        }
        if (r < 0) {
                oci_log(g, "error", "create %s: %s: %s", a.id, what, strerror(-r));
                goto fail;
        }

        OciInit init = {
                .o = o,
                .identity = &identity,
                .envp = envp,
                .moat_seccomp = have_moat_sc ? &moat_sc : NULL,
                .spec_seccomp = have_spec_sc ? &spec_sc : NULL,
                .sync_fd = sync[1],
                .parent_sync_fd = sync[0],
                .listen_fd = listen_fd,
                .console_fd = console_fd,
                .exit_fd = exit_fd,
        };
        sigprocmask(SIG_SETMASK, NULL, &init.original_mask);
        pid_t helper = fork();
        if (helper < 0) {
                oci_log(g, "error", "create %s: fork: %s", a.id, strerror(errno));
                goto fail;
        }
        if (helper == 0) {
                safe_close(pid_pipe[0]);
                r = helper_main(o, ns_fds, &init,
                                cg.mechanism == CGROUP_MECH_V2 ? cg.v2_fd : -EBADF, pid_pipe[1]);
                _exit(r < 0 ? (-r & 0x7f) : 0);
        }
        pid_pipe[1] = safe_close(pid_pipe[1]);
        sync[1] = safe_close(sync[1]);
        int hs = 0;
        ssize_t n = read(pid_pipe[0], &pid, sizeof(pid));
        (void) waitpid(helper, &hs, 0);
        if (n != sizeof(pid)) {
                pid = -1;
                oci_log(g, "error", "create %s: joining the namespaces or cloning the init: %s",
                        a.id,
                        WIFEXITED(hs) && WEXITSTATUS(hs) ? strerror(WEXITSTATUS(hs)) : "failed");
                goto fail;
        }
        if (o->plan->sandbox.clone_flags & CLONE_NEWUSER) {
                const PlanSandbox *sb = &o->plan->sandbox;
                r = sys_idmap_write_from_parent(pid, sb->uid_inside, getuid(), sb->gid_inside,
                                                getgid());
                if (r < 0) {
                        oci_log(g, "error", "create %s: id maps: %s", a.id, strerror(-r));
                        goto fail;
                }
        }
        if ((r = sandbox_cgroups_hand_over(&cg, sync[0])) < 0 || /* the init moves itself in */
            (r = sys_sync_send(sync[0], MSG_GO, 0, -1, -EBADF)) < 0) {
                oci_log(g, "error", "create %s: cgroup or sync: %s", a.id, strerror(-r));
                goto fail;
        }
        SyncRecord rec;
        for (;;) {
                _cleanup_close_ int proxy_fd = -EBADF;
                r = sys_sync_recv(sync[0], &rec, &proxy_fd);
                if (r <= 0 || rec.step != MSG_PROXY_FD)
                        break;
                /* network: outbound: the keeper holds the proxy for as long as the init
                 * lives; its decisions go to <state>/network.json for delete's record. */
                int kr = -EBADF;
                if (proxy_fd >= 0 && keeper <= 0) {
                        kr = net_fd =
                                openat(dir_fd, "network.json",
                                       O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                        if (kr < 0)
                                kr = -errno;
                        else
                                kr = net_proxy_keep(&o->plan->egress, proxy_fd, pid, net_fd,
                                                    &keeper);
                }
                if (kr < 0)
                        oci_log(g, "error", "create %s: the egress proxy did not start: %s", a.id,
                                kr == -ENOENT ? "no nameserver in /etc/resolv.conf"
                                              : strerror(-kr));
                if ((r = sys_sync_send(sync[0], MSG_PROXY_READY, kr, -1, -EBADF)) < 0)
                        break;
        }
        if (r <= 0 || rec.step != OCI_MSG_READY) {
                if (r > 0 && rec.step == STEP_MOUNT && rec.index >= 0 &&
                    (size_t) rec.index < o->plan->sandbox.n_mounts)
                        oci_log(g, "error", "create %s: cannot mount %s: %s", a.id,
                                o->plan->sandbox.mounts[rec.index].target, strerror(-rec.value));
                else
                        oci_log(g, "error", "create %s: the container's init failed at step %s: %s",
                                a.id, r > 0 ? step_name(rec.step) : "setup",
                                r > 0 ? strerror(-rec.value) : "it ended");
                goto fail;
        }

        /* Ready: the state, then the pid file the engine waits for. */
        char created[64];
        time_t now = time(NULL);
        struct tm tm;
        strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
        char digest[65];
        for (int i = 0; i < 32; i++)
                snprintf(digest + 2 * i, 3, "%02x", o->spec_digest[i]);
        OciState st = { .dir = dir };
        st.j = json_pack("{s:s, s:s, s:i, s:I, s:s, s:s, s:s, s:s, s:o, s:s, s:s}", "ociVersion",
                         "1.1.0", "id", a.id, "pid", (int) pid, "pid_start_time",
                         (json_int_t) proc_start_time(pid), "status", "created", "bundle", bundle,
                         "rootfs", o->root, "created", created, "cgroups_path",
                         cg.mechanism != CGROUP_MECH_NONE && o->cgroups_path
                                 ? json_string(o->cgroups_path)
                                 : json_null(),
                         "profile", o->profile_name, "spec_digest", digest);
        json_t *shared = json_array();
        for (int i = 0; i < _OCI_NS_MAX; i++)
                if (o->host_ns[i])
                        json_array_append_new(shared, json_string(oci_namespace_to_string(i)));
        json_object_set_new(st.j, "host_namespaces", shared);
        if (keeper > 0) {
                json_object_set_new(st.j, "proxy_keeper_pid", json_integer(keeper));
                json_object_set_new(st.j, "proxy_keeper_start_time",
                                    json_integer((json_int_t) proc_start_time(keeper)));
        }
        json_object_set_new(st.j, "cgroup_mechanism",
                            json_integer(cg.mechanism == CGROUP_MECH_NONE ? 0
                                         : cg.mechanism == CGROUP_MECH_V1 ? 1
                                                                          : 2));
        r = st.j ? state_save(&st) : -ENOMEM;
        json_decref(st.j);
        if (r >= 0 && a.pid_file) {
                char text[32];
                snprintf(text, sizeof(text), "%d", (int) pid);
                r = write_file_atomic(a.pid_file, text);
        }
        if (r < 0) {
                oci_log(g, "error", "create %s: cannot write the state or pid file: %s", a.id,
                        strerror(-r));
                goto fail;
        }
        oci_log(g, "info", "created %s (pid %d, profile %s)", a.id, (int) pid, o->profile_name);
        status = 0;
        sys_cgroup_forget(&cg);
        goto out;
fail:
        if (pid > 0)
                (void) kill(pid, SIGKILL);
        if (keeper > 0)
                (void) kill(keeper, SIGKILL);
        (void) sys_cgroup_destroy(&cg);
        if (dir_made)
                remove_state_dir(dir);
out:
        for (int i = 0; i < _OCI_NS_MAX; i++)
                safe_close(ns_fds[i]);
        safe_close(sync[0]);
        safe_close(sync[1]);
        safe_close(pid_pipe[0]);
        safe_close(pid_pipe[1]);
        if (have_moat_sc)
                sys_seccomp_program_done(&moat_sc);
        if (have_spec_sc)
                sys_seccomp_program_done(&spec_sc);
        return status;
}

/* ---- start, state, kill, delete, ps ---- */

static const char *last_arg(int argc, char **argv) {
        const char *id = NULL;
        for (int k = 1; k < argc; k++)
                if (argv[k][0] != '-')
                        id = argv[k];
        return id;
}

int oci_start(OciGlobal *g, int argc, char **argv) {
        OciState s;
        int status;
        const char *id = load_container(g, "start", last_arg(argc, argv), &s, &status);
        if (!id)
                return status;
        if (!state_alive(&s)) {
                oci_log(g, "error", "cannot start container %s: container not running", id);
                state_done(&s);
                return EXIT_MOAT_FAILED;
        }
        if (strcmp(s.status, "created") != 0) {
                oci_log(g, "error", "cannot start an already running container %s", id);
                state_done(&s);
                return EXIT_MOAT_FAILED;
        }
        _cleanup_close_ int dir_fd = open(s.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int err = 0,
            r = dir_fd < 0 ? -errno : start_sock_path(dir_fd, sa.sun_path, sizeof(sa.sun_path));
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (r >= 0 && fd < 0)
                r = -errno;
        if (r >= 0 && connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                r = -errno;
        if (r >= 0) {
                ssize_t n;
                do
                        n = read(fd, &err, sizeof(err));
                while (n < 0 && errno == EINTR);
                if (n == sizeof(err) && err < 0)
                        r = err;
        }
        if (r >= 0) {
                json_object_set_new(s.j, "status", json_string("running"));
                r = state_save(&s);
                _cleanup_free_ char *sock = NULL;
                if (asprintf(&sock, "%s/start.sock", s.dir) >= 0)
                        (void) unlink(sock);
        }
        if (r < 0)
                oci_log(g, "error", "cannot start container %s: %s", id,
                        err == -ENOENT ? "executable file not found in the container"
                                       : strerror(-r));
        state_done(&s);
        return r < 0 ? EXIT_MOAT_FAILED : 0;
}

int oci_state(OciGlobal *g, int argc, char **argv) {
        OciState s;
        int status;
        const char *id = load_container(g, "state", last_arg(argc, argv), &s, &status);
        if (!id)
                return status;
        json_t *out = json_pack(
                "{s:O, s:s, s:s, s:i, s:O, s:O}", "ociVersion", json_object_get(s.j, "ociVersion"),
                "id", id, "status", state_alive(&s) ? s.status : "stopped", "pid",
                state_alive(&s) ? (int) s.pid : 0, "bundle", json_object_get(s.j, "bundle"),
                "created", json_object_get(s.j, "created"));
        char *text = out ? json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        if (text)
                printf("%s\n", text);
        free(text);
        json_decref(out);
        state_done(&s);
        return text ? 0 : EXIT_MOAT_FAILED;
}

static int signal_from_string(const char *s) {
        static const struct {
                const char *name;
                int sig;
        } names[] = { { "HUP", SIGHUP },    { "INT", SIGINT },   { "QUIT", SIGQUIT },
                      { "KILL", SIGKILL },  { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
                      { "TERM", SIGTERM },  { "CONT", SIGCONT }, { "STOP", SIGSTOP },
                      { "WINCH", SIGWINCH } };
        char *end;
        long v = strtol(s, &end, 10);
        if (*s && !*end)
                return v > 0 && v < NSIG ? (int) v : -EINVAL;
        if (strncmp(s, "SIG", 3) == 0)
                s += 3;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcmp(names[i].name, s) == 0)
                        return names[i].sig;
        return -EINVAL;
}

/* The host pids in the container's cgroup (all of them: the workload's children too). */
static int cgroup_pids(const OciState *s, pid_t **ret, size_t *n) {
        const char *cg = json_string_value(json_object_get(s->j, "cgroups_path"));
        int mech = (int) json_integer_value(json_object_get(s->j, "cgroup_mechanism"));
        _cleanup_free_ char *path = NULL;
        *ret = NULL;
        *n = 0;
        if (!cg || mech == 0)
                return -ENOENT;
        if (mech == 1 ? asprintf(&path, "/sys/fs/cgroup/pids%s/cgroup.procs", cg) < 0
                      : asprintf(&path, "/sys/fs/cgroup/unified%s/cgroup.procs", cg) < 0)
                return -ENOMEM;
        FILE *f = fopen(path, "re");
        if (!f && mech == 2) {
                free(path);
                if (asprintf(&path, "/sys/fs/cgroup%s/cgroup.procs", cg) < 0)
                        return -ENOMEM;
                f = fopen(path, "re");
        }
        if (!f)
                return -errno;
        int p;
        while (fscanf(f, "%d", &p) == 1) {
                pid_t *x = realloc(*ret, (*n + 1) * sizeof(pid_t));
                if (!x) {
                        fclose(f);
                        return -ENOMEM;
                }
                *ret = x;
                (*ret)[(*n)++] = p;
        }
        fclose(f);
        return 0;
}

int oci_kill(OciGlobal *g, int argc, char **argv) {
        const char *id = NULL, *sigs = "SIGTERM";
        bool all = false;
        int status;
        OciState s;

        const OciOpt opts[] = { { "--all", "-a", .flag = &all }, {} };
        const char *pos[2] = { NULL, NULL };
        if (parse_verb(g, "kill", argc, argv, opts, pos, 2, NULL) < 0)
                return EXIT_MOAT_FAILED;
        id = pos[0];
        if (pos[1])
                sigs = pos[1];
        int sig = signal_from_string(sigs);
        if (sig < 0) {
                oci_log(g, "error", "kill: invalid signal '%s'", sigs);
                return EXIT_MOAT_FAILED;
        }
        if (!load_container(g, "kill", id, &s, &status))
                return status;
        if (!state_alive(&s)) {
                oci_log(g, "error", "container not running");
                state_done(&s);
                return EXIT_MOAT_FAILED;
        }
        pid_t *pids = NULL;
        size_t n = 0;
        if (all && cgroup_pids(&s, &pids, &n) >= 0)
                for (size_t i = 0; i < n; i++)
                        (void) kill(pids[i], sig);
        free(pids);
        int r = kill(s.pid, sig) < 0 ? -errno : 0;
        state_done(&s);
        if (r == -ESRCH) {
                oci_log(g, "error", "container not running: no such process");
                return EXIT_MOAT_FAILED;
        }
        return r < 0 ? EXIT_MOAT_FAILED : 0;
}

static uint64_t parse_created_ns(const char *created) {
        struct tm tm = {};
        if (!created || !strptime(created, "%Y-%m-%dT%H:%M:%SZ", &tm))
                return 0;
        return (uint64_t) timegm(&tm) * 1000000000ULL;
}

/* The container's audit record, completed at delete (which the shim always calls): the plan
 * (rebuilt from the bundle, which the engine removes only after delete), the command, and how
 * it ended as the init wrote it to <state>/exit. A failure to write it is logged as an error
 * but does not keep the container's state: the engine would retry delete forever. */
static void oci_audit(OciGlobal *g, const char *id, const OciState *s) {
        _cleanup_oci_plan_ OciPlan *o = NULL;
        RunContext ctx = {};
        const char *bundle = json_string_value(json_object_get(s->j, "bundle"));
        const char *profile = json_string_value(json_object_get(s->j, "profile"));
        RunOutcome out = { .exit_status = EXIT_MOAT_FAILED, .exit_code = -1 };
        char how[64] = "", error[256] = "";
        uint64_t start = parse_created_ns(json_string_value(json_object_get(s->j, "created")));

        if (!g->profile)
                g->profile = profile;
        FILE *log = g->log_file;
        g->log_file = NULL; /* a plan that no longer loads is the record's error, not delete's */
        int r = bundle ? oci_load_plan(g, bundle, NULL, NULL, &o, &ctx) : -ENOENT;
        g->log_file = log;
        if (r < 0)
                snprintf(error, sizeof(error),
                         "container %s: the plan could not be rebuilt at "
                         "delete (bundle %s)",
                         id, bundle ?: "?");
        /* Namespaces joined by a path that create found to be the host's: in the record as the
         * ones the spec leaves out. */
        size_t k;
        json_t *nsj;
        json_array_foreach(json_object_get(s->j, "host_namespaces"), k, nsj) {
                int t = oci_namespace_from_string(json_string_value(nsj));
                char *refusal = NULL;
                if (o && t >= 0 && !o->host_ns[t])
                        (void) oci_plan_share_host(o, (OciNamespace) t,
                                                   "the spec joins it by a path", &refusal);
                free(refusal);
        }

        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/exit", s->dir) >= 0) {
                FILE *f = fopen(path, "re");
                if (f) {
                        (void) !fgets(how, sizeof(how), f);
                        fclose(f);
                }
        }
        int v = 0;
        char kind[16] = "";
        if (sscanf(how, "%15s %d", kind, &v) == 2) {
                out.started = true;
                out.timed_out = strstr(how, "timeout") != NULL;
                if (strcmp(kind, "exited") == 0) {
                        out.exit_code = v;
                        out.exit_status = v;
                } else {
                        out.signal = v;
                        out.exit_status = 128 + v;
                }
        } else if (strcmp(s->status, "running") == 0) {
                out.started = true;
                snprintf(error, sizeof(error),
                         "container %s: its init was killed, the workload's status is unknown", id);
        }
        snprintf(out.tier_detail, sizeof(out.tier_detail), "oci container %s", id);
        if (start) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                uint64_t now = (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
                out.wall_ns = now > start ? now - start : 0;
        }
        /* network: outbound: what the proxy decided, as its keeper last wrote it */
        _cleanup_free_ char *table = NULL;
        if (asprintf(&table, "%s/network.json", s->dir) >= 0 &&
            (r = net_table_load(AT_FDCWD, table, &out.network)) < 0 && r != -ENOENT)
                oci_log(g, "warning", "delete %s: the egress proxy's table %s: %s", id, table,
                        strerror(-r));
        RunRequest req = { .argv = o ? o->args : NULL, .workdir = o ? o->cwd : NULL };
        AuditContext actx = {
                .plan = o ? o->plan : NULL,
                .policy = ctx.policy,
                .host = o ? &ctx.host : NULL,
                .request = &req,
                .outcome = &out,
                .profile_arg = profile,
                .error = error[0] ? error : NULL,
                .start_realtime_ns = start,
        };
        const char *env = getenv("MOAT_AUDIT_LOG");
        _cleanup_free_ char *audit_path =
                env && *env ? strdup(env) : audit_log_default_path(ctx.policy);
        r = audit_path ? audit_log_run(&actx, audit_path) : -ENOMEM;
        if (r < 0)
                oci_log(g, "error", "delete %s: cannot write the audit record to %s: %s", id,
                        audit_path ?: "?", audit_log_strerror(r));
        free(out.network.dest);
        run_context_done(&ctx);
}

/* network: outbound: the proxy's keeper stops the proxy once the init has ended and writes its
 * table last. Give it that time (bounded), then make sure it is gone. */
#define KEEPER_WAIT_MS 1500

static void keeper_stop(const OciState *s) {
        pid_t k = (pid_t) json_integer_value(json_object_get(s->j, "proxy_keeper_pid"));
        unsigned long long t = (unsigned long long) json_integer_value(
                json_object_get(s->j, "proxy_keeper_start_time"));

        if (k <= 0 || t == 0)
                return;
        for (int i = 0; i < KEEPER_WAIT_MS / 10 && proc_start_time(k) == t; i++)
                usleep(10000);
        if (proc_start_time(k) == t)
                (void) kill(k, SIGKILL);
}

int oci_delete(OciGlobal *g, int argc, char **argv) {
        bool force = false;
        const char *id = NULL;
        OciState s;

        const OciOpt opts[] = { { "--force", "-f", .flag = &force }, {} };
        if (parse_verb(g, "delete", argc, argv, opts, &id, 1, NULL) < 0)
                return EXIT_MOAT_FAILED;
        if (!id || !id_valid(id)) {
                oci_log(g, "error", "delete: a valid container id is required");
                return EXIT_MOAT_FAILED;
        }
        int r = state_load(g, id, &s);
        if (r == 0) {
                state_done(&s);
                if (force)
                        return 0;
                oci_log(g, "error", "container %s does not exist", id);
                return EXIT_MOAT_FAILED;
        }
        if (r < 0) {
                oci_log(g, "error", "delete: cannot read the state of %s: %s", id, strerror(-r));
                state_done(&s);
                return EXIT_MOAT_FAILED;
        }
        if (state_alive(&s)) {
                if (!force && strcmp(s.status, "created") != 0) {
                        oci_log(g, "error",
                                "cannot delete container %s that is not stopped: "
                                "container is running",
                                id);
                        state_done(&s);
                        return EXIT_MOAT_FAILED;
                }
                SandboxCgroup fz;
                if (strcmp(s.status, "paused") == 0 && state_cgroup(&s, &fz) >= 0) {
                        (void) sys_cgroup_freeze(&fz, false); /* a frozen task cannot die */
                        sys_cgroup_forget(&fz);
                }
                (void) kill(s.pid, SIGKILL);
                for (int i = 0; i < 200 && state_alive(&s); i++)
                        usleep(10000);
        }
        keeper_stop(&s);
        /* The cgroup: what is left in it is killed and it is removed. */
        const char *cgp = json_string_value(json_object_get(s.j, "cgroups_path"));
        int mech = (int) json_integer_value(json_object_get(s.j, "cgroup_mechanism"));
        if (cgp && mech) {
                SandboxCgroup cg;
                r = sys_cgroup_prepare_at(mech == 1 ? CGROUP_MECH_V1 : CGROUP_MECH_V2, cgp, &cg);
                if (r >= 0)
                        r = sys_cgroup_destroy(&cg);
                if (r < 0 && r != -ENOENT)
                        oci_log(g, "warning", "delete %s: cgroup %s: %s", id, cgp, strerror(-r));
        }
        oci_audit(g, id, &s);
        remove_state_dir(s.dir);
        oci_log(g, "info", "deleted %s", id);
        state_done(&s);
        return 0;
}

int oci_ps(OciGlobal *g, int argc, char **argv) {
        OciState s;
        int status;
        const char *id = NULL, *format = "table";
        const OciOpt opts[] = { { "--format", "-f", .value = &format }, {} };

        if (parse_verb(g, "ps", argc, argv, opts, &id, 1, NULL) < 0)
                return EXIT_MOAT_FAILED;
        if (strcmp(format, "json") != 0 && strcmp(format, "table") != 0) {
                oci_log(g, "error", "ps: --format '%s' is not table or json", format);
                return EXIT_MOAT_FAILED;
        }
        bool json_fmt = strcmp(format, "json") == 0;
        if (!load_container(g, "ps", id, &s, &status))
                return status;
        pid_t *pids = NULL;
        size_t n = 0;
        if (cgroup_pids(&s, &pids, &n) < 0 && state_alive(&s)) {
                pids = malloc(sizeof(pid_t));
                if (pids) {
                        pids[0] = s.pid;
                        n = 1;
                }
        }
        if (json_fmt) {
                printf("[");
                for (size_t i = 0; i < n; i++)
                        printf("%s%d", i ? "," : "", (int) pids[i]);
                printf("]\n");
        } else {
                printf("PID\n");
                for (size_t i = 0; i < n; i++)
                        printf("%d\n", (int) pids[i]);
        }
        free(pids);
        state_done(&s);
        return 0;
}

/* ---- exec: a process joining a running container ---- */

typedef struct ExecChild {
        const OciPlan *o;
        const OciProcess *proc;
        const SeccompProgram *moat_seccomp, *spec_seccomp;
        int ns_fds[_OCI_NS_MAX];
        int console_fd;
        int go_fd;     /* read end: the top has moved us into the cgroup */
        int status_fd; /* write end, CLOEXEC: -errno of a failed step, EOF at execve() */
        int pid_fd;    /* write end: the final process's pid */
} ExecChild;

_Noreturn static void exec_fail(const ExecChild *x, int r) {
        (void) !write(x->status_fd, &r, sizeof(r));
        _exit(EXIT_MOAT_FAILED);
}

/* The process itself, inside the container's pid namespace: the same confinement as init. */
_Noreturn static void exec_final(const ExecChild *x) {
        const PlanSandbox *sb = &x->o->plan->sandbox;
        int tty = -EBADF, r;

        if (chdir(x->proc->cwd) < 0)
                exec_fail(x, -errno);
        if (setsid() < 0)
                exec_fail(x, -errno);
        if (x->console_fd >= 0) {
                if ((r = init_console(x->console_fd, &tty)) < 0)
                        exec_fail(x, r);
                if (ioctl(tty, TIOCSCTTY, 0) < 0)
                        exec_fail(x, -errno);
                for (int fd = 0; fd <= 2; fd++)
                        if (dup2(tty, fd) < 0)
                                exec_fail(x, -errno);
        }
        if ((sb->apparmor_profile && *sb->apparmor_profile) ||
            (sb->selinux_context && *sb->selinux_context)) {
                r = sys_lsm_set_exec_label(sb->apparmor_profile, sb->selinux_context);
                if (r < 0 && sb->mac_status == CONTROL_REQUIRED)
                        exec_fail(x, r);
        }
        if ((r = sys_no_new_privs()) < 0 ||
            (r = sys_caps_drop_except(sb->caps_keep, sb->n_caps_keep)) < 0)
                exec_fail(x, r);
        if (sb->landlock.status == CONTROL_REQUIRED || sb->landlock.status == CONTROL_BEST_EFFORT) {
                r = sys_landlock_apply(&sb->landlock);
                if (r < 0 && sb->landlock.status == CONTROL_REQUIRED)
                        exec_fail(x, r);
        }
        int keep[1] = { x->status_fd };
        if ((r = sys_fd_close_all_except(keep, 1)) < 0)
                exec_fail(x, r);
        if (x->moat_seccomp && (r = sys_seccomp_load(x->moat_seccomp, NULL)) < 0)
                exec_fail(x, r);
        if (x->spec_seccomp && (r = sys_seccomp_load(x->spec_seccomp, NULL)) < 0)
                exec_fail(x, r);
        size_t failed;
        if ((r = sys_rlimit_apply(sb->rlimits, sb->n_rlimits, &failed)) < 0)
                exec_fail(x, r);
        sigset_t none;
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        r = sys_exec_search(x->proc->args, x->proc->env);
        exec_fail(x, r);
}

/* E1: joins the container's namespaces (its user namespace first), forks the final process
 * (a pid namespace takes effect for children), reports its pid and exits. */
_Noreturn static void exec_joiner(ExecChild *x) {
        static const struct {
                OciNamespace ns;
                int type;
        } order[] = { { OCI_NS_USER, CLONE_NEWUSER },   { OCI_NS_MOUNT, CLONE_NEWNS },
                      { OCI_NS_IPC, CLONE_NEWIPC },     { OCI_NS_UTS, CLONE_NEWUTS },
                      { OCI_NS_NETWORK, CLONE_NEWNET }, { OCI_NS_CGROUP, CLONE_NEWCGROUP },
                      { OCI_NS_PID, CLONE_NEWPID },     { OCI_NS_TIME, CLONE_NEWTIME } };
        char go;
        int r;

        if (read(x->go_fd, &go, 1) != 1)
                _exit(EXIT_MOAT_FAILED);
        for (size_t i = 0; i < ELEMENTSOF(order); i++)
                if (x->ns_fds[order[i].ns] >= 0 &&
                    (r = sys_ns_join(x->ns_fds[order[i].ns], order[i].type)) < 0)
                        exec_fail(x, r);
        pid_t pid = fork();
        if (pid < 0)
                exec_fail(x, -errno);
        if (pid == 0)
                exec_final(x);
        (void) !write(x->pid_fd, &pid, sizeof(pid));
        _exit(0);
}

int oci_exec(OciGlobal *g, int argc, char **argv) {
        const char *process = NULL, *pid_file = NULL, *console = NULL, *id = NULL;
        bool detach = false;
        _cleanup_oci_plan_ OciPlan *o = NULL;
        OciProcess proc = {};
        SeccompProgram moat_sc = {}, spec_sc = {};
        bool have_moat = false, have_spec = false;
        ExecChild x = { .console_fd = -EBADF };
        int go[2] = { -EBADF, -EBADF }, st[2] = { -EBADF, -EBADF }, pp[2] = { -EBADF, -EBADF };
        int status = EXIT_MOAT_FAILED, r;
        OciState s = {};

        for (int i = 0; i < _OCI_NS_MAX; i++)
                x.ns_fds[i] = -EBADF;
        bool tty = false;
        const OciOpt opts[] = {
                { "--process", "-p", .value = &process },
                { "--pid-file", NULL, .value = &pid_file },
                { "--console-socket", NULL, .value = &console },
                { "--detach", "-d", .flag = &detach },
                { "--tty", "-t", .flag = &tty }, /* process.terminal decides */
                {},
        };
        if (parse_verb(g, "exec", argc, argv, opts, &id, 1,
                       " (a command line is not supported: use --process)") < 0)
                return EXIT_MOAT_FAILED;
        if (!process) {
                oci_log(g, "error", "exec: --process FILE is required");
                return EXIT_MOAT_FAILED;
        }
        if (!load_container(g, "exec", id, &s, &status))
                return status;
        status = EXIT_MOAT_FAILED;
        if (!state_alive(&s) || strcmp(s.status, "running") != 0) {
                oci_log(g, "error", "cannot exec in container %s: container not running", id);
                goto out;
        }
        const char *bundle = json_string_value(json_object_get(s.j, "bundle"));
        const char *profile = json_string_value(json_object_get(s.j, "profile"));
        if (!g->profile)
                g->profile = profile;
        if (!bundle || oci_load_plan(g, bundle, NULL, NULL, &o, NULL) < 0)
                goto out;
        char digest[65];
        for (int i = 0; i < 32; i++)
                snprintf(digest + 2 * i, 3, "%02x", o->spec_digest[i]);
        const char *was = json_string_value(json_object_get(s.j, "spec_digest"));
        if (o->refused || !was || strcmp(was, digest) != 0 || strcmp(o->profile_name, profile)) {
                oci_log(g, "error",
                        "exec: the container's config.json or profile changed since "
                        "create; refused");
                goto out;
        }
        json_error_t je;
        json_t *pj = json_load_file(process, 0, &je);
        char *refusal = NULL;
        MoatError err = {};
        r = pj ? oci_process_check(pj, o, &proc, &refusal, &err) : -EINVAL;
        json_decref(pj);
        if (r < 0 || refusal) {
                char buf[700];
                oci_log(g, "error", "exec: %s",
                        refusal ? refusal
                        : pj    ? moat_error_format(&err, buf, sizeof(buf))
                                : "cannot read --process");
                free(refusal);
                goto out;
        }
        if (proc.terminal && !console) {
                oci_log(g, "error", "exec: a terminal needs --console-socket");
                goto out;
        }
        for (int i = 0; i < _OCI_NS_MAX; i++) {
                char path[64];
                static const char *const proc_names[_OCI_NS_MAX] = {
                        [OCI_NS_PID] = "pid",       [OCI_NS_NETWORK] = "net",
                        [OCI_NS_IPC] = "ipc",       [OCI_NS_UTS] = "uts",
                        [OCI_NS_MOUNT] = "mnt",     [OCI_NS_USER] = "user",
                        [OCI_NS_CGROUP] = "cgroup", [OCI_NS_TIME] = "time",
                };
                struct stat a, b;
                snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int) s.pid, proc_names[i]);
                x.ns_fds[i] = open(path, O_RDONLY | O_CLOEXEC);
                if (x.ns_fds[i] < 0) {
                        oci_log(g, "error", "exec: %s: %s", path, strerror(errno));
                        goto out;
                }
                snprintf(path, sizeof(path), "/proc/self/ns/%s", proc_names[i]);
                /* setns() into the namespace we are already in fails for a user namespace */
                if (fstat(x.ns_fds[i], &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino)
                        x.ns_fds[i] = safe_close(x.ns_fds[i]);
        }
        if (o->plan->sandbox.seccomp.status != CONTROL_NOT_APPLICABLE) {
                r = sys_seccomp_program_for(&o->plan->sandbox.seccomp, &moat_sc);
                have_moat = r >= 0;
                if (r < 0) {
                        oci_log(g, "error", "exec: moat's seccomp filter: %s", strerror(-r));
                        goto out;
                }
        }
        if (o->seccomp) {
                r = sys_seccomp_compile_oci(o->seccomp, &spec_sc);
                have_spec = r >= 0;
                if (r < 0) {
                        oci_log(g, "error", "exec: the spec's seccomp filter: %s", strerror(-r));
                        goto out;
                }
        }
        if (console && (x.console_fd = connect_unix(console)) < 0) {
                oci_log(g, "error", "exec: console socket: %s", strerror(-x.console_fd));
                goto out;
        }
        if (pipe2(go, O_CLOEXEC) < 0 || pipe2(st, O_CLOEXEC) < 0 || pipe2(pp, O_CLOEXEC) < 0)
                goto out;
        x.o = o;
        x.proc = &proc;
        x.moat_seccomp = have_moat ? &moat_sc : NULL;
        x.spec_seccomp = have_spec ? &spec_sc : NULL;
        x.go_fd = go[0];
        x.status_fd = st[1];
        x.pid_fd = pp[1];
        /* In the foreground the final process (a grandchild) must come back to us to be
         * waited for; detached, it goes to the engine's shim, the nearest subreaper. */
        if (!detach)
                (void) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        pid_t e1 = fork();
        if (e1 < 0)
                goto out;
        if (e1 == 0)
                exec_joiner(&x);
        go[0] = safe_close(go[0]);
        st[1] = safe_close(st[1]);
        pp[1] = safe_close(pp[1]);
        const char *cgp = json_string_value(json_object_get(s.j, "cgroups_path"));
        int mech = (int) json_integer_value(json_object_get(s.j, "cgroup_mechanism"));
        if (cgp && mech) {
                SandboxCgroup cg;
                r = sys_cgroup_prepare_at(mech == 1 ? CGROUP_MECH_V1 : CGROUP_MECH_V2, cgp, &cg);
                if (r >= 0) {
                        r = sys_cgroup_join(&cg, e1);
                        sys_cgroup_forget(&cg);
                }
                if (r < 0) {
                        (void) kill(e1, SIGKILL);
                        (void) waitpid(e1, NULL, 0);
                        oci_log(g, "error", "exec: cannot join the container's cgroup: %s",
                                strerror(-r));
                        goto out;
                }
        }
        (void) !write(go[1], "g", 1);
        pid_t pid = -1;
        int e = 0;
        ssize_t n = read(pp[0], &pid, sizeof(pid));
        ssize_t m = read(st[0], &e, sizeof(e));
        (void) waitpid(e1, NULL, 0);
        if (n != sizeof(pid) || m == sizeof(e)) {
                oci_log(g, "error", "exec failed: %s",
                        m == sizeof(e) ? (e == -ENOENT ? "executable file not found in $PATH"
                                                       : strerror(-e))
                                       : "could not join the container");
                goto out;
        }
        if (pid_file) {
                char text[32];
                snprintf(text, sizeof(text), "%d", (int) pid);
                if ((r = write_file_atomic(pid_file, text)) < 0) {
                        oci_log(g, "error", "exec: pid file: %s", strerror(-r));
                        (void) kill(pid, SIGKILL);
                        goto out;
                }
        }
        if (detach) {
                status = 0;
                goto out;
        }
        int ws;
        while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
                ;
        status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
out:
        for (int i = 0; i < _OCI_NS_MAX; i++)
                safe_close(x.ns_fds[i]);
        safe_close(x.console_fd);
        for (int i = 0; i < 2; i++) {
                safe_close(go[i]);
                safe_close(st[i]);
                safe_close(pp[i]);
        }
        if (have_moat)
                sys_seccomp_program_done(&moat_sc);
        if (have_spec)
                sys_seccomp_program_done(&spec_sc);
        oci_process_done(&proc);
        state_done(&s);
        return status;
}

/* ---- update, pause, resume: the container's cgroup ---- */

static int freeze(OciGlobal *g, int argc, char **argv, bool frozen) {
        const char *verb = frozen ? "pause" : "resume";
        OciState s;
        SandboxCgroup cg;
        int status;

        if (!load_container(g, verb, last_arg(argc, argv), &s, &status))
                return status;
        status = EXIT_MOAT_FAILED;
        if (!state_alive(&s))
                oci_log(g, "error", "container not running");
        else if (strcmp(s.status, frozen ? "running" : "paused") != 0)
                oci_log(g, "error", "container %s is %s, not %s", last_arg(argc, argv), s.status,
                        frozen ? "running" : "paused");
        else if (state_cgroup(&s, &cg) < 0)
                oci_log(g, "error", "%s: the container has no cgroup to freeze", verb);
        else {
                int r = sys_cgroup_freeze(&cg, frozen);
                sys_cgroup_forget(&cg);
                json_object_set_new(s.j, "status", json_string(frozen ? "paused" : "running"));
                if (r >= 0)
                        r = state_save(&s);
                if (r < 0)
                        oci_log(g, "error", "%s: %s", verb, strerror(-r));
                else
                        status = 0;
        }
        state_done(&s);
        return status;
}

int oci_pause(OciGlobal *g, int argc, char **argv) {
        return freeze(g, argc, argv, true);
}

int oci_resume(OciGlobal *g, int argc, char **argv) {
        return freeze(g, argc, argv, false);
}

/* update --resources FILE|- ID: new memory, cpu and pids limits, written at cgroupsPath; never
 * above the profile's (a limit the profile sets cannot be raised or removed). */
int oci_update(OciGlobal *g, int argc, char **argv) {
        static const char *const keys[] = { "devices", "memory",  "cpu",
                                            "pids",    "blockIO", "hugepageLimits",
                                            "network", "rdma",    "unified",
                                            NULL };
        const char *file = NULL, *id = NULL;
        _cleanup_oci_plan_ OciPlan *o = NULL;
        RunContext ctx = {};
        OciState s = {};
        SandboxCgroup cg = SANDBOX_CGROUP_INIT;
        MoatError err = {};
        json_t *res = NULL;
        int status;

        const OciOpt opts[] = { { "--resources", "-r", .value = &file }, {} };
        if (parse_verb(g, "update", argc, argv, opts, &id, 1,
                       " (moat updates the resources: use --resources)") < 0)
                return EXIT_MOAT_FAILED;
        if (!file) {
                oci_log(g, "error", "update: --resources FILE (or -) is required");
                return EXIT_MOAT_FAILED;
        }
        if (!load_container(g, "update", id, &s, &status))
                return status;
        status = EXIT_MOAT_FAILED;
        json_error_t je;
        res = strcmp(file, "-") == 0 ? json_loadf(stdin, 0, &je) : json_load_file(file, 0, &je);
        if (!res || oci_spec_check_keys(res, "linux.resources", keys, &err) < 0) {
                char buf[700];
                oci_log(g, "error", "update: %s",
                        res ? moat_error_format(&err, buf, sizeof(buf)) : je.text);
                goto out;
        }
        static const char *const unsupported[] = { "blockIO", "hugepageLimits", "network",
                                                   "rdma",    "unified",        NULL };
        for (size_t i = 0; unsupported[i]; i++)
                if (oci_spec_is_set(json_object_get(res, unsupported[i]))) {
                        oci_log(g, "error", "update: linux.resources.%s is not supported",
                                unsupported[i]);
                        goto out;
                }
        if (!state_alive(&s)) {
                oci_log(g, "error", "container not running");
                goto out;
        }
        const char *bundle = json_string_value(json_object_get(s.j, "bundle"));
        if (!g->profile)
                g->profile = json_string_value(json_object_get(s.j, "profile"));
        if (!bundle || oci_load_plan(g, bundle, NULL, NULL, &o, &ctx) < 0)
                goto out;
        /* The ceiling: the profile's own limits (the floor plan), or, for a profile chosen
         * by annotation, what the container was created with. */
        const PlanResources *cap =
                o->from_annotation || !ctx.plan ? &o->plan->resources : &ctx.plan->resources;
        PlanResources want = {};
        json_t *mem = json_object_get(res, "memory"), *cpu = json_object_get(res, "cpu");
        want.memory = (uint64_t) MAX(json_integer_value(json_object_get(mem, "limit")), 0);
        want.pids = (uint64_t) MAX(
                json_integer_value(json_object_get(json_object_get(res, "pids"), "limit")), 0);
        json_int_t quota = json_integer_value(json_object_get(cpu, "quota"));
        json_int_t period = json_integer_value(json_object_get(cpu, "period"));
        if (quota > 0)
                want.cpus_milli = (uint32_t) MAX(quota * 1000 / (period > 0 ? period : 100000), 1);
        const char *over = cap->memory && want.memory > cap->memory ? "resources.memory"
                           : cap->pids && want.pids > cap->pids     ? "resources.pids"
                           : cap->cpus_milli && want.cpus_milli > cap->cpus_milli ? "resources.cpus"
                                                                                  : NULL;
        if (over) {
                oci_log(g, "error", "update refused: above the limit of profile %s (%s)",
                        o->profile_name, over);
                goto out;
        }
        int r = state_cgroup(&s, &cg);
        if (r >= 0)
                r = sys_cgroup_set_limits(&cg, &want);
        json_int_t shares = json_integer_value(json_object_get(cpu, "shares"));
        if (r >= 0 && shares > 0)
                r = cg_set_cpu_weight(&cg, (uint64_t) MIN(MAX(shares, 2), 262144));
        if (r < 0) {
                oci_log(g, "error", "update: %s", strerror(-r));
                goto out;
        }
        status = 0;
out:
        sys_cgroup_forget(&cg);
        json_decref(res);
        run_context_done(&ctx);
        state_done(&s);
        return status;
}

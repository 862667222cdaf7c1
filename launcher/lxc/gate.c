/* SPDX-License-Identifier: MIT */
/* moat-system-gate: the first program of a command-mode system container, bound read-only at
 * /.moat-gate and run by liblxc as the container's pid 1, with the command after "--".
 *
 * Several lxc keys fail open (LXC-NOTES §3), so the gate checks its *own* state against the
 * plan before the command exists: NoNewPrivs, the seccomp mode and filter count, the
 * capability bounding, permitted and effective sets, the MAC label, the uid and gid maps. Then it waits on
 * /.moat-go until moat, on the host, has verified the container from outside (status of pid 1,
 * cgroup values read back), applies the plan's Landlock ruleset (which liblxc does not know),
 * starts a new session, and runs the command with the plan's environment. Any mismatch:
 * the reason goes to /.moat-status and stderr, exit 125, and the command never runs.
 *
 * As pid 1 (command mode) it stays the container's init under every control it checked: it
 * makes itself non-dumpable and forks the command (which, with the same uid, cannot read
 * its memory or trace it), passes SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGCONT
 * and SIGWINCH on to it (blocked from the start, so one sent early waits for the command),
 * reaps every orphan, and exits with the command's status (128+N for signal N) the moment the
 * command ends; the kernel then kills what is left in the container. liblxc's own init, a fork
 * of liblxc's monitor with its whole heap that forked the gate in turn, was 3 ms of a run.
 *
 * In command mode it first stacks the plan's seccomp filter, compiled by moat on the host and
 * bound read-only at /.moat-filter (load_filter()): liblxc's own compile of the policy for
 * three ABIs was the largest part of its start. In boot mode with systemd, liblxc's attach runs it as /.moat-enter, as the
 * container's root under systemd's confinement: it first becomes what the plan gives the
 * command (enter()), then stacks the same filter. Before that, liblxc runs it as that
 * container's pid 1 (--lock-mounts), which moves into a nested user namespace, so that every
 * mount liblxc made is locked for systemd, and execs systemd (lock_mounts()).
 *
 * Static: it must run in any image, whatever libc the image has (or none). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sys/landlock.h"

#define MAX_ENV 1024
#define MAX_LL 256

static _Noreturn void refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void refuse(const char *fmt, ...) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        int fd = open("/.moat-status", O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (fd >= 0) {
                (void) !write(fd, msg, strlen(msg));
                close(fd);
        }
        fprintf(stderr, "moat: system gate: %s: refusing to run the command\n", msg);
        _exit(125);
}

/* The value of "Field:" in /proc/self/status, trimmed. */
static int status_field(const char *status, const char *field, char *out, size_t size) {
        size_t n = strlen(field);
        for (const char *l = status; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
                if (strncmp(l, field, n) == 0 && l[n] == ':') {
                        const char *v = l + n + 1;
                        v += strspn(v, " \t");
                        size_t len = strcspn(v, "\n");
                        if (len >= size)
                                return -1;
                        memcpy(out, v, len);
                        out[len] = '\0';
                        return 0;
                }
        }
        return -1;
}

static void read_file(const char *path, char *buf, size_t size) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;
        if (fd < 0)
                refuse("cannot read %s: %s", path, strerror(errno));
        n = read(fd, buf, size - 1);
        close(fd);
        if (n < 0)
                refuse("cannot read %s: %s", path, strerror(errno));
        buf[n] = '\0';
}

/* "0 100000 65536" against the kernel's padded columns. */
static void check_map(const char *path, const char *want) {
        char buf[256], norm[256];
        size_t j = 0;
        bool sp = true;
        read_file(path, buf, sizeof(buf));
        for (size_t i = 0; buf[i] && j + 1 < sizeof(norm); i++) {
                bool ws = buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n';
                if (ws && !sp)
                        norm[j++] = ' ';
                if (!ws)
                        norm[j++] = buf[i];
                sp = ws;
        }
        while (j > 0 && norm[j - 1] == ' ')
                j--;
        norm[j] = '\0';
        if (strcmp(norm, want) != 0)
                refuse("%s is '%s', plan requires '%s'", path, norm, want);
}

/* "apparmor:NAME (enforce)" or "selinux:CONTEXT" against the kernel's view of this process
 * (AppArmor's own attribute file where the kernel has one, else attr/current). */
static void check_label(const char *spec) {
        bool aa = strncmp(spec, "apparmor:", 9) == 0;
        const char *want = strchr(spec, ':');
        char buf[512];
        int fd = -1;

        if (!want || (!aa && strncmp(spec, "selinux:", 8) != 0))
                refuse("bad --label '%s'", spec);
        want++;
        if (aa)
                fd = open("/proc/self/attr/apparmor/current", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                fd = open("/proc/self/attr/current", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
        if (fd >= 0)
                close(fd);
        if (n < 0)
                refuse("%s: cannot read this process's label: %s", aa ? "apparmor" : "selinux",
                       strerror(errno));
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\0'))
                n--;
        buf[n] = '\0';
        if (strcmp(buf, want) != 0)
                refuse("%s: label is '%s', plan requires '%s'", aa ? "apparmor" : "selinux", buf,
                       want);
}

/* The number in "Seccomp_filters:" of this process now. */
static unsigned filters_now(void) {
        char status[4096], v[64];
        read_file("/proc/self/status", status, sizeof(status));
        if (status_field(status, "Seccomp_filters", v, sizeof(v)) < 0)
                return 0;
        return (unsigned) strtoul(v, NULL, 10);
}

/* Stacks the plan's filter (a classic BPF program compiled by moat on the host, the sandbox
 * tier's, bound read-only at PATH) on whatever this process has. no_new_privs is set (liblxc's
 * lxc.no_new_privs, or its attach), so no privilege is needed. Returns the number of filters
 * the process must have from here on. must: a filter that does not load stops the gate; without
 * must (MOAT_SYSTEM_FAULT, the gate's checks off) it is left to the host's checks, which then
 * see no filter, and the gate is never released under a fault. */
static unsigned load_filter(const char *path, bool must) {
        static struct sock_filter prog[BPF_MAXINSNS];
        unsigned before = filters_now();
        struct stat st;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                refuse("seccomp: cannot open %s: %s", path, strerror(errno));
        if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0 ||
            st.st_size > (off_t) sizeof(prog) || read(fd, prog, (size_t) st.st_size) != st.st_size)
                refuse("seccomp: %s is not a filter program", path);
        close(fd);
        struct sock_fprog fp = { .len = (unsigned short) (st.st_size / sizeof(prog[0])),
                                 .filter = prog };
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) < 0) {
                if (must)
                        refuse("seccomp: the plan's filter did not load: %s", strerror(errno));
                return before;
        }
        return before + 1;
}

/* Boot mode with systemd: run as /.moat-enter by liblxc's attach, as the container's root,
 * under the container's boot confinement, which is systemd's. Becomes what the plan gives the
 * command before anything is checked: the bounding set lowered to the plan's, no ambient
 * capability, the plan's gid and uid with no supplementary group, for root inside the
 * permitted, effective and inheritable sets within the bounding set; then the plan's own filter
 * (compiled by moat on the host, bound read-only at /.moat-filter) stacked on the container's.
 * Only then is the process named .moat-gate, which moat looks for before it checks from the
 * host. Returns the number of filters the process must have. */
static unsigned enter(const char *spec, const char *filter) {
        unsigned long uid, gid;
        uint64_t bnd;

        if (sscanf(spec, "%lu:%lu:%" SCNx64, &uid, &gid, &bnd) != 3)
                refuse("bad --enter '%s'", spec);
        for (unsigned cap = 0; cap < 64; cap++)
                if (!(bnd & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 &&
                    errno != EINVAL)
                        refuse("caps: cannot drop capability %u from the bounding set: %s", cap,
                               strerror(errno));
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                refuse("caps: cannot clear the ambient set: %s", strerror(errno));
        /* a single-uid map denies setgroups: then there must be no group to drop */
        if (setgroups(0, NULL) < 0 && getgroups(0, NULL) > 0)
                refuse("userns: cannot drop the supplementary groups: %s", strerror(errno));
        if (setresgid((gid_t) gid, (gid_t) gid, (gid_t) gid) < 0 ||
            setresuid((uid_t) uid, (uid_t) uid, (uid_t) uid) < 0)
                refuse("userns: cannot become uid %lu gid %lu: %s", uid, gid, strerror(errno));
        if (uid == 0) {
                struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
                struct __user_cap_data_struct d[2] = {};
                if (syscall(SYS_capget, &h, d) < 0)
                        refuse("caps: capget: %s", strerror(errno));
                for (int k = 0; k < 2; k++) {
                        uint32_t m = (uint32_t) (bnd >> (32 * k));
                        d[k].permitted &= m;
                        d[k].effective &= m;
                        d[k].inheritable &= m;
                }
                if (syscall(SYS_capset, &h, d) < 0)
                        refuse("caps: capset: %s", strerror(errno));
        }

        unsigned n = load_filter(filter, true);
        if (prctl(PR_SET_NAME, ".moat-gate", 0, 0, 0) < 0)
                refuse("prctl: %s", strerror(errno));
        return n;
}

/* /proc/self/uid_map (or gid_map) as the map of a user namespace nested in this one that maps
 * each id of this one to itself: "INSIDE INSIDE COUNT" for each line "INSIDE OUTSIDE COUNT". */
static void identity_map(const char *path, char *out, size_t size) {
        char buf[2048];
        size_t used = 0;
        read_file(path, buf, sizeof(buf));
        for (char *l = buf, *nl; l && *l; l = nl ? nl + 1 : NULL) {
                unsigned long in, outside, count;
                nl = strchr(l, '\n');
                if (sscanf(l, "%lu %lu %lu", &in, &outside, &count) != 3)
                        refuse("userns: cannot read %s", path);
                int n = snprintf(out + used, size - used, "%lu %lu %lu\n", in, in, count);
                if (n < 0 || (size_t) n >= size - used)
                        refuse("userns: %s is too long", path);
                used += (size_t) n;
        }
        if (used == 0)
                refuse("userns: %s is empty", path);
}

static void write_map(const char *path, const char *map) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        ssize_t n = fd < 0 ? -1 : write(fd, map, strlen(map));
        if (n != (ssize_t) strlen(map))
                _exit(1);
        close(fd);
}

/* Boot mode with systemd: liblxc runs this as the container's pid 1 (/.moat-enter
 * --lock-mounts FILTER -- INIT), under systemd's boot confinement, before the image's init.
 * liblxc made the container's mounts (the read-only binds, the /proc masks, /sys read-only) in
 * a mount namespace of the container's own user namespace, where systemd's CAP_SYS_ADMIN could
 * get around them: mount a fresh procfs, or bind /proc without its submounts, and read what a
 * mask hides. So pid 1 moves into a user namespace nested in the container's, mapping each id
 * to itself, together with a copy of the mount namespace (and a cgroup namespace of its own,
 * rooted where the container's is, in which systemd may mount its hierarchies): the kernel
 * locks every mount of a copy made for a less privileged user namespace, so in it a mask cannot
 * be unmounted or moved, a bind cannot leave a locked submount out, procfs cannot be mounted
 * afresh while a locked mount covers part of one, and a read-only mount stays read-only
 * (MNT_LOCKED, MNT_LOCK_READONLY). The maps are written by a child left in the container's
 * namespace (a process cannot write the maps of its own new namespace beyond its own id). The new
 * namespace's bounding set is full: it is lowered again to the one liblxc gave. Then the
 * filter at FILTER (moat's, compiled on the host: unshare denied) is stacked, so that neither
 * systemd nor anything it starts makes the call this needed, and INIT is exec'd with liblxc's
 * environment and the signal mask pid 1 was given. */
static _Noreturn void lock_mounts(const char *filter, char **init, const sigset_t *old) {
        static char uid_map[2048], gid_map[2048];
        uint64_t bnd = 0;
        int p[2], st;

        if (getpid() != 1)
                refuse("--lock-mounts: not the container's pid 1");
        for (unsigned cap = 0; cap < 64; cap++) {
                int held = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
                if (held < 0)
                        break; /* past the kernel's last capability */
                if (held)
                        bnd |= 1ULL << cap;
        }
        identity_map("/proc/self/uid_map", uid_map, sizeof(uid_map));
        identity_map("/proc/self/gid_map", gid_map, sizeof(gid_map));
        if (pipe2(p, O_CLOEXEC) < 0)
                refuse("pipe: %s", strerror(errno));
        pid_t writer = fork();
        if (writer < 0)
                refuse("fork: %s", strerror(errno));
        if (writer == 0) {
                char b;
                close(p[1]);
                if (read(p[0], &b, 1) != 1)
                        _exit(1); /* pid 1 ended before its unshare */
                write_map("/proc/1/uid_map", uid_map);
                write_map("/proc/1/gid_map", gid_map);
                _exit(0);
        }
        close(p[0]);
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP) < 0)
                refuse("userns: cannot make the nested user, mount and cgroup namespaces: %s (a "
                       "host that forbids user namespaces to the container's root: "
                       "kernel.unprivileged_userns_clone 0, AppArmor's or SELinux's user "
                       "namespace rules)",
                       strerror(errno));
        if (write(p[1], "u", 1) != 1)
                refuse("pipe: %s", strerror(errno));
        close(p[1]);
        while (waitpid(writer, &st, 0) < 0)
                if (errno != EINTR)
                        refuse("waitpid: %s", strerror(errno));
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                refuse("userns: the maps of the nested user namespace could not be written");
        for (unsigned cap = 0; cap < 64; cap++)
                if (!(bnd & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 &&
                    errno != EINVAL)
                        refuse("caps: cannot drop capability %u from the bounding set: %s", cap,
                               strerror(errno));
        (void) load_filter(filter, true);
        if (sigprocmask(SIG_SETMASK, old, NULL) < 0)
                refuse("sigprocmask: %s", strerror(errno));
        execve(init[0], init, environ);
        refuse("cannot run the image's init %s: %s", init[0], strerror(errno));
}

/* The signals pid 1 passes on to the command, and SIGCHLD: blocked from the start of main(). */
static void init_signals(sigset_t *set) {
        static const int sigs[] = { SIGHUP,  SIGINT,  SIGQUIT,  SIGTERM, SIGUSR1,
                                    SIGUSR2, SIGCONT, SIGWINCH, SIGCHLD };
        sigemptyset(set);
        for (size_t k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++)
                sigaddset(set, sigs[k]);
}

/* pid 1: fork the command, then pass signals on, reap, and end with it. */
static _Noreturn void run_as_init(char **cmd, char **envp, const sigset_t *set,
                                  const sigset_t *old) {
        /* non-dumpable before the fork, so that no moment exists in which the command could
         * read or trace pid 1; the command's exec makes it dumpable again (same credentials) */
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                refuse("prctl(PR_SET_DUMPABLE): %s", strerror(errno));
        pid_t child = fork();
        if (child < 0)
                refuse("fork: %s", strerror(errno));
        if (child == 0) {
                (void) sigprocmask(SIG_SETMASK, old, NULL);
                execvpe(cmd[0], cmd, envp);
                int e = errno;
                fprintf(stderr, "moat: %s: %s\n", cmd[0], strerror(e));
                _exit(e == ENOENT || e == ENOTDIR ? 127 : 126);
        }
        for (;;) {
                siginfo_t si;
                int sig = sigwaitinfo(set, &si);
                if (sig < 0)
                        continue; /* EINTR */
                if (sig != SIGCHLD) {
                        (void) kill(child, sig);
                        continue;
                }
                int st;
                pid_t w;
                while ((w = waitpid(-1, &st, WNOHANG)) > 0)
                        if (w == child)
                                _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        }
}

int main(int argc, char **argv) {
        const char *capbnd = NULL, *uidmap = NULL, *gidmap = NULL, *label = NULL, *cwd = "/",
                   *filter = NULL, *enter_spec = NULL, *lock_filter = NULL;
        char *envp[MAX_ENV + 1];
        PlanLandlockPath ll_paths[MAX_LL];
        PlanLandlock ll = {};
        unsigned min_filters = 0;
        size_t n_env = 0;
        bool nnp = false, seccomp = false, landlock = false, filter_must = true;
        bool init = getpid() == 1;
        sigset_t init_set, old_mask;
        int i;

        /* as pid 1 a signal with no handler is dropped: the ones for the command wait */
        init_signals(&init_set);
        if (init && sigprocmask(SIG_BLOCK, &init_set, &old_mask) < 0)
                refuse("sigprocmask: %s", strerror(errno));

        for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
                const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
                if (strcmp(a, "--nnp") == 0)
                        nnp = true;
                else if (strcmp(a, "--seccomp") == 0 && v) {
                        seccomp = true;
                        min_filters = (unsigned) strtoul(v, NULL, 10);
                        i++;
                } else if (strcmp(a, "--capbnd") == 0 && v)
                        capbnd = argv[++i];
                else if (strcmp(a, "--uidmap") == 0 && v)
                        uidmap = argv[++i];
                else if (strcmp(a, "--gidmap") == 0 && v)
                        gidmap = argv[++i];
                else if (strcmp(a, "--enter") == 0 && v)
                        enter_spec = argv[++i];
                else if (strcmp(a, "--lock-mounts") == 0 && v)
                        lock_filter = argv[++i];
                else if (strcmp(a, "--filter") == 0 && v)
                        filter = argv[++i];
                else if (strcmp(a, "--filter-unchecked") == 0 && v) {
                        filter = argv[++i];
                        filter_must = false;
                } else if (strcmp(a, "--label") == 0 && v)
                        label = argv[++i];
                else if (strcmp(a, "--cwd") == 0 && v)
                        cwd = argv[++i];
                else if (strcmp(a, "--env") == 0 && v && n_env < MAX_ENV)
                        envp[n_env++] = argv[++i];
                else if (strcmp(a, "--landlock") == 0 && v) {
                        if (sscanf(v, "%d,%" SCNx64 ",%" SCNx64 ",%" SCNx64, &ll.abi,
                                   &ll.handled_fs, &ll.handled_net, &ll.scoped) != 4)
                                refuse("bad --landlock '%s'", v);
                        ll.status = CONTROL_REQUIRED;
                        ll.paths = ll_paths;
                        landlock = true;
                        i++;
                } else if (strcmp(a, "--ll-connect") == 0 && v) {
                        /* network: outbound: the one TCP port connect() may reach (the proxy) */
                        char *end;
                        unsigned long port = strtoul(v, &end, 10);
                        if (*end || port == 0 || port > 65535)
                                refuse("bad --ll-connect '%s'", v);
                        ll.connect_port = (uint16_t) port;
                        i++;
                } else if (strcmp(a, "--ll") == 0 && v && ll.n_paths < MAX_LL) {
                        char *eq = strrchr(argv[i + 1], '=');
                        if (!eq)
                                refuse("bad --ll '%s'", v);
                        *eq = '\0';
                        ll_paths[ll.n_paths].path = argv[i + 1];
                        ll_paths[ll.n_paths].access = strtoull(eq + 1, NULL, 16);
                        ll.n_paths++;
                        i++;
                } else
                        refuse("unknown gate argument '%s'", a);
        }
        envp[n_env] = NULL;
        if (i + 1 >= argc)
                refuse("no command after --");
        char **cmd = argv + i + 1;
        if (lock_filter)
                lock_mounts(lock_filter, cmd, &old_mask);

        if (enter_spec) {
                if (!filter)
                        refuse("--enter without --filter");
                unsigned n = enter(enter_spec, filter);
                if (n > min_filters)
                        min_filters = n;
        } else if (filter) {
                /* command mode: the plan's filter, before any check of this process */
                unsigned n = load_filter(filter, filter_must);
                if (n > min_filters)
                        min_filters = n;
        }

        char status[4096], v[64];
        read_file("/proc/self/status", status, sizeof(status));
        if (nnp && (status_field(status, "NoNewPrivs", v, sizeof(v)) < 0 || strcmp(v, "1") != 0))
                refuse("no_new_privs is not set (NoNewPrivs: %s)", v);
        if (seccomp) {
                if (status_field(status, "Seccomp", v, sizeof(v)) < 0 || strcmp(v, "2") != 0)
                        refuse("seccomp is not in filter mode (Seccomp: %s)", v);
                if (status_field(status, "Seccomp_filters", v, sizeof(v)) < 0 ||
                    strtoul(v, NULL, 10) < min_filters)
                        refuse("seccomp: %s filters, the plan requires at least %u", v,
                               min_filters);
        }
        if (capbnd) {
                static const char *const sets[] = { "CapBnd", "CapPrm", "CapEff", "CapAmb",
                                                    "CapInh" };
                uint64_t want = strtoull(capbnd, NULL, 16), held = want;
                for (size_t k = 0; k < sizeof(sets) / sizeof(sets[0]); k++) {
                        if (status_field(status, sets[k], v, sizeof(v)) < 0)
                                refuse("%s is missing from /proc/self/status", sets[k]);
                        uint64_t have = strtoull(v, NULL, 16);
                        /* the bounding set exactly; the others never beyond it */
                        if (k == 0 ? have != want : (have & ~held) != 0)
                                refuse("%s is %s, plan requires %s%016" PRIx64, sets[k], v,
                                       k == 0 ? "" : "a subset of ", k == 0 ? want : held);
                }
        }
        if (label)
                check_label(label);
        if (uidmap)
                check_map("/proc/self/uid_map", uidmap);
        if (gidmap)
                check_map("/proc/self/gid_map", gidmap);

        /* wait for moat's outside checks (it writes one byte, or kills the container); the
         * byte on /.moat-ready tells it to check now (a hint: moat also looks by itself) */
        int rd = open("/.moat-ready", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (rd >= 0) {
                (void) !write(rd, "r", 1);
                close(rd);
        }
        int go = open("/.moat-go", O_RDONLY | O_CLOEXEC);
        char b;
        if (go < 0 || read(go, &b, 1) != 1 || b != 'g')
                refuse("moat did not confirm the container's state from the host");
        close(go);

        if (landlock) {
                int r = sys_landlock_apply(&ll);
                if (r < 0)
                        refuse("landlock: %s", strerror(-r));
        }
        /* no controlling terminal the command could inject into (TIOCSTI) */
        if (setsid() < 0 && getsid(0) != getpid())
                refuse("setsid: %s", strerror(errno));
        if (chdir(cwd) < 0)
                refuse("chdir %s: %s", cwd, strerror(errno));

        /* PATH from the plan's environment, for the lookup of the command */
        for (size_t k = 0; k < n_env; k++)
                if (strncmp(envp[k], "PATH=", 5) == 0)
                        setenv("PATH", envp[k] + 5, 1);
        if (!getenv("PATH"))
                setenv("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", 1);
        if (init)
                run_as_init(cmd, envp, &init_set, &old_mask);
        execvpe(cmd[0], cmd, envp);
        int e = errno;
        fprintf(stderr, "moat: %s: %s\n", cmd[0], strerror(e));
        _exit(e == ENOENT || e == ENOTDIR ? 127 : 126);
}

/* SPDX-License-Identifier: MIT */
/* moat-system-run: the only program that loads liblxc. moat (lxc-execute.c) makes the plan,
 * the run directory and every lxc key itself, then execs this program in its runner child
 * ("start": liblxc's monitor, start() with daemonize off) and, in boot mode, in its attacher
 * child ("attach": attach_run_wait() of the gate). Nothing is resolved or decided here: the
 * keys, the gate's argv and the ids come from moat over fd 3, a pipe only moat writes, and are
 * applied as they are, each key checked (LXC-NOTES P1).
 *
 * fd 3, read to its end (moat closes it once written), NUL-terminated strings:
 *   "moat-lxc-1" MODE LXCPATH CGROUP_USE UID GID NKEYS (KEY VALUE)*NKEYS NARGS ARG*NARGS
 * MODE is "command", "boot" or "attach"; CGROUP_USE is "" or the hierarchies liblxc may use
 * (lxc.cgroup.use, which liblxc reads from its global configuration file only; see
 * private_global_config()). fd 4 (start only): where a failure is described before exit 125.
 * The parent death signal is set by moat before the exec and survives it; the environment is
 * moat's, with XDG_RUNTIME_DIR set here to LXCPATH (liblxc's run files of a user's run go
 * there: get_rundir() reads it when a container is made, not when liblxc is loaded), so that
 * moat can start this program before the run directory exists. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <lxc/lxccontainer.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "lxc-cleanup.h"
#if HAVE_SELINUX
#include <selinux/selinux.h>
#endif

#define CONFIG_FD 3
#define ERROR_FD 4 /* start: a line of why it failed, for moat's error */
#define GO_FD 4    /* attach: moat's go */
#define CONFIG_MAX (16u << 20)

static bool report = false; /* fd 4 is ours to write to (start) */

static _Noreturn __attribute__((format(printf, 1, 2))) void die(const char *fmt, ...) {
        char msg[768];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (report)
                (void) !write(ERROR_FD, msg, strlen(msg));
        else
                fprintf(stderr, "%s%s\n",
                        strncmp(msg, "moat-system-run:", 16) == 0 ? "" : "moat-system-run: ", msg);
        _exit(125);
}

typedef struct Input {
        char *buf;
        size_t len, pos;
} Input;

static const char *next(Input *in) {
        if (in->pos >= in->len)
                die("moat-system-run: the configuration from moat ends early");
        const char *s = in->buf + in->pos;
        in->pos += strlen(s) + 1;
        return s;
}

static unsigned long number(Input *in, unsigned long max) {
        const char *s = next(in);
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || !s[0] || *end || v > max)
                die("moat-system-run: a bad number '%.32s' in the configuration from moat", s);
        return v;
}

static void read_all(Input *in) {
        size_t cap = 65536;
        in->buf = malloc(cap);
        in->len = in->pos = 0;
        for (;;) {
                if (!in->buf)
                        die("moat-system-run: out of memory");
                if (in->len == cap) {
                        if (cap >= CONFIG_MAX)
                                die("moat-system-run: the configuration from moat is too long");
                        in->buf = realloc(in->buf, cap *= 2);
                        continue;
                }
                ssize_t n = read(CONFIG_FD, in->buf + in->len, cap - in->len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        die("moat-system-run: cannot read the configuration: %s", strerror(errno));
                if (n == 0)
                        break;
                in->len += (size_t) n;
        }
        (void) close(CONFIG_FD);
        if (in->len == 0 || in->buf[in->len - 1] != '\0')
                die("moat-system-run: the configuration from moat is incomplete");
}

/* lxc.cgroup.use is no container key: liblxc reads it from /etc/lxc/lxc.conf (root) only. In
 * a mount namespace of this process alone, made a slave of the host's first so that nothing
 * mounted here reaches the host, a tmpfs over /etc/lxc holds a file with that one key. The
 * container's own mount namespace is a copy of this one and its root is pivoted away from it;
 * the namespace ends with this process. Without /etc/lxc (liblxc installed without the lxc
 * package) liblxc uses every hierarchy, as before. */
static void private_global_config(const char *use) {
        struct stat st;
        if (!use[0] || geteuid() != 0 || stat("/etc/lxc", &st) < 0 || !S_ISDIR(st.st_mode))
                return;
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0 ||
            mount("moat-lxc", "/etc/lxc", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "mode=0755,size=64k") < 0)
                die("liblxc's configuration: cannot make a private /etc/lxc: %s", strerror(errno));
        int fd = open("/etc/lxc/lxc.conf", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        char line[1024];
        int n = snprintf(line, sizeof(line), "lxc.cgroup.use = %s\n", use);
        if (fd < 0 || n <= 0 || (size_t) n >= sizeof(line) || write(fd, line, (size_t) n) != n ||
            close(fd) < 0)
                die("liblxc's configuration: cannot write /etc/lxc/lxc.conf: %s", strerror(errno));
}

static int status_of(int st) {
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- liblxc's setup process dying at its start -------------------------------------------
 *
 * liblxc 5.0.2 (Debian 12) clones the container's setup process into a new user namespace and
 * writes its id map from the parent while the child runs lxc_ambient_caps_up(), which returns
 * early unless getuid() != 0 and geteuid() == 0. Before the map both are the overflow id, after
 * it both are 0; when the write lands between the two calls, the child goes on, raises its
 * inheritable and ambient sets and free()s the string of cap_to_text(), which libcap allocated
 * behind a header of its own: glibc aborts ("free(): invalid pointer"). liblxc fixed the free in
 * 2026 (e4e1fa4, cap_free()); Debian 12's 5.0.2 has the abort. Here it hit an unprivileged
 * user's start about once in 100 to 700. Root's never: its own uid is outside the container's
 * map, so geteuid() in the setup process stays the overflow id.
 *
 * The child dies before it reads the parent's first sync message, so nothing of the container
 * was set up and nothing of the image ran: liblxc's first error is then the parent's failed
 * sync with it, or its write of the rest of the child's id map (setgroups, gid_map) to a child
 * that is gone; a child that fails for a reason of its own logs that reason first. Such a start
 * is made once more, with the same keys; moat is told (the record's tier detail says so). Were
 * the free fixed and the race left, the setup process would survive with every capability of
 * its user namespace in its inheritable and ambient sets, and an init exec'd as root there
 * keeps them whatever its bounding set: the gate refuses that in command mode, boot mode has
 * no check for it (README.md). */
static bool setup_died_silently(struct lxc_container *c) {
        char path[4096], line[1024];
        int n = c->get_config_item(c, "lxc.log.file", path, sizeof(path));
        if (n <= 0 || (size_t) n >= sizeof(path))
                return false;
        FILE *f = fopen(path, "re");
        bool silent = false;
        while (f && fgets(line, sizeof(line), f)) {
                if (!strstr(line, " ERROR ") && !strstr(line, " CRIT ") && !strstr(line, " ALERT "))
                        continue;
                /* "sync - ../src/lxc/sync.c:sync_wait:25 - ... - Sync wait failure", or the
                 * child gone before the parent wrote all of its map: "conf - ../src/lxc/conf.c:
                 * write_id_mapping:3520 - Permission denied - Failed to open
                 * "/proc/PID/setgroups"" (a map that cannot be written at all fails twice) */
                silent = (strstr(line, "/sync.c:") && (strstr(line, "Sync wait failure") ||
                                                       strstr(line, "Sync wake failure"))) ||
                         strstr(line, "/conf.c:write_id_mapping:");
                break;
        }
        if (f)
                fclose(f);
        return silent;
}

/* The test hook MOAT_SYSTEM_RUNNER_FAULT=setup-abort (launcher/lxc/README.md): the first start
 * meets the race above every time. This process puts itself under a seccomp filter that hands
 * getuid() and geteuid() to a watcher process, which answers them for the first setup process
 * (the first caller in another pid namespace, up to its first geteuid()) as the race does
 * (getuid() the overflow id as before the map, geteuid() let through once the parent wrote the
 * map: 0) and lets every other call (liblxc here, its helpers, the second start and the
 * container) go on to the kernel, those of another pid namespace once their map is written. The watcher is no child of this one (liblxc's abort waits for every child);
 * it ends when no process is left under the filter. */
static bool other_pidns(pid_t pid) {
        char path[64];
        struct stat mine, its;
        snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int) pid);
        return stat("/proc/self/ns/pid", &mine) == 0 && stat(path, &its) == 0 &&
               its.st_ino != mine.st_ino;
}

static bool map_written(pid_t pid) {
        char path[64], b[8];
        snprintf(path, sizeof(path), "/proc/%d/uid_map", (int) pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, b, sizeof(b)) : -1;
        if (fd >= 0)
                (void) close(fd);
        return n > 0;
}

static _Noreturn void setup_abort_watch(int sock) {
        char c[CMSG_SPACE(sizeof(int))] = {}, b;
        struct iovec iov = { .iov_base = &b, .iov_len = 1 };
        struct msghdr m = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c, .msg_controllen = sizeof(c)
        };
        struct cmsghdr *h;
        int l;
        pid_t fake = 0;
        /* calls held until the caller's map is written (at most 1 s) */
        struct {
                pid_t pid;
                int waited;
                struct seccomp_notif_resp resp;
        } held[16] = {};

        if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1 || !(h = CMSG_FIRSTHDR(&m)) ||
            h->cmsg_type != SCM_RIGHTS)
                _exit(1);
        memcpy(&l, CMSG_DATA(h), sizeof(l));
        for (;;) {
                bool holding = false;
                for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++)
                        holding |= held[i].pid != 0;
                struct pollfd pf = { .fd = l, .events = POLLIN };
                int n = poll(&pf, 1, holding ? 1 : -1);
                if (n < 0 && errno != EINTR)
                        _exit(1);
                for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++) {
                        if (!held[i].pid || (!map_written(held[i].pid) && ++held[i].waited <= 1000))
                                continue;
                        (void) ioctl(l, SECCOMP_IOCTL_NOTIF_SEND, &held[i].resp);
                        if (held[i].pid == fake)
                                fake = -1; /* done: that process is left alone from now on */
                        held[i].pid = 0;
                }
                if (n <= 0)
                        continue;
                if (!(pf.revents & POLLIN))
                        _exit(0); /* no process is left under the filter */
                struct seccomp_notif req = {};
                struct seccomp_notif_resp resp = {};
                if (ioctl(l, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
                        continue; /* the caller is gone */
                pid_t pid = (pid_t) req.pid;
                resp.id = req.id;
                resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
                bool other = other_pidns(pid);
                if (other && !fake)
                        fake = pid;
                if (pid == fake && req.data.nr == __NR_getuid) {
                        resp.flags = 0; /* as before the map: the overflow id */
                        resp.val = 65534;
                } else if (other && !map_written(pid)) {
                        /* the first setup process's geteuid() once the parent wrote the map
                         * (0: the race); any other's call then too, so that this hook's
                         * round trips do not open the race for the second start */
                        size_t i = 0;
                        while (i < sizeof(held) / sizeof(held[0]) && held[i].pid)
                                i++;
                        if (i < sizeof(held) / sizeof(held[0])) {
                                held[i].pid = pid;
                                held[i].waited = 0;
                                held[i].resp = resp;
                                continue;
                        }
                } else if (pid == fake) {
                        fake = -1;
                }
                (void) ioctl(l, SECCOMP_IOCTL_NOTIF_SEND, &resp);
        }
}

static void setup_abort_arm(void) {
        struct sock_filter insns[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getuid, 1, 0),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_geteuid, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { .len = sizeof(insns) / sizeof(insns[0]), .filter = insns };
        int sp[2], st;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
                die("MOAT_SYSTEM_RUNNER_FAULT: socketpair: %s", strerror(errno));
        pid_t mid = fork();
        if (mid == 0) {
                if (fork() == 0) {
                        (void) dup2(sp[1], 3);
                        (void) close_range(0, 2, 0);
                        (void) close_range(4, ~0U, 0);
                        setup_abort_watch(3);
                }
                _exit(0);
        }
        if (mid < 0 || waitpid(mid, &st, 0) != mid)
                die("MOAT_SYSTEM_RUNNER_FAULT: cannot start the watcher");
        (void) close(sp[1]);
        int l = -1;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            (l = (int) syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                               SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog)) < 0)
                die("MOAT_SYSTEM_RUNNER_FAULT: no seccomp listener: %s", strerror(errno));
        char c[CMSG_SPACE(sizeof(int))] = {}, b = 'l';
        struct iovec iov = { .iov_base = &b, .iov_len = 1 };
        struct msghdr m = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c, .msg_controllen = sizeof(c)
        };
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(h), &l, sizeof(l));
        if (sendmsg(sp[0], &m, 0) != 1)
                die("MOAT_SYSTEM_RUNNER_FAULT: cannot pass the listener: %s", strerror(errno));
        (void) close(l);
        (void) close(sp[0]);
}

static _Noreturn void start(Input *in, bool boot, const char *lxcpath, const char *use) {
        struct lxc_container *c;
        unsigned long n_keys, n_args;

        report = true;
        private_global_config(use);
        c = lxc_container_new("c", lxcpath);
        if (!c)
                die("liblxc: cannot create the container object");
        n_keys = number(in, 100000);
        /* P1: every key checked; a refused key stops the run */
        for (unsigned long i = 0; i < n_keys; i++) {
                const char *k = next(in), *v = next(in);
                if (!c->set_config_item(c, k, v))
                        die("liblxc refused %s = %s", k, v);
        }
        n_args = number(in, 1000000);
        char **argv = calloc(n_args + 1, sizeof(char *));
        if (!argv)
                die("moat-system-run: out of memory");
        for (unsigned long i = 0; i < n_args; i++)
                argv[i] = (char *) next(in);
        if (in->pos != in->len || (!boot && n_args == 0))
                die("moat-system-run: the configuration from moat does not add up");
        if (!c->want_daemonize(c, false) || !c->want_close_all_fds(c, true))
                die("liblxc: cannot turn daemonize off");
        /* boot mode: the image's init (lxc.init.cmd) as pid 1; the command comes through
         * attach. Command mode: the gate as pid 1 (it forks the command and stays its init),
         * not liblxc's init. */
        const char *fault = getenv("MOAT_SYSTEM_RUNNER_FAULT");
        if (fault && strcmp(fault, "setup-abort") != 0)
                die("MOAT_SYSTEM_RUNNER_FAULT=%.32s: no such fault", fault);
        if (fault)
                setup_abort_arm();
        bool ok = c->start(c, 0, boot ? NULL : argv);
        if (!ok && setup_died_silently(c)) {
                /* nothing of the image ran: the same container, started once more; moat
                 * reads the note from the run directory (start() closed fd 4) */
                char note[4096];
                snprintf(note, sizeof(note), "%s/setup-retried", lxcpath);
                int fd = open(note, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                if (fd < 0 || close(fd) < 0)
                        _exit(125);
                ok = c->start(c, 0, boot ? NULL : argv);
        }
        if (!ok)
                die("liblxc could not start the container (see %s/lxc.log)", lxcpath);
        _exit(status_of(c->error_num));
}

/* Boot mode: runs the gate (and so the command) in the running container through liblxc's
 * attach, as the given user, with a cleared environment (the gate sets the plan's) and no new
 * privileges; attach moves it into the container's namespaces, cgroup and LSM label and applies
 * its seccomp filter and capability bounding set. Exits with the command's status. moat starts
 * it as soon as the image's init runs: it attaches once moat writes a byte on GO_FD (systemd:
 * once it reported READY=1), and without one (moat gone: end of file) it exits, attaching
 * nothing. */
static _Noreturn void attach(Input *in, const char *lxcpath, uid_t uid, gid_t gid) {
        if (number(in, 0) != 0)
                die("moat-system-run: attach takes no keys");
        unsigned long n_args = number(in, 1000000);
        char **argv = calloc(n_args + 1, sizeof(char *));
        if (!argv)
                die("moat-system-run: out of memory");
        for (unsigned long i = 0; i < n_args; i++)
                argv[i] = (char *) next(in);
        if (in->pos != in->len || n_args == 0)
                die("moat-system-run: the configuration from moat does not add up");
        /* attach passes this process's descriptors on to the command: only stdio (GO_FD is
         * closed before the attach) */
        if (close_range(CONFIG_FD, CONFIG_FD, 0) < 0 || close_range(GO_FD + 1, ~0U, 0) < 0)
                _exit(125);
        struct lxc_container *c = lxc_container_new("c", lxcpath);
        if (!c)
                _exit(125);
        /* liblxc's state becomes RUNNING just after pid 1 exec'd the init (c->wait() polls
         * once a second) */
        for (int i = 0; !c->is_running(c) || strcmp(c->state(c), "RUNNING") != 0; i++) {
                if (i >= 3000)
                        _exit(125);
                usleep(10000);
        }
        char go;
        ssize_t n;
        while ((n = read(GO_FD, &go, 1)) < 0 && errno == EINTR)
                ;
        if (n != 1 || close(GO_FD) < 0)
                _exit(125);
        lxc_attach_options_t ao = LXC_ATTACH_OPTIONS_DEFAULT;
        ao.attach_flags |= LXC_ATTACH_NO_NEW_PRIVS;
        ao.env_policy = LXC_ATTACH_CLEAR_ENV;
        ao.uid = uid;
        ao.gid = gid;
        ao.initial_cwd = (char *) "/";
        int st = c->attach_run_wait(c, &ao, argv[0], (const char *const *) argv);
        _exit(st < 0 ? 125 : status_of(st));
}

/* `moat-system-run selinux-permissive CONTEXT`: 0 when the policy knows CONTEXT's domain and it
 * is enforcing, 1 when it is permissive or unknown (moat's check of the label in force; here
 * because libselinux stays out of moat's own process). */
static int selinux_permissive(const char *ctx) {
#if HAVE_SELINUX
        struct av_decision avd = {};
        security_class_t process = string_to_security_class("process");
        if (!process || security_compute_av_flags_raw(ctx, ctx, process, 0, &avd) < 0 ||
            (avd.flags & SELINUX_AVD_FLAGS_PERMISSIVE))
                return 1;
        return 0;
#else
        (void) ctx;
        return 2;
#endif
}

/* "cleanup ID DIR": what a run left once moat is gone, exec'd by its guard (lxc-cleanup.h).
 * DIR must be a run directory of ID (an absolute path ending in /ID, ID 32 hex digits): a
 * mistyped call removes nothing else. */
static int cleanup(const char *id, const char *dir) {
        size_t n = strlen(id), d = strlen(dir);
        if (n != 32 || strspn(id, "0123456789abcdef") != n || dir[0] != '/' || d <= n + 1 ||
            strcmp(dir + d - n, id) != 0 || dir[d - n - 1] != '/') {
                fprintf(stderr, "moat-system-run: cleanup needs a run id and its run directory\n");
                return 125;
        }
        return lxc_run_cleanup(id, dir, NULL) < 0 ? 1 : 0;
}

int main(int argc, char **argv) {
        Input in;

        if (argc == 3 && strcmp(argv[1], "selinux-permissive") == 0)
                return selinux_permissive(argv[2]);
        if (argc == 4 && strcmp(argv[1], "cleanup") == 0)
                return cleanup(argv[2], argv[3]);
        if (argc != 2 || (strcmp(argv[1], "start") != 0 && strcmp(argv[1], "attach") != 0)) {
                fprintf(stderr,
                        "moat-system-run: moat's system tier runs this program itself "
                        "(moat run -p PROFILE -- COMMAND)\n");
                return 125;
        }
        report = strcmp(argv[1], "start") == 0;
        read_all(&in);
        if (strcmp(next(&in), "moat-lxc-1") != 0)
                die("moat-system-run: not a configuration from this moat");
        const char *mode = next(&in), *lxcpath = next(&in), *use = next(&in);
        uid_t uid = (uid_t) number(&in, UINT_MAX - 1);
        gid_t gid = (gid_t) number(&in, UINT_MAX - 1);
        if (lxcpath[0] != '/')
                die("moat-system-run: the run directory is not absolute");
        if (setenv("XDG_RUNTIME_DIR", lxcpath, 1) < 0)
                die("moat-system-run: out of memory");
        if (strcmp(argv[1], "attach") == 0) {
                if (strcmp(mode, "attach") != 0)
                        die("moat-system-run: attach needs an attach configuration");
                attach(&in, lxcpath, uid, gid);
        }
        if (strcmp(mode, "command") != 0 && strcmp(mode, "boot") != 0)
                die("moat-system-run: unknown mode '%.32s'", mode);
        start(&in, strcmp(mode, "boot") == 0, lxcpath, use);
}

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
 * The parent death signal and the environment (XDG_RUNTIME_DIR) are set by moat before the
 * exec; both survive it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lxc/lxccontainer.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
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
        if (!c->start(c, 0, boot ? NULL : argv))
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
        if (strcmp(argv[1], "attach") == 0) {
                if (strcmp(mode, "attach") != 0)
                        die("moat-system-run: attach needs an attach configuration");
                attach(&in, lxcpath, uid, gid);
        }
        if (strcmp(mode, "command") != 0 && strcmp(mode, "boot") != 0)
                die("moat-system-run: unknown mode '%.32s'", mode);
        start(&in, strcmp(mode, "boot") == 0, lxcpath, use);
}

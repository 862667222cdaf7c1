/* SPDX-License-Identifier: MIT */
/* moat-probe: reports, as one JSON object on stdout, what a process can see of its own
 * confinement, for the integration tests to assert on. No library dependencies beyond libc,
 * linked statically where possible so that it runs in a sandbox that binds only /usr.
 *
 *   moat-probe [--try-write PATH] [--try-read PATH] [--try-exec PATH] [--try-mkdir PATH]
 *              [--try-connect-tcp HOST:PORT] [--try-abstract NAME] [--try-syscall NAME]
 *              [--sleep SECONDS] [--exit N]
 *
 * Each --try-* is attempted in order and reported under "tries" as {op, arg, ok, errno, error}.
 * machine_id, dbus_machine_id and boot_id are the files' contents (null when unreadable).
 * --try-syscall names: keyctl, add_key, unshare, userns, mount, bpf, ptrace, tiocsti,
 * perf_event_open, init_module, setns, personality; keyctl-i386 and getpid-i386 make the call
 * through int 0x80 (the i386 ABI), which kills the probe with SIGSEGV on a kernel that refuses
 * int 0x80 (tests/integration/vm/ia32.sh uses them in a guest whose kernel accepts it). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/landlock.h>
#include <linux/perf_event.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

extern char **environ;

static bool first;

static void json_str(const char *s) {
        putchar('"');
        for (; s && *s; s++) {
                unsigned char c = (unsigned char) *s;
                if (c == '"' || c == '\\')
                        printf("\\%c", c);
                else if (c == '\n')
                        fputs("\\n", stdout);
                else if (c == '\t')
                        fputs("\\t", stdout);
                else if (c < 0x20)
                        printf("\\u%04x", c);
                else
                        putchar(c);
        }
        putchar('"');
}

static void key(const char *k) {
        if (!first)
                putchar(',');
        first = false;
        putchar('\n');
        json_str(k);
        putchar(':');
}

static char *read_file(const char *path) {
        static char buf[1 << 16];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        ssize_t n, total = 0;
        while ((n = read(fd, buf + total, sizeof(buf) - 1 - (size_t) total)) > 0)
                total += n;
        close(fd);
        buf[total] = 0;
        return buf;
}

static void str_field(const char *k, const char *v) {
        key(k);
        if (v)
                json_str(v);
        else
                fputs("null", stdout);
}

static void int_field(const char *k, long long v) {
        key(k);
        printf("%lld", v);
}

/* Value of "Name:\t..." in /proc/self/status, or NULL. */
static const char *status_value(const char *status, const char *name, char *out, size_t size) {
        size_t nl = strlen(name);
        for (const char *l = status; l && *l;) {
                const char *end = strchrnul(l, '\n');
                if (strncmp(l, name, nl) == 0 && l[nl] == ':') {
                        const char *v = l + nl + 1;
                        while (*v == ' ' || *v == '\t')
                                v++;
                        snprintf(out, size, "%.*s", (int) (end - v), v);
                        return out;
                }
                l = *end ? end + 1 : end;
        }
        return NULL;
}

static void print_status(void) {
        static const char *const caps[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" };
        char *st = read_file("/proc/self/status");
        char copy[1 << 16], v[256];
        snprintf(copy, sizeof(copy), "%s", st ? st : "");
        key("caps");
        putchar('{');
        for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
                printf("%s", i ? "," : "");
                json_str(caps[i]);
                putchar(':');
                json_str(status_value(copy, caps[i], v, sizeof(v)) ? v : "");
        }
        putchar('}');
        int_field("no_new_privs", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
        int_field("seccomp", status_value(copy, "Seccomp", v, sizeof(v)) ? atoi(v) : -1);
        int_field("seccomp_filters",
                  status_value(copy, "Seccomp_filters", v, sizeof(v)) ? atoi(v) : -1);
}

/* The kernel has no query for "am I in a Landlock domain". Heuristic: /proc/self/comm is ours
 * and writable by its owner on a rw /proc; EACCES on opening it for writing is what a domain
 * without write rights on /proc gives (null when /proc is missing or read-only). */
static void print_landlock(void) {
        long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
        int e = abi < 0 ? errno : 0;
        const char *restricted = "null";
        int fd = open("/proc/self/comm", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
                restricted = "false";
                close(fd);
        } else if (errno == EACCES)
                restricted = "true";
        key("landlock");
        printf("{\"abi\":%ld,\"errno\":%d,\"restricted\":%s}", abi < 0 ? 0 : abi, e, restricted);
}

/* The LSM label the process runs under ("unconfined", "NAME (enforce)" with AppArmor), without
 * the trailing newline; "" where no LSM answers (the read fails with EINVAL). */
static void print_lsm_label(void) {
        char *l = read_file("/proc/self/attr/current");
        if (l)
                l[strcspn(l, "\n")] = 0;
        str_field("lsm_label", l);
}

/* mountinfo: id parent major:minor root target options [optional...] - fstype source super */
static void print_mounts(void) {
        char *mi = read_file("/proc/self/mountinfo");
        bool f = true;
        key("mounts");
        putchar('[');
        for (char *save = NULL, *l = mi ? strtok_r(mi, "\n", &save) : NULL; l;
             l = strtok_r(NULL, "\n", &save)) {
                char *fields[16] = {}, *s2 = NULL;
                int n = 0;
                for (char *t = strtok_r(l, " ", &s2); t && n < 16; t = strtok_r(NULL, " ", &s2))
                        fields[n++] = t;
                int dash = -1;
                for (int i = 6; i < n; i++)
                        if (strcmp(fields[i], "-") == 0) {
                                dash = i;
                                break;
                        }
                if (n < 6 || dash < 0 || dash + 3 > n)
                        continue;
                printf("%s{\"target\":", f ? "" : ",");
                json_str(fields[4]);
                printf(",\"root\":");
                json_str(fields[3]);
                printf(",\"options\":");
                json_str(fields[5]);
                printf(",\"fstype\":");
                json_str(fields[dash + 1]);
                printf(",\"source\":");
                json_str(fields[dash + 2]);
                printf(",\"super_options\":");
                json_str(dash + 3 < n ? fields[dash + 3] : "");
                putchar('}');
                f = false;
        }
        putchar(']');
}

static void print_rlimits(void) {
        static const struct {
                const char *name;
                int res;
        } lims[] = {
                { "nofile", RLIMIT_NOFILE }, { "nproc", RLIMIT_NPROC }, { "as", RLIMIT_AS },
                { "core", RLIMIT_CORE },     { "fsize", RLIMIT_FSIZE }, { "cpu", RLIMIT_CPU }
        };
        key("rlimits");
        putchar('{');
        for (size_t i = 0; i < sizeof(lims) / sizeof(lims[0]); i++) {
                struct rlimit rl;
                getrlimit((__rlimit_resource_t) lims[i].res, &rl);
                printf("%s\"%s\":[", i ? "," : "", lims[i].name);
                if (rl.rlim_cur == RLIM_INFINITY)
                        printf("-1,");
                else
                        printf("%llu,", (unsigned long long) rl.rlim_cur);
                if (rl.rlim_max == RLIM_INFINITY)
                        printf("-1]");
                else
                        printf("%llu]", (unsigned long long) rl.rlim_max);
        }
        putchar('}');
}

static void print_net(void) {
        char *dev = read_file("/proc/net/dev");
        bool f = true;
        key("net");
        putchar('[');
        for (char *save = NULL, *l = dev ? strtok_r(dev, "\n", &save) : NULL; l;
             l = strtok_r(NULL, "\n", &save)) {
                char *colon = strchr(l, ':');
                if (!colon || strchr(l, '|'))
                        continue;
                *colon = 0;
                while (*l == ' ')
                        l++;
                char path[128];
                snprintf(path, sizeof(path), "/sys/class/net/%s/flags", l);
                printf("%s{\"name\":", f ? "" : ",");
                json_str(l);
                /* Up/down from SIOCGIFFLAGS: /sys may not be mounted. */
                int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                struct ifreq {
                        char name[16];
                        short flags;
                        char pad[22];
                } ifr = {};
                snprintf(ifr.name, sizeof(ifr.name), "%s", l);
                int up = -1;
                if (s >= 0 && ioctl(s, 0x8913 /* SIOCGIFFLAGS */, &ifr) == 0)
                        up = (ifr.flags & 1) ? 1 : 0;
                if (s >= 0)
                        close(s);
                printf(",\"up\":%d}", up);
                f = false;
        }
        putchar(']');
}

static void print_ns(void) {
        static const char *const names[] = { "user", "mnt", "pid",    "net",
                                             "ipc",  "uts", "cgroup", "time" };
        key("ns");
        putchar('{');
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                char path[64], link[128];
                snprintf(path, sizeof(path), "/proc/self/ns/%s", names[i]);
                ssize_t n = readlink(path, link, sizeof(link) - 1);
                link[n < 0 ? 0 : n] = 0;
                printf("%s\"%s\":", i ? "," : "", names[i]);
                json_str(link);
        }
        putchar('}');
}

static void print_environ(void) {
        key("environ");
        putchar('[');
        for (char **e = environ; e && *e; e++) {
                char name[256];
                snprintf(name, sizeof(name), "%.*s", (int) strcspn(*e, "="), *e);
                printf("%s", e == environ ? "" : ",");
                json_str(name);
        }
        putchar(']');
        str_field("PATH", getenv("PATH"));
}

static void print_fds(void) {
        key("fds");
        putchar('[');
        bool f = true;
        for (int fd = 0; fd < 1024; fd++)
                if (fcntl(fd, F_GETFD) >= 0) {
                        printf("%s%d", f ? "" : ",", fd);
                        f = false;
                }
        putchar(']');
}

static void try_result(bool *tf, const char *op, const char *arg, int r, int err) {
        printf("%s{\"op\":", *tf ? "" : ",");
        json_str(op);
        printf(",\"arg\":");
        json_str(arg);
        printf(",\"ok\":%s,\"errno\":%d,\"error\":", r >= 0 ? "true" : "false", r >= 0 ? 0 : err);
        json_str(r >= 0 ? "" : strerror(err));
        putchar('}');
        *tf = false;
}

/* The i386 entry from 64-bit code: the kernel treats the call as AUDIT_ARCH_I386 and zeroes
 * r8-r11 on return. A raw -errno becomes -1 and errno. */
static int syscall_i386(long nr, long a, long b, long c) {
        long ret;

        __asm__ volatile("int $0x80"
                         : "=a"(ret)
                         : "a"(nr), "b"(a), "c"(b), "d"(c)
                         : "memory", "r8", "r9", "r10", "r11");
        if (ret < 0 && ret > -4096) {
                errno = (int) -ret;
                return -1;
        }
        return (int) ret;
}

static int try_syscall(const char *name) {
        if (strcmp(name, "keyctl") == 0)
                return (int) syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0);
        if (strcmp(name, "add_key") == 0)
                return (int) syscall(SYS_add_key, "user", "moat-probe", "x", 1, -3);
        if (strcmp(name, "unshare") == 0)
                return unshare(CLONE_NEWNS);
        if (strcmp(name, "userns") == 0)
                return unshare(CLONE_NEWUSER);
        if (strcmp(name, "setns") == 0)
                return setns(0, 0);
        if (strcmp(name, "mount") == 0)
                return mount("none", "/tmp", "tmpfs", 0, NULL);
        if (strcmp(name, "bpf") == 0) {
                union bpf_attr attr;
                memset(&attr, 0, sizeof(attr));
                return (int) syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
        }
        if (strcmp(name, "ptrace") == 0) {
                /* PTRACE_TRACEME in a throw-away child: allowed it returns 0, and nothing of
                 * ours is ever stopped. */
                pid_t pid = fork();
                if (pid < 0)
                        return -1;
                if (pid == 0)
                        _exit(ptrace(PTRACE_TRACEME, 0, 0, 0) < 0 ? (errno & 0x7f) : 0);
                int st;
                if (waitpid(pid, &st, 0) < 0)
                        return -1;
                if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
                        errno = WEXITSTATUS(st);
                        return -1;
                }
                return 0;
        }
        if (strcmp(name, "tiocsti") == 0) {
                /* On a non-tty fd an allowed TIOCSTI fails with ENOTTY; a filtered one with the
                 * filter's errno. */
                int p[2];
                char c = 'x';
                if (pipe(p) < 0)
                        return -1;
                int r = ioctl(p[0], TIOCSTI, &c);
                int e = errno;
                close(p[0]);
                close(p[1]);
                errno = e;
                return r;
        }
        if (strcmp(name, "perf_event_open") == 0) {
                struct perf_event_attr pe;
                memset(&pe, 0, sizeof(pe));
                pe.size = sizeof(pe);
                return (int) syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0);
        }
        if (strcmp(name, "init_module") == 0)
                return (int) syscall(SYS_init_module, NULL, 0, "");
        if (strcmp(name, "personality") == 0)
                return (int) syscall(SYS_personality, 0x0040000 /* ADDR_NO_RANDOMIZE */);
        if (strcmp(name, "keyctl-i386") == 0) /* 288: i386 keyctl, KEYCTL_GET_KEYRING_ID */
                return syscall_i386(288, 0, -3, 0);
        if (strcmp(name, "getpid-i386") == 0) { /* 20: i386 getpid; ok only if it is ours */
                int r = syscall_i386(20, 0, 0, 0);

                if (r >= 0 && r != getpid()) {
                        errno = EPROTO;
                        return -1;
                }
                return r;
        }
        errno = EINVAL;
        return -1;
}

static int try_connect_tcp(const char *arg) {
        char host[64];
        const char *colon = strrchr(arg, ':');
        if (!colon || (size_t) (colon - arg) >= sizeof(host)) {
                errno = EINVAL;
                return -1;
        }
        snprintf(host, sizeof(host), "%.*s", (int) (colon - arg), arg);
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons((uint16_t) atoi(colon + 1)) };
        if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
                errno = EINVAL;
                return -1;
        }
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0)
                return -1;
        int r = connect(s, (struct sockaddr *) &sa, sizeof(sa));
        int e = errno;
        close(s);
        errno = e;
        return r;
}

static int try_abstract(const char *name) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t l = strlen(name);
        if (l + 1 > sizeof(sa.sun_path)) {
                errno = EINVAL;
                return -1;
        }
        memcpy(sa.sun_path + 1, name, l);
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0)
                return -1;
        int r = connect(s, (struct sockaddr *) &sa,
                        (socklen_t) (offsetof(struct sockaddr_un, sun_path) + 1 + l));
        int e = errno;
        close(s);
        errno = e;
        return r;
}

static int try_exec(const char *path) {
        pid_t pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                char *argv[] = { (char *) path, NULL };
                int devnull = open("/dev/null", O_WRONLY);
                if (devnull >= 0) {
                        dup2(devnull, 1);
                        dup2(devnull, 2);
                }
                execve(path, argv, environ);
                _exit(200 + (errno & 0x3f));
        }
        int st;
        if (waitpid(pid, &st, 0) < 0)
                return -1;
        if (WIFEXITED(st) && WEXITSTATUS(st) >= 200) {
                errno = WEXITSTATUS(st) - 200;
                return -1;
        }
        return 0;
}

static int run_try(const char *op, const char *arg) {
        if (strcmp(op, "--try-write") == 0) {
                int fd = open(arg, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                if (fd < 0)
                        return -1;
                int r = (int) write(fd, "x", 1);
                int e = errno;
                close(fd);
                errno = e;
                return r < 0 ? -1 : 0;
        }
        if (strcmp(op, "--try-read") == 0) {
                char c;
                int fd = open(arg, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return -1;
                int r = (int) read(fd, &c, 1);
                int e = errno;
                close(fd);
                errno = e;
                return r < 0 ? -1 : 0;
        }
        if (strcmp(op, "--try-mkdir") == 0)
                return mkdir(arg, 0755);
        if (strcmp(op, "--try-exec") == 0)
                return try_exec(arg);
        if (strcmp(op, "--try-connect-tcp") == 0)
                return try_connect_tcp(arg);
        if (strcmp(op, "--try-abstract") == 0)
                return try_abstract(arg);
        if (strcmp(op, "--try-syscall") == 0)
                return try_syscall(arg);
        errno = EINVAL;
        return -1;
}

int main(int argc, char **argv) {
        char host[256] = "";
        int exit_code = 0;
        unsigned sleep_s = 0;

        for (int i = 1; i < argc; i++) {
                if (i + 1 >= argc || strncmp(argv[i], "--", 2) != 0) {
                        fprintf(stderr, "moat-probe: bad argument '%s'\n", argv[i]);
                        return 2;
                }
                if (strcmp(argv[i], "--exit") == 0)
                        exit_code = atoi(argv[i + 1]);
                else if (strcmp(argv[i], "--sleep") == 0)
                        sleep_s = (unsigned) atoi(argv[i + 1]);
                i++;
        }

        first = true;
        putchar('{');
        int_field("uid", getuid());
        int_field("gid", getgid());
        int_field("euid", geteuid());
        str_field("uid_map", read_file("/proc/self/uid_map"));
        str_field("gid_map", read_file("/proc/self/gid_map"));
        str_field("setgroups", read_file("/proc/self/setgroups"));
        int_field("pid", getpid());
        int_field("ppid", getppid());
        int_field("sid", getsid(0));
        int_field("pgid", getpgid(0));
        gethostname(host, sizeof(host) - 1);
        str_field("hostname", host);
        str_field("machine_id", read_file("/etc/machine-id"));
        str_field("dbus_machine_id", read_file("/var/lib/dbus/machine-id"));
        str_field("boot_id", read_file("/proc/sys/kernel/random/boot_id"));
        print_status();
        print_landlock();
        str_field("cgroup", read_file("/proc/self/cgroup"));
        print_lsm_label();
        print_rlimits();
        print_net();
        print_ns();
        print_environ();
        print_fds();
        char cwd[4096];
        str_field("cwd", getcwd(cwd, sizeof(cwd)) ? cwd : NULL);
        print_mounts();

        key("tries");
        putchar('[');
        bool tf = true;
        for (int i = 1; i + 1 < argc; i += 2)
                if (strncmp(argv[i], "--try-", 6) == 0) {
                        errno = 0;
                        int r = run_try(argv[i], argv[i + 1]);
                        try_result(&tf, argv[i] + 6, argv[i + 1], r, errno);
                }
        printf("]\n}\n");
        fflush(stdout);
        if (sleep_s)
                sleep(sleep_s);
        return exit_code;
}

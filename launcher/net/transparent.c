/* SPDX-License-Identifier: MIT */
/* transparent.h: slirp4netns for the sandbox, and nft run by the sandbox's root. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/netlink.h>

#include "basic/macros.h"
#include "net/nft-pin.h"
#include "net/nft-rules.h"
#include "net/transparent.h"
#include "sys/fd.h"
#include "sys/landlock.h"

#define SLIRP_STACK_SIZE (64 * 1024)
#define SLIRP_STOP_MS 200
#define NFT_LISTING_MAX (1024 * 1024)

typedef struct SlirpExec {
        const char *path;
        char *const *argv;
        const PlanLandlock *landlock; /* NULL: slirp4netns's own --enable-sandbox */
        int null_fd, ready_fd, exit_fd;
        int netns_fd, userns_fd; /* with landlock: the target's, passed as fds 5 and 6 */
        pid_t parent;
} SlirpExec;

#define LL_EXECUTE (1ULL << 0)
#define LL_WRITE_FILE (1ULL << 1)
#define LL_READ_FILE (1ULL << 2)
#define LL_READ_DIR (1ULL << 3)
#define LL_IOCTL_DEV (1ULL << 15)
#define LL_BIND_TCP (1ULL << 0)

/* What slirp4netns and the child it forks need of the file system: its binary and libraries
 * (/lib, /lib64, /bin are /usr's on a merged-/usr system; a missing one is skipped), the
 * loader's cache, and the tun device. Nothing is writable but the device. */
static const PlanLandlockPath slirp_paths[] = {
        { (char *) "/usr", LL_EXECUTE | LL_READ_FILE | LL_READ_DIR },
        { (char *) "/lib", LL_EXECUTE | LL_READ_FILE | LL_READ_DIR },
        { (char *) "/lib64", LL_EXECUTE | LL_READ_FILE | LL_READ_DIR },
        { (char *) "/etc/ld.so.cache", LL_READ_FILE },
        { (char *) "/dev/net/tun", LL_READ_FILE | LL_WRITE_FILE | LL_IOCTL_DEV },
};

/* On its own stack in moat's memory (CLONE_VM|CLONE_VFORK) until execve(): system calls only. */
static int slirp_exec(void *arg) {
        const SlirpExec *x = arg;
        static char *const envp[] = { NULL };
        sigset_t none;

        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != x->parent)
                _exit(127);
        /* Before anything of its own runs, and for good: no_new_privs, which an unprivileged
         * Landlock domain needs, then the domain. */
        if (x->landlock &&
            (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || sys_landlock_apply(x->landlock) < 0))
                _exit(126);
        /* Above anything we dup onto (0..6), all of them first, then onto 0..4 (5, 6: the
         * namespaces); nothing else of moat's stays open. */
        int n = fcntl(x->null_fd, F_DUPFD, 10), r = fcntl(x->ready_fd, F_DUPFD, 10),
            e = fcntl(x->exit_fd, F_DUPFD, 10);
        int net = x->landlock ? fcntl(x->netns_fd, F_DUPFD, 10) : 0,
            user = x->landlock ? fcntl(x->userns_fd, F_DUPFD, 10) : 0;
        if (n < 0 || r < 0 || e < 0 || net < 0 || user < 0 || dup2(n, 0) < 0 || dup2(n, 1) < 0 ||
            dup2(n, 2) < 0 || dup2(r, 3) < 0 || dup2(e, 4) < 0)
                _exit(127);
        if (x->landlock && (dup2(net, 5) < 0 || dup2(user, 6) < 0))
                _exit(127);
        close_range(x->landlock ? 7 : 5, ~0U, 0);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(x->path, x->argv, envp);
        _exit(127);
}

int net_slirp_start(const char *path, pid_t target, int landlock_abi, NetSlirp *s,
                    int *ret_status) {
        char pid_arg[16];
        char *argv[] = { (char *) "slirp4netns",
                         (char *) "--configure",
                         (char *) "--mtu=65520",
                         (char *) "--disable-host-loopback",
                         (char *) "--disable-dns",
                         (char *) "--enable-seccomp",
                         (char *) "--ready-fd=3",
                         (char *) "--exit-fd=4",
                         (char *) "--enable-sandbox",
                         pid_arg,
                         (char *) "tap0",
                         NULL,
                         NULL };
        char ns_path[64];
        int netns_fd = -EBADF, userns_fd = -EBADF;
        PlanLandlockPath paths[ELEMENTSOF(slirp_paths)];
        PlanLandlock ll = { .status = CONTROL_REQUIRED,
                            .abi = landlock_abi,
                            .paths = paths,
                            .n_paths = ELEMENTSOF(paths) };
        int ready[2] = { -EBADF, -EBADF }, ex[2] = { -EBADF, -EBADF }, null_fd = -EBADF, r = 0;
        void *stack = MAP_FAILED;
        pid_t pid = -1;

        *ret_status = 0;
        snprintf(pid_arg, sizeof(pid_arg), "%d", (int) target);
        if (landlock_abi > 0) {
                /* In --enable-sandbox's place, and the namespaces by descriptor: a Landlock
                 * domain may not look into a process outside it (ptrace access, which
                 * /proc/PID/ns/ needs), but /proc/self/fd/N is its own. */
                argv[8] = (char *) "--netns-type=path";
                argv[9] = (char *) "--userns-path=/proc/self/fd/6";
                argv[10] = (char *) "/proc/self/fd/5";
                argv[11] = (char *) "tap0";
                if (sys_landlock_abi() < landlock_abi)
                        return -EOPNOTSUPP;
                snprintf(ns_path, sizeof(ns_path), "/proc/%d/ns/net", (int) target);
                if ((netns_fd = open(ns_path, O_RDONLY | O_CLOEXEC)) < 0) {
                        r = -errno;
                        goto out;
                }
                snprintf(ns_path, sizeof(ns_path), "/proc/%d/ns/user", (int) target);
                if ((userns_fd = open(ns_path, O_RDONLY | O_CLOEXEC)) < 0) {
                        r = -errno;
                        goto out;
                }
                ll.handled_fs = sys_landlock_known_fs(landlock_abi);
                /* A right this ABI does not know (IOCTL_DEV before 5) is not handled, so it is
                 * not restricted either: it is left out of the rule, which the kernel would
                 * refuse. */
                for (size_t i = 0; i < ELEMENTSOF(paths); i++)
                        paths[i] = (PlanLandlockPath){ .path = slirp_paths[i].path,
                                                       .access = slirp_paths[i].access &
                                                                 ll.handled_fs };
                ll.handled_net = sys_landlock_known_net(landlock_abi) & LL_BIND_TCP;
                ll.scoped = sys_landlock_known_scoped(landlock_abi);
        }
        if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(ex, O_CLOEXEC) < 0 ||
            (null_fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
                r = -errno;
                goto out;
        }
        stack = mmap(NULL, SLIRP_STACK_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stack == MAP_FAILED) {
                r = -errno;
                goto out;
        }
        SlirpExec x = { .path = path,
                        .argv = argv,
                        .landlock = landlock_abi > 0 ? &ll : NULL,
                        .netns_fd = netns_fd,
                        .userns_fd = userns_fd,
                        .null_fd = null_fd,
                        .ready_fd = ready[1],
                        .exit_fd = ex[0],
                        .parent = getpid() };
        pid = clone(slirp_exec, (char *) stack + SLIRP_STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD,
                    &x);
        if (pid < 0) {
                r = -errno;
                goto out;
        }
        s->pid = pid;
        s->pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (s->pidfd < 0) {
                r = -errno;
                goto out;
        }
        s->exit_fd = TAKE_FD(ex[1]);
        ready[1] = safe_close(ready[1]);
        /* "1" on the ready pipe, or its EOF / the helper's exit first. */
        for (;;) {
                struct pollfd p = { .fd = ready[0], .events = POLLIN };
                int k = poll(&p, 1, NET_SLIRP_READY_MS);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k == 0) {
                        r = -ETIMEDOUT;
                        break;
                }
                if (k < 0) {
                        r = -errno;
                        break;
                }
                char c = 0;
                ssize_t n = read(ready[0], &c, 1);
                r = n == 1 && c == '1' ? 0 : -ECHILD;
                break;
        }
out:
        if (r < 0 && s->pid > 0) {
                (void) kill(s->pid, SIGKILL);
                int st = 0;
                if (waitpid(s->pid, &st, 0) == s->pid && r == -ECHILD)
                        *ret_status = st;
                s->pid = 0;
                s->pidfd = safe_close(s->pidfd);
                s->exit_fd = safe_close(s->exit_fd);
        }
        if (stack != MAP_FAILED)
                (void) munmap(stack, SLIRP_STACK_SIZE);
        safe_close(ready[0]);
        safe_close(ready[1]);
        safe_close(ex[0]);
        safe_close(ex[1]);
        safe_close(null_fd);
        safe_close(netns_fd);
        safe_close(userns_fd);
        return r;
}

void net_slirp_stop(NetSlirp *s) {
        if (s->pid <= 0)
                return;
        s->exit_fd = safe_close(s->exit_fd);
        struct pollfd p = { .fd = s->pidfd, .events = POLLIN };
        if (s->pidfd < 0 || poll(&p, 1, SLIRP_STOP_MS) <= 0)
                (void) kill(s->pid, SIGKILL);
        (void) waitpid(s->pid, NULL, 0);
        s->pid = 0;
        s->pidfd = safe_close(s->pidfd);
}

/* nft with args, stdin from in_fd (or /dev/null), stdout to out_fd (or /dev/null), stderr to
 * /dev/null; its pid. */
static int nft_spawn(const char *nft, char *const *argv, int in_fd, int out_fd, pid_t *ret) {
        static char *const envp[] = { (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t at;
        sigset_t none;
        int r;

        sigemptyset(&none);
        if ((r = posix_spawn_file_actions_init(&fa)) != 0)
                return -r;
        if ((r = posix_spawnattr_init(&at)) != 0) {
                posix_spawn_file_actions_destroy(&fa);
                return -r;
        }
        r = posix_spawnattr_setsigmask(&at, &none);
        if (!r)
                r = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
        if (!r)
                r = in_fd >= 0 ? posix_spawn_file_actions_adddup2(&fa, in_fd, 0)
                               : posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        if (!r)
                r = out_fd >= 0
                            ? posix_spawn_file_actions_adddup2(&fa, out_fd, 1)
                            : posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        if (!r)
                r = posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        if (!r)
                r = posix_spawn(ret, nft, &fa, &at, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&at);
        return -r;
}

static int nft_wait(pid_t pid, int *ret_status) {
        int st = 0;
        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (ret_status)
                *ret_status = st;
        return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EPROTO;
}

int net_rules_load(const char *nft, const char *text, int *ret_status) {
        char *const argv[] = { (char *) "nft", (char *) "-f", (char *) "-", NULL };
        int p[2], r;
        pid_t pid;

        *ret_status = 0;
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        r = nft_spawn(nft, argv, p[0], -EBADF, &pid);
        close(p[0]);
        if (r < 0) {
                close(p[1]);
                return r;
        }
        size_t len = strlen(text), off = 0;
        while (off < len) {
                ssize_t n = write(p[1], text + off, len - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                off += (size_t) n;
        }
        close(p[1]);
        r = nft_wait(pid, ret_status);
        return r < 0 ? r : off == len ? 0 : -EIO;
}

int net_rules_readback(const char *nft, const char *text) {
        char *const argv[] = { (char *) "nft", (char *) "list", (char *) "ruleset", NULL };
        _cleanup_free_ char *buf = malloc(NFT_LISTING_MAX + 1), *want = NULL, *got = NULL;
        size_t len = 0;
        int p[2], r;
        pid_t pid;

        if (!buf)
                return -ENOMEM;
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        r = nft_spawn(nft, argv, -EBADF, p[1], &pid);
        close(p[1]);
        if (r < 0) {
                close(p[0]);
                return r;
        }
        for (;;) {
                ssize_t n = read(p[0], buf + len, NFT_LISTING_MAX - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t) n;
                if (len == NFT_LISTING_MAX) {
                        (void) kill(pid, SIGKILL); /* more than any ruleset of ours */
                        break;
                }
        }
        close(p[0]);
        buf[len] = 0;
        if ((r = nft_wait(pid, NULL)) < 0)
                return r == -EPROTO ? -EIO : r;
        want = nft_rules_canonical(text);
        got = nft_rules_canonical(buf);
        if (!want || !got)
                return -ENOMEM;
        return strcmp(want, got) == 0 ? 0 : -EPROTO;
}

static int dump_set(int fd, const char *set, int family, uint32_t seq, NftCounted *out, size_t max,
                    size_t *n) {
        struct sockaddr_nl to = { .nl_family = AF_NETLINK };
        union {
                struct nlmsghdr h;
                uint8_t b[16384];
        } ans;
        uint8_t req[256];
        int len = nft_setelem_dump_encode(set, seq, req, sizeof(req));

        if (len < 0)
                return len;
        if (sendto(fd, req, (size_t) len, 0, (struct sockaddr *) &to, sizeof(to)) != len)
                return -errno ? -errno : -EIO;
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int k = poll(&p, 1, 1000);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return k < 0 ? -errno : -ETIMEDOUT;
                ssize_t got = recv(fd, ans.b, sizeof(ans.b), 0);
                if (got < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (struct nlmsghdr *h = &ans.h; NLMSG_OK(h, (size_t) got);
                     h = NLMSG_NEXT(h, got)) {
                        if (h->nlmsg_seq != seq)
                                continue; /* an answer to something else sent on this socket */
                        if (h->nlmsg_type == NLMSG_DONE)
                                return 0;
                        if (h->nlmsg_type == NLMSG_ERROR) {
                                const struct nlmsgerr *e = NLMSG_DATA(h);
                                if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
                                        return -EBADMSG;
                                if (e->error)
                                        return e->error;
                                continue;
                        }
                        int r = nft_setelem_parse(h, h->nlmsg_len, family, out, max, n);
                        if (r < 0)
                                return r;
                }
        }
}

int net_denied_read(int fd, NftCounted *out, size_t max, size_t *ret_n) {
        int r;

        *ret_n = 0;
        r = dump_set(fd, "denied4", AF_INET, 0x6d6f6174, out, max, ret_n);
        if (r >= 0)
                r = dump_set(fd, "denied6", AF_INET6, 0x6d6f6175, out, max, ret_n);
        return r;
}

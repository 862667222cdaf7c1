/* SPDX-License-Identifier: MIT */
/* The session daemon under a reaping subreaper (vm-session.h). Runs in moat's process (or the
 * moat-vm helper's), before the libvirt connection; the forked children use only
 * async-signal-safe calls. What it leaves behind is what libvirt's own autostart leaves: a
 * session libvirtd that exits after 120 s without clients, plus its reaper, which exits with
 * it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basic/macros.h"
#include "vm-initramfs.h"
#include "vm-session.h"

#define LIBVIRTD "/usr/sbin/libvirtd"
#define START_MS 10000

/* libvirt's session socket: $XDG_RUNTIME_DIR/libvirt, else its user cache directory. */
static int socket_path(char *buf, size_t size) {
        const char *rt = getenv("XDG_RUNTIME_DIR");
        _cleanup_free_ char *cache = NULL;

        if (rt && rt[0] == '/')
                return snprintf(buf, size, "%s/libvirt/libvirt-sock", rt) < (int) size
                               ? 0
                               : -ENAMETOOLONG;
        cache = vm_cache_dir("");
        if (!cache)
                return -ENOENT;
        *strrchr(cache, '/') = 0; /* ".../moat" -> the cache directory itself */
        return snprintf(buf, size, "%s/libvirt/libvirt-sock", cache) < (int) size ? 0
                                                                                  : -ENAMETOOLONG;
}

static bool accepting(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
                return false;
        strcpy(sa.sun_path, path);
        return connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
}

static _Noreturn void reaper(void) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        sigset_t none;
        pid_t pid;

        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int sig = 1; sig < _NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD)
                        (void) signal(sig, SIG_DFL);
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 ||
            prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
                _exit(1);
        (void) close_range(3, ~0U, 0);
        (void) prctl(PR_SET_NAME, "moat-vm-reaper");
        pid = fork();
        if (pid < 0)
                _exit(1);
        if (pid == 0) {
                execl(LIBVIRTD, "libvirtd", "--timeout=120", (char *) NULL);
                _exit(127);
        }
        /* The daemon, then every QEMU it daemonized, as soon as each ends. */
        while (wait(NULL) > 0 || errno == EINTR)
                ;
        _exit(0);
}

int vm_session_daemon_ensure(void) {
        char path[256];
        struct timespec t0, t;
        pid_t pid;
        int r, st;

        if ((r = socket_path(path, sizeof(path))) < 0)
                return r;
        if (accepting(path))
                return 0;
        if (access(LIBVIRTD, X_OK) < 0)
                return -errno;
        fflush(NULL);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                /* Detached from moat's session and terminal, as libvirt's autostart is. */
                if (setsid() < 0)
                        _exit(1);
                pid = fork();
                if (pid == 0)
                        reaper();
                _exit(pid < 0);
        }
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                return -ECHILD;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
                if (accepting(path))
                        return 0;
                clock_gettime(CLOCK_MONOTONIC, &t);
                if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > START_MS)
                        return -ETIMEDOUT;
                (void) poll(NULL, 0, 10);
        }
}

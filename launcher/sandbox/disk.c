/* SPDX-License-Identifier: MIT */
/* resources.disk by project quota (the plan's DISK_MECH_PROJECT_QUOTA; sys/projquota.h).
 *
 * Before clone3 the parent opens every writable bind's source (as mounts.c will: relative
 * sources beneath the work directory without symlinks), checks again that their file system
 * enforces project quotas, starts the guard, draws a project id nothing uses, puts the trees
 * into it and sets the id's hard limit to what they hold plus resources.disk. After the sandbox
 * is reaped (init's exit waits for every process of its pid namespace, so nothing writes any
 * more), the trees go back to project 0 and the limit is removed.
 *
 * The guard: a forked process that outlives moat only to undo all of that should moat be
 * killed. It holds the trees' fds and waits on a socket whose other end only moat (and, in the
 * vm tier, moat's helper that runs QEMU) holds: "x" means moat undid everything itself; EOF
 * without it means moat is gone (the sandbox dies with it: PR_SET_PDEATHSIG), and the guard
 * waits a moment for the pid namespace to go, then releases the trees and the limit. Processes
 * that write the trees from outside moat's pid namespace (the vm tier's QEMU) are passed to it
 * as pidfds ("w", sandbox_disk_quota_watch()): after EOF it first waits for each of them to
 * end, and kills one that is still there after GUARD_WATCH_MS, so that nothing writes a tree
 * once its limit is gone. It ignores the terminal's signals, so a ^C that ends moat
 * still finds it. In cgroup v2 leaf mode it is born in moat's leaf (D/NAME.supervisor), which
 * the cgroup guard cannot remove while it is there: so it leaves the leaf itself when done
 * (into D, once the cgroup guard has turned D's controllers off) and removes it. Moat, alive,
 * reaps it before it removes its cgroups.
 *
 * The record: should both moat and its guard die (a crash of the machine, a kill of the guard),
 * the ids stay on the trees and the limit on the file system, across reboots. So before
 * anything changes, moat writes a record of the run (the id, the trees' paths, moat's pid, its
 * start time and the boot id) to /var/lib/moat/disk-quota/ID ($MOAT_DISK_QUOTA_DIR for
 * tests), and removes it once everything is undone. The next run that sets a project quota
 * finds the records whose run is gone and undoes them first (only inodes carrying that run's
 * id are touched), saying so. A run whose record cannot be written does not start. Forked (not CLONE_VM like the cgroup guard) because the walk needs libc;
 * the cost, a copy-on-write of moat's pages, is paid only by runs with a project quota. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basic/macros.h"
#include "sandbox/sandbox-internal.h"
#include "sys/mount-fd.h"
#include "sys/projquota.h"

/* The bind's source, as mounts.c's bind_clone() resolves it. -ENOENT for a missing one. */
static int open_source(const PlanMount *m, const char *workdir) {
        const char *src = m->source ? m->source : ".";
        _cleanup_close_ int wfd = -EBADF;
        int fd, r;

        if (!(m->flags & PLAN_MOUNT_WORKDIR) || src[0] == '/') {
                fd = open(src, O_PATH | O_CLOEXEC);
                return fd < 0 ? -errno : fd;
        }
        if (!workdir || workdir[0] != '/')
                return -EINVAL;
        wfd = open(workdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (wfd < 0)
                return -errno;
        if (strcmp(src, ".") == 0 || src[0] == 0)
                return TAKE_FD(wfd);
        r = sys_mount_open_beneath(wfd, src, &fd);
        return r < 0 ? r : fd;
}

#define RECORD_DIR "/var/lib/moat/disk-quota"

static const char *record_dir(void) {
        const char *d = getenv("MOAT_DISK_QUOTA_DIR");
        return d && d[0] == '/' ? d : RECORD_DIR;
}

static int boot_id(char buf[64]) {
        int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = read(fd, buf, 63);
        close(fd);
        if (n <= 0)
                return -EIO;
        buf[n] = 0;
        buf[strcspn(buf, "\n")] = 0;
        return 0;
}

/* Field 22 of /proc/PID/stat: the start time, so that a reused pid is not taken for moat. */
static unsigned long long pid_start_time(pid_t pid) {
        char path[64], buf[1024];
        unsigned long long t = 0;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return 0;
        buf[n] = 0;
        char *p = strrchr(buf, ')');
        for (int field = 2; p && field < 22; field++)
                p = strchr(p + 1, ' ');
        if (p)
                t = strtoull(p + 1, NULL, 10);
        return t;
}

static int record_write(DiskQuota *dq) {
        char boot[64], path[PATH_MAX], tmp[PATH_MAX];
        const char *dir = record_dir();
        int r;

        if ((r = boot_id(boot)) < 0)
                return r;
        if (mkdir(dir, 0700) < 0 && errno == ENOENT) {
                /* /var/lib/moat on a host where nothing of moat's made it yet */
                char parent[PATH_MAX];
                snprintf(parent, sizeof(parent), "%s", dir);
                char *slash = strrchr(parent, '/');
                if (slash && slash != parent)
                        *slash = 0;
                if (mkdir(parent, 0755) < 0 && errno != EEXIST)
                        return -errno;
                if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                        return -errno;
        } else if (errno != EEXIST && access(dir, W_OK) < 0)
                return -errno;
        snprintf(path, sizeof(path), "%s/%u", dir, dq->id);
        snprintf(tmp, sizeof(tmp), "%s/.%u.tmp", dir, dq->id);
        FILE *f = fopen(tmp, "wxe");
        if (!f)
                return -errno;
        fprintf(f, "id %u\npid %d\nstart %llu\nboot %s\nsince %lld\n", dq->id, (int) getpid(),
                pid_start_time(getpid()), boot, (long long) dq->since);
        for (size_t i = 0; i < dq->n_roots; i++) {
                char proc[64], target[PATH_MAX];
                snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dq->roots[i]);
                ssize_t n = readlink(proc, target, sizeof(target) - 1);
                if (n <= 0 || memchr(target, '\n', (size_t) n)) {
                        fclose(f);
                        (void) unlink(tmp);
                        return n <= 0 ? -errno : -EINVAL;
                }
                target[n] = 0;
                fprintf(f, "root %s\n", target);
        }
        r = fflush(f) == 0 && fsync(fileno(f)) == 0 ? 0 : -errno;
        fclose(f);
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        if (r == 0)
                dq->recorded = true;
        return r;
}

static void record_remove(const DiskQuota *dq) {
        char path[PATH_MAX];
        if (!dq->recorded)
                return;
        snprintf(path, sizeof(path), "%s/%u", record_dir(), dq->id);
        (void) unlink(path);
}

/* Undo the record `name` if its run is gone. */
static void sweep_one(int dfd, const char *name, const char *boot) {
        char line[PATH_MAX + 16], rboot[64] = "", roots[1024] = "";
        unsigned id = 0;
        int pid = 0, failed = 0, n_roots = 0;
        unsigned long long start = 0;
        long long since = 0;

        int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        FILE *f = fd >= 0 ? fdopen(fd, "re") : NULL;
        if (!f) {
                if (fd >= 0)
                        close(fd);
                return;
        }
        /* first the header, to decide whether the run is alive */
        while (fgets(line, sizeof(line), f) && strncmp(line, "root ", 5) != 0) {
                line[strcspn(line, "\n")] = 0;
                if (sscanf(line, "id %u", &id) == 1 || sscanf(line, "pid %d", &pid) == 1 ||
                    sscanf(line, "start %llu", &start) == 1 ||
                    sscanf(line, "since %lld", &since) == 1)
                        continue;
                (void) sscanf(line, "boot %63s", rboot);
        }
        if (id < MOAT_PROJID_MIN || id > MOAT_PROJID_MAX || strtoul(name, NULL, 10) != id ||
            (strcmp(rboot, boot) == 0 && pid > 0 && pid_start_time(pid) == start)) {
                fclose(f);
                return; /* not a record of moat's, or its run goes on */
        }
        do {
                line[strcspn(line, "\n")] = 0;
                if (strncmp(line, "root /", 6) != 0)
                        continue;
                int rfd = open(line + 5, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                int r = rfd < 0 ? -errno : sys_projquota_tree_release(rfd, id, since);
                if (r >= 0)
                        r = sys_projquota_set_limit(rfd, id, 0);
                if (rfd >= 0)
                        close(rfd);
                if (r < 0 && r != -ENOENT) {
                        fprintf(stderr,
                                "moat: cannot undo the project quota %u of an earlier run "
                                "on %s: %s\n",
                                id, line + 5, strerror(-r));
                        failed++;
                }
                if (n_roots++ < 4)
                        snprintf(roots + strlen(roots), sizeof(roots) - strlen(roots), "%s%.200s",
                                 n_roots > 1 ? ", " : "", line + 5);
        } while (fgets(line, sizeof(line), f));
        fclose(f);
        if (!failed) {
                (void) unlinkat(dfd, name, 0);
                fprintf(stderr,
                        "moat: undid the project quota %u that an earlier run which ended "
                        "without undoing it left on %s\n",
                        id, roots[0] ? roots : "(no tree)");
        }
}

/* Before a run sets a quota: the records of runs that are gone. */
static void sweep(void) {
        char boot[64];
        DIR *d = opendir(record_dir());
        struct dirent *de;

        if (!d)
                return;
        if (boot_id(boot) < 0) {
                closedir(d);
                return;
        }
        while ((de = readdir(d)))
                if (de->d_name[0] >= '0' && de->d_name[0] <= '9')
                        sweep_one(dirfd(d), de->d_name, boot);
        closedir(d);
}

static int release_all(const DiskQuota *dq, const char *who) {
        int ret = 0;
        for (size_t i = 0; i < dq->n_roots; i++) {
                int r = sys_projquota_tree_release(dq->roots[i], dq->id, dq->since);
                if (r < 0 && who)
                        fprintf(stderr, "%s: cannot take %s out of project %u: %s\n", who,
                                dq->paths[i], dq->id, strerror(-r));
                if (r < 0 && ret == 0)
                        ret = r;
        }
        if (dq->n_roots) {
                int r = sys_projquota_set_limit(dq->roots[0], dq->id, 0);
                if (r < 0 && who)
                        fprintf(stderr, "%s: cannot remove the quota of project %u: %s\n", who,
                                dq->id, strerror(-r));
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

static int write_procs(const char *dir) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        int r = write(fd, "0", 1) == 1 ? 0 : -errno;
        close(fd);
        return r;
}

/* The guard, after moat's death: out of moat's v2 leaf into D, then the leaf removed, each
 * retried for ~3 s while the cgroup guard does its part (D's controllers off, itself out). */
static void guard_leave_leaf(const DiskQuota *dq) {
        struct timespec ts = { .tv_nsec = 50 * 1000 * 1000 };
        int i;

        if (!dq->cg_leaf || !dq->cg_parent)
                return;
        for (i = 0; i < 60 && write_procs(dq->cg_parent) < 0; i++)
                (void) nanosleep(&ts, NULL);
        for (i = 0; i < 60 && rmdir(dq->cg_leaf) < 0 && errno != ENOENT; i++)
                (void) nanosleep(&ts, NULL);
}

/* After moat's death: the watched writers gone, each given GUARD_WATCH_MS (libvirt destroys its
 * QEMU when moat's connection closes), then killed through its pidfd. */
#define GUARD_WATCH_MS 10000
#define GUARD_WATCH_MAX 8

static void guard_wait_writers(const int *pidfds, size_t n) {
        for (size_t i = 0; i < n; i++) {
                struct pollfd p = { .fd = pidfds[i], .events = POLLIN };
                if (poll(&p, 1, GUARD_WATCH_MS) == 1)
                        continue;
                (void) syscall(SYS_pidfd_send_signal, pidfds[i], SIGKILL, NULL, 0);
                (void) poll(&p, 1, GUARD_WATCH_MS);
        }
}

static _Noreturn void guard_main(DiskQuota *dq, int fd) {
        static const int ignored[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTSTP };
        int watched[GUARD_WATCH_MAX];
        size_t n_watched = 0;
        sigset_t none;
        ssize_t n;

        for (size_t i = 0; i < ELEMENTSOF(ignored); i++)
                (void) signal(ignored[i], SIG_IGN);
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        (void) prctl(PR_SET_NAME, "moat-disk-guard");
        /* nothing of moat's but the socket and the trees */
        int top = fd;
        for (size_t i = 0; i < dq->n_roots; i++)
                top = MAX(top, dq->roots[i]);
        for (int f = 3; f < top; f++) {
                bool keep = f == fd;
                for (size_t i = 0; i < dq->n_roots; i++)
                        keep = keep || f == dq->roots[i];
                if (!keep)
                        (void) close(f);
        }
        (void) close_range((unsigned) top + 1, ~0U, 0);
        for (;;) {
                char c = 0;
                union {
                        char buf[CMSG_SPACE(sizeof(int))];
                        struct cmsghdr align;
                } u;
                struct iovec iov = { &c, 1 };
                struct msghdr m = { .msg_iov = &iov,
                                    .msg_iovlen = 1,
                                    .msg_control = u.buf,
                                    .msg_controllen = sizeof(u.buf) };
                n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break; /* moat is gone */
                struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
                if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
                        int got;
                        memcpy(&got, CMSG_DATA(cm), sizeof(int));
                        if (c == 'w' && n_watched < GUARD_WATCH_MAX)
                                watched[n_watched++] = got;
                        else
                                (void) close(got);
                } else if (c == 'x')
                        _exit(0);
        }
        guard_wait_writers(watched, n_watched);
        /* moat is gone: its sandbox went with it (PR_SET_PDEATHSIG); let its pid namespace
         * finish dying, then undo, twice for anything that was still being torn down */
        struct timespec ts = { .tv_nsec = 200 * 1000 * 1000 };
        (void) nanosleep(&ts, NULL);
        (void) release_all(dq, NULL);
        (void) nanosleep(&ts, NULL);
        int r = release_all(dq, NULL);
        if (r >= 0)
                record_remove(dq);
        guard_leave_leaf(dq);
        _exit(r < 0);
}

static int guard_start(DiskQuota *dq) {
        int p[2];

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(p[0]);
                close(p[1]);
                return r;
        }
        if (pid == 0) {
                close(p[1]);
                guard_main(dq, p[0]);
        }
        close(p[0]);
        dq->guard = pid;
        dq->guard_fd = p[1];
        return 0;
}

static void guard_stop(DiskQuota *dq, bool done) {
        if (dq->guard <= 0)
                return;
        if (done)
                (void) !send(dq->guard_fd, "x", 1, MSG_NOSIGNAL);
        dq->guard_fd = safe_close(dq->guard_fd); /* EOF: the guard undoes what is left */
        while (waitpid(dq->guard, NULL, 0) < 0 && errno == EINTR)
                ;
        dq->guard = 0;
}

int sandbox_disk_quota_start(const Plan *plan, const char *workdir, const char *cg_parent,
                             const char *cg_leaf, DiskQuota *dq) {
        const char *reason;
        struct stat st0 = {};
        int r;

        if (cg_leaf && cg_parent &&
            (!(dq->cg_leaf = strdup(cg_leaf)) || !(dq->cg_parent = strdup(cg_parent))))
                return -ENOMEM;
        for (size_t i = 0; i < plan->sandbox.n_mounts; i++) {
                const PlanMount *m = &plan->sandbox.mounts[i];
                struct stat st;
                if (m->kind != PLAN_MOUNT_BIND || (m->flags & PLAN_MOUNT_RDONLY))
                        continue;
                int fd = open_source(m, workdir);
                if (fd == -ENOENT && (m->flags & PLAN_MOUNT_OPTIONAL))
                        continue;
                if (fd < 0) {
                        fprintf(stderr,
                                "moat: resources.disk: cannot open the bind source of %s: %s\n",
                                m->target, strerror(-fd));
                        return fd;
                }
                if (dq->n_roots == DISK_QUOTA_MAX_ROOTS) {
                        close(fd);
                        return -E2BIG;
                }
                dq->roots[dq->n_roots] = fd;
                dq->paths[dq->n_roots++] = m->target;
                if (fstat(fd, &st) < 0)
                        return -errno;
                if (dq->n_roots == 1)
                        st0 = st;
                else if (st.st_dev != st0.st_dev) {
                        fprintf(stderr,
                                "moat: resources.disk: the writable binds %s and %s are "
                                "on different file systems: one project quota cannot "
                                "bound their total\n",
                                dq->paths[0], m->target);
                        return -EXDEV;
                }
        }
        if (!dq->n_roots)
                return 0; /* every writable bind was optional and missing: nothing reaches */
        r = sys_projquota_check(dq->roots[0], &reason);
        if (r < 0) {
                fprintf(stderr, "moat: resources.disk: %s: %s\n", dq->paths[0], reason);
                return r;
        }
        sweep();
        dq->since = time(NULL);
        if ((r = sys_projquota_pick_id(dq->roots[0], &dq->id)) < 0)
                return r;
        /* From here on something may change: the record and the guard first. */
        if ((r = record_write(dq)) < 0) {
                fprintf(stderr, "moat: resources.disk: cannot write the record %s/%u: %s\n",
                        record_dir(), dq->id, strerror(-r));
                return r;
        }
        if ((r = guard_start(dq)) < 0) {
                record_remove(dq);
                return r;
        }
        dq->active = true;
        for (size_t i = 0; i < dq->n_roots; i++) {
                _cleanup_free_ char *where = NULL;
                r = sys_projquota_tree_assign(dq->roots[i], dq->id, &where);
                if (r < 0) {
                        fprintf(stderr,
                                "moat: resources.disk: cannot put %s%s%s into project %u: %s%s\n",
                                dq->paths[i], where ? " at " : "", where ? where : "", dq->id,
                                strerror(-r),
                                r == -EEXIST  ? " (it is in another project already)"
                                : r == -EXDEV ? " (a mount inside the bind: writes there would "
                                                "not be counted)"
                                              : "");
                        return r;
                }
        }
        if ((r = sys_projquota_get(dq->roots[0], dq->id, &dq->base, NULL)) < 0 ||
            (r = sys_projquota_set_limit(dq->roots[0], dq->id, dq->base + plan->resources.disk)) <
                    0)
                return r;
        return 0;
}

int sandbox_disk_quota_watch(int guard_fd, int pidfd) {
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } u = {};
        struct iovec iov = { (char[]){ 'w' }, 1 };
        struct msghdr m = { .msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = u.buf,
                            .msg_controllen = sizeof(u.buf) };
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);

        if (guard_fd < 0 || pidfd < 0)
                return -EBADF;
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &pidfd, sizeof(int));
        return sendmsg(guard_fd, &m, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

int sandbox_disk_quota_stop(DiskQuota *dq, uint64_t *ret_added) {
        uint64_t used = 0;
        int r = 0;

        if (ret_added)
                *ret_added = 0;
        if (dq->active) {
                if (ret_added && sys_projquota_get(dq->roots[0], dq->id, &used, NULL) >= 0)
                        *ret_added = used > dq->base ? used - dq->base : 0;
                r = release_all(dq, "moat");
                if (r >= 0)
                        record_remove(dq);
        }
        /* what moat could not undo, the guard tries again */
        guard_stop(dq, r >= 0);
        for (size_t i = 0; i < dq->n_roots; i++)
                dq->roots[i] = safe_close(dq->roots[i]);
        dq->n_roots = 0;
        dq->active = false;
        free(dq->cg_leaf);
        free(dq->cg_parent);
        dq->cg_leaf = dq->cg_parent = NULL;
        return r;
}

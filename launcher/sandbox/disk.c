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
 * killed. It holds the trees' fds and waits on a pipe whose write end only moat holds: a byte
 * means moat undid everything itself; EOF without one means moat is gone (the sandbox dies with
 * it: PR_SET_PDEATHSIG), and the guard waits a moment for the pid namespace to go, then
 * releases the trees and the limit. It ignores the terminal's signals, so a ^C that ends moat
 * still finds it. In cgroup v2 leaf mode it is born in moat's leaf (D/NAME.supervisor), which
 * the cgroup guard cannot remove while it is there: so it leaves the leaf itself when done
 * (into D, once the cgroup guard has turned D's controllers off) and removes it. Moat, alive,
 * reaps it before it removes its cgroups. Forked (not CLONE_VM like the cgroup guard) because the walk needs libc;
 * the cost, a copy-on-write of moat's pages, is paid only by runs with a project quota. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
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

static _Noreturn void guard_main(DiskQuota *dq, int fd) {
        static const int ignored[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTSTP };
        sigset_t none;
        char c;
        ssize_t n;

        for (size_t i = 0; i < ELEMENTSOF(ignored); i++)
                (void) signal(ignored[i], SIG_IGN);
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        (void) prctl(PR_SET_NAME, "moat-disk-guard");
        /* nothing of moat's but the pipe and the trees */
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
        do
                n = read(fd, &c, 1);
        while (n < 0 && errno == EINTR);
        if (n == 1)
                _exit(0);
        /* moat is gone: its sandbox went with it (PR_SET_PDEATHSIG); let its pid namespace
         * finish dying, then undo, twice for anything that was still being torn down */
        struct timespec ts = { .tv_nsec = 200 * 1000 * 1000 };
        (void) nanosleep(&ts, NULL);
        (void) release_all(dq, NULL);
        (void) nanosleep(&ts, NULL);
        int r = release_all(dq, NULL);
        guard_leave_leaf(dq);
        _exit(r < 0);
}

static int guard_start(DiskQuota *dq) {
        int p[2];

        if (pipe2(p, O_CLOEXEC) < 0)
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
                (void) !write(dq->guard_fd, "x", 1);
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
        dq->since = time(NULL);
        if ((r = sys_projquota_pick_id(dq->roots[0], &dq->id)) < 0)
                return r;
        /* From here on something may change: the guard first. */
        if ((r = guard_start(dq)) < 0)
                return r;
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

int sandbox_disk_quota_stop(DiskQuota *dq, uint64_t *ret_added) {
        uint64_t used = 0;
        int r = 0;

        if (ret_added)
                *ret_added = 0;
        if (dq->active) {
                if (ret_added && sys_projquota_get(dq->roots[0], dq->id, &used, NULL) >= 0)
                        *ret_added = used > dq->base ? used - dq->base : 0;
                r = release_all(dq, "moat");
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

/* SPDX-License-Identifier: MIT */
/* What the probe says this host can do, exercised: every capability it reports is used for
 * real (in a child, undone or dying with it) and must work, and every one it denies must fail
 * when tried. Nothing here names a machine: the expectations are the probe's own answers, on
 * whatever host runs the tests, as the current user and (as root) as the test user moatuser.
 * test-host-probe.c checks the same facts against independent sources of information. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/macros.h"
#include "host-test-util.h"

#define TEST_USER "moatuser" /* tests/helpers/setup-test-user.sh */

/* Runs fn in a child (optionally as uid), returns its exit status (0 = it worked). */
static int in_child(int (*fn)(const HostFacts *h), const HostFacts *h, uid_t as_uid) {
        int status;
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                if (as_uid != (uid_t) -1 &&
                    (setgroups(0, NULL) < 0 || setresgid(as_uid, as_uid, as_uid) < 0 ||
                     setresuid(as_uid, as_uid, as_uid) < 0))
                        _exit(90);
                _exit(fn(h) ? 1 : 0);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static int try_userns(const HostFacts *h) {
        return unshare(CLONE_NEWUSER) < 0;
}

static int try_time_ns(const HostFacts *h) {
        /* A time namespace needs CAP_SYS_ADMIN: in a user namespace of our own when not root. */
        if (!h->is_root && unshare(CLONE_NEWUSER) < 0)
                return 2;
        return unshare(CLONE_NEWTIME) < 0;
}

static int try_seccomp(const HostFacts *h) {
        struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
        struct sock_fprog prog = { .len = 1, .filter = &allow };

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
                return 1;
        return prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 2;
}

static int try_user_notif(const HostFacts *h) {
        struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
        struct sock_fprog prog = { .len = 1, .filter = &allow };
        int fd;

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return 1;
        fd = (int) syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
                           &prog);
        return fd < 0;
}

static int try_landlock(const HostFacts *h) {
        struct landlock_ruleset_attr attr = { .handled_access_fs = LANDLOCK_ACCESS_FS_WRITE_FILE };
        int fd = (int) syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);

        if (fd < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            syscall(SYS_landlock_restrict_self, fd, 0) < 0)
                return 1;
        /* Now enforced: writing a file anywhere must be refused. */
        fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        return !(fd < 0 && errno == EACCES);
}

/* A child cgroup of our own under DIR, removed again. */
static int try_cgroup_dir(const char *dir) {
        char path[4096];

        snprintf(path, sizeof(path), "%s/moat-capability-test-%d", dir, (int) getpid());
        if (mkdir(path, 0755) < 0)
                return 1;
        return rmdir(path) < 0;
}

static int try_cgroup_v1(const HostFacts *h) {
        char path[128];

        for (char **c = h->cgroup_v1_controllers; c && *c; c++) {
                snprintf(path, sizeof(path), "/sys/fs/cgroup/%s", *c);
                if (try_cgroup_dir(path))
                        return 1;
        }
        return 0;
}

/* The caller's own v2 cgroup, from /proc/self/cgroup's "0::" line. */
static int try_cgroup_v2(const HostFacts *h) {
        const char *root =
                h->cgroup_layout == CGROUP_LAYOUT_V2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified";
        char line[4096], path[8192] = "";
        FILE *f = fopen("/proc/self/cgroup", "re");

        if (!f)
                return 1;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, "0::", 3) == 0) {
                        line[strcspn(line, "\n")] = '\0';
                        snprintf(path, sizeof(path), "%s%s", root, line + 3);
                }
        fclose(f);
        if (!path[0])
                return 1;
        /* What the probe calls writable: a child can be made, and a process moved into it
         * through this cgroup's cgroup.procs (as CLONE_INTO_CGROUP does), and back. */
        char sub[8300], procs[8400], pid[32];
        int fd, ok;

        snprintf(sub, sizeof(sub), "%s/moat-capability-test-%d", path, (int) getpid());
        snprintf(pid, sizeof(pid), "%d", (int) getpid());
        if (mkdir(sub, 0755) < 0)
                return 1;
        snprintf(procs, sizeof(procs), "%s/cgroup.procs", sub);
        fd = open(procs, O_WRONLY | O_CLOEXEC);
        ok = fd >= 0 && write(fd, pid, strlen(pid)) == (ssize_t) strlen(pid);
        if (fd >= 0)
                close(fd);
        snprintf(procs, sizeof(procs), "%s/cgroup.procs", path);
        fd = open(procs, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
                if (write(fd, pid, strlen(pid)) != (ssize_t) strlen(pid))
                        ok = 0;
                close(fd);
        } else
                ok = 0;
        return rmdir(sub) < 0 || !ok;
}

static int try_qemu(const HostFacts *h) {
        char cmd[512];

        snprintf(cmd, sizeof(cmd), "'%s' --version >/dev/null 2>&1", h->qemu_path);
        return system(cmd) != 0;
}

/* The guest kernel is an ELF vmlinux or a bzImage ("HdrS" at 0x202). */
static int try_guest_kernel(const HostFacts *h) {
        unsigned char b[0x210];
        int fd = open(h->guest_kernel, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd < 0 ? -1 : read(fd, b, sizeof(b));

        if (fd >= 0)
                close(fd);
        if (n < (ssize_t) sizeof(b))
                return 1;
        return !(memcmp(b, "\177ELF", 4) == 0 || memcmp(b + 0x202, "HdrS", 4) == 0);
}

/* Each reported capability works, each denied one fails; as the current process's uid or, with
 * as_uid, as that uid (whose facts h are). */
static void exercise(const HostFacts *h, uid_t as_uid) {
        const struct {
                const char *what;
                bool reported;
                int (*fn)(const HostFacts *h);
                bool converse; /* a denial is also checked */
        } caps[] = {
                { "user namespaces", h->userns_usable, try_userns, true },
                { "time namespace", h->time_ns && h->userns_usable, try_time_ns, false },
                { "seccomp filter", h->seccomp_filter, try_seccomp, true },
                { "seccomp user notification", h->seccomp_user_notif, try_user_notif, true },
                { "Landlock", h->landlock_abi > 0, try_landlock, true },
                { "cgroup v1 controllers writable",
                  h->cgroup_v1_writable && h->cgroup_v1_controllers && h->cgroup_v1_controllers[0],
                  try_cgroup_v1, false },
                { "own v2 cgroup writable", h->cgroup_v2_writable, try_cgroup_v2, true },
                { "QEMU", h->qemu_present, try_qemu, false },
                { "guest kernel", h->guest_kernel != NULL, try_guest_kernel, false },
        };

        for (size_t i = 0; i < ELEMENTSOF(caps); i++) {
                int r;

                if (!caps[i].reported && !caps[i].converse)
                        continue;
                r = in_child(caps[i].fn, h, as_uid);
                if (r == 90)
                        fail_msg("cannot become uid %u", (unsigned) as_uid);
                if (caps[i].reported && r != 0)
                        fail_msg("uid %u: the probe reports %s, but using it failed",
                                 (unsigned) h->uid, caps[i].what);
                if (!caps[i].reported && r == 0)
                        fail_msg("uid %u: the probe denies %s, but using it worked",
                                 (unsigned) h->uid, caps[i].what);
        }
}

static void test_reported_capabilities_work(void **state) {
        _cleanup_(host_facts_done) HostFacts h = {};

        assert_int_equal(host_facts_probe(&h), 0);
        exercise(&h, (uid_t) -1);
}

/* As root, the same for the unprivileged test user: its facts come from a probe that runs with
 * its uid, and its capabilities are tried with that uid. */
static void test_reported_capabilities_work_unprivileged(void **state) {
        _cleanup_(host_facts_done) HostFacts h = {};
        _cleanup_free_ char *text = NULL;
        MoatError error = {};
        struct passwd *pw = getpwnam(TEST_USER);
        size_t n = 0;
        uid_t uid;

        if (getuid() != 0 || !pw)
                skip();
        uid = pw->pw_uid;
        text = probe_json_as(uid, &n);
        assert_int_equal(host_facts_from_json_buffer(text, n, "child", &h, &error), 0);
        assert_int_equal(h.uid, uid);
        exercise(&h, uid);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_reported_capabilities_work),
                cmocka_unit_test(test_reported_capabilities_work_unprivileged),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

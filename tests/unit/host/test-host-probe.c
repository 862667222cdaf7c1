/* SPDX-License-Identifier: MIT */
/* host_facts_probe() on whatever host runs the tests: every fact is checked against an
 * independent way of finding it out (mountinfo instead of statfs, a real Landlock ruleset
 * instead of the version query, ...), the probe is shown to change nothing, and as root it is
 * also run as an unprivileged uid. test-host-capabilities.c uses what the probe reports. Prints
 * the probe's cost; never fails on time. */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/kvm.h>
#include <pwd.h>
#include <sys/ioctl.h>
#include <linux/landlock.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basic/macros.h"
#include "host-test-util.h"
#include "profile/profile.h"

/* The filesystem type mounted exactly at path, from /proc/self/mountinfo, or "". */
static void mount_fstype(const char *path, char *ret, size_t size) {
        char line[4096], mnt[4096], fstype[64];
        FILE *f = fopen("/proc/self/mountinfo", "re");

        ret[0] = '\0';
        assert_non_null(f);
        while (fgets(line, sizeof(line), f)) {
                const char *sep = strstr(line, " - ");
                /* id parent major:minor root mountpoint ... - fstype source options */
                if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
                    sscanf(sep, " - %63s", fstype) != 1)
                        continue;
                if (strcmp(mnt, path) == 0)
                        snprintf(ret, size, "%s", fstype); /* the last mount on top wins */
        }
        fclose(f);
}

static CgroupLayout layout_from_mountinfo(void) {
        char t[64], u[64];

        mount_fstype("/sys/fs/cgroup", t, sizeof(t));
        if (strcmp(t, "cgroup2") == 0)
                return CGROUP_LAYOUT_V2;
        if (strcmp(t, "tmpfs") != 0)
                return CGROUP_LAYOUT_NONE;
        mount_fstype("/sys/fs/cgroup/unified", u, sizeof(u));
        if (strcmp(u, "cgroup2") == 0)
                return CGROUP_LAYOUT_HYBRID;
        return CGROUP_LAYOUT_V1;
}

static bool v1_controller_mounted(const char *name) {
        char path[128], real[4096], t[64];

        snprintf(path, sizeof(path), "/sys/fs/cgroup/%s", name);
        if (!realpath(path, real)) /* "cpu" is often a symlink to "cpu,cpuacct" */
                return false;
        mount_fstype(real, t, sizeof(t));
        return strcmp(t, "cgroup") == 0;
}

/* Opens /dev/kvm as QEMU's account would (moat-vm with initgroups() for root: another way to
 * the same credentials than the probe's getgrouplist()) and asks its API version: -errno, or
 * the version. */
static int kvm_open_as_qemu(const HostFacts *h) {
        int p[2], status, r = -EIO;
        pid_t pid;

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct passwd *pw = h->is_root ? getpwnam("moat-vm") : NULL;
                int fd, v;

                if (h->is_root && (!pw || initgroups(pw->pw_name, pw->pw_gid) < 0 ||
                                   setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
                                   setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0))
                        _exit(2);
                fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
                v = fd < 0 ? -errno : ioctl(fd, KVM_GET_API_VERSION, 0);
                if (fd >= 0 && v < 0)
                        v = -errno;
                (void) !write(p[1], &v, sizeof(v));
                _exit(0);
        }
        close(p[1]);
        assert_int_equal(read(p[0], &r, sizeof(r)), (ssize_t) sizeof(r));
        close(p[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        return r;
}

static void check_kvm(const HostFacts *h) {
        struct stat st;
        int r;

        assert_int_equal(h->kvm_usable, h->kvm_state == KVM_STATE_PROVEN);
        assert_int_equal(h->kvm_reason == NULL, h->kvm_state == KVM_STATE_PROVEN);
        if (stat("/dev/kvm", &st) < 0 || !S_ISCHR(st.st_mode)) {
                assert_int_equal(h->kvm_state, KVM_STATE_ABSENT);
                return;
        }
        if (h->is_root && !getpwnam("moat-vm")) {
                assert_int_equal(h->kvm_state, KVM_STATE_NO_ACCESS);
                return;
        }
        r = kvm_open_as_qemu(h);
        if (r == -EACCES || r == -EPERM)
                assert_int_equal(h->kvm_state, KVM_STATE_NO_ACCESS);
        else if (r != KVM_API_VERSION)
                assert_int_equal(h->kvm_state, KVM_STATE_UNSUPPORTED);
        else /* the rest needs a guest: any of the states past the ioctls */
                assert_true(h->kvm_state == KVM_STATE_UNSUPPORTED ||
                            h->kvm_state >= KVM_STATE_FAILED);
}

static void test_facts_match_independent_sources(void **state) {
        _cleanup_(host_facts_done) HostFacts h = {};
        struct utsname u;
        unsigned major = 0, minor = 0;
        struct landlock_ruleset_attr attr = { .handled_access_fs = LANDLOCK_ACCESS_FS_EXECUTE };
        int fd;

        assert_int_equal(host_facts_probe(&h), 0);
        assert_string_equal(h.source, "probe");

        assert_int_equal(uname(&u), 0);
        assert_string_equal(h.kernel_release, u.release);
        assert_string_equal(h.arch, u.machine);
        assert_int_equal(sscanf(u.release, "%u.%u", &major, &minor), 2);
        assert_int_equal(h.kernel_major, major);
        assert_int_equal(h.kernel_minor, minor);

        assert_int_equal(h.uid, getuid());
        assert_int_equal(h.gid, getgid());
        assert_true(h.user[0]);
        if (h.is_root)
                assert_int_equal(h.uid, 0);

        assert_int_equal(h.userns_usable, h.userns_reason == NULL);
        assert_int_equal(h.time_ns, access("/proc/self/ns/time", F_OK) == 0);
        if (h.seccomp_user_notif)
                assert_true(strv_contains(h.seccomp_actions, "user_notif"));
        if (h.seccomp_filter)
                assert_true(strv_contains(h.seccomp_actions, "errno"));

        /* Building a real ruleset (never enforced) is an independent Landlock witness. */
        fd = (int) syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
        assert_int_equal(h.landlock_abi > 0, fd >= 0);
        if (fd >= 0)
                close(fd);

        check_kvm(&h);

        assert_int_equal(h.cgroup_layout, layout_from_mountinfo());
        assert_non_null(h.cgroup_v1_controllers);
        assert_non_null(h.cgroup_v2_controllers);
        if (h.cgroup_layout == CGROUP_LAYOUT_V1 || h.cgroup_layout == CGROUP_LAYOUT_HYBRID) {
                static const char *const names[] = { "memory", "pids", "cpu" };
                for (size_t i = 0; i < ELEMENTSOF(names); i++)
                        assert_int_equal(strv_contains(h.cgroup_v1_controllers, names[i]),
                                         v1_controller_mounted(names[i]));
        } else
                assert_null(h.cgroup_v1_controllers[0]);
        if (!h.cgroup_v2_writable)
                assert_null(h.cgroup_v2_controllers[0]);

        if (h.qemu_present)
                assert_int_equal(access(h.qemu_path, X_OK), 0);
        if (h.guest_kernel)
                assert_int_equal(access(h.guest_kernel, R_OK), 0);
        assert_int_equal(h.vm_reason == NULL,
                         h.qemu_present && h.libvirt_present && h.guest_kernel);
}

static void test_root_layout(void **state) {
        _cleanup_(host_facts_done) HostFacts h = {};
        struct stat st;
        char entry[300], target[256];
        ssize_t n;

        assert_int_equal(host_facts_probe(&h), 0);
        assert_non_null(h.root_symlinks);
        assert_non_null(h.root_dirs);
        assert_int_equal(lstat("/bin", &st), 0);
        if (S_ISLNK(st.st_mode)) {
                n = readlink("/bin", target, sizeof(target) - 1);
                assert_true(n > 0);
                target[n] = '\0';
                snprintf(entry, sizeof(entry), "bin=%s", target);
                assert_true(strv_contains(h.root_symlinks, entry));
        } else {
                assert_true(strv_contains(h.root_dirs, "bin"));
                assert_false(h.merged_usr);
        }
}

/* Everything the probe could change if it were not read-only, before and after. */
typedef struct Snapshot {
        ino_t ns[8];
        char cgroup[4096];
        char status_tail[256]; /* NoNewPrivs, Seccomp lines */
        int n_fds;
        int n_cgroup_children;
} Snapshot;

static void snapshot(Snapshot *s) {
        static const char *const ns[] = { "user", "mnt", "pid",    "net",
                                          "ipc",  "uts", "cgroup", "time" };
        char status[16384], dir[4300];
        const char *p, *line;
        struct dirent *de;
        FILE *f;
        DIR *d;

        *s = (Snapshot){};
        for (size_t i = 0; i < ELEMENTSOF(ns); i++) {
                struct stat st;
                char path[64];
                snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i]);
                s->ns[i] = stat(path, &st) == 0 ? st.st_ino : 0;
        }
        f = fopen("/proc/self/cgroup", "re");
        assert_non_null(f);
        s->cgroup[fread(s->cgroup, 1, sizeof(s->cgroup) - 1, f)] = '\0';
        fclose(f);
        f = fopen("/proc/self/status", "re");
        assert_non_null(f);
        status[fread(status, 1, sizeof(status) - 1, f)] = '\0';
        fclose(f);
        p = strstr(status, "NoNewPrivs:");
        line = strstr(status, "Seccomp:");
        snprintf(s->status_tail, sizeof(s->status_tail), "%.20s|%.20s", p ? p : "",
                 line ? line : "");

        d = opendir("/proc/self/fd");
        assert_non_null(d);
        while ((de = readdir(d)))
                s->n_fds++;
        closedir(d);

        /* Children of our own v2 cgroup: the probe must not create one to "try". */
        line = strstr(s->cgroup, "0::");
        if (line) {
                snprintf(dir, sizeof(dir), "%s%.*s",
                         access("/sys/fs/cgroup/unified", F_OK) == 0 ? "/sys/fs/cgroup/unified"
                                                                     : "/sys/fs/cgroup",
                         (int) strcspn(line + 3, "\n"), line + 3);
                d = opendir(dir);
                while (d && (de = readdir(d)))
                        s->n_cgroup_children += de->d_type == DT_DIR;
                if (d)
                        closedir(d);
        }
}

static void test_probe_changes_nothing(void **state) {
        Snapshot before, after;

        snapshot(&before);
        for (int i = 0; i < 3; i++) {
                _cleanup_(host_facts_done) HostFacts h = {};
                assert_int_equal(host_facts_probe(&h), 0);
        }
        snapshot(&after);
        assert_memory_equal(before.ns, after.ns, sizeof(before.ns));
        assert_string_equal(before.cgroup, after.cgroup);
        assert_string_equal(before.status_tail, after.status_tail);
        assert_int_equal(before.n_fds, after.n_fds);
        assert_int_equal(before.n_cgroup_children, after.n_cgroup_children);
}

/* As root: the same probe in a child that dropped to an unprivileged uid must see the host
 * as that user does: not root, no root-owned cgroup writable. Facts travel back as JSON. */
static void test_probe_as_unprivileged_uid(void **state) {
        const uid_t nobody = 65534;
        _cleanup_(host_facts_done) HostFacts h = {};
        _cleanup_free_ char *text = NULL;
        MoatError error = {};
        size_t n = 0;
        struct stat st;

        if (getuid() != 0)
                skip();
        text = probe_json_as(nobody, &n);
        assert_int_equal(host_facts_from_json_buffer(text, n, "child", &h, &error), 0);
        assert_int_equal(h.uid, nobody);
        assert_int_equal(h.gid, nobody);
        assert_false(h.is_root);
        if (stat("/sys/fs/cgroup/memory", &st) == 0 && !(st.st_mode & S_IWOTH))
                assert_false(h.cgroup_v1_writable);
        if (h.unprivileged_userns_clone == 0 || h.apparmor_restrict_userns == 1 ||
            h.max_user_namespaces == 0)
                assert_false(h.userns_usable);
        assert_false(host_can_run_tier(&h, TIER_SYSTEM, NULL) && !h.userns_usable);
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

static void test_probe_cost(void **state) {
        enum {
                RUNS = 200
        };
        double us[RUNS], total = 0;

        for (int i = 0; i < RUNS; i++) {
                _cleanup_(host_facts_done) HostFacts h = {};
                struct timespec a, b;

                clock_gettime(CLOCK_MONOTONIC, &a);
                assert_int_equal(host_facts_probe(&h), 0);
                clock_gettime(CLOCK_MONOTONIC, &b);
                us[i] = (double) (b.tv_sec - a.tv_sec) * 1e6 +
                        (double) (b.tv_nsec - a.tv_nsec) / 1e3;
                total += us[i];
        }
        qsort(us, RUNS, sizeof(us[0]), cmp_double);
        /* A figure for the reader, not a verdict: the host is shared and timing is noisy. */
        print_message(
                "host_facts_probe: min %.0f us, median %.0f us, mean %.0f us, p95 %.0f us, "
                "worst %.0f us over %d runs (uid %u)\n",
                us[0], us[RUNS / 2], total / RUNS, us[RUNS * 95 / 100], us[RUNS - 1], RUNS,
                (unsigned) getuid());
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_facts_match_independent_sources),
                cmocka_unit_test(test_root_layout),
                cmocka_unit_test(test_probe_changes_nothing),
                cmocka_unit_test(test_probe_as_unprivileged_uid),
                cmocka_unit_test(test_probe_cost),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/* Landlock: a child sets no_new_privs, applies a ruleset and probes; a second child runs the
 * same probes without the ruleset, so every assertion is shown to depend on Landlock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "basic/macros.h"
#include "child.h"
#include "sys/caps.h"
#include "sys/landlock.h"

/* Kernel uapi bit values (include/uapi/linux/landlock.h); the build host's header is older. */
#define FS_EXECUTE (1ULL << 0)
#define FS_WRITE_FILE (1ULL << 1)
#define FS_READ_FILE (1ULL << 2)
#define FS_READ_DIR (1ULL << 3)
#define NET_BIND_TCP (1ULL << 0)
#define NET_CONNECT_TCP (1ULL << 1)
#define SCOPE_ABSTRACT_UNIX (1ULL << 0)
#define SCOPE_SIGNAL (1ULL << 1)

static uint64_t fs_all(int abi) {
        uint64_t m = (1ULL << 13) - 1;

        if (abi >= 2)
                m |= 1ULL << 13; /* REFER */
        if (abi >= 3)
                m |= 1ULL << 14; /* TRUNCATE */
        if (abi >= 5)
                m |= 1ULL << 15; /* IOCTL_DEV */
        return m;
}

static char tmpdir[64];
static int host_abi;
static int listen_port;
static int listen_fd = -EBADF;

static void path_in(char *buf, size_t size, const char *rel) {
        snprintf(buf, size, "%s/%s", tmpdir, rel);
}

static void write_file(const char *rel) {
        char p[128];
        int fd;

        path_in(p, sizeof(p), rel);
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "data", 4), 4);
        close(fd);
}

static int setup(void **state) {
        char p[128];
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);

        host_abi = sys_landlock_abi();
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/moat-test-landlock.XXXXXX");
        if (!mkdtemp(tmpdir))
                return -1;
        path_in(p, sizeof(p), "allowed");
        mkdir(p, 0755);
        path_in(p, sizeof(p), "outside");
        mkdir(p, 0755);
        write_file("allowed/f");
        write_file("outside/g");
        write_file("single");

        /* A TCP listener outside the domain for the connect probe. */
        listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            listen(listen_fd, 8) < 0 || getsockname(listen_fd, (struct sockaddr *) &sa, &len) < 0)
                return -1;
        listen_port = ntohs(sa.sin_port);
        return 0;
}

static int teardown(void **state) {
        char cmd[160];

        close(listen_fd);
        snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", tmpdir);
        return system(cmd) == 0 ? 0 : -1;
}

static bool skip_below(int abi, const char *what) {
        if (host_abi >= abi)
                return false;
        if (host_abi == 0 && test_must_work())
                fail_msg("Landlock is not available on this kernel");
        fprintf(stderr, "# SKIP: %s needs Landlock ABI %d, this kernel has %d\n", what, abi,
                host_abi);
        return true;
}

typedef struct LandlockCase {
        PlanLandlock plan;
        bool apply;
} LandlockCase;

enum {
        L_APPLY,
        L_WRITE_OUTSIDE,
        L_CREATE_OUTSIDE,
        L_READ_OUTSIDE,
        L_READ_ALLOWED,
        L_WRITE_ALLOWED,
        L_WRITE_SINGLE,
        L_READ_ETC,
        L_BIND,
        L_CONNECT,
        L_ABSTRACT,
        L_KILL,
        L_NNP,
};

static int probe_open(const char *rel, int flags) {
        char p[128];
        int fd;

        path_in(p, sizeof(p), rel);
        fd = open(p, flags | O_CLOEXEC, 0644);
        if (fd < 0)
                return errno;
        close(fd);
        return 0;
}

static int probe_tcp(bool do_connect) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

        if (fd < 0)
                return errno;
        sa.sin_port = do_connect ? htons(listen_port) : 0;
        r = do_connect ? connect(fd, (struct sockaddr *) &sa, sizeof(sa))
                       : bind(fd, (struct sockaddr *) &sa, sizeof(sa));
        r = r < 0 ? errno : 0;
        close(fd);
        return r;
}

static void abstract_addr(struct sockaddr_un *un, socklen_t *len) {
        *un = (struct sockaddr_un){ .sun_family = AF_UNIX };
        snprintf(un->sun_path + 1, sizeof(un->sun_path) - 1, "moat-test-landlock-%d", getpid());
        *len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(un->sun_path + 1);
}

static void child_landlock(int *res, void *userdata) {
        LandlockCase *c = userdata;
        struct sockaddr_un un;
        socklen_t len;
        int lfd, fd;

        /* The abstract listener exists before the domain does: scoping must still deny it. */
        abstract_addr(&un, &len);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *) &un, len) < 0 || listen(lfd, 1) < 0)
                return;

        res[L_NNP] = sys_no_new_privs();
        res[L_APPLY] = c->apply ? sys_landlock_apply(&c->plan) : 0;
        if (res[L_APPLY] < 0)
                return;
        res[L_WRITE_OUTSIDE] = probe_open("outside/g", O_WRONLY);
        res[L_CREATE_OUTSIDE] = probe_open("outside/new", O_WRONLY | O_CREAT);
        res[L_READ_OUTSIDE] = probe_open("outside/g", O_RDONLY);
        res[L_READ_ALLOWED] = probe_open("allowed/f", O_RDONLY);
        res[L_WRITE_ALLOWED] = probe_open("allowed/f", O_WRONLY);
        res[L_WRITE_SINGLE] = probe_open("single", O_WRONLY);
        fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
        res[L_READ_ETC] = fd < 0 ? errno : 0;
        if (fd >= 0)
                close(fd);
        res[L_BIND] = probe_tcp(false);
        res[L_CONNECT] = probe_tcp(true);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        res[L_ABSTRACT] = fd < 0 ? errno : ERRNO_OF(connect(fd, (struct sockaddr *) &un, len));
        /* Signal 0 to the test runner, a process outside the domain: checked, never sent. */
        res[L_KILL] = ERRNO_OF(kill(getppid(), 0));
}

static PlanLandlockPath *paths_new(size_t *ret_n, uint64_t all) {
        static char allowed[128], single[128];
        static PlanLandlockPath paths[4];

        path_in(allowed, sizeof(allowed), "allowed");
        path_in(single, sizeof(single), "single");
        paths[0] = (PlanLandlockPath){ "/", FS_READ_FILE | FS_READ_DIR | FS_EXECUTE };
        paths[1] = (PlanLandlockPath){ allowed, all };
        /* Directory rights on a file: must be reduced to file rights, not refused. */
        paths[2] = (PlanLandlockPath){ single, all };
        /* Missing in this root: skipped. */
        paths[3] = (PlanLandlockPath){ "/nonexistent-moat-test", FS_READ_FILE };
        *ret_n = 4;
        return paths;
}

static LandlockCase full_case(void) {
        LandlockCase c = { .apply = true };

        c.plan.status = CONTROL_REQUIRED;
        c.plan.abi = host_abi > 6 ? 6 : host_abi;
        c.plan.handled_fs = fs_all(c.plan.abi);
        if (c.plan.abi >= 4)
                c.plan.handled_net = NET_BIND_TCP | NET_CONNECT_TCP;
        if (c.plan.abi >= 6)
                c.plan.scoped = SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL;
        c.plan.paths = paths_new(&c.plan.n_paths, c.plan.handled_fs);
        return c;
}

static void test_landlock_enforces(void **state) {
        LandlockCase c;
        int res[CHILD_MAX_RESULTS], status;

        if (skip_below(1, "Landlock"))
                skip();
        c = full_case();
        status = child_run(child_landlock, &c, res);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(res[L_NNP], 0);
        assert_int_equal(res[L_APPLY], 0);
        assert_int_equal(res[L_WRITE_OUTSIDE], EACCES);
        assert_int_equal(res[L_CREATE_OUTSIDE], EACCES);
        assert_int_equal(res[L_READ_OUTSIDE], 0);
        assert_int_equal(res[L_READ_ALLOWED], 0);
        assert_int_equal(res[L_WRITE_ALLOWED], 0);
        assert_int_equal(res[L_WRITE_SINGLE], 0);
        assert_int_equal(res[L_READ_ETC], 0);
        if (!skip_below(4, "TCP bind/connect rules")) {
                assert_int_equal(res[L_BIND], EACCES);
                assert_int_equal(res[L_CONNECT], EACCES);
        }
        if (!skip_below(6, "scoping")) {
                assert_int_equal(res[L_ABSTRACT], EPERM);
                assert_int_equal(res[L_KILL], EPERM);
        }
}

static void test_probes_allowed_without_landlock(void **state) {
        LandlockCase c = { .apply = false };
        int res[CHILD_MAX_RESULTS], status;

        status = child_run(child_landlock, &c, res);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(res[L_WRITE_OUTSIDE], 0);
        assert_int_equal(res[L_CREATE_OUTSIDE], 0);
        assert_int_equal(res[L_BIND], 0);
        assert_int_equal(res[L_CONNECT], 0);
        assert_int_equal(res[L_ABSTRACT], 0);
        assert_int_equal(res[L_KILL], 0);
}

enum {
        E_ABI0,
        E_ABI_TOO_NEW,
        E_UNKNOWN_FS,
        E_UNKNOWN_PATH_BIT,
        E_NET_OLD_ABI,
        E_EMPTY,
        E_RELATIVE
};

/* Refusals happen before restrict_self, but run them in a child anyway: a bug there must not
 * confine the test runner. */
static void child_refusals(int *res, void *userdata) {
        LandlockCase c = full_case();
        PlanLandlockPath bad = { "/", 1ULL << 50 }, rel = { "tmp", FS_READ_FILE };

        if (sys_no_new_privs() < 0)
                return;
        c.plan.abi = 0;
        res[E_ABI0] = sys_landlock_apply(&c.plan);
        c = full_case();
        c.plan.abi = host_abi + 1;
        res[E_ABI_TOO_NEW] = sys_landlock_apply(&c.plan);
        c = full_case();
        c.plan.handled_fs |= 1ULL << 50;
        res[E_UNKNOWN_FS] = sys_landlock_apply(&c.plan);
        c = full_case();
        c.plan.paths = &bad;
        c.plan.n_paths = 1;
        res[E_UNKNOWN_PATH_BIT] = sys_landlock_apply(&c.plan);
        c = full_case();
        c.plan.abi = 3;
        c.plan.handled_fs = fs_all(3);
        c.plan.handled_net = NET_BIND_TCP;
        c.plan.scoped = 0;
        res[E_NET_OLD_ABI] = sys_landlock_apply(&c.plan);
        c = full_case();
        c.plan.handled_fs = c.plan.handled_net = c.plan.scoped = 0;
        res[E_EMPTY] = sys_landlock_apply(&c.plan);
        c = full_case();
        c.plan.paths = &rel;
        c.plan.n_paths = 1;
        res[E_RELATIVE] = sys_landlock_apply(&c.plan);
}

static void test_landlock_refuses(void **state) {
        int res[CHILD_MAX_RESULTS], status;

        if (skip_below(4, "the refusal cases"))
                skip();
        status = child_run(child_refusals, NULL, res);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(res[E_ABI0], -EOPNOTSUPP);
        assert_int_equal(res[E_ABI_TOO_NEW], -EOPNOTSUPP);
        assert_int_equal(res[E_UNKNOWN_FS], -EINVAL);
        assert_int_equal(res[E_UNKNOWN_PATH_BIT], -EINVAL);
        assert_int_equal(res[E_NET_OLD_ABI], -EINVAL);
        assert_int_equal(res[E_EMPTY], -EINVAL);
        assert_int_equal(res[E_RELATIVE], -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_landlock_enforces),
                cmocka_unit_test(test_probes_allowed_without_landlock),
                cmocka_unit_test(test_landlock_refuses),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}

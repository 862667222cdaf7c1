/* SPDX-License-Identifier: MIT */
/* The probe on the project's reference machine (Debian 12, kernel with Landlock, hybrid
 * cgroups, no AppArmor/SELinux, no /dev/kvm, QEMU + libvirt + a guest kernel installed), and
 * the this-host-*.json fixtures against what the probe sees here, as root and as uid 1000.
 *
 * On another machine these expectations do not hold: the test then exits 77 and says which
 * ones differ. With MOAT_MUST_WORK=1 (CI on the reference machine) a difference is a failure,
 * so a regressed probe or a stale fixture cannot pass by skipping. */
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/macros.h"
#include "host-test-util.h"

#define UNPRIVILEGED_UID 1000

static char mismatches[8192];

static bool must_work(void) {
        const char *e = getenv("MOAT_MUST_WORK");
        return e && strcmp(e, "1") == 0;
}

static void mismatch(const char *fmt, ...) {
        size_t n = strlen(mismatches);
        va_list ap;

        if (n + 2 >= sizeof(mismatches))
                return;
        if (n > 0)
                mismatches[n++] = ';', mismatches[n++] = ' ';
        va_start(ap, fmt);
        vsnprintf(mismatches + n, sizeof(mismatches) - n, fmt, ap);
        va_end(ap);
}

static void check_must_work(void) {
        if (mismatches[0] && must_work())
                fail_msg("MOAT_MUST_WORK=1 and this machine differs: %s", mismatches);
}

static void test_reference_machine(void **state) {
        _cleanup_(host_facts_done) HostFacts h = {};

        assert_int_equal(host_facts_probe(&h), 0);
        if (h.landlock_abi < 1)
                mismatch("landlock_abi is %d, want >= 1", h.landlock_abi);
        if (h.cgroup_layout != CGROUP_LAYOUT_HYBRID)
                mismatch("cgroup layout is %s, want hybrid",
                         cgroup_layout_to_string(h.cgroup_layout));
        if (h.kvm_usable)
                mismatch("/dev/kvm is usable, want not");
        if (h.apparmor_enabled || h.selinux_mode >= 0)
                mismatch("a MAC LSM is active, want none");
        if (!h.userns_usable || !h.seccomp_filter || !h.seccomp_user_notif)
                mismatch("userns/seccomp filter/user notification missing");
        if (!h.qemu_present || !h.libvirt_present)
                mismatch("QEMU or libvirt missing");
        check_must_work();
}

/* Facts as JSON minus the ones that depend on the account rather than the machine. */
static json_t *comparable(const char *text) {
        json_t *o = json_loads(text, 0, NULL);

        assert_non_null(o);
        json_object_del(o, "source");
        json_object_del(o, "user");
        json_object_del(o, "vm_boot_ms"); /* from the caller's cache directory */
        return o;
}

static void compare_with_fixture(const char *probed_json, const char *fixture) {
        char path[4096];
        json_error_t err;
        json_t *want, *got;
        const char *key;
        json_t *v;

        fixture_path(fixture, path, sizeof(path));
        want = json_load_file(path, 0, &err);
        assert_non_null(want);
        json_object_del(want, "user");
        json_object_del(want, "vm_boot_ms");
        got = comparable(probed_json);
        json_object_foreach(want, key, v) if (!json_equal(v, json_object_get(got, key))) {
                _cleanup_free_ char *a = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
                _cleanup_free_ char *b =
                        json_dumps(json_object_get(got, key), JSON_ENCODE_ANY | JSON_COMPACT);
                mismatch("%s.json: \"%s\" is %s here, fixture says %s", fixture, key,
                         b ? b : "missing", a ? a : "?");
        }
        json_decref(want);
        json_decref(got);
}

static char *probe_as(uid_t uid) {
        size_t n = 0, cap = 1 << 16;
        char *text = malloc(cap);
        int pipefd[2], status;
        pid_t pid;

        assert_non_null(text);
        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                HostFacts c = {};
                char *json;
                close(pipefd[0]);
                if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
                    setresuid(uid, uid, uid) < 0 || host_facts_probe(&c) < 0)
                        _exit(2);
                json = host_facts_to_json(&c);
                if (!json || write(pipefd[1], json, strlen(json)) != (ssize_t) strlen(json))
                        _exit(3);
                _exit(0);
        }
        close(pipefd[1]);
        for (ssize_t k; (k = read(pipefd[0], text + n, cap - 1 - n)) > 0;)
                n += (size_t) k;
        close(pipefd[0]);
        text[n] = '\0';
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        return text;
}

static void test_fixtures_describe_this_machine(void **state) {
        _cleanup_(host_facts_done) HostFacts h = {};
        _cleanup_free_ char *mine = NULL, *unpriv = NULL;

        assert_int_equal(host_facts_probe(&h), 0);
        mine = host_facts_to_json(&h);
        assert_non_null(mine);
        if (h.is_root) {
                compare_with_fixture(mine, "this-host-root");
                unpriv = probe_as(UNPRIVILEGED_UID);
                compare_with_fixture(unpriv, "this-host-unprivileged");
        } else if (h.uid == UNPRIVILEGED_UID)
                compare_with_fixture(mine, "this-host-unprivileged");
        else
                mismatch("run as uid %u: the fixtures describe root and uid %d", (unsigned) h.uid,
                         UNPRIVILEGED_UID);
        check_must_work();
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_reference_machine),
                cmocka_unit_test(test_fixtures_describe_this_machine),
        };
        int r;

        r = cmocka_run_group_tests(tests, NULL, NULL);
        if (r != 0)
                return r;
        if (mismatches[0]) {
                printf("SKIP: not the reference machine (set MOAT_MUST_WORK=1 to fail instead): "
                       "%s\n",
                       mismatches);
                return 77;
        }
        return 0;
}

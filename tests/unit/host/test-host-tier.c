/* SPDX-License-Identifier: MIT */
/* host_can_run_tier() on the shipped fixtures and on single-fact variations, and the rule
 * that each fixture differs from modern.json only in what its name says. */
#include <jansson.h>
#include <stdlib.h>

#include "basic/macros.h"
#include "host-test-util.h"
#include "profile/profile.h"

typedef struct TierCase {
        const char *fixture;
        bool sandbox, system, vm;
        const char *reason_has; /* substring of the first refusing tier's reason */
        const char *differs;    /* keys that differ from modern.json, space separated, sorted */
} TierCase;

static const TierCase cases[] = {
        { "modern", true, true, true, NULL, "" },
        { "no-userns", false, false, true, "max_user_namespaces is 0",
          "max_user_namespaces userns_reason userns_usable" },
        { "userns-apparmor-restricted", false, false, true,
          "apparmor_restrict_unprivileged_userns is 1",
          "apparmor_restrict_userns userns_reason userns_usable" },
        { "no-landlock", true, true, true, NULL, "landlock_abi lsms" },
        { "no-cgroup-delegation", true, true, true, NULL,
          "cgroup_v2_controllers cgroup_v2_writable" },
        { "cgroup-v1-root", true, true, true, NULL,
          "cgroup_layout cgroup_v1_controllers cgroup_v1_writable cgroup_v2_controllers gid "
          "is_root kvm_account uid user" },
        { "no-kvm", true, true, true, NULL, "kvm_account kvm_reason kvm_state kvm_usable" },
        /* KVM present but unusable, or not proven yet: the vm tier runs all the same (TCG) */
        { "kvm-failed", true, true, true, NULL, "kvm_reason kvm_state kvm_usable" },
        { "kvm-unproven", true, true, true, NULL, "kvm_reason kvm_state kvm_usable" },
        { "no-libvirt", true, true, false, "libvirt is not installed",
          "libvirt_present vm_reason" },
        { "no-mac", true, true, true, NULL,
          "apparmor_enabled apparmor_moat_loaded apparmor_moat_profiles lsms" },
        { "this-host-unprivileged", true, true, true, NULL, NULL },
        { "this-host-root", true, true, true, NULL, NULL },
};

static void load_fixture(const char *name, HostFacts *h) {
        MoatError error = {};
        char path[4096], buf[1024];

        fixture_path(name, path, sizeof(path));
        if (host_facts_from_json_file(path, h, &error) < 0)
                fail_msg("%s", moat_error_format(&error, buf, sizeof(buf)));
}

static void test_fixture_tiers(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(host_facts_done) HostFacts h = {};
                const bool want[] = { cases[i].sandbox, cases[i].system, cases[i].vm };
                const char *first_reason = NULL;

                load_fixture(cases[i].fixture, &h);
                for (int t = TIER_SANDBOX; t <= TIER_VM; t++) {
                        const char *reason = "unset";
                        bool ok = host_can_run_tier(&h, t, &reason);
                        if (ok != want[t])
                                fail_msg("%s: tier %d: got %d, want %d", cases[i].fixture, t, ok,
                                         want[t]);
                        /* A refusal always explains itself; a yes carries no reason. */
                        if (ok)
                                assert_null(reason);
                        else
                                assert_true(reason && strlen(reason) > 10);
                        if (!ok && !first_reason)
                                first_reason = reason;
                }
                if (cases[i].reason_has && !strstr(first_reason, cases[i].reason_has))
                        fail_msg("%s: reason \"%s\" lacks \"%s\"", cases[i].fixture, first_reason,
                                 cases[i].reason_has);
        }
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static void test_fixtures_differ_only_by_name(void **state) {
        char path[4096];
        json_t *modern;

        modern = json_load_file(fixture_path("modern", path, sizeof(path)), 0, NULL);
        assert_non_null(modern);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const char *keys[64], *key;
                char diff[1024] = "";
                size_t n = 0;
                json_t *f, *v;

                if (!cases[i].differs)
                        continue;
                f = json_load_file(fixture_path(cases[i].fixture, path, sizeof(path)), 0, NULL);
                assert_non_null(f);
                /* Same key set: every fixture spells out every fact. */
                assert_int_equal(json_object_size(f), json_object_size(modern));
                json_object_foreach(f, key, v) {
                        assert_non_null(json_object_get(modern, key));
                        if (!json_equal(v, json_object_get(modern, key)) && n < ELEMENTSOF(keys))
                                keys[n++] = key;
                }
                qsort(keys, n, sizeof(keys[0]), cmp_str);
                for (size_t k = 0; k < n; k++)
                        snprintf(diff + strlen(diff), sizeof(diff) - strlen(diff), "%s%s",
                                 k ? " " : "", keys[k]);
                if (strcmp(diff, cases[i].differs) != 0)
                        fail_msg("%s differs from modern.json in \"%s\", want \"%s\"",
                                 cases[i].fixture, diff, cases[i].differs);
                json_decref(f);
        }
        json_decref(modern);
}

/* Each requirement of each tier, removed alone from a host that can run everything, must
 * stop that tier and only that one (or the ones that share the requirement). */
static void test_each_requirement_is_checked(void **state) {
        const char *reason;

        {
                _cleanup_(host_facts_done) HostFacts h = {};
                load_fixture("modern", &h);
                h.seccomp_filter = false;
                assert_false(host_can_run_tier(&h, TIER_SANDBOX, &reason));
                assert_non_null(strstr(reason, "seccomp"));
                assert_true(host_can_run_tier(&h, TIER_SYSTEM, NULL));
                assert_true(host_can_run_tier(&h, TIER_VM, NULL));
        }
        {
                _cleanup_(host_facts_done) HostFacts h = {};
                load_fixture("modern", &h);
                h.userns_usable = false; /* no reason recorded: a generic sentence */
                assert_false(host_can_run_tier(&h, TIER_SANDBOX, &reason));
                assert_non_null(strstr(reason, "user namespace"));
                assert_false(host_can_run_tier(&h, TIER_SYSTEM, &reason));
                assert_non_null(strstr(reason, "root or a user namespace"));
                assert_true(host_can_run_tier(&h, TIER_VM, NULL));
        }
        {
                _cleanup_(host_facts_done) HostFacts h = {};
                load_fixture("cgroup-v1-root", &h);
                h.userns_usable = false; /* root runs system containers without one */
                assert_true(host_can_run_tier(&h, TIER_SYSTEM, NULL));
                assert_false(host_can_run_tier(&h, TIER_SANDBOX, NULL));
        }
        {
                _cleanup_(host_facts_done) HostFacts h = {};
                load_fixture("modern", &h);
                h.lxc_present = false;
                assert_false(host_can_run_tier(&h, TIER_SYSTEM, &reason));
                assert_non_null(strstr(reason, "liblxc"));
                assert_true(host_can_run_tier(&h, TIER_SANDBOX, NULL));
        }
        {
                _cleanup_(host_facts_done) HostFacts h = {};
                load_fixture("modern", &h);
                h.qemu_present = false;
                assert_false(host_can_run_tier(&h, TIER_VM, &reason));
                assert_non_null(strstr(reason, "QEMU"));
        }
        {
                _cleanup_(host_facts_done) HostFacts h = {};
                load_fixture("modern", &h);
                h.guest_kernel = (free(h.guest_kernel), NULL);
                assert_false(host_can_run_tier(&h, TIER_VM, &reason));
                assert_non_null(strstr(reason, "guest kernel"));
        }
        {
                _cleanup_(host_facts_done) HostFacts h = {};
                load_fixture("modern", &h);
                h.kvm_usable = false; /* TCG is slower, not weaker: still a vm */
                assert_true(host_can_run_tier(&h, TIER_VM, NULL));
                assert_false(host_can_run_tier(&h, _TIER_MAX, &reason));
                assert_string_equal(reason, "unknown isolation tier");
                assert_false(host_can_run_tier(&h, -1, NULL));
        }
}

/* The userns conclusion, one sysctl at a time, for an unprivileged caller and for root. */
static void test_userns_verdict(void **state) {
        static const struct {
                bool kernel_has_userns;
                int64_t max;
                int clone, restrict_;
                bool is_root, moat_attached;
                const char *reason_has; /* NULL: usable */
        } verdicts[] = {
                { true, 63493, -1, -1, false, false, NULL },
                { true, 63493, 1, 0, false, false, NULL },
                { false, 63493, -1, -1, false, false, "/proc/self/ns/user is missing" },
                { false, 63493, -1, -1, true, false, "/proc/self/ns/user is missing" },
                { true, -1, -1, -1, false, false, "cannot be read" },
                { true, 0, -1, -1, false, false, "max_user_namespaces is 0" },
                { true, 0, -1, -1, true, false, "max_user_namespaces is 0" },
                { true, 63493, 0, -1, false, false, "unprivileged_userns_clone is 0" },
                { true, 63493, 0, -1, true, false, NULL },
                { true, 63493, 1, 1, false, false, "apparmor_restrict_unprivileged_userns is 1" },
                { true, 63493, -1, 1, false, false, "apparmor_restrict_unprivileged_userns is 1" },
                { true, 63493, 1, 1, true, false, NULL },
                /* moat under its own profile "moat": the restriction defers to its rule */
                { true, 63493, 1, 1, false, true, NULL },
                { true, 63493, 0, 1, false, true, "unprivileged_userns_clone is 0" },
        };

        for (size_t i = 0; i < ELEMENTSOF(verdicts); i++) {
                HostFacts h = {
                        .max_user_namespaces = verdicts[i].max,
                        .unprivileged_userns_clone = verdicts[i].clone,
                        .apparmor_restrict_userns = verdicts[i].restrict_,
                        .is_root = verdicts[i].is_root,
                        .apparmor_moat_attached = verdicts[i].moat_attached,
                };
                const char *why = host_userns_unusable_reason(&h, verdicts[i].kernel_has_userns);

                if (!verdicts[i].reason_has != !why)
                        fail_msg("case %zu: got \"%s\"", i, why ? why : "usable");
                if (why && !strstr(why, verdicts[i].reason_has))
                        fail_msg("case %zu: \"%s\" lacks \"%s\"", i, why, verdicts[i].reason_has);
        }
}

static void test_uid_map_initial(void **state) {
        assert_true(host_uid_map_is_initial("         0          0 4294967295"));
        assert_true(host_uid_map_is_initial("0 0 4294967295\n"));
        /* uid 0 of a user namespace: mapped to an unprivileged uid, or a partial range */
        assert_false(host_uid_map_is_initial("         0       1000          1"));
        assert_false(host_uid_map_is_initial("0 0 65536"));
        assert_false(host_uid_map_is_initial("0 0 4294967295\n4294967295 1 1"));
        assert_false(host_uid_map_is_initial(""));
        assert_false(host_uid_map_is_initial("0 0"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fixture_tiers),
                cmocka_unit_test(test_fixtures_differ_only_by_name),
                cmocka_unit_test(test_each_requirement_is_checked),
                cmocka_unit_test(test_userns_verdict),
                cmocka_unit_test(test_uid_map_initial),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

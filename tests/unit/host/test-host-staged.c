/* SPDX-License-Identifier: MIT */
/* The staged probe (HOST_PROBE_BASE, host_facts_probe_rest()) gives the plans the whole probe
 * gives. moat run and moat explain resolve from the base facts and complete them only for a
 * vm or system plan (launcher/context.c); that is right when
 *   1. the base probe leaves exactly the vm, system and report-only facts unprobed, and
 *      completing it gives the whole probe's facts (this host);
 *   2. the tier resolved from the base facts is the tier resolved from the whole facts, and a
 *      sandbox plan is the same plan, JSON and explain text, for every shipped profile (and
 *      the golden set's), under the shipped policy and none, on every host fixture and on
 *      this host. */
#include <dirent.h>
#include <jansson.h>

#include "basic/macros.h"
#include "host-test-util.h"
#include "plan/plan.h"
#include "policy/policy.h"
#include "profile/profile.h"

/* What the base probe does not look at, as a zeroed probe leaves it. */
static void forget_rest(HostFacts *h) {
        h->user[0] = '\0';
        h->newuidmap_present = false;
        h->subuid_range = false;
        h->lxc_present = false;
        h->lxc_version[0] = '\0';
        h->kvm_usable = false;
        h->kvm_state = KVM_STATE_ABSENT;
        h->kvm_account[0] = '\0';
        h->kvm_reason = (free(h->kvm_reason), NULL);
        h->qemu_present = false;
        h->qemu_path[0] = '\0';
        h->libvirt_present = false;
        h->guest_kernel = (free(h->guest_kernel), NULL);
        h->vm_reason = (free(h->vm_reason), NULL);
        h->vm_boot_ms = 0;
        h->partial = true;
}

static char *facts_json(const HostFacts *h) {
        HostFacts copy = *h; /* shallow, for the JSON only */
        char *s;

        copy.partial = false;
        s = host_facts_to_json(&copy);
        assert_non_null(s);
        return s;
}

static void check_completion(unsigned flags) {
        HostFacts whole = {}, staged = {}, base = {};
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL;

        assert_int_equal(host_facts_probe_flags(&whole, flags), 0);
        assert_false(whole.partial);
        assert_int_equal(host_facts_probe_flags(&staged, flags | HOST_PROBE_BASE), 0);
        assert_true(staged.partial);
        /* partial facts are never recorded */
        errno = 0;
        assert_null(host_facts_to_json(&staged));
        assert_int_equal(errno, EINVAL);

        /* the base probe is the whole one without the rest, and nothing more is missing */
        assert_int_equal(host_facts_probe_flags(&base, flags), 0);
        forget_rest(&base);
        a = facts_json(&staged);
        b = facts_json(&base);
        assert_string_equal(a, b);

        assert_int_equal(host_facts_probe_rest(&staged, flags), 0);
        assert_false(staged.partial);
        assert_int_equal(host_facts_probe_rest(&staged, flags), 0); /* no-op on whole facts */
        c = host_facts_to_json(&staged);
        d = host_facts_to_json(&whole);
        assert_non_null(c);
        assert_non_null(d);
        assert_string_equal(c, d);

        host_facts_done(&whole);
        host_facts_done(&staged);
        host_facts_done(&base);
}

static void test_completion(void **state) {
        check_completion(HOST_PROBE_SKIP_KVM); /* moat run */
        check_completion(0);                   /* moat explain, moat-vm-run */
}

typedef struct Counts {
        unsigned sandbox, other;
} Counts;

static char *plan_json_text(const Plan *p) {
        json_t *j = plan_to_json(p);
        char *s;

        assert_non_null(j);
        s = json_dumps(j, JSON_SORT_KEYS | JSON_INDENT(1));
        json_decref(j);
        assert_non_null(s);
        return s;
}

/* whole and base: the same host, all facts and the base probe's. */
static void compare_plans(const char *what, const HostFacts *whole, const HostFacts *base,
                          const Policy *policy, Counts *n) {
        const char *dirs[] = { MOAT_SOURCE_DIR "/profiles",
                               MOAT_SOURCE_DIR "/tests/golden/profiles" };

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                DIR *d = opendir(dirs[i]);
                struct dirent *de;

                assert_non_null(d);
                while ((de = readdir(d))) {
                        char path[4096];
                        Profile *pr = NULL;
                        MoatError e = {};
                        _cleanup_plan_ Plan *pw = NULL, *pb = NULL;
                        _cleanup_free_ char *jw = NULL, *jb = NULL, *tw = NULL, *tb = NULL;
                        size_t len = strlen(de->d_name);

                        if (len < 5 || strcmp(de->d_name + len - 5, ".yaml") != 0)
                                continue;
                        snprintf(path, sizeof(path), "%s/%s", dirs[i], de->d_name);
                        assert_int_equal(profile_load(path, &pr, &e), 0);
                        assert_int_equal(plan_resolve(pr, policy, whole, &pw), 0);
                        assert_int_equal(plan_resolve(pr, policy, base, &pb), 0);
                        if (pw->tier != pb->tier)
                                fail_msg("%s, %s: tier %d from the whole facts, %d from the base",
                                         what, de->d_name, pw->tier, pb->tier);
                        if (pb->tier == TIER_SANDBOX) {
                                jw = plan_json_text(pw);
                                jb = plan_json_text(pb);
                                if (strcmp(jw, jb) != 0)
                                        fail_msg("%s, %s: the sandbox plans differ:\n%s\n---\n%s",
                                                 what, de->d_name, jw, jb);
                                tw = plan_to_text(pw);
                                tb = plan_to_text(pb);
                                assert_non_null(tw);
                                assert_non_null(tb);
                                assert_string_equal(tw, tb);
                                n->sandbox++;
                        } else
                                n->other++;
                        profile_free(pr);
                }
                closedir(d);
        }
}

static Policy *shipped_policy(void) {
        Policy *p = NULL;
        MoatError e = {};

        assert_int_equal(policy_load(MOAT_SOURCE_DIR "/policies", "", &p, &e), 0);
        return p;
}

static void test_plans_fixtures(void **state) {
        Policy *policy = shipped_policy();
        DIR *d = opendir(HOST_FIXTURES_DIR);
        struct dirent *de;
        Counts n = {};

        assert_non_null(d);
        while ((de = readdir(d))) {
                char path[4096];
                HostFacts whole = {}, base = {};
                MoatError e = {};
                size_t len = strlen(de->d_name);

                if (len < 5 || strcmp(de->d_name + len - 5, ".json") != 0)
                        continue;
                snprintf(path, sizeof(path), "%s/%s", HOST_FIXTURES_DIR, de->d_name);
                assert_int_equal(host_facts_from_json_file(path, &whole, &e), 0);
                assert_int_equal(host_facts_from_json_file(path, &base, &e), 0);
                forget_rest(&base);
                compare_plans(de->d_name, &whole, &base, policy, &n);
                compare_plans(de->d_name, &whole, &base, NULL, &n);
                host_facts_done(&whole);
                host_facts_done(&base);
        }
        closedir(d);
        policy_free(policy);
        /* both ways were taken: plans compared, and plans that complete the probe */
        assert_true(n.sandbox > 0);
        assert_true(n.other > 0);
        print_message("# %u sandbox plans equal, %u vm/system plans of the same tier\n", n.sandbox,
                      n.other);
}

static void test_plans_this_host(void **state) {
        Policy *policy = shipped_policy();
        HostFacts whole = {}, base = {};
        Counts n = {};

        assert_int_equal(host_facts_probe_flags(&whole, 0), 0);
        assert_int_equal(host_facts_probe_flags(&base, HOST_PROBE_BASE), 0);
        compare_plans("this host", &whole, &base, policy, &n);
        compare_plans("this host", &whole, &base, NULL, &n);
        host_facts_done(&whole);
        host_facts_done(&base);
        policy_free(policy);
        print_message("# %u sandbox plans equal, %u vm/system plans of the same tier\n", n.sandbox,
                      n.other);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_completion),
                cmocka_unit_test(test_plans_fixtures),
                cmocka_unit_test(test_plans_this_host),
        };

        /* profiles that extend shipped ones find them in the source tree */
        setenv("MOAT_DATA_DIR", MOAT_SOURCE_DIR, 1);
        return cmocka_run_group_tests(tests, NULL, NULL);
}

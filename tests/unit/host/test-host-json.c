/* SPDX-License-Identifier: MIT */
/* Host-facts JSON: lossless round trip, documented defaults, strict and located errors. */
#include <errno.h>
#include <jansson.h>
#include <malloc.h>
#include <string.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "basic/macros.h"
#include "host-test-util.h"

static const char *const fixtures[] = {
        "modern",
        "no-userns",
        "userns-apparmor-restricted",
        "no-landlock",
        "no-cgroup-delegation",
        "cgroup-v1-root",
        "no-kvm",
        "kvm-failed",
        "kvm-unproven",
        "no-libvirt",
        "no-mac",
        "this-host-unprivileged",
        "this-host-root",
};

static char **strv_make(const char *a, const char *b) {
        char **l = calloc(1, sizeof(char *));
        assert_non_null(l);
        if (a)
                assert_int_equal(strv_extend(&l, a), 0);
        if (b)
                assert_int_equal(strv_extend(&l, b), 0);
        return l;
}

/* Every field away from its default, so that a field the serialiser forgets shows up. */
static void fill_everything(HostFacts *h) {
        *h = (HostFacts){
                .kernel_major = 6,
                .kernel_minor = 12,
                .merged_usr = true,
                .uid = 0,
                .gid = 0,
                .is_root = true,
                .max_user_namespaces = INT64_C(5000000000),
                .unprivileged_userns_clone = 1,
                .apparmor_restrict_userns = 0,
                .apparmor_moat_attached = true,
                .userns_usable = true,
                .time_ns = true,
                .seccomp_filter = true,
                .seccomp_user_notif = true,
                .landlock_abi = 5,
                .apparmor_enabled = true,
                .apparmor_moat_loaded = true,
                .selinux_mode = 0,
                .selinux_moat_loaded = true,
                .cgroup_layout = CGROUP_LAYOUT_HYBRID,
                .cgroup_v2_writable = true,
                .cgroup_v1_writable = true,
                .kvm_usable = true,
                .kvm_state = KVM_STATE_PROVEN,
                .qemu_present = true,
                .libvirt_present = true,
                .vm_boot_ms = UINT32_MAX,
                .lxc_present = true,
                .tun_usable = true,
                .slirp4netns_present = true,
                .nft_present = true,
                .newuidmap_present = true,
                .subuid_range = true,
        };
        snprintf(h->source, sizeof(h->source), "probe");
        snprintf(h->kernel_release, sizeof(h->kernel_release), "6.12.0-\"quoted\"\\x");
        snprintf(h->arch, sizeof(h->arch), "x86_64");
        h->root_symlinks = strv_make("bin=usr/bin", "lib64=usr/lib64");
        h->root_dirs = strv_make("lib32", NULL);
        h->apparmor_moat_profiles = strv_make("moat", "moat-default");
        snprintf(h->user, sizeof(h->user), "r\xc3\xa9my");
        h->userns_reason = strdup("reason with\nnewline");
        h->seccomp_actions = strv_make("errno", "user_notif");
        h->lsms = strv_make(NULL, NULL); /* known, and empty */
        h->cgroup_v2_controllers = strv_make("memory", NULL);
        h->cgroup_v1_controllers = strv_make("pids", "cpu");
        snprintf(h->qemu_path, sizeof(h->qemu_path), "/opt/q/qemu-system-x86_64");
        h->guest_kernel = strdup("/var/lib/moat/guest/vmlinuz");
        h->vm_reason = strdup("not really");
        snprintf(h->kvm_account, sizeof(h->kvm_account), "moat-vm");
        h->kvm_reason = strdup("kept as given");
        snprintf(h->lxc_version, sizeof(h->lxc_version), "6.0.1");
        snprintf(h->slirp4netns_path, sizeof(h->slirp4netns_path), "/usr/bin/slirp4netns");
        snprintf(h->nft_path, sizeof(h->nft_path), "/usr/sbin/nft");
}

static void round_trip(const HostFacts *in) {
        _cleanup_(host_facts_done) HostFacts out = {};
        _cleanup_free_ char *text = NULL, *again = NULL;
        MoatError error = {};

        text = host_facts_to_json(in);
        assert_non_null(text);
        assert_int_equal(host_facts_from_json_buffer(text, strlen(text), "rt.json", &out, &error),
                         0);
        assert_false(moat_error_is_set(&error));
        assert_host_facts_equal(in, &out);
        assert_string_equal(out.source, "rt.json");
        /* Stable text: serialising the loaded facts gives the same document, source aside. */
        snprintf(out.source, sizeof(out.source), "%s", in->source);
        again = host_facts_to_json(&out);
        assert_non_null(again);
        assert_string_equal(text, again);
}

static void test_round_trip_everything(void **state) {
        _cleanup_(host_facts_done) HostFacts h = {};

        fill_everything(&h);
        round_trip(&h);
}

static void test_round_trip_null_lists(void **state) {
        _cleanup_(host_facts_done) HostFacts h = {};

        fill_everything(&h);
        h.lsms = strv_free(h.lsms);
        h.root_dirs = strv_free(h.root_dirs);
        h.guest_kernel = (free(h.guest_kernel), NULL);
        h.cgroup_layout = CGROUP_LAYOUT_V2;
        round_trip(&h);
}

static void test_round_trip_probe(void **state) {
        _cleanup_(host_facts_done) HostFacts h = {};

        assert_int_equal(host_facts_probe(&h), 0);
        round_trip(&h);
}

/* A fixture loads without loss: re-serialised, it is the same JSON value as the file. */
static void test_fixtures_are_complete_and_canonical(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(fixtures); i++) {
                _cleanup_(host_facts_done) HostFacts h = {};
                _cleanup_free_ char *text = NULL;
                MoatError error = {};
                json_t *file, *emitted;
                char path[4096];

                fixture_path(fixtures[i], path, sizeof(path));
                if (host_facts_from_json_file(path, &h, &error) < 0) {
                        char buf[1024];
                        fail_msg("%s", moat_error_format(&error, buf, sizeof(buf)));
                }
                assert_string_equal(h.source, path);
                round_trip(&h);

                text = host_facts_to_json(&h);
                emitted = json_loads(text, 0, NULL);
                file = json_load_file(path, 0, NULL);
                assert_non_null(emitted);
                assert_non_null(file);
                json_object_del(emitted, "source");
                if (!json_equal(file, emitted))
                        fail_msg("%s: not every fact is written out, or differs after loading",
                                 path);
                json_decref(file);
                json_decref(emitted);
        }
}

static void test_defaults_are_conservative(void **state) {
        _cleanup_(host_facts_done) HostFacts h = {};
        MoatError error = {};

        assert_int_equal(host_facts_from_json_buffer("{}", 2, "empty.json", &h, &error), 0);
        assert_int_equal(h.uid, 65534);
        assert_int_equal(h.gid, 65534);
        assert_string_equal(h.user, "nobody");
        assert_false(h.is_root);
        assert_int_equal(h.max_user_namespaces, -1);
        assert_int_equal(h.unprivileged_userns_clone, -1);
        assert_int_equal(h.apparmor_restrict_userns, -1);
        assert_false(h.userns_usable);
        assert_false(h.seccomp_filter);
        assert_int_equal(h.landlock_abi, 0);
        assert_null(h.lsms);
        assert_false(h.apparmor_enabled);
        assert_int_equal(h.selinux_mode, -1);
        assert_int_equal(h.cgroup_layout, CGROUP_LAYOUT_NONE);
        assert_false(h.cgroup_v2_writable);
        assert_false(h.cgroup_v1_writable);
        assert_false(h.kvm_usable);
        assert_false(h.qemu_present);
        assert_null(h.guest_kernel);
        assert_false(h.lxc_present);
        assert_int_equal(h.kernel_major, 0);
        for (int t = 0; t < 3; t++)
                assert_false(host_can_run_tier(&h, t, NULL));
}

static void test_partial_file_keeps_given_facts(void **state) {
        static const char text[] = "{\"landlock_abi\": 3, \"cgroup_layout\": \"v2\", \"lsms\": []}";
        _cleanup_(host_facts_done) HostFacts h = {};
        MoatError error = {};

        assert_int_equal(host_facts_from_json_buffer(text, strlen(text), "p.json", &h, &error), 0);
        assert_int_equal(h.landlock_abi, 3);
        assert_int_equal(h.cgroup_layout, CGROUP_LAYOUT_V2);
        assert_non_null(h.lsms);
        assert_null(h.lsms[0]);
        assert_int_equal(h.uid, 65534);
}

typedef struct BadCase {
        const char *text;
        const char *expected; /* the whole formatted error */
} BadCase;

static const BadCase bad_cases[] = {
        { "{\"landlock_abi\": \"7\"}",
          "host.json: field \"landlock_abi\": expected integer, got string" },
        { "{\"landlock_abi\": 6.0}",
          "host.json: field \"landlock_abi\": expected integer, got real number" },
        { "{\"landlok_abi\": 7}", "host.json: unknown field \"landlok_abi\"" },
        { "{\"kvm_usable\": 1}", "host.json: field \"kvm_usable\": expected boolean, got integer" },
        { "{\"kvm_usable\": null}", "host.json: field \"kvm_usable\": expected boolean, got null" },
        { "{\"kvm_state\": \"usable\"}",
          "host.json: field \"kvm_state\": \"usable\" is not one of \"absent\", \"no-access\", "
          "\"unsupported\", \"failed\", \"unproven\", \"proven\"" },
        /* kvm_usable is what plans read: it must not claim more than the state proves */
        { "{\"kvm_usable\": true, \"kvm_state\": \"unproven\"}",
          "host.json: field \"kvm_usable\": true, but \"kvm_state\" is \"unproven\"" },
        { "{\"kvm_state\": \"proven\"}",
          "host.json: field \"kvm_usable\": false, but \"kvm_state\" is \"proven\"" },
        { "{\"user\": null}", "host.json: field \"user\": expected string, got null" },
        { "{\"guest_kernel\": false}",
          "host.json: field \"guest_kernel\": expected string or null, got boolean" },
        { "{\"lsms\": \"apparmor\"}",
          "host.json: field \"lsms\": expected array of strings or null, got string" },
        { "{\"lsms\": [\"apparmor\", 1]}",
          "host.json: field \"lsms\"[1]: expected string without NUL, got integer" },
        { "{\"selinux_mode\": 2}", "host.json: field \"selinux_mode\": 2 is out of range [-1, 1]" },
        { "{\"landlock_abi\": -1}",
          "host.json: field \"landlock_abi\": -1 is out of range [0, 2147483647]" },
        { "{\"uid\": 4294967295}",
          "host.json: field \"uid\": 4294967295 is out of range [0, 4294967294]" },
        { "{\"max_user_namespaces\": -2}",
          "host.json: field \"max_user_namespaces\": -2 is out of range [-1, "
          "9223372036854775807]" },
        { "{\"cgroup_layout\": \"v3\"}",
          "host.json: field \"cgroup_layout\": \"v3\" is not one of \"none\", \"v1\", \"hybrid\", "
          "\"v2\"" },
        { "{\"arch\": \"0123456789012345678901234567890123\"}",
          "host.json: field \"arch\": longer than 31 bytes" },
        { "{\"is_root\": true, \"uid\": 1000}",
          "host.json: field \"is_root\": true, but \"uid\" is 1000, not 0" },
        { "[]", "host.json: expected a JSON object of host facts, got array" },
        /* Syntax errors carry line:column from the parser. */
        { "{\n  \"uid\": 0,\n  \"gid\": 0\n  \"user\": \"x\"\n}",
          "host.json:4:8: '}' expected near '\"user\"'" },
        { "{\n  \"uid\": 0,\n  \"uid\": 1\n}",
          "host.json:3:7: duplicate object key near '\"uid\"'" },
        { "{\"user\": \"a\\u0000b\"}",
          "host.json:1:19: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"a\\u0000b\"'" },
        { "", "host.json:1: '[' or '{' expected near end of file" },
};

static void test_strict_errors(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
                _cleanup_(host_facts_done) HostFacts h = {};
                MoatError error = {};
                char buf[1024];
                int r;

                r = host_facts_from_json_buffer(bad_cases[i].text, strlen(bad_cases[i].text),
                                                "host.json", &h, &error);
                if (r != -EINVAL)
                        fail_msg("case %zu (%s): returned %d", i, bad_cases[i].text, r);
                assert_true(moat_error_is_set(&error));
                moat_error_format(&error, buf, sizeof(buf));
                if (strcmp(buf, bad_cases[i].expected) != 0)
                        fail_msg("case %zu: got \"%s\", want \"%s\"", i, buf,
                                 bad_cases[i].expected);
        }
}

/* A failed load leaves nothing half-filled behind: no fact from before the bad key. */
static void test_error_leaves_struct_empty(void **state) {
        static const char text[] =
                "{\"guest_kernel\": \"/k\", \"lsms\": [\"a\"], \"kvm_usable\": true, "
                "\"landlock_abi\": \"x\"}";
        HostFacts h;
        MoatError error = {};

        memset(&h, 0xAA, sizeof(h));
        assert_int_equal(host_facts_from_json_buffer(text, strlen(text), "x.json", &h, &error),
                         -EINVAL);
        assert_null(h.guest_kernel);
        assert_null(h.lsms);
        assert_false(h.kvm_usable);
        host_facts_done(&h);
}

static void test_file_errors(void **state) {
        _cleanup_(host_facts_done) HostFacts h = {};
        MoatError error = {};
        char buf[1024];

        assert_int_equal(host_facts_from_json_file("/nonexistent/host.json", &h, &error), -ENOENT);
        assert_string_equal(
                moat_error_format(&error, buf, sizeof(buf)),
                "/nonexistent/host.json: cannot read host facts: No such file or directory");

        error = (MoatError){};
        assert_true(host_facts_from_json_file(HOST_FIXTURES_DIR, &h, &error) < 0);
        assert_string_equal(moat_error_format(&error, buf, sizeof(buf)),
                            HOST_FIXTURES_DIR ": not a regular file of at most 1048576 bytes");
}

/* Facts are JSON text: a string that is not UTF-8 is refused with EILSEQ, not mangled. */
static void test_non_utf8_is_refused(void **state) {
        _cleanup_(host_facts_done) HostFacts h = {};

        fill_everything(&h);
        free(h.vm_reason);
        h.vm_reason = strdup("MOAT_GUEST_KERNEL=/tmp/\xff is not a readable file");
        errno = 0;
        assert_null(host_facts_to_json(&h));
        assert_int_equal(errno, EILSEQ);
}

/* host_facts_copy(): every field equal after the original is freed and its memory overwritten
 * (freed blocks filled at once, and blocks of every size up to 4 KiB taken and filled after),
 * so the copy shares nothing with it. */
static void test_copy_shares_nothing(void **state) {
        _cleanup_(host_facts_done) HostFacts expected = {}, a = {}, b = {};
        void *blocks[256 * 8];

        fill_everything(&expected);
        expected.project_quota_reason = strdup("no quota here");
        fill_everything(&a);
        a.project_quota_reason = strdup("no quota here");
        assert_int_equal(host_facts_copy(&a, &b), 0);
        /* glibc overwrites what is freed; under AddressSanitizer, whose allocator has no
         * M_PERTURB (mallopt() returns 0), any read of freed memory is reported instead */
        bool perturb = mallopt(M_PERTURB, 0xa5) == 1;
        host_facts_done(&a);
        for (size_t i = 0; i < ELEMENTSOF(blocks); i++) {
                size_t size = 16 * (i % 256 + 1);
                blocks[i] = malloc(size);
                assert_non_null(blocks[i]);
                memset(blocks[i], 0x5a, size);
        }
        assert_host_facts_equal(&expected, &b);
        assert_string_equal(b.project_quota_reason, "no quota here");
        for (size_t i = 0; i < ELEMENTSOF(blocks); i++)
                free(blocks[i]);
        if (perturb)
                assert_int_equal(mallopt(M_PERTURB, 0), 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip_everything),
                cmocka_unit_test(test_copy_shares_nothing),
                cmocka_unit_test(test_round_trip_null_lists),
                cmocka_unit_test(test_round_trip_probe),
                cmocka_unit_test(test_fixtures_are_complete_and_canonical),
                cmocka_unit_test(test_defaults_are_conservative),
                cmocka_unit_test(test_partial_file_keeps_given_facts),
                cmocka_unit_test(test_strict_errors),
                cmocka_unit_test(test_error_leaves_struct_empty),
                cmocka_unit_test(test_file_errors),
                cmocka_unit_test(test_non_utf8_is_refused),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

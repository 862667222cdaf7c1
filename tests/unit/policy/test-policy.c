/* SPDX-License-Identifier: MIT */
/* Policy loading: the shipped files parse and hold what the product promises; a site file
 * can tighten and every way of loosening is refused with file:line:column; strict YAML
 * (unknown keys, wrong types, duplicates); argument filters and their not_in expansion; the
 * digest; and every syscall the default set names is known to libseccomp. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/strv.h"
#include "policy/policy.h"
#include "profile/egress.h"

static Policy *load_shipped(void) {
        Policy *p = NULL;
        MoatError e = {};
        char buf[1024];
        if (policy_load(SOURCE_ROOT "/policies", "", &p, &e) < 0)
                fail_msg("policy_load: %s", moat_error_format(&e, buf, sizeof(buf)));
        return p;
}

static const PolicyRule *rule(const Policy *p, const char *id) {
        for (size_t i = 0; i < p->n_rules; i++)
                if (strcmp(p->rules[i].id, id) == 0)
                        return &p->rules[i];
        return NULL;
}

static void test_shipped(void **state) {
        Policy *p = load_shipped();
        static const char *const ids[] = {
                "trust-hostile",    "kernel-needs", "kernel-version", "root-equivalent-capability",
                "host-devices",     "full-os",      "missing-userns", "missing-seccomp",
                "missing-landlock", "missing-mac",  "missing-limits"
        };
        for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
                if (!rule(p, ids[i]))
                        fail_msg("shipped rule %s missing", ids[i]);
        assert_int_equal(rule(p, "trust-hostile")->min_tier, TIER_VM);
        assert_int_equal(rule(p, "full-os")->min_tier, TIER_SYSTEM);
        assert_null(rule(p, "network-outbound")); /* outbound is built: no refusal */
        assert_string_equal(rule(p, "trust-hostile")->pos.file, "policies/escalation.yaml");
        assert_true(rule(p, "trust-hostile")->pos.line > 0);

        const SeccompSet *s = policy_find_seccomp_set(p, "default");
        assert_non_null(s);
        static const char *const groups[] = { "keys",        "bpf",        "perf",    "userfaultfd",
                                              "io_uring",    "kexec",      "modules", "handles",
                                              "mount",       "namespaces", "clone3",  "ptrace",
                                              "personality", "admin",      "time",    "tty-inject",
                                              "raw-network", "devices",    "obsolete" };
        for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
                if (!strv_contains(s->groups, groups[i]))
                        fail_msg("default set does not deny %s", groups[i]);
                assert_non_null(seccomp_set_find_group(s, groups[i])->description);
        }
        assert_false(strv_contains(s->groups, "mempolicy"));
        assert_non_null(seccomp_set_find_group(s, "mempolicy"));
        assert_int_equal(strv_length(p->files), 2);
        policy_free(p);
}

/* Every name must resolve on at least one filtered ABI, or the executor would refuse it. */
static void test_syscall_names_known(void **state) {
        Policy *p = load_shipped();
        for (size_t i = 0; i < p->n_seccomp_sets; i++) {
                const SeccompSet *s = &p->seccomp_sets[i];
                for (size_t g = 0; g < s->n_all_groups; g++)
                        for (size_t e = 0; e < s->all_groups[g].n_entries; e++) {
                                const char *n = s->all_groups[g].entries[e].syscall;
                                if (seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, n) ==
                                            __NR_SCMP_ERROR &&
                                    seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86, n) ==
                                            __NR_SCMP_ERROR)
                                        fail_msg("libseccomp does not know '%s' (group %s)", n,
                                                 s->all_groups[g].name);
                        }
        }
        policy_free(p);
}

/* Parse a site buffer over the shipped policy; returns the error text or "" on success. */
static char site_error[1024];
static int site(Policy **ret, const char *yaml) {
        Policy *p = load_shipped();
        MoatError e = {};
        int r = policy_parse_site_buffer(p, yaml, strlen(yaml), "site.yaml", &e);
        site_error[0] = 0;
        if (r < 0)
                moat_error_format(&e, site_error, sizeof(site_error));
        if (ret)
                *ret = p;
        else
                policy_free(p);
        return r;
}

static void expect_site_error(const char *yaml, const char *where, const char *what) {
        assert_int_equal(site(NULL, yaml), -EINVAL);
        if (!strstr(site_error, where) || !strstr(site_error, what))
                fail_msg("expected '%s' ... '%s', got: %s", where, what, site_error);
}

static void test_site_tightens(void **state) {
        Policy *p;
        assert_int_equal(site(&p,
                              "moat: 1\n"
                              "rules:\n"
                              "  - id: internal-to-vm\n"
                              "    sentence: internal code runs in a vm at this site\n"
                              "    when: {trust: internal}\n"
                              "    tier: vm\n"
                              "  - id: full-os\n"
                              "    tier: vm\n"
                              "  - id: kernel-needs\n"
                              "    refuse: true\n"
                              "seccomp:\n"
                              "  deny: [chroot, '@mempolicy']\n"
                              "audit:\n"
                              "  log: /var/log/moat/audit.jsonl\n"
                              "  hmac_key_file: /etc/moat/audit.key\n"
                              "  journal: true\n"),
                         0);
        assert_non_null(rule(p, "internal-to-vm"));
        assert_true(rule(p, "internal-to-vm")->from_site);
        assert_int_equal(rule(p, "full-os")->min_tier, TIER_VM);
        assert_true(rule(p, "kernel-needs")->refuse);
        assert_true(strv_contains(p->extra_denied_syscalls, "chroot"));
        assert_true(strv_contains(p->extra_denied_syscalls, "@mempolicy"));
        assert_string_equal(p->extra_denied_pos[0].file, "site.yaml");
        assert_int_equal(p->extra_denied_pos[0].line, 12);
        assert_string_equal(p->audit_log_path, "/var/log/moat/audit.jsonl");
        assert_string_equal(p->audit_hmac_key_file, "/etc/moat/audit.key");
        assert_true(p->audit_journal);
        assert_int_equal(strv_length(p->files), 3);
        policy_free(p);
}

static void test_site_network(void **state) {
        Policy *p;
        assert_int_equal(site(&p,
                              "moat: 1\n"
                              "network:\n"
                              "  unrestricted: false\n"
                              "  max_allow: ['*.example.org:443,80', '203.0.113.0/24:1-65535']\n"
                              "  forbidden_ports: [25, 6379]\n"),
                         0);
        assert_false(p->network.unrestricted);
        assert_true(p->network.max_allow_set);
        assert_int_equal(p->network.n_max_allow, 2);
        assert_int_equal(p->network.max_allow[1].pos.line, 4);
        assert_int_equal(p->network.n_forbidden_ports, 2);
        assert_int_equal(p->network.forbidden_ports[1], 6379);
        policy_free(p);
        expect_site_error("moat: 1\nnetwork:\n  max_allow: ['*']\n  bogus: 1\n", "site.yaml:4:3",
                          "unknown key 'bogus'");
        expect_site_error("moat: 1\nnetwork:\n  max_allow: ['a.*.org']\n", "site.yaml:3:15",
                          "network.max_allow[0]");
        expect_site_error("moat: 1\nnetwork:\n  forbidden_ports: [0]\n", "site.yaml:3:21",
                          "0 is no port");
}

/* host_namespaces: the most any profile may share; a second site file only narrows it. */
static void test_site_host_namespaces(void **state) {
        Policy *p;
        MoatError e = {};

        assert_int_equal(site(&p, "moat: 1\nhost_namespaces: [network, uts]\n"), 0);
        assert_true(p->host_namespaces.set);
        assert_int_equal(strv_length(p->host_namespaces.allow), 2);
        assert_int_equal(p->host_namespaces.pos.line, 2);
        /* layered: [network, uts] then [uts, ipc] -> [uts] (ipc was not allowed before) */
        const char *second = "moat: 1\nhost_namespaces: [uts, ipc]\n";
        assert_int_equal(policy_parse_site_buffer(p, second, strlen(second), "site2.yaml", &e), 0);
        assert_int_equal(strv_length(p->host_namespaces.allow), 1);
        assert_string_equal(p->host_namespaces.allow[0], "uts");
        policy_free(p);
        assert_int_equal(site(&p, "moat: 1\nhost_namespaces: []\n"), 0);
        assert_true(p->host_namespaces.set);
        assert_int_equal(strv_length(p->host_namespaces.allow), 0);
        policy_free(p);
        expect_site_error("moat: 1\nhost_namespaces: [network, user]\n", "site.yaml:2:28",
                          "host_namespaces[1]: 'user' is not a namespace a profile can share");
        expect_site_error("moat: 1\nhost_namespaces: network\n", "site.yaml:2:18",
                          "host_namespaces");
}

static void test_site_loosening_rejected(void **state) {
        expect_site_error("moat: 1\nrules:\n  - id: trust-hostile\n    tier: sandbox\n",
                          "site.yaml:4:11", "may only tighten");
        expect_site_error("moat: 1\nrules:\n  - id: missing-userns\n    tier: system\n",
                          "site.yaml:4:11", "may only tighten");
        expect_site_error("moat: 1\nrules:\n  - id: trust-hostile\n    when: {trust: trusted}\n",
                          "site.yaml:4:5", "cannot change");
        expect_site_error("moat: 1\nseccomp:\n  allow: [ptrace]\n", "site.yaml:3:3",
                          "may only tighten");
        expect_site_error("moat: 1\nrules:\n  - id: trust-hostile\n    disabled: true\n",
                          "site.yaml:4:5", "unknown key 'disabled'");
}

static void test_site_strict(void **state) {
        expect_site_error("moat: 1\nrulez: []\n", "site.yaml:2:1", "unknown key 'rulez'");
        expect_site_error("moat: 1\naudit:\n  journal: yes\n", "site.yaml:3:12",
                          "expected true or false");
        expect_site_error("moat: 1\naudit:\n  journal: true\n  journal: false\n", "site.yaml:4:3",
                          "duplicate key");
        expect_site_error("moat: 2\n", "site.yaml:1:7", "not supported");
        expect_site_error("rules: []\n", "site.yaml:1:1", "moat: 1");
        expect_site_error("moat: 1\nseccomp:\n  deny: ['@nope']\n", "site.yaml:3:10",
                          "known @group");
        expect_site_error("moat: 1\naudit: {log: relative/path}\n", "site.yaml:2:14", "absolute");
        expect_site_error(
                "moat: 1\nrules:\n  - id: x\n    sentence: s\n    when: {trust: evil}\n    tier: "
                "vm\n",
                "site.yaml:5:19", "trust");
        expect_site_error(
                "moat: 1\nrules:\n  - id: x\n    sentence: s\n    when: {trust: hostile}\n    "
                "tier: vm\n"
                "    refuse: true\n",
                "site.yaml:3:5", "exactly one");
        expect_site_error(
                "moat: 1\nrules:\n  - id: x\n    sentence: s\n    when: {missing_controls: [dns]}\n"
                "    tier: vm\n",
                "site.yaml:5:31", "unknown 'dns'");
        expect_site_error(
                "moat: 1\nrules:\n  - id: x\n    sentence: s\n    when: {}\n    tier: vm\n",
                "site.yaml:5:11", "at least one");
        expect_site_error("moat: 1\nrules: [\n", "site.yaml:", "invalid YAML");
        expect_site_error(
                "moat: 1\nrules:\n - id: full-os\n   tier: vm\n - id: full-os\n   tier: vm\n",
                "site.yaml:5:8", "appears twice");
        expect_site_error("moat: 1\nseccomp: {deny: ['1']}\n", "site.yaml:2:18",
                          "neither a system call");
        expect_site_error("moat: 1\n---\nmoat: 1\n", "site.yaml:3:1", "exactly one YAML document");
}

static int set_from(const char *yaml, Policy **ret, char *err, size_t errsize) {
        Policy *p = calloc(1, sizeof(Policy));
        MoatError e = {};
        int r = policy_parse_seccomp_set_buffer(p, yaml, strlen(yaml), "set.yaml", &e);
        err[0] = 0;
        if (r < 0)
                moat_error_format(&e, err, errsize);
        *ret = p;
        return r;
}

static void test_set_strict(void **state) {
        char err[1024];
        Policy *p;

        assert_int_equal(set_from("moat: 1\nname: t\nfilters:\n  f:\n    description: d\n    any:\n"
                                  "      - [{arg: 0, equals: 1}, {arg: 0, equals: 2}]\n"
                                  "groups: {g: {description: d, syscalls: [{name: ioctl, filter: "
                                  "f}]}}\ndeny: [g]\n",
                                  &p, err, sizeof(err)),
                         -EINVAL);
        assert_non_null(strstr(err, "compared twice"));
        policy_free(p);
        assert_int_equal(set_from("moat: 1\nname: t\ngroups: {g: {description: d, syscalls: "
                                  "[{name: ioctl, filter: nope}]}}\n"
                                  "deny: [g]\n",
                                  &p, err, sizeof(err)),
                         -EINVAL);
        assert_non_null(strstr(err, "set.yaml:3:"));
        assert_non_null(strstr(err, "not defined"));
        policy_free(p);
        assert_int_equal(
                set_from("moat: 1\nname: t\ngroups:\n  a: {description: d, syscalls: [bpf]}\n"
                         "  b: {description: d, syscalls: [bpf]}\ndeny: [a]\n",
                         &p, err, sizeof(err)),
                -EINVAL);
        assert_non_null(strstr(err, "already in group 'a'"));
        policy_free(p);
        assert_int_equal(set_from("moat: 1\nname: t\ngroups: {a: {description: d, syscalls: "
                                  "[bpf]}}\ndeny: [b]\n",
                                  &p, err, sizeof(err)),
                         -EINVAL);
        assert_non_null(strstr(err, "set.yaml:4:"));
        policy_free(p);
        assert_int_equal(set_from("moat: 1\nname: t\ngroups: {a: {description: d, syscalls: "
                                  "[{name: bpf, errno: EWHAT}]}}\n"
                                  "deny: [a]\n",
                                  &p, err, sizeof(err)),
                         -EINVAL);
        assert_non_null(strstr(err, "EWHAT"));
        policy_free(p);
}

static bool filter_matches(const SeccompFilter *f, uint64_t x) {
        for (size_t i = 0; i < f->n_matches; i++) {
                bool all = true;
                for (unsigned k = 0; k < f->matches[i].n_cmps; k++) {
                        const SeccompArgCmp *c = &f->matches[i].cmps[k];
                        assert_int_equal(c->op, SECCOMP_CMP_MASKED_EQ);
                        all = all && (x & c->mask) == c->value;
                }
                if (all)
                        return true;
        }
        return false;
}

/* not_in over 8 bits, checked exhaustively for one value, complements and any two values. */
static void test_not_in_expansion(void **state) {
        static const uint64_t cases[][2] = {
                { 0x5a, 0 }, { 0x00, 0xff }, { 0x0f, 0xf0 }, { 0x12, 0x13 }, { 0x80, 0x7e }
        };
        char err[1024], yaml[512];

        for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
                for (int two = 0; two < 2; two++) {
                        Policy *p;
                        if (two)
                                snprintf(yaml, sizeof(yaml),
                                         "moat: 1\nname: t\nfilters:\n  f:\n    description: d\n"
                                         "    any: [{arg: 2, mask: 0xff, not_in: [0x%llx, "
                                         "0x%llx]}]\n"
                                         "groups: {g: {description: d, syscalls: [{name: ioctl, "
                                         "filter: f}]}}\n"
                                         "deny: [g]\n",
                                         (unsigned long long) cases[c][0],
                                         (unsigned long long) cases[c][1]);
                        else
                                snprintf(yaml, sizeof(yaml),
                                         "moat: 1\nname: t\nfilters:\n  f:\n    description: d\n"
                                         "    any: [{arg: 2, mask: 0xff, not_in: [0x%llx]}]\n"
                                         "groups: {g: {description: d, syscalls: [{name: ioctl, "
                                         "filter: f}]}}\n"
                                         "deny: [g]\n",
                                         (unsigned long long) cases[c][0]);
                        if (set_from(yaml, &p, err, sizeof(err)) < 0)
                                fail_msg("%s", err);
                        const SeccompFilter *f = seccomp_set_find_filter(&p->seccomp_sets[0], "f");
                        for (uint64_t x = 0; x < 256; x++) {
                                bool excluded = x == cases[c][0] || (two && x == cases[c][1]);
                                if (filter_matches(f, x) == excluded)
                                        fail_msg("case %zu two=%d: x=0x%llx %s", c, two,
                                                 (unsigned long long) x,
                                                 excluded ? "denied but listed" : "not denied");
                        }
                        policy_free(p);
                }
}

static void test_digest(void **state) {
        Policy *a = load_shipped(), *b = load_shipped(), *c = NULL;
        MoatError e = {};
        char path[] = "/tmp/moat-policy-test-XXXXXX";
        int fd = mkstemp(path);
        const char *yaml = "moat: 1\nseccomp: {deny: [chroot]}\n";

        assert_memory_equal(a->digest, b->digest, 32);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t) strlen(yaml));
        close(fd);
        assert_int_equal(policy_load(SOURCE_ROOT "/policies", path, &c, &e), 0);
        assert_memory_not_equal(a->digest, c->digest, 32);
        assert_string_equal(c->files[2], path);
        policy_free(c);
        c = NULL;
        /* An explicit site file that does not exist is an error, not "no site policy". */
        assert_int_equal(
                policy_load(SOURCE_ROOT "/policies", "/nonexistent/moat-policy.yaml", &c, &e),
                -EINVAL);
        assert_null(c);
        unlink(path);
        policy_free(a);
        policy_free(b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_shipped),
                cmocka_unit_test(test_syscall_names_known),
                cmocka_unit_test(test_site_tightens),
                cmocka_unit_test(test_site_loosening_rejected),
                cmocka_unit_test(test_site_network),
                cmocka_unit_test(test_site_host_namespaces),
                cmocka_unit_test(test_site_strict),
                cmocka_unit_test(test_set_strict),
                cmocka_unit_test(test_not_in_expansion),
                cmocka_unit_test(test_digest),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

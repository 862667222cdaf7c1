/* SPDX-License-Identifier: MIT */
/* The policy parsers on arbitrary bytes. The first input byte picks what the rest is:
 *   0  an escalation rules file (policies/escalation.yaml),
 *   1  a seccomp set file (policies/seccomp/<set>.yaml),
 *   2  a site file (/etc/moat/policy.yaml) layered over the shipped policy.
 * Besides memory safety this checks the rule the site layer exists for: a site file may only
 * tighten. After a site file is accepted, every shipped rule is still there, at the same tier
 * or higher, still refusing if it refused, and every seccomp group the shipped set denies is
 * still denied. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/strv.h"
#include "fuzz.h"
#include "policy/policy.h"

#pragma weak policy_parse_rules_buffer
#pragma weak policy_parse_seccomp_set_buffer
#pragma weak policy_parse_site_buffer
#pragma weak policy_free
#pragma weak policy_find_seccomp_set

const char *fuzz_missing_function(void) {
        if (!policy_parse_rules_buffer)
                return "policy_parse_rules_buffer";
        if (!policy_parse_seccomp_set_buffer)
                return "policy_parse_seccomp_set_buffer";
        if (!policy_parse_site_buffer)
                return "policy_parse_site_buffer";
        if (!policy_free)
                return "policy_free";
        if (!policy_find_seccomp_set)
                return "policy_find_seccomp_set";
        return NULL;
}

static char *shipped_rules, *shipped_seccomp;
static size_t shipped_rules_len, shipped_seccomp_len;
static Policy *shipped;

/* The shipped policy, parsed from memory the way policy_load() layers it. */
static Policy *shipped_policy(void) {
        Policy *p = calloc(1, sizeof(Policy));
        MoatError error = {};
        char buf[1024];

        FUZZ_CHECK(p);
        if (policy_parse_rules_buffer(p, shipped_rules, shipped_rules_len, "escalation.yaml",
                                      &error) < 0 ||
            policy_parse_seccomp_set_buffer(p, shipped_seccomp, shipped_seccomp_len,
                                            "seccomp/default.yaml", &error) < 0) {
                fprintf(stderr, "fuzz: the shipped policy does not parse: %s\n",
                        moat_error_format(&error, buf, sizeof(buf)));
                exit(1);
        }
        return p;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        char path[4096];

        fuzz_require_linked();
        fuzz_setup_environment();
        snprintf(path, sizeof(path), "%s/policies/escalation.yaml", fuzz_source_dir());
        shipped_rules = fuzz_read_all(path, &shipped_rules_len);
        snprintf(path, sizeof(path), "%s/policies/seccomp/default.yaml", fuzz_source_dir());
        shipped_seccomp = fuzz_read_all(path, &shipped_seccomp_len);
        shipped = shipped_policy();
        return 0;
}

static const PolicyRule *find_rule(const Policy *p, const char *id) {
        for (size_t i = 0; i < p->n_rules; i++)
                if (p->rules[i].id && strcmp(p->rules[i].id, id) == 0)
                        return &p->rules[i];
        return NULL;
}

static bool strv_equal(char *const *a, char *const *b) {
        if (strv_length(a) != strv_length(b))
                return false;
        STRV_FOREACH (s, a)
                if (!strv_contains(b, *s))
                        return false;
        return true;
}

/* policies/README.md: a shipped rule's "when" cannot be changed by a site file. */
static bool condition_equal(const PolicyCondition *a, const PolicyCondition *b) {
        return a->trust_at_least == b->trust_at_least &&
               a->kernel_needs_any == b->kernel_needs_any &&
               a->kernel_version_missing == b->kernel_version_missing &&
               a->raw_devices == b->raw_devices && a->full_os == b->full_os &&
               a->network == b->network && strv_equal(a->kernel_needs, b->kernel_needs) &&
               strv_equal(a->capabilities, b->capabilities) &&
               strv_equal(a->missing_controls, b->missing_controls);
}

static void check_only_tightened(const Policy *layered) {
        for (size_t i = 0; i < shipped->n_rules; i++) {
                const PolicyRule *was = &shipped->rules[i];
                const PolicyRule *now = find_rule(layered, was->id);
                FUZZ_CHECK(now);
                FUZZ_CHECK(now->min_tier >= was->min_tier);
                FUZZ_CHECK(now->refuse || !was->refuse);
                FUZZ_CHECK(condition_equal(&now->when, &was->when));
        }
        for (size_t i = 0; i < shipped->n_seccomp_sets; i++) {
                const SeccompSet *was = &shipped->seccomp_sets[i];
                const SeccompSet *now = policy_find_seccomp_set(layered, was->name);
                FUZZ_CHECK(now);
                STRV_FOREACH (g, was->groups)
                        FUZZ_CHECK(strv_contains(now->groups, *g));
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1 || !shipped)
                return 0;
        const char *buf = (const char *) data + 1;
        size_t len = size - 1;
        MoatError error = {};
        Policy *p;
        int r;

        switch (data[0] % 3) {
        case 0:
                p = calloc(1, sizeof(Policy));
                FUZZ_CHECK(p);
                r = policy_parse_rules_buffer(p, buf, len, "fuzz-rules.yaml", &error);
                break;
        case 1:
                p = calloc(1, sizeof(Policy));
                FUZZ_CHECK(p);
                r = policy_parse_seccomp_set_buffer(p, buf, len, "fuzz-seccomp.yaml", &error);
                break;
        default:
                p = shipped_policy();
                r = policy_parse_site_buffer(p, buf, len, "fuzz-site.yaml", &error);
                if (r >= 0)
                        check_only_tightened(p);
                break;
        }
        if (r < 0)
                FUZZ_CHECK(r == -ENOMEM || moat_error_is_set(&error));
        policy_free(p);
        return 0;
}

/* SPDX-License-Identifier: MIT */
/* The shipped policy compiled at build time (policy-compiled.h): it is used for the tree it was
 * made from, and it is the policy the parser makes from the same bytes, field by field, with the
 * same digest (SHA-256 over each file's length and bytes); every shipped profile resolves to the
 * same plan with either. A directory whose files differ in any way (a changed byte, a file
 * added, a file missing) and any site file get the parser: never the stale compiled form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/file-util.h"
#include "basic/macros.h"
#include "basic/sha256.h"
#include "basic/strv.h"
#include "host/host.h"
#include "plan/plan.h"
#include "policy/policy-compiled.h"
#include "policy/policy.h"
#include "profile/profile.h"

#define POLICIES SOURCE_ROOT "/policies"

static char *slurp(const char *path, size_t *len) {
        char *buf = NULL;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || read_fd_bounded(fd, 0, 1 << 20, &buf, len) < 0)
                fail_msg("cannot read %s", path);
        close(fd);
        return buf;
}

static void digest_add(Sha256 *md, const char *buf, size_t len) {
        uint8_t l[8];
        for (int i = 0; i < 8; i++)
                l[i] = (uint8_t) ((uint64_t) len >> (56 - 8 * i));
        sha256_update(md, l, sizeof(l));
        sha256_update(md, buf, len);
}

/* What policy_load() parses for the tree, built here from the buffer functions (the loader
 * itself takes the compiled form for this tree). */
static Policy *parse_tree(void) {
        Policy *p = calloc(1, sizeof(*p));
        MoatError e = {};
        char err[1024];
        Sha256 md;
        size_t len;

        assert_non_null(p);
        assert_int_equal(moat_policy_compiled.n_files, 2); /* escalation.yaml, seccomp/default */
        sha256_init(&md);
        for (size_t i = 0; i < moat_policy_compiled.n_files; i++) {
                char path[512], name[512];
                const char *f = moat_policy_compiled.files[i].name;
                snprintf(path, sizeof(path), "%s/%s", POLICIES, f);
                snprintf(name, sizeof(name), "policies/%s", f);
                _cleanup_free_ char *buf = slurp(path, &len);
                digest_add(&md, buf, len);
                int r = i == 0 ? policy_parse_rules_buffer(p, buf, len, name, &e)
                               : policy_parse_seccomp_set_buffer(p, buf, len, name, &e);
                if (r < 0)
                        fail_msg("%s", moat_error_format(&e, err, sizeof(err)));
        }
        sha256_final(&md, p->digest);
        return p;
}

static void str_eq(const char *a, const char *b) {
        if (!a || !b)
                assert_ptr_equal(a, b);
        else
                assert_string_equal(a, b);
}

static void strv_eq(char *const *a, char *const *b) {
        assert_int_equal(a == NULL, b == NULL);
        assert_int_equal(strv_length(a), strv_length(b));
        for (size_t i = 0; a && a[i]; i++)
                assert_string_equal(a[i], b[i]);
}

static void pos_eq(const SrcPos *a, const SrcPos *b) {
        str_eq(a->file, b->file);
        assert_int_equal(a->line, b->line);
        assert_int_equal(a->column, b->column);
}

static void policy_eq(const Policy *a, const Policy *b) {
        strv_eq(a->files, b->files);
        assert_memory_equal(a->digest, b->digest, sizeof(a->digest));
        assert_int_equal(a->n_rules, b->n_rules);
        for (size_t i = 0; i < a->n_rules; i++) {
                const PolicyRule *x = &a->rules[i], *y = &b->rules[i];
                str_eq(x->id, y->id);
                str_eq(x->sentence, y->sentence);
                assert_int_equal(x->when.trust_at_least, y->when.trust_at_least);
                assert_int_equal(x->when.kernel_needs_any, y->when.kernel_needs_any);
                strv_eq(x->when.kernel_needs, y->when.kernel_needs);
                assert_int_equal(x->when.kernel_version_missing, y->when.kernel_version_missing);
                strv_eq(x->when.capabilities, y->when.capabilities);
                assert_int_equal(x->when.raw_devices, y->when.raw_devices);
                assert_int_equal(x->when.full_os, y->when.full_os);
                strv_eq(x->when.missing_controls, y->when.missing_controls);
                assert_int_equal(x->when.network, y->when.network);
                assert_int_equal(x->min_tier, y->min_tier);
                assert_int_equal(x->refuse, y->refuse);
                assert_int_equal(x->refuse_if_above_max, y->refuse_if_above_max);
                pos_eq(&x->pos, &y->pos);
                str_eq(x->remedy, y->remedy);
                assert_int_equal(x->from_site, y->from_site);
        }
        assert_int_equal(a->n_seccomp_sets, b->n_seccomp_sets);
        for (size_t i = 0; i < a->n_seccomp_sets; i++) {
                const SeccompSet *x = &a->seccomp_sets[i], *y = &b->seccomp_sets[i];
                str_eq(x->name, y->name);
                str_eq(x->file, y->file);
                strv_eq(x->groups, y->groups);
                str_eq(x->description, y->description);
                assert_int_equal(x->n_all_groups, y->n_all_groups);
                for (size_t j = 0; j < x->n_all_groups; j++) {
                        const SeccompGroup *g = &x->all_groups[j], *h = &y->all_groups[j];
                        str_eq(g->name, h->name);
                        str_eq(g->description, h->description);
                        str_eq(g->file, h->file);
                        assert_int_equal(g->line, h->line);
                        assert_int_equal(g->n_entries, h->n_entries);
                        for (size_t k = 0; k < g->n_entries; k++) {
                                str_eq(g->entries[k].syscall, h->entries[k].syscall);
                                assert_int_equal(g->entries[k].errno_value,
                                                 h->entries[k].errno_value);
                                str_eq(g->entries[k].arg_filter, h->entries[k].arg_filter);
                                assert_int_equal(g->entries[k].line, h->entries[k].line);
                        }
                }
                assert_int_equal(x->n_filters, y->n_filters);
                for (size_t j = 0; j < x->n_filters; j++) {
                        const SeccompFilter *f = &x->filters[j], *h = &y->filters[j];
                        str_eq(f->name, h->name);
                        str_eq(f->description, h->description);
                        assert_int_equal(f->line, h->line);
                        assert_int_equal(f->n_matches, h->n_matches);
                        for (size_t k = 0; k < f->n_matches; k++)
                                assert_memory_equal(&f->matches[k], &h->matches[k],
                                                    sizeof(SeccompMatch));
                }
        }
        strv_eq(a->extra_denied_syscalls, b->extra_denied_syscalls);
        assert_int_equal(a->extra_denied_pos == NULL, b->extra_denied_pos == NULL);
        str_eq(a->audit_log_path, b->audit_log_path);
        str_eq(a->audit_hmac_key_file, b->audit_hmac_key_file);
        assert_int_equal(a->audit_journal, b->audit_journal);
}

static Policy *load(const char *dir, const char *site) {
        Policy *p = NULL;
        MoatError e = {};
        char buf[1024];
        if (policy_load(dir, site, &p, &e) < 0)
                fail_msg("policy_load %s: %s", dir, moat_error_format(&e, buf, sizeof(buf)));
        return p;
}

static void test_compiled_is_the_parsed_policy(void **state) {
        Policy *c = load(POLICIES, "");
        assert_true(policy_is_compiled(c));
        Policy *p = parse_tree();
        policy_eq(c, p);
        policy_free(p);
        assert_null(policy_free(c)); /* a no-op on the static policy */
        /* loaded again: still there, unchanged */
        c = load(POLICIES, "");
        assert_true(policy_is_compiled(c));
}

static char *plan_text(const Policy *pol, const char *profile, const HostFacts *h) {
        Profile *pr = NULL;
        Plan *plan = NULL;
        MoatError e = {};
        char buf[1024];
        if (profile_load(profile, &pr, &e) < 0)
                fail_msg("profile %s: %s", profile, moat_error_format(&e, buf, sizeof(buf)));
        assert_int_equal(plan_resolve(pr, pol, h, &plan), 0);
        json_t *j = plan_to_json(plan);
        char *s = json_dumps(j, JSON_SORT_KEYS);
        json_decref(j);
        plan_free(plan);
        profile_free(pr);
        assert_non_null(s);
        return s;
}

/* Every shipped profile, on two recorded hosts, resolves to the same plan either way. */
static void test_same_plans(void **state) {
        static const char *const hosts[] = { "modern.json", "cgroup-v1-root.json" };
        Policy *c = load(POLICIES, ""), *p = parse_tree();
        struct dirent *de;
        unsigned n = 0;

        assert_true(policy_is_compiled(c));
        for (size_t hi = 0; hi < ELEMENTSOF(hosts); hi++) {
                HostFacts h = {};
                MoatError e = {};
                char path[512];
                snprintf(path, sizeof(path), "%s/tests/fixtures/hosts/%s", SOURCE_ROOT, hosts[hi]);
                assert_int_equal(host_facts_from_json_file(path, &h, &e), 0);
                DIR *d = opendir(SOURCE_ROOT "/profiles");
                assert_non_null(d);
                while ((de = readdir(d))) {
                        size_t l = strlen(de->d_name);
                        if (l < 6 || strcmp(de->d_name + l - 5, ".yaml") != 0)
                                continue;
                        snprintf(path, sizeof(path), "%s/profiles/%s", SOURCE_ROOT, de->d_name);
                        _cleanup_free_ char *a = plan_text(c, path, &h),
                                            *b = plan_text(p, path, &h);
                        assert_string_equal(a, b);
                        n++;
                }
                closedir(d);
                host_facts_done(&h);
        }
        assert_true(n >= 10);
        policy_free(p);
}

/* A copy of the tree in a temporary directory, for changing. */
static void copy_tree(char *dir) {
        char cmd[1024];
        assert_non_null(mkdtemp(dir));
        snprintf(cmd, sizeof(cmd), "cp -r %s/. %s/", POLICIES, dir);
        assert_int_equal(system(cmd), 0);
}

static void remove_tree(const char *dir) {
        char cmd[1024];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
}

static void append(const char *path, const char *text) {
        FILE *f = fopen(path, "ae");
        assert_non_null(f);
        fputs(text, f);
        assert_int_equal(fclose(f), 0);
}

static void test_stale_never_used(void **state) {
        char dir[] = "/tmp/moat-policy-XXXXXX", path[512];
        Policy *c = load(POLICIES, ""), *p;

        copy_tree(dir);
        /* the same bytes elsewhere: the compiled form (file names are relative) */
        p = load(dir, "");
        assert_ptr_equal(p, c);

        /* one byte more in escalation.yaml (a comment: the same rules, another digest) */
        snprintf(path, sizeof(path), "%s/escalation.yaml", dir);
        append(path, "# changed\n");
        p = load(dir, "");
        assert_false(policy_is_compiled(p));
        assert_memory_not_equal(p->digest, c->digest, sizeof(c->digest));
        assert_int_equal(p->n_rules, c->n_rules);
        policy_free(p);
        remove_tree(dir);

        /* a changed rule takes effect */
        char dir2[] = "/tmp/moat-policy-XXXXXX";
        copy_tree(dir2);
        snprintf(path, sizeof(path),
                 "sed -i 's/^  - id: trust-hostile$/  - id: trust-hostile-x/' "
                 "%s/escalation.yaml",
                 dir2);
        assert_int_equal(system(path), 0);
        p = load(dir2, "");
        assert_false(policy_is_compiled(p));
        bool found = false;
        for (size_t i = 0; i < p->n_rules; i++)
                found |= strcmp(p->rules[i].id, "trust-hostile-x") == 0;
        assert_true(found);
        policy_free(p);
        remove_tree(dir2);

        /* a seccomp set added */
        char dir3[] = "/tmp/moat-policy-XXXXXX";
        copy_tree(dir3);
        snprintf(path, sizeof(path), "cp %s/seccomp/default.yaml %s/seccomp/extra.yaml", dir3,
                 dir3);
        assert_int_equal(system(path), 0);
        snprintf(path, sizeof(path),
                 "sed -i 's/^name: default$/name: extra/' %s/seccomp/extra.yaml", dir3);
        assert_int_equal(system(path), 0);
        p = load(dir3, "");
        assert_false(policy_is_compiled(p));
        assert_non_null(policy_find_seccomp_set(p, "extra"));
        policy_free(p);
        remove_tree(dir3);

        /* a site file: parsed, the digest covers it */
        char dir4[] = "/tmp/moat-policy-XXXXXX";
        copy_tree(dir4);
        snprintf(path, sizeof(path), "%s/site.yaml", dir4);
        append(path, "moat: 1\n");
        p = load(POLICIES, path);
        assert_false(policy_is_compiled(p));
        assert_memory_not_equal(p->digest, c->digest, sizeof(c->digest));
        policy_free(p);
        remove_tree(dir4);
}

/* The files the compiled form was made from are the tree's (the build regenerates it). */
static void test_embedded_bytes(void **state) {
        for (size_t i = 0; i < moat_policy_compiled.n_files; i++) {
                char path[512];
                size_t len;
                snprintf(path, sizeof(path), "%s/%s", POLICIES, moat_policy_compiled.files[i].name);
                _cleanup_free_ char *buf = slurp(path, &len);
                assert_int_equal(len, moat_policy_compiled.files[i].len);
                assert_memory_equal(buf, moat_policy_compiled.files[i].bytes, len);
        }
}

int main(void) {
        setenv("MOAT_DATA_DIR", SOURCE_ROOT, 1); /* extends: names a shipped profile */
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_compiled_is_the_parsed_policy),
                cmocka_unit_test(test_same_plans),
                cmocka_unit_test(test_stale_never_used),
                cmocka_unit_test(test_embedded_bytes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

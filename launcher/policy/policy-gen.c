/* SPDX-License-Identifier: MIT */
/* moat-policy-gen: a build tool. Loads the shipped policy directory with policy_load() (no site
 * file) and writes it as C (policy-compiled.c): the Policy as static data, the digest, and the
 * bytes of every file it read, which policy_compiled_match() compares with the files on disk
 * before the compiled form is used (policy-compiled.h).
 *
 *   moat-policy-gen OUTPUT.c POLICIES_DIR
 *
 * Every field of the policy structures is written out; the size checks below break the build
 * when a field is added, so that this file is updated with it (a field left out would give the
 * compiled policy a default where the parsed one has a value). Output is deterministic. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/file-util.h"
#include "basic/macros.h"
#include "basic/strv.h"
#include "policy/policy.h"

#if __SIZEOF_POINTER__ == 8
_Static_assert(sizeof(Policy) == 216, "Policy changed: update policy-gen.c");
_Static_assert(sizeof(PolicyRule) == 112, "PolicyRule changed: update policy-gen.c");
_Static_assert(sizeof(PolicyCondition) == 56, "PolicyCondition changed: update policy-gen.c");
_Static_assert(sizeof(SeccompSet) == 64, "SeccompSet changed: update policy-gen.c");
_Static_assert(sizeof(SeccompGroup) == 48, "SeccompGroup changed: update policy-gen.c");
_Static_assert(sizeof(SeccompGroupEntry) == 32, "SeccompGroupEntry changed: update policy-gen.c");
_Static_assert(sizeof(SeccompFilter) == 40, "SeccompFilter changed: update policy-gen.c");
_Static_assert(sizeof(SeccompMatch) == 80, "SeccompMatch changed: update policy-gen.c");
_Static_assert(sizeof(SeccompArgCmp) == 24, "SeccompArgCmp changed: update policy-gen.c");
_Static_assert(sizeof(SrcPos) == 16, "SrcPos changed: update policy-gen.c");
#endif

static FILE *out;
static const Policy *pol;
static unsigned next_id;

static void str(const char *s) {
        if (!s) {
                fputs("NULL", out);
                return;
        }
        fputc('"', out);
        for (const unsigned char *c = (const unsigned char *) s; *c; c++) {
                if (*c == '"' || *c == '\\')
                        fprintf(out, "\\%c", *c);
                else if (*c >= 0x20 && *c < 0x7f && *c != '?')
                        fputc(*c, out);
                else
                        fprintf(out, "\\%03o", *c); /* octal: never swallows the next character */
        }
        fputc('"', out);
}

/* A strv as a named array; returns its id, or 0 for NULL (an empty strv stays non-NULL). */
static unsigned strv(char *const *l) {
        if (!l)
                return 0;
        unsigned id = ++next_id;
        fprintf(out, "static char *v%u[] = { ", id);
        for (size_t i = 0; l[i]; i++) {
                str(l[i]);
                fputs(", ", out);
        }
        fputs("NULL };\n", out);
        return id;
}

static void strv_ref(unsigned id) {
        if (id)
                fprintf(out, "v%u", id);
        else
                fputs("NULL", out);
}

/* SrcPos.file points into Policy.files: the same object here. */
static int pos(const SrcPos *p) {
        if (!p->file) {
                fprintf(out, "{ .file = NULL, .line = %u, .column = %u }", p->line, p->column);
                return 0;
        }
        for (size_t i = 0; pol->files && pol->files[i]; i++)
                if (pol->files[i] == p->file || strcmp(pol->files[i], p->file) == 0) {
                        fprintf(out, "{ .file = file%zu, .line = %u, .column = %u }", i, p->line,
                                p->column);
                        return 0;
                }
        fprintf(stderr, "moat-policy-gen: a position names %s, which is not a policy file\n",
                p->file);
        return -EINVAL;
}

static int rules(void) {
        unsigned needs[pol->n_rules + 1], caps[pol->n_rules + 1], missing[pol->n_rules + 1];

        for (size_t i = 0; i < pol->n_rules; i++) {
                const PolicyCondition *w = &pol->rules[i].when;
                needs[i] = strv(w->kernel_needs);
                caps[i] = strv(w->capabilities);
                missing[i] = strv(w->missing_controls);
        }
        fprintf(out, "static PolicyRule rules[%zu] = {\n", MAX(pol->n_rules, (size_t) 1));
        for (size_t i = 0; i < pol->n_rules; i++) {
                const PolicyRule *r = &pol->rules[i];
                const PolicyCondition *w = &r->when;
                fputs("\t{ .id = ", out);
                str(r->id);
                fputs(", .sentence = ", out);
                str(r->sentence);
                fprintf(out,
                        ",\n\t  .when = { .trust_at_least = %d, .kernel_needs_any = %d, "
                        ".kernel_needs = ",
                        w->trust_at_least, w->kernel_needs_any);
                strv_ref(needs[i]);
                fprintf(out, ", .kernel_version_missing = %d, .capabilities = ",
                        w->kernel_version_missing);
                strv_ref(caps[i]);
                fprintf(out,
                        ", .raw_devices = %d, .full_os = %d, .missing_controls = ", w->raw_devices,
                        w->full_os);
                strv_ref(missing[i]);
                fprintf(out,
                        ", .network = %d },\n\t  .min_tier = (Tier) %d, .refuse = %d, "
                        ".refuse_if_above_max = %d, .pos = ",
                        w->network, (int) r->min_tier, r->refuse, r->refuse_if_above_max);
                if (pos(&r->pos) < 0)
                        return -EINVAL;
                fputs(", .remedy = ", out);
                str(r->remedy);
                fprintf(out, ", .from_site = %d },\n", r->from_site);
        }
        fputs("};\n", out);
        return 0;
}

static unsigned set_groups(const SeccompSet *s) {
        unsigned id = ++next_id;

        for (size_t i = 0; i < s->n_all_groups; i++) {
                const SeccompGroup *g = &s->all_groups[i];
                fprintf(out, "static SeccompGroupEntry e%u_%zu[%zu] = {\n", id, i,
                        MAX(g->n_entries, (size_t) 1));
                for (size_t j = 0; j < g->n_entries; j++) {
                        const SeccompGroupEntry *e = &g->entries[j];
                        fputs("\t{ .syscall = ", out);
                        str(e->syscall);
                        fprintf(out, ", .errno_value = %d, .arg_filter = ", e->errno_value);
                        str(e->arg_filter);
                        fprintf(out, ", .line = %u },\n", e->line);
                }
                fputs("};\n", out);
        }
        fprintf(out, "static SeccompGroup g%u[%zu] = {\n", id, MAX(s->n_all_groups, (size_t) 1));
        for (size_t i = 0; i < s->n_all_groups; i++) {
                const SeccompGroup *g = &s->all_groups[i];
                fputs("\t{ .name = ", out);
                str(g->name);
                fputs(", .description = ", out);
                str(g->description);
                fprintf(out, ", .entries = e%u_%zu, .n_entries = %zu, .file = ", id, i,
                        g->n_entries);
                str(g->file);
                fprintf(out, ", .line = %u },\n", g->line);
        }
        fputs("};\n", out);
        return id;
}

static unsigned set_filters(const SeccompSet *s) {
        unsigned id = ++next_id;

        for (size_t i = 0; i < s->n_filters; i++) {
                const SeccompFilter *f = &s->filters[i];
                fprintf(out, "static SeccompMatch m%u_%zu[%zu] = {\n", id, i,
                        MAX(f->n_matches, (size_t) 1));
                for (size_t j = 0; j < f->n_matches; j++) {
                        const SeccompMatch *m = &f->matches[j];
                        fputs("\t{ .cmps = {", out);
                        for (unsigned k = 0; k < SECCOMP_MATCH_MAX_CMPS; k++)
                                fprintf(out,
                                        " { .arg = %u, .op = (SeccompCmpOp) %d, .mask = "
                                        "0x%llxULL, .value = 0x%llxULL },",
                                        m->cmps[k].arg, (int) m->cmps[k].op,
                                        (unsigned long long) m->cmps[k].mask,
                                        (unsigned long long) m->cmps[k].value);
                        fprintf(out, " }, .n_cmps = %u },\n", m->n_cmps);
                }
                fputs("};\n", out);
        }
        fprintf(out, "static SeccompFilter f%u[%zu] = {\n", id, MAX(s->n_filters, (size_t) 1));
        for (size_t i = 0; i < s->n_filters; i++) {
                const SeccompFilter *f = &s->filters[i];
                fputs("\t{ .name = ", out);
                str(f->name);
                fputs(", .description = ", out);
                str(f->description);
                fprintf(out, ", .matches = m%u_%zu, .n_matches = %zu, .line = %u },\n", id, i,
                        f->n_matches, f->line);
        }
        fputs("};\n", out);
        return id;
}

static void sets(void) {
        size_t n = pol->n_seccomp_sets;
        unsigned groups[n + 1], all[n + 1], filters[n + 1];

        for (size_t i = 0; i < n; i++) {
                groups[i] = strv(pol->seccomp_sets[i].groups);
                all[i] = set_groups(&pol->seccomp_sets[i]);
                filters[i] = set_filters(&pol->seccomp_sets[i]);
        }
        fprintf(out, "static SeccompSet sets[%zu] = {\n", MAX(n, (size_t) 1));
        for (size_t i = 0; i < n; i++) {
                const SeccompSet *s = &pol->seccomp_sets[i];
                fputs("\t{ .name = ", out);
                str(s->name);
                fputs(", .file = ", out);
                str(s->file);
                fputs(", .groups = ", out);
                strv_ref(groups[i]);
                fprintf(out,
                        ", .all_groups = g%u, .n_all_groups = %zu, .filters = f%u, .n_filters = "
                        "%zu, .description = ",
                        all[i], s->n_all_groups, filters[i], s->n_filters);
                str(s->description);
                fputs(" },\n", out);
        }
        fputs("};\n", out);
}

/* The files in the order policy_load() reads them: escalation.yaml, then seccomp/ sorted. */
static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int file_list(const char *dir, char ***ret) {
        _cleanup_strv_free_ char **names = NULL, **sets_ = NULL;
        _cleanup_free_ char *path = NULL;
        struct dirent *de;
        int r;

        if (asprintf(&path, "%s/seccomp", dir) < 0)
                return -ENOMEM;
        DIR *d = opendir(path);
        if (!d)
                return -errno;
        r = 0;
        while ((de = readdir(d))) {
                size_t n = strlen(de->d_name);
                if (de->d_name[0] == '.' || n < 6 || strcmp(de->d_name + n - 5, ".yaml") != 0)
                        continue;
                _cleanup_free_ char *name = NULL;
                if (asprintf(&name, "seccomp/%s", de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                if ((r = strv_extend(&sets_, name)) < 0)
                        break;
        }
        closedir(d);
        if (r < 0)
                return r;
        if (sets_)
                qsort(sets_, strv_length(sets_), sizeof(char *), cmp_str);
        if ((r = strv_extend(&names, "escalation.yaml")) < 0)
                return r;
        STRV_FOREACH (s, sets_)
                if ((r = strv_extend(&names, *s)) < 0)
                        return r;
        *ret = TAKE_PTR(names);
        return 0;
}

static int embed_files(const char *dir) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_free_ size_t *lens = NULL;
        size_t n = 0;
        int r = file_list(dir, &names);

        if (r < 0) {
                fprintf(stderr, "moat-policy-gen: %s: %s\n", dir, strerror(-r));
                return r;
        }
        lens = calloc(strv_length(names) + 1, sizeof(size_t));
        if (!lens)
                return -ENOMEM;
        STRV_FOREACH (s, names) {
                _cleanup_free_ char *path = NULL, *buf = NULL;
                size_t len = 0;
                if (asprintf(&path, "%s/%s", dir, *s) < 0)
                        return -ENOMEM;
                _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0 || (r = read_fd_bounded(fd, 0, 1024 * 1024, &buf, &len)) < 0) {
                        fprintf(stderr, "moat-policy-gen: cannot read %s\n", path);
                        return -EIO;
                }
                fprintf(out, "static const unsigned char bytes%zu[%zu] = {", n, MAX(len, 1));
                for (size_t i = 0; i < len; i++)
                        fprintf(out, "%s%u,", i % 24 ? "" : "\n\t", (unsigned char) buf[i]);
                fputs("\n};\n", out);
                lens[n++] = len;
        }
        fputs("static const PolicyCompiledFile files[] = {\n", out);
        for (size_t i = 0; i < n; i++) {
                fputs("\t{ .name = ", out);
                str(names[i]);
                fprintf(out, ", .bytes = bytes%zu, .len = %zu },\n", i, lens[i]);
        }
        fputs("};\n", out);
        return (int) n;
}

int main(int argc, char **argv) {
        _cleanup_policy_ Policy *p = NULL;
        MoatError error = {};
        char buf[1024];
        int r, n_files;

        if (argc != 3) {
                fprintf(stderr, "usage: moat-policy-gen OUTPUT.c POLICIES_DIR\n");
                return 2;
        }
        r = policy_load(argv[2], "", &p, &error);
        if (r < 0) {
                fprintf(stderr, "moat-policy-gen: %s\n",
                        moat_error_is_set(&error) ? moat_error_format(&error, buf, sizeof(buf))
                                                  : strerror(-r));
                return 1;
        }
        /* Site-only fields (the extra denials, audit settings, network limits): a shipped
         * directory never sets them (policy_load() reads no site
         * file here); the compiled form has no place for them. */
        if (p->extra_denied_syscalls || p->extra_denied_pos || p->audit_log_path ||
            p->audit_hmac_key_file || p->audit_journal || p->network.unrestricted ||
            p->network.max_allow || p->network.n_max_allow || p->network.max_allow_set ||
            p->network.forbidden_ports || p->network.forbidden_pos ||
            p->network.n_forbidden_ports || p->host_namespaces.set || p->host_namespaces.allow) {
                fprintf(stderr, "moat-policy-gen: the shipped policy sets site-only fields\n");
                return 1;
        }
        pol = p;
        out = fopen(argv[1], "we");
        if (!out) {
                fprintf(stderr, "moat-policy-gen: cannot write %s: %s\n", argv[1], strerror(errno));
                return 1;
        }
        fputs("/* Generated by moat-policy-gen from policies/: do not edit. */\n"
              "#include \"policy/policy-compiled.h\"\n\n",
              out);
        for (size_t i = 0; p->files && p->files[i]; i++) {
                fprintf(out, "static char file%zu[] = ", i);
                str(p->files[i]);
                fputs(";\n", out);
        }
        fputs("static char *policy_files[] = { ", out);
        for (size_t i = 0; p->files && p->files[i]; i++)
                fprintf(out, "file%zu, ", i);
        fputs("NULL };\n", out);
        if (rules() < 0)
                return 1;
        sets();
        n_files = embed_files(argv[2]);
        if (n_files < 0)
                return 1;
        fputs("static Policy policy = {\n\t.files = policy_files,\n\t.digest = {", out);
        for (size_t i = 0; i < sizeof(p->digest); i++)
                fprintf(out, " 0x%02x,", p->digest[i]);
        fprintf(out,
                " },\n\t.rules = rules,\n\t.n_rules = %zu,\n\t.seccomp_sets = sets,\n"
                "\t.n_seccomp_sets = %zu,\n};\n",
                p->n_rules, p->n_seccomp_sets);
        fprintf(out,
                "const PolicyCompiled moat_policy_compiled = { .policy = &policy, .files = files, "
                ".n_files = %d };\n",
                n_files);
        if (fclose(out) != 0) {
                fprintf(stderr, "moat-policy-gen: cannot write %s\n", argv[1]);
                return 1;
        }
        return 0;
}

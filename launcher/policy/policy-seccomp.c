/* SPDX-License-Identifier: MIT */
/* PURE. Seccomp sets (policies/seccomp/<name>.yaml): named argument filters and syscall groups,
 * checked strictly; "not_in" comparisons are expanded here into masked equalities, so the plan
 * and the executor only ever see comparisons libseccomp can express one argument at a time. */
#include <errno.h>
#include <string.h>

#include "basic/macros.h"
#include "basic/strv.h"
#include "policy-internal.h"

static const struct {
        const char *name;
        int value;
} errno_names[] = {
        { "EPERM", EPERM },   { "ENOSYS", ENOSYS },         { "EACCES", EACCES },
        { "EINVAL", EINVAL }, { "EOPNOTSUPP", EOPNOTSUPP }, { "EAFNOSUPPORT", EAFNOSUPPORT },
};

int policy_errno_from_name(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(errno_names); i++)
                if (strcmp(errno_names[i].name, name) == 0)
                        return errno_names[i].value;
        return -EINVAL;
}

const char *policy_errno_to_name(int e) {
        for (size_t i = 0; i < ELEMENTSOF(errno_names); i++)
                if (errno_names[i].value == e)
                        return errno_names[i].name;
        return NULL;
}

static bool valid_name(const char *s, bool allow_dash) {
        if (!*s || strlen(s) > 64)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
                      (allow_dash && *s == '-')))
                        return false;
        return true;
}

static int matches_append(SeccompFilter *f, const SeccompMatch *m) {
        SeccompMatch *n = reallocarray(f->matches, f->n_matches + 1, sizeof(*n));
        if (!n)
                return -ENOMEM;
        f->matches = n;
        f->matches[f->n_matches++] = *m;
        return 0;
}

static SeccompMatch match_two_bits(unsigned arg, unsigned i, bool vi, unsigned j, bool vj) {
        return (SeccompMatch) {
                .cmps[0] = {
                        .arg = arg,
                        .op = SECCOMP_CMP_MASKED_EQ,
                        .mask = (UINT64_C(1) << i) | (UINT64_C(1) << j),
                        .value = ((uint64_t) vi << i) | ((uint64_t) vj << j),
                },
                .n_cmps = 1,
        };
}

/* x (the low w bits of the argument) not in {values}: a union of masked equalities, each
 * fixing bits so that it excludes every listed value.
 *  one value a:  for each bit i, "bit i differs from a"                          (w rules)
 *  two values a, b that are complements of each other within w bits (0 and ~0): x holds
 *      both a bit that differs from a and one that equals a, hence a cyclic pair (i, i+1)
 *      with x_i != a_i and x_(i+1) == a_(i+1)                                    (w rules)
 *  two other values: pick bit k where a and b differ; x_k == a_k and some other bit differs
 *      from a, or x_k == b_k and some other bit differs from b                   (2(w-1) rules) */
static int expand_not_in(SeccompFilter *f, unsigned arg, unsigned w, const uint64_t *v, size_t n) {
        uint64_t full = w == 64 ? UINT64_MAX : (UINT64_C(1) << w) - 1;
        int r;

#define BIT(x, i) ((bool) (((x) >> (i)) & 1))
        if (n == 1) {
                for (unsigned i = 0; i < w; i++) {
                        SeccompMatch m = {
                                .cmps[0] = { .arg = arg,
                                             .op = SECCOMP_CMP_MASKED_EQ,
                                             .mask = UINT64_C(1) << i,
                                             .value = (uint64_t) !BIT(v[0], i) << i },
                                .n_cmps = 1,
                        };
                        r = matches_append(f, &m);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        if (((v[0] ^ v[1]) & full) == full) {
                for (unsigned i = 0; i < w; i++) {
                        unsigned j = (i + 1) % w;
                        SeccompMatch m = match_two_bits(arg, i, !BIT(v[0], i), j, BIT(v[0], j));
                        r = matches_append(f, &m);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        unsigned k = 0;
        while (BIT(v[0], k) == BIT(v[1], k))
                k++;
        for (size_t which = 0; which < 2; which++)
                for (unsigned i = 0; i < w; i++) {
                        if (i == k)
                                continue;
                        SeccompMatch m =
                                match_two_bits(arg, k, BIT(v[which], k), i, !BIT(v[which], i));
                        r = matches_append(f, &m);
                        if (r < 0)
                                return r;
                }
        return 0;
#undef BIT
}

static int parse_cmp(PolicyYaml *y, yaml_node_t *n, SeccompFilter *f, SeccompMatch *m, bool alone,
                     MoatError *error) {
        static const char *const keys[] = { "arg", "mask", "equals", "not_in", NULL };
        yaml_node_t *v;
        uint64_t arg, mask = UINT64_MAX, value = 0;
        int r;

        r = policy_yaml_check_mapping(y, n, "argument comparison", keys, error);
        if (r < 0)
                return r;
        v = policy_yaml_get(y, n, "arg", NULL);
        if (!v)
                return policy_yaml_error(y, n, error,
                                         "argument comparison: 'arg' (0-5) is required");
        r = policy_yaml_uint(y, v, "arg", 5, &arg, error);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < m->n_cmps; i++)
                if (m->cmps[i].arg == arg)
                        return policy_yaml_error(
                                y, n, error,
                                "argument %u is compared twice in one alternative; "
                                "libseccomp compares each argument once per rule: "
                                "list the cases as separate alternatives",
                                (unsigned) arg);
        yaml_node_t *mask_node = policy_yaml_get(y, n, "mask", NULL);
        if (mask_node) {
                r = policy_yaml_uint(y, mask_node, "mask", UINT64_MAX, &mask, error);
                if (r < 0)
                        return r;
                if (mask == 0)
                        return policy_yaml_error(y, mask_node, error,
                                                 "mask: must not be 0 (it would match every call)");
        }
        yaml_node_t *eq = policy_yaml_get(y, n, "equals", NULL);
        yaml_node_t *not_in = policy_yaml_get(y, n, "not_in", NULL);
        if (!!eq == !!not_in)
                return policy_yaml_error(
                        y, n, error, "argument comparison: exactly one of 'equals' or 'not_in'");

        if (not_in) {
                uint64_t vals[2];
                size_t nv;
                unsigned w = 0;

                if (!alone)
                        return policy_yaml_error(
                                y, n, error,
                                "not_in must be the only comparison of its alternative");
                if (!mask_node)
                        return policy_yaml_error(
                                y, n, error,
                                "not_in needs a mask of the argument's width (0xffffffff)");
                while (w < 64 && (mask >> w) & 1)
                        w++;
                if (w < 64 && (mask >> w) != 0)
                        return policy_yaml_error(
                                y, mask_node, error,
                                "not_in: mask must be low bits only (0xff, 0xffffffff, ...)");
                r = policy_yaml_check_sequence(y, not_in, "not_in", error);
                if (r < 0)
                        return r;
                nv = policy_yaml_sequence_length(not_in);
                if (nv < 1 || nv > 2)
                        return policy_yaml_error(y, not_in, error,
                                                 "not_in: list one or two values");
                for (size_t i = 0; i < nv; i++) {
                        r = policy_yaml_uint(y, policy_yaml_sequence_item(y, not_in, i),
                                             "not_in value", mask, &vals[i], error);
                        if (r < 0)
                                return r;
                }
                if (nv == 2 && vals[0] == vals[1])
                        return policy_yaml_error(y, not_in, error,
                                                 "not_in: the two values are equal");
                return expand_not_in(f, (unsigned) arg, w, vals, nv);
        }

        r = policy_yaml_uint(y, eq, "equals", mask, &value, error);
        if (r < 0)
                return policy_yaml_error(y, eq, error, "equals: must fit inside mask");
        m->cmps[m->n_cmps++] = (SeccompArgCmp){
                .arg = (unsigned) arg,
                .op = mask_node ? SECCOMP_CMP_MASKED_EQ : SECCOMP_CMP_EQ,
                .mask = mask_node ? mask : 0,
                .value = value,
        };
        return 0;
}

static int parse_filter(PolicyYaml *y, yaml_node_t *key, yaml_node_t *n, SeccompFilter *f,
                        MoatError *error) {
        static const char *const keys[] = { "description", "any", NULL };
        int r;

        f->line = (unsigned) key->start_mark.line + 1;
        r = policy_yaml_check_mapping(y, n, "filter", keys, error);
        if (r < 0)
                return r;
        yaml_node_t *d = policy_yaml_get(y, n, "description", NULL);
        if (!d)
                return policy_yaml_error(y, n, error, "filter '%s': a description is required",
                                         f->name);
        r = policy_yaml_string(y, d, "description", &f->description, error);
        if (r < 0)
                return r;
        yaml_node_t *any = policy_yaml_get(y, n, "any", NULL);
        if (!any)
                return policy_yaml_error(y, n, error,
                                         "filter '%s': 'any' (a list of alternatives) is required",
                                         f->name);
        r = policy_yaml_check_sequence(y, any, "any", error);
        if (r < 0)
                return r;
        if (policy_yaml_sequence_length(any) == 0)
                return policy_yaml_error(y, any, error, "any: list at least one alternative");

        for (size_t i = 0; i < policy_yaml_sequence_length(any); i++) {
                yaml_node_t *alt = policy_yaml_sequence_item(y, any, i);
                SeccompMatch m = {};
                size_t before = f->n_matches;

                if (alt->type == YAML_MAPPING_NODE) {
                        r = parse_cmp(y, alt, f, &m, true, error);
                } else {
                        r = policy_yaml_check_sequence(y, alt, "alternative", error);
                        if (r < 0)
                                return r;
                        size_t nc = policy_yaml_sequence_length(alt);
                        if (nc == 0 || nc > SECCOMP_MATCH_MAX_CMPS)
                                return policy_yaml_error(y, alt, error,
                                                         "an alternative holds 1 to %d comparisons",
                                                         SECCOMP_MATCH_MAX_CMPS);
                        for (size_t j = 0; j < nc && r >= 0; j++)
                                r = parse_cmp(y, policy_yaml_sequence_item(y, alt, j), f, &m,
                                              nc == 1, error);
                }
                if (r < 0)
                        return r;
                if (f->n_matches == before) {
                        r = matches_append(f, &m);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int parse_entry(PolicyYaml *y, yaml_node_t *n, SeccompSet *s, SeccompGroup *g,
                       MoatError *error) {
        static const char *const keys[] = { "name", "errno", "filter", NULL };
        SeccompGroupEntry e = { .errno_value = EPERM, .line = (unsigned) n->start_mark.line + 1 };
        const char *name, *v;
        yaml_node_t *x;
        int r;

        if (n->type == YAML_SCALAR_NODE) {
                r = policy_yaml_scalar(y, n, "syscall", &name, error);
                if (r < 0)
                        return r;
        } else {
                r = policy_yaml_check_mapping(y, n, "syscall entry", keys, error);
                if (r < 0)
                        return r;
                x = policy_yaml_get(y, n, "name", NULL);
                if (!x)
                        return policy_yaml_error(y, n, error, "syscall entry: 'name' is required");
                r = policy_yaml_scalar(y, x, "name", &name, error);
                if (r < 0)
                        return r;
                x = policy_yaml_get(y, n, "errno", NULL);
                if (x) {
                        r = policy_yaml_scalar(y, x, "errno", &v, error);
                        if (r < 0)
                                return r;
                        e.errno_value = policy_errno_from_name(v);
                        if (e.errno_value < 0)
                                return policy_yaml_error(
                                        y, x, error,
                                        "errno: unknown '%s' (EPERM, ENOSYS, EACCES, EINVAL, "
                                        "EOPNOTSUPP, EAFNOSUPPORT)",
                                        v);
                }
                x = policy_yaml_get(y, n, "filter", NULL);
                if (x) {
                        r = policy_yaml_scalar(y, x, "filter", &v, error);
                        if (r < 0)
                                return r;
                        if (!seccomp_set_find_filter(s, v))
                                return policy_yaml_error(
                                        y, x, error, "filter: '%s' is not defined under 'filters'",
                                        v);
                        e.arg_filter = strdup(v);
                        if (!e.arg_filter)
                                return -ENOMEM;
                }
        }
        if (!valid_name(name, false)) {
                free(e.arg_filter);
                return policy_yaml_error(y, n, error, "syscall: '%s' is not a system call name",
                                         name);
        }
        for (size_t i = 0; i < s->n_all_groups; i++)
                for (size_t j = 0; j < s->all_groups[i].n_entries; j++) {
                        SeccompGroupEntry *o = &s->all_groups[i].entries[j];
                        if (strcmp(o->syscall, name) == 0 &&
                            (o->arg_filter
                                     ? e.arg_filter && strcmp(o->arg_filter, e.arg_filter) == 0
                                     : !e.arg_filter)) {
                                free(e.arg_filter);
                                return policy_yaml_error(
                                        y, n, error,
                                        "syscall '%s' is already in group '%s' (line %u)", name,
                                        s->all_groups[i].name, o->line);
                        }
                }
        e.syscall = strdup(name);
        SeccompGroupEntry *a = reallocarray(g->entries, g->n_entries + 1, sizeof(*a));
        if (!e.syscall || !a) {
                free(e.syscall);
                free(e.arg_filter);
                if (a)
                        g->entries = a;
                return -ENOMEM;
        }
        g->entries = a;
        g->entries[g->n_entries++] = e;
        return 0;
}

static int parse_group(PolicyYaml *y, yaml_node_t *key, yaml_node_t *n, SeccompSet *s,
                       SeccompGroup *g, MoatError *error) {
        static const char *const keys[] = { "description", "syscalls", NULL };
        int r;

        r = policy_yaml_check_mapping(y, n, "group", keys, error);
        if (r < 0)
                return r;
        yaml_node_t *d = policy_yaml_get(y, n, "description", NULL);
        if (!d)
                return policy_yaml_error(y, n, error, "group '%s': a description is required",
                                         g->name);
        r = policy_yaml_string(y, d, "description", &g->description, error);
        if (r < 0)
                return r;
        yaml_node_t *l = policy_yaml_get(y, n, "syscalls", NULL);
        if (!l)
                return policy_yaml_error(y, n, error, "group '%s': 'syscalls' is required",
                                         g->name);
        r = policy_yaml_check_sequence(y, l, "syscalls", error);
        if (r < 0)
                return r;
        if (policy_yaml_sequence_length(l) == 0)
                return policy_yaml_error(y, l, error, "group '%s': list at least one system call",
                                         g->name);
        for (size_t i = 0; i < policy_yaml_sequence_length(l); i++) {
                r = parse_entry(y, policy_yaml_sequence_item(y, l, i), s, g, error);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_named_map(PolicyYaml *y, yaml_node_t *n, const char *what, SeccompSet *s,
                           bool groups, MoatError *error) {
        int r;

        if (n->type != YAML_MAPPING_NODE)
                return policy_yaml_error(y, n, error, "%s: expected a mapping of names", what);
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
                yaml_node_t *k = yaml_document_get_node(&y->doc, p->key);
                yaml_node_t *v = yaml_document_get_node(&y->doc, p->value);
                const char *name;

                r = policy_yaml_scalar(y, k, what, &name, error);
                if (r < 0)
                        return r;
                if (!valid_name(name, true))
                        return policy_yaml_error(
                                y, k, error, "%s: '%s' is not a name ([a-z0-9_-]+)", what, name);
                if (groups ? !!seccomp_set_find_group(s, name) : !!seccomp_set_find_filter(s, name))
                        return policy_yaml_error(y, k, error, "%s: '%s' is defined twice", what,
                                                 name);
                if (groups) {
                        SeccompGroup *a =
                                reallocarray(s->all_groups, s->n_all_groups + 1, sizeof(*a));
                        if (!a)
                                return -ENOMEM;
                        s->all_groups = a;
                        SeccompGroup *g = &s->all_groups[s->n_all_groups++];
                        *g = (SeccompGroup){ .name = strdup(name),
                                             .file = strdup(s->file),
                                             .line = (unsigned) k->start_mark.line + 1 };
                        if (!g->name || !g->file)
                                return -ENOMEM;
                        r = parse_group(y, k, v, s, g, error);
                } else {
                        SeccompFilter *a = reallocarray(s->filters, s->n_filters + 1, sizeof(*a));
                        if (!a)
                                return -ENOMEM;
                        s->filters = a;
                        SeccompFilter *f = &s->filters[s->n_filters++];
                        *f = (SeccompFilter){ .name = strdup(name) };
                        if (!f->name)
                                return -ENOMEM;
                        r = parse_filter(y, k, v, f, error);
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_set(PolicyYaml *y, SeccompSet *s, MoatError *error) {
        static const char *const keys[] = { "moat",   "name", "description", "filters",
                                            "groups", "deny", NULL };
        yaml_node_t *root = policy_yaml_root(y), *n;
        int r;

        r = policy_yaml_check_mapping(y, root, "seccomp set", keys, error);
        if (r < 0)
                return r;
        r = policy_check_version(y, root, error);
        if (r < 0)
                return r;
        n = policy_yaml_get(y, root, "name", NULL);
        if (!n)
                return policy_yaml_error(y, root, error, "seccomp set: 'name' is required");
        r = policy_yaml_string(y, n, "name", &s->name, error);
        if (r < 0)
                return r;
        if (!valid_name(s->name, true))
                return policy_yaml_error(y, n, error, "name: '%s' is not a name ([a-z0-9_-]+)",
                                         s->name);
        n = policy_yaml_get(y, root, "description", NULL);
        if (n && (r = policy_yaml_string(y, n, "description", &s->description, error)) < 0)
                return r;
        /* Filters first: groups refer to them wherever they appear in the file. */
        n = policy_yaml_get(y, root, "filters", NULL);
        if (n && (r = parse_named_map(y, n, "filters", s, false, error)) < 0)
                return r;
        n = policy_yaml_get(y, root, "groups", NULL);
        if (!n)
                return policy_yaml_error(y, root, error, "seccomp set: 'groups' is required");
        r = parse_named_map(y, n, "groups", s, true, error);
        if (r < 0)
                return r;
        n = policy_yaml_get(y, root, "deny", NULL);
        if (!n)
                return policy_yaml_error(y, root, error,
                                         "seccomp set: 'deny' (the groups it denies) is required");
        r = policy_yaml_strv(y, n, "deny", &s->groups, error);
        if (r < 0)
                return r;
        for (size_t i = 0; s->groups[i]; i++)
                if (!seccomp_set_find_group(s, s->groups[i]))
                        return policy_yaml_error(y, policy_yaml_sequence_item(y, n, i), error,
                                                 "deny: group '%s' is not defined under 'groups'",
                                                 s->groups[i]);
        return 0;
}

void seccomp_set_done(SeccompSet *s) {
        for (size_t i = 0; i < s->n_all_groups; i++) {
                SeccompGroup *g = &s->all_groups[i];
                for (size_t j = 0; j < g->n_entries; j++) {
                        free(g->entries[j].syscall);
                        free(g->entries[j].arg_filter);
                }
                free(g->entries);
                free(g->name);
                free(g->description);
                free(g->file);
        }
        for (size_t i = 0; i < s->n_filters; i++) {
                free(s->filters[i].name);
                free(s->filters[i].description);
                free(s->filters[i].matches);
        }
        free(s->all_groups);
        free(s->filters);
        free(s->name);
        free(s->file);
        free(s->description);
        strv_free(s->groups);
        *s = (SeccompSet){};
}

int policy_parse_seccomp_set_buffer(Policy *p, const char *buf, size_t len, const char *filename,
                                    MoatError *error) {
        PolicyYaml y;
        SeccompSet s = {};
        const char *file;
        int r;

        r = policy_add_file(p, filename, &file);
        if (r < 0)
                return r;
        s.file = strdup(file);
        if (!s.file)
                return -ENOMEM;
        r = policy_yaml_load(&y, buf, len, file, error);
        if (r >= 0)
                r = parse_set(&y, &s, error);
        if (r >= 0 && policy_find_seccomp_set(p, s.name))
                r = policy_yaml_error(&y, policy_yaml_root(&y), error,
                                      "seccomp set '%s' is defined twice", s.name);
        policy_yaml_done(&y);
        if (r >= 0) {
                SeccompSet *a = reallocarray(p->seccomp_sets, p->n_seccomp_sets + 1, sizeof(*a));
                if (!a)
                        r = -ENOMEM;
                else {
                        p->seccomp_sets = a;
                        p->seccomp_sets[p->n_seccomp_sets++] = s;
                        return 0;
                }
        }
        seccomp_set_done(&s);
        return r;
}

const SeccompSet *policy_find_seccomp_set(const Policy *p, const char *name) {
        for (size_t i = 0; p && name && i < p->n_seccomp_sets; i++)
                if (strcmp(p->seccomp_sets[i].name, name) == 0)
                        return &p->seccomp_sets[i];
        return NULL;
}

const SeccompGroup *seccomp_set_find_group(const SeccompSet *s, const char *name) {
        for (size_t i = 0; s && i < s->n_all_groups; i++)
                if (strcmp(s->all_groups[i].name, name) == 0)
                        return &s->all_groups[i];
        return NULL;
}

const SeccompFilter *seccomp_set_find_filter(const SeccompSet *s, const char *name) {
        for (size_t i = 0; s && i < s->n_filters; i++)
                if (strcmp(s->filters[i].name, name) == 0)
                        return &s->filters[i];
        return NULL;
}

/* SPDX-License-Identifier: MIT */
/* PURE. Escalation rules (policies/escalation.yaml) and the site file layered over them. The
 * site file may only tighten: new rules, a higher tier or a refusal for a shipped rule, more
 * denied system calls, audit settings. Everything else is refused with file:line:column, so
 * a site cannot silently weaken what the shipped policy promises. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macros.h"
#include "basic/strv.h"
#include "policy-internal.h"
#include "policy/policy-compiled.h"
#include "profile/egress.h"

static const char *const known_controls[] = {
        "mac", "landlock", "limits", "userns", "seccomp", NULL
};
static const char *const known_needs[] = { "bpf",   "modules",     "perf", "kvm",
                                           "kexec", "raw-devices", NULL };

int policy_check_version(PolicyYaml *y, yaml_node_t *root, MoatError *error) {
        yaml_node_t *v = policy_yaml_get(y, root, "moat", NULL);
        uint64_t version;
        int r;

        if (!v)
                return policy_yaml_error(y, root, error,
                                         "'moat: 1' (the format version) is required");
        r = policy_yaml_uint(y, v, "moat", UINT64_MAX, &version, error);
        if (r < 0)
                return r;
        if (version != 1)
                return policy_yaml_error(y, v, error,
                                         "moat: format version %llu is not supported (expected 1)",
                                         (unsigned long long) version);
        return 0;
}

int policy_add_file(Policy *p, const char *filename, const char **ret) {
        int r = strv_extend(&p->files, filename);
        if (r < 0)
                return r;
        *ret = p->files[strv_length(p->files) - 1];
        return 0;
}

static bool in_list(const char *const *l, const char *s) {
        for (; *l; l++)
                if (strcmp(*l, s) == 0)
                        return true;
        return false;
}

static int parse_names(PolicyYaml *y, yaml_node_t *n, const char *what, const char *const *known,
                       char ***ret, MoatError *error) {
        int r = policy_yaml_strv(y, n, what, ret, error);
        if (r < 0)
                return r;
        for (size_t i = 0; known && (*ret)[i]; i++)
                if (!in_list(known, (*ret)[i]))
                        return policy_yaml_error(y, policy_yaml_sequence_item(y, n, i), error,
                                                 "%s: unknown '%s'", what, (*ret)[i]);
        if (!(*ret)[0])
                return policy_yaml_error(y, n, error, "%s: list at least one", what);
        return 0;
}

static int parse_true(PolicyYaml *y, yaml_node_t *n, const char *what, bool *ret,
                      MoatError *error) {
        int r = policy_yaml_bool(y, n, what, ret, error);
        if (r < 0)
                return r;
        if (!*ret)
                return policy_yaml_error(
                        y, n, error, "%s: only 'true' is meaningful (leave the key out instead)",
                        what);
        return 0;
}

static int parse_condition(PolicyYaml *y, yaml_node_t *n, PolicyCondition *c, MoatError *error) {
        static const char *const keys[] = {
                "trust",   "kernel_needs", "kernel_version_missing", "capabilities",
                "devices", "full_os",      "missing_controls",       "network",
                NULL
        };
        const char *s;
        yaml_node_t *v;
        int r;

        r = policy_yaml_check_mapping(y, n, "when", keys, error);
        if (r < 0)
                return r;
        if (n->data.mapping.pairs.top == n->data.mapping.pairs.start)
                return policy_yaml_error(y, n, error, "when: name at least one condition");
        if ((v = policy_yaml_get(y, n, "trust", NULL))) {
                r = policy_yaml_scalar(y, v, "trust", &s, error);
                if (r < 0)
                        return r;
                c->trust_at_least = trust_from_string(s);
                if (c->trust_at_least < 0)
                        return policy_yaml_error(
                                y, v, error,
                                "trust: expected trusted, internal, untrusted or hostile");
        }
        if ((v = policy_yaml_get(y, n, "kernel_needs", NULL))) {
                if (v->type == YAML_SCALAR_NODE &&
                    strcmp((const char *) v->data.scalar.value, "any") == 0)
                        c->kernel_needs_any = true;
                else if ((r = parse_names(y, v, "kernel_needs", known_needs, &c->kernel_needs,
                                          error)) < 0)
                        return r;
        }
        if ((v = policy_yaml_get(y, n, "kernel_version_missing", NULL)) &&
            (r = parse_true(y, v, "kernel_version_missing", &c->kernel_version_missing, error)) < 0)
                return r;
        if ((v = policy_yaml_get(y, n, "capabilities", NULL)) &&
            (r = parse_names(y, v, "capabilities", NULL, &c->capabilities, error)) < 0)
                return r;
        if ((v = policy_yaml_get(y, n, "devices", NULL)) &&
            (r = parse_true(y, v, "devices", &c->raw_devices, error)) < 0)
                return r;
        if ((v = policy_yaml_get(y, n, "full_os", NULL)) &&
            (r = parse_true(y, v, "full_os", &c->full_os, error)) < 0)
                return r;
        if ((v = policy_yaml_get(y, n, "missing_controls", NULL)) &&
            (r = parse_names(y, v, "missing_controls", known_controls, &c->missing_controls,
                             error)) < 0)
                return r;
        if ((v = policy_yaml_get(y, n, "network", NULL))) {
                r = policy_yaml_scalar(y, v, "network", &s, error);
                if (r < 0)
                        return r;
                for (int m = 0; m < _NETWORK_MAX; m++)
                        if (strcmp(network_mode_to_string((NetworkMode) m), s) == 0)
                                c->network = m;
                if (c->network < 0)
                        return policy_yaml_error(y, v, error,
                                                 "network: expected none, loopback or outbound");
        }
        return 0;
}

static void rule_done(PolicyRule *r) {
        free(r->id);
        free(r->sentence);
        free(r->remedy);
        strv_free(r->when.kernel_needs);
        strv_free(r->when.capabilities);
        strv_free(r->when.missing_controls);
        *r = (PolicyRule){};
}

static PolicyRule *find_rule(Policy *p, const char *id) {
        for (size_t i = 0; i < p->n_rules; i++)
                if (strcmp(p->rules[i].id, id) == 0)
                        return &p->rules[i];
        return NULL;
}

static bool valid_id(const char *s) {
        if (!*s || strlen(s) > 64)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
                        return false;
        return true;
}

/* A site redefinition of a shipped rule: the same condition, a tier at least as high or a
 * refusal; wording may change. */
static int tighten_rule(PolicyYaml *y, yaml_node_t *n, PolicyRule *old, MoatError *error) {
        yaml_node_t *v, *k;
        const char *s;
        int r;

        if ((v = policy_yaml_get(y, n, "when", &k)))
                return policy_yaml_error(
                        y, k, error,
                        "site policy may only tighten: the condition of shipped rule '%s' "
                        "(%s:%u) cannot change; add a rule with a new id instead",
                        old->id, old->pos.file, old->pos.line);
        if ((v = policy_yaml_get(y, n, "refuse", NULL))) {
                bool refuse;
                r = policy_yaml_bool(y, v, "refuse", &refuse, error);
                if (r < 0)
                        return r;
                if (!refuse && old->refuse)
                        return policy_yaml_error(
                                y, v, error,
                                "site policy may only tighten: rule '%s' refuses the run (%s:%u)",
                                old->id, old->pos.file, old->pos.line);
                if (refuse)
                        old->refuse = true;
        }
        if ((v = policy_yaml_get(y, n, "tier", NULL))) {
                r = policy_yaml_scalar(y, v, "tier", &s, error);
                if (r < 0)
                        return r;
                int t = tier_from_string(s);
                if (t < 0 || t == TIER_AUTO)
                        return policy_yaml_error(y, v, error,
                                                 "tier: expected sandbox, system or vm");
                if (old->refuse && !policy_yaml_get(y, n, "refuse", NULL))
                        return policy_yaml_error(
                                y, v, error,
                                "site policy may only tighten: rule '%s' refuses the run (%s:%u); "
                                "a tier would let it run",
                                old->id, old->pos.file, old->pos.line);
                if (t < (int) old->min_tier)
                        return policy_yaml_error(
                                y, v, error,
                                "site policy may only tighten: rule '%s' asks for tier %s (%s:%u); "
                                "%s would lower it",
                                old->id, tier_to_string(old->min_tier), old->pos.file,
                                old->pos.line, s);
                old->min_tier = (Tier) t;
        }
        if ((v = policy_yaml_get(y, n, "sentence", NULL)) &&
            (r = policy_yaml_string(y, v, "sentence", &old->sentence, error)) < 0)
                return r;
        if ((v = policy_yaml_get(y, n, "remedy", NULL)) &&
            (r = policy_yaml_string(y, v, "remedy", &old->remedy, error)) < 0)
                return r;
        old->from_site = true;
        return 0;
}

static int parse_rule(PolicyYaml *y, yaml_node_t *n, Policy *p, bool site, MoatError *error) {
        static const char *const keys[] = { "id",     "sentence", "when", "tier",
                                            "refuse", "remedy",   NULL };
        PolicyRule rule = { .refuse_if_above_max = true, .from_site = site };
        const char *s;
        yaml_node_t *v;
        int r;

        r = policy_yaml_check_mapping(y, n, "rule", keys, error);
        if (r < 0)
                return r;
        v = policy_yaml_get(y, n, "id", NULL);
        if (!v)
                return policy_yaml_error(y, n, error, "rule: 'id' is required");
        r = policy_yaml_scalar(y, v, "id", &s, error);
        if (r < 0)
                return r;
        if (!valid_id(s))
                return policy_yaml_error(y, v, error,
                                         "id: '%s' must be lower-case words joined by '-'", s);

        PolicyRule *old = find_rule(p, s);
        if (old && !site)
                return policy_yaml_error(y, v, error, "rule '%s' is defined twice (first at %s:%u)",
                                         s, old->pos.file, old->pos.line);
        if (old && old->from_site)
                return policy_yaml_error(y, v, error, "rule '%s' appears twice in the site policy",
                                         s);
        if (old)
                return tighten_rule(y, n, old, error);

        rule.pos = policy_yaml_pos(y, n);
        rule.when.trust_at_least = -1;
        rule.when.network = -1;
        r = -ENOMEM;
        if (!(rule.id = strdup(s)))
                goto fail;
        v = policy_yaml_get(y, n, "sentence", NULL);
        if (!v) {
                r = policy_yaml_error(y, n, error,
                                      "rule '%s': 'sentence' (the explanation shown) is required",
                                      s);
                goto fail;
        }
        if ((r = policy_yaml_string(y, v, "sentence", &rule.sentence, error)) < 0)
                goto fail;
        if ((v = policy_yaml_get(y, n, "remedy", NULL)) &&
            (r = policy_yaml_string(y, v, "remedy", &rule.remedy, error)) < 0)
                goto fail;
        v = policy_yaml_get(y, n, "when", NULL);
        if (!v) {
                r = policy_yaml_error(y, n, error, "rule '%s': 'when' (its conditions) is required",
                                      s);
                goto fail;
        }
        if ((r = parse_condition(y, v, &rule.when, error)) < 0)
                goto fail;
        yaml_node_t *tier = policy_yaml_get(y, n, "tier", NULL),
                    *refuse = policy_yaml_get(y, n, "refuse", NULL);
        if (!!tier == !!refuse) {
                r = policy_yaml_error(y, n, error,
                                      "rule '%s': give exactly one of 'tier' or 'refuse: true'", s);
                goto fail;
        }
        if (refuse && (r = parse_true(y, refuse, "refuse", &rule.refuse, error)) < 0)
                goto fail;
        if (tier) {
                const char *t;
                if ((r = policy_yaml_scalar(y, tier, "tier", &t, error)) < 0)
                        goto fail;
                int ti = tier_from_string(t);
                if (ti < 0 || ti == TIER_AUTO) {
                        r = policy_yaml_error(y, tier, error,
                                              "tier: expected sandbox, system or vm");
                        goto fail;
                }
                rule.min_tier = (Tier) ti;
        }
        PolicyRule *a = reallocarray(p->rules, p->n_rules + 1, sizeof(*a));
        if (!a) {
                r = -ENOMEM;
                goto fail;
        }
        p->rules = a;
        p->rules[p->n_rules++] = rule;
        return 0;
fail:
        rule_done(&rule);
        return r;
}

static int parse_rules(PolicyYaml *y, yaml_node_t *root, Policy *p, bool site, MoatError *error) {
        yaml_node_t *l = policy_yaml_get(y, root, "rules", NULL);
        int r;

        if (!l)
                return site ? 0 : policy_yaml_error(y, root, error, "'rules' is required");
        r = policy_yaml_check_sequence(y, l, "rules", error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < policy_yaml_sequence_length(l); i++) {
                r = parse_rule(y, policy_yaml_sequence_item(y, l, i), p, site, error);
                if (r < 0)
                        return r;
        }
        return 0;
}

int policy_parse_rules_buffer(Policy *p, const char *buf, size_t len, const char *filename,
                              MoatError *error) {
        static const char *const keys[] = { "moat", "rules", NULL };
        PolicyYaml y;
        const char *file;
        int r;

        r = policy_add_file(p, filename, &file);
        if (r < 0)
                return r;
        r = policy_yaml_load(&y, buf, len, file, error);
        if (r >= 0)
                r = policy_yaml_check_mapping(&y, policy_yaml_root(&y), "escalation rules", keys,
                                              error);
        if (r >= 0)
                r = policy_check_version(&y, policy_yaml_root(&y), error);
        if (r >= 0)
                r = parse_rules(&y, policy_yaml_root(&y), p, false, error);
        policy_yaml_done(&y);
        return r;
}

static bool syscall_known(const Policy *p, const char *name) {
        for (size_t i = 0; i < p->n_seccomp_sets; i++) {
                const SeccompSet *s = &p->seccomp_sets[i];
                if (name[0] == '@' && seccomp_set_find_group(s, name + 1))
                        return true;
        }
        if (name[0] == '@' || (name[0] >= '0' && name[0] <= '9'))
                return false;
        for (const char *c = name; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
                        return false;
        return *name != '\0';
}

static int parse_site_seccomp(PolicyYaml *y, yaml_node_t *n, Policy *p, MoatError *error) {
        static const char *const keys[] = { "deny", "allow", NULL };
        yaml_node_t *k, *l;
        int r;

        r = policy_yaml_check_mapping(y, n, "seccomp", keys, error);
        if (r < 0)
                return r;
        if (policy_yaml_get(y, n, "allow", &k))
                return policy_yaml_error(
                        y, k, error,
                        "site policy may only tighten: seccomp 'allow' would loosen the shipped "
                        "sets; only 'deny' is accepted here");
        l = policy_yaml_get(y, n, "deny", NULL);
        if (!l)
                return 0;
        r = policy_yaml_check_sequence(y, l, "seccomp.deny", error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < policy_yaml_sequence_length(l); i++) {
                yaml_node_t *item = policy_yaml_sequence_item(y, l, i);
                const char *s;
                size_t n_extra = strv_length(p->extra_denied_syscalls);

                r = policy_yaml_scalar(y, item, "seccomp.deny", &s, error);
                if (r < 0)
                        return r;
                if (!syscall_known(p, s))
                        return policy_yaml_error(y, item, error,
                                                 "seccomp.deny: '%s' is neither a system call name "
                                                 "nor a known @group",
                                                 s);
                if (strv_contains(p->extra_denied_syscalls, s))
                        continue;
                SrcPos *a = reallocarray(p->extra_denied_pos, n_extra + 1, sizeof(*a));
                if (!a)
                        return -ENOMEM;
                p->extra_denied_pos = a;
                p->extra_denied_pos[n_extra] = policy_yaml_pos(y, item);
                r = strv_extend(&p->extra_denied_syscalls, s);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_site_audit(PolicyYaml *y, yaml_node_t *n, Policy *p, MoatError *error) {
        static const char *const keys[] = { "log", "hmac_key_file", "journal", NULL };
        yaml_node_t *v;
        int r;

        r = policy_yaml_check_mapping(y, n, "audit", keys, error);
        if (r < 0)
                return r;
        if ((v = policy_yaml_get(y, n, "log", NULL))) {
                if ((r = policy_yaml_string(y, v, "audit.log", &p->audit_log_path, error)) < 0)
                        return r;
                if (p->audit_log_path[0] != '/')
                        return policy_yaml_error(y, v, error,
                                                 "audit.log: must be an absolute path");
        }
        if ((v = policy_yaml_get(y, n, "hmac_key_file", NULL))) {
                if ((r = policy_yaml_string(y, v, "audit.hmac_key_file", &p->audit_hmac_key_file,
                                            error)) < 0)
                        return r;
                if (p->audit_hmac_key_file[0] != '/')
                        return policy_yaml_error(y, v, error,
                                                 "audit.hmac_key_file: must be an absolute path");
        }
        if ((v = policy_yaml_get(y, n, "journal", NULL)) &&
            (r = policy_yaml_bool(y, v, "audit.journal", &p->audit_journal, error)) < 0)
                return r;
        return 0;
}

/* network: {unrestricted: BOOL, max_allow: [RULE...], forbidden_ports: [PORT...]} */
static int parse_site_network(PolicyYaml *y, yaml_node_t *n, Policy *p, MoatError *error) {
        static const char *const keys[] = { "unrestricted", "max_allow", "forbidden_ports", NULL };
        yaml_node_t *v;
        int r;

        r = policy_yaml_check_mapping(y, n, "network", keys, error);
        if (r < 0)
                return r;
        if ((v = policy_yaml_get(y, n, "unrestricted", NULL))) {
                if ((r = policy_yaml_bool(y, v, "network.unrestricted", &p->network.unrestricted,
                                          error)) < 0)
                        return r;
                p->network.unrestricted_pos = policy_yaml_pos(y, v);
        }
        if ((v = policy_yaml_get(y, n, "max_allow", NULL))) {
                size_t len;
                if ((r = policy_yaml_check_sequence(y, v, "network.max_allow", error)) < 0)
                        return r;
                len = policy_yaml_sequence_length(v);
                if (len > EGRESS_MAX_RULES)
                        return policy_yaml_error(y, v, error,
                                                 "network.max_allow: more than %d rules",
                                                 EGRESS_MAX_RULES);
                free(p->network.max_allow);
                p->network.max_allow = calloc(len + 1, sizeof(EgressRule));
                if (!p->network.max_allow)
                        return -ENOMEM;
                for (size_t i = 0; i < len; i++) {
                        yaml_node_t *item = policy_yaml_sequence_item(y, v, i);
                        const char *s;
                        char msg[256];
                        if ((r = policy_yaml_scalar(y, item, "network.max_allow[]", &s, error)) < 0)
                                return r;
                        if (egress_rule_parse(s, &p->network.max_allow[i], msg, sizeof(msg)) < 0)
                                return policy_yaml_error(y, item, error,
                                                         "network.max_allow[%zu]: %s", i, msg);
                        p->network.max_allow[i].pos = policy_yaml_pos(y, item);
                }
                p->network.n_max_allow = len;
                p->network.max_allow_set = true;
        }
        if ((v = policy_yaml_get(y, n, "forbidden_ports", NULL))) {
                size_t len;
                if ((r = policy_yaml_check_sequence(y, v, "network.forbidden_ports", error)) < 0)
                        return r;
                len = policy_yaml_sequence_length(v);
                free(p->network.forbidden_ports);
                free(p->network.forbidden_pos);
                p->network.forbidden_ports = calloc(len + 1, sizeof(uint16_t));
                p->network.forbidden_pos = calloc(len + 1, sizeof(SrcPos));
                if (!p->network.forbidden_ports || !p->network.forbidden_pos)
                        return -ENOMEM;
                for (size_t i = 0; i < len; i++) {
                        yaml_node_t *item = policy_yaml_sequence_item(y, v, i);
                        uint64_t port;
                        if ((r = policy_yaml_uint(y, item, "network.forbidden_ports[]", 65535,
                                                  &port, error)) < 0)
                                return r;
                        if (port == 0)
                                return policy_yaml_error(y, item, error,
                                                         "network.forbidden_ports: 0 is no port");
                        p->network.forbidden_ports[i] = (uint16_t) port;
                        p->network.forbidden_pos[i] = policy_yaml_pos(y, item);
                }
                p->network.n_forbidden_ports = len;
        }
        return 0;
}

/* host_namespaces: [network, pid, ipc, uts]: the most any profile's host_namespaces may allow. A
 * later site file narrows it further (the intersection), never widens it. */
static int parse_site_host_namespaces(PolicyYaml *y, yaml_node_t *n, Policy *p, MoatError *error) {
        _cleanup_strv_free_ char **l = NULL, **kept = NULL;
        int r;

        if ((r = policy_yaml_strv(y, n, "host_namespaces", &l, error)) < 0)
                return r;
        for (size_t i = 0; l && l[i]; i++) {
                if (strcmp(l[i], "network") != 0 && strcmp(l[i], "pid") != 0 &&
                    strcmp(l[i], "ipc") != 0 && strcmp(l[i], "uts") != 0)
                        return policy_yaml_error(
                                y, policy_yaml_sequence_item(y, n, i), error,
                                "host_namespaces[%zu]: '%s' is not a namespace a profile can "
                                "share (expected network, pid, ipc or uts)",
                                i, l[i]);
                if ((!p->host_namespaces.set || strv_contains(p->host_namespaces.allow, l[i])) &&
                    strv_extend(&kept, l[i]) < 0)
                        return -ENOMEM;
        }
        if (!kept && !(kept = calloc(1, sizeof(char *))))
                return -ENOMEM;
        strv_free(p->host_namespaces.allow);
        p->host_namespaces.allow = TAKE_PTR(kept);
        p->host_namespaces.set = true;
        p->host_namespaces.pos = policy_yaml_pos(y, n);
        return 0;
}

int policy_parse_site_buffer(Policy *p, const char *buf, size_t len, const char *filename,
                             MoatError *error) {
        static const char *const keys[] = { "moat",    "rules",           "seccomp", "audit",
                                            "network", "host_namespaces", NULL };
        PolicyYaml y;
        yaml_node_t *root, *v;
        const char *file;
        int r;

        r = policy_add_file(p, filename, &file);
        if (r < 0)
                return r;
        r = policy_yaml_load(&y, buf, len, file, error);
        if (r < 0)
                goto out;
        root = policy_yaml_root(&y);
        r = policy_yaml_check_mapping(&y, root, "site policy", keys, error);
        if (r < 0)
                goto out;
        r = policy_check_version(&y, root, error);
        if (r < 0)
                goto out;
        r = parse_rules(&y, root, p, true, error);
        if (r < 0)
                goto out;
        if ((v = policy_yaml_get(&y, root, "seccomp", NULL)) &&
            (r = parse_site_seccomp(&y, v, p, error)) < 0)
                goto out;
        if ((v = policy_yaml_get(&y, root, "audit", NULL)) &&
            (r = parse_site_audit(&y, v, p, error)) < 0)
                goto out;
        if ((v = policy_yaml_get(&y, root, "network", NULL)) &&
            (r = parse_site_network(&y, v, p, error)) < 0)
                goto out;
        if ((v = policy_yaml_get(&y, root, "host_namespaces", NULL)) &&
            (r = parse_site_host_namespaces(&y, v, p, error)) < 0)
                goto out;
out:
        policy_yaml_done(&y);
        return r;
}

Policy *policy_free(Policy *p) {
        if (!p || policy_is_compiled(p))
                return NULL;
        for (size_t i = 0; i < p->n_rules; i++)
                rule_done(&p->rules[i]);
        free(p->rules);
        for (size_t i = 0; i < p->n_seccomp_sets; i++)
                seccomp_set_done(&p->seccomp_sets[i]);
        free(p->seccomp_sets);
        strv_free(p->extra_denied_syscalls);
        free(p->extra_denied_pos);
        free(p->audit_log_path);
        free(p->audit_hmac_key_file);
        free(p->network.max_allow);
        free(p->network.forbidden_ports);
        free(p->network.forbidden_pos);
        strv_free(p->host_namespaces.allow);
        strv_free(p->files);
        free(p);
        return NULL;
}

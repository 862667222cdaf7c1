/* SPDX-License-Identifier: MIT */
/* PURE. The seccomp half of the plan: the base set's denied groups, minus what the profile
 * allows, plus what the profile denies, plus the site's extra denials (which a profile cannot
 * undo). Every rule names its group and the file position it came from. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "basic/macros.h"
#include "basic/strv.h"
#include "plan-internal.h"

static int add_rule(PlanSeccomp *sc, const char *name, int errno_value, const SeccompMatch *m,
                    const char *group, const char *origin) {
        /* The same rule reached twice (a group the base denies and the site denies again). */
        for (size_t i = 0; i < sc->n_rules; i++) {
                const PlanSyscallRule *o = &sc->rules[i];
                bool same = strcmp(o->name, name) == 0 && o->n_args == (m ? m->n_cmps : 0);
                for (unsigned k = 0; same && k < o->n_args; k++)
                        same = o->args[k].arg == m->cmps[k].arg &&
                               o->args[k].mask == m->cmps[k].mask &&
                               o->args[k].value == m->cmps[k].value;
                if (same)
                        return 0;
        }
        PlanSyscallRule *a = reallocarray(sc->rules, sc->n_rules + 1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        sc->rules = a;
        PlanSyscallRule *r = &sc->rules[sc->n_rules];
        *r = (PlanSyscallRule){ .action = SECCOMP_ACTION_ERRNO, .errno_value = errno_value };
        for (unsigned i = 0; m && i < m->n_cmps && i < PLAN_MAX_ARG_CMPS; i++) {
                const SeccompArgCmp *c = &m->cmps[i];
                r->args[i] = (PlanArgCmp){
                        .arg = c->arg,
                        .op = c->op == SECCOMP_CMP_EQ   ? ARG_OP_EQ
                              : c->op == SECCOMP_CMP_NE ? ARG_OP_NE
                                                        : ARG_OP_MASKED_EQ,
                        .mask = c->mask,
                        .value = c->value,
                };
                r->n_args++;
        }
        r->name = strdup(name);
        r->group = strdup(group);
        r->origin = strdup(origin);
        sc->n_rules++;
        return r->name && r->group && r->origin ? 0 : -ENOMEM;
}

static void drop_rules(PlanSeccomp *sc, const char *name, const char *group) {
        size_t j = 0;
        for (size_t i = 0; i < sc->n_rules; i++) {
                PlanSyscallRule *r = &sc->rules[i];
                if ((name && strcmp(r->name, name) == 0) ||
                    (group && strcmp(r->group, group) == 0)) {
                        free(r->name);
                        free(r->group);
                        free(r->origin);
                        continue;
                }
                sc->rules[j++] = *r;
        }
        sc->n_rules = j;
}

static bool has_unconditional(const PlanSeccomp *sc, const char *name) {
        for (size_t i = 0; i < sc->n_rules; i++)
                if (strcmp(sc->rules[i].name, name) == 0 && sc->rules[i].n_args == 0)
                        return true;
        return false;
}

/* An unconditional denial replaces any argument-filtered rule for the same call. */
static int deny_unconditional(PlanSeccomp *sc, const char *name, int errno_value, const char *group,
                              const char *origin) {
        if (has_unconditional(sc, name))
                return 0;
        drop_rules(sc, name, NULL);
        return add_rule(sc, name, errno_value, NULL, group, origin);
}

static int add_group(PlanSeccomp *sc, const SeccompSet *set, const SeccompGroup *g,
                     const char *origin_override, char *const *allow) {
        int r;

        for (size_t i = 0; i < g->n_entries; i++) {
                const SeccompGroupEntry *e = &g->entries[i];
                _cleanup_free_ char *origin = NULL;

                if (strv_contains(allow, e->syscall))
                        continue;
                if (origin_override)
                        origin = strdup(origin_override);
                else if (asprintf(&origin, "%s:%u", g->file, e->line) < 0)
                        origin = NULL;
                if (!origin)
                        return -ENOMEM;
                if (!e->arg_filter) {
                        r = deny_unconditional(sc, e->syscall, e->errno_value, g->name, origin);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (has_unconditional(sc, e->syscall))
                        continue;
                const SeccompFilter *f = seccomp_set_find_filter(set, e->arg_filter);
                if (!f)
                        return -EINVAL; /* the loader checked every reference */
                for (size_t k = 0; k < f->n_matches; k++) {
                        r = add_rule(sc, e->syscall, e->errno_value, &f->matches[k], g->name,
                                     origin);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* "@group" in the profile's base set, else in the default set. */
static const SeccompGroup *find_group(const Policy *pol, const SeccompSet *base, const char *name,
                                      const SeccompSet **ret_set) {
        const SeccompGroup *g = seccomp_set_find_group(base, name);
        if (g) {
                *ret_set = base;
                return g;
        }
        *ret_set = policy_find_seccomp_set(pol, "default");
        return seccomp_set_find_group(*ret_set, name);
}

static int add_denials(Plan *p, const Policy *pol, const SeccompSet *base, char *const *names,
                       const SrcPos *pos, const char *group, const char *what) {
        PlanSeccomp *sc = &p->sandbox.seccomp;
        int r;

        for (size_t i = 0; names && names[i]; i++) {
                char where[300];
                plan_format_pos(pos ? &pos[i] : NULL, where, sizeof(where));
                if (names[i][0] == '@') {
                        const SeccompSet *set;
                        const SeccompGroup *g = find_group(pol, base, names[i] + 1, &set);
                        if (!g) {
                                r = plan_refuse(p, "%s names an unknown syscall group '%s'%s%s%s",
                                                what, names[i], where[0] ? " (" : "", where,
                                                where[0] ? ")" : "");
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        r = add_group(sc, set, g, where[0] ? where : what, NULL);
                } else
                        r = deny_unconditional(sc, names[i], EPERM, group, where[0] ? where : what);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool set_denies(const SeccompSet *base, const char *name) {
        if (name[0] == '@')
                return strv_contains(base->groups, name + 1);
        STRV_FOREACH (g, base->groups) {
                const SeccompGroup *grp = seccomp_set_find_group(base, *g);
                for (size_t i = 0; grp && i < grp->n_entries; i++)
                        if (strcmp(grp->entries[i].syscall, name) == 0)
                                return true;
        }
        return false;
}

/* What the profile took out of the base set is part of the "why": a reviewer must see it. */
static int note_allowed(Plan *p, const Profile *pr, const SeccompSet *base) {
        for (size_t i = 0; pr->syscalls.allow && pr->syscalls.allow[i]; i++) {
                const char *a = pr->syscalls.allow[i];
                _cleanup_free_ char *s = NULL;
                char where[300];
                int r;

                if (!set_denies(base, a))
                        continue;
                plan_format_pos(pr->syscalls.allow_pos ? &pr->syscalls.allow_pos[i] : NULL, where,
                                sizeof(where));
                if (asprintf(&s, "the profile allows %s, which the %s set denies%s%s%s", a,
                             base->name, where[0] ? " (" : "", where, where[0] ? ")" : "") < 0)
                        return -ENOMEM;
                r = plan_add_decision(p, "profile-syscalls-allow", s, TIER_SANDBOX, false);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* resources.disk's RLIMIT_FSIZE is checked against a file's size: fallocate(2) with
 * FALLOC_FL_KEEP_SIZE reserves blocks past the end without changing it (measured: 64 MiB
 * under an 8 MiB limit on ext4), and the other modes (insert range, zero range, punch hole)
 * are not needed to write a file. Any mode but 0 fails with EOPNOTSUPP, which callers treat
 * as "not supported here"; posix_fallocate() (mode 0) is checked by the rlimit. The compare is
 * on the whole register: stray upper bits only deny more. */
static int deny_fallocate_modes(Plan *p, const Profile *pr) {
        PlanSeccomp *sc = &p->sandbox.seccomp;
        const SeccompMatch m = { .cmps = { { .arg = 1, .op = SECCOMP_CMP_NE, .value = 0 } },
                                 .n_cmps = 1 };
        char where[300], origin[340] = "resources.disk";

        if (p->resources.disk_mechanism != DISK_MECH_RLIMIT_FSIZE ||
            has_unconditional(sc, "fallocate"))
                return 0;
        plan_format_pos(&pr->resources.pos, where, sizeof(where));
        if (where[0])
                snprintf(origin, sizeof(origin), "profile %s (resources.disk)", where);
        return add_rule(sc, "fallocate", EOPNOTSUPP, &m, "disk", origin);
}

int plan_build_seccomp(Plan *p, const Profile *pr, const Policy *pol, const HostFacts *h) {
        PlanSeccomp *sc = &p->sandbox.seccomp;
        const char *base_name = pr->syscalls.base ? pr->syscalls.base : "default";
        const SeccompSet *base = policy_find_seccomp_set(pol, base_name);
        _cleanup_strv_free_ char **allow_names = NULL;
        int r;

        sc->status = CONTROL_REQUIRED;
        sc->default_action = SECCOMP_ACTION_ALLOW;
        sc->foreign_arch_action = SECCOMP_ACTION_KILL;
        /* the system tier loads the filter through liblxc, which has no listener for moat */
        sc->notify_denials = h->seccomp_user_notif && p->tier != TIER_SYSTEM;
        if ((r = strv_extend(&sc->arches, "x86_64")) < 0 ||
            (r = strv_extend(&sc->arches, "x32")) < 0 || (r = strv_extend(&sc->arches, "x86")) < 0)
                return r;
        if (!(sc->base = strdup(base_name)))
                return -ENOMEM;
        if (!base) {
                char where[300];
                plan_format_pos(&pr->syscalls.base_pos, where, sizeof(where));
                return plan_refuse(p,
                                   "the profile's syscall base set '%s' does not exist under "
                                   "policies/seccomp%s%s%s",
                                   base_name, where[0] ? " (" : "", where, where[0] ? ")" : "");
        }

        /* Allowed names: plain syscalls filter entries; "@group" removes the whole group. */
        for (size_t i = 0; pr->syscalls.allow && pr->syscalls.allow[i]; i++) {
                const char *a = pr->syscalls.allow[i];
                const SeccompSet *set;
                if (a[0] == '@' && !find_group(pol, base, a + 1, &set)) {
                        char where[300];
                        plan_format_pos(pr->syscalls.allow_pos ? &pr->syscalls.allow_pos[i] : NULL,
                                        where, sizeof(where));
                        r = plan_refuse(p,
                                        "syscalls.allow names an unknown syscall group '%s'%s%s%s",
                                        a, where[0] ? " (" : "", where, where[0] ? ")" : "");
                        if (r < 0)
                                return r;
                }
                if (a[0] != '@' && (r = strv_extend(&allow_names, a)) < 0)
                        return r;
        }
        STRV_FOREACH (g, base->groups) {
                _cleanup_free_ char *at = NULL;
                if (asprintf(&at, "@%s", *g) < 0)
                        return -ENOMEM;
                if (strv_contains(pr->syscalls.allow, at))
                        continue;
                r = add_group(sc, base, seccomp_set_find_group(base, *g), NULL, allow_names);
                if (r < 0)
                        return r;
        }
        r = note_allowed(p, pr, base);
        if (r < 0)
                return r;
        r = add_denials(p, pol, base, pr->syscalls.deny, pr->syscalls.deny_pos, "profile",
                        "the profile");
        if (r < 0)
                return r;
        r = add_denials(p, pol, base, pol->extra_denied_syscalls, pol->extra_denied_pos, "site",
                        "the site policy");
        if (r < 0)
                return r;
        return deny_fallocate_modes(p, pr);
}

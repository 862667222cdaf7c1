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

/* The rules being built, with an index by syscall name: how many rules name the call and
 * whether one of them is unconditional. Every group entry asks both questions, so without it
 * building the default set's ~300 rules took a scan of all rules per entry (quadratic, a third
 * of a whole `moat explain`). The index never decides anything the scans did not: it only
 * skips scans that would find nothing. */
typedef struct NameSlot {
        char *name; /* NULL: free slot */
        unsigned n_rules;
        bool unconditional;
} NameSlot;

typedef struct Rules {
        PlanSeccomp *sc;
        NameSlot *slots;
        size_t n_slots, n_used; /* n_slots: 0 or a power of two */
        /* groups and origins already in sc->strings, by hash (open addressing, a power of
         * two), and the last one of each kind: a group's entries come one after another */
        const char **interned;
        size_t n_interned_slots, n_interned;
        char *last[2];
} Rules;

static void rules_done(Rules *rs) {
        free(rs->slots); /* the names are the plan's (pool_add()) */
        rs->slots = NULL;
        rs->n_slots = rs->n_used = 0;
        free(rs->interned);
        rs->interned = NULL;
        rs->n_interned_slots = rs->n_interned = 0;
}

static size_t name_hash(const char *s) {
        size_t h = 1469598103934665603ULL; /* FNV-1a */
        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * 1099511628211ULL;
        return h;
}

/* A block's request: with malloc's own header, one 4 KiB chunk (the shipped sets' rules need
 * one or two). */
#define STRING_BLOCK_REQUEST (4096 - 16)

static char *pool_add(PlanSeccomp *sc, const char *s, size_t len) {
        PlanStringBlock *b = sc->strings;
        char *copy;

        if (!b || b->size - b->used < len + 1) {
                size_t size = MAX(len + 1, STRING_BLOCK_REQUEST - sizeof(PlanStringBlock));
                b = malloc(sizeof(PlanStringBlock) + size);
                if (!b)
                        return NULL;
                *b = (PlanStringBlock){ .next = sc->strings, .size = size };
                sc->strings = b;
        }
        copy = memcpy(b->data + b->used, s, len + 1);
        b->used += len + 1;
        return copy;
}

/* The plan's copy of s: the same pointer for equal strings (a group and an origin recur across
 * rules). NULL: out of memory. */
static char *intern(Rules *rs, const char *s) {
        size_t h = name_hash(s), mask;

        if ((rs->n_interned + 1) * 4 > rs->n_interned_slots * 3) {
                size_t n = rs->n_interned_slots ? rs->n_interned_slots * 2 : 256;
                const char **t = calloc(n, sizeof(*t));
                if (!t)
                        return NULL;
                for (size_t k = 0; k < rs->n_interned_slots; k++) {
                        const char *o = rs->interned[k];
                        if (!o)
                                continue;
                        size_t i = name_hash(o) & (n - 1);
                        while (t[i])
                                i = (i + 1) & (n - 1);
                        t[i] = o;
                }
                free(rs->interned);
                rs->interned = t;
                rs->n_interned_slots = n;
        }
        mask = rs->n_interned_slots - 1;
        for (size_t i = h & mask;; i = (i + 1) & mask) {
                if (!rs->interned[i]) {
                        char *copy = pool_add(rs->sc, s, strlen(s));
                        if (!copy)
                                return NULL;
                        rs->interned[i] = copy;
                        rs->n_interned++;
                        return copy;
                }
                if (strcmp(rs->interned[i], s) == 0)
                        return (char *) rs->interned[i]; /* the plan's own string */
        }
}

/* intern(), trying the last string of the same kind (0 group, 1 origin) first. By content:
 * an origin is formatted into the same buffer for every entry of a group. */
static char *intern_last(Rules *rs, unsigned kind, const char *s) {
        if (!rs->last[kind] || strcmp(rs->last[kind], s) != 0)
                rs->last[kind] = intern(rs, s);
        return rs->last[kind];
}

static NameSlot *slot_find(const Rules *rs, const char *name) {
        if (rs->n_slots == 0)
                return NULL;
        for (size_t i = name_hash(name) & (rs->n_slots - 1);; i = (i + 1) & (rs->n_slots - 1)) {
                NameSlot *sl = &rs->slots[i];
                if (!sl->name)
                        return NULL;
                if (strcmp(sl->name, name) == 0)
                        return sl;
        }
}

static NameSlot *slot_get(Rules *rs, const char *name) {
        NameSlot *sl = slot_find(rs, name);
        if (sl)
                return sl;
        if ((rs->n_used + 1) * 4 > rs->n_slots * 3) { /* grow: at most 3/4 full */
                size_t n = rs->n_slots ? rs->n_slots * 2 : 512;
                NameSlot *old = rs->slots, *slots = calloc(n, sizeof(*slots));
                size_t n_old = rs->n_slots;
                if (!slots)
                        return NULL;
                rs->slots = slots;
                rs->n_slots = n;
                for (size_t k = 0; k < n_old; k++) {
                        if (!old[k].name)
                                continue;
                        size_t i = name_hash(old[k].name) & (n - 1);
                        while (slots[i].name)
                                i = (i + 1) & (n - 1);
                        slots[i] = old[k];
                }
                free(old);
        }
        size_t i = name_hash(name) & (rs->n_slots - 1);
        while (rs->slots[i].name)
                i = (i + 1) & (rs->n_slots - 1);
        /* in the plan's pool: the rules of this syscall name it with this very pointer */
        if (!(rs->slots[i].name = pool_add(rs->sc, name, strlen(name))))
                return NULL;
        rs->n_used++;
        return &rs->slots[i];
}

static int add_rule(Rules *rs, const char *name, int errno_value, const SeccompMatch *m,
                    const char *group, const char *origin) {
        PlanSeccomp *sc = rs->sc;
        NameSlot *sl = slot_get(rs, name);

        if (!sl)
                return -ENOMEM;
        /* The same rule reached twice (a group the base denies and the site denies again). */
        for (size_t i = 0; sl->n_rules > 0 && i < sc->n_rules; i++) {
                const PlanSyscallRule *o = &sc->rules[i];
                /* the rules of one name carry its slot's string (below): the pointer says */
                bool same = o->name == sl->name && o->n_args == (m ? m->n_cmps : 0);
                for (unsigned k = 0; same && k < o->n_args; k++)
                        same = o->args[k].arg == m->cmps[k].arg &&
                               o->args[k].mask == m->cmps[k].mask &&
                               o->args[k].value == m->cmps[k].value;
                if (same)
                        return 0;
        }
        /* Room doubles at each power of two (a rule at a time was a realloc per rule). */
        if ((sc->n_rules & (sc->n_rules - 1)) == 0) {
                PlanSyscallRule *a =
                        reallocarray(sc->rules, sc->n_rules ? sc->n_rules * 2 : 8, sizeof(*a));
                if (!a)
                        return -ENOMEM;
                sc->rules = a;
        }
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
        r->name = sl->name;
        r->group = intern_last(rs, 0, group);
        r->origin = intern_last(rs, 1, origin);
        if (!r->name || !r->group || !r->origin)
                return -ENOMEM;
        sc->n_rules++;
        sl->n_rules++;
        if (r->n_args == 0)
                sl->unconditional = true;
        return 0;
}

static void drop_rules(Rules *rs, const char *name) {
        PlanSeccomp *sc = rs->sc;
        NameSlot *sl = slot_find(rs, name);
        size_t j = 0;

        if (!sl || sl->n_rules == 0)
                return;
        for (size_t i = 0; i < sc->n_rules; i++) {
                PlanSyscallRule *r = &sc->rules[i];
                if (strcmp(r->name, name) == 0)
                        continue; /* its strings stay in the plan's pool */
                sc->rules[j++] = *r;
        }
        sc->n_rules = j;
        sl->n_rules = 0;
        sl->unconditional = false;
}

static bool has_unconditional(const Rules *rs, const char *name) {
        const NameSlot *sl = slot_find(rs, name);
        return sl && sl->unconditional;
}

/* An unconditional denial replaces any argument-filtered rule for the same call. */
static int deny_unconditional(Rules *rs, const char *name, int errno_value, const char *group,
                              const char *origin) {
        if (has_unconditional(rs, name))
                return 0;
        drop_rules(rs, name);
        return add_rule(rs, name, errno_value, NULL, group, origin);
}

static int add_group(Rules *rs, const SeccompSet *set, const SeccompGroup *g,
                     const char *origin_override, char *const *allow) {
        int r;

        for (size_t i = 0; i < g->n_entries; i++) {
                const SeccompGroupEntry *e = &g->entries[i];
                _cleanup_free_ char *long_origin = NULL;
                char buf[256];
                const char *origin = origin_override;

                if (strv_contains(allow, e->syscall))
                        continue;
                /* add_rule() copies it: on the stack unless it is long (a site file's path);
                 * "FILE:LINE" put together by hand, as snprintf() was most of a rule's cost */
                if (!origin) {
                        size_t flen = strlen(g->file);
                        if (flen + 1 + 10 + 1 <= sizeof(buf)) {
                                char digits[10], *o = mempcpy(buf, g->file, flen);
                                unsigned v = e->line, nd = 0;
                                do
                                        digits[nd++] = (char) ('0' + v % 10);
                                while ((v /= 10) > 0);
                                *o++ = ':';
                                while (nd > 0)
                                        *o++ = digits[--nd];
                                *o = '\0';
                                origin = buf;
                        } else if (asprintf(&long_origin, "%s:%u", g->file, e->line) >= 0)
                                origin = long_origin;
                        else
                                return -ENOMEM;
                }
                if (!e->arg_filter) {
                        r = deny_unconditional(rs, e->syscall, e->errno_value, g->name, origin);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (has_unconditional(rs, e->syscall))
                        continue;
                const SeccompFilter *f = seccomp_set_find_filter(set, e->arg_filter);
                if (!f)
                        return -EINVAL; /* the loader checked every reference */
                for (size_t k = 0; k < f->n_matches; k++) {
                        r = add_rule(rs, e->syscall, e->errno_value, &f->matches[k], g->name,
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

static int add_denials(Plan *p, Rules *rs, const Policy *pol, const SeccompSet *base,
                       char *const *names, const SrcPos *pos, const char *group, const char *what) {
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
                        r = add_group(rs, set, g, where[0] ? where : what, NULL);
                } else
                        r = deny_unconditional(rs, names[i], EPERM, group, where[0] ? where : what);
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
static int deny_fallocate_modes(Plan *p, Rules *rs, const Profile *pr) {
        const SeccompMatch m = { .cmps = { { .arg = 1, .op = SECCOMP_CMP_NE, .value = 0 } },
                                 .n_cmps = 1 };
        char where[300], origin[340] = "resources.disk";

        if (p->resources.disk_mechanism != DISK_MECH_RLIMIT_FSIZE ||
            has_unconditional(rs, "fallocate"))
                return 0;
        plan_format_pos(&pr->resources.pos, where, sizeof(where));
        if (where[0])
                snprintf(origin, sizeof(origin), "profile %s (resources.disk)", where);
        return add_rule(rs, "fallocate", EOPNOTSUPP, &m, "disk", origin);
}

static int build(Plan *p, Rules *rs, const Profile *pr, const Policy *pol, const HostFacts *h) {
        PlanSeccomp *sc = &p->sandbox.seccomp;
        const char *base_name = pr->syscalls.base ? pr->syscalls.base : "default";
        const SeccompSet *base = policy_find_seccomp_set(pol, base_name);
        _cleanup_strv_free_ char **allow_names = NULL;
        int r;

        sc->status = CONTROL_REQUIRED;
        sc->default_action = SECCOMP_ACTION_ALLOW;
        sc->foreign_arch_action = SECCOMP_ACTION_KILL;
        /* the system tier loads the filter through liblxc and the vm tier inside the guest: neither
         * has a listener for moat */
        sc->notify_denials = h->seccomp_user_notif && p->tier == TIER_SANDBOX;
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
                r = add_group(rs, base, seccomp_set_find_group(base, *g), NULL, allow_names);
                if (r < 0)
                        return r;
        }
        r = note_allowed(p, pr, base);
        if (r < 0)
                return r;
        r = add_denials(p, rs, pol, base, pr->syscalls.deny, pr->syscalls.deny_pos, "profile",
                        "the profile");
        if (r < 0)
                return r;
        r = add_denials(p, rs, pol, base, pol->extra_denied_syscalls, pol->extra_denied_pos, "site",
                        "the site policy");
        if (r < 0)
                return r;
        return deny_fallocate_modes(p, rs, pr);
}

int plan_build_seccomp(Plan *p, const Profile *pr, const Policy *pol, const HostFacts *h) {
        Rules rs = { .sc = &p->sandbox.seccomp };
        int r = build(p, &rs, pr, pol, h);
        rules_done(&rs);
        /* The doubling's spare room goes back: the plan lives as long as the run. */
        PlanSeccomp *sc = &p->sandbox.seccomp;
        if (sc->n_rules > 0) {
                PlanSyscallRule *a = reallocarray(sc->rules, sc->n_rules, sizeof(*a));
                if (a)
                        sc->rules = a;
        }
        return r;
}

/* SPDX-License-Identifier: MIT */
/* PURE. Plan lifetime, growable arrays and the names the plan prints. */
#include <errno.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "basic/macros.h"
#include "basic/strv.h"
#include "plan-internal.h"
#include "profile/egress.h"

#define GROW(array, n)                                                                    \
        ({                                                                                \
                __typeof__(array) _a_ = reallocarray((array), (n) + 1, sizeof(*(array))); \
                if (_a_)                                                                  \
                        (array) = _a_;                                                    \
                _a_ ? &(array)[(n)] : NULL;                                               \
        })

static int vasprintf_or_null(char **ret, const char *fmt, va_list ap) {
        if (!fmt) {
                *ret = NULL;
                return 0;
        }
        return vasprintf(ret, fmt, ap) < 0 ? -ENOMEM : 0;
}

static char *strdup_or_null(const char *s, bool *oom) {
        char *c;
        if (!s)
                return NULL;
        c = strdup(s);
        if (!c)
                *oom = true;
        return c;
}

int plan_add_decision(Plan *p, const char *rule_id, const char *sentence, Tier min_tier,
                      bool refuse) {
        bool oom = false;
        PlanDecision *d = GROW(p->decisions, p->n_decisions);
        if (!d)
                return -ENOMEM;
        *d = (PlanDecision){
                .rule_id = strdup_or_null(rule_id, &oom),
                .sentence = strdup_or_null(sentence, &oom),
                .min_tier = min_tier,
                .refuse = refuse,
        };
        p->n_decisions++;
        return oom ? -ENOMEM : 0;
}

int plan_add_control(Plan *p, const char *name, ControlStatus status, const char *detail,
                     const char *reason) {
        bool oom = false;
        PlanControl *c = GROW(p->controls, p->n_controls);
        if (!c)
                return -ENOMEM;
        *c = (PlanControl){
                .name = strdup_or_null(name, &oom),
                .status = status,
                .detail = strdup_or_null(detail, &oom),
                .reason = strdup_or_null(reason, &oom),
        };
        p->n_controls++;
        return oom ? -ENOMEM : 0;
}

int plan_add_controlf(Plan *p, const char *name, ControlStatus status, const char *reason,
                      const char *fmt, ...) {
        _cleanup_free_ char *detail = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf_or_null(&detail, fmt, ap);
        va_end(ap);
        if (r < 0)
                return r;
        return plan_add_control(p, name, status, detail, reason);
}

int plan_add_mount(Plan *p, PlanMountKind kind, const char *source, const char *target,
                   unsigned flags, uint64_t size, const SrcPos *pos) {
        bool oom = false;
        PlanSandbox *s = &p->sandbox;
        PlanMount *m = GROW(s->mounts, s->n_mounts);
        if (!m)
                return -ENOMEM;
        *m = (PlanMount){
                .kind = kind,
                .source = strdup_or_null(source, &oom),
                .target = strdup_or_null(target, &oom),
                .flags = flags,
                .size = size,
                .pos = pos ? *pos : (SrcPos){},
        };
        s->n_mounts++;
        return oom ? -ENOMEM : 0;
}

int plan_add_landlock_path(Plan *p, const char *path, uint64_t access) {
        bool oom = false;
        PlanLandlock *l = &p->sandbox.landlock;

        /* Rights beneath one path are a union: merge instead of listing a path twice. */
        for (size_t i = 0; i < l->n_paths; i++)
                if (strcmp(l->paths[i].path, path) == 0) {
                        l->paths[i].access |= access;
                        return 0;
                }
        PlanLandlockPath *lp = GROW(l->paths, l->n_paths);
        if (!lp)
                return -ENOMEM;
        *lp = (PlanLandlockPath){ .path = strdup_or_null(path, &oom), .access = access };
        l->n_paths++;
        return oom ? -ENOMEM : 0;
}

int plan_add_rlimit(Plan *p, int resource, uint64_t soft, uint64_t hard) {
        PlanSandbox *s = &p->sandbox;
        PlanRlimit *r = GROW(s->rlimits, s->n_rlimits);
        if (!r)
                return -ENOMEM;
        *r = (PlanRlimit){ .resource = resource, .soft = soft, .hard = hard };
        s->n_rlimits++;
        return 0;
}

int plan_add_reachable(Plan *p, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf_or_null(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return r;
        return strv_extend(&p->reachable, s);
}

int plan_append(char **s, const char *sep, const char *fmt, ...) {
        _cleanup_free_ char *add = NULL;
        char *n;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf_or_null(&add, fmt, ap);
        va_end(ap);
        if (r < 0)
                return r;
        if (asprintf(&n, "%s%s%s", *s ? *s : "", *s && **s ? sep : "", add) < 0)
                return -ENOMEM;
        free(*s);
        *s = n;
        return 0;
}

int plan_seccomp_groups_join(const PlanSeccomp *sc, const char *sep, char **ret) {
        _cleanup_free_ const char **groups = NULL;
        size_t n = 0, len = 0, seplen = strlen(sep);
        char *out, *o;

        *ret = NULL;
        if (sc->n_rules == 0)
                return 0;
        groups = calloc(sc->n_rules, sizeof(*groups));
        if (!groups)
                return -ENOMEM;
        for (size_t i = 0; i < sc->n_rules; i++) {
                const char *g = sc->rules[i].group;
                bool seen = false;
                /* a resolved plan's equal groups are one string (plan-seccomp.c): the pointer
                 * usually answers */
                for (size_t k = n; !seen && k > 0; k--)
                        seen = groups[k - 1] == g || strcmp(groups[k - 1], g) == 0;
                if (!seen)
                        groups[n++] = g;
        }
        for (size_t k = 0; k < n; k++)
                len += strlen(groups[k]) + seplen;
        o = out = malloc(len + 1);
        if (!out)
                return -ENOMEM;
        for (size_t k = 0; k < n; k++) {
                if (o > out) { /* as plan_append(): a separator after what is not empty */
                        memcpy(o, sep, seplen);
                        o += seplen;
                }
                o = stpcpy(o, groups[k]);
        }
        *o = '\0';
        *ret = out;
        return 0;
}

Plan *plan_free(Plan *p) {
        if (!p)
                return NULL;
        free(p->refusal);
        free(p->profile_name);
        free(p->profile_path);
        strv_free(p->policy_files);
        for (size_t i = 0; i < p->n_decisions; i++) {
                free(p->decisions[i].rule_id);
                free(p->decisions[i].sentence);
        }
        free(p->decisions);
        for (size_t i = 0; i < p->n_controls; i++) {
                free(p->controls[i].name);
                free(p->controls[i].detail);
                free(p->controls[i].reason);
        }
        free(p->controls);
        strv_free(p->env_allow);
        strv_free(p->env_set);

        PlanSandbox *s = &p->sandbox;
        free(s->hostname);
        free(s->machine_id);
        for (size_t i = 0; i < s->n_mounts; i++) {
                free(s->mounts[i].source);
                free(s->mounts[i].target);
        }
        free(s->mounts);
        free(s->workdir_target);
        strv_free(s->seccomp.arches);
        free(s->seccomp.rules);
        for (PlanStringBlock *b = s->seccomp.strings, *next; b; b = next) {
                next = b->next;
                free(b);
        }
        free(s->seccomp.base);
        for (size_t i = 0; i < s->landlock.n_paths; i++)
                free(s->landlock.paths[i].path);
        free(s->landlock.paths);
        free(s->caps_keep);
        free(s->apparmor_profile);
        free(s->selinux_context);
        free(s->rlimits);
        free(p->vm.kernel);
        free(p->vm.guest_apparmor);
        free(p->vm.kernel_args);
        free(p->vm.not_in_guest);
        free(p->system.init);
        free(p->system.image);
        free(p->system.image_name);
        strv_free(p->reachable);
        free(p->egress.allow);
        free(p);
        return NULL;
}

/* plan_dup()'s copies: each NULL stays NULL; an array is allocated once at its final size. */
static void *memdup_or_null(const void *src, size_t n, size_t size, bool *oom) {
        void *c;
        if (!src)
                return NULL;
        c = malloc(n && size ? n * size : 1);
        if (!c)
                *oom = true;
        else if (n && size)
                memcpy(c, src, n * size);
        return c;
}

/* The copy of a seccomp rule's string: at the same offset in the copy of the block that holds
 * it. NULL when no block does (a resolved plan has none such, plan.h). */
static char *rebase_string(const PlanStringBlock *from, const PlanStringBlock *to, const char *s) {
        for (; from && to; from = from->next, to = to->next)
                if (s >= from->data && s < from->data + from->used)
                        return (char *) to->data + (s - from->data);
        return NULL;
}

/* The source positions of mounts and egress rules name their file by a pointer into the profile
 * or the policy the plan was resolved from (SrcPos), which the plan does not own. A copy that
 * outlives those gets the names in a string block of its own, appended to its chain (plan_free()
 * frees the chain): each distinct pointer once. */
static SrcPos *pos_at(Plan *p, size_t i) {
        if (i < p->sandbox.n_mounts)
                return &p->sandbox.mounts[i].pos;
        i -= p->sandbox.n_mounts;
        return i < p->egress.n_allow ? &p->egress.allow[i].pos : NULL;
}

static int own_positions(Plan *p) {
        size_t size = 0, n = (p->sandbox.mounts ? p->sandbox.n_mounts : 0) +
                             (p->egress.allow ? p->egress.n_allow : 0);
        PlanStringBlock *b, **tail = &p->sandbox.seccomp.strings;

        if (!p->sandbox.mounts)
                p->sandbox.n_mounts = 0;
        if (!p->egress.allow)
                p->egress.n_allow = 0;
        for (size_t i = 0; i < n; i++) {
                const char *f = pos_at(p, i)->file;
                bool seen = false;
                for (size_t j = 0; f && j < i && !seen; j++)
                        seen = pos_at(p, j)->file == f;
                if (f && !seen)
                        size += strlen(f) + 1;
        }
        if (size == 0)
                return 0;
        b = malloc(sizeof(*b) + size);
        if (!b)
                return -ENOMEM;
        *b = (PlanStringBlock){ .size = size };
        while (*tail)
                tail = &(*tail)->next;
        *tail = b;
        for (size_t i = 0; i < n; i++) {
                const char *f = pos_at(p, i)->file;
                size_t len;
                if (!f || (f >= b->data && f < b->data + b->size))
                        continue; /* none, or copied with an earlier position's */
                len = strlen(f) + 1;
                char *copy = memcpy(b->data + b->used, f, len);
                b->used += len;
                for (size_t j = i; j < n; j++)
                        if (pos_at(p, j)->file == f)
                                pos_at(p, j)->file = copy;
        }
        return 0;
}

int plan_dup(const Plan *src, Plan **ret) {
        bool oom = false;
        Plan *p = calloc(1, sizeof(Plan));
        if (!p)
                return -ENOMEM;
        /* Everything plan_free() frees is copied here, and nothing else points into src: a field
         * added to the one is added to the other (tests/unit/plan/test-plan.c compares every
         * shipped profile's plan with its copy after the original is freed and overwritten). */
        *p = *src;
        p->refusal = strdup_or_null(src->refusal, &oom);
        p->profile_name = strdup_or_null(src->profile_name, &oom);
        p->profile_path = strdup_or_null(src->profile_path, &oom);
        p->policy_files = strv_copy_or_null(src->policy_files, &oom);
        p->decisions = memdup_or_null(src->decisions, src->n_decisions, sizeof(PlanDecision), &oom);
        for (size_t i = 0; p->decisions && i < p->n_decisions; i++) {
                p->decisions[i].rule_id = strdup_or_null(src->decisions[i].rule_id, &oom);
                p->decisions[i].sentence = strdup_or_null(src->decisions[i].sentence, &oom);
        }
        if (!p->decisions)
                p->n_decisions = 0;
        p->controls = memdup_or_null(src->controls, src->n_controls, sizeof(PlanControl), &oom);
        for (size_t i = 0; p->controls && i < p->n_controls; i++) {
                p->controls[i].name = strdup_or_null(src->controls[i].name, &oom);
                p->controls[i].detail = strdup_or_null(src->controls[i].detail, &oom);
                p->controls[i].reason = strdup_or_null(src->controls[i].reason, &oom);
        }
        if (!p->controls)
                p->n_controls = 0;
        p->env_allow = strv_copy_or_null(src->env_allow, &oom);
        p->env_set = strv_copy_or_null(src->env_set, &oom);

        PlanSandbox *s = &p->sandbox;
        const PlanSandbox *f = &src->sandbox;
        s->hostname = strdup_or_null(f->hostname, &oom);
        s->machine_id = strdup_or_null(f->machine_id, &oom);
        s->mounts = memdup_or_null(f->mounts, f->n_mounts, sizeof(PlanMount), &oom);
        for (size_t i = 0; s->mounts && i < s->n_mounts; i++) {
                s->mounts[i].source = strdup_or_null(f->mounts[i].source, &oom);
                s->mounts[i].target = strdup_or_null(f->mounts[i].target, &oom);
        }
        if (!s->mounts)
                s->n_mounts = 0;
        s->workdir_target = strdup_or_null(f->workdir_target, &oom);
        s->seccomp.arches = strv_copy_or_null(f->seccomp.arches, &oom);
        s->seccomp.strings = NULL;
        for (PlanStringBlock *b = f->seccomp.strings, **tail = &s->seccomp.strings; b;
             b = b->next) {
                /* what the block holds, not its room: nothing is added to a resolved plan */
                PlanStringBlock *c = memdup_or_null(b, 1, sizeof(*b) + b->used, &oom);
                if (!c)
                        break;
                c->next = NULL;
                c->size = b->used;
                *tail = c;
                tail = &c->next;
        }
        s->seccomp.rules =
                memdup_or_null(f->seccomp.rules, f->seccomp.n_rules, sizeof(PlanSyscallRule), &oom);
        for (size_t i = 0; s->seccomp.rules && i < s->seccomp.n_rules; i++) {
                const PlanSyscallRule *r = &f->seccomp.rules[i];
                PlanSyscallRule *c = &s->seccomp.rules[i];
                c->name = r->name ? rebase_string(f->seccomp.strings, s->seccomp.strings, r->name)
                                  : NULL;
                c->group = r->group
                                   ? rebase_string(f->seccomp.strings, s->seccomp.strings, r->group)
                                   : NULL;
                c->origin =
                        r->origin ? rebase_string(f->seccomp.strings, s->seccomp.strings, r->origin)
                                  : NULL;
                if ((r->name && !c->name) || (r->group && !c->group) || (r->origin && !c->origin))
                        oom = true; /* not in a block (or its copy failed): no copy */
        }
        if (!s->seccomp.rules)
                s->seccomp.n_rules = 0;
        s->seccomp.base = strdup_or_null(f->seccomp.base, &oom);
        s->landlock.paths = memdup_or_null(f->landlock.paths, f->landlock.n_paths,
                                           sizeof(PlanLandlockPath), &oom);
        for (size_t i = 0; s->landlock.paths && i < s->landlock.n_paths; i++)
                s->landlock.paths[i].path = strdup_or_null(f->landlock.paths[i].path, &oom);
        if (!s->landlock.paths)
                s->landlock.n_paths = 0;
        s->caps_keep = memdup_or_null(f->caps_keep, f->n_caps_keep, sizeof(int), &oom);
        s->apparmor_profile = strdup_or_null(f->apparmor_profile, &oom);
        s->selinux_context = strdup_or_null(f->selinux_context, &oom);
        s->rlimits = memdup_or_null(f->rlimits, f->n_rlimits, sizeof(PlanRlimit), &oom);
        if (!s->rlimits)
                s->n_rlimits = 0;
        p->vm.kernel = strdup_or_null(src->vm.kernel, &oom);
        p->vm.guest_apparmor = strdup_or_null(src->vm.guest_apparmor, &oom);
        p->vm.kernel_args = strdup_or_null(src->vm.kernel_args, &oom);
        /* pairs of static strings: the array is the plan's, the strings are not */
        p->vm.not_in_guest = memdup_or_null(src->vm.not_in_guest, 2 * src->vm.n_not_in_guest,
                                            sizeof(const char *), &oom);
        p->system.init = strdup_or_null(src->system.init, &oom);
        p->system.image = strdup_or_null(src->system.image, &oom);
        p->system.image_name = strdup_or_null(src->system.image_name, &oom);
        p->reachable = strv_copy_or_null(src->reachable, &oom);
        p->egress.allow =
                memdup_or_null(src->egress.allow, src->egress.n_allow, sizeof(EgressRule), &oom);
        if (!oom && own_positions(p) < 0)
                oom = true;
        if (oom) {
                plan_free(p);
                return -ENOMEM;
        }
        *ret = p;
        return 0;
}

const char *control_status_to_string(ControlStatus s) {
        static const char *const t[_CONTROL_STATUS_MAX] = {
                [CONTROL_REQUIRED] = "required",
                [CONTROL_BEST_EFFORT] = "best-effort",
                [CONTROL_DEGRADED] = "degraded",
                [CONTROL_NOT_APPLICABLE] = "not-applicable",
        };
        return (unsigned) s < _CONTROL_STATUS_MAX ? t[s] : NULL;
}

const PlanControl *plan_find_control(const Plan *p, const char *name) {
        for (size_t i = 0; p && i < p->n_controls; i++)
                if (strcmp(p->controls[i].name, name) == 0)
                        return &p->controls[i];
        return NULL;
}

const char *missing_control_to_string(MissingControl m) {
        static const char *const t[_MISSING_MAX] = {
                [MISSING_MAC] = "mac",         [MISSING_LANDLOCK] = "landlock",
                [MISSING_LIMITS] = "limits",   [MISSING_USERNS] = "userns",
                [MISSING_SECCOMP] = "seccomp",
        };
        return (unsigned) m < _MISSING_MAX ? t[m] : NULL;
}

const char *plan_mount_kind_to_string(PlanMountKind k) {
        static const char *const t[_PLAN_MOUNT_KIND_MAX] = {
                [PLAN_MOUNT_BIND] = "bind",         [PLAN_MOUNT_TMPFS] = "tmpfs",
                [PLAN_MOUNT_PROC] = "proc",         [PLAN_MOUNT_DEV] = "dev",
                [PLAN_MOUNT_SYS] = "sys",           [PLAN_MOUNT_MASK] = "mask",
                [PLAN_MOUNT_SYMLINK] = "symlink",   [PLAN_MOUNT_DIR] = "dir",
                [PLAN_MOUNT_READONLY] = "readonly", [PLAN_MOUNT_IDENTITY] = "identity",
        };
        return (unsigned) k < _PLAN_MOUNT_KIND_MAX ? t[k] : NULL;
}

const char *seccomp_action_to_string(SeccompAction a) {
        static const char *const t[_SECCOMP_ACTION_MAX] = {
                [SECCOMP_ACTION_ALLOW] = "allow",
                [SECCOMP_ACTION_ERRNO] = "errno",
                [SECCOMP_ACTION_KILL] = "kill",
        };
        return (unsigned) a < _SECCOMP_ACTION_MAX ? t[a] : NULL;
}

const char *cgroup_mechanism_to_string(CgroupMechanism m) {
        static const char *const t[_CGROUP_MECH_MAX] = {
                [CGROUP_MECH_NONE] = "none",
                [CGROUP_MECH_V2] = "cgroup-v2",
                [CGROUP_MECH_V1] = "cgroup-v1",
                [CGROUP_MECH_RLIMIT] = "rlimit",
        };
        return (unsigned) m < _CGROUP_MECH_MAX ? t[m] : NULL;
}

const char *disk_mechanism_to_string(DiskMechanism m) {
        static const char *const t[_DISK_MECH_MAX] = {
                [DISK_MECH_NONE] = "none",
                [DISK_MECH_NO_WRITABLE_BIND] = "no-writable-bind",
                [DISK_MECH_RLIMIT_FSIZE] = "rlimit-fsize",
                [DISK_MECH_PROJECT_QUOTA] = "project-quota",
        };
        return (unsigned) m < _DISK_MECH_MAX ? t[m] : NULL;
}

const char *rlimit_to_name(int resource) {
        switch (resource) {
        case RLIMIT_CORE:
                return "core";
        case RLIMIT_NOFILE:
                return "nofile";
        case RLIMIT_FSIZE:
                return "fsize";
        case RLIMIT_AS:
                return "as";
        case RLIMIT_NPROC:
                return "nproc";
        case RLIMIT_CPU:
                return "cpu";
        default:
                return "unknown";
        }
}

/* Names as capabilities(7) spells them, without "cap_"; index = CAP_* number. */
static const char *const capability_names[] = {
        [CAP_CHOWN] = "chown",
        [CAP_DAC_OVERRIDE] = "dac_override",
        [CAP_DAC_READ_SEARCH] = "dac_read_search",
        [CAP_FOWNER] = "fowner",
        [CAP_FSETID] = "fsetid",
        [CAP_KILL] = "kill",
        [CAP_SETGID] = "setgid",
        [CAP_SETUID] = "setuid",
        [CAP_SETPCAP] = "setpcap",
        [CAP_LINUX_IMMUTABLE] = "linux_immutable",
        [CAP_NET_BIND_SERVICE] = "net_bind_service",
        [CAP_NET_BROADCAST] = "net_broadcast",
        [CAP_NET_ADMIN] = "net_admin",
        [CAP_NET_RAW] = "net_raw",
        [CAP_IPC_LOCK] = "ipc_lock",
        [CAP_IPC_OWNER] = "ipc_owner",
        [CAP_SYS_MODULE] = "sys_module",
        [CAP_SYS_RAWIO] = "sys_rawio",
        [CAP_SYS_CHROOT] = "sys_chroot",
        [CAP_SYS_PTRACE] = "sys_ptrace",
        [CAP_SYS_PACCT] = "sys_pacct",
        [CAP_SYS_ADMIN] = "sys_admin",
        [CAP_SYS_BOOT] = "sys_boot",
        [CAP_SYS_NICE] = "sys_nice",
        [CAP_SYS_RESOURCE] = "sys_resource",
        [CAP_SYS_TIME] = "sys_time",
        [CAP_SYS_TTY_CONFIG] = "sys_tty_config",
        [CAP_MKNOD] = "mknod",
        [CAP_LEASE] = "lease",
        [CAP_AUDIT_WRITE] = "audit_write",
        [CAP_AUDIT_CONTROL] = "audit_control",
        [CAP_SETFCAP] = "setfcap",
        [CAP_MAC_OVERRIDE] = "mac_override",
        [CAP_MAC_ADMIN] = "mac_admin",
        [CAP_SYSLOG] = "syslog",
        [CAP_WAKE_ALARM] = "wake_alarm",
        [CAP_BLOCK_SUSPEND] = "block_suspend",
        [CAP_AUDIT_READ] = "audit_read",
        [CAP_PERFMON] = "perfmon",
        [CAP_BPF] = "bpf",
        [CAP_CHECKPOINT_RESTORE] = "checkpoint_restore",
};

int capability_from_name(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(capability_names); i++)
                if (capability_names[i] && strcmp(capability_names[i], name) == 0)
                        return (int) i;
        return -EINVAL;
}

const char *capability_to_name(int cap) {
        return cap >= 0 && (size_t) cap < ELEMENTSOF(capability_names) ? capability_names[cap]
                                                                       : NULL;
}

void plan_format_bytes(uint64_t bytes, char *buf, size_t size) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        unsigned u = 0;
        while (u + 1 < ELEMENTSOF(units) && bytes >= 1024 && bytes % 1024 == 0) {
                bytes /= 1024;
                u++;
        }
        snprintf(buf, size, "%" PRIu64 " %s", bytes, units[u]);
}

void plan_format_pos(const SrcPos *pos, char *buf, size_t size) {
        if (!pos || !pos->file)
                snprintf(buf, size, "%s", "");
        else if (!pos->line)
                snprintf(buf, size, "%s", pos->file);
        else
                snprintf(buf, size, "%s:%u:%u", pos->file, pos->line, pos->column);
}

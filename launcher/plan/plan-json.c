/* SPDX-License-Identifier: MIT */
/* PURE. The plan as stable JSON (policies/README.md, "Plan JSON"). Field names and their
 * order only ever grow; a consumer can rely on every documented field being present. */
#include <errno.h>
#include <jansson.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "basic/macros.h"
#include "basic/strv.h"
#include "plan-internal.h"
#include "profile/egress.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static json_t *str_or_null(const char *s) {
        return s ? json_string(s) : json_null();
}

static json_t *strv_to_json(char *const *l) {
        json_t *a = json_array();
        STRV_FOREACH (s, l)
                json_array_append_new(a, json_string(*s));
        return a;
}

static json_t *hex_digest(const uint8_t d[32]) {
        char hex[65];
        for (int i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", d[i]);
        return json_string(hex);
}

static json_t *pos_to_json(const SrcPos *pos) {
        char buf[320];
        plan_format_pos(pos, buf, sizeof(buf));
        return buf[0] ? json_string(buf) : json_null();
}

static json_t *clone_flags_to_json(uint64_t f) {
        static const struct {
                uint64_t flag;
                const char *name;
        } t[] = {
                { CLONE_NEWUSER, "user" },     { CLONE_NEWNS, "mount" },  { CLONE_NEWPID, "pid" },
                { CLONE_NEWNET, "net" },       { CLONE_NEWIPC, "ipc" },   { CLONE_NEWUTS, "uts" },
                { CLONE_NEWCGROUP, "cgroup" }, { CLONE_NEWTIME, "time" },
        };
        json_t *a = json_array();
        for (size_t i = 0; i < ELEMENTSOF(t); i++)
                if (f & t[i].flag)
                        json_array_append_new(a, json_string(t[i].name));
        return a;
}

static json_t *mount_flags_to_json(unsigned f) {
        static const char *const names[] = { "ro",     "nosuid",   "nodev",
                                             "noexec", "optional", "workdir" };
        json_t *a = json_array();
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (f & (1u << i))
                        json_array_append_new(a, json_string(names[i]));
        return a;
}

static json_t *mounts_to_json(const PlanSandbox *s) {
        json_t *a = json_array();
        for (size_t i = 0; i < s->n_mounts; i++) {
                const PlanMount *m = &s->mounts[i];
                json_array_append_new(a, json_pack("{s:s, s:o, s:s, s:o, s:I, s:o}", "kind",
                                                   plan_mount_kind_to_string(m->kind), "source",
                                                   str_or_null(m->source), "target", m->target,
                                                   "flags", mount_flags_to_json(m->flags), "size",
                                                   (json_int_t) m->size, "origin",
                                                   pos_to_json(&m->pos)));
        }
        return a;
}

static const char *arg_op_to_string(ArgOp op) {
        switch (op) {
        case ARG_OP_EQ:
                return "eq";
        case ARG_OP_MASKED_EQ:
                return "masked_eq";
        case ARG_OP_NE:
                return "ne";
        default:
                return "none";
        }
}

static json_t *hex(uint64_t v) {
        char buf[24];
        snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long) v);
        return json_string(buf);
}

json_t *plan_seccomp_rules_to_json(const PlanSeccomp *sc) {
        json_t *a = json_array();
        for (size_t i = 0; i < sc->n_rules; i++) {
                const PlanSyscallRule *r = &sc->rules[i];
                json_t *args = json_array();
                for (unsigned k = 0; k < r->n_args; k++)
                        json_array_append_new(args, json_pack("{s:i, s:s, s:o, s:o}", "arg",
                                                              (int) r->args[k].arg, "op",
                                                              arg_op_to_string(r->args[k].op),
                                                              "mask", hex(r->args[k].mask), "value",
                                                              hex(r->args[k].value)));
                json_array_append_new(
                        a, json_pack("{s:s, s:s, s:i, s:o, s:s, s:s}", "name", r->name, "action",
                                     seccomp_action_to_string(r->action), "errno", r->errno_value,
                                     "args", args, "group", r->group, "origin", r->origin));
        }
        return a;
}

static json_t *seccomp_to_json(const PlanSeccomp *sc) {
        return json_pack("{s:s, s:s, s:o, s:s, s:o, s:b, s:o}", "status",
                         control_status_to_string(sc->status), "default_action",
                         seccomp_action_to_string(sc->default_action), "arches",
                         strv_to_json(sc->arches), "foreign_arch_action",
                         seccomp_action_to_string(sc->foreign_arch_action), "base",
                         str_or_null(sc->base), "notify_denials", sc->notify_denials, "rules",
                         plan_seccomp_rules_to_json(sc));
}

static json_t *landlock_to_json(const PlanLandlock *l) {
        json_t *paths = json_array();
        for (size_t i = 0; i < l->n_paths; i++)
                json_array_append_new(paths, json_pack("{s:s, s:o}", "path", l->paths[i].path,
                                                       "access", hex(l->paths[i].access)));
        return json_pack("{s:s, s:i, s:o, s:o, s:o, s:o}", "status",
                         control_status_to_string(l->status), "abi", l->abi, "handled_fs",
                         hex(l->handled_fs), "handled_net", hex(l->handled_net), "scoped",
                         hex(l->scoped), "paths", paths);
}

static json_t *sandbox_to_json(const Plan *p) {
        const PlanSandbox *s = &p->sandbox;
        json_t *caps = json_array(), *rl = json_array();

        for (size_t i = 0; i < s->n_caps_keep; i++)
                json_array_append_new(caps, json_string(capability_to_name(s->caps_keep[i])));
        for (size_t i = 0; i < s->n_rlimits; i++)
                json_array_append_new(rl, json_pack("{s:s, s:I, s:I}", "resource",
                                                    rlimit_to_name(s->rlimits[i].resource), "soft",
                                                    (json_int_t) s->rlimits[i].soft, "hard",
                                                    (json_int_t) s->rlimits[i].hard));
        json_t *o = json_pack("{s:o, s:b, s:I, s:I, s:s, s:o, s:o, s:s}", "namespaces",
                              clone_flags_to_json(s->clone_flags), "time_ns", s->time_ns,
                              "uid_inside", (json_int_t) s->uid_inside, "gid_inside",
                              (json_int_t) s->gid_inside, "hostname", s->hostname, "mounts",
                              mounts_to_json(s), "workdir_target", str_or_null(s->workdir_target),
                              "network", network_mode_to_string(s->network));
        if (!o)
                return NULL;
        /* "random": drawn per run by the executor, never part of a plan. */
        json_object_set_new(o, "machine_id", json_string(s->machine_id ? s->machine_id : "random"));
        json_object_set_new(o, "seccomp", seccomp_to_json(&s->seccomp));
        json_object_set_new(o, "landlock", landlock_to_json(&s->landlock));
        json_object_set_new(o, "caps_keep", caps);
        json_object_set_new(o, "apparmor_profile", str_or_null(s->apparmor_profile));
        json_object_set_new(o, "selinux_context", str_or_null(s->selinux_context));
        json_object_set_new(o, "mac_status", json_string(control_status_to_string(s->mac_status)));
        json_object_set_new(o, "rlimits", rl);
        return o;
}

static json_t *system_to_json(const PlanSystem *s) {
        return json_pack(
                "{s:s, s:o, s:{s:o, s:o, s:o}, s:s, s:s}", "mode", s->boot ? "boot" : "command",
                "init", str_or_null(s->init), "image", "name", str_or_null(s->image_name), "digest",
                s->image_digest[0] ? json_sprintf("sha256:%s", s->image_digest) : json_null(),
                "path", str_or_null(s->image), "idmap", s->range_map ? "range" : "single",
                "writable_layer", "overlay, discarded");
}

static json_t *vm_to_json(const PlanVm *vm) {
        json_t *n = json_array();
        for (size_t i = 0; n && i < vm->n_not_in_guest; i++)
                json_array_append_new(n, json_pack("{s:s, s:s}", "name", vm->not_in_guest[2 * i],
                                                   "reason", vm->not_in_guest[2 * i + 1]));
        return json_pack("{s:s, s:I, s:i, s:o, s:b, s:o, s:i, s:o}", "accel",
                         vm->kvm ? "kvm" : "tcg", "memory", (json_int_t) vm->memory, "vcpus",
                         (int) vm->vcpus, "kernel", str_or_null(vm->kernel), "guest_root",
                         vm->guest_root, "guest_apparmor", str_or_null(vm->guest_apparmor),
                         "boot_ms", (int) vm->boot_ms, "not_in_guest", n ? n : json_null());
}

static json_t *env_set_names(char *const *set) {
        /* Names only: values may be secrets, and they are in the profile. */
        json_t *a = json_array();
        STRV_FOREACH (kv, set) {
                const char *eq = strchr(*kv, '=');
                json_array_append_new(a, json_stringn(*kv, eq ? (size_t) (eq - *kv) : strlen(*kv)));
        }
        return a;
}

/* network outbound: the normalised rules with where each was written, and their digest. */
static json_t *egress_to_json(const PlanEgress *e) {
        json_t *allow = json_array();

        for (size_t i = 0; allow && i < e->n_allow; i++) {
                char f[EGRESS_RULE_FORMAT_MAX], where[300];
                plan_format_pos(&e->allow[i].pos, where, sizeof(where));
                json_array_append_new(allow,
                                      json_pack("{s:s, s:s}", "rule",
                                                egress_rule_format(&e->allow[i], f, sizeof(f)),
                                                "origin", where));
        }
        if (e->transparent)
                return json_pack("{s:s, s:s, s:s, s:i, s:s, s:o, s:o}", "mode", "transparent",
                                 "helper", e->slirp4netns, "helper_confinement",
                                 e->slirp_landlock ? "landlock" : "own-sandbox",
                                 "helper_landlock_abi", e->slirp_landlock, "dns", "127.0.0.1:53",
                                 "digest", hex_digest(e->digest), "allow",
                                 allow ? allow : json_null());
        return json_pack("{s:s, s:s, s:i, s:o, s:o}", "mode", "proxy", "listen", "127.0.0.1",
                         "port", (int) e->proxy_port, "digest", hex_digest(e->digest), "allow",
                         allow ? allow : json_null());
}

json_t *plan_to_json(const Plan *p) {
        json_t *decisions = json_array(), *controls = json_array();

        for (size_t i = 0; i < p->n_decisions; i++) {
                const PlanDecision *d = &p->decisions[i];
                json_array_append_new(decisions,
                                      json_pack("{s:s, s:s, s:s, s:b}", "rule", d->rule_id,
                                                "sentence", d->sentence, "min_tier",
                                                tier_to_string(d->min_tier), "refuse", d->refuse));
        }
        for (size_t i = 0; i < p->n_controls; i++) {
                const PlanControl *c = &p->controls[i];
                json_array_append_new(controls,
                                      json_pack("{s:s, s:s, s:o, s:o}", "name", c->name, "status",
                                                control_status_to_string(c->status), "detail",
                                                str_or_null(c->detail), "reason",
                                                str_or_null(c->reason)));
        }
        json_t *o = json_pack(
                "{s:i, s:s, s:b, s:o, s:o, s:o}", "moat_plan", 1, "tier", tier_to_string(p->tier),
                "refused", p->refused, "refusal", str_or_null(p->refusal), "profile",
                json_pack("{s:o, s:o, s:o}", "name", str_or_null(p->profile_name), "path",
                          str_or_null(p->profile_path), "digest", hex_digest(p->profile_digest)),
                "policy",
                json_pack("{s:o, s:o}", "digest", hex_digest(p->policy_digest), "files",
                          strv_to_json(p->policy_files)));
        if (!o)
                return NULL;
        json_object_set_new(o, "trust", json_string(trust_to_string(p->trust)));
        json_object_set_new(o, "decisions", decisions);
        json_object_set_new(o, "controls", controls);
        json_object_set_new(o, "env",
                            json_pack("{s:b, s:o, s:o}", "clear", p->env_clear, "allow",
                                      strv_to_json(p->env_allow), "set",
                                      env_set_names(p->env_set)));
        json_object_set_new(
                o, "resources",
                json_pack("{s:s, s:s, s:I, s:i, s:I, s:I, s:I, s:I, s:I, s:s, s:I}", "mechanism",
                          cgroup_mechanism_to_string(p->resources.mechanism), "status",
                          control_status_to_string(p->resources.status), "memory",
                          (json_int_t) p->resources.memory, "cpus_milli",
                          (int) p->resources.cpus_milli, "pids", (json_int_t) p->resources.pids,
                          "timeout_ms", (json_int_t) p->resources.timeout_ms, "cpu_time_ms",
                          (json_int_t) p->resources.cpu_time_ms, "tmpfs_total",
                          (json_int_t) p->resources.tmpfs_total, "disk",
                          (json_int_t) p->resources.disk, "disk_mechanism",
                          disk_mechanism_to_string(p->resources.disk_mechanism), "output_bytes",
                          (json_int_t) p->resources.output_bytes));
        /* Always present: the vm tier takes its shares (mounts) and network mode from it too. */
        json_object_set_new(o, "sandbox", sandbox_to_json(p));
        json_object_set_new(o, "vm", p->tier == TIER_VM ? vm_to_json(&p->vm) : json_null());
        if (p->tier == TIER_SYSTEM)
                json_object_set_new(o, "system", system_to_json(&p->system));
        else if (p->tier == TIER_VM && p->system.image)
                /* an image root in the guest: command or boot mode */
                json_object_set_new(o, "guest_image",
                                    json_pack("{s:s, s:o}", "mode",
                                              p->system.boot ? "boot" : "command", "init",
                                              str_or_null(p->system.init)));
        json_object_set_new(o, "reachable", strv_to_json(p->reachable));
        if (p->egress.active)
                json_object_set_new(o, "egress", egress_to_json(&p->egress));
        return o;
}

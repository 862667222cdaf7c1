/* SPDX-License-Identifier: MIT */
/* PURE. Plan + outcome -> the audit record (schema 1, audit/README.md). No system calls: what
 * only the writing process knows (host name, invoking user) is added by audit_log_run() through
 * audit_record_set_identity().
 *
 * The enum spellings below are part of the audit schema, which must stay stable even if the
 * explain output changes, so the record owns them instead of borrowing explain's. Numbers are
 * integers only (nanoseconds, bytes): a real would not survive the canonical re-serialisation
 * that the hash chain relies on. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "profile/egress.h"
#include "audit-internal.h"
#include "audit.h"
#include "basic/macros.h"
#include "basic/strv.h"
#include "commands.h"
#include "config.h"

static const char *const tier_names[_TIER_MAX] = {
        [TIER_SANDBOX] = "sandbox",
        [TIER_SYSTEM] = "system",
        [TIER_VM] = "vm",
};

static const char *const trust_names[_TRUST_MAX] = {
        [TRUST_TRUSTED] = "trusted",
        [TRUST_INTERNAL] = "internal",
        [TRUST_UNTRUSTED] = "untrusted",
        [TRUST_HOSTILE] = "hostile",
};

static const char *const planned_names[_CONTROL_STATUS_MAX] = {
        [CONTROL_REQUIRED] = "required",
        [CONTROL_BEST_EFFORT] = "best-effort",
        [CONTROL_DEGRADED] = "degraded",
        [CONTROL_NOT_APPLICABLE] = "not-applicable",
};

static const char *const outcome_names[_CONTROL_OUTCOME_MAX] = {
        [CONTROL_OUTCOME_APPLIED] = "applied",
        [CONTROL_OUTCOME_DEGRADED] = "degraded",
        [CONTROL_OUTCOME_NOT_APPLICABLE] = "not-applicable",
        [CONTROL_OUTCOME_FAILED] = "failed",
        [CONTROL_OUTCOME_NOT_REACHED] = "not-reached",
};

static const char *const cgroup_layout_names[_CGROUP_LAYOUT_MAX] = {
        [CGROUP_LAYOUT_NONE] = "none",
        [CGROUP_LAYOUT_V1] = "v1",
        [CGROUP_LAYOUT_HYBRID] = "hybrid",
        [CGROUP_LAYOUT_V2] = "v2",
};

static const char *enum_name(const char *const *names, size_t n, int v) {
        if (v < 0 || (size_t) v >= n || !names[v])
                return "unknown";
        return names[v];
}
#define ENUM_NAME(table, v) enum_name(table, ELEMENTSOF(table), (int) (v))

json_t *audit_json_string(const char *s) {
        json_t *j;

        if (!s)
                return json_null();
        j = json_string(s);
        if (j)
                return j;

        /* Not UTF-8 (argv and paths are arbitrary bytes): keep every byte visible and
         * unambiguous rather than dropping the field. */
        size_t n = strlen(s);
        _cleanup_free_ char *esc = malloc(n * 4 + 1);
        char *p = esc;
        if (!esc)
                return NULL;
        for (const unsigned char *c = (const unsigned char *) s; *c; c++) {
                if (*c >= 0x80 || *c == '\\')
                        p += sprintf(p, "\\x%02x", *c);
                else
                        *p++ = (char) *c;
        }
        *p = '\0';
        return json_string(esc);
}

json_t *audit_json_u64(uint64_t v) {
        /* json_int_t is signed 64-bit; larger values are clamped, not wrapped. */
        return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t) v);
}

int audit_json_set(json_t *o, const char *key, json_t *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_set_new(o, key, v) < 0)
                return -ENOMEM;
        return 0;
}

static json_t *digest_hex(const uint8_t d[32]) {
        char hex[65];

        for (size_t i = 0; i < 32; i++)
                sprintf(hex + 2 * i, "%02x", d[i]);
        return json_string(hex);
}

static json_t *strv_to_json(char *const *l, size_t max_bytes, bool *ret_truncated) {
        _cleanup_json_ json_t *a = json_array();
        size_t total = 0;

        if (!a)
                return NULL;
        if (ret_truncated)
                *ret_truncated = false;
        STRV_FOREACH (s, l) {
                total += strlen(*s) + 1;
                if (max_bytes > 0 && total > max_bytes) {
                        if (ret_truncated)
                                *ret_truncated = true;
                        break;
                }
                if (json_array_append_new(a, audit_json_string(*s)) < 0)
                        return NULL;
        }
        return TAKE_PTR(a);
}

static const char *run_result(const AuditContext *ctx) {
        const RunOutcome *o = ctx->outcome;

        if (!o)
                return ctx->plan && ctx->plan->refused ? "refused" : "failed-to-start";
        if (!o->started)
                return "failed-to-start";
        if (o->timed_out)
                return "timeout";
        if (o->signal > 0)
                return "killed";
        return "exited";
}

static json_t *build_profile(const AuditContext *ctx) {
        _cleanup_json_ json_t *o = json_object();
        const Plan *p = ctx->plan;

        if (!o || audit_json_set(o, "arg", audit_json_string(ctx->profile_arg)) < 0)
                return NULL;
        if (p && (audit_json_set(o, "name", audit_json_string(p->profile_name)) < 0 ||
                  audit_json_set(o, "path", audit_json_string(p->profile_path)) < 0 ||
                  audit_json_set(o, "sha256", digest_hex(p->profile_digest)) < 0 ||
                  audit_json_set(o, "trust", json_string(ENUM_NAME(trust_names, p->trust))) < 0))
                return NULL;
        return TAKE_PTR(o);
}

static json_t *build_policy(const AuditContext *ctx) {
        _cleanup_json_ json_t *o = json_object();
        const uint8_t *digest = NULL;
        char *const *files = NULL;

        if (!o)
                return NULL;
        if (ctx->plan) {
                digest = ctx->plan->policy_digest;
                files = ctx->plan->policy_files;
        } else if (ctx->policy) {
                digest = ctx->policy->digest;
                files = ctx->policy->files;
        }
        if (digest && audit_json_set(o, "sha256", digest_hex(digest)) < 0)
                return NULL;
        if (files && audit_json_set(o, "files", strv_to_json(files, 0, NULL)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

static json_t *build_decisions(const Plan *p) {
        _cleanup_json_ json_t *a = json_array();

        if (!a)
                return NULL;
        for (size_t i = 0; p && i < p->n_decisions; i++) {
                const PlanDecision *d = &p->decisions[i];
                _cleanup_json_ json_t *o = json_object();

                if (!o || audit_json_set(o, "rule", audit_json_string(d->rule_id)) < 0 ||
                    audit_json_set(o, "min_tier", json_string(ENUM_NAME(tier_names, d->min_tier))) <
                            0 ||
                    audit_json_set(o, "refuse", json_boolean(d->refuse)) < 0 ||
                    audit_json_set(o, "sentence", audit_json_string(d->sentence)) < 0 ||
                    json_array_append_new(a, TAKE_PTR(o)) < 0)
                        return NULL;
        }
        return TAKE_PTR(a);
}

/* What happened to a control. Without an outcome the run never reached any executor step; an
 * executor that did not report per-control results is recorded as such, never as applied. */
static const char *control_outcome(const AuditContext *ctx, size_t i) {
        const RunOutcome *o = ctx->outcome;

        if (!o)
                return "not-reached";
        if (!o->controls || i >= o->n_controls)
                return "not-reported";
        return ENUM_NAME(outcome_names, o->controls[i]);
}

static json_t *build_controls(const AuditContext *ctx) {
        _cleanup_json_ json_t *a = json_array();
        const Plan *p = ctx->plan;

        if (!a)
                return NULL;
        for (size_t i = 0; p && i < p->n_controls; i++) {
                const PlanControl *c = &p->controls[i];
                const char *outcome = control_outcome(ctx, i);
                _cleanup_json_ json_t *o = json_object();

                if (!o || audit_json_set(o, "name", audit_json_string(c->name)) < 0 ||
                    audit_json_set(o, "planned", json_string(ENUM_NAME(planned_names, c->status))) <
                            0 ||
                    audit_json_set(o, "outcome", json_string(outcome)) < 0)
                        return NULL;
                if (c->detail && audit_json_set(o, "detail", audit_json_string(c->detail)) < 0)
                        return NULL;
                if (c->reason && audit_json_set(o, "reason", audit_json_string(c->reason)) < 0)
                        return NULL;
                /* Degraded is only legitimate where the profile allowed best-effort; anything
                 * else is an executor breaking the fail-closed contract, and the record must
                 * say so rather than smooth it over. */
                if (strcmp(outcome, "degraded") == 0 && c->status == CONTROL_REQUIRED &&
                    audit_json_set(o, "contract_violation", json_true()) < 0)
                        return NULL;
                if (json_array_append_new(a, TAKE_PTR(o)) < 0)
                        return NULL;
        }
        return TAKE_PTR(a);
}

static json_t *build_host(const HostFacts *h) {
        _cleanup_json_ json_t *o = json_object();

        if (!o)
                return NULL;
        if (audit_json_set(o, "source", audit_json_string(h->source)) < 0 ||
            audit_json_set(o, "kernel", audit_json_string(h->kernel_release)) < 0 ||
            audit_json_set(o, "arch", audit_json_string(h->arch)) < 0 ||
            audit_json_set(o, "userns", json_boolean(h->userns_usable)) < 0 ||
            audit_json_set(o, "seccomp", json_boolean(h->seccomp_filter)) < 0 ||
            audit_json_set(o, "seccomp_user_notif", json_boolean(h->seccomp_user_notif)) < 0 ||
            audit_json_set(o, "landlock_abi", json_integer(h->landlock_abi)) < 0 ||
            audit_json_set(o, "lsms", strv_to_json(h->lsms, 0, NULL)) < 0 ||
            audit_json_set(o, "apparmor", json_boolean(h->apparmor_enabled)) < 0 ||
            audit_json_set(o, "selinux_mode", json_integer(h->selinux_mode)) < 0 ||
            audit_json_set(o, "cgroup_layout",
                           json_string(ENUM_NAME(cgroup_layout_names, h->cgroup_layout))) < 0 ||
            audit_json_set(o, "cgroup_v2_writable", json_boolean(h->cgroup_v2_writable)) < 0 ||
            audit_json_set(o, "cgroup_v1_writable", json_boolean(h->cgroup_v1_writable)) < 0 ||
            audit_json_set(o, "kvm", json_boolean(h->kvm_usable)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

static json_t *build_exit(const AuditContext *ctx) {
        _cleanup_json_ json_t *o = json_object();
        const RunOutcome *out = ctx->outcome;

        if (!o)
                return NULL;
        if (!out)
                return audit_json_set(o, "status", json_integer(EXIT_MOAT_FAILED)) < 0
                               ? NULL
                               : TAKE_PTR(o);
        if (audit_json_set(o, "status", json_integer(out->exit_status)) < 0 ||
            audit_json_set(o, "timed_out", json_boolean(out->timed_out)) < 0)
                return NULL;
        if (out->started && out->signal <= 0 &&
            audit_json_set(o, "code", json_integer(out->exit_code)) < 0)
                return NULL;
        if (out->signal > 0) {
                const char *abbrev = sigabbrev_np(out->signal);
                char name[32];

                snprintf(name, sizeof(name), "SIG%s", abbrev ? abbrev : "UNKNOWN");
                if (audit_json_set(o, "signal", json_integer(out->signal)) < 0 ||
                    audit_json_set(o, "signal_name", json_string(name)) < 0)
                        return NULL;
        }
        return TAKE_PTR(o);
}

static json_t *build_usage(const RunOutcome *out) {
        _cleanup_json_ json_t *o = json_object();

        if (!o || audit_json_set(o, "wall_ns", audit_json_u64(out->wall_ns)) < 0 ||
            audit_json_set(o, "cpu_user_ns", audit_json_u64(out->cpu_user_ns)) < 0 ||
            audit_json_set(o, "cpu_sys_ns", audit_json_u64(out->cpu_sys_ns)) < 0)
                return NULL;
        /* 0 means the tier could not read it: leave the field out rather than claim zero. */
        if (out->peak_memory > 0 &&
            audit_json_set(o, "peak_memory_bytes", audit_json_u64(out->peak_memory)) < 0)
                return NULL;
        if (out->peak_pids > 0 &&
            audit_json_set(o, "peak_pids", audit_json_u64(out->peak_pids)) < 0)
                return NULL;
        /* resources.disk's project quota: what the run added to the writable binds */
        if (out->disk_quota_bytes > 0 &&
            audit_json_set(o, "disk_added_bytes", audit_json_u64(out->disk_added)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

static json_t *build_denials(const AuditContext *ctx) {
        _cleanup_json_ json_t *a = json_array();
        const RunOutcome *out = ctx->outcome;

        if (!a)
                return NULL;
        for (size_t i = 0; out && i < out->n_denials; i++) {
                const RunDenial *d = &out->denials[i];
                const PlanSyscallRule *rule = NULL;
                _cleanup_json_ json_t *o = json_object();
                char name[sizeof(d->syscall) + 1], arch[sizeof(d->arch) + 1], when[40];

                /* The fixed-size fields come from a supervisor; never trust a terminator. */
                snprintf(name, sizeof(name), "%.*s", (int) sizeof(d->syscall), d->syscall);
                snprintf(arch, sizeof(arch), "%.*s", (int) sizeof(d->arch), d->arch);
                if (ctx->plan && d->rule_index >= 0 &&
                    (size_t) d->rule_index < ctx->plan->sandbox.seccomp.n_rules)
                        rule = &ctx->plan->sandbox.seccomp.rules[d->rule_index];
                audit_time_format(d->first_ns, when);
                if (!o || audit_json_set(o, "syscall", audit_json_string(name)) < 0 ||
                    audit_json_set(o, "arch", audit_json_string(arch)) < 0 ||
                    audit_json_set(o, "count", audit_json_u64(d->count)) < 0 ||
                    audit_json_set(o, "first_seen", json_string(when)) < 0)
                        return NULL;
                if (rule && (audit_json_set(o, "group", audit_json_string(rule->group)) < 0 ||
                             audit_json_set(o, "origin", audit_json_string(rule->origin)) < 0))
                        return NULL;
                if (json_array_append_new(a, TAKE_PTR(o)) < 0)
                        return NULL;
        }
        return TAKE_PTR(a);
}

static json_t *build_error(const AuditContext *ctx) {
        _cleanup_json_ json_t *o = json_object();
        const RunOutcome *out = ctx->outcome;
        const char *message = ctx->error;

        if (!o)
                return NULL;
        if (!message && ctx->plan && ctx->plan->refused)
                message = ctx->plan->refusal;
        if (!message && out && !out->started && out->message[0])
                message = out->message;
        if (message && audit_json_set(o, "message", audit_json_string(message)) < 0)
                return NULL;
        if (out && !out->started) {
                char step[sizeof(out->failed_step) + 1];

                snprintf(step, sizeof(step), "%.*s", (int) sizeof(out->failed_step),
                         out->failed_step);
                if (step[0] && audit_json_set(o, "step", audit_json_string(step)) < 0)
                        return NULL;
                if (out->failed_errno > 0 &&
                    (audit_json_set(o, "errno", json_integer(out->failed_errno)) < 0 ||
                     audit_json_set(o, "errno_name",
                                    audit_json_string(strerrorname_np(out->failed_errno))) < 0))
                        return NULL;
        }
        return TAKE_PTR(o);
}

static json_t *build_command(const RunRequest *req) {
        _cleanup_json_ json_t *o = json_object();
        bool truncated = false;

        if (!o)
                return NULL;
        if (req) {
                /* A huge argv must not push the line past AUDIT_LINE_MAX; what is cut is said. */
                if (audit_json_set(o, "argv", strv_to_json(req->argv, AUDIT_ARGV_MAX, &truncated)) <
                            0 ||
                    audit_json_set(o, "workdir", audit_json_string(req->workdir)) < 0)
                        return NULL;
                if (truncated &&
                    (audit_json_set(o, "argv_truncated", json_true()) < 0 ||
                     audit_json_set(o, "argc", audit_json_u64(strv_length(req->argv))) < 0))
                        return NULL;
        }
        return TAKE_PTR(o);
}

/* network outbound: mode, the normalised allowlist and its digest (from the plan), the proxy's
 * totals and its per-destination decisions, denied first (bounded by RUN_NET_MAX_DEST). */
static json_t *build_network(const AuditContext *ctx) {
        const Plan *p = ctx->plan;
        const RunOutcome *out = ctx->outcome;
        _cleanup_json_ json_t *o = json_object(), *allow = json_array(), *dest = json_array();
        char hex[65];

        if (!o || !allow || !dest)
                return NULL;
        for (size_t i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", p->egress.digest[i]);
        for (size_t i = 0; i < p->egress.n_allow; i++) {
                char f[EGRESS_RULE_FORMAT_MAX];
                if (json_array_append_new(allow, json_string(egress_rule_format(&p->egress.allow[i],
                                                                                f, sizeof(f)))) < 0)
                        return NULL;
        }
        for (int pass = 0; out && pass < 2; pass++)
                for (size_t i = 0; i < out->network.n_dest; i++) {
                        const RunNetDest *d = &out->network.dest[i];
                        char host[sizeof(d->host) + 1], reason[sizeof(d->reason) + 1],
                                addr[sizeof(d->addr) + 1], method[sizeof(d->method) + 1];
                        if (d->allowed != (pass == 1))
                                continue;
                        snprintf(host, sizeof(host), "%.*s", (int) sizeof(d->host), d->host);
                        snprintf(reason, sizeof(reason), "%.*s", (int) sizeof(d->reason),
                                 d->reason);
                        snprintf(addr, sizeof(addr), "%.*s", (int) sizeof(d->addr), d->addr);
                        snprintf(method, sizeof(method), "%.*s", (int) sizeof(d->method),
                                 d->method);
                        if (json_array_append_new(
                                    dest,
                                    json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:I, s:I, s:I, s:I}",
                                              "decision", d->allowed ? "allowed" : "denied", "host",
                                              host, "port", (int) d->port, "method", method,
                                              "reason", reason, "address", addr, "count",
                                              (json_int_t) d->count, "bytes_up",
                                              (json_int_t) d->bytes_up, "bytes_down",
                                              (json_int_t) d->bytes_down, "ms",
                                              (json_int_t) d->ms)) < 0)
                                return NULL;
                }
        if (audit_json_set(o, "mode",
                           json_string(p->egress.transparent ? "transparent" : "proxy")) < 0 ||
            audit_json_set(o, "allow", json_incref(allow)) < 0 ||
            audit_json_set(o, "digest", json_string(hex)) < 0 ||
            audit_json_set(o, "proxy_started", json_boolean(out && out->network.active)) < 0 ||
            audit_json_set(o, "proxy_died", json_boolean(out && out->network.proxy_died)) < 0 ||
            (p->egress.transparent &&
             audit_json_set(o, "helper_died", json_boolean(out && out->network.helper_died)) < 0) ||
            audit_json_set(o, "allowed", audit_json_u64(out ? out->network.allowed : 0)) < 0 ||
            audit_json_set(o, "denied", audit_json_u64(out ? out->network.denied : 0)) < 0 ||
            audit_json_set(o, "bytes_up", audit_json_u64(out ? out->network.bytes_up : 0)) < 0 ||
            audit_json_set(o, "bytes_down", audit_json_u64(out ? out->network.bytes_down : 0)) <
                    0 ||
            audit_json_set(o, "destinations_not_kept",
                           audit_json_u64(out ? out->network.dropped : 0)) < 0 ||
            audit_json_set(o, "destinations", json_incref(dest)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

json_t *audit_record_build(const AuditContext *ctx) {
        _cleanup_json_ json_t *r = json_object();
        const Plan *p = ctx->plan;
        const RunOutcome *out = ctx->outcome;
        char when[40];

        if (!r)
                return NULL;
        audit_time_format(ctx->start_realtime_ns, when);
        if (audit_json_set(r, "schema", json_integer(AUDIT_SCHEMA_VERSION)) < 0 ||
            audit_json_set(r, "type", json_string("run")) < 0 ||
            audit_json_set(r, "time", json_string(when)) < 0 ||
            audit_json_set(r, "moat_version", json_string(MOAT_VERSION)) < 0 ||
            audit_json_set(r, "result", json_string(run_result(ctx))) < 0 ||
            audit_json_set(r, "verdict",
                           json_string(run_verdict_to_string(run_verdict(out, p && p->refused)))) <
                    0 ||
            audit_json_set(r, "command", build_command(ctx->request)) < 0 ||
            audit_json_set(r, "profile", build_profile(ctx)) < 0 ||
            audit_json_set(r, "policy", build_policy(ctx)) < 0 ||
            audit_json_set(r, "decisions", build_decisions(p)) < 0 ||
            audit_json_set(r, "controls", build_controls(ctx)) < 0 ||
            audit_json_set(r, "exit", build_exit(ctx)) < 0 ||
            audit_json_set(r, "denials", build_denials(ctx)) < 0)
                return NULL;
        if (p && audit_json_set(r, "tier", json_string(ENUM_NAME(tier_names, p->tier))) < 0)
                return NULL;
        if (p && p->egress.active && audit_json_set(r, "network", build_network(ctx)) < 0)
                return NULL;
        if (out && out->tier_detail[0]) {
                char detail[sizeof(out->tier_detail) + 1];

                snprintf(detail, sizeof(detail), "%.*s", (int) sizeof(out->tier_detail),
                         out->tier_detail);
                if (audit_json_set(r, "tier_detail", audit_json_string(detail)) < 0)
                        return NULL;
        }
        /* The run's own machine id (random unless the profile fixed it): what the workload's
         * logs or reports carry, so they can be matched to this record. Never the host's. */
        if (out && out->machine_id[0]) {
                char id[sizeof(out->machine_id) + 1];

                snprintf(id, sizeof(id), "%.*s", (int) sizeof(out->machine_id), out->machine_id);
                if (audit_json_set(r, "machine_id", audit_json_string(id)) < 0)
                        return NULL;
        }
        if (ctx->host && audit_json_set(r, "host_facts", build_host(ctx->host)) < 0)
                return NULL;
        if (out && audit_json_set(r, "usage", build_usage(out)) < 0)
                return NULL;
        if ((ctx->error || !out || !out->started) &&
            audit_json_set(r, "error", build_error(ctx)) < 0)
                return NULL;
        return TAKE_PTR(r);
}

static json_t *u64_or_null(uint64_t v) {
        return v ? audit_json_u64(v) : json_null();
}

/* The controls that did not hold in full: degraded in the plan or in the run. */
static json_t *build_degraded(const AuditContext *ctx) {
        _cleanup_json_ json_t *a = json_array();
        const Plan *p = ctx->plan;

        if (!a)
                return NULL;
        for (size_t i = 0; p && i < p->n_controls; i++)
                if (strcmp(control_outcome(ctx, i), "degraded") == 0 &&
                    json_array_append_new(a, audit_json_string(p->controls[i].name)) < 0)
                        return NULL;
        return TAKE_PTR(a);
}

/* `moat run --result FILE`: how the run ended, for a grader. Schema in README.md ("For code
 * graders"); every field is always present, null when it does not apply or is unknown. */
json_t *audit_result_build(const AuditContext *ctx) {
        _cleanup_json_ json_t *r = json_object(), *limits = json_object();
        const RunOutcome *out = ctx->outcome;
        const Plan *p = ctx->plan;
        const char *message = ctx->error;
        bool ran = out && out->started;
        char name[32] = "";

        if (!r || !limits)
                return NULL;
        if (!message && p && p->refused)
                message = p->refusal;
        if (!message && out && out->message[0])
                message = out->message;
        if (ran && out->signal > 0) {
                const char *abbrev = sigabbrev_np(out->signal);
                snprintf(name, sizeof(name), "SIG%s", abbrev ? abbrev : "UNKNOWN");
        }
        if (audit_json_set(limits, "cpu_time_ms", u64_or_null(p ? p->resources.cpu_time_ms : 0)) <
                    0 ||
            audit_json_set(limits, "timeout_ms", u64_or_null(p ? p->resources.timeout_ms : 0)) <
                    0 ||
            audit_json_set(limits, "memory_bytes", u64_or_null(p ? p->resources.memory : 0)) < 0 ||
            audit_json_set(limits, "pids", u64_or_null(p ? p->resources.pids : 0)) < 0 ||
            audit_json_set(limits, "disk_bytes", u64_or_null(p ? p->resources.disk : 0)) < 0 ||
            audit_json_set(limits, "output_bytes", u64_or_null(p ? p->resources.output_bytes : 0)) <
                    0)
                return NULL;
        if (audit_json_set(r, "schema", json_integer(1)) < 0 ||
            audit_json_set(r, "verdict",
                           json_string(run_verdict_to_string(run_verdict(out, p && p->refused)))) <
                    0 ||
            audit_json_set(r, "status", json_integer(out ? out->exit_status : EXIT_MOAT_FAILED)) <
                    0 ||
            audit_json_set(r, "exit_code",
                           ran && out->signal <= 0 ? json_integer(out->exit_code) : json_null()) <
                    0 ||
            audit_json_set(r, "signal",
                           ran && out->signal > 0 ? json_integer(out->signal) : json_null()) < 0 ||
            audit_json_set(r, "signal_name", name[0] ? json_string(name) : json_null()) < 0 ||
            audit_json_set(r, "wall_ns", out ? audit_json_u64(out->wall_ns) : json_null()) < 0 ||
            audit_json_set(r, "cpu_user_ns", ran ? audit_json_u64(out->cpu_user_ns) : json_null()) <
                    0 ||
            audit_json_set(r, "cpu_sys_ns", ran ? audit_json_u64(out->cpu_sys_ns) : json_null()) <
                    0 ||
            audit_json_set(r, "peak_memory_bytes", u64_or_null(ran ? out->peak_memory : 0)) < 0 ||
            audit_json_set(r, "limits", TAKE_PTR(limits)) < 0 ||
            audit_json_set(r, "degraded", build_degraded(ctx)) < 0 ||
            audit_json_set(r, "tier",
                           p ? json_string(ENUM_NAME(tier_names, p->tier)) : json_null()) < 0 ||
            audit_json_set(r, "message", message ? audit_json_string(message) : json_null()) < 0)
                return NULL;
        return TAKE_PTR(r);
}

int audit_record_set_identity(json_t *record, const char *hostname, uid_t uid, gid_t gid,
                              const char *user) {
        _cleanup_json_ json_t *who = json_object();

        if (!who || audit_json_set(who, "uid", audit_json_u64(uid)) < 0 ||
            audit_json_set(who, "gid", audit_json_u64(gid)) < 0 ||
            audit_json_set(who, "name", audit_json_string(user)) < 0)
                return -ENOMEM;
        if (audit_json_set(record, "user", TAKE_PTR(who)) < 0 ||
            audit_json_set(record, "host", audit_json_string(hostname)) < 0)
                return -ENOMEM;
        return 0;
}

json_t *audit_record_build_recovery(uint64_t now_ns, uint64_t torn_bytes,
                                    const char *torn_sha256_hex) {
        _cleanup_json_ json_t *r = json_object();
        _cleanup_json_ json_t *torn = json_object();
        char when[40];

        audit_time_format(now_ns, when);
        if (!r || !torn || audit_json_set(torn, "bytes", audit_json_u64(torn_bytes)) < 0 ||
            audit_json_set(torn, "sha256", json_string(torn_sha256_hex)) < 0 ||
            audit_json_set(r, "schema", json_integer(AUDIT_SCHEMA_VERSION)) < 0 ||
            audit_json_set(r, "type", json_string("recovery")) < 0 ||
            audit_json_set(r, "time", json_string(when)) < 0 ||
            audit_json_set(r, "moat_version", json_string(MOAT_VERSION)) < 0 ||
            audit_json_set(r, "torn", TAKE_PTR(torn)) < 0)
                return NULL;
        return TAKE_PTR(r);
}

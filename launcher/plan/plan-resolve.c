/* SPDX-License-Identifier: MIT */
/* PURE. resolve(): (Profile, Policy, HostFacts) -> Plan, with no system call at all. The tier
 * only ever climbs: it starts at the profile's fixed isolation (or sandbox) and every fired
 * rule may raise it. A run that cannot happen is a plan with refused = true and a sentence
 * that says what would make it run; it is never quietly run at a lower tier. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "basic/macros.h"
#include "basic/strv.h"
#include "plan-internal.h"

static bool has_controller(char *const *l, const char *c) {
        return strv_contains(l, c);
}

/* host.h's cgroup_layout_to_string() lives in the host library; the pure one names them itself. */
static const char *layout_name(CgroupLayout l) {
        switch (l) {
        case CGROUP_LAYOUT_V1:
                return "v1";
        case CGROUP_LAYOUT_HYBRID:
                return "hybrid";
        case CGROUP_LAYOUT_V2:
                return "v2";
        default:
                return "none";
        }
}

static void findings_limits(const Profile *pr, const HostFacts *h, PlanFindings *f) {
        char need[64] = ""; /* the v2 controllers asked for, for the reason */
        size_t n = 0, n_need = 0;
        bool v2 = h->cgroup_v2_writable, v1 = h->cgroup_v1_writable;
        const struct {
                bool asked;
                const char *v1, *v2; /* the controller each layout needs, NULL: none */
        } limits[] = {
                { pr->resources.memory > 0, "memory", "memory" },
                { pr->resources.pids > 0, "pids", "pids" },
                { pr->resources.cpus_milli > 0, "cpu", "cpu" },
                /* v2 accounts CPU time in every cgroup's cpu.stat, with or without a controller */
                { pr->resources.cpu_time_ms > 0, "cpuacct", NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(limits); i++) {
                if (!limits[i].asked)
                        continue;
                n++;
                v1 = v1 && has_controller(h->cgroup_v1_controllers, limits[i].v1);
                if (!limits[i].v2)
                        continue;
                v2 = v2 && has_controller(h->cgroup_v2_controllers, limits[i].v2);
                snprintf(need + strlen(need), sizeof(need) - strlen(need), "%s%s",
                         need[0] ? ", " : "", limits[i].v2);
                n_need++;
        }
        f->limits_asked = n > 0;
        if (!f->limits_asked) {
                f->mechanism = CGROUP_MECH_NONE;
                return;
        }
        if (v2)
                f->mechanism = CGROUP_MECH_V2;
        else if (v1)
                f->mechanism = CGROUP_MECH_V1;
        else {
                f->mechanism = CGROUP_MECH_RLIMIT;
                snprintf(f->mechanism_reason, sizeof(f->mechanism_reason),
                         "no writable cgroup v2 subtree%s%s%s%s (layout %s)%s",
                         n_need ? " with the " : "", need,
                         n_need == 0  ? ""
                         : n_need > 1 ? " controllers"
                                      : " controller",
                         n_need ? " delegated" : "", layout_name(h->cgroup_layout),
                         h->is_root ? ", and the v1 controllers are not writable"
                                    : ", and v1 cgroups need root");
                if (pr->resources.enforce == ENFORCE_REQUIRED) {
                        f->missing[MISSING_LIMITS] = true;
                        snprintf(f->reason[MISSING_LIMITS], sizeof(f->reason[0]), "%s",
                                 f->mechanism_reason);
                }
        }
}

/* Whether the AppArmor profile a plan names is in the loaded policy. moat's own names ("moat",
 * "moat-*") are judged from the loaded list; facts that predate the list know moat-default
 * only. Other names are the site's: the exec transition fails closed when one is missing. */
static bool apparmor_profile_loaded(const HostFacts *h, const char *name) {
        if (strcmp(name, "moat") != 0 && strncmp(name, "moat-", strlen("moat-")) != 0)
                return true;
        if (!h->apparmor_moat_profiles)
                return strcmp(name, "moat-default") == 0 && h->apparmor_moat_loaded;
        return strv_contains(h->apparmor_moat_profiles, name);
}

static void findings_mac(const Profile *pr, const HostFacts *h, PlanFindings *f) {
        char why[256] = "";
        bool asked = pr->mac.apparmor || pr->mac.selinux;

        if (!asked) {
                f->mac_status = CONTROL_NOT_APPLICABLE;
                return;
        }
        if (pr->mac.apparmor) {
                snprintf(f->mac_control, sizeof(f->mac_control), "AppArmor profile '%s'",
                         pr->mac.apparmor);
                if (!h->apparmor_enabled)
                        snprintf(why, sizeof(why), "AppArmor is not enabled on this host");
                else if (!apparmor_profile_loaded(h, pr->mac.apparmor))
                        snprintf(why, sizeof(why),
                                 "AppArmor profile '%s' is not loaded; moat policy install loads "
                                 "moat's profiles",
                                 pr->mac.apparmor);
        } else {
                snprintf(f->mac_control, sizeof(f->mac_control), "SELinux context '%s'",
                         pr->mac.selinux);
                if (h->selinux_mode < 0)
                        snprintf(why, sizeof(why), "SELinux is disabled on this host");
                else if (h->selinux_mode == 0)
                        snprintf(why, sizeof(why), "SELinux is permissive on this host");
                else if (strstr(pr->mac.selinux, "moat_") && !h->selinux_moat_loaded)
                        snprintf(why, sizeof(why),
                                 "moat's SELinux module is not loaded; moat policy install "
                                 "loads it");
        }
        if (!why[0]) {
                f->mac_status = pr->mac.enforce == ENFORCE_REQUIRED ? CONTROL_REQUIRED
                                                                    : CONTROL_BEST_EFFORT;
                return;
        }
        if (pr->mac.enforce == ENFORCE_REQUIRED) {
                f->mac_status = CONTROL_REQUIRED;
                f->missing[MISSING_MAC] = true;
                snprintf(f->reason[MISSING_MAC], sizeof(f->reason[0]), "%s", why);
        } else {
                f->mac_status = CONTROL_DEGRADED;
                snprintf(f->mac_reason, sizeof(f->mac_reason), "%s; runs without %s", why,
                         f->mac_control);
        }
}

static bool version_below(const char *want, unsigned major, unsigned minor) {
        unsigned wmaj = 0, wmin = 0;
        /* An unparsable or unknown version fails closed: treated as missing. */
        if (!want || sscanf(want, "%u.%u", &wmaj, &wmin) < 1)
                return true;
        if (major == 0)
                return true;
        return major < wmaj || (major == wmaj && minor < wmin);
}

void plan_findings(const Profile *pr, const HostFacts *h, PlanFindings *f) {
        *f = (PlanFindings){};
        findings_limits(pr, h, f);
        findings_mac(pr, h, f);
        if (pr->mac.landlock == LANDLOCK_REQUIRED && h->landlock_abi <= 0) {
                f->missing[MISSING_LANDLOCK] = true;
                snprintf(f->reason[MISSING_LANDLOCK], sizeof(f->reason[0]),
                         "Landlock ABI %d on kernel %s", h->landlock_abi,
                         h->kernel_release[0] ? h->kernel_release : "unknown");
        }
        if (!h->userns_usable) {
                f->missing[MISSING_USERNS] = true;
                snprintf(f->reason[MISSING_USERNS], sizeof(f->reason[0]), "%s",
                         h->userns_reason ? h->userns_reason
                                          : "user namespaces cannot be created by this caller");
        }
        if (!h->seccomp_filter) {
                f->missing[MISSING_SECCOMP] = true;
                snprintf(f->reason[MISSING_SECCOMP], sizeof(f->reason[0]),
                         "no seccomp filter mode");
        }
        f->kernel_version_missing =
                pr->kernel.min_version &&
                version_below(pr->kernel.min_version, h->kernel_major, h->kernel_minor);
}

/* The values a fired rule's sentence may name. */
typedef struct RuleMatch {
        char *capability;
        char *control;
        char *reason;
} RuleMatch;

static void rule_match_done(RuleMatch *m) {
        free(m->capability);
        free(m->control);
        free(m->reason);
        *m = (RuleMatch){};
}

static int rule_fires(const PolicyRule *rule, const Profile *pr, const PlanFindings *f,
                      RuleMatch *m, bool *ret) {
        const PolicyCondition *c = &rule->when;
        int r;

        *ret = false;
        if (c->trust_at_least >= 0 && (int) pr->trust < c->trust_at_least)
                return 0;
        if (c->kernel_needs_any && strv_length(pr->kernel.needs) == 0)
                return 0;
        if (c->kernel_needs) {
                bool any = false;
                STRV_FOREACH (n, c->kernel_needs)
                        any = any || strv_contains(pr->kernel.needs, *n);
                if (!any)
                        return 0;
        }
        if (c->kernel_version_missing && !f->kernel_version_missing)
                return 0;
        if (c->capabilities) {
                STRV_FOREACH (cap, c->capabilities)
                        if (strv_contains(pr->capabilities, *cap) &&
                            (r = plan_append(&m->capability, ", ", "%s", *cap)) < 0)
                                return r;
                if (!m->capability)
                        return 0;
        }
        if (c->raw_devices && strv_length(pr->devices) == 0)
                return 0;
        if (c->full_os && !pr->os.full_os)
                return 0;
        if (c->missing_controls) {
                for (int i = 0; i < _MISSING_MAX; i++) {
                        if (!f->missing[i] ||
                            !strv_contains(c->missing_controls, missing_control_to_string(i)))
                                continue;
                        r = plan_append(&m->control, ", ", "%s",
                                        i == MISSING_MAC ? f->mac_control
                                                         : missing_control_to_string(i));
                        if (r >= 0)
                                r = plan_append(&m->reason, "; ", "%s", f->reason[i]);
                        if (r < 0)
                                return r;
                }
                if (!m->control)
                        return 0;
        }
        if (c->network >= 0 && (int) pr->network != c->network)
                return 0;
        *ret = true;
        return 0;
}

static int join_strv(char *const *l, char **ret) {
        _cleanup_free_ char *s = NULL;
        STRV_FOREACH (x, l) {
                int r = plan_append(&s, ", ", "%s", *x);
                if (r < 0)
                        return r;
        }
        *ret = s ? TAKE_PTR(s) : strdup("none");
        return *ret ? 0 : -ENOMEM;
}

/* Replace {name} placeholders; an unknown placeholder stays as written. */
static int fill_sentence(const char *tmpl, const Profile *pr, const HostFacts *h,
                         const RuleMatch *m, char **ret) {
        _cleanup_free_ char *out = NULL, *needs = NULL, *devices = NULL;
        int r;

        r = join_strv(pr->kernel.needs, &needs);
        if (r >= 0)
                r = join_strv(pr->devices, &devices);
        if (r < 0)
                return r;
        const struct {
                const char *key, *value;
        } vars[] = {
                { "trust", trust_to_string(pr->trust) },
                { "need", needs },
                { "min_version", pr->kernel.min_version ? pr->kernel.min_version : "none" },
                { "host_kernel", h->kernel_release[0] ? h->kernel_release : "an unknown kernel" },
                { "capability", m->capability ? m->capability : "" },
                { "device", devices },
                { "control", m->control ? m->control : "" },
                { "reason", m->reason ? m->reason : "" },
                { "network", network_mode_to_string(pr->network) },
        };

        /* One stream, not a string per character: this runs for every rule that fires. */
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);
        if (!f)
                return -ENOMEM;
        for (const char *s = tmpl; *s;) {
                const char *close = *s == '{' ? strchr(s, '}') : NULL;
                bool done = false;
                for (size_t i = 0; close && i < ELEMENTSOF(vars); i++)
                        if ((size_t) (close - s - 1) == strlen(vars[i].key) &&
                            strncmp(s + 1, vars[i].key, strlen(vars[i].key)) == 0) {
                                fputs(vars[i].value ? vars[i].value : "", f);
                                s = close + 1;
                                done = true;
                                break;
                        }
                if (!done)
                        fputc(*s++, f);
        }
        r = ferror(f) ? -ENOMEM : 0;
        if (fclose(f) != 0 || r < 0 || !out)
                return -ENOMEM;
        *ret = TAKE_PTR(out);
        return 0;
}

int plan_refuse(Plan *p, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        p->refused = true;
        return plan_append(&p->refusal, "\n", "%s", s);
}

static int apply_rules(Plan *p, const Profile *pr, const Policy *pol, const HostFacts *h,
                       const PlanFindings *f) {
        char where[300];
        int r;

        if (pr->isolation != TIER_AUTO) {
                _cleanup_free_ char *s = NULL;
                plan_format_pos(&pr->isolation_pos, where, sizeof(where));
                if (asprintf(&s, "the profile fixes isolation: %s%s%s%s",
                             tier_to_string(pr->isolation), where[0] ? " (" : "", where,
                             where[0] ? ")" : "") < 0)
                        return -ENOMEM;
                r = plan_add_decision(p, "profile-isolation", s, pr->isolation, false);
                if (r < 0)
                        return r;
                p->tier = pr->isolation;
        }

        for (size_t i = 0; pol && i < pol->n_rules; i++) {
                const PolicyRule *rule = &pol->rules[i];
                _cleanup_free_ char *sentence = NULL, *remedy = NULL;
                RuleMatch m = {};
                bool fires;

                r = rule_fires(rule, pr, f, &m, &fires);
                if (r >= 0 && fires)
                        r = fill_sentence(rule->sentence, pr, h, &m, &sentence);
                if (r >= 0 && fires && rule->remedy)
                        r = fill_sentence(rule->remedy, pr, h, &m, &remedy);
                rule_match_done(&m);
                if (r < 0)
                        return r;
                if (!fires)
                        continue;
                r = plan_add_decision(p, rule->id, sentence,
                                      rule->refuse ? TIER_SANDBOX : rule->min_tier, rule->refuse);
                if (r < 0)
                        return r;
                if (rule->refuse) {
                        r = plan_refuse(p, "rule '%s' refuses the run: %s.%s%s", rule->id, sentence,
                                        remedy ? " To run it: " : "", remedy ? remedy : "");
                        if (r < 0)
                                return r;
                        continue;
                }
                /* Climb only: a rule never lowers what another rule or the profile asked for. */
                if (rule->min_tier > p->tier)
                        p->tier = rule->min_tier;
                if (rule->min_tier > pr->max_tier) {
                        plan_format_pos(&pr->max_tier_pos, where, sizeof(where));
                        r = plan_refuse(p,
                                        "rule '%s' needs tier %s (%s), but the profile allows at "
                                        "most %s%s%s%s.%s%s",
                                        rule->id, tier_to_string(rule->min_tier), sentence,
                                        tier_to_string(pr->max_tier),
                                        where[0] ? " (max_tier at " : "", where,
                                        where[0] ? ")" : "", remedy ? " To run it: " : "",
                                        remedy ? remedy : "");
                        if (r < 0)
                                return r;
                }
        }
        if (p->n_decisions == 0)
                return plan_add_decision(p, "default",
                                         "no rule asks for more than the sandbox tier",
                                         TIER_SANDBOX, false);
        return 0;
}

bool plan_host_can_run_tier(const HostFacts *h, const Profile *pr, Tier t,
                            const char **ret_reason) {
        /* host_can_run_tier() decides; the one thing a profile adds is its own guest kernel,
         * which stands in for a host kernel that the probe did not find. */
        if (t == TIER_VM && pr && pr->vm.kernel && !h->guest_kernel) {
                HostFacts with_kernel = *h; /* shallow: only read, never freed */
                with_kernel.guest_kernel = pr->vm.kernel;
                with_kernel.vm_reason = NULL;
                return host_can_run_tier(&with_kernel, t, ret_reason);
        }
        return host_can_run_tier(h, t, ret_reason);
}

/* A required resources.disk needs a bound on the total a writable bind receives: a project
 * quota (plan_disk_mechanism(), in the vm tier on the shares QEMU writes). Without one no tier
 * change would give one: refused directly, never run under the per-file RLIMIT_FSIZE in its
 * place. */
static int check_disk(Plan *p, const Profile *pr, const HostFacts *h) {
        DiskMechanism m = plan_disk_mechanism(pr, h);
        char where[300];

        if (pr->resources.enforce != ENFORCE_REQUIRED || m != DISK_MECH_RLIMIT_FSIZE)
                return 0;
        plan_format_pos(&pr->resources.pos, where, sizeof(where));
        return plan_refuse(p,
                           "required control resources.disk cannot be enforced on this host: no "
                           "project quota for the writable binds%s (%s), and RLIMIT_FSIZE bounds "
                           "each file, not the total; run as root on a file system with project "
                           "quotas enforced, mark resources enforce: best-effort to run with the "
                           "per-file bound, or make every bind read-only%s%s%s",
                           p->tier == TIER_VM ? ", which QEMU writes as the vm tier's shares" : "",
                           h->project_quota_reason ? h->project_quota_reason : "not probed",
                           where[0] ? " (" : "", where, where[0] ? ")" : "");
}

/* The vm tier's guest applies AppArmor profiles only (the guest init loads the profile and
 * moves the command into it); no guest policy carries an SELinux context. A required context
 * in the vm tier is refused, never run without it. */
static int check_vm_selinux(Plan *p, const Profile *pr) {
        if (p->tier != TIER_VM || !pr->mac.selinux || pr->mac.apparmor ||
            pr->mac.enforce != ENFORCE_REQUIRED)
                return 0;
        return plan_refuse(p,
                           "required SELinux context '%s' cannot be enforced in the vm tier (the "
                           "guest applies AppArmor profiles only); load moat's SELinux module on "
                           "an SELinux host (moat policy install), or name an AppArmor profile",
                           pr->mac.selinux);
}

static int check_runnable(Plan *p, const Profile *pr, const HostFacts *h, const PlanFindings *f) {
        const char *why;
        int r;

        if (pr->isolation != TIER_AUTO && pr->isolation > pr->max_tier) {
                r = plan_refuse(p, "the profile fixes isolation %s above its own max_tier %s",
                                tier_to_string(pr->isolation), tier_to_string(pr->max_tier));
                if (r < 0)
                        return r;
        }
        if (!plan_host_can_run_tier(h, pr, p->tier, &why)) {
                r = plan_refuse(p, "tier %s cannot run on this host: %s", tier_to_string(p->tier),
                                why);
                if (r < 0)
                        return r;
        }
        if ((r = check_disk(p, pr, h)) < 0 || (r = check_vm_selinux(p, pr)) < 0)
                return r;
        /* Fail closed even under a policy that lacks the missing-control rules: a shared-kernel
         * tier never starts with a required control it cannot apply. */
        for (int i = 0; p->tier != TIER_VM && i < _MISSING_MAX; i++)
                if (f->missing[i]) {
                        r = plan_refuse(p,
                                        "required control %s cannot be enforced on this host (%s), "
                                        "and no rule moved "
                                        "the run to a tier that can",
                                        missing_control_to_string(i), f->reason[i]);
                        if (r < 0)
                                return r;
                }
        return 0;
}

static int copy_inputs(Plan *p, const Profile *pr, const Policy *pol) {
        p->trust = pr->trust;
        p->env_clear = pr->env.clear;
        memcpy(p->profile_digest, pr->digest, sizeof(p->profile_digest));
        if (pol)
                memcpy(p->policy_digest, pol->digest, sizeof(p->policy_digest));
        if (pr->name && !(p->profile_name = strdup(pr->name)))
                return -ENOMEM;
        if (pr->path && !(p->profile_path = strdup(pr->path)))
                return -ENOMEM;
        if (pol && pol->files && !(p->policy_files = strv_copy(pol->files)))
                return -ENOMEM;
        if (pr->env.allow && !(p->env_allow = strv_copy(pr->env.allow)))
                return -ENOMEM;
        if (pr->env.set && !(p->env_set = strv_copy(pr->env.set)))
                return -ENOMEM;
        return 0;
}

/* host_namespaces is a permission for containers (moat oci), whose spec may leave a namespace
 * out; moat run has no spec and makes every namespace its own. Said in the why chain, with what
 * the site policy takes away. */
static int note_host_namespaces(Plan *p, const Profile *pr, const Policy *pol) {
        _cleanup_free_ char *list = NULL, *cut = NULL, *sentence = NULL;
        char where[300];

        if (!pr->host_namespaces || !pr->host_namespaces[0])
                return 0;
        for (size_t i = 0; pr->host_namespaces[i]; i++) {
                bool allowed = !pol || !pol->host_namespaces.set ||
                               strv_contains(pol->host_namespaces.allow, pr->host_namespaces[i]);
                if (plan_append(allowed ? &list : &cut, ", ", "%s", pr->host_namespaces[i]) < 0)
                        return -ENOMEM;
        }
        plan_format_pos(&pr->host_namespaces_list_pos, where, sizeof(where));
        if (asprintf(&sentence,
                     "host_namespaces (%s): a moat oci container whose spec leaves out %s shares "
                     "the host's%s%s%s; moat run makes every namespace its own",
                     where, list ? list : "nothing", cut ? " (the site policy forbids " : "",
                     cut ? cut : "", cut ? ")" : "") < 0) {
                sentence = NULL;
                return -ENOMEM;
        }
        return plan_add_decision(p, "host-namespaces", sentence, TIER_SANDBOX, false);
}

int plan_resolve(const Profile *profile, const Policy *policy, const HostFacts *host, Plan **ret) {
        _cleanup_plan_ Plan *p = NULL;
        PlanFindings f;
        int r;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->tier = TIER_SANDBOX;
        plan_findings(profile, host, &f);

        r = copy_inputs(p, profile, policy);
        if (r >= 0)
                r = apply_rules(p, profile, policy, host, &f);
        if (r >= 0)
                r = note_host_namespaces(p, profile, policy);
        if (r >= 0)
                r = check_runnable(p, profile, host, &f);
        if (r >= 0)
                r = plan_build_sandbox(p, profile, host, &f);
        if (r >= 0)
                r = plan_build_network(p, profile, policy, host);
        if (r >= 0)
                r = plan_build_seccomp(p, profile, policy, host);
        if (r >= 0)
                r = plan_build_vm(p, profile, host);
        if (r >= 0)
                r = plan_build_system(p, profile, host);
        if (r >= 0)
                r = plan_build_controls(p, profile, host, &f);
        if (r >= 0)
                r = plan_build_reachable(p, profile, host);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

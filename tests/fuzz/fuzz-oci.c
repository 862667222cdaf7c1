/* SPDX-License-Identifier: MIT */
/* `moat oci create` and `explain` on arbitrary bytes: config.json, written by whoever wrote the
 * pod or the container (containerd and CRI-O pass it on), through oci_spec_parse(),
 * oci_plan_build() and oci_plan_to_json(); a namespace path the plan joins then turns out to be
 * the host's (oci_plan_share_host()), and an exec's process.json goes through
 * oci_process_check(). Nothing here touches the host: the profiles, the policies and the host
 * facts are the source tree's (tests/fixtures/hosts, parsed with the host-facts loader), and an
 * io.moat.profile annotation is only looked up among the profiles listed below.
 *
 * Input: the first byte picks the handler's profile, the host and the site policy (below); the
 * rest up to the first NUL byte is config.json; what follows a NUL is the exec's process.json
 * (without one, the spec's own process is exec'd).
 *
 * Besides memory safety this checks what the rules of oci-plan.h promise for any spec: an error
 * or refusal says why; a plan that is not refused runs in the sandbox tier, keeps no capability
 * and no limit beyond the handler's profile, shares a host namespace only when the profile and
 * the site policy allow it (never the mount namespace) and joins no mount, cgroup or time
 * namespace; the exec process of a container gets its uid and cwd rules. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/strv.h"
#include "fuzz.h"
#include "host/host.h"
#include "oci/oci-plan.h"
#include "plan/plan-internal.h"
#include "plan/plan.h"
#include "policy/policy.h"
#include "profile/egress.h"
#include "profile/profile.h"

#pragma weak oci_spec_parse
#pragma weak oci_spec_annotation
#pragma weak oci_namespace_to_string
#pragma weak oci_plan_build
#pragma weak oci_plan_free
#pragma weak oci_plan_to_json
#pragma weak oci_plan_share_host
#pragma weak oci_process_check
#pragma weak oci_process_done
#pragma weak profile_load
#pragma weak profile_free
#pragma weak policy_load
#pragma weak policy_free
#pragma weak host_facts_from_json_buffer
#pragma weak host_facts_done
#pragma weak capability_to_name
#pragma weak egress_rule_covers

const char *fuzz_missing_function(void) {
        static const struct {
                const char *name;
                const void *fn;
        } needed[] = {
                { "oci_spec_parse", (const void *) oci_spec_parse },
                { "oci_spec_annotation", (const void *) oci_spec_annotation },
                { "oci_namespace_to_string", (const void *) oci_namespace_to_string },
                { "oci_plan_build", (const void *) oci_plan_build },
                { "oci_plan_free", (const void *) oci_plan_free },
                { "oci_plan_to_json", (const void *) oci_plan_to_json },
                { "oci_plan_share_host", (const void *) oci_plan_share_host },
                { "oci_process_check", (const void *) oci_process_check },
                { "oci_process_done", (const void *) oci_process_done },
                { "profile_load", (const void *) profile_load },
                { "profile_free", (const void *) profile_free },
                { "policy_load", (const void *) policy_load },
                { "policy_free", (const void *) policy_free },
                { "host_facts_from_json_buffer", (const void *) host_facts_from_json_buffer },
                { "host_facts_done", (const void *) host_facts_done },
                { "capability_to_name", (const void *) capability_to_name },
                { "egress_rule_covers", (const void *) egress_rule_covers },
        };
        for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++)
                if (!needed[i].fn)
                        return needed[i].name;
        return NULL;
}

/* Handler profiles: the shipped ones and the golden tests' own (tests/golden/oci/profiles).
 * The same names are what an io.moat.profile annotation may load; any other name fails to
 * load, as a missing profile does in cmd-oci.c, which refuses a path or a .yaml file unread. */
static const char *const profiles[] = {
        "ci-untrusted", "pod-host-network", "network-client",       "hostile",
        "minimal",      "host-pid",         "host-pid-no-landlock", "build",
};
#define N_PROFILES (sizeof(profiles) / sizeof(profiles[0]))
static const char *const escalation_only[] = { "grader", "kernel-lab", "system-container",
                                               "egress-narrower", "egress-wider" };

/* Hosts (tests/fixtures/hosts): the golden tests' two and root's, as under containerd. */
static const char *const host_files[] = { "modern", "no-landlock", "this-host-root" };
#define N_HOSTS (sizeof(host_files) / sizeof(host_files[0]))
static HostFacts hosts[N_HOSTS];

/* Site policies: none, and the golden tests' (tests/golden/oci/policies). */
static const char *const policy_files[] = { "", "forbid-host-namespaces", "host-network-only" };
#define N_POLICIES (sizeof(policy_files) / sizeof(policy_files[0]))
static Policy *policies[N_POLICIES];

static bool initialized;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        const char *src;
        char path[4096], buf[1024];
        MoatError error = {};

        fuzz_require_linked();
        fuzz_setup_environment();
        src = fuzz_source_dir();
        /* As tests/golden/oci/oci-golden.py: the test profiles first, the shipped ones through
         * MOAT_DATA_DIR. */
        snprintf(path, sizeof(path), "%s/tests/golden/oci/profiles", src);
        setenv("MOAT_PROFILE_PATH", path, 1);

        for (size_t i = 0; i < N_HOSTS; i++) {
                size_t len;
                snprintf(path, sizeof(path), "%s/tests/fixtures/hosts/%s.json", src, host_files[i]);
                char *text = fuzz_read_all(path, &len);
                if (host_facts_from_json_buffer(text, len, path, &hosts[i], &error) < 0) {
                        fprintf(stderr, "fuzz: host facts %s: %s\n", path,
                                moat_error_format(&error, buf, sizeof(buf)));
                        exit(1);
                }
                free(text);
        }
        for (size_t i = 0; i < N_POLICIES; i++) {
                char dir[4096], site[4096] = "";
                snprintf(dir, sizeof(dir), "%s/policies", src);
                if (policy_files[i][0])
                        snprintf(site, sizeof(site), "%s/tests/golden/oci/policies/%s.yaml", src,
                                 policy_files[i]);
                if (policy_load(dir, site, &policies[i], &error) < 0) {
                        fprintf(stderr, "fuzz: cannot load the policy %s%s: %s\n", dir, site,
                                moat_error_format(&error, buf, sizeof(buf)));
                        exit(1);
                }
        }
        /* Every handler profile must load, or the harness would fuzz nothing. */
        for (size_t i = 0; i < N_PROFILES; i++) {
                Profile *p = NULL;
                if (profile_load(profiles[i], &p, &error) < 0) {
                        fprintf(stderr, "fuzz: cannot load the profile %s: %s\n", profiles[i],
                                moat_error_format(&error, buf, sizeof(buf)));
                        exit(1);
                }
                profile_free(p);
        }
        initialized = true;
        return 0;
}

static bool known_profile(const char *name) {
        for (size_t i = 0; i < N_PROFILES; i++)
                if (strcmp(profiles[i], name) == 0)
                        return true;
        for (size_t i = 0; i < sizeof(escalation_only) / sizeof(escalation_only[0]); i++)
                if (strcmp(escalation_only[i], name) == 0)
                        return true;
        return false;
}

static void check_json(const OciPlan *o) {
        json_t *j = oci_plan_to_json(o);
        FUZZ_CHECK(j);
        char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        FUZZ_CHECK(s);
        free(s);
        json_decref(j);
}

/* What a plan that runs may never exceed: the handler's profile as loaded (floor). */
static void check_plan(const OciPlan *o, const Profile *floor, const Policy *policy) {
        if (o->refused) {
                FUZZ_CHECK(o->refusal && o->refusal[0]);
                return;
        }
        const Plan *p = o->plan;
        FUZZ_CHECK(p);
        FUZZ_CHECK(!p->refused);
        FUZZ_CHECK(p->tier == TIER_SANDBOX);
        FUZZ_CHECK(o->root && o->root[0] == '/');
        FUZZ_CHECK(o->args && o->args[0]);
        FUZZ_CHECK(o->cwd && o->cwd[0] == '/');
        FUZZ_CHECK(p->sandbox.uid_inside == o->uid && p->sandbox.gid_inside == o->gid);

        for (size_t i = 0; i < p->sandbox.n_caps_keep; i++) {
                const char *name = capability_to_name(p->sandbox.caps_keep[i]);
                FUZZ_CHECK(name && strv_contains(floor->capabilities, name));
        }
        /* egress: the handler's network mode at most, each rule within one of its rules */
        FUZZ_CHECK(!p->egress.active || floor->network == NETWORK_OUTBOUND);
        for (size_t i = 0; p->egress.active && i < p->egress.n_allow; i++) {
                bool covered = false;
                for (size_t j = 0; j < floor->outbound.n_allow && !covered; j++)
                        covered =
                                egress_rule_covers(&floor->outbound.allow[j], &p->egress.allow[i]);
                FUZZ_CHECK(covered);
        }
#define LIMIT(pf, ff) FUZZ_CHECK(!floor->resources.ff || (p->resources.pf <= floor->resources.ff))
        LIMIT(memory, memory);
        LIMIT(pids, pids);
        LIMIT(cpus_milli, cpus_milli);
#undef LIMIT

        for (int ns = 0; ns < _OCI_NS_MAX; ns++) {
                if (o->host_ns[ns]) {
                        FUZZ_CHECK(o->host_ns_allowed[ns]);
                        FUZZ_CHECK(
                                strv_contains(floor->host_namespaces, oci_namespace_to_string(ns)));
                        FUZZ_CHECK(!policy->host_namespaces.set ||
                                   strv_contains(policy->host_namespaces.allow,
                                                 oci_namespace_to_string(ns)));
                }
                if (o->ns_path[ns])
                        FUZZ_CHECK(o->ns_path[ns][0] == '/');
        }
        FUZZ_CHECK(!o->host_ns[OCI_NS_MOUNT]);
        FUZZ_CHECK(!o->ns_path[OCI_NS_MOUNT] && !o->ns_path[OCI_NS_CGROUP] &&
                   !o->ns_path[OCI_NS_TIME]);
}

/* An exec into the container (`moat oci exec --process F`). */
static void check_exec(json_t *proc, const OciPlan *o) {
        OciProcess ep;
        char *refusal = NULL;
        MoatError error = {};

        int r = oci_process_check(proc, o, &ep, &refusal, &error);
        if (r < 0) {
                FUZZ_CHECK(r == -ENOMEM || moat_error_is_set(&error));
                FUZZ_CHECK(!refusal && !ep.args && !ep.env && !ep.cwd);
                return;
        }
        FUZZ_CHECK(ep.args && ep.args[0]);
        FUZZ_CHECK(ep.cwd && ep.cwd[0] == '/');
        if (refusal)
                FUZZ_CHECK(refusal[0]);
        free(refusal);
        oci_process_done(&ep);
}

/* create: a namespace joined by path turns out to be the host's. */
static void check_share_host(OciPlan *o) {
        for (int ns = 0; ns < _OCI_NS_MAX; ns++) {
                if (!o->ns_path[ns])
                        continue;
                bool allowed = o->host_ns_allowed[ns];
                char *refusal = NULL;
                int r = oci_plan_share_host(o, ns, "fuzz: the path is the host's", &refusal);
                FUZZ_CHECK(r == 0 || r == -EPERM || r == -ENOMEM);
                if (r == 0) {
                        FUZZ_CHECK(allowed && o->host_ns[ns] && !refusal);
                        FUZZ_CHECK(ns != OCI_NS_MOUNT);
                } else if (r == -EPERM)
                        FUZZ_CHECK(refusal && refusal[0]);
                free(refusal);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1 || !initialized)
                return 0;
        unsigned sel = data[0];
        const char *floor_name = profiles[sel % N_PROFILES];
        const HostFacts *host = &hosts[(sel / N_PROFILES) % N_HOSTS];
        const Policy *policy = policies[(sel / (N_PROFILES * N_HOSTS)) % N_POLICIES];
        const char *text = (const char *) data + 1;
        const char *nul = memchr(text, '\0', size - 1);
        size_t len = nul ? (size_t) (nul - text) : size - 1;
        MoatError error = {};
        json_t *spec = NULL, *proc = NULL;
        int r;

        if (oci_spec_parse(text, len, "config.json", &spec, &error) < 0) {
                FUZZ_CHECK(!spec && moat_error_is_set(&error));
                return 0;
        }
        FUZZ_CHECK(json_is_object(spec));
        if (nul) {
                json_error_t je;
                const char *ptext = nul + 1;
                proc = json_loadb(ptext, size - 1 - len - 1, JSON_REJECT_DUPLICATES, &je);
        }

        /* Two copies of the handler's profile: oci_plan_build() overlays the one it uses. */
        Profile *floor = NULL, *pristine = NULL, *esc = NULL;
        FUZZ_CHECK(profile_load(floor_name, &floor, &error) >= 0);
        FUZZ_CHECK(profile_load(floor_name, &pristine, &error) >= 0);

        char esc_error[600] = "";
        const char *want = oci_spec_annotation(spec, "io.moat.profile");
        if (want && strcmp(want, floor->name) != 0) {
                MoatError e2 = {};
                if (!known_profile(want))
                        snprintf(esc_error, sizeof(esc_error), "profile '%s' not found", want);
                else if (profile_load(want, &esc, &e2) < 0)
                        moat_error_format(&e2, esc_error, sizeof(esc_error));
        }

        OciPlan *o = NULL;
        r = oci_plan_build(spec, text, len, "/run/fuzz/bundle", floor, esc,
                           esc_error[0] ? esc_error : NULL, policy, host, &o, &error);
        FUZZ_CHECK(r >= 0 || r == -EINVAL || r == -ENOMEM);
        if (r < 0) {
                FUZZ_CHECK(r == -ENOMEM || moat_error_is_set(&error));
                profile_free(floor);
                profile_free(esc);
        } else {
                FUZZ_CHECK(o);
                o->profiles[0] = floor;
                o->profiles[1] = esc;
                check_plan(o, pristine, policy);
                check_json(o);
                if (!o->refused) {
                        check_exec(proc ?: json_object_get(spec, "process"), o);
                        check_share_host(o);
                        check_json(o);
                }
                oci_plan_free(o);
        }
        profile_free(pristine);
        json_decref(proc);
        json_decref(spec);
        return 0;
}

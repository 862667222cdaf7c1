/* SPDX-License-Identifier: MIT */
/* PURE. An OCI runtime spec (config.json, as containerd or CRI-O hand it to a runtime) combined
 * with the handler's profile into what `moat oci create` applies: the moat Plan of the profile
 * overlaid with the spec (the stricter of the two wins) plus what only a container has (the
 * image root, the process, namespaces joined by path, cgroupsPath, the spec's own seccomp
 * filter). Nothing here reads a file or calls the kernel: the caller loads config.json, the
 * profiles, the policy and the host facts.
 *
 * Rules (README.md "Kubernetes"; each one golden-tested in tests/golden/oci):
 *   - a namespace listed without a path is a new one (moat makes every namespace anyway); listed
 *     with a path it is joined (a CNI network namespace never: the container gets its own;
 *     under network: outbound no network namespace path at all: the proxy serves the
 *     container's own loopback, and a pod's network would bypass it, so that is refused);
 *     missing from the list it is the host's, refused unless the
 *     profile lists it in host_namespaces (network, pid, ipc, uts) and the site policy's
 *     host_namespaces does not forbid it; then the plan's control for it (netns, pidns, ipcns,
 *     utsns) is degraded, naming the profile key (pid: the host's /proc is bound, and only with
 *     Landlock's signal scope required);
 *   - root.path, relative to the bundle, is the image root, always read-only;
 *   - bind mounts from the kubelet's and containerd's pod directories become binds; any other
 *     host path must be listed in the profile's filesystem.bind (its mode wins when stricter);
 *   - capabilities: the engines' default set minus what the profile does not list; anything
 *     beyond the default set that the profile does not list is refused;
 *   - resources: the smaller of the profile's and the spec's limit; the spec's seccomp filter
 *     is applied on top of the profile's (both filters are loaded);
 *   - maskedPaths and readonlyPaths are added to moat's own; rlimits take the smaller value;
 *   - annotations io.moat.profile / io.moat.tier may only escalate: a profile weaker than the
 *     handler's (its outbound allowlist wider included), or a tier below what the plan needs,
 *     is refused; io.moat.profile names a profile of the search path, not a file (cmd-oci.c);
 *   - a plan that needs the system or vm tier is refused (no such runtime for pods yet);
 *   - a spec key moat does not know is refused, never skipped. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/error.h"
#include "plan/plan.h"

typedef enum OciNamespace {
        OCI_NS_PID,
        OCI_NS_NETWORK,
        OCI_NS_IPC,
        OCI_NS_UTS,
        OCI_NS_MOUNT,
        OCI_NS_USER,
        OCI_NS_CGROUP,
        OCI_NS_TIME,
        _OCI_NS_MAX,
} OciNamespace;

/* One line of "what the spec asked and what moat made of it", keyed by the spec or profile key
 * that decided it. */
typedef struct OciNote {
        char *key;      /* "mounts[6]", "capabilities", "linux.namespaces" */
        char *sentence; /* already filled in */
} OciNote;

typedef struct OciPlan {
        Plan *plan;         /* the profile's plan, overlaid with the spec */
        char *profile_name; /* the profile the plan was resolved from */
        bool from_annotation;
        uint8_t spec_digest[32]; /* SHA-256 of config.json as read */

        bool refused;
        char *refusal; /* first refusal, naming the profile key or the spec key */

        char *root;  /* absolute image root */
        char **args; /* process.args */
        char **env;  /* process.env (the workload's whole environment, profile env.set last) */
        char *cwd;   /* process.cwd, inside the container */
        uid_t uid;
        gid_t gid;
        bool terminal;
        bool has_oom_score_adj;
        int oom_score_adj;

        /* per namespace: joined by this path, or NULL = a new one */
        char *ns_path[_OCI_NS_MAX];
        /* the host's namespace is shared: missing from the spec (host_ns_allowed), or joined by
         * a path that turns out to be the host's (create checks, oci_plan_share_host()) */
        bool host_ns[_OCI_NS_MAX];
        /* what profile host_namespaces and the site policy together allow */
        bool host_ns_allowed[_OCI_NS_MAX];
        char *host_ns_origin;   /* "host_namespaces (FILE:LINE:COL)" of the profile, or NULL */
        char *cgroups_path;     /* linux.cgroupsPath, NULL = none given */
        uint64_t cpu_weight;    /* from cpu.shares (cgroup v2 conversion), 0 = default */
        uint64_t cpu_shares;    /* cpu.shares as given (cgroup v1), 0 = default */
        struct json_t *seccomp; /* the spec's own filter (validated), NULL = none */

        OciNote *notes;
        size_t n_notes;

        /* The plan points into its profile (SrcPos): the caller hands both profiles over to
         * the OciPlan after oci_plan_build(), and oci_plan_free() frees them. */
        Profile *profiles[2];
} OciPlan;

OciPlan *oci_plan_free(OciPlan *o);
static inline void oci_plan_freep(OciPlan **o) {
        *o = oci_plan_free(*o);
}
#define _cleanup_oci_plan_ __attribute__((cleanup(oci_plan_freep)))

/* Parse config.json; a syntax error names filename:line:column. */
int oci_spec_parse(const char *buf, size_t len, const char *filename, struct json_t **ret,
                   MoatError *error);
/* The value of annotation `key` in the spec, NULL when absent. */
const char *oci_spec_annotation(struct json_t *spec, const char *key);

/* Combine. `profile` is the handler's profile (the floor), `escalated` the profile named by the
 * io.moat.profile annotation when it differs and could be loaded (NULL otherwise; the caller
 * passes annotation_error when it could not). The chosen profile is modified in place (the
 * overlay). A spec that is not valid OCI (wrong type, unknown key) is an error (-EINVAL, error
 * names config.json and the key); a spec the profile forbids is an OciPlan with refused set.
 * Returns 0, -EINVAL or -ENOMEM. */
int oci_plan_build(struct json_t *spec, const char *config_text, size_t config_len,
                   const char *bundle, Profile *profile, Profile *escalated,
                   const char *annotation_error, const Policy *policy, const HostFacts *host,
                   OciPlan **ret, MoatError *error);

/* An exec into a running container (process.json of `exec --process`): args, env (the image's
 * process.env rules: the profile's env.set last), cwd. Never more than the container has: the
 * same uid and gid, capabilities beyond the engine's defaults and the plan's are refused (the
 * process gets the plan's), as are other AppArmor or SELinux labels. 0 with *ret_refusal NULL
 * or set (the reason, naming the key), -EINVAL (error set) or -ENOMEM. */
typedef struct OciProcess {
        char **args;
        char **env;
        char *cwd;
        bool terminal;
} OciProcess;
int oci_process_check(struct json_t *proc, const OciPlan *o, OciProcess *ret, char **ret_refusal,
                      MoatError *error);
void oci_process_done(OciProcess *p);

/* A namespace the spec joins by path is the host's (create compares it with its own): allowed
 * only when host_ns_allowed; then the plan says so as for a missing one. 0, -EPERM (not allowed;
 * *ret_refusal says why, naming the key) or -ENOMEM. */
int oci_plan_share_host(OciPlan *o, OciNamespace ns, const char *how, char **ret_refusal);

/* Stable JSON of the whole result (golden tests, `moat oci explain`). */
struct json_t *oci_plan_to_json(const OciPlan *o);
const char *oci_namespace_to_string(OciNamespace n);
/* The name of the namespace's file under /proc/PID/ns ("net" for network, "mnt" for mount). */
const char *oci_namespace_proc_name(OciNamespace n);
/* cgroup v2 cpu.weight from v1 cpu.shares, as runc and crun convert it (2..262144 -> 1..10000). */
uint64_t oci_cpu_weight_from_shares(uint64_t shares);

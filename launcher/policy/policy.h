/* SPDX-License-Identifier: MIT */
/* PURE. The site policy: escalation rules and seccomp syscall groups, as data.
 * Shipped: policies/escalation.yaml and policies/seccomp/<set>.yaml (MOAT_POLICIES_DIR).
 * A site file (/etc/moat/policy.yaml, or --policy FILE) is layered on top and may only
 * tighten: add rules, raise a rule's tier, turn a rule into a refusal, add denied syscalls.
 * An attempt to loosen (remove or lower a shipped rule) is an error naming file:line:column. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"
#include "profile/profile.h"

/* What a rule looks at. A rule fires when every set condition holds. */
typedef struct PolicyCondition {
        int trust_at_least;          /* -1 unset, else Trust */
        bool kernel_needs_any;       /* profile lists any kernel need */
        char **kernel_needs;         /* specific needs */
        bool kernel_version_missing; /* min_version above the host's kernel */
        char **capabilities;         /* profile keeps any of these */
        bool raw_devices;            /* profile asks for host device nodes */
        bool full_os;
        char **missing_controls; /* required controls the host cannot enforce:
                                         * "mac", "landlock", "limits", "userns", "seccomp" */
        int network;             /* -1 unset, else NetworkMode */
} PolicyCondition;

typedef struct PolicyRule {
        char *id;
        char *sentence; /* may contain {need}, {control}, {trust} placeholders */
        PolicyCondition when;
        Tier min_tier;
        bool refuse;              /* refuse outright */
        bool refuse_if_above_max; /* when min_tier > profile max_tier: refuse (always true today) */
        SrcPos pos;
        char *remedy;   /* what would make a refused run possible; placeholders too */
        bool from_site; /* added or tightened by a site file */
} PolicyRule;

/* Named argument filters. A call matches a filter when ANY of its alternatives matches; an
 * alternative matches when ALL its comparisons hold (one libseccomp rule per alternative, each
 * argument compared at most once). "not_in" comparisons are expanded into masked equalities
 * when the set is loaded, so consumers only see EQ, MASKED_EQ and NE. */
typedef enum SeccompCmpOp {
        SECCOMP_CMP_EQ,
        SECCOMP_CMP_MASKED_EQ, /* (arg & mask) == value */
        SECCOMP_CMP_NE,
        _SECCOMP_CMP_MAX,
} SeccompCmpOp;

#define SECCOMP_MATCH_MAX_CMPS 3

typedef struct SeccompArgCmp {
        unsigned arg;
        SeccompCmpOp op;
        uint64_t mask, value;
} SeccompArgCmp;

typedef struct SeccompMatch {
        SeccompArgCmp cmps[SECCOMP_MATCH_MAX_CMPS];
        unsigned n_cmps;
} SeccompMatch;

typedef struct SeccompFilter {
        char *name;
        char *description;
        SeccompMatch *matches;
        size_t n_matches;
        unsigned line;
} SeccompFilter;

typedef struct SeccompGroupEntry {
        char *syscall;    /* libseccomp name */
        int errno_value;  /* EPERM default, ENOSYS where libc needs a fallback */
        char *arg_filter; /* NULL or a named argument filter ("clone-ns-flags",
                                         * "ioctl-tiocsti", "socket-af-packet", ...) */
        unsigned line;
} SeccompGroupEntry;

typedef struct SeccompGroup {
        char *name;
        char *description;
        SeccompGroupEntry *entries;
        size_t n_entries;
        char *file;
        unsigned line;
} SeccompGroup;

typedef struct SeccompSet {
        char *name; /* "default" */
        char *file;
        char **groups;            /* group names denied by this set */
        SeccompGroup *all_groups; /* every group defined in the file */
        size_t n_all_groups;
        SeccompFilter *filters; /* every named argument filter defined in the file */
        size_t n_filters;
        char *description;
} SeccompSet;

typedef struct Policy {
        char **files;       /* shipped file(s), then site file(s) */
        uint8_t digest[32]; /* SHA-256 over the files' contents, in order */
        PolicyRule *rules;
        size_t n_rules;
        SeccompSet *seccomp_sets;
        size_t n_seccomp_sets;
        char **extra_denied_syscalls; /* site additions, applied to every profile: syscall
                                         * names or "@group" (resolved in the profile's base set,
                                         * else in "default") */
        SrcPos *extra_denied_pos;     /* parallel to extra_denied_syscalls */
        char *audit_log_path;         /* site override of the audit log location, or NULL */
        char *audit_hmac_key_file;    /* keyed chain when set */
        bool audit_journal;           /* mirror records to the journal */
        /* Site limits on network: outbound (site file "network:"); they only narrow. */
        struct {
                bool unrestricted; /* a profile may list "*" / 0.0.0.0/0 / ::/0 */
                SrcPos unrestricted_pos;
                struct EgressRule *max_allow; /* every profile rule must fall within one */
                size_t n_max_allow;           /* 0 with max_allow_set: nothing allowed */
                bool max_allow_set;
                uint16_t *forbidden_ports; /* no profile rule may include one */
                SrcPos *forbidden_pos;
                size_t n_forbidden_ports;
        } network;
        /* Site limit on the profiles' host_namespaces (site file "host_namespaces: [...]"):
         * the host namespaces any container may share. Unset: what each profile allows;
         * set and empty: none. */
        struct {
                bool set;
                char **allow; /* "network", "pid", "ipc", "uts" */
                SrcPos pos;
        } host_namespaces;
} Policy;

/* Load the shipped policy from dir (NULL = MOAT_POLICIES_DIR) and layer site_file on top
 * (NULL = /etc/moat/policy.yaml if it exists; "" = none). */
int policy_load(const char *dir, const char *site_file, Policy **ret, MoatError *error);
Policy *policy_free(Policy *p);
static inline void policy_freep(Policy **p) {
        *p = policy_free(*p);
}
#define _cleanup_policy_ __attribute__((cleanup(policy_freep)))
const SeccompSet *policy_find_seccomp_set(const Policy *p, const char *name);
const SeccompGroup *seccomp_set_find_group(const SeccompSet *s, const char *name);
const SeccompFilter *seccomp_set_find_filter(const SeccompSet *s, const char *name);

/* The pieces of policy_load(), on buffers (unit tests, fuzzing). A Policy starts zeroed
 * (calloc); "filename" is how errors and rule origins name the buffer. */
int policy_parse_rules_buffer(Policy *p, const char *buf, size_t len, const char *filename,
                              MoatError *error);
int policy_parse_seccomp_set_buffer(Policy *p, const char *buf, size_t len, const char *filename,
                                    MoatError *error);
/* Layer a site file over the shipped rules and sets already in p; loosening is an error. */
int policy_parse_site_buffer(Policy *p, const char *buf, size_t len, const char *filename,
                             MoatError *error);

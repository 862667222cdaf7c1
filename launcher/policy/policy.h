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
        int trust_at_least;             /* -1 unset, else Trust */
        bool kernel_needs_any;          /* profile lists any kernel need or min_version */
        char **kernel_needs;            /* specific needs */
        bool kernel_version_missing;    /* min_version above the host's kernel */
        char **capabilities;            /* profile keeps any of these */
        bool raw_devices;               /* profile asks for host device nodes */
        bool full_os;
        char **missing_controls;        /* required controls the host cannot enforce:
                                         * "mac", "landlock", "limits", "userns", "seccomp" */
} PolicyCondition;

typedef struct PolicyRule {
        char *id;
        char *sentence;                 /* may contain {need}, {control}, {trust} placeholders */
        PolicyCondition when;
        Tier min_tier;
        bool refuse;                    /* refuse outright */
        bool refuse_if_above_max;       /* when min_tier > profile max_tier: refuse (always true today) */
        SrcPos pos;
} PolicyRule;

typedef struct SeccompGroupEntry {
        char *syscall;                  /* libseccomp name */
        int errno_value;                /* EPERM default, ENOSYS where libc needs a fallback */
        char *arg_filter;               /* NULL or a named argument filter ("clone-ns-flags",
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
        char *name;                     /* "default" */
        char *file;
        char **groups;                  /* group names denied by this set */
        SeccompGroup *all_groups;       /* every group defined in the file */
        size_t n_all_groups;
} SeccompSet;

typedef struct Policy {
        char **files;                   /* shipped file(s), then site file(s) */
        uint8_t digest[32];             /* SHA-256 over the files' contents, in order */
        PolicyRule *rules;
        size_t n_rules;
        SeccompSet *seccomp_sets;
        size_t n_seccomp_sets;
        char **extra_denied_syscalls;   /* site additions, applied to every profile */
        char *audit_log_path;           /* site override of the audit log location, or NULL */
        char *audit_hmac_key_file;      /* keyed chain when set */
        bool audit_journal;             /* mirror records to the journal */
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

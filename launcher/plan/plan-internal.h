/* SPDX-License-Identifier: MIT */
/* PURE. Shared between the plan files; not part of the plan API. */
#pragma once

#include <stdarg.h>

#include "plan/plan.h"

/* Required controls the host cannot enforce; names as in PolicyCondition.missing_controls. */
typedef enum MissingControl {
        MISSING_MAC,
        MISSING_LANDLOCK,
        MISSING_LIMITS,
        MISSING_USERNS,
        MISSING_SECCOMP,
        _MISSING_MAX,
} MissingControl;

/* What resolve() works out from the profile and the host before it applies any rule. */
typedef struct PlanFindings {
        bool missing[_MISSING_MAX];
        char reason[_MISSING_MAX][256]; /* why each control is missing */
        char mac_control[128];          /* "AppArmor profile 'moat-default'" */
        ControlStatus mac_status;
        char mac_reason[512]; /* when degraded */
        bool limits_asked;
        CgroupMechanism mechanism;
        char mechanism_reason[256]; /* why no cgroup could be used */
        bool kernel_version_missing;
} PlanFindings;

const char *missing_control_to_string(MissingControl m);

/* Growable-array helpers; every one returns 0 or -ENOMEM. */
int plan_add_decision(Plan *p, const char *rule_id, const char *sentence, Tier min_tier,
                      bool refuse);
int plan_add_control(Plan *p, const char *name, ControlStatus status, const char *detail,
                     const char *reason);
int plan_add_controlf(Plan *p, const char *name, ControlStatus status, const char *reason,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int plan_add_mount(Plan *p, PlanMountKind kind, const char *source, const char *target,
                   unsigned flags, uint64_t size, const SrcPos *pos);
int plan_add_landlock_path(Plan *p, const char *path, uint64_t access);
int plan_add_rlimit(Plan *p, int resource, uint64_t soft, uint64_t hard);
int plan_add_reachable(Plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Mark the plan refused and add one line to the refusal. */
int plan_refuse(Plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append to a heap string, joining with sep when it is not empty. */
int plan_append(char **s, const char *sep, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* The distinct groups of sc's rules in the order they first appear, joined by sep, as
 * plan_append() would join them; *ret NULL when there is no rule. */
int plan_seccomp_groups_join(const PlanSeccomp *sc, const char *sep, char **ret);

void plan_findings(const Profile *profile, const HostFacts *host, PlanFindings *f);
int plan_build_seccomp(Plan *p, const Profile *profile, const Policy *policy,
                       const HostFacts *host);
int plan_build_sandbox(Plan *p, const Profile *profile, const HostFacts *host,
                       const PlanFindings *f);
int plan_build_vm(Plan *p, const Profile *profile, const HostFacts *host);
int plan_build_system(Plan *p, const Profile *profile, const HostFacts *host);
int plan_build_controls(Plan *p, const Profile *profile, const HostFacts *host,
                        const PlanFindings *f);
int plan_build_network(Plan *p, const Profile *profile, const Policy *policy,
                       const HostFacts *host);
int plan_controls_network(Plan *p);
int plan_build_reachable(Plan *p, const Profile *profile, const HostFacts *host);

/* host_can_run_tier(), with the profile's own vm kernel standing in for a missing host one. */
bool plan_host_can_run_tier(const HostFacts *h, const Profile *profile, Tier t,
                            const char **ret_reason);

/* RLIMIT_NPROC bounds the sandbox's own tasks on this host (kernel >= 5.14, caller not root). */
bool plan_nproc_bounds_sandbox(const HostFacts *host);
/* How resources.disk is bounded, in either tier (DISK_MECH_NONE without a disk limit). */
DiskMechanism plan_disk_mechanism(const Profile *profile, const HostFacts *h);
/* Every filesystem right of a Landlock ABI. */
uint64_t plan_landlock_fs_rights(int abi);
/* The rule list alone, for the seccomp listing. */
struct json_t *plan_seccomp_rules_to_json(const PlanSeccomp *sc);
int capability_from_name(const char *name);
const char *capability_to_name(int cap);
const char *plan_mount_kind_to_string(PlanMountKind k);
const char *seccomp_action_to_string(SeccompAction a);
const char *cgroup_mechanism_to_string(CgroupMechanism m);
const char *disk_mechanism_to_string(DiskMechanism m);
const char *rlimit_to_name(int resource);
/* "1 GiB", "512 MiB", "1536 KiB", "17 B" */
void plan_format_bytes(uint64_t bytes, char *buf, size_t size);
/* "file:line:column" of a profile position, or "" */
void plan_format_pos(const SrcPos *pos, char *buf, size_t size);

/* SPDX-License-Identifier: MIT */
/* PURE. The plan: everything an executor applies, and why, computed by plan_resolve() from
 * (Profile, Policy, HostFacts) with no system calls. Executors take a const Plan and apply
 * every control whose status is CONTROL_REQUIRED or CONTROL_BEST_EFFORT; a required control
 * that fails to apply stops the run (exit 125). plan_to_json() is the stable, documented
 * serialisation (policies/README.md "Plan JSON"), also embedded in the audit record. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/error.h"
#include "host/host.h"
#include "policy/policy.h"
#include "profile/profile.h"

typedef enum ControlStatus {
        CONTROL_REQUIRED,       /* will be applied or the run does not start */
        CONTROL_BEST_EFFORT,    /* the profile allowed best-effort and the host can enforce it */
        CONTROL_DEGRADED,       /* best-effort and the host cannot: a weaker mechanism (reason) */
        CONTROL_NOT_APPLICABLE, /* not asked for, or not meaningful in this tier */
        _CONTROL_STATUS_MAX,
} ControlStatus;

/* One line of the "why" chain. */
typedef struct PlanDecision {
        char *rule_id;  /* "trust-hostile", "profile-isolation", "missing-landlock", ... */
        char *sentence; /* human explanation, already filled in */
        Tier min_tier;  /* what the rule asked for (TIER_SANDBOX for informational ones) */
        bool refuse;    /* the rule refuses the run */
} PlanDecision;

/* A control as listed in explain and in the audit record. */
typedef struct PlanControl {
        char *name; /* "userns", "seccomp", "landlock", "caps", "cgroup.memory", ... */
        ControlStatus status;
        char *detail; /* parameters in one line ("x86_64,x32,i386; 97 rules") */
        char *reason; /* for DEGRADED / NOT_APPLICABLE: why */
} PlanControl;

typedef enum PlanMountKind {
        PLAN_MOUNT_BIND, /* source on the host -> target in the new root */
        PLAN_MOUNT_TMPFS,
        PLAN_MOUNT_PROC,
        PLAN_MOUNT_DEV,      /* minimal /dev: null zero full random urandom tty, pts, shm */
        PLAN_MOUNT_SYS,      /* read-only sysfs */
        PLAN_MOUNT_MASK,     /* hide target: /dev/null over a file, empty ro tmpfs over a dir */
        PLAN_MOUNT_SYMLINK,  /* create target as a symlink to source ("usr/bin") */
        PLAN_MOUNT_DIR,      /* create an empty directory */
        PLAN_MOUNT_READONLY, /* make target (already inside the new root, e.g. /proc/sys)
                                 * read-only: bind it onto itself, then remount read-only */
        PLAN_MOUNT_IDENTITY, /* a read-only file of the run's own over target: source names the
                              * value, "machine-id" or "boot-id" (see PlanSandbox.machine_id) */
        _PLAN_MOUNT_KIND_MAX,
} PlanMountKind;

#define PLAN_MOUNT_RDONLY (1u << 0)
#define PLAN_MOUNT_NOSUID (1u << 1)
#define PLAN_MOUNT_NODEV (1u << 2)
#define PLAN_MOUNT_NOEXEC (1u << 3)
#define PLAN_MOUNT_OPTIONAL (1u << 4) /* missing source: skip, not an error */
#define PLAN_MOUNT_WORKDIR (1u << 5)  /* source is relative to the run's work directory */

/* In order: the executor applies mounts[0..n) as listed. Targets are absolute paths inside
 * the new root and are resolved there with RESOLVE_IN_ROOT. */
typedef struct PlanMount {
        PlanMountKind kind;
        char *source;
        char *target;
        unsigned flags; /* PLAN_MOUNT_* */
        uint64_t size;  /* tmpfs bytes */
        SrcPos pos;     /* profile line that asked for it; file NULL for built-ins */
} PlanMount;

typedef enum SeccompAction {
        SECCOMP_ACTION_ALLOW,
        SECCOMP_ACTION_ERRNO, /* errno in PlanSyscallRule.errno_value */
        SECCOMP_ACTION_KILL,  /* kill the process */
        _SECCOMP_ACTION_MAX,
} SeccompAction;

typedef enum ArgOp {
        ARG_OP_NONE,
        ARG_OP_EQ,
        ARG_OP_MASKED_EQ, /* (arg & mask) == value */
        ARG_OP_NE,
        _ARG_OP_MAX,
} ArgOp;

typedef struct PlanArgCmp {
        unsigned arg; /* 0..5 */
        ArgOp op;
        uint64_t mask;
        uint64_t value;
} PlanArgCmp;

#define PLAN_MAX_ARG_CMPS 3

/* One seccomp rule: action when syscall `name` is called and every comparison matches. In a
 * resolved plan, name, group and origin point into PlanSeccomp.strings (each distinct string
 * once, shared between rules), never freed one by one. */
typedef struct PlanSyscallRule {
        char *name; /* libseccomp syscall name */
        SeccompAction action;
        int errno_value; /* EPERM, ENOSYS, ... */
        PlanArgCmp args[PLAN_MAX_ARG_CMPS];
        unsigned n_args;
        char *group;  /* "keys", "mount", ... */
        char *origin; /* "policies/seccomp/default.yaml:41" or "profile ci.yaml:14:9" */
} PlanSyscallRule;

/* Storage of strings that live as long as the plan: blocks of a few KiB, each string once. */
typedef struct PlanStringBlock {
        struct PlanStringBlock *next;
        size_t used, size;
        char data[];
} PlanStringBlock;

typedef struct PlanSeccomp {
        ControlStatus status;
        SeccompAction default_action;      /* ALLOW: the filter is a deny list */
        char **arches;                     /* "x86_64", "x32", "x86": filtered ABIs */
        SeccompAction foreign_arch_action; /* other ABIs: KILL */
        PlanSyscallRule *rules;
        size_t n_rules;
        PlanStringBlock *strings; /* the rules' names, groups and origins (plan_free()) */
        char *base;               /* group set name */
        bool notify_denials;      /* report denied calls to the supervisor (audit) */
} PlanSeccomp;

/* Landlock access rights use the kernel's LANDLOCK_ACCESS_FS_* / _NET_* bit values. */
typedef struct PlanLandlockPath {
        char *path;      /* inside the new root */
        uint64_t access; /* allowed rights beneath path */
} PlanLandlockPath;

typedef struct PlanLandlock {
        ControlStatus status;
        int abi;               /* ABI the rules are written for (<= host ABI) */
        uint64_t handled_fs;   /* rights that are denied unless a path rule allows them */
        uint64_t handled_net;  /* LANDLOCK_ACCESS_NET_BIND_TCP | _CONNECT_TCP when network none */
        uint64_t scoped;       /* LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | _SIGNAL (ABI >= 6) */
        uint16_t connect_port; /* network outbound: the one TCP port connect() may reach */
        PlanLandlockPath *paths;
        size_t n_paths;
} PlanLandlock;

typedef enum CgroupMechanism {
        CGROUP_MECH_NONE,   /* no limits asked for */
        CGROUP_MECH_V2,     /* delegated v2 subtree */
        CGROUP_MECH_V1,     /* v1 controllers (root on a legacy/hybrid host) */
        CGROUP_MECH_RLIMIT, /* degraded: rlimits only */
        _CGROUP_MECH_MAX,
} CgroupMechanism;

/* How resources.disk is bounded: what the workload can add to the host through writable binds.
 * The strongest is a project quota on the binds' file system (ext4, xfs; root callers only, see
 * sys/projquota.h); else RLIMIT_FSIZE, per file. */
typedef enum DiskMechanism {
        DISK_MECH_NONE,             /* no disk bound asked for */
        DISK_MECH_NO_WRITABLE_BIND, /* nothing writable reaches the host: held by the mounts */
        DISK_MECH_RLIMIT_FSIZE,     /* RLIMIT_FSIZE: each file, not the total (degraded) */
        DISK_MECH_PROJECT_QUOTA,    /* a project quota of the run's own: the total */
        _DISK_MECH_MAX,
} DiskMechanism;

typedef struct PlanResources {
        CgroupMechanism mechanism;
        ControlStatus status;
        uint64_t memory; /* bytes; 0 = no limit */
        uint32_t cpus_milli;
        uint64_t pids;
        uint64_t timeout_ms;
        /* CPU time of the whole tree, 0 = no limit. V1/V2: moat polls the cgroup's CPU
         * accounting and kills the tree when it passes this; RLIMIT: RLIMIT_CPU per process
         * (degraded, see build_resources()). */
        uint64_t cpu_time_ms;
        uint64_t tmpfs_total;
        uint64_t disk; /* bytes through writable binds, 0 = no limit */
        DiskMechanism disk_mechanism;
        /* Bytes of stdout and stderr together, 0 = no limit. Enforced by moat itself, with no
         * cgroup: the sandbox relays the workload's output through pipes it counts, the vm
         * tier counts the guest's output ports. Past it the tree is killed (verdict output). */
        uint64_t output_bytes;
        ControlStatus output_status; /* required or best-effort; not-applicable when unset */
} PlanResources;

typedef struct PlanRlimit {
        int resource;        /* RLIMIT_* */
        uint64_t soft, hard; /* UINT64_MAX = infinity */
} PlanRlimit;

typedef struct PlanSandbox {
        /* namespaces: CLONE_NEW* flags (the userns is always included) */
        uint64_t clone_flags;
        bool time_ns;
        uid_t uid_inside; /* mapped to the caller's uid */
        gid_t gid_inside;
        char *hostname;
        /* /etc/machine-id inside: the profile's fixed value (32 lower-case hex digits), or NULL
         * for a random one per run that the executor draws and no plan ever holds. */
        char *machine_id;

        PlanMount *mounts;
        size_t n_mounts;
        char *workdir_target; /* where the work directory appears ("/work"), NULL = none */

        NetworkMode network;
        PlanSeccomp seccomp;
        PlanLandlock landlock;

        int *caps_keep; /* CAP_* numbers kept (sorted); n_caps_keep == 0: drop all */
        size_t n_caps_keep;

        char *apparmor_profile; /* NULL = no transition */
        char *selinux_context;
        ControlStatus mac_status;

        PlanRlimit *rlimits;
        size_t n_rlimits;
} PlanSandbox;

typedef struct PlanVm {
        bool kvm;        /* domain type kvm; else qemu (TCG) */
        uint64_t memory; /* bytes, guest RAM */
        uint32_t vcpus;
        char *kernel; /* guest kernel path (from host facts or profile) */
        bool guest_root;
        char *guest_apparmor; /* MAC profile enforced by the guest kernel, NULL = none */
        uint32_t boot_ms;  /* last measured boot on this host (HostFacts.vm_boot_ms), 0 = unknown */
        char *kernel_args; /* extra guest kernel command line; never set by the resolver, only
                            * by test drivers that boot a guest in a given host configuration */
        /* The sandbox tier's controls that this plan does not apply in the guest, because they
         * make no sense there or the vm tier holds them under another name: pairs of static
         * strings (control, reason), n_not_in_guest pairs. plan_resolve() refuses a vm plan
         * that drops any other control of the sandbox tier (plan_vm_not_in_guest()). */
        const char **not_in_guest;
        size_t n_not_in_guest;
} PlanVm;

/* network: outbound (launcher/net/): the workload's netns has loopback only; a listening
 * socket on 127.0.0.1:proxy_port made inside it is served by moat's proxy, which allows the
 * rules (profile/egress.h) and nothing else. */
#define PLAN_EGRESS_PROXY_PORT 3128

typedef struct PlanEgress {
        bool active;           /* network outbound */
        bool transparent;      /* via: transparent: slirp4netns, nftables in the sandbox's netns,
                           * moat's DNS stub (launcher/net/dns-stub.h); no proxy, proxy_port 0 */
        char slirp4netns[256]; /* transparent: the helper's path (host facts) */
        char nft[256];         /* transparent: nft, which loads the rules (host facts) */
        int slirp_landlock;    /* transparent: 0 = slirp4netns's own --enable-sandbox (a root
                                * caller); N = moat confines it with Landlock ABI N before exec
                                * instead (any other caller: the sandbox needs uid 0 mapped in
                                * the target's user namespace, which a one-id map lacks) */
        struct EgressRule *allow;
        size_t n_allow;
        uint16_t proxy_port;
        uint8_t digest[32]; /* SHA-256 of the normalised rules, one per line, in order */
} PlanEgress;

/* The system tier (launcher/lxc/): a container of its own OS from an image of the store. */
typedef struct PlanSystem {
        bool boot;             /* boot mode: the image's init is pid 1 and the command is attached;
                                * else command mode: liblxc's init runs the command, through the
                                * gate, and ends with it */
        char *init;            /* boot mode: the init inside the image */
        char *image;           /* the image's tree on the host (the overlay's lower layer) */
        char *image_name;      /* NULL when the profile names a directory */
        char image_digest[65]; /* SHA-256 of the imported tarball, "" for a directory */
        bool range_map;        /* root: 65536 ids from moat's reserved range; else one id (the
                                * caller's) */
} PlanSystem;

typedef struct Plan {
        Tier tier;
        bool refused;
        char *refusal; /* why, and what would make it run */

        char *profile_name;
        char *profile_path;
        uint8_t profile_digest[32];
        uint8_t policy_digest[32];
        char **policy_files;

        PlanDecision *decisions;
        size_t n_decisions;

        PlanControl *controls; /* the flat list explain and audit print */
        size_t n_controls;

        Trust trust;

        /* environment rules; the executor builds envp from the caller's environment */
        bool env_clear;
        char **env_allow;
        char **env_set;

        PlanResources resources;
        PlanEgress egress;
        PlanSandbox sandbox; /* meaningful when tier == TIER_SANDBOX */
        PlanVm vm;           /* meaningful when tier == TIER_VM */
        PlanSystem system;   /* meaningful when tier == TIER_SYSTEM */

        char **reachable; /* "what the workload can still reach", one sentence each */
} Plan;

/* Never fails on a valid profile: a run that cannot happen is a Plan with refused = true.
 * Returns -ENOMEM only. */
int plan_resolve(const Profile *profile, const Policy *policy, const HostFacts *host, Plan **ret);
Plan *plan_free(Plan *p);
/* A deep copy of src that shares nothing with it (what plan_free() frees, allocated anew at
 * its final size): for a caller that keeps a plan for long and frees what it was made from
 * (context.h, run_context_compact()). 0, or -ENOMEM with *ret untouched. */
int plan_dup(const Plan *src, Plan **ret);
static inline void plan_freep(Plan **p) {
        *p = plan_free(*p);
}
#define _cleanup_plan_ __attribute__((cleanup(plan_freep)))

/* Stable JSON (jansson json_t *, caller json_decref()s). */
struct json_t;
struct json_t *plan_to_json(const Plan *p);
/* Readable text for `moat explain`: tier first, then why, then controls, then what remains reachable. */
char *plan_to_text(const Plan *p);
const char *control_status_to_string(ControlStatus s);
/* Why the vm tier does not carry the sandbox tier's control `name` into the guest, or NULL
 * when it must (under the same name, or the vm name in *ret_vm when the vm tier holds it under
 * another). The table of plan-controls.c. */
const char *plan_vm_not_in_guest(const char *name, bool guest_root, const char **ret_vm);
const PlanControl *plan_find_control(const Plan *p, const char *name);

/* The Landlock rule that lets `path` (inside the new root) execute, rights inherited from
 * above included; NULL when none does or the plan applies no Landlock execute restriction. */
const PlanLandlockPath *plan_landlock_exec_source(const Plan *p, const char *path);
/* The two layers of a bind's `exec` must agree with the profile and with each other: the mount
 * is noexec exactly when the bind says exec: false, and, where the plan applies Landlock, the
 * execute right reaches its target exactly when it says exec: true. Returns the index in
 * profile->fs.binds of the first bind where they do not (*ret_above: the Landlock path whose
 * execute right reaches it, or NULL), or -1. plan_resolve() refuses a sandbox plan for which
 * this is not -1. */
int plan_exec_disagreement(const Plan *p, const Profile *profile, const char **ret_above);

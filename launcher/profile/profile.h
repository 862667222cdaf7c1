/* SPDX-License-Identifier: MIT */
/* PURE. A parsed, validated, extends-resolved profile. The YAML language is documented in
 * profiles/README.md; every field here has exactly one spelling there.
 *
 * Conventions: lists are NULL-terminated strv (char **) or counted arrays; 0 in a numeric
 * resource means "not set"; every element that can be named in an error or in the audit
 * record carries the SrcPos (file, line, column) it was read from. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/error.h"

typedef enum Trust {
        TRUST_TRUSTED,
        TRUST_INTERNAL,
        TRUST_UNTRUSTED,
        TRUST_HOSTILE,
        _TRUST_MAX,
} Trust;

/* Ordered: a higher value is a stronger isolation tier. */
typedef enum Tier {
        TIER_SANDBOX,
        TIER_SYSTEM,
        TIER_VM,
        _TIER_MAX,
        TIER_AUTO = -1, /* only as Profile.isolation */
} Tier;

typedef enum Enforce {
        ENFORCE_REQUIRED,
        ENFORCE_BEST_EFFORT,
        _ENFORCE_MAX,
} Enforce;

typedef enum NetworkMode {
        NETWORK_NONE,
        NETWORK_LOOPBACK,
        NETWORK_OUTBOUND,
        _NETWORK_MAX,
} NetworkMode;

typedef enum RootKind {
        ROOT_HOST_READONLY,
        ROOT_IMAGE,
        _ROOT_MAX,
} RootKind;

typedef enum BindMode {
        BIND_RO,
        BIND_RW,
        _BIND_MAX,
} BindMode;

typedef enum LandlockMode {
        LANDLOCK_REQUIRED,
        LANDLOCK_BEST_EFFORT,
        LANDLOCK_OFF,
        _LANDLOCK_MAX,
} LandlockMode;

typedef struct SrcPos {
        const char *file; /* points into Profile.files (owned there) */
        unsigned line, column;
} SrcPos;

typedef struct ProfileBind {
        char *source; /* as written; relative sources are relative to the work directory
                         * ("." = the work directory), resolved by the executor */
        char *target; /* absolute, normalised (no "..", no "//", no trailing "/") */
        BindMode mode;
        bool optional; /* a missing source is skipped instead of refusing the run */
        bool exec;     /* files beneath may be executed: Landlock execute right, no noexec;
                        * default true for the work directory (source "."), false otherwise */
        SrcPos pos;
} ProfileBind;

typedef struct ProfileTmpfs {
        char *target;  /* absolute, normalised */
        uint64_t size; /* bytes; 0 = default (64 MiB) */
        SrcPos pos;
} ProfileTmpfs;

/* network.outbound.via: how the allowlist is served (profiles/README.md "network"). */
typedef enum OutboundVia {
        OUTBOUND_VIA_PROXY,       /* moat's HTTP CONNECT proxy on the sandbox's loopback */
        OUTBOUND_VIA_TRANSPARENT, /* slirp4netns + nftables + moat's DNS stub (needs tun) */
        _OUTBOUND_VIA_MAX,
} OutboundVia;

typedef struct Profile {
        char *name;         /* "name:" or, if absent, the file's basename without .yaml */
        char *path;         /* the file the profile was loaded from */
        char *description;  /* optional "description:" */
        char **files;       /* every file read, the profile first, then what it extends */
        uint8_t digest[32]; /* SHA-256 of the canonical JSON of the resolved profile */

        Trust trust;
        Tier isolation; /* TIER_AUTO or a fixed tier */
        Tier max_tier;  /* default TIER_VM */
        SrcPos trust_pos, isolation_pos, max_tier_pos;

        struct {
                RootKind root;
                char *image;           /* ROOT_IMAGE: a directory (absolute after loading); for a
                              * named image, its tree in the store once looked up */
                char *image_name;      /* ROOT_IMAGE given as a name of the image store, or NULL */
                char image_digest[65]; /* the named image's SHA-256 (hex), once looked up */
                ProfileBind *binds;
                size_t n_binds;
                ProfileTmpfs *tmpfs;
                size_t n_tmpfs;
                char **masked; /* absolute paths hidden inside the sandbox */
                bool sys;      /* expose a read-only /sys */
                SrcPos pos;
        } fs;

        NetworkMode network;
        SrcPos network_pos;
        /* network: {outbound: {via: ..., allow: [...]}} (profile/egress.h), in the order
         * written */
        struct {
                struct EgressRule *allow;
                size_t n_allow;
                SrcPos pos; /* the allow list */
                OutboundVia via;
                SrcPos via_pos; /* where via was written; line 0 = not written (proxy) */
        } outbound;

        struct {
                uint64_t memory;     /* bytes */
                uint32_t cpus_milli; /* 1.5 cpus = 1500 */
                uint64_t pids;
                uint64_t timeout_ms;
                uint64_t cpu_time_ms; /* CPU time of the whole tree; 0 = no limit */
                uint64_t output;      /* bytes of stdout + stderr together; 0 = no limit */
                uint64_t tmpfs_total; /* bytes, upper bound of all tmpfs together */
                uint64_t disk;   /* bytes the workload may add through writable binds; 0 = none */
                uint64_t nofile; /* RLIMIT_NOFILE; 0 = default 1024 */
                Enforce enforce;
                SrcPos pos;
        } resources;

        struct {
                bool clear;   /* default true: start from an empty environment */
                char **allow; /* names passed through from the caller */
                char **set;   /* "KEY=VALUE" */
                SrcPos pos;
        } env;

        struct {
                char *base;   /* group set name under policies/seccomp/, default "default" */
                char **allow; /* syscall or @group names removed from the deny list */
                char **deny;  /* syscall or @group names added to the deny list */
                SrcPos *allow_pos, *deny_pos; /* parallel to allow/deny */
                SrcPos base_pos;
        } syscalls;

        char **capabilities; /* lower-case names without cap_ ("net_bind_service") */
        SrcPos capabilities_pos;

        struct {
                LandlockMode landlock; /* default required */
                char *apparmor;        /* profile name, NULL = off */
                char *selinux;         /* context, NULL = off */
                Enforce enforce;       /* for apparmor/selinux: required unless best-effort */
                SrcPos pos;
        } mac;

        struct {
                char **needs;      /* "bpf", "modules", "perf", "kvm", "kexec", "raw-devices" */
                char *min_version; /* "6.1" or NULL */
                SrcPos pos;
        } kernel;

        struct {
                bool full_os; /* boots an init and several users -> system tier */
                char *init;   /* path inside the image, default /sbin/init */
        } os;

        char **devices; /* host device nodes asked for ("/dev/fuse"); raw devices escalate */
        /* Host namespaces a container may share when its OCI spec leaves them out (moat oci;
         * hostNetwork: network and uts). "network", "pid", "ipc", "uts"; NULL = none. `moat run`
         * always makes its own. */
        char **host_namespaces;
        SrcPos *host_namespaces_pos; /* parallel */
        SrcPos host_namespaces_list_pos;
        char *hostname; /* default "moat" */
        struct {
                char *machine_id; /* 32 lower-case hex digits; NULL = random per run */
                SrcPos pos;
        } identity;
        uid_t uid; /* uid/gid inside the sandbox, default: the caller's */
        gid_t gid;
        bool uid_set;

        struct {
                char *kernel;    /* guest kernel path for the vm tier; NULL = host default */
                uint32_t vcpus;  /* 0 = from resources.cpus, at least 1 */
                bool guest_root; /* run the command as root inside the guest */
        } vm;
} Profile;

/* Search path for profile names: $MOAT_PROFILE_PATH (colon-separated), then
 * $XDG_CONFIG_HOME/moat/profiles (else ~/.config/moat/profiles), /etc/moat/profiles, then the
 * shipped profiles: $MOAT_DATA_DIR/profiles, else MOAT_INSTALLED_DATA_DIR/profiles. A name
 * containing '/' or ending in .yaml is a path. */
int profile_load(const char *name_or_path, Profile **ret, MoatError *error);
/* Whether profile_load() takes NAME_OR_PATH as a file rather than a name to search for. */
bool profile_name_is_path(const char *name_or_path);
/* Parse one buffer (fuzzing, unit tests); "extends:" is resolved through the search path. */
int profile_parse_buffer(const char *buf, size_t len, const char *filename, Profile **ret,
                         MoatError *error);
Profile *profile_free(Profile *p);
static inline void profile_freep(Profile **p) {
        *p = profile_free(*p);
}
#define _cleanup_profile_ __attribute__((cleanup(profile_freep)))

const char *trust_to_string(Trust t);
const char *tier_to_string(Tier t); /* "auto" for TIER_AUTO */
const char *network_mode_to_string(NetworkMode m);
const char *enforce_to_string(Enforce e);
const char *landlock_mode_to_string(LandlockMode m);
const char *bind_mode_to_string(BindMode m);
int trust_from_string(const char *s); /* -EINVAL if unknown */
int tier_from_string(const char *s);

/* The resolved profile as stable JSON (jansson json_t *, caller json_decref()s; NULL on
 * ENOMEM): the language's shape with sizes in bytes, cpus in thousandths, durations in ms,
 * plus "path", "files" and "digest" (hex). Profile.digest is the SHA-256 of the same object
 * without those three keys, dumped compact with sorted keys. */
struct json_t;
struct json_t *profile_to_json(const Profile *p);

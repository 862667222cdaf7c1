/* SPDX-License-Identifier: MIT */
/* PURE. The wire protocol between moat and its guest init, over the virtio-serial port
 * "org.moat.ctl" (one byte stream in each direction). Compiled into both moat and the static
 * guest init, so both sides parse with the same bounded code.
 *
 * Host -> guest, once: the run configuration, a sequence of records
 *         <tag><decimal length>:<length bytes>\n
 * ending with the record "z0:\n". Tags: u uid, g gid, c cwd, a argv element, e environment
 * entry, m mount, h hostname, i machine id (required: 32 lower-case hex digits, the guest's
 * /etc/machine-id, never the host's), p AppArmor profile name, P its text, t CPU time limit of
 * the command tree in ms (1..VM_CPU_TIME_MS_MAX, at most once), f fault hook (tests only),
 * d debug, and the controls the init applies to the command (each at most once unless said):
 *   S  seccomp program: hex of whole instructions, 16 digits each (code 4, jt 2, jf 2, k 8);
 *      repeatable, concatenated, at most VM_SECCOMP_INSNS_MAX instructions in all
 *   k  capabilities kept: "" (none) or increasing CAP_* numbers "N,N" (each <= VM_CAP_MAX)
 *   n  no_new_privs: "1"
 *   L  Landlock ruleset: "required|best-effort FS NET SCOPED" (decimal access masks)
 *   l  Landlock path rule: "ACCESS PATH" (repeatable, at most VM_LANDLOCK_PATHS_MAX, needs L)
 *   U  nested user namespaces refused: "0" (user.max_user_namespaces in the guest)
 *   r  rlimit: "RESOURCE SOFT HARD" (RLIMIT_* number, decimal or "inf"; repeatable, one per
 *      resource)
 *   x  pids.max of the command's cgroup (1..VM_PIDS_MAX)
 *   y  memory.max of the command's cgroup in bytes (1 MiB..2^50)
 * A control that is sent is applied or the run stops with an error (Landlock best-effort
 * excepted: it may be reported applied at the guest kernel's ABI, or not at all), and
 *   R  CRNG seed: VM_SEED_MIN..VM_SEED_MAX bytes as lower-case hex, at most once
 *   w  the host's CLOCK_REALTIME in ns, at most once
 * which make a guest restored from a template unique (the guest init credits the seed and
 * forces a reseed, and sets its clock, before anything else), and
 *   N  the egress forwarder: the guest's loopback TCP port (1..65535, decimal) on which the
 *      init accepts connections and relays them over the port org.moat.net to moat's proxy
 *      (vm-netrelay.h); at most once; only a run with network: outbound sends it;
 *   B  boot mode: "<ready ms> <init path>": the image's init (an absolute path in the image,
 *      e.g. /sbin/init) is started as pid 1 of the guest's system namespaces, and the command
 *      runs in them once it reports READY=1, which it must within <ready ms>
 *      (1..VM_BOOT_READY_MS_MAX); at most once, only with an overlay root. Then,
 * for the rest of the run, stdin frames: "i<len>:<bytes>\n" and a final "I0:\n" (EOF).
 *
 * Guest -> host, lines of at most VM_STATUS_LINE_MAX bytes:
 *         applied <control> [<detail>]\n  before started: a control of the configuration was
 *                                       applied to the command (control: vm_control_name(),
 *                                       each at most once; detail [a-z0-9 ,._=-], e.g. "abi 2")
 *         started\n                     the command was exec'd
 *         exit <0..255>\n               the command exited
 *         signal <1..64>\n              the command was killed by a signal
 *         cputime <1..64>\n             the tree passed the CPU time limit (record t), init
 *                                       killed it, and the command died of that signal
 *         error <errno> <step>\n        init could not start the command (step: [a-z0-9 ._/-])
 * Anything else, an over-long line, or a second final message is malformed, and moat ends the
 * run with exit 125: the guest is not trusted to speak anything but this grammar. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define VM_PORT_CTL "org.moat.ctl"
#define VM_PORT_STDOUT "org.moat.stdout"
#define VM_PORT_STDERR "org.moat.stderr"
#define VM_PORT_NET "org.moat.net" /* egress port, only with network: outbound */

#define VM_CONFIG_MAX (256u * 1024u) /* whole configuration */
#define VM_RECORD_MAX 8192u          /* one record's value */
#define VM_ARGV_MAX 1024u
#define VM_ENV_MAX 1024u
#define VM_MOUNTS_MAX 64u
#define VM_PATH_MAX 1024u
#define VM_STATUS_LINE_MAX 96u
#define VM_STDIN_FRAME_MAX 4096u
/* Record t: 10^12 ms (about 31 years) keeps the guest's arithmetic in microseconds far from
 * overflow; a longer limit is refused by moat before booting. */
#define VM_CPU_TIME_MS_MAX UINT64_C(1000000000000)
#define VM_SECCOMP_INSNS_MAX 4096u /* BPF_MAXINSNS */
#define VM_LANDLOCK_PATHS_MAX 128u
#define VM_CAP_MAX 63
#define VM_RLIMITS_MAX 16u
#define VM_PIDS_MAX 4194304u /* PID_MAX_LIMIT */
#define VM_MEMORY_MIN (UINT64_C(1) << 20)
#define VM_MEMORY_MAX (UINT64_C(1) << 50)
#define VM_BOOT_READY_MS_MAX UINT64_C(86400000) /* record B: a day */
/* Record B without a run timeout: the host bounds the boot at 120 s then too (vm-execute.c). */
#define VM_BOOT_DEFAULT_READY_MS UINT64_C(120000)

/* The controls moat-init applies to the command inside the guest, as the sandbox tier applies
 * them on the host. The names are the plan's control names (vm_control_plan_name()). */
typedef enum VmControl {
        VM_CONTROL_SECCOMP,
        VM_CONTROL_CAPS,
        VM_CONTROL_NO_NEW_PRIVS,
        VM_CONTROL_LANDLOCK,
        VM_CONTROL_USERNS, /* nested user namespaces refused */
        VM_CONTROL_PIDS,
        VM_CONTROL_MEMORY,
        VM_CONTROL_RLIMITS,
        _VM_CONTROL_MAX,
} VmControl;

/* The word of the "applied" status line: "seccomp", "caps", "no_new_privs", "landlock",
 * "userns", "pids", "memory", "rlimits"; NULL out of range. */
const char *vm_control_name(VmControl c);
/* The plan's control for it: "seccomp", "caps", "no_new_privs", "landlock", "nested-userns",
 * "cgroup.pids", "cgroup.memory", "rlimits". */
const char *vm_control_plan_name(VmControl c);
#define VM_SEED_MIN 16u /* record r: bytes of host randomness for the guest CRNG */
#define VM_SEED_MAX 64u

typedef enum VmMountKind {
        VM_MOUNT_9P,      /* "9p <tag> ro|rw[,noexec] <target>": a host share */
        VM_MOUNT_TMPFS,   /* "tmpfs <bytes> <target>": guest RAM */
        VM_MOUNT_SYMLINK, /* "link <link-target> <target>" */
        VM_MOUNT_DIR,     /* "dir <target>" */
        VM_MOUNT_MASK,    /* "mask <target>": an empty read-only tmpfs over a directory */
        VM_MOUNT_OVERLAY, /* "overlay <tag> <bytes> /": the root, an overlay of the read-only
                           * share <tag> (an image) with an upper layer of <bytes> in guest
                           * RAM; the first mount record only */
        _VM_MOUNT_KIND_MAX,
} VmMountKind;

typedef struct VmMount {
        VmMountKind kind;
        char tag[32]; /* 9p: [a-z0-9]{1,31} */
        bool readonly;
        bool noexec;            /* 9p: mounted MS_NOEXEC */
        uint64_t size;          /* tmpfs, overlay's upper layer */
        char link[VM_PATH_MAX]; /* symlink value */
        char target[VM_PATH_MAX];
} VmMount;

typedef struct VmSockFilter { /* struct sock_filter */
        uint16_t code;
        uint8_t jt, jf;
        uint32_t k;
} VmSockFilter;

typedef struct VmLandlockPath {
        uint64_t access;
        const char *path; /* points into the buffer */
} VmLandlockPath;

typedef struct VmRlimit {
        int resource;
        uint64_t soft, hard; /* UINT64_MAX: infinity */
} VmRlimit;

typedef struct VmConfig {
        uid_t uid;
        gid_t gid;
        bool have_uid, have_gid;
        char cwd[VM_PATH_MAX];
        char hostname[65];
        char machine_id[33];       /* 32 lower-case hex digits, always set by a valid config */
        char apparmor[128];        /* "" = none */
        const char *apparmor_text; /* the profile's source, points into the buffer */
        size_t apparmor_text_len;
        uint64_t cpu_time_ms; /* 0 = none: CPU time of the command tree (user + system) */
        char fault[16]; /* "" = none; "bad-status" | "silent" | "panic" | "skip-controls" (test
                         * hooks) */
        bool debug;
        char *argv[VM_ARGV_MAX + 1]; /* point into the caller's buffer, NUL-terminated */
        size_t n_argv;
        char *env[VM_ENV_MAX + 1];
        size_t n_env;
        VmMount mounts[VM_MOUNTS_MAX];
        size_t n_mounts;

        unsigned controls; /* 1u << VmControl for each control the configuration asks for */
        VmSockFilter seccomp[VM_SECCOMP_INSNS_MAX];
        size_t n_seccomp;
        int caps_keep[VM_CAP_MAX + 1];
        size_t n_caps_keep;
        bool landlock_required;
        uint64_t landlock_fs, landlock_net, landlock_scoped;
        VmLandlockPath landlock[VM_LANDLOCK_PATHS_MAX];
        size_t n_landlock;
        VmRlimit rlimits[VM_RLIMITS_MAX];
        size_t n_rlimits;
        uint64_t pids_max, memory_max;
        uint8_t seed[VM_SEED_MAX]; /* record r; seed_len 0 = none */
        size_t seed_len;
        uint64_t realtime_ns; /* record w */
        bool have_realtime;
        uint16_t net_port;      /* record N; 0 = no egress forwarder */
        char boot_init[256];    /* record B: the image's init; "" = command mode */
        uint64_t boot_ready_ms; /* record B: how long the init may take to report READY=1 */
} VmConfig;

/* Appends one record to a growing buffer; -EINVAL for a value that is too long or a bad tag,
 * -ENOMEM. */
int vm_config_append(char **buf, size_t *len, char tag, const char *value, size_t value_len);

/* Parses a complete configuration in place: buf (len bytes) is modified (values are
 * NUL-terminated where the '\n' was) and c->argv/env point into it. Returns the number of
 * bytes consumed (up to and including the end record), 0 if more bytes are needed, or
 * -EINVAL (malformed: the whole run must fail) with a short reason in *ret_reason. */
ssize_t vm_config_parse(char *buf, size_t len, VmConfig *c, const char **ret_reason);

/* True if p is an absolute path without "." or ".." components, empty components, or bytes
 * outside printable ASCII; such paths are what moat sends and all the init accepts. */
bool vm_path_is_clean(const char *p);

typedef enum VmStatusKind {
        VM_STATUS_NONE,
        VM_STATUS_STARTED,
        VM_STATUS_EXIT,
        VM_STATUS_SIGNAL,
        VM_STATUS_ERROR,
        VM_STATUS_CPUTIME, /* killed for the CPU time limit; value is the signal */
        VM_STATUS_APPLIED, /* value is the VmControl, step its detail ("" or e.g. "abi 2") */
        _VM_STATUS_KIND_MAX,
} VmStatusKind;

typedef struct VmStatus {
        VmStatusKind kind;
        int value;     /* exit code, signal number (SIGNAL, CPUTIME) or errno */
        char step[49]; /* VM_STATUS_ERROR */
} VmStatus;

/* Parses one status line (without its '\n'). 0 or -EINVAL. */
int vm_status_parse_line(const char *line, size_t len, VmStatus *ret);
/* Formats a status line with its '\n' into buf; returns the length or -EINVAL. */
int vm_status_format(const VmStatus *s, char *buf, size_t size);

/* Incremental reader of the guest's stream: feed bytes, receive complete lines. */
typedef struct VmStatusReader {
        char line[VM_STATUS_LINE_MAX + 1];
        size_t len;
        bool started;
        bool final;       /* exit/signal/cputime/error seen: nothing may follow */
        unsigned applied; /* 1u << VmControl reported applied (before started) */
        char applied_detail[_VM_CONTROL_MAX][49];
        VmStatus result;
        bool malformed;
        char reason[96];
} VmStatusReader;

/* Returns 0, or -EINVAL once the stream is malformed (sticky; reason in r->reason). */
int vm_status_reader_feed(VmStatusReader *r, const char *data, size_t len);

/* SPDX-License-Identifier: MIT */
/* The sandbox executor's parts: the parent (sandbox.c: setup, supervision, outcome), the child
 * (child.c: namespaces to exec, and the sandbox's pid 1), the mounts (mounts.c) and the
 * environment (env.c). */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "basic/id128.h"
#include "executor.h"
#include "plan/plan.h"
#include "sys/seccomp.h"

/* Steps, in the order the child takes them. The child reports a failure as {step, -errno,
 * index}; messages from the child that are not failures use the MSG_* ids. */
typedef enum SandboxStep {
        STEP_CLONE,
        STEP_IDMAP,
        STEP_EGRESS_HELPER, /* via: transparent: slirp4netns started on the netns (parent) */
        STEP_CGROUP,
        STEP_DISK, /* resources.disk's project quota (parent, before clone3) */
        STEP_SYNC,
        /* via: transparent, before the mounts (nft is the host's binary): the ruleset loaded by
         * init, read back and compared, the DNS stub's sockets made and the stub started */
        STEP_EGRESS_RULES,
        STEP_EGRESS_READBACK,
        STEP_EGRESS_DNS,
        STEP_MOUNT,
        STEP_PIVOT_ROOT,
        STEP_HOSTNAME,
        STEP_NETWORK,
        STEP_EGRESS, /* network outbound: the listener made and the proxy started */
        STEP_WORKDIR,
        STEP_SETSID,
        STEP_LSM,
        STEP_NO_NEW_PRIVS,
        STEP_CAPS,
        STEP_LANDLOCK,
        STEP_OUTPUT, /* resources.output: the relay's pipes on fds 1 and 2 */
        STEP_FDS,
        STEP_SECCOMP,
        STEP_RLIMIT, /* last: RLIMIT_AS would stop init's own mappings */
        STEP_FORK,
        STEP_EXEC,
        _STEP_MAX,

        MSG_GO = 100,    /* parent -> child: id maps (and a v2 cgroup) in place */
        MSG_DEGRADED,    /* child -> parent: best-effort step `index` failed with value */
        MSG_NOTIFY_FD,   /* child -> parent: the seccomp listener, SCM_RIGHTS */
        MSG_EXEC_OK,     /* child -> parent: the workload exec'd; value = its pid inside */
        MSG_EXIT_STATUS, /* child -> parent: the workload's wait status */
        MSG_PROXY_FD,    /* child -> parent: network outbound's listener, SCM_RIGHTS */
        MSG_PROXY_READY, /* parent -> child: the proxy serves it (value 0) or -errno */
        MSG_CGROUPS,     /* parent -> child: the v1 limit cgroups are done (0) or -errno */
        MSG_DNS_FD,      /* child -> parent: via transparent, the DNS stub's sockets, one per
                          * message: index 0 UDP, 1 TCP (127.0.0.1:53), 2 NETLINK_NETFILTER;
                          * answered with MSG_PROXY_READY once the stub runs */
        MSG_CGROUP_FD,   /* parent -> child: a v1 limit cgroup's tasks file, SCM_RIGHTS, which
                          * init writes "0" to (child.c child_enter_cgroup()); before
                          * MSG_CGROUPS */
} SandboxStep;

const char *sandbox_step_to_string(SandboxStep s);

struct SandboxCgroup;
/* v1 limit cgroups: their tasks files (sys_cgroup_open_tasks_raw()) to the init at the other
 * end of sync_fd, one MSG_CGROUP_FD each, for it to move itself in (child.c
 * child_enter_cgroup(), the OCI runtime's init); v2 and none: nothing. Raw system calls only
 * (safe while a CLONE_VM child runs libc); moat's copies are closed. */
int sandbox_cgroups_hand_over(const struct SandboxCgroup *cg, int sync_fd);

/* The run's own identity, drawn by the parent (or the plan's fixed machine id). */
typedef struct SandboxIdentity {
        char machine_id[ID128_MACHINE_ID_LEN + 1];
        char boot_id[ID128_UUID_LEN + 1];
} SandboxIdentity;

/* resources.output (output.c): the workload's stdout and stderr are pipes that the supervisor
 * relays to moat's own and counts. */
typedef enum OutputMode {
        OUTPUT_SPLICE, /* to a pipe, a regular file, /dev/null: splice(), never blocks */
        OUTPUT_SEND,   /* to a socket: send(MSG_DONTWAIT) */
        OUTPUT_WRITE,  /* anything else: write() of at most PIPE_BUF after POLLOUT */
} OutputMode;

typedef struct OutputStream {
        int in_fd;  /* our read end (O_NONBLOCK), -EBADF once done */
        int out_fd; /* moat's 1 or 2 (borrowed) */
        OutputMode mode;
        bool blocked; /* the caller's side is full: wait for POLLOUT */
        char *buf;    /* copy modes: taken from the pipe, not yet passed on */
        size_t len, off;
} OutputStream;

typedef struct OutputRelay {
        bool active;   /* the plan sets resources.output and the pipes exist */
        bool exceeded; /* a byte past the cap was written: the tree was killed */
        uint64_t cap, left;
        OutputStream s[2]; /* stdout, stderr; one when they are the same open file */
        unsigned n;
        int child_fd[2]; /* write ends for the workload's fds 1 and 2, -EBADF: leave it */
} OutputRelay;

struct pollfd; /* <poll.h> */
void sandbox_output_init(OutputRelay *r);
/* Before clone3 (parent). 0 or -errno; on failure sandbox_output_done() cleans up. */
int sandbox_output_prepare(OutputRelay *r, uint64_t cap);
void sandbox_output_close_child_ends(OutputRelay *r);
/* Two poll entries, for the supervisor's poll(); fd -1 for a stream that is done. */
void sandbox_output_pollfds(const OutputRelay *r, struct pollfd *p);
/* Move what the entries say is ready. 1: the cap was passed (kill the tree), else 0. */
int sandbox_output_handle(OutputRelay *r, const struct pollfd *p);
/* Some pipe has not reached its end yet. */
bool sandbox_output_open(const OutputRelay *r);
/* The system tier, whose relay carries liblxc's and the gate's own words before the command
 * exists: hold_count passes them on without counting them; count_from_now, once nothing but
 * the command can write any more (the gate waits for its go), passes on what is left of them
 * and starts the count at the cap. */
void sandbox_output_hold_count(OutputRelay *r);
void sandbox_output_count_from_now(OutputRelay *r);
void sandbox_output_done(OutputRelay *r);

/* resources.disk by project quota (disk.c), set up by the parent before clone3. */
#define DISK_QUOTA_MAX_ROOTS 64
typedef struct DiskQuota {
        bool active;                     /* the trees may carry the id: stop undoes it */
        bool recorded;                   /* its record is written (disk.c) */
        uint32_t id;                     /* the run's project id */
        int64_t since;                   /* when the trees joined it (time(2)) */
        uint64_t base;                   /* bytes charged to the id when the limit was set */
        int roots[DISK_QUOTA_MAX_ROOTS]; /* the writable binds' sources, O_PATH */
        const char *paths[DISK_QUOTA_MAX_ROOTS]; /* their targets, for messages (the plan's) */
        size_t n_roots;
        pid_t guard;  /* 0: none */
        int guard_fd; /* moat's end of the guard's socket */
        /* cgroup v2 leaf mode (sys/cgroup.h): moat's leaf D/NAME.supervisor, where the guard
         * is born, and D. A guard left after moat's death leaves the leaf last (below). */
        char *cg_parent, *cg_leaf;
} DiskQuota;

#define DISK_QUOTA_INIT \
        { .guard_fd = -EBADF }
/* Puts the plan's writable binds into a project of their own with its limit. -errno on
 * failure, printed with its detail; sandbox_disk_quota_stop() undoes whatever was done. */
int sandbox_disk_quota_start(const Plan *plan, const char *workdir, const char *cg_parent,
                             const char *cg_leaf, DiskQuota *dq);
/* Should moat die, the guard waits for the process pidfd (one that writes the trees from outside
 * moat's pid namespace: the vm tier's QEMU) to end before it undoes anything, and kills it after
 * 10 s. guard_fd: DiskQuota.guard_fd, or its copy in a forked child of moat, which then keeps the
 * guard waiting until it exits too. */
int sandbox_disk_quota_watch(int guard_fd, int pidfd);
/* After the sandbox is reaped: the trees out of the project, the limit removed, the guard
 * told; *ret_added: the bytes the run added. */
int sandbox_disk_quota_stop(DiskQuota *dq, uint64_t *ret_added);

/* Everything the child needs, prepared by the parent before clone3 (the child runs in the
 * parent's memory, so no serialisation). */
typedef struct SandboxChild {
        const Plan *plan;
        const RunRequest *req;
        char **envp;
        const SeccompProgram *seccomp; /* NULL: the plan applies no filter */
        const SandboxIdentity *identity;
        int sync_fd;            /* the child's end of the sync socketpair */
        int stdio_fd[2];        /* resources.output: fds 1 and 2 of the workload, -EBADF: moat's */
        int parent_sync_fd;     /* moat's end, which the child closes first */
        sigset_t original_mask; /* restored in the workload before exec */
        void *stack_lo;         /* the low end of the child's stack (its dead pages go back) */
        /* v1 limit cgroups: the parent makes them after MSG_GO, while init builds the sandbox,
         * and passes their tasks files (MSG_CGROUP_FD), through which init moves itself in;
         * then MSG_CGROUPS, which init waits for before it starts the workload */
        bool await_cgroups;
        int cgroups_result; /* the child's: 0 not yet told, 1 in place, -errno refused */
        int cgroup_err;     /* the first tasks file init could not write "0" to, -errno */
        /* via: transparent: the nft binary and the ruleset text (nft_rules_text()), prepared
         * by the parent */
        const char *nft_path;
        const char *nft_text;
} SandboxChild;

/* The child (a SandboxChild *arg), from clone3 to the workload's exit; its return value is
 * its exit status when it ends before init_loop(). */
int sandbox_child_main(void *arg);

/* Build the root file system and pivot into it (child). On failure *ret_index is the plan
 * mount that failed (-1 for the root itself), *ret_step STEP_MOUNT or STEP_PIVOT_ROOT. */
/* Whether a symbolic link LINK in directory PARENT (an absolute path inside the new root, "/etc"
 * say) leads to /etc/machine-id: a machine id file that is such a link reads the run's own
 * (D-Bus's copy on Debian), so it is left alone; any other link at one stops the run. Both
 * tiers that run on the host's kernel use it (mounts.c, lxc/lxc-execute.c). */
bool sandbox_identity_link_ok(const char *parent, const char *link);
int sandbox_mounts_setup(const Plan *plan, const char *workdir, const SandboxIdentity *identity,
                         int *ret_index, SandboxStep *ret_step);

/* envp for the workload from the plan's env rules and the caller's environment (parent). */
int sandbox_env_build(const Plan *plan, char **caller_env, char ***ret);

/* Outcome per plan->controls entry. failed_step: the step that stopped the run, -1 if none;
 * degraded[step] < 0: that best-effort step failed (its -errno). NULL on -ENOMEM. */
ControlOutcome *sandbox_control_outcomes(const Plan *plan, int failed_step, const int *degraded);

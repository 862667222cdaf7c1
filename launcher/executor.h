/* SPDX-License-Identifier: MIT */
/* The contract every tier's executor keeps, and the outcome it reports for the audit record.
 *
 * An executor takes a resolved, non-refused Plan and a RunRequest, applies every control the
 * plan lists (fail closed: a required control that cannot be applied means the command never
 * starts, outcome->started = false, exit 125), runs the command with the caller's stdin,
 * stdout and stderr, forwards SIGINT/SIGTERM/SIGHUP to it, enforces the timeout, and leaves
 * nothing behind (no process, no cgroup, no domain) when it returns — or when moat is killed.
 *
 * Exit status contract: the command's own; 125 moat refused or failed before the command
 * started; 126 not executable; 127 not found; 128+N killed by signal N. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "plan/plan.h"

struct RunOutcome;

/* Optional calls from an executor to moat run, so that work that does not change the run is
 * done where moat would otherwise wait (the audit record: cmd-run.c). An executor that does not
 * call them is correct too: moat run then does that work after the executor returned. */
typedef struct RunHooks {
        /* The command was exec'd; until it ends the executor only waits. */
        void (*started)(void *userdata);
        /* The outcome is final and will not change: what is left is the executor's own
         * teardown (cgroups, stacks, fds), which runs after this returns. */
        void (*finished)(const struct RunOutcome *outcome, void *userdata);
        /* While the executor's last step runs in another process (the system tier's guard
         * ending), so that the caller's own wait (the audit record's fdatasync, when
         * finished() came first) overlaps it. NULL, or never called, is correct too. */
        void (*waiting)(void *userdata);
        void *userdata;
} RunHooks;

/* The system tier's runner (moat-system-run start), started before the plan is final so that
 * its exec and liblxc's load overlap moat's own work: it waits for its configuration on cfg_fd
 * and reports a failure on err_fd. pid 0: none. */
typedef struct SystemRunner {
        pid_t pid;
        int cfg_fd, err_fd;
} SystemRunner;

typedef struct RunRequest {
        char **argv;           /* the command, argv[0] looked up in the sandbox's PATH */
        char *workdir;         /* absolute host path of the work directory (default: cwd) */
        char **caller_env;     /* moat's own environment, filtered by the plan's env rules */
        bool quiet;            /* no progress messages on stderr */
        const RunHooks *hooks; /* NULL: none */
        /* the system tier's runner, if moat run started one: system_execute() takes it (and
         * leaves pid 0), or the caller discards it */
        SystemRunner *system_runner;
} RunRequest;

/* One denied operation, for the audit record. */
typedef struct RunDenial {
        char syscall[40];
        char arch[16]; /* "x86_64", "x32", "x86" */
        uint64_t count;
        uint64_t first_ns; /* CLOCK_REALTIME ns of the first occurrence */
        int rule_index;    /* into plan->sandbox.seccomp.rules, -1 unknown */
} RunDenial;

/* What actually happened to each control. Indexed like plan->controls. */
/* network: outbound, what the proxy decided: totals, and per (host, port, verdict, reason) the
 * first RUN_NET_MAX_DEST pairs; later new pairs only count in the totals (dropped). */
typedef struct RunNetDest {
        char host[254];
        uint16_t port;
        bool allowed;
        char method[8];
        char reason[40];
        char addr[46]; /* the last address connected to */
        uint64_t count, bytes_up, bytes_down, ms;
} RunNetDest;

#define RUN_NET_MAX_DEST 32

typedef struct RunNetwork {
        bool active;      /* the proxy was started */
        bool proxy_died;  /* it ended before the run did (the sandbox then reached nothing) */
        bool helper_died; /* via transparent: slirp4netns ended before the run did */
        uint64_t allowed, denied, bytes_up, bytes_down, dropped;
        /* RUN_NET_MAX_DEST entries, allocated at the first destination (12 KiB that a run
         * without network would otherwise carry on moat's stack for as long as it lasts);
         * freed by run_outcome_done() */
        RunNetDest *dest;
        size_t n_dest;
} RunNetwork;

typedef enum ControlOutcome {
        CONTROL_OUTCOME_APPLIED,
        CONTROL_OUTCOME_DEGRADED,
        CONTROL_OUTCOME_NOT_APPLICABLE,
        CONTROL_OUTCOME_FAILED,      /* required and could not be applied: the run stopped */
        CONTROL_OUTCOME_NOT_REACHED, /* the run stopped before this step */
        _CONTROL_OUTCOME_MAX,
} ControlOutcome;

typedef struct RunOutcome {
        bool started;    /* the command was exec'd */
        int exit_status; /* the moat exit status per the contract above */
        int exit_code;   /* the command's exit code, -1 if killed or never started */
        int signal;      /* signal that killed it, 0 if none */
        bool timed_out;
        /* Facts for the verdict (audit/verdict.c), each from the kernel, never guessed: */
        bool cpu_time_exceeded;      /* the cpu_time watcher saw the cgroup pass the limit */
        bool output_exceeded;        /* the command wrote past resources.output: moat passed on the
                               * first output_bytes and killed the tree (or the guest) */
        uint64_t cpu_rlimit_hard_ns; /* RLIMIT_CPU hard limit of the fallback, 0 = none */
        bool oom_killed;             /* the memory cgroup's oom_kill counter is > 0 */
        uint64_t pids_max_events;    /* pids.events "max": forks refused at pids.max */
        uint64_t disk_rlimit_bytes;  /* RLIMIT_FSIZE that bounds resources.disk, 0 = none */
        uint64_t disk_quota_bytes;   /* resources.disk's project quota, 0 = none was set */
        uint64_t disk_added;         /* bytes the run added under it (project quota only) */
        char failed_step[64]; /* when !started: "mount /work", "seccomp load", "domain create" */
        int failed_errno;     /* positive errno of that step, 0 if none */
        char message[512];    /* human explanation of a failure (already printed once) */

        uint64_t wall_ns;
        uint64_t cpu_user_ns, cpu_sys_ns;
        uint64_t peak_memory; /* bytes, 0 = unknown */
        uint64_t peak_pids;   /* 0 = unknown */

        ControlOutcome *controls; /* n = plan->n_controls, NULL if the executor did not fill it */
        size_t n_controls;

        RunDenial *denials;
        size_t n_denials;

        RunNetwork network;

        char tier_detail[256]; /* "kvm", "tcg (software emulation)", "cgroup v1", ... */
        char machine_id[33];   /* the /etc/machine-id the workload saw, "" if none was made */
} RunOutcome;

void run_outcome_done(RunOutcome *o);
const char *control_outcome_to_string(ControlOutcome c);

/* The executors. Each returns 0 when the outcome is filled in (whatever the command did), or
 * -errno for a failure that prevented even that; either way outcome->exit_status is set. */
int sandbox_execute(const Plan *plan, const RunRequest *req, RunOutcome *outcome);
int vm_execute(const Plan *plan, const RunRequest *req, RunOutcome *outcome);
/* The vm tier's warm-start template for the plan's guest layout (launcher/vm/README.md), made if
 * absent; nothing runs. outcome->exit_status 0 and tier_detail "created DIR" or "present DIR"
 * when it is ready, 125 and message otherwise. */
int vm_prepare(const Plan *plan, const RunRequest *req, RunOutcome *outcome);
int system_execute(const Plan *plan, const RunRequest *req, RunOutcome *outcome);
/* Starts the system tier's runner, waiting for its configuration (0 or -errno); discard: kills
 * and reaps it, closes its pipes (a no-op for pid 0). */
int system_runner_prestart(SystemRunner *ret);
void system_runner_discard(SystemRunner *r);

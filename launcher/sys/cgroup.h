/* SPDX-License-Identifier: MIT */
/* Resource-limit cgroups for one sandbox.
 *
 * Runs in the moat parent with the caller's credentials. v2: a child of the caller's own
 * (delegated) v2 cgroup D, limits written before clone3 puts the sandbox straight into it with
 * CLONE_INTO_CGROUP. When D's cgroup.subtree_control lacks a controller the limits need (D is
 * a cgroup of moat's own: it holds no other process), moat first moves itself and its guard
 * into a leaf D/NAME.supervisor and enables the controllers in D (the no-internal-process
 * rule), and undoes both at the end: D is left as it was found. v1 (root on a legacy or hybrid host): a child of moat's own cgroup in each
 * of the memory, pids, cpu and cpuacct hierarchies that the limits need; the parent writes the sandbox's pid into each
 * "tasks" file before it lets the child continue, so nothing the sandbox runs ever executes
 * outside the limits. Leaves behind: the child cgroup directories, until
 * sys_cgroup_destroy() kills what is left in them and removes them. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "plan/plan.h"

enum {
        CGROUP_V1_MEMORY,
        CGROUP_V1_PIDS,
        CGROUP_V1_CPU,
        CGROUP_V1_CPUACCT, /* resources.cpu_time: cpuacct.usage, read by the watcher */
        CGROUP_V1_FREEZER, /* an OCI container's pause/resume (sys_cgroup_prepare_at() only) */
        _CGROUP_V1_MAX
};

typedef struct SandboxCgroup {
        CgroupMechanism mechanism;
        /* v2: paths[0]; v1: one per controller, NULL when that controller is not needed */
        char *paths[_CGROUP_V1_MAX];
        int v2_fd; /* O_DIRECTORY fd of the v2 cgroup, for CLONE_INTO_CGROUP */
        /* v2 leaf mode (see above); NULL/empty otherwise */
        char *v2_parent;     /* D */
        char *v2_leaf;       /* D/NAME.supervisor */
        char v2_enable[32];  /* "+memory +pids +cpu": what moat enables in D */
        char v2_disable[32]; /* "-memory -pids -cpu": the same, undone */
        pid_t v2_guard;      /* moved into the leaf with moat, and back */
} SandboxCgroup;

#define SANDBOX_CGROUP_INIT \
        { .v2_fd = -EBADF }

/* The guard that removes the cgroups if moat is killed: see cgroup.c. Stop it after
 * sys_cgroup_destroy(): with removed, it ends at once; without, it kills and removes what is
 * left itself (as when moat is killed). Either way it is reaped and its memory freed. The
 * system tier's guard (launcher/lxc/lxc-execute.c) has the same shape and is stopped the same
 * way. */
typedef struct CgroupGuard {
        pid_t pid;
        int fd; /* the pipe's write end: EOF tells the guard moat is gone */
        void *map;
        size_t map_size;
} CgroupGuard;

int sys_cgroup_guard_start(const SandboxCgroup *cg, CgroupGuard *ret);
/* A guard's wait, in raw system calls (it runs in moat's memory): every signal blocked but
 * SIGKILL and SIGSTOP, every fd closed but stdio and fd, then one read of fd. true: moat wrote
 * its byte (it removed everything itself); false: EOF, moat is gone or left something. */
bool sys_guard_wait(int fd);
void sys_cgroup_guard_stop(CgroupGuard *g, bool removed);
/* The first half of stop(): the guard is told (it ends, or cleans up) but not reaped yet;
 * stop() later reaps it and frees its memory. */
void sys_cgroup_guard_release(CgroupGuard *g, bool removed);

/* Work out the cgroup paths for the mechanism and the limits asked for (a child `name` of
 * the caller's own cgroup in each hierarchy needed), without creating anything, so that the
 * guard can be started on them first. -EOPNOTSUPP when the mechanism is not
 * CGROUP_MECH_V1/V2. */
int sys_cgroup_prepare(CgroupMechanism mech, const char *name, const PlanResources *res,
                       SandboxCgroup *ret);
/* The cgroup an OCI runtime spec names (linux.cgroupsPath, absolute below the hierarchy's root):
 * v1 in the memory, pids, cpu and cpuacct hierarchies, v2 in the unified one. The directories
 * above it are created (and left: the engine's, shared by its containers); the cgroup itself by
 * sys_cgroup_create(). */
int sys_cgroup_prepare_at(CgroupMechanism mech, const char *path, SandboxCgroup *ret);
/* Create the prepared cgroups and write every non-zero limit, or fail; on failure the caller
 * removes what was created with sys_cgroup_destroy(). guard: the guard's pid (v2 leaf mode
 * moves it with moat), 0 for none. */
int sys_cgroup_create(SandboxCgroup *cg, const PlanResources *res, pid_t guard);
/* v1: sys_cgroup_create() with raw system calls and plain string copies only (no errno, no
 * stdio, no allocation), for the sandbox's parent while its init, in the same memory, runs
 * libc and builds its mounts (the memory cgroup's mkdir alone is about 0.4 ms on the
 * reference machine); init starts nothing before it has moved itself in through
 * sys_cgroup_open_tasks_raw()'s files. With
 * resources.cpu_time, *ret_cpu_usage_fd is sys_cgroup_cpu_usage_open()'s fd, else -EBADF. On
 * failure the caller removes what was created with sys_cgroup_destroy(), once it may use libc
 * again. */
int sys_cgroup_create_v1_raw(const SandboxCgroup *cg, const PlanResources *res,
                             int *ret_cpu_usage_fd);
/* Free the paths and the fd without touching the file system. */
void sys_cgroup_forget(SandboxCgroup *cg);
/* v1: move pid into every controller's cgroup (a process that joins a running container,
 * sys_cgroup_join(); a new init moves itself: sys_cgroup_open_tasks_raw()). v2: nothing to do
 * (CLONE_INTO_CGROUP). Raw system calls only. */
int sys_cgroup_attach(const SandboxCgroup *cg, pid_t pid);
/* v1: each controller's tasks file opened for writing (-EBADF where the controller has no
 * cgroup), for a process to move itself in by writing "0" to it: a thread that moves itself
 * is moved without the write lock on the kernel's cgroup_threadgroup_rwsem that
 * sys_cgroup_attach() takes, and so without its wait for an RCU grace period (5-12 ms on the
 * reference machines). The file's opener's credentials are the ones the kernel checks. Raw
 * system calls only; on failure nothing stays open. */
int sys_cgroup_open_tasks_raw(const SandboxCgroup *cg, int fds[_CGROUP_V1_MAX]);
/* An OCI container's update: write the limits that are non-zero in res into existing cgroups
 * (v1: memory before memsw when lowering, after when raising). */
int sys_cgroup_set_limits(const SandboxCgroup *cg, const PlanResources *res);
/* Freeze (pause) or thaw the tree: v1 freezer.state, v2 cgroup.freeze; waits up to ~1 s for
 * FROZEN. -ENOENT without a freezer. */
int sys_cgroup_freeze(const SandboxCgroup *cg, bool frozen);
/* Move pid into an existing cgroup (v1 every controller's, v2 cgroup.procs): a process that
 * joins a running container. */
int sys_cgroup_join(const SandboxCgroup *cg, pid_t pid);
/* Peaks, 0 when the kernel does not report them. */
void sys_cgroup_read_peaks(const SandboxCgroup *cg, uint64_t *ret_memory, uint64_t *ret_pids);
/* Whether the memory controller saw an OOM kill (memory.events oom_kill / memory.oom_control). */
bool sys_cgroup_oom_killed(const SandboxCgroup *cg);
/* How often a fork failed at pids.max: the "max" counter of pids.events (v1 and v2). */
uint64_t sys_cgroup_pids_max_events(const SandboxCgroup *cg);

/* CPU time of the whole tree, for resources.cpu_time. Open the file once (v1 cpuacct.usage in
 * ns, v2 cpu.stat usage_usec), then read it as often as the watcher needs: one pread() each.
 * -ENOENT when the cgroup has no CPU accounting. */
int sys_cgroup_cpu_usage_open(const SandboxCgroup *cg);
int sys_cgroup_cpu_usage_read(int fd, CgroupMechanism mech, uint64_t *ret_ns);
/* User and system CPU time of the whole tree (v1 cpuacct.usage_user/usage_sys, v2 cpu.stat
 * user_usec/system_usec), for the outcome. -ENOENT without CPU accounting. */
int sys_cgroup_cpu_times(const SandboxCgroup *cg, uint64_t *ret_user_ns, uint64_t *ret_sys_ns);
/* SIGKILL whatever is left (cgroup.kill on v2), wait briefly for it to go, rmdir; in v2 leaf
 * mode then disable what moat enabled in D, move moat and the guard back into D and remove the
 * leaf. Safe on a zeroed or half-created SandboxCgroup; frees the paths. 0 or the first
 * -errno. */
int sys_cgroup_destroy(SandboxCgroup *cg);

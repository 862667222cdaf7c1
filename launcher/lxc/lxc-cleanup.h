/* SPDX-License-Identifier: MIT */
/* What a system-tier run leaves, and its removal. Linked into moat (the executor,
 * lxc-execute.c, at the end of every run) and into moat-system-run ("cleanup", which the
 * executor's guard execs when moat was killed). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* liblxc's per-container run path of the run directory dir: its monitor fifo's directory
 * (lock false) or its lock directory (lock true), <rundir>/lxc[/lock]<dir>. */
void lxc_run_path(const char *dir, bool lock, char *buf, size_t size);

/* Where the run `id` may have cgroups: moat-ID under each hierarchy this process is in (liblxc
 * makes the container's under its caller's, the runner's, which is moat's). Reading mountinfo
 * and /proc/self/cgroup takes a quarter of a millisecond here, so moat makes the list while the
 * command runs, not after. */
#define LXC_RUN_CGROUPS_MAX 16
typedef struct LxcRunCgroups {
        char dir[LXC_RUN_CGROUPS_MAX][1024];
        int n;
        bool done;
} LxcRunCgroups;
void lxc_run_cgroups(const char *id, LxcRunCgroups *ret);

/* Remove everything the run `id` left: its cgroups (cg, made now when NULL or not made yet;
 * what is still in them is killed, and removal retried for ~2 s), liblxc's run files and the
 * run directory dir. 0 when all of it is gone, else the first -errno. */
int lxc_run_cleanup(const char *id, const char *dir, LxcRunCgroups *cg);

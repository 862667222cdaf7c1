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

/* Remove everything the run `id` left: its cgroups (moat-ID under each hierarchy this process
 * is in; what is still in them is killed, and removal retried for ~2 s), liblxc's run files and
 * the run directory dir. 0 when all of it is gone, else the first -errno. */
int lxc_run_cleanup(const char *id, const char *dir);

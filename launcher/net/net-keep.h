/* SPDX-License-Identifier: MIT */
/* The proxy of launcher/net/netd.h for a sandbox whose launcher does not stay: `moat oci create`
 * exits once the container is created, and the container lives on under the engine's shim.
 *
 * net_proxy_keep() forks a keeper process K from the caller (before it joins anything, so K is
 * in the caller's network namespace). K drops to the unprivileged user nobody (when the caller
 * is root), sets no_new_privs, starts the proxy with net_proxy_spawn() (which confines itself
 * and dies with K), reports the start's result, and then lives exactly as long as the process
 * it watches (a pidfd on the container's init): when that ends, K stops the proxy as `moat
 * run` does (SIGTERM, the records under way, then SIGKILL) and exits. While it runs it keeps
 * the decision table (net_table_add()) in table_fd, rewritten as JSON at most every 500 ms and
 * at the end, so whoever writes the audit record later (`moat oci delete`) reads it with
 * net_table_load(). K holds nothing of the caller's stdio.
 *
 * net_table_add() is the one place a NetRecord is counted into a RunNetwork, shared with the
 * sandbox tier's supervisor. */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "executor.h"
#include "net/netd.h"

/* Count one decision: totals, and the (host, port, verdict, reason) pair (bounded). */
void net_table_add(RunNetwork *n, const NetRecord *rec);

/* Read the records waiting on fd (the proxy's or the DNS stub's SOCK_SEQPACKET end) into n,
 * without blocking. false once that end is closed (the helper died, or it is done). */
bool net_records_drain(int fd, RunNetwork *n);

/* After the run (moat run, every tier): SIGTERM to the helper *pid (no new connection; the
 * ones under way report), its records until EOF or stop_ms, then SIGKILL and reap; *fd closed,
 * *pid 0. A helper that had already exited is recorded as n->proxy_died. */
#define NET_STOP_MS 500
void net_helper_stop(pid_t *pid, int *fd, RunNetwork *n, unsigned stop_ms);

/* Fork K. 0 once the proxy runs (*ret_pid: K), or the negative errno of the step that failed
 * (K is gone then; -EPROTONOSUPPORT for a plan with via: transparent, which only `moat run`
 * sets up). The caller keeps listen_fd and table_fd; K has its own copies. */
int net_proxy_keep(const PlanEgress *e, int listen_fd, pid_t watched, int table_fd, pid_t *ret_pid);

/* The table K wrote, into n (n->dest allocated as net_table_add() does). 0, -ENOENT when there is
 * none, -EINVAL when it does not parse (K killed mid-write). */
int net_table_load(int dir_fd, const char *name, RunNetwork *n);

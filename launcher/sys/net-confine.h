/* SPDX-License-Identifier: MIT */
/* Confinement of moat's egress proxy process (launcher/net/netd.c). Runs in that process
 * right after fork() from moat, before it reads a byte from the sandbox, with moat's
 * credentials. Leaves it with: death on moat's death (PR_SET_PDEATHSIG SIGKILL, and an exit if
 * moat is already gone), no capabilities in any set, no_new_privs, a Landlock domain that
 * handles every file-system right with no rule (no file can be opened, no TCP port bound) when
 * the kernel has Landlock, not dumpable, and a seccomp allowlist: sockets of AF_INET/AF_INET6
 * only, fork without namespace flags, I/O on fds it holds, memory and time; everything else
 * fails with EPERM. Nothing outside the process changes. */
#pragma once

#include <sys/types.h>

/* 0, or -errno naming nothing (the caller exits: the proxy does not run unconfined). */
int sys_net_confine(pid_t moat_pid);
/* In each connection's process after fork(): die with the proxy. */
int sys_net_die_with_parent(pid_t parent);

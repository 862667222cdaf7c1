/* SPDX-License-Identifier: MIT */
/* Namespaces and the processes that live in them.
 *
 * sys_ns_clone() runs in the moat parent: one clone3() that creates every namespace at once
 * (user, mount, pid, net, ipc, uts, cgroup, time) with CLONE_PIDFD and, when cgroup_fd >= 0,
 * CLONE_INTO_CGROUP. The child runs fn(arg) on the stack it is given and exits with what fn
 * returns; it starts with a full capability set over its new user namespace and nothing over
 * the host's. x86-64 only (an assembly entry, as glibc's clone() has one per architecture).
 * sys_ns_set_hostname() and sys_ns_loopback_up() run in the child, in its uts and net
 * namespaces, before capabilities are dropped. The pidfd helpers run in the parent. */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>

/* The child's pid (with *ret_pidfd set, O_CLOEXEC) or -errno. stack + stack_size, the top,
 * must be 16-byte aligned. flags may include CLONE_VM (fn then runs in the caller's memory). */
pid_t sys_ns_clone(uint64_t flags, int cgroup_fd, void *stack, size_t stack_size, int (*fn)(void *),
                   void *arg, int *ret_pidfd);

int sys_ns_set_hostname(const char *name);
/* setns(2): join the namespace fd names (nstype CLONE_NEW*, 0 = any). 0 or -errno. */
int sys_ns_join(int fd, int nstype);
/* Bring "lo" up in the current net namespace (ioctl SIOCSIFFLAGS). */
int sys_ns_loopback_up(void);

int sys_pidfd_send_signal(int pidfd, int sig);
/* waitid(P_PIDFD, WEXITED) with the child's rusage (its own and its reaped descendants'). */
int sys_pidfd_wait(int pidfd, siginfo_t *ret_info, struct rusage *ret_usage);
/* Arrange SIGKILL when the parent dies (errno untouched). In a new pid namespace getppid() is
 * 0 whether the parent lives or not, so the caller closes the race with prctl() by waiting
 * for a message from the parent afterwards (EOF means it is gone). */
int sys_proc_die_with_parent(void);

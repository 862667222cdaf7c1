/* SPDX-License-Identifier: MIT */
/* File descriptors: the parent/child sync channel and the fd hygiene before exec.
 *
 * The sync channel is a SOCK_SEQPACKET|SOCK_CLOEXEC socketpair made by the parent before
 * clone3. Each message is one fixed-size SyncRecord, optionally carrying one fd (SCM_RIGHTS).
 * The child reports a failure as {step, -errno, index} and _exit()s; because its end is
 * O_CLOEXEC, a successful execve shows up in the parent as EOF. Nothing here changes any state
 * but the fd table of the calling process. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct SyncRecord {
        int32_t step;  /* caller-defined step id */
        int32_t value; /* -errno for a failure, or a step-specific value */
        int32_t index; /* e.g. the mount index in the plan, -1 if none */
        int32_t pad;
} SyncRecord;

int sys_sync_pair(int ret_fds[2]);
/* Send one record, with fd_to_pass attached when >= 0. 0 or -errno. */
int sys_sync_send(int sock, int32_t step, int32_t value, int32_t index, int fd_to_pass);
/* Receive one record. Returns 1 with *ret filled (and *ret_fd set to a received fd, O_CLOEXEC,
 * or -EBADF), 0 on EOF, -errno on error. ret_fd may be NULL: a received fd is then closed. */
int sys_sync_recv(int sock, SyncRecord *ret, int *ret_fd);

/* Close every fd >= 3 except those in keep[]: close_range() for each gap and for everything
 * above the highest kept fd. 0 or -errno. */
int sys_fd_close_all_except(const int *keep, unsigned n_keep);
/* Move fd to >= 3 if it is 0..2, keeping O_CLOEXEC. Returns the (new) fd or -errno. */
int sys_fd_move_above_stdio(int fd);

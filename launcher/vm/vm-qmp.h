/* SPDX-License-Identifier: MIT */
/* A minimal QMP client for the plain QEMU of a warm start (vm-warm.c): one unix socket, one
 * command at a time, replies and events as one JSON object per line (QEMU's QMP framing).
 * It never trusts more than the grammar: a line longer than the buffer, or a reply that is not
 * an object with "return" or "error", ends the conversation with -EPROTO. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct VmQmp {
        int fd;
        char buf[65536];
        size_t len;
        unsigned ports_open;   /* VSERPORT_CHANGE events with "open": true seen so far */
        unsigned ports_closed; /* ... and with "open": false for the control port (id "ctl",
                                * vm-warm.c), which moat-init never closes: its driver reset
                                * the device (e.g. an unbind). The output ports close when the
                                * command's last process ends. */
        char error[160];       /* the last error's "desc", printable ASCII */
} VmQmp;

/* Connects to path (retrying while QEMU has not created it yet) until deadline (CLOCK_MONOTONIC
 * ms), reads the greeting and negotiates capabilities. */
int vm_qmp_connect(VmQmp *q, const char *path, uint64_t deadline);
/* Sends one command (a JSON object as text); with pass_fd >= 0 the fd travels with it
 * (SCM_RIGHTS, for "getfd"). On success *ret_return (if not NULL) is a newly allocated copy of
 * the "return" value as JSON text. -EIO with q->error for an "error" reply. */
int vm_qmp_command(VmQmp *q, const char *cmd, int pass_fd, char **ret_return, uint64_t deadline);
/* Reads events until n VSERPORT_CHANGE "open" events have arrived in all. */
int vm_qmp_wait_ports(VmQmp *q, unsigned n, uint64_t deadline);
/* Polls query-migrate until "completed" (0), "failed"/"cancelled" (-EIO) or the deadline. */
int vm_qmp_wait_migration(VmQmp *q, uint64_t deadline);
/* After poll() said the socket is readable: reads what is there and counts its events (one read,
 * no waiting). -ECONNRESET when QEMU closed the socket, -EPROTO for a malformed line. */
int vm_qmp_read_events(VmQmp *q);
void vm_qmp_close(VmQmp *q);

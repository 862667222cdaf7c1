/* SPDX-License-Identifier: MIT */
/* The only libvirt calls of moat: a connection with an event loop thread, one transient domain
 * started with VIR_DOMAIN_START_AUTODESTROY (libvirt destroys it when this connection closes,
 * which includes moat being killed), lifecycle events delivered to a pipe the executor polls. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct VmLibvirt VmLibvirt;

/* Events written to the event pipe, one byte each. */
#define VM_EVENT_STOPPED 'S'  /* the domain is no longer running (any reason) */
#define VM_EVENT_SHUTDOWN 'D' /* the guest powered off */
#define VM_EVENT_CRASHED 'C'

int vm_libvirt_open(const char *uri, VmLibvirt **ret, char *msg, size_t msg_size);
/* Starts the domain; returns once QEMU runs. */
int vm_libvirt_create(VmLibvirt *v, const char *xml, char *msg, size_t msg_size);
/* Readable fd that receives VM_EVENT_* bytes for the created domain. */
int vm_libvirt_event_fd(const VmLibvirt *v);
bool vm_libvirt_is_active(VmLibvirt *v);
/* Hard stop; no-op when already stopped. */
int vm_libvirt_destroy(VmLibvirt *v);
/* Destroys the domain if still running, closes the connection. Returns NULL.
 * guest_done: the guest reported its end and is powering off: do not wait for libvirt to stop
 * and reap QEMU (a synchronous destroy waits for the zombie to be reaped, ~1.5 s on a host
 * whose PID 1 reaps slowly); closing the connection auto-destroys the domain in the daemon. */
VmLibvirt *vm_libvirt_close(VmLibvirt *v, bool guest_done);
/* "libvirt 9.0.0, qemu:///session" for the outcome. */
const char *vm_libvirt_describe(const VmLibvirt *v);

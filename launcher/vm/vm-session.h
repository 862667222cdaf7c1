/* SPDX-License-Identifier: MIT */
/* The caller's libvirt session daemon, started under a child subreaper of moat's.
 *
 * libvirt daemonizes QEMU, so once a guest powers off its QEMU is an orphan whose zombie
 * only PID 1 can reap, and the daemon polls kill(pid, 0) until it is gone before the domain
 * is cleaned up and the next one can start. A PID 1 that reaps orphans late (not systemd:
 * about every 1.4 s on the hosts moat's CI runs on) makes every run that follows another
 * within seconds wait for the previous QEMU's zombie: measured here, 3.5-4.0 s per
 * `moat run -p hostile -- /bin/true` back to back against 2.8-2.9 s five seconds apart.
 * When no session daemon is running, moat starts it itself, as libvirt's client would
 * (`libvirtd --timeout=120`, detached in its own session), below a small process that is a
 * child subreaper and reaps whatever is reparented to it at once. */
#pragma once

/* Best effort: 0 when a session daemon accepts connections (already running, or started
 * here), -errno otherwise, and libvirt's client then starts one its own way. */
int vm_session_daemon_ensure(void);

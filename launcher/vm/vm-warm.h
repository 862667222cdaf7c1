/* SPDX-License-Identifier: MIT */
/* Warm start of the vm tier: a template snapshot per (QEMU build, guest kernel, initramfs with
 * the guest init, machine, accelerator, memory, vCPUs, kernel command line, share layout),
 * captured once while moat's guest init waits for its configuration, and restored for each run
 * by a fresh plain QEMU that maps the template's RAM copy-on-write (x-ignore-shared, file-backed
 * memory, `fd:` incoming migration). Every clone is single-use: its own QEMU, its own shares
 * (9p paths are command-line state), a fresh CRNG seed and the host's clock sent with the
 * configuration, destroyed after one command (launcher/vm/README.md, "Warm start").
 *
 * Who runs it: moat-vm-run's executor, as QEMU's account (the caller, or moat-vm for root).
 * QEMU is confined as libvirt confines it (-sandbox on,obsolete=deny,elevateprivileges=deny,
 * spawn=deny,resourcecontrol=deny; no_new_privs) plus a private user and mount namespace and a
 * Landlock domain that lets it write only the run directory, the run's writable shares and
 * /dev. Its open() of the template's RAM file is answered (seccomp user notification) with a
 * read-only descriptor, so a compromised QEMU can neither write the template through that
 * descriptor nor open it for writing itself (SECURITY.md, "vm tier: warm start"). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm-domain.h"

/* An owned copy of what a clone needs from the cold path's domain description. */
typedef struct VmWarmSpec {
        bool kvm;
        uint64_t memory_mib;
        uint32_t vcpus;
        char *name, *emulator, *loader, *kernel, *initrd, *cmdline;
        VmShare shares[VM_DOMAIN_SHARES_MAX];
        char *sources[VM_DOMAIN_SHARES_MAX];
        char tags[VM_DOMAIN_SHARES_MAX][32];
        size_t n_shares;
        bool net; /* the egress port org.moat.net (net.sock), for network: outbound */
} VmWarmSpec;

int vm_warm_spec_copy(const VmDomainSpec *d, VmWarmSpec *ret);
void vm_warm_spec_done(VmWarmSpec *s);

/* False (with the reason) when this run boots cold by request: MOAT_VM_START=cold. */
bool vm_warm_enabled(char *why, size_t why_size);

typedef struct VmWarm VmWarm;

/* Starts the warm machinery for a run whose run directory is run_dir: a janitor process that
 * kills QEMU and removes the run directory (and a half-captured template) if this process
 * dies, even by SIGKILL. */
int vm_warm_new(const char *run_dir, VmWarm **ret);
/* Makes sure the template of s exists in the caller's cache ($XDG_CACHE_HOME/moat/vm/
 * tmpl-KEY, 0700), capturing it with one guest boot if not (a progress line on a terminal
 * unless quiet). -errno with the reason in why. */
int vm_warm_template(VmWarm *w, const VmWarmSpec *s, bool quiet, char *why, size_t why_size);
/* Verifies the template (its RAM file's identity and its device state's SHA-256, recorded at
 * capture) and restores a clone whose ports connect to the run directory's ctl/out/err
 * sockets, and net.sock if s->net (listen_fd, net_listen_fd: moat's listening ends, drained
 * if the restore fails; net_listen_fd -EBADF without the egress port). The configuration
 * (*config, ending in the end record) gets the clone's CRNG seed and clock just before the
 * guest resumes. A template that fails verification is removed (-EBADMSG). On any failure
 * nothing runs any more and why says what happened; the caller boots cold. */
int vm_warm_restore(VmWarm *w, const VmWarmSpec *s, const int listen_fd[3], int net_listen_fd,
                    char **config, size_t *config_len, char *why, size_t why_size);
/* Readable with VM_EVENT_STOPPED (vm-libvirt.h) once the clone's QEMU has exited. */
int vm_warm_event_fd(const VmWarm *w);
/* The clone's QMP socket, kept after the restore: readable when QEMU has events; -1 when none
 * is watched (any more). */
int vm_warm_watch_fd(const VmWarm *w);
/* After poll() said vm_warm_watch_fd() is readable: 1 when the guest has closed its control port
 * since the restore (VSERPORT_CHANGE "open": false for id "ctl": moat-init holds it until it
 * powers off, so only a reset of the device does that, e.g. an unbind of its driver, after
 * which the port could be opened again by someone else), else 0; a QMP socket that ends stops
 * the watch. */
int vm_warm_watch(VmWarm *w);
/* Hard stop of the clone (SIGKILL to its QEMU). */
void vm_warm_kill(VmWarm *w);
/* The running clone's QEMU as a pidfd (owned by w), or -EBADF. */
int vm_warm_qemu_pidfd(const VmWarm *w);
/* "plain QEMU 7.2.x, template KEY; seccomp=2 no_new_privs=1 ..." for the outcome. */
const char *vm_warm_describe(const VmWarm *w);
/* Kills and reaps QEMU, stops the helper thread and the janitor, removes the files the warm
 * path made in the run directory. Returns NULL. */
VmWarm *vm_warm_close(VmWarm *w);
/* After vm_warm_template() succeeded: the template's directory, and whether that call created
 * it (false: it was there already). */
const char *vm_warm_template_dir(const VmWarm *w, bool *ret_created);

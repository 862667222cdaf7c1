/* SPDX-License-Identifier: MIT */
/* The definitive half of "KVM usable" (host/kvm.c has the cheap half): once per proof key,
 * with QEMU's credentials, (1) a 64-bit test guest that runs vector code and a loop under a
 * deadline, then (2) a boot of the real guest kernel and moat's init under QEMU -accel kvm
 * -cpu host, bounded in time. The verdict goes to the caller's cache, where the probe finds
 * it, so that `moat host`, `moat explain` and every later run agree with what was seen. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "host/host.h"

/* The bound of the whole proof. A guest kernel reaches init under a working KVM in about a
 * second; a /dev/kvm that emulates instructions either fails at once or never gets there. */
#define VM_KVM_PROOF_MS 15000u

typedef struct VmKvmProof {
        bool conclusive; /* false: the proof itself could not run (no initramfs, no QEMU...) */
        bool proven;
        uint64_t ms;
        char reason[384]; /* why not proven, or why inconclusive */
} VmKvmProof;

/* Boots KERNEL with moat's init in proof mode under QEMU with ACCEL ("kvm"; the tests use
 * "tcg" to exercise this machinery where no KVM exists) and the current credentials, within
 * deadline_ms. Fills *ret; returns 0, or -errno when it could not even try. */
int vm_kvm_boot_check(const char *accel, const char *qemu, const char *kernel, unsigned deadline_ms,
                      bool quiet, VmKvmProof *ret);

/* For h->kvm_state == KVM_STATE_UNPROVEN: runs the proof as QEMU's account (moat-vm for root),
 * saves the verdict and updates h (kvm_state proven or failed, kvm_usable, kvm_reason). An
 * inconclusive proof leaves h unproven, with the reason, and caches nothing. */
int vm_kvm_prove(HostFacts *h, bool quiet);

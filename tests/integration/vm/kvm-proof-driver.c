/* SPDX-License-Identifier: MIT */
/* Test driver: the KVM proof's boot check (vm_kvm_boot_check) with a chosen accelerator, so that
 * its machinery (initramfs, QEMU command line, moat-init's proof mode, the deadline, the
 * verdict) is exercised under TCG on hosts without KVM.
 *   kvm-proof-driver ACCEL DEADLINE_MS
 * Prints "proven=0|1 conclusive=0|1 ms=N reason=..." and exits 0 when it could try. */
#include <stdio.h>
#include <stdlib.h>

#include "vm/vm-kvm-proof.h"

int main(int argc, char **argv) {
        const char *kernel = getenv("MOAT_GUEST_KERNEL");
        VmKvmProof p;
        int r;

        if (argc != 3 || !kernel)
                return 2;
        r = vm_kvm_boot_check(argv[1], "/usr/bin/qemu-system-x86_64", kernel,
                              (unsigned) strtoul(argv[2], NULL, 10), true, &p);
        printf("proven=%d conclusive=%d ms=%llu reason=%s\n", p.proven, p.conclusive,
               (unsigned long long) p.ms, p.reason);
        return r < 0 ? 1 : 0;
}

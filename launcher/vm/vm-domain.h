/* SPDX-License-Identifier: MIT */
/* PURE. The libvirt domain XML of one vm-tier run, from a fully resolved description. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VM_DOMAIN_SHARES_MAX 16

typedef struct VmShare {
        const char *source; /* absolute host directory */
        const char *tag;    /* 9p mount tag, [a-z0-9]{1,31} */
        bool readonly;      /* enforced by QEMU (readonly=on), not only by the guest */
} VmShare;

typedef struct VmDomainSpec {
        const char *name;
        bool kvm; /* domain type kvm, else qemu (TCG) */
        uint64_t memory_mib;
        uint32_t vcpus;
        const char *emulator; /* qemu-system-x86_64 */
        const char *loader;   /* firmware ROM (qboot), NULL = the machine's default */
        const char *kernel;
        const char *initrd;
        const char *cmdline;     /* kernel command line (escaped here) */
        const char *console_log; /* serial console to this file */
        const char *ctl_socket;  /* moat listens; QEMU connects */
        const char *stdout_socket;
        const char *stderr_socket;
        const VmShare *shares;
        size_t n_shares;
        /* The egress port (org.moat.net) to this socket, moat listening; NULL = no such port
         * (every run without network: outbound). */
        const char *net_socket;
} VmDomainSpec;

/* Returns 0 and a newly allocated XML document, -EINVAL for an incomplete or unsafe spec
 * (relative paths, a bad tag, too many shares, zero memory), -ENOMEM. */
int vm_domain_xml(const VmDomainSpec *s, char **ret);

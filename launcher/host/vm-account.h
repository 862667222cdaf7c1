/* SPDX-License-Identifier: MIT */
/* The account QEMU runs as when the caller is root: moat-vm, never root (launcher/vm/README.md,
 * "Root callers"). The probe opens /dev/kvm with exactly these credentials and the vm executor's
 * helper switches to them, so "KVM usable" is decided for the process that will use it.
 *
 * Credentials: moat-vm's uid, its primary gid and the supplementary groups /etc/group gives it
 * (getgrouplist). That list is how an administrator grants /dev/kvm (Debian: group kvm, set by
 * udev's 50-udev-default.rules; moat-guest-kernel adds moat-vm to it). Dropping every group
 * (setgroups(0)) would make KVM unusable for root's guests whatever the administrator did. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#define VM_ACCOUNT "moat-vm"
#define VM_ACCOUNT_MAX_GROUPS 64

typedef struct VmAccount {
        char name[32];
        uid_t uid;
        gid_t gid;
        char home[256];
        gid_t groups[VM_ACCOUNT_MAX_GROUPS];
        int n_groups;
} VmAccount;

/* Looks moat-vm up (NSS: call before fork, never in a child of a threaded process).
 * -ENOENT: no such account; -EPERM: it is uid 0 or has no absolute home; -E2BIG: more groups
 * than VM_ACCOUNT_MAX_GROUPS. */
int vm_account_lookup(VmAccount *ret);
/* In a child that is about to act as QEMU's account: setgroups, setresgid, setresuid, and a
 * check that no way back to the old ids is left. Only async-signal-safe calls. */
int vm_account_become(const VmAccount *a);

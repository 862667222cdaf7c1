/* SPDX-License-Identifier: MIT */
/* What the guest sees: the plan's filesystem (plan->sandbox.mounts) turned into 9p shares for
 * the domain and mount records for the guest init. Reads the host (stat, readlink) but changes
 * nothing. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "executor.h"
#include "vm-domain.h"

typedef struct VmLayout {
        VmShare shares[VM_DOMAIN_SHARES_MAX];
        char *sources[VM_DOMAIN_SHARES_MAX]; /* owned; shares[i].source points here */
        char tags[VM_DOMAIN_SHARES_MAX][8];
        size_t n_shares;
        char *config; /* vm-proto records, without the final "z0:" */
        size_t config_len;
        char *cwd;           /* the command's working directory in the guest */
        char machine_id[33]; /* the guest's /etc/machine-id: the plan's, or drawn for this run */
        bool image_root;     /* the root is an image (overlay record), not the host's /usr, /etc */
} VmLayout;

/* uid/gid: the identity the command runs as in the guest. On failure msg says why. */
int vm_layout_build(const Plan *plan, const RunRequest *req, uid_t uid, gid_t gid, VmLayout *ret,
                    char *msg, size_t msg_size);
void vm_layout_done(VmLayout *l);

/* SPDX-License-Identifier: MIT */
/* PURE. The system tier's part of the plan: mode, image and id map. Every other control of a
 * system-tier plan is the sandbox plan's (plan-sandbox.c, plan-seccomp.c), which the system
 * executor turns into lxc keys and then verifies (launcher/lxc/). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plan-internal.h"

int plan_build_system(Plan *p, const Profile *pr, const HostFacts *h) {
        PlanSystem *s = &p->system;

        /* The vm tier takes an image root too (launcher/vm/vm-layout.c): its mode and image. */
        if (p->tier != TIER_SYSTEM && !(p->tier == TIER_VM && pr->fs.root == ROOT_IMAGE))
                return 0;
        /* os.init chooses the mode: an init to boot, or none for command mode */
        s->boot = pr->os.init != NULL;
        if (s->boot && !(s->init = strdup(pr->os.init)))
                return -ENOMEM;
        if (pr->fs.root == ROOT_IMAGE && pr->fs.image && !(s->image = strdup(pr->fs.image)))
                return -ENOMEM;
        if (pr->fs.image_name && !(s->image_name = strdup(pr->fs.image_name)))
                return -ENOMEM;
        memcpy(s->image_digest, pr->fs.image_digest, sizeof(s->image_digest));
        s->range_map = h->is_root;
        return 0;
}

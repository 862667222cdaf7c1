/* SPDX-License-Identifier: MIT */
/* PURE. The plan as text for `moat explain`: the tier first, then why, then every control,
 * then what is degraded and why, then what the workload can still reach, then (vm) the cost. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "basic/macros.h"
#include "basic/strv.h"
#include "plan-internal.h"

#define APPEND(...)                                         \
        do {                                                \
                if (plan_append(&out, "", __VA_ARGS__) < 0) \
                        return NULL;                        \
        } while (0)

static const char *tier_comment(const Plan *p) {
        switch (p->tier) {
        case TIER_SANDBOX:
                return "shared kernel; namespaces, seccomp, Landlock, no capabilities";
        case TIER_SYSTEM:
                return "full OS container through LXC; shared kernel";
        case TIER_VM:
                return p->vm.kvm ? "KVM: hardware virtualisation, a separate kernel"
                                 : "TCG, software emulation: slower, still a separate kernel";
        default:
                return "";
        }
}

char *plan_to_text(const Plan *p) {
        _cleanup_free_ char *out = NULL;
        size_t degraded = 0;

        APPEND("profile: %s\n", p->profile_name ? p->profile_name : "(unnamed)");
        APPEND("tier: %s (%s)\n", tier_to_string(p->tier), tier_comment(p));
        if (p->refused) {
                APPEND("\nREFUSED: moat will not run this profile here.\n");
                for (const char *s = p->refusal; s && *s;) {
                        const char *nl = strchr(s, '\n');
                        size_t n = nl ? (size_t) (nl - s) : strlen(s);
                        APPEND("  - %.*s\n", (int) n, s);
                        s += n + (nl ? 1 : 0);
                }
        }

        APPEND("\nwhy:\n");
        for (size_t i = 0; i < p->n_decisions; i++) {
                const PlanDecision *d = &p->decisions[i];
                APPEND("  %-28s %s%s%s\n", d->rule_id,
                       d->refuse ? "refuse" : tier_to_string(d->min_tier), d->sentence ? ": " : "",
                       d->sentence ? d->sentence : "");
        }

        APPEND("\ncontrols:\n");
        for (size_t i = 0; i < p->n_controls; i++) {
                const PlanControl *c = &p->controls[i];
                degraded += c->status == CONTROL_DEGRADED;
                APPEND("  %-20s %-15s %s\n", c->name, control_status_to_string(c->status),
                       c->detail ? c->detail : (c->reason ? c->reason : ""));
        }

        if (degraded > 0) {
                APPEND("\ndegraded (best-effort controls this host cannot fully enforce):\n");
                for (size_t i = 0; i < p->n_controls; i++) {
                        const PlanControl *c = &p->controls[i];
                        if (c->status == CONTROL_DEGRADED)
                                APPEND("  %-20s %s%s%s\n", c->name, c->reason ? c->reason : "",
                                       c->reason && c->detail ? "; instead: " : "",
                                       c->detail ? c->detail : "");
                }
        }

        APPEND("\nwhat the workload can still reach:\n");
        STRV_FOREACH (s, p->reachable)
                APPEND("  - %s\n", *s);

        if (p->tier == TIER_SYSTEM) {
                const PlanSystem *s = &p->system;
                APPEND("\nsystem container:\n");
                if (s->boot) {
                        APPEND("  mode                 boot: %s is pid 1; the command is attached "
                               "with the plan's confinement\n",
                               s->init);
                        /* the executor resolves the init in the image when the run starts */
                        APPEND("  init's confinement   systemd (root only; the command then needs "
                               "a uid other than 0): mount except writable remounts, no umount, "
                               "personality, every capability but the kernel-facing ones, in a "
                               "user namespace nested in the container's where moat's mounts are "
                               "locked (the container's root makes it: refused on a host whose "
                               "kernel.unprivileged_userns_clone is 0), /sys read-only, /run a "
                               "tmpfs; moat waits for its READY=1 "
                               "(60 s at most) and halts it after the command (5 s grace); "
                               "another init: the command's confinement\n");
                } else
                        APPEND("  mode                 command: moat's gate is pid 1; it checks "
                               "its own status first, then runs the command and stays its "
                               "init\n");
                if (s->image_name)
                        APPEND("  image                %s sha256:%s (read-only)\n", s->image_name,
                               s->image_digest);
                else
                        APPEND("  image                %s (a directory, read-only)\n",
                               s->image ? s->image : "(none)");
                APPEND("  writable layer       a private overlay upper, discarded after the run\n");
                APPEND("  id map               %s\n",
                       s->range_map ? "65536 ids from moat's reserved range (several users "
                                      "inside; uid 0 inside is not host root)"
                                    : "one id: uid 0 inside is the caller, nobody else exists");
                APPEND("  verified after start from the host: namespaces, seccomp (mode and filter "
                       "count), no_new_privs, capability bounding set, id maps, rlimits, cgroup "
                       "limits; from inside by the gate, before the command runs\n");
        }

        if (p->tier == TIER_VM) {
                char mem[32];
                plan_format_bytes(p->vm.memory, mem, sizeof(mem));
                APPEND("\ncost: %s guest RAM, %u vcpu%s, %s\n", mem, p->vm.vcpus,
                       p->vm.vcpus == 1 ? "" : "s",
                       p->vm.kvm ? "KVM" : "TCG (several times slower than KVM)");
                if (p->vm.boot_ms)
                        APPEND("boot time: %u ms (last measured on this host)\n", p->vm.boot_ms);
                else
                        APPEND("boot time: unknown until first run\n");
                if (p->system.image && p->system.boot)
                        APPEND("guest image: boot mode: %s boots the image's system as "
                               "pid 1 of its own pid, mount, cgroup, UTS and IPC namespaces "
                               "(without the kernel-facing capabilities and sys_resource); "
                               "moat's guest init stays the kernel's pid 1, keeps the ports, "
                               "waits for its READY=1 (the run's timeout, else 120 s) and runs "
                               "the command in that system with every control above; the guest "
                               "powers off after the command; warm start only (the clone's QMP "
                               "reports a reset of the guest's ports)\n",
                               p->system.init);
                else if (p->system.image)
                        APPEND("guest image: command mode: moat's guest init is pid 1 "
                               "and runs the command\n");
                if (p->vm.n_not_in_guest)
                        APPEND("\nsandbox-tier controls not applied in the guest, and why:\n");
                for (size_t i = 0; i < p->vm.n_not_in_guest; i++)
                        APPEND("  %-20s %s\n", p->vm.not_in_guest[2 * i],
                               p->vm.not_in_guest[2 * i + 1]);
        }
        return TAKE_PTR(out);
}

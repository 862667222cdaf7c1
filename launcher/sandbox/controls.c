/* SPDX-License-Identifier: MIT */
/* Step names and the per-control outcome for the audit record: each control of the plan is
 * tied to the step of the child (or parent) that applies it, so a run that stopped at step S
 * reports controls before S as applied, at S as failed, after S as not reached. */
#include <string.h>

#include "basic/macros.h"
#include "sandbox/sandbox-internal.h"

static const char *const step_names[_STEP_MAX] = {
        [STEP_CLONE] = "namespaces",
        [STEP_IDMAP] = "idmap",
        [STEP_CGROUP] = "cgroup",
        [STEP_DISK] = "disk quota",
        [STEP_SYNC] = "sync",
        [STEP_MOUNT] = "mount",
        [STEP_PIVOT_ROOT] = "pivot_root",
        [STEP_HOSTNAME] = "hostname",
        [STEP_NETWORK] = "network",
        [STEP_EGRESS] = "egress proxy",
        [STEP_EGRESS_HELPER] = "egress slirp4netns",
        [STEP_EGRESS_RULES] = "egress rules",
        [STEP_EGRESS_READBACK] = "egress rules read-back",
        [STEP_EGRESS_DNS] = "egress dns stub",
        [STEP_RLIMIT] = "rlimit",
        [STEP_WORKDIR] = "workdir",
        [STEP_SETSID] = "setsid",
        [STEP_LSM] = "lsm exec label",
        [STEP_NO_NEW_PRIVS] = "no_new_privs",
        [STEP_CAPS] = "capabilities",
        [STEP_LANDLOCK] = "landlock",
        [STEP_OUTPUT] = "output relay",
        [STEP_FDS] = "close fds",
        [STEP_SECCOMP] = "seccomp load",
        [STEP_FORK] = "fork",
        [STEP_EXEC] = "exec",
};

const char *sandbox_step_to_string(SandboxStep s) {
        if ((unsigned) s < _STEP_MAX)
                return step_names[s];
        return "unknown";
}

/* Control names as plan_resolve() lists them (launcher/plan/plan-controls.c). A name not
 * listed here is taken to be in force from the exec on (timeout, env). */
static const struct {
        const char *name;
        SandboxStep step;
} control_steps[] = {
        { "userns", STEP_IDMAP },
        { "mountns", STEP_CLONE },
        { "pidns", STEP_CLONE },
        { "netns", STEP_CLONE },
        { "ipcns", STEP_CLONE },
        { "cgroupns", STEP_CLONE },
        { "timens", STEP_CLONE },
        { "utsns", STEP_HOSTNAME },
        { "die-with-parent", STEP_SYNC },
        { "cgroup.memory", STEP_CGROUP },
        { "cgroup.pids", STEP_CGROUP },
        { "cgroup.cpu", STEP_CGROUP },
        { "cpu_time", STEP_CGROUP }, /* the watcher reads the cgroup made at this step */
        { "readonly-root", STEP_MOUNT },
        { "proc-masks", STEP_MOUNT },
        { "dev", STEP_MOUNT },
        { "pivot_root", STEP_PIVOT_ROOT },
        { "network", STEP_NETWORK },
        { "egress.proxy", STEP_EGRESS },
        { "egress.allow", STEP_EGRESS },
        { "egress.transparent", STEP_EGRESS_HELPER },
        { "egress.rules", STEP_EGRESS_READBACK },
        { "egress.dns", STEP_EGRESS_DNS },
        { "rlimits", STEP_RLIMIT },
        /* RLIMIT_FSIZE, or the mounts when no bind is writable; a project quota: STEP_DISK */
        { "disk", STEP_RLIMIT },
        { "setsid", STEP_SETSID },
        { "apparmor", STEP_LSM },
        { "selinux", STEP_LSM },
        { "no_new_privs", STEP_NO_NEW_PRIVS },
        { "caps", STEP_CAPS },
        { "landlock", STEP_LANDLOCK },
        { "output", STEP_OUTPUT },
        { "close-fds", STEP_FDS },
        { "seccomp", STEP_SECCOMP },
};

static SandboxStep control_step(const Plan *plan, const char *name) {
        if (name && strcmp(name, "disk") == 0 &&
            plan->resources.disk_mechanism == DISK_MECH_PROJECT_QUOTA)
                return STEP_DISK;
        for (size_t i = 0; name && i < ELEMENTSOF(control_steps); i++)
                if (strcmp(name, control_steps[i].name) == 0)
                        return control_steps[i].step;
        return STEP_EXEC;
}

ControlOutcome *sandbox_control_outcomes(const Plan *plan, int failed_step, const int *degraded) {
        ControlOutcome *out =
                calloc(plan->n_controls ? plan->n_controls : 1, sizeof(ControlOutcome));
        if (!out)
                return NULL;
        for (size_t i = 0; i < plan->n_controls; i++) {
                const PlanControl *c = &plan->controls[i];
                SandboxStep s = control_step(plan, c->name);
                if (c->status == CONTROL_NOT_APPLICABLE)
                        out[i] = CONTROL_OUTCOME_NOT_APPLICABLE;
                else if (failed_step >= 0 && failed_step != STEP_EXEC && (int) s > failed_step)
                        out[i] = CONTROL_OUTCOME_NOT_REACHED;
                else if (failed_step >= 0 && failed_step != STEP_EXEC && (int) s == failed_step)
                        out[i] = CONTROL_OUTCOME_FAILED;
                else if (c->status == CONTROL_DEGRADED || degraded[s] < 0)
                        out[i] = CONTROL_OUTCOME_DEGRADED;
                else
                        out[i] = CONTROL_OUTCOME_APPLIED;
        }
        return out;
}

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
        [STEP_SYNC] = "sync",
        [STEP_MOUNT] = "mount",
        [STEP_PIVOT_ROOT] = "pivot_root",
        [STEP_HOSTNAME] = "hostname",
        [STEP_NETWORK] = "network",
        [STEP_RLIMIT] = "rlimit",
        [STEP_WORKDIR] = "workdir",
        [STEP_SETSID] = "setsid",
        [STEP_LSM] = "lsm exec label",
        [STEP_NO_NEW_PRIVS] = "no_new_privs",
        [STEP_CAPS] = "capabilities",
        [STEP_LANDLOCK] = "landlock",
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

/* Control names (plan->controls[].name) by prefix; the first match wins. */
static const struct {
        const char *prefix;
        SandboxStep step;
} control_steps[] = {
        { "userns", STEP_IDMAP },       { "idmap", STEP_IDMAP },
        { "ns", STEP_CLONE },           { "namespace", STEP_CLONE },
        { "pidns", STEP_CLONE },        { "netns", STEP_CLONE },
        { "cgroup", STEP_CGROUP },      { "resources", STEP_CGROUP },
        { "memory", STEP_CGROUP },      { "pids", STEP_CGROUP },
        { "cpu", STEP_CGROUP },         { "rlimit", STEP_RLIMIT },
        { "mount", STEP_MOUNT },        { "fs", STEP_MOUNT },
        { "filesystem", STEP_MOUNT },   { "bind", STEP_MOUNT },
        { "tmpfs", STEP_MOUNT },        { "proc", STEP_MOUNT },
        { "dev", STEP_MOUNT },          { "mask", STEP_MOUNT },
        { "sys", STEP_MOUNT },          { "pivot_root", STEP_PIVOT_ROOT },
        { "root", STEP_PIVOT_ROOT },    { "hostname", STEP_HOSTNAME },
        { "uts", STEP_HOSTNAME },       { "network", STEP_NETWORK },
        { "net", STEP_NETWORK },        { "setsid", STEP_SETSID },
        { "session", STEP_SETSID },     { "apparmor", STEP_LSM },
        { "selinux", STEP_LSM },        { "mac", STEP_LSM },
        { "lsm", STEP_LSM },            { "no_new_privs", STEP_NO_NEW_PRIVS },
        { "nnp", STEP_NO_NEW_PRIVS },   { "caps", STEP_CAPS },
        { "capabilities", STEP_CAPS },  { "landlock", STEP_LANDLOCK },
        { "fds", STEP_FDS },            { "seccomp", STEP_SECCOMP },
        { "syscalls", STEP_SECCOMP },
};

static SandboxStep control_step(const char *name) {
        for (size_t i = 0; name && i < ELEMENTSOF(control_steps); i++) {
                size_t l = strlen(control_steps[i].prefix);
                if (strncmp(name, control_steps[i].prefix, l) == 0 &&
                    (name[l] == 0 || name[l] == '.' || name[l] == '_' || name[l] == '-'))
                        return control_steps[i].step;
        }
        return STEP_EXEC; /* timeout, env, ...: in force once the workload runs */
}

ControlOutcome *sandbox_control_outcomes(const Plan *plan, int failed_step, const int *degraded) {
        ControlOutcome *out = calloc(plan->n_controls ? plan->n_controls : 1, sizeof(ControlOutcome));
        if (!out)
                return NULL;
        for (size_t i = 0; i < plan->n_controls; i++) {
                const PlanControl *c = &plan->controls[i];
                SandboxStep s = control_step(c->name);
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

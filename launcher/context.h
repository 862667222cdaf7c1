/* SPDX-License-Identifier: MIT */
/* Loading the three inputs of a run and resolving the plan, shared by `moat explain` and
 * `moat run`. Reads files and probes the host read-only; changes nothing. */
#pragma once

#include "basic/error.h"
#include "host/host.h"
#include "plan/plan.h"
#include "policy/policy.h"
#include "profile/profile.h"

typedef struct RunContext {
        Profile *profile;
        Policy *policy;
        HostFacts host;
        Plan *plan;
} RunContext;

typedef struct RunContextArgs {
        const char *profile;         /* -p: a shipped profile name or a path */
        const char *policy_file;     /* --policy; NULL = /etc/moat/policy.yaml if present */
        const char *host_facts_file; /* --host-facts; NULL = probe this host */
        const char *policies_dir;    /* NULL = MOAT_DATA_DIR/policies or the installed dir */
        /* host_facts_probe_flags(): HOST_PROBE_SKIP_KVM; HOST_PROBE_BASE probes what the tier
         * needs only (the rest once the plan is vm or system). Only for a caller that uses the
         * plan and the base facts, never the others (moat run, moat explain). */
        unsigned probe_flags;
        const char *workdir; /* the run's work directory (absolute); NULL = current */
} RunContextArgs;

/* On failure, error names the file:line:column or the flag, and the return is negative. */
int run_context_load(const RunContextArgs *args, RunContext *ctx, MoatError *error);
/* run_context_load() in two steps, for a caller that acts on the profile before the rest is
 * loaded (moat run starts the system tier's runner): the profile (and its image), then the
 * policy, the host's facts and the plan. Each leaves ctx empty on failure. */
int run_context_load_profile(const RunContextArgs *args, RunContext *ctx, MoatError *error);
int run_context_load_rest(const RunContextArgs *args, RunContext *ctx, MoatError *error);
void run_context_done(RunContext *ctx);
/* For a caller that keeps the plan for as long as a workload runs (moat run's supervisor),
 * after run_context_load() ran on a scratch thread (sys/heap.h): the plan and the host facts
 * are copied on the calling thread, contiguous in its heap, and the originals and the profile
 * (not needed from here: ctx->profile is NULL after, so no run_context_resolve_again()) are
 * freed on a scratch thread (the one that made them, if sys_heap_scratch_keep() kept it),
 * which ends and leaves the heap they were made in empty. The copies
 * are equal to the originals in every field (tests/unit/plan/test-plan.c,
 * tests/unit/host/test-host-json.c). -ENOMEM leaves ctx as it was. */
int run_context_compact(RunContext *ctx);
/* Resolves ctx->plan again from the same inputs, after ctx->host changed (a KVM proof). */
int run_context_resolve_again(RunContext *ctx, MoatError *error);

/* Data directory holding profiles/ and policies/: $MOAT_DATA_DIR, else the installed one. */
const char *moat_data_dir(void);

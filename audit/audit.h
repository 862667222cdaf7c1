/* SPDX-License-Identifier: MIT */
/* The audit trail: one JSON Lines record per `moat run` (including refusals and failed
 * starts), hash-chained (SHA-256, optionally HMAC-keyed) so that `moat audit verify` detects
 * an edited, dropped, inserted or reordered record. Schema: audit/README.md.
 *
 * audit_record_build() is PURE (plan + outcome -> JSON); audit_log_append() does the I/O. */
#pragma once

#include <stdbool.h>

#include "executor.h"
#include "host/host.h"
#include "plan/plan.h"
#include "policy/policy.h"

typedef struct AuditContext {
        const Plan *plan;               /* may be NULL if the profile did not even load */
        const Policy *policy;           /* may be NULL */
        const HostFacts *host;          /* may be NULL */
        const RunRequest *request;
        const RunOutcome *outcome;      /* NULL for a refusal before any executor ran */
        const char *profile_arg;        /* what the user passed to -p */
        const char *error;              /* moat's own error for a refused/failed run, or NULL */
        uint64_t start_realtime_ns;     /* when moat started the run */
} AuditContext;

/* Build the record (without the chain fields) as a jansson object. */
struct json_t;
struct json_t *audit_record_build(const AuditContext *ctx);

/* Default log path for this caller: the policy's, else /var/log/moat/audit.jsonl for root,
 * else $XDG_STATE_HOME/moat/audit.jsonl (~/.local/state/moat/audit.jsonl). Caller frees. */
char *audit_log_default_path(const Policy *policy);

/* Build, chain and append one record. Returns 0 or -errno; the caller reports a failure and
 * treats it as fatal for compliance runs (a run whose audit record cannot be written exits 125
 * if it had not started, and reports the error otherwise). */
int audit_log_run(const AuditContext *ctx, const char *log_path);

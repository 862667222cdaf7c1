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
        const Plan *plan;      /* may be NULL if the profile did not even load */
        const Policy *policy;  /* may be NULL */
        const HostFacts *host; /* may be NULL */
        const RunRequest *request;
        const RunOutcome *outcome;  /* NULL for a refusal before any executor ran */
        const char *profile_arg;    /* what the user passed to -p */
        const char *error;          /* moat's own error for a refused/failed run, or NULL */
        uint64_t start_realtime_ns; /* when moat started the run */
} AuditContext;

/* Build the record (without the chain fields) as a jansson object. */
struct json_t;
struct json_t *audit_record_build(const AuditContext *ctx);

/* How a run ended: the "verdict" of the audit record and of `moat run --result` (README). */
typedef enum RunVerdict {
        RUN_VERDICT_EXITED,   /* the command exited (any code) */
        RUN_VERDICT_SIGNALED, /* a signal killed it, none of the reasons below */
        RUN_VERDICT_TIMEOUT,  /* resources.timeout (wall time) */
        RUN_VERDICT_CPU_TIME, /* resources.cpu_time */
        RUN_VERDICT_MEMORY,   /* an OOM kill in the memory cgroup */
        RUN_VERDICT_PIDS,     /* a fork refused at pids.max, and the run failed */
        RUN_VERDICT_DISK,     /* SIGXFSZ under resources.disk's RLIMIT_FSIZE */
        RUN_VERDICT_OUTPUT,   /* reserved for an output limit; never emitted yet */
        RUN_VERDICT_REFUSED,  /* the plan refused the run */
        RUN_VERDICT_FAILED_TO_START,
        _RUN_VERDICT_MAX,
} RunVerdict;

/* PURE. The verdict from the outcome's facts; o NULL: no executor ran (refused says whether
 * the plan refused the run, else moat failed before). */
RunVerdict run_verdict(const RunOutcome *o, bool refused);
const char *run_verdict_to_string(RunVerdict v);

/* PURE. The `moat run --result` document (README "For code graders"). */
struct json_t *audit_result_build(const AuditContext *ctx);

/* Default log path for this caller: the policy's, else /var/log/moat/audit.jsonl for root,
 * else $XDG_STATE_HOME/moat/audit.jsonl (~/.local/state/moat/audit.jsonl). Caller frees. */
char *audit_log_default_path(const Policy *policy);

/* Build, chain and append one record. Returns 0 or -errno; the caller reports a failure and
 * treats it as fatal for compliance runs (a run whose audit record cannot be written exits 125
 * if it had not started, and reports the error otherwise). */
int audit_log_run(const AuditContext *ctx, const char *log_path);

/* audit_log_run() in steps, so that its slow parts overlap the run (audit/log.c):
 *   audit_writer_new()      the log path (log_path, else the default for policy), the key file
 *                           and journal mirror the policy asks for; no I/O;
 *   audit_writer_prepare()  any time before the outcome is known (moat run: while the command
 *                           runs): the identity, the key, the log opened and checked, the chain's
 *                           tail read; an error is kept for append();
 *   audit_writer_append()   the record built, chained and written under the lock (kept until
 *                           finish()); its pages start going to the disk;
 *   audit_writer_sync()     optional, after append(): the fdatasync now, for a caller that
 *                           waits for something else meanwhile (its error is kept for finish());
 *   audit_writer_finish()   fdatasync (and the journal mirror): the record is durable when it
 *                           returns 0. Every error of the steps shows here.
 * audit_writer_free() syncs a record that finish() did not. One record per writer. */
typedef struct AuditWriter AuditWriter;
int audit_writer_new(const char *log_path, const Policy *policy, AuditWriter **ret);
/* Before the command starts, one lstat of the log: 0 when the record can be appended as far as
 * the file tells (it does not exist yet, or it is a regular file of the caller's that the
 * caller can write and nobody else can), else the error append() would give, so that a run
 * whose record would be refused is not started. */
int audit_writer_check(const AuditWriter *w);
void audit_writer_prepare(AuditWriter *w);
int audit_writer_append(AuditWriter *w, const AuditContext *ctx);
void audit_writer_sync(AuditWriter *w);
int audit_writer_finish(AuditWriter *w);
const char *audit_writer_path(const AuditWriter *w);
AuditWriter *audit_writer_free(AuditWriter *w);
static inline void audit_writer_freep(AuditWriter **w) {
        audit_writer_free(*w);
}

/* ---- Chain, verification, reading (added with the log implementation) ----
 *
 * A record line is the canonical JSON of the record (compact, keys sorted, ASCII only, no
 * reals); "prev" is the SHA-256 hex of the previous line's bytes (64 zeros for the first),
 * "hash" is SHA-256 (or HMAC-SHA256 with the site key) over the canonical record without
 * "hash". audit/README.md is the reference. */

#include <stddef.h>
#include <stdint.h>

#define AUDIT_SCHEMA_VERSION 1
#define AUDIT_HEX_LEN 64
#define AUDIT_GENESIS_PREV "0000000000000000000000000000000000000000000000000000000000000000"
/* Longest line a writer produces or a reader accepts (argv is truncated to fit). */
#define AUDIT_LINE_MAX (1024 * 1024)

/* PURE. Add identity fields that only the writing process knows (it never trusts host facts
 * loaded from a file for who ran the command). */
int audit_record_set_identity(struct json_t *record, const char *hostname, uid_t uid, gid_t gid,
                              const char *user);
/* PURE. The recovery record a writer appends after a torn region (see README "Crashes"). */
struct json_t *audit_record_build_recovery(uint64_t now_ns, uint64_t torn_bytes,
                                           const char *torn_sha256_hex);

/* PURE. Set "prev", "chain" (+ "key_id") and "hash" on record and return its line (no
 * newline) in *ret_line. key NULL: plain SHA-256 chain. */
int audit_chain_seal(struct json_t *record, const char *prev_hex, const uint8_t *key,
                     size_t key_len, char **ret_line, size_t *ret_len);
/* PURE. SHA-256 of buf as 64 lower-case hex digits plus NUL. */
void audit_sha256_hex(const void *buf, size_t len, char ret_hex[AUDIT_HEX_LEN + 1]);

typedef struct AuditVerifyReport {
        size_t n_lines;
        size_t n_records;                  /* run records accepted */
        size_t n_recovered;                /* torn regions covered by a recovery record */
        size_t bad_line;                   /* first broken line, 1-based; 0 = chain intact */
        bool torn_tail;                    /* the break is an unterminated/invalid last line */
        bool keyed;                        /* at least one keyed record was seen */
        char message[512];                 /* "line 7: ..." describing the break */
        char last_hash[AUDIT_HEX_LEN + 1]; /* SHA-256 of the last accepted line (anchor) */
} AuditVerifyReport;

/* Called for every recovered torn region (reported, not a break). */
typedef void (*AuditVerifyNotice)(size_t line, const char *message, void *userdata);

/* PURE. Check a whole log held in memory. Returns 0 with *ret filled (bad_line == 0 when the
 * chain is intact) or -ENOMEM. With a key, every record must be keyed with that key; without
 * one, a keyed record is a break ("needs --key"). */
int audit_chain_verify_buffer(const char *buf, size_t len, const uint8_t *key, size_t key_len,
                              AuditVerifyNotice notice, void *userdata, AuditVerifyReport *ret);
/* Read FILE and verify it. -errno if the file cannot be read. */
int audit_log_verify(const char *path, const uint8_t *key, size_t key_len, AuditVerifyNotice notice,
                     void *userdata, AuditVerifyReport *ret);

/* The HMAC key file: a regular file (not a symlink) of 16..4096 bytes, used as is. */
int audit_key_load(const char *path, uint8_t **ret_key, size_t *ret_len);

/* Append one already built record (chain fields are set here) under the log's lock. */
int audit_log_append(const char *log_path, struct json_t *record, const uint8_t *key,
                     size_t key_len, char **ret_line);

/* PURE. Filters for `moat audit show`; unset members match everything. */
typedef struct AuditFilter {
        uint64_t since_ns; /* 0 = any */
        const char *profile;
        const char *tier;
        bool denied_only;
        bool network_only; /* records of network: outbound runs */
} AuditFilter;
bool audit_filter_match(const AuditFilter *f, const struct json_t *record);
/* One readable line per record (no newline), caller frees; NULL on ENOMEM. */
char *audit_record_format_line(const struct json_t *record);
/* network: outbound: the proxy's allowlist digest, totals and one line per destination
 * (indented, newline-separated, no final newline); "" for a record without network. */
char *audit_record_format_network(const struct json_t *record);
/* RFC 3339 ("2026-01-02T03:04:05.5Z", "+02:00"), a date "2026-01-02" (UTC midnight), or a
 * duration ago ("90s", "30m", "2h", "7d") relative to now_ns. -EINVAL if none of those. */
int audit_time_parse(const char *s, uint64_t now_ns, uint64_t *ret_ns);
/* RFC 3339 UTC with nanoseconds: "2026-01-02T03:04:05.123456789Z". */
void audit_time_format(uint64_t ns, char ret[40]);

/* Call fn for every line of the log (parsed record, or NULL when the line is not JSON).
 * fn returns < 0 to stop with that error. */
typedef int (*AuditLineFn)(size_t line, struct json_t *record, void *userdata);
int audit_log_foreach(const char *path, AuditLineFn fn, void *userdata);

/* Text for the errors the log's safety checks return (symlink, owner, mode, type), falling
 * back to strerror() for anything else. */
const char *audit_log_strerror(int r);

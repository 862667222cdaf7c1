/* SPDX-License-Identifier: MIT */
/* Helpers shared by the audit sources; not part of the audit contract. */
#pragma once

#include <jansson.h>
#include <stdint.h>

/* jansson's json_decrefp() drops the reference and leaves NULL behind. */
#define _cleanup_json_ __attribute__((cleanup(json_decrefp)))

/* argv bytes kept in a record; the rest is cut and flagged (argv_truncated). */
#define AUDIT_ARGV_MAX (256 * 1024)

/* A JSON string for s (NULL -> null); bytes that are not UTF-8 are written as \xNN. */
json_t *audit_json_string(const char *s);
json_t *audit_json_u64(uint64_t v);
/* Set key to v (stealing v); -ENOMEM when v is NULL or the set fails. */
int audit_json_set(json_t *o, const char *key, json_t *v);

/* The canonical form the chain hashes: compact, keys sorted, ASCII only. */
#define AUDIT_JSON_CANONICAL (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII)

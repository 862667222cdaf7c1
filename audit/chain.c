/* SPDX-License-Identifier: MIT */
/* PURE. The hash chain: sealing a record into its canonical line, and verifying a whole log.
 *
 * A line is json_dumps(record, compact | sorted keys | ASCII). "hash" is SHA-256 (or
 * HMAC-SHA256) over the same serialisation of the record without "hash"; "prev" is SHA-256 of
 * the previous line's bytes. Because the verifier re-serialises every record and requires the
 * line to be byte-identical, any edit anywhere in a line (even whitespace) breaks that line,
 * and because "prev" covers the previous line's bytes, a dropped, inserted or reordered line
 * breaks the link after it. What a plain chain cannot show is a removed tail: verify reports
 * the last hash so it can be anchored elsewhere (journal mirror, a ticket, a remote copy). */
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "audit-internal.h"
#include "audit.h"
#include "basic/macros.h"
#include "basic/sha256.h"

/* How far past a torn line the verifier looks for the recovery record that covers it. A
 * writer covers at most AUDIT_RECOVERY_SCAN_LINES broken lines (log.c). */
#define RECOVERY_LOOKAHEAD 64

static void hex_encode(const uint8_t *d, size_t n, char *ret) {
        static const char digits[] = "0123456789abcdef";

        for (size_t i = 0; i < n; i++) {
                ret[2 * i] = digits[d[i] >> 4];
                ret[2 * i + 1] = digits[d[i] & 15];
        }
        ret[2 * n] = '\0';
}

void audit_sha256_hex(const void *buf, size_t len, char ret_hex[AUDIT_HEX_LEN + 1]) {
        uint8_t md[32];

        sha256_buffer(buf, len, md);
        hex_encode(md, 32, ret_hex);
}

static int record_mac(const char *data, size_t len, const uint8_t *key, size_t key_len,
                      char ret_hex[AUDIT_HEX_LEN + 1]) {
        uint8_t md[32];

        if (!key) {
                audit_sha256_hex(data, len, ret_hex);
                return 0;
        }
        hmac_sha256(key, key_len, data, len, md);
        hex_encode(md, 32, ret_hex);
        return 0;
}

/* Names the key without revealing it, so verify can tell "wrong key" from "edited". */
static void key_id(const uint8_t *key, size_t key_len, char ret[17]) {
        char hex[AUDIT_HEX_LEN + 1];

        audit_sha256_hex(key, key_len, hex);
        memcpy(ret, hex, 16);
        ret[16] = '\0';
}

static int record_hash(json_t *record, const uint8_t *key, size_t key_len,
                       char ret_hex[AUDIT_HEX_LEN + 1]) {
        _cleanup_json_ json_t *copy = json_copy(record);
        _cleanup_free_ char *s = NULL;

        if (!copy)
                return -ENOMEM;
        json_object_del(copy, "hash");
        s = json_dumps(copy, AUDIT_JSON_CANONICAL);
        if (!s)
                return -ENOMEM;
        return record_mac(s, strlen(s), key, key_len, ret_hex);
}

/* Where "hash" goes in the canonical line of a record made without it: before the first
 * top-level key that sorts after "hash" (JSON_SORT_KEYS orders keys as strcmp() does), else
 * before the closing brace. *ret_after: a key follows the inserted member. A line that is not
 * the canonical object of record gives -EINVAL. */
static ssize_t hash_offset(json_t *record, const char *text, size_t len, bool *ret_after) {
        const char *next = NULL, *key;
        json_t *v;

        json_object_foreach(record, key, v) if (strcmp(key, "hash") > 0 &&
                                                (!next || strcmp(key, next) < 0)) next = key;
        if (len < 2 || text[0] != '{' || text[len - 1] != '}')
                return -EINVAL;
        *ret_after = next != NULL;
        if (!next)
                return (ssize_t) len - 1;

        _cleanup_json_ json_t *k = json_string(next);
        _cleanup_free_ char *enc = k ? json_dumps(k, JSON_ENCODE_ANY | AUDIT_JSON_CANONICAL) : NULL;
        if (!enc)
                return -ENOMEM;
        size_t enc_len = strlen(enc);
        unsigned depth = 0;
        bool in_string = false, escaped = false;
        for (size_t i = 0; i < len; i++) {
                char c = text[i];
                if (in_string) {
                        if (escaped)
                                escaped = false;
                        else if (c == '\\')
                                escaped = true;
                        else if (c == '"')
                                in_string = false;
                        continue;
                }
                if (c == '"') {
                        /* a key of the top-level object starts right after '{' or ',' */
                        if (depth == 1 && (text[i - 1] == '{' || text[i - 1] == ',') &&
                            len - i > enc_len && memcmp(text + i, enc, enc_len) == 0 &&
                            text[i + enc_len] == ':')
                                return (ssize_t) i;
                        in_string = true;
                } else if (c == '{' || c == '[')
                        depth++;
                else if (c == '}' || c == ']')
                        depth--;
        }
        return -EINVAL;
}

int audit_chain_seal(json_t *record, const char *prev_hex, const uint8_t *key, size_t key_len,
                     char **ret_line, size_t *ret_len) {
        char hash[AUDIT_HEX_LEN + 1], kid[17];
        _cleanup_free_ char *line = NULL;
        int r;

        if (!json_is_object(record) || !prev_hex || strlen(prev_hex) != AUDIT_HEX_LEN)
                return -EINVAL;
        json_object_del(record, "hash");
        json_object_del(record, "key_id");
        if (audit_json_set(record, "prev", json_string(prev_hex)) < 0 ||
            audit_json_set(record, "chain", json_string(key ? "hmac-sha256" : "sha256")) < 0)
                return -ENOMEM;
        if (key) {
                key_id(key, key_len, kid);
                if (audit_json_set(record, "key_id", json_string(kid)) < 0)
                        return -ENOMEM;
        }
        /* The record has no "hash" now: its canonical line is what the hash covers. The sealed
         * line is that line with the "hash" member in its sorted place: byte for byte what
         * json_dumps() of the sealed record gives (and verify recomputes), without serialising
         * the record a second time. */
        _cleanup_free_ char *unsealed = json_dumps(record, AUDIT_JSON_CANONICAL);
        if (!unsealed)
                return -ENOMEM;
        size_t n = strlen(unsealed);
        r = record_mac(unsealed, n, key, key_len, hash);
        if (r < 0)
                return r;
        if (audit_json_set(record, "hash", json_string(hash)) < 0)
                return -ENOMEM;
        bool comma_after = false;
        ssize_t at = hash_offset(record, unsealed, n, &comma_after);
        if (at < 0)
                return (int) at;
        /* "hash":"<64 hex>", and a comma unless the object was empty */
        size_t total = n + strlen("\"hash\":\"\"") + AUDIT_HEX_LEN + (n > 2 ? 1 : 0);
        if (total > AUDIT_LINE_MAX)
                return -E2BIG;
        line = malloc(total + 1);
        if (!line)
                return -ENOMEM;
        int k = snprintf(line, total + 1, "%.*s%s\"hash\":\"%s\"%s%s", (int) at, unsealed,
                         n > 2 && !comma_after ? "," : "", hash, n > 2 && comma_after ? "," : "",
                         unsealed + at);
        if (k < 0 || (size_t) k != total)
                return -EINVAL;
        if (ret_len)
                *ret_len = total;
        *ret_line = TAKE_PTR(line);
        return 0;
}

typedef struct Line {
        size_t off, len;
        bool terminated;
} Line;

typedef struct Verifier {
        const char *buf;
        size_t size;
        Line *lines;
        size_t n_lines;
        const uint8_t *key;
        size_t key_len;
        char kid[17];
        bool in_main; /* checking the chain itself, not looking ahead */
        AuditVerifyReport *report;
} Verifier;

static bool is_hex64(const char *s) {
        if (!s || strlen(s) != AUDIT_HEX_LEN)
                return false;
        for (const char *c = s; *c; c++)
                if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
                        return false;
        return true;
}

/* Check line i as a chained record following expected_prev. Returns 1 valid, 0 broken (reason
 * filled), -ENOMEM. */
static int check_record(Verifier *v, size_t i, const char *expected_prev, char *reason,
                        size_t rsize, const char **ret_type, bool *ret_unparsable) {
        const Line *l = &v->lines[i];
        const char *text = v->buf + l->off;
        _cleanup_json_ json_t *rec = NULL;
        _cleanup_free_ char *canon = NULL;
        const char *chain, *hash, *prev, *type;
        char computed[AUDIT_HEX_LEN + 1];
        json_error_t err;
        int r;

        *ret_unparsable = true;
        if (l->len > AUDIT_LINE_MAX)
                return snprintf(reason, rsize, "line is longer than %d bytes", AUDIT_LINE_MAX), 0;
        rec = json_loadb(text, l->len, JSON_REJECT_DUPLICATES, &err);
        if (!rec || !json_is_object(rec))
                return snprintf(reason, rsize, "not a JSON record (%s)",
                                rec ? "not an object" : err.text),
                       0;
        *ret_unparsable = false;
        type = json_string_value(json_object_get(rec, "type"));
        hash = json_string_value(json_object_get(rec, "hash"));
        prev = json_string_value(json_object_get(rec, "prev"));
        chain = json_string_value(json_object_get(rec, "chain"));
        if (!json_is_integer(json_object_get(rec, "schema")) || !type || !is_hex64(hash) ||
            !is_hex64(prev) || !chain)
                return snprintf(reason, rsize, "record lacks schema, type, chain, prev or hash"), 0;
        canon = json_dumps(rec, AUDIT_JSON_CANONICAL);
        if (!canon)
                return -ENOMEM;
        if (strlen(canon) != l->len || memcmp(canon, text, l->len) != 0)
                return snprintf(reason, rsize, "record is not in canonical form (edited)"), 0;
        if (strcmp(chain, "hmac-sha256") == 0) {
                const char *kid = json_string_value(json_object_get(rec, "key_id"));

                if (v->in_main)
                        v->report->keyed = true;
                if (!v->key)
                        return snprintf(reason, rsize,
                                        "record is keyed (hmac-sha256): verify it with --key"),
                               0;
                if (!kid || strcmp(kid, v->kid) != 0)
                        return snprintf(reason, rsize,
                                        "record was sealed with another key (key_id %s)",
                                        kid ? kid : "missing"),
                               0;
        } else if (strcmp(chain, "sha256") == 0) {
                if (v->key)
                        return snprintf(reason, rsize,
                                        "record is not keyed, but the log is verified with a key"),
                               0;
        } else
                return snprintf(reason, rsize, "unknown chain \"%.32s\"", chain), 0;

        r = record_hash(rec, v->key, v->key_len, computed);
        if (r < 0)
                return r;
        if (strcmp(computed, hash) != 0)
                return snprintf(reason, rsize, "hash does not match the record's content (edited)"),
                       0;
        if (strcmp(prev, expected_prev) != 0) {
                if (strcmp(expected_prev, AUDIT_GENESIS_PREV) == 0)
                        snprintf(reason, rsize,
                                 "the first record does not start the chain "
                                 "(records before it were removed)");
                else
                        snprintf(reason, rsize,
                                 "prev does not match the previous record (a record was "
                                 "dropped, inserted or reordered here)");
                return 0;
        }
        *ret_type = strcmp(type, "run") == 0        ? "run"
                    : strcmp(type, "recovery") == 0 ? "recovery"
                                                    : "other";
        return 1;
}

static bool line_is_recovery(const Verifier *v, size_t j) {
        static const char needle[] = "\"type\":\"recovery\"";

        /* In canonical JSON a quote inside a string is escaped, so this exact byte sequence can
         * only be the "type" member itself. */
        return memmem(v->buf + v->lines[j].off, v->lines[j].len, needle, strlen(needle)) != NULL;
}

/* Is there a recovery record after line i that covers the bytes from line i up to it, and
 * continues the chain from expected_prev? Returns its index, 0 if none, -ENOMEM. */
static ssize_t find_recovery(Verifier *v, size_t i, const char *expected_prev) {
        for (size_t j = i + 1; j < v->n_lines && j <= i + RECOVERY_LOOKAHEAD; j++) {
                _cleanup_json_ json_t *rec = NULL;
                const char *type = NULL, *torn_hash;
                char reason[256], actual[AUDIT_HEX_LEN + 1];
                bool unparsable;
                json_int_t bytes;
                size_t start = v->lines[i].off, end = v->lines[j].off;
                int r;

                if (!line_is_recovery(v, j))
                        continue;
                rec = json_loadb(v->buf + v->lines[j].off, v->lines[j].len, 0, NULL);
                torn_hash =
                        json_string_value(json_object_get(json_object_get(rec, "torn"), "sha256"));
                bytes = json_integer_value(json_object_get(json_object_get(rec, "torn"), "bytes"));
                if (!torn_hash || bytes <= 0 || (uint64_t) bytes > v->size - start)
                        continue;
                /* The writer terminates the torn bytes with a newline of its own when they
                 * lacked one; that newline is not part of what it hashed. */
                if (start + (size_t) bytes != end &&
                    !(start + (size_t) bytes + 1 == end && v->buf[end - 1] == '\n'))
                        continue;
                audit_sha256_hex(v->buf + start, (size_t) bytes, actual);
                if (strcmp(actual, torn_hash) != 0)
                        continue;
                r = check_record(v, j, expected_prev, reason, sizeof(reason), &type, &unparsable);
                if (r < 0)
                        return r;
                if (r > 0 && strcmp(type, "recovery") == 0)
                        return (ssize_t) j;
        }
        return 0;
}

static int split_lines(Verifier *v) {
        size_t n = 0, cap = 0;

        for (size_t off = 0; off < v->size;) {
                const char *nl = memchr(v->buf + off, '\n', v->size - off);
                size_t end = nl ? (size_t) (nl - v->buf) : v->size;

                if (n == cap) {
                        Line *t = reallocarray(v->lines, cap ? cap * 2 : 256, sizeof(Line));
                        if (!t)
                                return -ENOMEM;
                        v->lines = t;
                        cap = cap ? cap * 2 : 256;
                }
                v->lines[n++] = (Line){ .off = off, .len = end - off, .terminated = nl != NULL };
                off = nl ? end + 1 : v->size;
        }
        v->n_lines = n;
        return 0;
}

static void report_break(Verifier *v, size_t i, const char *reason, bool torn) {
        AuditVerifyReport *rep = v->report;

        rep->bad_line = i + 1;
        rep->torn_tail = torn;
        if (torn)
                snprintf(rep->message, sizeof(rep->message), "torn tail at line %zu: %s", i + 1,
                         reason);
        else
                snprintf(rep->message, sizeof(rep->message), "line %zu: %s", i + 1, reason);
}

/* Accept line i as the next link. */
static void accept_line(Verifier *v, size_t i, const char *type, char expected[AUDIT_HEX_LEN + 1]) {
        if (strcmp(type, "run") == 0)
                v->report->n_records++;
        audit_sha256_hex(v->buf + v->lines[i].off, v->lines[i].len, expected);
}

/* One step of the walk from line *i. Returns 1 to continue, 0 at a break (reported), -ENOMEM. */
static int verify_step(Verifier *v, size_t *i, char expected[AUDIT_HEX_LEN + 1],
                       AuditVerifyNotice notice, void *userdata) {
        const Line *l = &v->lines[*i];
        bool last = *i + 1 == v->n_lines, unparsable = false;
        const char *type = NULL;
        char reason[256];
        ssize_t j = 0;
        int r = 0;

        /* A recovery record right after this line may claim it as torn bytes: that takes
         * precedence, since a torn line can happen to be a complete record minus its newline. */
        if (!last && line_is_recovery(v, *i + 1))
                j = find_recovery(v, *i, expected);
        if (j == 0) {
                v->in_main = true;
                r = check_record(v, *i, expected, reason, sizeof(reason), &type, &unparsable);
                v->in_main = false;
                if (r == 0 && !last)
                        j = find_recovery(v, *i, expected);
        }
        if (j < 0 || r < 0)
                return j < 0 ? (int) j : r;
        if (j > 0) {
                char msg[200];

                snprintf(msg, sizeof(msg),
                         "lines %zu-%zd: torn write (a writer was cut short) covered by the "
                         "recovery record at line %zd; the record in flight was lost",
                         *i + 1, j, j + 1);
                if (notice)
                        notice((size_t) j + 1, msg, userdata);
                v->report->n_recovered++;
                /* find_recovery() checked line j as a recovery record following expected. */
                *i = (size_t) j;
                if (!v->lines[j].terminated) {
                        report_break(v, j, "no trailing newline (a write was cut short)", true);
                        return 0;
                }
                accept_line(v, j, "recovery", expected);
                (*i)++;
                return 1;
        }
        if (r == 0) {
                /* Only an unterminated or unparsable last line is a torn tail; a well-formed
                 * last record that fails its hash was edited. */
                report_break(v, *i, reason, last && (unparsable || !l->terminated));
                return 0;
        }
        if (strcmp(type, "recovery") == 0) {
                report_break(v, *i, "recovery record without torn bytes before it", false);
                return 0;
        }
        if (!l->terminated) {
                /* Complete JSON but no newline: a writer was cut before its last byte. */
                report_break(v, *i, "no trailing newline (a write was cut short)", true);
                return 0;
        }
        accept_line(v, *i, type, expected);
        (*i)++;
        return 1;
}

int audit_chain_verify_buffer(const char *buf, size_t len, const uint8_t *key, size_t key_len,
                              AuditVerifyNotice notice, void *userdata, AuditVerifyReport *ret) {
        Verifier v = { .buf = buf, .size = len, .key = key, .key_len = key_len, .report = ret };
        char expected[AUDIT_HEX_LEN + 1] = AUDIT_GENESIS_PREV;
        int r = 0;

        *ret = (AuditVerifyReport){};
        if (key)
                key_id(key, key_len, v.kid);
        if (split_lines(&v) < 0) {
                free(v.lines);
                return -ENOMEM;
        }
        ret->n_lines = v.n_lines;
        for (size_t i = 0; i < v.n_lines;) {
                r = verify_step(&v, &i, expected, notice, userdata);
                if (r <= 0)
                        break;
        }
        memcpy(ret->last_hash, expected, sizeof(expected));
        free(v.lines);
        return r < 0 ? r : 0;
}

/* SPDX-License-Identifier: MIT */
/* The hash chain: an untouched log verifies; every kind of tampering is reported with the
 * line it breaks at; keyed chains need the right key; a torn tail is a failure unless a later
 * writer covered it with a recovery record, which is reported but continues the chain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "audit.h"

#define N_RECORDS 5

static const uint8_t key[] = "0123456789abcdef-test-hmac-key";
static const uint8_t other_key[] = "fedcba9876543210-test-hmac-key";

typedef struct Log {
        char *buf;
        size_t len;
        size_t off[N_RECORDS + 4]; /* start of each line */
        size_t n;
        char prev[AUDIT_HEX_LEN + 1];
} Log;

static json_t *sample(int i) {
        json_t *r = json_pack("{s:i, s:s, s:s, s:s, s:{s:[s,s]}, s:{s:i}, s:[{s:s,s:i}]}", "schema",
                              1, "type", "run", "time", "2026-01-02T03:04:05.000000000Z", "result",
                              "exited", "command", "argv", "make", i % 2 ? "test" : "check", "exit",
                              "status", i, "denials", "syscall", "keyctl", "count", i + 1);
        assert_non_null(r);
        return r;
}

static void log_append_line(Log *l, const char *line, size_t len) {
        l->buf = realloc(l->buf, l->len + len + 2);
        assert_non_null(l->buf);
        l->off[l->n++] = l->len;
        memcpy(l->buf + l->len, line, len);
        l->len += len;
        l->buf[l->len++] = '\n';
        l->buf[l->len] = '\0';
        audit_sha256_hex(line, len, l->prev);
}

static void log_append(Log *l, json_t *rec, const uint8_t *k, size_t klen) {
        char *line = NULL;
        size_t len = 0;

        assert_int_equal(audit_chain_seal(rec, l->prev, k, klen, &line, &len), 0);
        assert_null(memchr(line, '\n', len));
        log_append_line(l, line, len);
        free(line);
        json_decref(rec);
}

static void log_build(Log *l, const uint8_t *k, size_t klen) {
        *l = (Log){};
        memcpy(l->prev, AUDIT_GENESIS_PREV, sizeof(l->prev));
        for (int i = 0; i < N_RECORDS; i++)
                log_append(l, sample(i), k, klen);
}

static AuditVerifyReport verify(const char *buf, size_t len, const uint8_t *k, size_t klen) {
        AuditVerifyReport rep;
        assert_int_equal(audit_chain_verify_buffer(buf, len, k, klen, NULL, NULL, &rep), 0);
        return rep;
}

static size_t line_len(const Log *l, size_t i) {
        return (i + 1 < l->n ? l->off[i + 1] : l->len) - l->off[i] - 1;
}

static void test_intact_log_verifies(void **state) {
        Log l;
        log_build(&l, NULL, 0);
        AuditVerifyReport rep = verify(l.buf, l.len, NULL, 0);

        assert_int_equal(rep.bad_line, 0);
        assert_int_equal(rep.n_records, N_RECORDS);
        assert_int_equal(rep.n_lines, N_RECORDS);
        assert_string_equal(rep.last_hash, l.prev);
        assert_false(rep.keyed);

        rep = verify("", 0, NULL, 0);
        assert_int_equal(rep.bad_line, 0);
        assert_int_equal(rep.n_records, 0);
        free(l.buf);
}

/* Every single byte of a middle record, changed to any other printable byte, breaks the chain
 * at that record or (for a change the record's own check cannot see) at the next one. */
static void test_every_byte_edit_is_detected(void **state) {
        Log l;
        log_build(&l, NULL, 0);
        size_t target = 2, start = l.off[target], len = line_len(&l, target);

        for (size_t p = start; p < start + len; p++) {
                char saved = l.buf[p];
                for (const char *c = "0aZ\" }"; *c; c++) {
                        if (*c == saved)
                                continue;
                        l.buf[p] = *c;
                        AuditVerifyReport rep = verify(l.buf, l.len, NULL, 0);
                        if (rep.bad_line != target + 1)
                                fail_msg("edit at byte %zu ('%c' -> '%c') reported at line %zu: %s",
                                         p - start, saved, *c, rep.bad_line, rep.message);
                }
                l.buf[p] = saved;
        }
        assert_int_equal(verify(l.buf, l.len, NULL, 0).bad_line, 0);
        free(l.buf);
}

static void test_edited_field_reports_hash_mismatch(void **state) {
        Log l;
        log_build(&l, NULL, 0);
        char *p = strstr(l.buf + l.off[1], "\"status\":1");
        assert_non_null(p);
        p[9] = '0';
        AuditVerifyReport rep = verify(l.buf, l.len, NULL, 0);

        assert_int_equal(rep.bad_line, 2);
        assert_false(rep.torn_tail);
        assert_non_null(strstr(rep.message, "line 2"));
        assert_non_null(strstr(rep.message, "edited"));
        free(l.buf);
}

static void test_deleted_line_is_detected(void **state) {
        Log l;
        log_build(&l, NULL, 0);
        /* delete line 3 */
        memmove(l.buf + l.off[2], l.buf + l.off[3], l.len - l.off[3]);
        size_t len = l.len - (l.off[3] - l.off[2]);
        AuditVerifyReport rep = verify(l.buf, len, NULL, 0);

        assert_int_equal(rep.bad_line, 3);
        assert_non_null(strstr(rep.message, "dropped, inserted or reordered"));
        free(l.buf);
}

static void test_deleted_first_line_is_detected(void **state) {
        Log l;
        log_build(&l, NULL, 0);
        AuditVerifyReport rep = verify(l.buf + l.off[1], l.len - l.off[1], NULL, 0);

        assert_int_equal(rep.bad_line, 1);
        assert_non_null(strstr(rep.message, "does not start the chain"));
        free(l.buf);
}

static void test_swapped_lines_are_detected(void **state) {
        Log l;
        log_build(&l, NULL, 0);
        size_t a = line_len(&l, 1) + 1, b = line_len(&l, 2) + 1;
        char *tmp = malloc(a + b);
        memcpy(tmp, l.buf + l.off[2], b);
        memcpy(tmp + b, l.buf + l.off[1], a);
        memcpy(l.buf + l.off[1], tmp, a + b);
        free(tmp);
        AuditVerifyReport rep = verify(l.buf, l.len, NULL, 0);

        assert_int_equal(rep.bad_line, 2);
        free(l.buf);
}

static void test_truncated_mid_line_is_a_torn_tail(void **state) {
        Log l;
        log_build(&l, NULL, 0);
        size_t cut = l.off[N_RECORDS - 1] + 40;
        AuditVerifyReport rep = verify(l.buf, cut, NULL, 0);

        assert_int_equal(rep.bad_line, N_RECORDS);
        assert_true(rep.torn_tail);
        assert_non_null(strstr(rep.message, "torn tail at line 5"));
        assert_int_equal(rep.n_records, N_RECORDS - 1);

        /* Cut exactly before the final newline: complete JSON, still torn. */
        rep = verify(l.buf, l.len - 1, NULL, 0);
        assert_int_equal(rep.bad_line, N_RECORDS);
        assert_true(rep.torn_tail);

        /* A newline-terminated garbage last line is also reported as a torn tail. */
        char *b = malloc(l.off[N_RECORDS - 1] + 8);
        memcpy(b, l.buf, l.off[N_RECORDS - 1]);
        memcpy(b + l.off[N_RECORDS - 1], "{\"sch\n", 6);
        rep = verify(b, l.off[N_RECORDS - 1] + 6, NULL, 0);
        assert_int_equal(rep.bad_line, N_RECORDS);
        assert_true(rep.torn_tail);
        free(b);
        free(l.buf);
}

static void test_inserted_forged_line_is_detected(void **state) {
        Log l, forged;
        log_build(&l, NULL, 0);

        /* A well-formed record chained to line 2 and inserted after it: the plain chain accepts
         * it, but line 3 no longer follows. */
        forged = (Log){};
        memcpy(forged.prev, AUDIT_GENESIS_PREV, sizeof(forged.prev));
        audit_sha256_hex(l.buf + l.off[1], line_len(&l, 1), forged.prev);
        log_append(&forged, sample(42), NULL, 0);
        size_t flen = forged.len;
        char *b = malloc(l.len + flen);
        memcpy(b, l.buf, l.off[2]);
        memcpy(b + l.off[2], forged.buf, flen);
        memcpy(b + l.off[2] + flen, l.buf + l.off[2], l.len - l.off[2]);
        AuditVerifyReport rep = verify(b, l.len + flen, NULL, 0);
        assert_int_equal(rep.bad_line, 4);
        free(b);
        free(forged.buf);
        free(l.buf);
}

static void test_keyed_chain(void **state) {
        Log l;
        log_build(&l, key, sizeof(key));

        AuditVerifyReport rep = verify(l.buf, l.len, key, sizeof(key));
        assert_int_equal(rep.bad_line, 0);
        assert_int_equal(rep.n_records, N_RECORDS);
        assert_true(rep.keyed);

        rep = verify(l.buf, l.len, NULL, 0);
        assert_int_equal(rep.bad_line, 1);
        assert_non_null(strstr(rep.message, "--key"));

        rep = verify(l.buf, l.len, other_key, sizeof(other_key));
        assert_int_equal(rep.bad_line, 1);
        assert_non_null(strstr(rep.message, "another key"));

        /* A forger without the key appends a correctly chained, unkeyed record: refused. */
        log_append(&l, sample(9), NULL, 0);
        rep = verify(l.buf, l.len, key, sizeof(key));
        assert_int_equal(rep.bad_line, N_RECORDS + 1);
        assert_non_null(strstr(rep.message, "not keyed"));
        free(l.buf);
}

static void test_keyed_chain_forged_key_id(void **state) {
        Log l;
        log_build(&l, key, sizeof(key));
        /* Sealed with another key but claiming ours: the MAC gives it away. */
        json_t *rec = sample(7);
        char *line = NULL;
        size_t len;
        assert_int_equal(audit_chain_seal(rec, l.prev, other_key, sizeof(other_key), &line, &len),
                         0);
        json_t *parsed = json_loadb(line, len, 0, NULL);
        free(line);
        json_decref(rec);
        json_t *good = sample(7);
        assert_int_equal(audit_chain_seal(good, l.prev, key, sizeof(key), &line, &len), 0);
        free(line);
        json_object_set(parsed, "key_id", json_object_get(good, "key_id"));
        line = json_dumps(parsed, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
        log_append_line(&l, line, strlen(line));
        AuditVerifyReport rep = verify(l.buf, l.len, key, sizeof(key));
        assert_int_equal(rep.bad_line, N_RECORDS + 1);
        assert_non_null(strstr(rep.message, "hash does not match"));
        free(line);
        json_decref(parsed);
        json_decref(good);
        free(l.buf);
}

static void notice_count(size_t line, const char *message, void *userdata) {
        (*(size_t *) userdata)++;
        assert_non_null(strstr(message, "torn"));
}

/* What log.c does after a crash: terminate the torn bytes, append a recovery record naming
 * their hash and chained to the last good record, then the new record. */
static Log torn_then_recovered(const char *torn, size_t torn_len, bool add_newline) {
        Log l;
        char hex[AUDIT_HEX_LEN + 1];

        log_build(&l, NULL, 0);
        l.buf = realloc(l.buf, l.len + torn_len + 2);
        memcpy(l.buf + l.len, torn, torn_len);
        l.len += torn_len;
        audit_sha256_hex(torn, torn_len, hex);
        if (add_newline)
                l.buf[l.len++] = '\n';
        l.off[l.n++] = l.len - torn_len - (add_newline ? 1 : 0);
        log_append(&l, audit_record_build_recovery(1, torn_len, hex), NULL, 0);
        log_append(&l, sample(8), NULL, 0);
        return l;
}

static void test_recovered_torn_write_continues_the_chain(void **state) {
        static const char torn[] = "{\"chain\":\"sha256\",\"command\":{\"ar";
        Log l = torn_then_recovered(torn, strlen(torn), true);
        AuditVerifyReport rep;
        size_t notices = 0;

        assert_int_equal(
                audit_chain_verify_buffer(l.buf, l.len, NULL, 0, notice_count, &notices, &rep), 0);
        assert_int_equal(rep.bad_line, 0);
        assert_int_equal(rep.n_recovered, 1);
        assert_int_equal(notices, 1);
        assert_int_equal(rep.n_records, N_RECORDS + 1);

        /* Editing the torn bytes afterwards is tampering like any other. */
        l.buf[l.off[N_RECORDS] + 3] ^= 1;
        rep = verify(l.buf, l.len, NULL, 0);
        assert_int_equal(rep.bad_line, N_RECORDS + 1);
        free(l.buf);
}

static void test_recovery_of_a_complete_record_missing_its_newline(void **state) {
        Log l;
        log_build(&l, NULL, 0);
        /* Last record cut exactly before its newline; the next writer adds one and recovers. */
        size_t last = l.off[N_RECORDS - 1], n = line_len(&l, N_RECORDS - 1);
        char *copy = strndup(l.buf + last, n);
        char prev[AUDIT_HEX_LEN + 1], hex[AUDIT_HEX_LEN + 1];
        audit_sha256_hex(l.buf + l.off[N_RECORDS - 2], line_len(&l, N_RECORDS - 2), prev);
        audit_sha256_hex(copy, n, hex);
        memcpy(l.prev, prev, sizeof(prev));
        log_append(&l, audit_record_build_recovery(1, n, hex), NULL, 0);
        AuditVerifyReport rep = verify(l.buf, l.len, NULL, 0);
        assert_int_equal(rep.bad_line, 0);
        assert_int_equal(rep.n_recovered, 1);
        assert_int_equal(rep.n_records, N_RECORDS - 1);
        free(copy);
        free(l.buf);
}

static void test_recovery_record_without_torn_bytes_is_a_break(void **state) {
        Log l;
        char hex[AUDIT_HEX_LEN + 1];
        log_build(&l, NULL, 0);
        audit_sha256_hex("x", 1, hex);
        log_append(&l, audit_record_build_recovery(1, 1, hex), NULL, 0);
        AuditVerifyReport rep = verify(l.buf, l.len, NULL, 0);
        assert_int_equal(rep.bad_line, N_RECORDS + 1);
        assert_non_null(strstr(rep.message, "recovery"));
        free(l.buf);
}

static void test_non_canonical_whitespace_is_detected(void **state) {
        Log l;
        log_build(&l, NULL, 0);
        /* Re-serialise the last record with spaces: same JSON value, same hash, new bytes. */
        size_t last = l.off[N_RECORDS - 1];
        json_t *rec = json_loadb(l.buf + last, line_len(&l, N_RECORDS - 1), 0, NULL);
        char *pretty = json_dumps(rec, JSON_SORT_KEYS | JSON_ENSURE_ASCII);
        char *b = malloc(last + strlen(pretty) + 2);
        memcpy(b, l.buf, last);
        memcpy(b + last, pretty, strlen(pretty));
        b[last + strlen(pretty)] = '\n';
        AuditVerifyReport rep = verify(b, last + strlen(pretty) + 1, NULL, 0);
        assert_int_equal(rep.bad_line, N_RECORDS);
        assert_non_null(strstr(rep.message, "canonical"));
        free(b);
        free(pretty);
        json_decref(rec);
        free(l.buf);
}

/* The sealed line is built from the unsealed one with "hash" put in its sorted place: it must
 * be exactly json_dumps() of the sealed record (what verify recomputes), whatever the keys
 * around it and whatever the values hold (quotes, braces, nested "hash" keys, non-ASCII). */
static void test_sealed_line_is_canonical(void **state) {
        static const char *const docs[] = {
                "{}",
                "{\"a\":1}",
                "{\"zz\":1}",
                "{\"a\":\"}\\\",{\",\"hash\":\"old\",\"z\":[{\"hash\":1,\"x\":\"]\"}]}",
                "{\"has\":1,\"hasha\":{\"hash\":\"{\"},\"hash2\":\"\\u00e9\\n\",\"h\":[]}",
                "{\"schema\":1,\"type\":\"run\",\"host\":{\"k\":\"v\"},\"prev\":\"p\"}",
                "{\"\\u00e9\":1,\"hash \":2,\"hash\":3,\"a\\\"b\":4}",
        };
        for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
                for (int keyed = 0; keyed < 2; keyed++) {
                        json_t *rec = json_loads(docs[i], 0, NULL);
                        char *line = NULL, *expect;
                        size_t len = 0;
                        assert_non_null(rec);
                        assert_int_equal(audit_chain_seal(rec, AUDIT_GENESIS_PREV,
                                                          keyed ? key : NULL,
                                                          keyed ? sizeof(key) : 0, &line, &len),
                                         0);
                        expect = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
                        assert_string_equal(line, expect);
                        assert_int_equal(len, strlen(expect));
                        free(expect);
                        free(line);
                        json_decref(rec);
                }
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_intact_log_verifies),
                cmocka_unit_test(test_every_byte_edit_is_detected),
                cmocka_unit_test(test_edited_field_reports_hash_mismatch),
                cmocka_unit_test(test_deleted_line_is_detected),
                cmocka_unit_test(test_deleted_first_line_is_detected),
                cmocka_unit_test(test_swapped_lines_are_detected),
                cmocka_unit_test(test_truncated_mid_line_is_a_torn_tail),
                cmocka_unit_test(test_inserted_forged_line_is_detected),
                cmocka_unit_test(test_keyed_chain),
                cmocka_unit_test(test_keyed_chain_forged_key_id),
                cmocka_unit_test(test_recovered_torn_write_continues_the_chain),
                cmocka_unit_test(test_recovery_of_a_complete_record_missing_its_newline),
                cmocka_unit_test(test_recovery_record_without_torn_bytes_is_a_break),
                cmocka_unit_test(test_non_canonical_whitespace_is_detected),
                cmocka_unit_test(test_sealed_line_is_canonical),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/* Reading records back: time stamps, the show filters, and the one-line form (including that
 * a hostile argv cannot put terminal control sequences on the reader's screen). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "audit.h"

#define NS 1000000000ULL

static void test_time_round_trip(void **state) {
        char buf[40];
        uint64_t ns;

        audit_time_format(1700000000123456789ULL, buf);
        assert_string_equal(buf, "2023-11-14T22:13:20.123456789Z");
        assert_int_equal(audit_time_parse(buf, 0, &ns), 0);
        assert_true(ns == 1700000000123456789ULL);

        assert_int_equal(audit_time_parse("2023-11-14T23:13:20+01:00", 0, &ns), 0);
        assert_true(ns == 1700000000ULL * NS);
        assert_int_equal(audit_time_parse("2023-11-14t22:13:20.5z", 0, &ns), 0);
        assert_true(ns == 1700000000ULL * NS + NS / 2);
        assert_int_equal(audit_time_parse("2023-11-14", 0, &ns), 0);
        assert_true(ns == 1699920000ULL * NS);
}

/* The date is computed from the day count (no gmtime_r(), which loads the local time zone):
 * the epoch, leap days (2000 is a leap year, 2100 is not), the last nanosecond a uint64_t
 * holds; each one parsed back to the same instant. */
static void test_time_format_calendar(void **state) {
        static const struct {
                uint64_t ns;
                const char *text;
        } cases[] = {
                { 0, "1970-01-01T00:00:00.000000000Z" },
                { 68169600ULL * NS, "1972-02-29T00:00:00.000000000Z" },
                { 951782399ULL * NS + 999999999ULL, "2000-02-28T23:59:59.999999999Z" },
                { 951782400ULL * NS, "2000-02-29T00:00:00.000000000Z" },
                { 951868800ULL * NS, "2000-03-01T00:00:00.000000000Z" },
                { 4107456000ULL * NS, "2100-02-28T00:00:00.000000000Z" },
                { 4107542400ULL * NS, "2100-03-01T00:00:00.000000000Z" },
                { UINT64_MAX, "2554-07-21T23:34:33.709551615Z" },
        };
        char buf[40];
        uint64_t ns;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                audit_time_format(cases[i].ns, buf);
                assert_string_equal(buf, cases[i].text);
                assert_int_equal(audit_time_parse(buf, 0, &ns), 0);
                assert_true(ns == cases[i].ns);
        }
}

static void test_time_parse_relative_and_invalid(void **state) {
        uint64_t ns;

        assert_int_equal(audit_time_parse("90s", 100 * NS, &ns), 0);
        assert_true(ns == 10 * NS);
        assert_int_equal(audit_time_parse("2h", 10000 * NS, &ns), 0);
        assert_true(ns == 2800 * NS);
        assert_int_equal(audit_time_parse("7d", NS, &ns), 0);
        assert_true(ns == 0);

        const char *bad[] = { "",
                              "yesterday",
                              "2023-02-30",
                              "2023-13-01",
                              "2023-11-14T25:00:00Z",
                              "2023-11-14T22:13:20",
                              "2023-11-14T22:13:20Zjunk",
                              "5x",
                              "h",
                              "-5m",
                              "2023-11-14T22:13:20.Z",
                              "99999999999999999999s" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (audit_time_parse(bad[i], 100 * NS, &ns) >= 0)
                        fail_msg("accepted \"%s\"", bad[i]);
}

static json_t *record(const char *time, const char *profile, const char *tier, int n_denials) {
        json_t *r = json_pack(
                "{s:s, s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:{s:i, s:i}, s:{s:[s,s]}, s:{s:i}, s:[]}",
                "type", "run", "time", time, "result", "exited", "profile", "name", profile, "arg",
                "./x.yaml", "tier", tier, "host", "h", "exit", "status", 0, "code", 0, "command",
                "argv", "make", "test", "usage", "wall_ns", 1500000000, "denials");
        json_t *d = json_object_get(r, "denials");
        for (int i = 0; i < n_denials; i++)
                json_array_append_new(d, json_pack("{s:s, s:s, s:i, s:s, s:s}", "syscall", "keyctl",
                                                   "arch", "x86_64", "count", 3, "origin",
                                                   "policies/seccomp/default.yaml:41", "group",
                                                   "keys"));
        json_object_set_new(r, "user", json_pack("{s:s}", "name", "alice"));
        return r;
}

static void test_filters(void **state) {
        json_auto_t *r = record("2026-01-02T03:04:05.000000000Z", "ci-untrusted", "sandbox", 1);
        json_auto_t *clean = record("2026-01-02T03:04:05.000000000Z", "ci-untrusted", "vm", 0);
        AuditFilter f = {};
        uint64_t since;

        assert_true(audit_filter_match(&f, r));
        f.profile = "ci-untrusted";
        assert_true(audit_filter_match(&f, r));
        f.profile = "./x.yaml";
        assert_true(audit_filter_match(&f, r));
        f.profile = "other";
        assert_false(audit_filter_match(&f, r));

        f = (AuditFilter){ .tier = "sandbox" };
        assert_true(audit_filter_match(&f, r));
        assert_false(audit_filter_match(&f, clean));

        f = (AuditFilter){ .denied_only = true };
        assert_true(audit_filter_match(&f, r));
        assert_false(audit_filter_match(&f, clean));

        assert_int_equal(audit_time_parse("2026-01-02T03:04:05Z", 0, &since), 0);
        f = (AuditFilter){ .since_ns = since };
        assert_true(audit_filter_match(&f, r));
        f.since_ns = since + 1;
        assert_false(audit_filter_match(&f, r));
}

static void test_format_line(void **state) {
        json_auto_t *r = record("2026-01-02T03:04:05.123456789Z", "ci-untrusted", "sandbox", 1);
        char *line = audit_record_format_line(r);

        assert_non_null(line);
        assert_null(strchr(line, '\n'));
        assert_non_null(strstr(line, "2026-01-02T03:04:05.123Z"));
        assert_non_null(strstr(line, "alice"));
        assert_non_null(strstr(line, "ci-untrusted"));
        assert_non_null(strstr(line, "sandbox"));
        assert_non_null(strstr(line, "exit 0"));
        assert_non_null(strstr(line, "1.50s"));
        assert_non_null(strstr(line, "-- make test"));
        assert_non_null(strstr(
                line,
                "denied keyctl (x86_64) x3 \u2014 policies/seccomp/default.yaml:41 group keys"));
        free(line);
}

static void test_format_escapes_terminal_controls(void **state) {
        json_auto_t *r = record("2026-01-02T03:04:05Z", "p", "sandbox", 0);
        json_array_set_new(json_object_get(json_object_get(r, "command"), "argv"), 1,
                           json_string("\x1b]0;owned\x07\xc2\x9b"
                                       "2J\n"));
        char *line = audit_record_format_line(r);

        assert_non_null(line);
        for (const unsigned char *c = (const unsigned char *) line; *c; c++) {
                assert_true(*c >= 0x20 && *c != 0x7f);
                if (*c == 0xc2)
                        assert_false(c[1] >= 0x80 && c[1] <= 0x9f);
        }
        assert_non_null(strstr(line, "\\x1b]0;owned\\x07\\u009b2J\\x0a"));
        free(line);
}

static void test_format_recovery_and_refusal(void **state) {
        json_auto_t *rec = audit_record_build_recovery(NS, 17, AUDIT_GENESIS_PREV);
        char *line = audit_record_format_line(rec);
        assert_non_null(strstr(line, "recovery"));
        assert_non_null(strstr(line, "17 torn bytes"));
        free(line);

        json_auto_t *r = record("2026-01-02T03:04:05Z", "p", "vm", 0);
        json_object_set_new(r, "result", json_string("refused"));
        line = audit_record_format_line(r);
        assert_non_null(strstr(line, "refused"));
        free(line);

        json_object_set_new(r, "result", json_string("timeout"));
        json_object_set_new(json_object_get(r, "exit"), "signal_name", json_string("SIGKILL"));
        line = audit_record_format_line(r);
        assert_non_null(strstr(line, "timeout SIGKILL"));
        free(line);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_time_round_trip),
                cmocka_unit_test(test_time_format_calendar),
                cmocka_unit_test(test_time_parse_relative_and_invalid),
                cmocka_unit_test(test_filters),
                cmocka_unit_test(test_format_line),
                cmocka_unit_test(test_format_escapes_terminal_controls),
                cmocka_unit_test(test_format_recovery_and_refusal),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

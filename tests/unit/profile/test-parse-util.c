/* SPDX-License-Identifier: MIT */
/* Sizes, durations, cpu counts and integers: the boundaries, and every way to get them wrong. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "basic/parse-util.h"

static void test_uint64(void **state) {
        uint64_t v;

        assert_int_equal(parse_uint64("0", UINT64_MAX, &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(parse_uint64("18446744073709551615", UINT64_MAX, &v), 0);
        assert_true(v == UINT64_MAX);
        assert_int_equal(parse_uint64("18446744073709551616", UINT64_MAX, &v), -ERANGE);
        assert_int_equal(parse_uint64("99999999999999999999999", UINT64_MAX, &v), -ERANGE);
        assert_int_equal(parse_uint64("256", 255, &v), -ERANGE);
        assert_int_equal(parse_uint64("255", 255, &v), 0);
        assert_int_equal(v, 255);
        assert_int_equal(parse_uint64("", UINT64_MAX, &v), -EINVAL);
        assert_int_equal(parse_uint64("-1", UINT64_MAX, &v), -EINVAL);
        assert_int_equal(parse_uint64("+1", UINT64_MAX, &v), -EINVAL);
        assert_int_equal(parse_uint64(" 1", UINT64_MAX, &v), -EINVAL);
        assert_int_equal(parse_uint64("1 ", UINT64_MAX, &v), -EINVAL);
        assert_int_equal(parse_uint64("0x10", UINT64_MAX, &v), -EINVAL);
        assert_int_equal(parse_uint64(NULL, UINT64_MAX, &v), -EINVAL);
}

static void test_size(void **state) {
        const char *hint;
        uint64_t v;

        assert_int_equal(parse_size("4096", &v, &hint), 0);
        assert_int_equal(v, 4096);
        assert_int_equal(parse_size("4096B", &v, NULL), 0);
        assert_int_equal(v, 4096);
        assert_int_equal(parse_size("2KiB", &v, NULL), 0);
        assert_int_equal(v, 2048);
        assert_int_equal(parse_size("256MiB", &v, NULL), 0);
        assert_int_equal(v, UINT64_C(256) << 20);
        assert_int_equal(parse_size("1GiB", &v, NULL), 0);
        assert_int_equal(v, UINT64_C(1) << 30);
        assert_int_equal(parse_size("3TiB", &v, NULL), 0);
        assert_int_equal(v, UINT64_C(3) << 40);
        /* Largest value that still fits with the unit, then one more. */
        assert_int_equal(parse_size("17179869183GiB", &v, NULL), 0);
        assert_true(v == (UINT64_C(17179869183) << 30));
        assert_int_equal(parse_size("17179869184GiB", &v, NULL), -ERANGE);
        assert_int_equal(parse_size("18446744073709551616", &v, NULL), -ERANGE);

        assert_int_equal(parse_size("1GB", &v, &hint), -EINVAL);
        assert_string_equal(hint, "GiB");
        assert_int_equal(parse_size("1G", &v, &hint), -EINVAL);
        assert_string_equal(hint, "GiB");
        assert_int_equal(parse_size("512mb", &v, &hint), -EINVAL);
        assert_string_equal(hint, "MiB");
        assert_int_equal(parse_size("10k", &v, &hint), -EINVAL);
        assert_string_equal(hint, "KiB");
        assert_int_equal(parse_size("10 MiB", &v, &hint), -EINVAL);
        assert_null(hint);
        assert_int_equal(parse_size("1.5GiB", &v, &hint), -EINVAL);
        assert_int_equal(parse_size("-1GiB", &v, &hint), -EINVAL);
        assert_int_equal(parse_size("GiB", &v, &hint), -EINVAL);
        assert_int_equal(parse_size("", &v, &hint), -EINVAL);
        assert_int_equal(parse_size("1GiBs", &v, &hint), -EINVAL);
        assert_null(hint);
}

static void test_duration(void **state) {
        uint64_t v;

        assert_int_equal(parse_duration_ms("90s", &v), 0);
        assert_int_equal(v, 90000);
        assert_int_equal(parse_duration_ms("20m", &v), 0);
        assert_int_equal(v, 20 * 60000);
        assert_int_equal(parse_duration_ms("1h30m", &v), 0);
        assert_int_equal(v, 90 * 60000);
        assert_int_equal(parse_duration_ms("2h5s", &v), 0);
        assert_int_equal(v, 7205000);
        assert_int_equal(parse_duration_ms("1h2m3s", &v), 0);
        assert_int_equal(v, 3723000);
        assert_int_equal(parse_duration_ms("0s", &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(parse_duration_ms("200ms", &v), 0);
        assert_int_equal(v, 200);
        assert_int_equal(parse_duration_ms("1s500ms", &v), 0);
        assert_int_equal(v, 1500);
        assert_int_equal(parse_duration_ms("1m5ms", &v), 0);
        assert_int_equal(v, 60005);
        assert_int_equal(parse_duration_ms("1h1m1s1ms", &v), 0);
        assert_int_equal(v, 3661001);

        assert_int_equal(parse_duration_ms("600", &v), -EINVAL);
        assert_int_equal(parse_duration_ms("30m1h", &v), -EINVAL);
        assert_int_equal(parse_duration_ms("1m1m", &v), -EINVAL);
        assert_int_equal(parse_duration_ms("5ms1s", &v), -EINVAL);
        assert_int_equal(parse_duration_ms("5ms5ms", &v), -EINVAL);
        assert_int_equal(parse_duration_ms("5msx", &v), -EINVAL);
        assert_int_equal(parse_duration_ms("5mss", &v), -EINVAL);
        assert_int_equal(parse_duration_ms("1d", &v), -EINVAL);
        assert_int_equal(parse_duration_ms("1.5h", &v), -EINVAL);
        assert_int_equal(parse_duration_ms("h", &v), -EINVAL);
        assert_int_equal(parse_duration_ms("-1s", &v), -EINVAL);
        assert_int_equal(parse_duration_ms("1 h", &v), -EINVAL);
        assert_int_equal(parse_duration_ms("", &v), -EINVAL);
        /* UINT64_MAX ms is 5124095576030 h: the first and the sum must both be checked. */
        assert_int_equal(parse_duration_ms("5124095576030h", &v), 0);
        assert_int_equal(parse_duration_ms("5124095576031h", &v), -ERANGE);
        assert_int_equal(parse_duration_ms("5124095576030h59m", &v), -ERANGE);
        assert_int_equal(parse_duration_ms("99999999999999999999s", &v), -ERANGE);
}

static void test_cpus(void **state) {
        uint32_t v;

        assert_int_equal(parse_cpus_milli("1", &v), 0);
        assert_int_equal(v, 1000);
        assert_int_equal(parse_cpus_milli("0.5", &v), 0);
        assert_int_equal(v, 500);
        assert_int_equal(parse_cpus_milli("1.5", &v), 0);
        assert_int_equal(v, 1500);
        assert_int_equal(parse_cpus_milli("1.25", &v), 0);
        assert_int_equal(v, 1250);
        assert_int_equal(parse_cpus_milli("0.001", &v), 0);
        assert_int_equal(v, 1);
        assert_int_equal(parse_cpus_milli("4294967.295", &v), 0);
        assert_true(v == UINT32_MAX);
        assert_int_equal(parse_cpus_milli("4294967.296", &v), -ERANGE);
        assert_int_equal(parse_cpus_milli("99999999", &v), -ERANGE);

        assert_int_equal(parse_cpus_milli("0", &v), -EINVAL);
        assert_int_equal(parse_cpus_milli("0.000", &v), -EINVAL);
        assert_int_equal(parse_cpus_milli("-1", &v), -EINVAL);
        assert_int_equal(parse_cpus_milli("0.0005", &v), -EINVAL);
        assert_int_equal(parse_cpus_milli(".5", &v), -EINVAL);
        assert_int_equal(parse_cpus_milli("1.", &v), -EINVAL);
        assert_int_equal(parse_cpus_milli("1e3", &v), -EINVAL);
        assert_int_equal(parse_cpus_milli("two", &v), -EINVAL);
        assert_int_equal(parse_cpus_milli("", &v), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_uint64),
                cmocka_unit_test(test_size),
                cmocka_unit_test(test_duration),
                cmocka_unit_test(test_cpus),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

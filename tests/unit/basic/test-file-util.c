/* SPDX-License-Identifier: MIT */
/* read_fd_bounded(): the whole file whatever its fstat size said (a file that grew or shrank
 * since), NUL-terminated, and -EFBIG exactly one byte past the limit. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "basic/file-util.h"

static int file_of(size_t n) {
        int fd = memfd_create("test", MFD_CLOEXEC);
        assert_true(fd >= 0);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(write(fd, &"0123456789"[i % 10], 1), 1);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        return fd;
}

static void check(size_t size, size_t hint, size_t max, int expect) {
        int fd = file_of(size);
        char *buf = NULL;
        size_t len = 0;

        assert_int_equal(read_fd_bounded(fd, hint, max, &buf, &len), expect);
        if (expect == 0) {
                assert_int_equal(len, size);
                assert_int_equal(buf[len], '\0');
                for (size_t i = 0; i < len; i++)
                        assert_int_equal(buf[i], "0123456789"[i % 10]);
        }
        free(buf);
        close(fd);
}

static void test_sizes(void **state) {
        check(0, 0, 100, 0);
        check(1, 1, 100, 0);
        check(100, 100, 100, 0); /* exactly the limit */
        check(101, 101, 100, -EFBIG);
        check(10000, 10, 20000, 0); /* grew since fstat */
        check(10, 10000, 20000, 0); /* shrank */
        check(30000, 10, 20000, -EFBIG);
        check(20000, 3, 20000, 0);
        check(20001, 3, 20000, -EFBIG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sizes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

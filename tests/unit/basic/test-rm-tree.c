/* SPDX-License-Identifier: MIT */
/* rm_tree(): everything under the path goes, whatever its modes (overlayfs' mode-000 work
 * directory, read-only image directories), a symbolic link is removed and never followed, a
 * directory of thousands of entries and a deep one go whole. Run as nobody when started as
 * root, so that the modes count as they do for a user's run. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "basic/rm-tree.h"

static char base[64];

static void path_of(char *buf, size_t size, const char *rel) {
        snprintf(buf, size, "%s/%s", base, rel);
}

static void mk(const char *rel) {
        char p[8192];
        path_of(p, sizeof(p), rel);
        assert_int_equal(mkdir(p, 0700), 0);
}

static void file(const char *rel) {
        char p[8192];
        path_of(p, sizeof(p), rel);
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "x", 1), 1);
        close(fd);
}

static void chmod_rel(const char *rel, mode_t mode) {
        char p[8192];
        path_of(p, sizeof(p), rel);
        assert_int_equal(chmod(p, mode), 0);
}

static bool exists(const char *rel) {
        char p[8192];
        struct stat st;
        path_of(p, sizeof(p), rel);
        return lstat(p, &st) == 0;
}

static int rm_rel(const char *rel) {
        char p[8192];
        path_of(p, sizeof(p), rel);
        return rm_tree(p);
}

static void test_modes_and_links(void **state) {
        (void) state;
        char p[8192], q[512];
        mk("keep");
        file("keep/secret");
        mk("t");
        mk("t/a");
        mk("t/a/b");
        file("t/a/b/f");
        path_of(p, sizeof(p), "t/a/fifo");
        assert_int_equal(mkfifo(p, 0600), 0);
        path_of(q, sizeof(q), "keep/secret");
        path_of(p, sizeof(p), "t/a/to-file");
        assert_int_equal(symlink(q, p), 0);
        path_of(q, sizeof(q), "keep");
        path_of(p, sizeof(p), "t/a/to-dir");
        assert_int_equal(symlink(q, p), 0);
        /* overlayfs' work/work: mode 000, with something in it */
        mk("t/work");
        mk("t/work/work");
        mk("t/work/work/inner");
        file("t/work/work/inner/f");
        chmod_rel("t/work/work", 0);
        /* a read-only image tree */
        mk("t/ro");
        mk("t/ro/sub");
        file("t/ro/sub/f");
        chmod_rel("t/ro/sub/f", 0444);
        chmod_rel("t/ro/sub", 0555);
        chmod_rel("t/ro", 0555);

        assert_int_equal(rm_rel("t"), 0);
        assert_false(exists("t"));
        /* the links were removed, not followed */
        assert_true(exists("keep/secret"));
}

static void test_top_level_kinds(void **state) {
        (void) state;
        char p[8192], q[512];
        assert_int_equal(rm_rel("no-such"), 0);
        file("plain");
        assert_int_equal(rm_rel("plain"), 0);
        assert_false(exists("plain"));
        mk("target");
        file("target/f");
        path_of(q, sizeof(q), "target");
        path_of(p, sizeof(p), "link");
        assert_int_equal(symlink(q, p), 0);
        assert_int_equal(rm_rel("link"), 0);
        assert_false(exists("link"));
        assert_true(exists("target/f"));
        assert_int_equal(rm_rel("target"), 0);
        assert_false(exists("target"));
}

static void test_many_and_deep(void **state) {
        (void) state;
        char rel[4096];
        mk("many");
        for (int i = 0; i < 3000; i++) {
                snprintf(rel, sizeof(rel), "many/file-with-a-longer-name-%04d", i);
                file(rel);
        }
        for (int i = 0; i < 50; i++) {
                snprintf(rel, sizeof(rel), "many/dir-%02d", i);
                mk(rel);
        }
        assert_int_equal(rm_rel("many"), 0);
        assert_false(exists("many"));

        size_t n = (size_t) snprintf(rel, sizeof(rel), "deep");
        mk(rel);
        for (int i = 0; i < 300; i++) {
                n += (size_t) snprintf(rel + n, sizeof(rel) - n, "/d");
                char p[8192];
                snprintf(p, sizeof(p), "%s/%s", base, rel);
                assert_int_equal(mkdir(p, 0700), 0);
        }
        assert_int_equal(rm_rel("deep"), 0);
        assert_false(exists("deep"));
}

int main(void) {
        if (geteuid() == 0) {
                /* a user's view of the modes: root would read and write through them */
                if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0) {
                        fprintf(stderr, "cannot become nobody: %s\n", strerror(errno));
                        return 1;
                }
        }
        snprintf(base, sizeof(base), "/tmp/moat-test-rm-tree.XXXXXX");
        if (!mkdtemp(base)) {
                fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
                return 1;
        }
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_modes_and_links),
                cmocka_unit_test(test_top_level_kinds),
                cmocka_unit_test(test_many_and_deep),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        (void) rm_tree(base);
        return r;
}

/* SPDX-License-Identifier: MIT */
/* The log file itself: modes, refusals (symlink, FIFO, foreign owner, writable by others),
 * recovery after a torn tail, the keyed chain through audit_log_run(), the default path.
 * Works in its own temporary directory; the parts that need another uid run only as root. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "audit.h"

static char dir[] = "/tmp/moat-test-audit-log-XXXXXX";

static int setup(void **state) {
        if (!mkdtemp(dir))
                return -1;
        return 0;
}

static int teardown(void **state) {
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

static char *path_in(const char *name) {
        char *p;
        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        return p;
}

static json_t *sample(void) {
        json_t *r = json_pack("{s:i, s:s, s:s, s:s}", "schema", 1, "type", "run", "time",
                              "2026-01-02T03:04:05.000000000Z", "result", "exited");
        assert_non_null(r);
        return r;
}

static int append(const char *path) {
        json_auto_t *r = sample();
        return audit_log_append(path, r, NULL, 0, NULL);
}

static AuditVerifyReport verify_file(const char *path, const uint8_t *key, size_t key_len) {
        AuditVerifyReport rep;
        assert_int_equal(audit_log_verify(path, key, key_len, NULL, NULL, &rep), 0);
        return rep;
}

static void write_bytes(const char *path, const char *bytes, int flags) {
        int fd = open(path, O_WRONLY | O_CLOEXEC | flags, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, bytes, strlen(bytes)), (ssize_t) strlen(bytes));
        close(fd);
}

static void test_creates_file_and_directories_with_modes(void **state) {
        char *p = path_in("a/b/audit.jsonl"), *a = path_in("a");
        bool root = geteuid() == 0;
        mode_t old = umask(077);
        struct stat st;

        assert_int_equal(append(p), 0);
        umask(old);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, root ? 0640 : 0600);
        assert_int_equal(st.st_uid, geteuid());
        assert_int_equal(stat(a, &st), 0);
        assert_int_equal(st.st_mode & 0077 & ~(root ? 0050 : 0), 0);
        assert_int_equal(append(p), 0);
        AuditVerifyReport rep = verify_file(p, NULL, 0);
        assert_int_equal(rep.bad_line, 0);
        assert_int_equal(rep.n_records, 2);
        free(p);
        free(a);
}

static void test_refuses_symlink(void **state) {
        char *target = path_in("target"), *link = path_in("link.jsonl");
        struct stat st;

        write_bytes(target, "precious\n", O_CREAT | O_EXCL);
        assert_int_equal(symlink(target, link), 0);
        assert_int_equal(append(link), -ELOOP);
        assert_int_equal(stat(target, &st), 0);
        assert_int_equal(st.st_size, 9);
        free(target);
        free(link);
}

static void test_refuses_fifo_without_hanging(void **state) {
        char *p = path_in("fifo.jsonl");

        assert_int_equal(mkfifo(p, 0600), 0);
        assert_int_equal(append(p), -EMEDIUMTYPE);
        free(p);
}

static void test_refuses_file_writable_by_others(void **state) {
        char *p = path_in("gw.jsonl");

        write_bytes(p, "", O_CREAT | O_EXCL);
        assert_int_equal(chmod(p, 0620), 0);
        assert_true(append(p) < 0);
        assert_int_equal(chmod(p, 0606), 0);
        assert_true(append(p) < 0);
        assert_int_equal(chmod(p, 0600), 0);
        assert_int_equal(append(p), 0);
        free(p);
}

static void test_refuses_file_of_another_user(void **state) {
        char *p = path_in("foreign.jsonl");

        if (geteuid() != 0) {
                free(p);
                skip();
        }
        write_bytes(p, "", O_CREAT | O_EXCL);
        assert_int_equal(chown(p, 65534, 65534), 0);
        assert_int_equal(append(p), -EPERM);
        free(p);
}

static void test_torn_tail_is_recovered_by_next_writer(void **state) {
        char *p = path_in("torn.jsonl");

        assert_int_equal(append(p), 0);
        assert_int_equal(append(p), 0);
        write_bytes(p, "{\"chain\":\"sha256\",\"comm", O_APPEND);
        AuditVerifyReport rep = verify_file(p, NULL, 0);
        assert_int_equal(rep.bad_line, 3);
        assert_true(rep.torn_tail);

        assert_int_equal(append(p), 0);
        rep = verify_file(p, NULL, 0);
        assert_int_equal(rep.bad_line, 0);
        assert_int_equal(rep.n_recovered, 1);
        assert_int_equal(rep.n_records, 3);

        /* Two crashes in a row: garbage, a torn recovery attempt, another fragment. */
        write_bytes(p, "{\"x\n{\"chain\":\"sha", O_APPEND);
        assert_int_equal(append(p), 0);
        rep = verify_file(p, NULL, 0);
        assert_int_equal(rep.bad_line, 0);
        assert_int_equal(rep.n_recovered, 2);
        assert_int_equal(rep.n_records, 4);
        free(p);
}

/* Records and torn tails larger than the first tail window (8 KiB): the writer must widen its
 * window until it finds the last record, and chain to it. */
static void test_long_records_and_long_torn_tail(void **state) {
        char *p = path_in("long.jsonl");
        size_t big = 300 * 1024;
        char *filler = malloc(big + 1);

        assert_non_null(filler);
        memset(filler, 'a', big);
        filler[big] = '\0';
        for (int i = 0; i < 2; i++) {
                json_auto_t *r = sample();
                assert_int_equal(json_object_set_new(r, "filler", json_string(filler)), 0);
                assert_int_equal(audit_log_append(p, r, NULL, 0, NULL), 0);
        }
        assert_int_equal(append(p), 0);
        AuditVerifyReport rep = verify_file(p, NULL, 0);
        assert_int_equal(rep.bad_line, 0);
        assert_int_equal(rep.n_records, 3);

        /* a crash in the middle of writing a 300 KiB record */
        write_bytes(p, "{\"chain\":\"sha256\",\"filler\":\"", O_APPEND);
        write_bytes(p, filler, O_APPEND);
        assert_int_equal(append(p), 0);
        rep = verify_file(p, NULL, 0);
        assert_int_equal(rep.bad_line, 0);
        assert_int_equal(rep.n_recovered, 1);
        assert_int_equal(rep.n_records, 4);
        free(filler);
        free(p);
}

static void test_damaged_tail_stops_appending(void **state) {
        char *p = path_in("damaged.jsonl");
        struct stat before, after;

        assert_int_equal(append(p), 0);
        for (int i = 0; i < 40; i++)
                write_bytes(p, "not a record\n", O_APPEND);
        assert_int_equal(stat(p, &before), 0);
        assert_int_equal(append(p), -EBADMSG);
        assert_int_equal(stat(p, &after), 0);
        assert_int_equal(before.st_size, after.st_size);
        free(p);
}

static void test_keyed_chain_through_audit_log_run(void **state) {
        char *p = path_in("keyed.jsonl"), *k = path_in("key"), *missing = path_in("no-key");
        static const char key[] = "0123456789abcdef0123456789abcdef";
        Policy policy = { .audit_hmac_key_file = k };
        char *argv[] = { "true", NULL };
        RunRequest req = { .argv = argv, .workdir = "/" };
        AuditContext ctx = { .policy = &policy, .request = &req, .profile_arg = "x" };

        write_bytes(k, key, O_CREAT | O_EXCL);
        assert_int_equal(audit_log_run(&ctx, p), 0);
        assert_int_equal(audit_log_run(&ctx, p), 0);
        AuditVerifyReport rep = verify_file(p, (const uint8_t *) key, strlen(key));
        assert_int_equal(rep.bad_line, 0);
        assert_int_equal(rep.n_records, 2);
        assert_true(rep.keyed);
        rep = verify_file(p, NULL, 0);
        assert_int_equal(rep.bad_line, 1);

        /* The site asked for a keyed chain: no key, no record (never an unkeyed one). */
        policy.audit_hmac_key_file = missing;
        assert_int_equal(audit_log_run(&ctx, p), -ENOENT);
        /* A key others can read seals nothing. */
        assert_int_equal(chmod(k, 0644), 0);
        policy.audit_hmac_key_file = k;
        assert_int_equal(audit_log_run(&ctx, p), -EACCES);
        rep = verify_file(p, (const uint8_t *) key, strlen(key));
        assert_int_equal(rep.n_records, 2);
        free(p);
        free(k);
        free(missing);
}

static void test_record_identity_and_time_filled_by_writer(void **state) {
        char *p = path_in("identity.jsonl");
        char *argv[] = { "true", NULL };
        RunRequest req = { .argv = argv, .workdir = "/" };
        AuditContext ctx = { .request = &req, .profile_arg = "x" };
        json_error_t err;

        assert_int_equal(audit_log_run(&ctx, p), 0);
        json_auto_t *r = json_load_file(p, 0, &err);
        assert_non_null(r);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "user"), "uid")),
                         getuid());
        assert_non_null(json_string_value(json_object_get(r, "host")));
        assert_string_not_equal(json_string_value(json_object_get(r, "time")),
                                "1970-01-01T00:00:00.000000000Z");
        free(p);
}

/* ---- the writer in steps (moat run: prepared while the command runs) ---- */

static AuditContext writer_ctx(void) {
        static char *argv[] = { "true", NULL };
        static RunRequest req = { .argv = argv, .workdir = "/" };
        return (AuditContext){ .request = &req, .profile_arg = "x" };
}

static __attribute__((noinline)) char *line_at(const char *path, int n) { /* 1-based, no \n */
        FILE *f = fopen(path, "re");
        char *line = NULL;
        size_t cap = 0;
        ssize_t len = -1;

        assert_non_null(f);
        for (int i = 0; i < n; i++)
                len = getline(&line, &cap, f);
        fclose(f);
        assert_true(len > 0);
        line[len - 1] = '\0';
        return line;
}

static char *prev_of(const char *path, int n) {
        char *line = line_at(path, n);
        json_auto_t *r = json_loads(line, 0, NULL);
        assert_non_null(r);
        char *prev = strdup(json_string_value(json_object_get(r, "prev")));
        free(line);
        return prev;
}

/* The tail read by prepare() is only a guess: a record that another writer appended between
 * prepare() and append() is what the new record chains to. */
static void test_writer_chains_to_a_record_appended_after_prepare(void **state) {
        char *p = path_in("writer-race.jsonl");
        AuditContext ctx = writer_ctx();
        AuditWriter *w = NULL;

        assert_int_equal(append(p), 0);
        assert_int_equal(audit_writer_new(p, NULL, &w), 0);
        audit_writer_prepare(w);
        assert_int_equal(append(p), 0); /* another moat, meanwhile */
        assert_int_equal(audit_writer_append(w, &ctx), 0);
        assert_int_equal(audit_writer_finish(w), 0);
        w = audit_writer_free(w);
        AuditVerifyReport rep = verify_file(p, NULL, 0);
        assert_int_equal(rep.bad_line, 0);
        assert_int_equal(rep.n_records, 3);

        /* and a torn tail left meanwhile is covered, not chained over */
        assert_int_equal(audit_writer_new(p, NULL, &w), 0);
        audit_writer_prepare(w);
        write_bytes(p, "{\"chain\":\"sha256\",\"comm", O_APPEND);
        assert_int_equal(audit_writer_append(w, &ctx), 0);
        assert_int_equal(audit_writer_finish(w), 0);
        w = audit_writer_free(w);
        rep = verify_file(p, NULL, 0);
        assert_int_equal(rep.bad_line, 0);
        assert_int_equal(rep.n_recovered, 1);
        assert_int_equal(rep.n_records, 4);
        free(p);
}

/* The last line rewritten in place, same size, between prepare() and append(): the record
 * chains to the bytes that are there (verify then blames the rewritten line, not ours). */
static void test_writer_rereads_a_tail_changed_in_place(void **state) {
        char *p = path_in("writer-inplace.jsonl");
        AuditContext ctx = writer_ctx();
        AuditWriter *w = NULL;
        char hex[AUDIT_HEX_LEN + 1];

        assert_int_equal(append(p), 0);
        assert_int_equal(append(p), 0);
        assert_int_equal(audit_writer_new(p, NULL, &w), 0);
        audit_writer_prepare(w);
        char *last = line_at(p, 2);
        char *at = strstr(last, "\"exited\"");
        assert_non_null(at);
        memcpy(at, "\"exitee\"", 8);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        int fd = open(p, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, last, strlen(last), st.st_size - (off_t) strlen(last) - 1),
                         (ssize_t) strlen(last));
        close(fd);
        assert_int_equal(audit_writer_append(w, &ctx), 0);
        assert_int_equal(audit_writer_finish(w), 0);
        w = audit_writer_free(w);
        audit_sha256_hex(last, strlen(last), hex);
        char *prev = prev_of(p, 3);
        assert_string_equal(prev, hex);
        free(prev);
        free(last);
        free(p);
}

/* A log rotated away while the command ran: the record goes to the new file, which starts a
 * chain of its own; the rotated file is not written. */
static void test_writer_follows_rotation_after_prepare(void **state) {
        char *p = path_in("writer-rot.jsonl"), *old = path_in("writer-rot.jsonl.1");
        AuditContext ctx = writer_ctx();
        AuditWriter *w = NULL;
        struct stat before, after;

        assert_int_equal(append(p), 0);
        assert_int_equal(audit_writer_new(p, NULL, &w), 0);
        audit_writer_prepare(w);
        assert_int_equal(rename(p, old), 0);
        assert_int_equal(stat(old, &before), 0);
        assert_int_equal(audit_writer_append(w, &ctx), 0);
        assert_int_equal(audit_writer_finish(w), 0);
        w = audit_writer_free(w);
        assert_int_equal(stat(old, &after), 0);
        assert_int_equal(before.st_size, after.st_size);
        char *prev = prev_of(p, 1);
        assert_string_equal(prev, AUDIT_GENESIS_PREV);
        free(prev);
        free(p);
        free(old);
}

/* finish() returns once the record is synced and the log unlocked; an error of prepare()
 * (here: the site's key is missing) is append()'s and finish()'s, and nothing is written. */
static void test_writer_finish_and_errors(void **state) {
        char *p = path_in("writer-fin.jsonl"), *missing = path_in("writer-no-key");
        Policy policy = { .audit_hmac_key_file = missing };
        AuditContext ctx = writer_ctx();
        AuditWriter *w = NULL;

        assert_int_equal(audit_writer_new(p, NULL, &w), 0);
        assert_int_equal(audit_writer_append(w, &ctx), 0);
        assert_int_equal(audit_writer_finish(w), 0);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
        close(fd);
        w = audit_writer_free(w);

        ctx.policy = &policy;
        assert_int_equal(audit_writer_new(p, &policy, &w), 0);
        audit_writer_prepare(w);
        assert_int_equal(audit_writer_append(w, &ctx), -ENOENT);
        assert_int_equal(audit_writer_finish(w), -ENOENT);
        w = audit_writer_free(w);
        AuditVerifyReport rep = verify_file(p, NULL, 0);
        assert_int_equal(rep.n_records, 1);
        free(p);
        free(missing);
}

static bool path_is(char *p, const char *expected) {
        bool ok = p && strcmp(p, expected) == 0;
        if (!ok)
                fprintf(stderr, "default path: got %s, expected %s\n", p ? p : "(null)", expected);
        free(p);
        return ok;
}

/* Plain checks, no cmocka asserts: this also runs in a forked child. */
static bool check_default_paths(void) {
        Policy policy = { .audit_log_path = "/srv/site/audit.jsonl" };

        setenv("MOAT_AUDIT_LOG", "/tmp/override.jsonl", 1);
        if (!path_is(audit_log_default_path(&policy), "/tmp/override.jsonl"))
                return false;
        unsetenv("MOAT_AUDIT_LOG");
        if (!path_is(audit_log_default_path(&policy), "/srv/site/audit.jsonl"))
                return false;
        if (getuid() == 0)
                return path_is(audit_log_default_path(NULL), "/var/log/moat/audit.jsonl");
        setenv("XDG_STATE_HOME", "/home/u/.state", 1);
        setenv("HOME", "/home/u", 1);
        if (!path_is(audit_log_default_path(NULL), "/home/u/.state/moat/audit.jsonl"))
                return false;
        /* XDG says a relative XDG_STATE_HOME is invalid: ignore it. */
        setenv("XDG_STATE_HOME", "relative/state", 1);
        if (!path_is(audit_log_default_path(NULL), "/home/u/.local/state/moat/audit.jsonl"))
                return false;
        unsetenv("XDG_STATE_HOME");
        return path_is(audit_log_default_path(NULL), "/home/u/.local/state/moat/audit.jsonl");
}

static void test_default_path(void **state) {
        pid_t pid;
        int status;

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(check_default_paths() ? 0 : 1);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        if (geteuid() != 0)
                return;
        /* Also as an unprivileged uid. */
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                if (setgid(65534) < 0 || setuid(65534) < 0)
                        _exit(2);
                _exit(check_default_paths() ? 0 : 1);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_creates_file_and_directories_with_modes),
                cmocka_unit_test(test_refuses_symlink),
                cmocka_unit_test(test_refuses_fifo_without_hanging),
                cmocka_unit_test(test_refuses_file_writable_by_others),
                cmocka_unit_test(test_refuses_file_of_another_user),
                cmocka_unit_test(test_torn_tail_is_recovered_by_next_writer),
                cmocka_unit_test(test_long_records_and_long_torn_tail),
                cmocka_unit_test(test_damaged_tail_stops_appending),
                cmocka_unit_test(test_keyed_chain_through_audit_log_run),
                cmocka_unit_test(test_record_identity_and_time_filled_by_writer),
                cmocka_unit_test(test_default_path),
                cmocka_unit_test(test_writer_chains_to_a_record_appended_after_prepare),
                cmocka_unit_test(test_writer_rereads_a_tail_changed_in_place),
                cmocka_unit_test(test_writer_follows_rotation_after_prepare),
                cmocka_unit_test(test_writer_finish_and_errors),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}

/* SPDX-License-Identifier: MIT */
/* The guest protocol: what moat accepts from the guest and what the guest init accepts from
 * moat. Both sides must reject anything outside the grammar. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vm/guest/vm-proto.h"

static int feed(VmStatusReader *r, const char *s) {
        return vm_status_reader_feed(r, s, strlen(s));
}

static void test_status_good(void **state) {
        VmStatusReader r = {};

        assert_int_equal(feed(&r, "started\nex"), 0);
        assert_true(r.started);
        assert_false(r.final);
        assert_int_equal(feed(&r, "it 3\n"), 0);
        assert_true(r.final);
        assert_int_equal(r.result.kind, VM_STATUS_EXIT);
        assert_int_equal(r.result.value, 3);

        VmStatusReader s = {};
        assert_int_equal(feed(&s, "started\nsignal 15\n"), 0);
        assert_int_equal(s.result.kind, VM_STATUS_SIGNAL);
        assert_int_equal(s.result.value, 15);

        /* The guest init killed the tree for the CPU time limit; the command died of 9. */
        VmStatusReader t = {};
        assert_int_equal(feed(&t, "started\ncputime 9\n"), 0);
        assert_true(t.final);
        assert_int_equal(t.result.kind, VM_STATUS_CPUTIME);
        assert_int_equal(t.result.value, 9);

        VmStatusReader e = {};
        assert_int_equal(feed(&e, "error 2 exec\n"), 0);
        assert_int_equal(e.result.kind, VM_STATUS_ERROR);
        assert_int_equal(e.result.value, ENOENT);
        assert_string_equal(e.result.step, "exec");
}

static void test_status_malformed(void **state) {
        static const char *const bad[] = {
                "exit 3\n",            /* no start message */
                "started\nexit 256\n", /* out of range */
                "started\nexit -1\n",
                "started\nexit 03\n", /* leading zero */
                "started\nexit 3 \n", /* trailing junk */
                "started\nexit 1; rm -rf /\n",
                "started\nEXIT 1\n",
                "started\nsignal 0\n",
                "started\nsignal 65\n",
                "started\nstarted\n",
                "started\nexit 0\nexit 1\n", /* a second final message */
                "started\nexit 0\nstarted\n",
                "cputime 9\n", /* no start message */
                "started\ncputime 0\n",
                "started\ncputime 65\n",
                "started\ncputime 09\n",
                "started\ncputime -9\n",
                "started\ncputime\n",
                "started\ncputime \n",
                "started\ncputime 9 1000\n", /* no second field */
                "started\ncputime  9\n",
                "started\ncputime9\n",
                "started\nCPUTIME 9\n",
                "started\ncputime 9\nexit 0\n", /* a second final message */
                "started\nsignal 9\ncputime 9\n",
                "error 0 exec\n",
                "error 2 EXEC\n",
                "error 2 \n",
                "error 2 a\033[2Jb\n", /* terminal escapes */
                "hello\n",
                "\n",
                "started\r\n",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                VmStatusReader r = {};
                assert_int_equal(feed(&r, bad[i]), -EINVAL);
                assert_true(r.malformed);
                /* sticky */
                assert_int_equal(feed(&r, "started\n"), -EINVAL);
        }

        /* An endless line without a newline is cut off at the bound. */
        VmStatusReader r = {};
        char big[VM_STATUS_LINE_MAX * 2];
        memset(big, 'a', sizeof(big));
        assert_int_equal(vm_status_reader_feed(&r, big, sizeof(big)), -EINVAL);

        /* A NUL inside a line. */
        VmStatusReader n = {};
        assert_int_equal(vm_status_reader_feed(&n, "started\nexit\0 1\n", 16), -EINVAL);
}

static void test_status_format_roundtrip(void **state) {
        VmStatus s = { .kind = VM_STATUS_ERROR, .value = 13, .step = "mount share" }, out;
        VmStatus cpu = { .kind = VM_STATUS_CPUTIME, .value = 9 };
        char buf[VM_STATUS_LINE_MAX + 1];
        int n = vm_status_format(&cpu, buf, sizeof(buf));

        assert_int_equal(n, 10);
        assert_memory_equal(buf, "cputime 9\n", 10);
        assert_int_equal(vm_status_parse_line(buf, (size_t) n - 1, &out), 0);
        assert_int_equal(out.kind, VM_STATUS_CPUTIME);
        assert_int_equal(out.value, 9);

        n = vm_status_format(&s, buf, sizeof(buf));

        assert_true(n > 0);
        assert_int_equal(buf[n - 1], '\n');
        assert_int_equal(vm_status_parse_line(buf, (size_t) n - 1, &out), 0);
        assert_int_equal(out.kind, VM_STATUS_ERROR);
        assert_int_equal(out.value, 13);
        assert_string_equal(out.step, "mount share");
}

static char *build(const char *const *recs) {
        char *buf = NULL;
        size_t len = 0;
        for (size_t i = 0; recs[i]; i++)
                assert_int_equal(
                        vm_config_append(&buf, &len, recs[i][0], recs[i] + 1, strlen(recs[i] + 1)),
                        0);
        assert_int_equal(vm_config_append(&buf, &len, 'z', "", 0), 0);
        return buf;
}

static void test_config_good(void **state) {
        const char *recs[] = { "u1000",
                               "g1000",
                               "i0f3a5c7e9b1d4f60a2c4e6f8091b3d5e",
                               "c/work",
                               "a/bin/sh",
                               "a-c",
                               "aecho 'a b' > c & d",
                               "ePATH=/usr/bin",
                               "m9p s0 ro /usr",
                               "mtmpfs 1024 /tmp",
                               "mlink usr/bin /bin",
                               "m9p s2 rw /work",
                               "m9p s3 ro,noexec /data",
                               "m9p s4 rw,noexec /out",
                               "hbox",
                               "t1500",
                               "d1",
                               NULL };
        char *buf = build(recs);
        size_t len = strlen(buf);
        VmConfig *c = malloc(sizeof(*c));
        const char *why;

        /* Any prefix is "need more", never an error or a result. */
        for (size_t i = 0; i < len; i++) {
                char *copy = malloc(len + 1);
                memcpy(copy, buf, len + 1);
                assert_int_equal(vm_config_parse(copy, i, c, &why), 0);
                free(copy);
        }
        assert_int_equal(vm_config_parse(buf, len, c, &why), (ssize_t) len);
        assert_int_equal(c->uid, 1000);
        assert_string_equal(c->cwd, "/work");
        assert_int_equal(c->n_argv, 3);
        assert_string_equal(c->argv[2], "echo 'a b' > c & d");
        assert_null(c->argv[3]);
        assert_int_equal(c->n_mounts, 6);
        assert_int_equal(c->mounts[0].kind, VM_MOUNT_9P);
        assert_true(c->mounts[0].readonly);
        assert_false(c->mounts[0].noexec);
        assert_false(c->mounts[3].readonly);
        assert_false(c->mounts[3].noexec);
        assert_true(c->mounts[4].readonly);
        assert_true(c->mounts[4].noexec);
        assert_false(c->mounts[5].readonly);
        assert_true(c->mounts[5].noexec);
        assert_int_equal(c->mounts[1].size, 1024);
        assert_string_equal(c->mounts[2].link, "usr/bin");
        assert_true(c->debug);
        assert_string_equal(c->machine_id, "0f3a5c7e9b1d4f60a2c4e6f8091b3d5e");
        assert_int_equal(c->cpu_time_ms, 1500);
        free(c);
        free(buf);
}

static void expect_bad(const char *raw);
static void expect_bad_record(char tag, const char *value);

/* Record "overlay": an image root (vm-layout.c), the only mount record whose target is /. */
static void test_config_image_root(void **state) {
        const char *recs[] = { "u1000",           "g1000",    "i0123456789abcdef0123456789abcdef",
                               "c/work",          "a/bin/sh", "moverlay s0 67108864 /",
                               "m9p s1 rw /work", NULL };
        char *buf = build(recs);
        size_t len = strlen(buf);
        VmConfig *c = malloc(sizeof(*c));
        const char *why;

        assert_int_equal(vm_config_parse(buf, len, c, &why), (ssize_t) len);
        assert_int_equal(c->n_mounts, 2);
        assert_int_equal(c->mounts[0].kind, VM_MOUNT_OVERLAY);
        assert_string_equal(c->mounts[0].tag, "s0");
        assert_int_equal(c->mounts[0].size, 67108864);
        assert_string_equal(c->mounts[0].target, "/");
        free(c);
        free(buf);

        expect_bad_record('m', "overlay s0 1024 /usr"); /* only on / */
        expect_bad_record('m', "overlay S0 1024 /");    /* bad tag */
        expect_bad_record('m', "overlay s0 0 /");       /* no upper layer */
        expect_bad_record('m', "overlay s0 1k /");
        expect_bad_record('m', "overlay s0 /");
        expect_bad_record('m', "tmpfs 1024 /"); /* / is the overlay's only */

        /* Record B: boot mode, only with the image root. */
        const char *boot[] = { "u33",
                               "g33",
                               "i0123456789abcdef0123456789abcdef",
                               "c/work",
                               "a/bin/sh",
                               "moverlay s0 67108864 /",
                               "B120000 /sbin/init",
                               NULL };
        buf = build(boot);
        len = strlen(buf);
        c = malloc(sizeof(*c));
        assert_int_equal(vm_config_parse(buf, len, c, &why), (ssize_t) len);
        assert_string_equal(c->boot_init, "/sbin/init");
        assert_int_equal(c->boot_ready_ms, 120000);
        free(c);
        free(buf);
        expect_bad_record('B', "120000 /sbin/init"); /* no image root */
        const char *twice[] = { "u33",      "g33",      "i0123456789abcdef0123456789abcdef",
                                "c/work",   "a/bin/sh", "moverlay s0 67108864 /",
                                "B1 /init", "B1 /init", NULL };
        buf = build(twice);
        expect_bad(buf);
        free(buf);
        const char *bad[] = { "0 /sbin/init", "1 sbin/init",    "1 /sbin/../init", "1",
                              "x /init",      "86400001 /init", "1 /a b" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                const char *r[] = { "u33",    "g33",      "i0123456789abcdef0123456789abcdef",
                                    "c/work", "a/bin/sh", "moverlay s0 67108864 /",
                                    NULL,     NULL };
                char v[64];
                snprintf(v, sizeof(v), "B%s", bad[i]);
                r[6] = v;
                buf = build(r);
                expect_bad(buf);
                free(buf);
        }
}

static void expect_bad(const char *raw) {
        VmConfig *c = malloc(sizeof(*c));
        char *copy = strdup(raw);
        const char *why = NULL;

        assert_int_equal(vm_config_parse(copy, strlen(copy), c, &why), -EINVAL);
        assert_non_null(why);
        free(copy);
        free(c);
}

/* A well-formed record with a bad value, inside an otherwise valid configuration. */
static void expect_bad_record(char tag, const char *value) {
        const char *recs[] = { "u1", "g1", "c/", "a/bin/true", "i0123456789abcdef0123456789abcdef",
                               NULL };
        char *buf = NULL;
        size_t len = 0;
        VmConfig *c = malloc(sizeof(*c));
        const char *why = NULL;

        for (size_t i = 0; recs[i]; i++)
                assert_int_equal(
                        vm_config_append(&buf, &len, recs[i][0], recs[i] + 1, strlen(recs[i] + 1)),
                        0);
        assert_int_equal(vm_config_append(&buf, &len, tag, value, strlen(value)), 0);
        assert_int_equal(vm_config_append(&buf, &len, 'z', "", 0), 0);
        assert_int_equal(vm_config_parse(buf, len, c, &why), -EINVAL);
        assert_non_null(why);
        free(buf);
        free(c);
}

static void test_config_malformed(void **state) {
        expect_bad("x1:a\n");                            /* unknown tag */
        expect_bad("u3:1000\n");                         /* length lies */
        expect_bad("u04:1000\ng1:0\nc1:/\na1:x\nz0:\n"); /* leading zero length */
        expect_bad("u999999:");                          /* record too long */
        expect_bad("u-1:\n");
        expect_bad("u5:65535\n");   /* uid out of range */
        expect_bad("u1:0\nu1:0\n"); /* repeated */
        expect_bad("c7:/a/../b\n"); /* unclean path */
        expect_bad("c5:/a//b\n");
        expect_bad("c3:rel\n");
        expect_bad("e3:FOO\n"); /* env without '=' */
        expect_bad("e4:=FOO\n");
        expect_bad_record('m', "9p S0 ro /usr/x"); /* bad tag */
        expect_bad_record('m', "9p s0 xx /usr");   /* bad mode */
        expect_bad_record('m', "9p s0 noexec /usr");
        expect_bad_record('m', "9p s0 ro,exec /usr");
        expect_bad_record('m', "9p s0 ro,noexec,x /usr");
        expect_bad_record('m', "9p s0 ro /"); /* root target */
        expect_bad_record('m', "9p s0 ro /a/../etc");
        expect_bad_record('m', "tmpfs 1k /tmp/x");
        expect_bad_record('m', "mount /x");
        expect_bad_record('m', "9p s0 ro /x extra");
        expect_bad_record('p', "moat-default"); /* name without profile text */
        expect_bad_record('P', "profile x {}"); /* text without name */
        expect_bad_record('p', "../x");
        expect_bad("f4:evil\n");
        expect_bad("p6:a/../b\n");
        expect_bad("z1:x\n");
        expect_bad("u1:0\ng1:0\nz0:\n");            /* no cwd, no argv */
        expect_bad("u1:0\ng1:0\nc1:/\nz0:\n");      /* no argv */
        expect_bad("u1:0\ng1:0\nc1:/\na0:\nz0:\n"); /* empty argv[0] */
        {
                char nul[] = "a3:a\0b\n";
                VmConfig *c = malloc(sizeof(*c));
                const char *why = NULL;
                assert_int_equal(vm_config_parse(nul, sizeof(nul) - 1, c, &why), -EINVAL);
                free(c);
        }
        expect_bad("u1:0X"); /* not terminated */

        /* The machine id: required, exactly 32 lower-case hex digits, not all zero, once. */
        expect_bad("u1:0\ng1:0\nc1:/\na1:x\nz0:\n");
        expect_bad_record('i', "0123456789abcdef0123456789abcdef"); /* repeated */
        {
                static const char *const bad_ids[] = {
                        "",
                        "0123456789abcdef",
                        "0123456789abcdef0123456789abcdef0",
                        "0123456789ABCDEF0123456789ABCDEF",
                        "0123456789abcdef0123456789abcdeg",
                        "00000000000000000000000000000000",
                        "0123456789abcdef 123456789abcdef",
                        "8bdc58d5-e69d-42b8-9b88-c42d2de5",
                };
                for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
                        char *buf = NULL;
                        size_t len = 0;
                        const char *recs[] = { "u1", "g1", "c/", "a/bin/true", NULL };
                        VmConfig *c = malloc(sizeof(*c));
                        const char *why = NULL;

                        for (size_t j = 0; recs[j]; j++)
                                assert_int_equal(vm_config_append(&buf, &len, recs[j][0],
                                                                  recs[j] + 1, strlen(recs[j] + 1)),
                                                 0);
                        assert_int_equal(
                                vm_config_append(&buf, &len, 'i', bad_ids[i], strlen(bad_ids[i])),
                                0);
                        assert_int_equal(vm_config_append(&buf, &len, 'z', "", 0), 0);
                        assert_int_equal(vm_config_parse(buf, len, c, &why), -EINVAL);
                        assert_non_null(why);
                        free(buf);
                        free(c);
                }
        }
}

/* Record t, the CPU time limit: optional (0 = none), 1..VM_CPU_TIME_MS_MAX ms, once. */
static void test_config_cpu_time(void **state) {
        const char *recs[] = { "u1", "g1", "c/", "a/bin/true", "i0123456789abcdef0123456789abcdef",
                               NULL };
        char max[32];
        VmConfig *c = malloc(sizeof(*c));
        const char *why;

        /* Without the record: no limit. */
        char *buf = build(recs);
        assert_true(vm_config_parse(buf, strlen(buf), c, &why) > 0);
        assert_int_equal(c->cpu_time_ms, 0);
        free(buf);

        /* The bound itself is accepted. */
        snprintf(max, sizeof(max), "t%" PRIu64, VM_CPU_TIME_MS_MAX);
        const char *with_max[] = {
                "u1", "g1", "c/", "a/bin/true", "i0123456789abcdef0123456789abcdef", max, NULL
        };
        buf = build(with_max);
        assert_true(vm_config_parse(buf, strlen(buf), c, &why) > 0);
        assert_true(c->cpu_time_ms == VM_CPU_TIME_MS_MAX);
        free(buf);
        free(c);

        snprintf(max, sizeof(max), "%" PRIu64, VM_CPU_TIME_MS_MAX + 1);
        expect_bad_record('t', max); /* above the bound */
        expect_bad_record('t', "0"); /* zero is "no record", never sent */
        expect_bad_record('t', "");
        expect_bad_record('t', "01000");
        expect_bad_record('t', "-1");
        expect_bad_record('t', "+1");
        expect_bad_record('t', "1000 ");
        expect_bad_record('t', "1s");
        expect_bad_record('t', "1.5");
        expect_bad_record('t', "0x10");
        expect_bad_record('t', "99999999999999999999999"); /* past uint64 */
        expect_bad(
                "u1:1\ng1:1\nc1:/\na1:x\ni32:0123456789abcdef0123456789abcdef\n"
                "t4:1000\nt4:2000\nz0:\n"); /* repeated */
}

/* Records r (CRNG seed, 16..64 bytes in lower-case hex) and w (wall clock in ns) of a clone
 * restored from a template: optional, once each. */
static void test_config_clone_identity(void **state) {
        const char *recs[] = {
                "u1",
                "g1",
                "c/",
                "a/bin/true",
                "i0123456789abcdef0123456789abcdef",
                "R00ff7f808080808080808080808080808080808080808080808080808080808032",
                "w1765000000123456789",
                NULL
        };
        VmConfig *c = malloc(sizeof(*c));
        const char *why;

        char *buf = build(recs);
        assert_true(vm_config_parse(buf, strlen(buf), c, &why) > 0);
        assert_int_equal(c->seed_len, 33);
        assert_int_equal(c->seed[0], 0x00);
        assert_int_equal(c->seed[1], 0xff);
        assert_int_equal(c->seed[2], 0x7f);
        assert_int_equal(c->seed[32], 0x32);
        assert_true(c->have_realtime);
        assert_true(c->realtime_ns == UINT64_C(1765000000123456789));
        free(buf);
        buf = build((const char *[]){ "u1", "g1", "c/", "a/bin/true",
                                      "i0123456789abcdef0123456789abcdef", NULL });
        assert_true(vm_config_parse(buf, strlen(buf), c, &why) > 0);
        assert_int_equal(c->seed_len, 0);
        assert_false(c->have_realtime);
        free(buf);
        free(c);

        char seed[2 * VM_SEED_MAX + 4];
        memset(seed, 'a', sizeof(seed));
        seed[2 * VM_SEED_MAX + 2] = 0;
        expect_bad_record('R', seed);                                /* longer than VM_SEED_MAX */
        expect_bad_record('R', "00112233445566778899aabbccddee");    /* 15 bytes */
        expect_bad_record('R', "00112233445566778899aabbccddeeff0"); /* odd */
        expect_bad_record('R', "00112233445566778899AABBCCDDEEFF");  /* upper case */
        expect_bad_record('R', "00112233445566778899aabbccddeefg");  /* not hex */
        expect_bad_record('w', "");
        expect_bad_record('w', "01");
        expect_bad_record('w', "-1");
        expect_bad_record('w', "99999999999999999999999");
        expect_bad(
                "u1:1\ng1:1\nc1:/\na1:x\ni32:0123456789abcdef0123456789abcdef\n"
                "w1:1\nw1:2\nz0:\n");
        expect_bad(
                "u1:1\ng1:1\nc1:/\na1:x\ni32:0123456789abcdef0123456789abcdef\n"
                "R32:00112233445566778899aabbccddeeff\nR32:00112233445566778899aabbccddeeff\n"
                "z0:\n");
}

/* Record N, the egress forwarder's loopback port: optional (0 = none), 1..65535, once. */
static void test_config_net_port(void **state) {
        VmConfig *c = malloc(sizeof(*c));
        const char *why;

        char *buf = build((const char *[]){ "u1", "g1", "c/", "a/bin/true",
                                            "i0123456789abcdef0123456789abcdef", "N3128", NULL });
        assert_true(vm_config_parse(buf, strlen(buf), c, &why) > 0);
        assert_int_equal(c->net_port, 3128);
        free(buf);
        buf = build((const char *[]){ "u1", "g1", "c/", "a/bin/true",
                                      "i0123456789abcdef0123456789abcdef", "N65535", NULL });
        assert_true(vm_config_parse(buf, strlen(buf), c, &why) > 0);
        assert_int_equal(c->net_port, 65535);
        free(buf);
        buf = build((const char *[]){ "u1", "g1", "c/", "a/bin/true",
                                      "i0123456789abcdef0123456789abcdef", NULL });
        assert_true(vm_config_parse(buf, strlen(buf), c, &why) > 0);
        assert_int_equal(c->net_port, 0);
        free(buf);
        free(c);

        expect_bad_record('N', "");
        expect_bad_record('N', "0");
        expect_bad_record('N', "65536");
        expect_bad_record('N', "03128");
        expect_bad_record('N', "-1");
        expect_bad_record('N', "+3128");
        expect_bad_record('N', "3128 ");
        expect_bad_record('N', "0x10");
        expect_bad_record('N', "99999999999999999999999");
        expect_bad(
                "u1:1\ng1:1\nc1:/\na1:x\ni32:0123456789abcdef0123456789abcdef\n"
                "N4:3128\nN4:3128\nz0:\n"); /* repeated */
}

static void test_config_limits(void **state) {
        char *buf = NULL;
        size_t len = 0;
        char big[VM_RECORD_MAX + 2];

        memset(big, 'a', sizeof(big));
        assert_int_equal(vm_config_append(&buf, &len, 'a', big, sizeof(big)), -EINVAL);
        assert_int_equal(vm_config_append(&buf, &len, 'a', "a\0b", 3), -EINVAL);
        assert_int_equal(vm_config_append(&buf, &len, 'Q', "x", 1), -EINVAL);

        /* Too many arguments. */
        for (size_t i = 0; i <= VM_ARGV_MAX; i++)
                assert_int_equal(vm_config_append(&buf, &len, 'a', "x", 1), 0);
        VmConfig *c = malloc(sizeof(*c));
        const char *why;
        assert_int_equal(vm_config_parse(buf, len, c, &why), -EINVAL);
        free(c);
        free(buf);
}

/* "applied NAME [DETAIL]" before "started": each control once, names from the fixed set. */
static void test_status_applied(void **state) {
        VmStatusReader r = {};

        assert_int_equal(feed(&r,
                              "applied seccomp 412 insns\napplied landlock abi 2\n"
                              "applied caps\nstarted\nexit 0\n"),
                         0);
        assert_int_equal(r.applied, (1u << VM_CONTROL_SECCOMP) | (1u << VM_CONTROL_LANDLOCK) |
                                            (1u << VM_CONTROL_CAPS));
        assert_string_equal(r.applied_detail[VM_CONTROL_LANDLOCK], "abi 2");
        assert_true(r.final);

        static const char *const bad[] = {
                "applied seccomp\napplied seccomp\n", /* twice */
                "started\napplied caps\n",            /* after the start */
                "applied everything\n",               /* unknown control */
                "applied caps \n",                    /* empty detail */
                "applied caps ABI\n",                 /* outside the detail alphabet */
                "applied\n",
                "applied landlock abi 2; rm -rf /\n",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                VmStatusReader b = {};
                assert_int_equal(feed(&b, bad[i]), -EINVAL);
        }

        VmStatus st = { .kind = VM_STATUS_APPLIED, .value = VM_CONTROL_PIDS };
        char line[VM_STATUS_LINE_MAX + 1];
        assert_int_equal(vm_status_format(&st, line, sizeof(line)), 13);
        assert_string_equal(line, "applied pids\n");
        st.value = _VM_CONTROL_MAX;
        assert_int_equal(vm_status_format(&st, line, sizeof(line)), -EINVAL);
}

static void expect_controls_bad(const char *records) {
        char raw[4096];
        VmConfig *c = malloc(sizeof(*c));
        const char *why = NULL;

        snprintf(raw, sizeof(raw),
                 "u4:1000\ng4:1000\nc5:/work\na4:true\n"
                 "i32:0f3a5c7e9b1d4f60a2c4e6f8091b3d5e\n%sz0:\n",
                 records);
        assert_int_equal(vm_config_parse(raw, strlen(raw), c, &why), -EINVAL);
        assert_non_null(why);
        free(c);
}

/* The records of the controls moat-init applies: strictly bounded. */
static void test_config_controls(void **state) {
        char *buf = NULL;
        size_t len = 0;
        VmConfig *c = malloc(sizeof(*c));
        const char *why = NULL;

        assert_int_equal(vm_config_append(&buf, &len, 'u', "1000", 4), 0);
        assert_int_equal(vm_config_append(&buf, &len, 'g', "1000", 4), 0);
        assert_int_equal(vm_config_append(&buf, &len, 'c', "/work", 5), 0);
        assert_int_equal(vm_config_append(&buf, &len, 'a', "true", 4), 0);
        assert_int_equal(vm_config_append(&buf, &len, 'i', "0f3a5c7e9b1d4f60a2c4e6f8091b3d5e", 32),
                         0);
        /* two instructions: ld [4]; ret ALLOW */
        assert_int_equal(vm_config_append(&buf, &len, 'S', "0020000000000004", 16), 0);
        assert_int_equal(vm_config_append(&buf, &len, 'S', "000600007fff0000", 16), 0);
        assert_int_equal(vm_config_append(&buf, &len, 'k', "", 0), 0);
        assert_int_equal(vm_config_append(&buf, &len, 'n', "1", 1), 0);
        assert_int_equal(vm_config_append(&buf, &len, 'L', "required 65535 3 3", 18), 0);
        assert_int_equal(vm_config_append(&buf, &len, 'l', "13 /usr", 7), 0);
        assert_int_equal(vm_config_append(&buf, &len, 'l', "8 /", 3), 0);
        assert_int_equal(vm_config_append(&buf, &len, 'U', "0", 1), 0);
        assert_int_equal(vm_config_append(&buf, &len, 'r', "7 256 256", 9), 0);
        assert_int_equal(vm_config_append(&buf, &len, 'r', "1 inf inf", 9), 0);
        assert_int_equal(vm_config_append(&buf, &len, 'x', "128", 3), 0);
        assert_int_equal(vm_config_append(&buf, &len, 'y', "536870912", 9), 0);
        assert_int_equal(vm_config_append(&buf, &len, 'z', "", 0), 0);

        /* Arriving a byte at a time: incomplete until the end record, then parsed once. */
        for (size_t n = 1; n < len; n++) {
                char *part = malloc(n);
                memcpy(part, buf, n);
                assert_int_equal(vm_config_parse(part, n, c, &why), 0);
                free(part);
        }
        assert_int_equal(vm_config_parse(buf, len, c, &why), (ssize_t) len);
        assert_int_equal(c->controls, (1u << _VM_CONTROL_MAX) - 1);
        assert_int_equal(c->n_seccomp, 2);
        assert_int_equal(c->seccomp[0].code, 0x20);
        assert_int_equal(c->seccomp[0].k, 4);
        assert_int_equal(c->seccomp[1].code, 6);
        assert_int_equal(c->seccomp[1].k, 0x7fff0000);
        assert_int_equal(c->n_caps_keep, 0);
        assert_true(c->landlock_required);
        assert_int_equal(c->landlock_fs, 65535);
        assert_int_equal(c->n_landlock, 2);
        assert_string_equal(c->landlock[0].path, "/usr");
        assert_int_equal(c->landlock[0].access, 13);
        assert_int_equal(c->n_rlimits, 2);
        assert_int_equal(c->rlimits[1].soft, UINT64_MAX);
        assert_int_equal(c->pids_max, 128);
        assert_int_equal(c->memory_max, 536870912);
        free(c);
        free(buf);

        expect_controls_bad("S15:000600007fff000\n");             /* not whole instructions */
        expect_controls_bad("S16:000600007FFF0000\n");            /* upper case */
        expect_controls_bad("S0:\n");                             /* empty */
        expect_controls_bad("k3:1,1\n");                          /* not increasing */
        expect_controls_bad("k2:64\n");                           /* past VM_CAP_MAX */
        expect_controls_bad("k0:\nk0:\n");                        /* twice */
        expect_controls_bad("n1:0\n");                            /* not "1" */
        expect_controls_bad("L8:required\n");                     /* fields missing */
        expect_controls_bad("L15:maybe 65535 0 0\n");             /* bad mode */
        expect_controls_bad("L14:required 0 0 0\n");              /* handles nothing */
        expect_controls_bad("l7:13 /usr\n");                      /* a path rule, no ruleset */
        expect_controls_bad("L14:required 1 0 0\nl8:13 /usr/\n"); /* unclean path */
        expect_controls_bad("U1:1\n");                            /* not "0" */
        expect_controls_bad("r9:7 256 255\n");                    /* soft above hard */
        expect_controls_bad("r6:16 1 1\n");                       /* unknown resource */
        expect_controls_bad("r9:7 256 256\nr9:7 256 256\n");      /* resource twice */
        expect_controls_bad("x1:0\n");                            /* zero */
        expect_controls_bad("x7:4194305\n");                      /* past PID_MAX_LIMIT */
        expect_controls_bad("y4:4096\n");                         /* below 1 MiB */
        expect_controls_bad("y7:1048576\ny7:1048576\n");          /* twice */
}

static void test_path_is_clean(void **state) {
        assert_true(vm_path_is_clean("/"));
        assert_true(vm_path_is_clean("/work/a.b"));
        assert_false(vm_path_is_clean(""));
        assert_false(vm_path_is_clean("work"));
        assert_false(vm_path_is_clean("/work/"));
        assert_false(vm_path_is_clean("/./x"));
        assert_false(vm_path_is_clean("/x/.."));
        assert_false(vm_path_is_clean("/a b"));
        assert_false(vm_path_is_clean("/a\nb"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_status_good),
                cmocka_unit_test(test_status_malformed),
                cmocka_unit_test(test_status_format_roundtrip),
                cmocka_unit_test(test_config_good),
                cmocka_unit_test(test_config_malformed),
                cmocka_unit_test(test_config_cpu_time),
                cmocka_unit_test(test_config_clone_identity),
                cmocka_unit_test(test_config_net_port),
                cmocka_unit_test(test_config_limits),
                cmocka_unit_test(test_status_applied),
                cmocka_unit_test(test_config_controls),
                cmocka_unit_test(test_path_is_clean),
                cmocka_unit_test(test_config_image_root),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

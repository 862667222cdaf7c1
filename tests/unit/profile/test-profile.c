/* SPDX-License-Identifier: MIT */
/* Profile language: every malformed file in corpus/ must fail with exactly the located
 * message in its .expect file; valid files must parse to the values asserted here. */
#include <dirent.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "basic/macros.h"
#include "basic/strv.h"
#include "profile/profile.h"
#include "profile/egress.h"

static char tmpdir[PATH_MAX];

static char *read_all(const char *path, size_t *ret_len) {
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t size = 0;

        if (!f)
                return NULL;
        if (getdelim(&buf, &size, '\0', f) < 0) {
                free(buf);
                buf = strdup("");
        }
        if (ret_len)
                *ret_len = strlen(buf);
        fclose(f);
        return buf;
}

static void write_file(const char *path, const char *content) {
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fputs(content, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
}

static bool has_suffix(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int setup(void **state) {
        char xdg[PATH_MAX + 16];

        snprintf(tmpdir, sizeof(tmpdir), "/tmp/moat-test-profile.XXXXXX");
        if (!mkdtemp(tmpdir))
                return -1;
        snprintf(xdg, sizeof(xdg), "%s/xdg", tmpdir);
        /* Hermetic: nothing from the caller's configuration can shadow a test profile. */
        unsetenv("MOAT_PROFILE_PATH");
        setenv("XDG_CONFIG_HOME", xdg, 1);
        setenv("HOME", tmpdir, 1);
        setenv("MOAT_DATA_DIR", SOURCE_ROOT, 1);
        return chdir(CORPUS_DIR);
}

static int teardown(void **state) {
        char cmd[PATH_MAX + 16];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        return system(cmd) == 0 ? 0 : -1;
}

/* Every corpus file with the given prefix, sorted. */
static char **corpus_files(const char *prefix) {
        struct dirent **list = NULL;
        char **files = calloc(1, sizeof(char *));
        int n = scandir(".", &list, NULL, alphasort);

        assert_true(n > 0);
        for (int i = 0; i < n; i++) {
                if (strncmp(list[i]->d_name, prefix, strlen(prefix)) == 0 &&
                    has_suffix(list[i]->d_name, ".yaml"))
                        assert_int_equal(strv_extend(&files, list[i]->d_name), 0);
                free(list[i]);
        }
        free(list);
        return files;
}

static void check_bad(const char *name, bool from_buffer, unsigned *failures) {
        _cleanup_free_ char *expect_path = NULL, *expect = NULL, *buf = NULL;
        _cleanup_profile_ Profile *p = NULL;
        MoatError error = {};
        char got[1024];
        size_t len = 0;
        int r;

        assert_true(asprintf(&expect_path, "%.*s.expect", (int) (strlen(name) - 5), name) > 0);
        expect = read_all(expect_path, NULL);
        if (!expect) {
                print_error("%s: no .expect file next to it\n", name);
                (*failures)++;
                return;
        }
        expect[strcspn(expect, "\n")] = '\0';
        if (from_buffer) {
                buf = read_all(name, &len);
                assert_non_null(buf);
                r = profile_parse_buffer(buf, len, name, &p, &error);
        } else
                r = profile_load(name, &p, &error);
        moat_error_format(&error, got, sizeof(got));
        if (r >= 0 || p || strcmp(got, expect) != 0) {
                print_error("%s (%s): r=%d\n  expected: %s\n  got:      %s\n", name,
                            from_buffer ? "buffer" : "file", r, expect, got);
                (*failures)++;
        }
}

static void test_corpus_bad(void **state) {
        _cleanup_strv_free_ char **files = corpus_files("bad-");
        unsigned failures = 0;

        /* The rules of the language each have at least one case; keep the corpus from shrinking. */
        assert_true(strv_length(files) >= 70);
        STRV_FOREACH (f, files) {
                check_bad(*f, false, &failures);
                check_bad(*f, true, &failures);
        }
        assert_int_equal(failures, 0);
}

static void test_corpus_good(void **state) {
        _cleanup_strv_free_ char **files = corpus_files("good-");

        assert_true(strv_length(files) >= 8);
        STRV_FOREACH (f, files) {
                _cleanup_profile_ Profile *p = NULL;
                MoatError error = {};
                char buf[1024];

                if (profile_load(*f, &p, &error) < 0)
                        fail_msg("%s: %s", *f, moat_error_format(&error, buf, sizeof(buf)));
        }
}

static Profile *load_ok(const char *name) {
        Profile *p = NULL;
        MoatError error = {};
        char buf[1024];

        if (profile_load(name, &p, &error) < 0)
                fail_msg("%s: %s", name, moat_error_format(&error, buf, sizeof(buf)));
        return p;
}

static void test_full(void **state) {
        _cleanup_profile_ Profile *p = load_ok("good-full.yaml");
        char cwd[PATH_MAX], image[PATH_MAX + 16];

        assert_string_equal(p->name, "full");
        assert_string_equal(p->description, "every key");
        assert_int_equal(p->trust, TRUST_INTERNAL);
        assert_int_equal(p->isolation, TIER_SANDBOX);
        assert_int_equal(p->max_tier, TIER_SYSTEM);
        assert_int_equal(p->trust_pos.line, 5);
        assert_int_equal(p->trust_pos.column, 8);
        assert_string_equal(p->trust_pos.file, "good-full.yaml");

        /* A relative image is relative to the profile's directory, and absolute once loaded. */
        assert_int_equal(p->fs.root, ROOT_IMAGE);
        assert_non_null(getcwd(cwd, sizeof(cwd)));
        snprintf(image, sizeof(image), "%s/rootfs", cwd);
        assert_string_equal(p->fs.image, image);
        assert_int_equal(p->fs.n_binds, 4);
        assert_string_equal(p->fs.binds[0].source, ".");
        assert_string_equal(p->fs.binds[0].target, "/work");
        assert_int_equal(p->fs.binds[0].mode, BIND_RW);
        assert_false(p->fs.binds[0].optional);
        assert_true(p->fs.binds[0].exec); /* the work directory: executable by default */
        assert_int_equal(p->fs.binds[0].pos.line, 12);
        assert_string_equal(p->fs.binds[1].target, "/etc/ssl/certs");
        assert_int_equal(p->fs.binds[1].mode, BIND_RO);
        assert_true(p->fs.binds[1].optional);
        assert_false(p->fs.binds[1].exec); /* any other bind: not executable by default */
        assert_string_equal(p->fs.binds[2].target, "/opt/jdk");
        assert_true(p->fs.binds[2].exec);
        assert_string_equal(p->fs.binds[3].source, ".");
        assert_false(p->fs.binds[3].exec);
        assert_int_equal(p->fs.n_tmpfs, 3);
        assert_int_equal(p->fs.tmpfs[0].size, UINT64_C(256) << 20);
        assert_int_equal(p->fs.tmpfs[1].size, 0);
        assert_int_equal(p->fs.tmpfs[2].size, 1048576);
        assert_int_equal(strv_length(p->fs.masked), 2);
        assert_string_equal(p->fs.masked[1], "/root");
        assert_true(p->fs.sys);
        assert_int_equal(p->network, NETWORK_LOOPBACK);

        assert_int_equal(p->resources.memory, UINT64_C(3) << 30);
        assert_int_equal(p->resources.cpus_milli, 250);
        assert_int_equal(p->resources.pids, 512);
        assert_int_equal(p->resources.timeout_ms, (UINT64_C(3600) + 30 * 60 + 5) * 1000);
        assert_int_equal(p->resources.cpu_time_ms, 2500);
        assert_int_equal(p->resources.tmpfs_total, UINT64_C(512) << 20);
        assert_int_equal(p->resources.disk, UINT64_C(1) << 30);
        assert_int_equal(p->resources.nofile, 4096);
        assert_int_equal(p->resources.enforce, ENFORCE_BEST_EFFORT);

        assert_false(p->env.clear);
        assert_int_equal(strv_length(p->env.allow), 2);
        assert_int_equal(strv_length(p->env.set), 4);
        assert_string_equal(p->env.set[0], "HOME=/tmp");
        assert_string_equal(p->env.set[1], "PORT=8080");
        assert_string_equal(p->env.set[2], "DEBUG=true");
        assert_string_equal(p->env.set[3], "EMPTY=");

        assert_string_equal(p->syscalls.base, "strict");
        assert_string_equal(p->syscalls.allow[0], "personality");
        assert_string_equal(p->syscalls.deny[1], "@mount");
        assert_int_equal(p->syscalls.deny_pos[1].line, 46);
        assert_int_equal(p->syscalls.deny_pos[1].column, 18);
        assert_int_equal(strv_length(p->capabilities), 2);
        assert_string_equal(p->capabilities[0], "net_bind_service");

        assert_int_equal(p->mac.landlock, LANDLOCK_BEST_EFFORT);
        assert_string_equal(p->mac.apparmor, "moat-default");
        assert_string_equal(p->mac.selinux, "system_u:system_r:moat_sandbox_t:s0");
        assert_int_equal(p->mac.enforce, ENFORCE_BEST_EFFORT);
        assert_true(strv_contains(p->kernel.needs, "raw-devices"));
        assert_string_equal(p->kernel.min_version, "6.10.2");
        assert_true(p->os.full_os);
        assert_string_equal(p->os.init, "/lib/systemd/systemd");
        assert_string_equal(p->devices[1], "/dev/net/tun");
        assert_string_equal(p->hostname, "lab-1.example");
        assert_true(p->uid_set);
        assert_int_equal(p->uid, 1000);
        assert_int_equal(p->gid, 100);
        assert_string_equal(p->vm.kernel, "/boot/vmlinuz");
        assert_int_equal(p->vm.vcpus, 3);
        assert_true(p->vm.guest_root);
        assert_string_equal(p->identity.machine_id, "0f3a5c7e9b1d4f60a2c4e6f8091b3d5e");
        assert_int_equal(p->identity.pos.line, 68);
        assert_int_equal(strv_length(p->files), 1);
}

static void test_defaults(void **state) {
        _cleanup_profile_ Profile *p = load_ok("good-defaults.yaml");

        assert_string_equal(p->name, "good-defaults");
        assert_null(p->description);
        assert_int_equal(p->trust, TRUST_UNTRUSTED);
        assert_int_equal(p->isolation, TIER_AUTO);
        assert_int_equal(p->max_tier, TIER_VM);
        assert_int_equal(p->fs.root, ROOT_HOST_READONLY);
        assert_null(p->fs.image);
        assert_int_equal(p->fs.n_binds, 0);
        assert_false(p->fs.sys);
        assert_int_equal(p->network, NETWORK_NONE);
        assert_int_equal(p->resources.memory, 0);
        assert_int_equal(p->resources.cpus_milli, 0);
        assert_int_equal(p->resources.timeout_ms, 0);
        assert_int_equal(p->resources.enforce, ENFORCE_REQUIRED);
        assert_true(p->env.clear);
        assert_string_equal(p->syscalls.base, "default");
        assert_int_equal(strv_length(p->capabilities), 0);
        assert_int_equal(p->mac.landlock, LANDLOCK_REQUIRED);
        assert_null(p->mac.apparmor);
        assert_null(p->mac.selinux);
        assert_int_equal(p->mac.enforce, ENFORCE_REQUIRED);
        assert_string_equal(p->hostname, "moat");
        assert_null(p->identity.machine_id); /* random per run */
        assert_false(p->uid_set);
        assert_false(p->os.full_os);
}

static void test_network_outbound(void **state) {
        _cleanup_profile_ Profile *p = load_ok("good-network-outbound.yaml");
        static const char *const normalised[] = {
                "pkg.example.org:443",    "*.cdn.example.org:443,80",
                "git.example.org:443,22", "mirror.example.org:8000-8100",
                "203.0.113.0/24:443",     "198.51.100.10/32:443",
                "[2001:db8::/32]:443",
        };
        const EgressRule *r = p->outbound.allow;
        uint8_t a[16];
        char buf[EGRESS_RULE_FORMAT_MAX];

        assert_int_equal(p->network, NETWORK_OUTBOUND);
        assert_int_equal(p->outbound.n_allow, ELEMENTSOF(normalised));
        for (size_t i = 0; i < ELEMENTSOF(normalised); i++)
                assert_string_equal(egress_rule_format(&r[i], buf, sizeof(buf)), normalised[i]);
        assert_int_equal(r[1].pos.line, 7);
        assert_int_equal(r[1].pos.column, 9);
        /* Names: exact, or strictly below a wildcard; the port must be listed. */
        assert_int_equal(egress_match_name(r, 7, "pkg.example.org", 443), 0);
        assert_int_equal(egress_match_name(r, 7, "pkg.example.org", 80), -1);
        assert_int_equal(egress_match_name(r, 7, "evil-pkg.example.org", 443), -1);
        assert_int_equal(egress_match_name(r, 7, "a.b.cdn.example.org", 80), 1);
        assert_int_equal(egress_match_name(r, 7, "cdn.example.org", 443), -1);
        assert_int_equal(egress_match_name(r, 7, "xcdn.example.org", 443), -1);
        assert_int_equal(egress_match_name(r, 7, "mirror.example.org", 8050), 3);
        assert_int_equal(egress_match_name(r, 7, "mirror.example.org", 8101), -1);
        /* Addresses only through CIDR rules. */
        inet_pton(AF_INET, "203.0.113.77", a);
        assert_int_equal(egress_match_addr(r, 7, AF_INET, a, 443), 4);
        assert_int_equal(egress_match_addr(r, 7, AF_INET, a, 80), -1);
        inet_pton(AF_INET, "198.51.100.11", a);
        assert_int_equal(egress_match_addr(r, 7, AF_INET, a, 443), -1);
        /* The refused ranges, whatever a name resolves to. */
        static const struct {
                int af;
                const char *addr, *why;
        } ranges[] = {
                { AF_INET, "127.0.0.1", "loopback" },
                { AF_INET, "10.1.2.3", "private" },
                { AF_INET, "172.31.0.1", "private" },
                { AF_INET, "192.168.1.1", "private" },
                { AF_INET, "169.254.169.254", "metadata" },
                { AF_INET, "169.254.3.4", "link-local" },
                { AF_INET, "100.64.0.1", "cgnat" },
                { AF_INET, "0.0.0.0", "unspecified" },
                { AF_INET, "224.0.0.1", "multicast" },
                { AF_INET6, "::1", "loopback" },
                { AF_INET6, "fd00::1", "unique-local" },
                { AF_INET6, "fe80::1", "link-local" },
                { AF_INET6, "::ffff:127.0.0.1", "v4-mapped" },
                { AF_INET6, "fd00:ec2::254", "metadata" },
                { AF_INET, "203.0.113.10", NULL },
                { AF_INET6, "2001:db8::1", NULL },
        };
        for (size_t i = 0; i < ELEMENTSOF(ranges); i++) {
                const char *why;
                assert_int_equal(inet_pton(ranges[i].af, ranges[i].addr, a), 1);
                why = egress_addr_refused(ranges[i].af, a);
                if (ranges[i].why)
                        assert_string_equal(why, ranges[i].why);
                else
                        assert_null(why);
        }
}

static void test_extends_merge(void **state) {
        _cleanup_profile_ Profile *p = load_ok("good-extends-child.yaml");

        /* Identity is the child's own. */
        assert_string_equal(p->name, "good-extends-child");
        assert_null(p->description);
        assert_int_equal(strv_length(p->files), 2);
        assert_string_equal(p->files[0], "good-extends-child.yaml");
        assert_string_equal(p->files[1], "good-extends-parent.yaml");
        /* Scalars the child does not set come from the parent. */
        assert_int_equal(p->trust, TRUST_TRUSTED);
        assert_int_equal(p->network, NETWORK_LOOPBACK);
        /* Lists replace. */
        assert_int_equal(p->fs.n_binds, 1);
        assert_string_equal(p->fs.binds[0].target, "/src");
        assert_string_equal(p->fs.binds[0].pos.file, "good-extends-child.yaml");
        assert_int_equal(strv_length(p->env.allow), 1);
        assert_string_equal(p->env.allow[0], "PATH");
        assert_int_equal(strv_length(p->capabilities), 0);
        /* Maps merge key by key, recursively. */
        assert_int_equal(p->fs.n_tmpfs, 1);
        assert_string_equal(p->fs.tmpfs[0].pos.file, "good-extends-parent.yaml");
        assert_true(p->fs.sys);
        assert_int_equal(p->resources.memory, UINT64_C(2) << 30);
        assert_int_equal(p->resources.cpus_milli, 2000);
        assert_int_equal(p->resources.pids, 100);
        assert_int_equal(strv_length(p->env.set), 3);
        assert_true(strv_contains(p->env.set, "A=parent-a"));
        assert_true(strv_contains(p->env.set, "B=child-b"));
        assert_true(strv_contains(p->env.set, "C=child-c"));
        /* Rules between keys apply to the merged result: gid over the parent's uid is fine. */
        assert_true(p->uid_set);
        assert_int_equal(p->uid, 1000);
        assert_int_equal(p->gid, 100);
        assert_int_equal(p->isolation, TIER_SYSTEM);
}

static void test_extends_depth(void **state) {
        _cleanup_profile_ Profile *p = load_ok("good-depth-8.yaml");

        assert_int_equal(strv_length(p->files), 9);
        assert_string_equal(p->files[8], "chain/d9.yaml");
        /* Not inherited: the name is the child's file name even though every link has a description. */
        assert_string_equal(p->name, "good-depth-8");
        assert_null(p->description);
}

static void test_extends_by_name(void **state) {
        _cleanup_profile_ Profile *p = NULL;
        char profiles[PATH_MAX];

        snprintf(profiles, sizeof(profiles), "%s/profiles", SOURCE_ROOT);
        setenv("MOAT_PROFILE_PATH", profiles, 1);
        p = load_ok("good-extends-by-name.yaml");
        unsetenv("MOAT_PROFILE_PATH");
        assert_int_equal(strv_length(p->files), 2);
        assert_true(has_suffix(p->files[1], "/profiles/ci-untrusted.yaml"));
        assert_int_equal(p->resources.memory, UINT64_C(512) << 20);
        assert_int_equal(p->resources.cpus_milli, 1500);
}

static void test_shipped_profiles(void **state) {
        static const char *const names[] = { "minimal",          "ci-untrusted",    "build",
                                             "network-client",   "hostile",         "kernel-lab",
                                             "system-container", "pod-host-network" };
        char profiles[PATH_MAX];

        snprintf(profiles, sizeof(profiles), "%s/profiles", SOURCE_ROOT);
        setenv("MOAT_PROFILE_PATH", profiles, 1);
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_profile_ Profile *p = load_ok(names[i]);

                assert_string_equal(p->name, names[i]);
                assert_non_null(p->description);
                if (strcmp(names[i], "minimal") == 0) {
                        assert_int_equal(p->fs.n_binds, 0);
                        assert_int_equal(p->isolation, TIER_SANDBOX);
                        assert_int_equal(p->network, NETWORK_NONE);
                        assert_int_equal(p->resources.memory, 0);
                } else if (strcmp(names[i], "ci-untrusted") == 0) {
                        assert_int_equal(p->trust, TRUST_UNTRUSTED);
                        assert_int_equal(p->resources.memory, UINT64_C(1) << 30);
                        assert_int_equal(p->resources.cpus_milli, 1500);
                        assert_int_equal(p->resources.pids, 256);
                        assert_int_equal(p->resources.timeout_ms, 20 * 60 * 1000);
                        assert_int_equal(p->resources.enforce, ENFORCE_BEST_EFFORT);
                        assert_int_equal(p->mac.landlock, LANDLOCK_REQUIRED);
                        assert_string_equal(p->fs.binds[0].target, "/work");
                        assert_int_equal(p->fs.binds[0].mode, BIND_RW);
                        assert_string_equal(p->fs.tmpfs[0].target, "/tmp");
                        /* a hostNetwork pod stays refused under it */
                        assert_null(p->host_namespaces);
                } else if (strcmp(names[i], "build") == 0) {
                        assert_int_equal(strv_length(p->files), 2);
                        assert_true(p->resources.memory > (UINT64_C(1) << 30));
                        assert_string_equal(p->fs.binds[0].target, "/work");
                } else if (strcmp(names[i], "network-client") == 0)
                        assert_int_equal(p->network, NETWORK_OUTBOUND);
                else if (strcmp(names[i], "hostile") == 0) {
                        assert_int_equal(p->trust, TRUST_HOSTILE);
                        assert_int_equal(p->isolation, TIER_AUTO);
                        assert_int_equal(p->resources.enforce, ENFORCE_REQUIRED);
                        assert_int_equal(p->mac.landlock, LANDLOCK_REQUIRED);
                        assert_int_equal(p->mac.enforce, ENFORCE_REQUIRED);
                } else if (strcmp(names[i], "kernel-lab") == 0) {
                        assert_true(strv_contains(p->kernel.needs, "bpf"));
                        assert_true(strv_contains(p->kernel.needs, "modules"));
                        assert_true(strv_contains(p->kernel.needs, "perf"));
                } else if (strcmp(names[i], "pod-host-network") == 0) {
                        assert_int_equal(p->network, NETWORK_LOOPBACK);
                        assert_int_equal(strv_length(p->host_namespaces), 2);
                        assert_string_equal(p->host_namespaces[0], "network");
                        assert_string_equal(p->host_namespaces[1], "uts");
                        assert_int_equal(p->host_namespaces_pos[0].line, 13);
                        assert_int_equal(p->trust, TRUST_UNTRUSTED);
                } else {
                        assert_true(p->os.full_os);
                        assert_int_equal(p->fs.root, ROOT_IMAGE);
                        assert_true(has_suffix(p->fs.image, "/profiles/rootfs"));
                }
        }
        unsetenv("MOAT_PROFILE_PATH");
}

static void test_search_path(void **state) {
        char a[PATH_MAX + 8], b[PATH_MAX + 8], path[2 * PATH_MAX + 32], file[PATH_MAX + 32];
        _cleanup_profile_ Profile *p = NULL, *q = NULL;
        MoatError error = {};
        char buf[1024];

        snprintf(a, sizeof(a), "%s/a", tmpdir);
        snprintf(b, sizeof(b), "%s/b", tmpdir);
        assert_int_equal(mkdir(a, 0755), 0);
        assert_int_equal(mkdir(b, 0755), 0);
        snprintf(file, sizeof(file), "%s/same.yaml", a);
        write_file(file, "moat: 1\ndescription: from a\n");
        snprintf(file, sizeof(file), "%s/same.yaml", b);
        write_file(file, "moat: 1\ndescription: from b\n");
        snprintf(path, sizeof(path), "%s:%s", a, b);
        setenv("MOAT_PROFILE_PATH", path, 1);

        p = load_ok("same");
        assert_string_equal(p->description, "from a");

        /* A name cannot walk out of the search directories. */
        assert_true(profile_load("..same", &q, &error) < 0);
        assert_string_equal(moat_error_format(&error, buf, sizeof(buf)),
                            "invalid profile name '..same' (expected letters, digits, '-', '_' and "
                            "'.', or a path)");
        memset(&error, 0, sizeof(error));
        assert_int_equal(profile_load("absent", &q, &error), -ENOENT);
        assert_non_null(strstr(error.message, "profile 'absent' not found (searched "));
        assert_non_null(strstr(error.message, a));
        assert_non_null(strstr(error.message, "/etc/moat/profiles"));
        unsetenv("MOAT_PROFILE_PATH");
}

/* $XDG_CONFIG_HOME (else ~/.config) comes before the shipped profiles. */
static void test_search_order(void **state) {
        char dir[PATH_MAX + 64], file[PATH_MAX + 96], xdg[PATH_MAX + 16];
        Profile *p;

        snprintf(dir, sizeof(dir), "%s/xdg/moat/profiles", tmpdir);
        for (char *c = dir + strlen(tmpdir) + 1; (c = strchr(c, '/')); c++) {
                *c = '\0';
                assert_true(mkdir(dir, 0755) == 0 || errno == EEXIST);
                *c = '/';
        }
        assert_true(mkdir(dir, 0755) == 0 || errno == EEXIST);
        snprintf(file, sizeof(file), "%s/minimal.yaml", dir);
        write_file(file, "moat: 1\ndescription: from xdg\n");

        p = load_ok("minimal");
        assert_string_equal(p->description, "from xdg");
        profile_free(p);

        /* Without XDG_CONFIG_HOME the user's directory is ~/.config/moat/profiles. */
        snprintf(xdg, sizeof(xdg), "%s/xdg", tmpdir);
        unsetenv("XDG_CONFIG_HOME");
        p = load_ok("minimal");
        assert_string_not_equal(p->description, "from xdg");
        assert_true(has_suffix(p->path, "/profiles/minimal.yaml"));
        profile_free(p);

        snprintf(dir, sizeof(dir), "%s/.config", tmpdir);
        assert_int_equal(rename(xdg, dir), 0);
        p = load_ok("minimal");
        assert_string_equal(p->description, "from xdg");
        profile_free(p);
        assert_int_equal(rename(dir, xdg), 0);
        setenv("XDG_CONFIG_HOME", xdg, 1);
}

static void test_size_limit(void **state) {
        _cleanup_profile_ Profile *p = NULL;
        _cleanup_free_ char *big = NULL;
        size_t limit = 1024 * 1024;
        char file[PATH_MAX + 32], buf[PATH_MAX + 64], expect[PATH_MAX + 64];
        MoatError error = {};

        /* Exactly 1 MiB is accepted: a header and a comment padding it out. */
        big = malloc(limit + 2);
        assert_non_null(big);
        memset(big, ' ', limit + 1);
        memcpy(big, "moat: 1\n#", 9);
        big[limit - 1] = '\n';
        big[limit] = '\0';
        snprintf(file, sizeof(file), "%s/big.yaml", tmpdir);
        write_file(file, big);
        p = load_ok(file);
        p = profile_free(p);
        assert_int_equal(profile_parse_buffer(big, limit, "big", &p, &error), 0);
        p = profile_free(p);

        /* One byte more is refused, from a file and from a buffer. */
        big[limit - 1] = ' ';
        big[limit] = '\n';
        big[limit + 1] = '\0';
        write_file(file, big);
        assert_true(profile_load(file, &p, &error) < 0);
        snprintf(expect, sizeof(expect), "%s: profile is larger than 1 MiB", file);
        assert_string_equal(moat_error_format(&error, buf, sizeof(buf)), expect);
        memset(&error, 0, sizeof(error));
        assert_true(profile_parse_buffer(big, limit + 1, "big", &p, &error) < 0);
        assert_string_equal(moat_error_format(&error, buf, sizeof(buf)),
                            "big: profile is larger than 1 MiB");
        assert_null(p);
}

static void test_not_regular(void **state) {
        _cleanup_profile_ Profile *p = NULL;
        char fifo[PATH_MAX + 32], buf[PATH_MAX + 64], expect[PATH_MAX + 64];
        MoatError error = {};

        /* A FIFO must be refused, not block the launcher. */
        snprintf(fifo, sizeof(fifo), "%s/fifo.yaml", tmpdir);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        assert_true(profile_load(fifo, &p, &error) < 0);
        snprintf(expect, sizeof(expect), "%s: not a regular file", fifo);
        assert_string_equal(moat_error_format(&error, buf, sizeof(buf)), expect);
        memset(&error, 0, sizeof(error));
        assert_true(profile_load("no-such-file.yaml", &p, &error) < 0);
        assert_string_equal(moat_error_format(&error, buf, sizeof(buf)),
                            "no-such-file.yaml: cannot read profile: No such file or directory");
}

static void test_digest(void **state) {
        _cleanup_profile_ Profile *a = load_ok("good-spelling-a.yaml"),
                                  *b = load_ok("good-spelling-b.yaml");
        _cleanup_profile_ Profile *c = NULL;
        json_t *j;
        char hex[65];
        MoatError error = {};
        const char *other =
                "moat: 1\nname: spelling\nresources: {memory: 1GiB, timeout: 91s, cpus: 1.5}\n";

        /* Units are normalised: the same profile spelled differently has one digest. */
        assert_memory_equal(a->digest, b->digest, sizeof(a->digest));
        assert_int_equal(profile_parse_buffer(other, strlen(other), "other.yaml", &c, &error), 0);
        assert_memory_not_equal(a->digest, c->digest, sizeof(a->digest));

        j = profile_to_json(a);
        assert_non_null(j);
        for (size_t i = 0; i < sizeof(a->digest); i++)
                snprintf(hex + 2 * i, 3, "%02x", a->digest[i]);
        assert_string_equal(json_string_value(json_object_get(j, "digest")), hex);
        assert_string_equal(json_string_value(json_object_get(j, "path")), "good-spelling-a.yaml");
        assert_int_equal(
                json_integer_value(json_object_get(json_object_get(j, "resources"), "memory")),
                1073741824);
        assert_int_equal(
                json_integer_value(json_object_get(json_object_get(j, "resources"), "cpus_milli")),
                1500);
        assert_int_equal(
                json_integer_value(json_object_get(json_object_get(j, "resources"), "timeout_ms")),
                90000);
        assert_true(json_is_null(json_object_get(json_object_get(j, "resources"), "pids")));
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(j, "filesystem"), "root")),
                "host-readonly");
        json_decref(j);
}

static Profile *parse_ok(const char *text) {
        Profile *p = NULL;
        MoatError error = {};
        char buf[1024];

        if (profile_parse_buffer(text, strlen(text), "variant.yaml", &p, &error) < 0)
                fail_msg("%s\n%s", moat_error_format(&error, buf, sizeof(buf)), text);
        return p;
}

/* The digest identifies a profile in the audit record: every key must feed it. */
static void test_digest_covers_every_key(void **state) {
        static const char *const variants[] = {
                "",
                "name: other\n",
                "description: other\n",
                "trust: hostile\n",
                "isolation: system\n",
                "max_tier: system\n",
                "filesystem: {root: {image: /srv/rootfs}}\n",
                "filesystem: {bind: [{source: ., target: /work}]}\n",
                "filesystem: {bind: [{source: ., target: /work, mode: rw}]}\n",
                "filesystem: {bind: [{source: ., target: /work, optional: true}]}\n",
                "filesystem: {bind: [{source: ., target: /work, exec: false}]}\n",
                "filesystem: {bind: [{source: /srv, target: /work}]}\n",
                "filesystem: {tmpfs: [{target: /tmp}]}\n",
                "filesystem: {tmpfs: [{target: /tmp, size: 1MiB}]}\n",
                "filesystem: {mask: [/home]}\n",
                "filesystem: {sys: true}\n",
                "network: loopback\n",
                "resources: {memory: 1GiB}\n",
                "resources: {cpus: 1}\n",
                "resources: {pids: 10}\n",
                "resources: {timeout: 1s}\n",
                "resources: {output: 1MiB}\n",
                "resources: {tmpfs_total: 1GiB}\n",
                "resources: {disk: 1GiB}\n",
                "resources: {nofile: 10}\n",
                "resources: {enforce: best-effort}\n",
                "env: {clear: false}\n",
                "env: {allow: [TERM]}\n",
                "env: {set: {A: b}}\n",
                "syscalls: {base: strict}\n",
                "syscalls: {allow: [ptrace]}\n",
                "syscalls: {deny: [ptrace]}\n",
                "capabilities: [chown]\n",
                "mac: {landlock: off}\n",
                "mac: {apparmor: x}\n",
                "mac: {selinux: x}\n",
                "mac: {enforce: best-effort}\n",
                "kernel: {needs: [bpf]}\n",
                "kernel: {min_version: \"6.1\"}\n",
                "os: {full_os: true}\n",
                "os: {init: /init}\n",
                "devices: [/dev/fuse]\n",
                "hostname: other\n",
                "uid: 0\n",
                "uid: 1\ngid: 0\n",
                "vm: {kernel: /boot/k}\n",
                "vm: {vcpus: 2}\n",
                "vm: {guest_root: true}\n",
                "identity: {machine_id: \"0f3a5c7e9b1d4f60a2c4e6f8091b3d5e\"}\n",
                "host_namespaces: [uts]\n",
                "host_namespaces: [ipc]\n",
        };
        uint8_t digests[ELEMENTSOF(variants)][32];

        for (size_t i = 0; i < ELEMENTSOF(variants); i++) {
                _cleanup_free_ char *text = NULL;
                _cleanup_profile_ Profile *p = NULL;

                /* Without name: each is named "variant" after the buffer's file name. */
                assert_true(asprintf(&text, "moat: 1\n%s", variants[i]) > 0);
                p = parse_ok(text);
                memcpy(digests[i], p->digest, 32);
                for (size_t j = 0; j < i; j++)
                        if (memcmp(digests[i], digests[j], 32) == 0)
                                fail_msg("same digest for '%s' and '%s'", variants[i], variants[j]);
        }
}

/* resources.output: a size, in bytes; in the JSON (and so the digest) only when set. */
static void test_output(void **state) {
        _cleanup_profile_ Profile *p = parse_ok("moat: 1\nresources: {output: 64MiB}\n");
        _cleanup_profile_ Profile *q = parse_ok("moat: 1\nresources: {output: 4096}\n");
        _cleanup_profile_ Profile *none = parse_ok("moat: 1\n");
        json_t *j, *res;

        assert_int_equal(p->resources.output, UINT64_C(64) << 20);
        assert_int_equal(q->resources.output, 4096);
        assert_int_equal(none->resources.output, 0);
        j = profile_to_json(p);
        res = json_object_get(j, "resources");
        assert_int_equal(json_integer_value(json_object_get(res, "output_bytes")), 64 << 20);
        json_decref(j);
        j = profile_to_json(none);
        assert_null(json_object_get(json_object_get(j, "resources"), "output_bytes"));
        json_decref(j);
}

/* The JSON has the language's sections and keys, no more and no fewer. */
static void test_json_shape(void **state) {
        static const char *const top[] = {
                "moat",       "name",    "description", "trust",   "isolation", "max_tier",
                "filesystem", "network", "resources",   "env",     "syscalls",  "capabilities",
                "mac",        "kernel",  "os",          "devices", "hostname",  "uid",
                "gid",        "vm",      "identity",    "path",    "files",     "digest",
        };
        _cleanup_profile_ Profile *p = load_ok("good-full.yaml");
        json_t *j = profile_to_json(p), *res, *env_set;

        assert_non_null(j);
        assert_int_equal(json_object_size(j), ELEMENTSOF(top));
        for (size_t i = 0; i < ELEMENTSOF(top); i++)
                if (!json_object_get(j, top[i]))
                        fail_msg("no '%s' in the profile JSON", top[i]);
        res = json_object_get(j, "resources");
        assert_int_equal(json_object_size(res), 9);
        assert_int_equal(json_integer_value(json_object_get(res, "timeout_ms")), 5405000);
        assert_int_equal(json_integer_value(json_object_get(res, "disk")), UINT64_C(1) << 30);
        assert_int_equal(json_integer_value(json_object_get(res, "cpu_time_ms")), 2500);
        assert_int_equal(json_integer_value(json_object_get(res, "cpus_milli")), 250);
        assert_int_equal(json_object_size(json_object_get(j, "filesystem")), 5);
        {
                json_t *binds = json_object_get(json_object_get(j, "filesystem"), "bind");
                assert_int_equal(json_object_size(json_array_get(binds, 0)), 5);
                assert_true(json_is_true(json_object_get(json_array_get(binds, 0), "exec")));
                assert_true(json_is_false(json_object_get(json_array_get(binds, 1), "exec")));
        }
        env_set = json_object_get(json_object_get(j, "env"), "set");
        assert_string_equal(json_string_value(json_object_get(env_set, "PORT")), "8080");
        assert_int_equal(json_array_size(json_object_get(j, "files")), 1);
        json_decref(j);
}

static void check_image(const char *filename, const char *image, const char *expect) {
        _cleanup_free_ char *text = NULL;
        _cleanup_profile_ Profile *p = NULL;
        MoatError error = {};
        char buf[1024];

        assert_true(asprintf(&text, "moat: 1\nfilesystem: {root: {image: \"%s\"}}\n", image) > 0);
        if (profile_parse_buffer(text, strlen(text), filename, &p, &error) < 0)
                fail_msg("%s", moat_error_format(&error, buf, sizeof(buf)));
        assert_string_equal(p->fs.image, expect);
}

/* Relative image and kernel paths are relative to the profile's directory, made absolute. */
static void test_relative_paths(void **state) {
        char cwd[PATH_MAX], expect[PATH_MAX + 32];

        check_image("/x.yaml", ".", "/");
        check_image("/x.yaml", "./rootfs", "/rootfs");
        check_image("/a/b/x.yaml", "rootfs", "/a/b/rootfs");
        check_image("/a/b/x.yaml", "././/rootfs", "/a/b/rootfs");
        check_image("/a/b/x.yaml", "../rootfs", "/a/b/../rootfs");
        check_image("/a/b/x.yaml", "/srv/rootfs", "/srv/rootfs");
        assert_non_null(getcwd(cwd, sizeof(cwd)));
        snprintf(expect, sizeof(expect), "%s/sub/rootfs", cwd);
        check_image("sub/x.yaml", "rootfs", expect);
        snprintf(expect, sizeof(expect), "%s/rootfs", cwd);
        check_image("x.yaml", "./rootfs", expect);
}

static void test_enum_strings(void **state) {
        for (int t = 0; t < _TRUST_MAX; t++)
                assert_int_equal(trust_from_string(trust_to_string((Trust) t)), t);
        for (int t = 0; t < _TIER_MAX; t++)
                assert_int_equal(tier_from_string(tier_to_string((Tier) t)), t);
        assert_string_equal(tier_to_string(TIER_AUTO), "auto");
        assert_int_equal(tier_from_string("auto"), -EINVAL);
        assert_int_equal(trust_from_string("Hostile"), -EINVAL);
        assert_null(trust_to_string(_TRUST_MAX));
        assert_string_equal(network_mode_to_string(NETWORK_OUTBOUND), "outbound");
        assert_string_equal(enforce_to_string(ENFORCE_BEST_EFFORT), "best-effort");
        assert_string_equal(landlock_mode_to_string(LANDLOCK_OFF), "off");
        assert_string_equal(bind_mode_to_string(BIND_RW), "rw");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_corpus_bad),
                cmocka_unit_test(test_corpus_good),
                cmocka_unit_test(test_full),
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_extends_merge),
                cmocka_unit_test(test_network_outbound),
                cmocka_unit_test(test_extends_depth),
                cmocka_unit_test(test_extends_by_name),
                cmocka_unit_test(test_shipped_profiles),
                cmocka_unit_test(test_search_path),
                cmocka_unit_test(test_search_order),
                cmocka_unit_test(test_size_limit),
                cmocka_unit_test(test_not_regular),
                cmocka_unit_test(test_digest),
                cmocka_unit_test(test_digest_covers_every_key),
                cmocka_unit_test(test_output),
                cmocka_unit_test(test_json_shape),
                cmocka_unit_test(test_relative_paths),
                cmocka_unit_test(test_enum_strings),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}

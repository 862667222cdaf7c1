/* SPDX-License-Identifier: MIT */
/* The pure plan -> lxc keys generator: every boundary key is written, the fail-open cases are
 * refused, and the seccomp text has liblxc's order of value and mask. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lxc/lxc-config.h"

static PlanSyscallRule rules[] = {
        { .name = "keyctl", .action = SECCOMP_ACTION_ERRNO, .errno_value = 1 },
        { .name = "ioctl",
          .action = SECCOMP_ACTION_ERRNO,
          .errno_value = 1,
          .args = { { .arg = 1, .op = ARG_OP_MASKED_EQ, .mask = 0xffffffffu, .value = 21522 } },
          .n_args = 1 },
        { .name = "kexec_load", .action = SECCOMP_ACTION_KILL },
};

static void base(Plan *p) {
        memset(p, 0, sizeof(*p));
        p->tier = TIER_SYSTEM;
        p->sandbox.hostname = "moat";
        p->sandbox.network = NETWORK_NONE;
        p->sandbox.seccomp.status = CONTROL_REQUIRED;
        p->sandbox.seccomp.default_action = SECCOMP_ACTION_ALLOW;
        p->sandbox.seccomp.foreign_arch_action = SECCOMP_ACTION_KILL;
        p->sandbox.seccomp.rules = rules;
        p->sandbox.seccomp.n_rules = 3;
        p->resources.mechanism = CGROUP_MECH_V1;
        p->resources.memory = 64 << 20;
        p->resources.pids = 32;
}

static const LxcParams params = {
        .run_dir = "/run/moat/system/ID",
        .lower = "/img",
        .gate = "/usr/libexec/moat/moat-system-gate",
        .workdir = "/w",
        .id = "ID",
        .uid_base = 1048576,
        .gid_base = 1048576,
        .id_count = 65536,
        .layout = CGROUP_LAYOUT_HYBRID,
        .has_memsw = true,
};

static const char *value(const LxcConfig *c, const char *key) {
        for (size_t i = 0; i < c->n_keys; i++)
                if (strcmp(c->keys[i].key, key) == 0)
                        return c->keys[i].value;
        return NULL;
}

static void test_keys(void **state) {
        LxcConfig c;
        Plan p;
        char err[256];

        base(&p);
        assert_int_equal(lxc_config_build(&p, &params, &c, err, sizeof(err)), 0);
        assert_string_equal(value(&c, "lxc.idmap"), "u 0 1048576 65536");
        assert_string_equal(value(&c, "lxc.rootfs.path"), "overlay:/img:/run/moat/system/ID/upper");
        assert_string_equal(value(&c, "lxc.console.path"), "none");
        assert_string_equal(value(&c, "lxc.pty.max"), "0");
        assert_string_equal(value(&c, "lxc.net.0.type"), "empty");
        assert_null(value(&c, "lxc.net.0.flags")); /* network none: lo stays down */
        assert_string_equal(value(&c, "lxc.no_new_privs"), "1");
        assert_string_equal(value(&c, "lxc.cap.keep"), "none");
        /* command mode: the gate stacks moat's compiled filter; liblxc compiles none */
        assert_null(value(&c, "lxc.seccomp.profile"));
        assert_null(value(&c, "lxc.seccomp.allow_nesting"));
        bool filter = false;
        for (size_t i = 0; i < c.n_keys; i++)
                filter = filter || (strcmp(c.keys[i].key, "lxc.mount.entry") == 0 &&
                                    strcmp(c.keys[i].value,
                                           "/run/moat/system/ID/filter "
                                           ".moat-filter none "
                                           "bind,ro,create=file 0 0") == 0);
        assert_true(filter);
        assert_true(lxc_gate_loads_filter(&p));
        assert_string_equal(value(&c, "lxc.cgroup.relative"), "1");
        assert_string_equal(value(&c, "lxc.cgroup.dir.container"), "moat-ID/payload");
        assert_string_equal(value(&c, "lxc.cgroup.memory.limit_in_bytes"), "67108864");
        assert_string_equal(value(&c, "lxc.cgroup.memory.memsw.limit_in_bytes"), "67108864");
        assert_string_equal(value(&c, "lxc.cgroup.pids.max"), "32");
        assert_null(value(&c, "lxc.cgroup2.memory.max"));
        assert_string_equal(value(&c, "lxc.mount.auto"), "proc:mixed");
        lxc_config_done(&c);
}

/* Command mode with sys_ptrace kept: the command could reach pid 1 (liblxc's init, with every
 * capability of the user namespace), so pid 1 keeps liblxc's filter and the gate loads none. */
static void test_ptrace_keeps_lxc_filter(void **state) {
        LxcConfig c;
        Plan p;
        char err[256];
        int keep[] = { 19 }; /* CAP_SYS_PTRACE */

        base(&p);
        p.sandbox.caps_keep = keep;
        p.sandbox.n_caps_keep = 1;
        assert_false(lxc_gate_loads_filter(&p));
        assert_int_equal(lxc_config_build(&p, &params, &c, err, sizeof(err)), 0);
        assert_string_equal(value(&c, "lxc.seccomp.profile"), "/run/moat/system/ID/seccomp");
        assert_string_equal(value(&c, "lxc.seccomp.allow_nesting"), "1");
        for (size_t i = 0; i < c.n_keys; i++)
                assert_null(strstr(c.keys[i].value, ".moat-filter"));
        lxc_config_done(&c);
}

static void test_refusals(void **state) {
        LxcConfig c;
        Plan p;
        char err[256];
        int keep[] = { 21 };

        /* v2 keys on a hybrid host: liblxc would ignore them */
        base(&p);
        p.resources.mechanism = CGROUP_MECH_V2;
        assert_int_equal(lxc_config_build(&p, &params, &c, err, sizeof(err)), -EOPNOTSUPP);
        assert_non_null(strstr(err, "cgroup v2"));
        /* v1 memory without swap accounting: the plan's "no swap" would not hold */
        LxcParams x = params;
        x.has_memsw = false;
        base(&p);
        assert_int_equal(lxc_config_build(&p, &x, &c, err, sizeof(err)), -EOPNOTSUPP);
        assert_non_null(strstr(err, "swap"));
        /* sys_admin would undo read-only binds and masks */
        base(&p);
        p.sandbox.caps_keep = keep;
        p.sandbox.n_caps_keep = 1;
        assert_int_equal(lxc_config_build(&p, &params, &c, err, sizeof(err)), -EOPNOTSUPP);
        assert_non_null(strstr(err, "sys_admin"));
        /* two labels: liblxc applies one LSM's and ignores the other's */
        base(&p);
        p.sandbox.apparmor_profile = "moat-container";
        p.sandbox.selinux_context = "system_u:system_r:moat_sandbox_t:s0";
        assert_int_equal(lxc_config_build(&p, &params, &c, err, sizeof(err)), -EOPNOTSUPP);
        assert_non_null(strstr(err, "one label"));
        /* boot mode: the init is a path in the image */
        base(&p);
        p.system.boot = true;
        p.system.init = "sbin/init";
        assert_int_equal(lxc_config_build(&p, &params, &c, err, sizeof(err)), -EOPNOTSUPP);
        assert_non_null(strstr(err, "boot mode"));
        /* outbound in transparent mode: the system tier has the proxy only */
        base(&p);
        p.sandbox.network = NETWORK_OUTBOUND;
        p.egress.active = true;
        p.egress.transparent = true;
        assert_int_equal(lxc_config_build(&p, &params, &c, err, sizeof(err)), -EOPNOTSUPP);
        assert_non_null(strstr(err, "proxy only"));
}

/* network: outbound (proxy mode): loopback only and up, no veth; the listener is made in it
 * from the host */
static void test_outbound_keys(void **state) {
        LxcConfig c;
        Plan p;
        char err[256];

        base(&p);
        p.sandbox.network = NETWORK_OUTBOUND;
        p.egress.active = true;
        p.egress.proxy_port = 3128;
        assert_int_equal(lxc_config_build(&p, &params, &c, err, sizeof(err)), 0);
        assert_string_equal(value(&c, "lxc.net.0.type"), "empty");
        assert_string_equal(value(&c, "lxc.net.0.flags"), "up");
        assert_null(value(&c, "lxc.net.1.type"));
        lxc_config_done(&c);
}

/* The plan's label goes to liblxc's keys (the executor reads it back from the host); without
 * one, an AppArmor host gets "unchanged" (never liblxc's own default profile), and a host
 * without AppArmor no AppArmor key at all (a liblxc built without it refuses the key). */
static void test_mac_keys(void **state) {
        LxcParams aa = params;
        LxcConfig c;
        Plan p;
        char err[256];

        aa.apparmor_enabled = true;
        base(&p);
        p.sandbox.apparmor_profile = "moat-container";
        assert_int_equal(lxc_config_build(&p, &aa, &c, err, sizeof(err)), 0);
        assert_string_equal(value(&c, "lxc.apparmor.profile"), "moat-container");
        assert_string_equal(value(&c, "lxc.apparmor.allow_incomplete"), "0");
        assert_string_equal(value(&c, "lxc.apparmor.allow_nesting"), "0");
        assert_null(value(&c, "lxc.selinux.context"));
        lxc_config_done(&c);

        /* the plan's label even where the executor sees no AppArmor: liblxc then ignores it,
         * and the check from the host refuses the run */
        assert_int_equal(lxc_config_build(&p, &params, &c, err, sizeof(err)), 0);
        assert_string_equal(value(&c, "lxc.apparmor.profile"), "moat-container");
        lxc_config_done(&c);

        base(&p);
        assert_int_equal(lxc_config_build(&p, &aa, &c, err, sizeof(err)), 0);
        assert_string_equal(value(&c, "lxc.apparmor.profile"), "unchanged");
        assert_null(value(&c, "lxc.apparmor.allow_incomplete"));
        lxc_config_done(&c);
        assert_int_equal(lxc_config_build(&p, &params, &c, err, sizeof(err)), 0);
        assert_null(value(&c, "lxc.apparmor.profile"));
        assert_null(value(&c, "lxc.selinux.context"));
        lxc_config_done(&c);

        base(&p);
        p.sandbox.selinux_context = "system_u:system_r:moat_sandbox_t:s0";
        assert_int_equal(lxc_config_build(&p, &params, &c, err, sizeof(err)), 0);
        assert_string_equal(value(&c, "lxc.selinux.context"),
                            "system_u:system_r:moat_sandbox_t:s0");
        assert_string_equal(value(&c, "lxc.selinux.context.keyring"),
                            "system_u:system_r:moat_sandbox_t:s0");
        assert_null(value(&c, "lxc.apparmor.profile"));
        lxc_config_done(&c);
}

/* Boot mode: the image's init as pid 1 under command mode's keys; the command's user goes to
 * attach, not to lxc.init.uid (which would run the init as that user). */
static void test_boot_keys(void **state) {
        LxcConfig c;
        Plan p;
        char err[256];

        base(&p);
        p.system.boot = true;
        p.system.init = "/sbin/init";
        p.sandbox.uid_inside = p.sandbox.gid_inside = 1000;
        assert_int_equal(lxc_config_build(&p, &params, &c, err, sizeof(err)), 0);
        assert_string_equal(value(&c, "lxc.init.cmd"), "/sbin/init");
        assert_null(value(&c, "lxc.init.uid"));
        assert_string_equal(value(&c, "lxc.cap.keep"), "none");
        assert_string_equal(value(&c, "lxc.no_new_privs"), "1");
        /* the image's init is the workload's code: liblxc loads the filter into pid 1 */
        assert_string_equal(value(&c, "lxc.seccomp.profile"), "/run/moat/system/ID/seccomp");
        assert_string_equal(value(&c, "lxc.seccomp.allow_nesting"), "1");
        lxc_config_done(&c);

        p.system.boot = false;
        assert_int_equal(lxc_config_build(&p, &params, &c, err, sizeof(err)), 0);
        assert_null(value(&c, "lxc.init.cmd"));
        assert_string_equal(value(&c, "lxc.init.uid"), "1000");
        lxc_config_done(&c);
}

/* systemd as pid 1: its boot confinement (cap.drop of the kernel-facing set, /sys ro and its own
 * cgroup tree, /run, container=lxc, the notify socket, the gate again at /.moat-enter with the
 * plan's filter), the generator masks read-only on /run (after its tmpfs, or it would hide them)
 * and /dev/mqueue; pid 1 is the gate, which locks liblxc's mounts for systemd with its own filter
 * from /.moat-boot-filter; a plan without a filter or outside boot mode is refused. */
static void test_systemd_keys(void **state) {
        LxcParams x = params;
        LxcConfig c;
        Plan p;
        char err[256];
        bool notify = false, enter = false, filter = false, run = false, env = false;
        bool gen = false, mq = false, boot_filter = false;

        base(&p);
        p.system.boot = true;
        p.system.init = "/sbin/init";
        x.systemd = true;
        x.cap_last = 40;
        assert_int_equal(lxc_config_build(&p, &x, &c, err, sizeof(err)), 0);
        assert_string_equal(value(&c, "lxc.init.cmd"),
                            "/.moat-enter --lock-mounts /.moat-boot-filter -- /sbin/init");
        assert_null(value(&c, "lxc.cap.keep"));
        assert_string_equal(value(&c, "lxc.cap.drop"), lxc_boot_cap_drop);
        assert_string_equal(value(&c, "lxc.mount.auto"), "proc:mixed sys:ro cgroup:mixed");
        assert_string_equal(value(&c, "lxc.no_new_privs"), "1");
        assert_string_equal(value(&c, "lxc.seccomp.allow_nesting"), "1");
        for (size_t i = 0; i < c.n_keys; i++) {
                const char *v = c.keys[i].value;
                if (strcmp(c.keys[i].key, "lxc.environment") == 0)
                        env = env || strcmp(v, "container=lxc") == 0,
                        notify = notify || strcmp(v, "NOTIFY_SOCKET=/.moat-notify") == 0;
                if (strcmp(c.keys[i].key, "lxc.mount.entry") != 0)
                        continue;
                enter = enter || strcmp(v,
                                        "/usr/libexec/moat/moat-system-gate .moat-enter none "
                                        "bind,ro,create=file 0 0") == 0;
                filter = filter || strcmp(v,
                                          "/run/moat/system/ID/filter .moat-filter none "
                                          "bind,ro,create=file 0 0") == 0;
                gen = gen || (run && strcmp(v,
                                            "/run/moat/system/ID/generators "
                                            "run/systemd/system-generators none "
                                            "bind,ro,nosuid,nodev,noexec,create=dir 0 0") == 0);
                mq = mq || strcmp(v,
                                  "mqueue dev/mqueue mqueue rw,nosuid,nodev,noexec,"
                                  "create=dir 0 0") == 0;
                boot_filter = boot_filter || strcmp(v,
                                                    "/run/moat/system/ID/boot-filter "
                                                    ".moat-boot-filter none "
                                                    "bind,ro,create=file 0 0") == 0;
                run = run || strncmp(v, "tmpfs run tmpfs rw,nosuid,nodev", 31) == 0;
        }
        assert_true(env && notify && enter && filter && run && gen && mq && boot_filter);
        /* the names systemd would take for its own: no path, no empty one */
        for (size_t i = 0; lxc_systemd_masked_generators[i]; i++) {
                const char *g = lxc_systemd_masked_generators[i];
                assert_true(g[0] && !strchr(g, '/') && strcmp(g, "systemd-fstab-generator"));
        }
        lxc_config_done(&c);

        /* every capability of a 41-capability kernel but the dropped ones */
        uint64_t b = lxc_boot_capbnd(40);
        assert_true(b & (1ULL << 21));               /* sys_admin: systemd mounts */
        assert_false(b & (1ULL << 16 | 1ULL << 17)); /* sys_module, sys_rawio */
        assert_false(b & (1ULL << 22 | 1ULL << 25)); /* sys_boot, sys_time */
        assert_false(b & (1ULL << 38 | 1ULL << 39)); /* perfmon, bpf */
        assert_false(b & (1ULL << 41));              /* beyond cap_last */
        assert_true(b & (1ULL << 40));               /* checkpoint_restore */

        p.sandbox.seccomp.status = CONTROL_NOT_APPLICABLE;
        assert_int_equal(lxc_config_build(&p, &x, &c, err, sizeof(err)), -EOPNOTSUPP);
        base(&p);
        assert_int_equal(lxc_config_build(&p, &x, &c, err, sizeof(err)), -EOPNOTSUPP);
}

/* The boot filter: the plan's rules, mount only for remounts without MS_RDONLY, umount denied
 * whatever the plan says, personality allowed, mount_setattr ENOSYS. */
static void test_seccomp_boot_text(void **state) {
        PlanSyscallRule r[] = {
                { .name = "keyctl", .action = SECCOMP_ACTION_ERRNO, .errno_value = 1 },
                { .name = "mount", .action = SECCOMP_ACTION_ERRNO, .errno_value = 1 },
                { .name = "personality",
                  .action = SECCOMP_ACTION_ERRNO,
                  .errno_value = 1,
                  .args = { { .arg = 0, .op = ARG_OP_EQ, .value = 8 } },
                  .n_args = 1 },
                { .name = "mount_setattr", .action = SECCOMP_ACTION_ERRNO, .errno_value = 1 },
                { .name = "unshare", .action = SECCOMP_ACTION_ERRNO, .errno_value = 1 },
                { .name = "unshare",
                  .action = SECCOMP_ACTION_ERRNO,
                  .errno_value = 1,
                  .args = { { .arg = 0, .op = ARG_OP_MASKED_EQ, .mask = 0x80, .value = 0x80 } },
                  .n_args = 1 },
        };
        PlanSeccomp s = { .status = CONTROL_REQUIRED,
                          .default_action = SECCOMP_ACTION_ALLOW,
                          .foreign_arch_action = SECCOMP_ACTION_KILL,
                          .rules = r,
                          .n_rules = 6 };
        char err[256], *text = NULL;

        assert_int_equal(lxc_seccomp_boot_text(&s, &text, err, sizeof(err)), 0);
        assert_string_equal(text,
                            "2\ndenylist\n[all]\n"
                            "keyctl errno 1\n"
                            /* pid 1's nested namespaces only (CLONE_NEWUSER|NEWNS|NEWCGROUP);
                             * a rule with an argument stays as the plan has it */
                            "unshare errno 1 [0,302120960,SCMP_CMP_NE]\n"
                            "unshare errno 1 [0,128,SCMP_CMP_MASKED_EQ,128]\n"
                            "mount errno 1 [3,32,SCMP_CMP_MASKED_EQ,33]\n"
                            "umount errno 1\n"
                            "umount2 errno 1\n"
                            "mount_setattr errno 38\n");
        free(text);
}

static void test_seccomp_text(void **state) {
        PlanSeccomp s = { .status = CONTROL_REQUIRED,
                          .default_action = SECCOMP_ACTION_ALLOW,
                          .foreign_arch_action = SECCOMP_ACTION_KILL,
                          .rules = rules,
                          .n_rules = 3 };
        char err[256], *text = NULL;

        assert_int_equal(lxc_seccomp_text(&s, &text, err, sizeof(err)), 0);
        assert_string_equal(text,
                            "2\ndenylist\n[all]\n"
                            "keyctl errno 1\n"
                            "ioctl errno 1 [1,21522,SCMP_CMP_MASKED_EQ,4294967295]\n"
                            "kexec_load kill\n");
        free(text);
        s.default_action = SECCOMP_ACTION_ERRNO;
        assert_int_equal(lxc_seccomp_text(&s, &text, err, sizeof(err)), -EOPNOTSUPP);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_keys),
                cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_outbound_keys),
                cmocka_unit_test(test_mac_keys),
                cmocka_unit_test(test_ptrace_keeps_lxc_filter),
                cmocka_unit_test(test_boot_keys),
                cmocka_unit_test(test_seccomp_text),
                cmocka_unit_test(test_systemd_keys),
                cmocka_unit_test(test_seccomp_boot_text),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

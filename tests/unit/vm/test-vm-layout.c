/* SPDX-License-Identifier: MIT */
/* vm_layout_build(): the plan's binds as 9p shares and the guest's mount records. A virtio-9p
 * tag mounts once in the guest (a second mount fails with EBUSY), so every mount record must
 * name a tag of its own, even for two binds of one directory or for the root's own /usr and
 * /etc binds next to the system shares. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vm/guest/vm-proto.h"
#include "vm/vm-layout.h"

static void assert_tags_mount_once(const VmLayout *l) {
        char *buf = malloc(l->config_len + 8);
        VmConfig c = {};
        const char *reason = NULL;
        size_t len = l->config_len;

        assert_non_null(buf);
        memcpy(buf, l->config, len);
        /* The configuration ends with "z0:" when moat sends it. */
        assert_int_equal(vm_config_append(&buf, &len, 'z', "", 0), 0);
        if (vm_config_parse(buf, len, &c, &reason) < 0)
                fail_msg("the layout's configuration does not parse: %s", reason ? reason : "?");
        /* The domain's shares name the layout's own tags (not a copy that was on the stack of
         * vm_layout_build()). */
        for (size_t i = 0; i < l->n_shares; i++)
                assert_ptr_equal(l->shares[i].tag, l->tags[i]);
        for (size_t i = 0; i < c.n_mounts; i++)
                for (size_t j = i + 1; j < c.n_mounts; j++)
                        if (c.mounts[i].kind == VM_MOUNT_9P && c.mounts[j].kind == VM_MOUNT_9P &&
                            strcmp(c.mounts[i].tag, c.mounts[j].tag) == 0)
                                fail_msg("tag %s is mounted at %s and at %s", c.mounts[i].tag,
                                         c.mounts[i].target, c.mounts[j].target);
        free(buf);
}

static void test_each_mount_has_its_own_tag(void **state) {
        char dir[] = "/tmp/moat-layout-test-XXXXXX";
        PlanMount mounts[] = {
                { .kind = PLAN_MOUNT_BIND,
                  .source = "/usr",
                  .target = "/usr",
                  .flags = PLAN_MOUNT_RDONLY },
                { .kind = PLAN_MOUNT_BIND,
                  .source = "/etc",
                  .target = "/etc",
                  .flags = PLAN_MOUNT_RDONLY },
                { .kind = PLAN_MOUNT_BIND,
                  .source = dir,
                  .target = "/srv/a",
                  .flags = PLAN_MOUNT_RDONLY },
                { .kind = PLAN_MOUNT_BIND,
                  .source = dir,
                  .target = "/srv/b",
                  .flags = PLAN_MOUNT_RDONLY },
                { .kind = PLAN_MOUNT_BIND,
                  .source = dir,
                  .target = "/srv/c",
                  .flags = PLAN_MOUNT_RDONLY | PLAN_MOUNT_NOEXEC },
        };
        Plan plan = { .tier = TIER_VM };
        RunRequest req = { .workdir = dir,
                           .argv = (char *[]){ "true", NULL },
                           .caller_env = (char *[]){ "PATH=/usr/bin:/bin", NULL } };
        VmLayout l = {};
        char msg[512] = "";

        assert_non_null(mkdtemp(dir));
        plan.sandbox.mounts = mounts;
        plan.sandbox.n_mounts = sizeof(mounts) / sizeof(mounts[0]);
        if (vm_layout_build(&plan, &req, getuid(), getgid(), &l, msg, sizeof(msg)) < 0)
                fail_msg("vm_layout_build: %s", msg);
        assert_tags_mount_once(&l);
        vm_layout_done(&l);
        rmdir(dir);
}

/* root: {image: DIR}: the image is the first share, read-only, and the first mount record is
 * its overlay on /; the host's /usr and /etc are not shared, and binds under /etc are shares of
 * their own (the image's /etc is not the host's). Boot mode (os.init) is refused. */
static void test_image_root(void **state) {
        char dir[] = "/tmp/moat-layout-test-XXXXXX";
        PlanMount mounts[] = {
                { .kind = PLAN_MOUNT_BIND,
                  .source = dir,
                  .target = "/",
                  .flags = PLAN_MOUNT_RDONLY },
                { .kind = PLAN_MOUNT_BIND,
                  .source = dir,
                  .target = "/etc/app",
                  .flags = PLAN_MOUNT_RDONLY | PLAN_MOUNT_NOEXEC },
                { .kind = PLAN_MOUNT_BIND,
                  .source = ".",
                  .target = "/work",
                  .flags = PLAN_MOUNT_WORKDIR },
        };
        Plan plan = { .tier = TIER_VM, .vm = { .memory = 256ull << 20 } };
        RunRequest req = { .workdir = dir,
                           .argv = (char *[]){ "true", NULL },
                           .caller_env = (char *[]){ "PATH=/usr/bin:/bin", NULL } };
        VmLayout l = {};
        VmConfig c = {};
        char msg[512] = "", *buf;
        const char *reason = NULL;
        size_t len;

        assert_non_null(mkdtemp(dir));
        plan.sandbox.mounts = mounts;
        plan.sandbox.n_mounts = sizeof(mounts) / sizeof(mounts[0]);
        if (vm_layout_build(&plan, &req, getuid(), getgid(), &l, msg, sizeof(msg)) < 0)
                fail_msg("vm_layout_build: %s", msg);
        assert_true(l.image_root);
        assert_int_equal(l.n_shares, 3);
        assert_string_equal(l.shares[0].source, dir);
        assert_true(l.shares[0].readonly);
        for (size_t i = 0; i < l.n_shares; i++) {
                assert_string_not_equal(l.shares[i].source, "/usr");
                assert_string_not_equal(l.shares[i].source, "/etc");
        }
        len = l.config_len;
        buf = malloc(len + 8);
        assert_non_null(buf);
        memcpy(buf, l.config, len);
        assert_int_equal(vm_config_append(&buf, &len, 'z', "", 0), 0);
        if (vm_config_parse(buf, len, &c, &reason) < 0)
                fail_msg("the layout's configuration does not parse: %s", reason ? reason : "?");
        assert_int_equal(c.mounts[0].kind, VM_MOUNT_OVERLAY);
        assert_string_equal(c.mounts[0].tag, l.shares[0].tag);
        assert_int_equal(c.mounts[0].size, 64ull << 20);
        assert_int_equal(c.mounts[1].kind, VM_MOUNT_9P);
        assert_string_equal(c.mounts[1].target, "/etc/app");
        assert_true(c.mounts[1].readonly && c.mounts[1].noexec);
        free(buf);
        vm_layout_done(&l);

        /* Boot mode: record B with the init and the run's timeout as the readiness bound. */
        plan.system.boot = true;
        plan.system.init = (char *) "/sbin/init";
        plan.resources.timeout_ms = 90000;
        l = (VmLayout){};
        if (vm_layout_build(&plan, &req, getuid(), getgid(), &l, msg, sizeof(msg)) < 0)
                fail_msg("vm_layout_build (boot mode): %s", msg);
        len = l.config_len;
        buf = malloc(len + 8);
        assert_non_null(buf);
        memcpy(buf, l.config, len);
        assert_int_equal(vm_config_append(&buf, &len, 'z', "", 0), 0);
        if (vm_config_parse(buf, len, &c, &reason) < 0)
                fail_msg("the boot layout's configuration does not parse: %s",
                         reason ? reason : "?");
        assert_string_equal(c.boot_init, "/sbin/init");
        assert_int_equal(c.boot_ready_ms, 90000);
        free(buf);
        vm_layout_done(&l);

        /* Without a timeout: the host's boot bound; an init that is not a clean path: refused. */
        plan.resources.timeout_ms = 0;
        l = (VmLayout){};
        assert_int_equal(vm_layout_build(&plan, &req, getuid(), getgid(), &l, msg, sizeof(msg)), 0);
        assert_non_null(memmem(l.config, l.config_len, "B17:120000 /sbin/init\n", 22));
        vm_layout_done(&l);
        plan.system.init = (char *) "/sbin/../init";
        l = (VmLayout){};
        assert_int_equal(vm_layout_build(&plan, &req, getuid(), getgid(), &l, msg, sizeof(msg)),
                         -EINVAL);
        assert_non_null(strstr(msg, "os.init"));
        vm_layout_done(&l);
        rmdir(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_each_mount_has_its_own_tag),
                cmocka_unit_test(test_image_root),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

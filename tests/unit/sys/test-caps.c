/* SPDX-License-Identifier: MIT */
/* Capabilities, no_new_privs and LSM exec labels, each applied in a forked child. As root the
 * child starts with full sets; otherwise it first enters a user namespace, where it holds a
 * full set over that namespace. Either way the test checks there was something to drop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/prctl.h>

#include "config.h"
#include "child.h"
#include "sys/caps.h"
#include "sys/lsm.h"

enum {
        C_SETUP,
        C_BND_BEFORE,
        C_DROP,
        C_EFF,
        C_PRM,
        C_BND,
        C_AMB,
        C_INH,
        C_EFF_HI,
        C_PRM_HI,
        C_BND_HI,
        C_AMB_HI,
        C_INH_HI
};

static int child_enter_caps(void) {
        /* Outside root, a fresh user namespace gives a full capability set to drop. */
        if (geteuid() != 0 && unshare(CLONE_NEWUSER) < 0)
                return -errno;
        return 0;
}

static void split(int *res, int lo, int hi, uint64_t v) {
        res[lo] = (int) (v & 0xffffffffu);
        res[hi] = (int) (v >> 32);
}

static void child_caps(int *res, void *userdata) {
        const int *keep = userdata;

        res[C_SETUP] = child_enter_caps();
        if (res[C_SETUP] < 0)
                return;
        res[C_BND_BEFORE] = proc_status_hex("CapBnd") != 0;
        res[C_DROP] = sys_caps_drop_except(keep, keep ? 1 : 0);
        split(res, C_EFF, C_EFF_HI, proc_status_hex("CapEff"));
        split(res, C_PRM, C_PRM_HI, proc_status_hex("CapPrm"));
        split(res, C_BND, C_BND_HI, proc_status_hex("CapBnd"));
        split(res, C_AMB, C_AMB_HI, proc_status_hex("CapAmb"));
        split(res, C_INH, C_INH_HI, proc_status_hex("CapInh"));
}

static void test_drop_all(void **state) {
        int res[CHILD_MAX_RESULTS], status;

        status = child_run(child_caps, NULL, res);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(res[C_SETUP], 0);
        assert_int_equal(res[C_BND_BEFORE], 1);
        assert_int_equal(res[C_DROP], 0);
        for (int i = C_EFF; i <= C_INH_HI; i++)
                assert_int_equal(res[i], 0);
}

static void test_keep_one(void **state) {
        int keep = CAP_NET_BIND_SERVICE, res[CHILD_MAX_RESULTS], status;
        const int bit = 1 << CAP_NET_BIND_SERVICE;

        status = child_run(child_caps, &keep, res);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(res[C_SETUP], 0);
        assert_int_equal(res[C_DROP], 0);
        assert_int_equal(res[C_EFF], bit);
        assert_int_equal(res[C_PRM], bit);
        assert_int_equal(res[C_BND], bit);
        assert_int_equal(res[C_AMB], bit);
        assert_int_equal(res[C_INH], bit);
        for (int i = C_EFF_HI; i <= C_INH_HI; i++)
                assert_int_equal(res[i], 0);
}

static void child_bad_keep(int *res, void *userdata) {
        int keep[] = { -1 }, keep_big[] = { 4096 };

        if (child_enter_caps() < 0)
                return;
        res[0] = sys_caps_drop_except(keep, 1);
        res[1] = sys_caps_drop_except(keep_big, 1);
        /* Nothing was dropped by the refused calls. */
        res[2] = proc_status_hex("CapBnd") != 0;
}

static void test_refuses_unknown_cap(void **state) {
        int res[CHILD_MAX_RESULTS];

        child_run(child_bad_keep, NULL, res);
        assert_int_equal(res[0], -EINVAL);
        assert_int_equal(res[1], -EINVAL);
        assert_int_equal(res[2], 1);
}

static void child_nnp(int *res, void *userdata) {
        res[0] = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
        res[1] = sys_no_new_privs();
        res[2] = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
        res[3] = (int) proc_status_hex("NoNewPrivs");
}

static void test_no_new_privs(void **state) {
        int res[CHILD_MAX_RESULTS], status;

        status = child_run(child_nnp, NULL, res);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(res[0], 0); /* the test runner itself must not have it yet */
        assert_int_equal(res[1], 0);
        assert_int_equal(res[2], 1);
        assert_int_equal(res[3], 1);
}

static bool apparmor_enabled(void) {
        char c = 'N';
        int fd = open("/sys/module/apparmor/parameters/enabled", O_RDONLY | O_CLOEXEC);

        if (fd >= 0) {
                if (read(fd, &c, 1) != 1)
                        c = 'N';
                close(fd);
        }
        return HAVE_APPARMOR && c == 'Y';
}

static bool selinux_enabled(void) {
        return HAVE_SELINUX && access("/sys/fs/selinux/enforce", F_OK) == 0;
}

static void test_lsm_labels(void **state) {
        assert_int_equal(sys_lsm_set_exec_label(NULL, NULL), 0);
        assert_int_equal(sys_lsm_set_exec_label("", ""), 0);
        /* A requested label on a host without that LSM is refused, never ignored. A profile
         * that is not loaded is refused as well where AppArmor is enabled. */
        if (!apparmor_enabled())
                assert_int_equal(sys_lsm_set_exec_label("moat-test-profile", NULL), -EOPNOTSUPP);
        else
                assert_true(sys_lsm_set_exec_label("moat-test-no-such-profile", NULL) < 0);
        if (!selinux_enabled())
                assert_int_equal(sys_lsm_set_exec_label(NULL, "system_u:system_r:moat_t:s0"),
                                 -EOPNOTSUPP);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_drop_all),
                cmocka_unit_test(test_keep_one),
                cmocka_unit_test(test_refuses_unknown_cap),
                cmocka_unit_test(test_no_new_privs),
                cmocka_unit_test(test_lsm_labels),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

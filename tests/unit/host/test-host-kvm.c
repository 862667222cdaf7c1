/* SPDX-License-Identifier: MIT */
/* The KVM verdict: its cache (one line in the caller's cache directory, keyed), the key (which
 * changes with anything the verdict depends on), and what a verdict does to the facts. The
 * device checks themselves are exercised against real and fake /dev/kvm nodes in
 * tests/integration/vm/kvm.sh. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/macros.h"
#include "host-test-util.h"

static char dir[] = "/tmp/moat-kvm-test-XXXXXX";

static int setup(void **state) {
        if (!mkdtemp(dir))
                return -1;
        return setenv("XDG_CACHE_HOME", dir, 1);
}

static int teardown(void **state) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd);
}

static void test_verdict_round_trip(void **state) {
        const char *k1 = "1111111111111111111111111111111111111111111111111111111111111111",
                   *k2 = "2222222222222222222222222222222222222222222222222222222222222222";
        _cleanup_free_ char *path = NULL;
        char why[256];
        FILE *f;

        assert_int_equal(host_kvm_verdict_load(k1, why, sizeof(why)), -ENOENT);
        assert_int_equal(host_kvm_verdict_save(k1, false, "QEMU ended\nbefore init"), 0);
        assert_int_equal(host_kvm_verdict_load(k1, why, sizeof(why)), 0);
        assert_string_equal(why, "QEMU ended before init"); /* one line, whatever the reason */
        assert_int_equal(host_kvm_verdict_load(k2, why, sizeof(why)), -ENOENT);
        assert_int_equal(host_kvm_verdict_save(k1, true, NULL), 0);
        assert_int_equal(host_kvm_verdict_load(k1, why, sizeof(why)), 1);
        /* A later verdict for another key replaces it: the host changed. */
        assert_int_equal(host_kvm_verdict_save(k2, false, "x"), 0);
        assert_int_equal(host_kvm_verdict_load(k1, why, sizeof(why)), -ENOENT);

        /* Anything unexpected in the file is no verdict: the proof runs again. */
        assert_int_equal(host_kvm_verdict_path(&path), 0);
        f = fopen(path, "we");
        assert_non_null(f);
        fprintf(f, "v1 %s usable 0 -\n", k1);
        fclose(f);
        assert_int_equal(host_kvm_verdict_load(k1, why, sizeof(why)), -ENOENT);
        f = fopen(path, "we");
        fprintf(f, "v2 %s proven 0 -\n", k1);
        fclose(f);
        assert_int_equal(host_kvm_verdict_load(k1, why, sizeof(why)), -ENOENT);
}

static void test_key_follows_its_inputs(void **state) {
        HostFacts h = { .qemu_present = true };
        char kernel[4096], a[KVM_PROOF_KEY_HEX], b[KVM_PROOF_KEY_HEX];
        struct timespec times[2] = { { .tv_sec = 1000 }, { .tv_sec = 1000 } };
        int fd;

        snprintf(kernel, sizeof(kernel), "%s/vmlinux", dir);
        fd = open(kernel, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "\177ELF", 4), 4);
        close(fd);
        snprintf(h.kernel_release, sizeof(h.kernel_release), "6.1.0");
        snprintf(h.qemu_path, sizeof(h.qemu_path), "/bin/true");
        snprintf(h.kvm_account, sizeof(h.kvm_account), "moat-vm");

        assert_int_equal(host_kvm_proof_key(&h, a), -ENOENT); /* no guest kernel */
        h.guest_kernel = kernel;
        assert_int_equal(host_kvm_proof_key(&h, a), 0);
        assert_int_equal(strlen(a), 64);
        assert_int_equal(host_kvm_proof_key(&h, b), 0);
        assert_string_equal(a, b);

        snprintf(h.kvm_account, sizeof(h.kvm_account), "alice");
        assert_int_equal(host_kvm_proof_key(&h, b), 0);
        assert_string_not_equal(a, b);
        snprintf(h.kvm_account, sizeof(h.kvm_account), "moat-vm");

        snprintf(h.kernel_release, sizeof(h.kernel_release), "6.1.1");
        assert_int_equal(host_kvm_proof_key(&h, b), 0);
        assert_string_not_equal(a, b);
        snprintf(h.kernel_release, sizeof(h.kernel_release), "6.1.0");

        /* The guest kernel rewritten, even with its old mtime put back: ctime moves. */
        assert_int_equal(host_kvm_proof_key(&h, a), 0);
        usleep(20000);
        fd = open(kernel, O_WRONLY | O_APPEND | O_CLOEXEC);
        assert_int_equal(write(fd, "x", 1), 1);
        close(fd);
        assert_int_equal(utimensat(AT_FDCWD, kernel, times, 0), 0);
        assert_int_equal(host_kvm_proof_key(&h, b), 0);
        assert_string_not_equal(a, b);

        snprintf(h.qemu_path, sizeof(h.qemu_path), "/bin/false");
        assert_int_equal(host_kvm_proof_key(&h, a), 0);
        assert_string_not_equal(a, b);
        unlink(kernel);
}

static void test_verdict_sets_the_facts(void **state) {
        _cleanup_(host_facts_done) HostFacts h = { .kvm_state = KVM_STATE_UNPROVEN };

        h.kvm_reason = strdup("unproven");
        assert_int_equal(host_kvm_apply_verdict(&h, false, "KVM internal error"), 0);
        assert_int_equal(h.kvm_state, KVM_STATE_FAILED);
        assert_false(h.kvm_usable);
        assert_non_null(strstr(h.kvm_reason, "KVM internal error"));
        assert_int_equal(host_kvm_apply_verdict(&h, true, NULL), 0);
        assert_int_equal(h.kvm_state, KVM_STATE_PROVEN);
        assert_true(h.kvm_usable);
        assert_null(h.kvm_reason);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_verdict_round_trip),
                cmocka_unit_test(test_key_follows_its_inputs),
                cmocka_unit_test(test_verdict_sets_the_facts),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}

/* SPDX-License-Identifier: MIT */
/* The pure libvirt XML generator: what the domain may and may not contain. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vm/vm-domain.h"

static VmShare shares[] = {
        { .source = "/usr", .tag = "s0", .readonly = true },
        { .source = "/home/u/w&<'>", .tag = "s1", .readonly = false },
};

static VmDomainSpec base(void) {
        return (VmDomainSpec){
                .name = "moat-1-abc",
                .memory_mib = 256,
                .vcpus = 2,
                .emulator = "/usr/bin/qemu-system-x86_64",
                .loader = "/usr/share/qemu/qboot.rom",
                .kernel = "/var/lib/moat/guest/vmlinux",
                .initrd = "/c/initramfs.cpio",
                .cmdline = "console=ttyS0 quiet a>b&c",
                .console_log = "/r/console.log",
                .ctl_socket = "/r/ctl.sock",
                .stdout_socket = "/r/out.sock",
                .stderr_socket = "/r/err.sock",
                .shares = shares,
                .n_shares = 2,
        };
}

static size_t count(const char *hay, const char *needle) {
        size_t n = 0;
        for (const char *p = hay; (p = strstr(p, needle)); p++)
                n++;
        return n;
}

static void test_tcg_domain(void **state) {
        VmDomainSpec s = base();
        char *xml = NULL;

        assert_int_equal(vm_domain_xml(&s, &xml), 0);
        assert_non_null(strstr(xml, "<domain type='qemu'>"));
        assert_non_null(strstr(xml, "<memory unit='MiB'>256</memory>"));
        assert_non_null(strstr(xml, "<vcpu>2</vcpu>"));
        assert_non_null(strstr(xml, "<cpu mode='maximum' check='none'/>"));
        /* The kernel command line is escaped. */
        assert_non_null(strstr(xml, "<cmdline>console=ttyS0 quiet a&gt;b&amp;c</cmdline>"));
        assert_non_null(strstr(xml, "<source dir='/home/u/w&amp;&lt;&apos;&gt;'/>"));
        /* Read-only shares are read-only for QEMU itself; writable ones are not marked. */
        assert_int_equal(count(xml, "<readonly/>"), 1);
        assert_non_null(strstr(xml, "<target dir='s0'/>\n      <readonly/>"));
        /* squash: QEMU never chowns; forbid: no other host filesystem through a share. */
        assert_int_equal(count(xml, "accessmode='squash' multidevs='forbid'"), 2);
        assert_int_equal(count(xml, "<channel type='unix'>"), 3);
        assert_int_equal(count(xml, "<source mode='connect'"), 3);
        assert_non_null(strstr(xml, "name='org.moat.ctl'"));
        /* The egress port only when asked for. */
        assert_null(strstr(xml, "org.moat.net"));
        /* No network, no balloon, no USB; every end destroys the domain. */
        assert_null(strstr(xml, "<interface"));
        assert_null(strstr(xml, "qemu:commandline"));
        assert_non_null(strstr(xml, "<memballoon model='none'/>"));
        assert_non_null(strstr(xml, "<on_reboot>destroy</on_reboot>"));
        assert_non_null(strstr(xml, "<on_crash>destroy</on_crash>"));
        assert_non_null(strstr(xml, "<on_poweroff>destroy</on_poweroff>"));
        free(xml);
}

static void test_kvm_domain(void **state) {
        VmDomainSpec s = base();
        char *xml = NULL;

        s.kvm = true;
        s.loader = NULL;
        s.n_shares = 0;
        assert_int_equal(vm_domain_xml(&s, &xml), 0);
        assert_non_null(strstr(xml, "<domain type='kvm'>"));
        assert_non_null(strstr(xml, "host-passthrough"));
        assert_null(strstr(xml, "<loader"));
        assert_null(strstr(xml, "<filesystem"));
        free(xml);
}

static void test_net_port(void **state) {
        VmDomainSpec s = base();
        char *xml = NULL;

        s.net_socket = "/r/net.sock";
        assert_int_equal(vm_domain_xml(&s, &xml), 0);
        assert_int_equal(count(xml, "<channel type='unix'>"), 4);
        assert_non_null(strstr(xml,
                               "<source mode='connect' path='/r/net.sock'/>\n"
                               "      <target type='virtio' name='org.moat.net'/>"));
        /* A port, never a network interface. */
        assert_null(strstr(xml, "<interface"));
        free(xml);
        xml = NULL;
        s.net_socket = "net.sock";
        assert_int_equal(vm_domain_xml(&s, &xml), -EINVAL);
        assert_null(xml);
}

static void test_rejects(void **state) {
        VmDomainSpec s;
        char *xml = NULL;
        VmShare bad_tag[] = { { .source = "/x", .tag = "S0" } };
        VmShare dup[] = { { .source = "/x", .tag = "s0" }, { .source = "/y", .tag = "s0" } };
        VmShare rel[] = { { .source = "x", .tag = "s0" } };

        s = base(), s.kernel = "vmlinux";
        assert_int_equal(vm_domain_xml(&s, &xml), -EINVAL);
        s = base(), s.memory_mib = 0;
        assert_int_equal(vm_domain_xml(&s, &xml), -EINVAL);
        s = base(), s.vcpus = 0;
        assert_int_equal(vm_domain_xml(&s, &xml), -EINVAL);
        s = base(), s.name = "a'b";
        assert_int_equal(vm_domain_xml(&s, &xml), -EINVAL);
        s = base(), s.shares = bad_tag, s.n_shares = 1;
        assert_int_equal(vm_domain_xml(&s, &xml), -EINVAL);
        s = base(), s.shares = dup, s.n_shares = 2;
        assert_int_equal(vm_domain_xml(&s, &xml), -EINVAL);
        s = base(), s.shares = rel, s.n_shares = 1;
        assert_int_equal(vm_domain_xml(&s, &xml), -EINVAL);
        s = base(), s.n_shares = VM_DOMAIN_SHARES_MAX + 1;
        assert_int_equal(vm_domain_xml(&s, &xml), -EINVAL);
        s = base(), s.cmdline = "a\nb";
        assert_int_equal(vm_domain_xml(&s, &xml), -EINVAL);
        assert_null(xml);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_tcg_domain),
                cmocka_unit_test(test_kvm_domain),
                cmocka_unit_test(test_net_port),
                cmocka_unit_test(test_rejects),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

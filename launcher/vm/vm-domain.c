/* SPDX-License-Identifier: MIT */
/* PURE. Plan-derived VmDomainSpec -> libvirt domain XML.
 *
 * The domain is a pc machine with libvirt's own elements only (no qemu:commandline, so libvirt
 * validates and confines every device and the domain is not tainted "custom-argv"):
 *   - direct kernel boot (PVH entry of the uncompressed vmlinux) with moat's initramfs;
 *   - 9p shares with accessmode squash (QEMU creates files as its own uid, never chowns) and
 *     multidevs forbid (no other host filesystem is reachable through a share), read-only ones
 *     with <readonly/> so QEMU itself refuses writes;
 *   - three virtio-serial channels to unix sockets moat listens on (control, stdout, stderr),
 *     and a fourth, the egress port (org.moat.net), only for a run with outbound network;
 *   - no network interface, no USB, no balloon, no graphics: the guest has only loopback;
 *   - every lifecycle end (power off, reboot, crash) destroys the domain. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macros.h"
#include "vm-domain.h"

typedef struct Buf {
        char *p;
        size_t len, cap;
        int err;
} Buf;

static void buf_add(Buf *b, const char *s, size_t n) {
        if (b->err)
                return;
        if (b->len + n + 1 > b->cap) {
                size_t cap = MAX(b->cap * 2, b->len + n + 1024);
                char *p = realloc(b->p, cap);
                if (!p) {
                        b->err = -ENOMEM;
                        return;
                }
                b->p = p, b->cap = cap;
        }
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = 0;
}

static void buf_str(Buf *b, const char *s) {
        buf_add(b, s, strlen(s));
}

static void buf_printf(Buf *b, const char *fmt, ...) _printf_(2, 3);
static void buf_printf(Buf *b, const char *fmt, ...) {
        char tmp[512];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t) n >= sizeof(tmp)) {
                b->err = b->err ?: -EINVAL;
                return;
        }
        buf_add(b, tmp, (size_t) n);
}

/* Escapes for both text and single-quoted attributes. */
static void buf_escaped(Buf *b, const char *s) {
        for (; *s; s++) {
                switch (*s) {
                case '&':
                        buf_str(b, "&amp;");
                        break;
                case '<':
                        buf_str(b, "&lt;");
                        break;
                case '>':
                        buf_str(b, "&gt;");
                        break;
                case '\'':
                        buf_str(b, "&apos;");
                        break;
                case '"':
                        buf_str(b, "&quot;");
                        break;
                default:
                        /* XML 1.0 cannot carry most control characters at all. */
                        if ((unsigned char) *s < 0x20 && *s != '\t') {
                                b->err = b->err ?: -EINVAL;
                                return;
                        }
                        buf_add(b, s, 1);
                }
        }
}

static void buf_element(Buf *b, const char *indent, const char *name, const char *value) {
        buf_printf(b, "%s<%s>", indent, name);
        buf_escaped(b, value);
        buf_printf(b, "</%s>\n", name);
}

static bool path_ok(const char *p) {
        return p && p[0] == '/';
}

static bool tag_ok(const char *t) {
        size_t n = t ? strlen(t) : 0;
        if (n == 0 || n > 31)
                return false;
        return strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789") == n;
}

static bool name_ok(const char *t) {
        size_t n = t ? strlen(t) : 0;
        return n > 0 && n < 64 &&
               strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

static void add_channel(Buf *b, const char *path, const char *name) {
        buf_str(b, "    <channel type='unix'>\n      <source mode='connect' path='");
        buf_escaped(b, path);
        buf_printf(b, "'/>\n      <target type='virtio' name='%s'/>\n    </channel>\n", name);
}

int vm_domain_xml(const VmDomainSpec *s, char **ret) {
        Buf b = {};

        if (!name_ok(s->name) || s->memory_mib == 0 || s->vcpus == 0 || s->vcpus > 64 ||
            !path_ok(s->emulator) || !path_ok(s->kernel) || !path_ok(s->initrd) || !s->cmdline ||
            !path_ok(s->console_log) || !path_ok(s->ctl_socket) || !path_ok(s->stdout_socket) ||
            !path_ok(s->stderr_socket) || (s->loader && !path_ok(s->loader)) ||
            (s->net_socket && !path_ok(s->net_socket)) || s->n_shares > VM_DOMAIN_SHARES_MAX)
                return -EINVAL;
        for (size_t i = 0; i < s->n_shares; i++) {
                if (!path_ok(s->shares[i].source) || !tag_ok(s->shares[i].tag))
                        return -EINVAL;
                for (size_t j = 0; j < i; j++)
                        if (strcmp(s->shares[i].tag, s->shares[j].tag) == 0)
                                return -EINVAL;
        }

        buf_printf(&b, "<domain type='%s'>\n", s->kvm ? "kvm" : "qemu");
        buf_printf(&b, "  <name>%s</name>\n", s->name);
        buf_printf(&b, "  <memory unit='MiB'>%" PRIu64 "</memory>\n", s->memory_mib);
        buf_printf(&b, "  <vcpu>%" PRIu32 "</vcpu>\n", s->vcpus);
        buf_str(&b, "  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n");
        if (s->loader) {
                buf_str(&b, "    <loader type='rom'>");
                buf_escaped(&b, s->loader);
                buf_str(&b, "</loader>\n");
        }
        buf_element(&b, "    ", "kernel", s->kernel);
        buf_element(&b, "    ", "initrd", s->initrd);
        buf_element(&b, "    ", "cmdline", s->cmdline);
        buf_str(&b, "  </os>\n  <features><acpi/></features>\n");
        /* TCG: the richest CPU model (RDRAND for an early CRNG, x86-64-v3 for host binaries);
         * KVM: the host's own. */
        buf_printf(&b, "  <cpu mode='%s' check='none'/>\n",
                   s->kvm ? "host-passthrough" : "maximum");
        buf_str(&b,
                "  <clock offset='utc'/>\n"
                "  <on_poweroff>destroy</on_poweroff>\n"
                "  <on_reboot>destroy</on_reboot>\n"
                "  <on_crash>destroy</on_crash>\n"
                "  <devices>\n");
        buf_element(&b, "    ", "emulator", s->emulator);
        for (size_t i = 0; i < s->n_shares; i++) {
                buf_str(&b,
                        "    <filesystem type='mount' accessmode='squash' multidevs='forbid'>\n"
                        "      <source dir='");
                buf_escaped(&b, s->shares[i].source);
                buf_printf(&b, "'/>\n      <target dir='%s'/>\n%s    </filesystem>\n",
                           s->shares[i].tag, s->shares[i].readonly ? "      <readonly/>\n" : "");
        }
        add_channel(&b, s->ctl_socket, "org.moat.ctl");
        add_channel(&b, s->stdout_socket, "org.moat.stdout");
        add_channel(&b, s->stderr_socket, "org.moat.stderr");
        if (s->net_socket)
                add_channel(&b, s->net_socket, "org.moat.net");
        buf_str(&b, "    <serial type='file'>\n      <source path='");
        buf_escaped(&b, s->console_log);
        buf_str(&b,
                "'/>\n      <target port='0'/>\n    </serial>\n"
                "    <controller type='usb' model='none'/>\n"
                "    <memballoon model='none'/>\n"
                "  </devices>\n"
                "  <seclabel type='none'/>\n"
                "</domain>\n");
        if (b.err) {
                free(b.p);
                return b.err;
        }
        *ret = b.p;
        return 0;
}

/* SPDX-License-Identifier: MIT */
/* Shared by the host unit tests: field-by-field HostFacts comparison and fixture paths. */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/strv.h"
#include "config.h"
#include "host/host.h"

#define HOST_FIXTURES_DIR MOAT_SOURCE_DIR "/tests/fixtures/hosts"

static inline const char *fixture_path(const char *name, char *buf, size_t size) {
        snprintf(buf, size, "%s/%s.json", HOST_FIXTURES_DIR, name);
        return buf;
}

static inline void assert_strv_equal(char *const *a, char *const *b) {
        /* NULL ("unknown") and [] ("known empty") are different facts. */
        assert_int_equal(a == NULL, b == NULL);
        assert_int_equal(strv_length(a), strv_length(b));
        for (size_t i = 0; a && a[i]; i++)
                assert_string_equal(a[i], b[i]);
}

static inline void assert_nullable_string_equal(const char *a, const char *b) {
        assert_int_equal(a == NULL, b == NULL);
        if (a)
                assert_string_equal(a, b);
}

/* Every fact except "source", which names where the facts came from. */
static inline void assert_host_facts_equal(const HostFacts *a, const HostFacts *b) {
        assert_string_equal(a->kernel_release, b->kernel_release);
        assert_int_equal(a->kernel_major, b->kernel_major);
        assert_int_equal(a->kernel_minor, b->kernel_minor);
        assert_string_equal(a->arch, b->arch);
        assert_int_equal(a->merged_usr, b->merged_usr);
        assert_strv_equal(a->root_symlinks, b->root_symlinks);
        assert_strv_equal(a->root_dirs, b->root_dirs);
        assert_int_equal(a->uid, b->uid);
        assert_int_equal(a->gid, b->gid);
        assert_string_equal(a->user, b->user);
        assert_int_equal(a->is_root, b->is_root);
        assert_int_equal(a->max_user_namespaces, b->max_user_namespaces);
        assert_int_equal(a->unprivileged_userns_clone, b->unprivileged_userns_clone);
        assert_int_equal(a->apparmor_restrict_userns, b->apparmor_restrict_userns);
        assert_int_equal(a->userns_usable, b->userns_usable);
        assert_int_equal(a->time_ns, b->time_ns);
        assert_nullable_string_equal(a->userns_reason, b->userns_reason);
        assert_int_equal(a->seccomp_filter, b->seccomp_filter);
        assert_int_equal(a->seccomp_user_notif, b->seccomp_user_notif);
        assert_strv_equal(a->seccomp_actions, b->seccomp_actions);
        assert_int_equal(a->landlock_abi, b->landlock_abi);
        assert_strv_equal(a->lsms, b->lsms);
        assert_int_equal(a->apparmor_enabled, b->apparmor_enabled);
        assert_int_equal(a->apparmor_moat_loaded, b->apparmor_moat_loaded);
        assert_int_equal(a->apparmor_moat_attached, b->apparmor_moat_attached);
        assert_strv_equal(a->apparmor_moat_profiles, b->apparmor_moat_profiles);
        assert_int_equal(a->selinux_mode, b->selinux_mode);
        assert_int_equal(a->selinux_moat_loaded, b->selinux_moat_loaded);
        assert_int_equal(a->cgroup_layout, b->cgroup_layout);
        assert_int_equal(a->cgroup_v2_writable, b->cgroup_v2_writable);
        assert_strv_equal(a->cgroup_v2_controllers, b->cgroup_v2_controllers);
        assert_int_equal(a->cgroup_v1_writable, b->cgroup_v1_writable);
        assert_strv_equal(a->cgroup_v1_controllers, b->cgroup_v1_controllers);
        assert_int_equal(a->kvm_usable, b->kvm_usable);
        assert_int_equal(a->qemu_present, b->qemu_present);
        assert_string_equal(a->qemu_path, b->qemu_path);
        assert_int_equal(a->libvirt_present, b->libvirt_present);
        assert_nullable_string_equal(a->guest_kernel, b->guest_kernel);
        assert_nullable_string_equal(a->vm_reason, b->vm_reason);
        assert_int_equal(a->vm_boot_ms, b->vm_boot_ms);
        assert_int_equal(a->lxc_present, b->lxc_present);
        assert_string_equal(a->lxc_version, b->lxc_version);
        assert_int_equal(a->tun_usable, b->tun_usable);
        assert_int_equal(a->slirp4netns_present, b->slirp4netns_present);
        assert_string_equal(a->slirp4netns_path, b->slirp4netns_path);
        assert_int_equal(a->nft_present, b->nft_present);
        assert_string_equal(a->nft_path, b->nft_path);
        assert_int_equal(a->newuidmap_present, b->newuidmap_present);
        assert_int_equal(a->subuid_range, b->subuid_range);
}

/* As root: the probe in a child that became uid (no supplementary groups), its facts as JSON
 * text (the caller frees); *ret_len is the length. */
static inline char *probe_json_as(uid_t uid, size_t *ret_len) {
        size_t n = 0, cap = 1 << 16;
        char *text = malloc(cap);
        int pipefd[2], status;
        pid_t pid;

        assert_non_null(text);
        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                HostFacts c = {};
                char *json;
                close(pipefd[0]);
                if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
                    setresuid(uid, uid, uid) < 0 || host_facts_probe(&c) < 0)
                        _exit(2);
                json = host_facts_to_json(&c);
                if (!json || write(pipefd[1], json, strlen(json)) != (ssize_t) strlen(json))
                        _exit(3);
                _exit(0);
        }
        close(pipefd[1]);
        for (ssize_t k; (k = read(pipefd[0], text + n, cap - 1 - n)) > 0;)
                n += (size_t) k;
        close(pipefd[0]);
        text[n] = '\0';
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        *ret_len = n;
        return text;
}

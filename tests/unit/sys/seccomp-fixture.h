/* SPDX-License-Identifier: MIT */
/* A PlanSeccomp built by hand, shaped like the default deny list (~90 rules on x86_64, x32
 * and i386), for the sys/ unit tests and the seccomp benchmark. Independent of the resolver
 * on purpose: these tests check the compiler and loader, not the policy files. */
#pragma once

#include <sys/personality.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/ioctl.h>

#include "plan/plan.h"

static const char *const fixture_deny_eperm[] = {
        "acct",
        "add_key",
        "adjtimex",
        "afs_syscall",
        "bpf",
        "break",
        "clock_adjtime",
        "clock_settime",
        "create_module",
        "delete_module",
        "fanotify_init",
        "finit_module",
        "fsconfig",
        "fsmount",
        "fsopen",
        "fspick",
        "ftime",
        "get_kernel_syms",
        "getpmsg",
        "gtty",
        "init_module",
        "io_uring_enter",
        "io_uring_register",
        "io_uring_setup",
        "ioperm",
        "iopl",
        "kcmp",
        "kexec_file_load",
        "kexec_load",
        "keyctl",
        "lock",
        "lookup_dcookie",
        "mount",
        "mount_setattr",
        "move_mount",
        "move_pages",
        "mpx",
        "name_to_handle_at",
        "nfsservctl",
        "open_by_handle_at",
        "open_tree",
        "perf_event_open",
        "pivot_root",
        "process_vm_readv",
        "process_vm_writev",
        "prof",
        "profil",
        "ptrace",
        "putpmsg",
        "query_module",
        "quotactl",
        "quotactl_fd",
        "reboot",
        "request_key",
        "security",
        "setns",
        "settimeofday",
        "stime",
        "stty",
        "swapoff",
        "swapon",
        "_sysctl",
        "sysfs",
        "syslog",
        "tuxcall",
        "ulimit",
        "umount",
        "umount2",
        "uselib",
        "userfaultfd",
        "ustat",
        "vhangup",
        "vm86",
        "vm86old",
        "vserver",
        "get_mempolicy",
        "set_mempolicy",
        "mbind",
};

static const uint64_t fixture_ns_flags[] = {
        CLONE_NEWUSER, CLONE_NEWNS,  CLONE_NEWPID,    CLONE_NEWNET,
        CLONE_NEWUTS,  CLONE_NEWIPC, CLONE_NEWCGROUP,
};

static inline PlanSyscallRule *fixture_push(PlanSeccomp *p, const char *name, int err) {
        PlanSyscallRule *r;

        p->rules = realloc(p->rules, (p->n_rules + 1) * sizeof(PlanSyscallRule));
        if (!p->rules)
                abort();
        r = &p->rules[p->n_rules++];
        *r = (PlanSyscallRule){
                .name = strdup(name),
                .action = SECCOMP_ACTION_ERRNO,
                .errno_value = err,
                .group = strdup("fixture"),
                .origin = strdup("tests/unit/sys/seccomp-fixture.h"),
        };
        return r;
}

static inline void fixture_arg(PlanSyscallRule *r, unsigned arg, ArgOp op, uint64_t mask,
                               uint64_t value) {
        r->args[r->n_args++] = (PlanArgCmp){ .arg = arg, .op = op, .mask = mask, .value = value };
}

static inline char **fixture_arches(bool with_i386) {
        char **a = calloc(4, sizeof(char *));

        if (!a)
                abort();
        a[0] = strdup("x86_64");
        a[1] = strdup("x32");
        if (with_i386)
                a[2] = strdup("x86");
        return a;
}

/* The default-like set: unconditional EPERM list, namespace flags of clone/unshare, TIOCSTI
 * and TIOCLINUX, AF_PACKET sockets, the BSD personality, clone3 -> ENOSYS. */
static inline void fixture_default_seccomp(PlanSeccomp *p, bool notify) {
        PlanSyscallRule *r;

        *p = (PlanSeccomp){
                .status = CONTROL_REQUIRED,
                .default_action = SECCOMP_ACTION_ALLOW,
                .arches = fixture_arches(true),
                .foreign_arch_action = SECCOMP_ACTION_KILL,
                .base = strdup("fixture"),
                .notify_denials = notify,
        };
        for (size_t i = 0; i < sizeof(fixture_deny_eperm) / sizeof(fixture_deny_eperm[0]); i++)
                fixture_push(p, fixture_deny_eperm[i], EPERM);
        for (size_t i = 0; i < sizeof(fixture_ns_flags) / sizeof(fixture_ns_flags[0]); i++) {
                r = fixture_push(p, "unshare", EPERM);
                fixture_arg(r, 0, ARG_OP_MASKED_EQ, fixture_ns_flags[i], fixture_ns_flags[i]);
                r = fixture_push(p, "clone", EPERM);
                fixture_arg(r, 0, ARG_OP_MASKED_EQ, fixture_ns_flags[i], fixture_ns_flags[i]);
        }
        /* ioctl's request is an unsigned int: compare the low 32 bits only, or a caller could
         * set high bits the kernel ignores and slip past an exact comparison. */
        r = fixture_push(p, "ioctl", EPERM);
        fixture_arg(r, 1, ARG_OP_MASKED_EQ, 0xffffffffu, TIOCSTI);
        r = fixture_push(p, "ioctl", EPERM);
        fixture_arg(r, 1, ARG_OP_MASKED_EQ, 0xffffffffu, TIOCLINUX);
        r = fixture_push(p, "socket", EPERM);
        fixture_arg(r, 0, ARG_OP_MASKED_EQ, 0xffffffffu, AF_PACKET);
        r = fixture_push(p, "personality", EPERM);
        fixture_arg(r, 0, ARG_OP_MASKED_EQ, 0xffffffffu, PER_BSD);
        fixture_push(p, "clone3", ENOSYS);
}

static inline void fixture_seccomp_done(PlanSeccomp *p) {
        for (size_t i = 0; i < p->n_rules; i++) {
                free(p->rules[i].name);
                free(p->rules[i].group);
                free(p->rules[i].origin);
        }
        free(p->rules);
        for (char **a = p->arches; a && *a; a++)
                free(*a);
        free(p->arches);
        free(p->base);
        *p = (PlanSeccomp){};
}

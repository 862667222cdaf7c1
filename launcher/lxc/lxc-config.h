/* SPDX-License-Identifier: MIT */
/* PURE. A system-tier plan -> every liblxc configuration key of the container, and the
 * seccomp policy in liblxc's own text format. No defaults of liblxc are relied on: each key
 * that decides a boundary is written (LXC-NOTES P1: the API's defaults are a privileged
 * container with every capability, no seccomp, a writable image and a host pty on
 * /dev/console). A plan element that has no faithful lxc form is an error naming it, never
 * skipped. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host/host.h"
#include "plan/plan.h"

typedef struct LxcParams {
        const char *run_dir; /* per-run directory: upper, work, seccomp, gate fifo, ... */
        const char *lower;   /* the image tree the overlay reads (shifted for a range map) */
        const char *gate;    /* host path of moat-system-gate */
        const char *workdir; /* the run's work directory (PLAN_MOUNT_WORKDIR sources) */
        const char *id;      /* run id: names the per-run cgroup directory */
        uint32_t uid_base, gid_base; /* host ids of uid/gid 0 inside */
        uint32_t id_count;           /* 65536 (range) or 1 (single) */
        CgroupLayout layout;         /* the host's, chooses lxc.cgroup.* or lxc.cgroup2.* */
        bool has_memsw;              /* v1 swap accounting: memory+swap bounded too ("no swap") */
        bool apparmor_enabled;       /* the host's: liblxc's AppArmor driver is the active one */
        /* boot mode with systemd as pid 1 (the executor resolved the image's init): pid 1 runs
         * under the boot confinement (lxc_boot_capbnd(), lxc_seccomp_boot_text(), /sys read-only,
         * /run a tmpfs, readiness reported on RUN/notify), the command gets the plan's own
         * bounding set and filter from the gate (bound a second time at /.moat-enter) */
        bool systemd;
        unsigned cap_last; /* the host's /proc/sys/kernel/cap_last_cap */
        /* What a mask's target is inside the container: 'd' directory, 'f' anything else, 0
         * absent (the executor looks in the image, or in /proc, which the container shares
         * the layout of). liblxc's "optional" skips only a missing target, not a wrong kind. */
        char (*target_kind)(const char *target, void *userdata);
        void *userdata;
} LxcParams;

typedef struct LxcKey {
        char *key, *value;
} LxcKey;

typedef struct LxcConfig {
        LxcKey *keys;
        size_t n_keys;
} LxcConfig;

void lxc_config_done(LxcConfig *c);

/* Fills c; on an element that cannot be expressed, returns -EOPNOTSUPP with a sentence in err
 * naming the control. */
int lxc_config_build(const Plan *p, const LxcParams *params, LxcConfig *c, char *err,
                     size_t err_size);

/* liblxc's seccomp v2 text for the plan's rules ("2\ndenylist\n[all]\nNAME errno N [..]\n");
 * liblxc adds each rule to every compat ABI of the host (x86_64, i386, x32) and kills others. */
int lxc_seccomp_text(const PlanSeccomp *s, char **ret, char *err, size_t err_size);

/* Whether the gate, not liblxc, loads the plan's seccomp filter: command mode, where pid 1 is
 * the gate, unless the plan keeps sys_ptrace: then liblxc loads it into pid 1 before the gate
 * runs, as in boot mode (the gate loaded it before its checks and the command from the start,
 * when pid 1 was liblxc's own init; the rule stayed as it was). */
bool lxc_gate_loads_filter(const Plan *p);

/* The capability bounding set the plan keeps, as the 64-bit mask /proc/PID/status prints. */
uint64_t lxc_plan_capbnd(const Plan *p);

/* systemd as pid 1 (boot mode): the capabilities it runs without (lxc.cap.drop, a space-separated
 * list of lxc names) and the bounding set that leaves on a host whose last capability is
 * cap_last. */
extern const char lxc_boot_cap_drop[];
uint64_t lxc_boot_capbnd(unsigned cap_last);

/* systemd as pid 1: the plan's rules with what systemd cannot run without relaxed, each relaxed
 * call still kept from what the plan denies it for (LXC-NOTES §3.1, P7-P9):
 *   mount         allowed, except a remount without MS_RDONLY (no ro bind, mask or /proc/sys
 *                 made writable): "mount errno 1 [3,32,SCMP_CMP_MASKED_EQ,33]"
 *   umount(2)     denied (EPERM) whatever the plan says: no mask or ro bind unmounted
 *   mount_setattr denied with ENOSYS (systemd then falls back to mount(2))
 *   personality   allowed (journald's LockPersonality= queries it; denying it fails journald)
 *   unshare       an unconditional deny becomes a deny of every flag set but
 *                 LXC_LOCK_MOUNTS_UNSHARE, which pid 1 makes before systemd exists (gate.c
 *                 lock_mounts()) and then denies itself for good with a filter of its own
 * The command never runs under this filter alone: the gate stacks the plan's on top of it. */
int lxc_seccomp_boot_text(const PlanSeccomp *s, char **ret, char *err, size_t err_size);

/* CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP: the one unshare(2) of systemd's pid 1 (gate.c
 * lock_mounts()) */
#define LXC_LOCK_MOUNTS_UNSHARE 0x12020000ULL

/* systemd as pid 1: the image's generators that have nothing to generate in a moat container,
 * NULL-terminated. The executor links each name to /dev/null in RUN/generators, bound read-only
 * at /run/systemd/system-generators, where systemd takes a link to /dev/null as a mask (as in
 * /etc/systemd/system-generators). Each costs an exec of a program linked against
 * libsystemd-shared at boot (13-19 ms of CPU each, measured in the container). A generator not
 * in the list, or one of another name in another systemd version, runs as the image has it:
 * fstab, rc-local, sysv and system-update (the image's own configuration) always do. */
extern const char *const lxc_systemd_masked_generators[];

/* SPDX-License-Identifier: MIT */
/* PURE. Plan -> lxc keys (lxc-config.h). The mapping, control by control, with what liblxc
 * would do if the key were left out (LXC-NOTES §3, §7):
 *   userns        lxc.idmap u/g 0 BASE COUNT         (else: a privileged container)
 *   root          lxc.rootfs.path overlay:IMAGE:RUN/upper  (dir: would write the image)
 *   proc, sys     lxc.mount.auto proc:mixed [sys:ro] cgroup:ro:force
 *   dev           lxc.autodev 1, lxc.console.path none, lxc.tty.max 0, lxc.pty.max 0
 *   network       lxc.net.0.type empty (+ flags up for loopback and outbound)
 *   caps          lxc.cap.keep (none or the plan's list; sys_admin is never kept in command
 *                 mode, so no ro bind or mask can be remounted or unmounted, P7/P8)
 *   no_new_privs  lxc.no_new_privs 1
 *   seccomp       boot mode: lxc.seccomp.profile RUN/seccomp + allow_nesting 1 (P4);
 *                 command mode: RUN/filter (moat's compiled program) bound at /.moat-filter,
 *                 stacked by the gate on itself before its checks and the command
 *   cgroups       lxc.cgroup.relative 1 and three dirs under moat-ID; v1 or v2 keys by the
 *                 host's layout, never the other family (P6)
 *   rlimits       lxc.prlimit.*
 *   apparmor      lxc.apparmor.profile (the plan's; "unchanged" on an AppArmor host without
 *                 one), allow_incomplete 0, allow_nesting 0
 *   selinux       lxc.selinux.context (+ .keyring) when the plan has one
 *   mounts        lxc.mount.entry per plan mount, binds rbind with their modes */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "basic/macros.h"
#include "lxc-config.h"
#include "plan/plan-internal.h"

void lxc_config_done(LxcConfig *c) {
        for (size_t i = 0; c && i < c->n_keys; i++) {
                free(c->keys[i].key);
                free(c->keys[i].value);
        }
        if (c) {
                free(c->keys);
                *c = (LxcConfig){};
        }
}

_printf_(3, 4) static int add(LxcConfig *c, const char *key, const char *fmt, ...) {
        LxcKey *k = realloc(c->keys, (c->n_keys + 1) * sizeof(*k));
        va_list ap;
        char *v;
        int r;

        if (!k)
                return -ENOMEM;
        c->keys = k;
        va_start(ap, fmt);
        r = vasprintf(&v, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        k[c->n_keys].key = strdup(key);
        k[c->n_keys].value = v;
        if (!k[c->n_keys].key) {
                free(v);
                return -ENOMEM;
        }
        c->n_keys++;
        return 0;
}

_printf_(3, 4) static int fail(char *err, size_t size, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, size, fmt, ap);
        va_end(ap);
        return -EOPNOTSUPP;
}

bool lxc_gate_loads_filter(const Plan *p) {
        return !p->system.boot && p->sandbox.seccomp.status != CONTROL_NOT_APPLICABLE &&
               !(lxc_plan_capbnd(p) & (1ULL << 19 /* CAP_SYS_PTRACE */));
}

uint64_t lxc_plan_capbnd(const Plan *p) {
        uint64_t m = 0;
        for (size_t i = 0; i < p->sandbox.n_caps_keep; i++)
                if (p->sandbox.caps_keep[i] >= 0 && p->sandbox.caps_keep[i] < 64)
                        m |= 1ULL << p->sandbox.caps_keep[i];
        return m;
}

/* systemd as pid 1 keeps what it needs to set up the container's OS as its root (mounts,
 * cgroups, services under other users) and none of what reaches the kernel or the host beyond
 * its user namespace. The numbers are the kernel's (linux/capability.h). */
static const struct {
        const char *name;
        unsigned nr;
} boot_drop[] = {
        { "sys_module", 16 },   { "sys_rawio", 17 },     { "sys_pacct", 20 },
        { "sys_boot", 22 },     { "sys_time", 25 },      { "audit_control", 30 },
        { "mac_override", 32 }, { "mac_admin", 33 },     { "syslog", 34 },
        { "wake_alarm", 35 },   { "block_suspend", 36 }, { "audit_read", 37 },
        { "perfmon", 38 },      { "bpf", 39 },
};

const char lxc_boot_cap_drop[] =
        "sys_module sys_rawio sys_pacct sys_boot sys_time audit_control "
        "mac_override mac_admin syslog wake_alarm block_suspend "
        "audit_read perfmon bpf";

uint64_t lxc_boot_capbnd(unsigned cap_last) {
        uint64_t m = cap_last >= 63 ? UINT64_MAX : (1ULL << (cap_last + 1)) - 1;
        for (size_t i = 0; i < ELEMENTSOF(boot_drop); i++)
                m &= ~(1ULL << boot_drop[i].nr);
        return m;
}

static const char *cmp_op(ArgOp op) {
        switch (op) {
        case ARG_OP_EQ:
                return "SCMP_CMP_EQ";
        case ARG_OP_NE:
                return "SCMP_CMP_NE";
        case ARG_OP_MASKED_EQ:
                return "SCMP_CMP_MASKED_EQ";
        default:
                return NULL;
        }
}

int lxc_seccomp_text(const PlanSeccomp *s, char **ret, char *err, size_t err_size) {
        _cleanup_free_ char *out = NULL;
        size_t len = 0;
        FILE *f;

        if (s->default_action != SECCOMP_ACTION_ALLOW)
                return fail(err, err_size,
                            "seccomp: an allow-list filter (default %s) has no lxc form here",
                            s->default_action == SECCOMP_ACTION_KILL ? "kill" : "errno");
        if (s->foreign_arch_action != SECCOMP_ACTION_KILL)
                return fail(err, err_size,
                            "seccomp: liblxc kills foreign ABIs; the plan asks for another "
                            "action");
        f = open_memstream(&out, &len);
        if (!f)
                return -ENOMEM;
        /* version 2, a deny list over allow; [all]: every ABI liblxc builds a context for */
        fputs("2\ndenylist\n[all]\n", f);
        for (size_t i = 0; i < s->n_rules; i++) {
                const PlanSyscallRule *r = &s->rules[i];
                switch (r->action) {
                case SECCOMP_ACTION_ERRNO:
                        fprintf(f, "%s errno %d", r->name, r->errno_value);
                        break;
                case SECCOMP_ACTION_KILL:
                        fprintf(f, "%s kill", r->name);
                        break;
                case SECCOMP_ACTION_ALLOW:
                        fprintf(f, "%s allow", r->name);
                        break;
                default:
                        fclose(f);
                        return fail(err, err_size, "seccomp: rule %s has an unknown action",
                                    r->name);
                }
                for (unsigned a = 0; a < r->n_args; a++) {
                        const PlanArgCmp *c = &r->args[a];
                        const char *op = cmp_op(c->op);
                        if (!op) {
                                fclose(f);
                                return fail(err, err_size,
                                            "seccomp: rule %s compares an argument in a way "
                                            "liblxc cannot express",
                                            r->name);
                        }
                        /* liblxc's order for MASKED_EQ is value, then mask (libseccomp's is
                         * the reverse) */
                        if (c->op == ARG_OP_MASKED_EQ)
                                fprintf(f, " [%u,%" PRIu64 ",%s,%" PRIu64 "]", c->arg, c->value, op,
                                        c->mask);
                        else
                                fprintf(f, " [%u,%" PRIu64 ",%s]", c->arg, c->value, op);
                }
                fputc('\n', f);
        }
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(out);
        return 0;
}

int lxc_seccomp_boot_text(const PlanSeccomp *s, char **ret, char *err, size_t err_size) {
        static const char *const relaxed[] = { "mount", "umount", "umount2", "personality",
                                               "mount_setattr" };
        _cleanup_free_ PlanSyscallRule *rules = calloc(s->n_rules ? s->n_rules : 1, sizeof(*rules));
        _cleanup_free_ char *text = NULL;
        PlanSeccomp copy = *s;
        char *out;
        int r;

        if (!rules)
                return -ENOMEM;
        copy.rules = rules;
        copy.n_rules = 0;
        for (size_t i = 0; i < s->n_rules; i++) {
                bool skip = false;
                for (size_t k = 0; k < ELEMENTSOF(relaxed) && !skip; k++)
                        skip = strcmp(s->rules[i].name, relaxed[k]) == 0;
                if (skip)
                        continue;
                rules[copy.n_rules] = s->rules[i];
                if (strcmp(s->rules[i].name, "unshare") == 0 && s->rules[i].n_args == 0) {
                        /* all but pid 1's move into the nested namespaces (gate.c lock_mounts(),
                         * which then stacks a filter that denies unshare outright) */
                        PlanSyscallRule *u = &rules[copy.n_rules];
                        u->n_args = 1;
                        u->args[0] = (PlanArgCmp){ .arg = 0,
                                                   .op = ARG_OP_NE,
                                                   .value = LXC_LOCK_MOUNTS_UNSHARE };
                }
                copy.n_rules++;
        }
        r = lxc_seccomp_text(&copy, &text, err, err_size);
        if (r < 0)
                return r;
        /* 32 = MS_REMOUNT, 33 = MS_REMOUNT|MS_RDONLY: liblxc's order is value, then mask */
        if (asprintf(&out,
                     "%smount errno 1 [3,32,SCMP_CMP_MASKED_EQ,33]\n"
                     "umount errno 1\n"
                     "umount2 errno 1\n"
                     "mount_setattr errno 38\n",
                     text) < 0)
                return -ENOMEM;
        *ret = out;
        return 0;
}

static int cgroup_keys(const Plan *p, const LxcParams *x, LxcConfig *c, char *err, size_t size) {
        const PlanResources *res = &p->resources;
        int r = 0;

        /* every cgroup of the run under one directory, relative to the runner's own cgroup, so
         * that liblxc never creates a cgroup elsewhere and the guard can remove them all */
        if ((r = add(c, "lxc.cgroup.relative", "1")) < 0 ||
            (r = add(c, "lxc.cgroup.dir.monitor", "moat-%s/monitor", x->id)) < 0 ||
            (r = add(c, "lxc.cgroup.dir.container", "moat-%s/payload", x->id)) < 0 ||
            (r = add(c, "lxc.cgroup.dir.monitor.pivot", "moat-%s", x->id)) < 0)
                return r;
        switch (res->mechanism) {
        case CGROUP_MECH_NONE:
        case CGROUP_MECH_RLIMIT: /* the rlimits below; the plan says degraded and why */
                return 0;
        case CGROUP_MECH_V1:
                /* liblxc ignores lxc.cgroup.* on a pure v2 host (P6): the plan's mechanism
                 * came from host facts; if they changed since, refuse */
                if (x->layout != CGROUP_LAYOUT_V1 && x->layout != CGROUP_LAYOUT_HYBRID)
                        return fail(err, size,
                                    "cgroup limits: the plan uses cgroup v1, which this host "
                                    "does not have (liblxc would ignore the keys)");
                if (res->memory &&
                    ((r = add(c, "lxc.cgroup.memory.limit_in_bytes", "%" PRIu64, res->memory)) < 0))
                        return r;
                /* the plan says "no swap": memory+swap at the same bound, or refuse */
                if (res->memory && !x->has_memsw)
                        return fail(err, size,
                                    "cgroup.memory: this host has no swap accounting "
                                    "(memory.memsw), so memory could spill to swap");
                if (res->memory && (r = add(c, "lxc.cgroup.memory.memsw.limit_in_bytes", "%" PRIu64,
                                            res->memory)) < 0)
                        return r;
                if (res->pids && (r = add(c, "lxc.cgroup.pids.max", "%" PRIu64, res->pids)) < 0)
                        return r;
                if (res->cpus_milli &&
                    ((r = add(c, "lxc.cgroup.cpu.cfs_period_us", "100000")) < 0 ||
                     (r = add(c, "lxc.cgroup.cpu.cfs_quota_us", "%u", res->cpus_milli * 100)) < 0))
                        return r;
                return 0;
        case CGROUP_MECH_V2:
                /* on a hybrid or v1 host liblxc logs "Ignoring cgroup2 limits on legacy cgroup
                 * system" and runs the container without them (P6): refuse instead */
                /* (cpu_time alone needs no key: the executor reads cpu.stat, which every v2
                 * cgroup has, in the hybrid host's unified hierarchy too) */
                if (x->layout != CGROUP_LAYOUT_V2 && (res->memory || res->pids || res->cpus_milli))
                        return fail(err, size,
                                    "cgroup limits: the plan uses cgroup v2 keys, but this host's "
                                    "cgroups are %s and liblxc would silently ignore them",
                                    x->layout == CGROUP_LAYOUT_HYBRID ? "hybrid" : "v1");
                if (res->memory &&
                    ((r = add(c, "lxc.cgroup2.memory.max", "%" PRIu64, res->memory)) < 0 ||
                     (r = add(c, "lxc.cgroup2.memory.swap.max", "0")) < 0))
                        return r;
                if (res->pids && (r = add(c, "lxc.cgroup2.pids.max", "%" PRIu64, res->pids)) < 0)
                        return r;
                if (res->cpus_milli &&
                    (r = add(c, "lxc.cgroup2.cpu.max", "%u 100000", res->cpus_milli * 100)) < 0)
                        return r;
                return 0;
        default:
                return fail(err, size, "cgroup limits: unknown mechanism");
        }
}

/* The plan's label. liblxc arms it for the next exec (aa_change_onexec / setexeccon) after
 * the container is set up: the first program exec'd inside carries it. Without the LSM liblxc
 * ignores both keys silently (P5), so the executor reads the label back from the host. Without
 * a label in the plan, "unchanged" on an AppArmor host: the container keeps moat's own, as a
 * sandbox-tier run does (liblxc would otherwise pick its lxc-container-default-cgns, or fail
 * the start where that profile is not loaded). No SELinux context: liblxc changes nothing. */
static int mac_keys(const Plan *p, const LxcParams *x, LxcConfig *c) {
        const PlanSandbox *s = &p->sandbox;
        int r;

        /* "unchanged" only where liblxc's AppArmor driver is active: a liblxc built without
         * AppArmor refuses the key, and on a host without it nothing would be changed anyway */
        if ((s->apparmor_profile || x->apparmor_enabled) &&
            (r = add(c, "lxc.apparmor.profile", "%s",
                     s->apparmor_profile ? s->apparmor_profile : "unchanged")) < 0)
                return r;
        /* a kernel without AppArmor's mount mediation: refuse the start rather than run with
         * the profile's mount rules unenforced; no nested AppArmor namespace for the workload */
        if (s->apparmor_profile && ((r = add(c, "lxc.apparmor.allow_incomplete", "0")) < 0 ||
                                    (r = add(c, "lxc.apparmor.allow_nesting", "0")) < 0))
                return r;
        if (s->selinux_context &&
            ((r = add(c, "lxc.selinux.context", "%s", s->selinux_context)) < 0 ||
             (r = add(c, "lxc.selinux.context.keyring", "%s", s->selinux_context)) < 0))
                return r;
        return 0;
}

static void limit_str(uint64_t v, char *buf, size_t size) {
        if (v == UINT64_MAX)
                snprintf(buf, size, "unlimited");
        else
                snprintf(buf, size, "%" PRIu64, v);
}

static int mount_keys(const Plan *p, const LxcParams *x, LxcConfig *c, char *err, size_t size) {
        const PlanSandbox *s = &p->sandbox;
        int r = 0;

        for (size_t i = 0; r >= 0 && i < s->n_mounts; i++) {
                const PlanMount *m = &s->mounts[i];
                const char *t = m->target + strspn(m->target, "/"); /* relative to the rootfs */
                bool opt = m->flags & PLAN_MOUNT_OPTIONAL;
                char flags[96];

                snprintf(flags, sizeof(flags), "%s%s%s%s",
                         m->flags & PLAN_MOUNT_RDONLY ? ",ro" : "",
                         m->flags & PLAN_MOUNT_NOSUID ? ",nosuid" : "",
                         m->flags & PLAN_MOUNT_NODEV ? ",nodev" : "",
                         m->flags & PLAN_MOUNT_NOEXEC ? ",noexec" : "");
                switch (m->kind) {
                case PLAN_MOUNT_BIND:
                        if (strcmp(m->target, "/") == 0) /* the root: the overlay instead */
                                break;
                        if (m->flags & PLAN_MOUNT_WORKDIR)
                                r = add(c, "lxc.mount.entry",
                                        "%s%s%s %s none rbind%s,create=dir%s 0 0", x->workdir,
                                        m->source[0] ? "/" : "", m->source, t, flags,
                                        opt ? ",optional" : "");
                        else
                                r = add(c, "lxc.mount.entry", "%s %s none rbind%s,create=dir%s 0 0",
                                        m->source, t, flags, opt ? ",optional" : "");
                        break;
                case PLAN_MOUNT_TMPFS:
                        r = add(c, "lxc.mount.entry",
                                "tmpfs %s tmpfs rw%s,size=%" PRIu64 ",mode=1777,create=dir 0 0", t,
                                flags, m->size);
                        break;
                case PLAN_MOUNT_PROC: /* lxc.mount.auto */
                        break;
                case PLAN_MOUNT_DEV:
                        /* lxc.autodev makes the nodes; shm as in the sandbox tier: sticky,
                         * world-writable, not executable (64 MiB, counted by the memory cgroup) */
                        r = add(c, "lxc.mount.entry",
                                "tmpfs dev/shm tmpfs rw,nosuid,nodev,noexec,mode=1777,size=64m,"
                                "create=dir 0 0");
                        break;
                case PLAN_MOUNT_SYS: /* lxc.mount.auto sys:ro */
                        break;
                case PLAN_MOUNT_MASK: {
                        /* a file: /dev/null over it; a directory: an empty read-only tmpfs */
                        char k = x->target_kind ? x->target_kind(m->target, x->userdata) : 0;
                        if (k == 'f')
                                r = add(c, "lxc.mount.entry", "/dev/null %s none bind,ro 0 0", t);
                        else if (k == 'd')
                                r = add(c, "lxc.mount.entry",
                                        "tmpfs %s tmpfs ro,nosuid,nodev,noexec,size=4k 0 0", t);
                        else if (!opt)
                                return fail(err, size, "mask %s: no such path in the container",
                                            m->target);
                        break;
                }
                case PLAN_MOUNT_READONLY:
                        /* /proc/sys is read-only through proc:mixed; the others are host-wide
                         * proc directories, bound read-only from the host's own /proc */
                        if (strcmp(m->target, "/proc/sys") == 0)
                                break;
                        r = add(c, "lxc.mount.entry",
                                "%s %s none rbind,ro,nosuid,nodev,noexec%s 0 0", m->target, t,
                                opt ? ",optional" : "");
                        break;
                case PLAN_MOUNT_IDENTITY:
                        /* /etc/machine-id is written into the run's upper layer; boot_id is a
                         * file of the run directory bound over the kernel's */
                        if (strcmp(m->source, "boot-id") == 0)
                                r = add(c, "lxc.mount.entry",
                                        "%s/boot_id %s none bind,ro,optional 0 0", x->run_dir, t);
                        break;
                default:
                        return fail(err, size,
                                    "mount %s: a %s mount has no system-tier form (it belongs to a "
                                    "host-readonly root)",
                                    m->target, plan_mount_kind_to_string(m->kind));
                }
        }
        return r;
}

/* Why each has nothing to do here: no block device in the container, so nothing for
 * /etc/crypttab, integritytab or veritytab, nor a GPT partition to find (gpt-auto exits in a
 * container anyway) nor a resume device (an initrd's); console "none" and no container_ttys,
 * so no getty (console-getty also needs /dev/console); and pid 1's command line, which debug
 * and run read their systemd.* options from in a container, is the image's init path alone. */
const char *const lxc_systemd_masked_generators[] = {
        "systemd-cryptsetup-generator",
        "systemd-integritysetup-generator",
        "systemd-veritysetup-generator",
        "systemd-gpt-auto-generator",
        "systemd-hibernate-resume-generator",
        "systemd-getty-generator",
        "systemd-debug-generator",
        "systemd-run-generator",
        NULL,
};

/* systemd as pid 1: its /run (a tmpfs, as on a booted host; systemd would mount one itself
 * where none is) with the masks of lxc_systemd_masked_generators; the container's POSIX
 * message queues at /dev/mqueue, mounted in its own IPC namespace as systemd-nspawn does
 * (systemd would otherwise start dev-mqueue.mount, a /bin/mount on its way to sysinit.target:
 * 20-50 ms here); the container's identity for it (container=lxc: no hardware, no consoles,
 * exit on poweroff); and the datagram socket on which it reports READY=1 once its boot has
 * finished (NOTIFY_SOCKET, as systemd-nspawn's --notify-ready). The gate again at /.moat-enter,
 * as pid 1 first (with pid 1's own filter at /.moat-boot-filter: gate.c lock_mounts()) and for
 * the command (with the plan's compiled filter at /.moat-filter: gate.c enter()). */
static int systemd_keys(const LxcParams *x, LxcConfig *c) {
        int r;
        if ((r = add(c, "lxc.environment", "container=lxc")) < 0 ||
            (r = add(c, "lxc.environment", "NOTIFY_SOCKET=/.moat-notify")) < 0 ||
            (r = add(c, "lxc.signal.halt", "SIGRTMIN+3")) < 0 ||
            (r = add(c, "lxc.mount.entry",
                     "tmpfs run tmpfs rw,nosuid,nodev,mode=755,size=64m,create=dir 0 0")) < 0 ||
            (r = add(c, "lxc.mount.entry",
                     "%s/generators run/systemd/system-generators none "
                     "bind,ro,nosuid,nodev,noexec,create=dir 0 0",
                     x->run_dir)) < 0 ||
            (r = add(c, "lxc.mount.entry",
                     "mqueue dev/mqueue mqueue rw,nosuid,nodev,noexec,create=dir 0 0")) < 0 ||
            (r = add(c, "lxc.mount.entry", "%s/notify .moat-notify none bind,create=file 0 0",
                     x->run_dir)) < 0 ||
            (r = add(c, "lxc.mount.entry", "%s .moat-enter none bind,ro,create=file 0 0",
                     x->gate)) < 0 ||
            (r = add(c, "lxc.mount.entry", "%s/filter .moat-filter none bind,ro,create=file 0 0",
                     x->run_dir)) < 0 ||
            (r = add(c, "lxc.mount.entry", "%s/%s .moat-boot-filter none bind,ro,create=file 0 0",
                     x->run_dir, "boot-filter")) < 0)
                return r;
        return 0;
}

static int build(const Plan *p, const LxcParams *x, LxcConfig *c, char *err, size_t size) {
        const PlanSandbox *s = &p->sandbox;
        _cleanup_free_ char *caps = NULL;
        bool sys = false;
        int r;

        *c = (LxcConfig){};
        /* boot mode: the image's init as pid 1, under the same keys as command mode (no
         * capability beyond the plan's, the plan's seccomp filter): an init that needs more
         * (systemd: capabilities, mounts, personality) is refused by the executor */
        if (p->system.boot && (!p->system.init || p->system.init[0] != '/'))
                return fail(err, size, "boot mode: os.init must be an absolute path in the image");
        if (x->systemd && !p->system.boot)
                return fail(err, size, "systemd runs as pid 1 in boot mode only");
        if (x->systemd && s->seccomp.status == CONTROL_NOT_APPLICABLE)
                return fail(err, size,
                            "boot mode with systemd: the plan has no seccomp filter, and systemd's "
                            "boot confinement is built on it (remounts and umount denied)");
        if (s->network != NETWORK_NONE && s->network != NETWORK_LOOPBACK &&
            s->network != NETWORK_OUTBOUND)
                return fail(err, size,
                            "network %s: the system tier offers none, loopback and outbound only",
                            network_mode_to_string(s->network));
        if (s->network == NETWORK_OUTBOUND && (!p->egress.active || p->egress.transparent))
                return fail(err, size,
                            "network outbound: the system tier serves the allowlist through "
                            "moat's proxy only (via: proxy)");
        if (s->apparmor_profile && s->selinux_context)
                return fail(err, size,
                            "apparmor/selinux: one label per run (liblxc applies the first LSM "
                            "it finds and ignores the other)");
        /* cpu_time and output are moat's own (the executor's watcher on the container's
         * cgroup, and its relay): no lxc key. disk is not built here: refused, never dropped */
        if (p->resources.disk)
                return fail(err, size,
                            "disk: the run's overlay layer is on the host and not bounded in the "
                            "system tier yet");
        for (size_t i = 0; i < s->n_caps_keep; i++)
                if (s->caps_keep[i] == 21 /* CAP_SYS_ADMIN */)
                        return fail(err, size,
                                    "caps: sys_admin would let container root remount read-only "
                                    "binds writable and unmount masks");

        /* a user other than root inside needs more than one id */
        if ((s->uid_inside != 0 || s->gid_inside != 0) &&
            (s->uid_inside >= x->id_count || s->gid_inside >= x->id_count))
                return fail(
                        err, size,
                        "uid %u gid %u inside needs a range map of several ids, which only root "
                        "can set up on this host (no newuidmap); a user's container has uid 0 "
                        "only",
                        (unsigned) s->uid_inside, (unsigned) s->gid_inside);
        r = add(c, "lxc.uts.name", "%s", s->hostname ? s->hostname : "moat");
        /* systemd: the gate first, which locks liblxc's mounts for it (gate.c lock_mounts()) */
        if (r >= 0 && p->system.boot)
                r = x->systemd ? add(c, "lxc.init.cmd",
                                     "/.moat-enter --lock-mounts /.moat-boot-filter -- %s",
                                     p->system.init)
                               : add(c, "lxc.init.cmd", "%s", p->system.init);
        /* the command's user: pid 1's in command mode, the attach's in boot mode */
        if (r >= 0 && !p->system.boot && (s->uid_inside != 0 || s->gid_inside != 0)) {
                r = add(c, "lxc.init.uid", "%u", (unsigned) s->uid_inside);
                if (r >= 0)
                        r = add(c, "lxc.init.gid", "%u", (unsigned) s->gid_inside);
        }
        if (r >= 0)
                r = add(c, "lxc.idmap", "u 0 %u %u", x->uid_base, x->id_count);
        if (r >= 0)
                r = add(c, "lxc.idmap", "g 0 %u %u", x->gid_base, x->id_count);
        if (r >= 0)
                r = add(c, "lxc.rootfs.path", "overlay:%s:%s/upper", x->lower, x->run_dir);
        /* the writable layer is thrown away after the run: no sync of it to the disk, at the
         * container's syncfs or at the unmount that ends the run (overlayfs "volatile") */
        if (r >= 0)
                r = add(c, "lxc.rootfs.options", "volatile");
        for (size_t i = 0; i < s->n_mounts; i++)
                sys = sys || s->mounts[i].kind == PLAN_MOUNT_SYS;
        /* /sys (and the cgroup tree under it, read-only) only when the plan has a /sys */
        /* systemd needs /sys and mounts its own cgroup tree (its subtree is delegated to the
         * container's root); the command sees them too */
        if (r >= 0 && x->systemd)
                r = add(c, "lxc.mount.auto", "proc:mixed sys:ro cgroup:mixed");
        else if (r >= 0)
                r = add(c, "lxc.mount.auto", "proc:mixed%s", sys ? " sys:ro cgroup:ro:force" : "");
        if (r >= 0)
                r = add(c, "lxc.autodev", "1");
        if (r >= 0)
                r = add(c, "lxc.console.path", "none");
        if (r >= 0)
                r = add(c, "lxc.tty.max", "0");
        if (r >= 0)
                r = add(c, "lxc.pty.max", "0");
        if (r >= 0)
                r = add(c, "lxc.net.0.type", "empty");
        /* outbound: loopback only as well; the proxy's listener is made in it from the host */
        if (r >= 0 && (s->network == NETWORK_LOOPBACK || s->network == NETWORK_OUTBOUND))
                r = add(c, "lxc.net.0.flags", "up");
        /* the namespaces: liblxc's default set plus time when the plan has it */
        if (r >= 0)
                r = add(c, "lxc.namespace.clone", "cgroup ipc mnt net pid user uts%s",
                        s->time_ns ? " time" : "");
        if (r >= 0)
                r = add(c, "lxc.no_new_privs", "1");
        for (size_t i = 0; r >= 0 && i < s->n_caps_keep; i++) {
                const char *n = capability_to_name(s->caps_keep[i]);
                if (!n)
                        return fail(err, size, "caps: capability %d has no name", s->caps_keep[i]);
                r = plan_append(&caps, " ", "%s", n);
        }
        /* systemd keeps what it needs as the OS's root (lxc_boot_cap_drop); the gate lowers the
         * command's bounding set to the plan's before it checks it */
        if (r >= 0 && x->systemd)
                r = add(c, "lxc.cap.drop", "%s", lxc_boot_cap_drop);
        else if (r >= 0)
                r = add(c, "lxc.cap.keep", "%s", caps ? caps : "none");
        /* boot mode: the image's init is the workload's own code from the start, so liblxc
         * loads the filter into pid 1 (and attach into what it attaches). Command mode: pid 1
         * is the gate, which stacks the plan's filter, compiled by moat, on itself before its
         * checks and before it forks the command (gate.c), and the host checks it there as
         * before. liblxc's own compile of the policy (three ABIs) was the largest part of its
         * start. A plan that keeps sys_ptrace has liblxc load it into pid 1 before the gate
         * runs (lxc_gate_loads_filter()). */
        if (r >= 0 && s->seccomp.status != CONTROL_NOT_APPLICABLE && !lxc_gate_loads_filter(p)) {
                r = add(c, "lxc.seccomp.profile", "%s/seccomp", x->run_dir);
                if (r >= 0)
                        r = add(c, "lxc.seccomp.allow_nesting", "1");
        }
        if (r >= 0)
                r = mac_keys(p, x, c);
        if (r >= 0)
                r = cgroup_keys(p, x, c, err, size);
        for (size_t i = 0; r >= 0 && i < s->n_rlimits; i++) {
                const char *n = rlimit_to_name(s->rlimits[i].resource);
                char soft[24], hard[24], key[48];
                if (!n || strcmp(n, "unknown") == 0)
                        return fail(err, size, "rlimits: resource %d has no name",
                                    s->rlimits[i].resource);
                limit_str(s->rlimits[i].soft, soft, sizeof(soft));
                limit_str(s->rlimits[i].hard, hard, sizeof(hard));
                snprintf(key, sizeof(key), "lxc.prlimit.%s", n);
                r = add(c, key, "%s:%s", soft, hard);
        }
        if (r >= 0)
                r = mount_keys(p, x, c, err, size);
        /* the gate, and the fifo through which moat lets it run the command once the host's
         * checks passed; the fifo where it says it waits for that; the status file where it
         * writes why it refused */
        if (r >= 0)
                r = add(c, "lxc.mount.entry", "%s .moat-gate none bind,ro,create=file 0 0",
                        x->gate);
        if (r >= 0)
                r = add(c, "lxc.mount.entry", "%s/go .moat-go none bind,create=file 0 0",
                        x->run_dir);
        if (r >= 0)
                r = add(c, "lxc.mount.entry", "%s/ready .moat-ready none bind,create=file 0 0",
                        x->run_dir);
        if (r >= 0)
                r = add(c, "lxc.mount.entry", "%s/status .moat-status none bind,create=file 0 0",
                        x->run_dir);
        if (r >= 0 && x->systemd)
                r = systemd_keys(x, c);
        else if (r >= 0 && lxc_gate_loads_filter(p))
                r = add(c, "lxc.mount.entry", "%s/filter .moat-filter none bind,ro,create=file 0 0",
                        x->run_dir);
        if (r >= 0)
                r = add(c, "lxc.log.file", "%s/lxc.log", x->run_dir);
        if (r >= 0)
                r = add(c, "lxc.log.level", "WARN");
        return r;
}

int lxc_config_build(const Plan *p, const LxcParams *x, LxcConfig *c, char *err, size_t size) {
        int r = build(p, x, c, err, size);
        if (r < 0) /* nothing half-built is handed out */
                lxc_config_done(c);
        return r;
}

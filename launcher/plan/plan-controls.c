/* SPDX-License-Identifier: MIT */
/* PURE. The flat list of controls that explain prints and the audit record keeps, and the
 * sentences about what the workload can still reach. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "basic/macros.h"
#include "basic/strv.h"
#include "plan-internal.h"

static const char *network_detail(NetworkMode m, bool transparent) {
        if (m == NETWORK_OUTBOUND && transparent)
                return "own network namespace with loopback and slirp4netns's tap; out only "
                       "where moat's nftables rules allow (egress.*)";
        switch (m) {
        case NETWORK_NONE:
                return "empty network namespace: no interface but a loopback that stays down";
        case NETWORK_LOOPBACK:
                return "own network namespace with loopback up; no route out";
        default:
                return "own network namespace with loopback only; out only through moat's proxy "
                       "(egress.*)";
        }
}

static int control_ns(Plan *p) {
        static const struct {
                const char *name, *detail;
        } ns[] = {
                { "mountns", "private mount tree" },
                { "pidns", "own pid 1; host processes invisible" },
                { "netns", NULL },
                { "ipcns", "own System V IPC and POSIX message queues" },
                { "utsns", NULL },
                { "cgroupns", "cgroup root at the sandbox's own cgroup" },
        };
        int r;

        r = plan_add_controlf(p, "userns", CONTROL_REQUIRED, NULL, "uid %u gid %u inside (%s)",
                              (unsigned) p->sandbox.uid_inside, (unsigned) p->sandbox.gid_inside,
                              p->tier == TIER_SYSTEM ? "LXC maps the container's id range"
                                                     : "single-id map of the caller");
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(ns); i++) {
                if (strcmp(ns[i].name, "netns") == 0)
                        r = plan_add_control(
                                p, "netns", CONTROL_REQUIRED,
                                network_detail(p->sandbox.network, p->egress.transparent), NULL);
                else if (strcmp(ns[i].name, "utsns") == 0)
                        r = plan_add_controlf(p, "utsns", CONTROL_REQUIRED, NULL, "hostname %s",
                                              p->sandbox.hostname);
                else
                        r = plan_add_control(p, ns[i].name, CONTROL_REQUIRED, ns[i].detail, NULL);
        }
        if (r < 0)
                return r;
        if (p->sandbox.time_ns)
                return plan_add_control(p, "timens", CONTROL_REQUIRED,
                                        "own monotonic and boot-time clock offsets", NULL);
        return plan_add_control(p, "timens", CONTROL_NOT_APPLICABLE, NULL,
                                "this kernel has no time namespaces");
}

/* Never the value itself: a random one exists only in the run (and its audit record). */
static int control_identity(Plan *p, const Profile *pr) {
        char where[300] = "", fixed[340] = "fixed by the profile";

        if (pr->identity.machine_id) {
                plan_format_pos(&pr->identity.pos, where, sizeof(where));
                if (where[0])
                        snprintf(fixed, sizeof(fixed), "fixed by the profile (%s)", where);
        }
        return plan_add_controlf(p, "machine-id", CONTROL_REQUIRED, NULL,
                                 "own /etc/machine-id, %s; %s",
                                 pr->identity.machine_id ? fixed : "random per run",
                                 p->tier == TIER_VM ? "the guest kernel's own boot_id"
                                                    : "own boot_id, random per run");
}

static int control_fs(Plan *p, const Profile *pr) {
        size_t masks = 0;
        int r;

        for (size_t i = 0; i < p->sandbox.n_mounts; i++) {
                masks += p->sandbox.mounts[i].kind == PLAN_MOUNT_MASK &&
                         strncmp(p->sandbox.mounts[i].target, "/proc/", 6) == 0;
        }
        r = plan_add_control(p, "pivot_root", CONTROL_REQUIRED,
                             "fresh root; the host's root is detached", NULL);
        if (r >= 0 && p->tier == TIER_SYSTEM && pr->fs.root == ROOT_IMAGE)
                r = plan_add_controlf(
                        p, "readonly-root", CONTROL_REQUIRED, NULL,
                        "image %s%s%s never written: the run writes to its own overlay "
                        "layer, discarded at the end",
                        pr->fs.image_name ? pr->fs.image_name : pr->fs.image,
                        pr->fs.image_name ? " sha256:" : "",
                        pr->fs.image_name ? pr->fs.image_digest : "");
        else if (r >= 0)
                r = pr->fs.root == ROOT_IMAGE
                            ? plan_add_controlf(p, "readonly-root", CONTROL_REQUIRED, NULL,
                                                "image %s read-only, nosuid, nodev", pr->fs.image)
                            : plan_add_control(p, "readonly-root", CONTROL_REQUIRED,
                                               "host /usr and /etc read-only, nosuid, nodev", NULL);
        if (r >= 0)
                r = plan_add_controlf(p, "proc-masks", CONTROL_REQUIRED, NULL,
                                      "own /proc; %zu sensitive paths masked; /proc/sys read-only",
                                      masks);
        if (r >= 0)
                r = plan_add_control(p, "dev", CONTROL_REQUIRED,
                                     "null zero full random urandom tty, pts, shm", NULL);
        if (r >= 0)
                r = control_identity(p, pr);
        return r;
}

static int control_caps(Plan *p) {
        _cleanup_free_ char *kept = NULL;
        for (size_t i = 0; i < p->sandbox.n_caps_keep; i++) {
                int r = plan_append(&kept, ",", "%s", capability_to_name(p->sandbox.caps_keep[i]));
                if (r < 0)
                        return r;
        }
        if (!kept)
                return plan_add_controlf(p, "caps", CONTROL_REQUIRED, NULL,
                                         "%sall capabilities dropped (bounding, ambient too)",
                                         p->tier == TIER_VM ? "in the guest: " : "");
        return plan_add_controlf(p, "caps", CONTROL_REQUIRED, NULL, "%sall dropped except %s",
                                 p->tier == TIER_VM ? "in the guest: " : "", kept);
}

static int control_seccomp(Plan *p) {
        const PlanSeccomp *sc = &p->sandbox.seccomp;
        _cleanup_free_ char *joined = NULL;
        int r;

        if ((r = plan_seccomp_groups_join(sc, " ", &joined)) < 0)
                return r;
        return plan_add_controlf(
                p, "seccomp", sc->status, NULL,
                "%sx86_64,x32,x86 (other ABIs killed); base %s; %zu rules; denies: %s%s",
                p->tier == TIER_VM ? "in the guest, compiled on the host: " : "", sc->base,
                sc->n_rules, joined ? joined : "nothing",
                sc->notify_denials ? "; denials reported to the audit" : "");
}

static int control_landlock(Plan *p, const Profile *pr, const HostFacts *h) {
        const PlanLandlock *l = &p->sandbox.landlock;

        if (l->status == CONTROL_NOT_APPLICABLE)
                return plan_add_control(p, "landlock", l->status, NULL,
                                        "the profile turns Landlock off");
        if (l->abi == 0)
                return plan_add_control(
                        p, "landlock", l->status, NULL,
                        l->status == CONTROL_DEGRADED
                                ? "this kernel has no Landlock; best-effort: the mount flags alone "
                                  "keep writable places non-executable"
                                : "this kernel has no Landlock");
        /* system tier, boot mode: the gate applies the ruleset to the command; the image's init
         * (pid 1) runs under the other controls only */
        return plan_add_controlf(
                p, "landlock", l->status, NULL, "ABI %d (host %d); %zu path rules%s%s%s", l->abi,
                h->landlock_abi, l->n_paths,
                l->connect_port  ? "; TCP bind denied, connect only to the proxy port"
                : l->handled_net ? "; TCP bind/connect denied"
                                 : "",
                l->scoped ? "; abstract unix sockets and signals scoped" : "",
                p->tier == TIER_SYSTEM && p->system.boot
                        ? "; on the command and what it starts, not on the image's init"
                        : "");
}

static int control_mac(Plan *p, const Profile *pr, const PlanFindings *f) {
        int r;
        bool aa = !!pr->mac.apparmor, se = pr->mac.selinux && !pr->mac.apparmor;

        /* the system tier: liblxc arms the label for the container's first exec, and moat
         * reads it back from the host (the keys fail open without the LSM) */
        const char *how = p->tier == TIER_SYSTEM
                                  ? "container label (lxc), read back from the host: "
                                  : "exec transition to ";

        if (aa)
                r = plan_add_controlf(p, "apparmor", f->mac_status,
                                      f->mac_status == CONTROL_DEGRADED ? f->mac_reason : NULL,
                                      "%s%s", how, pr->mac.apparmor);
        else
                r = plan_add_control(p, "apparmor", CONTROL_NOT_APPLICABLE, NULL,
                                     "not asked for by the profile");
        if (r < 0)
                return r;
        if (se)
                return plan_add_controlf(p, "selinux", f->mac_status,
                                         f->mac_status == CONTROL_DEGRADED ? f->mac_reason : NULL,
                                         "%s%s", how, pr->mac.selinux);
        return plan_add_control(p, "selinux", CONTROL_NOT_APPLICABLE, NULL,
                                pr->mac.selinux ? "AppArmor is used; one LSM transition per run"
                                                : "not asked for by the profile");
}

static void format_duration(uint64_t ms, char *buf, size_t size);

/* resources.cpu_time: the cgroup's own accounting where there is a cgroup; else RLIMIT_CPU,
 * which bounds each process and not the tree, hence degraded. */
static int control_cpu_time(Plan *p, const PlanFindings *f) {
        const PlanResources *res = &p->resources;
        char d[64];

        if (!res->cpu_time_ms)
                return plan_add_control(p, "cpu_time", CONTROL_NOT_APPLICABLE, NULL,
                                        "no cpu time limit in the profile");
        format_duration(res->cpu_time_ms, d, sizeof(d));
        if (res->mechanism == CGROUP_MECH_RLIMIT) {
                uint64_t sec = (res->cpu_time_ms + 999) / 1000;
                return plan_add_controlf(p, "cpu_time", res->status, f->mechanism_reason,
                                         "RLIMIT_CPU %" PRIu64 " s (SIGXCPU), %" PRIu64
                                         " s hard (SIGKILL) for each process: it bounds each "
                                         "process, not the tree",
                                         sec, sec + 1);
        }
        return plan_add_controlf(
                p, "cpu_time", res->status, NULL,
                "%s %s of the whole tree, polled; the tree is killed when it "
                "passes %s",
                cgroup_mechanism_to_string(res->mechanism),
                res->mechanism == CGROUP_MECH_V2 ? "cpu.stat usage_usec" : "cpuacct.usage", d);
}

static int control_cgroups(Plan *p, const HostFacts *h, const PlanFindings *f) {
        const PlanResources *res = &p->resources;
        const char *mech = cgroup_mechanism_to_string(res->mechanism);
        char mem[32];
        int r;

        plan_format_bytes(res->memory, mem, sizeof(mem));
        if (!res->memory)
                r = plan_add_control(p, "cgroup.memory", CONTROL_NOT_APPLICABLE, NULL,
                                     "no memory limit in the profile");
        else if (res->mechanism == CGROUP_MECH_RLIMIT)
                r = plan_add_controlf(p, "cgroup.memory", res->status, f->mechanism_reason,
                                      "RLIMIT_AS %s: it bounds address space, not resident memory",
                                      mem);
        else
                r = plan_add_controlf(
                        p, "cgroup.memory", res->status, NULL, "%s %s %s, no swap", mech,
                        res->mechanism == CGROUP_MECH_V2 ? "memory.max" : "memory.limit_in_bytes",
                        mem);
        if (r < 0)
                return r;
        if (!res->pids)
                r = plan_add_control(p, "cgroup.pids", CONTROL_NOT_APPLICABLE, NULL,
                                     "no pids limit in the profile");
        else if (res->mechanism == CGROUP_MECH_RLIMIT && plan_nproc_bounds_sandbox(h))
                r = plan_add_controlf(p, "cgroup.pids", res->status, f->mechanism_reason,
                                      "RLIMIT_NPROC %" PRIu64 ": at most %" PRIu64
                                      " tasks (threads and moat's init included) of the sandbox's "
                                      "uid in its own user namespace; checked at fork, no peak "
                                      "measured",
                                      res->pids, res->pids);
        else if (res->mechanism == CGROUP_MECH_RLIMIT)
                r = plan_add_control(p, "cgroup.pids", res->status,
                                     h->uid == 0 ? "no substitute (the kernel exempts the host's "
                                                   "root from RLIMIT_NPROC): the number of "
                                                   "processes is not limited"
                                                 : "no substitute (before Linux 5.14 RLIMIT_NPROC "
                                                   "counts the caller's other processes too): the "
                                                   "number of processes is not limited",
                                     f->mechanism_reason);
        else
                r = plan_add_controlf(p, "cgroup.pids", res->status, NULL, "%s pids.max %" PRIu64,
                                      mech, res->pids);
        if (r < 0)
                return r;
        if (!res->cpus_milli)
                r = plan_add_control(p, "cgroup.cpu", CONTROL_NOT_APPLICABLE, NULL,
                                     "no cpu limit in the profile");
        else if (res->mechanism == CGROUP_MECH_RLIMIT)
                r = plan_add_control(p, "cgroup.cpu", res->status, NULL,
                                     "no substitute: rlimits cannot share cpu time");
        else
                r = plan_add_controlf(
                        p, "cgroup.cpu", res->status, NULL, "%s %s %u.%03u cpus", mech,
                        res->mechanism == CGROUP_MECH_V2 ? "cpu.max" : "cpu.cfs_quota_us",
                        res->cpus_milli / 1000, res->cpus_milli % 1000);
        return r < 0 ? r : control_cpu_time(p, f);
}

/* resources.disk (plan_disk_mechanism()). A required one that has no total bound is refused
 * (check_disk()); its control keeps the status required, so an executor that got the plan
 * anyway fails closed. */
static int control_disk(Plan *p, const Profile *pr, const HostFacts *h) {
        const PlanResources *res = &p->resources;
        ControlStatus st =
                pr->resources.enforce == ENFORCE_REQUIRED ? CONTROL_REQUIRED : CONTROL_BEST_EFFORT;
        char size[32], why[400];

        plan_format_bytes(res->disk, size, sizeof(size));
        snprintf(why, sizeof(why), "no project quota%s%s", h->project_quota_reason ? ": " : "",
                 h->project_quota_reason ? h->project_quota_reason : "");
        switch (res->disk_mechanism) {
        case DISK_MECH_NO_WRITABLE_BIND:
                return plan_add_controlf(p, "disk", st, NULL,
                                         "%s: no writable bind reaches the host; tmpfs writes are "
                                         "bounded by the tmpfs sizes",
                                         size);
        case DISK_MECH_PROJECT_QUOTA:
                if (p->tier == TIER_VM)
                        return plan_add_controlf(
                                p, "disk", st, NULL,
                                "project quota of the run's own on the read-write shares' trees, "
                                "set on the host before QEMU starts (QEMU writes them as moat-vm, "
                                "without CAP_SYS_RESOURCE): %s in total beyond what they hold at "
                                "the start (EDQUOT past it); in the guest also RLIMIT_FSIZE %s "
                                "for each file",
                                size, size);
                return plan_add_controlf(p, "disk", st, NULL,
                                         "project quota of the run's own: %s in total beyond what "
                                         "the writable binds hold at the start (EDQUOT past it)",
                                         size);
        case DISK_MECH_RLIMIT_FSIZE:
                if (p->tier == TIER_VM)
                        return plan_add_controlf(
                                p, "disk", st == CONTROL_REQUIRED ? st : CONTROL_DEGRADED, why,
                                "in the guest, RLIMIT_FSIZE %s for each file the command writes "
                                "(SIGXFSZ, or EFBIG when ignored): it bounds each file, not the "
                                "total through the read-write shares",
                                size);
                return plan_add_controlf(
                        p, "disk", st == CONTROL_REQUIRED ? st : CONTROL_DEGRADED, why,
                        "RLIMIT_FSIZE %s for each file written (SIGXFSZ, or EFBIG when ignored): "
                        "it bounds each file, not the total through the writable binds",
                        size);
        default:
                return plan_add_control(p, "disk", CONTROL_NOT_APPLICABLE, NULL,
                                        "no disk limit in the profile");
        }
}

static int control_rlimits(Plan *p) {
        _cleanup_free_ char *s = NULL;
        for (size_t i = 0; i < p->sandbox.n_rlimits; i++) {
                int r = plan_append(&s, ", ", "%s %" PRIu64,
                                    rlimit_to_name(p->sandbox.rlimits[i].resource),
                                    p->sandbox.rlimits[i].hard);
                if (r < 0)
                        return r;
        }
        return plan_add_control(p, "rlimits", CONTROL_REQUIRED, s, NULL);
}

/* "1h30m", "20m", "90s" the way profiles write them; "1500 ms" when not whole seconds. */
static void format_duration(uint64_t ms, char *buf, size_t size) {
        uint64_t sec = ms / 1000;
        size_t n = 0;

        if (ms % 1000 || ms == 0) {
                snprintf(buf, size, "%" PRIu64 " ms", ms);
                return;
        }
        buf[0] = '\0';
        if (sec / 3600)
                n += (size_t) snprintf(buf + n, size - n, "%" PRIu64 "h", sec / 3600);
        if (n < size && (sec / 60) % 60)
                n += (size_t) snprintf(buf + n, size - n, "%" PRIu64 "m", (sec / 60) % 60);
        if (n < size && sec % 60)
                snprintf(buf + n, size - n, "%" PRIu64 "s", sec % 60);
}

/* resources.output: moat counts what it relays and kills the tree past the cap, in either
 * tier; nothing on the host can be missing for it (pipes, or the guest's ports), so it never
 * escalates or refuses. */
static int control_output(Plan *p) {
        const PlanResources *res = &p->resources;
        char size[32];

        if (!res->output_bytes)
                return plan_add_control(p, "output", CONTROL_NOT_APPLICABLE, NULL,
                                        "no output limit in the profile");
        plan_format_bytes(res->output_bytes, size, sizeof(size));
        if (p->tier == TIER_VM)
                return plan_add_controlf(p, "output", res->output_status, NULL,
                                         "the guest's stdout and stderr ports, counted together "
                                         "as moat relays them; the guest is destroyed past %s",
                                         size);
        return plan_add_controlf(p, "output", res->output_status, NULL,
                                 "stdout and stderr are pipes that moat relays to its own "
                                 "(splice), counted together; the tree is killed past %s",
                                 size);
}

static int control_common(Plan *p, const Profile *pr) {
        _cleanup_free_ char *env = NULL;
        int r;

        if (pr->resources.timeout_ms) {
                char d[64];
                format_duration(pr->resources.timeout_ms, d, sizeof(d));
                r = plan_add_controlf(p, "timeout", CONTROL_REQUIRED, NULL,
                                      "the command and everything it started are killed after %s",
                                      d);
        } else
                r = plan_add_control(p, "timeout", CONTROL_NOT_APPLICABLE, NULL,
                                     "no timeout in the profile");
        if (r >= 0)
                r = control_output(p);
        if (r < 0)
                return r;
        r = plan_append(&env, "", "%s", p->env_clear ? "cleared" : "inherited");
        if (r >= 0 && p->env_allow)
                r = plan_append(&env, "; ", "%zu passed through", strv_length(p->env_allow));
        if (r >= 0 && p->env_set)
                r = plan_append(&env, "; ", "%zu set", strv_length(p->env_set));
        if (r >= 0)
                r = plan_add_control(p, "env", CONTROL_REQUIRED, env, NULL);
        if (r >= 0)
                r = plan_add_control(p, "network", CONTROL_REQUIRED,
                                     network_mode_to_string(pr->network), NULL);
        if (r >= 0)
                r = plan_controls_network(p);
        return r;
}

static int controls_sandbox(Plan *p, const Profile *pr, const HostFacts *h, const PlanFindings *f) {
        int r;

        if ((r = control_ns(p)) < 0 || (r = control_fs(p, pr)) < 0)
                return r;
        if ((r = plan_add_control(p, "no_new_privs", CONTROL_REQUIRED,
                                  "set before exec; setuid bits do nothing", NULL)) < 0)
                return r;
        if ((r = control_caps(p)) < 0 || (r = control_seccomp(p)) < 0 ||
            (r = control_landlock(p, pr, h)) < 0 || (r = control_mac(p, pr, f)) < 0 ||
            (r = control_cgroups(p, h, f)) < 0 || (r = control_disk(p, pr, h)) < 0 ||
            (r = control_rlimits(p)) < 0 || (r = control_common(p, pr)) < 0)
                return r;
        if ((r = plan_add_control(p, "setsid", CONTROL_REQUIRED,
                                  "new session: no controlling terminal to inject into", NULL)) <
                    0 ||
            (r = plan_add_control(p, "close-fds", CONTROL_REQUIRED,
                                  "only stdin, stdout, stderr are inherited", NULL)) < 0)
                return r;
        return plan_add_control(p, "die-with-parent", CONTROL_REQUIRED, "killed when moat exits",
                                NULL);
}

/* Whether the plan's seccomp program refuses the calls that create a user namespace. */
static bool seccomp_denies_userns(const PlanSeccomp *sc) {
        for (size_t i = 0; i < sc->n_rules; i++)
                if (strcmp(sc->rules[i].name, "unshare") == 0 &&
                    sc->rules[i].action != SECCOMP_ACTION_ALLOW && sc->rules[i].n_args == 0)
                        return true;
        return false;
}

/* The sandbox tier's controls on the command, applied inside the guest by moat-init
 * (launcher/vm/guest/init.c) under the same names, so that escalation never drops one: the
 * executor sends each control listed here as applicable, the guest reports which it applied,
 * and a required one that is not reported stops the run. With vm.guest_root the command owns
 * the guest kernel (it may load modules, which no in-guest filter survives): the filters that
 * only make sense against an unprivileged command are not applicable, said so. */
static int controls_vm_guest(Plan *p, const Profile *pr) {
        static const char guest_root_reason[] =
                "vm.guest_root: the command is root of its own guest kernel and may load modules, "
                "which no filter inside that kernel survives";
        const PlanSeccomp *sc = &p->sandbox.seccomp;
        const PlanLandlock *l = &p->sandbox.landlock;
        const PlanResources *res = &p->resources;
        ControlStatus limits =
                pr->resources.enforce == ENFORCE_REQUIRED ? CONTROL_REQUIRED : CONTROL_BEST_EFFORT;
        bool root = p->vm.guest_root;
        char mem[32], ram[32];
        int r;

        if (root) {
                static const char *const names[] = { "no_new_privs", "caps", "seccomp", "landlock",
                                                     "nested-userns" };
                for (size_t i = 0; i < ELEMENTSOF(names); i++)
                        if ((r = plan_add_control(p, names[i], CONTROL_NOT_APPLICABLE, NULL,
                                                  guest_root_reason)) < 0)
                                return r;
        } else {
                if ((r = plan_add_control(p, "no_new_privs", CONTROL_REQUIRED,
                                          "in the guest, set by moat-init before exec", NULL)) <
                            0 ||
                    (r = control_caps(p)) < 0 || (r = control_seccomp(p)) < 0)
                        return r;
                if (l->status == CONTROL_NOT_APPLICABLE)
                        r = plan_add_control(p, "landlock", l->status, NULL,
                                             "the profile turns Landlock off");
                else
                        r = plan_add_controlf(p, "landlock", l->status, NULL,
                                              "in the guest, with the guest kernel's ABI (rights "
                                              "it does not know are not handled; the audit "
                                              "records the ABI); %zu path rules",
                                              l->n_paths);
                if (r < 0)
                        return r;
                r = seccomp_denies_userns(sc)
                            ? plan_add_control(p, "nested-userns", CONTROL_REQUIRED,
                                               "user.max_user_namespaces = 0 in the guest: no "
                                               "user namespace, whatever the filter allows",
                                               NULL)
                            : plan_add_control(p, "nested-userns", CONTROL_NOT_APPLICABLE, NULL,
                                               "the profile's syscall set allows namespaces");
                if (r < 0)
                        return r;
        }
        plan_format_bytes(res->memory, mem, sizeof(mem));
        plan_format_bytes(p->vm.memory, ram, sizeof(ram));
        r = res->memory ? plan_add_controlf(p, "cgroup.memory", limits, NULL,
                                            "guest cgroup v2 memory.max %s on the command's "
                                            "cgroup (guest RAM %s)%s",
                                            mem, ram, root ? "; guest root can leave it" : "")
                        : plan_add_control(p, "cgroup.memory", CONTROL_NOT_APPLICABLE, NULL,
                                           "no memory limit in the profile");
        if (r >= 0)
                r = res->pids
                            ? plan_add_controlf(p, "cgroup.pids", limits, NULL,
                                                "guest cgroup v2 pids.max %" PRIu64
                                                " on the command's cgroup%s",
                                                res->pids, root ? "; guest root can leave it" : "")
                            : plan_add_control(p, "cgroup.pids", CONTROL_NOT_APPLICABLE, NULL,
                                               "no pids limit in the profile");
        if (r >= 0)
                r = control_rlimits(p);
        return r;
}

static int controls_vm(Plan *p, const Profile *pr, const HostFacts *h) {
        const PlanVm *vm = &p->vm;
        char mem[32];
        int r;

        plan_format_bytes(vm->memory, mem, sizeof(mem));
        if ((r = plan_add_controlf(p, "separate-kernel", CONTROL_REQUIRED, NULL, "guest kernel %s",
                                   vm->kernel ? vm->kernel : "(none found)")) < 0)
                return r;
        if (vm->kvm)
                r = plan_add_control(p, "accel", CONTROL_REQUIRED, "kvm",
                                     "a guest kernel has booted under KVM on this host");
        else {
                _cleanup_free_ char *why = NULL;
                if (asprintf(&why, "software emulation, slower, still a separate kernel: %s",
                             h->kvm_reason ? h->kvm_reason : "no usable /dev/kvm") < 0)
                        return -ENOMEM;
                r = plan_add_control(p, "accel", CONTROL_REQUIRED, "tcg", why);
        }
        if (r >= 0)
                r = plan_add_controlf(p, "vm.memory", CONTROL_REQUIRED, NULL, "%s guest RAM", mem);
        if (r >= 0)
                r = plan_add_controlf(p, "vm.vcpus", CONTROL_REQUIRED, NULL, "%u", vm->vcpus);
        if (r >= 0 && pr->fs.root == ROOT_IMAGE)
                /* launcher/vm/vm-layout.c: the image is a read-only share, the guest's root an
                 * overlay of it with an upper layer in guest RAM. */
                r = plan_add_controlf(
                        p, "9p-readonly-system", CONTROL_REQUIRED, NULL,
                        "image %s%s%s shared read-only as the guest's root, never written: the run "
                        "writes to its own overlay layer in guest RAM, discarded at the end; only "
                        "the work directory is writable on the host",
                        pr->fs.image_name ? pr->fs.image_name : pr->fs.image,
                        pr->fs.image_name ? " sha256:" : "",
                        pr->fs.image_name ? pr->fs.image_digest : "");
        else if (r >= 0)
                r = plan_add_control(
                        p, "9p-readonly-system", CONTROL_REQUIRED,
                        "host system shared read-only; only the work directory is writable", NULL);
        if (r >= 0)
                r = control_identity(p, pr);
        if (r >= 0)
                r = plan_add_control(
                        p, "qemu-sandbox", CONTROL_REQUIRED,
                        "QEMU's own seccomp sandbox (-sandbox on, spawn/resourcecontrol deny)",
                        NULL);
        if (r >= 0)
                r = vm->guest_root ? plan_add_control(p, "guest.user", CONTROL_REQUIRED,
                                                      "root inside the guest", NULL)
                    /* The guest runs the command under the uid that owns the 9p shares on the host:
                    * the caller's, or for root the unprivileged moat-vm account's (root never
                    * gets a root QEMU, launcher/vm/README.md). */
                    : h->is_root
                            ? plan_add_control(p, "guest.user", CONTROL_REQUIRED,
                                               "the moat-vm account's uid inside the guest, no "
                                               "capabilities, no_new_privs",
                                               NULL)
                            : plan_add_controlf(p, "guest.user", CONTROL_REQUIRED, NULL,
                                                "uid %u (the caller's) inside the guest, no "
                                                "capabilities, no_new_privs",
                                                (unsigned) h->uid);
        if (r >= 0)
                r = controls_vm_guest(p, pr);
        if (r >= 0 && pr->resources.cpu_time_ms) {
                /* The guest init measures and kills the tree (launcher/vm/guest/init.c). The
                 * guest's CPU time: under TCG, emulated instructions, far fewer per second. */
                char d[64];
                format_duration(pr->resources.cpu_time_ms, d, sizeof(d));
                r = plan_add_controlf(
                        p, "cpu_time",
                        pr->resources.enforce == ENFORCE_REQUIRED ? CONTROL_REQUIRED
                                                                  : CONTROL_BEST_EFFORT,
                        NULL,
                        "guest cgroup v2 cpu.stat %s, polled by moat-init; the tree is killed "
                        "when it passes %s of guest CPU time%s",
                        vm->guest_root ? "of the whole guest (guest root can leave a cgroup)"
                                       : "of the command tree",
                        d, vm->kvm ? "" : " (TCG: emulated, much slower than native)");
        } else if (r >= 0)
                r = plan_add_control(p, "cpu_time", CONTROL_NOT_APPLICABLE, NULL,
                                     "no cpu time limit in the profile");
        if (r >= 0)
                r = control_disk(p, pr, h);
        if (r >= 0)
                r = vm->guest_apparmor
                            ? plan_add_controlf(p, "guest.apparmor", CONTROL_REQUIRED, NULL,
                                                "guest kernel enforces %s", vm->guest_apparmor)
                            : plan_add_control(p, "guest.apparmor", CONTROL_NOT_APPLICABLE, NULL,
                                               "not asked for by the profile");
        /* An SELinux context without an AppArmor profile: the guest applies AppArmor profiles
         * only. A required one is refused (check_vm_selinux()); a best-effort one is listed as
         * degraded, never silently dropped. */
        if (r >= 0 && pr->mac.selinux && !pr->mac.apparmor)
                r = plan_add_controlf(p, "guest.selinux", CONTROL_DEGRADED,
                                      "the guest applies AppArmor profiles only",
                                      "SELinux context %s not applied in the guest",
                                      pr->mac.selinux);
        if (r >= 0)
                r = control_common(p, pr);
        return r;
}

/* Escalation never drops a control: each control of the sandbox tier is applied in the guest
 * under its own name, or held by the vm tier under another (vm), or makes no sense in a guest
 * (vm NULL), for the reason given. */
static const struct {
        const char *name, *vm, *reason;
} vm_not_in_guest[] = {
        { "userns", "guest.user",
          "the guest kernel's ids are the guest's own (guest.user: the command's uid there); "
          "nested ones: nested-userns" },
        { "mountns", "9p-readonly-system",
          "the guest kernel's mount tree is the command's own; the host's is never shared" },
        { "pidns", "separate-kernel",
          "no host process exists in the guest; moat-init is the only other one, out of reach of "
          "the unprivileged command" },
        { "netns", "network", "the guest has no network device: loopback only" },
        { "ipcns", "separate-kernel", "System V IPC and message queues of the guest kernel" },
        { "utsns", "separate-kernel", "the guest kernel's hostname, set by moat-init" },
        { "cgroupns", "separate-kernel",
          "the guest's cgroup hierarchy is not mounted in the command's root" },
        { "timens", "separate-kernel", "the guest kernel's own clocks" },
        { "pivot_root", "9p-readonly-system",
          "the command's root is a tmpfs in guest RAM built by moat-init; the host's root is "
          "never shared" },
        { "readonly-root", "9p-readonly-system", "QEMU shares /usr and /etc read-only" },
        { "proc-masks", "separate-kernel",
          "the guest's /proc is the guest kernel's: nothing of the host's to mask" },
        { "dev", "separate-kernel",
          "moat-init builds the same minimal /dev in the guest, without the virtio ports" },
        { "apparmor", "guest.apparmor", "the guest kernel enforces the profile" },
        { "selinux", "guest.selinux",
          "the guest applies AppArmor profiles only: a required context is refused, a "
          "best-effort one listed degraded" },
        { "cgroup.cpu", "vm.vcpus", "the guest's vCPUs bound the CPUs it can use" },
        { "setsid", "separate-kernel", "moat-init starts the command in a new session" },
        { "close-fds", "separate-kernel", "moat-init passes stdin, stdout and stderr only" },
        { "die-with-parent", "separate-kernel",
          "libvirt destroys the guest when moat's connection closes (autodestroy)" },
};

/* With vm.guest_root the command owns the guest kernel (controls_vm_guest()). */
static const char *const vm_guest_root_exempt[] = { "no_new_privs", "caps", "seccomp", "landlock",
                                                    "nested-userns" };

/* The table's own copy of name (static), its vm name and its reason; NULL when none. */
static const char *not_in_guest(const char *name, bool guest_root, const char **ret_name,
                                const char **ret_vm) {
        *ret_vm = *ret_name = NULL;
        for (size_t i = 0; i < ELEMENTSOF(vm_not_in_guest); i++)
                if (strcmp(name, vm_not_in_guest[i].name) == 0) {
                        *ret_name = vm_not_in_guest[i].name;
                        *ret_vm = vm_not_in_guest[i].vm;
                        return vm_not_in_guest[i].reason;
                }
        for (size_t i = 0; guest_root && i < ELEMENTSOF(vm_guest_root_exempt); i++)
                if (strcmp(name, vm_guest_root_exempt[i]) == 0) {
                        *ret_name = vm_guest_root_exempt[i];
                        return "vm.guest_root: the command is root of its own guest kernel";
                }
        return NULL;
}

const char *plan_vm_not_in_guest(const char *name, bool guest_root, const char **ret_vm) {
        const char *n;
        return not_in_guest(name, guest_root, &n, ret_vm);
}

static int status_rank(ControlStatus s) {
        switch (s) {
        case CONTROL_REQUIRED:
                return 3;
        case CONTROL_BEST_EFFORT:
                return 2;
        case CONTROL_DEGRADED:
                return 1;
        default:
                return 0;
        }
}

/* The resolver rule: lists the sandbox tier's controls for the same inputs (a scratch plan that
 * shares every field but the list) and refuses the vm plan if one of them is neither applied at
 * least as strongly in the guest nor in the table above. The table entries that applied are
 * kept in the plan (JSON vm.not_in_guest, explain). */
static int check_vm_superset(Plan *p, const Profile *pr, const HostFacts *h,
                             const PlanFindings *f) {
        Plan sb = *p;
        int r;

        sb.tier = TIER_SANDBOX;
        sb.controls = NULL;
        sb.n_controls = 0;
        r = controls_sandbox(&sb, pr, h, f);
        for (size_t i = 0; r >= 0 && i < sb.n_controls; i++) {
                const PlanControl *c = &sb.controls[i], *v;
                const char *name, *vm_name, *why;

                if (c->status == CONTROL_NOT_APPLICABLE)
                        continue;
                why = not_in_guest(c->name, p->vm.guest_root, &name, &vm_name);
                if (why && vm_name && !plan_find_control(p, vm_name))
                        why = NULL; /* the vm tier's own control is missing: not held */
                if (why) {
                        const char **a = reallocarray(p->vm.not_in_guest,
                                                      2 * (p->vm.n_not_in_guest + 1), sizeof(*a));
                        if (!a) {
                                r = -ENOMEM;
                                break;
                        }
                        p->vm.not_in_guest = a;
                        a[2 * p->vm.n_not_in_guest] = name;
                        a[2 * p->vm.n_not_in_guest + 1] = why;
                        p->vm.n_not_in_guest++;
                        continue;
                }
                /* Required stays required; a best-effort one may be degraded in the guest (the
                 * profile allowed that), but never missing. */
                v = plan_find_control(p, c->name);
                if (v && (c->status == CONTROL_REQUIRED ? v->status == CONTROL_REQUIRED
                                                        : status_rank(v->status) > 0))
                        continue;
                r = plan_refuse(p,
                                "the vm tier would drop the control %s that the sandbox tier "
                                "applies (%s there, %s in the guest); moat does not run a plan "
                                "that loses a control on escalation",
                                c->name, control_status_to_string(c->status),
                                v ? control_status_to_string(v->status) : "absent");
        }
        for (size_t i = 0; i < sb.n_controls; i++) {
                free(sb.controls[i].name);
                free(sb.controls[i].detail);
                free(sb.controls[i].reason);
        }
        free(sb.controls);
        return r;
}

int plan_build_controls(Plan *p, const Profile *pr, const HostFacts *h, const PlanFindings *f) {
        int r;

        if (p->tier != TIER_VM)
                return controls_sandbox(p, pr, h, f);
        r = controls_vm(p, pr, h);
        return r < 0 ? r : check_vm_superset(p, pr, h, f);
}

int plan_build_reachable(Plan *p, const Profile *pr, const HostFacts *h) {
        const PlanSandbox *s = &p->sandbox;
        int r;

        if (p->tier == TIER_VM) {
                r = plan_add_reachable(
                        p,
                        "a guest kernel of its own; the host is reached only through QEMU's "
                        "emulated devices (%s) and the 9p shares",
                        p->vm.kvm ? "KVM" : "TCG");
                if (r >= 0 && pr->fs.root == ROOT_IMAGE)
                        r = plan_add_reachable(p,
                                               "the image %s%s%s as its root, read-only over 9p, "
                                               "writable through a layer in guest RAM that is "
                                               "discarded (the image is never written)",
                                               pr->fs.image_name ? pr->fs.image_name : pr->fs.image,
                                               pr->fs.image_name ? " sha256:" : "",
                                               pr->fs.image_name ? pr->fs.image_digest : "");
                else if (r >= 0)
                        r = plan_add_reachable(p, "the host's system files, read-only, over 9p");
        } else {
                _cleanup_free_ char *joined = NULL;
                r = plan_seccomp_groups_join(&s->seccomp, ", ", &joined);
                if (r >= 0)
                        r = plan_add_reachable(p,
                                               "the host kernel's system call interface, except "
                                               "what the %s set and the profile deny (%s)",
                                               s->seccomp.base ? s->seccomp.base : "default",
                                               joined ? joined : "nothing");
                if (r >= 0 && p->tier == TIER_SYSTEM && pr->fs.root == ROOT_IMAGE)
                        r = plan_add_reachable(p,
                                               "its own whole OS: the image %s%s%s, writable "
                                               "through a private layer that is discarded (the "
                                               "image is never written)",
                                               pr->fs.image_name ? pr->fs.image_name : pr->fs.image,
                                               pr->fs.image_name ? " sha256:" : "",
                                               pr->fs.image_name ? pr->fs.image_digest : "");
                else if (r >= 0)
                        r = pr->fs.root == ROOT_IMAGE
                                    ? plan_add_reachable(p, "the image %s, read-only", pr->fs.image)
                                    : plan_add_reachable(p,
                                                         "the host's /usr and /etc, read-only, "
                                                         "secrets masked");
                if (r >= 0)
                        r = plan_add_reachable(p, "its own /proc and a minimal /dev");
                for (size_t i = 0; r >= 0 && i < s->n_mounts; i++)
                        if (s->mounts[i].kind == PLAN_MOUNT_TMPFS) {
                                char size[32];
                                plan_format_bytes(s->mounts[i].size, size, sizeof(size));
                                r = plan_add_reachable(p,
                                                       "%s, a private %s tmpfs (read-write, not "
                                                       "executable)",
                                                       s->mounts[i].target, size);
                        }
        }
        for (size_t i = 0; r >= 0 && i < pr->fs.n_binds; i++) {
                const ProfileBind *b = &pr->fs.binds[i];
                r = plan_add_reachable(p, "%s at %s (%s, %s%s)",
                                       strcmp(b->source, ".") == 0 ? "the work directory"
                                                                   : b->source,
                                       b->target, b->mode == BIND_RW ? "read-write" : "read-only",
                                       b->exec ? "executable" : "not executable",
                                       b->optional ? ", if present" : "");
        }
        STRV_FOREACH (d, pr->devices)
                if (r >= 0)
                        r = plan_add_reachable(p, "the host device %s", *d);
        if (r >= 0)
                r = pr->network == NETWORK_NONE
                            ? plan_add_reachable(p, "no network at all")
                            : plan_add_reachable(
                                      p,
                                      "loopback inside its own network namespace (not the host's)");
        if (r >= 0 && p->egress.active && p->egress.transparent)
                r = plan_add_reachable(p,
                                       "directly, over TCP: the %zu destinations of "
                                       "network.outbound.allow (egress.allow) on their ports, "
                                       "names through moat's DNS stub; every other name or "
                                       "address the workload tries, UDP and ICMP refused",
                                       p->egress.n_allow);
        else if (r >= 0 && p->egress.active)
                r = plan_add_reachable(p,
                                       "through the proxy on 127.0.0.1:%u: the %zu destinations of "
                                       "network.outbound.allow (egress.allow), TCP only",
                                       p->egress.proxy_port, p->egress.n_allow);
        if (r >= 0 && p->tier != TIER_VM)
                r = plan_add_reachable(
                        p, "signals and ptrace: only its own processes (pid namespace%s)",
                        s->landlock.scoped ? ", Landlock signal scope" : "");
        return r;
}

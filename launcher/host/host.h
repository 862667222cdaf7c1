/* SPDX-License-Identifier: MIT */
/* What this host can enforce, for this caller. Probed READ-ONLY (host/probe.c: reads /proc,
 * /sys, sysctls, tries access(2)/open(O_RDONLY); it never creates namespaces, cgroups or
 * files), or loaded from a JSON file (--host-facts) so that every decision in plan_resolve()
 * can be tested without the host. host_facts_to_json() and host_facts_from_json() round-trip.
 *
 * Tri-state facts use int: 1 yes, 0 no, -1 unknown/absent (the sysctl does not exist). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/error.h"

typedef enum CgroupLayout {
        CGROUP_LAYOUT_NONE,
        CGROUP_LAYOUT_V1,     /* legacy: controllers under /sys/fs/cgroup/<name> only */
        CGROUP_LAYOUT_HYBRID, /* v1 controllers plus a controller-less v2 at /sys/fs/cgroup/unified */
        CGROUP_LAYOUT_V2,     /* unified */
        _CGROUP_LAYOUT_MAX,
} CgroupLayout;

/* What /dev/kvm can do for the account that runs QEMU (the caller, or moat-vm for root). */
typedef enum KvmState {
        KVM_STATE_ABSENT,      /* no /dev/kvm */
        KVM_STATE_NO_ACCESS,   /* QEMU's account cannot open it (permissions, LSM, device cgroup) */
        KVM_STATE_UNSUPPORTED, /* opens, but the API, an extension or KVM_CREATE_VM fails */
        KVM_STATE_FAILED,      /* passed those, but a guest did not run on it (cached verdict) */
        KVM_STATE_UNPROVEN,    /* passed those; no guest has been booted on it yet */
        KVM_STATE_PROVEN,      /* a guest kernel booted on it (cached verdict) */
        _KVM_STATE_MAX,
} KvmState;

typedef struct HostFacts {
        char source[256]; /* "probe" or the JSON file it was loaded from */

        /* kernel */
        char kernel_release[65];
        unsigned kernel_major, kernel_minor;
        char arch[32];        /* "x86_64" */
        bool merged_usr;      /* /bin, /sbin, /lib* are symlinks into /usr */
        char **root_symlinks; /* "bin=usr/bin", "lib64=usr/lib64", ... as on the host */
        char **root_dirs;     /* top-level system dirs that are real dirs ("lib32") */

        /* caller */
        uid_t uid;
        gid_t gid;
        char user[64];
        bool is_root; /* uid 0 in the initial user namespace */

        /* user namespaces */
        int64_t max_user_namespaces;   /* user.max_user_namespaces; -1 absent */
        int unprivileged_userns_clone; /* kernel.unprivileged_userns_clone; -1 absent */
        int apparmor_restrict_userns;  /* kernel.apparmor_restrict_unprivileged_userns; -1 absent */
        /* moat itself runs under its own AppArmor profile "moat" (its label is "moat (MODE)"),
         * whose userns rule the restriction above defers to: it applies to the unconfined label */
        bool apparmor_moat_attached;
        bool userns_usable;  /* conclusion: this caller can create a user namespace */
        bool time_ns;        /* /proc/self/ns/time exists */
        char *userns_reason; /* why not usable, or NULL */

        /* seccomp */
        bool seccomp_filter;     /* Seccomp field in /proc/self/status and filter mode */
        bool seccomp_user_notif; /* "user_notif" in /proc/sys/kernel/seccomp/actions_avail */
        char **seccomp_actions;  /* actions_avail, split */

        /* LSMs */
        int landlock_abi; /* 0 = none */
        char **lsms;      /* /sys/kernel/security/lsm, split */
        bool apparmor_enabled;
        bool apparmor_moat_loaded; /* moat-default present in the loaded policy */
        /* Loaded AppArmor profiles named "moat" or "moat-*" (moat's own names), NULL when not
         * known (AppArmor disabled, or facts from a file that predates the field). */
        char **apparmor_moat_profiles;
        int selinux_mode;         /* -1 disabled/absent, 0 permissive, 1 enforcing */
        bool selinux_moat_loaded; /* the loaded policy knows moat_sandbox_t (moat's module) */

        /* cgroups */
        CgroupLayout cgroup_layout;
        bool cgroup_v2_writable;      /* this caller can create a child in its own v2 cgroup */
        char **cgroup_v2_controllers; /* controllers delegated there (memory, pids, cpu) */
        bool cgroup_v1_writable;      /* caller can mkdir under the v1 controller roots (root) */
        char **cgroup_v1_controllers; /* mounted v1 controllers among memory, pids, cpu */

        /* vm tier */
        bool kvm_usable;      /* kvm_state == KVM_STATE_PROVEN: guests run under KVM */
        KvmState kvm_state;   /* how far /dev/kvm got for QEMU's account */
        char kvm_account[64]; /* the account QEMU runs as ("moat-vm" for root), "" if none */
        char *kvm_reason;     /* why KVM is not used (or not yet), NULL when proven */
        bool qemu_present;    /* qemu-system-x86_64 found */
        char qemu_path[256];
        bool libvirt_present; /* libvirtd binary present (session daemon can spawn) */
        char *guest_kernel;   /* path of a usable guest kernel, or NULL */
        char *vm_reason;      /* why the vm tier cannot run, or NULL */
        uint32_t vm_boot_ms;  /* last measured guest boot on this host, 0 = unknown;
                                         * read from $XDG_CACHE_HOME/moat/vm-boot-ms (written by
                                         * the vm executor after each successful boot) */

        /* system tier */
        bool lxc_present;
        char lxc_version[32];

        /* network: outbound via transparent: slirp4netns opens /dev/net/tun as the caller
         * (a DAC check against the host's node: mode 0600 without udev, 0666 with Debian's
         * rule), so the mode needs both */
        bool tun_usable; /* /dev/net/tun opens read-write for this caller (access()) */
        bool slirp4netns_present;
        char slirp4netns_path[256];
        bool nft_present; /* nft, which loads the rules into the sandbox's netns */
        char nft_path[256];

        /* rootless helpers (moat itself never uses them; reported for the user) */
        bool newuidmap_present;
        bool subuid_range;

        /* resources.disk: whether moat can bound what the run's writable binds receive with a
         * project quota (host_probe_project_quota(): the caller is root, and every writable
         * bind of the run is on one file system that enforces project quotas). A fact of the
         * run's binds, not only of the host: `moat host` reports it for the current directory. */
        bool project_quota;
        char *project_quota_reason; /* why not, or NULL */

        /* Probed with HOST_PROBE_BASE and not completed yet: the caller's name, the rootless
         * helpers and every fact of the vm and system tiers were not looked at (they read as
         * absent). Never in the JSON: host_facts_to_json() refuses partial facts. */
        bool partial;
} HostFacts;

/* Fill *h from this host. Never fails hard: an unreadable fact is reported as absent. */
int host_facts_probe(HostFacts *h);
/* HOST_PROBE_SKIP_KVM: leave /dev/kvm alone (kvm_state unproven, saying so): for `moat run`,
 * which hands a vm-tier plan to moat-vm-run, and that probes again, KVM included. It spares
 * every sandbox launch of a root caller the fork that checks the device as moat-vm. */
#define HOST_PROBE_SKIP_KVM (1u << 0)
/* HOST_PROBE_KVM_TEST_GUEST: `moat host` runs the KVM test guest (host_probe_kvm). */
#define HOST_PROBE_KVM_TEST_GUEST (1u << 1)
/* HOST_PROBE_BASE: only the facts every plan needs (probe.c: probe_base(), the ones that
 * decide the tier and build a sandbox-tier plan and its audit record); h->partial is set, and
 * host_facts_probe_rest() adds the others once the plan's tier is known to need them (vm,
 * system). A sandbox-tier plan resolved from the base facts is the one the whole probe gives
 * (tests/unit/host/test-host-staged.c). */
#define HOST_PROBE_BASE (1u << 2)
int host_facts_probe_flags(HostFacts *h, unsigned flags);
/* Completes facts probed with HOST_PROBE_BASE, as host_facts_probe_flags(h, flags) would have
 * (flags: the others above); a no-op on whole facts. On failure h stays partial, and the
 * caller still owns it (host_facts_done()). */
int host_facts_probe_rest(HostFacts *h, unsigned flags);
int host_facts_from_json_file(const char *path, HostFacts *h, MoatError *error);
int host_facts_from_json_buffer(const char *buf, size_t len, const char *filename, HostFacts *h,
                                MoatError *error);
/* Newly allocated JSON text (jansson), caller frees; NULL with EINVAL for partial facts. */
char *host_facts_to_json(const HostFacts *h);
/* Frees the owned strings; safe on a zeroed struct; leaves the struct zeroed. */
void host_facts_done(HostFacts *h);
/* *dst = a copy of src that shares nothing with it (what host_facts_done() frees, anew). 0, or
 * -ENOMEM with *dst zeroed. */
int host_facts_copy(const HostFacts *src, HostFacts *dst);
/* Which tiers can run here at all, with the reason when not. */
/* Fills h->project_quota for the writable bind sources dirs (absolute paths; NULL-terminated;
 * none: false, "no writable bind"). Reads only. */
int host_probe_project_quota(HostFacts *h, char *const *dirs);

bool host_can_run_tier(const HostFacts *h, int tier, const char **ret_reason);
/* Why this caller cannot create a user namespace, from the sysctls already in h and whether
 * the kernel has user namespaces at all (/proc/self/ns/user); NULL when it can. No I/O. */
const char *host_userns_unusable_reason(const HostFacts *h, bool kernel_has_userns);
/* Whether /proc/self/uid_map text is the identity map of the initial user namespace
 * ("0 0 4294967295"): uid 0 elsewhere (a rootless container) is not real root. No I/O. */
bool host_uid_map_is_initial(const char *uid_map);
const char *cgroup_layout_to_string(CgroupLayout l);
const char *kvm_state_to_string(KvmState s);
KvmState kvm_state_from_string(const char *s); /* _KVM_STATE_MAX if unknown */

/* KVM (host/kvm.c). The key names everything a verdict about booting a guest under KVM depends
 * on: this boot of the host kernel, its release, the kvm modules, the /dev/kvm node, the QEMU
 * binary, the guest kernel and QEMU's account. NULL from the key functions: not keyable. */
#define KVM_PROOF_KEY_HEX 65
int host_kvm_proof_key(const HostFacts *h, char ret[KVM_PROOF_KEY_HEX]);
/* The caller's verdict cache ($XDG_CACHE_HOME/moat/vm-kvm, else ~/.cache/moat/vm-kvm). */
int host_kvm_verdict_path(char **ret);
/* The cached verdict for key: 1 proven, 0 failed (reason in why), -ENOENT none for this key. */
int host_kvm_verdict_load(const char *key, char *why, size_t size);
/* Records the proof's verdict for key; reason is NULL for a guest that booted. */
int host_kvm_verdict_save(const char *key, bool proven, const char *reason);
/* Sets kvm_state/kvm_usable/kvm_reason from a verdict for this host (after a proof). */
int host_kvm_apply_verdict(HostFacts *h, bool proven, const char *reason);
/* Runs, in the calling process (which must be single-threaded and own SIGALRM; in practice a
 * forked child with QEMU's credentials), a 64-bit guest that executes SSE code and a 1M-iteration
 * loop under a 50 ms deadline. true: guest code runs natively; false: why not, in why. */
bool host_kvm_test_guest(char *why, size_t size);
/* The KVM part of the probe (host_facts_probe calls it; needs is_root, user, guest_kernel and
 * qemu_path already probed). test_guest: where no verdict is cached, also run the test guest
 * (host_kvm_test_guest) with QEMU's credentials, so a KVM that cannot run guest code is reported
 * as failed at once; nothing is cached. */
int host_probe_kvm(HostFacts *h, bool test_guest);

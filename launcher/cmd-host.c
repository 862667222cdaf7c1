/* SPDX-License-Identifier: MIT */
/* `moat host`: what this host can enforce for the calling user, fact by fact, with what each
 * fact means for a run, then which isolation tiers can run here at all. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "basic/macros.h"
#include "basic/strv.h"
#include "commands.h"
#include "host/host.h"
#include "profile/profile.h"

static const char *const tier_names[_TIER_MAX] = {
        [TIER_SANDBOX] = "sandbox",
        [TIER_SYSTEM] = "system",
        [TIER_VM] = "vm",
};

static void help(FILE *f) {
        fprintf(f,
                "Usage: moat host [--json] [--host-facts FILE]\n"
                "\n"
                "Print what this host can enforce for the calling user: kernel, user namespaces,\n"
                "seccomp, Landlock, AppArmor/SELinux, cgroups, KVM/QEMU/libvirt, LXC; what each\n"
                "fact means for a run; and which isolation tiers can run here. The probe only\n"
                "reads: it creates no namespace, cgroup or file.\n"
                "\n"
                "KVM is checked with the credentials of the account that runs QEMU (yours, or\n"
                "moat-vm for root): absent, present but unusable (no-access, unsupported, failed,\n"
                "with the reason), present but not proven yet, or usable (a guest kernel has "
                "booted\n"
                "on it; the first vm-tier run proves it once and caches the verdict). Where no\n"
                "verdict is cached, moat host also runs a small test guest on it (not cached).\n"
                "\n"
                "MAC lists the loaded AppArmor profiles of moat's names (moat, moat-default,\n"
                "moat-container) and whether SELinux knows moat_sandbox_t (moat's module); an\n"
                "administrator loads them with `moat policy install`, and `moat policy status`\n"
                "says whether they are the shipped files.\n"
                "\n"
                "  --json              print the host facts as JSON (the --host-facts format)\n"
                "  --host-facts FILE   describe the facts in FILE instead of probing this host\n"
                "  -h, --help          this text\n"
                "\n"
                "Exit status: 0; 125 on a usage error or an invalid --host-facts file.\n");
}

static void row(const char *fact, const char *value, const char *meaning) {
        printf("  %-17s %s\n", fact, value);
        if (meaning)
                printf("  %-17s -> %s\n", "", meaning);
}

/* "a,b,c", or the given text for an empty or unknown list. */
static const char *strv_join(char *const *l, char *buf, size_t size, const char *empty) {
        size_t n = 0;

        buf[0] = '\0';
        STRV_FOREACH (s, l)
                if (n < size)
                        n += (size_t) snprintf(buf + n, size - n, "%s%s", n ? "," : "", *s);
        return buf[0] ? buf : empty;
}

static const char *landlock_meaning(int abi) {
        if (abi <= 0)
                return "no Landlock: profiles requiring Landlock escalate to the vm tier";
        if (abi < 4)
                return "filesystem rules enforced; no TCP or scoping rules";
        if (abi < 6)
                return "filesystem and TCP rules enforced; no scoping rules";
        return "filesystem, TCP and scoping rules enforced";
}

static void print_kernel_and_caller(const HostFacts *h) {
        char value[256];

        snprintf(value, sizeof(value), "%s (%s)%s",
                 h->kernel_release[0] ? h->kernel_release : "unknown",
                 h->arch[0] ? h->arch : "unknown arch", h->merged_usr ? ", merged /usr" : "");
        row("kernel", value, NULL);
        snprintf(value, sizeof(value), "%s (uid %u, gid %u)", h->user, (unsigned) h->uid,
                 (unsigned) h->gid);
        row("caller", value,
            h->is_root ? "root in the initial user namespace: root-only controls (v1 cgroups) apply"
                       : "unprivileged: moat needs no setuid helper and grants no privilege");
}

static void print_userns(const HostFacts *h) {
        char value[256], clone[16], restrict_[16];

        row("user namespaces", h->userns_usable ? "usable" : "not usable",
            h->userns_usable ? "the sandbox maps this user to a single uid inside a new namespace"
            : h->userns_reason
                    ? h->userns_reason
                    : "this user cannot create a user namespace: the sandbox tier cannot run");
        snprintf(clone, sizeof(clone), "%d", h->unprivileged_userns_clone);
        snprintf(restrict_, sizeof(restrict_), "%d", h->apparmor_restrict_userns);
        snprintf(value, sizeof(value),
                 "user.max_user_namespaces %lld; kernel.unprivileged_userns_clone %s; "
                 "kernel.apparmor_restrict_unprivileged_userns %s",
                 (long long) h->max_user_namespaces,
                 h->unprivileged_userns_clone < 0 ? "absent" : clone,
                 h->apparmor_restrict_userns < 0 ? "absent" : restrict_);
        row("userns sysctls", value,
            h->apparmor_restrict_userns == 1 && h->apparmor_moat_attached
                    ? "moat runs under its AppArmor profile moat, whose userns rule the "
                      "restriction defers to"
                    : NULL);
        row("time namespace", h->time_ns ? "yes" : "no",
            h->time_ns ? NULL : "the workload sees the host's monotonic and boot-time clocks");
}

static void print_seccomp_landlock(const HostFacts *h) {
        char value[64];

        row("seccomp",
            !h->seccomp_filter      ? "no filter support"
            : h->seccomp_user_notif ? "filter, user notification"
                                    : "filter, no user notification",
            !h->seccomp_filter ? "no syscall filtering: the sandbox tier cannot run"
            : h->seccomp_user_notif
                    ? "syscall filters enforced; denied calls can be reported in the audit record"
                    : "syscall filters enforced; denied calls are not reported");
        if (h->landlock_abi > 0)
                snprintf(value, sizeof(value), "ABI %d", h->landlock_abi);
        else
                snprintf(value, sizeof(value), "not available");
        row("Landlock", value, landlock_meaning(h->landlock_abi));
}

static const char *mac_meaning(const HostFacts *h) {
        if (h->apparmor_enabled && h->apparmor_moat_loaded)
                return "workloads run confined by moat's AppArmor profile";
        if (h->selinux_mode == 1 && h->selinux_moat_loaded)
                return "workloads run in moat's SELinux domain";
        if (h->apparmor_enabled)
                return "moat-default is not loaded (an administrator runs `moat policy "
                       "install`); until then profiles requiring it escalate to the vm tier";
        if (h->selinux_mode == 1)
                return "moat's SELinux module is not loaded (an administrator runs `moat policy "
                       "install`); until then profiles requiring it escalate to the vm tier";
        if (h->selinux_mode == 0)
                return "SELinux is permissive (it logs, it does not deny): profiles requiring MAC "
                       "escalate to the vm tier";
        return "no AppArmor/SELinux: profiles requiring MAC escalate to the vm tier";
}

static void print_mac(const HostFacts *h) {
        char lsms[512], value[256];

        row("active LSMs",
            strv_join(h->lsms, lsms, sizeof(lsms),
                      h->lsms ? "none" : "unknown (securityfs is not mounted)"),
            NULL);
        snprintf(value, sizeof(value), "AppArmor %s; SELinux %s%s",
                 !h->apparmor_enabled      ? "not enabled"
                 : h->apparmor_moat_loaded ? "enabled, moat-default loaded"
                                           : "enabled, moat-default not loaded",
                 h->selinux_mode == 1   ? "enforcing"
                 : h->selinux_mode == 0 ? "permissive"
                                        : "disabled",
                 h->selinux_mode < 0      ? ""
                 : h->selinux_moat_loaded ? ", moat module loaded"
                                          : ", moat module not loaded");
        row("MAC", value, mac_meaning(h));
        if (h->apparmor_enabled)
                row("moat's AppArmor profiles",
                    strv_join(h->apparmor_moat_profiles, lsms, sizeof(lsms), "none loaded"),
                    "`moat policy status` compares them with the shipped files");
}

static void print_cgroups(const HostFacts *h) {
        char v1[128], v2[128], value[512], meaning[512];
        const char *layout = cgroup_layout_to_string(h->cgroup_layout);

        snprintf(value, sizeof(value), "%s; own v2 cgroup %s (%s); v1 %s (%s)", layout,
                 h->cgroup_v2_writable ? "writable" : "not writable",
                 strv_join(h->cgroup_v2_controllers, v2, sizeof(v2), "no controllers delegated"),
                 h->cgroup_v1_writable ? "writable" : "not writable",
                 strv_join(h->cgroup_v1_controllers, v1, sizeof(v1), "no controllers mounted"));
        if (h->cgroup_v2_writable && h->cgroup_v2_controllers && h->cgroup_v2_controllers[0])
                snprintf(meaning, sizeof(meaning),
                         "resource limits enforced in a child of this user's cgroup (%s)", v2);
        else if (h->cgroup_v1_writable)
                snprintf(meaning, sizeof(meaning),
                         "resource limits enforced through v1 controllers (%s)", v1);
        else
                snprintf(meaning, sizeof(meaning),
                         "cgroup %s, not writable by this user: resource limits fall back to "
                         "rlimits "
                         "or escalate",
                         layout);
        row("cgroups", value, meaning);
}

static void print_vm(const HostFacts *h) {
        char value[320];

        char kvm[160], kvm_meaning[768];

        switch (h->kvm_state) {
        case KVM_STATE_PROVEN:
                snprintf(kvm, sizeof(kvm), "usable (a guest booted on it, QEMU as %s)",
                         h->kvm_account[0] ? h->kvm_account : "?");
                snprintf(kvm_meaning, sizeof(kvm_meaning),
                         "guests run with hardware virtualisation");
                break;
        case KVM_STATE_UNPROVEN:
                snprintf(kvm, sizeof(kvm), "present, not proven yet");
                snprintf(kvm_meaning, sizeof(kvm_meaning), "%s; until then guests run under TCG",
                         h->kvm_reason ? h->kvm_reason : "no guest has run on it yet");
                break;
        case KVM_STATE_ABSENT:
                snprintf(kvm, sizeof(kvm), "absent");
                snprintf(
                        kvm_meaning, sizeof(kvm_meaning),
                        "guests run under QEMU TCG emulation: still a separate kernel, but slower");
                break;
        default:
                snprintf(kvm, sizeof(kvm), "present but unusable (%s)",
                         kvm_state_to_string(h->kvm_state));
                snprintf(kvm_meaning, sizeof(kvm_meaning),
                         "%s; guests run under QEMU TCG emulation: still a separate kernel, but "
                         "slower",
                         h->kvm_reason ? h->kvm_reason : "no reason recorded");
                break;
        }
        row("KVM", kvm, kvm_meaning);
        row("QEMU", h->qemu_present ? h->qemu_path : "not found", NULL);
        row("libvirt", h->libvirt_present ? "installed" : "not installed", NULL);
        row("guest kernel", h->guest_kernel ? h->guest_kernel : "none", NULL);
        if (h->vm_boot_ms > 0)
                snprintf(value, sizeof(value), "%u ms (last measured on this host)", h->vm_boot_ms);
        else
                snprintf(value, sizeof(value), "not measured yet");
        row("guest boot", value, NULL);
}

static void print_helpers(const HostFacts *h) {
        char value[128];

        if (h->lxc_present)
                snprintf(value, sizeof(value), "liblxc %s",
                         h->lxc_version[0] ? h->lxc_version : "(version unknown)");
        else
                snprintf(value, sizeof(value), "not available");
        row("LXC", value, h->lxc_present ? NULL : "system containers cannot run");
        row("/dev/net/tun", h->tun_usable ? "usable" : "not usable by this user",
            h->tun_usable ? NULL : "network: outbound via: transparent cannot run");
        row("slirp4netns", h->slirp4netns_present ? h->slirp4netns_path : "not installed",
            h->slirp4netns_present ? NULL : "network: outbound via: transparent cannot run");
        row("nft", h->nft_present ? h->nft_path : "not installed",
            h->nft_present ? NULL : "network: outbound via: transparent cannot run");
        snprintf(value, sizeof(value), "newuidmap %s; subordinate uids %s",
                 h->newuidmap_present ? "installed" : "not installed",
                 h->subuid_range ? "assigned in /etc/subuid" : "not assigned");
        row("rootless helpers", value, "not used by moat: the sandbox maps a single uid");
        row("project quota", h->project_quota ? "yes, for the current directory" : "no",
            h->project_quota ? "resources.disk bounds the total a writable bind receives"
                             : h->project_quota_reason);
}

static void print_host(const HostFacts *h) {
        printf("Host facts (%s)\n\n", h->source);
        print_kernel_and_caller(h);
        print_userns(h);
        print_seccomp_landlock(h);
        print_mac(h);
        print_cgroups(h);
        print_vm(h);
        print_helpers(h);

        printf("\nIsolation tiers\n\n");
        for (int t = 0; t < _TIER_MAX; t++) {
                const char *reason = NULL;
                if (host_can_run_tier(h, t, &reason))
                        printf("  %-8s can run\n", tier_names[t]);
                else
                        printf("  %-8s cannot run (%s)\n", tier_names[t], reason);
        }
}

int cmd_host(int argc, char **argv) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "json", no_argument, NULL, 'j' },
                { "host-facts", required_argument, NULL, 'H' },
                {},
        };
        _cleanup_(host_facts_done) HostFacts h = {};
        const char *facts_file = NULL;
        bool json = false;
        int c, r;

        optind = 0; /* GNU: reinitialise, the caller may have parsed argv before */
        opterr = 0; /* our own messages, prefixed "moat host:" and naming the flag */
        while ((c = getopt_long(argc, argv, "+:h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help(stdout);
                        return 0;
                case 'j':
                        json = true;
                        break;
                case 'H':
                        facts_file = optarg;
                        break;
                case ':':
                        fprintf(stderr,
                                "moat host: option '%s' needs an argument (try 'moat host "
                                "--help')\n",
                                argv[optind - 1]);
                        return EXIT_MOAT_FAILED;
                default:
                        /* getopt_long sets optopt for a known long option given an argument */
                        if (optopt != 0 && strncmp(argv[optind - 1], "--", 2) == 0) {
                                fprintf(stderr, "moat host: option '%s' takes no argument\n",
                                        argv[optind - 1]);
                                return EXIT_MOAT_FAILED;
                        }
                        fprintf(stderr, "moat host: unknown option '%s' (try 'moat host --help')\n",
                                argv[optind - 1]);
                        return EXIT_MOAT_FAILED;
                }
        if (optind < argc) {
                fprintf(stderr, "moat host: unexpected argument '%s' (try 'moat host --help')\n",
                        argv[optind]);
                return EXIT_MOAT_FAILED;
        }

        if (facts_file) {
                MoatError error = {};
                char buf[1024];

                r = host_facts_from_json_file(facts_file, &h, &error);
                if (r < 0) {
                        fprintf(stderr, "moat host: --host-facts: %s\n",
                                moat_error_is_set(&error)
                                        ? moat_error_format(&error, buf, sizeof(buf))
                                        : strerror(-r));
                        return EXIT_MOAT_FAILED;
                }
        } else {
                r = host_facts_probe_flags(&h, HOST_PROBE_KVM_TEST_GUEST);
                /* resources.disk's project quota, for the current directory as a work
                 * directory bound read-write (moat run probes the run's own binds) */
                _cleanup_free_ char *cwd = r >= 0 ? getcwd(NULL, 0) : NULL;
                if (r >= 0)
                        r = host_probe_project_quota(&h, (char *[]){ cwd, NULL });
                if (r < 0) {
                        fprintf(stderr, "moat host: cannot probe this host: %s\n", strerror(-r));
                        return EXIT_MOAT_FAILED;
                }
        }

        if (json) {
                _cleanup_free_ char *text = host_facts_to_json(&h);
                if (!text) {
                        fprintf(stderr, "moat host: cannot serialise host facts: %s\n",
                                strerror(errno));
                        return EXIT_MOAT_FAILED;
                }
                printf("%s\n", text);
        } else
                print_host(&h);
        return fflush(stdout) == 0 ? 0 : EXIT_MOAT_FAILED;
}

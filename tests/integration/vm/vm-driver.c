/* SPDX-License-Identifier: MIT */
/* Test driver: runs vm_execute() on a hand-built vm-tier Plan, so the vm executor is tested on
 * its own, independently of the profile, policy and resolver.
 *   vm-driver [-k KERNEL] [-m MIB] [-t TIMEOUT_MS] [-c CPU_TIME_MS] [-o OUTPUT_BYTES] [-r]
 *             [-a APPARMOR_PROFILE] [-K KERNEL_ARGS] [-b SRC:TARGET:ro|rw[-noexec]]... [-w TARGET]
 *             [-L] -- CMD ARGS...
 * -L: a required Landlock control whose ruleset lets the command read and execute everything
 * and write nothing (ABI 1 rights), for moat-init to apply in the guest.
 * Prints "tier_detail=...", "started=...", "exit_status=..." on fd 3 when it is open. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "executor.h"

int main(int argc, char **argv) {
        static PlanMount mounts[32];
        Plan plan = { .tier = TIER_VM };
        RunRequest req = {};
        RunOutcome o = {};
        char cwd[4096];
        size_t n = 0;
        int c;

        plan.vm.kernel = getenv("MOAT_GUEST_KERNEL");
        plan.vm.memory = 256ull << 20;
        plan.vm.vcpus = 1;
        mounts[n++] = (PlanMount){ .kind = PLAN_MOUNT_TMPFS, .target = "/tmp", .size = 64 << 20 };
        while ((c = getopt(argc, argv, "k:m:t:c:o:ra:b:w:K:L")) >= 0) {
                switch (c) {
                case 'k':
                        plan.vm.kernel = optarg;
                        break;
                case 'm':
                        plan.vm.memory = strtoull(optarg, NULL, 10) << 20;
                        break;
                case 't':
                        plan.resources.timeout_ms = strtoull(optarg, NULL, 10);
                        break;
                case 'c': /* resources.cpu_time, enforced by the guest init */
                        plan.resources.cpu_time_ms = strtoull(optarg, NULL, 10);
                        break;
                case 'o': /* resources.output, counted on the guest's output ports */
                        plan.resources.output_bytes = strtoull(optarg, NULL, 10);
                        break;
                case 'r':
                        plan.vm.guest_root = true;
                        break;
                case 'a':
                        plan.vm.guest_apparmor = optarg;
                        break;
                case 'K': /* the host configuration a matrix row boots the guest in */
                        plan.vm.kernel_args = optarg;
                        break;
                case 'b': {
                        char *src = strdup(optarg), *tgt = strchr(src, ':'), *mode;
                        if (!tgt || !(mode = strchr(tgt + 1, ':')) || n >= 32)
                                return 2;
                        *tgt++ = 0;
                        *mode++ = 0;
                        mounts[n++] = (PlanMount){
                                .kind = PLAN_MOUNT_BIND,
                                .source = src,
                                .target = tgt,
                                .flags = (strncmp(mode, "ro", 2) == 0 ? PLAN_MOUNT_RDONLY : 0) |
                                         (strstr(mode, "noexec") ? PLAN_MOUNT_NOEXEC : 0)
                        };
                        break;
                }
                case 'w':
                        plan.sandbox.workdir_target = optarg;
                        break;
                case 'L': {
                        /* read dir 1<<3, read file 1<<2, execute 1<<0: nothing else */
                        static PlanLandlockPath all_read[] = { { .path = "/", .access = 0xd } };
                        static PlanControl landlock = { .name = "landlock",
                                                        .status = CONTROL_REQUIRED };
                        plan.sandbox.landlock = (PlanLandlock){ .status = CONTROL_REQUIRED,
                                                                .abi = 1,
                                                                .handled_fs = (1u << 13) - 1,
                                                                .paths = all_read,
                                                                .n_paths = 1 };
                        plan.controls = &landlock;
                        plan.n_controls = 1;
                        break;
                }
                default:
                        return 2;
                }
        }
        if (optind >= argc || !getcwd(cwd, sizeof(cwd)))
                return 2;
        plan.sandbox.mounts = mounts;
        plan.sandbox.n_mounts = n;
        req.argv = argv + optind;
        req.workdir = cwd;
        req.caller_env = (char *[]){ "PATH=/usr/bin:/bin", "LANG=C", NULL };
        req.quiet = true;
        vm_execute(&plan, &req, &o);
        FILE *f = fdopen(3, "w");
        if (f) {
                fprintf(f,
                        "tier_detail=%s\nstarted=%d\nexit_status=%d\nexit_code=%d\nsignal=%d\n"
                        "timed_out=%d\ncpu_time_exceeded=%d\noutput_exceeded=%d\nfailed_step=%s\n"
                        "wall_ms=%llu\n",
                        o.tier_detail, o.started, o.exit_status, o.exit_code, o.signal, o.timed_out,
                        o.cpu_time_exceeded, o.output_exceeded, o.failed_step,
                        (unsigned long long) (o.wall_ns / 1000000));
                fclose(f);
        }
        return o.exit_status;
}

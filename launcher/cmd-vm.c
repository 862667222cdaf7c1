/* SPDX-License-Identifier: MIT */
/* moat vm prepare: create the vm tier's warm-start template for a profile ahead of its first
 * run (launcher/vm/README.md, "Warm start"). */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/macros.h"
#include "commands.h"
#include "context.h"
#include "executor.h"
#include "profile/profile.h"
#include "sys/heap.h"
#if MOAT_WITH_VM
#include "vm/vm-kvm-proof.h"
#endif

#define VM_PREPARE_DEFAULT_PROFILE "hostile"

static void help(FILE *f) {
        fprintf(f,
                "Usage: moat vm prepare [-p PROFILE] [--workdir DIR] [--policy FILE] [-q]\n"
                "\n"
                "Create the warm-start template that `moat run -p PROFILE` restores in the vm\n"
                "tier, so that the first run is warm too. A template is one guest boot, kept\n"
                "per user (for root: per the moat-vm account QEMU runs as) and keyed by the\n"
                "guest kernel, the initramfs, QEMU, the machine, the memory size, the kernel\n"
                "command line and the guest's share layout: profiles that differ only in what\n"
                "the command does share one. Running it again when the template is there does\n"
                "nothing and says so.\n"
                "\n"
                "  -p, --profile PROFILE   a shipped profile name or a profile file "
                "[" VM_PREPARE_DEFAULT_PROFILE
                "]\n"
                "      --workdir DIR       the work directory the runs will use (default: the\n"
                "                          current directory; only its presence matters)\n"
                "      --policy FILE       site policy file (default: /etc/moat/policy.yaml if "
                "present)\n"
                "  -q, --quiet             no progress messages\n"
                "  -h, --help              this help\n"
                "\n"
                "Prints \"created DIR\" or \"present DIR\" on stdout.\n"
                "\n"
                "Exit status: 0 the template is ready; 125 the profile does not run in the vm\n"
                "tier on this host, warm start is off (MOAT_VM_START=cold), or the template\n"
                "could not be made (the reason is printed).\n");
}

static int usage(const char *msg, const char *arg) {
        fprintf(stderr, "moat vm: %s%s%s (try 'moat vm --help')\n", msg, arg ? " " : "",
                arg ? arg : "");
        return EXIT_MOAT_FAILED;
}

static int vm_prepare_cmd(int argc, char **argv, char **full_argv) {
        enum {
                ARG_WORKDIR = 0x100,
                ARG_POLICY
        };
        static const struct option options[] = {
                { "profile", required_argument, NULL, 'p' },
                { "workdir", required_argument, NULL, ARG_WORKDIR },
                { "policy", required_argument, NULL, ARG_POLICY },
                { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *profile = VM_PREPARE_DEFAULT_PROFILE, *workdir_arg = NULL, *policy = NULL;
        _cleanup_free_ char *workdir = NULL;
        bool quiet = false;
        struct stat st;
        int c;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":p:qh", options, NULL)) >= 0) {
                switch (c) {
                case 'p':
                        profile = optarg;
                        break;
                case ARG_WORKDIR:
                        workdir_arg = optarg;
                        break;
                case ARG_POLICY:
                        policy = optarg;
                        break;
                case 'q':
                        quiet = true;
                        break;
                case 'h':
                        help(stdout);
                        return 0;
                case ':':
                        return usage("option needs a value:", argv[optind - 1]);
                default:
                        return usage("unknown option", argv[optind - 1]);
                }
        }
        if (optind < argc)
                return usage("unexpected argument", argv[optind]);
        workdir = realpath(workdir_arg ? workdir_arg : ".", NULL);
        if (!workdir || stat(workdir, &st) < 0 || !S_ISDIR(st.st_mode)) {
                fprintf(stderr, "moat vm: --workdir %s: not a directory\n",
                        workdir_arg ? workdir_arg : ".");
                return EXIT_MOAT_FAILED;
        }
#if !MOAT_WITH_VM
        /* The vm executor lives in moat-vm-run (cmd-run.c); it parses the same arguments. */
        const char *error = NULL;
        (void) quiet;
        (void) policy;
        (void) profile;
        return exec_runner("moat-vm-run", full_argv, &error);
#else
        (void) full_argv;
        RunContextArgs cargs = { .profile = profile, .policy_file = policy, .workdir = workdir };
        RunContext ctx = {};
        MoatError err = {};
        RunOutcome outcome = { .exit_status = EXIT_MOAT_FAILED, .exit_code = -1 };
        char *cmd[] = { (char *) "/bin/true", NULL };
        char *env[] = { NULL };
        char buf[1024];
        int r;
        RunRequest req = { .argv = cmd, .workdir = workdir, .caller_env = env, .quiet = quiet };

        r = run_context_load(&cargs, &ctx, &err);
        if (r >= 0 && !ctx.plan->refused && ctx.plan->tier == TIER_VM &&
            ctx.host.kvm_state == KVM_STATE_UNPROVEN) {
                r = vm_kvm_prove(&ctx.host, quiet);
                if (r >= 0)
                        r = run_context_resolve_again(&ctx, &err);
                if (r < 0 && !moat_error_is_set(&err))
                        moat_error_set(&err, "", 0, 0, "the KVM proof failed: %s", strerror(-r));
        }
        if (r < 0) {
                if (!moat_error_is_set(&err))
                        moat_error_set(&err, "", 0, 0, "%s", "cannot load the run's inputs");
                fprintf(stderr, "moat vm: %s\n", moat_error_format(&err, buf, sizeof(buf)));
                run_context_done(&ctx);
                return EXIT_MOAT_FAILED;
        }
        if (ctx.plan->refused) {
                fprintf(stderr, "moat vm: profile %s is refused: %s\n", profile,
                        ctx.plan->refusal ? ctx.plan->refusal : "no reason given");
                run_context_done(&ctx);
                return EXIT_MOAT_FAILED;
        }
        if (ctx.plan->tier != TIER_VM) {
                fprintf(stderr,
                        "moat vm: profile %s runs in the %s tier on this host, not the vm tier: "
                        "there is no template to prepare\n",
                        profile, tier_to_string(ctx.plan->tier));
                run_context_done(&ctx);
                return EXIT_MOAT_FAILED;
        }
        (void) vm_prepare(ctx.plan, &req, &outcome);
        r = outcome.exit_status;
        if (r == 0)
                printf("%s\n", outcome.tier_detail);
        else if (!outcome.message[0])
                fprintf(stderr, "moat vm: cannot prepare the template\n");
        run_outcome_done(&outcome);
        run_context_done(&ctx);
        return r == 0 && fflush(stdout) == 0 ? 0 : EXIT_MOAT_FAILED;
#endif
}

int cmd_vm(int argc, char **argv) {
        sys_heap_reserve(MOAT_HEAP_RESERVE);
        if (argc < 2)
                return usage("a subcommand is required:", "prepare");
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
            strcmp(argv[1], "help") == 0) {
                help(stdout);
                return 0;
        }
        if (strcmp(argv[1], "prepare") == 0)
                return vm_prepare_cmd(argc - 1, argv + 1, argv);
        return usage("unknown subcommand", argv[1]);
}

/* SPDX-License-Identifier: MIT */
/* Test helper: append COUNT records to LOG through audit_log_run(), exactly as `moat run` does,
 * from a hand-built plan and outcome (a sandbox run of "true" with one keyctl denial). Used by
 * the concurrency, crash and benchmark scripts, where launching real sandboxes would measure
 * the sandbox instead of the log.
 *
 *   audit-writer [--key FILE] [--journal] [--profile NAME] [--pad BYTES] LOG COUNT */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "key", required_argument, NULL, 'k' },
                { "profile", required_argument, NULL, 'p' },
                { "pad", required_argument, NULL, 'P' },
                { "journal", no_argument, NULL, 'j' },
                {},
        };
        const char *profile = "ci-untrusted";
        Policy policy = {};
        size_t pad = 0;
        int c;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'k':
                        policy.audit_hmac_key_file = optarg;
                        break;
                case 'j':
                        policy.audit_journal = true;
                        break;
                case 'p':
                        profile = optarg;
                        break;
                case 'P':
                        pad = strtoul(optarg, NULL, 10);
                        break;
                default:
                        return 2;
                }
        if (argc - optind != 2) {
                fprintf(stderr,
                        "usage: audit-writer [--key FILE] [--journal] [--profile NAME] [--pad "
                        "BYTES] LOG "
                        "COUNT\n");
                return 2;
        }
        const char *log = argv[optind];
        long count = strtol(argv[optind + 1], NULL, 10);

        /* --pad makes records big, so that a kill lands inside write(2) more often. */
        char *padding = calloc(pad + 1, 1);
        if (!padding)
                return 1;
        memset(padding, 'x', pad);
        char *cmd_argv[] = { "true", pad > 0 ? padding : NULL, NULL };

        PlanControl controls[] = {
                { .name = "userns", .status = CONTROL_REQUIRED, .detail = "uid 1000 -> 1000" },
                { .name = "seccomp", .status = CONTROL_REQUIRED, .detail = "x86_64,x32,x86" },
                { .name = "landlock", .status = CONTROL_BEST_EFFORT },
        };
        PlanDecision decisions[] = {
                { .rule_id = "profile-isolation",
                  .sentence = "the profile asks for the sandbox tier",
                  .min_tier = TIER_SANDBOX },
        };
        PlanSyscallRule rules[] = {
                { .name = "keyctl",
                  .action = SECCOMP_ACTION_ERRNO,
                  .errno_value = 1,
                  .group = "keys",
                  .origin = "policies/seccomp/default.yaml:41" },
        };
        Plan plan = {
                .tier = TIER_SANDBOX,
                .profile_name = (char *) profile,
                .profile_path = "profiles/ci-untrusted.yaml",
                .decisions = decisions,
                .n_decisions = 1,
                .controls = controls,
                .n_controls = 3,
                .trust = TRUST_UNTRUSTED,
        };
        plan.sandbox.seccomp.rules = rules;
        plan.sandbox.seccomp.n_rules = 1;
        ControlOutcome outcomes[] = { CONTROL_OUTCOME_APPLIED, CONTROL_OUTCOME_APPLIED,
                                      CONTROL_OUTCOME_DEGRADED };
        RunDenial denial = { .syscall = "keyctl", .arch = "x86_64", .count = 3, .rule_index = 0 };
        RunRequest req = { .argv = cmd_argv, .workdir = "/tmp" };

        for (long i = 0; i < count; i++) {
                RunOutcome out = {
                        .started = true,
                        .exit_code = 0,
                        .wall_ns = 1000000,
                        .controls = outcomes,
                        .n_controls = 3,
                        .denials = &denial,
                        .n_denials = 1,
                };
                denial.first_ns = now_ns();
                AuditContext ctx = {
                        .plan = &plan,
                        .policy = &policy,
                        .request = &req,
                        .outcome = &out,
                        .profile_arg = profile,
                        .start_realtime_ns = now_ns(),
                };
                int r = audit_log_run(&ctx, log);
                if (r < 0) {
                        fprintf(stderr, "audit-writer: %s: %s\n", log, audit_log_strerror(r));
                        return 1;
                }
        }
        free(padding);
        return 0;
}

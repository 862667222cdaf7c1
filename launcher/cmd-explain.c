/* SPDX-License-Identifier: MIT */
/* moat explain: print the plan for a profile without running anything. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "basic/macros.h"
#include "commands.h"
#include "context.h"
#include "sys/heap.h"

static void explain_help(FILE *f) {
        fprintf(f,
                "Usage: moat explain -p PROFILE [--json] [--host-facts FILE] [--policy FILE]\n"
                "\n"
                "Print the plan moat would apply for PROFILE on this host: the tier and why, "
                "every\n"
                "control with its status, what is degraded, and what the workload can still "
                "reach.\n"
                "Nothing is run.\n"
                "\n"
                "  -p, --profile PROFILE   a shipped profile name or a path to a .yaml file\n"
                "      --json              the plan as JSON (policies/README.md, \"Plan JSON\")\n"
                "      --host-facts FILE   decide for the host described in FILE (moat host "
                "--json)\n"
                "                          instead of probing this one\n"
                "      --policy FILE       site policy file (default /etc/moat/policy.yaml if\n"
                "                          present; --policy '' uses the shipped policy alone)\n"
                "  -h, --help              this text\n"
                "\n"
                "Exit status: 0 the plan can run; 125 moat would refuse it (the plan and the "
                "reason\n"
                "are still printed) or the input is invalid.\n");
}

int cmd_explain(int argc, char **argv) {
        enum {
                ARG_JSON = 0x100,
                ARG_HOST_FACTS,
                ARG_POLICY
        };
        static const struct option options[] = {
                { "profile", required_argument, NULL, 'p' },
                { "json", no_argument, NULL, ARG_JSON },
                { "host-facts", required_argument, NULL, ARG_HOST_FACTS },
                { "policy", required_argument, NULL, ARG_POLICY },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        /* The plan is all explain prints: the vm and system facts only for a plan of theirs. */
        RunContextArgs args = { .probe_flags = HOST_PROBE_BASE };
        RunContext ctx = {};
        MoatError error = {};
        bool json = false;
        int c, r;

        sys_heap_reserve(MOAT_HEAP_RESERVE);
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":p:h", options, NULL)) >= 0) {
                switch (c) {
                case 'p':
                        args.profile = optarg;
                        break;
                case ARG_JSON:
                        json = true;
                        break;
                case ARG_HOST_FACTS:
                        args.host_facts_file = optarg;
                        break;
                case ARG_POLICY:
                        args.policy_file = optarg;
                        break;
                case 'h':
                        explain_help(stdout);
                        return 0;
                case ':':
                        fprintf(stderr, "moat explain: option '%s' needs a value\n",
                                argv[optind - 1]);
                        return EXIT_MOAT_FAILED;
                default:
                        fprintf(stderr,
                                "moat explain: unknown option '%s' (try 'moat explain --help')\n",
                                argv[optind - 1]);
                        return EXIT_MOAT_FAILED;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "moat explain: unexpected argument '%s'\n", argv[optind]);
                return EXIT_MOAT_FAILED;
        }
        if (!args.profile) {
                fprintf(stderr, "moat explain: -p/--profile is required\n");
                return EXIT_MOAT_FAILED;
        }

        r = run_context_load(&args, &ctx, &error);
        if (r < 0) {
                char buf[1024];
                if (!moat_error_is_set(&error))
                        moat_error_set(&error, "", 0, 0, "%s", "cannot load the run's inputs");
                fprintf(stderr, "moat explain: %s\n", moat_error_format(&error, buf, sizeof(buf)));
                return EXIT_MOAT_FAILED;
        }

        if (json) {
                json_t *j = plan_to_json(ctx.plan);
                char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
                json_decref(j);
                if (!s) {
                        fprintf(stderr, "moat explain: out of memory\n");
                        run_context_done(&ctx);
                        return EXIT_MOAT_FAILED;
                }
                printf("%s\n", s);
                free(s);
        } else {
                _cleanup_free_ char *text = plan_to_text(ctx.plan);
                if (!text) {
                        fprintf(stderr, "moat explain: out of memory\n");
                        run_context_done(&ctx);
                        return EXIT_MOAT_FAILED;
                }
                fputs(text, stdout);
        }
        if (fflush(stdout) != 0) {
                run_context_done(&ctx);
                return EXIT_MOAT_FAILED;
        }
        r = ctx.plan->refused ? EXIT_MOAT_FAILED : 0;
        if (ctx.plan->refused)
                fprintf(stderr, "moat explain: refused: %s\n", ctx.plan->refusal);
        run_context_done(&ctx);
        return r;
}

/* SPDX-License-Identifier: MIT */
/* moat check PROFILE...: load and validate profiles (with what they extend), report each. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "basic/error.h"
#include "commands.h"
#include "profile/profile.h"

static void check_help(FILE *f) {
        fprintf(f,
                "Usage: moat check [OPTIONS] PROFILE...\n"
                "\n"
                "Validate profiles: each PROFILE is a name (searched in $MOAT_PROFILE_PATH,\n"
                "$XDG_CONFIG_HOME/moat/profiles, /etc/moat/profiles and the shipped profiles) or "
                "a\n"
                "path (contains '/' or ends in .yaml). Every file it extends is checked too.\n"
                "\n"
                "Prints 'PATH: ok' for a valid profile and 'FILE:LINE:COLUMN: message' for the "
                "first\n"
                "error in an invalid one.\n"
                "\n"
                "Options:\n"
                "  --json       print one JSON array with a result object per profile\n"
                "  -h, --help   show this help\n"
                "\n"
                "Exit status: 0 if every profile is valid, 125 otherwise.\n");
}

static json_t *check_result_json(const char *arg, const Profile *p, const MoatError *e) {
        char hex[65];

        if (p) {
                for (size_t i = 0; i < sizeof(p->digest); i++)
                        snprintf(hex + 2 * i, 3, "%02x", p->digest[i]);
                return json_pack("{s:s, s:s, s:b, s:s, s:s}", "profile", arg, "path", p->path, "ok",
                                 1, "name", p->name, "digest", hex);
        }
        return json_pack("{s:s, s:b, s:{s:s, s:i, s:i, s:s}}", "profile", arg, "ok", 0, "error",
                         "file", e->file, "line", (json_int_t) e->line, "column",
                         (json_int_t) e->column, "message", e->message);
}

int cmd_check(int argc, char **argv) {
        static const struct option options[] = {
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        json_t *results = NULL;
        bool json = false, all_ok = true;
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 'j':
                        json = true;
                        break;
                case 'h':
                        check_help(stdout);
                        return 0;
                default:
                        fprintf(stderr,
                                "moat check: unknown option '%s' (try 'moat check --help')\n",
                                argv[optind - 1]);
                        return EXIT_MOAT_FAILED;
                }
        if (optind >= argc) {
                fprintf(stderr, "moat check: no PROFILE given (try 'moat check --help')\n");
                return EXIT_MOAT_FAILED;
        }
        if (json && !(results = json_array())) {
                fprintf(stderr, "moat check: out of memory\n");
                return EXIT_MOAT_FAILED;
        }
        for (int i = optind; i < argc; i++) {
                _cleanup_profile_ Profile *p = NULL;
                MoatError error = {};
                char buf[1024];
                int r;

                r = profile_load(argv[i], &p, &error);
                if (r < 0 && !moat_error_is_set(&error))
                        moat_error_set(&error, argv[i], 0, 0, "cannot load profile: %s",
                                       strerror(-r));
                all_ok = all_ok && r >= 0;
                if (json)
                        json_array_append_new(
                                results, check_result_json(argv[i], r >= 0 ? p : NULL, &error));
                else if (r >= 0)
                        printf("%s: ok\n", p->path);
                else
                        fprintf(stderr, "%s\n", moat_error_format(&error, buf, sizeof(buf)));
        }
        if (json) {
                json_dumpf(results, stdout, JSON_INDENT(2));
                fputc('\n', stdout);
                json_decref(results);
        }
        return all_ok ? 0 : EXIT_MOAT_FAILED;
}

/* SPDX-License-Identifier: MIT */
/* argv -> subcommand. The only file that calls exit(). */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "commands.h"
#include "config.h"

static const struct {
        const char *name;
        int (*fn)(int argc, char **argv);
        const char *summary;
} commands[] = {
        { "run", cmd_run, "run a command under a profile's plan" },
        { "explain", cmd_explain, "print the plan for a profile without running anything" },
        { "check", cmd_check, "validate profile files" },
        { "host", cmd_host, "print what this host can enforce" },
        { "audit", cmd_audit, "show, follow and verify the audit log" },
        { "policy", cmd_policy,
          "install, check or remove moat's AppArmor/SELinux policies (root)" },
        { "oci", cmd_oci, "the OCI runtime command line (containerd, CRI-O)" },
        { "image", cmd_image, "build, import, list and remove system-tier images" },
        { "vm", cmd_vm, "prepare the vm tier's warm-start template for a profile" },
};

static void help(FILE *f) {
        fprintf(f,
                "Usage: moat COMMAND [OPTIONS] ...\n"
                "\n"
                "moat runs a command under the strongest isolation that a profile, the site\n"
                "policy and this host allow, and records what it applied.\n"
                "\n"
                "Commands:\n");
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
        fprintf(f,
                "\n"
                "  moat COMMAND --help     options of one command\n"
                "  moat --version\n"
                "\n"
                "Exit status: the command's own; 125 moat refused or failed before the command\n"
                "started; 126 not executable; 127 not found; 128+N killed by signal N.\n");
}

int main(int argc, char **argv) {
        const char *base = strrchr(argv[0], '/');
        uint32_t seed = 0;

        /* jansson's hash seed (its tables' defence against colliding keys), from one
         * getrandom() instead of jansson's own open/read/close of /dev/urandom. 0, or no
         * entropy yet: jansson draws it itself, as before. */
        if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t) sizeof(seed) && seed)
                json_object_seed(seed);

        /* The OCI runtime (launcher/oci/cmd-oci.c) as `moat-oci`, or as a link in a directory
         * named oci whose name is the handler's profile (/usr/libexec/moat/oci/ci-untrusted). */
        if ((base && base - argv[0] >= 4 && strncmp(base - 4, "/oci", 4) == 0) ||
            (base && base - argv[0] == 3 && strncmp(argv[0], "oci", 3) == 0) ||
            strcmp(base ? base + 1 : argv[0], "moat-oci") == 0)
                return cmd_oci(argc, argv);
        if (argc < 2) {
                help(stderr);
                return EXIT_MOAT_FAILED;
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
            strcmp(argv[1], "help") == 0) {
                help(stdout);
                return 0;
        }
        if (strcmp(argv[1], "--version") == 0) {
                printf("moat %s\n", MOAT_VERSION);
                return 0;
        }
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(argv[1], commands[i].name) == 0)
                        return commands[i].fn(argc - 1, argv + 1);

        if (strcmp(argv[1], "exec") == 0 || strcmp(argv[1], "stop") == 0) {
                fprintf(stderr, "moat %s: " KEEP_NOT_BUILT "\n", argv[1]);
                return EXIT_MOAT_FAILED;
        }
        fprintf(stderr, "moat: unknown command '%s' (try 'moat --help')\n", argv[1]);
        return EXIT_MOAT_FAILED;
}

/* SPDX-License-Identifier: MIT */
/* `moat image build|import|list|rm`: the read-only, content-addressed root file systems of the
 * system tier (launcher/image/image.h). Never part of a run: a run only reads the store. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "basic/macros.h"
#include "commands.h"
#include "image/image.h"

static void help(FILE *f) {
        fprintf(f,
                "Usage: moat image build NAME [--dist DIST] [--mirror URL] [--include PKG]...\n"
                "       moat image import NAME TARBALL\n"
                "       moat image list\n"
                "       moat image rm NAME\n"
                "\n"
                "Root file system images for the system tier, named by a profile's\n"
                "`filesystem.root: {image: NAME}`. Images are read-only and content-addressed:\n"
                "the SHA-256 of the tarball they came from is their digest, shown in the plan\n"
                "and recorded in the audit record. Every run writes to its own overlay layer,\n"
                "thrown away at the end; the image itself is never written.\n"
                "\n"
                "  build     mmdebstrap --variant=minbase with the merged-usr hook (root only),\n"
                "            from the Debian archive of this host's apt sources unless --mirror\n"
                "            is given; retried three times when the archive does not answer\n"
                "  import    extract a tarball (any compression tar reads); as root the owners\n"
                "            are kept, as a user every file becomes the user's and /dev is\n"
                "            skipped (the container gets its own)\n"
                "  list      NAME, digest and path of every image\n"
                "  rm        remove NAME (the tree goes when no other name refers to it)\n"
                "\n"
                "  --dist DIST      Debian suite to build [bookworm]\n"
                "  --mirror URL     archive to build from\n"
                "  --include PKG    an extra package (repeatable), e.g. systemd-sysv for boot "
                "mode\n"
                "  -q, --quiet      no progress messages\n"
                "\n"
                "The store: /var/lib/moat/images for root, $XDG_DATA_HOME/moat/images (default\n"
                "~/.local/share/moat/images) for a user; $MOAT_IMAGE_DIR overrides both.\n"
                "\n"
                "Exit status: 0; 1 when build or import failed; 125 on a usage error.\n");
}

static int print_one(const ImageInfo *i, void *userdata) {
        printf("%-20s sha256:%s %s\n", i->name, i->digest, i->rootfs);
        return 0;
}

static int usage(const char *msg, const char *arg) {
        fprintf(stderr, "moat image: %s%s%s (try 'moat image --help')\n", msg, arg ? " " : "",
                arg ? arg : "");
        return EXIT_MOAT_FAILED;
}

static int check_name(const char *name) {
        if (image_name_valid(name))
                return 0;
        fprintf(stderr,
                "moat image: invalid image name '%s' (letters, digits, '.', '_', '-', starting "
                "with a letter or digit, at most %d characters)\n",
                name, IMAGE_NAME_MAX);
        return EXIT_MOAT_FAILED;
}

static int cmd_image_build(int argc, char **argv, bool quiet) {
        static const struct option options[] = {
                { "dist", required_argument, NULL, 'd' },
                { "mirror", required_argument, NULL, 'm' },
                { "include", required_argument, NULL, 'i' },
                {},
        };
        const char *dist = NULL, *mirror = NULL;
        _cleanup_free_ char **include = calloc((size_t) argc + 1, sizeof(char *));
        size_t n = 0;
        int c;

        if (!include)
                return EXIT_MOAT_FAILED;
        opterr = 0;
        optind = 0;
        while ((c = getopt_long(argc, argv, ":", options, NULL)) >= 0) {
                switch (c) {
                case 'd':
                        dist = optarg;
                        break;
                case 'm':
                        mirror = optarg;
                        break;
                case 'i':
                        include[n++] = optarg;
                        break;
                case ':':
                        return usage("option needs an argument:", argv[optind - 1]);
                default:
                        return usage("unknown option", argv[optind - 1]);
                }
        }
        if (optind + 1 != argc)
                return usage("build takes one NAME", NULL);
        if (check_name(argv[optind]))
                return EXIT_MOAT_FAILED;
        if (dist && !image_name_valid(dist))
                return usage("invalid --dist", dist);
        if (geteuid() != 0) {
                fprintf(stderr,
                        "moat image build: building needs root (mmdebstrap creates files "
                        "of several owners; without newuidmap a user cannot); build as "
                        "root and `moat image import` the tarball as the user\n");
                return EXIT_MOAT_FAILED;
        }
        ImageInfo info = {};
        int r = image_build(argv[optind], dist, mirror, include, 3, quiet, &info);
        if (r < 0) {
                fprintf(stderr, "moat image build: %s: %s\n", argv[optind],
                        r == -ENOENT && !mirror ? "no Debian archive in the apt sources (give "
                                                  "--mirror URL)"
                        : r == -EIO             ? "mmdebstrap failed"
                                                : strerror(-r));
                return 1;
        }
        printf("%s sha256:%s\n", info.name, info.digest);
        image_info_done(&info);
        return 0;
}

int cmd_image(int argc, char **argv) {
        bool quiet = false;
        int i = 1, n = 1;

        /* -q and --help anywhere; everything else is the verb's */
        for (int j = 1; j < argc; j++) {
                if (strcmp(argv[j], "-h") == 0 || strcmp(argv[j], "--help") == 0) {
                        help(stdout);
                        return 0;
                }
                if (strcmp(argv[j], "-q") == 0 || strcmp(argv[j], "--quiet") == 0)
                        quiet = true;
                else
                        argv[n++] = argv[j];
        }
        argc = n;
        if (i < argc && argv[i][0] == '-')
                return usage("unknown option", argv[i]);
        if (i >= argc)
                return usage("no subcommand given (build, import, list, rm)", NULL);
        const char *verb = argv[i];

        if (strcmp(verb, "build") == 0)
                return cmd_image_build(argc - i, argv + i, quiet);
        if (strcmp(verb, "import") == 0) {
                if (argc - i != 3)
                        return usage("import takes NAME TARBALL", NULL);
                if (check_name(argv[i + 1]))
                        return EXIT_MOAT_FAILED;
                ImageInfo info = {};
                int r = image_import(argv[i + 1], argv[i + 2], quiet, &info);
                if (r < 0) {
                        fprintf(stderr, "moat image import: %s: %s\n", argv[i + 2],
                                r == -EIO ? "tar could not extract it" : strerror(-r));
                        return 1;
                }
                printf("%s sha256:%s\n", info.name, info.digest);
                image_info_done(&info);
                return 0;
        }
        if (strcmp(verb, "list") == 0) {
                if (argc - i != 1)
                        return usage("list takes no argument", NULL);
                int r = image_foreach(print_one, NULL);
                if (r < 0) {
                        fprintf(stderr, "moat image list: %s\n", strerror(-r));
                        return 1;
                }
                return 0;
        }
        if (strcmp(verb, "rm") == 0) {
                if (argc - i != 2)
                        return usage("rm takes NAME", NULL);
                if (check_name(argv[i + 1]))
                        return EXIT_MOAT_FAILED;
                int r = image_remove(argv[i + 1]);
                if (r == -ENOENT) {
                        fprintf(stderr, "moat image rm: no image named %s\n", argv[i + 1]);
                        return EXIT_MOAT_FAILED;
                }
                if (r < 0) {
                        fprintf(stderr, "moat image rm: %s: %s\n", argv[i + 1], strerror(-r));
                        return 1;
                }
                return 0;
        }
        return usage("unknown subcommand", verb);
}

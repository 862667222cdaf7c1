/* SPDX-License-Identifier: MIT */
/* moat oci: the OCI runtime command line (runc's global flags and verbs), also reached as
 * `moat-oci` or any other program name, which then names the handler's profile
 * (/usr/libexec/moat/oci/ci-untrusted -> profile ci-untrusted).
 *
 * This file: the global flags, the log file (JSON lines, created on every call; the last error
 * line is what the engines show), `explain` (config.json + profile -> the combined plan, without
 * running anything), `features` and the refusals; the container lifecycle is oci-run.c. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "basic/file-util.h"
#include "basic/macros.h"
#include "basic/strv.h"
#include "commands.h"
#include "context.h"
#include "oci/oci-plan.h"
#include "oci/oci-run.h"

/* One line of the --log file: {"level":..., "msg":..., "time": RFC 3339}. Also to stderr,
 * where the engines capture a runtime's output too. */
void oci_log(OciGlobal *g, const char *level, const char *fmt, ...) {
        char msg[2048], stamp[64];
        struct timespec ts;
        struct tm tm;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (strcmp(level, "error") == 0)
                fprintf(stderr, "moat oci: %s\n", msg);
        if (!g->log_file)
                return;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(stamp + n, sizeof(stamp) - n, ".%09ldZ", ts.tv_nsec);
        if (g->log_json) {
                json_t *j = json_pack("{s:s, s:s, s:s}", "level", level, "msg", msg, "time", stamp);
                char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
                if (s)
                        fprintf(g->log_file, "%s\n", s);
                free(s);
                json_decref(j);
        } else
                fprintf(g->log_file, "time=\"%s\" level=%s msg=\"%s\"\n", stamp, level, msg);
        fflush(g->log_file);
}

static void oci_help(FILE *f) {
        fprintf(f,
                "Usage: moat oci [GLOBAL OPTIONS] COMMAND [OPTIONS] ...\n"
                "       moat-oci ... / PROFILE-NAME ...   (the program name names the profile)\n"
                "\n"
                "moat as an OCI runtime, with runc's command line, for containerd and CRI-O.\n"
                "The handler's profile is the floor: config.json is combined with it and the\n"
                "stricter of the two wins; annotations io.moat.profile and io.moat.tier may only\n"
                "escalate, and io.moat.profile names a profile of the search path, never a file.\n"
                "\n"
                "Global options:\n"
                "  --root DIR            state directory (default /run/moat-oci)\n"
                "  --log FILE            log file, always created (JSON lines with --log-format "
                "json)\n"
                "  --log-format text|json\n"
                "  --systemd-cgroup      refused: moat sets cgroupsPath as a path\n"
                "  --profile NAME        the handler's profile when the program name is moat or "
                "moat-oci\n"
                "\n"
                "Commands (runc's):\n"
                "  create --bundle DIR --pid-file F [--console-socket S] [--no-new-keyring] ID\n"
                "                        everything but the workload's exec: moat's init waits\n"
                "                        inside the container's namespaces (the pid in F)\n"
                "  start ID              run the workload\n"
                "  state ID              JSON: status created|running|stopped, pid, bundle\n"
                "  kill [--all] ID [SIG] signal the init (which forwards it) or every process\n"
                "  delete [--force] ID   remove the container, complete its audit record; an\n"
                "                        unknown id with --force is not an error\n"
                "  exec --process P [--detach] [--pid-file F] [--console-socket S] ID\n"
                "                        a process in the container, confined as its init\n"
                "  ps --format json ID   the container's processes (host pids)\n"
                "  update --resources FILE|- ID\n"
                "                        new memory, cpu and pids limits at cgroupsPath; never\n"
                "                        above the profile's\n"
                "  pause ID | resume ID  freeze and thaw the container's processes\n"
                "  features              what this runtime supports, as JSON\n"
                "moat's own:\n"
                "  explain --bundle DIR [--host-facts FILE] [--policy FILE]\n"
                "                        the combined plan of config.json and the profile; "
                "nothing runs\n"
                "\n"
                "Refused with a log line: --no-pivot, --preserve-fds N > 0, an option a verb\n"
                "does not have; checkpoint, restore, run, events, list, spec (by design).\n"
                "Errors use the engines' words: \"does not exist\", \"container not running\",\n"
                "\"no such process\". Exit status 0, or 125 with the reason as the log file's "
                "last\n"
                "line.\n");
}

static int open_log(OciGlobal *g) {
        if (!g->log)
                return 0;
        int fd = open(g->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0) {
                fprintf(stderr, "moat oci: cannot open the log file %s: %s\n", g->log,
                        strerror(errno));
                return -errno;
        }
        g->log_file = fdopen(fd, "a");
        if (!g->log_file) {
                close(fd);
                return -ENOMEM;
        }
        return 0;
}

static int read_file_all(const char *path, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0;

        if (fd < 0)
                return -errno;
        for (;;) {
                if (len + 4096 > cap) {
                        if (cap > 16 * 1024 * 1024)
                                return -EFBIG;
                        char *n = realloc(buf, cap = cap ? cap * 2 : 65536);
                        if (!n)
                                return -ENOMEM;
                        buf = n;
                }
                ssize_t k = read(fd, buf + len, cap - len - 1);
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

/* moat oci makes each container's cgroup at linux.cgroupsPath from the root of the hierarchy, as
 * runc does, enabling the controllers on the way down (oci-run.c), not inside its own cgroup as
 * `moat run` does; the probe looked at its own cgroup, which under an engine is the shim's
 * service, with nothing delegated. On a pure cgroup v2 host (the engines' "unified" mode, where
 * the shim reads a container's statistics from the v2 hierarchy) the controllers root can use
 * are those the hierarchy's root offers; a hybrid host keeps what the probe found (its v1
 * controllers, where the shim reads them). */
static int oci_cgroup_facts(HostFacts *h) {
        static const char *const limit[] = { "memory", "pids", "cpu" };
        _cleanup_strv_free_ char **got = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct statfs sf;
        char buf[512];
        ssize_t n;

        if (geteuid() != 0 || statfs("/sys/fs/cgroup", &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC)
                return 0;
        fd = open("/sys/fs/cgroup/cgroup.controllers", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) < 0)
                return 0;
        buf[n] = 0;
        if (!(got = calloc(1, sizeof(char *))))
                return -ENOMEM;
        for (size_t k = 0; k < ELEMENTSOF(limit); k++) {
                const char *p = buf;
                size_t len = strlen(limit[k]);
                while ((p = strstr(p, limit[k])) &&
                       !((p == buf || p[-1] == ' ') &&
                         (p[len] == 0 || p[len] == ' ' || p[len] == '\n')))
                        p += len;
                if (p && strv_extend(&got, limit[k]) < 0)
                        return -ENOMEM;
        }
        strv_free(h->cgroup_v2_controllers);
        h->cgroup_v2_controllers = TAKE_PTR(got);
        h->cgroup_v2_writable = access("/sys/fs/cgroup", W_OK) == 0;
        return 0;
}

/* Load config.json, the profiles and the host; combine. *ret_status: 0, or 125 with the reason
 * logged. */
int oci_load_plan(OciGlobal *g, const char *bundle, const char *host_facts, const char *policy_file,
                  OciPlan **ret, RunContext *ret_ctx) {
        _cleanup_free_ char *config = NULL, *text = NULL;
        RunContextArgs args = { .profile = g->profile,
                                .host_facts_file = host_facts,
                                .policy_file = policy_file };
        RunContext ctx = {};
        MoatError error = {};
        Profile *esc = NULL;
        json_t *spec = NULL;
        char buf[1024], esc_error[600] = "";
        size_t len = 0;
        int r;

        if (asprintf(&config, "%s/config.json", bundle) < 0)
                return -ENOMEM;
        r = read_file_all(config, &text, &len);
        if (r < 0) {
                oci_log(g, "error", "cannot read %s: %s", config, strerror(-r));
                return r;
        }
        r = oci_spec_parse(text, len, config, &spec, &error);
        if (r < 0) {
                oci_log(g, "error", "%s", moat_error_format(&error, buf, sizeof(buf)));
                return r;
        }
        r = run_context_load(&args, &ctx, &error);
        if (r >= 0 && !host_facts) {
                r = oci_cgroup_facts(&ctx.host);
                if (r >= 0)
                        r = run_context_resolve_again(&ctx, &error);
                else
                        moat_error_set(&error, "", 0, 0, "%s", strerror(-r));
                if (r < 0)
                        run_context_done(&ctx);
        }
        if (r < 0) {
                json_decref(spec);
                oci_log(g, "error", "profile %s: %s", g->profile,
                        moat_error_format(&error, buf, sizeof(buf)));
                return r;
        }
        const char *want = oci_spec_annotation(spec, "io.moat.profile");
        /* Whoever makes pods sets annotations: they name a profile of the search path (the
         * node's administrator's), never a file of the node, which moat would read as root
         * and whose parse error would carry its text back to the pod's owner. */
        if (want && strcmp(want, ctx.profile->name) != 0) {
                MoatError e2 = {};
                if (profile_name_is_path(want))
                        snprintf(esc_error, sizeof(esc_error),
                                 "not a profile name (a path or a .yaml file): annotations name "
                                 "profiles of the search path only");
                else if (profile_load(want, &esc, &e2) < 0)
                        moat_error_format(&e2, esc_error, sizeof(esc_error));
        }
        r = oci_plan_build(spec, text, len, bundle, ctx.profile, esc,
                           esc_error[0] ? esc_error : NULL, ctx.policy, &ctx.host, ret, &error);
        if (r >= 0) {
                (*ret)->profiles[0] = TAKE_PTR(ctx.profile);
                (*ret)->profiles[1] = TAKE_PTR(esc);
        }
        profile_free(esc);
        json_decref(spec);
        if (r >= 0 && ret_ctx)
                *ret_ctx =
                        ctx; /* policy, host and the floor's plan; the profile is the OciPlan's */
        else
                run_context_done(&ctx);
        if (r < 0) {
                if (!moat_error_is_set(&error))
                        moat_error_set(&error, "", 0, 0, "%s", strerror(-r));
                oci_log(g, "error", "%s", moat_error_format(&error, buf, sizeof(buf)));
        }
        return r;
}

static int oci_explain(OciGlobal *g, int argc, char **argv) {
        enum {
                ARG_BUNDLE = 0x100,
                ARG_HOST_FACTS,
                ARG_POLICY,
                ARG_JSON
        };
        static const struct option options[] = {
                { "bundle", required_argument, NULL, ARG_BUNDLE },
                { "host-facts", required_argument, NULL, ARG_HOST_FACTS },
                { "policy", required_argument, NULL, ARG_POLICY },
                { "json", no_argument, NULL, ARG_JSON },
                {},
        };
        const char *bundle = ".", *host = NULL, *policy = NULL;
        _cleanup_oci_plan_ OciPlan *o = NULL;
        int c;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:b:", options, NULL)) >= 0)
                switch (c) {
                case 'b':
                case ARG_BUNDLE:
                        bundle = optarg;
                        break;
                case ARG_HOST_FACTS:
                        host = optarg;
                        break;
                case ARG_POLICY:
                        policy = optarg;
                        break;
                case ARG_JSON:
                        break; /* the only output form */
                default:
                        oci_log(g, "error", "explain: unknown option or missing value '%s'",
                                argv[optind - 1]);
                        return EXIT_MOAT_FAILED;
                }
        if (oci_load_plan(g, bundle, host, policy, &o, NULL) < 0)
                return EXIT_MOAT_FAILED;
        json_t *j = oci_plan_to_json(o);
        char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        json_decref(j);
        if (!s) {
                oci_log(g, "error", "out of memory");
                return EXIT_MOAT_FAILED;
        }
        printf("%s\n", s);
        free(s);
        if (o->refused) {
                oci_log(g, "error", "refused: %s", o->refusal);
                return EXIT_MOAT_FAILED;
        }
        return 0;
}

/* runc's `features` (runtime-spec features.md): what a config.json may ask for. */
static int oci_features(OciGlobal *g) {
        json_t *j = json_pack(
                "{s:s, s:s, s:[s,s,s,s,s,s,s], s:{s:[s,s,s,s,s,s,s], s:[s,s], s:{s:b, s:b, s:b}, "
                "s:{s:b, s:[], s:[], s:[s,s,s], s:[]}, s:{s:b}}, s:{s:s}}",
                "ociVersionMin", "1.0.0", "ociVersionMax", "1.1.0", "mountOptions", "ro", "rw",
                "bind", "rbind", "nosuid", "nodev", "noexec", "linux", "namespaces", "pid",
                "network", "ipc", "uts", "mount", "user", "cgroup", "capabilities", "none",
                "(the handler's profile lists them)", "cgroup", "v1", true, "v2", true, "systemd",
                false, "seccomp", "enabled", true, "actions", "operators", "archs",
                "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "knownFlags", "apparmor",
                "enabled", true, "annotations", "io.moat.profile",
                "may only escalate the handler's profile");
        char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        json_decref(j);
        if (!s) {
                oci_log(g, "error", "out of memory");
                return EXIT_MOAT_FAILED;
        }
        printf("%s\n", s);
        free(s);
        return 0;
}

static const char *program_profile(const char *argv0) {
        const char *base = strrchr(argv0, '/');
        base = base ? base + 1 : argv0;
        if (strcmp(base, "oci") == 0 || strcmp(base, "moat-oci") == 0)
                return NULL; /* `moat oci ...` or moat-oci: --profile names it */
        return base;
}

int cmd_oci(int argc, char **argv) {
        static const char *const refused[] = { "checkpoint", "restore", "run",      "events",
                                               "list",       "spec",    "exec-cpt", NULL };
        OciGlobal g = { .root = "/run/moat-oci", .profile = program_profile(argv[0]) };
        int i = 1, r = EXIT_MOAT_FAILED;

        /* runc's global flags come before the verb, in either --flag VALUE or --flag=VALUE. */
        for (; i < argc && argv[i][0] == '-'; i++) {
                const char *a = argv[i], *eq = strchr(a, '=');
                size_t n = eq ? (size_t) (eq - a) : strlen(a);
                const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
#define FLAG(name) (n == strlen(name) && strncmp(a, name, n) == 0)
                if (FLAG("--help") || FLAG("-h")) {
                        oci_help(stdout);
                        return 0;
                } else if (FLAG("--version") || FLAG("-v")) {
                        printf("moat oci (runc-compatible command line)\nspec: 1.1.0\n");
                        return 0;
                } else if (FLAG("--systemd-cgroup")) {
                        g.systemd_cgroup = true;
                        continue;
                } else if (FLAG("--debug")) {
                        continue;
                } else if (FLAG("--rootless")) {
                        if (!eq)
                                i++;
                        continue;
                }
                if (!v) {
                        fprintf(stderr, "moat oci: option '%.*s' needs a value\n", (int) n, a);
                        return EXIT_MOAT_FAILED;
                }
                if (!eq)
                        i++;
                if (FLAG("--root"))
                        g.root = v;
                else if (FLAG("--log"))
                        g.log = v;
                else if (FLAG("--log-format")) {
                        if (strcmp(v, "json") != 0 && strcmp(v, "text") != 0) {
                                fprintf(stderr, "moat oci: --log-format: json or text, not '%s'\n",
                                        v);
                                return EXIT_MOAT_FAILED;
                        }
                        g.log_json = strcmp(v, "json") == 0;
                } else if (FLAG("--profile"))
                        g.profile = v;
                else if (FLAG("--criu")) {
                        /* accepted and unused: checkpoint/restore are refused */
                } else {
                        fprintf(stderr, "moat oci: unknown global option '%.*s'\n", (int) n, a);
                        return EXIT_MOAT_FAILED;
                }
#undef FLAG
        }
        if (open_log(&g) < 0)
                return EXIT_MOAT_FAILED;
        if (i >= argc) {
                oci_help(stderr);
                oci_log(&g, "error", "no command given");
                goto out;
        }
        const char *verb = argv[i];
        if (g.systemd_cgroup && strcmp(verb, "features") != 0) {
                oci_log(&g, "error",
                        "--systemd-cgroup is not supported: moat creates the container's cgroup "
                        "at linux.cgroupsPath as a path (configure SystemdCgroup = false)");
                goto out;
        }
        if (strcmp(verb, "features") == 0)
                r = oci_features(&g);
        else if (strcmp(verb, "create") == 0 || strcmp(verb, "explain") == 0) {
                if (!g.profile) {
                        oci_log(&g, "error",
                                "no profile: name the program after a profile (a link "
                                ".../oci/PROFILE to moat) or pass --profile");
                        goto out;
                }
                r = strcmp(verb, "create") == 0 ? oci_create(&g, argc - i, argv + i)
                                                : oci_explain(&g, argc - i, argv + i);
        } else if (strcmp(verb, "start") == 0)
                r = oci_start(&g, argc - i, argv + i);
        else if (strcmp(verb, "state") == 0)
                r = oci_state(&g, argc - i, argv + i);
        else if (strcmp(verb, "kill") == 0)
                r = oci_kill(&g, argc - i, argv + i);
        else if (strcmp(verb, "delete") == 0)
                r = oci_delete(&g, argc - i, argv + i);
        else if (strcmp(verb, "ps") == 0)
                r = oci_ps(&g, argc - i, argv + i);
        else if (strcmp(verb, "exec") == 0)
                r = oci_exec(&g, argc - i, argv + i);
        else if (strcmp(verb, "update") == 0)
                r = oci_update(&g, argc - i, argv + i);
        else if (strcmp(verb, "pause") == 0)
                r = oci_pause(&g, argc - i, argv + i);
        else if (strcmp(verb, "resume") == 0)
                r = oci_resume(&g, argc - i, argv + i);
        else {
                for (size_t k = 0; refused[k]; k++)
                        if (strcmp(verb, refused[k]) == 0) {
                                oci_log(&g, "error",
                                        "'%s' is not supported by moat oci (checkpoint, restore, "
                                        "run, events, list and spec are refused by design)",
                                        verb);
                                goto out;
                        }
                oci_log(&g, "error", "unknown command '%s' (try 'moat oci --help')", verb);
        }
out:
        if (g.log_file)
                fclose(g.log_file);
        return r;
}

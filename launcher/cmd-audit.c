/* SPDX-License-Identifier: MIT */
/* moat audit {verify,show,tail,path}: read, follow and verify the audit log. Changes nothing. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>

#include "audit.h"
#include "basic/macros.h"
#include "commands.h"
#include "config.h"
#include "policy/policy.h"

#define AUDIT_JSON_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII)

static void audit_help(FILE *f) {
        fprintf(f,
                "Usage: moat audit COMMAND [OPTIONS] [FILE]\n"
                "\n"
                "Read, follow and verify the audit log (one hash-chained JSON record per run).\n"
                "FILE defaults to $MOAT_AUDIT_LOG, else the site policy's audit_log_path, else\n"
                "/var/log/moat/audit.jsonl for root and $XDG_STATE_HOME/moat/audit.jsonl\n"
                "(~/.local/state/moat/audit.jsonl) for other users.\n"
                "\n"
                "Commands:\n"
                "  verify [FILE] [--key FILE] [--strict] [--json]\n"
                "           check the whole chain; report the first broken link (exit 1)\n"
                "  show [FILE] [--json] [--since T] [--profile P] [--tier T] [--denied] "
                "[--network]\n"
                "           print records, one line per run\n"
                "  tail [-f] [-n N] [FILE] [show's filters]\n"
                "           print the last records; -f follows new ones\n"
                "  path     print the log path\n"
                "\n"
                "  moat audit COMMAND --help   options of one command\n");
}

/* Usage errors: exit 125 naming what was wrong. */
_printf_(2, 3) static int usage_error(const char *cmd, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "moat audit %s: ", cmd);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, " (try 'moat audit %s --help')\n", cmd);
        return EXIT_MOAT_FAILED;
}

/* getopt_long returned '?' (unknown) or ':' (value missing, thanks to the leading ':'). */
static int bad_option(const char *cmd, int c, char **argv) {
        if (c == ':')
                return usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
        return usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
}

/* The shipped policy with the site file on top: --policy FILE, else /etc/moat/policy.yaml. */
static int load_policy(const char *site_file, Policy **ret, bool quiet) {
        const char *data = getenv("MOAT_DATA_DIR");
        _cleanup_free_ char *dir = NULL;
        MoatError error = {};
        char buf[1024];
        int r;

        if (data && *data && asprintf(&dir, "%s/policies", data) < 0)
                return -ENOMEM;
        r = policy_load(dir, site_file, ret, &error);
        if (r < 0 && !quiet)
                fprintf(stderr, "moat audit: cannot load the site policy: %s\n",
                        moat_error_is_set(&error) ? moat_error_format(&error, buf, sizeof(buf))
                                                  : strerror(-r));
        return r;
}

/* FILE argument, else $MOAT_AUDIT_LOG, else the policy's path or the per-user default. */
static char *resolve_log_path(const char *file, const char *policy_file) {
        _cleanup_policy_ Policy *policy = NULL;
        const char *e = getenv("MOAT_AUDIT_LOG");
        char *p;

        if (file)
                return strdup(file);
        if (e && *e)
                return strdup(e);
        if (load_policy(policy_file, &policy, false) < 0)
                return NULL;
        p = audit_log_default_path(policy);
        if (!p)
                fprintf(stderr,
                        "moat audit: cannot determine the audit log path (no home directory?)\n");
        return p;
}

static int one_file_arg(const char *cmd, int argc, char **argv, const char **ret) {
        *ret = NULL;
        if (optind < argc)
                *ret = argv[optind];
        if (optind + 1 < argc)
                return usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
        return 0;
}

static int cmd_audit_path(int argc, char **argv) {
        static const struct option options[] = {
                { "policy", required_argument, NULL, 'P' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_free_ char *path = NULL;
        const char *policy_file = NULL;
        int c;

        optind = 0;
        opterr = 0; /* our own message names the flag */
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0)
                switch (c) {
                case 'P':
                        policy_file = optarg;
                        break;
                case 'h':
                        printf("Usage: moat audit path [--policy FILE]\n\n"
                               "Print the path of the audit log moat writes for this caller.\n\n"
                               "  --policy FILE  site policy (default /etc/moat/policy.yaml)\n");
                        return 0;
                default:
                        return bad_option("path", c, argv);
                }
        if (optind < argc)
                return usage_error("path", "unexpected argument '%s'", argv[optind]);
        path = resolve_log_path(NULL, policy_file);
        if (!path)
                return EXIT_MOAT_FAILED;
        printf("%s\n", path);
        return 0;
}

static void verify_notice(size_t line, const char *message, void *userdata) {
        const char *path = userdata;
        printf("%s: notice: %s\n", path, message);
}

/* The key: --key FILE, else the site policy's audit_hmac_key_file, else none. */
static int verify_load_key(const char *key_file, const char *policy_file, uint8_t **ret_key,
                           size_t *ret_len) {
        _cleanup_policy_ Policy *policy = NULL;
        int r;

        if (!key_file) {
                /* No policy is not an error here: an unkeyed log verifies without one, and a
                 * keyed one then fails with "verify it with --key". */
                r = load_policy(policy_file, &policy, !policy_file);
                if (r < 0)
                        return policy_file ? r : 0; /* an explicit --policy must load */
                if (!policy->audit_hmac_key_file)
                        return 0;
                key_file = policy->audit_hmac_key_file;
        }
        r = audit_key_load(key_file, ret_key, ret_len);
        if (r < 0)
                fprintf(stderr, "moat audit verify: cannot read the key %s: %s\n", key_file,
                        r == -EACCES ? "readable by others or writable by group/others (refused)"
                                     : strerror(-r));
        return r;
}

static void verify_print(const char *path, const AuditVerifyReport *rep, bool json) {
        if (json) {
                json_auto_t *j = json_pack("{s:s, s:b, s:I, s:I, s:I, s:b, s:b, s:s}", "path", path,
                                           "intact", rep->bad_line == 0, "records",
                                           (json_int_t) rep->n_records, "recovered",
                                           (json_int_t) rep->n_recovered, "bad_line",
                                           (json_int_t) rep->bad_line, "torn_tail", rep->torn_tail,
                                           "keyed", rep->keyed, "last_hash", rep->last_hash);
                if (j && rep->bad_line)
                        json_object_set_new(j, "message", json_string(rep->message));
                _cleanup_free_ char *s = j ? json_dumps(j, AUDIT_JSON_FLAGS) : NULL;
                printf("%s\n", s ? s : "{}");
                return;
        }
        if (rep->bad_line)
                printf("%s: BROKEN: %s\n", path, rep->message);
        else
                printf("%s: intact: %zu run records%s, %zu torn write(s) recovered, last hash %s\n",
                       path, rep->n_records, rep->keyed ? " (keyed)" : "", rep->n_recovered,
                       rep->last_hash);
}

static int cmd_audit_verify(int argc, char **argv) {
        static const struct option options[] = {
                { "key", required_argument, NULL, 'k' }, { "policy", required_argument, NULL, 'P' },
                { "strict", no_argument, NULL, 's' },    { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },      {},
        };
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ uint8_t *key = NULL;
        const char *key_file = NULL, *policy_file = NULL, *file;
        bool strict = false, json = false;
        AuditVerifyReport rep;
        size_t key_len = 0;
        int c, r;

        optind = 0;
        opterr = 0; /* our own message names the flag */
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0)
                switch (c) {
                case 'k':
                        key_file = optarg;
                        break;
                case 's':
                        strict = true;
                        break;
                case 'P':
                        policy_file = optarg;
                        break;
                case 'j':
                        json = true;
                        break;
                case 'h':
                        printf("Usage: moat audit verify [FILE] [--key FILE] [--strict] [--json]\n"
                               "\n"
                               "Check the whole hash chain and report the first broken link (an "
                               "edited,\n"
                               "dropped, inserted or reordered record) with its line number. A "
                               "torn last\n"
                               "line is a failure. A torn write that a later writer covered with a "
                               "recovery\n"
                               "record is reported as a notice (a crash lost the record in "
                               "flight).\n"
                               "\n"
                               "  --key FILE     HMAC key of a keyed chain (default: the site "
                               "policy's)\n"
                               "  --policy FILE  site policy (default /etc/moat/policy.yaml)\n"
                               "  --strict       also fail on recovered torn writes\n"
                               "  --json         print the result as one JSON object\n"
                               "\n"
                               "Removing records from the end cannot be seen by any chain: keep "
                               "the printed\n"
                               "last hash elsewhere (or mirror to the journal) to anchor it.\n"
                               "\n"
                               "Exit status: 0 intact, 1 broken, 125 the log or key could not be "
                               "read.\n");
                        return 0;
                default:
                        return bad_option("verify", c, argv);
                }
        r = one_file_arg("verify", argc, argv, &file);
        if (r != 0)
                return r;
        path = resolve_log_path(file, policy_file);
        if (!path)
                return EXIT_MOAT_FAILED;
        if (verify_load_key(key_file, policy_file, &key, &key_len) < 0)
                return EXIT_MOAT_FAILED;

        r = audit_log_verify(path, key, key_len, json ? NULL : verify_notice, path, &rep);
        if (key)
                explicit_bzero(key, key_len);
        if (r < 0) {
                fprintf(stderr, "moat audit verify: cannot read %s: %s\n", path,
                        audit_log_strerror(r));
                return EXIT_MOAT_FAILED;
        }
        verify_print(path, &rep, json);
        if (rep.bad_line > 0 || (strict && rep.n_recovered > 0))
                return 1;
        return 0;
}

typedef struct ShowState {
        const char *path;
        const char *policy_file;
        AuditFilter filter;
        bool json;
        bool network; /* --network: the proxy's decisions under each record */
} ShowState;

static int print_record(const ShowState *s, size_t line, json_t *rec) {
        _cleanup_free_ char *text = NULL;

        if (!rec) {
                fprintf(stderr,
                        "moat audit: %s:%zu: not a record (torn or edited; run 'moat audit "
                        "verify')\n",
                        s->path, line);
                return 0;
        }
        if (!audit_filter_match(&s->filter, rec))
                return 0;
        text = s->json ? json_dumps(rec, AUDIT_JSON_FLAGS) : audit_record_format_line(rec);
        if (!text)
                return -ENOMEM;
        printf("%s\n", text);
        if (s->network && !s->json) {
                _cleanup_free_ char *net = audit_record_format_network(rec);
                if (!net)
                        return -ENOMEM;
                if (*net)
                        printf("%s\n", net);
        }
        return 0;
}

static int show_line(size_t line, json_t *rec, void *userdata) {
        return print_record(userdata, line, rec);
}

/* --since, --profile, --tier, --denied, --json: shared by show and tail. */
static int parse_filter_option(const char *cmd, int c, ShowState *s) {
        struct timespec now;
        int r;

        switch (c) {
        case 'S':
                clock_gettime(CLOCK_REALTIME, &now);
                r = audit_time_parse(optarg,
                                     (uint64_t) now.tv_sec * 1000000000ULL + (uint64_t) now.tv_nsec,
                                     &s->filter.since_ns);
                if (r < 0)
                        return usage_error(
                                cmd,
                                "--since: '%s' is not an RFC 3339 time, a date or a duration "
                                "like 30m, 2h, 7d",
                                optarg);
                return 0;
        case 'p':
                s->filter.profile = optarg;
                return 0;
        case 't':
                if (strcmp(optarg, "sandbox") != 0 && strcmp(optarg, "system") != 0 &&
                    strcmp(optarg, "vm") != 0)
                        return usage_error(cmd, "--tier: '%s' is not one of sandbox, system, vm",
                                           optarg);
                s->filter.tier = optarg;
                return 0;
        case 'd':
                s->filter.denied_only = true;
                return 0;
        case 'P':
                s->policy_file = optarg;
                return 0;
        case 'j':
                s->json = true;
                return 0;
        case 'N':
                s->network = true;
                s->filter.network_only = true;
                return 0;
        default:
                return -1;
        }
}

/* clang-format off */
#define FILTER_OPTIONS                                          \
        { "since", required_argument, NULL, 'S' },              \
        { "profile", required_argument, NULL, 'p' },            \
        { "tier", required_argument, NULL, 't' },               \
        { "denied", no_argument, NULL, 'd' },                   \
        { "json", no_argument, NULL, 'j' },                     \
        { "network", no_argument, NULL, 'N' },                  \
        { "policy", required_argument, NULL, 'P' }
/* clang-format on */

#define FILTER_HELP                                                                         \
        "  --since T      records from T on: RFC 3339, a date (YYYY-MM-DD) or a duration\n" \
        "                 ago (90s, 30m, 2h, 7d)\n"                                         \
        "  --profile P    records of profile P (name or the -p argument)\n"                 \
        "  --tier T       records that ran in tier T (sandbox, system, vm)\n"               \
        "  --denied       records with denied operations (system calls, network)\n"         \
        "  --network      records of network: outbound runs, each with the proxy's\n"       \
        "                 allowlist digest, totals and decisions per destination\n"         \
        "  --json         print the records as stored (JSON Lines)\n"                       \
        "  --policy FILE  site policy (default /etc/moat/policy.yaml)\n"

static int cmd_audit_show(int argc, char **argv) {
        static const struct option options[] = { FILTER_OPTIONS,
                                                 { "help", no_argument, NULL, 'h' },
                                                 {} };
        _cleanup_free_ char *path = NULL;
        ShowState s = {};
        const char *file;
        int c, r;

        optind = 0;
        opterr = 0; /* our own message names the flag */
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                if (c == 'h') {
                        printf("Usage: moat audit show [FILE] [OPTIONS]\n\nPrint the records of "
                               "the audit log, "
                               "one line per run.\n\n" FILTER_HELP);
                        return 0;
                }
                r = parse_filter_option("show", c, &s);
                if (r < 0)
                        return bad_option("show", c, argv);
                if (r > 0)
                        return r;
        }
        r = one_file_arg("show", argc, argv, &file);
        if (r != 0)
                return r;
        path = resolve_log_path(file, s.policy_file);
        if (!path)
                return EXIT_MOAT_FAILED;
        s.path = path;
        r = audit_log_foreach(path, show_line, &s);
        if (r < 0) {
                fprintf(stderr, "moat audit show: cannot read %s: %s\n", path,
                        audit_log_strerror(r));
                return EXIT_MOAT_FAILED;
        }
        return 0;
}

/* tail: the last N records, then (-f) every record appended after them. */
typedef struct TailState {
        ShowState show;
        char **ring; /* last N matching lines during the initial read */
        size_t n, next, filled;
        bool following;
        size_t lineno;
        char *partial; /* bytes after the last newline read so far */
        size_t partial_len;
} TailState;

static int tail_line(TailState *t, const char *line, size_t len) {
        json_auto_t *rec = len <= AUDIT_LINE_MAX ? json_loadb(line, len, 0, NULL) : NULL;

        t->lineno++;
        if (rec && !json_is_object(rec))
                json_decrefp(&rec);
        if (t->following)
                return print_record(&t->show, t->lineno, rec);
        if (!rec || !audit_filter_match(&t->show.filter, rec) || t->n == 0)
                return 0;
        char *copy = strndup(line, len);
        if (!copy)
                return -ENOMEM;
        free(t->ring[t->next]);
        t->ring[t->next] = copy;
        t->next = (t->next + 1) % t->n;
        t->filled = MIN(t->filled + 1, t->n);
        return 0;
}

/* Read what is new in fd and hand over each complete line; a partial one waits for its end. */
static int tail_read(TailState *t, int fd) {
        char buf[65536];
        ssize_t n;
        int r;

        while ((n = read(fd, buf, sizeof(buf))) > 0) {
                char *joined = realloc(t->partial, t->partial_len + (size_t) n);
                if (!joined)
                        return -ENOMEM;
                memcpy(joined + t->partial_len, buf, (size_t) n);
                t->partial = joined;
                t->partial_len += (size_t) n;

                size_t start = 0;
                for (char *nl; (nl = memchr(t->partial + start, '\n', t->partial_len - start));) {
                        r = tail_line(t, t->partial + start, (size_t) (nl - t->partial) - start);
                        if (r < 0)
                                return r;
                        start = (size_t) (nl - t->partial) + 1;
                }
                memmove(t->partial, t->partial + start, t->partial_len - start);
                t->partial_len -= start;
        }
        if (n < 0 && errno != EAGAIN)
                return -errno;
        fflush(stdout);
        return 0;
}

static void tail_flush_ring(TailState *t) {
        for (size_t i = 0; i < t->filled; i++) {
                const char *line = t->ring[(t->next + t->n - t->filled + i) % t->n];
                json_auto_t *rec = json_loads(line, 0, NULL);
                (void) print_record(&t->show, 0, rec);
        }
        fflush(stdout);
}

#define TAIL_WATCH_MASK (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVE_SELF | IN_DELETE_SELF)

/* After the old file is read to its end: has the path been given to a new file (rotation)?
 * Then continue with that one from its start. Returns 1 if switched, 0 if not, -errno. */
static int tail_reopen_if_rotated(TailState *t, int *fd, int ino, int *wd, const char *path) {
        struct stat old, cur;
        int nfd;

        if (fstat(*fd, &old) < 0)
                return -errno;
        if (stat(path, &cur) < 0 || (cur.st_dev == old.st_dev && cur.st_ino == old.st_ino) ||
            !S_ISREG(cur.st_mode))
                return 0;
        nfd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (nfd < 0)
                return errno == ENOENT ? 0 : -errno;
        fprintf(stderr, "moat audit tail: %s was rotated; following the new file\n", path);
        safe_close(*fd);
        *fd = nfd;
        t->partial_len = 0;
        t->lineno = 0;
        if (ino >= 0) {
                if (*wd >= 0)
                        inotify_rm_watch(ino, *wd);
                *wd = inotify_add_watch(ino, path, TAIL_WATCH_MASK);
        }
        return 1;
}

/* Follow with inotify; a one-second poll backs it up (and replaces it when inotify is out of
 * watches), so the behaviour is the same, only slower. */
static int tail_follow(TailState *t, int *fd, const char *path) {
        _cleanup_close_ int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        struct stat st;
        int wd = -1, r;

        if (ino >= 0 && (wd = inotify_add_watch(ino, path, TAIL_WATCH_MASK)) < 0)
                ino = safe_close(ino);
        for (;;) {
                struct pollfd pfd = { .fd = ino, .events = POLLIN };
                char drain[4096];

                if (poll(&pfd, ino >= 0 ? 1 : 0, 1000) < 0 && errno != EINTR)
                        return -errno;
                while (ino >= 0 && read(ino, drain, sizeof(drain)) > 0)
                        ;
                if (fstat(*fd, &st) < 0)
                        return -errno;
                if (st.st_size < lseek(*fd, 0, SEEK_CUR)) {
                        /* An append-only log never shrinks: say so, then read it again. */
                        fprintf(stderr,
                                "moat audit tail: %s was truncated; reading it from the start\n",
                                path);
                        if (lseek(*fd, 0, SEEK_SET) < 0)
                                return -errno;
                        t->partial_len = 0;
                        t->lineno = 0;
                }
                do {
                        r = tail_read(t, *fd);
                        if (r < 0)
                                return r;
                        r = tail_reopen_if_rotated(t, fd, ino, &wd, path);
                        if (r < 0)
                                return r;
                } while (r > 0);
        }
}

static int cmd_audit_tail(int argc, char **argv) {
        static const struct option options[] = {
                FILTER_OPTIONS,
                { "follow", no_argument, NULL, 'f' },
                { "lines", required_argument, NULL, 'n' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        TailState t = { .n = 10 };
        bool follow = false;
        const char *file;
        struct stat st;
        char *end;
        int c, r;

        optind = 0;
        opterr = 0; /* our own message names the flag */
        while ((c = getopt_long(argc, argv, ":hfn:", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        printf("Usage: moat audit tail [-f] [-n N] [FILE] [OPTIONS]\n\nPrint the "
                               "last records "
                               "of the audit log; with -f, keep printing new ones.\n\n"
                               "  -f, --follow   wait for new records (inotify, polling as a "
                               "fallback)\n"
                               "  -n, --lines N  how many records to print first (default "
                               "10)\n" FILTER_HELP);
                        return 0;
                case 'f':
                        follow = true;
                        continue;
                case 'n':
                        errno = 0;
                        t.n = strtoul(optarg, &end, 10);
                        if (errno || !*optarg || *end || optarg[0] == '-' || t.n > 100000)
                                return usage_error(
                                        "tail", "--lines: '%s' is not a count (0..100000)", optarg);
                        continue;
                }
                r = parse_filter_option("tail", c, &t.show);
                if (r < 0)
                        return bad_option("tail", c, argv);
                if (r > 0)
                        return r;
        }
        r = one_file_arg("tail", argc, argv, &file);
        if (r != 0)
                return r;
        path = resolve_log_path(file, t.show.policy_file);
        if (!path)
                return EXIT_MOAT_FAILED;
        t.show.path = path;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                fprintf(stderr, "moat audit tail: cannot read %s: %s\n", path,
                        fd < 0 ? strerror(errno) : "not a regular file");
                return EXIT_MOAT_FAILED;
        }
        t.ring = calloc(MAX(t.n, 1u), sizeof(char *));
        if (!t.ring)
                return EXIT_MOAT_FAILED;
        r = tail_read(&t, fd);
        if (r >= 0) {
                tail_flush_ring(&t);
                t.following = true;
                if (follow)
                        r = tail_follow(&t, &fd, path);
        }
        for (size_t i = 0; i < MAX(t.n, 1u); i++)
                free(t.ring[i]);
        free(t.ring);
        free(t.partial);
        if (r < 0) {
                fprintf(stderr, "moat audit tail: %s: %s\n", path, strerror(-r));
                return EXIT_MOAT_FAILED;
        }
        return 0;
}

int cmd_audit(int argc, char **argv) {
        static const struct {
                const char *name;
                int (*fn)(int argc, char **argv);
        } subs[] = {
                { "verify", cmd_audit_verify },
                { "show", cmd_audit_show },
                { "tail", cmd_audit_tail },
                { "path", cmd_audit_path },
        };

        if (argc < 2) {
                audit_help(stderr);
                return EXIT_MOAT_FAILED;
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
            strcmp(argv[1], "help") == 0) {
                audit_help(stdout);
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(subs); i++)
                if (strcmp(argv[1], subs[i].name) == 0)
                        return subs[i].fn(argc - 1, argv + 1);
        fprintf(stderr, "moat audit: unknown command '%s' (try 'moat audit --help')\n", argv[1]);
        return EXIT_MOAT_FAILED;
}

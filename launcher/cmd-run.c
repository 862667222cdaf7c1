/* SPDX-License-Identifier: MIT */
/* moat run: load and resolve the plan, hand it to the executor of its tier, write the audit
 * record (for every run: refused, failed before exec, or finished), and exit with the status
 * of executor.h's contract. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "basic/macros.h"
#include "commands.h"
#include "config.h"
#include "context.h"
#include "executor.h"
#include "sys/heap.h"
#if MOAT_WITH_VM
#include "vm/vm-kvm-proof.h"
#define RUN_PROBE_FLAGS 0u
#else
/* moat hands a vm-tier plan to moat-vm-run, which probes KVM itself (host.h). The vm and
 * system tiers' facts are probed only for a plan of theirs (context.c): the audit record of a
 * sandbox run carries the base facts only, and kvm is false without the KVM probe anyway. */
#define RUN_PROBE_FLAGS (HOST_PROBE_SKIP_KVM | HOST_PROBE_BASE)
#endif

extern char **environ;

typedef struct RunArgs {
        const char *profile;
        const char *workdir;
        const char *host_facts;
        const char *policy;
        const char *audit_log;
        const char *result;
        bool quiet;
        char **command;
} RunArgs;

static void help(FILE *f) {
        fprintf(f,
                "Usage: moat run -p PROFILE [OPTIONS] [--] COMMAND [ARG...]\n"
                "\n"
                "Run COMMAND under the plan that PROFILE, the site policy and this host give.\n"
                "\n"
                "  -p, --profile PROFILE   a shipped profile name or a profile file\n"
                "      --workdir DIR       the work directory (default: the current directory)\n"
                "      --host-facts FILE   use recorded host facts instead of probing this host\n"
                "      --policy FILE       site policy file (default: /etc/moat/policy.yaml if "
                "present)\n"
                "      --audit-log FILE    append the audit record here (also: $MOAT_AUDIT_LOG)\n"
                "      --result FILE       write how the run ended to FILE (JSON, replaced\n"
                "                          atomically at the end, also for a refused or failed\n"
                "                          run): verdict exited, signaled, timeout, cpu-time,\n"
                "                          memory, pids, refused or failed-to-start; exit code or\n"
                "                          signal; CPU, wall time and peak memory\n"
                "  -q, --quiet             no progress messages\n"
                "  -h, --help              this help\n"
                "\n"
                "Exit status: the command's own; 125 moat refused or failed before the command\n"
                "started; 126 not executable; 127 not found; 128+N killed by signal N.\n");
}

enum {
        ARG_WORKDIR = 0x100,
        ARG_HOST_FACTS,
        ARG_POLICY,
        ARG_AUDIT_LOG,
        ARG_RESULT,
        ARG_KEEP
};

/* 0 to run, 1 for --help (exit 0), 125 after a usage message. */
static int parse_args(int argc, char **argv, RunArgs *a) {
        static const struct option options[] = {
                { "profile", required_argument, NULL, 'p' },
                { "workdir", required_argument, NULL, ARG_WORKDIR },
                { "host-facts", required_argument, NULL, ARG_HOST_FACTS },
                { "policy", required_argument, NULL, ARG_POLICY },
                { "audit-log", required_argument, NULL, ARG_AUDIT_LOG },
                { "result", required_argument, NULL, ARG_RESULT },
                { "keep", required_argument, NULL, ARG_KEEP },
                { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;

        opterr = 0;
        optind = 0;
        /* "+": stop at the first non-option, the command's own options are not ours. */
        while ((c = getopt_long(argc, argv, "+:p:qh", options, NULL)) >= 0) {
                switch (c) {
                case 'p':
                        a->profile = optarg;
                        break;
                case ARG_WORKDIR:
                        a->workdir = optarg;
                        break;
                case ARG_HOST_FACTS:
                        a->host_facts = optarg;
                        break;
                case ARG_POLICY:
                        a->policy = optarg;
                        break;
                case ARG_AUDIT_LOG:
                        a->audit_log = optarg;
                        break;
                case ARG_RESULT:
                        a->result = optarg;
                        break;
                case 'q':
                        a->quiet = true;
                        break;
                case ARG_KEEP:
                        fprintf(stderr, "moat run: --keep: " KEEP_NOT_BUILT "\n");
                        return EXIT_MOAT_FAILED;
                case 'h':
                        return 1;
                case ':':
                        fprintf(stderr, "moat run: option '%s' needs an argument\n",
                                argv[optind - 1]);
                        return EXIT_MOAT_FAILED;
                default:
                        if (optopt)
                                fprintf(stderr,
                                        "moat run: unknown option '-%c' (try 'moat run --help')\n",
                                        optopt);
                        else
                                fprintf(stderr,
                                        "moat run: unknown option '%s' (try 'moat run --help')\n",
                                        argv[optind - 1]);
                        return EXIT_MOAT_FAILED;
                }
        }
        if (!a->profile) {
                fprintf(stderr, "moat run: -p/--profile is required\n");
                return EXIT_MOAT_FAILED;
        }
        if (optind >= argc) {
                fprintf(stderr, "moat run: no command given (moat run -p PROFILE -- COMMAND...)\n");
                return EXIT_MOAT_FAILED;
        }
        a->command = argv + optind;
        if (!a->audit_log) {
                const char *e = getenv("MOAT_AUDIT_LOG");
                if (e && *e)
                        a->audit_log = e;
        }
        return 0;
}

/* --result FILE must be writable where it is before anything runs: its directory exists and
 * is writable, and FILE is not a directory. A usage error otherwise (nothing is written). */
static int check_result_path(const char *path) {
        _cleanup_free_ char *copy = strdup(path);
        struct stat st;

        if (!copy)
                return -ENOMEM;
        if (!path[0])
                return -ENOENT;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
                return -EISDIR;
        const char *dir = dirname(copy);
        if (stat(dir, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        if (access(dir, W_OK | X_OK) < 0)
                return -errno;
        return 0;
}

/* The result document, replaced atomically: a temporary file in FILE's directory, written,
 * flushed, renamed over FILE. A reader sees the old file or the whole new one, never a part. */
static int write_result(const char *path, const AuditContext *actx) {
        _cleanup_free_ char *copy = strdup(path), *tmp = NULL, *text = NULL;
        json_t *doc = audit_result_build(actx);
        int r = 0;

        if (doc)
                text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
        json_decref(doc);
        if (!copy || !text || asprintf(&tmp, "%s/.moat-result.XXXXXX", dirname(copy)) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        size_t len = strlen(text);
        text[len++] = '\n'; /* over the NUL: text is not used as a string after this */
        ssize_t n = write(fd, text, len);
        if (n < 0)
                r = -errno;
        else if ((size_t) n != len)
                r = -EIO;
        if (r >= 0 && fchmod(fd, 0644) < 0)
                r = -errno;
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

static uint64_t realtime_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

/* Absolute, symlink-free work directory; the executor binds exactly this directory. */
static int resolve_workdir(const char *arg, char **ret) {
        struct stat st;
        char *p = realpath(arg ? arg : ".", NULL);
        if (!p)
                return -errno;
        if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode)) {
                free(p);
                return -ENOTDIR;
        }
        *ret = p;
        return 0;
}

/* The audit record of this run, written as early as its facts allow: the writer is prepared
 * while the command runs and the record appended the moment the executor's outcome is final, its
 * pages going to the disk during the executor's teardown (RunHooks); write_records() fdatasyncs
 * it, or writes it whole when no executor got that far (a refusal, a failure, a tier that does
 * not call the hooks). */
typedef struct Recorder {
        const RunArgs *a;
        const RunContext *ctx;
        const RunRequest *req;
        uint64_t start;
        AuditWriter *writer; /* NULL: it could not even be made (new_error) */
        int new_error;
        bool appended;
        int append_error;
} Recorder;

static AuditContext recorder_context(const Recorder *rec, const RunOutcome *o, const char *error) {
        return (AuditContext){
                .plan = rec->ctx->plan,
                .policy = rec->ctx->policy,
                .host = rec->ctx->plan ? &rec->ctx->host : NULL,
                .request = rec->req,
                .outcome = o,
                .profile_arg = rec->a->profile,
                .error = error,
                .start_realtime_ns = rec->start,
        };
}

static void recorder_started(void *userdata) {
        Recorder *rec = userdata;

        if (rec->writer)
                audit_writer_prepare(rec->writer);
}

/* As cmd_run() reads an executor's outcome: a run that did not start carries its message. */
static const char *outcome_error(const RunOutcome *o) {
        return !o->started && o->message[0] ? o->message : NULL;
}

static void recorder_finished(const RunOutcome *o, void *userdata) {
        Recorder *rec = userdata;
        AuditContext actx = recorder_context(rec, o, outcome_error(o));

        if (!rec->writer || rec->appended)
                return;
        rec->appended = true;
        rec->append_error = audit_writer_append(rec->writer, &actx);
}

/* The executor waits for its last step in another process: the record's fdatasync meanwhile. */
static void recorder_waiting(void *userdata) {
        Recorder *rec = userdata;

        if (rec->writer && rec->appended && rec->append_error >= 0)
                audit_writer_sync(rec->writer);
}

static int write_records(Recorder *rec, const RunOutcome *o, const char *error) {
        AuditContext actx = recorder_context(rec, o, error);
        int r;

        if (!rec->writer) {
                fprintf(stderr, "moat: cannot determine the audit log path\n");
                return rec->new_error < 0 ? rec->new_error : -ENOMEM;
        }
        if (!rec->appended) {
                rec->appended = true;
                rec->append_error = audit_writer_append(rec->writer, &actx);
        }
        /* Durable before the --result file exists: a grader never sees a result whose record a
         * power cut could still take. */
        r = rec->append_error;
        if (r >= 0)
                r = audit_writer_finish(rec->writer);
        if (r < 0)
                fprintf(stderr, "moat: cannot write the audit record to %s: %s\n",
                        audit_writer_path(rec->writer), audit_log_strerror(r));
        if (rec->a->result) {
                int q = write_result(rec->a->result, &actx);
                if (q < 0)
                        fprintf(stderr, "moat: cannot write the --result file %s: %s\n",
                                rec->a->result, strerror(-q));
                if (r >= 0)
                        r = q;
        }
        return r;
}

/* The vm executor lives in moat-vm-run (see meson.build: libvirt's sixty libraries stay out of
 * every sandbox launch). Look for it beside this binary first (the build tree), then in the
 * installed libexec directory. moat-vm-run is moat with the vm executor: it resolves the same
 * inputs again and writes the audit record itself, so nothing is recorded here on success.
 * Not inlined: its two PATH_MAX buffers would otherwise sit in cmd_run()'s frame, whose pages
 * the stack clash probes touch on every launch and which stay resident while a sandbox runs. */
__attribute__((noinline)) int exec_runner(const char *name, char **run_argv,
                                          const char **ret_error) {
        static char error[PATH_MAX + 128];
        char self[PATH_MAX], path[PATH_MAX + 32];
        ssize_t n;
        size_t argc = 0;

        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0) {
                self[n] = '\0';
                char *slash = strrchr(self, '/');
                if (slash)
                        *slash = '\0';
                snprintf(path, sizeof(path), "%s/%s", self, name);
        }
        if (n <= 0 || access(path, X_OK) < 0)
                snprintf(path, sizeof(path), "%s/%s", MOAT_LIBEXEC_DIR, name);

        while (run_argv[argc])
                argc++;
        _cleanup_free_ char **args = calloc(argc + 2, sizeof(char *));
        if (!args) {
                *ret_error = "out of memory";
                return EXIT_MOAT_FAILED;
        }
        args[0] = (char *) name;
        for (size_t i = 0; i < argc; i++)
                args[i + 1] = run_argv[i];
        fflush(NULL);
        execve(path, args, environ);
        snprintf(error, sizeof(error), "cannot start the executor %s: %s", path, strerror(errno));
        *ret_error = error;
        fprintf(stderr, "moat: %s\n", error);
        return EXIT_MOAT_FAILED;
}

/* Run the plan's tier. Returns the exit status; *ret_error is set for a refusal. */
static int dispatch(const Plan *plan, const RunRequest *req, RunOutcome *o, char **run_argv,
                    const char **ret_error) {
        switch (plan->tier) {
        case TIER_SANDBOX:
                (void) sandbox_execute(plan, req, o);
                return o->exit_status;
        case TIER_VM:
#if MOAT_WITH_VM
                (void) vm_execute(plan, req, o);
                return o->exit_status;
#else
                return exec_runner("moat-vm-run", run_argv, ret_error);
#endif
        case TIER_SYSTEM:
#if HAVE_LXC
                /* in this process; liblxc only in moat-system-run, which the executor's runner
                 * and attacher exec (launcher/lxc/lxc-execute.c) */
                (void) system_execute(plan, req, o);
                return o->exit_status;
#else
                *ret_error = "the system tier executor is not available in this build";
                break;
#endif
        default:
                *ret_error = "the plan has no runnable tier";
                break;
        }
        fprintf(stderr, "moat: %s (tier %s chosen for profile %s)\n", *ret_error,
                plan->tier == TIER_VM       ? "vm"
                : plan->tier == TIER_SYSTEM ? "system"
                                            : "?",
                plan->profile_name ? plan->profile_name : "?");
        return EXIT_MOAT_FAILED;
}

typedef struct ContextLoad {
        const RunContextArgs *args;
        RunContext *ctx;
        MoatError *error;
} ContextLoad;

static int context_load_profile(void *userdata) {
        ContextLoad *l = userdata;

        sys_heap_reserve_thread(MOAT_HEAP_RESERVE);
        return run_context_load_profile(l->args, l->ctx, l->error);
}

static int context_load_rest(void *userdata) {
        ContextLoad *l = userdata;

        return run_context_load_rest(l->args, l->ctx, l->error);
}

#if HAVE_LXC
/* Whether the profile asks for the system tier itself (isolation: system, or a full OS without
 * a fixed tier) and allows it: its runner is then started before the policy and the host are
 * read, and discarded if the plan ends up elsewhere (escalated to vm, refused). */
static bool profile_wants_system(const Profile *pr) {
        if (pr->max_tier < TIER_SYSTEM)
                return false;
        return pr->isolation == TIER_SYSTEM || (pr->isolation == TIER_AUTO && pr->os.full_os);
}
#endif

int cmd_run(int argc, char **argv) {
        RunArgs a = {};
        RunContext ctx = {};
        /* Static, not in this frame: its pages stay resident while a sandbox runs, and these
         * two are written only when the run cannot start (cmd_run() runs once a process). */
        static MoatError err;
        static char errbuf[1024];
        RunOutcome outcome = { .exit_status = EXIT_MOAT_FAILED, .exit_code = -1 };
        SystemRunner runner = { .cfg_fd = -EBADF, .err_fd = -EBADF };
        _cleanup_free_ char *workdir = NULL, *refusal = NULL;
        const char *error = NULL;
        uint64_t start = realtime_ns();
        bool ran = false;
        int status, r;

        sys_heap_reserve(MOAT_HEAP_RESERVE);
        r = parse_args(argc, argv, &a);
        if (r == 1) {
                help(stdout);
                return 0;
        }
        if (r != 0)
                return r;
        if (a.result && (r = check_result_path(a.result)) < 0) {
                fprintf(stderr, "moat run: --result %s: %s\n", a.result, strerror(-r));
                return EXIT_MOAT_FAILED;
        }
        r = resolve_workdir(a.workdir, &workdir);
        if (r < 0) {
                fprintf(stderr, "moat run: --workdir %s: %s\n", a.workdir ? a.workdir : ".",
                        strerror(-r));
                return EXIT_MOAT_FAILED;
        }
        Recorder rec = { .a = &a, .ctx = &ctx, .start = start };
        const RunHooks hooks = { .started = recorder_started,
                                 .finished = recorder_finished,
                                 .waiting = recorder_waiting,
                                 .userdata = &rec };
        RunRequest req = { .argv = a.command,
                           .workdir = workdir,
                           .caller_env = environ,
                           .quiet = a.quiet,
                           .hooks = &hooks,
                           .system_runner = &runner };
        rec.req = &req;

        RunContextArgs cargs = { .profile = a.profile,
                                 .policy_file = a.policy,
                                 .host_facts_file = a.host_facts,
                                 .probe_flags = RUN_PROBE_FLAGS,
                                 .workdir = workdir };
        /* Parsing and resolving make some 900 allocations (300 KiB), most of them freed again
         * between the pieces of the plan that stay: on a thread and a heap of their own
         * (sys/heap.h), so that a sandbox's supervisor keeps a compact copy of what it needs
         * (below). */
        ContextLoad load = { .args = &cargs, .ctx = &ctx, .error = &err };
        r = sys_heap_scratch_keep(context_load_profile, &load);
#if HAVE_LXC
        /* on this thread: the runner dies with the thread that started it (PR_SET_PDEATHSIG) */
        if (r >= 0 && profile_wants_system(ctx.profile)) {
                (void) system_runner_prestart(&runner);
                /* the plan's tier is not the sandbox: the whole probe at once, one resolve
                 * instead of the base facts' and then the whole probe's (context.c) */
                cargs.probe_flags &= ~HOST_PROBE_BASE;
        }
#endif
        if (r >= 0)
                r = sys_heap_scratch_keep(context_load_rest, &load);
#if HAVE_LXC
        if (r < 0 || ctx.plan->refused || ctx.plan->tier != TIER_SYSTEM)
                system_runner_discard(&runner);
#endif
        /* The thread waits to free the originals (run_context_compact()) for a sandbox run only;
         * otherwise it ends here. */
        bool compact = r >= 0 && !ctx.plan->refused && ctx.plan->tier == TIER_SANDBOX;
        if (!compact)
                sys_heap_scratch_end();
        /* The log path depends on the policy: known from here, whatever happens next. */
        rec.new_error = audit_writer_new(a.audit_log, ctx.policy, &rec.writer);
#if MOAT_WITH_VM
        /* KVM that answers but has never run a guest here is proven before the plan is final,
         * so the plan, the run and the audit record agree on the accelerator. Recorded facts
         * (--host-facts) are taken as they are. */
        if (r >= 0 && !ctx.plan->refused && ctx.plan->tier == TIER_VM && !a.host_facts &&
            ctx.host.kvm_state == KVM_STATE_UNPROVEN) {
                r = vm_kvm_prove(&ctx.host, a.quiet);
                if (r >= 0)
                        r = run_context_resolve_again(&ctx, &err);
                if (r < 0 && !moat_error_is_set(&err))
                        moat_error_set(&err, "", 0, 0, "the KVM proof failed: %s", strerror(-r));
        }
#endif
        /* The sandbox tier's supervisor is this process, for as long as the workload runs: it
         * keeps the plan (denial reports, the audit record) and the host facts (the record),
         * copied, and nothing else of the launch (context.h). Out of memory for the copies,
         * it keeps the originals, which are the same. */
        if (compact)
                (void) run_context_compact(&ctx);
        sys_heap_scratch_end(); /* single-threaded from here: clone3 makes a user namespace */
        if (r < 0) {
                error = moat_error_is_set(&err) ? moat_error_format(&err, errbuf, sizeof(errbuf))
                                                : strerror(-r);
                fprintf(stderr, "moat: %s\n", error);
                status = EXIT_MOAT_FAILED;
        } else if (ctx.plan->refused) {
                /* On the heap: a plan that several rules refuse (and a host that cannot run the
                 * tier) says more than errbuf holds, and a cut refusal loses its remedies. */
                if (asprintf(&refusal, "refused: %s",
                             ctx.plan->refusal ? ctx.plan->refusal : "no reason given") < 0)
                        refusal = NULL;
                error = refusal ? refusal : "refused (out of memory for the reason)";
                fprintf(stderr, "moat: %s\n", error);
                status = EXIT_MOAT_FAILED;
        } else if (rec.writer && (r = audit_writer_check(rec.writer)) < 0) {
                /* A record that would be refused after the run is refused before it: a run
                 * without its record is not started. write_records() reports the log's error. */
                error = "the run was not started: its audit record could not be written";
                fprintf(stderr, "moat: %s\n", error);
                status = EXIT_MOAT_FAILED;
        } else {
                status = dispatch(ctx.plan, &req, &outcome, argv, &error);
                ran = error == NULL;
                if (ran && !outcome.started && outcome.message[0])
                        error = outcome.message;
        }

#if HAVE_LXC
        system_runner_discard(&runner); /* not taken: the run stopped before its start */
#endif
        r = write_records(&rec, ran ? &outcome : NULL, error);
        if (r < 0 && !outcome.started)
                status = EXIT_MOAT_FAILED;
        rec.writer = audit_writer_free(rec.writer);
        run_outcome_done(&outcome);
        run_context_done(&ctx);
        return status;
}

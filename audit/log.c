/* SPDX-License-Identifier: MIT */
/* Appending to the audit log (audit/README.md "The log").
 *
 * Runs in the moat process with the caller's own privileges. One append: open
 * O_APPEND|O_NOFOLLOW|O_CLOEXEC, check the file is a regular file owned by the caller and
 * writable by nobody else, take flock(LOCK_EX), read the last line from the end of the file to
 * chain to it, write the record in ONE write(2), fdatasync, close (which drops the lock). Every
 * moat process takes the same lock, so records never interleave; a writer killed mid-write
 * leaves at most a torn tail, which the next writer covers with a "recovery" record (the chain
 * continues and verify reports the tear).
 *
 * An AuditWriter splits this in three so that `moat run` does the slow parts while it would
 * otherwise wait: audit_writer_prepare() (while the command runs) opens and checks the log,
 * loads the key, looks up the caller's identity and reads the chain's tail without the lock;
 * audit_writer_append() (as soon as the outcome is final) builds the record, takes the lock,
 * re-reads the tail unless the file is still exactly the one prepare() read (device, inode,
 * size, mtime, ctime), writes, and starts writing the record's pages out
 * (sync_file_range) while the executor tears the sandbox down; audit_writer_finish() then
 * fdatasyncs, which is left with the journal commit. The guarantee is the same: moat exits only
 * after finish() returned, so a record it reports as written was fdatasync'ed first. (The
 * fdatasync itself on a thread was tried: on a loaded machine the thread waited for a CPU and
 * made the tail slower, not faster.)
 *
 * Leaves behind: the log file (0600, or 0640 for root) and missing parent directories (0700,
 * 0750 for root). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>

#include "audit-internal.h"
#include "audit.h"
#include "basic/macros.h"
#include "config.h"

#if HAVE_SYSTEMD
#include <dlfcn.h>
#include <syslog.h>
#endif

/* A writer covers at most this many broken lines at the end of the log with one recovery
 * record; more than that is not a crash but damage, and appending stops (fail closed). */
#define RECOVERY_SCAN_LINES 32
/* A run record is about 5 KiB: the first window holds the last one; torn tails and long records
 * grow it (x4) up to the limit. Every 4 KiB read is a page of heap to touch. */
#define TAIL_WINDOW_MIN (8 * 1024)
#define TAIL_WINDOW_MAX (8 * 1024 * 1024)
/* Lock wait: long enough for any queue of honest writers, short enough that a process
 * sitting on the lock cannot hang every launch forever. */
#define LOCK_TIMEOUT_MS 60000

/* Journal MESSAGE_ID of an audit record (journalctl MESSAGE_ID=...). */
#define AUDIT_JOURNAL_MESSAGE_ID "a5eae028d288486d90676c05d6d050e4"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Errors of the log's own checks; see audit_log_strerror(). */
#define E_NOT_REGULAR EMEDIUMTYPE
#define E_WRITABLE_BY_OTHERS EBADE

static uint64_t now_realtime_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

const char *audit_log_strerror(int r) {
        switch (-r) {
        case ELOOP:
                return "the log path is a symbolic link (refused)";
        case EPERM:
                return "the log file is not owned by the caller (refused)";
        case E_NOT_REGULAR:
                return "the log path is not a regular file (refused)";
        case E_WRITABLE_BY_OTHERS:
                return "the log file is writable by group or others (refused)";
        case EBADMSG:
                return "the end of the log is not a record chain that can be continued; "
                       "run 'moat audit verify'";
        case ETIMEDOUT:
                return "timed out waiting for the log's lock";
        case E2BIG:
                return "the record is larger than the log's line limit";
        default:
                return strerror(-r);
        }
}

static char *path_join(const char *a, const char *b) {
        char *p;

        if (asprintf(&p, "%s/%s", a, b) < 0)
                return NULL;
        return p;
}

char *audit_log_default_path(const Policy *policy) {
        const char *e = getenv("MOAT_AUDIT_LOG");

        if (e && *e)
                return strdup(e);
        if (policy && policy->audit_log_path)
                return strdup(policy->audit_log_path);
        if (getuid() == 0)
                return strdup("/var/log/moat/audit.jsonl");

        /* XDG: a relative XDG_STATE_HOME is invalid and must be ignored. */
        e = getenv("XDG_STATE_HOME");
        if (e && e[0] == '/')
                return path_join(e, "moat/audit.jsonl");
        e = getenv("HOME");
        if (e && e[0] == '/')
                return path_join(e, ".local/state/moat/audit.jsonl");

        struct passwd pw, *found = NULL;
        char buf[4096];
        if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &found) != 0 || !found || !pw.pw_dir ||
            pw.pw_dir[0] != '/') {
                errno = ENOENT;
                return NULL;
        }
        return path_join(pw.pw_dir, ".local/state/moat/audit.jsonl");
}

/* mkdir -p of path's parent; only directories created here get mode. */
static int mkdir_parents(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);
        char *slash;

        if (!p)
                return -ENOMEM;
        slash = strrchr(p, '/');
        if (!slash || slash == p)
                return 0;
        *slash = '\0';
        for (char *c = p + 1;; c++) {
                if (*c != '/' && *c != '\0')
                        continue;
                char saved = *c;
                *c = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                if (saved == '\0')
                        break;
                *c = saved;
        }
        return 0;
}

static int fsync_parent(const char *path) {
        _cleanup_free_ char *dir = strdup(path);
        _cleanup_close_ int fd = -EBADF;
        char *slash;

        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (!slash)
                return 0;
        *(slash == dir ? slash + 1 : slash) = '\0';
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return fsync(fd) < 0 ? -errno : 0;
}

static int check_log_stat(const struct stat *st) {
        if (!S_ISREG(st->st_mode))
                return -E_NOT_REGULAR;
        if (st->st_uid != geteuid())
                return -EPERM;
        /* Anyone else who can write could splice records in between ours. */
        if (st->st_mode & (S_IWGRP | S_IWOTH))
                return -E_WRITABLE_BY_OTHERS;
        return 0;
}

static int check_log_fd(int fd) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return -errno;
        return check_log_stat(&st);
}

/* Open (creating if needed) the log for appending. O_NOFOLLOW refuses a symlink planted at the
 * final component; O_NONBLOCK keeps a FIFO planted there from hanging us before the type check. */
static int open_log(const char *path, bool *ret_created) {
        bool root = geteuid() == 0;
        mode_t mode = root ? 0640 : 0600;
        int flags = O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
        _cleanup_close_ int fd = -EBADF;
        int r;

        *ret_created = false;
        for (int attempt = 0; attempt < 2; attempt++) {
                fd = open(path, flags | O_CREAT | O_EXCL, mode);
                if (fd >= 0) {
                        /* The umask may have narrowed the mode; make it exactly what we document. */
                        if (fchmod(fd, mode) < 0)
                                return -errno;
                        *ret_created = true;
                        break;
                }
                if (errno == EEXIST) {
                        fd = open(path, flags);
                        if (fd < 0 && errno == ENOENT)
                                continue; /* removed in between: create it */
                        if (fd < 0)
                                return -errno;
                        break;
                }
                if (errno != ENOENT || attempt > 0)
                        return -errno;
                r = mkdir_parents(path, root ? 0750 : 0700);
                if (r < 0)
                        return r;
        }
        if (fd < 0)
                return -ENOENT;
        r = check_log_fd(fd);
        if (r < 0)
                return r;
        return TAKE_FD(fd);
}

static int lock_fd(int fd, int operation) {
        unsigned waited_ms = 0, step_ms = 1;

        for (;;) {
                if (flock(fd, operation | LOCK_NB) == 0)
                        return 0;
                if (errno != EWOULDBLOCK && errno != EINTR)
                        return -errno;
                if (waited_ms >= LOCK_TIMEOUT_MS)
                        return -ETIMEDOUT;
                nanosleep(&(struct timespec){ .tv_nsec = step_ms * 1000000L }, NULL);
                waited_ms += step_ms;
                step_ms = MIN(step_ms * 2, 16u);
        }
}

static bool parse_is_sealed(const char *line, size_t len) {
        _cleanup_json_ json_t *rec = json_loadb(line, len, 0, NULL);
        const char *hash = json_string_value(json_object_get(rec, "hash"));

        return hash && strlen(hash) == AUDIT_HEX_LEN;
}

/* The tail is read while the command runs (audit_writer_prepare()): the parse's few hundred
 * small allocations, freed at once, would leave holes all over the heap of a process that then
 * supervises for hours (some 24 KiB per sandbox here). So jansson allocates from a scratch
 * mapping that is unmapped afterwards; only if that runs out is the line parsed again on the
 * heap, so that what counts as a record never depends on the scratch's size. moat is single
 * threaded, and nothing else creates JSON meanwhile. */
typedef struct Scratch {
        char *base;
        size_t size, used;
        bool exhausted;
} Scratch;

static Scratch *scratch;

static void *scratch_malloc(size_t n) {
        n = (n + 15) & ~(size_t) 15;
        if (n > scratch->size - scratch->used) {
                scratch->exhausted = true;
                return NULL;
        }
        void *p = scratch->base + scratch->used;
        scratch->used += n;
        return p;
}

static void scratch_free(void *p) {
}

static bool is_sealed_record(const char *line, size_t len) {
        Scratch s = { .size = MAX((size_t) 256 * 1024, len * 16) };
        json_malloc_t old_malloc;
        json_free_t old_free;
        bool sealed;

        if (len == 0 || len > AUDIT_LINE_MAX)
                return false;
        s.base = mmap(NULL, s.size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (s.base == MAP_FAILED)
                return parse_is_sealed(line, len);
        /* What the parse will touch (about 7 bytes of scratch a byte of record), populated in
         * one call rather than faulted in a page at a time (~14 us a fault on the reference
         * machine, sys/heap.c); best effort. */
        (void) madvise(s.base, MIN(s.size, (len * 8 + 4095) & ~(size_t) 4095), MADV_POPULATE_WRITE);
        json_get_alloc_funcs(&old_malloc, &old_free);
        scratch = &s;
        json_set_alloc_funcs(scratch_malloc, scratch_free);
        sealed = parse_is_sealed(line, len);
        json_set_alloc_funcs(old_malloc, old_free);
        scratch = NULL;
        (void) munmap(s.base, s.size);
        return s.exhausted ? parse_is_sealed(line, len) : sealed;
}

/* What to chain to. Reads a window at the end of the file, never the whole file: finds the last
 * line that is a sealed record (its SHA-256 becomes prev) and everything after it (the torn
 * region: an unterminated tail and lines that are not records, left by crashed writers).
 * Returns 0, 1 if the window was too small, or -errno. */
typedef struct TailScan {
        char prev[AUDIT_HEX_LEN + 1];
        uint64_t torn_off; /* file offset where the torn region starts */
        uint64_t torn_len; /* 0: nothing to recover */
        char torn_sha256[AUDIT_HEX_LEN + 1];
        bool ends_with_newline;
} TailScan;

static int scan_window(const char *b, size_t w, uint64_t size, TailScan *ret) {
        bool whole = w == size;
        size_t r = w; /* end (exclusive) of the region still to look at */
        const char *nl;

        ret->ends_with_newline = w > 0 && b[w - 1] == '\n';
        if (!ret->ends_with_newline) {
                nl = memrchr(b, '\n', w);
                if (!nl && !whole)
                        return 1;
                r = nl ? (size_t) (nl - b) + 1 : 0;
        }
        for (unsigned n = 0;; n++) {
                size_t s;

                if (r == 0) {
                        if (!whole)
                                return 1;
                        memcpy(ret->prev, AUDIT_GENESIS_PREV, sizeof(ret->prev));
                        break;
                }
                if (n >= RECOVERY_SCAN_LINES)
                        return -EBADMSG;
                nl = r >= 2 ? memrchr(b, '\n', r - 1) : NULL;
                if (!nl && !whole)
                        return 1;
                s = nl ? (size_t) (nl - b) + 1 : 0;
                if (is_sealed_record(b + s, r - 1 - s)) {
                        audit_sha256_hex(b + s, r - 1 - s, ret->prev);
                        break;
                }
                r = s;
        }
        ret->torn_off = size - w + r;
        ret->torn_len = w - r;
        if (ret->torn_len > 0)
                audit_sha256_hex(b + r, w - r, ret->torn_sha256);
        return 0;
}

static int scan_tail(int fd, uint64_t size, TailScan *ret) {
        *ret = (TailScan){ .ends_with_newline = true };
        memcpy(ret->prev, AUDIT_GENESIS_PREV, sizeof(ret->prev));
        if (size == 0)
                return 0;

        for (size_t w = TAIL_WINDOW_MIN;; w *= 4) {
                size_t n = (size_t) MIN((uint64_t) w, size);
                /* mapped, not malloc()ed: see is_sealed_record() */
                char *b = mmap(NULL, n, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
                ssize_t got;
                int r;

                if (b == MAP_FAILED)
                        return -ENOMEM;
                got = pread(fd, b, n, (off_t) (size - n));
                if (got < 0)
                        r = -errno;
                else if ((size_t) got != n)
                        r = -EIO;
                else
                        r = scan_window(b, n, size, ret);
                (void) munmap(b, n);
                if (r <= 0)
                        return r;
                if (n == size || w >= TAIL_WINDOW_MAX)
                        return -EBADMSG;
        }
}

/* Who writes, looked up once per writer (the passwd lookup reads files). */
typedef struct Identity {
        char host[sizeof(((struct utsname *) NULL)->nodename)];
        uid_t uid;
        gid_t gid;
        char *user; /* NULL: the uid has no passwd entry */
} Identity;

static int identity_load(Identity *id) {
        struct utsname u;
        struct passwd pw, *found = NULL;
        char buf[4096];

        if (uname(&u) < 0)
                snprintf(u.nodename, sizeof(u.nodename), "unknown");
        snprintf(id->host, sizeof(id->host), "%s", u.nodename);
        id->uid = getuid();
        id->gid = getgid();
        id->user = NULL;
        /* A uid without a passwd entry is recorded with a null name, never skipped. */
        if (getpwuid_r(id->uid, &pw, buf, sizeof(buf), &found) == 0 && found) {
                id->user = strdup(pw.pw_name);
                if (!id->user)
                        return -ENOMEM;
        }
        return 0;
}

static int set_identity(json_t *rec, const Identity *id) {
        return audit_record_set_identity(rec, id->host, id->uid, id->gid, id->user);
}

static bool fsync_enabled(void) {
        const char *e = getenv("MOAT_AUDIT_FSYNC");

        /* Default on: a record acknowledged to the caller survives a power cut. */
        return !(e && strcmp(e, "0") == 0);
}

/* Everything to write under the lock, as one buffer: [newline ending the torn bytes]
 * [recovery record] record. */
static int compose(json_t *record, const TailScan *tail, const Identity *id, const uint8_t *key,
                   size_t key_len, char **ret_buf, size_t *ret_len, char **ret_line) {
        _cleanup_free_ char *recovery_line = NULL, *line = NULL, *buf = NULL;
        char prev[AUDIT_HEX_LEN + 1];
        size_t recovery_len = 0, len = 0, n = 0;
        int r;

        memcpy(prev, tail->prev, sizeof(prev));
        if (tail->torn_len > 0) {
                _cleanup_json_ json_t *rec = audit_record_build_recovery(
                        now_realtime_ns(), tail->torn_len, tail->torn_sha256);
                if (!rec)
                        return -ENOMEM;
                r = set_identity(rec, id);
                if (r < 0)
                        return r;
                r = audit_chain_seal(rec, prev, key, key_len, &recovery_line, &recovery_len);
                if (r < 0)
                        return r;
                audit_sha256_hex(recovery_line, recovery_len, prev);
        }
        r = audit_chain_seal(record, prev, key, key_len, &line, &len);
        if (r < 0)
                return r;

        buf = malloc(len + recovery_len + 3);
        if (!buf)
                return -ENOMEM;
        if (tail->torn_len > 0 && !tail->ends_with_newline)
                buf[n++] = '\n';
        if (recovery_line) {
                memcpy(buf + n, recovery_line, recovery_len);
                n += recovery_len;
                buf[n++] = '\n';
        }
        memcpy(buf + n, line, len);
        n += len;
        buf[n++] = '\n';
        *ret_buf = TAKE_PTR(buf);
        *ret_len = n;
        if (ret_line)
                *ret_line = TAKE_PTR(line);
        return 0;
}

/* Under the lock: is the path still the file we hold? A log renamed away (rotated) between
 * open and lock must not receive the record. */
static int same_file(int fd, const char *path) {
        struct stat a, b;

        if (fstat(fd, &a) < 0)
                return -errno;
        if (lstat(path, &b) < 0)
                return errno == ENOENT ? 0 : -errno;
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

struct AuditWriter;
static void key_wipe(struct AuditWriter *w);

struct AuditWriter {
        char *path;
        char *key_file; /* the site's HMAC key file, NULL: plain chain */
        bool journal;   /* mirror the record to the journal */
        bool fsync;
        bool prepared;
        int error; /* prepare()'s, returned by append() */
        Identity id;
        uint8_t *key;
        size_t key_len;
        int fd; /* the log, opened and checked */
        bool created;
        /* The chain's tail as prepare() read it without the lock, and the file it read it from:
         * under the lock it stands only if the file is still exactly that one. */
        bool have_tail;
        struct stat tail_st;
        TailScan tail;
        /* after append() */
        json_t *record;
        char *line;
        bool appended;
        int append_error;
        bool sync_pending; /* written, its fdatasync left to finish() */
        int sync_error;    /* of the fdatasync audit_writer_sync() did */
};

static void key_wipe(AuditWriter *w) {
        if (w->key)
                explicit_bzero(w->key, w->key_len);
        free(w->key);
        w->key = NULL;
        w->key_len = 0;
}

int audit_writer_new(const char *log_path, const Policy *policy, AuditWriter **ret) {
        _cleanup_(audit_writer_freep) AuditWriter *w = calloc(1, sizeof(*w));

        if (!w)
                return -ENOMEM;
        w->fd = -EBADF;
        w->fsync = fsync_enabled();
        w->path = log_path ? strdup(log_path) : audit_log_default_path(policy);
        if (!w->path)
                return log_path || errno != ENOENT ? -ENOMEM : -ENOENT;
        if (policy && policy->audit_hmac_key_file &&
            !(w->key_file = strdup(policy->audit_hmac_key_file)))
                return -ENOMEM;
        w->journal = policy && policy->audit_journal;
        *ret = TAKE_PTR(w);
        return 0;
}

static bool same_stat(const struct stat *a, const struct stat *b) {
        return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
               a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
               a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static int prepare(AuditWriter *w) {
        int r = identity_load(&w->id);
        if (r < 0)
                return r;
        /* A site that asked for a keyed chain never gets an unkeyed record instead: no key, no
         * log opened. */
        if (w->key_file && !w->key) {
                r = audit_key_load(w->key_file, &w->key, &w->key_len);
                if (r < 0)
                        return r;
        }
        w->fd = open_log(w->path, &w->created);
        if (w->fd < 0)
                return w->fd;
        /* Unlocked, so it may see the file in the middle of another writer's append: then the
         * file changes before we hold the lock, and the tail is read again. A tail that does
         * not scan here is read again under the lock too, where its error counts. */
        w->have_tail = fstat(w->fd, &w->tail_st) >= 0 &&
                       scan_tail(w->fd, (uint64_t) w->tail_st.st_size, &w->tail) >= 0;
        return 0;
}

void audit_writer_prepare(AuditWriter *w) {
        if (w->prepared)
                return;
        w->prepared = true;
        w->error = prepare(w);
}

/* The lock, on a file the path still names (a log rotated away meanwhile is reopened). */
static int lock_log(AuditWriter *w) {
        for (int attempt = 0;; attempt++) {
                int r;

                if (w->fd < 0) {
                        w->have_tail = false;
                        w->fd = open_log(w->path, &w->created);
                        if (w->fd < 0)
                                return w->fd;
                }
                r = lock_fd(w->fd, LOCK_EX);
                if (r < 0)
                        return r;
                r = same_file(w->fd, w->path);
                if (r < 0)
                        return r;
                if (r > 0)
                        return 0;
                if (attempt >= 3)
                        return -ESTALE;
                w->fd = safe_close(w->fd);
        }
}

static int sync_log(AuditWriter *w) {
        int r = 0;

        if (fdatasync(w->fd) < 0)
                r = -errno;
        else if (w->created)
                r = fsync_parent(w->path);
        w->fd = safe_close(w->fd); /* drops the lock */
        return r;
}

/* defer: leave the fdatasync to finish(), only starting the writeback here. */
static int append_record(AuditWriter *w, json_t *record, bool defer, char **ret_line) {
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        TailScan tail;
        size_t len = 0;
        ssize_t n;
        int r;

        if (w->appended)
                return -EALREADY;
        audit_writer_prepare(w);
        if (w->error < 0)
                return w->error;
        w->appended = true;
        r = lock_log(w);
        if (r < 0)
                return r;
        if (fstat(w->fd, &st) < 0)
                return -errno;
        if (w->have_tail && same_stat(&st, &w->tail_st))
                tail = w->tail;
        else {
                r = scan_tail(w->fd, (uint64_t) st.st_size, &tail);
                if (r < 0)
                        return r;
        }
        r = compose(record, &tail, &w->id, w->key, w->key_len, &buf, &len, ret_line);
        if (r < 0)
                return r;

        /* One write(2) under the lock: with O_APPEND the record lands whole after the last one,
         * or (killed, disk full) as a torn tail that the next writer recovers. */
        n = write(w->fd, buf, len);
        if (n < 0)
                return -errno;
        if ((size_t) n != len)
                return -EIO;
        if (!w->fsync) {
                w->fd = safe_close(w->fd);
                return 0;
        }
        if (!defer)
                return sync_log(w);
        /* The record's pages go to the disk while the caller tears the run down; finish()'s
         * fdatasync waits for them and commits the journal. Only a hint: finish() syncs
         * whatever it did. */
        (void) sync_file_range(w->fd, st.st_size, (off_t) len, SYNC_FILE_RANGE_WRITE);
        w->sync_pending = true;
        return 0;
}

int audit_writer_append(AuditWriter *w, const AuditContext *ctx) {
        _cleanup_json_ json_t *rec = NULL;
        int r;

        rec = audit_record_build(ctx);
        if (!rec)
                return -ENOMEM;
        if (ctx->start_realtime_ns == 0) {
                char when[40];

                audit_time_format(now_realtime_ns(), when);
                if (audit_json_set(rec, "time", json_string(when)) < 0)
                        return -ENOMEM;
        }
        audit_writer_prepare(w);
        if (w->error < 0)
                return w->append_error = w->error;
        r = set_identity(rec, &w->id);
        if (r < 0)
                return w->append_error = r;
        r = append_record(w, rec, true, &w->line);
        key_wipe(w);
        if (r < 0)
                return w->append_error = r;
        w->record = TAKE_PTR(rec);
        return 0;
}

static int wait_sync(AuditWriter *w) {
        if (!w->sync_pending)
                return w->sync_error;
        w->sync_pending = false;
        return w->sync_error = sync_log(w);
}

void audit_writer_sync(AuditWriter *w) {
        (void) wait_sync(w);
}

AuditWriter *audit_writer_free(AuditWriter *w) {
        if (!w)
                return NULL;
        (void) wait_sync(w); /* a record written is a record synced, finish() or not */
        safe_close(w->fd);
        key_wipe(w);
        free(w->path);
        free(w->key_file);
        free(w->id.user);
        json_decref(w->record);
        free(w->line);
        free(w);
        return NULL;
}

int audit_log_append(const char *log_path, json_t *record, const uint8_t *key, size_t key_len,
                     char **ret_line) {
        _cleanup_(audit_writer_freep) AuditWriter *w = NULL;
        int r;

        r = audit_writer_new(log_path, NULL, &w);
        if (r < 0)
                return r;
        if (key) {
                w->key = malloc(key_len);
                if (!w->key)
                        return -ENOMEM;
                memcpy(w->key, key, key_len);
                w->key_len = key_len;
        }
        return append_record(w, record, false, ret_line);
}

#if HAVE_SYSTEMD
/* sd_journal_send() reports success when journald is not running (it drops the message on
 * ENOENT); a site that asked for a mirror must hear that there is none. */
static int journal_check(void) {
        struct stat st;

        if (stat("/run/systemd/journal/socket", &st) < 0)
                return -errno;
        return S_ISSOCK(st.st_mode) ? 0 : -ENOTSOCK;
}

/* libsystemd is loaded only when the site policy asks for a journal mirror: linking it would
 * load six more libraries (lz4, zstd, gcrypt, ...) into every launch. A mirror that was asked
 * for and cannot be loaded is an audit failure, not a silent skip. */
typedef int (*SdJournalSend)(const char *format, ...);

static SdJournalSend journal_symbol(void) {
        static SdJournalSend fn;
        void *handle;

        if (fn)
                return fn;
        handle = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
        if (!handle)
                return NULL;
        fn = (SdJournalSend) dlsym(handle, "sd_journal_send");
        return fn;
}

static int journal_send(const json_t *rec, const char *line, const char *log_path) {
        SdJournalSend sd_journal_send = journal_symbol();
        const char *result = json_string_value(json_object_get(rec, "result")) ?: "?";
        const char *profile =
                json_string_value(json_object_get(json_object_get(rec, "profile"), "name"));
        const char *tier = json_string_value(json_object_get(rec, "tier")) ?: "none";
        const char *hash = json_string_value(json_object_get(rec, "hash")) ?: "";
        json_int_t status =
                json_integer_value(json_object_get(json_object_get(rec, "exit"), "status"));
        int priority = strcmp(result, "exited") == 0 ? LOG_INFO : LOG_NOTICE;

        if (!sd_journal_send)
                return -ELIBACC;
        if (!profile)
                profile = json_string_value(json_object_get(json_object_get(rec, "profile"), "arg"))
                                  ?: "?";
        return sd_journal_send(
                "MESSAGE=moat run: profile %s, tier %s, %s, exit status %lld", profile, tier,
                result, (long long) status, "MESSAGE_ID=" AUDIT_JOURNAL_MESSAGE_ID, "PRIORITY=%d",
                priority, "SYSLOG_IDENTIFIER=moat", "MOAT_RESULT=%s", result, "MOAT_PROFILE=%s",
                profile, "MOAT_TIER=%s", tier, "MOAT_EXIT_STATUS=%lld", (long long) status,
                "MOAT_DENIALS=%zu", json_array_size(json_object_get(rec, "denials")),
                "MOAT_RECORD_HASH=%s", hash, "MOAT_AUDIT_LOG=%s", log_path, "MOAT_RECORD=%s", line,
                NULL);
}
#endif

int audit_writer_finish(AuditWriter *w) {
        int r;

        if (!w->appended && w->append_error == 0)
                return -EINVAL;
        if (w->append_error < 0)
                return w->append_error;
        r = wait_sync(w);
        if (r < 0)
                return r;
        if (w->journal) {
#if HAVE_SYSTEMD
                r = journal_check();
                if (r >= 0)
                        r = journal_send(w->record, w->line, w->path);
                if (r < 0)
                        return r;
#else
                return -EOPNOTSUPP;
#endif
        }
        return 0;
}

int audit_writer_check(const AuditWriter *w) {
        struct stat st;
        int r;

        if (lstat(w->path, &st) < 0)
                return errno == ENOENT ? 0 : -errno; /* made by open_log(), with its parents */
        if (S_ISLNK(st.st_mode))
                return -ELOOP; /* as O_NOFOLLOW would */
        if ((r = check_log_stat(&st)) < 0)
                return r;
        /* The owner's write bit, which root does not need. */
        return geteuid() == 0 || (st.st_mode & S_IWUSR) ? 0 : -EACCES;
}

const char *audit_writer_path(const AuditWriter *w) {
        return w->path;
}

int audit_log_run(const AuditContext *ctx, const char *log_path) {
        _cleanup_(audit_writer_freep) AuditWriter *w = NULL;
        int r;

        r = audit_writer_new(log_path, ctx->policy, &w);
        if (r < 0)
                return r;
        r = audit_writer_append(w, ctx);
        if (r < 0)
                return r;
        return audit_writer_finish(w);
}

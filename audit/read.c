/* SPDX-License-Identifier: MIT */
/* Reading the audit log back (verify, show) and loading the chain's HMAC key.
 *
 * Runs in `moat audit` and in moat run (key only), with the caller's privileges, changes
 * nothing. Verify takes the log's lock shared, so it never sees a record that a concurrent
 * writer has only half written. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "audit-internal.h"
#include "audit.h"
#include "basic/macros.h"

#define KEY_MIN 16
#define KEY_MAX 4096
#define LOCK_TIMEOUT_MS 60000

static int open_regular(const char *path, int extra_flags) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        /* O_NONBLOCK: a FIFO in the path's place must not hang the reader before the check. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | extra_flags);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EMEDIUMTYPE;
        return TAKE_FD(fd);
}

static int lock_shared(int fd) {
        for (unsigned waited = 0; flock(fd, LOCK_SH | LOCK_NB) < 0; waited += 5) {
                if (errno != EWOULDBLOCK && errno != EINTR)
                        return -errno;
                if (waited >= LOCK_TIMEOUT_MS)
                        return -ETIMEDOUT;
                nanosleep(&(struct timespec){ .tv_nsec = 5000000L }, NULL);
        }
        return 0;
}

int audit_log_verify(const char *path, const uint8_t *key, size_t key_len, AuditVerifyNotice notice,
                     void *userdata, AuditVerifyReport *ret) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        void *map;
        int r;

        fd = open_regular(path, 0);
        if (fd < 0)
                return fd;
        r = lock_shared(fd);
        if (r < 0)
                return r;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_size == 0)
                return audit_chain_verify_buffer("", 0, key, key_len, notice, userdata, ret);
        map = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED)
                return -errno;
        r = audit_chain_verify_buffer(map, (size_t) st.st_size, key, key_len, notice, userdata,
                                      ret);
        munmap(map, (size_t) st.st_size);
        return r;
}

int audit_log_foreach(const char *path, AuditLineFn fn, void *userdata) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *line = NULL;
        size_t cap = 0, lineno = 0;
        ssize_t n;
        FILE *f;
        int r = 0;

        fd = open_regular(path, 0);
        if (fd < 0)
                return fd;
        f = fdopen(fd, "re");
        if (!f)
                return -errno;
        fd = -EBADF; /* owned by f now */
        while ((n = getline(&line, &cap, f)) > 0) {
                _cleanup_json_ json_t *rec = NULL;

                lineno++;
                if (line[n - 1] == '\n')
                        line[--n] = '\0';
                if ((size_t) n <= AUDIT_LINE_MAX)
                        rec = json_loadb(line, (size_t) n, 0, NULL);
                if (rec && !json_is_object(rec))
                        json_decrefp(&rec);
                r = fn(lineno, rec, userdata);
                if (r < 0)
                        break;
        }
        if (r >= 0 && ferror(f))
                r = -EIO;
        fclose(f);
        return r < 0 ? r : 0;
}

int audit_key_load(const char *path, uint8_t **ret_key, size_t *ret_len) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ uint8_t *key = NULL;
        struct stat st;
        ssize_t n;

        fd = open_regular(path, O_NOFOLLOW);
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return -errno;
        /* A key that others can read or replace seals nothing. */
        if (st.st_mode & (S_IROTH | S_IWOTH | S_IWGRP))
                return -EACCES;
        if (st.st_size < KEY_MIN || st.st_size > KEY_MAX)
                return -EMSGSIZE;
        key = malloc((size_t) st.st_size);
        if (!key)
                return -ENOMEM;
        n = read(fd, key, (size_t) st.st_size);
        if (n < 0)
                return -errno;
        if (n != st.st_size)
                return -EIO;
        *ret_len = (size_t) n;
        *ret_key = TAKE_PTR(key);
        return 0;
}

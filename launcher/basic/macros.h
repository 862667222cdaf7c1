/* SPDX-License-Identifier: MIT */
/* Small helpers every part of moat uses: cleanup attributes, fd ownership, errno capture. */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _nonnull_ __attribute__((nonnull))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_result_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

/* Close an fd, keeping errno; returns -EBADF so "fd = safe_close(fd)" leaves the empty value. */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return -EBADF;
}
static inline void closep(int *fd) {
        *fd = safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

/* Hand ownership out of a scope guarded by a cleanup attribute. */
#define TAKE_FD(fd)              \
        ({                       \
                int _fd_ = (fd); \
                (fd) = -EBADF;   \
                _fd_;            \
        })
#define TAKE_PTR(p)                      \
        ({                               \
                __typeof__(p) _p_ = (p); \
                (p) = NULL;              \
                _p_;                     \
        })

/* Capture errno right at the call: "r = RET_NERRNO(mount(...));" gives 0/positive or -errno. */
#define RET_NERRNO(expr)                       \
        ({                                     \
                __typeof__(expr) _r_ = (expr); \
                _r_ < 0 ? -errno : _r_;        \
        })

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

/* SPDX-License-Identifier: MIT */
/* See file-util.h.
 *
 * Why the buffer is the file's size and not the limit: a 1 MiB allocation is an mmap() of its
 * own (and, once glibc has raised its mmap threshold, a 1 MiB heap extension), whose pages are
 * each a fresh page fault when read into; a profile is a few hundred bytes. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "basic/file-util.h"
#include "basic/macros.h"

int read_fd_bounded(int fd, size_t size_hint, size_t max, char **ret, size_t *ret_len) {
        /* +1 to see EOF (or growth) without a second buffer, +1 for the NUL */
        size_t cap = MIN(size_hint, max) + 2, len = 0;
        _cleanup_free_ char *buf = malloc(cap);

        if (!buf)
                return -ENOMEM;
        for (;;) {
                if (len + 1 == cap) {
                        size_t ncap = cap * 2 > max + 2 ? max + 2 : cap * 2;
                        char *n;

                        if (ncap == cap)
                                return -EFBIG; /* len == max + 1 */
                        n = realloc(buf, ncap);
                        if (!n)
                                return -ENOMEM;
                        buf = n;
                        cap = ncap;
                }
                ssize_t k = read(fd, buf + len, cap - 1 - len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                len += (size_t) k;
                if (len > max)
                        return -EFBIG;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

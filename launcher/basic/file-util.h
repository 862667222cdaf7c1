/* SPDX-License-Identifier: MIT */
/* Reading a whole small file that moat parses (profiles, policy files). */
#pragma once

#include <stddef.h>

/* Read fd (a regular file, size_hint bytes by fstat) to EOF into a NUL-terminated buffer of
 * the file's own size: the file may change size meanwhile, so the buffer grows as needed, and
 * reading stops with -EFBIG one byte past max. Returns 0 or -errno (a read error). */
int read_fd_bounded(int fd, size_t size_hint, size_t max, char **ret, size_t *ret_len);

/* SPDX-License-Identifier: MIT */
/* A located error for bad input: profile, policy, host-facts file, CLI flag, guest message.
 * Fixed size, no heap, so it can be filled from any depth and printed once by main. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>

typedef struct MoatError {
        char file[256];        /* file or flag ("--workdir") the error is about; "" if none */
        unsigned line, column; /* 1-based; 0 = unknown */
        char message[512];
} MoatError;

/* Record the error (first one wins: later calls do not overwrite a set error) and return -EINVAL. */
int moat_error_set(MoatError *e, const char *file, unsigned line, unsigned column, const char *fmt,
                   ...) __attribute__((format(printf, 5, 6)));
bool moat_error_is_set(const MoatError *e);
/* "FILE:LINE:COLUMN: message" (parts omitted when unknown), into buf. */
const char *moat_error_format(const MoatError *e, char *buf, size_t size);

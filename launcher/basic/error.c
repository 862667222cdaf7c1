/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

int moat_error_set(MoatError *e, const char *file, unsigned line, unsigned column, const char *fmt,
                   ...) {
        va_list ap;

        if (!e || moat_error_is_set(e))
                return -EINVAL;
        snprintf(e->file, sizeof(e->file), "%s", file ? file : "");
        e->line = line;
        e->column = column;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof(e->message), fmt, ap);
        va_end(ap);
        return -EINVAL;
}

bool moat_error_is_set(const MoatError *e) {
        return e && e->message[0] != '\0';
}

const char *moat_error_format(const MoatError *e, char *buf, size_t size) {
        if (!e->file[0])
                snprintf(buf, size, "%s", e->message);
        else if (e->line == 0)
                snprintf(buf, size, "%s: %s", e->file, e->message);
        else if (e->column == 0)
                snprintf(buf, size, "%s:%u: %s", e->file, e->line, e->message);
        else
                snprintf(buf, size, "%s:%u:%u: %s", e->file, e->line, e->column, e->message);
        return buf;
}

/* SPDX-License-Identifier: MIT */
/* NULL-terminated string vectors (char **), the list type of Profile and Plan. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

size_t strv_length(char *const *l);
/* Append a copy of s; returns 0 or -ENOMEM. *l may be NULL. */
int strv_extend(char ***l, const char *s);
/* Append a copy of s unless already present. */
int strv_extend_unique(char ***l, const char *s);
bool strv_contains(char *const *l, const char *s);
char **strv_copy(char *const *l);
/* strv_copy(), NULL for NULL; *oom set when the copy fails (for copies made field by field). */
char **strv_copy_or_null(char *const *l, bool *oom);
/* Frees every string and the vector; returns NULL. */
char **strv_free(char **l);
static inline void strv_freep(char ***l) {
        *l = strv_free(*l);
}
#define _cleanup_strv_free_ __attribute__((cleanup(strv_freep)))
#define STRV_FOREACH(s, l) for (char *const *s = (l); s && *s; s++)

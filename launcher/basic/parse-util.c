/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "macros.h"
#include "parse-util.h"

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

/* Consume a run of decimal digits from *p, overflow-checked against max. */
static int parse_digits(const char **p, uint64_t max, uint64_t *ret) {
        const char *s = *p;
        uint64_t v = 0;

        if (!is_digit(*s))
                return -EINVAL;
        for (; is_digit(*s); s++) {
                unsigned d = (unsigned) (*s - '0');
                if (v > (max - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *p = s;
        *ret = v;
        return 0;
}

int parse_uint64(const char *s, uint64_t max, uint64_t *ret) {
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        r = parse_digits(&s, max, &v);
        if (r < 0)
                return r;
        if (*s != '\0')
                return -EINVAL;
        *ret = v;
        return 0;
}

static const struct {
        const char *suffix;
        unsigned shift;
} size_units[] = {
        { "B", 0 }, { "KiB", 10 }, { "MiB", 20 }, { "GiB", 30 }, { "TiB", 40 },
};

/* Units people write by habit, mapped to the binary unit they almost certainly meant. */
static const struct {
        const char *wrong, *meant;
} size_hints[] = {
        { "K", "KiB" },   { "k", "KiB" },   { "KB", "KiB" },  { "kB", "KiB" },  { "kb", "KiB" },
        { "Ki", "KiB" },  { "kib", "KiB" }, { "KIB", "KiB" }, { "M", "MiB" },   { "m", "MiB" },
        { "MB", "MiB" },  { "mb", "MiB" },  { "Mi", "MiB" },  { "mib", "MiB" }, { "MIB", "MiB" },
        { "G", "GiB" },   { "g", "GiB" },   { "GB", "GiB" },  { "gb", "GiB" },  { "Gi", "GiB" },
        { "gib", "GiB" }, { "GIB", "GiB" }, { "T", "TiB" },   { "t", "TiB" },   { "TB", "TiB" },
        { "tb", "TiB" },  { "Ti", "TiB" },  { "b", "B" },
};

int parse_size(const char *s, uint64_t *ret_bytes, const char **ret_hint) {
        uint64_t v;
        int r;

        if (ret_hint)
                *ret_hint = NULL;
        if (!s)
                return -EINVAL;
        r = parse_digits(&s, UINT64_MAX, &v);
        if (r < 0)
                return r;
        if (*s == '\0') {
                *ret_bytes = v;
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(size_units); i++)
                if (strcmp(s, size_units[i].suffix) == 0) {
                        if (v > (UINT64_MAX >> size_units[i].shift))
                                return -ERANGE;
                        *ret_bytes = v << size_units[i].shift;
                        return 0;
                }
        if (ret_hint)
                for (size_t i = 0; i < ELEMENTSOF(size_hints); i++)
                        if (strcmp(s, size_hints[i].wrong) == 0)
                                *ret_hint = size_hints[i].meant;
        return -EINVAL;
}

int parse_duration_ms(const char *s, uint64_t *ret_ms) {
        static const struct {
                char unit;
                uint64_t ms;
                bool milli; /* "ms": an 'm' followed by 's' */
        } units[] = { { 'h', 3600000, false },
                      { 'm', 60000, false },
                      { 's', 1000, false },
                      { 'm', 1, true } };
        size_t next = 0;
        uint64_t total = 0;

        if (!s || *s == '\0')
                return -EINVAL;
        while (*s != '\0') {
                uint64_t v;
                size_t i;
                int r;

                r = parse_digits(&s, UINT64_MAX, &v);
                if (r < 0)
                        return r;
                /* Units must come in h, m, s, ms order and at most once each. */
                for (i = next; i < ELEMENTSOF(units); i++)
                        if (*s == units[i].unit && (s[1] == 's') == units[i].milli)
                                break;
                if (i == ELEMENTSOF(units))
                        return -EINVAL;
                if (v > UINT64_MAX / units[i].ms || total > UINT64_MAX - v * units[i].ms)
                        return -ERANGE;
                total += v * units[i].ms;
                next = i + 1;
                s += units[i].milli ? 2 : 1;
        }
        *ret_ms = total;
        return 0;
}

int parse_cpus_milli(const char *s, uint32_t *ret_milli) {
        uint64_t whole, frac = 0;
        int r;

        if (!s)
                return -EINVAL;
        r = parse_digits(&s, UINT32_MAX / 1000, &whole);
        if (r < 0)
                return r;
        if (*s == '.') {
                unsigned n = 0;

                s++;
                if (!is_digit(*s))
                        return -EINVAL;
                for (; is_digit(*s); s++, n++) {
                        if (n >= 3)
                                return -EINVAL;
                        frac = frac * 10 + (uint64_t) (*s - '0');
                }
                for (; n < 3; n++)
                        frac *= 10;
        }
        if (*s != '\0')
                return -EINVAL;
        if (whole * 1000 + frac == 0)
                return -EINVAL;
        if (whole * 1000 + frac > UINT32_MAX)
                return -ERANGE;
        *ret_milli = (uint32_t) (whole * 1000 + frac);
        return 0;
}

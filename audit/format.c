/* SPDX-License-Identifier: MIT */
/* PURE. Reading records back: time stamps, `moat audit show` filters and its one-line form.
 *
 * Everything printed here came from a file that the audited user could write to, and argv is
 * whatever the workload was started with: control characters (ESC, C1 CSI) are escaped so
 * that a record cannot drive the reader's terminal. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "audit-internal.h"
#include "audit.h"
#include "basic/macros.h"

#define NSEC_PER_SEC 1000000000ULL

/* The proleptic Gregorian date of a day count since 1970-01-01 (days >= 0), by eras of 400
 * years (H. Hinnant's civil_from_days). */
static void civil_from_days(uint64_t days, unsigned *ret_year, unsigned *ret_month,
                            unsigned *ret_day) {
        uint64_t z = days + 719468; /* from 0000-03-01 */
        uint64_t era = z / 146097;
        unsigned doe = (unsigned) (z - era * 146097);                         /* [0, 146096] */
        unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
        unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
        unsigned mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
        unsigned d = doy - (153 * mp + 2) / 5 + 1;                            /* [1, 31] */
        unsigned m = mp < 10 ? mp + 3 : mp - 9;                               /* [1, 12] */

        *ret_year = (unsigned) (era * 400 + yoe) + (m <= 2);
        *ret_month = m;
        *ret_day = d;
}

void audit_time_format(uint64_t ns, char ret[40]) {
        uint64_t secs = ns / NSEC_PER_SEC, days = secs / 86400;
        unsigned sod = (unsigned) (secs % 86400), year, month, day;

        /* Computed, not gmtime_r() or strftime(): glibc loads the local time zone
         * (/etc/localtime, seven system calls) at the first of either, for a UTC stamp. uint64_t
         * nanoseconds end in 2554: the date part is always 19 characters. */
        civil_from_days(days, &year, &month, &day);
        char buf[128];
        snprintf(buf, sizeof(buf), "%04u-%02u-%02uT%02u:%02u:%02u.%09uZ", year, month, day,
                 sod / 3600, sod / 60 % 60, sod % 60, (unsigned) (ns % NSEC_PER_SEC));
        size_t n = strnlen(buf, 39);
        memcpy(ret, buf, n);
        ret[n] = '\0';
}

static int parse_duration_ago(const char *s, uint64_t now_ns, uint64_t *ret) {
        static const struct {
                char suffix;
                uint64_t seconds;
        } units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }, { 'w', 7 * 86400 } };
        char *end;
        unsigned long long n;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        n = strtoull(s, &end, 10);
        if (errno != 0 || end[0] == '\0' || end[1] != '\0')
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (*end == units[i].suffix) {
                        if (n > UINT64_MAX / NSEC_PER_SEC / units[i].seconds)
                                return -ERANGE;
                        uint64_t ago = n * units[i].seconds * NSEC_PER_SEC;
                        *ret = ago > now_ns ? 0 : now_ns - ago;
                        return 0;
                }
        return -EINVAL;
}

static int parse_digits(const char **p, unsigned n, int *ret) {
        int v = 0;

        for (unsigned i = 0; i < n; i++, (*p)++) {
                if (**p < '0' || **p > '9')
                        return -EINVAL;
                v = v * 10 + (**p - '0');
        }
        *ret = v;
        return 0;
}

/* RFC 3339 date-time or full-date; strict, no locale. */
static int parse_rfc3339(const char *s, uint64_t *ret) {
        struct tm tm = {};
        int year, mon, day, hour = 0, min = 0, sec = 0, oh = 0, om = 0;
        uint64_t frac = 0, scale = NSEC_PER_SEC;
        long offset = 0;
        const char *p = s;
        time_t t;

        if (parse_digits(&p, 4, &year) < 0 || *p++ != '-' || parse_digits(&p, 2, &mon) < 0 ||
            *p++ != '-' || parse_digits(&p, 2, &day) < 0)
                return -EINVAL;
        if (*p != '\0') {
                if (*p != 'T' && *p != 't' && *p != ' ')
                        return -EINVAL;
                p++;
                if (parse_digits(&p, 2, &hour) < 0 || *p++ != ':' ||
                    parse_digits(&p, 2, &min) < 0 || *p++ != ':' || parse_digits(&p, 2, &sec) < 0)
                        return -EINVAL;
                if (*p == '.') {
                        p++;
                        if (*p < '0' || *p > '9')
                                return -EINVAL;
                        for (; *p >= '0' && *p <= '9'; p++)
                                if (scale > 1) {
                                        scale /= 10;
                                        frac += (uint64_t) (*p - '0') * scale;
                                }
                }
                if (*p == 'Z' || *p == 'z')
                        p++;
                else if (*p == '+' || *p == '-') {
                        int sign = *p++ == '-' ? -1 : 1;

                        if (parse_digits(&p, 2, &oh) < 0 || *p++ != ':' ||
                            parse_digits(&p, 2, &om) < 0 || oh > 23 || om > 59)
                                return -EINVAL;
                        offset = sign * (oh * 3600L + om * 60L);
                } else
                        return -EINVAL;
                if (*p != '\0')
                        return -EINVAL;
        }
        if (year < 1970 || mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 ||
            sec > 60)
                return -EINVAL;
        tm.tm_year = year - 1900;
        tm.tm_mon = mon - 1;
        tm.tm_mday = day;
        tm.tm_hour = hour;
        tm.tm_min = min;
        tm.tm_sec = sec;
        t = timegm(&tm);
        /* timegm normalises 31 February into March; a date that moved was not a date. */
        if (t == (time_t) -1 || tm.tm_mday != day || tm.tm_mon != mon - 1)
                return -EINVAL;
        t -= offset;
        if (t < 0)
                return -ERANGE;
        *ret = (uint64_t) t * NSEC_PER_SEC + frac;
        return 0;
}

int audit_time_parse(const char *s, uint64_t now_ns, uint64_t *ret_ns) {
        if (!s || !*s)
                return -EINVAL;
        if (parse_duration_ago(s, now_ns, ret_ns) == 0)
                return 0;
        return parse_rfc3339(s, ret_ns);
}

static const char *get_str(const json_t *o, const char *a, const char *b) {
        const json_t *v = json_object_get(o, a);

        if (b)
                v = json_object_get(v, b);
        return json_string_value(v);
}

bool audit_filter_match(const AuditFilter *f, const json_t *record) {
        const json_t *denials = json_object_get(record, "denials");

        if (!f)
                return true;
        if (f->since_ns > 0) {
                const char *t = get_str(record, "time", NULL);
                uint64_t ns;

                if (!t || parse_rfc3339(t, &ns) < 0 || ns < f->since_ns)
                        return false;
        }
        if (f->profile) {
                const char *name = get_str(record, "profile", "name"),
                           *arg = get_str(record, "profile", "arg");

                if (!(name && strcmp(name, f->profile) == 0) &&
                    !(arg && strcmp(arg, f->profile) == 0))
                        return false;
        }
        if (f->tier) {
                const char *tier = get_str(record, "tier", NULL);

                if (!tier || strcmp(tier, f->tier) != 0)
                        return false;
        }
        if (f->denied_only && json_array_size(denials) == 0 &&
            json_integer_value(json_object_get(json_object_get(record, "network"), "denied")) == 0)
                return false;
        if (f->network_only && !json_is_object(json_object_get(record, "network")))
                return false;
        return true;
}

/* Append s to f with C0, DEL and C1 controls escaped; invalid bytes pass through harmlessly
 * since they cannot form a C1 sequence once C2 80..9F is caught. */
static void put_safe(FILE *f, const char *s, size_t max) {
        const unsigned char *c = (const unsigned char *) (s ? s : "-");
        size_t n = 0;

        for (; *c && n < max; c++, n++) {
                if (*c < 0x20 || *c == 0x7f)
                        fprintf(f, "\\x%02x", *c);
                else if (*c == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f) {
                        fprintf(f, "\\u%04x", c[1]);
                        c++;
                } else
                        fputc(*c, f);
        }
        if (*c)
                fputs("...", f);
}

static void put_command(FILE *f, const json_t *record) {
        const json_t *argv = json_object_get(json_object_get(record, "command"), "argv");
        size_t i;
        json_t *a;

        if (!json_is_array(argv) || json_array_size(argv) == 0) {
                fputs("-", f);
                return;
        }
        json_array_foreach(argv, i, a) {
                if (i > 0)
                        fputc(' ', f);
                if (i >= 16) {
                        fputs("...", f);
                        break;
                }
                put_safe(f, json_string_value(a), 60);
        }
}

static void put_result(FILE *f, const json_t *record) {
        const char *result = get_str(record, "result", NULL);
        const json_t *ex = json_object_get(record, "exit");
        const char *sig = get_str(ex, "signal_name", NULL);

        if (!result) {
                fputs("?", f);
                return;
        }
        if (strcmp(result, "exited") == 0)
                fprintf(f, "exit %lld",
                        (long long) json_integer_value(json_object_get(ex, "code")));
        else if (strcmp(result, "killed") == 0 || (strcmp(result, "timeout") == 0 && sig)) {
                put_safe(f, result, 32);
                fputc(' ', f);
                put_safe(f, sig, 16);
        } else
                put_safe(f, result, 32);
}

static void put_denials(FILE *f, const json_t *record) {
        const json_t *denials = json_object_get(record, "denials");
        size_t i;
        json_t *d;

        json_array_foreach(denials, i, d) {
                fputs(i == 0 ? " | " : "; ", f);
                fputs("denied ", f);
                put_safe(f, get_str(d, "syscall", NULL), 40);
                fputs(" (", f);
                put_safe(f, get_str(d, "arch", NULL), 16);
                fprintf(f, ") x%lld", (long long) json_integer_value(json_object_get(d, "count")));
                if (get_str(d, "origin", NULL)) {
                        fputs(" \u2014 ", f);
                        put_safe(f, get_str(d, "origin", NULL), 200);
                        fputs(" group ", f);
                        put_safe(f, get_str(d, "group", NULL), 64);
                }
        }
}

char *audit_record_format_network(const json_t *record) {
        const json_t *n = json_object_get(record, "network"), *d;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, i;
        FILE *f;

        f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        if (json_is_object(n)) {
                fputs("    network ", f);
                put_safe(f, get_str(n, "mode", NULL), 16);
                fprintf(f, ": %zu rules, sha256 ", json_array_size(json_object_get(n, "allow")));
                put_safe(f, get_str(n, "digest", NULL), 64);
                fprintf(f, "; %lld allowed, %lld denied, %lld bytes up, %lld down%s",
                        (long long) json_integer_value(json_object_get(n, "allowed")),
                        (long long) json_integer_value(json_object_get(n, "denied")),
                        (long long) json_integer_value(json_object_get(n, "bytes_up")),
                        (long long) json_integer_value(json_object_get(n, "bytes_down")),
                        json_is_true(json_object_get(n, "proxy_died")) ? "; the proxy died" : "");
                json_array_foreach(json_object_get(n, "destinations"), i, d) {
                        fputs("\n      ", f);
                        put_safe(f, get_str(d, "decision", NULL), 8);
                        fputc(' ', f);
                        put_safe(f, get_str(d, "host", NULL), 253);
                        fprintf(f, ":%lld x%lld ",
                                (long long) json_integer_value(json_object_get(d, "port")),
                                (long long) json_integer_value(json_object_get(d, "count")));
                        put_safe(f, get_str(d, "method", NULL), 8);
                        fputc(' ', f);
                        put_safe(f, get_str(d, "reason", NULL), 40);
                        fputc(' ', f);
                        const char *a = get_str(d, "address", NULL);
                        put_safe(f, a && *a ? a : "-", 46);
                        fprintf(f, " %lld/%lld bytes",
                                (long long) json_integer_value(json_object_get(d, "bytes_up")),
                                (long long) json_integer_value(json_object_get(d, "bytes_down")));
                }
        }
        if (fclose(f) != 0)
                return NULL;
        return TAKE_PTR(buf);
}

char *audit_record_format_line(const json_t *record) {
        _cleanup_free_ char *buf = NULL;
        const char *type = get_str(record, "type", NULL), *t = get_str(record, "time", NULL);
        char when[24];
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        /* "2026-11-22T10:58:55.123Z" is enough to tell runs apart when reading. */
        snprintf(when, sizeof(when), "%s", t ?: "-");
        put_safe(f, when, sizeof(when) - 1);
        if (t && strlen(t) > 23)
                fputc('Z', f);
        if (type && strcmp(type, "recovery") == 0) {
                fprintf(f, "  recovery: a crashed writer left %lld torn bytes before this record",
                        (long long) json_integer_value(
                                json_object_get(json_object_get(record, "torn"), "bytes")));
        } else {
                const json_t *usage = json_object_get(record, "usage");
                fputs("  ", f);
                put_safe(f, get_str(record, "user", "name"), 32);
                fputs("  ", f);
                put_safe(f, get_str(record, "profile", "name") ?: get_str(record, "profile", "arg"),
                         64);
                fputs("  ", f);
                put_safe(f, get_str(record, "tier", NULL), 16);
                fputs("  ", f);
                put_result(f, record);
                if (usage)
                        fprintf(f, "  %.2fs",
                                (double) json_integer_value(json_object_get(usage, "wall_ns")) /
                                        1e9);
                fputs("  -- ", f);
                put_command(f, record);
                put_denials(f, record);
        }
        if (fclose(f) != 0)
                return NULL;
        return TAKE_PTR(buf);
}

/* SPDX-License-Identifier: MIT */
/* PURE. Formatting and strict parsing of the moat <-> guest init protocol (vm-proto.h). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm-proto.h"

int vm_config_append(char **buf, size_t *len, char tag, const char *value, size_t value_len) {
        char head[32];
        int n;

        if (!strchr("ugcaemhipPtfdzrw", tag) || value_len > VM_RECORD_MAX ||
            memchr(value, 0, value_len))
                return -EINVAL;
        n = snprintf(head, sizeof(head), "%c%zu:", tag, value_len);
        if (n < 0 || (size_t) n >= sizeof(head))
                return -EINVAL;
        if (*len + (size_t) n + value_len + 1 > VM_CONFIG_MAX)
                return -E2BIG;

        char *p = realloc(*buf, *len + (size_t) n + value_len + 2);
        if (!p)
                return -ENOMEM;
        memcpy(p + *len, head, (size_t) n);
        memcpy(p + *len + n, value, value_len);
        p[*len + n + value_len] = '\n';
        p[*len + n + value_len + 1] = 0;
        *buf = p;
        *len += (size_t) n + value_len + 1;
        return 0;
}

bool vm_path_is_clean(const char *p) {
        size_t n = strlen(p);

        if (n == 0 || n >= VM_PATH_MAX || p[0] != '/')
                return false;
        for (const char *c = p; *c; c++)
                if ((unsigned char) *c < 0x21 || (unsigned char) *c > 0x7e)
                        return false;
        if (n == 1)
                return true;
        if (p[n - 1] == '/')
                return false;
        for (const char *c = p; *c;) {
                const char *s = c + 1, *e = strchrnul(s, '/');
                size_t l = (size_t) (e - s);

                if (l == 0 || (l == 1 && s[0] == '.') || (l == 2 && s[0] == '.' && s[1] == '.'))
                        return false;
                c = e;
        }
        return true;
}

/* A decimal without sign or leading zeros (except "0"), at most max. */
static int parse_uint(const char *s, size_t len, uint64_t max, uint64_t *ret) {
        uint64_t v = 0;

        if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                if (v > (UINT64_MAX - 9) / 10)
                        return -EINVAL;
                v = v * 10 + (uint64_t) (s[i] - '0');
        }
        if (v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static bool tag_is_valid(const char *t) {
        size_t n = strlen(t);

        if (n == 0 || n >= sizeof(((VmMount *) NULL)->tag))
                return false;
        for (; *t; t++)
                if (!((*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9')))
                        return false;
        return true;
}

static int parse_mount(char *v, VmMount *m, const char **reason) {
        char *w[4] = {};
        size_t n = 0;

        memset(m, 0, sizeof(*m));
        for (char *save = NULL, *t = strtok_r(v, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
                if (n == 4)
                        return *reason = "mount record has too many fields", -EINVAL;
                w[n++] = t;
        }
        if (n == 0)
                return *reason = "empty mount record", -EINVAL;

        const char *target = w[n - 1];
        if (!vm_path_is_clean(target) || strcmp(target, "/") == 0)
                return *reason = "mount target is not a clean absolute path", -EINVAL;
        strcpy(m->target, target);

        if (strcmp(w[0], "9p") == 0 && n == 4) {
                if (!tag_is_valid(w[1]))
                        return *reason = "bad 9p tag", -EINVAL;
                if (strcmp(w[2], "ro") != 0 && strcmp(w[2], "rw") != 0 &&
                    strcmp(w[2], "ro,noexec") != 0 && strcmp(w[2], "rw,noexec") != 0)
                        return *reason = "9p mode is not ro, rw, ro,noexec or rw,noexec", -EINVAL;
                m->kind = VM_MOUNT_9P;
                strcpy(m->tag, w[1]);
                m->readonly = strncmp(w[2], "ro", 2) == 0;
                m->noexec = strchr(w[2], ',') != NULL;
        } else if (strcmp(w[0], "tmpfs") == 0 && n == 3) {
                if (parse_uint(w[1], strlen(w[1]), UINT64_C(1) << 40, &m->size) < 0)
                        return *reason = "bad tmpfs size", -EINVAL;
                m->kind = VM_MOUNT_TMPFS;
        } else if (strcmp(w[0], "link") == 0 && n == 3) {
                size_t l = strlen(w[1]);
                if (l == 0 || l >= sizeof(m->link))
                        return *reason = "bad symlink value", -EINVAL;
                m->kind = VM_MOUNT_SYMLINK;
                strcpy(m->link, w[1]);
        } else if (strcmp(w[0], "dir") == 0 && n == 2) {
                m->kind = VM_MOUNT_DIR;
        } else if (strcmp(w[0], "mask") == 0 && n == 2) {
                m->kind = VM_MOUNT_MASK;
        } else
                return *reason = "unknown mount record", -EINVAL;
        return 0;
}

/* Record r: VM_SEED_MIN..VM_SEED_MAX bytes as lower-case hex, at most once. */
static int parse_seed(VmConfig *c, const char *v, size_t vlen, const char **reason) {
        if (c->seed_len || vlen % 2 || vlen < 2 * VM_SEED_MIN || vlen > 2 * VM_SEED_MAX ||
            strspn(v, "0123456789abcdef") != vlen)
                return *reason = "bad or repeated CRNG seed", -EINVAL;
        for (size_t i = 0; i < vlen / 2; i++) {
                unsigned hi = (unsigned) (v[2 * i] <= '9' ? v[2 * i] - '0' : v[2 * i] - 'a' + 10);
                unsigned lo = (unsigned) (v[2 * i + 1] <= '9' ? v[2 * i + 1] - '0'
                                                              : v[2 * i + 1] - 'a' + 10);
                c->seed[i] = (uint8_t) (hi << 4 | lo);
        }
        c->seed_len = vlen / 2;
        return 0;
}

static int config_apply(VmConfig *c, char tag, char *v, size_t vlen, const char **reason) {
        uint64_t u;

        switch (tag) {
        case 'u':
        case 'g':
                if (parse_uint(v, vlen, 65534, &u) < 0)
                        return *reason = "bad uid or gid", -EINVAL;
                if (tag == 'u') {
                        if (c->have_uid)
                                return *reason = "uid given twice", -EINVAL;
                        c->uid = (uid_t) u, c->have_uid = true;
                } else {
                        if (c->have_gid)
                                return *reason = "gid given twice", -EINVAL;
                        c->gid = (gid_t) u, c->have_gid = true;
                }
                return 0;
        case 'c':
                if (c->cwd[0] || !vm_path_is_clean(v))
                        return *reason = "bad or repeated cwd", -EINVAL;
                strcpy(c->cwd, v);
                return 0;
        case 'a':
                if (c->n_argv >= VM_ARGV_MAX)
                        return *reason = "too many arguments", -EINVAL;
                c->argv[c->n_argv++] = v;
                return 0;
        case 'e':
                if (c->n_env >= VM_ENV_MAX || v[0] == '=' || !strchr(v, '='))
                        return *reason = "bad environment entry", -EINVAL;
                c->env[c->n_env++] = v;
                return 0;
        case 'm':
                if (c->n_mounts >= VM_MOUNTS_MAX)
                        return *reason = "too many mounts", -EINVAL;
                if (parse_mount(v, &c->mounts[c->n_mounts], reason) < 0)
                        return -EINVAL;
                c->n_mounts++;
                return 0;
        case 'h':
                if (vlen == 0 || vlen >= sizeof(c->hostname) ||
                    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") !=
                            vlen)
                        return *reason = "bad hostname", -EINVAL;
                strcpy(c->hostname, v);
                return 0;
        case 'i':
                if (c->machine_id[0] || vlen != 32 || strspn(v, "0123456789abcdef") != vlen ||
                    strspn(v, "0") == vlen)
                        return *reason = "bad or repeated machine id", -EINVAL;
                strcpy(c->machine_id, v);
                return 0;
        case 'p':
                if (vlen == 0 || vlen >= sizeof(c->apparmor) ||
                    strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-_.") != vlen)
                        return *reason = "bad AppArmor profile name", -EINVAL;
                strcpy(c->apparmor, v);
                return 0;
        case 'P':
                if (c->apparmor_text || vlen == 0)
                        return *reason = "bad or repeated AppArmor profile text", -EINVAL;
                c->apparmor_text = v;
                c->apparmor_text_len = vlen;
                return 0;
        case 't':
                if (c->cpu_time_ms || parse_uint(v, vlen, VM_CPU_TIME_MS_MAX, &u) < 0 || u == 0)
                        return *reason = "bad or repeated CPU time limit", -EINVAL;
                c->cpu_time_ms = u;
                return 0;
        case 'f':
                if (strcmp(v, "bad-status") != 0 && strcmp(v, "silent") != 0 &&
                    strcmp(v, "panic") != 0)
                        return *reason = "unknown fault hook", -EINVAL;
                strcpy(c->fault, v);
                return 0;
        case 'd':
                if (strcmp(v, "1") != 0)
                        return *reason = "bad debug record", -EINVAL;
                c->debug = true;
                return 0;
        case 'r':
                return parse_seed(c, v, vlen, reason);
        case 'w':
                if (c->have_realtime || parse_uint(v, vlen, UINT64_MAX, &u) < 0)
                        return *reason = "bad or repeated wall clock", -EINVAL;
                c->realtime_ns = u, c->have_realtime = true;
                return 0;
        default:
                return *reason = "unknown record tag", -EINVAL;
        }
}

ssize_t vm_config_parse(char *buf, size_t len, VmConfig *c, const char **ret_reason) {
        const char *dummy;
        const char **reason = ret_reason ? ret_reason : &dummy;
        size_t pos = 0;

        memset(c, 0, sizeof(*c));
        *reason = NULL;
        for (;;) {
                size_t colon, digits = 0;
                uint64_t vlen;
                char tag;

                if (pos >= VM_CONFIG_MAX)
                        return *reason = "configuration too long", -EINVAL;
                if (pos >= len)
                        return 0;
                tag = buf[pos];
                if (!strchr("ugcaemhipPtfdzrw", tag) || tag == 0)
                        return *reason = "unknown record tag", -EINVAL;
                for (colon = pos + 1; colon < len && buf[colon] != ':'; colon++)
                        if (++digits > 5)
                                return *reason = "record length too long", -EINVAL;
                if (colon >= len)
                        return 0;
                if (parse_uint(buf + pos + 1, digits, VM_RECORD_MAX, &vlen) < 0)
                        return *reason = "bad record length", -EINVAL;
                if (colon + 1 + vlen + 1 > VM_CONFIG_MAX)
                        return *reason = "configuration too long", -EINVAL;
                if (len < colon + 1 + vlen + 1)
                        return 0;

                char *v = buf + colon + 1;
                if (v[vlen] != '\n')
                        return *reason = "record not terminated", -EINVAL;
                if (memchr(v, 0, vlen))
                        return *reason = "NUL byte in record", -EINVAL;
                v[vlen] = 0;
                pos = colon + 1 + vlen + 1;

                if (tag == 'z') {
                        if (vlen != 0)
                                return *reason = "bad end record", -EINVAL;
                        break;
                }
                if (config_apply(c, tag, v, vlen, reason) < 0)
                        return -EINVAL;
        }
        if (!c->have_uid || !c->have_gid || !c->cwd[0] || c->n_argv == 0 || c->argv[0][0] == 0)
                return *reason = "configuration lacks uid, gid, cwd or argv", -EINVAL;
        /* Without it the guest would show the host's /etc/machine-id through the /etc share. */
        if (!c->machine_id[0])
                return *reason = "configuration lacks the machine id", -EINVAL;
        if (!c->apparmor[0] != !c->apparmor_text)
                return *reason = "AppArmor profile name without text, or text without name",
                       -EINVAL;
        c->argv[c->n_argv] = NULL;
        c->env[c->n_env] = NULL;
        return (ssize_t) pos;
}

int vm_status_format(const VmStatus *s, char *buf, size_t size) {
        int n;

        switch (s->kind) {
        case VM_STATUS_STARTED:
                n = snprintf(buf, size, "started\n");
                break;
        case VM_STATUS_EXIT:
                n = snprintf(buf, size, "exit %d\n", s->value);
                break;
        case VM_STATUS_SIGNAL:
                n = snprintf(buf, size, "signal %d\n", s->value);
                break;
        case VM_STATUS_CPUTIME:
                n = snprintf(buf, size, "cputime %d\n", s->value);
                break;
        case VM_STATUS_ERROR:
                n = snprintf(buf, size, "error %d %s\n", s->value, s->step);
                break;
        default:
                return -EINVAL;
        }
        if (n < 0 || (size_t) n >= size || (size_t) n > VM_STATUS_LINE_MAX)
                return -EINVAL;
        return n;
}

int vm_status_parse_line(const char *line, size_t len, VmStatus *ret) {
        VmStatus s = {};
        uint64_t v;
        const char *sp;

        if (len == 0 || len >= VM_STATUS_LINE_MAX || memchr(line, 0, len))
                return -EINVAL;
        if (len == 7 && memcmp(line, "started", 7) == 0) {
                s.kind = VM_STATUS_STARTED;
        } else if (len > 5 && memcmp(line, "exit ", 5) == 0) {
                if (parse_uint(line + 5, len - 5, 255, &v) < 0)
                        return -EINVAL;
                s.kind = VM_STATUS_EXIT, s.value = (int) v;
        } else if (len > 7 && memcmp(line, "signal ", 7) == 0) {
                if (parse_uint(line + 7, len - 7, 64, &v) < 0 || v == 0)
                        return -EINVAL;
                s.kind = VM_STATUS_SIGNAL, s.value = (int) v;
        } else if (len > 8 && memcmp(line, "cputime ", 8) == 0) {
                if (parse_uint(line + 8, len - 8, 64, &v) < 0 || v == 0)
                        return -EINVAL;
                s.kind = VM_STATUS_CPUTIME, s.value = (int) v;
        } else if (len > 6 && memcmp(line, "error ", 6) == 0) {
                sp = memchr(line + 6, ' ', len - 6);
                if (!sp || parse_uint(line + 6, (size_t) (sp - line - 6), 4095, &v) < 0 || v == 0)
                        return -EINVAL;
                size_t sl = len - (size_t) (sp + 1 - line);
                if (sl == 0 || sl >= sizeof(s.step))
                        return -EINVAL;
                for (size_t i = 0; i < sl; i++)
                        if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789 ._/-", sp[1 + i]) ||
                            sp[1 + i] == 0)
                                return -EINVAL;
                memcpy(s.step, sp + 1, sl);
                s.kind = VM_STATUS_ERROR, s.value = (int) v;
        } else
                return -EINVAL;
        *ret = s;
        return 0;
}

static int reader_fail(VmStatusReader *r, const char *why) {
        r->malformed = true;
        snprintf(r->reason, sizeof(r->reason), "%s", why);
        return -EINVAL;
}

int vm_status_reader_feed(VmStatusReader *r, const char *data, size_t len) {
        if (r->malformed)
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                VmStatus s;

                if (data[i] != '\n') {
                        if (r->len >= VM_STATUS_LINE_MAX - 1)
                                return reader_fail(r, "over-long status line");
                        r->line[r->len++] = data[i];
                        continue;
                }
                if (vm_status_parse_line(r->line, r->len, &s) < 0)
                        return reader_fail(r, "malformed status line");
                r->len = 0;
                if (r->final)
                        return reader_fail(r, "message after the final status");
                if (s.kind == VM_STATUS_STARTED) {
                        if (r->started)
                                return reader_fail(r, "repeated start message");
                        r->started = true;
                        continue;
                }
                if (!r->started && s.kind != VM_STATUS_ERROR)
                        return reader_fail(r, "exit status before the start message");
                r->final = true;
                r->result = s;
        }
        return 0;
}

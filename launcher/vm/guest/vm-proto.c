/* SPDX-License-Identifier: MIT */
/* PURE. Formatting and strict parsing of the moat <-> guest init protocol (vm-proto.h). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm-proto.h"

#define VM_TAGS "ugcaemhipPtfdzSknLlUrxyRwNB"

static const char *const control_names[_VM_CONTROL_MAX] = {
        [VM_CONTROL_SECCOMP] = "seccomp",
        [VM_CONTROL_CAPS] = "caps",
        [VM_CONTROL_NO_NEW_PRIVS] = "no_new_privs",
        [VM_CONTROL_LANDLOCK] = "landlock",
        [VM_CONTROL_USERNS] = "userns",
        [VM_CONTROL_PIDS] = "pids",
        [VM_CONTROL_MEMORY] = "memory",
        [VM_CONTROL_RLIMITS] = "rlimits",
};

static const char *const control_plan_names[_VM_CONTROL_MAX] = {
        [VM_CONTROL_SECCOMP] = "seccomp",           [VM_CONTROL_CAPS] = "caps",
        [VM_CONTROL_NO_NEW_PRIVS] = "no_new_privs", [VM_CONTROL_LANDLOCK] = "landlock",
        [VM_CONTROL_USERNS] = "nested-userns",      [VM_CONTROL_PIDS] = "cgroup.pids",
        [VM_CONTROL_MEMORY] = "cgroup.memory",      [VM_CONTROL_RLIMITS] = "rlimits",
};

const char *vm_control_name(VmControl c) {
        return (unsigned) c < _VM_CONTROL_MAX ? control_names[c] : NULL;
}

const char *vm_control_plan_name(VmControl c) {
        return (unsigned) c < _VM_CONTROL_MAX ? control_plan_names[c] : NULL;
}

int vm_config_append(char **buf, size_t *len, char tag, const char *value, size_t value_len) {
        char head[32];
        int n;

        if (!strchr(VM_TAGS, tag) || value_len > VM_RECORD_MAX || memchr(value, 0, value_len))
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
        if (!vm_path_is_clean(target) ||
            (strcmp(target, "/") == 0) != (strcmp(w[0], "overlay") == 0))
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
        } else if (strcmp(w[0], "overlay") == 0 && n == 4) {
                if (!tag_is_valid(w[1]))
                        return *reason = "bad 9p tag", -EINVAL;
                if (parse_uint(w[2], strlen(w[2]), UINT64_C(1) << 40, &m->size) < 0 || !m->size)
                        return *reason = "bad overlay size", -EINVAL;
                m->kind = VM_MOUNT_OVERLAY;
                strcpy(m->tag, w[1]);
        } else
                return *reason = "unknown mount record", -EINVAL;
        return 0;
}

static int hex_value(char ch) {
        if (ch >= '0' && ch <= '9')
                return ch - '0';
        if (ch >= 'a' && ch <= 'f')
                return ch - 'a' + 10;
        return -1;
}

/* n lower-case hex digits, big-endian. */
static int parse_hex(const char *s, size_t n, uint64_t *ret) {
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++) {
                int d = hex_value(s[i]);
                if (d < 0)
                        return -EINVAL;
                v = v << 4 | (uint64_t) d;
        }
        *ret = v;
        return 0;
}

static int parse_seccomp(VmConfig *c, const char *v, size_t vlen) {
        if (vlen == 0 || vlen % 16 || c->n_seccomp + vlen / 16 > VM_SECCOMP_INSNS_MAX)
                return -EINVAL;
        for (size_t i = 0; i < vlen; i += 16) {
                uint64_t code, jt, jf, k;
                if (parse_hex(v + i, 4, &code) < 0 || parse_hex(v + i + 4, 2, &jt) < 0 ||
                    parse_hex(v + i + 6, 2, &jf) < 0 || parse_hex(v + i + 8, 8, &k) < 0)
                        return -EINVAL;
                c->seccomp[c->n_seccomp++] = (VmSockFilter){ .code = (uint16_t) code,
                                                             .jt = (uint8_t) jt,
                                                             .jf = (uint8_t) jf,
                                                             .k = (uint32_t) k };
        }
        return 0;
}

/* Splits v in place at single spaces into at most max words; the count, or -EINVAL for an
 * empty word (leading, trailing or double space). */
static int split_words(char *v, char **w, size_t max) {
        size_t n = 0;
        char *p = v;

        for (;;) {
                char *sp = strchr(p, ' ');
                if (n == max || (sp ? sp == p : *p == 0))
                        return -EINVAL;
                w[n++] = p;
                if (!sp)
                        return (int) n;
                *sp = 0;
                p = sp + 1;
        }
}

static int parse_caps(VmConfig *c, char *v) {
        char *save = NULL;
        int last = -1;

        if (!*v)
                return 0;
        if (v[strlen(v) - 1] == ',')
                return -EINVAL;
        for (char *t = strtok_r(v, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                uint64_t cap;
                if (parse_uint(t, strlen(t), VM_CAP_MAX, &cap) < 0 || (int) cap <= last)
                        return -EINVAL;
                c->caps_keep[c->n_caps_keep++] = last = (int) cap;
        }
        return 0;
}

static int parse_landlock(VmConfig *c, char *v) {
        char *w[4];
        uint64_t fs, net, scoped;

        if (split_words(v, w, 4) != 4 ||
            (strcmp(w[0], "required") != 0 && strcmp(w[0], "best-effort") != 0) ||
            parse_uint(w[1], strlen(w[1]), (UINT64_C(1) << 32) - 1, &fs) < 0 ||
            parse_uint(w[2], strlen(w[2]), 0xff, &net) < 0 ||
            parse_uint(w[3], strlen(w[3]), 0xff, &scoped) < 0 || fs == 0)
                return -EINVAL;
        c->landlock_required = strcmp(w[0], "required") == 0;
        c->landlock_fs = fs, c->landlock_net = net, c->landlock_scoped = scoped;
        return 0;
}

static int parse_landlock_path(VmConfig *c, char *v) {
        char *sp = strchr(v, ' ');
        uint64_t access;

        if (!sp || c->n_landlock >= VM_LANDLOCK_PATHS_MAX ||
            parse_uint(v, (size_t) (sp - v), (UINT64_C(1) << 32) - 1, &access) < 0 ||
            !vm_path_is_clean(sp + 1))
                return -EINVAL;
        c->landlock[c->n_landlock++] = (VmLandlockPath){ .access = access, .path = sp + 1 };
        return 0;
}

static int parse_limit(const char *s, uint64_t *ret) {
        if (strcmp(s, "inf") == 0) {
                *ret = UINT64_MAX;
                return 0;
        }
        return parse_uint(s, strlen(s), UINT64_MAX - 1, ret);
}

static int parse_rlimit(VmConfig *c, char *v) {
        char *w[3];
        uint64_t res;
        VmRlimit rl;

        if (split_words(v, w, 3) != 3 || c->n_rlimits >= VM_RLIMITS_MAX ||
            parse_uint(w[0], strlen(w[0]), 15, &res) < 0 || parse_limit(w[1], &rl.soft) < 0 ||
            parse_limit(w[2], &rl.hard) < 0 || rl.soft > rl.hard)
                return -EINVAL;
        rl.resource = (int) res;
        for (size_t i = 0; i < c->n_rlimits; i++)
                if (c->rlimits[i].resource == rl.resource)
                        return -EINVAL;
        c->rlimits[c->n_rlimits++] = rl;
        return 0;
}

static int control_once(VmConfig *c, VmControl k) {
        if (c->controls & (1u << k))
                return -EINVAL;
        c->controls |= 1u << k;
        return 0;
}

/* Record R: VM_SEED_MIN..VM_SEED_MAX bytes as lower-case hex, at most once. */
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
                    strcmp(v, "panic") != 0 && strcmp(v, "skip-controls") != 0)
                        return *reason = "unknown fault hook", -EINVAL;
                strcpy(c->fault, v);
                return 0;
        case 'd':
                if (strcmp(v, "1") != 0)
                        return *reason = "bad debug record", -EINVAL;
                c->debug = true;
                return 0;
        case 'S':
                c->controls |= 1u << VM_CONTROL_SECCOMP;
                if (parse_seccomp(c, v, vlen) < 0)
                        return *reason = "bad seccomp program record", -EINVAL;
                return 0;
        case 'k':
                if (control_once(c, VM_CONTROL_CAPS) < 0 || parse_caps(c, v) < 0)
                        return *reason = "bad or repeated capabilities record", -EINVAL;
                return 0;
        case 'n':
                if (control_once(c, VM_CONTROL_NO_NEW_PRIVS) < 0 || strcmp(v, "1") != 0)
                        return *reason = "bad or repeated no_new_privs record", -EINVAL;
                return 0;
        case 'L':
                if (control_once(c, VM_CONTROL_LANDLOCK) < 0 || parse_landlock(c, v) < 0)
                        return *reason = "bad or repeated Landlock ruleset record", -EINVAL;
                return 0;
        case 'l':
                if (parse_landlock_path(c, v) < 0)
                        return *reason = "bad Landlock path rule or too many", -EINVAL;
                return 0;
        case 'U':
                if (control_once(c, VM_CONTROL_USERNS) < 0 || strcmp(v, "0") != 0)
                        return *reason = "bad or repeated user namespace record", -EINVAL;
                return 0;
        case 'r':
                c->controls |= 1u << VM_CONTROL_RLIMITS;
                if (parse_rlimit(c, v) < 0)
                        return *reason = "bad or repeated rlimit record", -EINVAL;
                return 0;
        case 'x':
                if (control_once(c, VM_CONTROL_PIDS) < 0 ||
                    parse_uint(v, vlen, VM_PIDS_MAX, &c->pids_max) < 0 || c->pids_max == 0)
                        return *reason = "bad or repeated pids limit", -EINVAL;
                return 0;
        case 'y':
                if (control_once(c, VM_CONTROL_MEMORY) < 0 ||
                    parse_uint(v, vlen, VM_MEMORY_MAX, &c->memory_max) < 0 ||
                    c->memory_max < VM_MEMORY_MIN)
                        return *reason = "bad or repeated memory limit", -EINVAL;
                return 0;
        case 'R':
                return parse_seed(c, v, vlen, reason);
        case 'w':
                if (c->have_realtime || parse_uint(v, vlen, UINT64_MAX, &u) < 0)
                        return *reason = "bad or repeated wall clock", -EINVAL;
                c->realtime_ns = u, c->have_realtime = true;
                return 0;
        case 'N':
                if (c->net_port || parse_uint(v, vlen, UINT16_MAX, &u) < 0 || u == 0)
                        return *reason = "bad or repeated egress port", -EINVAL;
                c->net_port = (uint16_t) u;
                return 0;
        case 'B': {
                char *w[2];
                if (c->boot_init[0] || split_words(v, w, 2) != 2 ||
                    parse_uint(w[0], strlen(w[0]), VM_BOOT_READY_MS_MAX, &u) < 0 || u == 0 ||
                    strlen(w[1]) >= sizeof(c->boot_init) || !vm_path_is_clean(w[1]))
                        return *reason = "bad or repeated boot record", -EINVAL;
                c->boot_ready_ms = u;
                strcpy(c->boot_init, w[1]);
                return 0;
        }
        default:
                return *reason = "unknown record tag", -EINVAL;
        }
}

/* Walks the record headers without changing anything: 1 once the end record is in buf, 0 if
 * more bytes are needed, -EINVAL for a malformed header. The parse below writes into the buffer
 * (terminators, split words), so it runs only on a complete configuration: a configuration that
 * arrives in several reads is parsed once, whole. */
static int config_complete(const char *buf, size_t len, const char **reason) {
        size_t pos = 0;

        for (;;) {
                size_t colon, digits = 0;
                uint64_t vlen;

                if (pos >= VM_CONFIG_MAX)
                        return *reason = "configuration too long", -EINVAL;
                if (pos >= len)
                        return 0;
                if (!strchr(VM_TAGS, buf[pos]) || buf[pos] == 0)
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
                if (buf[pos] == 'z')
                        return 1;
                pos = colon + 1 + vlen + 1;
        }
}

/* The records, in place; the end position, 0 if more bytes are needed, or -EINVAL. */
static ssize_t parse_records(char *buf, size_t len, VmConfig *c, const char **reason) {
        size_t pos = 0;

        for (;;) {
                size_t colon, digits = 0;
                uint64_t vlen;
                char tag;

                if (pos >= VM_CONFIG_MAX)
                        return *reason = "configuration too long", -EINVAL;
                if (pos >= len)
                        return 0;
                tag = buf[pos];
                if (!strchr(VM_TAGS, tag) || tag == 0)
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
        return (ssize_t) pos;
}

ssize_t vm_config_parse(char *buf, size_t len, VmConfig *c, const char **ret_reason) {
        const char *dummy;
        const char **reason = ret_reason ? ret_reason : &dummy;
        ssize_t pos;
        int k;

        memset(c, 0, sizeof(*c));
        *reason = NULL;
        k = config_complete(buf, len, reason);
        if (k < 0)
                return k;
        if (k == 0) {
                /* Not all there yet: what is there is checked on a copy, so that a malformed
                 * record stops the run as soon as it arrives. */
                char *copy = malloc(len + 1);
                if (!copy)
                        return *reason = "out of memory", -EINVAL;
                memcpy(copy, buf, len);
                pos = parse_records(copy, len, c, reason);
                free(copy);
                memset(c, 0, sizeof(*c));
                return pos < 0 ? pos : 0;
        }
        pos = parse_records(buf, len, c, reason);
        if (pos <= 0)
                return pos < 0 ? pos : (*reason = "configuration incomplete", -EINVAL);
        if (!c->have_uid || !c->have_gid || !c->cwd[0] || c->n_argv == 0 || c->argv[0][0] == 0)
                return *reason = "configuration lacks uid, gid, cwd or argv", -EINVAL;
        /* Without it the guest would show the host's /etc/machine-id through the /etc share. */
        if (!c->machine_id[0])
                return *reason = "configuration lacks the machine id", -EINVAL;
        if (!c->apparmor[0] != !c->apparmor_text)
                return *reason = "AppArmor profile name without text, or text without name",
                       -EINVAL;
        if (c->n_landlock && !(c->controls & (1u << VM_CONTROL_LANDLOCK)))
                return *reason = "Landlock path rules without a ruleset", -EINVAL;
        /* Boot mode needs the image's tree as the root: the init is the image's. */
        if (c->boot_init[0] && (c->n_mounts == 0 || c->mounts[0].kind != VM_MOUNT_OVERLAY))
                return *reason = "boot record without an image root", -EINVAL;
        c->argv[c->n_argv] = NULL;
        c->env[c->n_env] = NULL;
        return pos;
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
        case VM_STATUS_APPLIED:
                if (!vm_control_name((VmControl) s->value))
                        return -EINVAL;
                n = snprintf(buf, size, "applied %s%s%s\n", vm_control_name((VmControl) s->value),
                             s->step[0] ? " " : "", s->step);
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
        } else if (len > 8 && memcmp(line, "applied ", 8) == 0) {
                const char *name = line + 8, *end = line + len;
                sp = memchr(name, ' ', (size_t) (end - name));
                size_t nl = (size_t) ((sp ? sp : end) - name);
                int k = -1;
                for (int i = 0; i < _VM_CONTROL_MAX; i++)
                        if (strlen(control_names[i]) == nl &&
                            memcmp(control_names[i], name, nl) == 0)
                                k = i;
                if (k < 0)
                        return -EINVAL;
                if (sp) {
                        size_t dl = (size_t) (end - sp - 1);
                        if (dl == 0 || dl >= sizeof(s.step))
                                return -EINVAL;
                        for (size_t i = 0; i < dl; i++)
                                if (!sp[1 + i] ||
                                    !strchr("abcdefghijklmnopqrstuvwxyz0123456789 ,._=-",
                                            sp[1 + i]))
                                        return -EINVAL;
                        memcpy(s.step, sp + 1, dl);
                }
                s.kind = VM_STATUS_APPLIED, s.value = k;
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
                if (s.kind == VM_STATUS_APPLIED) {
                        if (r->started || (r->applied & (1u << s.value)))
                                return reader_fail(r,
                                                   "applied control after the start or repeated");
                        r->applied |= 1u << s.value;
                        snprintf(r->applied_detail[s.value], sizeof(r->applied_detail[0]), "%s",
                                 s.step);
                        continue;
                }
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

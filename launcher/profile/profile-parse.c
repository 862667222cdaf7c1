/* SPDX-License-Identifier: MIT */
/* PURE. Merged YNode tree -> Profile. Every value is checked here, with an error that names
 * the key, what was found and the form that was expected. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/macros.h"
#include "basic/parse-util.h"
#include "basic/strv.h"
#include "image/image.h"
#include "profile-internal.h"
#include "profile/egress.h"

#define WHAT_MAX 128

_printf_(3, 4) static int fail(MoatError *e, const YNode *n, const char *fmt, ...) {
        char msg[sizeof(e->message)];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return moat_error_set(e, n->pos.file, n->pos.line, n->pos.column, "%s", msg);
}

static const char *join(const char *const *names, const char *sep, char *buf, size_t size) {
        size_t off = 0;

        buf[0] = '\0';
        for (size_t i = 0; names[i] && off < size; i++)
                off += (size_t) snprintf(buf + off, size - off, "%s%s", i > 0 ? sep : "", names[i]);
        return buf;
}

/* "resources" + "memory" -> "resources.memory"; "" + "trust" -> "trust". */
static const char *key_path(char *buf, const char *parent, const char *key) {
        /* Only env.set keys are unbounded here; a cut label in a message is all they can cause. */
        if (snprintf(buf, WHAT_MAX, "%s%s%s", parent, parent[0] ? "." : "", key) >= WHAT_MAX)
                buf[WHAT_MAX - 1] = '\0';
        return buf;
}

static int check_keys(const YNode *map, const char *section, const char *const *allowed,
                      MoatError *e) {
        char list[512];

        for (size_t i = 0; i < map->n_pairs; i++) {
                const YNode *k = map->pairs[i].key;
                bool found = false;

                for (size_t j = 0; allowed[j]; j++)
                        found = found || strcmp(k->value, allowed[j]) == 0;
                if (found)
                        continue;
                join(allowed, ", ", list, sizeof(list));
                if (section[0])
                        return fail(e, k, "unknown key '%s' in %s (expected one of: %s)", k->value,
                                    section, list);
                return fail(e, k, "unknown top-level key '%s' (expected one of: %s)", k->value,
                            list);
        }
        return 0;
}

static int expect_kind(const YNode *n, YNodeKind kind, const char *what, MoatError *e) {
        static const char *const names[] = { "a value", "a list", "a mapping" };

        if (n->kind == kind)
                return 0;
        return fail(e, n, "%s: expected %s, got %s", what, names[kind], ynode_describe(n));
}

static int get_string(const YNode *n, const char *what, const char *form, char **ret,
                      MoatError *e) {
        char *s;

        if (n->kind == YNODE_SCALAR &&
            (n->type == YSCALAR_INT || n->type == YSCALAR_FLOAT || n->type == YSCALAR_BOOL))
                return fail(e, n, "%s: expected %s, got %s '%s' (quote it to make it a string)",
                            what, form, ynode_describe(n), n->value);
        if (n->kind == YNODE_SCALAR && n->type == YSCALAR_STRING && n->value[0] == '\0')
                return fail(e, n, "%s: expected %s, got an empty string", what, form);
        if (n->kind != YNODE_SCALAR || n->type != YSCALAR_STRING)
                return fail(e, n, "%s: expected %s, got %s", what, form, ynode_describe(n));
        s = strdup(n->value);
        if (!s)
                return -ENOMEM;
        free(*ret);
        *ret = s;
        return 0;
}

static int get_bool(const YNode *n, const char *what, bool *ret, MoatError *e) {
        if (n->kind == YNODE_SCALAR && n->type == YSCALAR_STRING)
                return fail(e, n, "%s: expected true or false, got '%s'", what, n->value);
        if (n->kind != YNODE_SCALAR || n->type != YSCALAR_BOOL)
                return fail(e, n, "%s: expected true or false, got %s", what, ynode_describe(n));
        *ret = n->value[0] == 't' || n->value[0] == 'T';
        return 0;
}

static int get_uint(const YNode *n, const char *what, uint64_t min, uint64_t max, uint64_t *ret,
                    MoatError *e) {
        uint64_t v;

        if (n->kind != YNODE_SCALAR || n->type != YSCALAR_INT)
                return fail(e, n, "%s: expected an integer, got %s", what, ynode_describe(n));
        if (parse_uint64(n->value, UINT64_MAX, &v) < 0 || v < min || v > max)
                return fail(e, n, "%s: invalid value '%s' (expected an integer from %llu to %llu)",
                            what, n->value, (unsigned long long) min, (unsigned long long) max);
        *ret = v;
        return 0;
}

static int get_enum(const YNode *n, const char *what, const char *const *names, int *ret,
                    MoatError *e) {
        char list[256];

        join(names, ", ", list, sizeof(list));
        if (n->kind != YNODE_SCALAR)
                return fail(e, n, "%s: expected one of: %s, got %s", what, list, ynode_describe(n));
        for (int i = 0; names[i]; i++)
                if (n->type == YSCALAR_STRING && strcmp(n->value, names[i]) == 0) {
                        *ret = i;
                        return 0;
                }
        return fail(e, n, "%s: invalid value '%s' (expected one of: %s)", what, n->value, list);
}

static bool is_number_scalar(const YNode *n) {
        return n->kind == YNODE_SCALAR &&
               (n->type == YSCALAR_INT || n->type == YSCALAR_FLOAT || n->type == YSCALAR_STRING);
}

static int get_size(const YNode *n, const char *what, uint64_t *ret, MoatError *e) {
        const char *hint = NULL;
        int r;

        if (!is_number_scalar(n))
                return fail(e, n, "%s: expected a size such as 512MiB, got %s", what,
                            ynode_describe(n));
        r = parse_size(n->value, ret, &hint);
        if (r == -ERANGE)
                return fail(e, n, "%s: size '%s' is too large", what, n->value);
        if (r < 0 && hint)
                return fail(e, n,
                            "%s: invalid size '%s' (units are binary: B, KiB, MiB, GiB, TiB; did "
                            "you mean '%.*s%s'?)",
                            what, n->value, (int) strspn(n->value, "0123456789"), n->value, hint);
        if (r < 0)
                return fail(e, n,
                            "%s: invalid size '%s' (expected bytes or an integer with B, KiB, MiB, "
                            "GiB or TiB, e.g. 512MiB)",
                            what, n->value);
        if (*ret == 0)
                return fail(e, n, "%s: size must be greater than zero", what);
        return 0;
}

static int get_duration(const YNode *n, const char *what, uint64_t *ret, MoatError *e) {
        int r;

        if (!is_number_scalar(n))
                return fail(e, n, "%s: expected a duration such as 20m, got %s", what,
                            ynode_describe(n));
        r = parse_duration_ms(n->value, ret);
        if (r == -ERANGE)
                return fail(e, n, "%s: duration '%s' is too large", what, n->value);
        if (r < 0)
                return fail(e, n,
                            "%s: invalid duration '%s' (expected integers with h, m, s, ms in "
                            "that order, e.g. 90s, 20m, 1h30m, 500ms)",
                            what, n->value);
        if (*ret == 0)
                return fail(e, n, "%s: duration must be greater than zero", what);
        return 0;
}

static int get_cpus(const YNode *n, const char *what, uint32_t *ret, MoatError *e) {
        int r;

        if (!is_number_scalar(n))
                return fail(e, n, "%s: expected a cpu count such as 1.5, got %s", what,
                            ynode_describe(n));
        r = parse_cpus_milli(n->value, ret);
        if (r == -ERANGE)
                return fail(e, n, "%s: cpu count '%s' is too large", what, n->value);
        if (r < 0)
                return fail(e, n,
                            "%s: invalid cpu count '%s' (expected a positive decimal with at most "
                            "3 decimals, e.g. 0.5 or 2)",
                            what, n->value);
        return 0;
}

/* Absolute, at least one component, no ".", "..", empty components or trailing slash: the
 * executor resolves these inside the new root and must never be steered by the spelling. */
static bool path_is_normalised(const char *p) {
        if (p[0] != '/' || p[1] == '\0')
                return false;
        for (const char *c = p; *c;) {
                size_t len;

                c++; /* skip '/' */
                len = strcspn(c, "/");
                if (len == 0 || (len == 1 && c[0] == '.') ||
                    (len == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                c += len;
        }
        return true;
}

static int get_abs_path(const YNode *n, const char *what, char **ret, MoatError *e) {
        int r = get_string(n, what, "an absolute path", ret, e);
        if (r < 0)
                return r;
        if ((*ret)[0] != '/')
                return fail(e, n, "%s: '%s' is not an absolute path", what, *ret);
        if (!path_is_normalised(*ret))
                return fail(e, n,
                            "%s: '%s' is not a normalised path (no '.' or '..' components, no "
                            "'//', no trailing '/')",
                            what, *ret);
        return 0;
}

/* A path relative to the directory of the file the node was read from. */
/* The directory of the file a node was read from, absolute, without a trailing '/'
 * (except "/" itself). */
static int node_file_dir(const YNode *n, const char *what, char **ret, MoatError *e) {
        const char *file = n->pos.file, *slash = strrchr(file, '/');
        _cleanup_free_ char *cwd = NULL;
        char *dir;
        size_t len;

        if (file[0] == '/')
                dir = strndup(file, (size_t) (slash - file));
        else {
                cwd = getcwd(NULL, 0);
                if (!cwd)
                        return fail(e, n, "%s: cannot resolve a relative path: %s", what,
                                    strerror(errno));
                if (!slash)
                        dir = TAKE_PTR(cwd);
                else if (asprintf(&dir, "%s/%.*s", cwd, (int) (slash - file), file) < 0)
                        dir = NULL;
        }
        if (!dir)
                return -ENOMEM;
        for (len = strlen(dir); len > 0 && dir[len - 1] == '/'; len--)
                dir[len - 1] = '\0';
        *ret = dir;
        return 0;
}

/* A path relative to the directory of the file the node was read from. */
static int get_file_relative_path(const YNode *n, const char *what, char **ret, MoatError *e) {
        _cleanup_free_ char *s = NULL, *dir = NULL;
        const char *rel;
        char *joined;
        int r;

        r = get_string(n, what, "a path", &s, e);
        if (r < 0)
                return r;
        if (s[0] == '/')
                joined = strdup(s);
        else {
                r = node_file_dir(n, what, &dir, e);
                if (r < 0)
                        return r;
                /* "./rootfs" and "rootfs" are one directory: keep the joined path free of "/./". */
                for (rel = s; strncmp(rel, "./", 2) == 0;)
                        rel += 2 + strspn(rel + 2, "/");
                if (strcmp(rel, ".") == 0)
                        rel = "";
                if (asprintf(&joined, "%s%s%s", dir, rel[0] || !dir[0] ? "/" : "", rel) < 0)
                        joined = NULL;
        }
        if (!joined)
                return -ENOMEM;
        free(*ret);
        *ret = joined;
        return 0;
}

typedef int (*ItemCheck)(const YNode *n, const char *what, MoatError *e);

/* A list of strings, each checked; positions are recorded when ret_pos is given. */
static int get_strv(const YNode *n, const char *what, const char *form, ItemCheck check,
                    char ***ret, SrcPos **ret_pos, MoatError *e) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        _cleanup_free_ SrcPos *pos = NULL;
        char item[WHAT_MAX];
        int r;

        if (!l)
                return -ENOMEM;
        r = expect_kind(n, YNODE_SEQ, what, e);
        if (r < 0)
                return r;
        pos = calloc(n->n_items + 1, sizeof(SrcPos));
        if (!pos)
                return -ENOMEM;
        for (size_t i = 0; i < n->n_items; i++) {
                const YNode *it = n->items[i];
                _cleanup_free_ char *s = NULL;

                snprintf(item, sizeof(item), "%s[%zu]", what, i);
                r = get_string(it, item, form, &s, e);
                if (r < 0)
                        return r;
                if (check) {
                        r = check(it, item, e);
                        if (r < 0)
                                return r;
                }
                if (strv_contains(l, s))
                        return fail(e, it, "%s: '%s' is listed twice", item, s);
                r = strv_extend(&l, s);
                if (r < 0)
                        return r;
                pos[i] = it->pos;
        }
        strv_free(*ret);
        *ret = TAKE_PTR(l);
        if (ret_pos) {
                free(*ret_pos);
                *ret_pos = TAKE_PTR(pos);
        }
        return 0;
}

static bool all_chars_in(const char *s, const char *set) {
        return s[0] != '\0' && s[strspn(s, set)] == '\0';
}

#define LOWER "abcdefghijklmnopqrstuvwxyz"
#define UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define DIGITS "0123456789"

static int check_abs_path_item(const YNode *n, const char *what, MoatError *e) {
        if (n->value[0] != '/')
                return fail(e, n, "%s: '%s' is not an absolute path", what, n->value);
        if (!path_is_normalised(n->value))
                return fail(e, n,
                            "%s: '%s' is not a normalised path (no '.' or '..' components, no "
                            "'//', no trailing '/')",
                            what, n->value);
        return 0;
}

static int check_device(const YNode *n, const char *what, MoatError *e) {
        int r = check_abs_path_item(n, what, e);
        if (r < 0)
                return r;
        if (strncmp(n->value, "/dev/", 5) != 0)
                return fail(e, n, "%s: '%s' is not under /dev", what, n->value);
        return 0;
}

static bool env_name_valid(const char *s) {
        return all_chars_in(s, UPPER LOWER DIGITS "_") && !strchr(DIGITS, s[0]);
}

static int check_env_name(const YNode *n, const char *what, MoatError *e) {
        if (!env_name_valid(n->value))
                return fail(e, n,
                            "%s: invalid environment variable name '%s' (expected letters, digits "
                            "and '_')",
                            what, n->value);
        return 0;
}

static int check_syscall(const YNode *n, const char *what, MoatError *e) {
        const char *s = n->value[0] == '@' ? n->value + 1 : n->value;

        if (!all_chars_in(s, LOWER DIGITS "_-") || (n->value[0] != '@' && strchr(s, '-')))
                return fail(e, n,
                            "%s: invalid syscall name '%s' (expected a syscall such as ptrace or a "
                            "group such as @mount)",
                            what, n->value);
        return 0;
}

/* linux/capability.h, CAP_CHOWN (0) .. CAP_CHECKPOINT_RESTORE (40). */
static const char *const capability_names[] = {
        "chown",
        "dac_override",
        "dac_read_search",
        "fowner",
        "fsetid",
        "kill",
        "setgid",
        "setuid",
        "setpcap",
        "linux_immutable",
        "net_bind_service",
        "net_broadcast",
        "net_admin",
        "net_raw",
        "ipc_lock",
        "ipc_owner",
        "sys_module",
        "sys_rawio",
        "sys_chroot",
        "sys_ptrace",
        "sys_pacct",
        "sys_admin",
        "sys_boot",
        "sys_nice",
        "sys_resource",
        "sys_time",
        "sys_tty_config",
        "mknod",
        "lease",
        "audit_write",
        "audit_control",
        "setfcap",
        "mac_override",
        "mac_admin",
        "syslog",
        "wake_alarm",
        "block_suspend",
        "audit_read",
        "perfmon",
        "bpf",
        "checkpoint_restore",
        NULL,
};

static int check_capability(const YNode *n, const char *what, MoatError *e) {
        const char *s = n->value;

        for (size_t i = 0; capability_names[i]; i++)
                if (strcmp(s, capability_names[i]) == 0)
                        return 0;
        if (strncasecmp(s, "cap_", 4) == 0)
                return fail(e, n,
                            "%s: write capabilities in lower case without 'cap_' (e.g. "
                            "'net_bind_service', not '%s')",
                            what, s);
        return fail(e, n,
                    "%s: unknown capability '%s' (expected a name from capabilities(7) in lower "
                    "case without cap_, e.g. net_bind_service)",
                    what, s);
}

static const char *const kernel_needs[] = { "bpf",   "modules",     "perf", "kvm",
                                            "kexec", "raw-devices", NULL };

static int check_kernel_need(const YNode *n, const char *what, MoatError *e) {
        int i;
        return get_enum(n, what, kernel_needs, &i, e);
}

/* What a container may share with the host when its spec leaves the namespace out. The user
 * and mount namespaces never: they are what moat's confinement is built on. */
static int check_host_namespace(const YNode *n, const char *what, MoatError *e) {
        static const struct {
                const char *name, *why;
        } never[] = {
                { "user", "moat's confinement starts from a user namespace of its own" },
                { "mount",
                  "moat's root, masks and read-only mounts need a mount namespace of "
                  "its own" },
                { "mnt",
                  "moat's root, masks and read-only mounts need a mount namespace of "
                  "its own" },
                { "cgroup", "moat always makes the container's cgroup namespace" },
                { "time",
                  "moat always makes the container's time namespace where the kernel "
                  "has one" },
        };
        const char *s = n->value;

        if (strcmp(s, "network") == 0 || strcmp(s, "pid") == 0 || strcmp(s, "ipc") == 0 ||
            strcmp(s, "uts") == 0)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(never); i++)
                if (strcmp(s, never[i].name) == 0)
                        return fail(e, n, "%s: the host's %s namespace cannot be shared: %s", what,
                                    s, never[i].why);
        return fail(e, n, "%s: unknown namespace '%s' (expected network, pid, ipc or uts)", what,
                    s);
}

static const char *const trust_names[] = { "trusted", "internal", "untrusted", "hostile", NULL };
static const char *const tier_names[] = { "sandbox", "system", "vm", NULL };
static const char *const isolation_names[] = { "auto", "sandbox", "system", "vm", NULL };
static const char *const network_names[] = { "none", "loopback", "outbound", NULL };
static const char *const enforce_names[] = { "required", "best-effort", NULL };
static const char *const landlock_names[] = { "required", "best-effort", "off", NULL };
static const char *const bind_mode_names[] = { "ro", "rw", NULL };

static int require_key(const YNode *map, const char *key, const char *what, const YNode **ret,
                       MoatError *e) {
        *ret = ynode_map_get(map, key);
        if (!*ret)
                return fail(e, map, "%s: missing key '%s'", what, key);
        return 0;
}

/* Two mounts on one target would silently shadow each other. */
static int check_target_unique(const Profile *p, const char *target, const YNode *n,
                               const char *what, MoatError *e) {
        for (size_t i = 0; i < p->fs.n_binds; i++)
                if (strcmp(p->fs.binds[i].target, target) == 0)
                        return fail(e, n, "%s: '%s' is already a bind target (line %u)", what,
                                    target, p->fs.binds[i].pos.line);
        for (size_t i = 0; i < p->fs.n_tmpfs; i++)
                if (strcmp(p->fs.tmpfs[i].target, target) == 0)
                        return fail(e, n, "%s: '%s' is already a tmpfs target (line %u)", what,
                                    target, p->fs.tmpfs[i].pos.line);
        return 0;
}

static int parse_bind(Profile *p, const YNode *n, const char *what, MoatError *e) {
        static const char *const keys[] = { "source", "target", "mode", "optional", "exec", NULL };
        ProfileBind *b = &p->fs.binds[p->fs.n_binds];
        const YNode *v;
        char w[WHAT_MAX];
        int r, mode;

        *b = (ProfileBind){ .mode = BIND_RO, .pos = n->pos };
        r = expect_kind(n, YNODE_MAP, what, e);
        if (r < 0)
                return r;
        r = check_keys(n, what, keys, e);
        if (r < 0)
                return r;
        r = require_key(n, "source", what, &v, e);
        if (r >= 0)
                r = get_string(v, key_path(w, what, "source"), "a path", &b->source, e);
        if (r >= 0)
                r = require_key(n, "target", what, &v, e);
        if (r >= 0)
                r = get_abs_path(v, key_path(w, what, "target"), &b->target, e);
        if (r >= 0)
                r = check_target_unique(p, b->target, v, key_path(w, what, "target"), e);
        if (r >= 0 && (v = ynode_map_get(n, "mode"))) {
                r = get_enum(v, key_path(w, what, "mode"), bind_mode_names, &mode, e);
                b->mode = (BindMode) mode;
        }
        if (r >= 0 && (v = ynode_map_get(n, "optional")))
                r = get_bool(v, key_path(w, what, "optional"), &b->optional, e);
        /* The work directory has always been executable (builds run what they compile there);
         * every other bind is not, unless it says so. */
        if (r >= 0)
                b->exec = strcmp(b->source, ".") == 0;
        if (r >= 0 && (v = ynode_map_get(n, "exec")))
                r = get_bool(v, key_path(w, what, "exec"), &b->exec, e);
        /* Counted even on failure so that profile_free() releases the strings. */
        p->fs.n_binds++;
        return r;
}

static int parse_tmpfs(Profile *p, const YNode *n, const char *what, MoatError *e) {
        static const char *const keys[] = { "target", "size", NULL };
        ProfileTmpfs *t = &p->fs.tmpfs[p->fs.n_tmpfs];
        const YNode *v;
        char w[WHAT_MAX];
        int r;

        *t = (ProfileTmpfs){ .pos = n->pos };
        r = expect_kind(n, YNODE_MAP, what, e);
        if (r < 0)
                return r;
        r = check_keys(n, what, keys, e);
        if (r >= 0)
                r = require_key(n, "target", what, &v, e);
        if (r >= 0)
                r = get_abs_path(v, key_path(w, what, "target"), &t->target, e);
        if (r >= 0)
                r = check_target_unique(p, t->target, v, key_path(w, what, "target"), e);
        if (r >= 0 && (v = ynode_map_get(n, "size")))
                r = get_size(v, key_path(w, what, "size"), &t->size, e);
        p->fs.n_tmpfs++;
        return r;
}

static int parse_mounts(Profile *p, const YNode *n, bool tmpfs, MoatError *e) {
        const char *what = tmpfs ? "filesystem.tmpfs" : "filesystem.bind";
        char w[WHAT_MAX];
        int r;

        r = expect_kind(n, YNODE_SEQ, what, e);
        if (r < 0)
                return r;
        if (tmpfs) {
                p->fs.tmpfs = calloc(n->n_items + 1, sizeof(ProfileTmpfs));
                if (!p->fs.tmpfs)
                        return -ENOMEM;
        } else {
                p->fs.binds = calloc(n->n_items + 1, sizeof(ProfileBind));
                if (!p->fs.binds)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n->n_items; i++) {
                snprintf(w, sizeof(w), "%s[%zu]", what, i);
                r = tmpfs ? parse_tmpfs(p, n->items[i], w, e) : parse_bind(p, n->items[i], w, e);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_root(Profile *p, const YNode *n, MoatError *e) {
        static const char *const keys[] = { "image", NULL };
        const YNode *v;
        int r;

        if (n->kind == YNODE_SCALAR && n->type == YSCALAR_STRING &&
            strcmp(n->value, "host-readonly") == 0) {
                p->fs.root = ROOT_HOST_READONLY;
                p->fs.image = (free(p->fs.image), NULL);
                p->fs.image_name = (free(p->fs.image_name), NULL);
                return 0;
        }
        if (n->kind != YNODE_MAP)
                return fail(e, n,
                            "filesystem.root: expected host-readonly or {image: DIR}, got %s '%s'",
                            ynode_describe(n), n->kind == YNODE_SCALAR ? n->value : "");
        r = check_keys(n, "filesystem.root", keys, e);
        if (r < 0)
                return r;
        r = require_key(n, "image", "filesystem.root", &v, e);
        if (r < 0)
                return r;
        p->fs.root = ROOT_IMAGE;
        p->fs.image_name = (free(p->fs.image_name), NULL);
        p->fs.image = (free(p->fs.image), NULL);
        /* A word without '/' may name an image of the store (moat image list): it is looked
         * up when the plan is made, and only when the store has no such name is it the
         * directory beside the profile, as a relative path always was. */
        if (v->kind == YNODE_SCALAR && v->type == YSCALAR_STRING && !strchr(v->value, '/') &&
            image_name_valid(v->value) && !(p->fs.image_name = strdup(v->value)))
                return -ENOMEM;
        return get_file_relative_path(v, "filesystem.root.image", &p->fs.image, e);
}

static int parse_filesystem(Profile *p, const YNode *n, MoatError *e) {
        static const char *const keys[] = { "root", "bind", "tmpfs", "mask", "sys", NULL };
        const YNode *v;
        int r;

        r = expect_kind(n, YNODE_MAP, "filesystem", e);
        if (r < 0)
                return r;
        r = check_keys(n, "filesystem", keys, e);
        if (r < 0)
                return r;
        p->fs.pos = n->pos;
        if ((v = ynode_map_get(n, "root")) && (r = parse_root(p, v, e)) < 0)
                return r;
        if ((v = ynode_map_get(n, "bind")) && (r = parse_mounts(p, v, false, e)) < 0)
                return r;
        if ((v = ynode_map_get(n, "tmpfs")) && (r = parse_mounts(p, v, true, e)) < 0)
                return r;
        if ((v = ynode_map_get(n, "mask")) &&
            (r = get_strv(v, "filesystem.mask", "an absolute path", check_abs_path_item,
                          &p->fs.masked, NULL, e)) < 0)
                return r;
        if ((v = ynode_map_get(n, "sys")) && (r = get_bool(v, "filesystem.sys", &p->fs.sys, e)) < 0)
                return r;
        return 0;
}

static int parse_resources(Profile *p, const YNode *n, MoatError *e) {
        static const char *const keys[] = { "memory",   "cpus",    "pids",        "timeout",
                                            "cpu_time", "output",  "tmpfs_total", "disk",
                                            "nofile",   "enforce", NULL };
        const YNode *v;
        int r = 0, en;

        r = expect_kind(n, YNODE_MAP, "resources", e);
        if (r >= 0)
                r = check_keys(n, "resources", keys, e);
        if (r < 0)
                return r;
        p->resources.pos = n->pos;
        if (r >= 0 && (v = ynode_map_get(n, "memory")))
                r = get_size(v, "resources.memory", &p->resources.memory, e);
        if (r >= 0 && (v = ynode_map_get(n, "cpus")))
                r = get_cpus(v, "resources.cpus", &p->resources.cpus_milli, e);
        if (r >= 0 && (v = ynode_map_get(n, "pids")))
                r = get_uint(v, "resources.pids", 1, 4194304, &p->resources.pids, e);
        if (r >= 0 && (v = ynode_map_get(n, "timeout")))
                r = get_duration(v, "resources.timeout", &p->resources.timeout_ms, e);
        if (r >= 0 && (v = ynode_map_get(n, "cpu_time")))
                r = get_duration(v, "resources.cpu_time", &p->resources.cpu_time_ms, e);
        if (r >= 0 && (v = ynode_map_get(n, "output")))
                r = get_size(v, "resources.output", &p->resources.output, e);
        if (r >= 0 && (v = ynode_map_get(n, "tmpfs_total")))
                r = get_size(v, "resources.tmpfs_total", &p->resources.tmpfs_total, e);
        if (r >= 0 && (v = ynode_map_get(n, "disk")))
                r = get_size(v, "resources.disk", &p->resources.disk, e);
        if (r >= 0 && (v = ynode_map_get(n, "nofile")))
                r = get_uint(v, "resources.nofile", 1, 1048576, &p->resources.nofile, e);
        if (r >= 0 && (v = ynode_map_get(n, "enforce"))) {
                r = get_enum(v, "resources.enforce", enforce_names, &en, e);
                p->resources.enforce = (Enforce) en;
        }
        return r;
}

static int parse_env(Profile *p, const YNode *n, MoatError *e) {
        static const char *const keys[] = { "clear", "allow", "set", NULL };
        const YNode *v;
        int r;

        r = expect_kind(n, YNODE_MAP, "env", e);
        if (r >= 0)
                r = check_keys(n, "env", keys, e);
        if (r < 0)
                return r;
        p->env.pos = n->pos;
        if ((v = ynode_map_get(n, "clear")) && (r = get_bool(v, "env.clear", &p->env.clear, e)) < 0)
                return r;
        if ((v = ynode_map_get(n, "allow")) &&
            (r = get_strv(v, "env.allow", "a variable name", check_env_name, &p->env.allow, NULL,
                          e)) < 0)
                return r;
        if (!(v = ynode_map_get(n, "set")))
                return 0;
        r = expect_kind(v, YNODE_MAP, "env.set", e);
        if (r < 0)
                return r;
        p->env.set = strv_free(p->env.set);
        for (size_t i = 0; i < v->n_pairs; i++) {
                const YNode *k = v->pairs[i].key, *val = v->pairs[i].value;
                _cleanup_free_ char *kv = NULL;
                char w[WHAT_MAX];

                key_path(w, "env.set", k->value);
                if (!env_name_valid(k->value))
                        return fail(e, k,
                                    "env.set: invalid environment variable name '%s' (expected "
                                    "letters, digits and '_')",
                                    k->value);
                if (val->kind != YNODE_SCALAR || val->type == YSCALAR_NULL)
                        return fail(e, val, "%s: expected a string, got %s", w,
                                    ynode_describe(val));
                if (asprintf(&kv, "%s=%s", k->value, val->value) < 0)
                        return -ENOMEM;
                r = strv_extend(&p->env.set, kv);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_syscalls(Profile *p, const YNode *n, MoatError *e) {
        static const char *const keys[] = { "base", "allow", "deny", NULL };
        const YNode *v;
        int r;

        r = expect_kind(n, YNODE_MAP, "syscalls", e);
        if (r >= 0)
                r = check_keys(n, "syscalls", keys, e);
        if (r < 0)
                return r;
        if ((v = ynode_map_get(n, "base"))) {
                r = get_string(v, "syscalls.base", "a syscall set name", &p->syscalls.base, e);
                if (r < 0)
                        return r;
                if (!all_chars_in(v->value, LOWER DIGITS "_-"))
                        return fail(e, v,
                                    "syscalls.base: invalid set name '%s' (expected a file name "
                                    "under policies/seccomp/ such as default)",
                                    v->value);
                p->syscalls.base_pos = v->pos;
        }
        if ((v = ynode_map_get(n, "allow")) &&
            (r = get_strv(v, "syscalls.allow", "a syscall name", check_syscall, &p->syscalls.allow,
                          &p->syscalls.allow_pos, e)) < 0)
                return r;
        if ((v = ynode_map_get(n, "deny")) &&
            (r = get_strv(v, "syscalls.deny", "a syscall name", check_syscall, &p->syscalls.deny,
                          &p->syscalls.deny_pos, e)) < 0)
                return r;
        return 0;
}

static int get_mac_label(const YNode *n, const char *what, const char *allowed, char **ret,
                         MoatError *e) {
        int r = get_string(n, what, "a name or off", ret, e);
        if (r < 0)
                return r;
        if (strcmp(*ret, "off") == 0) {
                *ret = (free(*ret), NULL);
                return 0;
        }
        if (!all_chars_in(*ret, allowed))
                return fail(e, n, "%s: invalid name '%s'", what, *ret);
        return 0;
}

static int parse_mac(Profile *p, const YNode *n, MoatError *e) {
        static const char *const keys[] = { "landlock", "apparmor", "selinux", "enforce", NULL };
        const YNode *v;
        int r, m;

        r = expect_kind(n, YNODE_MAP, "mac", e);
        if (r >= 0)
                r = check_keys(n, "mac", keys, e);
        if (r < 0)
                return r;
        p->mac.pos = n->pos;
        if (r >= 0 && (v = ynode_map_get(n, "landlock"))) {
                r = get_enum(v, "mac.landlock", landlock_names, &m, e);
                p->mac.landlock = (LandlockMode) m;
        }
        if (r >= 0 && (v = ynode_map_get(n, "apparmor")))
                r = get_mac_label(v, "mac.apparmor", LOWER UPPER DIGITS "_-.", &p->mac.apparmor, e);
        if (r >= 0 && (v = ynode_map_get(n, "selinux")))
                r = get_mac_label(v, "mac.selinux", LOWER UPPER DIGITS "_-.:,", &p->mac.selinux, e);
        if (r >= 0 && (v = ynode_map_get(n, "enforce"))) {
                r = get_enum(v, "mac.enforce", enforce_names, &m, e);
                p->mac.enforce = (Enforce) m;
        }
        return r;
}

static bool kernel_version_valid(const char *s) {
        unsigned dots = 0;

        if (!strchr(DIGITS, s[0]))
                return false;
        for (const char *c = s; *c; c++) {
                if (*c == '.') {
                        if (!strchr(DIGITS, c[1]) || c[1] == '\0')
                                return false;
                        dots++;
                } else if (!strchr(DIGITS, *c))
                        return false;
        }
        return dots >= 1 && dots <= 2;
}

static int parse_kernel(Profile *p, const YNode *n, MoatError *e) {
        static const char *const keys[] = { "needs", "min_version", NULL };
        const YNode *v;
        int r;

        r = expect_kind(n, YNODE_MAP, "kernel", e);
        if (r >= 0)
                r = check_keys(n, "kernel", keys, e);
        if (r < 0)
                return r;
        p->kernel.pos = n->pos;
        if ((v = ynode_map_get(n, "needs")) &&
            (r = get_strv(v, "kernel.needs", "a kernel feature", check_kernel_need,
                          &p->kernel.needs, NULL, e)) < 0)
                return r;
        if (!(v = ynode_map_get(n, "min_version")))
                return 0;
        /* A plain 6.10 reads as the number 6.1 in YAML: insist on quotes. */
        r = get_string(v, "kernel.min_version", "a quoted version such as \"6.1\"",
                       &p->kernel.min_version, e);
        if (r < 0)
                return r;
        if (!kernel_version_valid(p->kernel.min_version))
                return fail(e, v,
                            "kernel.min_version: invalid version '%s' (expected MAJOR.MINOR or "
                            "MAJOR.MINOR.PATCH)",
                            p->kernel.min_version);
        return 0;
}

static int parse_os(Profile *p, const YNode *n, MoatError *e) {
        static const char *const keys[] = { "full_os", "init", NULL };
        const YNode *v;
        int r;

        r = expect_kind(n, YNODE_MAP, "os", e);
        if (r >= 0)
                r = check_keys(n, "os", keys, e);
        if (r >= 0 && (v = ynode_map_get(n, "full_os")))
                r = get_bool(v, "os.full_os", &p->os.full_os, e);
        /* "none": command mode in the system tier (liblxc's small init runs the command) */
        if (r >= 0 && (v = ynode_map_get(n, "init"))) {
                if (v->kind == YNODE_SCALAR && v->type == YSCALAR_STRING &&
                    strcmp(v->value, "none") == 0)
                        p->os.init = (free(p->os.init), NULL);
                else
                        r = get_abs_path(v, "os.init", &p->os.init, e);
        }
        return r;
}

static int parse_vm(Profile *p, const YNode *n, MoatError *e) {
        static const char *const keys[] = { "kernel", "vcpus", "guest_root", NULL };
        const YNode *v;
        uint64_t u;
        int r;

        r = expect_kind(n, YNODE_MAP, "vm", e);
        if (r >= 0)
                r = check_keys(n, "vm", keys, e);
        if (r >= 0 && (v = ynode_map_get(n, "kernel")))
                r = get_file_relative_path(v, "vm.kernel", &p->vm.kernel, e);
        if (r >= 0 && (v = ynode_map_get(n, "vcpus"))) {
                r = get_uint(v, "vm.vcpus", 1, 256, &u, e);
                p->vm.vcpus = (uint32_t) u;
        }
        if (r >= 0 && (v = ynode_map_get(n, "guest_root")))
                r = get_bool(v, "vm.guest_root", &p->vm.guest_root, e);
        return r;
}

static int parse_hostname(Profile *p, const YNode *n, MoatError *e) {
        int r = get_string(n, "hostname", "a host name", &p->hostname, e);
        if (r < 0)
                return r;
        /* HOST_NAME_MAX is 64; RFC 1123 characters so that nothing can be smuggled into prompts. */
        if (strlen(p->hostname) > 64 || !all_chars_in(p->hostname, LOWER UPPER DIGITS "-.") ||
            p->hostname[0] == '-' || p->hostname[0] == '.')
                return fail(e, n,
                            "hostname: invalid host name '%s' (expected up to 64 letters, digits, "
                            "'-' and '.')",
                            p->hostname);
        return 0;
}

/* machine-id(5): 32 lower-case hexadecimal digits, never all zeros (systemd reads that as "not
 * set"). Uppercase is refused rather than folded: the file must hold exactly what was written. */
static int parse_identity(Profile *p, const YNode *n, MoatError *e) {
        static const char *const keys[] = { "machine_id", NULL };
        const YNode *v;
        int r;

        r = expect_kind(n, YNODE_MAP, "identity", e);
        if (r >= 0)
                r = check_keys(n, "identity", keys, e);
        if (r < 0)
                return r;
        p->identity.pos = n->pos;
        if (!(v = ynode_map_get(n, "machine_id")))
                return 0;
        r = get_string(v, "identity.machine_id", "a quoted machine id of 32 lower-case hex digits",
                       &p->identity.machine_id, e);
        if (r < 0)
                return r;
        p->identity.pos = v->pos;
        if (strlen(v->value) != 32 || !all_chars_in(v->value, DIGITS "abcdef") ||
            strspn(v->value, "0") == 32)
                return fail(e, v,
                            "identity.machine_id: invalid machine id '%s' (expected 32 lower-case "
                            "hex digits, not all zero)",
                            v->value);
        return 0;
}

static int parse_ids(Profile *p, const YNode *root, MoatError *e) {
        const YNode *u = ynode_map_get(root, "uid"), *g = ynode_map_get(root, "gid");
        uint64_t v;
        int r;

        /* (uid_t) -1 means "unchanged" to setresuid(2): never a valid id. */
        if (u) {
                r = get_uint(u, "uid", 0, UINT32_MAX - 1, &v, e);
                if (r < 0)
                        return r;
                p->uid = (uid_t) v;
                p->gid = (gid_t) v;
                p->uid_set = true;
        }
        if (g) {
                r = get_uint(g, "gid", 0, UINT32_MAX - 1, &v, e);
                if (r < 0)
                        return r;
                p->gid = (gid_t) v;
        }
        return 0;
}

static int parse_egress_rule(const YNode *it, const char *what, EgressRule *rule, MoatError *e) {
        char msg[256];
        _cleanup_free_ char *str = NULL;
        int r;

        r = get_string(it, what, "an allowlist rule (host[:ports], *.suffix[:ports] or a CIDR)",
                       &str, e);
        if (r < 0)
                return r;
        if (egress_rule_parse(str, rule, msg, sizeof(msg)) < 0)
                return fail(e, it, "%s: %s", what, msg);
        rule->pos = it->pos;
        return 0;
}

/* network: none | loopback | {outbound: {via: proxy|transparent, allow: [RULE...]}}. The bare scalar
 * "outbound" is refused: outbound without an allowlist would mean "everything", which is
 * the separate, policy-gated rule "*". */
static int parse_network(Profile *p, const YNode *v, MoatError *e) {
        static const char *const net_keys[] = { "outbound", NULL };
        static const char *const out_keys[] = { "via", "allow", NULL };
        static const char *const via_names[] = { "proxy", "transparent", NULL };
        const YNode *o, *a, *via;
        int r, x;

        if (v->kind == YNODE_SCALAR) {
                r = get_enum(v, "network", network_names, &x, e);
                if (r < 0)
                        return r;
                if (x == NETWORK_OUTBOUND)
                        return fail(e, v,
                                    "network: outbound needs an allowlist: network: {outbound: "
                                    "{allow: [pkg.example.org:443, ...]}} (profiles/README.md)");
                p->network = (NetworkMode) x;
                free(p->outbound.allow);
                p->outbound.allow = NULL;
                p->outbound.n_allow = 0;
                return 0;
        }
        if (v->kind != YNODE_MAP)
                return fail(e, v,
                            "network: expected one of: none, loopback, or a mapping {outbound: "
                            "...}, got %s",
                            ynode_describe(v));
        if ((r = check_keys(v, "network", net_keys, e)) < 0)
                return r;
        if ((r = require_key(v, "outbound", "network", &o, e)) < 0 ||
            (r = expect_kind(o, YNODE_MAP, "network.outbound", e)) < 0 ||
            (r = check_keys(o, "network.outbound", out_keys, e)) < 0)
                return r;
        x = OUTBOUND_VIA_PROXY;
        if ((via = ynode_map_get(o, "via")) &&
            (r = get_enum(via, "network.outbound.via", via_names, &x, e)) < 0)
                return r;
        OutboundVia how = (OutboundVia) x;
        if ((r = require_key(o, "allow", "network.outbound", &a, e)) < 0 ||
            (r = expect_kind(a, YNODE_SEQ, "network.outbound.allow", e)) < 0)
                return r;
        if (a->n_items == 0)
                return fail(e, a,
                            "network.outbound.allow: empty (list at least one rule, or use "
                            "network: none)");
        if (a->n_items > EGRESS_MAX_RULES)
                return fail(e, a, "network.outbound.allow: more than %d rules", EGRESS_MAX_RULES);
        _cleanup_free_ EgressRule *rules = calloc(a->n_items, sizeof(EgressRule));
        if (!rules)
                return -ENOMEM;
        for (size_t i = 0; i < a->n_items; i++) {
                char what[WHAT_MAX], f1[EGRESS_RULE_FORMAT_MAX], f2[EGRESS_RULE_FORMAT_MAX];

                snprintf(what, sizeof(what), "network.outbound.allow[%zu]", i);
                if ((r = parse_egress_rule(a->items[i], what, &rules[i], e)) < 0)
                        return r;
                egress_rule_format(&rules[i], f1, sizeof(f1));
                for (size_t j = 0; j < i; j++)
                        if (strcmp(egress_rule_format(&rules[j], f2, sizeof(f2)), f1) == 0)
                                return fail(e, a->items[i], "%s: '%s' is listed twice", what, f1);
        }
        p->network = NETWORK_OUTBOUND;
        free(p->outbound.allow);
        p->outbound.allow = TAKE_PTR(rules);
        p->outbound.n_allow = a->n_items;
        p->outbound.pos = a->pos;
        p->outbound.via = how;
        p->outbound.via_pos = via ? via->pos : (SrcPos){};
        return 0;
}

static const char *const top_keys[] = {
        "moat",      "name",     "description",     "extends", "trust",
        "isolation", "max_tier", "filesystem",      "network", "resources",
        "env",       "syscalls", "capabilities",    "mac",     "kernel",
        "os",        "devices",  "hostname",        "uid",     "gid",
        "vm",        "identity", "host_namespaces", NULL,
};

static int parse_enums(Profile *p, const YNode *root, MoatError *e) {
        const YNode *v;
        int r = 0, x;

        if ((v = ynode_map_get(root, "trust"))) {
                r = get_enum(v, "trust", trust_names, &x, e);
                p->trust = (Trust) x;
                p->trust_pos = v->pos;
        }
        if (r >= 0 && (v = ynode_map_get(root, "isolation"))) {
                r = get_enum(v, "isolation", isolation_names, &x, e);
                p->isolation = x == 0 ? TIER_AUTO : (Tier) (x - 1);
                p->isolation_pos = v->pos;
        }
        if (r >= 0 && (v = ynode_map_get(root, "max_tier"))) {
                r = get_enum(v, "max_tier", tier_names, &x, e);
                p->max_tier = (Tier) x;
                p->max_tier_pos = v->pos;
        }
        if (r >= 0 && (v = ynode_map_get(root, "network"))) {
                r = parse_network(p, v, e);
                p->network_pos = v->pos;
        }
        return r;
}

static int parse_version(const YNode *root, MoatError *e) {
        const YNode *v = ynode_map_get(root, "moat");

        if (!v)
                return fail(e, root,
                            "missing version key 'moat: 1' (every profile starts with it)");
        if (v->kind != YNODE_SCALAR || v->type != YSCALAR_INT)
                return fail(e, v, "moat: expected the integer 1, got %s", ynode_describe(v));
        if (strcmp(v->value, "1") != 0)
                return fail(e, v, "moat: unsupported profile language version '%s' (expected 1)",
                            v->value);
        return 0;
}

static int parse_meta(Profile *p, const YNode *root, MoatError *e) {
        const YNode *v;
        int r;

        if ((v = ynode_map_get(root, "name"))) {
                r = get_string(v, "name", "a profile name", &p->name, e);
                if (r < 0)
                        return r;
                if (!all_chars_in(p->name, LOWER UPPER DIGITS "_-.") || p->name[0] == '.')
                        return fail(e, v,
                                    "name: invalid profile name '%s' (expected letters, digits, "
                                    "'-', '_' and '.')",
                                    p->name);
        }
        if ((v = ynode_map_get(root, "description")) &&
            (r = get_string(v, "description", "a string", &p->description, e)) < 0)
                return r;
        /* Resolved by the loader; only its type is checked here. */
        if ((v = ynode_map_get(root, "extends")) &&
            (v->kind != YNODE_SCALAR || v->type != YSCALAR_STRING))
                return fail(e, v, "extends: expected a profile name or path, got %s",
                            ynode_describe(v));
        return 0;
}

static int parse_sections(Profile *p, const YNode *root, MoatError *e) {
        const YNode *v;
        int r = 0;

        if ((v = ynode_map_get(root, "filesystem")))
                r = parse_filesystem(p, v, e);
        if (r >= 0 && (v = ynode_map_get(root, "resources")))
                r = parse_resources(p, v, e);
        if (r >= 0 && (v = ynode_map_get(root, "env")))
                r = parse_env(p, v, e);
        if (r >= 0 && (v = ynode_map_get(root, "syscalls")))
                r = parse_syscalls(p, v, e);
        if (r >= 0 && (v = ynode_map_get(root, "capabilities"))) {
                p->capabilities_pos = v->pos;
                r = get_strv(v, "capabilities", "a capability name", check_capability,
                             &p->capabilities, NULL, e);
        }
        if (r >= 0 && (v = ynode_map_get(root, "mac")))
                r = parse_mac(p, v, e);
        if (r >= 0 && (v = ynode_map_get(root, "kernel")))
                r = parse_kernel(p, v, e);
        if (r >= 0 && (v = ynode_map_get(root, "os")))
                r = parse_os(p, v, e);
        if (r >= 0 && (v = ynode_map_get(root, "devices")))
                r = get_strv(v, "devices", "a device path", check_device, &p->devices, NULL, e);
        if (r >= 0 && (v = ynode_map_get(root, "host_namespaces"))) {
                p->host_namespaces_list_pos = v->pos;
                r = get_strv(v, "host_namespaces", "a namespace name", check_host_namespace,
                             &p->host_namespaces, &p->host_namespaces_pos, e);
        }
        if (r >= 0 && (v = ynode_map_get(root, "hostname")))
                r = parse_hostname(p, v, e);
        if (r >= 0)
                r = parse_ids(p, root, e);
        if (r >= 0 && (v = ynode_map_get(root, "vm")))
                r = parse_vm(p, v, e);
        if (r >= 0 && (v = ynode_map_get(root, "identity")))
                r = parse_identity(p, v, e);
        return r;
}

static int check_tmpfs_total(const Profile *p, MoatError *e) {
        uint64_t sum = 0;

        if (p->resources.tmpfs_total == 0)
                return 0;
        for (size_t i = 0; i < p->fs.n_tmpfs; i++) {
                uint64_t size = p->fs.tmpfs[i].size ?: PROFILE_TMPFS_DEFAULT_SIZE;

                sum += size;
                if (sum > p->resources.tmpfs_total || sum < size)
                        return moat_error_set(e, p->fs.tmpfs[i].pos.file, p->fs.tmpfs[i].pos.line,
                                              p->fs.tmpfs[i].pos.column,
                                              "filesystem.tmpfs[%zu]: tmpfs sizes add up to more "
                                              "than resources.tmpfs_total",
                                              i);
        }
        return 0;
}

/* Rules between keys hold for the resolved profile only: a child may set gid over its
 * parent's uid, or a parent's max_tier may be raised by the child. */
static int check_consistency(const Profile *p, const YNode *root, MoatError *e) {
        const YNode *g = ynode_map_get(root, "gid");

        if (p->isolation != TIER_AUTO && p->isolation > p->max_tier)
                return fail(e, ynode_map_get(root, "isolation"),
                            "isolation: '%s' is above max_tier '%s'", tier_to_string(p->isolation),
                            tier_to_string(p->max_tier));
        if (g && !p->uid_set)
                return fail(e, g, "gid: set only together with uid");
        /* In the host's network namespace the workload reaches what the host reaches: the
         * profile says so with network: loopback, never none (nothing) or outbound (only through
         * moat's proxy). */
        for (size_t i = 0; p->host_namespaces && p->host_namespaces[i]; i++)
                if (strcmp(p->host_namespaces[i], "network") == 0 && p->network != NETWORK_LOOPBACK)
                        return moat_error_set(
                                e, p->host_namespaces_pos[i].file, p->host_namespaces_pos[i].line,
                                p->host_namespaces_pos[i].column,
                                "host_namespaces[%zu]: network needs network: loopback (a "
                                "container in the host's network namespace reaches what the host "
                                "reaches; network: %s says otherwise)",
                                i, network_mode_to_string(p->network));
        return check_tmpfs_total(p, e);
}

int profile_from_tree(Profile *p, const YNode *root, bool resolved, MoatError *e) {
        int r;

        if (root->kind != YNODE_MAP)
                return fail(e, root, "expected a mapping of profile keys at the top level, got %s",
                            ynode_describe(root));
        r = check_keys(root, "", top_keys, e);
        if (r >= 0)
                r = parse_version(root, e);
        if (r >= 0)
                r = parse_meta(p, root, e);
        if (r >= 0)
                r = parse_enums(p, root, e);
        if (r >= 0)
                r = parse_sections(p, root, e);
        if (r >= 0 && resolved)
                r = check_consistency(p, root, e);
        return r;
}

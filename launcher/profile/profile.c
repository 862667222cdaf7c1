/* SPDX-License-Identifier: MIT */
/* PURE. Loading a profile: finding it, reading it (regular files up to 1 MiB), resolving
 * "extends:" chains, and building the Profile. Reads files; changes nothing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/file-util.h"
#include "basic/macros.h"
#include "basic/strv.h"
#include "config.h"
#include "profile-internal.h"

static const char *const trust_table[_TRUST_MAX] = { "trusted", "internal", "untrusted",
                                                     "hostile" };
static const char *const tier_table[_TIER_MAX] = { "sandbox", "system", "vm" };
static const char *const network_table[_NETWORK_MAX] = { "none", "loopback", "outbound" };
static const char *const enforce_table[_ENFORCE_MAX] = { "required", "best-effort" };
static const char *const landlock_table[_LANDLOCK_MAX] = { "required", "best-effort", "off" };
static const char *const bind_mode_table[_BIND_MAX] = { "ro", "rw" };

#define TABLE_LOOKUP(table, v) ((v) >= 0 && (size_t) (v) < ELEMENTSOF(table) ? (table)[v] : NULL)

const char *trust_to_string(Trust t) {
        return TABLE_LOOKUP(trust_table, t);
}
const char *tier_to_string(Tier t) {
        return t == TIER_AUTO ? "auto" : TABLE_LOOKUP(tier_table, t);
}
const char *network_mode_to_string(NetworkMode m) {
        return TABLE_LOOKUP(network_table, m);
}
const char *enforce_to_string(Enforce e) {
        return TABLE_LOOKUP(enforce_table, e);
}
const char *landlock_mode_to_string(LandlockMode m) {
        return TABLE_LOOKUP(landlock_table, m);
}
const char *bind_mode_to_string(BindMode m) {
        return TABLE_LOOKUP(bind_mode_table, m);
}

int trust_from_string(const char *s) {
        for (size_t i = 0; s && i < ELEMENTSOF(trust_table); i++)
                if (strcmp(s, trust_table[i]) == 0)
                        return (int) i;
        return -EINVAL;
}

/* Real tiers only: "auto" is not a tier (and TIER_AUTO would read as an errno). */
int tier_from_string(const char *s) {
        for (size_t i = 0; s && i < ELEMENTSOF(tier_table); i++)
                if (strcmp(s, tier_table[i]) == 0)
                        return (int) i;
        return -EINVAL;
}

Profile *profile_free(Profile *p) {
        if (!p)
                return NULL;
        free(p->name);
        free(p->path);
        free(p->description);
        strv_free(p->files);
        free(p->fs.image);
        free(p->fs.image_name);
        for (size_t i = 0; i < p->fs.n_binds; i++) {
                free(p->fs.binds[i].source);
                free(p->fs.binds[i].target);
        }
        free(p->fs.binds);
        for (size_t i = 0; i < p->fs.n_tmpfs; i++)
                free(p->fs.tmpfs[i].target);
        free(p->fs.tmpfs);
        strv_free(p->fs.masked);
        strv_free(p->env.allow);
        strv_free(p->env.set);
        free(p->syscalls.base);
        strv_free(p->syscalls.allow);
        strv_free(p->syscalls.deny);
        free(p->syscalls.allow_pos);
        free(p->syscalls.deny_pos);
        strv_free(p->capabilities);
        free(p->mac.apparmor);
        free(p->mac.selinux);
        strv_free(p->kernel.needs);
        free(p->kernel.min_version);
        free(p->os.init);
        strv_free(p->devices);
        strv_free(p->host_namespaces);
        free(p->host_namespaces_pos);
        free(p->hostname);
        free(p->identity.machine_id);
        free(p->vm.kernel);
        free(p->outbound.allow);
        free(p);
        return NULL;
}

/* The language defaults (profiles/README.md): fail closed unless the profile relaxes them. */
static Profile *profile_new(void) {
        _cleanup_profile_ Profile *p = calloc(1, sizeof(Profile));

        if (!p)
                return NULL;
        p->trust = TRUST_UNTRUSTED;
        p->isolation = TIER_AUTO;
        p->max_tier = TIER_VM;
        p->fs.root = ROOT_HOST_READONLY;
        p->network = NETWORK_NONE;
        p->resources.enforce = ENFORCE_REQUIRED;
        p->env.clear = true;
        p->mac.landlock = LANDLOCK_REQUIRED;
        p->mac.enforce = ENFORCE_REQUIRED;
        p->syscalls.base = strdup("default");
        p->hostname = strdup("moat");
        p->os.init = strdup("/sbin/init");
        p->capabilities = calloc(1, sizeof(char *));
        if (!p->syscalls.base || !p->hostname || !p->os.init || !p->capabilities)
                return NULL;
        return TAKE_PTR(p);
}

typedef struct Loader {
        char **files;                             /* every file read; owns the SrcPos strings */
        char *canonical[PROFILE_MAX_EXTENDS + 2]; /* realpath of each file in the chain */
        MoatError *error;
} Loader;

static void loader_done(Loader *l) {
        strv_free(l->files);
        for (size_t i = 0; i < ELEMENTSOF(l->canonical); i++)
                free(l->canonical[i]);
}

static int read_profile_file(const char *path, char **ret_buf, size_t *ret_len, MoatError *e) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t len = 0;

        /* O_NONBLOCK: a FIFO planted as a profile must not hang the launcher. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return moat_error_set(e, path, 0, 0, "not a regular file");
        if (st.st_size > PROFILE_MAX_SIZE)
                return moat_error_set(e, path, 0, 0, "profile is larger than 1 MiB");
        /* The size may change under us: read_fd_bounded() stops one byte past the limit. */
        int r = read_fd_bounded(fd, (size_t) st.st_size, PROFILE_MAX_SIZE, &buf, &len);
        if (r == -EFBIG)
                return moat_error_set(e, path, 0, 0, "profile is larger than 1 MiB");
        if (r < 0)
                return r;
        *ret_buf = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

bool profile_name_is_path(const char *s) {
        size_t n = strlen(s);
        return strchr(s, '/') || (n >= 5 && strcmp(s + n - 5, ".yaml") == 0);
}

static bool profile_name_valid(const char *s) {
        return s[0] != '\0' && s[0] != '.' && s[0] != '-' &&
               s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")] ==
                       '\0';
}

/* The directories searched for a profile name, in order (see profile.h). */
static int profile_search_dirs(char ***ret) {
        _cleanup_strv_free_ char **dirs = calloc(1, sizeof(char *));
        const char *env, *data;
        _cleanup_free_ char *d = NULL;
        int r;

        if (!dirs)
                return -ENOMEM;
        env = getenv("MOAT_PROFILE_PATH");
        if (env) {
                _cleanup_free_ char *copy = strdup(env);
                char *save = NULL;

                if (!copy)
                        return -ENOMEM;
                for (char *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save))
                        if ((r = strv_extend(&dirs, t)) < 0)
                                return r;
        }
        env = getenv("XDG_CONFIG_HOME");
        if (env && env[0] == '/')
                r = asprintf(&d, "%s/moat/profiles", env);
        else if ((env = getenv("HOME")) && env[0] == '/')
                r = asprintf(&d, "%s/.config/moat/profiles", env);
        else
                r = 0, d = NULL;
        if (r < 0)
                return -ENOMEM;
        if (d && (r = strv_extend(&dirs, d)) < 0)
                return r;
        if ((r = strv_extend(&dirs, "/etc/moat/profiles")) < 0)
                return r;
        data = getenv("MOAT_DATA_DIR");
        if (!data || data[0] == '\0')
                data = MOAT_INSTALLED_DATA_DIR;
        free(d);
        if (asprintf(&d, "%s/profiles", data) < 0)
                return d = NULL, -ENOMEM;
        if ((r = strv_extend(&dirs, d)) < 0)
                return r;
        *ret = TAKE_PTR(dirs);
        return 0;
}

/* name -> first DIR/name.yaml that is a regular file. -ENOENT with the searched list in error. */
static int profile_find(const char *name, const SrcPos *at, char **ret, MoatError *e) {
        _cleanup_strv_free_ char **dirs = NULL;
        char list[400] = "";
        size_t off = 0;
        int r;

        if (!profile_name_valid(name))
                return moat_error_set(e, at->file, at->line, at->column,
                                      "invalid profile name '%s' (expected letters, digits, '-', "
                                      "'_' and '.', or a path)",
                                      name);
        r = profile_search_dirs(&dirs);
        if (r < 0)
                return r;
        STRV_FOREACH (d, dirs) {
                _cleanup_free_ char *path = NULL;
                struct stat st;

                if (asprintf(&path, "%s/%s.yaml", *d, name) < 0)
                        return -ENOMEM;
                if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                        *ret = TAKE_PTR(path);
                        return 0;
                }
                if (off < sizeof(list))
                        off += (size_t) snprintf(list + off, sizeof(list) - off, "%s%s",
                                                 off ? ":" : "", *d);
        }
        moat_error_set(e, at->file, at->line, at->column, "profile '%s' not found (searched %s)",
                       name, list);
        return -ENOENT;
}

/* extends: NAME (search path) or a path, relative to the directory of the extending file. */
static int resolve_extends(const YNode *ext, char **ret, MoatError *e) {
        const char *file = ext->pos.file, *slash = strrchr(file, '/');

        if (ext->type == YSCALAR_NULL || ext->value[0] == '\0')
                return moat_error_set(
                        e, file, ext->pos.line, ext->pos.column,
                        "extends: expected a profile name or path, got an empty value");
        if (!profile_name_is_path(ext->value))
                return profile_find(ext->value, &ext->pos, ret, e);
        if (ext->value[0] == '/' || !slash)
                *ret = strdup(ext->value);
        else if (asprintf(ret, "%.*s/%s", (int) (slash - file), file, ext->value) < 0)
                *ret = NULL;
        return *ret ? 0 : -ENOMEM;
}

static void ynode_map_remove(YNode *map, const char *key) {
        for (size_t i = 0; i < map->n_pairs; i++)
                if (strcmp(map->pairs[i].key->value, key) == 0) {
                        ynode_free(map->pairs[i].key);
                        ynode_free(map->pairs[i].value);
                        memmove(map->pairs + i, map->pairs + i + 1,
                                (map->n_pairs - i - 1) * sizeof(YPair));
                        map->n_pairs--;
                        return;
                }
}

static const char *chain_format(const Loader *l, const char *last, char *buf, size_t size) {
        size_t off = 0;

        buf[0] = '\0';
        STRV_FOREACH (f, l->files)
                if (off < size)
                        off += (size_t) snprintf(buf + off, size - off, "%s -> ", *f);
        if (off < size)
                snprintf(buf + off, size - off, "%s", last);
        return buf;
}

static int load_tree(Loader *l, const char *path, const char *buf, size_t len, YNode **ret);

static int load_parent(Loader *l, const YNode *ext, YNode **ret) {
        _cleanup_free_ char *path = NULL, *canonical = NULL, *buf = NULL;
        size_t depth = strv_length(l->files), len;
        char chain[300];
        int r;

        r = resolve_extends(ext, &path, l->error);
        if (r < 0)
                return r;
        canonical = realpath(path, NULL);
        if (!canonical)
                return moat_error_set(l->error, ext->pos.file, ext->pos.line, ext->pos.column,
                                      "extends: cannot open '%s': %s", path, strerror(errno));
        for (size_t i = 0; i < depth; i++)
                if (l->canonical[i] && strcmp(l->canonical[i], canonical) == 0)
                        return moat_error_set(l->error, ext->pos.file, ext->pos.line,
                                              ext->pos.column, "extends: cycle %s",
                                              chain_format(l, path, chain, sizeof(chain)));
        if (depth > PROFILE_MAX_EXTENDS)
                return moat_error_set(l->error, ext->pos.file, ext->pos.line, ext->pos.column,
                                      "extends: more than %d levels (%s)", PROFILE_MAX_EXTENDS,
                                      chain_format(l, path, chain, sizeof(chain)));
        r = read_profile_file(path, &buf, &len, l->error);
        if (r < 0 && !moat_error_is_set(l->error))
                return moat_error_set(l->error, ext->pos.file, ext->pos.line, ext->pos.column,
                                      "extends: cannot read '%s': %s", path, strerror(-r));
        if (r < 0)
                return r;
        l->canonical[depth] = TAKE_PTR(canonical);
        return load_tree(l, path, buf, len, ret);
}

/* One file: parse, validate on its own (so that an error in a key the child overrides is
 * still reported), then merge it over what it extends. */
static int load_tree(Loader *l, const char *path, const char *buf, size_t len, YNode **ret) {
        _cleanup_ynode_ YNode *tree = NULL, *parent = NULL;
        _cleanup_profile_ Profile *scratch = NULL;
        const char *file;
        const YNode *ext;
        int r;

        r = strv_extend(&l->files, path);
        if (r < 0)
                return r;
        file = l->files[strv_length(l->files) - 1];
        r = ynode_parse(buf, len, file, &tree, l->error);
        if (r < 0)
                return r;
        if (!tree)
                return moat_error_set(l->error, file, 1, 1,
                                      "empty profile (missing version key 'moat: 1')");
        scratch = profile_new();
        if (!scratch)
                return -ENOMEM;
        r = profile_from_tree(scratch, tree, false, l->error);
        if (r < 0)
                return r;
        ext = ynode_map_get(tree, "extends");
        if (!ext) {
                *ret = TAKE_PTR(tree);
                return 0;
        }
        r = load_parent(l, ext, &parent);
        if (r < 0)
                return r;
        /* Identity is not inherited: a child without name: is named after its own file. */
        ynode_map_remove(parent, "name");
        ynode_map_remove(parent, "description");
        r = ynode_merge(parent, TAKE_PTR(tree));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(parent);
        return 0;
}

static int profile_build(Loader *l, const char *path, const char *buf, size_t len, Profile **ret) {
        _cleanup_ynode_ YNode *tree = NULL;
        _cleanup_profile_ Profile *p = NULL;
        const char *base;
        size_t n;
        int r;

        l->canonical[0] = realpath(path, NULL); /* NULL for a buffer with a made-up name */
        r = load_tree(l, path, buf, len, &tree);
        if (r < 0)
                return r;
        p = profile_new();
        if (!p)
                return -ENOMEM;
        r = profile_from_tree(p, tree, true, l->error);
        if (r < 0)
                return r;
        p->path = strdup(path);
        if (!p->path)
                return -ENOMEM;
        if (!p->name) {
                base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
                n = strlen(base);
                if (n > 5 && strcmp(base + n - 5, ".yaml") == 0)
                        n -= 5;
                p->name = strndup(base, n);
                if (!p->name)
                        return -ENOMEM;
        }
        /* The tree's positions point into these strings: they move to the Profile last. */
        tree = ynode_free(tree);
        p->files = TAKE_PTR(l->files);
        r = profile_compute_digest(p);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

int profile_parse_buffer(const char *buf, size_t len, const char *filename, Profile **ret,
                         MoatError *error) {
        Loader l = { .error = error };
        int r;

        if (!filename)
                filename = "<buffer>";
        if (len > PROFILE_MAX_SIZE)
                return moat_error_set(error, filename, 0, 0, "profile is larger than 1 MiB");
        r = profile_build(&l, filename, buf, len, ret);
        loader_done(&l);
        return r;
}

int profile_load(const char *name_or_path, Profile **ret, MoatError *error) {
        _cleanup_free_ char *path = NULL, *buf = NULL;
        Loader l = { .error = error };
        size_t len;
        int r;

        if (profile_name_is_path(name_or_path))
                path = strdup(name_or_path);
        else {
                SrcPos at = { NULL, 0, 0 };
                r = profile_find(name_or_path, &at, &path, error);
                if (r < 0)
                        return r;
        }
        if (!path)
                return -ENOMEM;
        r = read_profile_file(path, &buf, &len, error);
        if (r < 0 && !moat_error_is_set(error))
                moat_error_set(error, path, 0, 0, "cannot read profile: %s", strerror(-r));
        if (r < 0)
                return r;
        r = profile_build(&l, path, buf, len, ret);
        loader_done(&l);
        return r;
}

/* SPDX-License-Identifier: MIT */
/* Reading the policy files: the shipped directory (escalation.yaml, seccomp/<set>.yaml) and the
 * site file. Reads only; the digest covers every byte that influenced the policy. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/file-util.h"
#include "basic/macros.h"
#include "basic/sha256.h"
#include "basic/strv.h"
#include "config.h"
#include "policy-internal.h"
#include "policy/policy-compiled.h"

#define POLICY_FILE_MAX (1024 * 1024)

/* Whole file into memory; -ENOENT is returned as is so the caller can treat a missing
 * optional file as absent. */
static int read_file(const char *path, char **ret, size_t *ret_len, MoatError *error) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t len = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                int r = -errno;
                if (r != -ENOENT)
                        moat_error_set(error, path, 0, 0, "cannot open: %s", strerror(-r));
                return r;
        }
        if (fstat(fd, &st) < 0)
                return moat_error_set(error, path, 0, 0, "cannot stat: %s", strerror(errno));
        if (!S_ISREG(st.st_mode))
                return moat_error_set(error, path, 0, 0, "not a regular file");
        int r = read_fd_bounded(fd, (size_t) st.st_size, POLICY_FILE_MAX, &buf, &len);
        if (r == -EFBIG)
                return moat_error_set(error, path, 0, 0, "larger than %d bytes", POLICY_FILE_MAX);
        if (r < 0)
                return moat_error_set(error, path, 0, 0, "cannot read: %s", strerror(-r));
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

/* Each file contributes its length (8 bytes, big-endian) and its bytes, so that moving bytes
 * from one file to the next changes the digest. */
static int digest_add(Sha256 *md, const char *buf, size_t len) {
        uint8_t l[8];
        for (int i = 0; i < 8; i++)
                l[i] = (uint8_t) ((uint64_t) len >> (56 - 8 * i));
        sha256_update(md, l, sizeof(l));
        sha256_update(md, buf, len);
        return 0;
}

static int cmp_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int sets_sorted(const char *dir, char ***ret, MoatError *error) {
        _cleanup_free_ char *path = NULL;
        _cleanup_strv_free_ char **names = NULL;
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (asprintf(&path, "%s/seccomp", dir) < 0)
                return -ENOMEM;
        d = opendir(path);
        if (!d)
                return moat_error_set(error, path, 0, 0, "cannot open the seccomp sets: %s",
                                      strerror(errno));
        while ((de = readdir(d))) {
                size_t n = strlen(de->d_name);
                if (de->d_name[0] == '.' || n < 6 || strcmp(de->d_name + n - 5, ".yaml") != 0)
                        continue;
                r = strv_extend(&names, de->d_name);
                if (r < 0)
                        break;
        }
        closedir(d);
        if (r < 0)
                return r;
        if (!names)
                return moat_error_set(error, path, 0, 0, "no seccomp sets (*.yaml) found");
        qsort(names, strv_length(names), sizeof(char *), cmp_names);
        *ret = TAKE_PTR(names);
        return 0;
}

static int load_one(Policy *p, Sha256 *md, const char *path, const char *name,
                    int (*parse)(Policy *, const char *, size_t, const char *, MoatError *),
                    MoatError *error) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r;

        r = read_file(path, &buf, &len, error);
        if (r == -ENOENT)
                return moat_error_set(error, path, 0, 0, "missing policy file");
        if (r < 0)
                return r;
        r = digest_add(md, buf, len);
        if (r < 0)
                return r;
        return parse(p, buf, len, name, error);
}

static int load_shipped(Policy *p, Sha256 *md, const char *dir, MoatError *error) {
        _cleanup_strv_free_ char **sets = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        /* Shipped files are named relative to the data directory ("policies/escalation.yaml"):
         * that is how rule origins and the audit record cite them on every host. */
        if (asprintf(&path, "%s/escalation.yaml", dir) < 0)
                return -ENOMEM;
        r = load_one(p, md, path, "policies/escalation.yaml", policy_parse_rules_buffer, error);
        if (r < 0)
                return r;
        r = sets_sorted(dir, &sets, error);
        if (r < 0)
                return r;
        STRV_FOREACH (s, sets) {
                _cleanup_free_ char *full = NULL, *name = NULL;
                if (asprintf(&full, "%s/seccomp/%s", dir, *s) < 0 ||
                    asprintf(&name, "policies/seccomp/%s", *s) < 0)
                        return -ENOMEM;
                r = load_one(p, md, full, name, policy_parse_seccomp_set_buffer, error);
                if (r < 0)
                        return r;
                const SeccompSet *set = &p->seccomp_sets[p->n_seccomp_sets - 1];
                if (strlen(set->name) + 5 != strlen(*s) ||
                    strncmp(set->name, *s, strlen(set->name)) != 0)
                        return moat_error_set(error, name, 0, 0,
                                              "set name '%s' does not match the file name",
                                              set->name);
        }
        if (!policy_find_seccomp_set(p, "default"))
                return moat_error_set(
                        error, dir, 0, 0,
                        "the seccomp set 'default' (seccomp/default.yaml) is missing");
        return 0;
}

/* The compiled policy (policy-compiled.h) if dir holds exactly the files it was made from:
 * the same names in the same order as load_shipped() reads them, every byte equal. Then the
 * policy is the one the parser makes from these bytes and the digest is theirs. Else NULL, and
 * the caller parses (and reports whatever is wrong with the files). */
static Policy *compiled_match(const char *dir) {
        const PolicyCompiled *c = &moat_policy_compiled;
        _cleanup_strv_free_ char **sets = NULL;
        MoatError ignored = {};

        if (!c || !c->policy || c->n_files < 1 || sets_sorted(dir, &sets, &ignored) < 0 ||
            strv_length(sets) + 1 != c->n_files)
                return NULL;
        for (size_t i = 0; i < c->n_files; i++) {
                _cleanup_free_ char *path = NULL, *buf = NULL;
                size_t len = 0;

                if (i == 0 ? strcmp(c->files[0].name, "escalation.yaml") != 0
                           : strncmp(c->files[i].name, "seccomp/", 8) != 0 ||
                                     strcmp(c->files[i].name + 8, sets[i - 1]) != 0)
                        return NULL;
                if (asprintf(&path, "%s/%s", dir, c->files[i].name) < 0)
                        return NULL;
                if (read_file(path, &buf, &len, &ignored) < 0 || len != c->files[i].len ||
                    memcmp(buf, c->files[i].bytes, len) != 0)
                        return NULL;
        }
        return c->policy;
}

int policy_load(const char *dir, const char *site_file, Policy **ret, MoatError *error) {
        _cleanup_policy_ Policy *p = NULL;
        Sha256 md;
        int r;

        if (!dir)
                dir = MOAT_INSTALLED_DATA_DIR "/policies";
        /* The default site file is optional; an explicit one is not. */
        if (!site_file && access("/etc/moat/policy.yaml", F_OK) == 0)
                site_file = "/etc/moat/policy.yaml";
        /* A site file is parsed, and so is the shipped policy under it: the digest covers
         * both, in order. */
        if (!(site_file && site_file[0])) {
                Policy *c = compiled_match(dir);
                if (c) {
                        *ret = c;
                        return 0;
                }
        }
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        sha256_init(&md);
        r = load_shipped(p, &md, dir, error);
        if (r >= 0 && site_file && site_file[0])
                r = load_one(p, &md, site_file, site_file, policy_parse_site_buffer, error);
        sha256_final(&md, p->digest);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

/* SPDX-License-Identifier: MIT */
/* The image store of the system tier: read-only root file systems, content-addressed.
 *
 * Layout under the store directory (image_store_dir()):
 *   sha256/<hex>/rootfs       the extracted tree; <hex> is the SHA-256 of the imported tarball
 *   names/<NAME>              a symlink to ../sha256/<hex>
 *   shifted/<hex>-<base>/     root only: a copy whose uids and gids are moved up by <base>, for
 *                             the id range moat reserves (lxc-idmap.c); made once, then reused
 *   tmp/                      imports and builds in progress (removed when they end)
 *
 * Nothing in a run writes into sha256/ or shifted/: each run's writes go to its own overlay
 * upper. Only `moat image` (import, build, rm) and the first run on a new id range change the
 * store. Runs by root use /var/lib/moat/images; an unprivileged user's runs use
 * $XDG_DATA_HOME/moat/images (default ~/.local/share/moat/images). $MOAT_IMAGE_DIR overrides
 * both (tests). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define IMAGE_NAME_MAX 64

typedef struct ImageInfo {
        char name[IMAGE_NAME_MAX + 1];
        char digest[65]; /* lower-case hex SHA-256 of the tarball it was imported from */
        char *rootfs;    /* absolute path of the extracted tree */
} ImageInfo;

void image_info_done(ImageInfo *i);

/* A name is [A-Za-z0-9][A-Za-z0-9._-]{0,63}: never a path, so `root: {image: NAME}` and
 * `root: {image: ./dir}` cannot be confused. */
static inline bool image_name_valid(const char *name) {
        size_t n = strlen(name);
        if (n == 0 || n > IMAGE_NAME_MAX)
                return false;
        if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z') ||
              (name[0] >= '0' && name[0] <= '9')))
                return false;
        return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
               n;
}

/* The store directory for the calling user (not created). */
int image_store_dir(char **ret);

/* Look NAME up in the store: -ENOENT when it is not there. */
int image_lookup(const char *name, ImageInfo *ret);

/* Import TARBALL (any compression tar reads) as NAME, replacing an older NAME. Progress goes to
 * stderr when it is a terminal and !quiet. */
int image_import(const char *name, const char *tarball, bool quiet, ImageInfo *ret);

/* Build NAME with mmdebstrap (minbase, merged-usr) from MIRROR (NULL: the archive of this
 * host's apt sources), DIST (NULL: bookworm), extra packages (NULL-terminated, may be NULL).
 * Retried `attempts` times when the archive does not answer. Root only. */
int image_build(const char *name, const char *dist, const char *mirror, char *const *include,
                unsigned attempts, bool quiet, ImageInfo *ret);

/* Remove NAME; the tree (and its shifted copies) goes when no other name refers to it. */
int image_remove(const char *name);

/* Call fn for every name in the store, sorted. */
int image_foreach(int (*fn)(const ImageInfo *i, void *userdata), void *userdata);

/* Root only: the copy of `info` shifted by base (uids and gids 0..65535 -> base..base+65535),
 * made on first use under shifted/. *ret is its path. */
int image_shifted(const ImageInfo *info, uint32_t base, char **ret);

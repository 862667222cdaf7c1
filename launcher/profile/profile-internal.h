/* SPDX-License-Identifier: MIT */
/* PURE. Internals of the profile loader, shared by its files and the unit tests.
 *
 * A profile file is first read into a small tree of YNodes: libyaml's events with the
 * features moat does not accept (anchors, aliases, tags, several documents, duplicate
 * keys, non-scalar keys) refused, every node keeping the file:line:column it came from.
 * "extends:" is resolved on these trees (maps merge key by key, scalars and lists are
 * replaced), and only the merged tree is converted to a Profile. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "profile.h"

#define PROFILE_MAX_SIZE (1024 * 1024)
#define PROFILE_MAX_EXTENDS 8
#define YNODE_MAX_DEPTH 32
/* Per list or mapping. The language needs a few dozen at most; the bound keeps duplicate-key
 * and duplicate-entry checks (quadratic) fast on a hostile 1 MiB file. */
#define YNODE_MAX_ENTRIES 1024
#define PROFILE_TMPFS_DEFAULT_SIZE (UINT64_C(64) << 20) /* ProfileTmpfs.size == 0 */

typedef enum YNodeKind {
        YNODE_SCALAR,
        YNODE_SEQ,
        YNODE_MAP,
} YNodeKind;

/* How a scalar resolves under the YAML 1.2 core schema (quoted scalars are always strings). */
typedef enum YScalarType {
        YSCALAR_NULL,
        YSCALAR_BOOL,
        YSCALAR_INT,
        YSCALAR_FLOAT,
        YSCALAR_STRING,
} YScalarType;

typedef struct YNode YNode;
typedef struct YPair {
        YNode *key; /* always a scalar */
        YNode *value;
} YPair;

struct YNode {
        YNodeKind kind;
        SrcPos pos;
        /* YNODE_SCALAR */
        char *value;
        YScalarType type;
        /* YNODE_SEQ */
        YNode **items;
        size_t n_items;
        /* YNODE_MAP */
        YPair *pairs;
        size_t n_pairs;
};

YNode *ynode_free(YNode *n);
static inline void ynode_freep(YNode **n) {
        *n = ynode_free(*n);
}
#define _cleanup_ynode_ __attribute__((cleanup(ynode_freep)))

/* Parse one YAML document; file must stay valid as long as the tree (it is stored in SrcPos). */
int ynode_parse(const char *buf, size_t len, const char *file, YNode **ret, MoatError *error);
/* The value for key in a map, or NULL. */
YNode *ynode_map_get(const YNode *map, const char *key);
/* Merge overlay into base (both maps): keys of overlay replace those of base, except that
 * when both values are maps they are merged recursively. Consumes overlay. */
int ynode_merge(YNode *base, YNode *overlay);
const char *ynode_describe(const YNode *n); /* "a string", "a list", ... for messages */

/* Tree -> Profile fields (everything but path, files and digest); errors point at the node's
 * own file. Each file of a chain is checked alone (resolved = false), then the merged tree
 * (resolved = true) also gets the rules that relate several keys. */
int profile_from_tree(Profile *p, const YNode *root, bool resolved, MoatError *error);

/* Canonical JSON (sorted keys, compact) of the profile without path/files/digest. */
int profile_compute_digest(Profile *p);

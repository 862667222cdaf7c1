/* SPDX-License-Identifier: MIT */
/* PURE. Strict access to a libyaml document for the policy files: every accessor checks the
 * node type and reports file:line:column with the expected form; mappings reject unknown and
 * duplicate keys. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "basic/error.h"
#include "profile/profile.h"

typedef struct PolicyYaml {
        yaml_document_t doc;
        bool loaded;
        const char *file; /* owned by the caller; outlives the document */
} PolicyYaml;

/* Exactly one document; an empty file is an error. */
int policy_yaml_load(PolicyYaml *y, const char *buf, size_t len, const char *file,
                     MoatError *error);
void policy_yaml_done(PolicyYaml *y);
yaml_node_t *policy_yaml_root(PolicyYaml *y);

SrcPos policy_yaml_pos(const PolicyYaml *y, const yaml_node_t *n);
int policy_yaml_error(const PolicyYaml *y, const yaml_node_t *n, MoatError *error, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));

/* n must be a mapping whose keys are unique scalars from allowed (NULL-terminated). */
int policy_yaml_check_mapping(PolicyYaml *y, yaml_node_t *n, const char *what,
                              const char *const *allowed, MoatError *error);
/* Value of key in a checked mapping, or NULL; ret_key (optional) gets the key node. */
yaml_node_t *policy_yaml_get(PolicyYaml *y, yaml_node_t *map, const char *key,
                             yaml_node_t **ret_key);

int policy_yaml_string(PolicyYaml *y, yaml_node_t *n, const char *what, char **ret,
                       MoatError *error);
/* The scalar text without copying; error if n is not a non-empty plain scalar. */
int policy_yaml_scalar(PolicyYaml *y, yaml_node_t *n, const char *what, const char **ret,
                       MoatError *error);
int policy_yaml_bool(PolicyYaml *y, yaml_node_t *n, const char *what, bool *ret, MoatError *error);
/* Decimal or 0x-hexadecimal, no sign, fits in max. */
int policy_yaml_uint(PolicyYaml *y, yaml_node_t *n, const char *what, uint64_t max, uint64_t *ret,
                     MoatError *error);
int policy_yaml_check_sequence(PolicyYaml *y, yaml_node_t *n, const char *what, MoatError *error);
size_t policy_yaml_sequence_length(yaml_node_t *n);
yaml_node_t *policy_yaml_sequence_item(PolicyYaml *y, yaml_node_t *n, size_t i);
/* A sequence of scalars -> strv (duplicates are an error). */
int policy_yaml_strv(PolicyYaml *y, yaml_node_t *n, const char *what, char ***ret,
                     MoatError *error);

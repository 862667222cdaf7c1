/* SPDX-License-Identifier: MIT */
/* PURE. Shared between the policy files; not part of the policy API. */
#pragma once

#include "policy-yaml.h"
#include "policy/policy.h"

/* Check "moat: 1" in a top-level mapping that was already key-checked. */
int policy_check_version(PolicyYaml *y, yaml_node_t *root, MoatError *error);
/* Remember filename in p->files (for the digest and for origins); returns the stable copy. */
int policy_add_file(Policy *p, const char *filename, const char **ret);
int policy_errno_from_name(const char *name);
const char *policy_errno_to_name(int e);
void seccomp_set_done(SeccompSet *s);

/* SPDX-License-Identifier: MIT */
/* PURE. Shared between the oci/ files; not part of their API. */
#pragma once

#include <jansson.h>

#include "basic/strv.h"
#include "oci/oci-plan.h"

/* error = "config.json: KEY: message"; returns -EINVAL. */
int oci_spec_error(MoatError *e, const char *key, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
int oci_spec_check_keys(json_t *obj, const char *where, const char *const *allowed, MoatError *e);
bool oci_spec_is_set(json_t *v);
int oci_spec_strv(json_t *v, const char *where, char ***ret, MoatError *e);
int oci_spec_u64(json_t *v, const char *where, uint64_t *ret, MoatError *e);
bool oci_path_is_normal(const char *p);
int oci_spec_check_seccomp(json_t *sc, MoatError *e);
/* -EPERM with bad = the key of the first rule that allows a device moat's /dev lacks. */
int oci_spec_check_devices(json_t *devs, char *bad, size_t bad_size);
int oci_rlimit_from_name(const char *name);
int oci_namespace_from_string(const char *s);

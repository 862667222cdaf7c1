/* SPDX-License-Identifier: MIT */
/* The seccomp filter of an OCI runtime spec (linux.seccomp, validated by oci/oci-spec.c),
 * compiled with libseccomp in the parent like moat's own and loaded after it in the container's
 * init: the kernel runs both filters and the stricter action wins. */
#pragma once

#include <linux/filter.h>

#include "sys/seccomp.h"

struct json_t;
/* 0, -EINVAL for a rule libseccomp rejects (an unknown syscall name is skipped, as runc does:
 * a name this kernel and libseccomp do not know cannot be called), -ENOMEM. */
int sys_seccomp_compile_oci(struct json_t *spec_seccomp, SeccompProgram *ret);
int sys_seccomp_export_ctx(void *ctx, struct sock_fprog *ret);

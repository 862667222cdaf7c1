/* SPDX-License-Identifier: MIT */
/* setrlimit in the child; contract in rlimit.h. */
#include <errno.h>
#include <stdint.h>
#include <sys/resource.h>

#include "basic/macros.h"
#include "sys/rlimit.h"

static rlim_t to_rlim(uint64_t v) {
        return v == UINT64_MAX ? RLIM_INFINITY : (rlim_t) v;
}

int sys_rlimit_apply(const PlanRlimit *limits, size_t n, size_t *ret_failed) {
        for (size_t i = 0; i < n; i++) {
                struct rlimit rl = { .rlim_cur = to_rlim(limits[i].soft),
                                     .rlim_max = to_rlim(limits[i].hard) };
                if (setrlimit((__rlimit_resource_t) limits[i].resource, &rl) < 0) {
                        *ret_failed = i;
                        return -errno;
                }
        }
        return 0;
}

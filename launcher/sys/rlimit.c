/* SPDX-License-Identifier: MIT */
/* setrlimit in the child; contract in rlimit.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>

#include "basic/macros.h"
#include "sys/rlimit.h"

static rlim_t to_rlim(uint64_t v) {
        return v == UINT64_MAX ? RLIM_INFINITY : (rlim_t) v;
}

/* Limits that only contain the workload: one already lower than the plan's is stricter, and is
 * kept rather than raised (which needs CAP_SYS_RESOURCE in the initial user namespace, so an
 * unprivileged caller whose hard limit is lower would otherwise fail to start at all).
 * RLIMIT_NOFILE is not among them: a profile's nofile is also what the workload is promised. */
static bool contains_only(int resource) {
        return resource == RLIMIT_NPROC || resource == RLIMIT_AS || resource == RLIMIT_FSIZE ||
               resource == RLIMIT_CPU || resource == RLIMIT_CORE;
}

int sys_rlimit_apply(const PlanRlimit *limits, size_t n, size_t *ret_failed) {
        for (size_t i = 0; i < n; i++) {
                struct rlimit rl = { .rlim_cur = to_rlim(limits[i].soft),
                                     .rlim_max = to_rlim(limits[i].hard) };
                struct rlimit now;

                /* A hard limit of 0 is as strict as it gets: nothing to read first. */
                if (contains_only(limits[i].resource) && rl.rlim_max != 0 &&
                    getrlimit((__rlimit_resource_t) limits[i].resource, &now) == 0 &&
                    now.rlim_max != RLIM_INFINITY &&
                    (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > now.rlim_max)) {
                        rl.rlim_max = now.rlim_max;
                        if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > rl.rlim_max)
                                rl.rlim_cur = rl.rlim_max;
                }
                if (setrlimit((__rlimit_resource_t) limits[i].resource, &rl) < 0) {
                        *ret_failed = i;
                        return -errno;
                }
        }
        return 0;
}

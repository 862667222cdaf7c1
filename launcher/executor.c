/* SPDX-License-Identifier: MIT */
/* RunOutcome helpers shared by every executor. */
#include <stdlib.h>

#include "executor.h"

void run_outcome_done(RunOutcome *o) {
        if (!o)
                return;
        free(o->controls);
        o->controls = NULL;
        o->n_controls = 0;
        free(o->denials);
        o->denials = NULL;
        o->n_denials = 0;
        free(o->network.dest);
        o->network.dest = NULL;
        o->network.n_dest = 0;
}

const char *control_outcome_to_string(ControlOutcome c) {
        static const char *const names[_CONTROL_OUTCOME_MAX] = {
                [CONTROL_OUTCOME_APPLIED] = "applied",
                [CONTROL_OUTCOME_DEGRADED] = "degraded",
                [CONTROL_OUTCOME_NOT_APPLICABLE] = "not-applicable",
                [CONTROL_OUTCOME_FAILED] = "failed",
                [CONTROL_OUTCOME_NOT_REACHED] = "not-reached",
        };
        if ((unsigned) c < _CONTROL_OUTCOME_MAX)
                return names[c];
        return NULL;
}

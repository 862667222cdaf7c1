/* SPDX-License-Identifier: MIT */
/* The container lifecycle of `moat oci` (oci-run.c): create, start, state, kill, delete, ps,
 * over a state directory per container under --root. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "oci/oci-plan.h"

typedef struct OciGlobal {
        const char *root;
        const char *log;
        bool log_json;
        bool systemd_cgroup;
        const char *profile; /* from the program name or --profile */
        FILE *log_file;
} OciGlobal;

void oci_log(OciGlobal *g, const char *level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* config.json of bundle + the handler's profile -> OciPlan; failures are logged. */
struct RunContext;
/* ret_ctx: when not NULL, receives the policy and host facts too (run_context_done() it). */
int oci_load_plan(OciGlobal *g, const char *bundle, const char *host_facts, const char *policy_file,
                  OciPlan **ret, struct RunContext *ret_ctx);

/* Each returns the process exit status; errors are logged with the engines' words. */
int oci_create(OciGlobal *g, int argc, char **argv);
int oci_start(OciGlobal *g, int argc, char **argv);
int oci_state(OciGlobal *g, int argc, char **argv);
int oci_kill(OciGlobal *g, int argc, char **argv);
int oci_delete(OciGlobal *g, int argc, char **argv);
int oci_ps(OciGlobal *g, int argc, char **argv);
int oci_exec(OciGlobal *g, int argc, char **argv);
int oci_update(OciGlobal *g, int argc, char **argv);
int oci_pause(OciGlobal *g, int argc, char **argv);
int oci_resume(OciGlobal *g, int argc, char **argv);

/* SPDX-License-Identifier: MIT */
/* The three inputs of a run -> the plan. Reads the profile and policy files and probes the
 * host read-only (or loads recorded host facts); changes nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/macros.h"
#include "basic/strv.h"
#include "config.h"
#include "context.h"
#include "image/image.h"
#include "sys/heap.h"

const char *moat_data_dir(void) {
        /* Any non-empty value is used as given, exactly as the profile search path does, so
         * profiles and policies always come from the same tree. */
        const char *d = getenv("MOAT_DATA_DIR");
        if (d && d[0])
                return d;
        return MOAT_INSTALLED_DATA_DIR;
}

/* The absolute paths of the profile's writable bind sources that exist (relative sources are
 * relative to the work directory). */
static int writable_bind_sources(const Profile *pr, const char *workdir, char ***ret) {
        _cleanup_free_ char *cwd = NULL;
        char **l = NULL;

        if (!workdir && !(workdir = cwd = getcwd(NULL, 0)))
                return -errno;
        for (size_t i = 0; i < pr->fs.n_binds; i++) {
                const ProfileBind *b = &pr->fs.binds[i];
                _cleanup_free_ char *path = NULL;
                if (b->mode != BIND_RW)
                        continue;
                if (b->source[0] == '/' || strcmp(b->source, ".") == 0)
                        path = strdup(b->source[0] == '/' ? b->source : workdir);
                else if (asprintf(&path, "%s/%s", workdir, b->source) < 0)
                        path = NULL;
                if (!path ||
                    (!(b->optional && access(path, F_OK) < 0) && strv_extend(&l, path) < 0)) {
                        strv_free(l);
                        return -ENOMEM;
                }
        }
        *ret = l;
        return 0;
}

/* `root: {image: NAME}`: the tree and digest of NAME in the caller's image store. The plan
 * names the digest, so the audit record says exactly which image a run used. */
static int resolve_image(Profile *p, MoatError *error) {
        ImageInfo info = {};
        _cleanup_free_ char *store = NULL;
        int r;

        if (p->fs.root != ROOT_IMAGE || !p->fs.image_name)
                return 0;
        r = image_lookup(p->fs.image_name, &info);
        if (r == -ENOENT && access(p->fs.image, F_OK) == 0) {
                /* no such image, but a directory of that name beside the profile */
                p->fs.image_name = (free(p->fs.image_name), NULL);
                return 0;
        }
        if (r < 0) {
                (void) image_store_dir(&store);
                return moat_error_set(error, p->fs.pos.file ? p->fs.pos.file : p->path,
                                      p->fs.pos.line, p->fs.pos.column,
                                      "filesystem.root.image: no usable image named '%s' in %s "
                                      "(%s; see moat image list, moat image build/import)",
                                      p->fs.image_name, store ? store : "the image store",
                                      strerror(-r));
        }
        free(p->fs.image);
        p->fs.image = TAKE_PTR(info.rootfs);
        memcpy(p->fs.image_digest, info.digest, sizeof(p->fs.image_digest));
        return 0;
}

int run_context_load_profile(const RunContextArgs *args, RunContext *ctx, MoatError *error) {
        int r;

        *ctx = (RunContext){};
        if (!args->profile)
                return moat_error_set(error, "--profile", 0, 0,
                                      "a profile is required (-p NAME or -p FILE)");

        r = profile_load(args->profile, &ctx->profile, error);
        if (r >= 0)
                r = resolve_image(ctx->profile, error);
        if (r < 0)
                run_context_done(ctx);
        return r;
}

int run_context_load(const RunContextArgs *args, RunContext *ctx, MoatError *error) {
        int r = run_context_load_profile(args, ctx, error);
        return r < 0 ? r : run_context_load_rest(args, ctx, error);
}

int run_context_load_rest(const RunContextArgs *args, RunContext *ctx, MoatError *error) {
        _cleanup_free_ char *policies = NULL;
        int r;

        if (!args->policies_dir && asprintf(&policies, "%s/policies", moat_data_dir()) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        r = policy_load(args->policies_dir ? args->policies_dir : policies, args->policy_file,
                        &ctx->policy, error);
        if (r < 0)
                goto fail;

        if (args->host_facts_file)
                r = host_facts_from_json_file(args->host_facts_file, &ctx->host, error);
        else
                r = host_facts_probe_flags(&ctx->host, args->probe_flags);
        if (r < 0) {
                if (!moat_error_is_set(error))
                        moat_error_set(error, args->host_facts_file ? args->host_facts_file : "", 0,
                                       0, "cannot learn what this host can enforce: %s",
                                       strerror(-r));
                goto fail;
        }
        if (!args->host_facts_file && ctx->profile->resources.disk) {
                char **dirs = NULL;
                r = writable_bind_sources(ctx->profile, args->workdir, &dirs);
                if (r >= 0)
                        r = host_probe_project_quota(&ctx->host, dirs);
                strv_free(dirs);
                if (r < 0) {
                        moat_error_set(error, "", 0, 0, "cannot probe project quotas: %s",
                                       strerror(-r));
                        goto fail;
                }
        }

        r = plan_resolve(ctx->profile, ctx->policy, &ctx->host, &ctx->plan);
        if (r < 0) {
                moat_error_set(error, "", 0, 0, "cannot resolve the plan: %s", strerror(-r));
                goto fail;
        }
        /* The tier is decided from the base facts alone (plan-resolve.c: the findings); a vm
         * or system plan is then built, judged and explained from the whole probe, resolved
         * again. A sandbox plan is the same either way (tests/unit/host/test-host-staged.c). */
        if (ctx->host.partial && ctx->plan->tier != TIER_SANDBOX) {
                r = host_facts_probe_rest(&ctx->host, args->probe_flags & ~HOST_PROBE_BASE);
                if (r < 0) {
                        moat_error_set(error, "", 0, 0,
                                       "cannot learn what this host can enforce: %s", strerror(-r));
                        goto fail;
                }
                r = run_context_resolve_again(ctx, error);
                if (r < 0)
                        goto fail;
        }
        return 0;
fail:
        run_context_done(ctx);
        return r;
}

int run_context_resolve_again(RunContext *ctx, MoatError *error) {
        Plan *plan = NULL;
        int r;

        r = plan_resolve(ctx->profile, ctx->policy, &ctx->host, &plan);
        if (r < 0)
                return moat_error_set(error, "", 0, 0, "cannot resolve the plan: %s", strerror(-r));
        plan_free(ctx->plan);
        ctx->plan = plan;
        return 0;
}

typedef struct Originals {
        Plan *plan;
        Profile *profile;
        HostFacts host;
        void *mark; /* sys_heap_scratch_mark() */
} Originals;

static int originals_free(void *userdata) {
        Originals *o = userdata;

        plan_free(o->plan);
        profile_free(o->profile);
        host_facts_done(&o->host);
        o->mark = sys_heap_scratch_mark();
        return 0;
}

int run_context_compact(RunContext *ctx) {
        Originals o = { .plan = ctx->plan, .profile = ctx->profile, .host = ctx->host };
        HostFacts host;
        Plan *plan;
        int r;

        if (!ctx->plan)
                return 0;
        r = plan_dup(ctx->plan, &plan);
        if (r < 0)
                return r;
        r = host_facts_copy(&ctx->host, &host);
        if (r < 0) {
                plan_free(plan);
                return r;
        }
        ctx->plan = plan;
        ctx->host = host;
        ctx->profile = NULL;
        (void) sys_heap_scratch(originals_free, &o);
        sys_heap_scratch_release(o.mark);
        return 0;
}

void run_context_done(RunContext *ctx) {
        ctx->plan = plan_free(ctx->plan);
        ctx->policy = policy_free(ctx->policy);
        ctx->profile = profile_free(ctx->profile);
        host_facts_done(&ctx->host);
}

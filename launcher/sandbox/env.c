/* SPDX-License-Identifier: MIT */
/* The workload's environment, built in the parent: start empty (env_clear) or from the
 * caller's environment, pass through the names in env_allow ("NAME" or a "PREFIX*" pattern),
 * then apply env_set ("KEY=VALUE", last one wins). PATH is always present: a sandbox without
 * one could not find any command, and inheriting the caller's could point into directories
 * that are not in the sandbox. */
#include <errno.h>
#include <fnmatch.h>
#include <string.h>

#include "basic/macros.h"
#include "basic/strv.h"
#include "sandbox/sandbox-internal.h"

#define SANDBOX_DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static bool name_allowed(char *const *allow, const char *entry) {
        size_t nl = strcspn(entry, "=");
        char name[256];
        if (nl >= sizeof(name))
                return false;
        memcpy(name, entry, nl);
        name[nl] = 0;
        STRV_FOREACH (a, allow)
                if (fnmatch(*a, name, 0) == 0)
                        return true;
        return false;
}

/* Replace the entry for the same name, or append. */
static int env_put(char ***env, const char *entry) {
        size_t nl = strcspn(entry, "=");
        for (char **e = *env; e && *e; e++)
                if (strncmp(*e, entry, nl) == 0 && (*e)[nl] == '=') {
                        char *copy = strdup(entry);
                        if (!copy)
                                return -ENOMEM;
                        free(*e);
                        *e = copy;
                        return 0;
                }
        return strv_extend(env, entry);
}

int sandbox_env_build(const Plan *plan, char **caller_env, char ***ret) {
        _cleanup_strv_free_ char **env = NULL;
        int r;

        STRV_FOREACH (e, caller_env) {
                if (!strchr(*e, '='))
                        continue;
                if (plan->env_clear && !name_allowed(plan->env_allow, *e))
                        continue;
                r = env_put(&env, *e);
                if (r < 0)
                        return r;
        }
        STRV_FOREACH (s, plan->env_set) {
                if (!strchr(*s, '='))
                        return -EINVAL;
                r = env_put(&env, *s);
                if (r < 0)
                        return r;
        }
        bool has_path = false;
        STRV_FOREACH (e, env)
                if (strncmp(*e, "PATH=", 5) == 0)
                        has_path = true;
        if (!has_path) {
                r = strv_extend(&env, SANDBOX_DEFAULT_PATH);
                if (r < 0)
                        return r;
        }
        if (!env) {
                env = calloc(1, sizeof(char *));
                if (!env)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(env);
        return 0;
}

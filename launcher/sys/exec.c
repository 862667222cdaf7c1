/* SPDX-License-Identifier: MIT */
/* PATH search and execve; contract in exec.h. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "basic/macros.h"
#include "sys/exec.h"

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

static const char *env_path(char *const envp[]) {
        for (char *const *e = envp; e && *e; e++)
                if (strncmp(*e, "PATH=", 5) == 0)
                        return *e + 5;
        return DEFAULT_PATH;
}

int sys_exec_search(char *const argv[], char *const envp[]) {
        const char *name = argv[0];
        int best = -ENOENT;

        if (!name || !*name)
                return -ENOENT;
        if (strchr(name, '/')) {
                execve(name, argv, envp);
                return -errno;
        }
        for (const char *p = env_path(envp);;) {
                const char *end = strchrnul(p, ':');
                char candidate[PATH_MAX];
                size_t dl = (size_t) (end - p);

                if (dl == 0)
                        candidate[0] = '.', dl = 1;
                else if (dl < sizeof(candidate))
                        memcpy(candidate, p, dl);
                if (dl + 1 + strlen(name) < sizeof(candidate)) {
                        candidate[dl] = '/';
                        strcpy(candidate + dl + 1, name);
                        execve(candidate, argv, envp);
                        /* Like execvp(): a missing or non-directory candidate moves on; any
                         * other failure is remembered and reported if nothing else runs. */
                        if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE)
                                best = -errno;
                }
                if (*end == 0)
                        break;
                p = end + 1;
        }
        return best;
}

/* SPDX-License-Identifier: MIT */
/* execve of the workload with a PATH search done against the sandbox's own environment (not
 * moat's: execvpe() would read moat's PATH). Runs in the workload process as its very last
 * step; on success it does not return. */
#pragma once

/* Returns -errno of the most telling failure: -ENOENT when no candidate exists (exit 127),
 * -EACCES/-ENOEXEC/... when one exists but cannot be executed (exit 126). */
int sys_exec_search(char *const argv[], char *const envp[]);

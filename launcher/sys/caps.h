/* SPDX-License-Identifier: MIT */
/* Capabilities and no_new_privs: run in the child, after the LSM exec label and before
 * Landlock and seccomp, inside the sandbox's user namespace (where the child holds a full
 * capability set over that namespace only). What they leave behind is permanent for the process
 * and its descendants: no_new_privs set, and every capability set (bounding, ambient,
 * inheritable, permitted, effective) reduced to the kept list. */
#pragma once

#include <stddef.h>

/* prctl(PR_SET_NO_NEW_PRIVS, 1). 0 or -errno. */
int sys_no_new_privs(void);

/* Drop every capability except keep[0..n_keep) (CAP_* numbers) from the bounding set, then set
 * inheritable = permitted = effective = keep and raise keep in the ambient set, so kept caps
 * survive execve() of a non-setuid binary by a non-root uid. With n_keep == 0 every set ends up
 * empty. The secure bits are not changed (see caps.c). Needs CAP_SETPCAP in the current user
 * namespace for the bounding-set drop, and each kept cap to be permitted already. 0 or -errno. */
int sys_caps_drop_except(const int *keep, size_t n_keep);

/* For one program the process starts while it still holds cap (nft, run by the sandbox's init
 * as a uid other than 0 of its user namespace, which execve() would strip of every capability):
 * cap made inheritable and ambient, so that the program has it. 0 or -errno. */
int sys_caps_ambient_raise(int cap);
/* Ambient and inheritable emptied again, right after that program. 0 or -errno. */
int sys_caps_ambient_clear(void);

/* SPDX-License-Identifier: MIT */
/* seccomp: the parent compiles, the child loads.
 *
 * sys_seccomp_compile() runs in the moat parent, unprivileged, before the child is created. It
 * uses libseccomp to build one filter covering x86-64, x32 and i386 (every other audit arch is
 * killed), exports it as classic BPF into memory the SeccompProgram owns, and changes no kernel
 * state. sys_seccomp_load() runs in the child as the last step before exec (after no_new_privs,
 * capabilities and Landlock); it makes exactly one seccomp(2) call, so the child never runs
 * libseccomp code after its mounts and credentials are in place. The filter stays on the
 * process and every descendant for good; the only other thing it leaves behind is the listener
 * fd (O_CLOEXEC) when the program was compiled for denial notification. */
#pragma once

#include <linux/filter.h>
#include <stdbool.h>
#include <stdint.h>

#include "plan/plan.h"

typedef struct SeccompProgram {
        struct sock_fprog fprog; /* the BPF: malloc()ed, or the binary's own when precompiled */
        bool notify;             /* deny rules return SECCOMP_RET_USER_NOTIF */
        bool precompiled;        /* fprog.filter is a build-time program (read-only, not owned) */
} SeccompProgram;

#define SECCOMP_KEY_BYTES 32
/* Bumped whenever what sys_seccomp_compile() makes of a PlanSeccomp changes, or the bytes a key
 * is made of (2: a rule's argument comparisons up to n_args only). */
#define SECCOMP_KEY_FORMAT "moat-seccomp-2"

/* Parent. 0 or -errno: -EINVAL for a rule the filter cannot express (a syscall name unknown on
 * every ABI of the machine's family, an argument index > 5, an ERRNO default, a foreign-ABI action
 * other than KILL, two rules for one syscall that would answer with different results), -ENOMEM.
 * A rule for a syscall that only ABIs outside the filter have is skipped: those ABIs are killed
 * whole. Deny rules become SCMP_ACT_ERRNO(errno), or SCMP_ACT_NOTIFY when p->notify_denials
 * (the supervisor then answers with the same errno, see seccomp-notify.h). */
int sys_seccomp_compile(const PlanSeccomp *p, SeccompProgram *ret);

/* SHA-256 over everything sys_seccomp_compile() reads from p (the ABIs, the actions, every rule
 * with its arguments, in order), the libseccomp version that compiles it and the native ABI.
 * Two rule sets with the same key compile to the same program. */
void sys_seccomp_key(const PlanSeccomp *p, uint8_t key[SECCOMP_KEY_BYTES]);

/* Parent. The program for p: the build-time one when p's key is among them, else
 * sys_seccomp_compile(p). Same errors as sys_seccomp_compile(). */
int sys_seccomp_program_for(const PlanSeccomp *p, SeccompProgram *ret);

/* Child. seccomp(SECCOMP_SET_MODE_FILTER) with SECCOMP_FILTER_FLAG_NEW_LISTENER when
 * prog->notify, so *ret_notify_fd is the listener (O_CLOEXEC), else -EBADF. No TSYNC: the child
 * is single-threaded. Requires no_new_privs already set (or CAP_SYS_ADMIN); returns -errno of
 * the seccomp(2) call (-EBUSY for a notify program when a filter with a listener is already
 * attached, as under another moat's supervisor: the kernel allows one listener per task).
 * ret_notify_fd may be NULL only when !prog->notify. */
int sys_seccomp_load(const SeccompProgram *prog, int *ret_notify_fd);

/* Frees the BPF; accepts a zeroed program. */
void sys_seccomp_program_done(SeccompProgram *p);

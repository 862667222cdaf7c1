/* SPDX-License-Identifier: MIT */
/* Signals and timers for the supervisor (moat parent) and the sandbox init: block the
 * forwarded set and read it from a signalfd, a CLOCK_MONOTONIC timerfd for the timeout. They
 * change only the calling thread's signal mask and create O_CLOEXEC fds. */
#pragma once

#include <signal.h>
#include <stdint.h>

/* SIGINT, SIGTERM, SIGHUP: what moat forwards into the sandbox. */
void sys_signal_forwarded_set(sigset_t *ret);
/* Block `set` (saving the old mask in *ret_old) and return a signalfd for it. */
int sys_signal_block_fd(const sigset_t *set, sigset_t *ret_old);
/* Read one signal from a signalfd: the signal number, 0 if none pending, -errno. */
int sys_signal_read(int sfd);
/* A one-shot timer firing after ms milliseconds. */
int sys_timer_fd(uint64_t ms);
int sys_timer_rearm(int tfd, uint64_t ms);

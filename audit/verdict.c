/* SPDX-License-Identifier: MIT */
/* PURE. How a run ended, in one word, from the facts the executor collected (executor.h):
 * moat's own decisions (refused, failed to start, the timeout, the cpu_time watcher, the
 * output relay) and the kernel's own counters (the memory cgroup's oom_kill, pids.events
 * "max"). Nothing is guessed from a signal alone: a SIGKILL is `signaled` unless a counter or
 * moat's own kill says why.
 * The mapping to isolate's meta file is in audit/README.md. */
#include <signal.h>
#include <string.h>

#include "audit.h"
#include "basic/macros.h"

static const char *const verdict_names[_RUN_VERDICT_MAX] = {
        [RUN_VERDICT_EXITED] = "exited",   [RUN_VERDICT_SIGNALED] = "signaled",
        [RUN_VERDICT_TIMEOUT] = "timeout", [RUN_VERDICT_CPU_TIME] = "cpu-time",
        [RUN_VERDICT_MEMORY] = "memory",   [RUN_VERDICT_PIDS] = "pids",
        [RUN_VERDICT_DISK] = "disk",       [RUN_VERDICT_OUTPUT] = "output",
        [RUN_VERDICT_REFUSED] = "refused", [RUN_VERDICT_FAILED_TO_START] = "failed-to-start",
};

const char *run_verdict_to_string(RunVerdict v) {
        if ((unsigned) v < _RUN_VERDICT_MAX)
                return verdict_names[v];
        return NULL;
}

RunVerdict run_verdict(const RunOutcome *o, bool refused) {
        if (!o)
                return refused ? RUN_VERDICT_REFUSED : RUN_VERDICT_FAILED_TO_START;
        if (!o->started)
                return RUN_VERDICT_FAILED_TO_START;
        /* moat's own kills first: they are certain, and they say why the tree is gone. */
        if (o->cpu_time_exceeded)
                return RUN_VERDICT_CPU_TIME;
        if (o->timed_out)
                return RUN_VERDICT_TIMEOUT;
        /* The relay passed on resources.output bytes and saw one more: it killed the tree (or
         * destroyed the guest), or cut the output of a tree that had just ended. */
        if (o->output_exceeded)
                return RUN_VERDICT_OUTPUT;
        /* The kernel killed a process of the tree for the memory limit (the counter, not the
         * SIGKILL it sent, which looks like any other). */
        if (o->oom_killed)
                return RUN_VERDICT_MEMORY;
        /* RLIMIT_CPU fallback: the kernel sends SIGXCPU at the soft limit. Only the command's
         * own death by it is seen (a shell's child killed so shows up in the shell's exit
         * code), and a process that catches SIGXCPU dies by SIGKILL at the hard limit, which
         * cannot be told from another SIGKILL: `signaled`. */
        if (o->cpu_rlimit_hard_ns && o->signal == SIGXCPU)
                return RUN_VERDICT_CPU_TIME;
        /* resources.disk's per-file fallback: the kernel sends SIGXFSZ to a write past
         * RLIMIT_FSIZE. Only the command's own death by it; a process that ignores SIGXFSZ
         * (Python does) gets EFBIG and exits as it likes: `exited`. */
        if (o->disk_rlimit_bytes && o->signal == SIGXFSZ)
                return RUN_VERDICT_DISK;
        /* resources.disk's project quota: a write past it fails with EDQUOT, no signal. The
         * project's usage at the limit (within the file system's allocation granularity and
         * metadata, 64 KiB) in a run that then did not succeed. */
        if (o->disk_quota_bytes && o->disk_added + 65536 >= o->disk_quota_bytes &&
            !(o->signal <= 0 && o->exit_code == 0))
                return RUN_VERDICT_DISK;
        /* A fork refused at pids.max, in a run that then did not succeed. A program that
         * handles EAGAIN from fork() and exits 0 did not fail because of the limit. */
        if (o->pids_max_events > 0 && !(o->signal <= 0 && o->exit_code == 0))
                return RUN_VERDICT_PIDS;
        if (o->signal > 0)
                return RUN_VERDICT_SIGNALED;
        return RUN_VERDICT_EXITED;
}

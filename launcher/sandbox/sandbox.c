/* SPDX-License-Identifier: MIT */
/* sandbox_execute(): the parent side of the sandbox tier.
 *
 * Runs in moat with the caller's credentials (root or not; no setuid helper). Before clone3 it
 * prepares the workload's environment, the limit cgroups (v2; v1's paths only, with a small
 * guard process that removes them should moat itself be killed), the sync socket, the
 * signalfd. One clone3 creates every namespace; the child runs in the parent's memory
 * (CLONE_VM, see start_child()). The parent writes the child's id maps and releases it
 * (MSG_GO), then makes the v1 cgroups while it sets up and hands it their tasks files
 * (MSG_CGROUP_FD), through which the child moves itself in (MSG_CGROUPS; the child starts
 * nothing before).
 * The seccomp program is ready before clone3 (built in, or compiled then). The parent waits
 * while the child sets up (wait_for_start()), then supervises: pidfd (exit), sync socket
 * (failures, degraded steps, the seccomp listener, exec success, the workload's wait status),
 * the listener (denials), the signalfd (SIGINT/SIGTERM/SIGHUP are forwarded to the sandbox's
 * init, which passes them to the workload), the timeout timer (SIGTERM, 2 s grace, then
 * SIGKILL of init: the kernel kills the whole pid namespace) and, for resources.cpu_time, the
 * watcher's timer (the cgroup's CPU time past the limit: SIGKILL of init, no grace) and, for
 * resources.output, the relay's pipes (output.c: the workload's stdout and stderr, passed on
 * to moat's own up to the cap; a byte more is a SIGKILL of init). Nothing is left behind when
 * it returns: init is reaped, the cgroups are removed, every fd is closed. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basic/macros.h"
#include "basic/strv.h"
#include "commands.h"
#include "sandbox/sandbox-internal.h"
#include "sys/cgroup.h"
#include "sys/fd.h"
#include "sys/heap.h"
#include "sys/lsm.h"
#include "sys/idmap.h"
#include "sys/ns.h"
#include "sys/raw-syscall.h"
#include "net/net-keep.h"
#include "net/dns-stub.h"
#include "net/netd.h"
#include "net/nft-pin.h"
#include "net/nft-rules.h"
#include "net/transparent.h"
#include "sys/seccomp-notify.h"
#include "sys/signal-fd.h"

#define TIMEOUT_GRACE_MS 2000

typedef struct Supervisor {
        const Plan *plan;
        pid_t pid;
        int pidfd, sync_fd, signal_fd, timer_fd, notify_fd;
        /* resources.cpu_time watcher: the cgroup's accounting file (borrowed from Prepared,
         * -EBADF: no watcher) and the timer that paces the reads */
        int cpu_usage_fd, cpu_timer_fd;
        CgroupMechanism cpu_mech;
        unsigned cpu_width; /* how many CPUs the tree can use at once */
        bool started, grace, have_status;
        int wait_status;
        OutputRelay *out;   /* resources.output (borrowed from Prepared); !out->active: none */
        SyncRecord failure; /* step < 0: none */
        int degraded[_STEP_MAX];
        DenialTable denials;
        pid_t net_pid;  /* network outbound: the proxy (the DNS stub for via transparent), 0 if
                        * none */
        int net_fd;     /* its decision records (NetRecord), -EBADF once done */
        int dns_fd[3];  /* via transparent: the stub's sockets from the child (MSG_DNS_FD) */
        int nft_fd;     /* moat's copy of the netfilter socket, read at the end (net_denied()) */
        NetSlirp slirp; /* via transparent: slirp4netns */
        RunOutcome *o;
} Supervisor;

/* network outbound: the child made the listener and waits for our answer, making no libc
 * call meanwhile, so we may fork the proxy here although we share its memory. */
static void on_proxy_fd(Supervisor *s, int fd) {
        int r = fd >= 0 && s->net_pid == 0
                        ? net_proxy_spawn(&s->plan->egress, fd, &s->net_pid, &s->net_fd)
                        : -EBADF;
        if (r >= 0)
                s->o->network.active = true;
        (void) sys_sync_send(s->sync_fd, MSG_PROXY_READY, r, -1, -EBADF);
}

/* via transparent: the child's three sockets for the DNS stub, one per message. The first two
 * arrive while the child still runs libc: kept with no call of ours. After the third the child
 * waits for our answer, so the stub is forked then. */
static void on_dns_fd(Supervisor *s, int index, int fd) {
        int r;

        if (index < 0 || index > 2 || fd < 0 || s->dns_fd[index] >= 0) {
                raw_close(fd);
                return;
        }
        s->dns_fd[index] = fd;
        if (index < 2)
                return;
        r = s->dns_fd[0] >= 0 && s->dns_fd[1] >= 0 && s->net_pid == 0
                    ? net_dns_spawn(&s->plan->egress, s->dns_fd[0], s->dns_fd[1], s->dns_fd[2],
                                    &s->net_pid, &s->net_fd)
                    : -EBADF;
        if (r >= 0)
                s->o->network.active = true;
        /* moat keeps the netfilter socket only (what the rules denied is read over it at the
         * end); the stub has its copies of all three */
        s->nft_fd = TAKE_FD(s->dns_fd[2]);
        for (int i = 0; i < 3; i++)
                s->dns_fd[i] = safe_close(s->dns_fd[i]);
        (void) sys_sync_send(s->sync_fd, MSG_PROXY_READY, r, -1, -EBADF);
}

static uint64_t now_ns(clockid_t clock);

/* via transparent, after the run: each address . port the rules rejected (TCP and UDP; the
 * ruleset keeps NFT_DENIED_SET_SIZE pairs per family), as a denied decision with its packet
 * count. Over moat's copy of the netfilter socket, which keeps the namespace. Not inlined: its
 * 5 KiB of counters would otherwise be in the frame of the supervision loop, resident while
 * any workload runs. */
static __attribute__((noinline)) void net_denied(Supervisor *s) {
        NftCounted c[2 * NFT_DENIED_SET_SIZE];
        size_t n = 0;
        RunNetwork *net = &s->o->network;

        if (s->nft_fd < 0)
                return;
        (void) net_denied_read(s->nft_fd, c, ELEMENTSOF(c), &n);
        s->nft_fd = safe_close(s->nft_fd);
        for (size_t i = 0; i < n; i++) {
                NetRecord rec = { .allowed = false, .port = c[i].port };
                inet_ntop(c[i].family, c[i].addr, rec.addr, sizeof(rec.addr));
                memcpy(rec.host, rec.addr, sizeof(rec.addr));
                snprintf(rec.method, sizeof(rec.method), "TCP/UDP");
                snprintf(rec.reason, sizeof(rec.reason), "not-in-allowlist");
                net_table_add(net, &rec);
                /* one pair, counted in packets */
                uint64_t more = c[i].packets > 1 ? c[i].packets - 1 : 0;
                net->denied += more;
                for (size_t k = 0; k < net->n_dest; k++)
                        if (!net->dest[k].allowed && net->dest[k].port == rec.port &&
                            strcmp(net->dest[k].host, rec.host) == 0 &&
                            strcmp(net->dest[k].method, rec.method) == 0)
                                net->dest[k].count += more;
        }
}

static void net_stop(Supervisor *s) {
        net_denied(s);
        for (int i = 0; i < 3; i++)
                s->dns_fd[i] = safe_close(s->dns_fd[i]);
        net_slirp_stop(&s->slirp);
        /* SIGTERM asks the proxy (or the DNS stub) to take no new connection and to exit once
         * the ones under way have reported; whatever is still there after NET_STOP_MS is killed
         * (its connection processes die with it) and its records are lost, which the totals
         * then miss. */
        net_helper_stop(&s->net_pid, &s->net_fd, &s->o->network, NET_STOP_MS);
}

static uint64_t now_ns(clockid_t clock) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static const char *mount_verb(PlanMountKind k) {
        switch (k) {
        case PLAN_MOUNT_BIND:
                return "bind";
        case PLAN_MOUNT_TMPFS:
                return "mount tmpfs on";
        case PLAN_MOUNT_PROC:
                return "mount proc on";
        case PLAN_MOUNT_DEV:
                return "set up a minimal /dev on";
        case PLAN_MOUNT_SYS:
                return "mount sysfs on";
        case PLAN_MOUNT_MASK:
                return "mask";
        case PLAN_MOUNT_SYMLINK:
                return "create the symlink";
        case PLAN_MOUNT_DIR:
                return "create the directory";
        case PLAN_MOUNT_READONLY:
                return "make read-only";
        case PLAN_MOUNT_IDENTITY:
                return "give the run its own";
        default:
                return "mount";
        }
}

/* Only on the failure path: whether the kernel runs AppArmor, for the hint on a denied clone3. */
static bool apparmor_enabled(void) {
        char c = 0;
        int fd = open("/sys/module/apparmor/parameters/enabled", O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return false;
        if (read(fd, &c, 1) != 1)
                c = 0;
        close(fd);
        return c == 'Y';
}

/* via transparent: what failed, in words, and what to do. */
static void egress_failure(const Plan *plan, int step, int err, int index, char *buf, size_t size) {
        const char *name = sandbox_step_to_string(step);

        if (step == STEP_EGRESS_HELPER && err == -ECHILD && index == 126 &&
            plan->egress.slirp_landlock)
                snprintf(buf, size,
                         "cannot set up transparent egress: moat could not confine %s with "
                         "Landlock ABI %d before exec, so it was not started (step %s)",
                         plan->egress.slirp4netns, plan->egress.slirp_landlock, name);
        else if (step == STEP_EGRESS_HELPER && err == -EOPNOTSUPP && plan->egress.slirp_landlock)
                snprintf(buf, size,
                         "cannot set up transparent egress: the kernel's Landlock is below ABI "
                         "%d, which the plan needs to confine %s (step %s)",
                         plan->egress.slirp_landlock, plan->egress.slirp4netns, name);
        else if (step == STEP_EGRESS_HELPER && err == -ECHILD)
                snprintf(buf, size,
                         "cannot set up transparent egress: %s exited before it was ready "
                         "(status %d; it needs /dev/net/tun read-write for this user, and the "
                         "kernel's tun device) (step %s)",
                         plan->egress.slirp4netns, index, name);
        else if (step == STEP_EGRESS_HELPER)
                snprintf(buf, size,
                         "cannot set up transparent egress: %s was not ready: %s (step %s)",
                         plan->egress.slirp4netns, strerror(-err), name);
        else if (step == STEP_EGRESS_RULES && err == -ENOENT)
                snprintf(buf, size,
                         "cannot set up transparent egress: nft is not installed (%s); "
                         "install nftables or use via: proxy (step %s)",
                         plan->egress.nft[0] ? plan->egress.nft : "none found when planned", name);
        else if (step == STEP_EGRESS_RULES && err == -EPROTO)
                snprintf(buf, size,
                         "cannot set up transparent egress: nft -f refused the ruleset (exit "
                         "status %d; the kernel needs nf_tables with inet, concatenated interval "
                         "sets, timeouts, conntrack, nat and reject) (step %s)",
                         index, name);
        else if (step == STEP_EGRESS_READBACK && err == -EPROTO)
                snprintf(buf, size,
                         "cannot set up transparent egress: the ruleset read back from the "
                         "sandbox's network namespace differs from the plan's (step %s)",
                         name);
        else if (step == STEP_EGRESS_DNS && err == -ENOENT)
                snprintf(buf, size,
                         "cannot set up transparent egress: the DNS stub has no resolver "
                         "(/etc/resolv.conf names no nameserver) (step %s)",
                         name);
        else
                snprintf(buf, size, "cannot set up transparent egress: %s (step %s)",
                         strerror(-err), name);
}

/* Fill failed_step/message for a failure at step (index: mount or rlimit index) and print it
 * once. */
static void report_failure(const Plan *plan, const RunRequest *req, RunOutcome *o, int step,
                           int err, int index) {
        const char *step_name = sandbox_step_to_string(step);
        char where[300] = "";

        o->failed_errno = -err;
        if (step == STEP_MOUNT && index >= 0 && (size_t) index < plan->sandbox.n_mounts) {
                const PlanMount *m = &plan->sandbox.mounts[index];
                if (m->pos.file)
                        snprintf(where, sizeof(where), ", profile %s:%u:%u", m->pos.file,
                                 m->pos.line, m->pos.column);
                snprintf(o->failed_step, sizeof(o->failed_step), "mount %s", m->target);
                if (m->kind == PLAN_MOUNT_BIND)
                        snprintf(o->message, sizeof(o->message),
                                 "cannot bind %s%s%s: %s (step mount%s)", m->target,
                                 m->source ? " from " : "", m->source ? m->source : "",
                                 strerror(-err), where);
                else
                        snprintf(o->message, sizeof(o->message), "cannot %s %s: %s (step mount%s)",
                                 mount_verb(m->kind), m->target, strerror(-err), where);
        } else if (step == STEP_EXEC) {
                snprintf(o->failed_step, sizeof(o->failed_step), "exec");
                snprintf(o->message, sizeof(o->message), "%s: %s", req->argv[0],
                         err == -ENOENT ? "command not found in the sandbox" : strerror(-err));
        } else if ((step >= STEP_EGRESS_RULES && step <= STEP_EGRESS_DNS) ||
                   step == STEP_EGRESS_HELPER) {
                snprintf(o->failed_step, sizeof(o->failed_step), "%s", step_name);
                egress_failure(plan, step, err, index, o->message, sizeof(o->message));
        } else {
                snprintf(o->failed_step, sizeof(o->failed_step), "%s", step_name);
                snprintf(o->message, sizeof(o->message), "cannot set up the sandbox: %s (step %s)",
                         strerror(-err), step_name);
        }
        if (step == STEP_CGROUP && err == -EBUSY && plan->resources.mechanism == CGROUP_MECH_V2)
                strncat(o->message,
                        "; the controllers can be enabled for the sandbox only in a cgroup that "
                        "holds no process but moat (e.g. systemd-run --user --scope -p "
                        "Delegate=yes moat run ...)",
                        sizeof(o->message) - strlen(o->message) - 1);
        if (step == STEP_CLONE && (err == -EACCES || err == -EPERM) && apparmor_enabled())
                strncat(o->message,
                        "; AppArmor is enabled and may mediate user namespace creation (Ubuntu's "
                        "kernel.apparmor_restrict_unprivileged_userns): `moat policy install` "
                        "loads moat's own profile, which grants it (SECURITY.md, \"MAC policies\")",
                        sizeof(o->message) - strlen(o->message) - 1);
        if (step == STEP_MOUNT && err == -ELOOP)
                strncat(o->message,
                        "; symlinks are refused on mount targets and on bind sources under the "
                        "work directory",
                        sizeof(o->message) - strlen(o->message) - 1);
        fprintf(stderr, "moat: %s\n", o->message);
}

/* resources.cpu_time. The tree's CPU time can grow by at most cpu_width CPU-seconds per
 * second, so a read that finds `left` of the budget remaining need not be followed by another
 * for left / cpu_width: the next read comes then, capped at CPU_POLL_MAX_MS (and at least
 * CPU_POLL_MIN_MS apart). A tree far from its limit costs 20 reads a second; one close to it
 * is read every millisecond, which bounds the overshoot to about cpu_width ms plus the time
 * the kill takes (measured: README "For code graders"). No cpu_time: no timer at all. */
#define CPU_POLL_MAX_MS 50
#define CPU_POLL_MIN_MS 1

static uint64_t cpu_poll_ms(const Supervisor *s, uint64_t used_ns) {
        uint64_t limit = s->plan->resources.cpu_time_ms * 1000000ULL;
        uint64_t left = used_ns < limit ? limit - used_ns : 0;
        uint64_t ms = left / s->cpu_width / 1000000ULL;
        return MAX((uint64_t) CPU_POLL_MIN_MS, MIN(ms, (uint64_t) CPU_POLL_MAX_MS));
}

static void handle_record(Supervisor *s, const SyncRecord *rec, int fd) {
        switch (rec->step) {
        case MSG_DEGRADED:
                if (rec->index >= 0 && rec->index < _STEP_MAX)
                        s->degraded[rec->index] = rec->value;
                break;
        case MSG_NOTIFY_FD:
                if (fd >= 0 && s->notify_fd < 0)
                        s->notify_fd = TAKE_FD(fd);
                break;
        case MSG_EXEC_OK:
                s->started = true;
                if (s->plan->resources.timeout_ms > 0) {
                        s->timer_fd = sys_timer_fd(s->plan->resources.timeout_ms);
                        if (s->timer_fd < 0) /* no timer, no run: the timeout is a control */
                                (void) sys_pidfd_send_signal(s->pidfd, SIGKILL);
                }
                if (s->cpu_usage_fd >= 0) {
                        s->cpu_timer_fd = sys_timer_fd(cpu_poll_ms(s, 0));
                        if (s->cpu_timer_fd < 0) /* the same: no watcher, no run */
                                (void) sys_pidfd_send_signal(s->pidfd, SIGKILL);
                }
                break;
        case MSG_PROXY_FD:
                on_proxy_fd(s, fd);
                break;
        case MSG_DNS_FD:
                on_dns_fd(s, rec->index, fd);
                return; /* the fd is kept, or closed there */
        case MSG_EXIT_STATUS:
                s->have_status = true;
                s->wait_status = rec->value;
                break;
        default:
                if (rec->step >= 0 && rec->step < _STEP_MAX && s->failure.step < 0)
                        s->failure = *rec;
        }
        raw_close(fd); /* raw: this runs while the child may be using errno (wait_for_start()) */
}

static void drain_sync(Supervisor *s, bool once) {
        while (s->sync_fd >= 0) {
                SyncRecord rec;
                int fd = -EBADF;
                int r = sys_sync_recv(s->sync_fd, &rec, &fd);
                if (r <= 0) {
                        s->sync_fd = safe_close(s->sync_fd);
                        return;
                }
                handle_record(s, &rec, fd);
                if (once)
                        return;
        }
}

static void on_timer(Supervisor *s) {
        uint64_t ticks;
        (void) !read(s->timer_fd, &ticks, sizeof(ticks));
        if (!s->grace) {
                s->grace = true;
                s->o->timed_out = true;
                (void) sys_pidfd_send_signal(s->pidfd, SIGTERM);
                if (sys_timer_rearm(s->timer_fd, TIMEOUT_GRACE_MS) >= 0)
                        return;
        }
        (void) sys_pidfd_send_signal(s->pidfd, SIGKILL);
        s->timer_fd = safe_close(s->timer_fd);
}

/* The cpu_time watcher's tick. Past the limit: SIGKILL to init, as the timeout's last step
 * does (the kernel then kills the whole pid namespace), without the timeout's SIGTERM grace:
 * CPU time is a budget, and a grace would let the tree spend more of it. An accounting file
 * that cannot be read stops the run too (fail closed), without the cpu-time verdict. */
static void on_cpu_timer(Supervisor *s) {
        uint64_t ticks, used = 0;
        int r;

        (void) !read(s->cpu_timer_fd, &ticks, sizeof(ticks));
        r = sys_cgroup_cpu_usage_read(s->cpu_usage_fd, s->cpu_mech, &used);
        if (r >= 0 && used < s->plan->resources.cpu_time_ms * 1000000ULL) {
                r = sys_timer_rearm(s->cpu_timer_fd, cpu_poll_ms(s, used));
                if (r >= 0)
                        return;
        }
        if (r >= 0)
                s->o->cpu_time_exceeded = true;
        else {
                snprintf(s->o->message, sizeof(s->o->message),
                         "the tree's CPU time cannot be read (%s): the run was stopped",
                         strerror(-r));
                fprintf(stderr, "moat: %s\n", s->o->message);
        }
        (void) sys_pidfd_send_signal(s->pidfd, SIGKILL);
        s->cpu_timer_fd = safe_close(s->cpu_timer_fd);
}

/* A workload still running after this long is one of many that sit side by side (servers,
 * sleepers, long jobs), where moat's footprint is what counts: the free part of the heap is
 * then handed back (about 90 KiB populated for the launch and not kept: the launch's parsing
 * was freed on a heap of its own, context.h) and the launch's dead stack. Sooner would tax
 * every short run, which would fault those pages in again for its audit record (~0.5 ms
 * here). */
#define TRIM_AFTER_MS 200

/* resources.output: the relay saw a byte past the cap. SIGKILL to init, as the cpu_time
 * watcher does: the limit is a budget too, and the kernel then kills the whole pid
 * namespace. */
static void on_output_exceeded(Supervisor *s, const RunRequest *req, bool ended) {
        s->o->output_exceeded = true;
        if (!ended)
                (void) sys_pidfd_send_signal(s->pidfd, SIGKILL);
        if (!req->quiet)
                fprintf(stderr,
                        "moat: the command wrote more than resources.output (%" PRIu64
                        " bytes): %s\n",
                        s->plan->resources.output_bytes,
                        ended ? "the rest was dropped" : "stopped");
}

static void supervise(Supervisor *s, const RunRequest *req) {
        bool trimmed = false, ended = false;

        for (;;) {
                /* Once init has ended, only the relay's pipes are left to drain (what the
                 * tree wrote before it ended): until their end, a timeout or a signal. */
                struct pollfd p[10] = {
                        { .fd = ended ? -1 : s->pidfd, .events = POLLIN },
                        { .fd = s->sync_fd, .events = POLLIN },
                        { .fd = s->signal_fd, .events = POLLIN },
                        { .fd = s->timer_fd, .events = POLLIN },
                        { .fd = ended ? -1 : s->notify_fd, .events = POLLIN },
                        { .fd = ended ? -1 : s->cpu_timer_fd, .events = POLLIN },
                };
                if (s->out->active)
                        sandbox_output_pollfds(s->out, p + 6);
                else
                        p[6].fd = p[7].fd = -1;
                p[8] = (struct pollfd){ .fd = ended ? -1 : s->net_fd, .events = POLLIN };
                p[9] = (struct pollfd){ .fd = ended ? -1 : s->slirp.pidfd, .events = POLLIN };
                if (ended && !(s->out->active && sandbox_output_open(s->out)))
                        return;
                int n = poll(p, ELEMENTSOF(p), trimmed ? -1 : TRIM_AFTER_MS);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        (void) sys_pidfd_send_signal(s->pidfd, SIGKILL);
                        return;
                }
                if (n == 0) {
                        sys_heap_trim();
                        trimmed = true;
                        continue;
                }
                if (p[1].revents)
                        drain_sync(s, true);
                /* Past the cap once the tree had ended (it wrote more than the cap and exited
                 * before the relay took it): the output is cut all the same, nothing to kill. */
                if (s->out->active && sandbox_output_handle(s->out, p + 6) > 0)
                        on_output_exceeded(s, req, ended);
                if (ended && (p[2].revents || p[3].revents))
                        return; /* a signal or the timeout ends the drain: the rest is dropped */
                if (p[4].revents & POLLIN) {
                        if (sys_seccomp_notify_handle(s->notify_fd, &s->plan->sandbox.seccomp,
                                                      &s->denials) < 0)
                                s->notify_fd = safe_close(s->notify_fd);
                } else if (p[4].revents & (POLLHUP | POLLERR | POLLNVAL))
                        s->notify_fd = safe_close(s->notify_fd);
                if (p[2].revents & POLLIN) {
                        int sig = sys_signal_read(s->signal_fd);
                        if (sig > 0)
                                (void) sys_pidfd_send_signal(s->pidfd, sig);
                }
                if (p[3].revents & POLLIN)
                        on_timer(s);
                if (p[5].revents & POLLIN)
                        on_cpu_timer(s);
                /* The proxy gone mid-run: the sandbox keeps its loopback and nothing else. */
                if (p[8].revents && !net_records_drain(s->net_fd, &s->o->network)) {
                        s->net_fd = safe_close(s->net_fd);
                        s->o->network.proxy_died = true;
                }
                /* slirp4netns gone mid-run: the sandbox has no route out, the rules stay. */
                if (p[9].revents) {
                        (void) waitpid(s->slirp.pid, NULL, WNOHANG);
                        s->slirp.pid = 0;
                        s->slirp.pidfd = safe_close(s->slirp.pidfd);
                        s->slirp.exit_fd = safe_close(s->slirp.exit_fd);
                        s->o->network.helper_died = true;
                }
                if (p[0].revents)
                        ended = true;
        }
}

/* The exit status and signal of the run, from init's report (the workload's own wait status)
 * or, when init did not report, from init's own end. */
static void outcome_from_status(Supervisor *s, const siginfo_t *si) {
        RunOutcome *o = s->o;
        if (s->have_status) {
                if (WIFEXITED(s->wait_status)) {
                        o->exit_code = WEXITSTATUS(s->wait_status);
                        o->exit_status = o->exit_code;
                } else {
                        o->signal = WTERMSIG(s->wait_status);
                        o->exit_status = 128 + o->signal;
                }
        } else if (si->si_code == CLD_EXITED) {
                o->exit_code = si->si_status;
                o->exit_status = si->si_status;
        } else {
                o->signal = si->si_status;
                o->exit_status = 128 + o->signal;
        }
}

/* The child's stack, in our memory (CLONE_VM), with a guard page below it. Its pages cost
 * nothing until the child touches them. */
#define CHILD_STACK_SIZE (1024 * 1024)
#define CHILD_STACK_GUARD 4096
#define CHILD_STACK_HOT (16 * 1024)

typedef struct Prepared {
        void *stack_map; /* CHILD_STACK_GUARD + CHILD_STACK_SIZE bytes, or NULL */
        void *stack;     /* above the guard */
        char **envp;
        SeccompProgram seccomp;
        bool has_seccomp;
        SandboxCgroup cg;
        bool cg_deferred; /* v1: made by start_child() while init builds its mounts */
        int cpu_usage_fd; /* resources.cpu_time: the cgroup's CPU accounting, or -EBADF */
        OutputRelay out;  /* resources.output */
        CgroupGuard guard;
        bool cgroup_left; /* removing the cgroups failed: the guard retries */
        DiskQuota dq;     /* resources.disk's project quota */
        int sync[2];
        int signal_fd;
        sigset_t old_mask;
        bool mask_changed;
        char *nft_text;       /* via transparent: the ruleset (nft_rules_text()) */
        const char *nft_path; /* and the nft that loads it */
} Prepared;

/* After the child is reaped: it runs on the stack. */
static void prepared_done(Prepared *p) {
        if (p->stack_map)
                (void) munmap(p->stack_map, CHILD_STACK_GUARD + CHILD_STACK_SIZE);
        p->stack_map = p->stack = NULL;
        p->envp = strv_free(p->envp);
        free(p->nft_text);
        p->nft_text = NULL;
        p->cpu_usage_fd = safe_close(p->cpu_usage_fd);
        sandbox_output_done(&p->out);
        if (p->has_seccomp)
                sys_seccomp_program_done(&p->seccomp);
        if (sys_cgroup_destroy(&p->cg) < 0)
                p->cgroup_left = true;
        /* The guard retries what is left, or is told there is nothing to do. */
        sys_cgroup_guard_stop(&p->guard, !p->cgroup_left);
        p->sync[0] = safe_close(p->sync[0]);
        p->sync[1] = safe_close(p->sync[1]);
        p->signal_fd = safe_close(p->signal_fd);
        if (p->mask_changed)
                (void) sigprocmask(SIG_SETMASK, &p->old_mask, NULL);
}

static bool active(ControlStatus s) {
        return s == CONTROL_REQUIRED || s == CONTROL_BEST_EFFORT;
}

/* Everything before clone3. Returns the failing step's -errno with *ret_step set. Not inlined,
 * as start_child() and fill_outcome(): their locals would otherwise sit in sandbox_execute()'s
 * frame, whose pages stay resident for as long as the workload runs; below it, they are dead
 * stack that the supervisor's trim hands back (sys_heap_trim()). */
static __attribute__((noinline)) int prepare(const Plan *plan, const RunRequest *req, Prepared *p,
                                             int *degraded, int *ret_step) {
        const PlanResources *res = &plan->resources;
        sigset_t fwd;
        int r;

        *ret_step = STEP_CLONE;
        r = sandbox_env_build(plan, req->caller_env, &p->envp);
        if (r < 0)
                return r;
        /* Load the LSM libraries here, before clone3 (see sys/lsm.c). A failure is not decided
         * here: the child's sys_lsm_set_exec_label() then fails, and the plan's mac status
         * decides there, as for any other reason the label cannot be armed. */
        (void) sys_lsm_prepare(plan->sandbox.apparmor_profile, plan->sandbox.selinux_context);
        if ((res->mechanism == CGROUP_MECH_V1 || res->mechanism == CGROUP_MECH_V2) &&
            active(res->status) &&
            (res->memory || res->pids || res->cpus_milli || res->cpu_time_ms)) {
                char name[64];
                *ret_step = STEP_CGROUP;
                snprintf(name, sizeof(name), "moat-%d-%" PRIu64, (int) getpid(),
                         now_ns(CLOCK_MONOTONIC) % 1000000);
                /* The guard first, on the paths to be: a moat killed while it creates the
                 * cgroups must not leave the ones already made behind. */
                r = sys_cgroup_prepare(res->mechanism, name, res, &p->cg);
                if (r >= 0)
                        r = sys_cgroup_guard_start(&p->cg, &p->guard);
                /* v1: the cgroups are made after clone3, while init builds its mounts, and init
                 * moves itself into them before it starts anything (start_child()). v2: before,
                 * for CLONE_INTO_CGROUP. */
                p->cg_deferred = r >= 0 && res->mechanism == CGROUP_MECH_V1;
                if (r >= 0 && !p->cg_deferred)
                        r = sys_cgroup_create(&p->cg, res, p->guard.pid);
                if (r >= 0 && !p->cg_deferred && res->cpu_time_ms) {
                        r = sys_cgroup_cpu_usage_open(&p->cg);
                        p->cpu_usage_fd = r < 0 ? -EBADF : r;
                }
                if (r < 0 && res->status == CONTROL_BEST_EFFORT) {
                        p->cpu_usage_fd = safe_close(p->cpu_usage_fd);
                        (void) sys_cgroup_destroy(&p->cg);
                        degraded[STEP_CGROUP] = r;
                } else if (r < 0)
                        return r;
        }
        /* Before the output relay's pipes and the sandbox: the guard it forks keeps none. */
        if (res->disk_mechanism == DISK_MECH_PROJECT_QUOTA) {
                const PlanControl *c = plan_find_control(plan, "disk");
                *ret_step = STEP_DISK;
                r = sandbox_disk_quota_start(plan, req->workdir, p->cg.v2_parent, p->cg.v2_leaf,
                                             &p->dq);
                if (r < 0 && c && c->status == CONTROL_BEST_EFFORT) {
                        (void) sandbox_disk_quota_stop(&p->dq, NULL);
                        degraded[STEP_DISK] = r;
                } else if (r < 0)
                        return r;
        }
        /* via transparent: the ruleset and the nft to load it, before clone3 (the child has
         * them in our memory). */
        if (plan->egress.active && plan->egress.transparent) {
                *ret_step = STEP_EGRESS_RULES;
                /* the plan's nft (host facts; the plan refuses transparent mode without one) */
                p->nft_path = plan->egress.nft[0] ? plan->egress.nft : NULL;
                if (!p->nft_path)
                        return -ENOENT;
                for (size_t size = 16384;; size *= 2) {
                        free(p->nft_text);
                        p->nft_text = malloc(size);
                        if (!p->nft_text)
                                return -ENOMEM;
                        r = nft_rules_text(plan->egress.allow, plan->egress.n_allow, p->nft_text,
                                           size);
                        if (r != -ENOSPC || size >= 16 * 1024 * 1024)
                                break;
                }
                if (r < 0)
                        return r;
        }
        /* The relay's pipes, before clone3 so that the child inherits them (output.c). */
        if (res->output_bytes && active(res->output_status)) {
                *ret_step = STEP_OUTPUT;
                r = sandbox_output_prepare(&p->out, res->output_bytes);
                if (r < 0 && res->output_status == CONTROL_BEST_EFFORT) {
                        sandbox_output_done(&p->out);
                        degraded[STEP_OUTPUT] = r;
                } else if (r < 0)
                        return r;
        }
        /* Before clone3, so the child inherits the program: for the shipped rule sets this is
         * a lookup of the build-time program (seccomp-program.c). Compiling after clone3 while
         * the child built its mounts was tried: every page libseccomp wrote was then a
         * copy-on-write fault with a TLB flush, which made the 2 ms compile a 4.4 ms one, and
         * the busy parent kept the child waiting for a CPU for up to 2 ms more. */
        if (active(plan->sandbox.seccomp.status)) {
                *ret_step = STEP_SECCOMP;
                r = sys_seccomp_program_for(&plan->sandbox.seccomp, &p->seccomp);
                if (r < 0)
                        return r;
                p->has_seccomp = true;
                if (p->seccomp.fprog.len == 0 || p->seccomp.fprog.len > BPF_MAXINSNS)
                        return -E2BIG;
        }
        *ret_step = STEP_CLONE;
        p->stack_map = mmap(NULL, CHILD_STACK_GUARD + CHILD_STACK_SIZE, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (p->stack_map == MAP_FAILED) {
                p->stack_map = NULL;
                return -errno;
        }
        if (mprotect(p->stack_map, CHILD_STACK_GUARD, PROT_NONE) < 0)
                return -errno;
        p->stack = (char *) p->stack_map + CHILD_STACK_GUARD;
        /* The pages the child's setup goes through at once (its mount calls' frames), populated
         * in one call; what it leaves below its loop is handed back (child.c, trim_dead_stack()). */
        (void) madvise((char *) p->stack + CHILD_STACK_SIZE - CHILD_STACK_HOT, CHILD_STACK_HOT,
                       MADV_POPULATE_WRITE);
        r = sys_sync_pair(p->sync);
        if (r < 0)
                return r;
        /* Blocked before clone3 so the child starts with them blocked too: a signal that
         * arrives during setup is delivered to the workload once it runs, not lost. */
        sys_signal_forwarded_set(&fwd);
        r = sys_signal_block_fd(&fwd, &p->old_mask);
        if (r < 0)
                return r;
        p->mask_changed = true;
        p->signal_fd = r;
        return 0;
}

static __attribute__((noinline)) void fill_outcome(Supervisor *s, const Prepared *p,
                                                   const RunRequest *req, const siginfo_t *si,
                                                   uint64_t start_ns) {
        RunOutcome *o = s->o;
        const Plan *plan = s->plan;

        o->wall_ns = now_ns(CLOCK_MONOTONIC) - start_ns;
        sys_cgroup_read_peaks(&p->cg, &o->peak_memory, &o->peak_pids);
        /* The cgroup's figures cover the whole tree, even processes init never reaped (those
         * the kernel killed with the pid namespace); rusage stays where there is none. */
        if (p->cpu_usage_fd >= 0)
                (void) sys_cgroup_cpu_times(&p->cg, &o->cpu_user_ns, &o->cpu_sys_ns);
        o->oom_killed = p->cg.mechanism != CGROUP_MECH_NONE && sys_cgroup_oom_killed(&p->cg);
        o->pids_max_events = p->cg.mechanism != CGROUP_MECH_NONE && plan->resources.pids
                                     ? sys_cgroup_pids_max_events(&p->cg)
                                     : 0;
        for (size_t i = 0; i < plan->sandbox.n_rlimits; i++)
                if (plan->sandbox.rlimits[i].resource == RLIMIT_CPU)
                        o->cpu_rlimit_hard_ns = plan->sandbox.rlimits[i].hard * 1000000000ULL;
                else if (plan->sandbox.rlimits[i].resource == RLIMIT_FSIZE &&
                         plan->resources.disk_mechanism == DISK_MECH_RLIMIT_FSIZE)
                        o->disk_rlimit_bytes = plan->sandbox.rlimits[i].hard;
        if (s->failure.step >= 0)
                report_failure(plan, req, o, s->failure.step, s->failure.value, s->failure.index);
        if (s->failure.step == STEP_EXEC) {
                o->exit_status = s->failure.value == -ENOENT ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE;
        } else if (s->failure.step >= 0) {
                o->exit_status = EXIT_MOAT_FAILED;
        } else if (!s->started) {
                snprintf(o->failed_step, sizeof(o->failed_step), "sandbox setup");
                snprintf(o->message, sizeof(o->message), "the sandbox ended during setup (%s %d)",
                         si->si_code == CLD_EXITED ? "exit status" : "signal", si->si_status);
                fprintf(stderr, "moat: %s\n", o->message);
                o->exit_status = EXIT_MOAT_FAILED;
        } else
                outcome_from_status(s, si);
        o->started = s->started;
        if (o->started && o->oom_killed)
                snprintf(o->tier_detail + strlen(o->tier_detail),
                         sizeof(o->tier_detail) - strlen(o->tier_detail),
                         "; the memory limit was hit (OOM kill)");
        o->controls = sandbox_control_outcomes(plan, s->failure.step, s->degraded);
        o->n_controls = o->controls ? plan->n_controls : 0;
        denial_table_take(&s->denials, &o->denials, &o->n_denials);
}

/* How many CPUs the tree can run on at once: the cpus limit rounded up, else the CPUs online.
 * Only the cpu_time watcher needs it (sysconf() reads a sysfs file). */
static unsigned cpu_width(const Plan *plan) {
        if (plan->resources.cpu_time_ms == 0)
                return 1;
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        unsigned w = n > 0 ? (unsigned) n : 1;
        if (plan->resources.cpus_milli)
                w = MIN(w, (plan->resources.cpus_milli + 999) / 1000);
        return MAX(w, 1u);
}

static void outcome_init(const Plan *plan, RunOutcome *o) {
        *o = (RunOutcome){ .exit_status = EXIT_MOAT_FAILED, .exit_code = -1 };
        snprintf(o->tier_detail, sizeof(o->tier_detail), "%s",
                 plan->resources.mechanism == CGROUP_MECH_V2       ? "cgroup v2"
                 : plan->resources.mechanism == CGROUP_MECH_V1     ? "cgroup v1"
                 : plan->resources.mechanism == CGROUP_MECH_RLIMIT ? "rlimits only"
                                                                   : "no resource limits");
}

/* From MSG_GO until the child reports the workload's exec (MSG_EXEC_OK, after which it runs
 * only init_loop()'s raw system calls), a failure, or its end. The child runs libc in our
 * memory meanwhile, so this waits with raw system calls only: no errno, no allocation, no
 * stdio. Forwarded signals that arrive meanwhile go to init as during the run. */
static void wait_for_start(Supervisor *s) {
        for (;;) {
                struct pollfd p[3] = {
                        { .fd = s->pidfd, .events = POLLIN },
                        { .fd = s->sync_fd, .events = POLLIN },
                        { .fd = s->signal_fd, .events = POLLIN },
                };
                long n = raw_syscall3(SYS_poll, p, ELEMENTSOF(p), -1);

                if (n == -EINTR)
                        continue;
                if (n < 0) {
                        (void) raw_syscall4(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0);
                        return;
                }
                if (p[1].revents) {
                        SyncRecord rec;
                        int fd = -EBADF;

                        if (sys_sync_recv(s->sync_fd, &rec, &fd) <= 0)
                                return; /* the child is gone: supervise() sees its end */
                        handle_record(s, &rec, fd);
                        if (rec.step == MSG_EXEC_OK || (rec.step >= 0 && rec.step < _STEP_MAX))
                                return;
                }
                if (p[2].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        if (raw_syscall3(SYS_read, s->signal_fd, &si, sizeof(si)) == sizeof(si))
                                (void) raw_syscall4(SYS_pidfd_send_signal, s->pidfd,
                                                    (long) si.ssi_signo, NULL, 0);
                }
                if (p[0].revents)
                        return;
        }
}

/* Not inlined (see prepare()): `child` and `identity` are read by the child only until it
 * reports the workload's exec, and wait_for_start() returns after that. */
static __attribute__((noinline)) int start_child(const Plan *plan, const RunRequest *req,
                                                 Prepared *p, Supervisor *s) {
        const PlanSandbox *sb = &plan->sandbox;
        uint64_t flags = sb->clone_flags | CLONE_NEWUSER | (sb->time_ns ? CLONE_NEWTIME : 0);
        SandboxIdentity identity = {};
        SandboxChild child = {
                .plan = plan,
                .req = req,
                .envp = p->envp,
                .seccomp = p->has_seccomp ? &p->seccomp : NULL,
                .identity = &identity,
                .sync_fd = p->sync[1],
                .parent_sync_fd = p->sync[0],
                .stdio_fd = { p->out.child_fd[0], p->out.child_fd[1] },
                .original_mask = p->old_mask,
                .stack_lo = p->stack,
                .await_cgroups = p->cg.mechanism == CGROUP_MECH_V1,
                .nft_path = p->nft_path,
                .nft_text = p->nft_text,
        };
        int r = 0;

        /* Drawn here, not in the child: the audit record keeps the machine id of the run. */
        if (sb->machine_id)
                snprintf(identity.machine_id, sizeof(identity.machine_id), "%s", sb->machine_id);
        else
                r = id128_random_machine_id(identity.machine_id, sizeof(identity.machine_id));
        if (r >= 0)
                r = id128_random_uuid(identity.boot_id, sizeof(identity.boot_id));
        if (r < 0) {
                s->failure = (SyncRecord){ .step = STEP_MOUNT, .value = r, .index = -1 };
                return r;
        }
        snprintf(s->o->machine_id, sizeof(s->o->machine_id), "%s", identity.machine_id);

        /* CLONE_VM: the child runs in our memory, on its own stack, as posix_spawn()'s child
         * does. Nothing is copied or write-protected: a fork-style clone made every page either
         * side wrote afterwards a copy-on-write fault (some 100 of them per launch, ~13 us
         * each on a paravirtualised guest) and gave every sandbox's init a private copy of
         * moat's heap. The price is discipline about who may run libc when, see
         * sandbox_child_main() and wait_for_start(). init runs no untrusted code; the workload
         * gets its own memory at execve(). */
        pid_t pid = sys_ns_clone(flags | CLONE_VM,
                                 p->cg.mechanism == CGROUP_MECH_V2 ? p->cg.v2_fd : -EBADF, p->stack,
                                 CHILD_STACK_SIZE, sandbox_child_main, &child, &s->pidfd);
        if (pid < 0) {
                s->failure = (SyncRecord){ .step = STEP_CLONE, .value = pid, .index = -1 };
                return pid;
        }
        s->pid = pid;
        p->sync[1] = safe_close(p->sync[1]);
        sandbox_output_close_child_ends(&p->out);
        s->sync_fd = TAKE_FD(p->sync[0]);
        s->signal_fd = p->signal_fd;

        r = sys_idmap_write_from_parent(pid, sb->uid_inside, getuid(), sb->gid_inside, getgid());
        if (r < 0) {
                s->failure = (SyncRecord){ .step = STEP_IDMAP, .value = r, .index = -1 };
                goto kill;
        }
        /* via transparent: slirp4netns on the sandbox's network namespace, which exists now;
         * the child makes no libc call until MSG_GO, so we may start a process. */
        if (plan->egress.active && plan->egress.transparent) {
                int status = 0;
                r = net_slirp_start(plan->egress.slirp4netns, pid, plan->egress.slirp_landlock,
                                    &s->slirp, &status);
                if (r < 0) {
                        s->failure = (SyncRecord){ .step = STEP_EGRESS_HELPER,
                                                   .value = r,
                                                   .index = r == -ECHILD && WIFEXITED(status)
                                                                    ? WEXITSTATUS(status)
                                                                    : -1 };
                        goto kill;
                }
        }
        r = sys_sync_send(s->sync_fd, MSG_GO, 0, -1, -EBADF);
        if (r < 0) {
                s->failure = (SyncRecord){ .step = STEP_SYNC, .value = r, .index = -1 };
                goto kill;
        }
        /* v1: init builds the sandbox meanwhile, and starts no workload before MSG_CGROUPS: the
         * cgroups are made now, and init moves itself into them through their tasks files.
         * The child runs libc from MSG_GO on: sys_cgroup_create_v1_raw(),
         * sys_cgroup_open_tasks_raw() and sys_sync_send() make raw system calls only. */
        int cg_degraded = 0;
        if (child.await_cgroups) {
                r = 0;
                if (p->cg_deferred) {
                        r = sys_cgroup_create_v1_raw(&p->cg, &plan->resources, &p->cpu_usage_fd);
                        s->cpu_usage_fd = p->cpu_usage_fd;
                }
                if (r < 0 && plan->resources.status == CONTROL_BEST_EFFORT) {
                        /* as prepare() does for v2: the run goes on without them (degraded);
                         * what was made goes once init has exec'd, below, with libc */
                        cg_degraded = r;
                        r = sys_sync_send(s->sync_fd, MSG_CGROUPS, 0, -1, -EBADF);
                } else {
                        /* init moves itself in, through the tasks files (MSG_CGROUP_FD) */
                        if (r >= 0)
                                r = sandbox_cgroups_hand_over(&p->cg, s->sync_fd);
                        (void) sys_sync_send(s->sync_fd, MSG_CGROUPS, r, -1, -EBADF);
                }
                if (r < 0) {
                        s->failure = (SyncRecord){ .step = STEP_CGROUP, .value = r, .index = -1 };
                        /* raw, and waited for with raw calls: the child may be inside libc */
                        (void) raw_syscall4(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0);
                        wait_for_start(s);
                        return r;
                }
        }
        wait_for_start(s); /* here: `child` must outlive the child's setup */
        if (cg_degraded < 0) {
                p->cpu_usage_fd = safe_close(p->cpu_usage_fd);
                s->cpu_usage_fd = -EBADF;
                (void) sys_cgroup_destroy(&p->cg);
                s->degraded[STEP_CGROUP] = cg_degraded;
        }
        return 0;
kill:
        (void) sys_pidfd_send_signal(s->pidfd, SIGKILL);
        return r;
}

int sandbox_cgroups_hand_over(const SandboxCgroup *cg, int sync_fd) {
        int fds[_CGROUP_V1_MAX], r;

        if (cg->mechanism != CGROUP_MECH_V1)
                return 0;
        r = sys_cgroup_open_tasks_raw(cg, fds);
        for (int i = 0; r >= 0 && i < _CGROUP_V1_MAX; i++)
                if (fds[i] >= 0)
                        r = sys_sync_send(sync_fd, MSG_CGROUP_FD, 0, i, fds[i]);
        for (int i = 0; i < _CGROUP_V1_MAX; i++)
                raw_close(fds[i]);
        return r;
}

int sandbox_execute(const Plan *plan, const RunRequest *req, RunOutcome *o) {
        Prepared p = {
                .cg = SANDBOX_CGROUP_INIT,
                .cpu_usage_fd = -EBADF,
                .guard = { .fd = -EBADF },
                .dq = DISK_QUOTA_INIT,
                .sync = { -EBADF, -EBADF },
                .signal_fd = -EBADF,
        };
        Supervisor s = {
                .plan = plan,
                .pidfd = -EBADF,
                .sync_fd = -EBADF,
                .signal_fd = -EBADF,
                .timer_fd = -EBADF,
                .notify_fd = -EBADF,
                .cpu_usage_fd = -EBADF,
                .cpu_timer_fd = -EBADF,
                .net_fd = -EBADF,
                .dns_fd = { -EBADF, -EBADF, -EBADF },
                .nft_fd = -EBADF,
                .slirp = NET_SLIRP_INIT,
                .failure = { .step = -1 },
                .o = o,
        };
        uint64_t start = now_ns(CLOCK_MONOTONIC);
        siginfo_t si = {};
        struct rusage ru = {};
        int step, r;

        outcome_init(plan, o);
        sandbox_output_init(&p.out);
        if (plan->refused || plan->tier != TIER_SANDBOX || !req->argv || !req->argv[0]) {
                snprintf(o->message, sizeof(o->message),
                         "internal error: not a runnable sandbox plan");
                fprintf(stderr, "moat: %s\n", o->message);
                return -EINVAL;
        }
        r = prepare(plan, req, &p, s.degraded, &step);
        s.cpu_usage_fd = p.cpu_usage_fd; /* borrowed: prepared_done() closes it */
        s.cpu_mech = p.cg.mechanism;
        s.cpu_width = cpu_width(plan);
        s.out = &p.out;
        if (r < 0)
                s.failure = (SyncRecord){ .step = step, .value = r, .index = -1 };
        else if (start_child(plan, req, &p, &s) >= 0) {
                /* The relay writes to the caller's pipes: a reader that is gone must be an
                 * EPIPE for the relay (output.c), not moat's death. Set after clone3, so the
                 * workload starts with the caller's disposition. */
                struct sigaction ign = { .sa_handler = SIG_IGN }, old_pipe;
                bool pipe_ignored = p.out.active && sigaction(SIGPIPE, &ign, &old_pipe) >= 0;

                /* init runs raw system calls only from here (child.c): moat may use libc while
                 * the command runs. */
                if (s.started && req->hooks && req->hooks->started)
                        req->hooks->started(req->hooks->userdata);

                supervise(&s, req);
                if (pipe_ignored)
                        (void) sigaction(SIGPIPE, &old_pipe, NULL);
        }
        if (s.pidfd >= 0) {
                drain_sync(&s, false);
                r = sys_pidfd_wait(s.pidfd, &si, &ru);
                if (r < 0) { /* never leave a child running on a stack about to be unmapped */
                        (void) sys_pidfd_send_signal(s.pidfd, SIGKILL);
                        (void) sys_pidfd_wait(s.pidfd, &si, &ru);
                }
                if (r < 0 && s.failure.step < 0)
                        s.failure = (SyncRecord){ .step = STEP_FORK, .value = r, .index = -1 };
                o->cpu_user_ns = (uint64_t) ru.ru_utime.tv_sec * 1000000000ULL +
                                 (uint64_t) ru.ru_utime.tv_usec * 1000;
                o->cpu_sys_ns = (uint64_t) ru.ru_stime.tv_sec * 1000000000ULL +
                                (uint64_t) ru.ru_stime.tv_usec * 1000;
        }
        net_stop(&s);
        fill_outcome(&s, &p, req, &si, start);
        s.pidfd = safe_close(s.pidfd);
        s.sync_fd = safe_close(s.sync_fd);
        s.timer_fd = safe_close(s.timer_fd);
        s.cpu_timer_fd = safe_close(s.cpu_timer_fd);
        s.notify_fd = safe_close(s.notify_fd);
        denial_table_done(&s.denials);
        /* init is reaped, and its pid namespace with it: nothing writes into the binds. Before
         * the cgroups go: the guard lives in moat's v2 leaf. */
        if (p.dq.active)
                o->disk_quota_bytes = plan->resources.disk;
        (void) sandbox_disk_quota_stop(&p.dq, &o->disk_added);
        /* The outcome is complete: the audit record is written while the cgroups go. */
        if (req->hooks && req->hooks->finished)
                req->hooks->finished(o, req->hooks->userdata);
        {
                int cr = sys_cgroup_destroy(&p.cg);
                p.cgroup_left = cr < 0;
                if (cr < 0)
                        fprintf(stderr, "moat: cannot remove the sandbox's cgroup: %s\n",
                                strerror(-cr));
        }

        prepared_done(&p);
        return 0;
}

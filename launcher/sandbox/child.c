/* SPDX-License-Identifier: MIT */
/* The sandbox child: from clone3() to the workload's exit, as the pid 1 of the new pid
 * namespace ("init").
 *
 * Runs with a full capability set over its new user namespace and none over the host's. It
 * waits for the parent to write the id maps, then takes the steps of SandboxStep in order (on
 * cgroup v1 the parent moves it into the limit cgroups meanwhile, and it waits for that before
 * the filter and the workload): mounts, pivot_root, hostname,
 * loopback, work directory, setsid, LSM exec label, no_new_privs, capabilities, Landlock, the
 * output relay's pipes on fds 1 and 2 (resources.output), fd cleanup, seccomp, rlimits (last,
 * so that an address-space limit binds the workload and not init's own last mappings). All of
 * it is applied to init itself, before it forks the workload, so init and workload are under
 * the same confinement (an escape into init would gain nothing). Only the LSM label differs: it takes effect at execve(), which init never
 * calls, so init stays in moat's own LSM context (it runs no untrusted code).
 *
 * Then init starts the workload, which calls setsid() (no controlling terminal: no TIOCSTI
 * into the caller's), restores the caller's signal mask and execs. init reaps every process
 * reparented to it, forwards the signals it receives to the workload, and exits with the
 * workload's status when it ends; the kernel then kills whatever is left in the pid namespace.
 * init dies with moat (PR_SET_PDEATHSIG SIGKILL), and the pid namespace with it.
 *
 * init runs in moat's own memory (CLONE_VM, on its own stack; see start_child() in sandbox.c)
 * while moat is a separate process with a libc that believes it is alone. Three phases keep
 * the two apart: until MSG_GO both run and the child makes raw system calls only; until it
 * reports the exec (or a failure) moat waits with raw system calls only and the child may use
 * all of libc; from then on init_loop() is raw system calls only again.
 *
 * A failure is sent to the parent as {step, -errno, index} over the sync socket and the child
 * _exit()s; it prints nothing (the parent owns stderr messages). */
#include <errno.h>
#include <linux/capability.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/macros.h"
#include "commands.h"
#include "sandbox/sandbox-internal.h"
#include "net/transparent.h"
#include "sys/caps.h"
#include "sys/exec.h"
#include "sys/fd.h"
#include "sys/landlock.h"
#include "sys/lsm.h"
#include "sys/nft.h"
#include "sys/ns.h"
#include "sys/raw-syscall.h"
#include "sys/rlimit.h"
#include "sys/seccomp.h"

_Noreturn static void fail(int sync_fd, SandboxStep step, int r, int index) {
        (void) sys_sync_send(sync_fd, step, r, index, -EBADF);
        _exit(EXIT_MOAT_FAILED);
}

/* A step the plan marks best-effort failed: tell the parent (audit: degraded), go on. */
static void step_result(int sync_fd, SandboxStep step, int r, ControlStatus status) {
        if (r >= 0)
                return;
        if (status == CONTROL_BEST_EFFORT || status == CONTROL_DEGRADED) {
                (void) sys_sync_send(sync_fd, MSG_DEGRADED, r, step, -EBADF);
                return;
        }
        fail(sync_fd, step, r, -1);
}

static bool control_active(ControlStatus s) {
        return s == CONTROL_REQUIRED || s == CONTROL_BEST_EFFORT;
}

static void init_signal_set(sigset_t *set) {
        static const int forwarded[] = { SIGINT,  SIGTERM, SIGHUP,  SIGQUIT,
                                         SIGUSR1, SIGUSR2, SIGWINCH };
        sigemptyset(set);
        sigaddset(set, SIGCHLD);
        for (size_t i = 0; i < ELEMENTSOF(forwarded); i++)
                sigaddset(set, forwarded[i]);
}

typedef struct WorkloadStart {
        const SandboxChild *c;
        int status_fd;
} WorkloadStart;

/* Runs on its own stack in init's memory (CLONE_VM|CLONE_VFORK) until execve() or _exit():
 * only system calls and stack buffers, nothing that allocates or takes a lock. */
static int workload_exec(void *arg) {
        const WorkloadStart *w = arg;
        const SandboxChild *c = w->c;
        int r;

        safe_close(c->sync_fd);
        /* Its own session and process group: no controlling terminal (TIOCSTI), and init's
         * forwarded signals reach the workload, not init. */
        if (setsid() < 0)
                r = -errno;
        else if (sigprocmask(SIG_SETMASK, &c->original_mask, NULL) < 0)
                r = -errno;
        else
                r = sys_exec_search(c->req->argv, c->envp);
        (void) !write(w->status_fd, &r, sizeof(r));
        _exit(r == -ENOENT ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE);
}

/* The workload is started like posix_spawn() does it: sharing init's memory, on a stack of its
 * own, with init suspended until the exec. Nothing of init's address space (moat's, with all
 * its libraries) is copied page by page only to be thrown away by execve(). */
#define WORKLOAD_STACK_SIZE (256 * 1024)
#define WORKLOAD_STACK_HOT (8 * 1024)

static pid_t workload_spawn(const SandboxChild *c, int status_fd, void *stack) {
        WorkloadStart w = { .c = c, .status_fd = status_fd };
        pid_t pid = clone(workload_exec, (char *) stack + WORKLOAD_STACK_SIZE,
                          CLONE_VM | CLONE_VFORK | SIGCHLD, &w);
        return pid < 0 ? -errno : pid;
}

/* init's loop, from the workload's start to its end. init shares moat's memory (see
 * sandbox.c), and moat is running again by now: only raw system calls from here, which touch
 * neither errno nor anything else of glibc's. */
_Noreturn static void init_loop(int sync_fd, pid_t workload, const sigset_t *set) {
        for (;;) {
                siginfo_t si;
                long sig = raw_syscall4(SYS_rt_sigtimedwait, set, &si, NULL, KERNEL_SIGSET_BYTES);
                if (sig < 0)
                        continue;
                if (sig != SIGCHLD) {
                        (void) raw_syscall2(SYS_kill, workload, sig);
                        continue;
                }
                int status;
                long p;
                while ((p = raw_syscall4(SYS_wait4, -1, &status, WNOHANG, NULL)) > 0)
                        if (p == workload) {
                                (void) sys_sync_send(sync_fd, MSG_EXIT_STATUS, status, -1, -EBADF);
                                (void) raw_syscall1(SYS_exit_group,
                                                    WIFEXITED(status) ? WEXITSTATUS(status)
                                                                      : 128 + WTERMSIG(status));
                        }
        }
}

/* A v1 limit cgroup's tasks file, opened by moat (MSG_CGROUP_FD): "0" moves the thread that
 * writes it, init's only one, and with it everything init forks. The kernel moves a thread
 * that moves itself without the write lock on cgroup_threadgroup_rwsem that moving another
 * task takes (moat writing init's pid), and so without that lock's wait for an RCU grace
 * period: 5-12 ms a run on the reference machines. The first failure is kept for
 * MSG_CGROUPS. */
static void child_enter_cgroup(SandboxChild *c, int fd) {
        ssize_t w = fd >= 0 ? write(fd, "0", 1) : -1;

        if (w != 1 && c->cgroup_err == 0)
                c->cgroup_err = fd < 0 ? -EBADMSG : w < 0 ? -errno : -EIO;
        if (fd >= 0)
                close(fd);
}

/* MSG_CGROUP_FD and MSG_CGROUPS, which can arrive at any point after MSG_GO: true if rec was
 * one of them (fd, its file, is then taken). */
static bool child_cgroup_msg(SandboxChild *c, const SyncRecord *rec, int fd) {
        if (rec->step == MSG_CGROUP_FD) {
                child_enter_cgroup(c, fd);
                return true;
        }
        if (rec->step != MSG_CGROUPS)
                return false;
        if (fd >= 0)
                close(fd);
        c->cgroups_result = rec->value < 0 ? rec->value : c->cgroup_err < 0 ? c->cgroup_err : 1;
        return true;
}

/* The next message from the parent other than the cgroups' (child_cgroup_msg()), which are
 * kept for child_await_cgroups(). */
static int child_recv(SandboxChild *c, SyncRecord *ret) {
        for (;;) {
                int fd, r = sys_sync_recv(c->sync_fd, ret, &fd);
                if (r > 0 && child_cgroup_msg(c, ret, fd))
                        continue;
                if (fd >= 0)
                        close(fd);
                return r;
        }
}

/* v1 limit cgroups: the workload starts only once init is in them (pids, memory and cpu then
 * hold for everything it forks). */
static void child_await_cgroups(SandboxChild *c) {
        SyncRecord rec;

        if (!c->await_cgroups)
                return;
        while (c->cgroups_result == 0) {
                int fd, r = sys_sync_recv(c->sync_fd, &rec, &fd);
                if (r <= 0)
                        fail(c->sync_fd, STEP_CGROUP, r < 0 ? r : -EPIPE, -1);
                if (!child_cgroup_msg(c, &rec, fd) && fd >= 0)
                        close(fd);
        }
        if (c->cgroups_result < 0)
                fail(c->sync_fd, STEP_CGROUP, c->cgroups_result, -1);
}

/* network outbound: loopback up, and a listener on 127.0.0.1:PORT made here, in the sandbox's
 * network namespace, for moat's proxy (launcher/net/netd.h), which serves it from outside.
 * We wait until moat says the proxy runs: moat forks it meanwhile, and we make no libc call
 * while it does (we share its memory). The workload never holds the listener: it is closed
 * here, and the proxy's copy is outside the sandbox. */
static void child_egress(SandboxChild *c) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons(c->plan->egress.proxy_port),
                                  .sin_addr = { htonl(INADDR_LOOPBACK) } };
        int sync_fd = c->sync_fd, fd, r;
        SyncRecord ack;

        if ((r = sys_ns_loopback_up()) < 0)
                fail(sync_fd, STEP_NETWORK, r, -1);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                fail(sync_fd, STEP_EGRESS, -errno, -1);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 128) < 0)
                fail(sync_fd, STEP_EGRESS, -errno, -1);
        r = sys_sync_send(sync_fd, MSG_PROXY_FD, 0, -1, fd);
        safe_close(fd);
        if (r < 0)
                fail(sync_fd, STEP_EGRESS, r, -1);
        r = child_recv(c, &ack);
        if (r <= 0 || ack.step != MSG_PROXY_READY)
                fail(sync_fd, STEP_EGRESS, r < 0 ? r : -EPIPE, -1);
        if (ack.value < 0)
                fail(sync_fd, STEP_EGRESS, ack.value, -1);
}

/* network outbound via: transparent, as the sandbox's root, before the mounts (nft is the
 * host's binary, with its libraries) and long before the capabilities drop: loopback up; the
 * ruleset loaded with `nft -f` (slirp4netns's tap0 is there already, but nothing of the
 * workload's runs yet); the ruleset read back with `nft list ruleset` and compared with the
 * plan's; the DNS stub's UDP and TCP sockets bound on 127.0.0.1:53 and a NETLINK_NETFILTER
 * socket opened, all three handed to moat, which starts the stub on them (dns-stub.h) while we
 * wait, making no libc call. None of the three stays with the workload. */
static void child_transparent(SandboxChild *c) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons(53),
                                  .sin_addr = { htonl(INADDR_LOOPBACK) } };
        int sync_fd = c->sync_fd, fds[3] = { -EBADF, -EBADF, -EBADF }, status = 0, r;
        SyncRecord ack;

        if ((r = sys_ns_loopback_up()) < 0)
                fail(sync_fd, STEP_NETWORK, r, -1);
        if (!c->nft_path || !c->nft_text)
                fail(sync_fd, STEP_EGRESS_RULES, -ENOENT, -1);
        /* A caller other than root is not uid 0 here, and execve() would leave nft with no
         * capability: CAP_NET_ADMIN (over this namespace only) passes to nft through ambient,
         * and is taken back before anything else runs. */
        if ((r = sys_caps_ambient_raise(CAP_NET_ADMIN)) < 0)
                fail(sync_fd, STEP_EGRESS_RULES, r, -1);
        r = net_rules_load(c->nft_path, c->nft_text, &status);
        if (r < 0)
                fail(sync_fd, STEP_EGRESS_RULES, r,
                     r == -EPROTO && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        if ((r = net_rules_readback(c->nft_path, c->nft_text)) < 0)
                fail(sync_fd, STEP_EGRESS_READBACK, r, -1);
        if ((r = sys_caps_ambient_clear()) < 0)
                fail(sync_fd, STEP_EGRESS_RULES, r, -1);
        fds[0] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        fds[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fds[0] < 0 || fds[1] < 0 || bind(fds[0], (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            bind(fds[1], (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fds[1], 64) < 0)
                fail(sync_fd, STEP_EGRESS_DNS, -errno, -1);
        if ((fds[2] = sys_nft_open()) < 0)
                fail(sync_fd, STEP_EGRESS_DNS, fds[2], -1);
        for (int i = 0; i < 3; i++) {
                r = sys_sync_send(sync_fd, MSG_DNS_FD, 0, i, fds[i]);
                safe_close(fds[i]);
                if (r < 0)
                        fail(sync_fd, STEP_EGRESS_DNS, r, -1);
        }
        r = child_recv(c, &ack);
        if (r <= 0 || ack.step != MSG_PROXY_READY)
                fail(sync_fd, STEP_EGRESS_DNS, r < 0 ? r : -EPIPE, -1);
        if (ack.value < 0)
                fail(sync_fd, STEP_EGRESS_DNS, ack.value, -1);
}

static void child_confine(SandboxChild *c) {
        const Plan *plan = c->plan;
        const PlanSandbox *sb = &plan->sandbox;
        int sync_fd = c->sync_fd, index = -1, r;
        SandboxStep step;

        if (sb->network == NETWORK_OUTBOUND && plan->egress.transparent)
                child_transparent(c);
        r = sandbox_mounts_setup(plan, c->req->workdir, c->identity, &index, &step);
        if (r < 0)
                fail(sync_fd, step, r, index);
        if (sb->hostname && (sb->clone_flags & CLONE_NEWUTS) &&
            (r = sys_ns_set_hostname(sb->hostname)) < 0)
                fail(sync_fd, STEP_HOSTNAME, r, -1);
        if (sb->network == NETWORK_LOOPBACK && (r = sys_ns_loopback_up()) < 0)
                fail(sync_fd, STEP_NETWORK, r, -1);
        if (sb->network == NETWORK_OUTBOUND && !plan->egress.transparent)
                child_egress(c);
        if (chdir(sb->workdir_target ? sb->workdir_target : "/") < 0)
                fail(sync_fd, STEP_WORKDIR, -errno, -1);
        /* Out of moat's process group, so a terminal's ^C reaches the workload once (through
         * moat's forwarding), not twice. init keeps moat's session: setsid() is the workload's
         * (it costs a scheduler autogroup each, ~2 ms here, and init runs no untrusted code). */
        if (setpgid(0, 0) < 0)
                fail(sync_fd, STEP_SETSID, -errno, -1);
        if ((sb->apparmor_profile && *sb->apparmor_profile) ||
            (sb->selinux_context && *sb->selinux_context))
                step_result(sync_fd, STEP_LSM,
                            sys_lsm_set_exec_label(sb->apparmor_profile, sb->selinux_context),
                            sb->mac_status);
        if ((r = sys_no_new_privs()) < 0)
                fail(sync_fd, STEP_NO_NEW_PRIVS, r, -1);
        if ((r = sys_caps_drop_except(sb->caps_keep, sb->n_caps_keep)) < 0)
                fail(sync_fd, STEP_CAPS, r, -1);
        if (control_active(sb->landlock.status))
                step_result(sync_fd, STEP_LANDLOCK, sys_landlock_apply(&sb->landlock),
                            sb->landlock.status);
        /* resources.output: the relay's pipes in place of moat's stdout and stderr (dup2()
         * clears O_CLOEXEC on the copy); the originals go with the other fds below. */
        for (int fd = 1; fd <= 2; fd++)
                if (c->stdio_fd[fd - 1] >= 0 && dup2(c->stdio_fd[fd - 1], fd) < 0)
                        fail(sync_fd, STEP_OUTPUT, -errno, -1);
        if ((r = sys_fd_close_all_except(&sync_fd, 1)) < 0)
                fail(sync_fd, STEP_FDS, r, -1);
        /* init holds the channel to moat; the workload (same uid, and execve() makes it
         * dumpable again) must not reach init through /proc/1/mem or ptrace, whatever the
         * seccomp and Landlock rules of the plan are. */
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                fail(sync_fd, STEP_FDS, -errno, -1);
}

/* Load the filter the parent prepared before clone3, hand the listener up. */
static void child_seccomp(const SandboxChild *c) {
        int sync_fd = c->sync_fd, notify_fd = -EBADF, r;

        r = sys_seccomp_load(c->seccomp, c->seccomp->notify ? &notify_fd : NULL);
        step_result(sync_fd, STEP_SECCOMP, r, c->plan->sandbox.seccomp.status);
        if (notify_fd >= 0) {
                r = sys_sync_send(sync_fd, MSG_NOTIFY_FD, 0, -1, notify_fd);
                safe_close(notify_fd);
                if (r < 0)
                        fail(sync_fd, STEP_SECCOMP, r, -1);
        }
}

/* init's setup went deep into its stack (mounts, libc); init_loop() runs at the top of it for as
 * long as the workload does. Once the mounts are done, the pages below this call are dead: back
 * to the kernel (the few calls still to come touch some of them again). Not inlined, so that its
 * frame is below every frame of the caller's. */
static __attribute__((noinline)) void trim_dead_stack(void *stack_lo) {
        uintptr_t lo = (uintptr_t) stack_lo, here = (uintptr_t) __builtin_frame_address(0);
        uintptr_t end = (here - 256) & ~(uintptr_t) 4095; /* 256: this frame's own room */

        if (lo && end > lo)
                (void) raw_syscall3(SYS_madvise, lo, end - lo, MADV_DONTNEED);
}

/* The child's entry, on its own stack in moat's memory (CLONE_VM). Until MSG_GO it runs next
 * to moat, which writes the id maps meanwhile: raw system calls only. From MSG_GO until it
 * reports the workload's exec (or a failure), moat waits for it and the child may use all of
 * libc. After that, init_loop(). */
int sandbox_child_main(void *arg) {
        SandboxChild *c = arg;
        int sync_fd = c->sync_fd, status_pipe[2], r;
        void *stack_lo = c->stack_lo;
        SyncRecord go;
        sigset_t set;

        raw_close(c->parent_sync_fd);
        /* Before anything else: if moat dies from now on, so do we. If it died before this
         * prctl(), the recv below sees EOF. */
        if (sys_proc_die_with_parent() < 0)
                return EXIT_MOAT_FAILED;
        r = sys_sync_recv(sync_fd, &go, NULL);
        if (r <= 0 || go.step != MSG_GO)
                return EXIT_MOAT_FAILED;

        child_confine(c);
        /* Before the filter (which may deny recvmsg) and before anything is forked. */
        child_await_cgroups(c);
        /* Here, not after the exec: from the filter on, a profile that denies madvise would have
         * this call wait for a supervisor that does not listen yet. */
        trim_dead_stack(stack_lo);

        init_signal_set(&set);
        if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
                fail(sync_fd, STEP_FORK, -errno, -1);
        if (pipe2(status_pipe, O_CLOEXEC) < 0)
                fail(sync_fd, STEP_FORK, -errno, -1);
        /* The workload's start-up stack, before the filter (see trim_dead_stack() above for
         * madvise): the two pages its clone and path search use, populated in one call rather
         * than faulted in (~14 us a fault on the reference machine, sys/heap.c). */
        void *stack = mmap(NULL, WORKLOAD_STACK_SIZE, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stack == MAP_FAILED)
                fail(sync_fd, STEP_FORK, -errno, -1);
        (void) madvise((char *) stack + WORKLOAD_STACK_SIZE - WORKLOAD_STACK_HOT,
                       WORKLOAD_STACK_HOT, MADV_POPULATE_WRITE);

        /* Last before the fork: from here on init runs under the filter too. */
        if (c->seccomp)
                child_seccomp(c);

        /* The rlimits come last, with everything init needs already mapped: an RLIMIT_AS below
         * moat's own footprint would otherwise make init's next mmap() fail, not the workload's. */
        size_t failed;
        if ((r = sys_rlimit_apply(c->plan->sandbox.rlimits, c->plan->sandbox.n_rlimits, &failed)) <
            0)
                fail(sync_fd, STEP_RLIMIT, r, (int) failed);

        pid_t pid = workload_spawn(c, status_pipe[1], stack);
        if (pid < 0)
                fail(sync_fd, STEP_FORK, pid, -1);
        (void) munmap(stack, WORKLOAD_STACK_SIZE);
        safe_close(status_pipe[1]);

        /* The workload has exec'd or exited by now. EOF on the CLOEXEC pipe: execve() succeeded. */
        int exec_error = 0;
        ssize_t n;
        do
                n = read(status_pipe[0], &exec_error, sizeof(exec_error));
        while (n < 0 && errno == EINTR);
        safe_close(status_pipe[0]);
        if (n == sizeof(exec_error))
                (void) sys_sync_send(sync_fd, STEP_EXEC, exec_error, -1, -EBADF);
        else
                (void) sys_sync_send(sync_fd, MSG_EXEC_OK, pid, -1, -EBADF);
        init_loop(sync_fd, pid, &set);
}

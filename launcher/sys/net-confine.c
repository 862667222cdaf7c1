/* SPDX-License-Identifier: MIT */
/* The egress proxy's confinement (net-confine.h). */
#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "basic/macros.h"
#include "plan/plan-internal.h"
#include "sys/caps.h"
#include "sys/landlock.h"
#include "sys/net-confine.h"

int sys_net_die_with_parent(pid_t parent) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
                return -errno;
        /* The parent may have died before the prctl(): then we were reparented already. */
        if (getppid() != parent)
                return -ESRCH;
        return 0;
}

static int drop_caps(void) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[2] = {};

        if (syscall(SYS_capget, &h, d) < 0)
                return -errno;
        /* Root (or a caller with file capabilities): everything goes, bounding set too. An
         * ordinary user has none to drop, and no_new_privs keeps it that way. */
        if (d[0].permitted || d[1].permitted || d[0].effective || d[1].effective)
                return sys_caps_drop_except(NULL, 0);
        return 0;
}

static int landlock_nothing(void) {
        int abi = sys_landlock_abi();
        PlanLandlock l = {};

        if (abi <= 0)
                return 0; /* the seccomp allowlist has no open(); Landlock is a second layer */
        l.status = CONTROL_REQUIRED;
        l.abi = MIN(abi, 6); /* the highest ABI whose rights moat knows (plan-sandbox.c) */
        l.handled_fs = plan_landlock_fs_rights(l.abi);
        if (l.abi >= 4)
                l.handled_net = 1ULL << 0; /* bind: no rule, so no TCP port can be bound */
        if (l.abi >= 6)
                l.scoped = (1ULL << 0) | (1ULL << 1);
        return sys_landlock_apply(&l);
}

static int seccomp_allowlist(void) {
        static const int allowed[] = {
                SCMP_SYS(read),
                SCMP_SYS(write),
                SCMP_SYS(readv),
                SCMP_SYS(writev),
                SCMP_SYS(recvfrom),
                SCMP_SYS(sendto),
                SCMP_SYS(recvmsg),
                SCMP_SYS(sendmsg),
                SCMP_SYS(connect),
                SCMP_SYS(accept4),
                SCMP_SYS(accept),
                SCMP_SYS(poll),
                SCMP_SYS(ppoll),
                SCMP_SYS(close),
                SCMP_SYS(fcntl),
                SCMP_SYS(setsockopt),
                SCMP_SYS(getsockopt),
                SCMP_SYS(getsockname),
                SCMP_SYS(getpeername),
                SCMP_SYS(shutdown),
                SCMP_SYS(wait4),
                SCMP_SYS(exit),
                SCMP_SYS(exit_group),
                SCMP_SYS(rt_sigreturn),
                SCMP_SYS(rt_sigprocmask),
                SCMP_SYS(rt_sigaction),
                SCMP_SYS(getppid),
                SCMP_SYS(getpid),
                SCMP_SYS(gettid),
                SCMP_SYS(mmap),
                SCMP_SYS(munmap),
                SCMP_SYS(mremap),
                SCMP_SYS(madvise),
                SCMP_SYS(brk),
                SCMP_SYS(clock_gettime),
                SCMP_SYS(clock_nanosleep),
                SCMP_SYS(nanosleep),
                SCMP_SYS(getrandom),
                SCMP_SYS(futex),
                SCMP_SYS(set_robust_list),
                SCMP_SYS(restart_syscall),
                SCMP_SYS(splice),
                SCMP_SYS(pipe2),
                SCMP_SYS(sched_yield),
        };
        const uint64_t ns_flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                  CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWTIME |
                                  CLONE_VM | CLONE_THREAD;
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
        int r = 0;

        if (!ctx)
                return -ENOMEM;
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(allowed); i++)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0);
        if (r >= 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                                     SCMP_A0(SCMP_CMP_EQ, AF_INET));
        if (r >= 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                                     SCMP_A0(SCMP_CMP_EQ, AF_INET6));
        /* fork() is clone(SIGCHLD|CHILD_SETTID|CHILD_CLEARTID): no namespace, no shared memory. */
        if (r >= 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                                     SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags, 0));
        if (r >= 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
        if (r >= 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                                     SCMP_A0(SCMP_CMP_EQ, PR_SET_PDEATHSIG));
        if (r >= 0)
                r = seccomp_load(ctx);
        seccomp_release(ctx);
        return r < 0 ? r : 0;
}

int sys_net_confine(pid_t moat_pid) {
        int r;

        if ((r = sys_net_die_with_parent(moat_pid)) < 0)
                return r;
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                return -errno;
        if ((r = sys_no_new_privs()) < 0 || (r = drop_caps()) < 0 || (r = landlock_nothing()) < 0)
                return r;
        return seccomp_allowlist();
}

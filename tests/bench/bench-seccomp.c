/* SPDX-License-Identifier: MIT */
/* seccomp benchmark: compile time of the default-shaped rule set (three ABIs) and the
 * per-syscall cost of the loaded filter on getpid and stat loops, each against a bare child.
 * Prints figures; never fails on time. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "seccomp-fixture.h"
#include "sys/seccomp.h"

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

/* n calls in a forked child that may load prog first, in ns per call (best of 3 passes). */
/* Which call: getpid and stat are constant-allow (the kernel's seccomp action cache skips the
 * BPF for them), ioctl has argument rules so every call runs the filter: the worst case. */
static const char *const loop_names[] = { "getpid", "stat", "ioctl" };

static double loop_ns(const SeccompProgram *prog, int which, long n) {
        int pipefd[2];
        double best = 0;
        pid_t pid;

        if (pipe(pipefd) < 0)
                abort();
        pid = fork();
        if (pid == 0) {
                struct stat st;
                int fds[2], avail;

                if (pipe(fds) < 0)
                        _exit(1);

                if (prog && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
                             sys_seccomp_load(prog, NULL) < 0))
                        _exit(1);
                for (int round = 0; round < 3; round++) {
                        uint64_t t0 = now_ns();
                        double per;

                        for (long i = 0; i < n; i++) {
                                if (which == 0)
                                        syscall(SYS_getpid);
                                else if (which == 1)
                                        stat("/", &st);
                                else
                                        ioctl(fds[0], FIONREAD, &avail);
                        }
                        per = (double) (now_ns() - t0) / (double) n;
                        if (round == 0 || per < best)
                                best = per;
                }
                _exit(write(pipefd[1], &best, sizeof(best)) == sizeof(best) ? 0 : 1);
        }
        close(pipefd[1]);
        if (read(pipefd[0], &best, sizeof(best)) != sizeof(best))
                best = -1;
        close(pipefd[0]);
        waitpid(pid, NULL, 0);
        return best;
}

int main(int argc, char **argv) {
        enum {
                N_COMPILE = 200
        };
        uint64_t t[N_COMPILE], cold;
        PlanSeccomp p;
        SeccompProgram prog = {};
        long n = argc > 1 ? atol(argv[1]) : 1000000;
        double bare, filtered;

        fixture_default_seccomp(&p, false);
        cold = now_ns();
        if (sys_seccomp_compile(&p, &prog) < 0) {
                fprintf(stderr, "compile failed\n");
                return 1;
        }
        cold = now_ns() - cold;
        for (int i = 0; i < N_COMPILE; i++) {
                SeccompProgram q = {};
                uint64_t t0 = now_ns();

                if (sys_seccomp_compile(&p, &q) < 0)
                        return 1;
                t[i] = now_ns() - t0;
                sys_seccomp_program_done(&q);
        }
        qsort(t, N_COMPILE, sizeof(t[0]), cmp_u64);
        printf("seccomp compile: %zu rules x 3 ABIs -> %u BPF instructions\n", p.n_rules,
               prog.fprog.len);
        printf("seccomp compile: first %.1f us, median %.1f us, min %.1f us, p90 %.1f us (%d "
               "runs)\n",
               cold / 1e3, t[N_COMPILE / 2] / 1e3, t[0] / 1e3, t[N_COMPILE * 9 / 10] / 1e3,
               N_COMPILE);

        /* The machine is shared: alternate bare and filtered children and keep the best of
         * each, so load that comes and goes hits both alike. */
        for (int s = 0; s < 3; s++) {
                bare = filtered = 0;
                for (int round = 0; round < 5; round++) {
                        double b = loop_ns(NULL, s, n), f = loop_ns(&prog, s, n);

                        if (round == 0 || b < bare)
                                bare = b;
                        if (round == 0 || f < filtered)
                                filtered = f;
                }
                printf("%-6s loop: bare %.1f ns/call, filtered %.1f ns/call, ratio %.3fx "
                       "(target <= 1.03x)\n",
                       loop_names[s], bare, filtered, filtered / bare);
        }

        sys_seccomp_program_done(&prog);
        fixture_seccomp_done(&p);
        return 0;
}

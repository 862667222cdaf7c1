/* SPDX-License-Identifier: MIT */
/* The floor of memory per sandbox (tests/bench/sandbox.sh, section 3): the least a launcher
 * with moat's process layout can cost. One clone with the user, mount, pid, net, ipc, uts and
 * cgroup namespaces (and a time namespace for the command, as moat makes), a supervisor and
 * an init that share one address space (CLONE_VM, as moat's do), statically linked, no mount,
 * no filter, no parsing. What it costs is the kernel's price of those namespaces and two
 * tasks, which any launcher that makes them pays.
 *   ns-floor COMMAND [ARG...] */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static char stack[16384] __attribute__((aligned(16)));
static char **command;

static int init_main(void *arg) {
        (void) arg;
        /* dies with the launcher, and being pid 1 takes the command with it (moat: the same) */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        (void) unshare(CLONE_NEWTIME); /* for the children, like clone3's CLONE_NEWTIME */
        pid_t child = fork();
        if (child == 0) {
                execvp(command[0], command);
                _exit(127);
        }
        for (;;) {
                int status;
                pid_t p = wait(&status);
                if (p == child || (p < 0 && child < 0))
                        _exit(0);
        }
}

int main(int argc, char **argv) {
        int flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
                    CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_VM | SIGCHLD;
        int status;

        if (argc < 2) {
                fprintf(stderr, "usage: ns-floor COMMAND [ARG...]\n");
                return 125;
        }
        command = argv + 1;
        pid_t pid = clone(init_main, stack + sizeof(stack), flags, NULL);
        if (pid < 0) {
                perror("ns-floor: clone");
                return 125;
        }
        while (waitpid(pid, &status, 0) < 0)
                ;
        return 0;
}

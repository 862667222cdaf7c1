/* SPDX-License-Identifier: MIT */
/* seccomp-wrap COMMAND...: run COMMAND under a seccomp filter that allows everything (with
 * no_new_privs), so that a test can start moat as a caller that is already confined. liblxc
 * skips its own filter in that case unless lxc.seccomp.allow_nesting is set (LXC-NOTES P4). */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
        struct sock_filter allow[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
        struct sock_fprog prog = { .len = 1, .filter = allow };

        if (argc < 2) {
                fprintf(stderr, "usage: seccomp-wrap COMMAND...\n");
                return 2;
        }
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
                fprintf(stderr, "seccomp-wrap: %s\n", strerror(errno));
                return 2;
        }
        execvp(argv[1], argv + 1);
        fprintf(stderr, "seccomp-wrap: %s: %s\n", argv[1], strerror(errno));
        return 127;
}

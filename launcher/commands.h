/* SPDX-License-Identifier: MIT */
/* One function per subcommand. Each parses its own options (getopt_long, no globals) and
 * returns the process exit status; only main() calls exit. Usage errors return 125 after
 * printing "moat CMD: message" naming the flag. */
#pragma once

int cmd_run(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_host(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_oci(int argc, char **argv);
int cmd_image(int argc, char **argv);
int cmd_vm(int argc, char **argv);

/* Execs the executor binary NAME (moat-vm-run: beside this binary, else in
 * libexec) with run_argv (cmd-run.c); returns 125 with *ret_error set when it cannot. */
int exec_runner(const char *name, char **run_argv, const char **ret_error);

/* Exit statuses (DESIGN.md "Exit status"). */
#define EXIT_MOAT_FAILED 125

/* `moat run --keep NAME`, `moat exec NAME` and `moat stop NAME` (a system-tier container kept
 * running and entered again) are not built: each says so, and nothing runs. */
#define KEEP_NOT_BUILT                                                                        \
        "keeping a system-tier container to enter it again (moat run --keep NAME, moat exec " \
        "NAME, moat stop NAME) is not built: a boot-mode run halts its container when the "   \
        "command ends"
#define EXIT_NOT_EXECUTABLE 126
#define EXIT_NOT_FOUND 127

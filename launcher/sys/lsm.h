/* SPDX-License-Identifier: MIT */
/* LSM exec labels: run in the child before no_new_privs (an AppArmor onexec transition to an
 * unconfined-to-confined profile is allowed then) and after pivot_root. They change nothing
 * immediately: they ask the kernel to switch the process to the given AppArmor profile or
 * SELinux context at the next execve(), which is the workload's. */
#pragma once

/* aa_change_onexec(apparmor_profile) and/or setexeccon(selinux_context). NULL or "" means not
 * requested. 0 when nothing is requested or every requested label was set; -EOPNOTSUPP when a
 * label is requested and that LSM is not built in (HAVE_APPARMOR / HAVE_SELINUX), its library
 * was not loaded by sys_lsm_prepare(), or it is not enabled on this host; otherwise the -errno
 * of the failing call. */
int sys_lsm_set_exec_label(const char *apparmor_profile, const char *selinux_context);

/* Parent, before clone3: load libapparmor / libselinux for the labels the plan requests (none
 * requested: nothing is loaded) and ask whether that LSM is enabled (the child's root has no
 * /sys to ask). 0, or -ELIBACC / -EOPNOTSUPP when a library cannot be loaded
 * or is not built in. The result is informational: without a successful prepare,
 * sys_lsm_set_exec_label() returns -EOPNOTSUPP for a requested label in the child, where the
 * plan's status decides (fail closed when required). */
int sys_lsm_prepare(const char *apparmor_profile, const char *selinux_context);

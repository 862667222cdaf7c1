/* SPDX-License-Identifier: MIT */
/* moat-vm's credentials (vm-account.h). Runs in moat (lookup) and in a forked child (become):
 * the child changes only its own credentials. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "host/vm-account.h"

int vm_account_lookup(VmAccount *ret) {
        struct passwd *pw;
        int n = VM_ACCOUNT_MAX_GROUPS;

        *ret = (VmAccount){};
        errno = 0;
        pw = getpwnam(VM_ACCOUNT);
        if (!pw)
                return errno ? -errno : -ENOENT;
        if (pw->pw_uid == 0 || pw->pw_gid == 0 || !pw->pw_dir || pw->pw_dir[0] != '/')
                return -EPERM;
        if ((size_t) snprintf(ret->home, sizeof(ret->home), "%s", pw->pw_dir) >= sizeof(ret->home))
                return -ENAMETOOLONG;
        snprintf(ret->name, sizeof(ret->name), "%s", VM_ACCOUNT);
        ret->uid = pw->pw_uid;
        ret->gid = pw->pw_gid;
        if (getgrouplist(VM_ACCOUNT, pw->pw_gid, ret->groups, &n) < 0)
                return -E2BIG;
        ret->n_groups = n;
        /* A supplementary group 0 (root) would hand QEMU whatever root's group may read. */
        for (int i = 0; i < n; i++)
                if (ret->groups[i] == 0)
                        return -EPERM;
        return 0;
}

int vm_account_become(const VmAccount *a) {
        uid_t r, e, s;

        if (setgroups((size_t) a->n_groups, a->groups) < 0 ||
            setresgid(a->gid, a->gid, a->gid) < 0 || setresuid(a->uid, a->uid, a->uid) < 0)
                return -errno;
        /* setresuid(2) is all or nothing, but a process that could still become root again
         * must not go on as QEMU's account. */
        if (getresuid(&r, &e, &s) < 0 || r != a->uid || e != a->uid || s != a->uid)
                return -EPERM;
        if (setuid(0) == 0)
                return -EPERM;
        return 0;
}

/* SPDX-License-Identifier: MIT */
/* Landlock through the raw syscalls. See landlock.h for the contract.
 *
 * The uapi header of the build host may predate the kernel we run on (Debian 12 ships the
 * ABI 2 definitions), so the bits and structures are defined here from the kernel's
 * include/uapi/linux/landlock.h, and each ABI's set of known bits is spelled out: a bit the
 * running ABI does not know is refused, never passed to the kernel and never dropped. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "basic/macros.h"
#include "sys/landlock.h"

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_RULE_NET_PORT 2 /* ABI 4 */

#define LL_FS_EXECUTE (1ULL << 0)
#define LL_FS_WRITE_FILE (1ULL << 1)
#define LL_FS_READ_FILE (1ULL << 2)
#define LL_FS_REFER (1ULL << 13)     /* ABI 2 */
#define LL_FS_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define LL_FS_V1 ((1ULL << 13) - 1)
#define LL_NET_BIND_TCP (1ULL << 0) /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)

/* The only rights the kernel accepts on a rule for a non-directory. */
#define LL_FS_FILE_RIGHTS \
        (LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)

typedef struct LandlockRulesetAttr {
        uint64_t handled_access_fs;
        uint64_t handled_access_net;
        uint64_t scoped;
} LandlockRulesetAttr;

typedef struct __attribute__((packed)) LandlockPathBeneathAttr {
        uint64_t allowed_access;
        int32_t parent_fd;
} LandlockPathBeneathAttr;

static uint64_t landlock_known_fs(int abi) {
        uint64_t m = abi >= 1 ? LL_FS_V1 : 0;

        if (abi >= 2)
                m |= LL_FS_REFER;
        if (abi >= 3)
                m |= LL_FS_TRUNCATE;
        if (abi >= 5)
                m |= LL_FS_IOCTL_DEV;
        return m;
}

static uint64_t landlock_known_net(int abi) {
        return abi >= 4 ? LL_NET_BIND_TCP | LL_NET_CONNECT_TCP : 0;
}

static uint64_t landlock_known_scoped(int abi) {
        return abi >= 6 ? LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL : 0;
}

uint64_t sys_landlock_known_fs(int abi) {
        return landlock_known_fs(abi);
}

uint64_t sys_landlock_known_net(int abi) {
        return landlock_known_net(abi);
}

uint64_t sys_landlock_known_scoped(int abi) {
        return landlock_known_scoped(abi);
}

int sys_landlock_abi(void) {
        long v = syscall(__NR_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);

        return v < 0 ? 0 : (int) v;
}

static int landlock_add_path(int ruleset_fd, const PlanLandlockPath *lp, uint64_t handled_fs) {
        _cleanup_close_ int fd = -EBADF;
        LandlockPathBeneathAttr pb;
        struct stat st;
        uint64_t access;

        if (!lp->path || lp->path[0] != '/')
                return -EINVAL;
        /* After pivot_root "/" is the new root, so an absolute path (and any symlink in it)
         * resolves inside it. O_PATH: a rule needs no read permission on the directory. */
        fd = open(lp->path, O_PATH | O_CLOEXEC);
        if (fd < 0) {
                /* Nothing there: a path rule only grants access, and there is nothing beneath a
                 * missing path to grant it to (creating it later needs a right on the parent). */
                if (errno == ENOENT)
                        return 0;
                return -errno;
        }
        /* A right that is not handled is not restricted; the kernel refuses it in a rule. */
        access = lp->access & handled_fs;
        if (access == 0)
                return 0;
        pb = (LandlockPathBeneathAttr){ .allowed_access = access, .parent_fd = fd };
        if (syscall(__NR_landlock_add_rule, ruleset_fd, LL_RULE_PATH_BENEATH, &pb, 0) == 0)
                return 0;
        /* The kernel refuses directory rights on anything else (EINVAL): only then is the type
         * looked up, and the rule made again with the file rights alone, as it would have been
         * made from the start had the type been read first (one fstat() fewer per rule). */
        if (errno != EINVAL || (access & ~LL_FS_FILE_RIGHTS) == 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EINVAL;
        pb.allowed_access = access & LL_FS_FILE_RIGHTS;
        if (pb.allowed_access == 0)
                return 0;
        if (syscall(__NR_landlock_add_rule, ruleset_fd, LL_RULE_PATH_BENEATH, &pb, 0) < 0)
                return -errno;
        return 0;
}

/* struct landlock_net_port_attr (Linux 6.7, uapi/linux/landlock.h): packed. */
typedef struct __attribute__((packed)) LandlockNetPortAttr {
        uint64_t allowed_access;
        uint64_t port;
} LandlockNetPortAttr;

int sys_landlock_apply(const PlanLandlock *p) {
        _cleanup_close_ int ruleset_fd = -EBADF;
        LandlockRulesetAttr attr;
        int host_abi, r;

        if (p->abi <= 0)
                return -EOPNOTSUPP;
        host_abi = sys_landlock_abi();
        if (host_abi <= 0 || p->abi > host_abi)
                return -EOPNOTSUPP;

        if ((p->handled_fs & ~landlock_known_fs(p->abi)) ||
            (p->handled_net & ~landlock_known_net(p->abi)) ||
            (p->scoped & ~landlock_known_scoped(p->abi)))
                return -EINVAL;
        for (size_t i = 0; i < p->n_paths; i++)
                if (p->paths[i].access & ~landlock_known_fs(p->abi))
                        return -EINVAL;
        /* A ruleset that handles nothing would be an empty promise. */
        if (p->handled_fs == 0 && p->handled_net == 0 && p->scoped == 0)
                return -EINVAL;

        attr = (LandlockRulesetAttr){
                .handled_access_fs = p->handled_fs,
                .handled_access_net = p->handled_net,
                .scoped = p->scoped,
        };
        /* The kernel accepts a larger struct as long as the fields it does not know are zero,
         * which the ABI checks above guarantee. The ruleset fd is born O_CLOEXEC. */
        ruleset_fd = (int) syscall(__NR_landlock_create_ruleset, &attr, sizeof(attr), 0);
        if (ruleset_fd < 0)
                return -errno;

        for (size_t i = 0; i < p->n_paths; i++) {
                r = landlock_add_path(ruleset_fd, &p->paths[i], p->handled_fs);
                if (r < 0)
                        return r;
        }

        /* network: outbound: the one TCP port the workload may connect to (the proxy). */
        if (p->connect_port) {
                LandlockNetPortAttr np = { .allowed_access = LL_NET_CONNECT_TCP,
                                           .port = p->connect_port };
                if (!(p->handled_net & LL_NET_CONNECT_TCP))
                        return -EINVAL;
                if (syscall(__NR_landlock_add_rule, ruleset_fd, LL_RULE_NET_PORT, &np, 0) < 0)
                        return -errno;
        }

        if (syscall(__NR_landlock_restrict_self, ruleset_fd, 0) < 0)
                return -errno;
        return 0;
}

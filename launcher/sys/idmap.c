/* SPDX-License-Identifier: MIT */
/* Runs in the parent with the caller's credentials; see idmap.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "basic/macros.h"
#include "sys/idmap.h"

static int write_proc_file(pid_t pid, const char *name, const char *content) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, name);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        size_t len = strlen(content);
        ssize_t n = write(fd, content, len);
        if (n < 0)
                return -errno;
        return (size_t) n == len ? 0 : -EIO;
}

int sys_idmap_write_from_parent(pid_t child, uid_t inside_uid, uid_t outside_uid, gid_t inside_gid,
                                gid_t outside_gid) {
        char line[64];
        int r;

        snprintf(line, sizeof(line), "%u %u 1\n", (unsigned) inside_uid, (unsigned) outside_uid);
        r = write_proc_file(child, "uid_map", line);
        if (r < 0)
                return r;
        r = write_proc_file(child, "setgroups", "deny");
        if (r < 0)
                return r;
        snprintf(line, sizeof(line), "%u %u 1\n", (unsigned) inside_gid, (unsigned) outside_gid);
        return write_proc_file(child, "gid_map", line);
}

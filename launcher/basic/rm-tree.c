/* SPDX-License-Identifier: MIT */
/* rm_tree() (rm-tree.h). Not in the pure library: it removes files. Linked into moat and into
 * moat-system-run, which removes a system-tier run's directory when moat was killed.
 *
 * The listing's d_type says what an entry is, so a file costs one unlinkat() and a directory
 * an open, an fstat, its listing, a close and a rmdir (a stat of every entry and glibc's DIR on
 * top were half of the system calls of a system-tier run's removal). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rm-tree.h"

struct linux_dirent64 {
        uint64_t d_ino;
        int64_t d_off;
        unsigned short d_reclen;
        unsigned char d_type;
        char d_name[];
};

/* The directory name in dfd, opened for listing; one that is not searchable and readable by
 * its owner (overlayfs leaves work/work at mode 000) is made so first, through an O_PATH
 * descriptor of that very directory (never a path that could have become a symbolic link). */
static int open_dir(int dfd, const char *name) {
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 || errno != EACCES)
                return fd;
        int pfd = openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (pfd < 0)
                return -1;
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
        if (chmod(proc, 0700) == 0)
                fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int e = errno;
        close(pfd);
        errno = e;
        return fd;
}

/* type: the entry's d_type in its parent's listing, DT_UNKNOWN when not known. */
static int rm_tree_at(int dfd, const char *name, unsigned char type) {
        if (type != DT_DIR && type != DT_UNKNOWN) {
                if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
                        return 0;
                if (errno != EISDIR)
                        return -errno;
        }
        int fd = open_dir(dfd, name);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 0;
                if (errno != ENOTDIR && errno != ELOOP)
                        return -errno;
                /* not a directory after all (or a symbolic link): the entry itself */
                return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
        }
        int r = 0;
        struct stat st;
        /* images are made read-only: a directory must be writable to remove what is in it */
        if (fstat(fd, &st) < 0 || ((st.st_mode & 0700) != 0700 && fchmod(fd, 0700) < 0))
                r = -errno;
        char *buf = r == 0 ? malloc(8192) : NULL;
        if (r == 0 && !buf)
                r = -ENOMEM;
        /* Entries are removed while the listing goes on; a file system may then skip one, so
         * a directory still not empty is listed once more from its start. */
        for (int pass = 0; buf && pass < 2; pass++) {
                long n;
                if (pass > 0 && lseek(fd, 0, SEEK_SET) < 0)
                        break;
                while ((n = syscall(SYS_getdents64, fd, buf, 8192)) > 0)
                        for (long off = 0; off < n;) {
                                struct linux_dirent64 *de = (struct linux_dirent64 *) (buf + off);
                                off += de->d_reclen;
                                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                                        continue;
                                int q = rm_tree_at(fd, de->d_name, de->d_type);
                                if (q < 0 && r == 0)
                                        r = q;
                        }
                if (unlinkat(dfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT) {
                        free(buf);
                        close(fd);
                        return r;
                }
                if (errno != ENOTEMPTY)
                        break;
        }
        int e = errno;
        free(buf);
        close(fd);
        return r < 0 ? r : -e;
}

int rm_tree(const char *path) {
        return rm_tree_at(AT_FDCWD, path, DT_UNKNOWN);
}

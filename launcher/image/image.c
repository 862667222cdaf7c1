/* SPDX-License-Identifier: MIT */
/* The image store (image.h). Runs from `moat image` and from the system executor; it changes
 * files under the store directory only, and runs tar, cp and mmdebstrap as child processes of
 * the calling user (never inside a sandbox launch). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/macros.h"
#include "basic/rm-tree.h"
#include "basic/sha256.h"
#include "image.h"

void image_info_done(ImageInfo *i) {
        if (!i)
                return;
        free(i->rootfs);
        i->rootfs = NULL;
}

int image_store_dir(char **ret) {
        const char *e = getenv("MOAT_IMAGE_DIR");
        char *p = NULL;

        if (e && e[0] == '/')
                p = strdup(e);
        else if (geteuid() == 0)
                p = strdup("/var/lib/moat/images");
        else if ((e = getenv("XDG_DATA_HOME")) && e[0] == '/') {
                if (asprintf(&p, "%s/moat/images", e) < 0)
                        p = NULL;
        } else if ((e = getenv("HOME")) && e[0] == '/') {
                if (asprintf(&p, "%s/.local/share/moat/images", e) < 0)
                        p = NULL;
        } else
                return -ENOENT;
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

static int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* Run argv, stdout to stderr (the progress of tar, cp and mmdebstrap is not moat's output),
 * stdout/stderr to /dev/null when quiet. Returns the exit code, or -errno. */
static int spawn_wait(char *const *argv, bool quiet) {
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (null >= 0) {
                        dup2(null, 0);
                        dup2(quiet ? null : 2, 1);
                        if (quiet)
                                dup2(null, 2);
                }
                execv(argv[0], argv);
                fprintf(stderr, "moat: cannot run %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        int st;
        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (WIFEXITED(st))
                return WEXITSTATUS(st);
        return 128 + WTERMSIG(st);
}

static int hash_file(const char *path, char hex[65]) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        static char buf[1 << 16];
        uint8_t d[SHA256_DIGEST_BYTES];
        Sha256 s;
        ssize_t n;

        if (fd < 0)
                return -errno;
        sha256_init(&s);
        while ((n = read(fd, buf, sizeof(buf))) != 0) {
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                sha256_update(&s, buf, (size_t) n);
        }
        sha256_final(&s, d);
        for (size_t i = 0; i < sizeof(d); i++)
                snprintf(hex + 2 * i, 3, "%02x", d[i]);
        return 0;
}

_printf_(2, 3) static void progress(bool quiet, const char *fmt, ...) {
        va_list ap;
        if (quiet || !isatty(2))
                return;
        fprintf(stderr, "moat image: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

/* names/NAME -> ../sha256/HEX, replaced atomically. */
static int link_name(const char *store, const char *name, const char *hex) {
        _cleanup_free_ char *tmp = NULL, *dst = NULL, *target = NULL;
        if (asprintf(&tmp, "%s/names/.%s.%d", store, name, (int) getpid()) < 0 ||
            asprintf(&dst, "%s/names/%s", store, name) < 0 ||
            asprintf(&target, "../sha256/%s", hex) < 0)
                return -ENOMEM;
        (void) unlink(tmp);
        if (symlink(target, tmp) < 0)
                return -errno;
        if (rename(tmp, dst) < 0) {
                int r = -errno;
                (void) unlink(tmp);
                return r;
        }
        return 0;
}

static int lookup_in(const char *store, const char *name, ImageInfo *ret) {
        _cleanup_free_ char *link = NULL, *rootfs = NULL;
        char target[PATH_MAX];
        struct stat st;
        ssize_t n;

        if (!image_name_valid(name))
                return -EINVAL;
        if (asprintf(&link, "%s/names/%s", store, name) < 0)
                return -ENOMEM;
        n = readlink(link, target, sizeof(target) - 1);
        if (n < 0)
                return -errno;
        target[n] = '\0';
        const char *hex = strrchr(target, '/');
        hex = hex ? hex + 1 : target;
        if (strlen(hex) != 64 || strspn(hex, "0123456789abcdef") != 64)
                return -EBADMSG;
        if (asprintf(&rootfs, "%s/sha256/%s/rootfs", store, hex) < 0)
                return -ENOMEM;
        if (stat(rootfs, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        *ret = (ImageInfo){};
        snprintf(ret->name, sizeof(ret->name), "%s", name);
        snprintf(ret->digest, sizeof(ret->digest), "%s", hex);
        ret->rootfs = TAKE_PTR(rootfs);
        return 0;
}

int image_lookup(const char *name, ImageInfo *ret) {
        _cleanup_free_ char *store = NULL;
        int r = image_store_dir(&store);
        if (r < 0)
                return r;
        return lookup_in(store, name, ret);
}

static int store_prepare(const char *store) {
        static const char *const subs[] = { "names", "sha256", "shifted", "tmp" };
        int r = mkdir_p(store, 0755);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(subs); i++) {
                _cleanup_free_ char *p = NULL;
                if (asprintf(&p, "%s/%s", store, subs[i]) < 0)
                        return -ENOMEM;
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        r = -errno;
        }
        return r;
}

int image_import(const char *name, const char *tarball, bool quiet, ImageInfo *ret) {
        _cleanup_free_ char *store = NULL, *tmp = NULL, *rootfs = NULL, *dst = NULL;
        char hex[65];
        struct stat st;
        int r;

        if (!image_name_valid(name))
                return -EINVAL;
        if (stat(tarball, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADF;
        r = image_store_dir(&store);
        if (r < 0)
                return r;
        r = store_prepare(store);
        if (r < 0)
                return r;
        progress(quiet, "hashing %s", tarball);
        r = hash_file(tarball, hex);
        if (r < 0)
                return r;
        if (asprintf(&dst, "%s/sha256/%s", store, hex) < 0)
                return -ENOMEM;
        if (access(dst, F_OK) < 0) {
                if (asprintf(&tmp, "%s/tmp/import.XXXXXX", store) < 0)
                        return -ENOMEM;
                if (!mkdtemp(tmp))
                        return -errno;
                if (asprintf(&rootfs, "%s/rootfs", tmp) < 0)
                        return -ENOMEM;
                if (mkdir(rootfs, 0755) < 0) {
                        r = -errno;
                        goto fail;
                }
                progress(quiet, "extracting %s as %s", tarball, name);
                /* As root the owners are kept as numbers (a range map shifts them); a user
                 * cannot own other ids or make device nodes, so every file becomes the user's
                 * (what a single-uid map needs) and /dev is left to lxc.autodev. */
                char *root_argv[] = {
                        "/usr/bin/tar", "-x",   "-p", "--numeric-owner", "-f", (char *) tarball,
                        "-C",           rootfs, NULL
                };
                char *user_argv[] = { "/usr/bin/tar",
                                      "-x",
                                      "-p",
                                      "--no-same-owner",
                                      "--exclude=./dev/*",
                                      "--exclude=dev/*",
                                      "-f",
                                      (char *) tarball,
                                      "-C",
                                      rootfs,
                                      NULL };
                r = spawn_wait(geteuid() == 0 ? root_argv : user_argv, quiet);
                if (r != 0) {
                        r = r > 0 ? -EIO : r;
                        goto fail;
                }
                /* read-only once in place (a directory moved to another parent needs write
                 * access to itself, for its "..") */
                if (rename(tmp, dst) < 0 || chmod(dst, 0555) < 0) {
                        r = -errno;
                        /* another import of the same tarball won the race: use it */
                        if (access(dst, F_OK) == 0)
                                r = 0;
                        (void) rm_tree(tmp);
                        if (r < 0)
                                return r;
                }
        }
        r = link_name(store, name, hex);
        if (r < 0)
                return r;
        progress(quiet, "imported %s as sha256:%s", name, hex);
        return ret ? lookup_in(store, name, ret) : 0;
fail:
        (void) rm_tree(tmp);
        return r;
}

/* The archive of this host's apt sources: the first "URIs:" (deb822) or "deb URL" line that
 * is not a security or updates archive. NULL when none is found. */
static char *host_archive(void) {
        static const char *const files[] = { "/etc/apt/sources.list.d/debian.sources",
                                             "/etc/apt/sources.list" };
        char line[1024];
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                FILE *f = fopen(files[i], "re");
                if (!f)
                        continue;
                while (fgets(line, sizeof(line), f)) {
                        char *u = NULL;
                        if (strncmp(line, "URIs:", 5) == 0)
                                u = line + 5;
                        else if (strncmp(line, "deb ", 4) == 0)
                                u = line + 4;
                        if (!u)
                                continue;
                        u += strspn(u, " \t");
                        if (u[0] == '[') /* deb [options] URL */
                                u = strchr(u, ']') ? strchr(u, ']') + 1 : u;
                        u += strspn(u, " \t");
                        u[strcspn(u, " \t\n")] = '\0';
                        if (strncmp(u, "http", 4) == 0 && !strstr(u, "security")) {
                                fclose(f);
                                return strdup(u);
                        }
                }
                fclose(f);
        }
        return NULL;
}

int image_build(const char *name, const char *dist, const char *mirror, char *const *include,
                unsigned attempts, bool quiet, ImageInfo *ret) {
        _cleanup_free_ char *store = NULL, *tmp = NULL, *tar = NULL, *inc = NULL, *arch = NULL;
        int r;

        if (!image_name_valid(name))
                return -EINVAL;
        if (geteuid() != 0)
                return -EPERM;
        r = image_store_dir(&store);
        if (r < 0)
                return r;
        r = store_prepare(store);
        if (r < 0)
                return r;
        if (!mirror && !(arch = host_archive()))
                return -ENOENT;
        size_t len = 1;
        for (size_t i = 0; include && include[i]; i++)
                len += strlen(include[i]) + 1;
        inc = calloc(1, len + 12);
        if (!inc)
                return -ENOMEM;
        for (size_t i = 0; include && include[i]; i++)
                sprintf(inc + strlen(inc), "%s%s", i ? "," : "--include=", include[i]);
        if (asprintf(&tmp, "%s/tmp/build.XXXXXX", store) < 0)
                return -ENOMEM;
        if (!mkdtemp(tmp))
                return -errno;
        if (asprintf(&tar, "%s/image.tar", tmp) < 0) {
                r = -ENOMEM;
                goto out;
        }
        char *argv[] = { "/usr/bin/mmdebstrap",
                         "--variant=minbase",
                         "--mode=root",
                         "--format=tar",
                         "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
                         quiet ? "--quiet" : "--verbose",
                         (char *) (dist ? dist : "bookworm"),
                         tar,
                         (char *) (mirror ? mirror : arch),
                         inc[0] ? inc : NULL,
                         NULL };
        if (inc[0]) { /* options before the positional arguments */
                memmove(argv + 6, argv + 5, 4 * sizeof(char *));
                argv[5] = inc;
        }
        /* The archive can be unreachable for minutes (mmdebstrap exits 25): retry, with a
         * pause, and never let a run depend on it. */
        for (unsigned i = 0; i < (attempts ? attempts : 1); i++) {
                if (i > 0) {
                        if (!quiet)
                                fprintf(stderr,
                                        "moat image: mmdebstrap failed (exit %d), "
                                        "attempt %u of %u in %u s\n",
                                        r, i + 1, attempts, 5 * i);
                        sleep(5 * i);
                }
                (void) unlink(tar);
                progress(quiet, "building %s with mmdebstrap (%s)", name, dist ? dist : "bookworm");
                r = spawn_wait(argv, quiet);
                if (r == 0)
                        break;
        }
        if (r != 0) {
                r = r > 0 ? -EIO : r;
                goto out;
        }
        r = image_import(name, tar, quiet, ret);
out:
        (void) rm_tree(tmp);
        return r;
}

static int name_refers(const char *store, const char *hex) {
        _cleanup_free_ char *names = NULL;
        if (asprintf(&names, "%s/names", store) < 0)
                return -ENOMEM;
        DIR *d = opendir(names);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        struct dirent *de;
        int found = 0;
        while (!found && (de = readdir(d))) {
                ImageInfo i = {};
                if (de->d_name[0] == '.' || lookup_in(store, de->d_name, &i) < 0)
                        continue;
                found = strcmp(i.digest, hex) == 0;
                image_info_done(&i);
        }
        closedir(d);
        return found;
}

int image_remove(const char *name) {
        _cleanup_free_ char *store = NULL, *link = NULL, *tree = NULL, *shifted = NULL;
        ImageInfo info = {};
        char target[PATH_MAX];
        int r;

        if (!image_name_valid(name))
                return -EINVAL;
        r = image_store_dir(&store);
        if (r < 0)
                return r;
        if (asprintf(&link, "%s/names/%s", store, name) < 0)
                return -ENOMEM;
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n < 0)
                return -errno;
        target[n] = '\0';
        r = lookup_in(store, name, &info);
        if (unlink(link) < 0) {
                image_info_done(&info);
                return -errno;
        }
        if (r < 0) /* a dangling name: removing it is all there is to do */
                return 0;
        r = name_refers(store, info.digest);
        if (r == 0 && asprintf(&tree, "%s/sha256/%s", store, info.digest) >= 0) {
                r = rm_tree(tree);
                if (asprintf(&shifted, "%s/shifted", store) >= 0) {
                        DIR *d = opendir(shifted);
                        struct dirent *de;
                        while (d && (de = readdir(d)))
                                if (strncmp(de->d_name, info.digest, 64) == 0) {
                                        _cleanup_free_ char *p = NULL;
                                        if (asprintf(&p, "%s/%s", shifted, de->d_name) >= 0)
                                                (void) rm_tree(p);
                                }
                        if (d)
                                closedir(d);
                }
        }
        image_info_done(&info);
        return r < 0 ? r : 0;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int image_foreach(int (*fn)(const ImageInfo *i, void *userdata), void *userdata) {
        _cleanup_free_ char *store = NULL, *names = NULL;
        char **list = NULL;
        size_t n = 0;
        int r = image_store_dir(&store);
        if (r < 0)
                return r;
        if (asprintf(&names, "%s/names", store) < 0)
                return -ENOMEM;
        DIR *d = opendir(names);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                char **l = realloc(list, (n + 1) * sizeof(char *));
                if (!l || !(l[n] = strdup(de->d_name))) {
                        list = l ? l : list;
                        r = -ENOMEM;
                        break;
                }
                list = l;
                n++;
        }
        closedir(d);
        if (list)
                qsort(list, n, sizeof(char *), cmp_str);
        for (size_t i = 0; i < n; i++) {
                ImageInfo info = {};
                if (r >= 0 && lookup_in(store, list[i], &info) >= 0)
                        r = fn(&info, userdata);
                image_info_done(&info);
                free(list[i]);
        }
        free(list);
        return r;
}

/* Move uids and gids 0..65535 of every entry up by base. chown clears setuid/setgid, so the
 * mode is put back on regular files (file capabilities are cleared by the kernel too and are
 * not restored: a binary of the image then runs without them, never with more). */
static int shift_at(int dfd, const char *name, uint32_t base) {
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        /* a hard link to an inode shifted through another name already */
        if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 && st.st_uid >= base &&
            st.st_uid - base <= 65535 && st.st_gid >= base && st.st_gid - base <= 65535)
                return 0;
        if (st.st_uid > 65535 || st.st_gid > 65535)
                return -ERANGE;
        if (fchownat(dfd, name, st.st_uid + base, st.st_gid + base, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (S_ISREG(st.st_mode) && (st.st_mode & (S_ISUID | S_ISGID)) &&
            fchmodat(dfd, name, st.st_mode & 07777, 0) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return 0;
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -ENOMEM;
        }
        struct dirent *de;
        int r = 0;
        while (r >= 0 && (de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        r = shift_at(dirfd(d), de->d_name, base);
        closedir(d);
        return r;
}

int image_shifted(const ImageInfo *info, uint32_t base, char **ret) {
        _cleanup_free_ char *store = NULL, *dst = NULL, *tmp = NULL, *copy = NULL;
        int r;

        if (geteuid() != 0)
                return -EPERM;
        r = image_store_dir(&store);
        if (r < 0)
                return r;
        if (asprintf(&dst, "%s/shifted/%s-%u", store, info->digest, base) < 0)
                return -ENOMEM;
        if (access(dst, F_OK) == 0) {
                *ret = TAKE_PTR(dst);
                return 0;
        }
        r = store_prepare(store);
        if (r < 0)
                return r;
        if (asprintf(&tmp, "%s/tmp/shift.XXXXXX", store) < 0)
                return -ENOMEM;
        if (!mkdtemp(tmp))
                return -errno;
        if (asprintf(&copy, "%s/rootfs", tmp) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        char *argv[] = { "/usr/bin/cp", "-a", "--reflink=auto", info->rootfs, copy, NULL };
        r = spawn_wait(argv, true);
        if (r != 0) {
                r = r > 0 ? -EIO : r;
                goto fail;
        }
        r = shift_at(AT_FDCWD, copy, base);
        if (r < 0)
                goto fail;
        if (rename(copy, dst) < 0) {
                r = access(dst, F_OK) == 0 ? 0 : -errno; /* a concurrent run made it first */
                if (r < 0)
                        goto fail;
        }
        (void) rm_tree(tmp);
        *ret = TAKE_PTR(dst);
        return 0;
fail:
        (void) rm_tree(tmp);
        return r;
}

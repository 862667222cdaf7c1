/* SPDX-License-Identifier: MIT */
/* Builds the guest initramfs in C: a newc cpio (the format the kernel unpacks) holding
 *   /dev/console            so the kernel can give init a console
 *   /init                   moat-guest-init (static)
 *   /lib/moat/NN-name.ko    the modules, numbered in load order (init loads them by name order)
 *   /lib/moat/extra/overlay.ko  when the kernel's modules-extra has it: loaded by init only for
 *                           an image root (record "overlay", vm-layout.c)
 * The cache key covers the identity of every input file (device, inode, size, mtime) and the
 * kernel release, so a new kernel, new modules or a rebuilt init give a new archive. The
 * archive is written to a temporary file and renamed into place: concurrent runs never see a
 * partial one. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "basic/macros.h"
#include "basic/strv.h"
#include "config.h"
#include "vm-initramfs.h"

static char *read_small_file(const char *path) {
        char buf[4096];
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return NULL;
        n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return NULL;
        buf[n] = 0;
        return strdup(buf);
}

void vm_guest_files_done(VmGuestFiles *f) {
        free(f->kernel);
        free(f->release);
        free(f->modules_dir);
        free(f->init);
        *f = (VmGuestFiles){};
}

int vm_guest_files_find(const char *kernel, VmGuestFiles *ret, char *msg, size_t msg_size) {
        _cleanup_free_ char *dir = strdup(kernel), *rel_path = NULL, *order = NULL;
        VmGuestFiles f = {};
        const char *init = getenv("MOAT_GUEST_INIT");
        char *slash;

        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (!slash || kernel[0] != '/') {
                snprintf(msg, msg_size, "guest kernel path is not absolute: %s", kernel);
                return -EINVAL;
        }
        *slash = 0;
        if (asprintf(&rel_path, "%s/release", dir) < 0 ||
            asprintf(&f.modules_dir, "%s/modules", dir) < 0 ||
            asprintf(&order, "%s/order", f.modules_dir) < 0)
                return -ENOMEM;
        f.release = read_small_file(rel_path);
        if (!f.release || access(order, R_OK) < 0) {
                snprintf(msg, msg_size,
                         "no guest modules beside %s (%s/order); install the guest kernel with "
                         "moat-guest-kernel (as root)",
                         kernel, f.modules_dir);
                vm_guest_files_done(&f);
                return -ENOENT;
        }
        f.release[strcspn(f.release, "\n")] = 0;
        f.kernel = strdup(kernel);
        f.init = init && init[0] ? strdup(init) : strdup(MOAT_LIBEXEC_DIR "/moat-guest-init");
        if (!f.kernel || !f.init) {
                vm_guest_files_done(&f);
                return -ENOMEM;
        }
        if (access(f.init, R_OK) < 0) {
                snprintf(msg, msg_size, "guest init %s: %s", f.init, strerror(errno));
                vm_guest_files_done(&f);
                return -ENOENT;
        }
        *ret = f;
        return 0;
}

static int module_list(const VmGuestFiles *f, char ***ret) {
        _cleanup_free_ char *order_path = NULL, *line = NULL;
        _cleanup_strv_free_ char **l = NULL;
        size_t cap = 0;
        FILE *fp;

        if (asprintf(&order_path, "%s/order", f->modules_dir) < 0)
                return -ENOMEM;
        fp = fopen(order_path, "re");
        if (!fp)
                return -errno;
        while (getline(&line, &cap, fp) > 0) {
                line[strcspn(line, "\n")] = 0;
                if (!line[0])
                        continue;
                if (strspn(line, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(line) ||
                    strv_extend(&l, line) < 0) {
                        fclose(fp);
                        return -EINVAL;
                }
        }
        fclose(fp);
        if (strv_length(l) == 0 || strv_length(l) > 99)
                return -EINVAL;
        *ret = TAKE_PTR(l);
        return 0;
}

static void hash_stat(EVP_MD_CTX *h, const char *path, const struct stat *st) {
        char buf[PATH_MAX + 128];
        int n = snprintf(buf, sizeof(buf), "%s %ju %ju %jd %ld.%09ld\n", path,
                         (uintmax_t) st->st_dev, (uintmax_t) st->st_ino, (intmax_t) st->st_size,
                         (long) st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
        EVP_DigestUpdate(h, buf, (size_t) MIN(n, (int) sizeof(buf)));
}

/* modules-extra/overlay.ko beside the kernel's modules (moat-guest-kernel), or "" if absent. */
static void overlay_module(const VmGuestFiles *f, char *path, size_t size) {
        snprintf(path, size, "%s-extra/overlay.ko", f->modules_dir);
        if (access(path, R_OK) < 0)
                path[0] = 0;
}

static int cache_key(const VmGuestFiles *f, char **mods, char ret[33]) {
        EVP_MD_CTX *h = EVP_MD_CTX_new();
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        struct stat st;
        int r = 0;

        if (!h)
                return -ENOMEM;
        EVP_DigestInit_ex(h, EVP_sha256(), NULL);
        EVP_DigestUpdate(h, f->release, strlen(f->release));
        if (stat(f->init, &st) < 0) {
                r = -errno;
                goto out;
        }
        hash_stat(h, f->init, &st);
        STRV_FOREACH (m, mods) {
                char path[PATH_MAX];
                snprintf(path, sizeof(path), "%s/%s.ko", f->modules_dir, *m);
                if (stat(path, &st) < 0) {
                        r = -errno;
                        goto out;
                }
                hash_stat(h, path, &st);
        }
        char extra[PATH_MAX];
        overlay_module(f, extra, sizeof(extra));
        if (extra[0] && stat(extra, &st) == 0)
                hash_stat(h, extra, &st);
        EVP_DigestFinal_ex(h, md, &mdlen);
        for (unsigned i = 0; i < 16; i++)
                snprintf(ret + 2 * i, 3, "%02x", md[i]);
out:
        EVP_MD_CTX_free(h);
        return r;
}

/* One newc header + name (+ padding); the data follows, padded to 4 bytes. */
static int cpio_header(FILE *out, const char *name, mode_t mode, uint64_t size, dev_t rdev) {
        static unsigned ino = 1;
        size_t namesize = strlen(name) + 1;

        if (fprintf(out, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", ino++,
                    (unsigned) mode, 0u, 0u, 1u, 0u, (unsigned) size, 0u, 0u, major(rdev),
                    minor(rdev), (unsigned) namesize, 0u) < 0 ||
            fwrite(name, 1, namesize, out) != namesize)
                return -EIO;
        for (size_t pad = (4 - (110 + namesize) % 4) % 4; pad > 0; pad--)
                if (fputc(0, out) == EOF)
                        return -EIO;
        return 0;
}

static int cpio_file(FILE *out, const char *name, const char *path, mode_t mode) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        char buf[65536];
        struct stat st;
        uint64_t done = 0;
        int r;

        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_size > UINT32_MAX)
                return -EINVAL;
        if ((r = cpio_header(out, name, S_IFREG | mode, (uint64_t) st.st_size, 0)) < 0)
                return r;
        while (done < (uint64_t) st.st_size) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EIO; /* the file shrank under us */
                if (done + (uint64_t) n > (uint64_t) st.st_size)
                        n = (ssize_t) ((uint64_t) st.st_size - done);
                if (fwrite(buf, 1, (size_t) n, out) != (size_t) n)
                        return -EIO;
                done += (uint64_t) n;
        }
        for (size_t pad = (4 - st.st_size % 4) % 4; pad > 0; pad--)
                if (fputc(0, out) == EOF)
                        return -EIO;
        return 0;
}

static int cpio_write(const VmGuestFiles *f, char **mods, FILE *out) {
        static const char *const dirs[] = { "dev", "lib", "lib/moat", "proc", "sys" };
        int r, i = 0;

        for (size_t d = 0; d < ELEMENTSOF(dirs); d++)
                if ((r = cpio_header(out, dirs[d], S_IFDIR | 0755, 0, 0)) < 0)
                        return r;
        if ((r = cpio_header(out, "dev/console", S_IFCHR | 0600, 0, makedev(5, 1))) < 0 ||
            (r = cpio_file(out, "init", f->init, 0755)) < 0)
                return r;
        STRV_FOREACH (m, mods) {
                char path[PATH_MAX], name[128];
                snprintf(path, sizeof(path), "%s/%s.ko", f->modules_dir, *m);
                snprintf(name, sizeof(name), "lib/moat/%02d-%s.ko", ++i, *m);
                if ((r = cpio_file(out, name, path, 0644)) < 0)
                        return r;
        }
        char extra[PATH_MAX];
        overlay_module(f, extra, sizeof(extra));
        if (extra[0] && ((r = cpio_header(out, "lib/moat/extra", S_IFDIR | 0755, 0, 0)) < 0 ||
                         (r = cpio_file(out, "lib/moat/extra/overlay.ko", extra, 0644)) < 0))
                return r;
        return cpio_header(out, "TRAILER!!!", 0, 0, 0);
}

static int mkdir_parents(const char *dir) {
        _cleanup_free_ char *p = strdup(dir);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++)
                if (*s == '/') {
                        *s = 0;
                        if (mkdir(p, 0700) < 0 && errno != EEXIST)
                                return -errno;
                        *s = '/';
                }
        return mkdir(p, 0700) < 0 && errno != EEXIST ? -errno : 0;
}

char *vm_cache_dir(const char *sub) {
        const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
        char *p = NULL;

        if (x && x[0] == '/')
                return asprintf(&p, "%s/moat%s", x, sub) < 0 ? NULL : p;
        if (!home || home[0] != '/') {
                struct passwd *pw = getpwuid(getuid());
                home = pw ? pw->pw_dir : NULL;
        }
        if (!home)
                return NULL;
        return asprintf(&p, "%s/.cache/moat%s", home, sub) < 0 ? NULL : p;
}

int vm_initramfs_ensure(const VmGuestFiles *f, const char *cache_dir, bool quiet, char **ret_path,
                        char *msg, size_t msg_size) {
        _cleanup_strv_free_ char **mods = NULL;
        _cleanup_free_ char *path = NULL, *tmp = NULL;
        char key[33];
        int r, fd;
        FILE *out;

        if ((r = module_list(f, &mods)) < 0) {
                snprintf(msg, msg_size, "bad module list in %s/order", f->modules_dir);
                return r;
        }
        if ((r = cache_key(f, mods, key)) < 0) {
                snprintf(msg, msg_size, "guest files: %s", strerror(-r));
                return r;
        }
        if (asprintf(&path, "%s/initramfs-%s-%s.cpio", cache_dir, f->release, key) < 0 ||
            asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0)
                return -ENOMEM;
        if (access(path, R_OK) == 0) {
                *ret_path = TAKE_PTR(path);
                return 0;
        }

        if (!quiet && isatty(STDERR_FILENO))
                fprintf(stderr,
                        "moat: building the guest initramfs for %s (first run with this "
                        "kernel)...\n",
                        f->release);
        if ((r = mkdir_parents(cache_dir)) < 0) {
                snprintf(msg, msg_size, "cannot create %s: %s", cache_dir, strerror(-r));
                return r;
        }
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                snprintf(msg, msg_size, "cannot create %s: %s", tmp, strerror(-r));
                return r;
        }
        /* QEMU, running as the caller, reads it; nobody else needs to. */
        (void) fchmod(fd, 0600);
        out = fdopen(fd, "we");
        if (!out) {
                r = -errno;
                close(fd);
                unlink(tmp);
                return r;
        }
        r = cpio_write(f, mods, out);
        if (fflush(out) != 0 || fsync(fileno(out)) < 0)
                r = r < 0 ? r : -EIO;
        if (fclose(out) != 0)
                r = r < 0 ? r : -EIO;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                unlink(tmp);
                snprintf(msg, msg_size, "cannot write the guest initramfs %s: %s", path,
                         strerror(-r));
                return r;
        }
        if (!quiet && isatty(STDERR_FILENO))
                fprintf(stderr, "moat: guest initramfs ready: %s\n", path);
        *ret_path = TAKE_PTR(path);
        return 0;
}

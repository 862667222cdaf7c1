/* SPDX-License-Identifier: MIT */
/* moat policy install | status | remove: moat's MAC policies in the host's kernel.
 *
 * The one command that needs root, run once by an administrator: it compiles and loads the
 * shipped AppArmor profiles (policies/apparmor/, apparmor_parser --replace) and the SELinux
 * module (policies/selinux/, built with the refpolicy headers of selinux-policy-dev, loaded with
 * semodule -i), on whichever of the two the kernel has enabled. The loading is done by those
 * tools, run as child processes; moat itself writes no kernel policy interface.
 *
 * What was installed is recorded under /var/lib/moat/policy: for each AppArmor profile the
 * SHA-256 of the shipped file that was loaded and the kernel's hash of the profile it loaded
 * (policy/profiles/NAME.N/sha1, when the kernel exposes it); for the SELinux module the SHA-256
 * of its sources. `status` compares the loaded policy with those records and with the shipped
 * files as they are now. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/file-util.h"
#include "basic/macros.h"
#include "basic/sha256.h"
#include "commands.h"
#include "context.h"

#define STATE_DIR "/var/lib/moat/policy"
#define AA_FS "/sys/kernel/security/apparmor"
#define SE_FS "/sys/fs/selinux"
#define SE_MAKEFILE "/usr/share/selinux/devel/Makefile"
#define DIGEST_HEX (SHA256_DIGEST_BYTES * 2 + 1)

typedef enum {
        ACT_INSTALL,
        ACT_STATUS,
        ACT_REMOVE
} Action;

static void help(FILE *f) {
        fprintf(f,
                "Usage: moat policy install|status|remove\n"
                "\n"
                "moat's MAC policies in this host's kernel (root).\n"
                "\n"
                "  install  compile and load the shipped AppArmor profiles (apparmor_parser\n"
                "           --replace) and the SELinux module (built with selinux-policy-dev,\n"
                "           semodule -i), on whichever of the two the kernel has enabled.\n"
                "           Idempotent: loading again replaces what is loaded.\n"
                "  status   which of moat's policies are loaded, and whether each is the\n"
                "           shipped file (SHA-256 recorded at install, the kernel's profile\n"
                "           hash) or differs from it\n"
                "  remove   unload moat's AppArmor profiles and remove the SELinux module\n"
                "\n"
                "Profiles (policies/apparmor/ in the data directory):\n"
                "  moat            the moat binary, unconfined; grants user namespaces on\n"
                "                  AppArmor 4 (abi3/moat is loaded where the parser has no\n"
                "                  abi 4.0)\n"
                "  moat-default    sandbox and vm-tier workloads (mac: {apparmor: moat-default})\n"
                "  moat-container  system-tier containers (needs lxc's AppArmor abstractions)\n"
                "SELinux module (policies/selinux/): moat_t, moat_sandbox_t "
                "(mac: {selinux: ...:moat_sandbox_t:s0})\n"
                "\n"
                "AppArmor profiles loaded by install last until the next boot; the SELinux\n"
                "module stays installed in the policy store. Install records what it loaded\n"
                "in " STATE_DIR
                ".\n"
                "\n"
                "Exit status: 0 done (status: every policy loaded and the shipped one);\n"
                "1 status: something is missing or differs; 125 not root, a tool missing, a\n"
                "load failed, or neither AppArmor nor SELinux enabled.\n");
}

/* snprintf() that reports truncation (-ENAMETOOLONG); callers that cannot act on it get a
 * truncated string, which then names no file and fails where it is used. */
static int __attribute__((format(printf, 3, 4))) fmt(char *buf, size_t size, const char *f, ...) {
        va_list ap;
        int n;

        va_start(ap, f);
        n = vsnprintf(buf, size, f, ap);
        va_end(ap);
        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

static void hex(const uint8_t d[SHA256_DIGEST_BYTES], char out[DIGEST_HEX]) {
        for (size_t i = 0; i < SHA256_DIGEST_BYTES; i++)
                snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* SHA-256 of the concatenated files, as hex. */
static int digest_files(const char *const *paths, size_t n, char out[DIGEST_HEX]) {
        uint8_t d[SHA256_DIGEST_BYTES];
        Sha256 s;

        sha256_init(&s);
        for (size_t i = 0; i < n; i++) {
                _cleanup_close_ int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
                _cleanup_free_ char *buf = NULL;
                size_t len = 0;
                struct stat st;
                int r;

                if (fd < 0 || fstat(fd, &st) < 0)
                        return -errno;
                if ((r = read_fd_bounded(fd, (size_t) st.st_size, 1 << 20, &buf, &len)) < 0)
                        return r;
                sha256_update(&s, buf, len);
        }
        sha256_final(&s, d);
        hex(d, out);
        return 0;
}

static int read_line(const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = read(fd, buf, size - 1);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        return (int) n;
}

/* Runs argv (a tool by absolute path) with stdout and stderr captured into out (the last
 * bytes that fit). Returns the exit status, or -errno if it could not be run. */
static int run_tool(char *const argv[], char *out, size_t out_size) {
        int pipefd[2], status;
        size_t len = 0;
        ssize_t n;
        pid_t pid;

        out[0] = '\0';
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(pipefd[0]);
                close(pipefd[1]);
                return r;
        }
        if (pid == 0) {
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (null < 0 || dup2(null, 0) < 0 || dup2(pipefd[1], 1) < 0 ||
                    dup2(pipefd[1], 2) < 0)
                        _exit(127);
                execv(argv[0], argv);
                _exit(127);
        }
        close(pipefd[1]);
        for (;;) {
                char chunk[1024];
                n = read(pipefd[0], chunk, sizeof(chunk));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                for (ssize_t i = 0; i < n; i++) {
                        if (len + 1 >= out_size) { /* keep the end: errors come last */
                                memmove(out, out + out_size / 2, len - out_size / 2);
                                len -= out_size / 2;
                        }
                        out[len++] = chunk[i];
                }
        }
        out[len] = '\0';
        while (len > 0 && out[len - 1] == '\n')
                out[--len] = '\0';
        close(pipefd[0]);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static const char *find_tool(const char *const *paths) {
        for (; *paths; paths++)
                if (access(*paths, X_OK) == 0)
                        return *paths;
        return NULL;
}

static int mkdir_p(const char *path) {
        char buf[PATH_MAX];

        fmt(buf, sizeof(buf), "%s", path);
        for (char *p = buf + 1; *p; p++)
                if (*p == '/') {
                        *p = '\0';
                        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                                return -errno;
                        *p = '/';
                }
        return mkdir(buf, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

/* The install record of one policy: "KEY VALUE" lines, written whole (rename). */
static int record_write(const char *kind, const char *name, const char *text) {
        char dir[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX + 8];
        _cleanup_close_ int fd = -EBADF;
        int r;

        fmt(dir, sizeof(dir), STATE_DIR "/%s", kind);
        fmt(path, sizeof(path), "%s/%s", dir, name);
        fmt(tmp, sizeof(tmp), "%s.tmp", path);
        if ((r = mkdir_p(dir)) < 0)
                return r;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -errno;
        if (write(fd, text, strlen(text)) != (ssize_t) strlen(text) || fsync(fd) < 0)
                return errno ? -errno : -EIO;
        return rename(tmp, path) < 0 ? -errno : 0;
}

static int record_get(const char *kind, const char *name, const char *key, char *val, size_t size) {
        char path[PATH_MAX], buf[1024];
        size_t klen = strlen(key);

        fmt(path, sizeof(path), STATE_DIR "/%s/%s", kind, name);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;
        if (fd < 0)
                return -errno;
        n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strncmp(l, key, klen) == 0 && l[klen] == ' ') {
                        fmt(val, size, "%.*s", (int) strcspn(l + klen + 1, "\n"), l + klen + 1);
                        return 0;
                }
        return -ENOENT;
}

static void record_remove(const char *kind, const char *name) {
        char path[PATH_MAX];

        fmt(path, sizeof(path), STATE_DIR "/%s/%s", kind, name);
        (void) unlink(path);
}

/* ---- AppArmor ---- */

static const char *const aa_parsers[] = { "/usr/sbin/apparmor_parser", "/sbin/apparmor_parser",
                                          NULL };

/* The file of a shipped profile: "moat" needs a parser that knows abi 4.0 (AppArmor 4; its
 * abi files are in the parser's base directory), else its AppArmor 3 form abi3/moat. */
static void aa_source(const char *dir, const char *name, char *path, size_t size) {
        if (strcmp(name, "moat") == 0 && access("/etc/apparmor.d/abi/4.0", F_OK) < 0)
                fmt(path, size, "%s/abi3/%s", dir, name);
        else
                fmt(path, size, "%s/%s", dir, name);
}

/* Loaded mode of NAME ("enforce", "complain", "unconfined", ...) from the profile list, or
 * "" when it is not loaded. */
static int aa_loaded_mode(const char *name, char *mode, size_t size) {
        _cleanup_free_ char *line = NULL;
        size_t cap = 0, nlen = strlen(name);
        FILE *f = fopen(AA_FS "/profiles", "re");

        mode[0] = '\0';
        if (!f)
                return -errno;
        while (getline(&line, &cap, f) > 0)
                if (strncmp(line, name, nlen) == 0 && strncmp(line + nlen, " (", 2) == 0) {
                        fmt(mode, size, "%.*s", (int) strcspn(line + nlen + 2, ")\n"),
                            line + nlen + 2);
                        break;
                }
        fclose(f);
        return 0;
}

/* The kernel's hash of the loaded profile NAME (policy/profiles/NAME.N/sha1), or "-". */
static void aa_kernel_hash(const char *name, char *out, size_t size) {
        DIR *d = opendir(AA_FS "/policy/profiles");
        struct dirent *de;
        char path[PATH_MAX], buf[256];

        fmt(out, size, "-");
        if (!d)
                return;
        while ((de = readdir(d))) {
                fmt(path, sizeof(path), AA_FS "/policy/profiles/%s/name", de->d_name);
                if (de->d_name[0] == '.' || read_line(path, buf, sizeof(buf)) <= 0 ||
                    strcmp(buf, name) != 0)
                        continue;
                fmt(path, sizeof(path), AA_FS "/policy/profiles/%s/sha1", de->d_name);
                if (read_line(path, buf, sizeof(buf)) > 0)
                        fmt(out, size, "%s", buf);
                break;
        }
        closedir(d);
}

static int aa_names(const char *dir, char names[][64], size_t max) {
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        if (!d)
                return -errno;
        while ((de = readdir(d)) && n < max) {
                char path[PATH_MAX];
                struct stat st;
                fmt(path, sizeof(path), "%s/%s", dir, de->d_name);
                if (de->d_name[0] == '.' || stat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
                    strlen(de->d_name) >= 64)
                        continue;
                fmt(names[n++], 64, "%s", de->d_name);
        }
        closedir(d);
        /* A stable order: insertion sort by name. */
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
                        char t[64];
                        memcpy(t, names[j], 64);
                        memcpy(names[j], names[j - 1], 64);
                        memcpy(names[j - 1], t, 64);
                }
        return (int) n;
}

/* A profile whose includes the host lacks is skipped with a note, not an error: moat-container
 * needs lxc's abstractions, which only a host with the system tier (lxc) has. */
static const char *aa_missing_prerequisite(const char *name) {
        if (strcmp(name, "moat-container") == 0 &&
            access("/etc/apparmor.d/abstractions/lxc/container-base", R_OK) < 0)
                return "needs lxc's /etc/apparmor.d/abstractions/lxc/container-base (install lxc)";
        return NULL;
}

static int apparmor(Action act, bool *ok) {
        char dir[PATH_MAX], names[16][64], out[4096];
        const char *parser = find_tool(aa_parsers);
        int n, failed = 0;

        if (access(AA_FS "/profiles", F_OK) < 0) {
                printf("AppArmor: not enabled on this host (no " AA_FS "/profiles)\n");
                return 0;
        }
        fmt(dir, sizeof(dir), "%s/policies/apparmor", moat_data_dir());
        if ((n = aa_names(dir, names, ELEMENTSOF(names))) < 0) {
                fprintf(stderr, "moat policy: AppArmor: cannot read %s: %s\n", dir, strerror(-n));
                return -1;
        }
        if (act != ACT_STATUS && !parser) {
                fprintf(stderr,
                        "moat policy: AppArmor is enabled, but apparmor_parser is not installed "
                        "(/usr/sbin/apparmor_parser; Debian/Ubuntu package apparmor)\n");
                return -1;
        }
        printf("AppArmor: enabled (profiles from %s)\n", dir);
        for (int i = 0; i < n; i++) {
                const char *name = names[i], *missing = aa_missing_prerequisite(name);
                char src[PATH_MAX], digest[DIGEST_HEX], mode[64], khash[128], rec[128], rec_k[128],
                        text[512];
                const char *p[1] = { src };
                int r;

                aa_source(dir, name, src, sizeof(src));
                if ((r = digest_files(p, 1, digest)) < 0) {
                        fprintf(stderr, "moat policy: AppArmor: cannot read %s: %s\n", src,
                                strerror(-r));
                        return -1;
                }
                (void) aa_loaded_mode(name, mode, sizeof(mode));
                switch (act) {
                case ACT_INSTALL: {
                        char *argv[] = { (char *) parser, (char *) "--replace",
                                         (char *) "--skip-cache", (char *) src, NULL };
                        if (missing) {
                                printf("  %-15s skipped: %s\n", name, missing);
                                continue;
                        }
                        r = run_tool(argv, out, sizeof(out));
                        if (r != 0) {
                                fprintf(stderr,
                                        "moat policy: AppArmor: %s failed to load %s (%s "
                                        "%d):\n%s\n",
                                        parser, src, r < 0 ? "error" : "exit status",
                                        r < 0 ? -r : r, r < 0 ? strerror(-r) : out);
                                failed++;
                                continue;
                        }
                        aa_kernel_hash(name, khash, sizeof(khash));
                        fmt(text, sizeof(text), "source %s\nsha256 %s\nkernel-sha1 %s\n", src,
                            digest, khash);
                        if ((r = record_write("apparmor", name, text)) < 0) {
                                fprintf(stderr,
                                        "moat policy: cannot record %s in " STATE_DIR ": %s\n",
                                        name, strerror(-r));
                                failed++;
                                continue;
                        }
                        (void) aa_loaded_mode(name, mode, sizeof(mode));
                        printf("  %-15s loaded (%s) from %s, sha256 %.12s\n", name, mode, src,
                               digest);
                        break;
                }
                case ACT_REMOVE: {
                        char *argv[] = { (char *) parser, (char *) "--remove", (char *) src, NULL };
                        record_remove("apparmor", name);
                        if (!mode[0]) {
                                printf("  %-15s not loaded\n", name);
                                continue;
                        }
                        r = run_tool(argv, out, sizeof(out));
                        if (r != 0) {
                                fprintf(stderr,
                                        "moat policy: AppArmor: %s failed to remove %s (%s "
                                        "%d):\n%s\n",
                                        parser, name, r < 0 ? "error" : "exit status",
                                        r < 0 ? -r : r, r < 0 ? strerror(-r) : out);
                                failed++;
                                continue;
                        }
                        printf("  %-15s removed\n", name);
                        break;
                }
                case ACT_STATUS:
                        if (!mode[0]) {
                                printf("  %-15s not loaded%s%s\n", name, missing ? ": " : "",
                                       missing ? missing : "");
                                *ok = *ok && missing;
                                continue;
                        }
                        aa_kernel_hash(name, khash, sizeof(khash));
                        if (record_get("apparmor", name, "sha256", rec, sizeof(rec)) < 0 ||
                            record_get("apparmor", name, "kernel-sha1", rec_k, sizeof(rec_k)) < 0) {
                                printf("  %-15s loaded (%s), not by moat policy install: cannot "
                                       "tell whether it is the shipped file\n",
                                       name, mode);
                                *ok = false;
                        } else if (strcmp(rec_k, khash) != 0) {
                                printf("  %-15s loaded (%s), but not what moat policy install "
                                       "loaded: the kernel's profile hash is %s, was %s\n",
                                       name, mode, khash, rec_k);
                                *ok = false;
                        } else if (strcmp(rec, digest) != 0) {
                                printf("  %-15s loaded (%s) from an older file: sha256 %.12s, "
                                       "the shipped %s is %.12s (run moat policy install)\n",
                                       name, mode, rec, src, digest);
                                *ok = false;
                        } else
                                printf("  %-15s loaded (%s), the shipped %s (sha256 %.12s%s%s)\n",
                                       name, mode, src, digest,
                                       strcmp(khash, "-") ? ", kernel sha1 " : "",
                                       strcmp(khash, "-") ? khash : "");
                        break;
                }
        }
        return failed ? -1 : 1;
}

/* ---- SELinux ---- */

static const char *const se_semodule[] = { "/usr/sbin/semodule", "/sbin/semodule", NULL };
static const char *const se_make[] = { "/usr/bin/make", "/bin/make", NULL };
static const char *const se_files[] = { "moat.te", "moat.fc", "moat.if" };

static bool se_module_listed(const char *semodule) {
        char out[16384];
        char *argv[] = { (char *) semodule, (char *) "--list-modules", NULL };

        if (run_tool(argv, out, sizeof(out)) != 0)
                return false;
        for (char *l = out; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strncmp(l, "moat", 4) == 0 &&
                    (l[4] == '\n' || l[4] == '\0' || l[4] == '\t' || l[4] == ' '))
                        return true;
        return false;
}

static int se_build(const char *dir, const char *tmp, char *out, size_t size) {
        const char *make = find_tool(se_make);
        char src[PATH_MAX], dst[PATH_MAX], mf[PATH_MAX];
        int r;

        if (access(SE_MAKEFILE, R_OK) < 0) {
                fmt(out, size,
                    "cannot build the module: " SE_MAKEFILE
                    " is missing (Debian package selinux-policy-dev)");
                return -1;
        }
        if (!make) {
                fmt(out, size, "cannot build the module: make is not installed");
                return -1;
        }
        for (size_t i = 0; i < ELEMENTSOF(se_files); i++) {
                _cleanup_free_ char *buf = NULL;
                size_t len = 0;
                fmt(src, sizeof(src), "%s/%s", dir, se_files[i]);
                fmt(dst, sizeof(dst), "%s/%s", tmp, se_files[i]);
                _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
                _cleanup_close_ int o = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                if (in < 0 || o < 0 || read_fd_bounded(in, 4096, 1 << 20, &buf, &len) < 0 ||
                    write(o, buf, len) != (ssize_t) len) {
                        fmt(out, size, "cannot copy %s: %s", src, strerror(errno));
                        return -1;
                }
        }
        fmt(mf, sizeof(mf), "%s", SE_MAKEFILE);
        char *argv[] = { (char *) make,      (char *) "-s", (char *) "-C",
                         (char *) tmp,       (char *) "-f", mf,
                         (char *) "moat.pp", NULL };
        r = run_tool(argv, out, size);
        return r == 0 ? 0 : -1;
}

static void rm_tree_shallow(const char *dir) {
        char path[PATH_MAX];
        DIR *d = opendir(dir);
        struct dirent *de;

        while (d && (de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                fmt(path, sizeof(path), "%s/%s", dir, de->d_name);
                if (unlink(path) < 0 && errno == EISDIR)
                        rm_tree_shallow(path);
        }
        if (d)
                closedir(d);
        (void) rmdir(dir);
}

static int selinux(Action act, bool *ok) {
        const char *semodule = find_tool(se_semodule);
        char dir[PATH_MAX], digest[DIGEST_HEX], rec[128], out[4096], text[512];
        const char *paths[ELEMENTSOF(se_files)];
        char pbuf[ELEMENTSOF(se_files)][PATH_MAX];
        bool listed;
        int r;

        if (access(SE_FS "/enforce", F_OK) < 0) {
                printf("SELinux: not enabled on this host (no " SE_FS "/enforce)\n");
                return 0;
        }
        fmt(dir, sizeof(dir), "%s/policies/selinux", moat_data_dir());
        for (size_t i = 0; i < ELEMENTSOF(se_files); i++) {
                fmt(pbuf[i], sizeof(pbuf[i]), "%s/%s", dir, se_files[i]);
                paths[i] = pbuf[i];
        }
        if ((r = digest_files(paths, ELEMENTSOF(se_files), digest)) < 0) {
                fprintf(stderr, "moat policy: SELinux: cannot read the module in %s: %s\n", dir,
                        strerror(-r));
                return -1;
        }
        if (!semodule) {
                fprintf(stderr,
                        "moat policy: SELinux is enabled, but semodule is not installed "
                        "(/usr/sbin/semodule; Debian package policycoreutils)\n");
                return -1;
        }
        printf("SELinux: enabled (module from %s)\n", dir);
        listed = se_module_listed(semodule);
        switch (act) {
        case ACT_INSTALL: {
                char tmp[] = "/tmp/moat-selinux-XXXXXX", pp[PATH_MAX];
                if (!mkdtemp(tmp)) {
                        fprintf(stderr, "moat policy: SELinux: mkdtemp: %s\n", strerror(errno));
                        return -1;
                }
                r = se_build(dir, tmp, out, sizeof(out));
                fmt(pp, sizeof(pp), "%s/moat.pp", tmp);
                char *argv[] = { (char *) semodule, (char *) "--install", pp, NULL };
                if (r == 0 && (r = run_tool(argv, out, sizeof(out))) != 0)
                        fprintf(stderr,
                                "moat policy: SELinux: semodule failed to install %s "
                                "(exit status %d):\n%s\n",
                                pp, r, out);
                else if (r != 0)
                        fprintf(stderr, "moat policy: SELinux: %s\n", out);
                rm_tree_shallow(tmp);
                if (r != 0)
                        return -1;
                fmt(text, sizeof(text), "source %s\nsha256 %s\n", dir, digest);
                if ((r = record_write("selinux", "moat", text)) < 0) {
                        fprintf(stderr,
                                "moat policy: cannot record the module in " STATE_DIR ": %s\n",
                                strerror(-r));
                        return -1;
                }
                printf("  %-15s installed (semodule), sources sha256 %.12s\n", "moat", digest);
                return 1;
        }
        case ACT_REMOVE: {
                char *argv[] = { (char *) semodule, (char *) "--remove", (char *) "moat", NULL };
                record_remove("selinux", "moat");
                if (!listed) {
                        printf("  %-15s not installed\n", "moat");
                        return 1;
                }
                if ((r = run_tool(argv, out, sizeof(out))) != 0) {
                        fprintf(stderr,
                                "moat policy: SELinux: semodule failed to remove moat "
                                "(exit status %d):\n%s\n",
                                r, out);
                        return -1;
                }
                printf("  %-15s removed\n", "moat");
                return 1;
        }
        case ACT_STATUS:
                if (!listed) {
                        printf("  %-15s not installed\n", "moat");
                        *ok = false;
                } else if (record_get("selinux", "moat", "sha256", rec, sizeof(rec)) < 0) {
                        printf("  %-15s installed, not by moat policy install: cannot tell "
                               "whether it is the shipped module\n",
                               "moat");
                        *ok = false;
                } else if (strcmp(rec, digest) != 0) {
                        printf("  %-15s installed from older sources (sha256 %.12s; the shipped "
                               "ones are %.12s: run moat policy install)\n",
                               "moat", rec, digest);
                        *ok = false;
                } else
                        printf("  %-15s installed, the shipped sources (sha256 %.12s)\n", "moat",
                               digest);
                return 1;
        }
        return 1;
}

int cmd_policy(int argc, char **argv) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                {},
        };
        Action act;
        bool ok = true;
        int c, a, s;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help(stdout);
                        return 0;
                default:
                        fprintf(stderr,
                                "moat policy: unknown option '%s' (try 'moat policy --help')\n",
                                argv[optind - 1]);
                        return EXIT_MOAT_FAILED;
                }
        if (optind != argc - 1) {
                fprintf(stderr, "moat policy: %s (try 'moat policy --help')\n",
                        optind >= argc ? "which action: install, status or remove?"
                                       : "one action only");
                return EXIT_MOAT_FAILED;
        }
        if (strcmp(argv[optind], "install") == 0)
                act = ACT_INSTALL;
        else if (strcmp(argv[optind], "status") == 0)
                act = ACT_STATUS;
        else if (strcmp(argv[optind], "remove") == 0)
                act = ACT_REMOVE;
        else {
                fprintf(stderr,
                        "moat policy: unknown action '%s': install, status or remove (try 'moat "
                        "policy --help')\n",
                        argv[optind]);
                return EXIT_MOAT_FAILED;
        }
        if (geteuid() != 0) {
                fprintf(stderr, "moat policy %s: needs root (it %s the kernel's MAC policy)\n",
                        argv[optind], act == ACT_STATUS ? "reads" : "changes");
                return EXIT_MOAT_FAILED;
        }
        fflush(stdout);
        a = apparmor(act, &ok);
        fflush(stdout);
        s = selinux(act, &ok);
        fflush(stdout);
        if (a < 0 || s < 0)
                return EXIT_MOAT_FAILED;
        if (a == 0 && s == 0) {
                fprintf(stderr,
                        "moat policy %s: neither AppArmor nor SELinux is enabled on this "
                        "host: nothing to %s\n",
                        argv[optind], act == ACT_STATUS ? "report" : argv[optind]);
                return EXIT_MOAT_FAILED;
        }
        return act == ACT_STATUS && !ok ? 1 : 0;
}

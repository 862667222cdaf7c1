/* SPDX-License-Identifier: MIT */
/* Warm start of the vm tier (vm-warm.h; measured design in launcher/vm/README.md, "Warm start").
 *
 * Processes: the executor (moat, or the moat-vm helper for root) forks
 *   - a janitor, which only waits on a socket: at EOF without a "done" message (the executor
 *     died) it kills QEMU through a pidfd, waits for it, and removes the run directory and any
 *     half-captured template; it ignores the terminal's signals;
 *   - QEMU, in a child that unshares a user and a mount namespace (the caller's uid and gid
 *     mapped to themselves, mounts private), sets PR_SET_PDEATHSIG, no_new_privs, the Landlock
 *     domain built by the parent and, for a clone, a seccomp filter whose listener the parent
 *     services, then execs QEMU with -sandbox. No capability survives the exec (the uid inside
 *     is not 0).
 * A thread of the executor services the seccomp listener (QEMU's open(RAM file, O_RDWR) gets a
 * read-only descriptor of the template's RAM file; every other notified open continues as the
 * kernel would run it, under Landlock) and reports QEMU's exit on the event pipe. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basic/macros.h"
#include "basic/sha256.h"
#include "vm-initramfs.h"
#include "vm-libvirt.h"
#include "vm-qmp.h"
#include "vm-warm.h"
#include "vm/guest/vm-proto.h"

#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) /* ABI 3, Linux 6.2 */
#endif

#define TEMPLATE_FORMAT "moat-vm-template 1"
#define CAPTURE_DEADLINE_MS 180000u /* one boot to the guest init's configuration wait */
#define RESTORE_DEADLINE_MS 20000u  /* QEMU start + device state + resume */
#define SANDBOX "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"
#define QBOOT_MAX_ARGS 96
#define STATE_FD 3 /* the template's device state, inherited by a clone for fd:3 */

/* The fourth, the egress port, only for a run with outbound network (VmWarmSpec.net). */
static const char *const port_names[4] = { VM_PORT_CTL, VM_PORT_STDOUT, VM_PORT_STDERR,
                                           VM_PORT_NET };
static const char *const port_ids[4] = { "ctl", "out", "err", "net" };

struct VmWarm {
        char run_dir[64];
        char tmpl_dir[512]; /* the template in use */
        char key[33];
        pid_t janitor;
        int janitor_fd;
        pid_t qemu;
        int qemu_pidfd;
        int listener; /* seccomp user notification listener of the clone's QEMU */
        int ram_fd;   /* read-only: what QEMU gets for its open() of the RAM file */
        int event_pipe[2];
        int stop_pipe[2];
        pthread_t thread;
        bool thread_started;
        char ram_path[600];
        bool rw_open_fault; /* test hook: QEMU's own open of the RAM file goes through */
        char describe[200];
        bool created; /* vm_warm_template() captured the template (it was not there) */
        VmQmp *watch; /* the clone's QMP connection, kept after the restore */
};

static uint64_t mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static char *dup_or_null(const char *s, int *err) {
        char *d;

        if (!s)
                return NULL;
        d = strdup(s);
        if (!d)
                *err = -ENOMEM;
        return d;
}

int vm_warm_spec_copy(const VmDomainSpec *d, VmWarmSpec *ret) {
        int err = 0;

        *ret = (VmWarmSpec){ .kvm = d->kvm, .memory_mib = d->memory_mib, .vcpus = d->vcpus };
        ret->name = dup_or_null(d->name, &err);
        ret->emulator = dup_or_null(d->emulator, &err);
        ret->loader = dup_or_null(d->loader, &err);
        ret->kernel = dup_or_null(d->kernel, &err);
        ret->initrd = dup_or_null(d->initrd, &err);
        ret->cmdline = dup_or_null(d->cmdline, &err);
        ret->net = d->net_socket != NULL;
        for (size_t i = 0; i < d->n_shares && i < VM_DOMAIN_SHARES_MAX; i++) {
                ret->sources[i] = dup_or_null(d->shares[i].source, &err);
                snprintf(ret->tags[i], sizeof(ret->tags[i]), "%s", d->shares[i].tag);
                ret->shares[i] = (VmShare){ .source = ret->sources[i],
                                            .tag = ret->tags[i],
                                            .readonly = d->shares[i].readonly };
                ret->n_shares++;
        }
        if (err < 0)
                vm_warm_spec_done(ret);
        return err;
}

void vm_warm_spec_done(VmWarmSpec *s) {
        free(s->name);
        free(s->emulator);
        free(s->loader);
        free(s->kernel);
        free(s->initrd);
        free(s->cmdline);
        for (size_t i = 0; i < s->n_shares; i++)
                free(s->sources[i]);
        *s = (VmWarmSpec){};
}

bool vm_warm_enabled(char *why, size_t why_size) {
        const char *e = getenv("MOAT_VM_START");

        if (e && strcmp(e, "cold") == 0) {
                snprintf(why, why_size, "MOAT_VM_START=cold");
                return false;
        }
        return true;
}

/* ---- files ---------------------------------------------------------------------------- */

/* Removes a directory tree without following symlinks (a run directory, a template). */
static int rm_rf_at(int dfd, const char *name) {
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d;
        struct dirent *de;

        if (fd < 0)
                return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        (void) rm_rf_at(dirfd(d), de->d_name);
        closedir(d);
        return unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

static int rm_rf(const char *path) {
        return rm_rf_at(AT_FDCWD, path);
}

static int mkdir_parents(const char *path, mode_t mode) {
        char buf[512];

        if (snprintf(buf, sizeof(buf), "%s", path) >= (int) sizeof(buf))
                return -ENAMETOOLONG;
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = 0;
                if (mkdir(buf, mode) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static void hex(const uint8_t *b, size_t n, char *out) {
        for (size_t i = 0; i < n; i++)
                snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* "path dev ino size mtime ctime": what changes when a file is replaced or rewritten. */
static int identity(const char *path, char *out, size_t size) {
        struct stat st;

        if (!path)
                return snprintf(out, size, "none"), 0;
        if (stat(path, &st) < 0)
                return -errno;
        snprintf(out, size, "%s %ju %ju %jd %jd.%09ld %jd.%09ld", path, (uintmax_t) st.st_dev,
                 (uintmax_t) st.st_ino, (intmax_t) st.st_size, (intmax_t) st.st_mtim.tv_sec,
                 st.st_mtim.tv_nsec, (intmax_t) st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
        return 0;
}

static void fd_identity(const struct stat *st, char *out, size_t size) {
        snprintf(out, size, "%ju %ju %jd %jd.%09ld %jd.%09ld", (uintmax_t) st->st_dev,
                 (uintmax_t) st->st_ino, (intmax_t) st->st_size, (intmax_t) st->st_mtim.tv_sec,
                 st->st_mtim.tv_nsec, (intmax_t) st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
}

/* Everything that goes into a template, as text; its SHA-256 is the template's key. */
static int template_inputs(const VmWarmSpec *s, char **ret) {
        char q[700], k[700], i[700], l[700];
        char *text = NULL, *shares = NULL;
        size_t shares_len = 0;
        FILE *f = open_memstream(&shares, &shares_len);
        int r;

        if (!f)
                return -ENOMEM;
        for (size_t n = 0; n < s->n_shares; n++)
                fprintf(f, "share %s %s\n", s->shares[n].tag, s->shares[n].readonly ? "ro" : "rw");
        if (fclose(f) != 0)
                return -ENOMEM;
        if ((r = identity(s->emulator, q, sizeof(q))) < 0 ||
            (r = identity(s->kernel, k, sizeof(k))) < 0 ||
            (r = identity(s->initrd, i, sizeof(i))) < 0 ||
            (r = identity(s->loader, l, sizeof(l))) < 0) {
                free(shares);
                return r;
        }
        r = asprintf(&text,
                     TEMPLATE_FORMAT
                     "\nqemu %s\nkernel %s\ninitramfs %s\nfirmware %s\n"
                     "machine pc\naccel %s\nmemory %" PRIu64 "\nvcpus %" PRIu32
                     "\ncmdline %s\n%s%s",
                     q, k, i, l, s->kvm ? "kvm" : "tcg", s->memory_mib, s->vcpus, s->cmdline,
                     shares, s->net ? "net " VM_PORT_NET "\n" : "");
        free(shares);
        if (r < 0)
                return -ENOMEM;
        *ret = text;
        return 0;
}

/* SHA-256 of a whole file through an open fd (left at offset 0). */
static int hash_fd(int fd, char out[SHA256_DIGEST_BYTES * 2 + 1]) {
        static char buf[1 << 16];
        uint8_t d[SHA256_DIGEST_BYTES];
        Sha256 s;
        ssize_t n;
        off_t off = 0;

        sha256_init(&s);
        while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
                sha256_update(&s, buf, (size_t) n);
                off += n;
        }
        if (n < 0)
                return -errno;
        sha256_final(&s, d);
        hex(d, sizeof(d), out);
        return 0;
}

/* ---- the janitor ---------------------------------------------------------------------- */

static _Noreturn void janitor_main(int fd) {
        char paths[2][512] = {};
        int qemu_pidfd = -1;

        for (int sig = 1; sig < _NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD)
                        (void) signal(sig, SIG_IGN);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        (void) prctl(PR_SET_NAME, "moat-vm-janitor");
        for (;;) {
                char msg[520];
                union {
                        char buf[CMSG_SPACE(sizeof(int))];
                        struct cmsghdr align;
                } u;
                struct iovec iov = { msg, sizeof(msg) - 1 };
                struct msghdr m = { .msg_iov = &iov,
                                    .msg_iovlen = 1,
                                    .msg_control = u.buf,
                                    .msg_controllen = sizeof(u.buf) };
                ssize_t n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break; /* the executor is gone */
                msg[n] = 0;
                struct cmsghdr *c = CMSG_FIRSTHDR(&m);
                if (c && c->cmsg_type == SCM_RIGHTS) {
                        int got;
                        memcpy(&got, CMSG_DATA(c), sizeof(int));
                        if (qemu_pidfd >= 0)
                                close(qemu_pidfd);
                        qemu_pidfd = msg[0] == 'p' ? got : (close(got), -1);
                } else if (msg[0] == 'q') {
                        if (qemu_pidfd >= 0)
                                close(qemu_pidfd);
                        qemu_pidfd = -1;
                } else if (msg[0] == 'd' || msg[0] == 't')
                        snprintf(paths[msg[0] == 't'], sizeof(paths[0]), "%.500s", msg + 1);
                else if (msg[0] == 'x')
                        _exit(0);
        }
        if (qemu_pidfd >= 0) {
                struct pollfd p = { .fd = qemu_pidfd, .events = POLLIN };
                (void) syscall(SYS_pidfd_send_signal, qemu_pidfd, SIGKILL, NULL, 0);
                (void) poll(&p, 1, 10000);
        }
        for (int i = 0; i < 2; i++)
                if (paths[i][0])
                        (void) rm_rf(paths[i]);
        _exit(0);
}

static int janitor_send(VmWarm *w, char kind, const char *path, int pass_fd) {
        char msg[520];
        int n = snprintf(msg, sizeof(msg), "%c%.510s", kind, path ? path : "");
        struct iovec iov = { msg, (size_t) n };
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } u = {};
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (w->janitor_fd < 0)
                return -EBADF;
        if (pass_fd >= 0) {
                m.msg_control = u.buf;
                m.msg_controllen = sizeof(u.buf);
                struct cmsghdr *c = CMSG_FIRSTHDR(&m);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
        }
        return sendmsg(w->janitor_fd, &m, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

int vm_warm_new(const char *run_dir, VmWarm **ret) {
        VmWarm *w = calloc(1, sizeof(*w));
        int sp[2];

        if (!w)
                return -ENOMEM;
        *w = (VmWarm){ .janitor_fd = -EBADF,
                       .qemu = -1,
                       .qemu_pidfd = -EBADF,
                       .listener = -EBADF,
                       .ram_fd = -EBADF,
                       .event_pipe = { -EBADF, -EBADF },
                       .stop_pipe = { -EBADF, -EBADF } };
        snprintf(w->run_dir, sizeof(w->run_dir), "%s", run_dir);
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0 ||
            pipe2(w->event_pipe, O_CLOEXEC | O_NONBLOCK) < 0 ||
            pipe2(w->stop_pipe, O_CLOEXEC) < 0) {
                int r = -errno;
                vm_warm_close(w);
                return r;
        }
        fflush(NULL);
        w->janitor = fork();
        if (w->janitor < 0) {
                int r = -errno;
                close(sp[0]);
                close(sp[1]);
                vm_warm_close(w);
                return r;
        }
        if (w->janitor == 0) {
                int fd = fcntl(sp[1], F_DUPFD, 0);
                if (fd < 0 || dup2(fd, 0) < 0)
                        _exit(1);
                (void) close_range(1, ~0U, 0);
                janitor_main(0);
        }
        close(sp[1]);
        w->janitor_fd = sp[0];
        (void) janitor_send(w, 'd', run_dir, -1);
        *ret = w;
        return 0;
}

/* ---- QEMU ----------------------------------------------------------------------------- */

typedef struct Argv {
        const char *v[QBOOT_MAX_ARGS + 1];
        char *owned[QBOOT_MAX_ARGS];
        size_t n, n_owned;
        int err;
} Argv;

static void arg(Argv *a, const char *s) {
        if (a->n >= QBOOT_MAX_ARGS)
                a->err = -E2BIG;
        else
                a->v[a->n++] = s;
}

static void argf(Argv *a, const char *fmt, ...) _printf_(2, 3);
static void argf(Argv *a, const char *fmt, ...) {
        va_list ap;
        char *s = NULL;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        if (!s || a->n_owned >= QBOOT_MAX_ARGS) {
                free(s);
                a->err = -ENOMEM;
                return;
        }
        a->owned[a->n_owned++] = s;
        arg(a, s);
}

static void argv_done(Argv *a) {
        for (size_t i = 0; i < a->n_owned; i++)
                free(a->owned[i]);
}

/* A path inside a QEMU option value: QEMU splits options at ',' ("," escapes as ",,"). */
static bool option_safe(const char *p) {
        return p && p[0] == '/' && !strchr(p, ',');
}

/* The QEMU command line shared by capture and clone: the machine of the cold path (pc, qboot,
 * direct kernel boot), 9p shares as libvirt's accessmode='squash' multidevs='forbid', the
 * three virtio-serial ports (four with the egress port) connecting to moat's sockets, the serial console to a file,
 * nothing else (no network, no USB, no display), and QEMU's seccomp sandbox. */
static void qemu_args(Argv *a, const VmWarmSpec *s, const char *ram, bool share, const char *dir,
                      const char *sock_prefix, const char *const shares[]) {
        arg(a, s->emulator);
        argf(a, "-name");
        argf(a, "guest=%s", s->name);
        arg(a, "-machine");
        argf(a, "pc,accel=%s,memory-backend=ram", s->kvm ? "kvm" : "tcg");
        arg(a, "-cpu");
        arg(a, s->kvm ? "host" : "max");
        arg(a, "-m");
        argf(a, "%" PRIu64, s->memory_mib);
        arg(a, "-smp");
        argf(a, "%" PRIu32, s->vcpus);
        arg(a, "-object");
        argf(a, "memory-backend-file,id=ram,size=%" PRIu64 "M,mem-path=%s,share=%s", s->memory_mib,
             ram, share ? "on" : "off");
        arg(a, "-nodefaults");
        arg(a, "-no-user-config");
        arg(a, "-no-reboot");
        arg(a, "-display");
        arg(a, "none");
        arg(a, "-sandbox");
        arg(a, SANDBOX);
        if (s->loader) {
                arg(a, "-bios");
                arg(a, s->loader);
        }
        arg(a, "-kernel");
        arg(a, s->kernel);
        arg(a, "-initrd");
        arg(a, s->initrd);
        arg(a, "-append");
        arg(a, s->cmdline);
        arg(a, "-serial");
        argf(a, "file:%s/%sconsole.log", dir, sock_prefix);
        for (size_t i = 0; i < s->n_shares; i++) {
                arg(a, "-fsdev");
                argf(a, "local,id=fs%zu,path=%s,security_model=none,multidevs=forbid%s", i,
                     shares[i], s->shares[i].readonly ? ",readonly=on" : "");
                arg(a, "-device");
                argf(a, "virtio-9p-pci,fsdev=fs%zu,mount_tag=%s", i, s->shares[i].tag);
        }
        arg(a, "-device");
        arg(a, "virtio-serial-pci,id=vser");
        static const char *const socks[4] = { "ctl.sock", "out.sock", "err.sock", "net.sock" };
        for (int i = 0; i < (s->net ? 4 : 3); i++) {
                arg(a, "-chardev");
                argf(a, "socket,id=ch%s,path=%s/%s%s", port_ids[i], dir, sock_prefix, socks[i]);
                arg(a, "-device");
                argf(a, "virtserialport,bus=vser.0,id=%s,chardev=ch%s,name=%s", port_ids[i],
                     port_ids[i], port_names[i]);
        }
        arg(a, "-qmp");
        argf(a, "unix:%s/qmp.sock,server=on,wait=off", dir);
}

/* Landlock: what QEMU may change on the host. Reads are not restricted (QEMU reads the kernel,
 * the initramfs, its libraries, firmware, the shares). The ruleset is built here, in the
 * parent; the child only restricts itself with it. */
#define LL_WRITE_RIGHTS                                                  \
        (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR | \
         LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR | \
         LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |     \
         LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |   \
         LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM)

static int landlock_ruleset(const char *const writable[], size_t n, char *why, size_t why_size) {
        int abi = (int) syscall(SYS_landlock_create_ruleset, NULL, 0,
                                LANDLOCK_CREATE_RULESET_VERSION);
        uint64_t handled = LL_WRITE_RIGHTS;
        int rs, r;

        if (abi < 1) {
                snprintf(why, why_size,
                         "Landlock is unavailable, so QEMU could not be kept from writing the "
                         "template");
                return -EOPNOTSUPP;
        }
        if (abi >= 2)
                handled |= LANDLOCK_ACCESS_FS_REFER;
        if (abi >= 3)
                handled |= LANDLOCK_ACCESS_FS_TRUNCATE;
        struct landlock_ruleset_attr attr = { .handled_access_fs = handled };
        rs = (int) syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
        if (rs < 0) {
                r = -errno;
                snprintf(why, why_size, "Landlock ruleset: %s", strerror(-r));
                return r;
        }
        for (size_t i = 0; i < n + 1; i++) {
                const char *p = i < n ? writable[i] : "/dev";
                struct landlock_path_beneath_attr pb = {
                        .allowed_access = i < n ? handled : LANDLOCK_ACCESS_FS_WRITE_FILE,
                };
                pb.parent_fd = open(p, O_PATH | O_CLOEXEC);
                if (pb.parent_fd < 0 ||
                    syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0) {
                        r = -errno;
                        if (pb.parent_fd >= 0)
                                close(pb.parent_fd);
                        close(rs);
                        snprintf(why, why_size, "Landlock rule for %s: %s", p, strerror(-r));
                        return r;
                }
                close(pb.parent_fd);
        }
        return rs;
}

/* The clone's filter: open/openat with exactly O_RDWR (QEMU's open of a memory backend file)
 * goes to the listener; everything else is left to the kernel and QEMU's own -sandbox. */
static int notify_filter(void) {
        struct sock_filter f[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 2, 0),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_open, 4, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, O_RDWR, 4, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, O_RDWR, 1, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        };
        struct sock_fprog prog = { .len = ELEMENTSOF(f), .filter = f };

        return (int) syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
                             &prog);
}

typedef struct ChildErr {
        int err;
        char step[32];
} ChildErr;

static _Noreturn void child_fail(int fd, const char *step, int err) {
        ChildErr e = { .err = err };
        snprintf(e.step, sizeof(e.step), "%s", step);
        (void) !send(fd, &e, sizeof(e), MSG_NOSIGNAL);
        _exit(127);
}

static int write_file(const char *path, const char *s) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = write(fd, s, strlen(s));
        close(fd);
        return n == (ssize_t) strlen(s) ? 0 : -EIO;
}

/* In the child, async-signal-safe calls only (the executor may have threads). */
static _Noreturn void qemu_child(const Argv *a, pid_t parent, int sock, int ruleset, bool notify,
                                 int state_fd, int null_fd, int log_fd, const char *uid_map,
                                 const char *gid_map) {
        int fd;

        if (setpgid(0, 0) < 0)
                child_fail(sock, "setpgid", errno);
        /* A user namespace that maps only our own ids, so that the mount namespace is ours;
         * the exec below leaves QEMU without any capability in it. */
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
                child_fail(sock, "unshare user+mount namespace", errno);
        /* The moat-vm helper came from root: not dumpable, so its /proc/self files would stay
         * root's. The exec of QEMU makes the process dumpable anyway. */
        if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
                child_fail(sock, "dumpable", errno);
        if (write_file("/proc/self/uid_map", uid_map) < 0 ||
            write_file("/proc/self/setgroups", "deny") < 0 ||
            write_file("/proc/self/gid_map", gid_map) < 0)
                child_fail(sock, "id map", errno ? errno : EIO);
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                child_fail(sock, "private mounts", errno);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                child_fail(sock, "parent death signal", ESRCH);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                child_fail(sock, "no_new_privs", errno);
        if (syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
                child_fail(sock, "landlock", errno);
        if (notify) {
                int l = notify_filter();
                union {
                        char buf[CMSG_SPACE(sizeof(int))];
                        struct cmsghdr align;
                } u = {};
                char tag = 'L';
                struct iovec iov = { &tag, 1 };
                struct msghdr m = { .msg_iov = &iov,
                                    .msg_iovlen = 1,
                                    .msg_control = u.buf,
                                    .msg_controllen = sizeof(u.buf) };
                struct cmsghdr *c = CMSG_FIRSTHDR(&m);

                if (l < 0)
                        child_fail(sock, "seccomp listener", errno);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &l, sizeof(int));
                if (sendmsg(sock, &m, MSG_NOSIGNAL) < 0)
                        child_fail(sock, "seccomp listener", errno);
                close(l);
        }
        if (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
                child_fail(sock, "stdio", errno);
        if (state_fd >= 0) {
                fd = state_fd == STATE_FD ? fcntl(STATE_FD, F_SETFD, 0) : dup2(state_fd, STATE_FD);
                if (fd < 0)
                        child_fail(sock, "state fd", errno);
        }
        execv(a->v[0], (char *const *) a->v);
        child_fail(sock, "exec qemu", errno);
}

/* Reads the child's report: an error record, the listener, or EOF (exec happened). */
static int child_report(int sock, bool want_listener, int *ret_listener, char *why,
                        size_t why_size) {
        for (;;) {
                ChildErr e = {};
                union {
                        char buf[CMSG_SPACE(sizeof(int))];
                        struct cmsghdr align;
                } u;
                struct iovec iov = { &e, sizeof(e) };
                struct msghdr m = { .msg_iov = &iov,
                                    .msg_iovlen = 1,
                                    .msg_control = u.buf,
                                    .msg_controllen = sizeof(u.buf) };
                ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n == 0)
                        return want_listener && *ret_listener < 0 ? -EPROTO : 0;
                if (n < 0)
                        return -errno;
                struct cmsghdr *c = CMSG_FIRSTHDR(&m);
                if (c && c->cmsg_type == SCM_RIGHTS) {
                        memcpy(ret_listener, CMSG_DATA(c), sizeof(int));
                        continue;
                }
                if (n == (ssize_t) sizeof(e)) {
                        e.step[sizeof(e.step) - 1] = 0;
                        snprintf(why, why_size, "QEMU's confinement: %s: %s", e.step,
                                 strerror(e.err));
                        return -e.err;
                }
                return -EPROTO;
        }
}

static int spawn_qemu(VmWarm *w, const Argv *a, const char *const writable[], size_t n_writable,
                      int state_fd, bool notify, const char *log, char *why, size_t why_size) {
        _cleanup_close_ int ruleset = -EBADF, null_fd = -EBADF, log_fd = -EBADF;
        char uid_map[64], gid_map[64];
        int sp[2], r;
        pid_t parent = getpid();

        if ((ruleset = landlock_ruleset(writable, n_writable, why, why_size)) < 0)
                return ruleset;
        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        log_fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (null_fd < 0 || log_fd < 0) {
                r = -errno;
                snprintf(why, why_size, "%s: %s", log, strerror(-r));
                return r;
        }
        snprintf(uid_map, sizeof(uid_map), "%u %u 1\n", (unsigned) getuid(), (unsigned) getuid());
        snprintf(gid_map, sizeof(gid_map), "%u %u 1\n", (unsigned) getgid(), (unsigned) getgid());
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
                return -errno;
        fflush(NULL);
        w->qemu = fork();
        if (w->qemu < 0) {
                r = -errno;
                close(sp[0]);
                close(sp[1]);
                return r;
        }
        if (w->qemu == 0) {
                close(sp[0]);
                qemu_child(a, parent, sp[1], ruleset, notify, state_fd, null_fd, log_fd, uid_map,
                           gid_map);
        }
        close(sp[1]);
        w->qemu_pidfd = (int) syscall(SYS_pidfd_open, w->qemu, 0);
        if (w->qemu_pidfd >= 0)
                (void) janitor_send(w, 'p', NULL, w->qemu_pidfd);
        r = child_report(sp[0], notify, &w->listener, why, why_size);
        close(sp[0]);
        if (r >= 0 && w->qemu_pidfd < 0) {
                r = -errno;
                snprintf(why, why_size, "pidfd_open: %s", strerror(-r));
        }
        return r;
}

/* The seccomp notifications of the clone, and QEMU's exit. */
static void handle_notification(VmWarm *w) {
        struct seccomp_notif req = {};
        struct seccomp_notif_resp resp = {};
        char path[sizeof(w->ram_path) + 1] = "";

        if (ioctl(w->listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
                return;
        /* The path as QEMU passed it; only an exact match is answered with the read-only
         * descriptor. A racing change of the string can only get QEMU that descriptor. */
        uint64_t addr = req.data.nr == __NR_openat ? req.data.args[1] : req.data.args[0];
        size_t got = 0;
        while (got < sizeof(path) - 1) {
                /* Page by page: never past an unmapped page. */
                size_t chunk = MIN(4096 - ((addr + got) & 4095), sizeof(path) - 1 - got);
                struct iovec local = { path + got, chunk };
                struct iovec remote = { (void *) (uintptr_t) (addr + got), chunk };
                ssize_t n = process_vm_readv((pid_t) req.pid, &local, 1, &remote, 1, 0);
                if (n <= 0)
                        break;
                got += (size_t) n;
                if (memchr(path + got - (size_t) n, 0, (size_t) n))
                        break;
        }
        path[got] = 0;
        if (path[0] && strcmp(path, w->ram_path) == 0 && w->ram_fd >= 0 && !w->rw_open_fault) {
                struct seccomp_notif_addfd add = { .id = req.id,
                                                   .flags = SECCOMP_ADDFD_FLAG_SEND,
                                                   .srcfd = (uint32_t) w->ram_fd };
                if (ioctl(w->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add) >= 0)
                        return;
        }
        resp.id = req.id;
        resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        (void) ioctl(w->listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

static void *warm_thread(void *arg) {
        VmWarm *w = arg;
        int listener = w->listener;

        for (;;) {
                struct pollfd p[3] = {
                        { .fd = listener, .events = POLLIN },
                        { .fd = w->qemu_pidfd, .events = POLLIN },
                        { .fd = w->stop_pipe[0], .events = POLLIN },
                };
                if (poll(p, 3, -1) < 0 && errno != EINTR)
                        break;
                if (p[2].revents)
                        break;
                if (p[0].revents & POLLIN)
                        handle_notification(w);
                else if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL))
                        listener = -1; /* no more notifications: poll ignores fd -1 */
                if (p[1].revents) {
                        char c = VM_EVENT_STOPPED;
                        (void) !write(w->event_pipe[1], &c, 1);
                        break;
                }
        }
        return NULL;
}

static void qemu_stop(VmWarm *w) {
        if (w->thread_started) {
                char c = 0;
                (void) !write(w->stop_pipe[1], &c, 1);
                pthread_join(w->thread, NULL);
                w->thread_started = false;
                if (w->stop_pipe[0] >= 0) {
                        while (read(w->stop_pipe[0], &c, 1) < 0 && errno == EINTR)
                                ;
                }
        }
        if (w->qemu > 0) {
                kill(w->qemu, SIGKILL);
                while (waitpid(w->qemu, NULL, 0) < 0 && errno == EINTR)
                        ;
                w->qemu = -1;
        }
        (void) janitor_send(w, 'q', NULL, -1);
        w->qemu_pidfd = safe_close(w->qemu_pidfd);
        if (w->listener >= 0)
                w->listener = safe_close(w->listener);
}

/* Seccomp 2 with QEMU's own -sandbox filter on top of moat's notification filter (so at least
 * two filters), and NoNewPrivs 1, read from QEMU itself (as for libvirt's QEMU). */
static int confinement(VmWarm *w, char *detail, size_t size) {
        char path[64], *line = NULL;
        size_t cap = 0;
        int seccomp = -1, nnp = -1, filters = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) w->qemu);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (getline(&line, &cap, f) > 0) {
                sscanf(line, "Seccomp: %d", &seccomp);
                sscanf(line, "NoNewPrivs: %d", &nnp);
                sscanf(line, "Seccomp_filters: %d", &filters);
        }
        free(line);
        fclose(f);
        snprintf(detail, size, "seccomp=%d filters=%d no_new_privs=%d", seccomp, filters, nnp);
        return seccomp == 2 && filters >= 2 && nnp == 1 ? 0 : -EPERM;
}

static void log_tail(const char *path, char *out, size_t size) {
        char buf[512];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        out[0] = 0;
        if (fd < 0)
                return;
        off_t end = lseek(fd, 0, SEEK_END);
        n = pread(fd, buf, sizeof(buf) - 1, end > (off_t) sizeof(buf) - 1 ? end - 511 : 0);
        close(fd);
        if (n <= 0)
                return;
        buf[n] = 0;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
                buf[--n] = 0;
        char *s = strrchr(buf, '\n');
        s = s ? s + 1 : buf;
        for (char *c = s; *c; c++)
                if ((unsigned char) *c < 0x20 || (unsigned char) *c > 0x7e)
                        *c = '?';
        snprintf(out, size, "%.*s", (int) MIN(strlen(s), size - 1), s);
}

static int listen_at(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        if (fd < 0)
                return -errno;
        if (strlen(path) >= sizeof(sa.sun_path)) {
                close(fd);
                return -ENAMETOOLONG;
        }
        strcpy(sa.sun_path, path);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* ---- templates ------------------------------------------------------------------------ */

static int template_dir(const VmWarmSpec *s, char *dir, size_t size, char key[33],
                        char **ret_inputs) {
        _cleanup_free_ char *cache = vm_cache_dir("/vm"), *inputs = NULL;
        uint8_t d[SHA256_DIGEST_BYTES];
        char h[SHA256_DIGEST_BYTES * 2 + 1];
        int r;

        if (!cache)
                return -ENOENT;
        if ((r = template_inputs(s, &inputs)) < 0)
                return r;
        sha256_buffer(inputs, strlen(inputs), d);
        hex(d, sizeof(d), h);
        snprintf(key, 33, "%.32s", h);
        if (snprintf(dir, size, "%s/tmpl-%s", cache, key) >= (int) size)
                return -ENAMETOOLONG;
        if ((r = mkdir_parents(cache, 0700)) < 0)
                return r;
        *ret_inputs = TAKE_PTR(inputs);
        return 0;
}

static int write_text(int dfd, const char *name, const char *text) {
        int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        size_t n = strlen(text);
        int r = 0;

        if (fd < 0)
                return -errno;
        if (write(fd, text, n) != (ssize_t) n || fsync(fd) < 0)
                r = -errno ?: -EIO;
        close(fd);
        return r;
}

static int capture(VmWarm *w, const VmWarmSpec *s, const char *dir, const char *inputs, char *why,
                   size_t why_size) {
        char tmp[600], ram[640], state[640], empty[128], qmp[128], log[128], cap[128];
        const char *shares[VM_DOMAIN_SHARES_MAX];
        int lfd[4] = { -EBADF, -EBADF, -EBADF, -EBADF },
            cfd[4] = { -EBADF, -EBADF, -EBADF, -EBADF };
        int n_ports = s->net ? 4 : 3;
        _cleanup_close_ int state_fd = -EBADF, tmp_fd = -EBADF, ram_fd = -EBADF, sfd = -EBADF;
        uint64_t deadline = mono_ms() + CAPTURE_DEADLINE_MS;
        Argv a = {};
        VmQmp q = { .fd = -EBADF };
        int r;

        snprintf(tmp, sizeof(tmp), "%s.tmp-%d", dir, (int) getpid());
        snprintf(ram, sizeof(ram), "%s/ram", tmp);
        snprintf(state, sizeof(state), "%s/state", tmp);
        snprintf(empty, sizeof(empty), "%s/empty", w->run_dir);
        snprintf(qmp, sizeof(qmp), "%s/qmp.sock", w->run_dir);
        snprintf(log, sizeof(log), "%s/cap-qemu.log", w->run_dir);
        (void) rm_rf(tmp);
        if (mkdir(tmp, 0700) < 0 || mkdir(empty, 0755) < 0) {
                r = -errno;
                snprintf(why, why_size, "template directory: %s", strerror(-r));
                return r;
        }
        (void) janitor_send(w, 't', tmp, -1);
        for (int i = 0; i < n_ports; i++) {
                static const char *const n[4] = { "cap-ctl.sock", "cap-out.sock", "cap-err.sock",
                                                  "cap-net.sock" };
                snprintf(cap, sizeof(cap), "%s/%s", w->run_dir, n[i]);
                if ((lfd[i] = listen_at(cap)) < 0) {
                        r = lfd[i];
                        snprintf(why, why_size, "%s: %s", cap, strerror(-r));
                        goto out;
                }
        }
        /* Nothing is mounted before the configuration arrives; the paths are the clone's. */
        for (size_t i = 0; i < s->n_shares; i++)
                shares[i] = empty;
        qemu_args(&a, s, ram, true, w->run_dir, "cap-", shares);
        if (a.err) {
                r = a.err;
                snprintf(why, why_size, "QEMU command line: %s", strerror(-r));
                goto out;
        }
        const char *writable[] = { w->run_dir, tmp };
        if ((r = spawn_qemu(w, &a, writable, 2, -1, false, log, why, why_size)) < 0)
                goto out;
        if ((r = vm_qmp_connect(&q, qmp, deadline)) < 0) {
                char tail[200];
                log_tail(log, tail, sizeof(tail));
                snprintf(why, why_size, "template capture: QEMU's monitor: %s%s%s", strerror(-r),
                         tail[0] ? ": " : "", tail);
                goto out;
        }
        for (int i = 0; i < n_ports; i++)
                while (cfd[i] < 0) {
                        struct pollfd p = { .fd = lfd[i], .events = POLLIN };
                        if (mono_ms() >= deadline) {
                                r = -ETIMEDOUT;
                                snprintf(why, why_size, "template capture: ports not connected");
                                goto out;
                        }
                        (void) poll(&p, 1, 100);
                        cfd[i] = accept4(lfd[i], NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                }
        /* The guest init has opened its three ports: it waits for its configuration (it opens
         * the egress port only when the configuration asks for the forwarder). */
        if ((r = vm_qmp_wait_ports(&q, 3, deadline)) < 0) {
                snprintf(why, why_size,
                         "template capture: the guest init did not open its ports: %s",
                         strerror(-r));
                goto out;
        }
        state_fd = open(state, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (state_fd < 0) {
                r = -errno;
                snprintf(why, why_size, "%s: %s", state, strerror(-r));
                goto out;
        }
        if ((r = vm_qmp_command(&q, "{\"execute\":\"stop\"}", -1, NULL, deadline)) < 0 ||
            (r = vm_qmp_command(&q,
                                "{\"execute\":\"migrate-set-capabilities\",\"arguments\":{"
                                "\"capabilities\":[{\"capability\":\"x-ignore-shared\","
                                "\"state\":true}]}}",
                                -1, NULL, deadline)) < 0 ||
            (r = vm_qmp_command(&q, "{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"mig\"}}",
                                state_fd, NULL, deadline)) < 0 ||
            (r = vm_qmp_command(&q, "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"fd:mig\"}}",
                                -1, NULL, deadline)) < 0 ||
            (r = vm_qmp_wait_migration(&q, deadline)) < 0) {
                snprintf(why, why_size, "template capture: saving the guest failed: %s%s%s",
                         strerror(-r), q.error[0] ? ": " : "", q.error);
                goto out;
        }
        (void) vm_qmp_command(&q, "{\"execute\":\"quit\"}", -1, NULL, deadline);
        vm_qmp_close(&q);
        qemu_stop(w);

        /* What a restore checks: the RAM file's identity (any write changes its ctime, which
         * only root can set) and the device state's digest. */
        struct stat st;
        char id[200], digest[SHA256_DIGEST_BYTES * 2 + 1], *meta = NULL;
        ram_fd = open(ram, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        sfd = open(state, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (ram_fd < 0 || sfd < 0 || fsync(ram_fd) < 0 || fsync(state_fd) < 0 ||
            fstat(ram_fd, &st) < 0) {
                r = -errno;
                snprintf(why, why_size, "template files: %s", strerror(-r));
                goto out;
        }
        fd_identity(&st, id, sizeof(id));
        if ((r = hash_fd(sfd, digest)) < 0 ||
            asprintf(&meta, "%sram %s\nstate %s\n", inputs, id, digest) < 0) {
                r = r < 0 ? r : -ENOMEM;
                snprintf(why, why_size, "template digest: %s", strerror(-r));
                goto out;
        }
        tmp_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        r = tmp_fd < 0 ? -errno : write_text(tmp_fd, "meta", meta);
        free(meta);
        if (r >= 0 && (fsync(tmp_fd) < 0 || rename(tmp, dir) < 0)) {
                r = -errno;
                /* Another run captured the same template meanwhile: use that one. */
                if (r == -ENOTEMPTY || r == -EEXIST)
                        r = 0;
        }
        if (r < 0)
                snprintf(why, why_size, "template %s: %s", dir, strerror(-r));
out:
        vm_qmp_close(&q);
        qemu_stop(w);
        for (int i = 0; i < 4; i++) {
                safe_close(lfd[i]);
                safe_close(cfd[i]);
        }
        static const char *const leftovers[] = { "cap-ctl.sock",    "cap-out.sock",
                                                 "cap-err.sock",    "cap-net.sock",
                                                 "cap-console.log", "cap-qemu.log",
                                                 "qmp.sock",        "empty" };
        for (size_t i = 0; i < ELEMENTSOF(leftovers); i++) {
                char p[128];
                snprintf(p, sizeof(p), "%s/%s", w->run_dir, leftovers[i]);
                (void) rm_rf(p);
        }
        (void) rm_rf(tmp);
        (void) janitor_send(w, 't', "", -1);
        argv_done(&a);
        return r;
}

static void template_discard(const char *dir);

/* A template whose inputs changed on disk (a new QEMU build, guest kernel or initramfs) can
 * never be restored again: its key is gone. Removes such templates beside dir, keeping any
 * other (another memory size or share layout, still current). */
static void templates_prune(const char *dir) {
        _cleanup_free_ char *parent = strdup(dir);
        DIR *d;
        struct dirent *de;

        if (!parent || !strrchr(parent, '/'))
                return;
        *strrchr(parent, '/') = 0;
        d = opendir(parent);
        if (!d)
                return;
        while ((de = readdir(d))) {
                char path[700], line[800], now[700];
                bool stale = false;
                FILE *f;

                if (strncmp(de->d_name, "tmpl-", 5) != 0 || strlen(de->d_name) != 37)
                        continue;
                snprintf(path, sizeof(path), "%s/%s/meta", parent, de->d_name);
                f = fopen(path, "re");
                if (!f)
                        continue;
                while (!stale && fgets(line, sizeof(line), f)) {
                        char *sp = strchr(line, ' ');
                        line[strcspn(line, "\n")] = 0;
                        if (!sp ||
                            (strncmp(line, "qemu ", 5) != 0 && strncmp(line, "kernel ", 7) != 0 &&
                             strncmp(line, "initramfs ", 10) != 0 &&
                             strncmp(line, "firmware ", 9) != 0) ||
                            strcmp(sp + 1, "none") == 0)
                                continue;
                        char *p = sp + 1, *end = strchr(p, ' ');
                        if (!end)
                                continue;
                        *end = 0;
                        stale = identity(p, now, sizeof(now)) < 0;
                        *end = ' ';
                        stale = stale || strcmp(now, p) != 0;
                }
                fclose(f);
                if (stale) {
                        snprintf(path, sizeof(path), "%s/%s", parent, de->d_name);
                        template_discard(path);
                }
        }
        closedir(d);
}

int vm_warm_template(VmWarm *w, const VmWarmSpec *s, bool quiet, char *why, size_t why_size) {
        _cleanup_free_ char *inputs = NULL;
        struct stat st;
        int r;

        if (!option_safe(s->emulator) || !option_safe(s->kernel) || !option_safe(s->initrd) ||
            (s->loader && !option_safe(s->loader)) || !s->cmdline || !s->name ||
            s->n_shares > VM_DOMAIN_SHARES_MAX) {
                snprintf(why, why_size, "a path holds a ',' (QEMU's option separator)");
                return -EINVAL;
        }
        for (size_t i = 0; i < s->n_shares; i++)
                if (!option_safe(s->shares[i].source)) {
                        snprintf(why, why_size, "share %s holds a ','", s->shares[i].source);
                        return -EINVAL;
                }
        if ((r = template_dir(s, w->tmpl_dir, sizeof(w->tmpl_dir), w->key, &inputs)) < 0) {
                snprintf(why, why_size, "template directory: %s", strerror(-r));
                return r;
        }
        if (stat(w->tmpl_dir, &st) == 0)
                return 0;
        if (!quiet && isatty(STDERR_FILENO))
                fprintf(stderr,
                        "moat: preparing the vm template for warm starts (one guest boot, "
                        "once per kernel, init, QEMU and machine)...\n");
        uint64_t t0 = mono_ms();
        r = capture(w, s, w->tmpl_dir, inputs, why, why_size);
        w->created = r >= 0;
        if (r >= 0)
                templates_prune(w->tmpl_dir);
        if (r >= 0 && !quiet && isatty(STDERR_FILENO))
                fprintf(stderr, "moat: vm template ready (%llu ms)\n",
                        (unsigned long long) (mono_ms() - t0));
        return r;
}

/* Removes a template that failed verification, atomically for concurrent runs. */
static void template_discard(const char *dir) {
        char bad[PATH_MAX];
        int n = snprintf(bad, sizeof(bad), "%s.bad-%d", dir, (int) getpid());

        if (n > 0 && (size_t) n < sizeof(bad) && rename(dir, bad) == 0)
                (void) rm_rf(bad);
}

/* The template as captured, or -EBADMSG with what differs. On success the RAM file is open
 * read-only in w->ram_fd and the state in *ret_state_fd. */
static int template_verify(VmWarm *w, int *ret_state_fd, char *why, size_t why_size) {
        char path[640], id[200], digest[SHA256_DIGEST_BYTES * 2 + 1], line[512];
        char want_ram[200] = "", want_state[80] = "";
        _cleanup_close_ int sfd = -EBADF;
        struct stat st;
        FILE *f;
        int r;

        snprintf(path, sizeof(path), "%s/meta", w->tmpl_dir);
        f = fopen(path, "re");
        if (!f) {
                r = -errno;
                snprintf(why, why_size, "template %s: no meta: %s", w->key, strerror(-r));
                return r == -ENOENT ? -EBADMSG : r;
        }
        while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = 0;
                if (strncmp(line, "ram ", 4) == 0)
                        snprintf(want_ram, sizeof(want_ram), "%.*s",
                                 (int) MIN(strlen(line + 4), sizeof(want_ram) - 1), line + 4);
                else if (strncmp(line, "state ", 6) == 0)
                        snprintf(want_state, sizeof(want_state), "%.*s",
                                 (int) MIN(strlen(line + 6), sizeof(want_state) - 1), line + 6);
        }
        fclose(f);
        snprintf(w->ram_path, sizeof(w->ram_path), "%s/ram", w->tmpl_dir);
        w->ram_fd = open(w->ram_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        snprintf(path, sizeof(path), "%s/state", w->tmpl_dir);
        sfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (w->ram_fd < 0 || sfd < 0 || fstat(w->ram_fd, &st) < 0) {
                r = -errno;
                snprintf(why, why_size, "template %s: %s", w->key, strerror(-r));
                return r == -ENOENT ? -EBADMSG : r;
        }
        fd_identity(&st, id, sizeof(id));
        if (!want_ram[0] || strcmp(id, want_ram) != 0) {
                snprintf(why, why_size,
                         "template %s was modified on disk (its RAM file is not the one "
                         "captured); it was removed and this run boots cold",
                         w->key);
                return -EBADMSG;
        }
        if ((r = hash_fd(sfd, digest)) < 0) {
                snprintf(why, why_size, "template %s: %s", w->key, strerror(-r));
                return r;
        }
        if (strcmp(digest, want_state) != 0) {
                snprintf(why, why_size,
                         "template %s was modified on disk (its device state's SHA-256 differs "
                         "from the captured one); it was removed and this run boots cold",
                         w->key);
                return -EBADMSG;
        }
        *ret_state_fd = TAKE_FD(sfd);
        return 0;
}

/* Adds the clone's identity to the configuration, before its end record: 32 bytes of the
 * host's randomness for the guest CRNG and the host's wall clock (vm-proto.h, records r, w). */
static int seal_config(char **config, size_t *len) {
        uint8_t seed[32];
        char seed_hex[65], ns[24];
        struct timespec ts;

        if (*len < 4 || memcmp(*config + *len - 4, "z0:\n", 4) != 0)
                return -EINVAL;
        if (getrandom(seed, sizeof(seed), 0) != (ssize_t) sizeof(seed))
                return -EIO;
        hex(seed, sizeof(seed), seed_hex);
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(ns, sizeof(ns), "%" PRIu64,
                 (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec);
        *len -= 4;
        int r;
        if ((r = vm_config_append(config, len, 'R', seed_hex, 64)) < 0 ||
            (r = vm_config_append(config, len, 'w', ns, strlen(ns))) < 0 ||
            (r = vm_config_append(config, len, 'z', "", 0)) < 0)
                return r;
        return 0;
}

int vm_warm_restore(VmWarm *w, const VmWarmSpec *s, const int listen_fd[3], int net_listen_fd,
                    char **config, size_t *config_len, char *why, size_t why_size) {
        _cleanup_close_ int state_fd = -EBADF;
        char qmp[128], log[128], detail[64] = "", tail[200], uri[32];
        uint64_t deadline = mono_ms() + RESTORE_DEADLINE_MS;
        size_t orig_len = *config_len;
        bool sealed = false;
        Argv a = {};
        VmQmp q = { .fd = -EBADF };
        int r;

        /* Documented test hook (launcher/vm/README.md): QEMU's open() of the template's RAM
         * file for writing is not answered with the read-only descriptor but left to the
         * kernel, where Landlock refuses it. It can only make the warm start fail. */
        w->rw_open_fault = getenv("MOAT_VM_WARM_FAULT") &&
                           strcmp(getenv("MOAT_VM_WARM_FAULT"), "rw-open") == 0;
        r = template_verify(w, &state_fd, why, why_size);
        if (r == -EBADMSG)
                template_discard(w->tmpl_dir);
        if (r < 0)
                return r;
        snprintf(qmp, sizeof(qmp), "%s/qmp.sock", w->run_dir);
        snprintf(log, sizeof(log), "%s/qemu.log", w->run_dir);
        qemu_args(&a, s, w->ram_path, false, w->run_dir, "", (const char *const *) s->sources);
        arg(&a, "-incoming");
        arg(&a, "defer");
        if (a.err) {
                r = a.err;
                snprintf(why, why_size, "QEMU command line: %s", strerror(-r));
                goto fail;
        }
        const char *writable[VM_DOMAIN_SHARES_MAX + 1] = { w->run_dir };
        size_t n_writable = 1;
        for (size_t i = 0; i < s->n_shares; i++)
                if (!s->shares[i].readonly)
                        writable[n_writable++] = s->shares[i].source;
        if ((r = spawn_qemu(w, &a, writable, n_writable, state_fd, true, log, why, why_size)) < 0)
                goto fail;
        if ((r = -pthread_create(&w->thread, NULL, warm_thread, w)) < 0) {
                snprintf(why, why_size, "thread: %s", strerror(-r));
                goto fail;
        }
        w->thread_started = true;
        if ((r = vm_qmp_connect(&q, qmp, deadline)) < 0) {
                /* QEMU's message names the option and the path first: keep its cause. */
                log_tail(log, tail, sizeof(tail));
                const char *cause = strrchr(tail, ':');
                snprintf(why, why_size, "restore of template %.12s failed: QEMU ended: %s", w->key,
                         cause     ? cause + 2 - (cause[1] != ' ')
                         : tail[0] ? tail
                                   : strerror(-r));
                goto fail;
        }
        if ((r = confinement(w, detail, sizeof(detail))) < 0) {
                snprintf(why, why_size, "restore: QEMU is not confined as expected (%s)", detail);
                goto fail;
        }
        r = vm_qmp_command(&q,
                           "{\"execute\":\"migrate-set-capabilities\",\"arguments\":{"
                           "\"capabilities\":[{\"capability\":\"x-ignore-shared\","
                           "\"state\":true}]}}",
                           -1, NULL, deadline);
        if (r >= 0) {
                r = seal_config(config, config_len);
                sealed = r >= 0;
        }
        snprintf(uri, sizeof(uri), "fd:%d", STATE_FD);
        char cmd[128];
        snprintf(cmd, sizeof(cmd),
                 "{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"%s\"}}", uri);
        if (r >= 0)
                r = vm_qmp_command(&q, cmd, -1, NULL, deadline);
        if (r >= 0)
                r = vm_qmp_wait_migration(&q, deadline);
        if (r >= 0)
                r = vm_qmp_command(&q, "{\"execute\":\"cont\"}", -1, NULL, deadline);
        if (r < 0) {
                log_tail(log, tail, sizeof(tail));
                snprintf(why, why_size, "restore of template %s failed: %s%s%s%s%s", w->key,
                         strerror(-r), q.error[0] ? ": " : "", q.error, tail[0] ? "; " : "", tail);
                goto fail;
        }
        /* The QMP connection stays: its VSERPORT_CHANGE events tell moat if the guest's ports
         * are reset during the run (vm_warm_watch). */
        w->watch = malloc(sizeof(*w->watch));
        if (!w->watch) {
                r = -ENOMEM;
                snprintf(why, why_size, "restore: %s", strerror(-r));
                goto fail;
        }
        *w->watch = q;
        q.fd = -EBADF;
        argv_done(&a);
        snprintf(w->describe, sizeof(w->describe),
                 "plain QEMU (-sandbox, user+mount namespace, Landlock); %s; warm start from "
                 "template %.12s",
                 detail, w->key);
        return 0;
fail:
        vm_qmp_close(&q);
        qemu_stop(w);
        argv_done(&a);
        if (sealed) {
                /* A cold boot gets its clock from its own RTC. */
                *config_len = orig_len - 4;
                (void) vm_config_append(config, config_len, 'z', "", 0);
        }
        /* Connections the dead QEMU left in moat's listening sockets. */
        for (int i = 0; i < 4; i++) {
                int l = i < 3 ? listen_fd[i] : net_listen_fd;
                for (int c; l >= 0 && (c = accept4(l, NULL, NULL, SOCK_CLOEXEC)) >= 0;)
                        close(c);
        }
        char p[128];
        snprintf(p, sizeof(p), "%s/qmp.sock", w->run_dir);
        (void) unlink(p);
        snprintf(p, sizeof(p), "%s/console.log", w->run_dir);
        (void) unlink(p);
        return r < 0 ? r : -EIO;
}

int vm_warm_event_fd(const VmWarm *w) {
        return w->event_pipe[0];
}

void vm_warm_kill(VmWarm *w) {
        if (w && w->qemu_pidfd >= 0)
                (void) syscall(SYS_pidfd_send_signal, w->qemu_pidfd, SIGKILL, NULL, 0);
}

int vm_warm_qemu_pidfd(const VmWarm *w) {
        return w ? w->qemu_pidfd : -EBADF;
}

const char *vm_warm_describe(const VmWarm *w) {
        return w->describe;
}

int vm_warm_watch_fd(const VmWarm *w) {
        return w && w->watch ? w->watch->fd : -1;
}

int vm_warm_watch(VmWarm *w) {
        if (!w || !w->watch)
                return 0;
        if (vm_qmp_read_events(w->watch) < 0) {
                /* QEMU is ending (its exit is seen on the event fd). */
                vm_qmp_close(w->watch);
                free(w->watch);
                w->watch = NULL;
                return 0;
        }
        return w->watch->ports_closed > 0;
}

VmWarm *vm_warm_close(VmWarm *w) {
        char p[128];

        if (!w)
                return NULL;
        if (w->watch) {
                vm_qmp_close(w->watch);
                free(w->watch);
                w->watch = NULL;
        }
        qemu_stop(w);
        snprintf(p, sizeof(p), "%s/qmp.sock", w->run_dir);
        (void) unlink(p);
        snprintf(p, sizeof(p), "%s/qemu.log", w->run_dir);
        (void) unlink(p);
        if (w->janitor > 0) {
                (void) janitor_send(w, 'x', NULL, -1);
                w->janitor_fd = safe_close(w->janitor_fd);
                while (waitpid(w->janitor, NULL, 0) < 0 && errno == EINTR)
                        ;
        }
        safe_close(w->janitor_fd);
        safe_close(w->ram_fd);
        for (int i = 0; i < 2; i++) {
                safe_close(w->event_pipe[i]);
                safe_close(w->stop_pipe[i]);
        }
        free(w);
        return NULL;
}

const char *vm_warm_template_dir(const VmWarm *w, bool *ret_created) {
        if (ret_created)
                *ret_created = w->created;
        return w->tmpl_dir;
}

/* SPDX-License-Identifier: MIT */
/* moat-guest-init: PID 1 of a vm-tier guest. Static, no dependencies beyond libc.
 *
 * Part of the trusted computing base of the vm tier. It trusts the kernel it runs on and the
 * configuration moat sends over the control port; it parses that configuration with the bounded
 * grammar of vm-proto.c and refuses anything else. What it does, in order:
 *   1. mounts /proc, /sys, /dev (devtmpfs) for itself; loads /lib/moat/NN-*.ko in name order;
 *   2. opens the virtio-serial ports (control, stdout, stderr) by name;
 *   3. reads the run configuration from the control port;
 *   4. builds the command's root: a tmpfs (or, for an image root, an overlay of the image's
 *      read-only share with an upper layer in guest RAM) with the host shares (9p), tmpfs
 *      mounts, symlinks, its own /etc/machine-id over the host's, a minimal /dev (no virtio
 *      ports in it, so the
 *      command cannot speak on the control port), /proc and a read-only /sys; moves it onto /
 *      and chroots there;
 *   5. forks the command as the configured unprivileged uid (root only when moat says so), with
 *      no_new_privs, stdin from a pipe it feeds from stdin frames, stdout/stderr on the ports,
 *      under the sandbox tier's controls moat sent (rlimits, capabilities from every set,
 *      Landlock at this kernel's ABI, the seccomp program last; user.max_user_namespaces 0);
 *      in a cgroup v2 child cgroup with pids.max/memory.max, and with a CPU time limit
 *      (record t) whose cpu.stat it polls, killing everything but itself once the tree passes
 *      the limit;
 *   6. reports each control applied, "started", then exactly one of exit/signal/cputime/error,
 *      kills what is left,
 *      syncs and powers off. Any failure before the command starts is reported as "error ERRNO STEP";
 *      a failure to report ends in a panic, which moat sees as a guest without status (125).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/random.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vm-netrelay.h"
#include "vm-proto.h"

#define NEWROOT "/newroot"
#define CGROUP_DIR "/moat-cgroup" /* in the initramfs: unreachable after the root switch */
#define PORT_WAIT_MS 20000
#define CONFIG_WAIT_MS 60000

extern char **environ;

static bool debug;
static int kmsg_fd = -1; /* opened before the root switch, where /dev/kmsg exists */

static void klog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void klog(const char *fmt, ...) {
        char buf[512];
        va_list ap;
        int n, fd;

        n = snprintf(buf, sizeof(buf), "<1>moat-init: ");
        va_start(ap, fmt);
        vsnprintf(buf + n, sizeof(buf) - (size_t) n, fmt, ap);
        va_end(ap);
        fd = kmsg_fd;
        if (fd >= 0)
                (void) !write(fd, buf, strlen(buf));
}

static void sleep_ms(long ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* Nothing useful can follow a failure to report: power off, and panic if even that fails. */
static _Noreturn void power_off(void) {
        sync();
        reboot(RB_POWER_OFF);
        _exit(1);
}

static int write_all(int fd, const void *p, size_t n) {
        const char *c = p;
        while (n > 0) {
                ssize_t w = write(fd, c, n);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                c += w, n -= (size_t) w;
        }
        return 0;
}

static int ctl_fd = -1;

static void report(VmStatusKind kind, int value, const char *step) {
        VmStatus s = { .kind = kind, .value = value };
        char buf[VM_STATUS_LINE_MAX + 1];
        int n;

        if (step)
                snprintf(s.step, sizeof(s.step), "%s", step);
        n = vm_status_format(&s, buf, sizeof(buf));
        if (n < 0 || ctl_fd < 0 || write_all(ctl_fd, buf, (size_t) n) < 0)
                klog("cannot report status");
}

static _Noreturn void fail(const char *step, int err) {
        klog("%s: %s", step, strerror(err));
        report(VM_STATUS_ERROR, err > 0 ? err : EIO, step);
        power_off();
}

static int mkdir_p(const char *path, mode_t mode) {
        char buf[VM_PATH_MAX + sizeof(NEWROOT)];

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

static void load_modules(void) {
        struct dirent **names = NULL;
        int n = scandir("/lib/moat", &names, NULL, alphasort);

        for (int i = 0; i < n; i++) {
                char path[300];
                int fd;

                if (!strstr(names[i]->d_name, ".ko"))
                        goto next;
                snprintf(path, sizeof(path), "/lib/moat/%s", names[i]->d_name);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        fail("open module", errno);
                if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
                        fail("load module", errno);
                close(fd);
        next:
                free(names[i]);
        }
        free(names);
}

/* "moat.kvm_proof=1" on the kernel command line: report that init ran, and power off. */
static bool kvm_proof_requested(void) {
        char buf[2048];
        ssize_t n;
        int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return false;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        for (char *save = NULL, *t = strtok_r(buf, " \n", &save); t;
             t = strtok_r(NULL, " \n", &save))
                if (strcmp(t, "moat.kvm_proof=1") == 0)
                        return true;
        return false;
}

/* Ports appear asynchronously after virtio_console binds: find /dev/vportNpM by name. */
static int open_port(const char *name, int flags) {
        for (int waited = 0; waited < PORT_WAIT_MS; waited += 10) {
                DIR *d = opendir("/sys/class/virtio-ports");
                struct dirent *de;

                while (d && (de = readdir(d))) {
                        char path[300], buf[64] = {};
                        int fd;
                        ssize_t n;

                        if (de->d_name[0] == '.')
                                continue;
                        snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", de->d_name);
                        fd = open(path, O_RDONLY | O_CLOEXEC);
                        if (fd < 0)
                                continue;
                        n = read(fd, buf, sizeof(buf) - 1);
                        close(fd);
                        if (n <= 0 || strncmp(buf, name, strlen(name)) != 0 ||
                            (buf[strlen(name)] != '\n' && buf[strlen(name)] != 0))
                                continue;
                        snprintf(path, sizeof(path), "/dev/%s", de->d_name);
                        fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
                        if (fd >= 0) {
                                closedir(d);
                                return fd;
                        }
                }
                if (d)
                        closedir(d);
                sleep_ms(10);
        }
        return -ENOENT;
}

/* A read of 0 means the host side is not connected (yet): wait for it within a deadline. */
static ssize_t read_ctl(char *buf, size_t size, int *waited_ms) {
        for (;;) {
                ssize_t n = read(ctl_fd, buf, size);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n != 0)
                        return n < 0 ? -errno : n;
                if (*waited_ms >= CONFIG_WAIT_MS)
                        return -ETIMEDOUT;
                sleep_ms(5);
                *waited_ms += 5;
        }
}

static size_t read_config(char *buf, size_t size, VmConfig *c, size_t *ret_len) {
        size_t len = 0;
        int waited = 0;

        for (;;) {
                const char *reason = NULL;
                ssize_t n, r;

                if (len >= size)
                        fail("config too long", E2BIG);
                n = read_ctl(buf + len, size - len, &waited);
                if (n < 0)
                        fail("read config", (int) -n);
                len += (size_t) n;
                r = vm_config_parse(buf, len, c, &reason);
                if (r < 0) {
                        klog("malformed configuration: %s", reason);
                        fail("parse config", EINVAL);
                }
                if (r > 0) {
                        *ret_len = len;
                        return (size_t) r;
                }
        }
}

/* Record "overlay": the root is an image shared read-only (9p, QEMU opens it read-only) as the
 * lower layer of an overlay whose upper layer is a tmpfs in guest RAM: the command writes
 * anywhere its permissions allow, the run's writes die with the guest, the image is never
 * written. The overlay module is in the initramfs (lib/moat/extra), loaded only for such a
 * run. Both layers stay mounted in the initramfs, out of the command's reach. */
static int mount_image_root(const VmMount *m) {
        struct stat st;
        char opts[96];
        int fd;

        fd = open("/lib/moat/extra/overlay.ko", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST) {
                int e = errno;
                close(fd);
                return -e;
        }
        close(fd);
        if (mkdir("/moat-lower", 0755) < 0 || mkdir("/moat-layer", 0755) < 0)
                return -errno;
        if (mount(m->tag, "/moat-lower", "9p", MS_NOSUID | MS_NODEV | MS_RDONLY,
                  "trans=virtio,version=9p2000.L,msize=512000,cache=loose") < 0)
                return -errno;
        snprintf(opts, sizeof(opts), "mode=0755,size=%llu", (unsigned long long) m->size);
        /* The merged root takes its owner and mode from the upper directory: the image's. */
        if (stat("/moat-lower", &st) < 0 ||
            mount("tmpfs", "/moat-layer", "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0 ||
            mkdir("/moat-layer/upper", 0755) < 0 || mkdir("/moat-layer/work", 0700) < 0 ||
            chown("/moat-layer/upper", st.st_uid, st.st_gid) < 0 ||
            chmod("/moat-layer/upper", st.st_mode & 07777) < 0)
                return -errno;
        if (mount("overlay", NEWROOT, "overlay", MS_NOSUID | MS_NODEV,
                  "lowerdir=/moat-lower,upperdir=/moat-layer/upper,workdir=/moat-layer/work") < 0)
                return -errno;
        return 0;
}

static int mount_one(const VmMount *m) {
        char t[VM_PATH_MAX + sizeof(NEWROOT)];
        unsigned long ro = m->readonly ? MS_RDONLY : 0;
        int r;

        snprintf(t, sizeof(t), NEWROOT "%s", m->target);
        switch (m->kind) {
        case VM_MOUNT_9P: {
                char opts[160];
                /* Read-only system shares may cache; a writable share must not, so the host
                 * sees what the command wrote when it ends. */
                snprintf(opts, sizeof(opts), "trans=virtio,version=9p2000.L,msize=512000,%s",
                         m->readonly ? "cache=loose" : "cache=none");
                if ((r = mkdir_p(t, 0755)) < 0)
                        return r;
                return mount(m->tag, t, "9p",
                             MS_NOSUID | MS_NODEV | ro | (m->noexec ? MS_NOEXEC : 0), opts) < 0
                               ? -errno
                               : 0;
        }
        case VM_MOUNT_TMPFS: {
                char opts[64];
                snprintf(opts, sizeof(opts), "mode=1777,size=%llu", (unsigned long long) m->size);
                if ((r = mkdir_p(t, 0755)) < 0)
                        return r;
                return mount("tmpfs", t, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0 ? -errno : 0;
        }
        case VM_MOUNT_MASK: {
                struct stat st;
                /* Nothing there, nothing to hide (and /etc is read-only: no placeholder). */
                if (lstat(t, &st) < 0)
                        return errno == ENOENT ? 0 : -errno;
                if (S_ISDIR(st.st_mode))
                        return mount("tmpfs", t, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY,
                                     "mode=0555,size=4k") < 0
                                       ? -errno
                                       : 0;
                /* A file: an empty, unreadable one over it. */
                int fd = open("/moat-empty", O_WRONLY | O_CREAT | O_CLOEXEC, 0000);
                if (fd < 0)
                        return -errno;
                close(fd);
                if (mount("/moat-empty", t, NULL, MS_BIND, NULL) < 0 ||
                    mount(NULL, t, NULL,
                          MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                          NULL) < 0)
                        return -errno;
                return 0;
        }
        case VM_MOUNT_OVERLAY:
                return mount_image_root(m);
        case VM_MOUNT_DIR:
                return mkdir_p(t, 0755);
        case VM_MOUNT_SYMLINK: {
                char parent[sizeof(t)];
                snprintf(parent, sizeof(parent), "%s", t);
                *strrchr(parent, '/') = 0;
                if (parent[0] && (r = mkdir_p(parent, 0755)) < 0)
                        return r;
                return symlink(m->link, t) < 0 && errno != EEXIST ? -errno : 0;
        }
        default:
                return -EINVAL;
        }
}

static void make_node(const char *name, mode_t mode, dev_t dev) {
        char p[64];
        snprintf(p, sizeof(p), NEWROOT "/dev/%s", name);
        /* chmod: mknod's mode is filtered by the umask. */
        if (mknod(p, mode, dev) < 0 || chmod(p, mode & 07777) < 0)
                fail("mknod", errno);
}

/* The command's /dev holds the usual character devices only: no disks, no virtio ports. */
static void build_dev(void) {
        if (mkdir_p(NEWROOT "/dev", 0755) < 0 ||
            mount("tmpfs", NEWROOT "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k") <
                    0)
                fail("mount /dev", errno);
        make_node("null", S_IFCHR | 0666, makedev(1, 3));
        make_node("zero", S_IFCHR | 0666, makedev(1, 5));
        make_node("full", S_IFCHR | 0666, makedev(1, 7));
        make_node("random", S_IFCHR | 0666, makedev(1, 8));
        make_node("urandom", S_IFCHR | 0666, makedev(1, 9));
        make_node("tty", S_IFCHR | 0666, makedev(5, 0));
        if (mkdir(NEWROOT "/dev/pts", 0755) < 0 || mkdir(NEWROOT "/dev/shm", 01777) < 0 ||
            mount("devpts", NEWROOT "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                  "newinstance,ptmxmode=0666,mode=0620") < 0 ||
            symlink("pts/ptmx", NEWROOT "/dev/ptmx") < 0 ||
            mount("tmpfs", NEWROOT "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0 ||
            symlink("/proc/self/fd", NEWROOT "/dev/fd") < 0 ||
            symlink("/proc/self/fd/0", NEWROOT "/dev/stdin") < 0 ||
            symlink("/proc/self/fd/1", NEWROOT "/dev/stdout") < 0 ||
            symlink("/proc/self/fd/2", NEWROOT "/dev/stderr") < 0)
                fail("populate /dev", errno);
}

/* The guest's own machine id (from moat: random per run, or the profile's) over the host's
 * files that the /etc share, or a bind, would show. Its source stays in the initramfs, which the
 * command never sees after the root switch. A symlink is left alone only when it leads to
 * /etc/machine-id (D-Bus's copy on Debian); one that leads anywhere else stops the run. */
static void install_machine_id(const VmConfig *c) {
        static const struct {
                const char *path, *relative_link;
        } targets[] = {
                { "/etc/machine-id", NULL },
                { "/var/lib/dbus/machine-id", "../../../etc/machine-id" },
        };
        char buf[40];
        int n = snprintf(buf, sizeof(buf), "%s\n", c->machine_id);
        int fd = open("/moat-machine-id", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);

        if (fd < 0 || write_all(fd, buf, (size_t) n) < 0 || close(fd) < 0)
                fail("machine id", errno);
        for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
                char t[VM_PATH_MAX + sizeof(NEWROOT)], link[VM_PATH_MAX];
                struct stat st;
                ssize_t l;

                snprintf(t, sizeof(t), NEWROOT "%s", targets[i].path);
                if (lstat(t, &st) < 0) {
                        if (errno == ENOENT || errno == ENOTDIR)
                                continue; /* nothing of the host's there */
                        fail("machine id", errno);
                }
                if (S_ISLNK(st.st_mode)) {
                        l = readlink(t, link, sizeof(link) - 1);
                        if (l > 0)
                                link[l] = 0;
                        if (l <= 0 || !targets[i].relative_link ||
                            (strcmp(link, "/etc/machine-id") != 0 &&
                             strcmp(link, targets[i].relative_link) != 0))
                                fail("machine id", ELOOP);
                        continue;
                }
                if (!S_ISREG(st.st_mode))
                        fail("machine id", EINVAL);
                if (mount("/moat-machine-id", t, NULL, MS_BIND, NULL) < 0 ||
                    mount(NULL, t, NULL,
                          MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                          NULL) < 0)
                        fail("machine id", errno);
        }
}

/* Records r and w: a guest restored from a template shares the template's CRNG state and
 * clock with every other clone. Credit the host's seed and force a reseed, then set the wall
 * clock, before anything of the run happens. */
static void apply_clone_identity(const VmConfig *c) {
        if (c->seed_len) {
                struct {
                        struct rand_pool_info info;
                        unsigned char buf[VM_SEED_MAX];
                } e;
                int fd;

                e.info.entropy_count = (int) c->seed_len * 8;
                e.info.buf_size = (int) c->seed_len;
                memcpy(e.buf, c->seed, c->seed_len);
                fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);
                if (fd < 0 || ioctl(fd, RNDADDENTROPY, &e) < 0 || ioctl(fd, RNDRESEEDCRNG) < 0)
                        fail("reseed crng", errno);
                close(fd);
        }
        if (c->have_realtime) {
                struct timespec ts = { .tv_sec = (time_t) (c->realtime_ns / 1000000000u),
                                       .tv_nsec = (long) (c->realtime_ns % 1000000000u) };
                if (clock_settime(CLOCK_REALTIME, &ts) < 0)
                        fail("set clock", errno);
        }
}

static void build_root(const VmConfig *c) {
        if (mkdir(NEWROOT, 0755) < 0 ||
            mount("tmpfs", NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=16m") < 0)
                fail("mount root tmpfs", errno);
        for (size_t i = 0; i < c->n_mounts; i++) {
                /* The image root goes under everything else, or it would hide it. */
                int r = c->mounts[i].kind == VM_MOUNT_OVERLAY && i > 0 ? -EINVAL
                                                                       : mount_one(&c->mounts[i]);
                if (r < 0) {
                        klog("mount %s: %s", c->mounts[i].target, strerror(-r));
                        fail("mount share", -r);
                }
        }
        install_machine_id(c);
        if (mkdir_p(NEWROOT "/proc", 0555) < 0 ||
            mount("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                fail("mount /proc", errno);
        if (mkdir_p(NEWROOT "/sys", 0555) < 0 ||
            mount("sysfs", NEWROOT "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
                  NULL) < 0)
                fail("mount /sys", errno);
        build_dev();
        if (c->hostname[0] && sethostname(c->hostname, strlen(c->hostname)) < 0)
                fail("sethostname", errno);
}

/* The guest has no network device; loopback works as on any host. */
static void loopback_up(void) {
        struct ifreq ifr = {};
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
        if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                fail("loopback", errno);
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                fail("loopback", errno);
        close(fd);
}

#define NOBODY 65534

/* Record N: the egress forwarder. The listening socket on 127.0.0.1:N is bound here, by PID 1
 * before the command exists, so the command can never hold that port itself; a child serves
 * it (vm-netrelay.h: each connection becomes a channel of the port org.moat.net, which moat
 * connects to its proxy) as the unprivileged user nobody with no_new_privs, no capabilities
 * and none of init's other ports. The guest has no network device: this is its only way out,
 * and only to moat's proxy. The child dies with every other process in kill(-1) at the end;
 * if it dies earlier the guest is left with loopback only (the network stays closed). */
static void net_forwarder_start(const VmConfig *c, int out_fd, int err_fd) {
        static VmNetRelay relay; /* large: in the bss, copied on write in the child only */
        struct sockaddr_in a = { .sin_family = AF_INET,
                                 .sin_port = htons(c->net_port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int one = 1, port, l;
        pid_t pid;

        if (!c->net_port)
                return;
        port = open_port(VM_PORT_NET, O_RDWR | O_NONBLOCK);
        if (port < 0)
                fail("open egress port", -port);
        l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(l, (struct sockaddr *) &a, sizeof(a)) < 0 || listen(l, 128) < 0)
                fail("egress listener", errno);
        pid = fork();
        if (pid < 0)
                fail("fork egress forwarder", errno);
        if (pid == 0) {
                struct pollfd p[VM_NET_POLLFDS];
                sigset_t none;

                close(ctl_fd);
                close(out_fd);
                close(err_fd);
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                (void) prctl(PR_SET_NAME, "moat-egress");
                if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
                    setresuid(NOBODY, NOBODY, NOBODY) < 0 ||
                    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                        _exit(1);
                vm_net_relay_init(&relay, true, port, l, NULL, NULL);
                for (;;) {
                        vm_net_relay_pollfds(&relay, p);
                        if (poll(p, VM_NET_POLLFDS, -1) < 0) {
                                if (errno == EINTR)
                                        continue;
                                _exit(1);
                        }
                        if (vm_net_relay_handle(&relay, p) < 0)
                                _exit(1);
                }
        }
        close(port);
        close(l);
        if (debug)
                klog("egress forwarder on 127.0.0.1:%u", (unsigned) c->net_port);
}

/* Record U: no user namespace can be created in the guest at all, whatever the seccomp set
 * allows (in a new user namespace the command would hold every capability over it, and the
 * guest kernel's namespaced code is its largest attack surface). Read back. */
static void disable_userns(void) {
        char buf[16] = "";
        int fd = open("/proc/sys/user/max_user_namespaces", O_RDWR | O_CLOEXEC);

        if (fd < 0 || write_all(fd, "0", 1) < 0 || pread(fd, buf, sizeof(buf) - 1, 0) <= 0 ||
            strcmp(buf, "0\n") != 0)
                fail("user namespaces", errno ? errno : EIO);
        close(fd);
}

static void switch_root(void) {
        /* switch_root: the initramfs stays underneath, unreachable from the new root. */
        if (chdir(NEWROOT) < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 ||
            chdir("/") < 0)
                fail("switch root", errno);
}

/* Boot mode (record B): the cgroup.procs of the image's system, and a pidfd of the image's init
 * once it runs (the command enters its namespaces through it). */
static int boot_procs_fd = -1, boot_pidfd = -1;

/* resources.cpu_time in the guest. The command runs in the child cgroup CGROUP_DIR/command of
 * a cgroup v2 hierarchy mounted in the initramfs, where the command never sees it; init polls
 * usage_usec of its cpu.stat (user + system of every process that ever ran in it, the dead
 * ones included) as the sandbox tier's watcher does: the tree can use at most `width` CPU
 * seconds per second, so with `left` of the budget remaining the next read comes after
 * left / width, capped at CPU_POLL_MAX_MS and at least CPU_POLL_MIN_MS apart. Past the limit,
 * init kills every process but itself (SIGKILL, no grace: CPU time is a budget).
 * Guest root (uid 0) could move itself out of the child cgroup, so for it init measures the
 * root cgroup, all CPU time the guest spends, from just before the fork: never less than the
 * tree's. */
#define CPU_POLL_MAX_MS 50
#define CPU_POLL_MIN_MS 1

typedef struct CpuWatch {
        uint64_t limit_us; /* 0: no limit, no cgroup, no polling */
        uint64_t base_us;  /* usage of the measured cgroup before the fork */
        int stat_fd;       /* cpu.stat of the measured cgroup */
        int procs_fd;      /* cgroup.procs of the command's cgroup: the child joins it */
        unsigned width;    /* CPUs of the guest */
        uint64_t next_ms;  /* CLOCK_MONOTONIC of the next read */
        bool exceeded;
        int read_err; /* positive errno: cpu.stat could not be read, the run was stopped */
} CpuWatch;

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static int cpu_usage_us(int fd, uint64_t *ret) {
        char buf[512], *end;
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

        if (n < 0)
                return -errno;
        buf[n] = 0;
        if (strncmp(buf, "usage_usec ", 11) != 0)
                return -EBADMSG;
        errno = 0;
        *ret = strtoull(buf + 11, &end, 10);
        if (errno || end == buf + 11 || *end != '\n')
                return -EBADMSG;
        return 0;
}

static void write_cgroup_file(const char *file, const char *value, const char *step) {
        int fd = open(file, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write_all(fd, value, strlen(value)) < 0)
                fail(step, errno);
        close(fd);
}

/* Before the root switch: mounts cgroup2, makes the command's cgroup with its limits
 * (pids.max, memory.max: records x, y), opens its files. Needed for a CPU time limit or either
 * limit; without any the command stays in the root cgroup. */
static void cpu_watch_setup(CpuWatch *w, const VmConfig *c) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        char v[32];

        *w = (CpuWatch){ .stat_fd = -1, .procs_fd = -1 };
        if (!c->cpu_time_ms && !c->pids_max && !c->memory_max && !c->boot_init[0])
                return;
        if (mkdir(CGROUP_DIR, 0700) < 0 ||
            mount("cgroup2", CGROUP_DIR, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ||
            mkdir(CGROUP_DIR "/command", 0755) < 0)
                fail("command cgroup", errno);
        if (c->boot_init[0]) {
                /* Boot mode: the image's system gets a sibling cgroup, the root of its cgroup
                 * namespace, with the controllers it may delegate; the command's cgroup and its
                 * limits are outside that namespace, out of reach of the image's root. */
                static const char *const ctl[] = { "+cpu", "+io", "+memory", "+pids" };
                for (size_t i = 0; i < sizeof(ctl) / sizeof(ctl[0]); i++) {
                        int fd = open(CGROUP_DIR "/cgroup.subtree_control", O_WRONLY | O_CLOEXEC);
                        if (fd >= 0) {
                                (void) !write(fd, ctl[i], strlen(ctl[i]));
                                close(fd);
                        }
                }
                if (mkdir(CGROUP_DIR "/system", 0755) < 0 ||
                    (boot_procs_fd =
                             open(CGROUP_DIR "/system/cgroup.procs", O_WRONLY | O_CLOEXEC)) < 0)
                        fail("system cgroup", errno);
        }
        if (c->pids_max) {
                write_cgroup_file(CGROUP_DIR "/cgroup.subtree_control", "+pids", "pids cgroup");
                snprintf(v, sizeof(v), "%llu", (unsigned long long) c->pids_max);
                write_cgroup_file(CGROUP_DIR "/command/pids.max", v, "pids cgroup");
        }
        if (c->memory_max) {
                write_cgroup_file(CGROUP_DIR "/cgroup.subtree_control", "+memory", "memory cgroup");
                snprintf(v, sizeof(v), "%llu", (unsigned long long) c->memory_max);
                write_cgroup_file(CGROUP_DIR "/command/memory.max", v, "memory cgroup");
                /* The guest has no swap; 0 says so should one ever appear. */
                if (access(CGROUP_DIR "/command/memory.swap.max", F_OK) == 0)
                        write_cgroup_file(CGROUP_DIR "/command/memory.swap.max", "0",
                                          "memory cgroup");
        }
        w->procs_fd = open(CGROUP_DIR "/command/cgroup.procs", O_WRONLY | O_CLOEXEC);
        if (w->procs_fd < 0)
                fail("command cgroup", errno);
        if (!c->cpu_time_ms)
                return;
        w->limit_us = c->cpu_time_ms * 1000;
        w->width = cpus > 0 ? (unsigned) cpus : 1;
        w->stat_fd = open(c->uid == 0 ? CGROUP_DIR "/cpu.stat" : CGROUP_DIR "/command/cpu.stat",
                          O_RDONLY | O_CLOEXEC);
        if (w->stat_fd < 0)
                fail("cpu time cgroup", errno);
}

/* Just before the fork: the guest's own usage so far does not count (guest root). */
static void cpu_watch_start(CpuWatch *w) {
        int r;

        if (!w->limit_us)
                return;
        if ((r = cpu_usage_us(w->stat_fd, &w->base_us)) < 0)
                fail("cpu time read", -r);
        w->next_ms = now_ms() + CPU_POLL_MIN_MS;
}

/* Milliseconds until the next read is due, -1 when nothing is watched. */
static int cpu_watch_timeout(const CpuWatch *w) {
        uint64_t t = now_ms();

        if (!w->limit_us || w->exceeded || w->read_err)
                return -1;
        return w->next_ms > t ? (int) (w->next_ms - t) : 0;
}

static void cpu_watch_check(CpuWatch *w) {
        uint64_t used = 0, left, ms, t = now_ms();
        int r;

        if (!w->limit_us || w->exceeded || w->read_err || t < w->next_ms)
                return;
        r = cpu_usage_us(w->stat_fd, &used);
        if (r < 0) {
                w->read_err = -r;
                klog("cpu.stat cannot be read: %s; stopping the command", strerror(-r));
                kill(-1, SIGKILL);
                return;
        }
        used = used > w->base_us ? used - w->base_us : 0;
        if (used >= w->limit_us) {
                w->exceeded = true;
                if (debug)
                        klog("cpu time %llu us passed the limit", (unsigned long long) used);
                kill(-1, SIGKILL);
                return;
        }
        left = w->limit_us - used;
        ms = left / w->width / 1000;
        ms = ms < CPU_POLL_MIN_MS ? CPU_POLL_MIN_MS : ms > CPU_POLL_MAX_MS ? CPU_POLL_MAX_MS : ms;
        w->next_ms = t + ms;
}

/* What the child tells init before exec: first the controls it applied (err 0), then, only if
 * something failed, the failing step (err > 0). exec closes the pipe: EOF means started. */
typedef struct ChildError {
        int err;
        unsigned applied; /* err 0: 1u << VmControl */
        int landlock_abi; /* err 0: the guest kernel's ABI the ruleset was made for */
        char step[24];
} ChildError;

static _Noreturn void child_fail(int fd, const char *step, int err) {
        ChildError e = { .err = err > 0 ? err : EIO };
        snprintf(e.step, sizeof(e.step), "%s", step);
        (void) !write(fd, &e, sizeof(e));
        _exit(127);
}

/* Boot mode, in init's child (in init's pid namespace, which the image cannot see): joins the
 * image's namespaces, then forks the command into its pid namespace. This process stays behind
 * as the command's parent, invisible to the image, holding nothing of the run, and ends as the
 * command ended (its exit code, or its signal), which init reports. Only the command returns. */
static void boot_enter_system(int errpipe, int stdin_fd, int out_fd, int err_fd) {
        pid_t pid;
        int st;

        if (setns(boot_pidfd, CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC) < 0 ||
            setns(boot_pidfd, CLONE_NEWPID) < 0)
                child_fail(errpipe, "enter system", errno);
        pid = fork();
        if (pid < 0)
                child_fail(errpipe, "enter system", errno);
        if (pid == 0)
                return;
        /* Nothing of the run stays open here: the command alone holds its end of the stdin
         * pipe (EOF reaches it), the error pipe (EOF at its exec) and the ports. */
        (void) errpipe, (void) stdin_fd, (void) out_fd, (void) err_fd;
        if (syscall(436 /* close_range */, 0u, ~0u, 0u) < 0)
                for (int fd = 0; fd < 1024; fd++)
                        close(fd);
        (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        (void) prctl(PR_SET_NAME, "moat-command");
        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        _exit(127);
        if (WIFSIGNALED(st)) {
                struct sigaction dfl = { .sa_handler = SIG_DFL };
                struct rlimit none = { 0, 0 };
                (void) setrlimit(RLIMIT_CORE, &none);
                (void) sigaction(WTERMSIG(st), &dfl, NULL);
                (void) kill(getpid(), WTERMSIG(st));
                _exit(128 + WTERMSIG(st));
        }
        _exit(WEXITSTATUS(st));
}

static bool cap_kept(const VmConfig *c, int cap) {
        for (size_t i = 0; i < c->n_caps_keep; i++)
                if (c->caps_keep[i] == cap)
                        return true;
        return false;
}

static int cap_last(void) {
        char buf[16] = "";
        int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

        if (fd >= 0)
                close(fd);
        return n > 0 ? atoi(buf) : -1;
}

/* Capabilities (record k), as sys_caps_drop_except() on the host: every capability but the
 * kept ones leaves the bounding set (while init's child still has CAP_SETPCAP), the ambient set
 * is cleared; after the uid change inheritable = permitted = effective = kept, raised in the
 * ambient set so that they survive exec by a non-root uid. Then read back: a set that still
 * holds a capability that is not kept fails the run. */
static int caps_bound(const VmConfig *c) {
        int last = cap_last();

        if (last < 0 || last > VM_CAP_MAX)
                return -ERANGE;
        for (int cap = 0; cap <= last; cap++)
                if (!cap_kept(c, cap) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
                        return -errno;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
                return -errno;
        return 0;
}

static int caps_set(const VmConfig *c) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[2] = {};
        int last = cap_last();

        for (size_t i = 0; i < c->n_caps_keep; i++) {
                int cap = c->caps_keep[i];
                d[cap / 32].permitted |= 1u << (cap % 32);
        }
        for (int i = 0; i < 2; i++)
                d[i].effective = d[i].inheritable = d[i].permitted;
        if (syscall(SYS_capset, &h, d) < 0)
                return -errno;
        for (size_t i = 0; i < c->n_caps_keep; i++)
                if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c->caps_keep[i], 0, 0) < 0)
                        return -errno;
        /* Read back. */
        memset(d, 0, sizeof(d));
        if (syscall(SYS_capget, &h, d) < 0)
                return -errno;
        for (int cap = 0; cap <= last; cap++) {
                bool held =
                        (d[cap / 32].permitted | d[cap / 32].effective | d[cap / 32].inheritable) &
                        (1u << (cap % 32));
                if (cap_kept(c, cap))
                        continue;
                if (held || prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 0 ||
                    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) != 0)
                        return -EPERM;
        }
        return 0;
}

/* Landlock (records L, l) with the guest kernel's ABI. Rights that ABI does not know are not
 * handled by the guest kernel at all, so they are left out of the ruleset and the report names
 * the ABI; the rights it knows are exactly the plan's. A path that does not exist in the guest is
 * skipped: a rule only grants. */
#define LL_FS_REFER (1ULL << 13)
#define LL_FS_TRUNCATE (1ULL << 14)
#define LL_FS_IOCTL_DEV (1ULL << 15)
#define LL_FS_FILE_RIGHTS \
        ((1ULL << 0) | (1ULL << 1) | (1ULL << 2) | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)

static uint64_t ll_known_fs(int abi) {
        return ((1ULL << 13) - 1) | (abi >= 2 ? LL_FS_REFER : 0) | (abi >= 3 ? LL_FS_TRUNCATE : 0) |
               (abi >= 5 ? LL_FS_IOCTL_DEV : 0);
}

static int landlock_apply(const VmConfig *c, int *ret_abi) {
        struct {
                uint64_t fs, net, scoped;
        } attr;
        struct __attribute__((packed)) {
                uint64_t allowed;
                int32_t parent_fd;
        } pb;
        long abi = syscall(444 /* landlock_create_ruleset */, NULL, 0, 1 /* VERSION */);
        int rfd;

        if (abi <= 0)
                return -EOPNOTSUPP;
        attr.fs = c->landlock_fs & ll_known_fs((int) abi);
        attr.net = abi >= 4 ? c->landlock_net & 3 : 0;
        attr.scoped = abi >= 6 ? c->landlock_scoped & 3 : 0;
        if (!attr.fs)
                return -EINVAL;
        rfd = (int) syscall(444, &attr, sizeof(attr), 0);
        if (rfd < 0)
                return -errno;
        for (size_t i = 0; i < c->n_landlock; i++) {
                struct stat st;
                int fd = open(c->landlock[i].path, O_PATH | O_CLOEXEC);
                if (fd < 0 && errno == ENOENT)
                        continue;
                if (fd < 0 || fstat(fd, &st) < 0)
                        return -errno;
                pb.allowed = c->landlock[i].access & attr.fs;
                if (!S_ISDIR(st.st_mode))
                        pb.allowed &= LL_FS_FILE_RIGHTS;
                pb.parent_fd = fd;
                if (pb.allowed && syscall(445 /* landlock_add_rule */, rfd, 1, &pb, 0) < 0)
                        return -errno;
                close(fd);
        }
        if (syscall(446 /* landlock_restrict_self */, rfd, 0) < 0)
                return -errno;
        close(rfd);
        *ret_abi = (int) abi;
        return 0;
}

static _Noreturn void run_child(const VmConfig *c, const CpuWatch *w, int stdin_fd, int out_fd,
                                int err_fd, int errpipe) {
        ChildError done = {};
        bool as_root = c->uid == 0 && c->gid == 0;
        bool caps = c->controls & (1u << VM_CONTROL_CAPS);
        sigset_t all;
        int r;

        sigfillset(&all);
        sigprocmask(SIG_UNBLOCK, &all, NULL);
        /* Into the measured cgroup before anything runs as the command (still root here). */
        if (w->procs_fd >= 0 && write_all(w->procs_fd, "0", 1) < 0)
                child_fail(errpipe, "command cgroup", errno);
        /* Boot mode: join the image's system (its mounts, and so its /proc and /run, cgroup
         * namespace, hostname, IPC, then its pid namespace for the fork below) while this
         * process still has no pid there: the image's root never sees it in moat-init's
         * namespaces (through /proc/PID/ns it could otherwise join moat-init's cgroup namespace
         * and change the command's limits). The cgroup joined above is outside the image's
         * cgroup namespace, where its root cannot move the command out or change its limits. */
        if (boot_pidfd >= 0)
                boot_enter_system(errpipe, stdin_fd, out_fd, err_fd);
        if (c->controls & (1u << VM_CONTROL_PIDS))
                done.applied |= 1u << VM_CONTROL_PIDS;
        if (c->controls & (1u << VM_CONTROL_MEMORY))
                done.applied |= 1u << VM_CONTROL_MEMORY;
        if (c->controls & (1u << VM_CONTROL_USERNS))
                done.applied |= 1u << VM_CONTROL_USERNS; /* init set the sysctl */
        if (setsid() < 0)
                child_fail(errpipe, "setsid", errno);
        if (dup2(stdin_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
                child_fail(errpipe, "stdio", errno);
        /* rlimits while the child may still set any value (CAP_SYS_RESOURCE). */
        for (size_t i = 0; i < c->n_rlimits; i++) {
                struct rlimit rl = {
                        .rlim_cur = c->rlimits[i].soft == UINT64_MAX ? RLIM_INFINITY
                                                                     : c->rlimits[i].soft,
                        .rlim_max = c->rlimits[i].hard == UINT64_MAX ? RLIM_INFINITY
                                                                     : c->rlimits[i].hard,
                };
                if (setrlimit(c->rlimits[i].resource, &rl) < 0)
                        child_fail(errpipe, "rlimit", errno);
        }
        if (c->n_rlimits)
                done.applied |= 1u << VM_CONTROL_RLIMITS;
        if (caps && (r = caps_bound(c)) < 0)
                child_fail(errpipe, "capabilities", -r);
        if (!as_root) {
                if (caps && c->n_caps_keep && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
                        child_fail(errpipe, "capabilities", errno);
                if (setgroups(0, NULL) < 0 || setresgid(c->gid, c->gid, c->gid) < 0 ||
                    setresuid(c->uid, c->uid, c->uid) < 0)
                        child_fail(errpipe, "drop privileges", errno);
        }
        if (caps) {
                if ((r = caps_set(c)) < 0)
                        child_fail(errpipe, "capabilities", -r);
                done.applied |= 1u << VM_CONTROL_CAPS;
        }
        if (!as_root || (c->controls & (1u << VM_CONTROL_NO_NEW_PRIVS))) {
                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
                    prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
                        child_fail(errpipe, "no_new_privs", errno ? errno : EPERM);
                if (c->controls & (1u << VM_CONTROL_NO_NEW_PRIVS))
                        done.applied |= 1u << VM_CONTROL_NO_NEW_PRIVS;
        }
        if (chdir(c->cwd) < 0)
                child_fail(errpipe, "chdir", errno);
        if (c->apparmor[0]) {
                /* The profile was loaded by init; the transition happens at exec. */
                char cmd[160];
                int fd = open("/proc/self/attr/apparmor/exec", O_WRONLY | O_CLOEXEC);
                if (fd < 0)
                        child_fail(errpipe, "apparmor", errno);
                snprintf(cmd, sizeof(cmd), "exec %s", c->apparmor);
                if (write_all(fd, cmd, strlen(cmd)) < 0)
                        child_fail(errpipe, "apparmor", errno);
                close(fd);
        }
        if (c->controls & (1u << VM_CONTROL_LANDLOCK)) {
                r = landlock_apply(c, &done.landlock_abi);
                if (r < 0 && c->landlock_required)
                        child_fail(errpipe, r == -EOPNOTSUPP ? "landlock unsupported" : "landlock",
                                   -r);
                if (r >= 0)
                        done.applied |= 1u << VM_CONTROL_LANDLOCK;
        }
        /* The filter last: one prctl, after which only write and exec run. */
        if (c->n_seccomp) {
                struct sock_fprog prog = { .len = (unsigned short) c->n_seccomp,
                                           .filter = (struct sock_filter *) c->seccomp };
                if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
                        child_fail(errpipe, "seccomp", errno);
                done.applied |= 1u << VM_CONTROL_SECCOMP;
        }
        (void) !write(errpipe, &done, sizeof(done));
        environ = (char **) c->env;
        execvp(c->argv[0], (char *const *) c->argv);
        child_fail(errpipe, "exec", errno);
}

/* Loads the AppArmor profile moat sent into the guest kernel with the host's apparmor_parser
 * (from the /usr share; includes resolve in the host's /etc/apparmor.d), or fails the run. */
static void load_apparmor(const VmConfig *c) {
        static const char path[] = "/.moat-apparmor-profile";
        int fd, st;
        pid_t pid;

        if (mount("securityfs", NEWROOT "/sys/kernel/security", "securityfs",
                  MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                fail("mount securityfs", errno);
        if (access(NEWROOT "/sys/kernel/security/apparmor/profiles", R_OK) < 0)
                fail("apparmor not enabled in guest", errno == ENOENT ? EOPNOTSUPP : errno);
        fd = open(NEWROOT "/.moat-apparmor-profile", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || write_all(fd, c->apparmor_text, c->apparmor_text_len) < 0 || close(fd) < 0)
                fail("write apparmor profile", errno);
        pid = fork();
        if (pid < 0)
                fail("fork apparmor_parser", errno);
        if (pid == 0) {
                if (chroot(NEWROOT) < 0 || chdir("/") < 0)
                        _exit(127);
                execl("/usr/sbin/apparmor_parser", "apparmor_parser", "--replace", "--skip-cache",
                      "--quiet", path, (char *) NULL);
                _exit(127);
        }
        if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                fail("load apparmor profile",
                     WIFEXITED(st) && WEXITSTATUS(st) == 127 ? ENOENT : EPERM);
        (void) unlink(NEWROOT "/.moat-apparmor-profile");
        /* If the text defined another name, the exec transition in the child fails (ENOENT)
         * and the run stops there. */
}

/* Feeds stdin frames ("i<len>:<bytes>\n", then "I0:\n") from the host into the pipe. */
typedef struct StdinRelay {
        char buf[VM_STDIN_FRAME_MAX + 32];
        size_t len;
        int pipe_fd;
        bool eof;
} StdinRelay;

static int relay_stdin(StdinRelay *s) {
        for (;;) {
                char *colon;
                unsigned long n;
                char *end;

                if (s->len == 0)
                        return 0;
                if (s->buf[0] != 'i' && s->buf[0] != 'I')
                        return -EINVAL;
                colon = memchr(s->buf, ':', s->len);
                if (!colon)
                        return s->len > 8 ? -EINVAL : 0;
                n = strtoul(s->buf + 1, &end, 10);
                if (end != colon || colon == s->buf + 1 || n > VM_STDIN_FRAME_MAX)
                        return -EINVAL;
                size_t need = (size_t) (colon - s->buf) + 1 + n + 1;
                if (s->len < need)
                        return 0;
                if (s->buf[need - 1] != '\n')
                        return -EINVAL;
                if (s->buf[0] == 'I') {
                        if (n != 0)
                                return -EINVAL;
                        s->eof = true;
                } else if (s->pipe_fd >= 0 && write_all(s->pipe_fd, colon + 1, n) < 0) {
                        /* The command closed its stdin: drop the rest, as a pipe would. */
                        close(s->pipe_fd);
                        s->pipe_fd = -1;
                }
                memmove(s->buf, s->buf + need, s->len - need);
                s->len -= need;
                if (s->eof && s->pipe_fd >= 0) {
                        close(s->pipe_fd);
                        s->pipe_fd = -1;
                }
        }
}

/* Waits for the command, relaying stdin and watching its CPU time; returns its wait status. */
static int supervise(pid_t child, CpuWatch *cw, int stdin_w, char *pending, size_t pending_len) {
        StdinRelay s = { .pipe_fd = stdin_w };
        sigset_t mask;
        int sfd;

        if (pending_len > sizeof(s.buf))
                fail("stdin frame", EINVAL);
        memcpy(s.buf, pending, pending_len);
        s.len = pending_len;
        if (relay_stdin(&s) < 0)
                fail("stdin frame", EINVAL);

        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0)
                fail("signalfd", errno);
        for (;;) {
                struct pollfd p[2] = {
                        { .fd = sfd, .events = POLLIN },
                        { .fd = s.eof ? -1 : ctl_fd, .events = POLLIN },
                };
                int st;
                pid_t w;

                while ((w = waitpid(-1, &st, WNOHANG)) > 0)
                        if (w == child)
                                return st;
                if (poll(p, 2, cpu_watch_timeout(cw)) < 0 && errno != EINTR)
                        fail("poll", errno);
                cpu_watch_check(cw);
                if (p[0].revents) {
                        struct signalfd_siginfo si;
                        while (read(sfd, &si, sizeof(si)) > 0)
                                ;
                }
                if (p[1].revents & POLLIN) {
                        ssize_t n = read(ctl_fd, s.buf + s.len, sizeof(s.buf) - s.len);
                        if (n > 0) {
                                s.len += (size_t) n;
                                if (relay_stdin(&s) < 0)
                                        fail("stdin frame", EINVAL);
                        }
                } else if (p[1].revents & (POLLHUP | POLLERR)) {
                        /* Host side gone: moat is ending the run; avoid a busy loop. */
                        sleep_ms(50);
                }
        }
}

/* Boot mode (record B). The image's init (systemd) boots the image's system as pid 1 of its own
 * pid namespace, with its own mount, cgroup, UTS and IPC namespaces; this init stays the guest
 * kernel's pid 1, outside all of them, and keeps the virtio ports to itself:
 *   - nothing in the image can see, signal, ptrace or outlive this process (its pid does not
 *     exist in the image's pid namespace; if it died the kernel would panic, which moat reports
 *     as a guest without status, 125);
 *   - the ports were opened before the image's init existed, with O_CLOEXEC: the image's init
 *     never holds them, and virtio_console lets a port be open once (EBUSY for anyone else);
 *   - the image's system keeps every capability but the kernel-facing ones (the system tier's
 *     boot set: no module loading, raw I/O, /dev/mem or /proc/kcore, clock, reboot of the
 *     guest, MAC policy, BPF, perf), and CAP_SYS_RESOURCE too, so that it cannot raise
 *     user.max_user_namespaces again (record U) or lift a limit of the guest's pid 1;
 *   - its /proc is its own pid namespace's (the guest's is unmounted in its mount namespace);
 *   - it is a child cgroup whose namespace hides the command's cgroup and its limits.
 * Its READY=1 (sd_notify, an abstract datagram socket that only accepts the image's pid 1 by its
 * credentials) arrives when its boot transaction has finished, "running" or "degraded"; then
 * the command is forked into its namespaces (run_child) with every control of command mode. */
#define BOOT_NOTIFY "moat-notify"

static const int boot_cap_drop[] = {
        16 /* sys_module */,   17 /* sys_rawio */, 20 /* sys_pacct */,     22 /* sys_boot */,
        24 /* sys_resource */, 25 /* sys_time */,  30 /* audit_control */, 32 /* mac_override */,
        33 /* mac_admin */,    34 /* syslog */,    35 /* wake_alarm */,    36 /* block_suspend */,
        37 /* audit_read */,   38 /* perfmon */,   39 /* bpf */,
};

static _Noreturn void boot_child(const VmConfig *c) {
        static char *const envp[] = { "container=moat", "NOTIFY_SOCKET=@" BOOT_NOTIFY, NULL };
        char *const argv[] = { (char *) c->boot_init, NULL };
        /* The services' default (LimitNOFILE=1024:524288) without CAP_SYS_RESOURCE. */
        struct rlimit nofile = { 1024, 524288 };
        sigset_t all;
        int last = cap_last();

        sigfillset(&all);
        sigprocmask(SIG_UNBLOCK, &all, NULL);
        if (write_all(boot_procs_fd, "0", 1) < 0 || unshare(CLONE_NEWCGROUP) < 0) {
                klog("boot: system cgroup: %s", strerror(errno));
                _exit(126);
        }
        /* The guest's /proc shows this init: replace it by this pid namespace's own. */
        if (umount2("/proc", MNT_DETACH) < 0 ||
            mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
                klog("boot: /proc: %s", strerror(errno));
                _exit(126);
        }
        if (setrlimit(RLIMIT_NOFILE, &nofile) < 0) {
                klog("boot: nofile: %s", strerror(errno));
                _exit(126);
        }
        for (size_t i = 0; i < sizeof(boot_cap_drop) / sizeof(boot_cap_drop[0]); i++)
                if (boot_cap_drop[i] <= last &&
                    prctl(PR_CAPBSET_DROP, boot_cap_drop[i], 0, 0, 0) < 0) {
                        klog("boot: capability bounding set: %s", strerror(errno));
                        _exit(126);
                }
        (void) setsid();
        execve(c->boot_init, argv, envp);
        klog("boot: exec %s: %s", c->boot_init, strerror(errno));
        _exit(127);
}

/* Boot mode: the kernel's usermode helpers (a "|program" core_pattern, modprobe, a binfmt_misc
 * interpreter), which the image's root can name, run as root in this init's namespaces (PID 1
 * shares its fs_struct with the kernel's threads: they resolve paths in the image's root), out
 * of every namespace the image's system is confined to. They get no capability at all
 * (usermodehelper bset and inheritable 0, which only a holder of CAP_SYS_MODULE and CAP_SETPCAP
 * could raise again): they cannot ptrace this init, load modules, write user.max_user_namespaces
 * or do anything else root's capabilities allow. Read back. */
static void boot_limit_helpers(void) {
        static const char *const umh[] = { "/proc/sys/kernel/usermodehelper/bset",
                                           "/proc/sys/kernel/usermodehelper/inheritable" };

        for (size_t i = 0; i < sizeof(umh) / sizeof(umh[0]); i++) {
                char buf[32] = "";
                unsigned lo = 1, hi = 1;
                int fd = open(umh[i], O_RDWR | O_CLOEXEC);
                if (fd < 0 || write_all(fd, "0\t0\n", 4) < 0 ||
                    pread(fd, buf, sizeof(buf) - 1, 0) <= 0 ||
                    sscanf(buf, "%u %u", &lo, &hi) != 2 || lo || hi)
                        fail("usermode helper caps", errno ? errno : EIO);
                close(fd);
        }
}

/* Boot mode: the kernel locked down to "confidentiality" (the guest is booted with the lockdown
 * LSM for it) before the image's init starts, one way: with CAP_SYS_ADMIN, the image's root
 * could otherwise use BPF (bpf_probe_write_user from a kprobe that fires in this init's write()
 * of a status line) or kprobes, /proc/kcore, perf and tracefs to change or read this init's
 * memory. Read back. */
static void boot_lockdown(void) {
        char buf[128] = "";
        int fd;

        if (mount("securityfs", "/sys/kernel/security", "securityfs",
                  MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 &&
            errno != EBUSY)
                fail("mount securityfs", errno);
        fd = open("/sys/kernel/security/lockdown", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                fail("lockdown unavailable", errno == ENOENT ? EOPNOTSUPP : errno);
        if (write_all(fd, "confidentiality", 15) < 0 || pread(fd, buf, sizeof(buf) - 1, 0) <= 0 ||
            !strstr(buf, "[confidentiality]"))
                fail("lockdown", errno ? errno : EIO);
        close(fd);
}

/* One datagram on the notify socket: true when it is READY=1 from the image's init. */
static bool boot_ready_msg(int fd, pid_t init) {
        char buf[4096];
        union {
                struct cmsghdr h;
                char b[CMSG_SPACE(sizeof(struct ucred))];
        } cm;
        struct iovec iov = { buf, sizeof(buf) - 1 };
        struct msghdr m = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &cm, .msg_controllen = sizeof(cm)
        };
        struct ucred *u = NULL;
        ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

        if (n < 0)
                return false;
        for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
                if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_CREDENTIALS &&
                    h->cmsg_len == CMSG_LEN(sizeof(struct ucred)))
                        u = (struct ucred *) CMSG_DATA(h);
                else if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS)
                        for (int *f = (int *) CMSG_DATA(h); (char *) f < (char *) h + h->cmsg_len;
                             f++)
                                close(*f);
        if (!u || u->pid != init)
                return false;
        buf[n] = 0;
        for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                if (strcmp(l, "READY=1") == 0)
                        return true;
        return false;
}

/* Starts the image's init and waits for its READY=1; then the next fork of this process is in
 * the image's pid namespace (the command's). Fails the run if the init cannot start, exits or
 * is not ready in time. */
static void boot_system(const VmConfig *c) {
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        socklen_t alen =
                (socklen_t) (offsetof(struct sockaddr_un, sun_path) + 1 + strlen(BOOT_NOTIFY));
        uint64_t t0 = now_ms(), deadline = t0 + c->boot_ready_ms;
        int one = 1, nfd, st;
        pid_t init;

        memcpy(a.sun_path + 1, BOOT_NOTIFY, strlen(BOOT_NOTIFY));
        nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (nfd < 0 || setsockopt(nfd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
            bind(nfd, (struct sockaddr *) &a, alen) < 0)
                fail("boot notify socket", errno);
        init = (pid_t) syscall(SYS_clone,
                               SIGCHLD | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC,
                               NULL, NULL, NULL, NULL);
        if (init < 0)
                fail("boot clone", errno);
        if (init == 0)
                boot_child(c);
        boot_pidfd = (int) syscall(434 /* pidfd_open */, init, 0);
        if (boot_pidfd < 0)
                fail("boot pidfd", errno);
        for (;;) {
                struct pollfd p = { .fd = nfd, .events = POLLIN };
                uint64_t t = now_ms();

                if (waitpid(init, &st, WNOHANG) == init) {
                        klog("boot: %s ended before it was ready (status 0x%x)", c->boot_init, st);
                        fail("boot init exited",
                             WIFEXITED(st) && WEXITSTATUS(st) == 127 ? ENOENT : ECHILD);
                }
                if (t >= deadline)
                        fail("boot init not ready", ETIMEDOUT);
                if (poll(&p, 1, (int) (deadline - t < 100 ? deadline - t : 100)) > 0 &&
                    boot_ready_msg(nfd, init))
                        break;
        }
        close(nfd);
        klog("boot: %s ready after %llu ms", c->boot_init, (unsigned long long) (now_ms() - t0));
}

int main(int argc, char **argv) {
        static char cfgbuf[VM_CONFIG_MAX + VM_STDIN_FRAME_MAX + 64];
        static VmConfig c;
        CpuWatch cw;
        int out_fd, err_fd, errpipe[2], inpipe[2];
        size_t cfg_len, used;
        sigset_t mask;
        pid_t child;
        int st;

        if (getpid() != 1)
                return 1;
        (void) mkdir("/proc", 0555);
        (void) mkdir("/sys", 0555);
        (void) mkdir("/dev", 0755);
        if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ||
            mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ||
            mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, NULL) < 0)
                power_off();
        kmsg_fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);

        /* SIGCHLD is read through a signalfd; everything else keeps its PID 1 default. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        load_modules();
        if (kvm_proof_requested()) {
                /* The host's KVM proof (launcher/vm/vm-kvm-proof.c): the kernel booted, ran
                 * this static init (vector code in libc included) and loaded the modules. */
                klog("kvm-proof ok");
                power_off();
        }
        ctl_fd = open_port(VM_PORT_CTL, O_RDWR);
        if (ctl_fd < 0) {
                klog("no control port");
                power_off();
        }
        out_fd = open_port(VM_PORT_STDOUT, O_WRONLY);
        err_fd = open_port(VM_PORT_STDERR, O_WRONLY);
        if (out_fd < 0 || err_fd < 0)
                fail("open output ports", ENOENT);

        used = read_config(cfgbuf, sizeof(cfgbuf), &c, &cfg_len);
        debug = c.debug;
        apply_clone_identity(&c);
        if (debug)
                klog("configuration accepted: %zu arguments, %zu mounts", c.n_argv, c.n_mounts);
        if (strcmp(c.fault, "silent") == 0)
                for (;;)
                        pause();
        if (strcmp(c.fault, "panic") == 0)
                _exit(1); /* PID 1 exits: the kernel panics */
        if (strcmp(c.fault, "skip-controls") == 0) {
                /* An init that neither applies nor reports the controls: moat must stop it. */
                c.controls = 0;
                c.n_seccomp = c.n_rlimits = 0;
                c.pids_max = c.memory_max = 0;
        }

        build_root(&c);
        cpu_watch_setup(&cw, &c);
        if (c.controls & (1u << VM_CONTROL_USERNS))
                disable_userns();
        loopback_up();
        net_forwarder_start(&c, out_fd, err_fd);
        if (c.apparmor[0])
                load_apparmor(&c);
        if (c.boot_init[0]) {
                boot_limit_helpers();
                boot_lockdown();
        }
        switch_root();
        if (c.boot_init[0])
                boot_system(&c);

        if (pipe2(errpipe, O_CLOEXEC) < 0 || pipe2(inpipe, O_CLOEXEC) < 0)
                fail("pipe", errno);
        cpu_watch_start(&cw);
        child = fork();
        if (child < 0)
                fail("fork", errno);
        if (child == 0) {
                close(errpipe[0]);
                run_child(&c, &cw, inpipe[0], out_fd, err_fd, errpipe[1]);
        }
        close(errpipe[1]);
        close(inpipe[0]);
        close(out_fd);
        close(err_fd);

        ChildError ce = {}, applied = {};
        ssize_t n = read(errpipe[0], &applied, sizeof(applied));
        if (n == (ssize_t) sizeof(applied) && applied.err == 0)
                n = read(errpipe[0], &ce, sizeof(ce));
        else
                ce = applied, applied = (ChildError){};
        close(errpipe[0]);
        if (n == (ssize_t) sizeof(ce) && ce.err > 0) {
                ce.step[sizeof(ce.step) - 1] = 0;
                (void) waitpid(child, &st, 0);
                report(VM_STATUS_ERROR, ce.err, ce.step);
                power_off();
        }
        if (n != 0) {
                /* The child died before exec without saying why. */
                (void) waitpid(child, &st, 0);
                report(VM_STATUS_ERROR, EPROTO, "child");
                power_off();
        }
        for (int k = 0; k < _VM_CONTROL_MAX; k++) {
                char detail[24] = "";
                if (!(applied.applied & (1u << k)) || !(c.controls & (1u << k)))
                        continue;
                if (k == VM_CONTROL_LANDLOCK)
                        snprintf(detail, sizeof(detail), "abi %d", applied.landlock_abi);
                else if (k == VM_CONTROL_SECCOMP)
                        snprintf(detail, sizeof(detail), "%zu insns", c.n_seccomp);
                report(VM_STATUS_APPLIED, k, detail);
        }
        report(VM_STATUS_STARTED, 0, NULL);

        st = supervise(child, &cw, inpipe[1], cfgbuf + used, cfg_len - used);

        /* Whatever the command left behind dies with it. */
        kill(-1, SIGKILL);
        while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
                ;
        if (strcmp(c.fault, "bad-status") == 0) {
                static const char bad[] = "exit 1; rm -rf /\n";
                (void) write_all(ctl_fd, bad, sizeof(bad) - 1);
        } else if (cw.read_err)
                report(VM_STATUS_ERROR, cw.read_err, "cpu time read");
        else if (cw.exceeded && WIFSIGNALED(st))
                report(VM_STATUS_CPUTIME, WTERMSIG(st), NULL);
        else if (WIFSIGNALED(st))
                report(VM_STATUS_SIGNAL, WTERMSIG(st), NULL);
        else
                report(VM_STATUS_EXIT, WEXITSTATUS(st), NULL);
        sync();
        power_off();
}

/* SPDX-License-Identifier: MIT */
/* Executor of the vm tier: one command in a transient libvirt/QEMU guest (executor.h).
 *
 * Who runs QEMU: libvirt's session daemon of the calling user (qemu:///session, spawned on
 * demand), so QEMU has the caller's uid and no privilege. A root caller is not given a root
 * QEMU: moat forks a helper that drops to the dedicated account moat-vm (created by
 * moat-guest-kernel) with PR_SET_PDEATHSIG, and that helper is the session client. A root QEMU
 * with a writable 9p share would let the guest plant setuid-root files on the host.
 *
 * Lifetime: the domain is created with AUTODESTROY on this process's connection. If moat dies,
 * even by SIGKILL, the connection closes and libvirt destroys the domain; for root the helper
 * dies with moat through its parent-death signal. Timeout, SIGINT/SIGTERM/SIGHUP, a malformed
 * guest message, or a guest that stops without a status all destroy the domain here.
 *
 * Data path: three unix sockets in a private run directory, on which moat listens and QEMU
 * connects at start (virtio-serial ports): the control port (configuration and stdin frames
 * in, status lines out; vm-proto.h), stdout and stderr.
 *
 * network: outbound: a fourth, the egress port (net.sock). The guest has no network device;
 * its init forwards 127.0.0.1:PORT over that port (record N), and moat connects each channel
 * the guest opens (vm-netrelay.h) to its proxy (net/netd.h) listening on proxy.sock in the run
 * directory: the allowlist, the TLS server-name check and the decisions are the sandbox
 * tier's. The guest's framing is checked here; a broken frame stops the run (125).
 *
 * resources.disk by project quota (plan: DISK_MECH_PROJECT_QUOTA, root callers only): QEMU
 * writes the writable shares on the host as moat-vm, which has no CAP_SYS_RESOURCE, so a project
 * quota on their trees bounds the total the guest can add. moat sets it before the helper
 * exists, with the sandbox tier's code (sandbox/disk.c: the record, the guard, the release);
 * the helper passes each QEMU to the guard as a pidfd, so that after a kill -9 of moat the guard
 * undoes nothing while that QEMU may still write, and at a normal end waits for QEMU to be gone
 * before it reports, so that moat removes the quota only once nothing writes the trees. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basic/macros.h"
#include "executor.h"
#include "host/vm-account.h"
#include "sandbox/sandbox-internal.h"
#include "net/net-keep.h"
#include "net/netd.h"
#include "vm-controls.h"
#include "vm-domain.h"
#include "vm-initramfs.h"
#include "vm-layout.h"
#include "vm-libvirt.h"
#include "vm-warm.h"
#include "vm/guest/vm-netrelay.h"
#include "vm/guest/vm-proto.h"

#define VM_URI "qemu:///session"
#define VM_BOOT_DEADLINE_MS 120000u /* without a plan timeout: boot + start of the command */
#define VM_DRAIN_MS 10000u          /* after the final status: output and power-off */
#define VM_MIN_MEMORY (96ull << 20) /* the 66 MB PVH kernel image must fit */
#define VM_QEMU_EXIT_MS 10000u      /* a project quota's run: QEMU gone before the report */

enum {
        SOCK_CTL,
        SOCK_OUT,
        SOCK_ERR,
        _SOCK_MAX
};
static const char *const sock_names[_SOCK_MAX] = { "ctl.sock", "out.sock", "err.sock" };

/* What a run produced; also what the root helper sends back to moat. */
typedef struct VmResult {
        bool started, timed_out;
        bool cpu_time_exceeded; /* the guest init killed the tree for resources.cpu_time */
        bool output_exceeded;   /* resources.output passed: the guest was destroyed */
        int exit_status, exit_code, signal;
        char failed_step[64];
        int failed_errno;
        char message[512];
        char tier_detail[256];
        char machine_id[33];       /* the guest's /etc/machine-id, for the audit record */
        unsigned controls_applied; /* 1u << VmControl the guest reported applied */
        bool controls_reported;    /* the guest reached "started" and reported them */
        uint64_t boot_ms;
        /* network: outbound: the decisions (RunNetwork without its pointer, and its table),
         * so that a root caller's helper can send them back as they are */
        RunNetwork net;
        RunNetDest net_dest[RUN_NET_MAX_DEST];
} VmResult;

typedef struct VmRun {
        const Plan *plan;
        const RunRequest *req;
        char dir[64];
        int listen_fd[_SOCK_MAX], fd[_SOCK_MAX], sig_fd;
        VmLibvirt *lv;
        VmWarm *warm;     /* a warm start's clone (vm-warm.h), instead of lv */
        VmWarmSpec wspec; /* what a warm start needs of the domain */
        VmStatusReader status;
        VmControlSet controls; /* what the configuration asked the guest init to apply */
        char *outq;            /* control port output: configuration, then stdin frames */
        size_t outq_len, outq_off;
        bool stdin_eof, stdin_eof_sent, stopped, destroyed;
        bool clean_end; /* final status received and output drained */
        bool out_broken[3];
        uint64_t output_left; /* resources.output: bytes the guest may still write */
        uint64_t t0;
        VmResult res;
        /* network: outbound (-EBADF / 0 otherwise): the egress port's listener and connection,
         * the proxy's listener, the proxy and its record socket, the relay */
        int net_listen, net_fd, proxy_listen, net_report_fd;
        pid_t net_pid;
        char proxy_sock[sizeof(((struct sockaddr_un *) 0)->sun_path)];
        VmNetRelay *relay;
        /* resources.disk's project quota: the guard's socket (sandbox_disk_quota_watch()), and
         * the cold path's QEMU, waited for at the end; -EBADF without a quota */
        int quota_fd, qemu_pidfd;
} VmRun;

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void result_fail(VmResult *res, const char *step, int err, const char *fmt, ...)
        _printf_(4, 5);
static void result_fail(VmResult *res, const char *step, int err, const char *fmt, ...) {
        va_list ap;

        if (res->failed_step[0])
                return;
        snprintf(res->failed_step, sizeof(res->failed_step), "%s", step);
        res->failed_errno = err < 0 ? -err : err;
        va_start(ap, fmt);
        vsnprintf(res->message, sizeof(res->message), fmt, ap);
        va_end(ap);
        res->exit_status = 125;
        res->exit_code = -1;
}

/* HostFacts.vm_boot_ms reads this back: the last measured boot-to-command time. */
static void boot_ms_save(uint64_t ms) {
        _cleanup_free_ char *dir = vm_cache_dir(""), *path = NULL, *tmp = NULL;
        FILE *f;
        int fd;

        if (!dir || asprintf(&path, "%s/vm-boot-ms", dir) < 0 ||
            asprintf(&tmp, "%s.XXXXXX", path) < 0)
                return;
        for (char *s = dir + 1; *s; s++)
                if (*s == '/') {
                        *s = 0;
                        (void) mkdir(dir, 0700);
                        *s = '/';
                }
        (void) mkdir(dir, 0700);
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return;
        f = fdopen(fd, "we");
        if (!f) {
                close(fd);
                unlink(tmp);
                return;
        }
        fprintf(f, "%llu\n", (unsigned long long) ms);
        if (fclose(f) != 0 || rename(tmp, path) < 0)
                unlink(tmp);
}

static int listen_unix(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        if (fd < 0)
                return -errno;
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 1) < 0)
                return -errno;
        return TAKE_FD(fd);
}

static void run_dir_remove(const char *dir) {
        static const char *const files[] = { "ctl.sock", "out.sock",   "err.sock",
                                             "net.sock", "proxy.sock", "console.log" };
        char p[PATH_MAX];

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                int n = snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
                if (n > 0 && (size_t) n < sizeof(p)) /* never a truncated name */
                        (void) unlink(p);
        }
        (void) rmdir(dir);
}

/* A moat killed by SIGKILL leaves its run directory behind (QEMU is gone: auto-destroy).
 * Remove this uid's directories whose moat no longer runs; rmdir fails harmlessly on
 * anything unexpected inside. */
static void sweep_run_dirs(void) {
        DIR *d = opendir("/tmp");
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                char path[300];
                struct stat st;
                int pid;

                if (sscanf(de->d_name, "moat-vm-%d-", &pid) != 1 || pid <= 0)
                        continue;
                snprintf(path, sizeof(path), "/tmp/%s", de->d_name);
                if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid())
                        continue;
                if (kill(pid, 0) == 0 || errno != ESRCH)
                        continue;
                run_dir_remove(path);
        }
        closedir(d);
}

/* The egress port's channels connect here: the proxy's listener in the run directory. */
static int net_connect_proxy(void *userdata) {
        const VmRun *run = userdata;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        if (fd < 0)
                return -errno;
        memcpy(sa.sun_path, run->proxy_sock, sizeof(sa.sun_path));
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static void net_stop(VmRun *run) {
        if (run->relay) {
                vm_net_relay_done(run->relay);
                free(run->relay);
                run->relay = NULL;
        }
        run->net_fd = safe_close(run->net_fd);
        /* as the sandbox tier does (net-keep.h): the guest's channels are closed first */
        net_helper_stop(&run->net_pid, &run->net_report_fd, &run->res.net, NET_STOP_MS);
        run->net_listen = safe_close(run->net_listen);
        run->proxy_listen = safe_close(run->proxy_listen);
        /* The table crosses the helper's pipe by value. */
        if (run->res.net.dest) {
                memcpy(run->res.net_dest, run->res.net.dest,
                       run->res.net.n_dest * sizeof(run->res.net_dest[0]));
                free(run->res.net.dest);
                run->res.net.dest = NULL;
        }
}

static void run_cleanup(VmRun *run) {
        run->lv = vm_libvirt_close(run->lv, run->clean_end);
        run->warm = vm_warm_close(run->warm);
        net_stop(run);
        vm_warm_spec_done(&run->wspec);
        for (int i = 0; i < _SOCK_MAX; i++) {
                run->listen_fd[i] = safe_close(run->listen_fd[i]);
                run->fd[i] = safe_close(run->fd[i]);
        }
        run->sig_fd = safe_close(run->sig_fd);
        if (run->dir[0])
                run_dir_remove(run->dir);
        free(run->outq);
        run->outq = NULL;
}

/* The reason a guest stopped without reporting: the kernel's or init's last words. */
static void console_reason(VmRun *run, char *buf, size_t size) {
        char path[128], data[4096];
        _cleanup_close_ int fd = -EBADF;
        ssize_t n;
        off_t end;

        buf[0] = 0;
        snprintf(path, sizeof(path), "%s/console.log", run->dir);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || (end = lseek(fd, 0, SEEK_END)) < 0)
                return;
        n = pread(fd, data, sizeof(data) - 1,
                  end > (off_t) sizeof(data) - 1 ? end - (off_t) sizeof(data) + 1 : 0);
        if (n <= 0)
                return;
        data[n] = 0;
        for (char *line = strtok(data, "\r\n"); line; line = strtok(NULL, "\r\n"))
                if (strstr(line, "Kernel panic") || strstr(line, "moat-init:")) {
                        char *s = strstr(line, "Kernel panic") ?: strstr(line, "moat-init:");
                        /* Console bytes come from the guest: keep them printable. */
                        for (char *c = s; *c; c++)
                                if ((unsigned char) *c < 0x20 || (unsigned char) *c > 0x7e)
                                        *c = '?';
                        snprintf(buf, size, "%s", s);
                }
}

static int queue_ctl(VmRun *run, const char *data, size_t len) {
        char *p = realloc(run->outq, run->outq_len + len);
        if (!p)
                return -ENOMEM;
        memcpy(p + run->outq_len, data, len);
        run->outq = p;
        run->outq_len += len;
        return 0;
}

static void destroy(VmRun *run) {
        if (!run->destroyed && run->lv)
                (void) vm_libvirt_destroy(run->lv);
        if (!run->destroyed && run->warm)
                vm_warm_kill(run->warm);
        run->destroyed = true;
}

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                struct pollfd pf = { .fd = fd, .events = POLLOUT };
                                (void) poll(&pf, 1, 1000);
                                continue;
                        }
                        return -errno;
                }
                p += w, n -= (size_t) w;
        }
        return 0;
}

/* Reads one chunk from a guest socket; false at EOF. */
static bool pump_guest(VmRun *run, int i) {
        char buf[65536];
        ssize_t n = read(run->fd[i], buf, sizeof(buf));

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return true;
        if (n <= 0) {
                run->fd[i] = safe_close(run->fd[i]);
                return false;
        }
        if (i == SOCK_CTL) {
                if (vm_status_reader_feed(&run->status, buf, (size_t) n) < 0) {
                        result_fail(&run->res, "guest status", EPROTO,
                                    "malformed message from the guest (%s); the run was stopped",
                                    run->status.reason);
                        destroy(run);
                } else if (run->status.started && !run->res.started) {
                        char why[160];
                        run->res.controls_applied = run->status.applied;
                        run->res.controls_reported = true;
                        if (vm_controls_check(&run->controls, run->status.applied, why,
                                              sizeof(why)) < 0) {
                                /* A required control the guest did not apply: the command
                                 * must not go on running. */
                                result_fail(&run->res, "guest controls", EPROTO, "%s", why);
                                destroy(run);
                                return true;
                        }
                        run->res.started = true;
                        run->res.boot_ms = now_ms() - run->t0;
                        if (run->plan->system.image && run->plan->system.boot) {
                                /* boot mode: "started" comes after the image's READY=1 */
                                size_t l = strlen(run->res.tier_detail);
                                snprintf(run->res.tier_detail + l, sizeof(run->res.tier_detail) - l,
                                         "; boot mode, %s ready, command at %llu ms",
                                         run->plan->system.init,
                                         (unsigned long long) run->res.boot_ms);
                        }
                        if (run->status.applied & (1u << VM_CONTROL_LANDLOCK)) {
                                size_t l = strlen(run->res.tier_detail);
                                snprintf(run->res.tier_detail + l, sizeof(run->res.tier_detail) - l,
                                         "; guest landlock %s",
                                         run->status.applied_detail[VM_CONTROL_LANDLOCK]);
                        }
                }
                return true;
        }
        int out = i == SOCK_OUT ? STDOUT_FILENO : STDERR_FILENO;
        size_t pass = (size_t) n;
        /* resources.output: stdout and stderr together, counted as they are relayed; the
         * first byte past the cap is not passed on, and the guest is destroyed. */
        if (run->plan->resources.output_bytes) {
                if (run->res.output_exceeded)
                        return true; /* destroyed already: what is still in flight is dropped */
                pass = (size_t) MIN((uint64_t) n, run->output_left);
                run->output_left -= pass;
        }
        if (pass && !run->out_broken[i] && write_all(out, buf, pass) < 0)
                run->out_broken[i] = true; /* the reader went away: drop, as a pipe would */
        /* After the final status the command has ended: its output is cut all the same, and
         * its own status stands (as in the sandbox tier). */
        if (pass < (size_t) n && !run->res.output_exceeded) {
                run->res.output_exceeded = true;
                if (run->status.final)
                        return true;
                result_fail(&run->res, "output", EFBIG,
                            "the command wrote more than resources.output (%llu bytes); guest "
                            "destroyed",
                            (unsigned long long) run->plan->resources.output_bytes);
                run->res.exit_status = 128 + SIGKILL;
                run->res.signal = SIGKILL;
                destroy(run);
        }
        return true;
}

static void pump_stdin(VmRun *run) {
        char buf[VM_STDIN_FRAME_MAX], head[24];
        ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
        int h;

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        if (n <= 0) {
                run->stdin_eof = true;
                return;
        }
        h = snprintf(head, sizeof(head), "i%zd:", n);
        if (queue_ctl(run, head, (size_t) h) < 0 || queue_ctl(run, buf, (size_t) n) < 0 ||
            queue_ctl(run, "\n", 1) < 0)
                run->stdin_eof = true;
}

static void flush_ctl(VmRun *run) {
        while (run->outq_off < run->outq_len) {
                ssize_t n = send(run->fd[SOCK_CTL], run->outq + run->outq_off,
                                 run->outq_len - run->outq_off, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                run->outq_off = run->outq_len; /* guest side gone */
                        return;
                }
                run->outq_off += (size_t) n;
        }
        run->outq_off = run->outq_len = 0;
}

static void on_signal(VmRun *run) {
        struct signalfd_siginfo si;

        while (read(run->sig_fd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
                if (run->destroyed)
                        continue;
                result_fail(&run->res, "signal", EINTR, "stopped by signal %u; guest destroyed",
                            si.ssi_signo);
                run->res.exit_status = 128 + (int) si.ssi_signo;
                run->res.signal = (int) si.ssi_signo;
                destroy(run);
        }
}

/* The guest reported its final status. The command's output is already in our sockets: a
 * guest write on a virtio-serial port completes only once QEMU has written the bytes to the
 * socket, and init reports only after the command and everything it left behind are gone. So
 * read what is there and stop; the guest is powering off, and closing the connection
 * auto-destroys the domain without waiting for libvirt to reap QEMU. */
static void finish_output(VmRun *run) {
        for (int i = SOCK_OUT; i <= SOCK_ERR; i++)
                while (run->fd[i] >= 0) {
                        struct pollfd p = { .fd = run->fd[i], .events = POLLIN };
                        if (poll(&p, 1, 0) <= 0 || !pump_guest(run, i))
                                break;
                }
        run->clean_end = true;
}

/* The event loop of a running guest; returns when QEMU has closed every port or the guest
 * reported its final status. */
static void run_loop(VmRun *run, uint64_t deadline) {
        uint64_t drain_until = 0;
        bool run_deadline_set = false;

        for (;;) {
                struct pollfd p[8 + VM_NET_POLLFDS];
                int watch = run->warm && !run->status.final ? vm_warm_watch_fd(run->warm) : -1;
                int ev = run->warm ? vm_warm_event_fd(run->warm) : vm_libvirt_event_fd(run->lv);
                bool want_stdin = run->res.started && !run->stdin_eof && run->outq_len == 0 &&
                                  run->fd[SOCK_CTL] >= 0;
                bool relay = run->res.started;
                uint64_t t = now_ms(), until;
                int timeout;

                if (run->fd[SOCK_CTL] < 0 && run->fd[SOCK_OUT] < 0 && run->fd[SOCK_ERR] < 0)
                        return;
                if (run->status.final && !run->res.failed_step[0] && !run->destroyed) {
                        finish_output(run);
                        return;
                }
                if (run->stdin_eof && !run->stdin_eof_sent && run->res.started) {
                        (void) queue_ctl(run, "I0:\n", 4);
                        run->stdin_eof_sent = true;
                }
                /* The plan's timeout bounds the boot and, from its start, the command. */
                if (run->res.started && !run_deadline_set) {
                        run_deadline_set = true;
                        deadline = run->plan->resources.timeout_ms
                                           ? t + run->plan->resources.timeout_ms
                                           : UINT64_MAX;
                }
                if ((run->status.final || run->destroyed || run->stopped) && !drain_until)
                        drain_until = t + VM_DRAIN_MS;
                until = drain_until ?: deadline;
                if (t >= until) {
                        if (drain_until) {
                                if (!run->destroyed)
                                        destroy(run);
                                else
                                        return; /* QEMU gone but a port never closed */
                                drain_until = t + VM_DRAIN_MS;
                                continue;
                        }
                        if (run->res.started) {
                                run->res.timed_out = true;
                                result_fail(&run->res, "timeout", ETIMEDOUT,
                                            "timeout: the command ran longer than %llu ms",
                                            (unsigned long long) run->plan->resources.timeout_ms);
                                run->res.exit_status = 128 + SIGKILL;
                                run->res.signal = SIGKILL;
                        } else
                                result_fail(&run->res, "guest boot", ETIMEDOUT,
                                            "the guest did not start the command within %llu ms",
                                            (unsigned long long) (t - run->t0));
                        destroy(run);
                        continue;
                }
                timeout = (int) MIN(until - t, 1000u);

                p[0] = (struct pollfd){ .fd = run->sig_fd, .events = POLLIN };
                p[1] = (struct pollfd){ .fd = ev, .events = POLLIN };
                p[2] = (struct pollfd){ .fd = run->fd[SOCK_CTL],
                                        .events = POLLIN | (run->outq_len ? POLLOUT : 0) };
                /* Nothing of the command's is passed on before moat has checked the guest's
                 * report of the controls it applied (at "started"). */
                p[3] = (struct pollfd){ .fd = relay ? run->fd[SOCK_OUT] : -1, .events = POLLIN };
                p[4] = (struct pollfd){ .fd = relay ? run->fd[SOCK_ERR] : -1, .events = POLLIN };
                p[5] = (struct pollfd){ .fd = want_stdin ? STDIN_FILENO : -1, .events = POLLIN };
                p[6] = (struct pollfd){ .fd = run->net_report_fd, .events = POLLIN };
                nfds_t np = 7;
                bool relaying = run->relay && !run->destroyed;
                if (relaying) {
                        vm_net_relay_pollfds(run->relay, p + 7);
                        np += VM_NET_POLLFDS;
                }
                nfds_t wi = np;
                p[np++] = (struct pollfd){ .fd = run->destroyed ? -1 : watch, .events = POLLIN };
                if (poll(p, np, timeout) < 0 && errno != EINTR)
                        return;
                if (p[wi].revents && vm_warm_watch(run->warm) > 0) {
                        /* A reset of the guest's ports (an unbind of their driver) before the
                         * final status: whatever speaks on them afterwards need not be moat's
                         * guest init. What arrived before the reset is read first: the final
                         * status of a guest that powers off is in the socket before that. */
                        for (int k = 0; k < 64 && run->fd[SOCK_CTL] >= 0 && !run->status.final; k++)
                                if (!pump_guest(run, SOCK_CTL))
                                        break;
                        if (!run->status.final) {
                                result_fail(&run->res, "guest ports", EPROTO,
                                            "the guest reset its virtio-serial ports (their driver "
                                            "was unbound or the device reset) before the final "
                                            "status; the run was stopped");
                                destroy(run);
                                continue;
                        }
                }
                if (p[6].revents && !net_records_drain(run->net_report_fd, &run->res.net))
                        run->net_report_fd = safe_close(run->net_report_fd);
                if (relaying) {
                        int k = vm_net_relay_handle(run->relay, p + 7);
                        if (k == -EBADMSG) {
                                result_fail(&run->res, "egress port", EBADMSG,
                                            "malformed frames from the guest on the egress port; "
                                            "the run was stopped");
                                destroy(run);
                        }
                        if (k < 0) {
                                /* The port ended: the guest has no way out any more. */
                                vm_net_relay_done(run->relay);
                                free(run->relay);
                                run->relay = NULL;
                        }
                }
                if (p[0].revents)
                        on_signal(run);
                if (p[1].revents) {
                        char c[16];
                        ssize_t n = read(ev, c, sizeof(c));
                        for (ssize_t k = 0; k < n; k++)
                                if (c[k] == VM_EVENT_STOPPED || c[k] == VM_EVENT_CRASHED)
                                        run->stopped = true;
                }
                for (int i = 0; i < _SOCK_MAX; i++)
                        if (p[2 + i].revents & (POLLIN | POLLHUP | POLLERR))
                                (void) pump_guest(run, i);
                if (run->fd[SOCK_CTL] >= 0 && run->outq_len)
                        flush_ctl(run);
                if (p[5].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
                        if (p[5].revents & POLLNVAL)
                                run->stdin_eof = true;
                        else
                                pump_stdin(run);
                }
        }
}

static int accept_ports(VmRun *run, uint64_t deadline) {
        for (int i = 0; i < _SOCK_MAX; i++) {
                while (run->fd[i] < 0) {
                        struct pollfd p = { .fd = run->listen_fd[i], .events = POLLIN };
                        uint64_t t = now_ms();
                        if (t >= deadline)
                                return -ETIMEDOUT;
                        if (poll(&p, 1, (int) MIN(deadline - t, 1000u)) < 0 && errno != EINTR)
                                return -errno;
                        if (p.revents & POLLIN) {
                                run->fd[i] = accept4(run->listen_fd[i], NULL, NULL,
                                                     SOCK_CLOEXEC | SOCK_NONBLOCK);
                                if (run->fd[i] < 0 && errno != EAGAIN && errno != EINTR)
                                        return -errno;
                        }
                }
                run->listen_fd[i] = safe_close(run->listen_fd[i]);
        }
        while (run->net_listen >= 0 && run->net_fd < 0) {
                struct pollfd p = { .fd = run->net_listen, .events = POLLIN };
                uint64_t t = now_ms();
                if (t >= deadline)
                        return -ETIMEDOUT;
                if (poll(&p, 1, (int) MIN(deadline - t, 1000u)) < 0 && errno != EINTR)
                        return -errno;
                if (p.revents & POLLIN) {
                        run->net_fd =
                                accept4(run->net_listen, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                        if (run->net_fd < 0 && errno != EAGAIN && errno != EINTR)
                                return -errno;
                }
        }
        if (run->net_fd >= 0 && !run->relay) {
                run->net_listen = safe_close(run->net_listen);
                if (!(run->relay = malloc(sizeof(*run->relay))))
                        return -ENOMEM;
                vm_net_relay_init(run->relay, false, run->net_fd, -1, net_connect_proxy, run);
        }
        return 0;
}

/* Checks that libvirt confined QEMU as promised: a seccomp filter (-sandbox on) and
 * no_new_privs, read from the QEMU process itself. */
static int qemu_confinement(const char *name, char *detail, size_t size, int *ret_pidfd) {
        const char *rt = getenv("XDG_RUNTIME_DIR");
        _cleanup_free_ char *cache = vm_cache_dir(""), *pidfile = NULL, *line = NULL;
        char path[64];
        size_t cap = 0;
        int seccomp = -1, nnp = -1;
        long pid = 0;
        FILE *f;

        /* cache is ".../moat": libvirt's is beside it. */
        if (!cache)
                return -ENOMEM;
        *strrchr(cache, '/') = 0;
        if (asprintf(&pidfile, "%s/libvirt/qemu/run/%s.pid", rt && rt[0] == '/' ? rt : cache,
                     name) < 0)
                return -ENOMEM;
        f = fopen(pidfile, "re");
        if (!f || fscanf(f, "%ld", &pid) != 1 || pid <= 1) {
                if (f)
                        fclose(f);
                return -ESRCH;
        }
        fclose(f);
        /* the process itself first: the status read below is then of the process held */
        if (ret_pidfd && (*ret_pidfd = (int) syscall(SYS_pidfd_open, (pid_t) pid, 0)) < 0)
                return -errno;
        snprintf(path, sizeof(path), "/proc/%ld/status", pid);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (getline(&line, &cap, f) > 0) {
                sscanf(line, "Seccomp: %d", &seccomp);
                sscanf(line, "NoNewPrivs: %d", &nnp);
        }
        fclose(f);
        snprintf(detail, size, "seccomp=%d no_new_privs=%d", seccomp, nnp);
        return seccomp == 2 ? 0 : -EPERM;
}

static const char *qemu_emulator(void) {
        static const char *const c[] = { "/usr/bin/qemu-system-x86_64", "/usr/libexec/qemu-kvm" };
        for (size_t i = 0; i < ELEMENTSOF(c); i++)
                if (access(c[i], X_OK) == 0)
                        return c[i];
        return NULL;
}

/* network: outbound: the egress port's listener, the proxy (started here, before any thread
 * of libvirt's or the warm path's exists: it is forked) on its own listener, record N. */
static int net_prepare(VmRun *run) {
        const Plan *plan = run->plan;
        char sock[128];
        int r;

        snprintf(sock, sizeof(sock), "%s/net.sock", run->dir);
        snprintf(run->proxy_sock, sizeof(run->proxy_sock), "%s/proxy.sock", run->dir);
        if ((run->net_listen = listen_unix(sock)) < 0) {
                result_fail(&run->res, "egress port", run->net_listen, "%s: %s", sock,
                            strerror(-run->net_listen));
                return run->net_listen;
        }
        /* The proxy blocks in accept(): its listener must not be O_NONBLOCK. */
        if ((run->proxy_listen = listen_unix(run->proxy_sock)) < 0 ||
            listen(run->proxy_listen, 128) < 0 || fcntl(run->proxy_listen, F_SETFL, 0) < 0) {
                r = run->proxy_listen < 0 ? run->proxy_listen : -errno;
                result_fail(&run->res, "egress proxy", r, "%s: %s", run->proxy_sock, strerror(-r));
                return r;
        }
        r = net_proxy_spawn(&plan->egress, run->proxy_listen, &run->net_pid, &run->net_report_fd);
        if (r < 0) {
                run->net_pid = 0;
                result_fail(&run->res, "egress proxy", r, "cannot start the network proxy: %s",
                            r == -ENOENT ? "/etc/resolv.conf names no nameserver" : strerror(-r));
                return r;
        }
        run->res.net.active = true;
        return 0;
}

static int run_prepare(VmRun *run, VmLayout *layout, char **ret_xml, char *name, size_t name_size) {
        const Plan *plan = run->plan;
        _cleanup_free_ char *cache = vm_cache_dir("/vm"), *initrd = NULL;
        VmGuestFiles gf = {};
        char msg[512] = "", sock[_SOCK_MAX][128], console[128], cmdline[512], net_sock[128];
        /* An image root: the profile's uid (a user of the image, e.g. uid: 33) when it names one
         * other than root; else the caller's (moat-vm's for root). */
        bool image_uid = plan->system.image && plan->sandbox.uid_inside != 0;
        uid_t uid = plan->vm.guest_root ? 0 : image_uid ? plan->sandbox.uid_inside : getuid();
        gid_t gid = plan->vm.guest_root ? 0 : image_uid ? plan->sandbox.gid_inside : getgid();
        uint64_t mem = plan->vm.memory ?: (256ull << 20);
        int r;

        if (!plan->vm.kernel) {
                result_fail(&run->res, "guest kernel", ENOENT,
                            "no guest kernel: install one "
                            "with moat-guest-kernel (as root)");
                return -ENOENT;
        }
        if (mem < VM_MIN_MEMORY) {
                result_fail(&run->res, "guest memory", EINVAL,
                            "guest memory %llu MiB is below "
                            "the %llu MiB the guest kernel needs",
                            (unsigned long long) (mem >> 20), VM_MIN_MEMORY >> 20);
                return -EINVAL;
        }
        if (!cache)
                return -ENOMEM;
        if ((r = vm_guest_files_find(plan->vm.kernel, &gf, msg, sizeof(msg))) < 0 ||
            (r = vm_initramfs_ensure(&gf, cache, run->req->quiet, &initrd, msg, sizeof(msg))) < 0) {
                vm_guest_files_done(&gf);
                result_fail(&run->res, "guest initramfs", r, "%s", msg);
                return r;
        }
        vm_guest_files_done(&gf);
        if ((r = vm_layout_build(plan, run->req, uid, gid, layout, msg, sizeof(msg))) < 0) {
                result_fail(&run->res, "guest filesystem", r, "%s", msg);
                return r;
        }
        if (getenv("MOAT_VM_FAULT") && getenv("MOAT_VM_FAULT")[0]) {
                /* Documented test hook (launcher/vm/README.md): makes the guest misbehave so
                 * that the host-side checks can be tested. It can only fail the run. */
                const char *f = getenv("MOAT_VM_FAULT");
                r = vm_config_append(&layout->config, &layout->config_len, 'f', f, strlen(f));
                if (r < 0) {
                        result_fail(&run->res, "MOAT_VM_FAULT", r, "unknown MOAT_VM_FAULT %s", f);
                        return r;
                }
        }
        if ((r = vm_controls_config(plan, &layout->config, &layout->config_len, &run->controls, msg,
                                    sizeof(msg))) < 0) {
                result_fail(&run->res, "guest controls", r, "%s", msg);
                return r;
        }
        if (plan->sandbox.network == NETWORK_OUTBOUND) {
                char port[8];
                snprintf(port, sizeof(port), "%u", (unsigned) plan->egress.proxy_port);
                r = vm_config_append(&layout->config, &layout->config_len, 'N', port, strlen(port));
                if (r < 0)
                        return r;
        }
        snprintf(run->res.machine_id, sizeof(run->res.machine_id), "%s", layout->machine_id);
        if ((r = vm_config_append(&layout->config, &layout->config_len, 'z', "", 0)) < 0 ||
            (r = queue_ctl(run, layout->config, layout->config_len)) < 0)
                return r;

        sweep_run_dirs();
        snprintf(run->dir, sizeof(run->dir), "/tmp/moat-vm-%d-XXXXXX", (int) getpid());
        if (!mkdtemp(run->dir)) {
                r = -errno;
                run->dir[0] = 0;
                result_fail(&run->res, "run directory", r, "cannot create a run directory: %s",
                            strerror(-r));
                return r;
        }
        for (int i = 0; i < _SOCK_MAX; i++) {
                snprintf(sock[i], sizeof(sock[i]), "%s/%s", run->dir, sock_names[i]);
                if ((run->listen_fd[i] = listen_unix(sock[i])) < 0) {
                        result_fail(&run->res, "port socket", run->listen_fd[i], "%s: %s", sock[i],
                                    strerror(-run->listen_fd[i]));
                        return run->listen_fd[i];
                }
        }
        if (plan->sandbox.network == NETWORK_OUTBOUND && (r = net_prepare(run)) < 0)
                return r;
        snprintf(net_sock, sizeof(net_sock), "%s/net.sock", run->dir);
        snprintf(console, sizeof(console), "%s/console.log", run->dir);
        /* Short: libvirt puts the monitor socket at
         * $XDG_CONFIG_HOME/libvirt/qemu/lib/domain-<id>-<name>/monitor.sock, and a socket path
         * has 107 bytes; the pid already tells live runs apart, 3 characters of the run
         * directory's random part tell a run from an earlier one with a recycled pid. */
        snprintf(name, name_size, "moat-%d-%.3s", (int) getpid(), strrchr(run->dir, '-') + 1);
        /* Landlock for the command (record L) whatever the guest kernel's CONFIG_LSM says;
         * AppArmor when a profile is loaded. A test driver's kernel_args that choose the LSMs
         * themselves (a guest in a given host configuration) replace this. */
        const char *lsm_args = plan->vm.kernel_args && (strstr(plan->vm.kernel_args, "lsm=") ||
                                                        strstr(plan->vm.kernel_args, "security="))
                                       ? ""
                               : plan->system.image && plan->system.boot
                                       /* boot mode: moat-init locks the kernel down
                                        * (confidentiality) before the image's init starts */
                                       ? (plan->vm.guest_apparmor
                                                  ? "lsm=landlock,lockdown,yama,apparmor apparmor=1"
                                                  : "lsm=landlock,lockdown,yama")
                                       : plan->vm.guest_apparmor
                                                 ? "lsm=landlock,yama,apparmor apparmor=1"
                                                 : "lsm=landlock,yama";
        if ((size_t) snprintf(cmdline, sizeof(cmdline),
                              "console=ttyS0 quiet panic=-1 tsc=reliable "
                              "cryptomgr.notests %s%s%s",
                              lsm_args, plan->vm.kernel_args ? " " : "",
                              plan->vm.kernel_args ? plan->vm.kernel_args : "") >=
            sizeof(cmdline)) {
                result_fail(&run->res, "kernel command line", E2BIG,
                            "the guest kernel command line is longer than %zu bytes",
                            sizeof(cmdline) - 1);
                return -E2BIG;
        }

        VmDomainSpec spec = {
                .name = name,
                .kvm = plan->vm.kvm,
                .memory_mib = mem >> 20,
                .vcpus = plan->vm.vcpus ?: 1,
                .emulator = qemu_emulator(),
                .loader = access("/usr/share/qemu/qboot.rom", R_OK) == 0
                                  ? "/usr/share/qemu/qboot.rom"
                                  : NULL,
                .kernel = plan->vm.kernel,
                .initrd = initrd,
                .cmdline = cmdline,
                .console_log = console,
                .ctl_socket = sock[SOCK_CTL],
                .stdout_socket = sock[SOCK_OUT],
                .stderr_socket = sock[SOCK_ERR],
                .shares = layout->shares,
                .n_shares = layout->n_shares,
                .net_socket = run->net_listen >= 0 ? net_sock : NULL,
        };
        if (!spec.emulator) {
                result_fail(&run->res, "qemu", ENOENT, "qemu-system-x86_64 not found");
                return -ENOENT;
        }
        if ((r = vm_domain_xml(&spec, ret_xml)) < 0) {
                result_fail(&run->res, "domain xml", r, "cannot describe the domain: %s",
                            strerror(-r));
                return r;
        }
        if ((r = vm_warm_spec_copy(&spec, &run->wspec)) < 0)
                return r;
        return 0;
}

/* Maps the guest's final message to the exit status contract. */
static void run_conclude(VmRun *run) {
        VmResult *res = &run->res;
        const VmStatus *s = &run->status.result;
        char why[256];

        if (res->failed_step[0])
                return;
        if (!run->status.final) {
                console_reason(run, why, sizeof(why));
                result_fail(res, "guest status", EPROTO,
                            "the guest stopped without reporting "
                            "a status (kernel panic or guest init failure)%s%s",
                            why[0] ? ": " : "", why);
                return;
        }
        switch (s->kind) {
        case VM_STATUS_EXIT:
                res->exit_status = res->exit_code = s->value;
                break;
        case VM_STATUS_CPUTIME:
                /* Only a limit moat sent can have been passed. */
                if (!run->plan->resources.cpu_time_ms) {
                        result_fail(res, "guest status", EPROTO,
                                    "malformed message from the guest (a CPU time verdict "
                                    "without a CPU time limit); the run was stopped");
                        break;
                }
                res->cpu_time_exceeded = true;
                res->exit_code = -1;
                res->signal = s->value;
                res->exit_status = 128 + s->value;
                break;
        case VM_STATUS_SIGNAL:
                res->exit_code = -1;
                res->signal = s->value;
                res->exit_status = 128 + s->value;
                break;
        case VM_STATUS_ERROR:
                result_fail(res, s->step, s->value, "guest: %s: %s", s->step, strerror(s->value));
                if (strcmp(s->step, "exec") == 0)
                        res->exit_status = s->value == ENOENT ? 127 : 126;
                break;
        default:
                result_fail(res, "guest status", EPROTO, "no final status from the guest");
        }
}

/* Warm start (vm-warm.h): a clone of the template restored by plain QEMU. Returns false when
 * no clone was started (why says why), and the run boots cold; true when the warm path ran the
 * run, whatever its outcome. */
static bool run_warm(VmRun *run, char *why, size_t why_size) {
        const Plan *plan = run->plan;
        uint64_t deadline;
        int r;

        if (!vm_warm_enabled(why, why_size))
                return false;
        if ((r = vm_warm_new(run->dir, &run->warm)) < 0) {
                snprintf(why, why_size, "warm start: %s", strerror(-r));
                return false;
        }
        if (vm_warm_template(run->warm, &run->wspec, run->req->quiet, why, why_size) < 0)
                goto cold;
        run->t0 = now_ms();
        deadline = run->t0 + (plan->resources.timeout_ms ?: VM_BOOT_DEADLINE_MS);
        if (vm_warm_restore(run->warm, &run->wspec, run->listen_fd, run->net_listen, &run->outq,
                            &run->outq_len, why, why_size) < 0)
                goto cold;
        snprintf(run->res.tier_detail, sizeof(run->res.tier_detail), "%s; QEMU uid %u; %s",
                 plan->vm.kvm ? "kvm" : "tcg (software emulation)", (unsigned) getuid(),
                 vm_warm_describe(run->warm));
        if (run->quota_fd >= 0 &&
            (r = sandbox_disk_quota_watch(run->quota_fd, vm_warm_qemu_pidfd(run->warm))) < 0) {
                result_fail(&run->res, "disk quota", r,
                            "cannot hand QEMU to the disk quota's guard: %s", strerror(-r));
                destroy(run);
        } else if ((r = accept_ports(run, deadline)) < 0) {
                result_fail(&run->res, "guest ports", r, "QEMU did not connect the guest ports: %s",
                            strerror(-r));
                destroy(run);
        } else {
                flush_ctl(run);
                run_loop(run, deadline);
                run_conclude(run);
        }
        return true;
cold:
        run->warm = vm_warm_close(run->warm);
        return false;
}

/* moat vm prepare: the template a run of this layout restores, created if absent; no command
 * runs. The outcome's tier_detail names it; exit status 0 when it is ready. */
static void prepare_template(VmRun *run) {
        bool created = false;
        char why[256] = "";
        int r;

        if (!vm_warm_enabled(why, sizeof(why))) {
                result_fail(&run->res, "warm start", EOPNOTSUPP, "warm start is off: %s", why);
                return;
        }
        if ((r = vm_warm_new(run->dir, &run->warm)) < 0) {
                result_fail(&run->res, "warm start", -r, "warm start: %s", strerror(-r));
                return;
        }
        if ((r = vm_warm_template(run->warm, &run->wspec, run->req->quiet, why, sizeof(why))) < 0)
                result_fail(&run->res, "vm template", -r, "cannot create the vm template: %s",
                            why[0] ? why : strerror(-r));
        else {
                const char *dir = vm_warm_template_dir(run->warm, &created);
                snprintf(run->res.tier_detail, sizeof(run->res.tier_detail), "%s %s",
                         created ? "created" : "present", dir);
                run->res.exit_status = run->res.exit_code = 0;
        }
        run->warm = vm_warm_close(run->warm);
}

/* After the run: the cold path's QEMU gone (libvirt destroys it when the connection closes),
 * killed if it is still there after VM_QEMU_EXIT_MS. It runs as this process's uid. */
static void wait_qemu_gone(int pidfd) {
        struct pollfd p = { .fd = pidfd, .events = POLLIN };
        if (poll(&p, 1, VM_QEMU_EXIT_MS) == 1)
                return;
        (void) syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
        (void) poll(&p, 1, VM_QEMU_EXIT_MS);
}

static void run_guest(const Plan *plan, const RunRequest *req, bool prepare, int quota_fd,
                      VmResult *res) {
        VmRun run = { .plan = plan,
                      .req = req,
                      .quota_fd = quota_fd,
                      .qemu_pidfd = -EBADF,
                      .sig_fd = -EBADF,
                      .net_listen = -EBADF,
                      .net_fd = -EBADF,
                      .proxy_listen = -EBADF,
                      .net_report_fd = -EBADF,
                      .output_left = plan->resources.output_bytes };
        _cleanup_free_ char *xml = NULL;
        VmLayout layout = {};
        char name[64], msg[512] = "", detail[64] = "", cold_why[200] = "";
        sigset_t mask, old;
        uint64_t deadline;
        int r;

        for (int i = 0; i < _SOCK_MAX; i++)
                run.listen_fd[i] = run.fd[i] = -EBADF;
        run.res.exit_code = -1;

        /* Blocked before libvirt's event thread exists, so that thread inherits the mask and
         * the signals reach the signalfd below. SIGPIPE: a closed stdout shows as EPIPE. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGPIPE);
        sigprocmask(SIG_BLOCK, &mask, &old);
        sigdelset(&mask, SIGPIPE);
        run.sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

        if (run.sig_fd < 0)
                result_fail(&run.res, "signalfd", errno, "signalfd: %s", strerror(errno));
        else if (run_prepare(&run, &layout, &xml, name, sizeof(name)) < 0)
                result_fail(&run.res, "prepare", EINVAL, "cannot prepare the guest");
        else if (prepare)
                prepare_template(&run);
        else if (run_warm(&run, cold_why, sizeof(cold_why)))
                ;
        else if (plan->system.image && plan->system.boot)
                /* The image's root could reset the guest's ports and speak on them in place of
                 * moat's guest init; only the warm path's QEMU tells moat when that happens
                 * (vm_warm_watch), libvirt's does not. */
                result_fail(&run.res, "boot mode", EOPNOTSUPP,
                            "boot mode needs a warm start (moat watches the guest's ports "
                            "through the clone's QMP), which failed: %s",
                            cold_why);
        else if ((r = vm_libvirt_open(VM_URI, &run.lv, msg, sizeof(msg))) < 0)
                result_fail(&run.res, "libvirt connect", r, "%s", msg);
        else {
                run.t0 = now_ms();
                deadline = run.t0 + (plan->resources.timeout_ms ?: VM_BOOT_DEADLINE_MS);
                snprintf(run.res.tier_detail, sizeof(run.res.tier_detail), "%s; QEMU uid %u; %s",
                         plan->vm.kvm ? "kvm" : "tcg (software emulation)", (unsigned) getuid(),
                         vm_libvirt_describe(run.lv));
                if ((r = vm_libvirt_create(run.lv, xml, msg, sizeof(msg))) < 0)
                        result_fail(&run.res, "domain create", r, "%s", msg);
                else if ((r = qemu_confinement(name, detail, sizeof(detail),
                                               quota_fd >= 0 ? &run.qemu_pidfd : NULL)) < 0) {
                        result_fail(&run.res, "qemu confinement", r,
                                    "QEMU is not confined as "
                                    "expected (%s): %s",
                                    detail[0] ? detail : "no QEMU process found", strerror(-r));
                        destroy(&run);
                } else if (quota_fd >= 0 &&
                           (r = sandbox_disk_quota_watch(quota_fd, run.qemu_pidfd)) < 0) {
                        result_fail(&run.res, "disk quota", r,
                                    "cannot hand QEMU to the disk quota's guard: %s", strerror(-r));
                        destroy(&run);
                } else if ((r = accept_ports(&run, deadline)) < 0) {
                        result_fail(&run.res, "guest ports", r,
                                    "QEMU did not connect the guest "
                                    "ports: %s",
                                    strerror(-r));
                        destroy(&run);
                } else {
                        size_t l = strlen(run.res.tier_detail);
                        snprintf(run.res.tier_detail + l, sizeof(run.res.tier_detail) - l, "; %s",
                                 detail);
                        l = strlen(run.res.tier_detail);
                        snprintf(run.res.tier_detail + l, sizeof(run.res.tier_detail) - l,
                                 "; cold boot (%s)", cold_why);
                        flush_ctl(&run);
                        run_loop(&run, deadline);
                        run_conclude(&run);
                }
        }
        run_cleanup(&run);
        if (run.qemu_pidfd >= 0) {
                wait_qemu_gone(run.qemu_pidfd);
                run.qemu_pidfd = safe_close(run.qemu_pidfd);
        }
        vm_layout_done(&layout);
        sigprocmask(SIG_SETMASK, &old, NULL);
        *res = run.res;
}

static void result_to_outcome(const VmResult *res, RunOutcome *o, uint64_t t0, bool save_boot_ms) {
        o->started = res->started;
        o->timed_out = res->timed_out;
        o->cpu_time_exceeded = res->cpu_time_exceeded;
        o->output_exceeded = res->output_exceeded;
        o->exit_status = res->exit_status;
        o->exit_code = res->exit_code;
        o->signal = res->signal;
        o->failed_errno = res->failed_errno;
        snprintf(o->failed_step, sizeof(o->failed_step), "%s",
                 res->started ? "" : res->failed_step);
        snprintf(o->message, sizeof(o->message), "%s", res->message);
        snprintf(o->tier_detail, sizeof(o->tier_detail), "%s", res->tier_detail);
        /* For root it comes from the moat-vm helper: bounded before it is used. */
        o->network = res->net;
        o->network.dest = NULL;
        o->network.n_dest = 0;
        if (res->net.n_dest && (o->network.dest = calloc(RUN_NET_MAX_DEST, sizeof(RunNetDest)))) {
                o->network.n_dest = MIN(res->net.n_dest, (size_t) RUN_NET_MAX_DEST);
                memcpy(o->network.dest, res->net_dest, o->network.n_dest * sizeof(RunNetDest));
                for (size_t i = 0; i < o->network.n_dest; i++) {
                        RunNetDest *d = &o->network.dest[i];
                        d->host[sizeof(d->host) - 1] = d->method[sizeof(d->method) - 1] = 0;
                        d->reason[sizeof(d->reason) - 1] = d->addr[sizeof(d->addr) - 1] = 0;
                }
        }
        /* For root it comes back from the moat-vm helper: only a well-formed id is recorded. */
        if (strnlen(res->machine_id, sizeof(res->machine_id)) == 32 &&
            strspn(res->machine_id, "0123456789abcdef") == 32)
                snprintf(o->machine_id, sizeof(o->machine_id), "%.32s", res->machine_id);
        o->wall_ns = (now_ms() - t0) * 1000000ull;
        /* The boot of an image's own init (boot mode) is not the guest's boot-to-command time
         * that plans quote. */
        if (res->boot_ms && save_boot_ms)
                boot_ms_save(res->boot_ms);
        if (res->message[0])
                fprintf(stderr, "moat: vm: %s\n", res->message);
}

/* Root callers: the libvirt session client, and so QEMU, run as the unprivileged moat-vm, with
 * its own groups (host/vm-account.h: the kvm group is how it reaches /dev/kvm). */
static _Noreturn void helper_child(const Plan *plan, const RunRequest *req, bool prepare,
                                   const VmAccount *a, pid_t parent, int result_fd, int quota_fd) {
        VmResult res = { .exit_code = -1 };
        int r;

        r = vm_account_become(a);
        if (r < 0) {
                result_fail(&res, "drop to " VM_ACCOUNT, r, "cannot switch to %s: %s", VM_ACCOUNT,
                            strerror(-r));
                goto out;
        }
        /* Set after the uid change, which clears it; then check the parent did not die in
         * between, or nothing would ever kill us. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(125);
        if (setenv("HOME", a->home, 1) < 0 || unsetenv("XDG_CACHE_HOME") < 0 ||
            unsetenv("XDG_RUNTIME_DIR") < 0 || unsetenv("XDG_CONFIG_HOME") < 0)
                _exit(125);
        run_guest(plan, req, prepare, quota_fd, &res);
out:
        (void) !write(result_fd, &res, sizeof(res));
        _exit(0);
}

static void run_as_vm_account(const Plan *plan, const RunRequest *req, bool prepare, DiskQuota *dq,
                              VmResult *res) {
        _cleanup_close_ int sig_fd = -EBADF;
        VmAccount account;
        int pipefd[2], st, r;
        sigset_t mask, old;
        pid_t parent = getpid(), pid;

        r = vm_account_lookup(&account);
        if (r < 0) {
                result_fail(res, "vm account", r,
                            "as root, the vm tier runs QEMU as the "
                            "unprivileged account %s, which %s; run "
                            "moat-guest-kernel once to create it",
                            VM_ACCOUNT,
                            r == -ENOENT ? "does not exist"
                                         : "is unusable (uid or group 0, or no home)");
                return;
        }
        if (pipe2(pipefd, O_CLOEXEC) < 0) {
                result_fail(res, "pipe", errno, "pipe: %s", strerror(errno));
                return;
        }
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, &old);
        sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        pid = fork();
        if (pid < 0) {
                result_fail(res, "fork", errno, "fork: %s", strerror(errno));
                close(pipefd[0]);
                close(pipefd[1]);
                sigprocmask(SIG_SETMASK, &old, NULL);
                return;
        }
        if (pid == 0) {
                close(pipefd[0]);
                /* of the quota, the helper keeps only the guard's socket */
                for (size_t i = 0; dq && i < dq->n_roots; i++)
                        dq->roots[i] = safe_close(dq->roots[i]);
                helper_child(plan, req, prepare, &account, parent, pipefd[1],
                             dq && dq->active ? dq->guard_fd : -EBADF);
        }
        close(pipefd[1]);

        /* Forward SIGINT/SIGTERM/SIGHUP; the helper destroys the guest and reports. */
        size_t got = 0;
        for (;;) {
                struct pollfd p[2] = { { .fd = sig_fd, .events = POLLIN },
                                       { .fd = pipefd[0], .events = POLLIN } };
                if (poll(p, 2, -1) < 0 && errno != EINTR)
                        break;
                if (p[0].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        while (read(sig_fd, &si, sizeof(si)) == (ssize_t) sizeof(si))
                                kill(pid, (int) si.ssi_signo);
                }
                if (p[1].revents) {
                        ssize_t n = read(pipefd[0], (char *) res + got, sizeof(*res) - got);
                        if (n <= 0)
                                break;
                        got += (size_t) n;
                        if (got == sizeof(*res))
                                break;
                }
        }
        close(pipefd[0]);
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (got != sizeof(*res)) {
                *res = (VmResult){ .exit_code = -1 };
                result_fail(res, "vm helper", EPIPE,
                            "the vm helper (as %s) ended without a "
                            "result",
                            VM_ACCOUNT);
        }
}

int vm_execute(const Plan *plan, const RunRequest *req, RunOutcome *outcome) {
        VmResult res = { .exit_code = -1 };
        DiskQuota dq = DISK_QUOTA_INIT;
        uint64_t t0 = now_ms();
        int r;

        if (plan->refused || plan->tier != TIER_VM)
                result_fail(&res, "plan", EINVAL, "not a runnable vm-tier plan");
        else if (!req->argv || !req->argv[0])
                result_fail(&res, "command", EINVAL, "no command");
        else if (plan->resources.disk_mechanism == DISK_MECH_PROJECT_QUOTA &&
                 (r = sandbox_disk_quota_start(plan, req->workdir, NULL, NULL, &dq)) < 0)
                result_fail(&res, "disk quota", r,
                            "cannot set the project quota of resources.disk: %s", strerror(-r));
        else if (geteuid() == 0)
                run_as_vm_account(plan, req, false, &dq, &res);
        else
                run_guest(plan, req, false, dq.active ? dq.guard_fd : -EBADF, &res);
        /* QEMU is gone (run_guest() waited for it): nothing writes the shares any more */
        if (dq.active)
                outcome->disk_quota_bytes = plan->resources.disk;
        (void) sandbox_disk_quota_stop(&dq, &outcome->disk_added);
        result_to_outcome(&res, outcome, t0, !(plan->system.image && plan->system.boot));
        if (!plan->refused && plan->tier == TIER_VM) {
                outcome->controls = vm_controls_outcomes(plan, res.started, res.controls_reported,
                                                         res.controls_applied);
                outcome->n_controls = outcome->controls ? plan->n_controls : 0;
        }
        return 0;
}

int vm_prepare(const Plan *plan, const RunRequest *req, RunOutcome *outcome) {
        VmResult res = { .exit_code = -1, .exit_status = 125 };
        uint64_t t0 = now_ms();

        if (plan->refused || plan->tier != TIER_VM)
                result_fail(&res, "plan", EINVAL, "not a runnable vm-tier plan");
        else if (!req->argv || !req->argv[0])
                result_fail(&res, "command", EINVAL, "no command");
        else if (geteuid() == 0)
                run_as_vm_account(plan, req, true, NULL, &res);
        else
                run_guest(plan, req, true, -EBADF, &res);
        result_to_outcome(&res, outcome, t0, !(plan->system.image && plan->system.boot));
        return 0;
}

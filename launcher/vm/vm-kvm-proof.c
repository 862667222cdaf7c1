/* SPDX-License-Identifier: MIT */
/* The KVM proof (vm-kvm-proof.h). Runs in moat-vm-run before the plan of a vm-tier run is
 * final, in a forked child that has QEMU's credentials (it becomes moat-vm for a root caller,
 * as the executor's helper does) and dies with moat (PR_SET_PDEATHSIG), as does the QEMU it
 * starts. Leaves nothing behind: its scratch directory is removed and QEMU is reaped; the only
 * lasting effect is the verdict line in the caller's cache, written by the parent.
 *
 * Why a real boot and not only ioctls: a nested PVM /dev/kvm answers API version, all the
 * extensions, KVM_CREATE_VM and KVM_CREATE_VCPU like a real one, then runs a standard guest
 * through its instruction emulator, which stops at the first SSE instruction; QEMU with
 * -cpu host aborts on it at once ("failed to set MSR 0x10a"). The test guest catches that in
 * milliseconds without QEMU; the boot catches whatever it does not, with the exact QEMU,
 * machine, CPU model, kernel and init a run will use. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basic/macros.h"
#include "host/vm-account.h"
#include "vm-initramfs.h"
#include "vm-kvm-proof.h"

#define PROOF_MARKER "moat-init: kvm-proof ok"
#define QBOOT "/usr/share/qemu/qboot.rom"

static uint64_t mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* The last non-empty line of a file, printable ASCII only, for a reason. */
static void last_line(const char *path, char *out, size_t size) {
        char buf[4096];
        ssize_t n;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        char *end, *start;

        out[0] = '\0';
        if (fd < 0)
                return;
        if (fstat(fd, &st) == 0 && st.st_size > (off_t) sizeof(buf) - 1)
                (void) lseek(fd, st.st_size - (off_t) sizeof(buf) + 1, SEEK_SET);
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return;
        buf[n] = '\0';
        for (ssize_t i = 0; i < n; i++)
                if (buf[i] != '\n' && (buf[i] < 0x20 || buf[i] > 0x7e))
                        buf[i] = ' ';
        end = buf + n;
        while (end > buf && (end[-1] == '\n' || end[-1] == ' '))
                *--end = '\0';
        start = strrchr(buf, '\n');
        start = start ? start + 1 : buf;
        snprintf(out, size, "%.*s", (int) MIN(strlen(start), size - 1), start);
}

static bool file_contains(const char *path, const char *needle) {
        char buf[65536];
        ssize_t n;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return false;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        for (ssize_t i = 0; i < n; i++)
                if (buf[i] == '\0')
                        buf[i] = ' ';
        return strstr(buf, needle) != NULL;
}

static pid_t spawn_qemu(char *const argv[], const char *log) {
        pid_t parent = getpid(), pid = fork();

        if (pid != 0)
                return pid;
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || null < 0 || dup2(null, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 ||
            prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(127);
        execv(argv[0], argv);
        _exit(127);
}

/* Waits for pid until deadline (monotonic ms); kills it past the deadline. */
static int wait_bounded(pid_t pid, uint64_t deadline, bool *ret_timed_out) {
        int st = 0;

        *ret_timed_out = false;
        for (;;) {
                pid_t w = waitpid(pid, &st, WNOHANG);
                if (w == pid)
                        return st;
                if (w < 0 && errno != EINTR)
                        return -1;
                if (mono_ms() >= deadline) {
                        *ret_timed_out = true;
                        kill(pid, SIGKILL);
                        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                                ;
                        return st;
                }
                (void) poll(NULL, 0, 20);
        }
}

int vm_kvm_boot_check(const char *accel, const char *qemu, const char *kernel, unsigned deadline_ms,
                      bool quiet, VmKvmProof *ret) {
        _cleanup_free_ char *cache = vm_cache_dir("/vm"), *initrd = NULL;
        char dir[] = "/tmp/moat-kvm-proof-XXXXXX", console[64], log[64], serial[80], machine[64],
             tail[160], msg[512] = "";
        VmGuestFiles gf = {};
        uint64_t t0 = mono_ms();
        bool timed_out;
        int st, r;
        pid_t pid;

        *ret = (VmKvmProof){};
        if (!cache)
                return snprintf(ret->reason, sizeof(ret->reason), "no cache directory"), -ENOENT;
        if ((r = vm_guest_files_find(kernel, &gf, msg, sizeof(msg))) < 0 ||
            (r = vm_initramfs_ensure(&gf, cache, quiet, &initrd, msg, sizeof(msg))) < 0) {
                vm_guest_files_done(&gf);
                snprintf(ret->reason, sizeof(ret->reason), "guest initramfs: %s", msg);
                return r;
        }
        vm_guest_files_done(&gf);
        if (!mkdtemp(dir)) {
                r = -errno;
                snprintf(ret->reason, sizeof(ret->reason), "scratch directory: %s", strerror(-r));
                return r;
        }
        snprintf(console, sizeof(console), "%s/console.log", dir);
        snprintf(log, sizeof(log), "%s/qemu.log", dir);
        snprintf(serial, sizeof(serial), "file:%s", console);
        snprintf(machine, sizeof(machine), "pc,accel=%s", accel);
        /* What the domain of a run gives QEMU (vm-domain.c): pc, qboot, host-passthrough under
         * KVM, direct kernel boot, no devices but the serial console; QEMU's seccomp sandbox. */
        const char *argv[32];
        size_t n = 0;
        argv[n++] = qemu;
        argv[n++] = "-name", argv[n++] = "moat-kvm-proof";
        argv[n++] = "-machine", argv[n++] = machine;
        argv[n++] = "-cpu", argv[n++] = strcmp(accel, "kvm") == 0 ? "host" : "max";
        argv[n++] = "-m", argv[n++] = "256", argv[n++] = "-smp", argv[n++] = "1";
        argv[n++] = "-nodefaults", argv[n++] = "-no-user-config", argv[n++] = "-no-reboot";
        argv[n++] = "-display", argv[n++] = "none", argv[n++] = "-serial", argv[n++] = serial;
        argv[n++] = "-sandbox";
        argv[n++] = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";
        if (access(QBOOT, R_OK) == 0)
                argv[n++] = "-bios", argv[n++] = QBOOT;
        argv[n++] = "-kernel", argv[n++] = kernel, argv[n++] = "-initrd", argv[n++] = initrd;
        argv[n++] = "-append";
        argv[n++] = "console=ttyS0 quiet panic=-1 tsc=reliable cryptomgr.notests moat.kvm_proof=1";
        argv[n++] = NULL;
        pid = spawn_qemu((char *const *) argv, log);
        if (pid < 0) {
                r = -errno;
                snprintf(ret->reason, sizeof(ret->reason), "fork: %s", strerror(-r));
                goto out;
        }
        st = wait_bounded(pid, t0 + deadline_ms, &timed_out);
        ret->ms = mono_ms() - t0;
        ret->conclusive = true;
        if (file_contains(console, PROOF_MARKER)) {
                ret->proven = true;
                r = 0;
                goto out;
        }
        if (timed_out) {
                last_line(console, tail, sizeof(tail));
                snprintf(ret->reason, sizeof(ret->reason),
                         "the guest kernel did not reach moat's init under %s within %u ms%s%s",
                         accel, deadline_ms, tail[0] ? "; its console's last line: " : "", tail);
        } else if (WIFEXITED(st) && WEXITSTATUS(st) == 127 && !file_contains(log, "qemu")) {
                ret->conclusive = false;
                snprintf(ret->reason, sizeof(ret->reason), "cannot run %s", qemu);
        } else {
                last_line(log, tail, sizeof(tail));
                if (!tail[0])
                        last_line(console, tail, sizeof(tail));
                snprintf(ret->reason, sizeof(ret->reason),
                         "QEMU -accel %s ended (%s %d) before the guest reached moat's init%s%s",
                         accel, WIFEXITED(st) ? "status" : "signal",
                         WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), tail[0] ? ": " : "", tail);
        }
        r = 0;
out:
        unlink(console);
        unlink(log);
        rmdir(dir);
        return r;
}

/* In the child: become QEMU's account (for root), then the test guest, then the boot. */
static _Noreturn void prove_child(const HostFacts *h, const VmAccount *a, pid_t parent, bool quiet,
                                  int fd) {
        VmKvmProof res = {};
        int r;

        if (a) {
                r = vm_account_become(a);
                if (r < 0) {
                        snprintf(res.reason, sizeof(res.reason), "cannot become %s: %s", a->name,
                                 strerror(-r));
                        goto out;
                }
                if (setenv("HOME", a->home, 1) < 0 || unsetenv("XDG_CACHE_HOME") < 0)
                        _exit(125);
        }
        /* After the uid change, which clears it; then check moat did not die in between. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(125);
        uint64_t t0 = mono_ms();
        if (!host_kvm_test_guest(res.reason, sizeof(res.reason))) {
                res.conclusive = true;
                res.ms = mono_ms() - t0;
                goto out;
        }
        (void) vm_kvm_boot_check("kvm", h->qemu_path, h->guest_kernel, VM_KVM_PROOF_MS, quiet,
                                 &res);
        res.ms = mono_ms() - t0;
out:
        (void) !write(fd, &res, sizeof(res));
        _exit(0);
}

int vm_kvm_prove(HostFacts *h, bool quiet) {
        char key[KVM_PROOF_KEY_HEX];
        VmAccount account, *a = NULL;
        VmKvmProof res = {};
        int p[2], st, r;
        ssize_t n;
        pid_t pid, parent;

        if (h->kvm_state != KVM_STATE_UNPROVEN || host_kvm_proof_key(h, key) < 0)
                return 0;
        if (h->is_root) {
                r = vm_account_lookup(&account);
                if (r < 0)
                        return 0; /* the probe said so already: it never gets here */
                a = &account;
        }
        if (!quiet)
                fprintf(stderr,
                        "moat: KVM answers but has not run a guest here yet: proving it once "
                        "with a test boot of the guest kernel as %s (at most %u s)\n",
                        h->kvm_account, VM_KVM_PROOF_MS / 1000);
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        fflush(NULL);
        parent = getpid();
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(p[0]);
                close(p[1]);
                return r;
        }
        if (pid == 0) {
                close(p[0]);
                prove_child(h, a, parent, quiet, p[1]);
        }
        close(p[1]);
        n = read(p[0], &res, sizeof(res));
        close(p[0]);
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        res.reason[sizeof(res.reason) - 1] = '\0';
        if (n != (ssize_t) sizeof(res) || !res.conclusive) {
                char *why = NULL;
                if (asprintf(&why,
                             "the KVM proof could not run (%s), so this run uses TCG and the next "
                             "vm-tier run tries again",
                             n == (ssize_t) sizeof(res) ? res.reason : "the proof ended early") < 0)
                        return -ENOMEM;
                free(h->kvm_reason);
                h->kvm_reason = why;
                if (!quiet)
                        fprintf(stderr, "moat: %s\n", why);
                return 0;
        }
        r = host_kvm_verdict_save(key, res.proven, res.reason);
        if (r < 0 && !quiet)
                fprintf(stderr, "moat: cannot record the KVM verdict: %s\n", strerror(-r));
        if (!quiet)
                fprintf(stderr, "moat: KVM %s (%llu ms)%s%s\n",
                        res.proven ? "runs guests here" : "cannot run the guest here; using TCG",
                        (unsigned long long) res.ms, res.proven ? "" : ": ",
                        res.proven ? "" : res.reason);
        return host_kvm_apply_verdict(h, res.proven, res.reason);
}

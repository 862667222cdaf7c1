/* SPDX-License-Identifier: MIT */
/* Whether guests can run under KVM here, decided for the account that runs QEMU.
 *
 * A /dev/kvm that opens is not a KVM that runs a guest: a node mode 0600 root opens for a root
 * caller but not for moat-vm, which runs root's QEMU; a nested PVM /dev/kvm answers every
 * ioctl like a real one and then cannot run a standard guest kernel at all. So:
 *
 *   1. cheap, on every probe, with QEMU's credentials (a forked child that becomes moat-vm
 *      when the caller is root): open O_RDWR, KVM_GET_API_VERSION == 12, the extensions QEMU
 *      refuses to start without, KVM_CREATE_VM (the VM is closed at once; nothing persists);
 *   2. definitive, once: the vm executor (launcher/vm/vm-kvm-proof.c) runs a small 64-bit guest
 *      that executes vector code under a deadline and then boots the real guest kernel under
 *      KVM, bounded in time, and records the verdict in the caller's cache keyed by everything
 *      it depends on (host_kvm_proof_key). The probe reads that verdict back.
 *
 * Until a verdict exists the state is KVM_STATE_UNPROVEN and plans use TCG, saying why; a
 * vm-tier run proves first and then plans with the verdict. The probe changes nothing on the
 * host: the child's credential switch is its own, and the VM fd dies with it. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basic/macros.h"
#include "basic/sha256.h"
#include "host/host.h"
#include "host/vm-account.h"

#define KVM_DEVICE "/dev/kvm"
#define VERDICT_MAX 1024
#define TEST_GUEST_DEADLINE_MS 50 /* ~1 ms of native work */

typedef struct KvmCheck {
        KvmState state;
        char why[384];
} KvmCheck;

/* What QEMU (7.2, x86) checks before it uses KVM at all (kvm_required_capabilites and
 * kvm_arch_required_capabilities); a kernel without one of them is not a KVM QEMU runs on. */
static const struct {
        int cap;
        const char *name;
} required_caps[] = {
        { KVM_CAP_USER_MEMORY, "USER_MEMORY" },
        { KVM_CAP_DESTROY_MEMORY_REGION_WORKS, "DESTROY_MEMORY_REGION_WORKS" },
        { KVM_CAP_JOIN_MEMORY_REGIONS_WORKS, "JOIN_MEMORY_REGIONS_WORKS" },
        { KVM_CAP_INTERNAL_ERROR_DATA, "INTERNAL_ERROR_DATA" },
        { KVM_CAP_IOEVENTFD, "IOEVENTFD" },
        { KVM_CAP_IRQCHIP, "IRQCHIP" },
        { KVM_CAP_SET_TSS_ADDR, "SET_TSS_ADDR" },
        { KVM_CAP_EXT_CPUID, "EXT_CPUID" },
        { KVM_CAP_MP_STATE, "MP_STATE" },
};

/* Runs with QEMU's credentials. Only system calls and snprintf: it may run in a forked child. */
static void kvm_check_device(const char *account, KvmCheck *c) {
        _cleanup_close_ int fd = -EBADF, vm = -EBADF;
        int api;

        fd = open(KVM_DEVICE, O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                /* EACCES/EPERM: mode, ACL, LSM or device cgroup; ENODEV/ENXIO: a node without
                 * a KVM driver behind it. */
                c->state = errno == EACCES || errno == EPERM ? KVM_STATE_NO_ACCESS
                           : errno == ENOENT                 ? KVM_STATE_ABSENT
                                                             : KVM_STATE_UNSUPPORTED;
                snprintf(c->why, sizeof(c->why), "%s cannot open " KVM_DEVICE ": %s", account,
                         strerror(errno));
                return;
        }
        api = ioctl(fd, KVM_GET_API_VERSION, 0);
        if (api != KVM_API_VERSION) {
                c->state = KVM_STATE_UNSUPPORTED;
                if (api < 0)
                        snprintf(c->why, sizeof(c->why),
                                 KVM_DEVICE " is not a KVM device (KVM_GET_API_VERSION: %s)",
                                 strerror(errno));
                else
                        snprintf(c->why, sizeof(c->why),
                                 KVM_DEVICE " speaks KVM API %d, QEMU needs %d", api,
                                 KVM_API_VERSION);
                return;
        }
        for (size_t i = 0; i < ELEMENTSOF(required_caps); i++)
                if (ioctl(fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
                        c->state = KVM_STATE_UNSUPPORTED;
                        snprintf(c->why, sizeof(c->why),
                                 KVM_DEVICE " lacks KVM_CAP_%s, which QEMU requires",
                                 required_caps[i].name);
                        return;
                }
        vm = ioctl(fd, KVM_CREATE_VM, 0);
        if (vm < 0) {
                c->state = KVM_STATE_UNSUPPORTED;
                snprintf(c->why, sizeof(c->why), "KVM_CREATE_VM fails for %s: %s", account,
                         strerror(errno));
                return;
        }
        c->state = KVM_STATE_UNPROVEN;
}

static void on_alarm(int sig) {
        (void) sig; /* only to interrupt KVM_RUN */
}

/* A 64-bit guest at CPL0 with identity paging: pxor/movups (SSE), a 1M-iteration loop, then
 * "out 'K' to 0x3f8; hlt". A KVM that emulates guest code fails it with an internal error
 * (unsupported instruction) or misses the deadline; a KVM that runs it natively needs ~1 ms. */
bool host_kvm_test_guest(char *why, size_t size) {
        static const uint8_t code[] = {
                0x66, 0x0f, 0xef, 0xc0,                         /* pxor xmm0, xmm0 */
                0x0f, 0x11, 0x04, 0x25, 0x00, 0x50, 0x00, 0x00, /* movups [0x5000], xmm0 */
                0x48, 0xc7, 0xc1, 0x40, 0x42, 0x0f, 0x00,       /* mov rcx, 1000000 */
                0x48, 0xff, 0xc9,                               /* 1: dec rcx */
                0x75, 0xfb,                                     /* jnz 1b */
                0x66, 0xba, 0xf8, 0x03,                         /* mov dx, 0x3f8 */
                0xb0, 'K',                                      /* mov al, 'K' */
                0xee,                                           /* out dx, al */
                0xf4,                                           /* hlt */
        };
        struct {
                struct kvm_cpuid2 h;
                struct kvm_cpuid_entry2 e[256];
        } cpuid = { .h.nent = 256 };
        _cleanup_close_ int kvm = -EBADF, vm = -EBADF, cpu = -EBADF;
        struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART */
        struct kvm_userspace_memory_region region = { .memory_size = 2u << 20 };
        struct kvm_sregs s;
        struct kvm_regs regs = { .rflags = 2, .rip = 0x1000, .rsp = 0x8000 };
        struct kvm_run *run;
        uint8_t *mem;
        uint64_t *pt, t0, ms;
        struct timespec ts;
        long run_size;
        bool out_seen = false;

        kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (kvm < 0)
                return snprintf(why, size, "open /dev/kvm: %s", strerror(errno)), false;
        vm = ioctl(kvm, KVM_CREATE_VM, 0);
        run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
        if (vm < 0 || run_size <= 0)
                return snprintf(why, size, "KVM_CREATE_VM: %s", strerror(errno)), false;
        mem = mmap(NULL, region.memory_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                   0);
        if (mem == MAP_FAILED)
                return snprintf(why, size, "mmap: %s", strerror(errno)), false;
        region.userspace_addr = (uintptr_t) mem;
        if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0 ||
            (cpu = ioctl(vm, KVM_CREATE_VCPU, 0)) < 0)
                return snprintf(why, size, "memory region or vCPU: %s", strerror(errno)), false;
        run = mmap(NULL, (size_t) run_size, PROT_READ | PROT_WRITE, MAP_SHARED, cpu, 0);
        if (run == MAP_FAILED)
                return snprintf(why, size, "mmap of the vCPU: %s", strerror(errno)), false;
        if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cpuid) < 0 ||
            ioctl(cpu, KVM_SET_CPUID2, &cpuid) < 0)
                return snprintf(why, size, "CPUID: %s", strerror(errno)), false;
        memcpy(mem + 0x1000, code, sizeof(code));
        pt = (uint64_t *) (void *) (mem + 0x2000); /* PML4 0x2000 -> PDPT 0x3000 -> PD 0x4000 */
        pt[0] = 0x3003, pt[512] = 0x4003, pt[1024] = 0x83;
        if (ioctl(cpu, KVM_GET_SREGS, &s) < 0)
                return snprintf(why, size, "KVM_GET_SREGS: %s", strerror(errno)), false;
        struct kvm_segment cs = { .limit = ~0u,
                                  .selector = 8,
                                  .type = 11,
                                  .present = 1,
                                  .s = 1,
                                  .l = 1,
                                  .g = 1 },
                           ds = cs;
        ds.type = 3, ds.selector = 16, ds.l = 0, ds.db = 1;
        s.cs = cs, s.ds = s.es = s.fs = s.gs = s.ss = ds;
        s.cr3 = 0x2000, s.cr4 = 0x620 /* PAE OSFXSR OSXMMEXCPT */, s.cr0 = 0x80000013;
        s.efer = 0x500; /* LME LMA */
        if (ioctl(cpu, KVM_SET_SREGS, &s) < 0 || ioctl(cpu, KVM_SET_REGS, &regs) < 0)
                return snprintf(why, size, "vCPU registers: %s", strerror(errno)), false;

        sigaction(SIGALRM, &sa, NULL);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t0 = (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
        alarm(1);
        for (;;) {
                if (ioctl(cpu, KVM_RUN, 0) < 0) {
                        int e = errno;
                        alarm(0);
                        return snprintf(why, size,
                                        "the test guest did not finish within 1 s (KVM_RUN: %s): "
                                        "guest code is emulated, not run",
                                        strerror(e)),
                               false;
                }
                if (run->exit_reason == KVM_EXIT_IO && run->io.port == 0x3f8) {
                        out_seen = true;
                        continue;
                }
                break;
        }
        alarm(0);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ms = (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000 - t0;
        if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
                return snprintf(why, size,
                                "the test guest stopped with a KVM internal error (suberror %u): "
                                "this KVM emulates guest instructions and cannot run a standard "
                                "guest kernel%s",
                                run->internal.suberror,
                                access("/sys/module/kvm_pvm", F_OK) == 0
                                        ? " (kvm_pvm: a PVM host runs only PVM guest kernels)"
                                        : ""),
                       false;
        if (run->exit_reason != KVM_EXIT_HLT || !out_seen)
                return snprintf(why, size, "the test guest ended with KVM exit reason %u",
                                run->exit_reason),
                       false;
        if (ms > TEST_GUEST_DEADLINE_MS)
                return snprintf(why, size,
                                "the test guest took %llu ms for ~1 ms of work: guest code is "
                                "emulated, not run",
                                (unsigned long long) ms),
                       false;
        return true;
}

/* What a child does with QEMU's credentials: the device check, or the test guest. */
typedef enum KvmChildWork {
        KVM_CHILD_CHECK_DEVICE,
        KVM_CHILD_TEST_GUEST,
} KvmChildWork;

/* Runs work in a forked child that becomes a (the caller itself when a is NULL) and reports a
 * KvmCheck over a pipe. A child is needed for moat-vm's credentials, and for the test guest in
 * any case: it owns SIGALRM and maps guest memory. A child that cannot report counts as
 * no-access for the device check and as "not failed" (unproven) for the test guest, which
 * must never turn into a verdict by accident. */
static void kvm_in_child(const VmAccount *a, const char *account, KvmChildWork work, KvmCheck *c) {
        const KvmState none =
                work == KVM_CHILD_TEST_GUEST ? KVM_STATE_UNPROVEN : KVM_STATE_NO_ACCESS;
        int p[2], status;
        pid_t pid;
        ssize_t n = -1;

        *c = (KvmCheck){ .state = none };
        if (pipe2(p, O_CLOEXEC) < 0) {
                snprintf(c->why, sizeof(c->why), "cannot check " KVM_DEVICE " as %s: pipe: %s",
                         account, strerror(errno));
                return;
        }
        pid = fork();
        if (pid == 0) {
                KvmCheck r = { .state = KVM_STATE_UNPROVEN };
                int k;

                close(p[0]);
                k = a ? vm_account_become(a) : 0;
                if (k < 0) {
                        r.state = KVM_STATE_NO_ACCESS;
                        snprintf(r.why, sizeof(r.why), "cannot become %s to use " KVM_DEVICE ": %s",
                                 account, strerror(-k));
                } else if (work == KVM_CHILD_CHECK_DEVICE)
                        kvm_check_device(account, &r);
                else if (!host_kvm_test_guest(r.why, sizeof(r.why)))
                        r.state = KVM_STATE_FAILED;
                (void) !write(p[1], &r, sizeof(r));
                _exit(0);
        }
        close(p[1]);
        if (pid > 0) {
                n = read(p[0], c, sizeof(*c));
                while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                        ;
        }
        close(p[0]);
        if (n != (ssize_t) sizeof(*c)) {
                *c = (KvmCheck){ .state = none };
                snprintf(c->why, sizeof(c->why), "the check of " KVM_DEVICE " as %s did not report",
                         account);
        }
        c->why[sizeof(c->why) - 1] = '\0';
}

static void sha256_file_identity(Sha256 *s, const char *what, const char *path) {
        struct stat st;
        char buf[512];
        int n;

        if (!path || stat(path, &st) < 0)
                n = snprintf(buf, sizeof(buf), "%s=missing\n", what);
        else
                n = snprintf(buf, sizeof(buf),
                             "%s=%s dev=%llu ino=%llu rdev=%llu mode=%o uid=%u gid=%u size=%lld "
                             "mtime=%lld.%09ld ctime=%lld.%09ld\n",
                             what, path, (unsigned long long) st.st_dev,
                             (unsigned long long) st.st_ino, (unsigned long long) st.st_rdev,
                             (unsigned) st.st_mode, (unsigned) st.st_uid, (unsigned) st.st_gid,
                             (long long) st.st_size, (long long) st.st_mtim.tv_sec,
                             st.st_mtim.tv_nsec, (long long) st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
        sha256_update(s, buf, (size_t) MIN(n, (int) sizeof(buf) - 1));
}

static void sha256_kernel_file(Sha256 *s, const char *path, bool only_kvm_lines) {
        FILE *f = fopen(path, "re");
        char line[512];

        sha256_update(s, path, strlen(path) + 1);
        if (!f)
                return;
        while (fgets(line, sizeof(line), f))
                if (!only_kvm_lines || strncmp(line, "kvm", 3) == 0)
                        sha256_update(s, line, strlen(line));
        fclose(f);
}

/* The guest kernel enters by identity (device, inode, size, mtime, ctime), not by a digest of
 * its 60-70 MB: reading it whole costs tens of ms on every probe, and any change to the file,
 * including one that restores its mtime, moves its ctime. */
int host_kvm_proof_key(const HostFacts *h, char ret[KVM_PROOF_KEY_HEX]) {
        uint8_t d[SHA256_DIGEST_BYTES];
        char buf[128];
        Sha256 s;

        if (!h->guest_kernel || !h->qemu_present || !h->kvm_account[0])
                return -ENOENT;
        sha256_init(&s);
        sha256_update(&s, "moat-kvm-proof-v1\n", 18);
        sha256_kernel_file(&s, "/proc/sys/kernel/random/boot_id", false);
        sha256_update(&s, h->kernel_release, strlen(h->kernel_release) + 1);
        sha256_kernel_file(&s, "/proc/modules", true);
        sha256_file_identity(&s, "kvm", KVM_DEVICE);
        sha256_file_identity(&s, "qemu", h->qemu_path);
        sha256_file_identity(&s, "guest-kernel", h->guest_kernel);
        snprintf(buf, sizeof(buf), "account=%s\n", h->kvm_account);
        sha256_update(&s, buf, strlen(buf));
        sha256_final(&s, d);
        for (size_t i = 0; i < sizeof(d); i++)
                snprintf(ret + 2 * i, 3, "%02x", d[i]);
        return 0;
}

int host_kvm_verdict_path(char **ret) {
        const char *x = secure_getenv("XDG_CACHE_HOME"), *home = secure_getenv("HOME");

        if (x && x[0] == '/')
                return asprintf(ret, "%s/moat/vm-kvm", x) < 0 ? -ENOMEM : 0;
        if (!home || home[0] != '/') {
                struct passwd *pw = getpwuid(getuid());
                home = pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
        }
        if (!home)
                return -ENOENT;
        return asprintf(ret, "%s/.cache/moat/vm-kvm", home) < 0 ? -ENOMEM : 0;
}

static int mkdir_parents(char *path) {
        for (char *s = path + 1; *s; s++)
                if (*s == '/') {
                        *s = '\0';
                        int r = mkdir(path, 0700) < 0 && errno != EEXIST ? -errno : 0;
                        *s = '/';
                        if (r < 0)
                                return r;
                }
        return 0;
}

/* One line: "v1 KEY proven|failed EPOCH REASON". Written atomically (temp file + rename). */
int host_kvm_verdict_save(const char *key, bool proven, const char *reason) {
        _cleanup_free_ char *path = NULL, *tmp = NULL;
        char line[VERDICT_MAX];
        int fd, n, r;

        r = host_kvm_verdict_path(&path);
        if (r < 0)
                return r;
        n = snprintf(line, sizeof(line), "v1 %s %s %lld %s\n", key, proven ? "proven" : "failed",
                     (long long) time(NULL), reason && reason[0] ? reason : "-");
        if (n < 0)
                return -EINVAL;
        if ((size_t) n >= sizeof(line)) /* keep the line whole: cut the reason */
                line[sizeof(line) - 2] = '\n', n = sizeof(line) - 1;
        for (int i = 0; i < n - 1; i++) /* one line: a newline in a reason would end it */
                if (line[i] == '\n' || line[i] == '\r')
                        line[i] = ' ';
        if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
                return -ENOMEM;
        r = mkdir_parents(tmp);
        if (r < 0)
                return r;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = write(fd, line, (size_t) n) == n ? 0 : -EIO;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                unlink(tmp);
        return r;
}

int host_kvm_verdict_load(const char *key, char *why, size_t size) {
        _cleanup_free_ char *path = NULL;
        char line[VERDICT_MAX], k[KVM_PROOF_KEY_HEX], verdict[16];
        long long when;
        int off = 0;
        FILE *f;

        if (host_kvm_verdict_path(&path) < 0)
                return -ENOENT;
        f = fopen(path, "re");
        if (!f)
                return -ENOENT;
        if (!fgets(line, sizeof(line), f)) {
                fclose(f);
                return -ENOENT;
        }
        fclose(f);
        line[strcspn(line, "\n")] = '\0';
        if (sscanf(line, "v1 %64s %15s %lld %n", k, verdict, &when, &off) != 3 || off == 0 ||
            strcmp(k, key) != 0)
                return -ENOENT;
        if (strcmp(verdict, "proven") == 0)
                return 1;
        if (strcmp(verdict, "failed") != 0)
                return -ENOENT;
        snprintf(why, size, "%s", line + off);
        return 0;
}

int host_kvm_apply_verdict(HostFacts *h, bool proven, const char *reason) {
        char *r = NULL;

        if (!proven && (!reason || !*reason))
                reason = "a guest did not run under KVM";
        if (!proven && asprintf(&r, "a guest kernel did not run under KVM here (%s): %s",
                                kvm_state_to_string(KVM_STATE_FAILED), reason) < 0)
                return -ENOMEM;
        free(h->kvm_reason);
        h->kvm_reason = r;
        h->kvm_state = proven ? KVM_STATE_PROVEN : KVM_STATE_FAILED;
        h->kvm_usable = proven;
        return 0;
}

/* A hint for the most common reason an account cannot open the device. */
static void access_hint(const HostFacts *h, char *why, size_t size) {
        struct stat st;
        size_t l = strlen(why);

        if (stat(KVM_DEVICE, &st) < 0)
                return;
        snprintf(why + l, size - l,
                 " (" KVM_DEVICE
                 " is mode %04o uid %u gid %u; Debian's udev rule makes it 0660 "
                 "group kvm%s)",
                 (unsigned) (st.st_mode & 07777), (unsigned) st.st_uid, (unsigned) st.st_gid,
                 h->is_root ? ", and moat-guest-kernel puts moat-vm in group kvm"
                            : ": add this user to group kvm");
}

int host_probe_kvm(HostFacts *h, bool test_guest) {
        char key[KVM_PROOF_KEY_HEX], cached[VERDICT_MAX] = "";
        VmAccount a;
        KvmCheck c = {};
        struct stat st;
        int r;

        h->kvm_usable = false;
        if (stat(KVM_DEVICE, &st) < 0 || !S_ISCHR(st.st_mode)) {
                h->kvm_state = KVM_STATE_ABSENT;
                snprintf(c.why, sizeof(c.why),
                         KVM_DEVICE " %s: no hardware virtualisation for guests on this host",
                         errno == ENOENT ? "does not exist" : "is not a character device");
                return (h->kvm_reason = strdup(c.why)) ? 0 : -ENOMEM;
        }
        if (h->is_root) {
                r = vm_account_lookup(&a);
                if (r < 0) {
                        h->kvm_state = KVM_STATE_NO_ACCESS;
                        snprintf(c.why, sizeof(c.why),
                                 "root's guests run QEMU as the account " VM_ACCOUNT
                                 ", which is unusable (%s): run moat-guest-kernel as root",
                                 strerror(-r));
                        return (h->kvm_reason = strdup(c.why)) ? 0 : -ENOMEM;
                }
                snprintf(h->kvm_account, sizeof(h->kvm_account), "%s", a.name);
                kvm_in_child(&a, a.name, KVM_CHILD_CHECK_DEVICE, &c);
        } else {
                snprintf(h->kvm_account, sizeof(h->kvm_account), "%s", h->user);
                kvm_check_device(h->user, &c);
        }
        h->kvm_state = c.state;
        if (c.state == KVM_STATE_NO_ACCESS)
                access_hint(h, c.why, sizeof(c.why));
        if (c.state != KVM_STATE_UNPROVEN)
                return (h->kvm_reason = strdup(c.why)) ? 0 : -ENOMEM;

        if (host_kvm_proof_key(h, key) < 0) {
                snprintf(c.why, sizeof(c.why),
                         "KVM answers for %s, but no guest has run on it yet, and none can be "
                         "proven without QEMU and a guest kernel",
                         h->kvm_account);
                return (h->kvm_reason = strdup(c.why)) ? 0 : -ENOMEM;
        }
        r = host_kvm_verdict_load(key, cached, sizeof(cached));
        if (r >= 0)
                return host_kvm_apply_verdict(h, r == 1, cached);
        if (test_guest) {
                /* Not cached: `moat host` is a diagnostic, and a verdict comes only from the
                 * whole proof (test guest and boot) of a vm-tier run. */
                KvmCheck t = {};
                kvm_in_child(h->is_root ? &a : NULL, h->kvm_account, KVM_CHILD_TEST_GUEST, &t);
                if (t.state == KVM_STATE_FAILED) {
                        char *why = NULL;
                        if (asprintf(&why, "a test guest did not run on it: %s", t.why) < 0)
                                return -ENOMEM;
                        h->kvm_state = KVM_STATE_FAILED;
                        h->kvm_reason = why;
                        return 0;
                }
        }
        snprintf(c.why, sizeof(c.why),
                 "KVM answers for %s, but no guest has run on it yet: the next vm-tier run boots "
                 "the guest kernel under KVM once to prove it (bounded), and uses KVM from then on "
                 "if it boots",
                 h->kvm_account);
        return (h->kvm_reason = strdup(c.why)) ? 0 : -ENOMEM;
}

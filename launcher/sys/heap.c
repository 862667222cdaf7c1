/* SPDX-License-Identifier: MIT */
/* See heap.h.
 *
 * A launch allocates about 100 KiB of heap (parsed profile, the plan, the audit record; the
 * shipped policy is static data), mostly in small pieces. Touched page by page, that is some 50 page faults, and a
 * fault costs about 12 us on a paravirtualised guest like the reference machine (a trap to
 * the hypervisor each time); populating the same pages in one madvise() costs under 1 us a
 * page. On bare metal both are cheap and the difference is small either way. The size is the
 * launch's own footprint, so nothing is populated that would not be used. */
#include <fcntl.h>
#include <linux/futex.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "basic/macros.h"
#include "sys/heap.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static size_t top_pad; /* sys_heap_reserve()'s M_TOP_PAD, 0 = glibc's default */

void sys_heap_reserve(size_t size) {
        long page = sysconf(_SC_PAGESIZE);
        char *p, *top;
        uintptr_t start;

        if (page <= 0 || mallopt(M_TOP_PAD, (int) size) != 1)
                return;
        top_pad = size;
        p = malloc(1); /* the first brk() growth: size + what malloc itself needs */
        if (!p)
                return;
        top = sbrk(0);
        start = ((uintptr_t) p + (uintptr_t) page - 1) & ~((uintptr_t) page - 1);
        if (top != (char *) -1 && (uintptr_t) top > start)
                (void) madvise((void *) start, (uintptr_t) top - start, MADV_POPULATE_WRITE);
        free(p);
}

void sys_heap_reserve_thread(size_t size) {
        long page = sysconf(_SC_PAGESIZE);
        char *p = malloc(1); /* the thread's heap, made with sys_heap_reserve()'s pad */
        uintptr_t start;

        if (page > 0 && p && size > (size_t) page) {
                start = ((uintptr_t) p + (uintptr_t) page - 1) & ~((uintptr_t) page - 1);
                (void) madvise((void *) start, size - (size_t) page, MADV_POPULATE_WRITE);
        }
        free(p);
}

/* The main thread's stack: the launch's parsing went some 50 KiB deep, and those pages stay
 * with the process for as long as it supervises. Everything below the caller's frame is dead
 * (nothing is running there), so it is handed back; a later call that goes deeper faults in
 * zeroed pages as at first use. Not inlined, so that its frame is below every frame of the
 * caller's; its own frame is small (a 256-byte window on /proc/self/maps, whose [stack] line
 * is far shorter), so that the pages it keeps are the caller's. */
#define MAPS_WINDOW 256
static __attribute__((noinline)) void stack_trim(void) {
        char maps[MAPS_WINDOW];
        uintptr_t low = 0;
        size_t len = 0;
        ssize_t n;
        int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return;
        /* [stack] is the last mapping but [vvar]/[vdso] ones: read to the end, keep a window */
        while ((n = read(fd, maps + len, sizeof(maps) - 1 - len)) > 0) {
                len += (size_t) n;
                maps[len] = '\0';
                char *s = strstr(maps, "[stack]");
                if (s) {
                        while (s > maps && s[-1] != '\n')
                                s--;
                        low = (uintptr_t) strtoull(s, NULL, 16);
                        break;
                }
                char *nl = strrchr(maps, '\n');
                if (nl) { /* keep the unfinished last line */
                        len = (size_t) (maps + len - (nl + 1));
                        memmove(maps, nl + 1, len);
                } else
                        len = 0; /* a line longer than the window (a long path): not [stack] */
        }
        close(fd);

        long page = sysconf(_SC_PAGESIZE);
        uintptr_t here = (uintptr_t) __builtin_frame_address(0);
        if (page <= 0 || low == 0 || here < low)
                return;
        /* this frame (maps[], the lowest of its locals, and what is above it) and madvise()'s
         * own call (a return address, no frame) stay: 256 bytes below maps[] */
        uintptr_t end = ((uintptr_t) maps - 256) & ~((uintptr_t) page - 1);
        if (end > low)
                (void) madvise((void *) low, end - low, MADV_DONTNEED);
}

void sys_heap_trim(void) {
        (void) malloc_trim(0);
        stack_trim();
}

/* The scratch thread's stack: the main thread's default size, reserved but faulted in only as
 * deep as the work goes, and unmapped once the thread is joined (glibc would keep a stack of
 * its own making in its cache, with the pages it touched). One guard page below it. Its top,
 * where glibc puts the thread's descriptor and TLS and the work's deepest calls stay (the
 * host probe's and the parser's frames), is populated at once: some 8 faults a launch in one
 * call (heap.c's header: ~14 us a fault against ~1.3 us a page on the reference machine). */
#define SCRATCH_STACK (8u * 1024 * 1024)
#define SCRATCH_STACK_HOT (48u * 1024)

/* Whose turn it is: the caller's (it may post a job) or the thread's (it runs the job). */
enum {
        TURN_CALLER,
        TURN_THREAD
};

typedef struct Scratch {
        int (*fn)(void *arg); /* NULL: no job, just end */
        void *arg;
        int ret;
        bool last; /* the thread ends after this job */
        pid_t tid;
        uint32_t turn; /* atomic; a futex word */
        char *stack;   /* the mapping, guard page included */
        size_t stack_size;
        pthread_t thread;
} Scratch;

/* The one scratch thread there is at a time (the callers are single-threaded), in static
 * storage rather than on a heap it is meant to leave as it found; `kept` points to it while
 * sys_heap_scratch_keep() keeps it between its jobs, else NULL. */
static Scratch scratch_slot;
static Scratch *kept;

static void futex_wait(uint32_t *word, uint32_t value) {
        while (__atomic_load_n(word, __ATOMIC_ACQUIRE) == value)
                (void) syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
}

static void futex_pass(uint32_t *word, uint32_t value) {
        __atomic_store_n(word, value, __ATOMIC_RELEASE);
        (void) syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *scratch_main(void *userdata) {
        Scratch *s = userdata;

        s->tid = gettid();
        for (;;) {
                futex_wait(&s->turn, TURN_CALLER);
                bool last = s->last;
                if (s->fn)
                        s->ret = s->fn(s->arg);
                if (last)
                        return NULL; /* the caller joins us */
                futex_pass(&s->turn, TURN_CALLER);
        }
}

/* A thread waiting for its first job (posted before it starts), or NULL. */
static Scratch *scratch_new(int (*fn)(void *arg), void *arg, bool last) {
        long page = sysconf(_SC_PAGESIZE);
        pthread_attr_t attr;
        Scratch *s;
        int r;

        if (page <= 0)
                return NULL;
        s = &scratch_slot;
        *s = (Scratch){ .fn = fn, .arg = arg, .last = last, .turn = TURN_THREAD };
        s->stack_size = SCRATCH_STACK + (size_t) page;
        s->stack = mmap(NULL, s->stack_size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (s->stack == MAP_FAILED)
                return NULL;
        if (mprotect(s->stack, (size_t) page, PROT_NONE) < 0 || pthread_attr_init(&attr) != 0) {
                (void) munmap(s->stack, s->stack_size);
                return NULL;
        }
        (void) madvise(s->stack + s->stack_size - SCRATCH_STACK_HOT, SCRATCH_STACK_HOT,
                       MADV_POPULATE_WRITE);
        r = pthread_attr_setstack(&attr, s->stack + page, SCRATCH_STACK);
        /* On this CPU, where it runs as soon as the caller waits for it, rather than on another
         * one where it may wait for another process's time slice and starts with cold caches:
         * 89 us from creation to join here against 159-167 us (mean of 200, 2-core VM). The
         * caller's affinity is unchanged. */
        int cpu = sched_getcpu();
        if (r == 0 && cpu >= 0) {
                cpu_set_t set;
                CPU_ZERO(&set);
                CPU_SET(cpu, &set);
                (void) pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
        }
        if (r == 0)
                r = pthread_create(&s->thread, &attr, scratch_main, s);
        (void) pthread_attr_destroy(&attr);
        if (r != 0) {
                (void) munmap(s->stack, s->stack_size);
                return NULL;
        }
        return s;
}

/* After the thread's last job. */
static int scratch_join(Scratch *s) {
        int ret = s->ret;

        if (pthread_join(s->thread, NULL) != 0)
                abort(); /* cannot happen for a joinable thread of ours; its stack stays */
        /* The join returns once the thread has left its memory; it is still in the thread
         * group and holds the shared fs_struct until the kernel releases it, and until then
         * setns() into a mount or user namespace and unshare(CLONE_NEWUSER) fail with EINVAL
         * (and clone3 with CLONE_NEWUSER). The process leaves here with one thread, as it
         * came. */
        while (syscall(SYS_tgkill, getpid(), s->tid, 0) == 0)
                (void) sched_yield();
        (void) munmap(s->stack, s->stack_size);
        return ret;
}

/* The job on the kept thread: it runs as soon as it is posted, and the caller waits. */
static int scratch_post(Scratch *s, int (*fn)(void *arg), void *arg, bool last) {
        s->fn = fn;
        s->arg = arg;
        s->last = last;
        futex_pass(&s->turn, TURN_THREAD);
        if (last)
                return scratch_join(s);
        futex_wait(&s->turn, TURN_THREAD);
        return s->ret;
}

int sys_heap_scratch(int (*fn)(void *arg), void *arg) {
        Scratch *s = TAKE_PTR(kept);

        if (s)
                return scratch_post(s, fn, arg, true);
        s = scratch_new(fn, arg, true);
        if (!s)
                return fn(arg);
        return scratch_join(s);
}

int sys_heap_scratch_keep(int (*fn)(void *arg), void *arg) {
        if (kept)
                return scratch_post(kept, fn, arg, false);
        kept = scratch_new(fn, arg, false);
        if (!kept)
                return fn(arg);
        futex_wait(&kept->turn, TURN_THREAD);
        return kept->ret;
}

void sys_heap_scratch_end(void) {
        Scratch *s = TAKE_PTR(kept);

        if (s)
                (void) scratch_post(s, NULL, NULL, true);
}

/* A free() gives a thread heap's top back only when what it frees, merged with its free
 * neighbours, is at least 64 KiB (glibc's FASTBIN_CONSOLIDATION_THRESHOLD), and only past the
 * top pad and the trim threshold; malloc_trim() never does. The last frees of a scratch
 * thread's work are small ones (its cache of freed blocks, emptied as it ends), so its heap's
 * top would stay resident: one block of that size, taken at the end of the thread's work and
 * freed once the thread has ended (everything else on that heap is free then, so it merges into
 * the top), with no pad and no threshold, hands the top back. The pad and the threshold are set
 * back after it: the main heap keeps what it has populated for the rest of the launch (the
 * audit record) until sys_heap_trim(). */
#define RELEASE_MARK_SIZE (96u * 1024)
#define DEFAULT_TRIM_THRESHOLD (128 * 1024) /* glibc's */

void *sys_heap_scratch_mark(void) {
        return malloc(RELEASE_MARK_SIZE);
}

void sys_heap_scratch_release(void *mark) {
        if (!mark)
                return;
        if (mallopt(M_TOP_PAD, 0) != 1 || mallopt(M_TRIM_THRESHOLD, 0) != 1) {
                free(mark);
                return;
        }
        free(mark);
        (void) mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD);
        (void) mallopt(M_TOP_PAD, (int) top_pad);
}

/* SPDX-License-Identifier: MIT */
/* The launch's heap: faulted in at once, and what a supervisor keeps of it compact and the rest
 * handed back while its workload runs. */
#pragma once

#include <stddef.h>

/* What a launch or an explain allocates, rounded up (see heap.c). */
#define MOAT_HEAP_RESERVE (128 * 1024)

/* Make glibc's heap grow by at least `size` bytes at a time and populate the first growth now
 * (MADV_POPULATE_WRITE). Best effort: a kernel without MADV_POPULATE_WRITE (< 5.14) or a
 * failure leaves the pages to be faulted in one by one, as without this call. */
void sys_heap_reserve(size_t size);

/* sys_heap_reserve() for a scratch thread (below), after sys_heap_reserve(size) on the main one:
 * the first size bytes of the thread's own heap, populated in one call. Best effort too. */
void sys_heap_reserve_thread(size_t size);

/* For a supervisor whose workload runs on: the freed heap (malloc_trim()) and the stack pages
 * below the caller's frame go back to the kernel. Call it shallow in the call chain. */
void sys_heap_trim(void);

/* Runs fn(arg) on a thread of its own and returns its result, the process single-threaded
 * again on return. glibc gives the first such thread a heap (arena) of its own, and the next
 * one the same once the first has ended; a thread's cache of freed blocks (up to 7 of each
 * size, which malloc_trim() cannot hand back) goes back to its heap when it ends. So a launch
 * that parses on one, copies what it keeps on the main thread and frees the rest on another
 * (context.h, run_context_compact()) leaves the main heap holding what it keeps, contiguous,
 * and the other empty for sys_heap_trim() to hand back. If the thread cannot be made, fn runs
 * on the caller's: the same result, more memory. A thread kept by sys_heap_scratch_keep()
 * runs fn and then ends, in place of a new one. */
int sys_heap_scratch(int (*fn)(void *arg), void *arg);

/* sys_heap_scratch() whose thread stays, waiting, for the next sys_heap_scratch*() call: the
 * parse and the free of one launch on one thread (one heap, one cache of freed blocks, one
 * stack), without a second thread's creation, stack and first faults. While it waits the
 * process is not single-threaded: sys_heap_scratch() or sys_heap_scratch_end() before a
 * clone3 with CLONE_NEWUSER, unshare(), setns() or fork(). */
int sys_heap_scratch_keep(int (*fn)(void *arg), void *arg);
/* Ends a thread that sys_heap_scratch_keep() kept, if there is one; the process is
 * single-threaded again on return. */
void sys_heap_scratch_end(void);

/* For a scratch thread whose work leaves its heap empty: sys_heap_scratch_mark() as the work's
 * last step, and sys_heap_scratch_release() of what it returned once sys_heap_scratch() has
 * returned. The heap's top, which a thread heap keeps resident otherwise (malloc_trim() shrinks
 * the main heap's top only), then goes back to the kernel; one page of it stays. A NULL mark (no
 * memory for it) releases nothing. */
void *sys_heap_scratch_mark(void);
void sys_heap_scratch_release(void *mark);

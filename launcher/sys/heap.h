/* SPDX-License-Identifier: MIT */
/* Fault in the heap a command is about to use, in one system call. */
#pragma once

#include <stddef.h>

/* What a launch or an explain allocates, rounded up (see heap.c). */
#define MOAT_HEAP_RESERVE (128 * 1024)

/* Make glibc's heap grow by at least `size` bytes at a time and populate the first growth now
 * (MADV_POPULATE_WRITE). Best effort: a kernel without MADV_POPULATE_WRITE (< 5.14) or a
 * failure leaves the pages to be faulted in one by one, as without this call. */
void sys_heap_reserve(size_t size);

/* For a supervisor whose workload runs on: the freed heap (malloc_trim()) and the stack pages
 * below the caller's frame go back to the kernel. Call it shallow in the call chain. */
void sys_heap_trim(void);

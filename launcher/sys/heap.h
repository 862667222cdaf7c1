/* SPDX-License-Identifier: MIT */
/* Fault in the heap a command is about to use, in one system call. */
#pragma once

#include <stddef.h>

/* What a launch or an explain allocates, rounded up (see heap.c). */
#define MOAT_HEAP_RESERVE (256 * 1024)

/* Make glibc's heap grow by at least `size` bytes at a time and populate the first growth now
 * (MADV_POPULATE_WRITE). Best effort: a kernel without MADV_POPULATE_WRITE (< 5.14) or a
 * failure leaves the pages to be faulted in one by one, as without this call. */
void sys_heap_reserve(size_t size);

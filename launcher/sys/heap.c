/* SPDX-License-Identifier: MIT */
/* See heap.h.
 *
 * A launch allocates about 200 KiB of heap (parsed profile and policy, the plan, the audit
 * record), mostly in small pieces. Touched page by page, that is some 50 page faults, and a
 * fault costs about 12 us on a paravirtualised guest like the reference machine (a trap to
 * the hypervisor each time); populating the same pages in one madvise() costs under 1 us a
 * page. On bare metal both are cheap and the difference is small either way. The size is the
 * launch's own footprint, so nothing is populated that would not be used. */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sys/heap.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

void sys_heap_reserve(size_t size) {
        long page = sysconf(_SC_PAGESIZE);
        char *p, *top;
        uintptr_t start;

        if (page <= 0 || mallopt(M_TOP_PAD, (int) size) != 1)
                return;
        p = malloc(1); /* the first brk() growth: size + what malloc itself needs */
        if (!p)
                return;
        top = sbrk(0);
        start = ((uintptr_t) p + (uintptr_t) page - 1) & ~((uintptr_t) page - 1);
        if (top != (char *) -1 && (uintptr_t) top > start)
                (void) madvise((void *) start, (uintptr_t) top - start, MADV_POPULATE_WRITE);
        free(p);
}

/* SPDX-License-Identifier: MIT */
/* The vm tier's status channel (launcher/vm/guest/vm-proto.c) on arbitrary bytes: what a guest
 * (hostile, once its kernel is) sends moat on org.moat.ctl. The first byte is the size of the
 * pieces the stream arrives in (1..64), as the reader gets it from poll(); the rest is the
 * stream. Besides memory safety: a malformed stream stays malformed, a status reported as the
 * run's result is a final one and came after the start (or is an error), a control reported
 * applied is one moat knows, a control is reported at most once, and every line the reader
 * accepted formats back to a line that parses to the same status. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "vm/guest/vm-proto.h"

#pragma weak vm_status_reader_feed
#pragma weak vm_status_parse_line
#pragma weak vm_status_format

const char *fuzz_missing_function(void) {
        if (!vm_status_reader_feed)
                return "vm_status_reader_feed";
        if (!vm_status_parse_line)
                return "vm_status_parse_line";
        if (!vm_status_format)
                return "vm_status_format";
        return NULL;
}

static void check_round_trip(const char *line, size_t len) {
        VmStatus s, again;
        char buf[VM_STATUS_LINE_MAX + 2];
        int n;

        if (vm_status_parse_line(line, len, &s) < 0)
                return;
        FUZZ_CHECK(s.kind > VM_STATUS_NONE && s.kind < _VM_STATUS_KIND_MAX);
        FUZZ_CHECK(memchr(s.step, '\0', sizeof(s.step)) != NULL);
        n = vm_status_format(&s, buf, sizeof(buf));
        FUZZ_CHECK(n > 0 && (size_t) n <= VM_STATUS_LINE_MAX && buf[n - 1] == '\n');
        FUZZ_CHECK(vm_status_parse_line(buf, (size_t) n - 1, &again) == 0);
        FUZZ_CHECK(again.kind == s.kind && again.value == s.value &&
                   strcmp(again.step, s.step) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        VmStatusReader r = {};
        size_t piece, off = 1;
        bool was_malformed = false;

        if (size < 1)
                return 0;
        piece = data[0] % 64 + 1;
        /* every complete line on its own, as the reader will see it */
        for (size_t start = 1, i = 1; i < size; i++)
                if (data[i] == '\n') {
                        check_round_trip((const char *) data + start, i - start);
                        start = i + 1;
                }
        while (off < size) {
                size_t n = size - off < piece ? size - off : piece;
                int r_ = vm_status_reader_feed(&r, (const char *) data + off, n);
                off += n;
                FUZZ_CHECK(r_ == 0 || r_ == -EINVAL);
                FUZZ_CHECK(!was_malformed || r_ == -EINVAL);
                FUZZ_CHECK((r_ == -EINVAL) == r.malformed);
                was_malformed = r.malformed;
                FUZZ_CHECK(r.len < VM_STATUS_LINE_MAX);
                FUZZ_CHECK(memchr(r.reason, '\0', sizeof(r.reason)) != NULL);
                FUZZ_CHECK((r.applied >> _VM_CONTROL_MAX) == 0);
                if (r.final) {
                        FUZZ_CHECK(r.result.kind == VM_STATUS_EXIT ||
                                   r.result.kind == VM_STATUS_SIGNAL ||
                                   r.result.kind == VM_STATUS_ERROR ||
                                   r.result.kind == VM_STATUS_CPUTIME);
                        FUZZ_CHECK(r.started || r.result.kind == VM_STATUS_ERROR);
                }
        }
        return 0;
}

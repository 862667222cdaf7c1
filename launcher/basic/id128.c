/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>

#include "basic/id128.h"

static int random_bytes(uint8_t b[16]) {
        size_t got = 0;

        /* 16 bytes never come back short once the pool is ready; EINTR is retried. */
        while (got < 16) {
                ssize_t n = getrandom(b + got, 16 - got, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                got += (size_t) n;
        }
        return 0;
}

int id128_random_machine_id(char *buf, size_t size) {
        uint8_t b[16];
        int r;

        if (size < ID128_MACHINE_ID_LEN + 1)
                return -ENOBUFS;
        if ((r = random_bytes(b)) < 0)
                return r;
        /* All zeros means "unset" to systemd; 2^-128, but cheap to rule out. */
        b[15] |= 1;
        for (size_t i = 0; i < 16; i++)
                snprintf(buf + 2 * i, 3, "%02x", b[i]);
        return 0;
}

int id128_random_uuid(char *buf, size_t size) {
        uint8_t b[16];
        int r;

        if (size < ID128_UUID_LEN + 1)
                return -ENOBUFS;
        if ((r = random_bytes(b)) < 0)
                return r;
        b[6] = (uint8_t) ((b[6] & 0x0f) | 0x40); /* version 4, as generate_random_uuid() */
        b[8] = (uint8_t) ((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
        snprintf(buf, size, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
                 b[13], b[14], b[15]);
        return 0;
}

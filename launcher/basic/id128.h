/* SPDX-License-Identifier: MIT */
/* Random 128-bit identities for a run: a machine id as machine-id(5) writes it (32 lower-case
 * hex digits) and a boot id as the kernel's random UUID (8-4-4-4-12, version 4). Both come from
 * getrandom(2) alone, so nothing about the host goes into them. */
#pragma once

#include <stddef.h>

#define ID128_MACHINE_ID_LEN 32 /* without the '\n' of the file */
#define ID128_UUID_LEN 36

/* buf: at least ID128_MACHINE_ID_LEN + 1 bytes. 0 or -errno. */
int id128_random_machine_id(char *buf, size_t size);
/* buf: at least ID128_UUID_LEN + 1 bytes. 0 or -errno. */
int id128_random_uuid(char *buf, size_t size);

/* SPDX-License-Identifier: MIT */
/* PURE. Strict parsers for the numbers people write in profiles and policies: sizes
 * ("512MiB"), durations ("1h30m"), cpu counts ("1.5") and plain unsigned integers.
 * Every parser rejects signs, spaces, empty input and trailing garbage, and checks for
 * overflow before it happens. They return 0, -EINVAL (malformed) or -ERANGE (too big). */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Decimal digits only, no sign, no leading '+', no spaces; fits in max. */
int parse_uint64(const char *s, uint64_t max, uint64_t *ret);

/* An integer followed by nothing (bytes) or one of B, KiB, MiB, GiB, TiB. Decimal units
 * (KB, MB, GB) and bare letters (K, M, G) are rejected on purpose: "1GB" would be ambiguous.
 * When the unit looks like one of those, *ret_hint (if given) points to the binary unit the
 * writer probably meant ("GiB"), else NULL. */
int parse_size(const char *s, uint64_t *ret_bytes, const char **ret_hint);

/* One or more <integer><unit> parts with units h, m, s, ms in that order, each at most once:
 * "90s", "20m", "1h30m", "2h5s", "200ms", "1s500ms". A bare number is rejected (seconds or
 * minutes?). */
int parse_duration_ms(const char *s, uint64_t *ret_ms);

/* A positive decimal with at most three fractional digits: "1", "0.5", "1.25". Stored in
 * thousandths of a cpu. Zero, negatives, exponents and ".5" are -EINVAL; more than
 * UINT32_MAX thousandths is -ERANGE. */
int parse_cpus_milli(const char *s, uint32_t *ret_milli);

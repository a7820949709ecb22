/* monotime: the monotonic clock (CLOCK_MONOTONIC, the clock of libuv's uv_hrtime()), for
 * durations measured where libuv is not at hand (parsers, the result, the sampler's thread).
 * Owns nothing. */
#ifndef PYTESTMON_MONOTIME_H
#define PYTESTMON_MONOTIME_H

#include <stdint.h>

/* Nanoseconds on the monotonic clock. */
uint64_t monotime_ns(void);

#endif

/* benchutil: the clock and the peak-RSS reading shared by the C bench drivers. */
#ifndef PYTESTMON_BENCHUTIL_H
#define PYTESTMON_BENCHUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Seconds on CLOCK_MONOTONIC. */
/* How many times a bench program reads its file ($BENCH_REPEAT, default 1); it reports the
 * fastest: one read of a 2 MB file takes ~3-6 ms, about the size of this machine's noise. */
static inline int bench_repeat(void)
{
    const char *s = getenv("BENCH_REPEAT");
    int n = s ? atoi(s) : 1;
    return n >= 1 && n <= 1000 ? n : 1;
}

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* VmHWM of /proc/self/status in kB, -1 if unreadable. (Not getrusage's ru_maxrss: Linux
 * carries it across exec, so it reports the parent's RSS when that is larger.) */
static inline long bench_vm_hwm_kb(void)
{
    long kb = -1;
    char line[256];
    FILE *st = fopen("/proc/self/status", "r");
    while (st && fgets(line, sizeof line, st))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = atol(line + 6);
    if (st)
        fclose(st);
    return kb;
}

#endif

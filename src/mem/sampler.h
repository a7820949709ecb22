/* sampler: a libuv timer that samples a process tree's memory every N ms.
 *
 * Owns: a bounded timeline (at most SAMPLER_MAX_POINTS; when full, adjacent points merge
 * pairwise and later points each cover twice as many samples, keeping the max), peak tree
 * RSS and VMS, the test running at the RSS peak (asked of the caller's callback), and the
 * per-test RSS growth (top SAMPLER_TOP_TESTS tests).
 *
 * Growth of a test = tree RSS at the last sample it was seen running - tree RSS at the
 * sample before it was first seen (coarse: as fine as the interval).
 *
 * Lifetime: sampler_new -> sampler_start/stop (any number) -> sampler_close, which frees
 * the sampler in the timer's close callback (run the loop afterwards). */
#ifndef PYTESTMON_SAMPLER_H
#define PYTESTMON_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define SAMPLER_MAX_POINTS 300
#define SAMPLER_TOP_TESTS 5

typedef struct Sampler Sampler;

/* Returns the id of the test running now, or NULL. Borrowed until the call returns. */
typedef const char *(*SamplerCurrentTestFn)(void *ud);
/* Called after every timer sample (optional). */
typedef void (*SamplerOnSampleFn)(Sampler *s, void *ud);
/* Called from the close callback, just before the sampler is freed (optional). */
typedef void (*SamplerOnClosedFn)(void *ud);

typedef struct {
    uint64_t t_first_ms, t_last_ms; /* since sampler_new */
    uint64_t rss, vms;              /* max over the merged samples (tree sums) */
    uint32_t nproc;                 /* max processes over the merged samples */
    uint32_t count;                 /* samples merged into this point */
} SamplerPoint;

typedef struct {
    char *test;            /* owned by the sampler */
    uint64_t rss_before, rss_after;
    int64_t growth;        /* rss_after - rss_before */
} SamplerTestGrowth;

Sampler *sampler_new(uv_loop_t *loop, const char *root, int pid, unsigned interval_ms,
                     SamplerCurrentTestFn current_test, void *ud);
void sampler_set_on_sample(Sampler *s, SamplerOnSampleFn fn);
int sampler_start(Sampler *s);      /* 0 or a negative uv/errno code */
void sampler_stop(Sampler *s);
/* Stops, closes the timer, frees in the close callback (then calls on_closed). */
void sampler_close(Sampler *s, SamplerOnClosedFn on_closed);

/* Takes one sample now (also what the timer does). -ESRCH when the root pid is gone
 * (the timer then stops by itself). */
int sampler_sample_now(Sampler *s);
/* From now on samples the tree of `pid` (a run served by a warm process: its fork, not the
 * stand-in that was started). */
void sampler_set_pid(Sampler *s, int pid);
/* Records one tree sample taken elsewhere (tests feed synthetic values here). */
void sampler_add(Sampler *s, uint64_t t_ms, uint64_t rss, uint64_t vms, uint32_t nproc);
/* Finishes the growth of the test that is still running (call at the end of a run). */
void sampler_finish(Sampler *s);

const SamplerPoint *sampler_timeline(const Sampler *s, size_t *n);
uint64_t sampler_samples(const Sampler *s);     /* samples taken in total */
/* The higher of sampler_peak_tree_rss() and sampler_peak_hwm(): the run's peak when nothing
 * exact is known. */
uint64_t sampler_peak_rss(const Sampler *s);
/* The highest tree RSS sampled (the sum over the root and its descendants). */
uint64_t sampler_peak_tree_rss(const Sampler *s);
/* The highest VmHWM of the root process (not its children) read at a sample. */
uint64_t sampler_peak_hwm(const Sampler *s);
uint64_t sampler_peak_vms(const Sampler *s);
uint32_t sampler_peak_nproc(const Sampler *s);
const char *sampler_peak_test(const Sampler *s); /* test at the RSS peak, or NULL */
/* Top tests by growth, largest first; *n <= SAMPLER_TOP_TESTS. */
const SamplerTestGrowth *sampler_top_tests(const Sampler *s, size_t *n);
bool sampler_gone(const Sampler *s);            /* the root process went away */
/* Cost of the last sample, in nanoseconds (monotonic clock). */
uint64_t sampler_last_cost_ns(const Sampler *s);

#endif

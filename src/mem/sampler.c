/* sampler: periodic process-tree memory sampling on a libuv timer (see sampler.h). */
#include "mem/sampler.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mem/procmem.h"
#include "mem/proctree.h"
#include "base/monotime.h"
#include "base/strbuf.h"

struct Sampler {
    uv_timer_t timer;
    uv_loop_t *loop;
    char *root;
    int pid;
    unsigned interval_ms;
    uint64_t t0;
    SamplerCurrentTestFn current_test;
    SamplerOnSampleFn on_sample;
    SamplerOnClosedFn on_closed;
    void *ud;
    ProcTreeSample scratch;

    SamplerPoint points[SAMPLER_MAX_POINTS];
    size_t npoints;
    uint32_t stride;          /* samples per point now */
    uint64_t samples;

    bool have_peak;
    uint64_t peak_rss, peak_vms;
    uint64_t peak_hwm;     /* VmHWM of the sampled process (not its children), highest read */
    uint32_t peak_nproc;
    char *peak_test;

    SamplerTestGrowth top[SAMPLER_TOP_TESTS];
    size_t ntop;
    char *cur_test;
    uint64_t cur_rss_before, cur_rss_last;
    bool have_prev;
    uint64_t prev_rss;

    bool gone;
    uint64_t last_cost_ns;
};

static void on_timer(uv_timer_t *t);

Sampler *sampler_new(uv_loop_t *loop, const char *root, int pid, unsigned interval_ms,
                     SamplerCurrentTestFn current_test, void *ud)
{
    Sampler *s = xcalloc(1, sizeof *s);
    s->loop = loop;
    s->root = xstrdup(root ? root : "");
    s->pid = pid;
    s->interval_ms = interval_ms ? interval_ms : 1;
    s->current_test = current_test;
    s->ud = ud;
    s->stride = 1;
    s->t0 = uv_now(loop);
    proctree_sample_init(&s->scratch);
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    return s;
}

void sampler_set_on_sample(Sampler *s, SamplerOnSampleFn fn)
{
    s->on_sample = fn;
}

int sampler_start(Sampler *s)
{
    return uv_timer_start(&s->timer, on_timer, 0, s->interval_ms);
}

void sampler_stop(Sampler *s)
{
    uv_timer_stop(&s->timer);
}

static void on_close(uv_handle_t *h)
{
    Sampler *s = h->data;
    if (s->on_closed)
        s->on_closed(s->ud);
    free(s->root);
    free(s->peak_test);
    free(s->cur_test);
    for (size_t i = 0; i < s->ntop; i++)
        free(s->top[i].test);
    proctree_sample_destroy(&s->scratch);
    free(s);
}

void sampler_close(Sampler *s, SamplerOnClosedFn on_closed)
{
    s->on_closed = on_closed;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, on_close);
}

static void merge_into(SamplerPoint *dst, const SamplerPoint *src)
{
    if (src->t_first_ms < dst->t_first_ms)
        dst->t_first_ms = src->t_first_ms;
    if (src->t_last_ms > dst->t_last_ms)
        dst->t_last_ms = src->t_last_ms;
    if (src->rss > dst->rss)
        dst->rss = src->rss;
    if (src->vms > dst->vms)
        dst->vms = src->vms;
    if (src->nproc > dst->nproc)
        dst->nproc = src->nproc;
    dst->count += src->count;
}

static void timeline_add(Sampler *s, const SamplerPoint *p)
{
    if (s->npoints > 0 && s->points[s->npoints - 1].count < s->stride) {
        merge_into(&s->points[s->npoints - 1], p);
        return;
    }
    if (s->npoints == SAMPLER_MAX_POINTS) {
        size_t j = 0;
        for (size_t i = 0; i < s->npoints; i += 2, j++) {
            SamplerPoint m = s->points[i];
            if (i + 1 < s->npoints)
                merge_into(&m, &s->points[i + 1]);
            s->points[j] = m;
        }
        s->npoints = j;
        s->stride *= 2;
        if (s->points[s->npoints - 1].count < s->stride) {
            merge_into(&s->points[s->npoints - 1], p);
            return;
        }
    }
    s->points[s->npoints++] = *p;
}

static void top_insert(Sampler *s, const char *test, uint64_t before, uint64_t after)
{
    int64_t growth = (int64_t)after - (int64_t)before;
    size_t pos = s->ntop;
    while (pos > 0 && s->top[pos - 1].growth < growth)
        pos--;
    if (pos >= SAMPLER_TOP_TESTS)
        return;
    if (s->ntop == SAMPLER_TOP_TESTS)
        free(s->top[--s->ntop].test);
    memmove(&s->top[pos + 1], &s->top[pos], (s->ntop - pos) * sizeof s->top[0]);
    s->top[pos].test = xstrdup(test);
    s->top[pos].rss_before = before;
    s->top[pos].rss_after = after;
    s->top[pos].growth = growth;
    s->ntop++;
}

void sampler_finish(Sampler *s)
{
    if (!s->cur_test)
        return;
    top_insert(s, s->cur_test, s->cur_rss_before, s->cur_rss_last);
    free(s->cur_test);
    s->cur_test = NULL;
}

void sampler_add(Sampler *s, uint64_t t_ms, uint64_t rss, uint64_t vms, uint32_t nproc)
{
    const char *test = s->current_test ? s->current_test(s->ud) : NULL;
    SamplerPoint p = {t_ms, t_ms, rss, vms, nproc, 1};
    timeline_add(s, &p);
    s->samples++;

    if (!s->have_peak || rss > s->peak_rss) {
        free(s->peak_test);
        s->peak_test = test ? xstrdup(test) : NULL;
        s->peak_rss = rss;
    }
    if (!s->have_peak || vms > s->peak_vms)
        s->peak_vms = vms;
    if (!s->have_peak || nproc > s->peak_nproc)
        s->peak_nproc = nproc;
    s->have_peak = true;

    if (s->cur_test && (!test || strcmp(test, s->cur_test) != 0))
        sampler_finish(s);
    if (test && !s->cur_test) {
        s->cur_test = xstrdup(test);
        s->cur_rss_before = s->have_prev ? s->prev_rss : rss;
    }
    if (s->cur_test)
        s->cur_rss_last = rss;
    s->prev_rss = rss;
    s->have_prev = true;
}

int sampler_sample_now(Sampler *s)
{
    uint64_t t = monotime_ns();
    int rc = proctree_sample(s->root, s->pid, &s->scratch);
    s->last_cost_ns = monotime_ns() - t;
    if (rc < 0) {
        s->gone = true;
        return rc == -ENOENT ? -ESRCH : rc;
    }
    /* pytest's own high-water mark: a peak that came and went between two samples (300 MB
     * touched and freed in 100 ms) is still seen. */
    ProcStatus st;
    if (procmem_read_status(s->root, s->pid, &st) == 0 && st.vm_hwm > s->peak_hwm)
        s->peak_hwm = st.vm_hwm;
    uv_update_time(s->loop);
    sampler_add(s, uv_now(s->loop) - s->t0, s->scratch.rss, s->scratch.vms,
                (uint32_t)s->scratch.nproc);
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    Sampler *s = t->data;
    if (sampler_sample_now(s) < 0)
        uv_timer_stop(&s->timer);
    if (s->on_sample)
        s->on_sample(s, s->ud);
}

const SamplerPoint *sampler_timeline(const Sampler *s, size_t *n)
{
    *n = s->npoints;
    return s->points;
}

uint64_t sampler_samples(const Sampler *s)
{
    return s->samples;
}

uint64_t sampler_peak_rss(const Sampler *s)
{
    return s->peak_hwm > s->peak_rss ? s->peak_hwm : s->peak_rss;
}

uint64_t sampler_peak_tree_rss(const Sampler *s)
{
    return s->peak_rss;
}

uint64_t sampler_peak_hwm(const Sampler *s)
{
    return s->peak_hwm;
}

uint64_t sampler_peak_vms(const Sampler *s)
{
    return s->peak_vms;
}

uint32_t sampler_peak_nproc(const Sampler *s)
{
    return s->peak_nproc;
}

const char *sampler_peak_test(const Sampler *s)
{
    return s->peak_test;
}

const SamplerTestGrowth *sampler_top_tests(const Sampler *s, size_t *n)
{
    *n = s->ntop;
    return s->top;
}

void sampler_set_pid(Sampler *s, int pid)
{
    s->pid = pid;
    s->gone = false;
}

bool sampler_gone(const Sampler *s)
{
    return s->gone;
}

uint64_t sampler_last_cost_ns(const Sampler *s)
{
    return s->last_cost_ns;
}

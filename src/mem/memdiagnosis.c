/* memdiagnosis: the memory story of one pytest run (see memdiagnosis.h). */
#include "mem/memdiagnosis.h"

#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "base/textclean.h"
#include "mem/memreport.h"

void memdiagnosis_init(MemDiagnosis *m)
{
    *m = (MemDiagnosis){0};
    headroom_init(&m->before);
    headroom_init(&m->last);
}

void memdiagnosis_destroy(MemDiagnosis *m)
{
    headroom_destroy(&m->before);
    headroom_destroy(&m->last);
}

void memdiagnosis_track_headroom(MemDiagnosis *m, const char *root, int pid)
{
    Headroom *h = m->have_before ? &m->last : &m->before;
    if (memreport_headroom(root, pid, h) != 0)
        return;
    if (m->have_before)
        m->have_last = true;
    m->have_before = true;
    m->read_ns = uv_hrtime();
}

const Headroom *memdiagnosis_headroom(const MemDiagnosis *m, uint64_t max_age_ms)
{
    if (!m->have_before || uv_hrtime() - m->read_ns > max_age_ms * 1000000)
        return NULL;
    return m->have_last ? &m->last : &m->before;
}

bool memdiagnosis_note_sample(MemDiagnosis *m, const Sampler *sm)
{
    size_t n;
    const SamplerPoint *pts = sampler_timeline(sm, &n);
    if (n == 0 || pts[n - 1].rss == m->tree_rss)
        return false;
    m->tree_rss = pts[n - 1].rss;
    if (m->tree_rss > m->tree_rss_high)
        m->tree_rss_high = m->tree_rss;
    return true;
}

uint64_t memdiagnosis_take_high(MemDiagnosis *m)
{
    uint64_t high = m->tree_rss_high;
    m->tree_rss_high = m->tree_rss;
    return high;
}

/* The test running at the peak, to show: cleaned and capped (textclean.h). */
static json_t *shown_test(const char *s)
{
    char *t = textclean_dup(s, strlen(s), 0, TEXTCLEAN_ID_MAX);
    json_t *j = json_string(t);
    free(t);
    return j ? j : json_string("");
}

json_t *memdiagnosis_json(Sampler *sm)
{
    json_t *m = json_object();
    if (!sm)
        return m;
    sampler_finish(sm);
    json_object_set_new(m, "peak_rss", json_integer((json_int_t)sampler_peak_rss(sm)));
    json_object_set_new(m, "peak_source", json_string("samples"));
    json_object_set_new(m, "tree_peak_rss", json_integer((json_int_t)sampler_peak_tree_rss(sm)));
    json_object_set_new(m, "peak_vms", json_integer((json_int_t)sampler_peak_vms(sm)));
    json_object_set_new(m, "peak_nproc", json_integer(sampler_peak_nproc(sm)));
    json_object_set_new(m, "samples", json_integer((json_int_t)sampler_samples(sm)));
    const char *peak_test = sampler_peak_test(sm);
    if (peak_test)
        json_object_set_new(m, "peak_test", shown_test(peak_test));
    size_t n;
    const SamplerPoint *pts = sampler_timeline(sm, &n);
    json_t *tl = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(tl, json_pack("{s:I, s:I, s:I, s:i}", "t_ms", (json_int_t)pts[i].t_last_ms,
                                            "rss", (json_int_t)pts[i].rss, "vms", (json_int_t)pts[i].vms,
                                            "nproc", (int)pts[i].nproc));
    json_object_set_new(m, "timeline", tl);
    const SamplerTestGrowth *top = sampler_top_tests(sm, &n);
    json_t *growth = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(growth, json_pack("{s:s, s:I}", "nodeid", top[i].test ? top[i].test : "",
                                                "growth", (json_int_t)top[i].growth));
    json_object_set_new(m, "top_growth", growth);
    return m;
}

/* pytest's VmHWM at a sample may include the few pages its process touched between a test's
 * reading and the next test's reset: within this much of a test's peak, the peak is that test's. */
#define MEMDIAGNOSIS_SAME_PEAK (1024 * 1024)

void memdiagnosis_exact_peak(json_t *memory, const Sampler *sm, const json_t *exact)
{
    if (!exact || !sm)
        return;
    json_int_t rss = json_integer_value(json_object_get(exact, "rss"));
    json_int_t hwm = (json_int_t)sampler_peak_hwm(sm);
    json_object_set_new(memory, "peak_source", json_string("plugin"));
    if (hwm <= rss + MEMDIAGNOSIS_SAME_PEAK) {
        json_object_set(memory, "peak_test", json_object_get(exact, "nodeid"));
        json_object_set(memory, "peak_when", json_object_get(exact, "when"));
    } else {
        json_object_del(memory, "peak_test");
        json_object_set_new(memory, "peak_when", json_string("pytest"));
    }
    if (hwm > rss)
        rss = hwm;
    json_object_set_new(memory, "peak_rss", json_integer(rss));
    if (rss > json_integer_value(json_object_get(memory, "peak_vms"))) /* VMS >= RSS */
        json_object_set_new(memory, "peak_vms", json_integer(rss));
}

void memdiagnosis_diagnose(MemDiagnosis *m, const char *root, const MemDiagnosisEnd *end, json_t *memory)
{
    if (!end->spawned || (!end->saw_enomem && (!end->term_signal || end->cancelled || end->timed_out)))
        return;
    /* cgroup counters after the run: read from a process in pytest's cgroup. */
    Headroom after;
    headroom_init(&after);
    bool have_after = memreport_headroom(root, end->same_cgroup_pid, &after) == 0;
    if (have_after && m->have_last) {
        m->last.has_oom_kill = after.has_oom_kill;
        m->last.oom_kill = after.oom_kill;
    }
    HeadroomDeath d = {
        .before = m->have_before ? &m->before : NULL,
        .after = m->have_last ? &m->last : (have_after ? &after : NULL),
        .exit_signal = end->term_signal,
        .exit_status = (int)end->exit_status,
        .saw_enomem = end->saw_enomem,
    };
    HeadroomDiagnosis diag;
    headroom_diagnose(&d, &diag);
    json_object_set_new(memory, "diagnosis", json_string(diag.sentence ? diag.sentence : ""));
    json_object_set_new(memory, "diagnosis_cause", json_string(diag.cause ? diag.cause : "none"));
    json_object_set_new(memory, "memory_related", json_boolean(diag.memory_related));
    headroom_diagnosis_destroy(&diag);
    headroom_destroy(&after);
}

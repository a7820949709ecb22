/* memdiagnosis: the memory story of one pytest run, told from what the runner observes.
 *
 * Owns: pytest's headroom at its first and latest reading (so that if pytest dies we know
 * which limit was near), the tree RSS of the latest sample and the highest one since the
 * last progress push (a spike between two pushes is still reported), the `memory` object
 * of the run's result built from the run's sampler (see HACKING.md, event `finished`),
 * and the diagnosis of a death by signal or ENOMEM. The runner owns the sampler's
 * lifetime and the process; this module only reads them. */
#ifndef PYTESTMON_MEMDIAGNOSIS_H
#define PYTESTMON_MEMDIAGNOSIS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "mem/headroom.h"
#include "mem/sampler.h"

typedef struct {
    Headroom before, last;   /* pytest's headroom at its first and latest reading */
    bool have_before, have_last;
    uint64_t read_ns;        /* uv_hrtime() of the latest of the two */
    uint64_t tree_rss;       /* latest sample */
    uint64_t tree_rss_high;  /* highest sample since the last memdiagnosis_take_high() */
} MemDiagnosis;

/* How the run ended: what the diagnosis needs. */
typedef struct {
    bool spawned, cancelled, timed_out;
    bool saw_enomem;         /* the output said MemoryError / "Cannot allocate memory" */
    int term_signal;
    int64_t exit_status;
    int same_cgroup_pid;     /* a live process in pytest's cgroup (we: pytest is our child) */
} MemDiagnosisEnd;

void memdiagnosis_init(MemDiagnosis *m);
void memdiagnosis_destroy(MemDiagnosis *m);

/* Reads the headroom of `pid` under `root` now: the first reading is kept as the one
 * before, later ones replace the latest. A failed read changes nothing. */
void memdiagnosis_track_headroom(MemDiagnosis *m, const char *root, int pid);
/* The latest headroom if read within max_age_ms, else NULL. Borrowed until the next
 * memdiagnosis_track_headroom(). */
const Headroom *memdiagnosis_headroom(const MemDiagnosis *m, uint64_t max_age_ms);

/* Notes the sampler's latest point. True when the tree RSS changed. */
bool memdiagnosis_note_sample(MemDiagnosis *m, const Sampler *sm);
/* The highest tree RSS since the previous call (what a progress push reports); the next
 * period starts from the latest sample. */
uint64_t memdiagnosis_take_high(MemDiagnosis *m);

/* {peak_rss, peak_source "samples", tree_peak_rss, peak_vms, peak_nproc, samples, peak_test?,
 * timeline, top_growth}: a new reference; {} when sm is NULL. Finishes the growth of the test
 * still running. peak_rss is then the higher of the tree's sampled RSS and pytest's VmHWM at
 * the samples; tree_peak_rss the tree's alone. */
json_t *memdiagnosis_json(Sampler *sm);

/* The run's peak from exact peaks: `exact` is {rss, nodeid, when} (reportfeed_peak(): the highest
 * peak the plugin measured in any process that ran tests, a test's own or its process's before
 * it). Sets peak_rss to the higher of it and pytest's own VmHWM at the samples (its process
 * outside the measured tests: after the last one; under xdist the controller), peak_source
 * "plugin", peak_test/peak_when to what it is of ("test", "before"; or "pytest" without
 * peak_test when that VmHWM is more than 1 MiB above), and raises peak_vms to it when lower.
 * tree_peak_rss stays the samples'. Nothing when exact or sm is NULL. */
void memdiagnosis_exact_peak(json_t *memory, const Sampler *sm, const json_t *exact);

/* When pytest died by a signal (not ours) or its output says ENOMEM: sets `diagnosis`,
 * `diagnosis_cause` and `memory_related` in `memory` (which limit was reached, or that
 * none was near). Otherwise leaves `memory` alone. */
void memdiagnosis_diagnose(MemDiagnosis *m, const char *root, const MemDiagnosisEnd *end, json_t *memory);

#endif

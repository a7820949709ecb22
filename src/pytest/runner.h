/* runner: one pytest run at a time on a libuv loop.
 *
 * Owns the pytest child (its own session and process group, so signals reach xdist
 * workers and anything pytest started; started through the exec step of execstep.h so
 * that it dies with us), its stdout/stderr pipes, the run's timers, its private 0700
 * temporary directory (privdir.h: JUnit report; kept after the run for one test's output
 * until a newer run finishes (runner_report_path), removed then or at runner_free, and swept at
 * runner_new when its owner was killed) and its log file. Output is streamed: a bounded tail in memory, everything in the log, and
 * progress parsed on the fly. When the child has exited and its pipes are drained the
 * results are read and the `finished` event fires; then the run's handles close.
 *
 * A new run while one is active cancels the old one first (SIGTERM to its group and
 * tracked descendants, SIGKILL after the grace period); the old run still reports
 * `finished` with status "cancelled". While RUNNER_MAX_CLOSING cancelled runs are still
 * ending, a new run is pending: it starts when one of their pytests has been reaped (they
 * get SIGKILL at once), and a pending run that is cancelled or superseded finishes "cancelled"
 * without starting. This bounds the pipes, log files and processes a burst of requests
 * can hold. The co-process is a child subreaper, so
 * descendants that escape the group (setsid) stay visible and are ended too. */
#ifndef PYTESTMON_RUNNER_H
#define PYTESTMON_RUNNER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "parse/coverage.h"
#include "pytest/launch.h"
#include "pytest/runresult.h"
#include "mem/headroom.h"
#include "base/strbuf.h"

/* Cancelled runs whose pytest has not been reaped yet. Each holds a process, two pipes
 * and a log file; beyond this many a new run waits (and hurries them with SIGKILL), so a
 * burst of run/cancel requests cannot exhaust the descriptors or the process table. */
#define RUNNER_MAX_CLOSING 4

typedef struct {
    LaunchRequest req;         /* cwd, file (decides the root; Nearest's file), python, args, env */
    uint64_t timeout_ms;       /* 0: none */
    uint64_t kill_grace_ms;    /* SIGTERM -> SIGKILL delay; 0 picks 2000 */
    const char *log_path;      /* full output goes here; NULL: no log */
    unsigned sample_interval_ms; /* memory sampling of the pytest tree; 0 picks 100 */
    size_t tail_bytes;         /* output kept in memory; 0 picks 64 KiB */
    int nearest_line;          /* > 0 with req.file: run the collected test (or class) around this
                                * 1-based line of `file`, found by asking pytest what it collects
                                * there first (the plugin's record, collection.h); the whole file
                                * when none contains it. 0: run `args` as they are. */
    bool coverage;             /* measure with pytest-cov (coverage.h): coverage_pytest_args() after
                                * the user's, the report read at the end and handed to `coverage` */
    char *const *coverage_files; /* with coverage: the files open in the editor (handed back) */
    size_t ncoverage_files;
    uint64_t memory_budget_mb; /* a test whose exact peak RSS growth is above this many MiB is
                                * over the budget (a warning: reportfeed.h); 0: none */
    bool warm;                 /* served by the project's warm pytest (warm.h) when it can be: pytest
                                * and Nearest's lookup are forks of it; the result says `warm` and,
                                * when it was cold, `warm_reason`. A warm pytest of the project is
                                * started after the run. false: cold, as before. */
} RunSpec;

/* A run's life. Each step is checked against the table in runner.c and told to
 * RunnerEvents.state:
 *   PENDING     asked for; waiting for its turn (RUNNER_MAX_CLOSING) or being launched
 *   PROBING     asking the interpreter whether it finds our plugin (first run with it)
 *   LOOKING_UP  asking pytest what it collects in the file, for the test around the line
 *   RUNNING     pytest runs; its output is read
 *   DRAINING    pytest exited; the rest of its output is read
 *   FINISHED    `finished` was sent (from any state: a run that could not start, a cancel);
 *               its handles close and it is freed after the last one
 * PENDING -> PROBING -> LOOKING_UP -> RUNNING -> DRAINING -> FINISHED, skipping what a run does
 * not need (no probe, no nearest line, pipes already ended at exit). */
typedef enum {
    RUN_PENDING,
    RUN_PROBING,
    RUN_LOOKING_UP,
    RUN_RUNNING,
    RUN_DRAINING,
    RUN_FINISHED,
} RunState;

/* "pending", "probing", ... (static). */
const char *runner_state_name(RunState s);
/* Whether a run may go from `from` to `to` (the table the runner enforces). */
bool runner_state_step_allowed(RunState from, RunState to);

/* Events; the json_t is borrowed until the callback returns. */
typedef struct {
    void (*started)(void *ud, json_t *event);
    void (*progress)(void *ud, json_t *event);
    void (*finished)(void *ud, json_t *result);
    /* Right after `finished` of a coverage run whose report was read: consumes cov (a heap
     * Coverage: coverage_destroy() and free()); `files` (the spec's coverage_files,
     * NULL-terminated) is borrowed until the callback returns. */
    void (*coverage)(void *ud, int64_t run_id, Coverage *cov, char *const *files);
    /* {run_id, tests = [{nodeid, status, duration_s, rss_growth_bytes}, ...]}: the tests whose
     * state changed, read from the plugin's report while pytest runs (at most every
     * RUNNER_TESTS_MS, and a last one before `finished`). */
    void (*tests)(void *ud, json_t *event);
    /* Optional: what the owner observes beside a run as it ends (the co-process's and the
     * editor's RSS, its logs that are off), asked right before the result is written: the
     * result is whole when `finished` hears it (runresult.h: its one author). */
    void (*observe)(void *ud, RunObserved *out);
    /* Optional: every step of a run's life (for tests and logs). */
    void (*state)(void *ud, int64_t run_id, RunState from, RunState to);
} RunnerEvents;

/* The plugin's report is read this often while pytest runs; `tests` is pushed at most every
 * RUNNER_TESTS_MS. */
#define RUNNER_FEED_POLL_MS 50
#define RUNNER_TESTS_MS 100
/* A read of pytest's output shorter than RUNNER_PACE_BELOW bytes pauses reading that stream for
 * RUNNER_PACE_MS (runner.c, pace_reading). */
#define RUNNER_PACE_BELOW 512
#define RUNNER_PACE_MS 3

typedef struct Runner Runner;

Runner *runner_new(uv_loop_t *loop, const RunnerEvents *events, void *ud);
/* Ends every live run at once (SIGKILL) and closes all handles; `done` runs when the
 * last handle is closed, after which the Runner is freed. */
void runner_free(Runner *r, void (*done)(void *ud), void *ud);

/* Starts a run (spec borrowed; copied). Returns the run id (> 0). A run that cannot
 * start (bad cwd, no interpreter) still gets an id and reports `finished` with
 * status "error" from the loop, never synchronously. */
int64_t runner_start(Runner *r, const RunSpec *spec);
/* The id the next runner_start() will return. */
int64_t runner_next_id(const Runner *r);
/* Cancels the active or pending run; false if none. */
bool runner_cancel(Runner *r);
/* A run is active or pending. */
bool runner_active(const Runner *r);
/* The report file (JUnit-shaped XML) of run `run_id` (0: the latest finished run), for one
 * test's output: the latest finished run's is kept (with its private directory) until a newer
 * run finishes; the active run's is the one pytest is still writing. Borrowed until the loop
 * runs again; NULL when that run's report is not kept (*latest: the kept run's id, 0 if none). */
const char *runner_report_path(const Runner *r, int64_t run_id, int64_t *latest);
/* pid of the active pytest process, or 0. */
int runner_active_pid(const Runner *r);
/* The active pytest's headroom as last sampled, if that was at most max_age_ms ago (borrowed
 * until the loop runs again), else NULL: no run, not yet sampled, or sampling too sparse. */
const Headroom *runner_active_headroom(const Runner *r, uint64_t max_age_ms);
/* The warm pytests (warm.h): borrowed. */
struct WarmPool *runner_warm_pool(Runner *r);

#endif

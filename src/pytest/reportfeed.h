/* reportfeed: the plugin's report file (python/pytestmon_hooks/report.py), read while pytest writes it.
 *
 * Owns the file descriptor (opened once the file exists), the JunitStream it feeds with what was
 * appended since the last poll (junit.h: one reader for the live stream and the final report),
 * and the run's table of tests: each test's status (running|passed|failed|error|skipped|xfailed|
 * xpassed), duration and exact memory growth (the plugin's pytestmon.rss: peak - rss at start),
 * which tests changed since the caller last took them, and the counts a status line shows
 * (done/total/failed, the test running now). A subtest pytest counts (junit.h: the plugin's
 * testcase with `subtest`) is an entry of its own beside its test's, counted in `failed` (as in
 * pytest's "3 failed") but not in `done`. Knows no libuv: the runner polls on its timer.
 *
 * A report that stops parsing (malformed: a pytest that died mid-write, or not the plugin's file)
 * keeps what it had; the final result still comes from the whole file (report.h) or the
 * terminal, as without a feed. */
#ifndef PYTESTMON_REPORTFEED_H
#define PYTESTMON_REPORTFEED_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "parse/report.h"

typedef struct ReportFeed ReportFeed;

/* Follows the report at `path` (copied; the file need not exist yet). The run's result is
 * aggregated as testcases arrive (report.h's ReportBuilder, with `root` as the start and project
 * directory and `keep_slowest`), so that little is left to read when pytest exits. */
ReportFeed *reportfeed_new(const char *path, const char *root, size_t keep_slowest);
void reportfeed_free(ReportFeed *f);

/* Reads and parses what was appended since the last poll. True when anything the status line
 * or the `tests` event shows changed. */
bool reportfeed_poll(ReportFeed *f);
/* pytest has exited: reads the rest and ends the stream. Returns the stream's outcome (0: the
 * report was complete, else a junit.h error code; -ENOENT when there never was a file). */
int reportfeed_finish(ReportFeed *f);

/* After reportfeed_finish(): the result aggregated from the whole report into *out (the caller
 * report_destroy()s it), and 0; or the reason there is none (the report was not complete and
 * well-formed, not the plugin's, or taken already), *out untouched: read the file then. */
int reportfeed_take_report(ReportFeed *f, Report *out);

/* The plugin has written to the report (its session element): its stream is the live source. */
bool reportfeed_active(const ReportFeed *f);
/* pytest's rootdir as the plugin told it, or NULL (borrowed until the feed is freed). */
const char *reportfeed_rootdir(const ReportFeed *f);

/* {done, total, failed, percent, current?}, as runresult_progress_json() without a feed: a new
 * reference. */
json_t *reportfeed_progress_json(const ReportFeed *f);
/* The test started last that is still running, or NULL (borrowed until the next poll). */
const char *reportfeed_current(const ReportFeed *f);

/* The tests whose entry changed since the last call, in the order they changed, as
 * [{nodeid, subtest?, status, duration_s, rss_growth_bytes, rss_peak_bytes?, gc?, over_budget?},
 * ...] (rss_growth_bytes -1 when unknown; subtest: a subtest of test nodeid, described, display
 * text; rss_peak_bytes the exact peak; gc [gen0, gen1, gen2, collected, uncollectable, gc_ns,
 * garbage_growth] when the collector ran during the test or gc.garbage grew; over_budget true
 * when above the budget), or NULL when none did: a new reference. */
json_t *reportfeed_take_tests(ReportFeed *f);

/* The failures (report_failure_json()) aggregated since the last call, in order, or NULL when
 * there are none (or the report was taken): a new reference. With them the caller can show each
 * failure while pytest runs and need not send the whole list again at the end. */
json_t *reportfeed_take_failures(ReportFeed *f);
/* How many failures reportfeed_take_failures() has handed out. */
size_t reportfeed_failures_taken(const ReportFeed *f);

/* Calls fn for each test that failed or errored so far, in the order they finished. */
void reportfeed_foreach_failed(const ReportFeed *f, void (*fn)(void *ud, const char *nodeid, bool is_error),
                               void *ud);

/* How many finished tests (and subtests) have each status (each counts once, by its first
 * verdict). */
void reportfeed_counts(const ReportFeed *f, long *passed, long *failed, long *errors, long *skipped,
                       long *xfailed, long *xpassed);

/* The highest exact peak RSS the plugin measured (pytestmon.rss, in the process that ran the test)
 * as {rss, nodeid, when} (a new reference), or NULL when it measured none: `when` "test" for a
 * test's own peak, "before" for the peak of its process before it (the interpreter's start-up and
 * the collection, told with the first test a process ran). */
json_t *reportfeed_peak(const ReportFeed *f);

/* A test whose exact growth (pytestmon.rss: peak - rss at start) is above `bytes` is over the
 * run's memory budget (a warning, not a failure); 0: no budget. Set it before the first poll. */
void reportfeed_set_budget(ReportFeed *f, long long bytes);
/* The tests over the budget so far, in the order they were read, as [{nodeid (identity), growth,
 * file?, line}] (file absolute, line 1-based, 0 unknown), or NULL without a budget: a new
 * reference. Their `tests` entries carry over_budget = true. */
json_t *reportfeed_over_budget(const ReportFeed *f);

/* How many tests the tops of a run's result list (:PytestMemory). */
#define REPORTFEED_TOP_TESTS 10

typedef enum { REPORTFEED_TOP_GROWTH, REPORTFEED_TOP_PEAK, REPORTFEED_TOP_GC } ReportFeedTop;

/* The `n` tests with the largest exact growth (pytestmon.rss: peak - rss at start), peak RSS or
 * time in the garbage collector (pytestmon.gc), largest first (ties by node id), as [{nodeid
 * (display text), status, growth?, peak?, gc?, over_budget?}, ...]: each test's measures as in
 * `tests` (a new reference; empty when the plugin measured none). */
json_t *reportfeed_top(const ReportFeed *f, size_t n, ReportFeedTop by);
/* reportfeed_top() by growth. */
json_t *reportfeed_top_growth(const ReportFeed *f, size_t n);

#endif

/* report: the results of one pytest run, aggregated from its JUnit XML (junit.h + location.h).
 *
 * A Report lives in caller's storage (report_from_junit() fills it, report_destroy() frees what
 * it owns); every string and array inside is owned by the Report. Nothing in it refers to the
 * XML file after report_from_junit() returns.
 *
 * Counting (from the testcases, never from the suite counters): each <testcase> adds to exactly
 * one counter by its junit.h outcome -- passed (incl. non-strict xpass, which JUnit cannot tell
 * apart), failed, errors (setup/teardown errors, collection errors, internal errors), skipped,
 * xfailed, xpassed (strict xpass only; pytest's own summary counts these as "failed").
 * Consequences: a test whose call failed and whose teardown errored gives one `failed` and one
 * `errors` (two testcases, two Failure entries), like pytest; a test that passed but whose teardown
 * errored is one testcase in the XML, so it counts as an error only (pytest: passed + error).
 * Nameless testcases (written by pytest.exit / Ctrl-C) are ignored. A subtest's testcase (the
 * plugin's, junit.h) counts by its outcome as pytest counts it ("3 failed": two subtests and the
 * test they made fail), its failure is one of its own (Failure.subtest) and it is no slow test.
 * When the report comes from the pytestmon plugin, its "pytestmon.counts" replace these counts
 * with pytest's own (and add deselected); its exact frames and node ids replace the ones
 * recovered from traceback text (frames.h). */
#ifndef PYTESTMON_REPORT_H
#define PYTESTMON_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/strbuf.h"
#include "parse/junit.h"

typedef enum {
    FAILURE_FAILED,       /* "failed": assertion/exception in the test call */
    FAILURE_ERROR,        /* "error": error in fixture setup/teardown, internal error, xdist crash */
    FAILURE_COLLECTION,   /* "collection error": the module could not be collected */
    FAILURE_XPASS_STRICT, /* "xpass strict": an xfail(strict=True) test passed */
} FailureKind;

typedef struct {
    char *nodeid;     /* pytest node id, rootdir-relative ("tests/t.py::TestA::test_b[x::y]") */
    char *subtest;    /* a subtest of that test: pytest's description of it ("[msg] (i=1)"), else NULL */
    FailureKind kind;
    char *when;       /* "call", "setup", "teardown"; NULL for collection/internal errors */
    char *message;    /* one line (failmsg_line()), never NULL */
    char *file;       /* absolute path, line 1-based: where to jump in the test's own file */
    int line;         /* (NULL/0 only for failures without any location, e.g. internal error) */
    char *crash_file; /* absolute path of the deepest project frame when elsewhere (helper, */
    int crash_line;   /* conftest fixture); NULL/0 when none or same as file:line */
    char *memfail;    /* the plugin's facts of a memory failure (JSON, junit.h), or NULL */
} Failure;

typedef struct {
    char *nodeid;
    char *file;       /* absolute path of the test's file (NULL if unknown) */
    int line;         /* 1-based definition line (first decorator), 0 if unknown */
    double seconds;
} SlowTest;

typedef struct {
    int passed, failed, errors, skipped, xfailed, xpassed;
    int deselected;          /* known only from the plugin's counts, else 0 */
    int subtests_passed;     /* pytest's "subtests passed" (pytest-subtests; pytest 9 at -q or -v):
                              * known only from the plugin's counts, else 0 */
    bool pytest_counts;      /* the counts are pytest's own (the plugin's "pytestmon.counts") */
    double seconds;          /* sum of the <testsuite time> attributes */
    Failure *failures;       /* in XML order (xdist: completion order); nfailures entries */
    size_t nfailures;
    SlowTest *slowest;       /* the keep_slowest longest testcases, longest first */
    size_t nslowest;
} Report;

/* Read the JUnit XML at `xml_path` (written with -o junit_family=xunit1) into *out.
 * rootdir: pytest's rootdir (absolute); start_dir: where pytest was started (absolute, NULL =
 * rootdir); project_root: crash sites must be under it (NULL = rootdir). keep_slowest: how many
 * slowest tests to keep (0 = none); a node id that appears twice (call + teardown) is kept once,
 * with its larger time.
 * *out is always initialised; on error it holds whatever was read before the error (so a
 * truncated file still yields its first testcases) and the caller must still report_destroy() it.
 * Returns 0 or a junit_read() error code; `err` (may be NULL) gets a one-line message appended. */
int report_from_junit(const char *xml_path, const char *rootdir, const char *start_dir,
                      const char *project_root, size_t keep_slowest, Report *out, StrBuf *err);

/* Same from memory (tests, fuzzing). */
int report_from_junit_memory(const char *buf, size_t len, const char *rootdir,
                             const char *start_dir, const char *project_root, size_t keep_slowest,
                             Report *out, StrBuf *err);

/* The same aggregation fed one testcase at a time, as a JunitStream reads them while pytest
 * writes its report (so that little is left to do when it exits). The directories are copied.
 * report_builder_case() is a JunitCaseFn (ud: the builder). report_builder_finish() fills *out
 * as report_from_junit() would have for the testcases fed and `sum` (may be NULL), and frees the
 * builder; report_builder_free() drops one unfinished. */
typedef struct ReportBuilder ReportBuilder;
ReportBuilder *report_builder_new(const char *rootdir, const char *start_dir, const char *project_root,
                                  size_t keep_slowest);
int report_builder_case(const JunitCase *tc, void *builder);
void report_builder_finish(ReportBuilder *b, const JunitSummary *sum, Report *out);
void report_builder_free(ReportBuilder *b);
/* The failures aggregated so far, in the order they came (the finished report lists them the
 * same way): how many, and one (borrowed until the next report_builder_case()). */
size_t report_builder_nfailures(const ReportBuilder *b);
const Failure *report_builder_failure(const ReportBuilder *b, size_t i);

void report_destroy(Report *r);

/* "failed", "error", "collection error", "xpass strict". */
const char *report_failure_kind_name(FailureKind k);

/* New reference (caller owns; json_decref()):
 * {"passed":n,"failed":n,"errors":n,"skipped":n,"xfailed":n,"xpassed":n,"deselected":n,
 *  "subtests_passed":n (only when > 0),"seconds":x,
 *  "failures":[{"nodeid","subtest"?,"kind","when"?,"message","file"?,"line","crash_file"?,"crash_line"?}...],
 *  "slowest":[{"nodeid","file"?,"line","seconds"}...]}
 * A key marked ? is absent when the field is NULL (crash_line: with crash_file). */
json_t *report_to_json(const Report *r);
/* One element of report_to_json()'s "failures" (a new reference). */
json_t *report_failure_json(const Failure *f);

#endif

/* coverage: coverage.py's JSON report (what python/pytestmon_hooks/coverage.py writes to
 * $PYTESTMON_COVERAGE from pytest-cov's data) as the editor needs it, and pytest-cov's side of
 * a run (its arguments, the message when it is not installed).
 *
 * A Coverage lives in caller's storage: coverage_parse()/coverage_read() fill it and
 * coverage_destroy() frees everything it owns. Per measured file it keeps the absolute path,
 * the summary numbers and the missing lines (int32, ascending); executed lines are not kept,
 * so a report of 100k statements costs a few hundred KiB here. Pure apart from the I/O wrapper
 * and realpath() in coverage_find(); knows nothing of libuv or RPC. */
#ifndef PYTESTMON_COVERAGE_H
#define PYTESTMON_COVERAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/strbuf.h"

typedef struct {
    char *path;            /* absolute: coverage.py's relative names joined to the run's root */
    double percent;        /* summary.percent_covered (branches included under --cov-branch) */
    int64_t statements;    /* summary.num_statements */
    int64_t missing;       /* summary.missing_lines */
    int32_t *lines;        /* missing_lines, ascending; nlines of them */
    size_t nlines;
} CoverageFile;

typedef struct {
    CoverageFile *files;   /* sorted by path (coverage_find bisects) */
    size_t nfiles;
    double percent;        /* totals.percent_covered */
    int64_t statements, missing;
} Coverage;

/* Parses coverage.py's JSON report ({"files": {name: {summary, missing_lines}}, "totals"}) from
 * buf; relative file names are joined to `root` (pytest's working directory). 0, or -EINVAL
 * with a sentence in err (appended) and *out empty. *out is always initialised and must be
 * destroyed. A
 * report the plugin could not write ({"pytestmon_error": ...}) is -EINVAL with that text. */
int coverage_parse(const char *buf, size_t len, const char *root, Coverage *out, StrBuf *err);
/* The same from a file: 0, -errno (ENOENT: no report was written), or -EINVAL. */
int coverage_read(const char *path, const char *root, Coverage *out, StrBuf *err);
void coverage_destroy(Coverage *c);

/* The measured file `path` names (as given, else as realpath() resolves it), or NULL.
 * Borrowed until the Coverage is destroyed. */
const CoverageFile *coverage_find(const Coverage *c, const char *path);

/* Appends the missing lines as ranges ("3-5, 9, 20-28"), at most about `max` bytes: the rest
 * becomes ", ... (N more)". */
void coverage_ranges(const CoverageFile *f, size_t max, StrBuf *out);
/* [line, ...] of f (NULL: []): a new reference. */
json_t *coverage_lines_json(const CoverageFile *f);

/* What the editor gets first: {percent, statements, missing, nfiles, files: [[path, percent,
 * statements, missing, ranges], ...]} (arrays, not maps: cheap to decode for thousands of
 * files; ranges cut at `ranges_max` bytes). A new reference. */
json_t *coverage_summary_json(const Coverage *c, size_t ranges_max);

/* The arguments a coverage run adds after the user's (a new NULL-terminated heap array):
 * `--cov=<root>` unless the user chose what to measure (--cov, --cov=...), and `--cov-report=`
 * (pytest-cov's terminal table off; reports the user asked for are still written). */
char **coverage_pytest_args(char *const *user_args, const char *root);
/* Whether a run's usage error `error` says that pytest did not know our --cov arguments:
 * pytest-cov is not installed for that interpreter. */
bool coverage_plugin_missing(const char *error);
/* "pytest-cov is not installed for <python>: ...": a new string. */
char *coverage_missing_message(const char *python);

#endif

/* location: where a pytest failure happened, from the traceback text of one JUnit
 * <testcase> (see junit.h; the one-line message is failmsg.h, the node id nodeid.h).
 *
 * Owns the traceback candidate search and the choice of the test's place and the crash
 * site. Asks the file system through the caller's PathCache (base/path.h: stat() and
 * realpath() of the candidate paths, remembered for one report); no libuv. Implements the "robust algorithm" of
 * /work/shared/reference/pytest-results.md ("Where a failure is located"):
 *   - only the last section of a chained exception is searched;
 *   - per line: `File "P", line N` anywhere in the line (native tracebacks, SyntaxError `E` lines,
 *     ExceptionGroup `  |` frames); else lines starting with "E ", ">", "_ _ ", space or tab are
 *     skipped; else `^(.+?):([0-9]+)(:( .*)?)?$` (long/short/auto styles, fixture-not-found);
 *   - relative paths are resolved against the directory pytest was started in and normalised
 *     lexically ("a/../b"); a candidate is kept only if it names an existing regular file
 *     (this drops reprs like `x = 'a:1: b'`).
 * Every returned string is heap-allocated and owned by the caller (free() / *_destroy()). */
#ifndef PYTESTMON_LOCATION_H
#define PYTESTMON_LOCATION_H

#include <stdbool.h>

#include "base/path.h"

/* Directories the paths are relative to. Strings are borrowed for the duration of the call. */
typedef struct {
    const char *rootdir;      /* pytest's rootdir (absolute): the XML `file` is relative to it */
    const char *start_dir;    /* absolute dir pytest was started in: relative traceback paths */
    const char *project_root; /* below it only the relative part is judged (see (b)); NULL: rootdir */
} LocationDirs;

/* Where a failure is shown. Caller's storage; location_site_destroy() frees the strings. */
typedef struct {
    /* (a) In the test's own file: the last traceback entry in that file (the failing assert),
     * else the definition line (xunit1 `line`+1), else line 1. Absolute, normalised path.
     * NULL/0 only when the testcase has no `file` and no candidate was found. */
    char *file;
    int line;
    /* (b) The last traceback entry that is not installed code (no directory named
     * site-packages, dist-packages, .venv, venv or .tox, nor a Python installation's
     * lib/pythonX.Y, in its path below the project root, or in its whole path when it is
     * outside the root: `../src/pkg/mod.py` from a pytest started in a subdirectory counts):
     * e.g. a helper module or a fixture in conftest.py. NULL/0 when there is none or it is
     * the same place as (a). */
    char *crash_file;
    int crash_line;
} LocationSite;

/* Locate a failure from its failure/error text (may be NULL or ""), the testcase's `file`
 * attribute (relative to dirs->rootdir, may be NULL) and its XML `line` (0-based, -1 if absent).
 * `cache` (may be NULL: one for this call) keeps the file system's answers; keep one per
 * report, never longer (files come and go between runs). Fills *out (always initialised).
 * Returns 0 (there is nothing that can fail but allocation, which aborts). */
int location_find(const char *text, const char *case_file, int case_line0, const LocationDirs *dirs,
                  PathCache *cache, LocationSite *out);
void location_site_destroy(LocationSite *s);

#endif

/* location: where a pytest failure happened, its one-line message, and its node id.
 *
 * Functions over the strings of one JUnit <testcase> (see junit.h) plus stat()/realpath() on
 * the candidate paths, whose answers are the only state (one cache per report, see
 * location_cache_clear()); no libuv. Implements the "robust algorithm" of
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
 * Fills *out (always initialised). Returns 0 (there is nothing that can fail but allocation,
 * which aborts). */
int location_find(const char *text, const char *case_file, int case_line0, const LocationDirs *dirs,
                  LocationSite *out);
void location_site_destroy(LocationSite *s);

/* location_find() remembers stat()/realpath() answers for every distinct path it sees (a
 * hash table, freed here). Call this before and after reading one report so answers never
 * outlive it: files come and go between runs. */
void location_cache_clear(void);

/* One-line message for the quickfix list, heap-allocated, never NULL (may be "").
 *   - collection failures (message "collection failure"): the last `E ` line of the text;
 *   - doctests (text ends with ": DocTestFailure"/": UnexpectedException"): the last `E ` line,
 *     else "UNEXPECTED EXCEPTION: ...", else "Expected: X, Got: Y" from the doctest diff;
 *   - setup/teardown errors (`failed on setup with "X"`): the first line of X, unwrapped; a
 *     fixture-lookup error ("file P, line N") gives its `E ` line ("fixture 'x' not found");
 *   - otherwise: the first line of `message`; if that is empty, the last `E ` line of the text,
 *     else the first line of the text.
 * `#x1B`-style escapes are left as they are (they are literal text in the XML). */
char *location_message(const char *message, const char *text);

/* Rebuild pytest's node id from the testcase attributes:
 * file "tests/test_math.py", classname "tests.test_math.TestCalc.TestNested", name "test_div"
 *   -> "tests/test_math.py::TestCalc::TestNested::test_div"; param ids are copied verbatim
 * ("test_param[a::b]"). Collection errors (classname "", name = dotted module) -> `file`.
 * When classname does not start with the dotted form of `file` (an inherited test: `file` is the
 * base class's module), the module path is searched for under `rootdir` (may be NULL: then `file`
 * is used). Returns NULL when name is NULL. */
char *location_nodeid(const char *file, const char *classname, const char *name,
                      const char *rootdir);

/* Lexically normalise `path` (relative paths are first joined to `base`, which may be NULL):
 * collapses "//", "/./" and "x/.." without touching the file system. Heap-allocated. */
char *location_normalize(const char *base, const char *path);

/* Whether two absolute paths name one file: equal once normalised lexically, or (only when their
 * last components match, to keep it cheap) the same realpath(). */
bool location_same_file(const char *a, const char *b);

#endif

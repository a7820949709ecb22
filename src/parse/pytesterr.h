/* pytesterr: what pytest's own error output says when it stops before running any test.
 *
 * Pure: parses a buffer (pytest's stderr) and fills an out-struct; knows nothing of libuv or
 * of the rest of a run. Today: the conftest.py that failed to import, pytest's
 *   ImportError while loading conftest '/abs/conftest.py'.
 *   conftest.py:2: in <module>
 *       import missing
 *   E   ModuleNotFoundError: No module named 'missing'
 * The place is the last "PATH:LINE: in ..." entry of that traceback (relative paths are
 * relative to the directory pytest ran in), the message its last "E   " line. */
#ifndef PYTESTMON_PYTESTERR_H
#define PYTESTMON_PYTESTERR_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *conftest; /* absolute path of the conftest.py pytest named */
    char *file;     /* absolute, normalised path of the failing line (often the conftest) */
    int line;       /* 1-based; 0 when the traceback named no line */
    char *message;  /* "ModuleNotFoundError: No module named 'missing'" (never NULL when found) */
} PytestConftestError;

/* True (and *out filled; free with pytesterr_conftest_destroy) when text holds a conftest
 * import error. start_dir: where pytest ran (absolute). */
bool pytesterr_conftest(const char *text, size_t len, const char *start_dir, PytestConftestError *out);
void pytesterr_conftest_destroy(PytestConftestError *e);

#endif

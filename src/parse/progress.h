/* progress: a pure, incremental parser of pytest's terminal output (`-v`, serial or xdist).
 *
 * Owns the parse state of one run: counters, percent, the test(s) running now, total collected,
 * rootdir, the final summary line, and the list of tests finished since the caller last asked.
 * Knows nothing of libuv: the caller hands it the lines of a TermLine (termline.h: progress_line,
 * and progress_partial for the line still coming) or feeds whatever chunks it reads
 * (progress_feed: any split, including mid-line and mid-UTF-8) and polls
 * `progress_take_changed()` when it wants to push (it throttles).
 *
 * Formats understood (pytest 7.2 .. 9, checked against real 7.2.1 output):
 *   serial -v: `NODEID ` at test start, `STATUS[ (reason)]  [ 42%]` (or `[ 3/28]`, or nothing
 *              with -s / console_output_style=classic) appended at its end. With -s the test's
 *              own output comes in between, possibly glued to the status (`outputPASSED`).
 *              A teardown error adds a second line `NODEID ERROR [ 42%]` for the same test.
 *   xdist -v:  `NODEID ` when a worker starts a test, `[gw0] [  7%] STATUS NODEID ` at its end.
 *   headers:   `rootdir: PATH[, configfile: X]`, `collected N items[ / M deselected / K selected]`,
 *              `gw0 [N] / gw1 [N]`, `N workers [M items]`; final `= 1 failed, 2 passed in 0.05s =`.
 *
 * Memory is bounded whatever the input: of one line it sees the first PROGRESS_LINE_HEAD bytes
 * and the last PROGRESS_LINE_TAIL bytes (termline.h) (so a status after 100 MB of `-s` output is still seen);
 * the list of finished tests holds at most PROGRESS_MAX_FINISHED entries between two
 * `progress_take_finished()` calls (older ones are dropped and counted); counters never lose. */
#ifndef PYTESTMON_PROGRESS_H
#define PYTESTMON_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>

#include "parse/termline.h"

#define PROGRESS_LINE_HEAD TERMLINE_HEAD
#define PROGRESS_LINE_TAIL TERMLINE_TAIL
#define PROGRESS_MAX_FINISHED 4096
#define PROGRESS_MAX_RUNNING 256

typedef enum {
    PROGRESS_PASSED,
    PROGRESS_FAILED,
    PROGRESS_ERROR,
    PROGRESS_SKIPPED,
    PROGRESS_XFAIL,
    PROGRESS_XPASS,
} ProgressStatus;


typedef struct {
    long collected;     /* -1 until a collection line was seen (selected items when deselecting) */
    long collect_errors;/* `collected N items / E errors` */
    long done;          /* distinct tests finished (a teardown ERROR line does not add one) */
    long failed_so_far; /* FAILED + ERROR lines */
    long passed, failed, errors, skipped, xfailed, xpassed; /* per status line */
    int percent;        /* 0..100 from `[ 42%]` / `[ 3/28]`; -1 until the first one */
    int workers;        /* xdist workers seen (0 = serial) */
} ProgressCounts;

/* The final summary line, parsed. Fields not in the line are 0. */
typedef struct {
    bool seen;
    long failed, passed, skipped, xfailed, xpassed, errors, deselected, warnings;
    double seconds;     /* -1 if absent */
    char *text;         /* line without the `=` fill, e.g. "1 failed, 2 passed in 0.05s"; owned */
} ProgressFinal;

typedef struct {
    char *nodeid;       /* owned */
    ProgressStatus status;
    bool teardown;      /* a second (ERROR) line for a test already reported */
    int worker;         /* xdist gwN, -1 when serial */
} ProgressResult;

typedef struct Progress Progress;

Progress *progress_new(void);
void progress_free(Progress *p);

/* One complete line from a TermLine (raw: cleaned here, on a copy). */
void progress_line(Progress *p, const char *line, size_t n);
/* The line still coming (termline_partial(); NULL when it is past its head): a serial -v
 * `NODEID ` is the start of that test. */
void progress_partial(Progress *p, const char *head, size_t n);

/* Or, for a caller that feeds only this parser: len bytes of pytest stdout+stderr, framed by
 * a TermLine of the Progress's own. Never fails; data is copied as needed. */
void progress_feed(Progress *p, const char *buf, size_t len);
/* End of stream for progress_feed(): parse a last line that had no newline. */
void progress_finish(Progress *p);

/* Borrowed until the next feed/finish/free. */
const ProgressCounts *progress_counts(const Progress *p);
const ProgressFinal *progress_final(const Progress *p);
const char *progress_rootdir(const Progress *p);   /* NULL until seen */
const char *progress_current(const Progress *p);   /* most recently started running test, or NULL */
size_t progress_running(const Progress *p, const char *const **ids); /* all running (xdist) */

/* True if anything visible (counters, percent, current, rootdir, final) changed since the last
 * call; clears the flag. */
bool progress_take_changed(Progress *p);

/* Tests finished since the last call, in output order. Sets *out to a new array the caller frees
 * with progress_results_free() (NULL when 0); *dropped (may be NULL) gets how many older ones
 * were discarded because the caller did not ask in time. */
size_t progress_take_finished(Progress *p, ProgressResult **out, size_t *dropped);
void progress_results_free(ProgressResult *r, size_t n);

/* Total bytes given to progress_feed(), and bytes of over-long lines it did not retain (for
 * diagnostics; 0 when lines come through progress_line()). */
unsigned long long progress_bytes_fed(const Progress *p);
unsigned long long progress_bytes_skipped(const Progress *p);

#endif

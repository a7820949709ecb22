/* watch: the co-process's watch mode (:PytestWatch).
 *
 * Owns the watched selection (a copy of the run options and the user's arguments), the
 * project's import graph (importgraph.h), the saves not yet acted on, the debounce timer and
 * the test files that failed in the last watch run. The loop never reads a project file's
 * text: the graph is built in libuv's thread pool, and saves that arrive meanwhile wait for
 * it. The scan is capped (WATCH_MAX_FILES .py files, WATCH_SCAN_MAX_MS): a cut graph
 * decides nothing and the `ready` event says why. Stopping, restarting or freeing the watch
 * cancels a scan in flight (it polls a flag between directory entries), so the co-process
 * can exit at once.
 *
 * On each save (watch_saved) the timer restarts; when it fires, the graph is handed to the
 * thread pool, which reads the saved files again (one larger than IMPORTGRAPH_MAX_FILE_BYTES
 * is not read: the `run`/`idle` event lists it in `skipped`) and finds the affected test
 * files (importgraph_affected); back on the loop, they become the run:
 * the user's options with, in place of their paths, the affected test files inside those
 * paths (all affected files when they gave none), files that failed last time first. When
 * the graph cannot decide, the whole selection runs as given. A new run cancels the active
 * one (runner.h). Every decision is reported with a `watch` event (see HACKING.md). */
#ifndef PYTESTMON_WATCH_H
#define PYTESTMON_WATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "pytest/runner.h"

#define WATCH_DEBOUNCE_MS 200
#define WATCH_MAX_FILES 100000   /* the scan stops at this many .py files: the graph decides nothing */
#define WATCH_SCAN_MAX_MS 10000  /* ... and after this long */
#define WATCH_SKIPPED_LISTED 20  /* at most this many too-big files listed in `ready` */

typedef struct {
    int64_t (*run)(void *ud, const RunSpec *spec); /* starts a run (spec borrowed), returns its id */
    void (*event)(void *ud, json_t *event);        /* a `watch` event; consumes it */
} WatchHooks;

typedef struct Watch Watch;

Watch *watch_new(uv_loop_t *loop, const WatchHooks *hooks, void *ud);
/* Stops watching and frees the Watch once its timer is closed and the work in flight in the
 * thread pool has ended (the loop keeps running until then: a scan is cancelled, within one
 * file's read). */
void watch_free(Watch *w);
/* The scan's caps for the next watch_start (default WATCH_MAX_FILES, WATCH_SCAN_MAX_MS). */
void watch_limit(Watch *w, size_t max_files, uint64_t max_ms);

/* Starts (or restarts) watching. `spec` is borrowed and copied (cwd, file, python, args, env,
 * timeouts); `root` is the project root the runs use (absolute). debounce_ms 0 picks
 * WATCH_DEBOUNCE_MS. */
void watch_start(Watch *w, const RunSpec *spec, const char *root, uint64_t debounce_ms);
/* Stops watching; returns whether it was on. A watch run already started goes on. */
bool watch_stop(Watch *w);
bool watch_on(const Watch *w);
/* A file was written: returns false (and ignores it) when not watching or when the file is
 * not under the root. */
bool watch_saved(Watch *w, const char *path);
/* Every finished run's result (borrowed): a watch run's failures order the next run. */
void watch_finished(Watch *w, json_t *result);

#endif

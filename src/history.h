/* history: the last N run results, newest last.
 *
 * Owns the result documents it holds and the log files they name ("log_path"): when a
 * run falls out of the history its log file is deleted with it. Capacity changes take
 * effect at once (shrinking drops the oldest). */
#ifndef PYTESTMON_HISTORY_H
#define PYTESTMON_HISTORY_H

#include <jansson.h>
#include <stddef.h>

typedef struct {
    json_t **runs;   /* owned references, oldest first */
    size_t n;
    size_t cap;
} History;

void history_init(History *h, size_t cap);
void history_destroy(History *h);   /* keeps the log files: they outlive the process */
void history_set_capacity(History *h, size_t cap);
/* Consumes `result`. Drops (and deletes the logs of) the oldest beyond capacity. */
void history_add(History *h, json_t *result);
/* Borrowed until the next change, or NULL. */
json_t *history_get(const History *h, json_int_t run_id);
/* A new array of short summaries, newest first: {run_id, args, status, summary,
 * counts, seconds, exit_code, peak_rss, started_at}. */
json_t *history_list(const History *h);

/* Leak trend over the runs that share the newest run's args: for the co-process RSS,
 * the editor RSS and pytest's peak RSS (keys "coprocess_rss", "editor_rss",
 * "memory.peak_rss" of each result), whether each grows steadily (never drops and ends
 * more than 5% and 1 MiB above where it started) across at least 3 runs. A new
 * reference: {runs, metrics: [{name, first, last, growing}], sentence}. */
json_t *history_trend(const History *h);

#endif

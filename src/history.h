/* history: the last N run results, newest last.
 *
 * Owns the result documents it holds and the log files they name ("log_path"): when a
 * run falls out of the history its log file is deleted with it. Capacity changes take
 * effect at once (shrinking drops the oldest). Each result is kept as one compact JSON
 * string, not as a tree of small allocations: a third of the memory, and a long-lived
 * co-process's heap does not fragment with every run it remembers. Readers parse on demand
 * (history_get/list/trend serve RPC requests, never the per-run path).
 *
 * Serialising a large result takes milliseconds, so history_add() keeps the tree as it is and
 * history_compact() turns it into text later, once the caller is idle (the co-process: when
 * the `finished` event has left the pipe). Until then readers see the tree. */
#ifndef PYTESTMON_HISTORY_H
#define PYTESTMON_HISTORY_H

#include <jansson.h>
#include <stddef.h>

typedef struct {
    json_int_t run_id;
    json_t *tree;    /* owned: the result until compacted, then NULL */
    char *doc;       /* owned: the result as compact JSON once compacted, else NULL */
    char *log_path;  /* owned: deleted with the entry; NULL if the run had no log */
} HistoryEntry;

typedef struct {
    HistoryEntry *runs; /* oldest first */
    size_t n;
    size_t cap;
    json_t *newest;     /* owned: {summary, status, peak_rss} of the newest run, or NULL */
} History;

void history_init(History *h, size_t cap);
void history_destroy(History *h);   /* keeps the log files: they outlive the process */
void history_set_capacity(History *h, size_t cap);
size_t history_capacity(const History *h);
/* Consumes `result`. Drops (and deletes the logs of) the oldest beyond capacity, at once:
 * whoever hears of the run next finds the displaced log gone. Cheap: no serialisation. */
void history_add(History *h, json_t *result);
/* Serialises every entry still held as a tree. Returns how many were compacted. */
size_t history_compact(History *h);
/* {summary, status, peak_rss} of the newest run (keys absent when the result lacked them),
 * borrowed until the next change; NULL when empty. Cheap: the status line reads it. */
json_t *history_newest(const History *h);

/* A new reference (parsed from the stored text), or NULL if run_id is not held. */
json_t *history_get(const History *h, json_int_t run_id);
/* A new array of short summaries, newest first: {run_id, args, status, summary,
 * counts, seconds, pytest_seconds?, exit_code, peak_rss, started_at}. */
json_t *history_list(const History *h);

/* Leak trend over the runs that share the newest run's args: for the co-process RSS,
 * the editor RSS and pytest's peak RSS (keys "coprocess_rss", "editor_rss",
 * "memory.peak_rss" of each result), whether each grows steadily (never drops and ends
 * more than 5% and 1 MiB above where it started) across at least 3 runs. A new
 * reference: {runs, metrics: [{name, first, last, growing}], sentence}. */
json_t *history_trend(const History *h);

#endif

/* history: bounded run history with log-file ownership. */
#include "history.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/strbuf.h"

void history_init(History *h, size_t cap)
{
    h->runs = NULL;
    h->n = 0;
    h->cap = cap ? cap : 1;
    h->newest = NULL;
}

void history_destroy(History *h)
{
    for (size_t i = 0; i < h->n; i++) {
        json_decref(h->runs[i].tree);
        free(h->runs[i].doc);
        free(h->runs[i].log_path);
    }
    free(h->runs);
    h->runs = NULL;
    h->n = 0;
    json_decref(h->newest);
    h->newest = NULL;
}

static void drop_oldest(History *h)
{
    HistoryEntry *old = &h->runs[0];
    if (old->log_path)
        unlink(old->log_path);
    json_decref(old->tree);
    free(old->doc);
    free(old->log_path);
    memmove(&h->runs[0], &h->runs[1], (h->n - 1) * sizeof *h->runs);
    h->n--;
}

size_t history_capacity(const History *h)
{
    return h->cap;
}

void history_set_capacity(History *h, size_t cap)
{
    h->cap = cap ? cap : 1;
    while (h->n > h->cap)
        drop_oldest(h);
}

static json_t *brief(json_t *result)
{
    json_t *b = json_object();
    json_t *v;
    if ((v = json_object_get(result, "summary")) != NULL)
        json_object_set(b, "summary", v);
    if ((v = json_object_get(result, "status")) != NULL)
        json_object_set(b, "status", v);
    if ((v = json_object_get(json_object_get(result, "memory"), "peak_rss")) != NULL)
        json_object_set(b, "peak_rss", v);
    return b;
}

json_t *history_newest(const History *h)
{
    return h->n > 0 ? h->newest : NULL;
}

void history_add(History *h, json_t *result)
{
    const char *log = json_string_value(json_object_get(result, "log_path"));
    HistoryEntry e = {
        .run_id = json_integer_value(json_object_get(result, "run_id")),
        .tree = result,
        .log_path = log ? xstrdup(log) : NULL,
    };
    json_decref(h->newest);
    h->newest = brief(result);
    if (h->n == h->cap)
        drop_oldest(h);
    h->runs = xrealloc(h->runs, (h->n + 1) * sizeof *h->runs);
    h->runs[h->n++] = e;
}

size_t history_compact(History *h)
{
    size_t done = 0;
    for (size_t i = 0; i < h->n; i++) {
        HistoryEntry *e = &h->runs[i];
        if (!e->tree)
            continue;
        char *doc = json_dumps(e->tree, JSON_COMPACT);
        if (!doc) /* allocation failure: keep the tree, try again next time */
            continue;
        json_decref(e->tree);
        e->tree = NULL;
        e->doc = doc;
        done++;
    }
    return done;
}

/* A new reference the caller may change. */
static json_t *entry_doc(const HistoryEntry *e)
{
    if (e->tree)
        return json_deep_copy(e->tree);
    return json_loads(e->doc, 0, NULL);
}

json_t *history_get(const History *h, json_int_t run_id)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->runs[i].run_id == run_id)
            return entry_doc(&h->runs[i]);
    return NULL;
}

json_t *history_list(const History *h)
{
    static const char *const keys[] = {"run_id", "args", "status", "summary", "counts",
                                       "seconds", "pytest_seconds", "exit_code", "started_at", "cwd"};
    json_t *list = json_array();
    for (size_t i = h->n; i-- > 0;) {
        json_t *doc = entry_doc(&h->runs[i]);
        json_t *item = json_object();
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            json_t *v = json_object_get(doc, keys[k]);
            if (v)
                json_object_set(item, keys[k], v);
        }
        json_t *peak = json_object_get(json_object_get(doc, "memory"), "peak_rss");
        if (peak)
            json_object_set(item, "peak_rss", peak);
        json_array_append_new(list, item);
        json_decref(doc);
    }
    return list;
}

static json_int_t metric(json_t *run, const char *name)
{
    if (strcmp(name, "peak_rss") == 0)
        return json_integer_value(json_object_get(json_object_get(run, "memory"), "peak_rss"));
    return json_integer_value(json_object_get(run, name));
}

json_t *history_trend(const History *h)
{
    static const char *const names[][2] = {{"coprocess_rss", "co-process RSS"},
                                           {"editor_rss", "editor RSS"},
                                           {"peak_rss", "pytest peak RSS"}};
    json_t *out = json_object();
    json_t *metrics = json_array();
    json_object_set_new(out, "metrics", metrics);
    size_t n = 0;
    json_t **docs = xcalloc(h->n + 1, sizeof *docs); /* owned: every entry, parsed */
    json_t **same = xcalloc(h->n + 1, sizeof *same); /* borrowed: runs with the newest's args */
    for (size_t i = 0; i < h->n; i++)
        docs[i] = entry_doc(&h->runs[i]);
    json_t *args = h->n ? json_object_get(docs[h->n - 1], "args") : NULL;
    for (size_t i = 0; i < h->n; i++)
        if (docs[i] != NULL && json_equal(json_object_get(docs[i], "args"), args))
            same[n++] = docs[i];
    json_object_set_new(out, "runs", json_integer((json_int_t)n));
    StrBuf sentence = STRBUF_INIT;
    for (size_t m = 0; m < sizeof names / sizeof names[0]; m++) {
        if (n == 0)
            break;
        json_int_t first = metric(same[0], names[m][0]), last = metric(same[n - 1], names[m][0]);
        bool growing = n >= 3 && first > 0;
        for (size_t i = 1; growing && i < n; i++)
            growing = metric(same[i], names[m][0]) >= metric(same[i - 1], names[m][0]);
        growing = growing && last > first + first / 20 && last - first > 1024 * 1024;
        json_array_append_new(metrics, json_pack("{s:s, s:s, s:I, s:I, s:b}", "name", names[m][0],
                                                 "label", names[m][1], "first", first, "last", last,
                                                 "growing", growing));
        if (growing)
            strbuf_printf(&sentence, "%s%s grows steadily across %zu runs with the same args",
                          sentence.len ? "; " : "", names[m][1], n);
    }
    if (!sentence.len)
        strbuf_puts(&sentence, n >= 3 ? "no steady growth across runs with the same args"
                                      : "fewer than 3 runs with the same args: no trend yet");
    json_object_set_new(out, "sentence", json_string(strbuf_cstr(&sentence)));
    strbuf_destroy(&sentence);
    free(same);
    for (size_t i = 0; i < h->n; i++)
        json_decref(docs[i]);
    free(docs);
    return out;
}

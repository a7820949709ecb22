/* history: bounded run history with log-file ownership. */
#include "history.h"

#include <stdlib.h>
#include <unistd.h>

#include "strbuf.h"

void history_init(History *h, size_t cap)
{
    h->runs = NULL;
    h->n = 0;
    h->cap = cap ? cap : 1;
}

void history_destroy(History *h)
{
    for (size_t i = 0; i < h->n; i++)
        json_decref(h->runs[i]);
    free(h->runs);
    h->runs = NULL;
    h->n = 0;
}

static void drop_oldest(History *h)
{
    json_t *old = h->runs[0];
    const char *log = json_string_value(json_object_get(old, "log_path"));
    if (log)
        unlink(log);
    json_decref(old);
    for (size_t i = 1; i < h->n; i++)
        h->runs[i - 1] = h->runs[i];
    h->n--;
}

void history_set_capacity(History *h, size_t cap)
{
    h->cap = cap ? cap : 1;
    while (h->n > h->cap)
        drop_oldest(h);
}

void history_add(History *h, json_t *result)
{
    if (h->n == h->cap)
        drop_oldest(h);
    h->runs = xrealloc(h->runs, (h->n + 1) * sizeof *h->runs);
    h->runs[h->n++] = result;
}

json_t *history_get(const History *h, json_int_t run_id)
{
    for (size_t i = 0; i < h->n; i++)
        if (json_integer_value(json_object_get(h->runs[i], "run_id")) == run_id)
            return h->runs[i];
    return NULL;
}

json_t *history_list(const History *h)
{
    static const char *const keys[] = {"run_id", "args", "status", "summary", "counts",
                                       "seconds", "exit_code", "started_at", "cwd"};
    json_t *list = json_array();
    for (size_t i = h->n; i-- > 0;) {
        json_t *item = json_object();
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            json_t *v = json_object_get(h->runs[i], keys[k]);
            if (v)
                json_object_set(item, keys[k], v);
        }
        json_t *peak = json_object_get(json_object_get(h->runs[i], "memory"), "peak_rss");
        if (peak)
            json_object_set(item, "peak_rss", peak);
        json_array_append_new(list, item);
    }
    return list;
}

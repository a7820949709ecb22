/* watch: debounced reruns of the tests a save affects (see watch.h). */
#include "pytest/watch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "parse/importgraph.h"
#include "pytest/project.h"
#include "base/strbuf.h"

typedef struct {
    char **v;
    size_t n;
} StrList;

static void list_add(StrList *l, const char *s)
{
    l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
    l->v[l->n++] = xstrdup(s);
}

static bool list_has(const StrList *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

static void list_clear(StrList *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    *l = (StrList){0};
}

static void list_copy(StrList *l, char *const *v, size_t n)
{
    list_clear(l);
    for (size_t i = 0; i < n; i++)
        list_add(l, v[i]);
}

struct Watch {
    uv_loop_t *loop;
    const WatchHooks *hooks;
    void *ud;
    bool on, freeing;
    /* The watched selection. */
    char *cwd, *file, *python, *root;
    StrList args, env;
    uint64_t timeout_ms, kill_grace_ms, debounce_ms;
    /* The graph, and its scan in the thread pool. */
    ImportGraph *graph;
    bool scanning, rescan;
    uv_work_t work;
    ImportGraph *scan_graph; /* touched only by the worker while scanning */
    int scan_rc;
    uint64_t scan_started;
    uv_timer_t timer;
    bool timer_closed;
    StrList saved;   /* paths written since the last run */
    StrList failed;  /* test files that failed in the last watch run */
    int64_t run_id;  /* the last watch run */
};

Watch *watch_new(uv_loop_t *loop, const WatchHooks *hooks, void *ud)
{
    Watch *w = xcalloc(1, sizeof *w);
    w->loop = loop;
    w->hooks = hooks;
    w->ud = ud;
    uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    return w;
}

static void clear_selection(Watch *w)
{
    free(w->cwd);
    free(w->file);
    free(w->python);
    free(w->root);
    w->cwd = w->file = w->python = w->root = NULL;
    list_clear(&w->args);
    list_clear(&w->env);
    list_clear(&w->saved);
    list_clear(&w->failed);
}

static void maybe_release(Watch *w)
{
    if (!w->freeing || !w->timer_closed || w->scanning)
        return;
    clear_selection(w);
    importgraph_free(w->graph);
    free(w);
}

static void on_timer_closed(uv_handle_t *h)
{
    Watch *w = h->data;
    w->timer_closed = true;
    maybe_release(w);
}

void watch_free(Watch *w)
{
    if (!w)
        return;
    w->on = false;
    w->freeing = true;
    uv_close((uv_handle_t *)&w->timer, on_timer_closed);
}

static void emit(Watch *w, json_t *ev)
{
    if (w->root)
        json_object_set_new(ev, "root", json_string(w->root));
    w->hooks->event(w->ud, ev);
}

static void scan_work(uv_work_t *req)
{
    Watch *w = req->data;
    w->scan_rc = importgraph_scan(w->scan_graph);
}

static void start_scan(Watch *w);
static void on_debounced(uv_timer_t *t);

static void after_scan(uv_work_t *req, int status)
{
    Watch *w = req->data;
    ImportGraph *g = w->scan_graph;
    w->scan_graph = NULL;
    w->scanning = false;
    if (w->freeing || !w->on || w->rescan || status != 0) {
        importgraph_free(g);
        bool again = w->on && w->rescan && !w->freeing;
        w->rescan = false;
        if (again)
            start_scan(w);
        maybe_release(w);
        return;
    }
    importgraph_free(w->graph);
    w->graph = g;
    uv_update_time(w->loop);
    json_t *ev = json_pack("{s:s, s:I, s:I, s:b, s:I}", "state", "ready", "files", (json_int_t)g->n, "scan_ms",
                           (json_int_t)(uv_now(w->loop) - w->scan_started), "truncated", g->truncated,
                           "dynamic", (json_int_t)importgraph_dynamic_files(g));
    if (w->scan_rc != 0)
        json_object_set_new(ev, "error", json_string(strerror(-w->scan_rc)));
    emit(w, ev);
    if (w->saved.n)
        uv_timer_start(&w->timer, on_debounced, 0, 0);
}

static void start_scan(Watch *w)
{
    if (w->scanning) {
        w->rescan = true;
        return;
    }
    w->scan_graph = importgraph_new(w->root, WATCH_MAX_FILES);
    w->work.data = w;
    w->scanning = true;
    w->scan_started = uv_now(w->loop);
    int r = uv_queue_work(w->loop, &w->work, scan_work, after_scan);
    if (r != 0) {
        /* No thread pool: scan here, once (the loop waits this one time). */
        w->scanning = false;
        scan_work(&w->work);
        w->scanning = true;
        after_scan(&w->work, 0);
    }
}

void watch_start(Watch *w, const RunSpec *spec, const char *root, uint64_t debounce_ms)
{
    uv_timer_stop(&w->timer);
    clear_selection(w);
    w->cwd = xstrdup(spec->cwd);
    w->file = spec->file ? xstrdup(spec->file) : NULL;
    w->python = spec->python ? xstrdup(spec->python) : NULL;
    w->root = xstrdup(root);
    list_copy(&w->args, spec->args, spec->nargs);
    list_copy(&w->env, spec->env, spec->nenv);
    w->timeout_ms = spec->timeout_ms;
    w->kill_grace_ms = spec->kill_grace_ms;
    w->debounce_ms = debounce_ms ? debounce_ms : WATCH_DEBOUNCE_MS;
    w->on = true;
    w->run_id = 0;
    emit(w, json_pack("{s:s}", "state", "scanning"));
    /* Always scan again: the files may have changed while nobody watched. */
    importgraph_free(w->graph);
    w->graph = NULL;
    start_scan(w);
}

bool watch_stop(Watch *w)
{
    bool was = w->on;
    w->on = false;
    uv_timer_stop(&w->timer);
    list_clear(&w->saved);
    importgraph_free(w->graph);
    w->graph = NULL;
    if (was)
        emit(w, json_pack("{s:s}", "state", "off"));
    return was;
}

bool watch_on(const Watch *w)
{
    return w->on;
}

bool watch_saved(Watch *w, const char *path)
{
    if (!w->on)
        return false;
    char *real = realpath(path, NULL);
    const char *p = real ? real : path;
    size_t rootlen = strlen(w->root);
    if (strncmp(p, w->root, rootlen) != 0 || p[rootlen] != '/') {
        free(real); /* not this project's file */
        return false;
    }
    if (!list_has(&w->saved, p))
        list_add(&w->saved, p);
    free(real);
    if (!w->scanning)
        uv_timer_start(&w->timer, on_debounced, w->debounce_ms, 0);
    return true;
}

void watch_finished(Watch *w, json_t *result)
{
    if (!w->on || json_integer_value(json_object_get(result, "run_id")) != w->run_id || w->run_id == 0)
        return;
    const char *status = json_string_value(json_object_get(result, "status"));
    if (status && strcmp(status, "cancelled") == 0)
        return; /* keep the failures of the last run that ended */
    list_clear(&w->failed);
    json_t *f;
    size_t i;
    json_array_foreach(json_object_get(result, "failures"), i, f) {
        const char *file = json_string_value(json_object_get(f, "file"));
        if (file && !list_has(&w->failed, file))
            list_add(&w->failed, file);
    }
}

/* `path` is `dir` or below it. */
static bool under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* The run's arguments: the user's options, and the affected tests within their paths.
 * Returns how many tests (files or node ids) it chose. */
static size_t selection_args(Watch *w, char **tests, size_t ntests, StrList *out)
{
    char **rw = project_rewrite_args(w->cwd, w->args.v, w->args.n);
    StrList pos = {0};
    bool rest = false;
    for (size_t i = 0; rw[i]; i++) {
        if (rest || rw[i][0] != '-') {
            list_add(&pos, rw[i]);
        } else if (strcmp(rw[i], "--") == 0) {
            rest = true;
        } else {
            list_add(out, rw[i]);
            if (project_option_takes_value(rw[i]) && rw[i + 1])
                list_add(out, rw[++i]);
        }
    }
    project_free_argv(rw);
    StrList chosen = {0};
    for (size_t t = 0; t < ntests; t++) {
        if (pos.n == 0) {
            list_add(&chosen, tests[t]);
            continue;
        }
        for (size_t p = 0; p < pos.n; p++) {
            const char *sep = strstr(pos.v[p], "::");
            if (sep) { /* a node id: kept when it is in an affected file */
                char *path = xstrndup(pos.v[p], (size_t)(sep - pos.v[p]));
                if (strcmp(path, tests[t]) == 0 && !list_has(&chosen, pos.v[p]))
                    list_add(&chosen, pos.v[p]);
                free(path);
            } else if (under(tests[t], pos.v[p]) && !list_has(&chosen, tests[t])) {
                list_add(&chosen, tests[t]);
            }
        }
    }
    /* Failures first: pytest runs its arguments in order. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < chosen.n; i++) {
            const char *sep = strstr(chosen.v[i], "::");
            char *path = sep ? xstrndup(chosen.v[i], (size_t)(sep - chosen.v[i])) : xstrdup(chosen.v[i]);
            if (list_has(&w->failed, path) == (pass == 0))
                list_add(out, chosen.v[i]);
            free(path);
        }
    size_t n = chosen.n;
    list_clear(&chosen);
    list_clear(&pos);
    return n;
}

static json_t *json_list(const StrList *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(a, json_string(l->v[i]));
    return a;
}

static void on_debounced(uv_timer_t *t)
{
    Watch *w = t->data;
    if (!w->on || !w->graph || w->saved.n == 0)
        return;
    /* Union of what each saved file affects; one undecidable file runs everything. */
    StrList tests = {0};
    const char *why = NULL;
    char *why_file = NULL;
    for (size_t i = 0; i < w->saved.n && !why; i++) {
        importgraph_update(w->graph, w->saved.v[i]);
        char **aff;
        size_t n;
        if (!importgraph_affected(w->graph, w->saved.v[i], &aff, &n, &why)) {
            why_file = xstrdup(w->saved.v[i]);
            break;
        }
        for (size_t k = 0; k < n; k++)
            if (!list_has(&tests, aff[k]))
                list_add(&tests, aff[k]);
        importgraph_free_list(aff, n);
    }
    json_t *ev = json_pack("{s:s, s:o}", "state", "run", "saved", json_list(&w->saved));
    list_clear(&w->saved);
    StrList args = {0};
    size_t chosen = 0;
    if (why) {
        list_copy(&args, w->args.v, w->args.n);
        json_object_set_new(ev, "whole", json_true());
        json_object_set_new(ev, "why", json_pack("s++", why_file, ": ", why));
    } else {
        chosen = selection_args(w, tests.v, tests.n, &args);
        json_object_set_new(ev, "whole", json_false());
    }
    free(why_file);
    json_object_set_new(ev, "tests", json_list(&tests));
    list_clear(&tests);
    if (!why && chosen == 0) {
        /* Nothing in the watched selection depends on the saved files: no run. */
        json_object_set_new(ev, "state", json_string("idle"));
        list_clear(&args);
        emit(w, ev);
        return;
    }
    json_object_set_new(ev, "args", json_list(&args));
    RunSpec spec = {
        .cwd = w->cwd, .file = w->file, .python = w->python, .args = args.v, .nargs = args.n,
        .env = w->env.v, .nenv = w->env.n, .timeout_ms = w->timeout_ms, .kill_grace_ms = w->kill_grace_ms,
    };
    w->run_id = w->hooks->run(w->ud, &spec);
    json_object_set_new(ev, "run_id", json_integer(w->run_id));
    list_clear(&args);
    emit(w, ev);
}

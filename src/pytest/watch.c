/* watch: debounced reruns of the tests a save affects (see watch.h). */
#include "pytest/watch.h"

#include <errno.h>
#include <stdatomic.h>
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

/* One saved file as the worker found it. */
typedef struct {
    char *path;
    int rc;          /* importgraph_update's: -EFBIG when it was too big to read */
    char **tests;    /* affected test files (importgraph_affected) */
    size_t ntests;
    const char *why; /* static: the graph could not decide (tests unset) */
} SavedFile;

/* The saves handed to the thread pool with the graph: while it is in flight only the worker
 * touches `graph` and `files`; the loop keeps the job (and the Watch) until its after-work
 * callback. */
typedef struct {
    ImportGraph *graph;
    SavedFile *files;
    size_t n;
    const atomic_bool *cancel;
    uint64_t generation; /* the Watch's when handed over */
} UpdateJob;

struct Watch {
    uv_loop_t *loop;
    const WatchHooks *hooks;
    void *ud;
    bool on, freeing;
    /* The watched selection. */
    char *cwd, *file, *python, *root;
    StrList args, env, prefix, path_map;
    uint64_t timeout_ms, kill_grace_ms, debounce_ms;
    bool warm;                 /* RunSpec.warm of its runs */
    size_t max_files; /* the scan's caps (watch_limit) */
    uint64_t max_ms;
    /* The graph (NULL while it is being built or updated), and its scan in the thread pool. */
    ImportGraph *graph;
    bool scanning, rescan;
    uv_work_t work;
    ImportGraph *scan_graph; /* touched only by the worker while scanning */
    int scan_rc;
    uint64_t scan_started;
    atomic_bool scan_cancel; /* set by the loop, polled by the scan */
    /* The saves' update in the thread pool: `job` while one is in flight. */
    uv_work_t update_work;
    UpdateJob *job;
    atomic_bool update_cancel;
    uint64_t generation;     /* bumped whenever the graph is dropped: a late job's is stale */
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
    w->max_files = WATCH_MAX_FILES;
    w->max_ms = WATCH_SCAN_MAX_MS;
    atomic_init(&w->scan_cancel, false);
    atomic_init(&w->update_cancel, false);
    uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    return w;
}

void watch_limit(Watch *w, size_t max_files, uint64_t max_ms)
{
    w->max_files = max_files;
    w->max_ms = max_ms;
}

static void job_free(UpdateJob *job)
{
    importgraph_free(job->graph);
    for (size_t i = 0; i < job->n; i++) {
        free(job->files[i].path);
        importgraph_free_list(job->files[i].tests, job->files[i].ntests);
    }
    free(job->files);
    free(job);
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
    list_clear(&w->prefix);
    list_clear(&w->path_map);
    list_clear(&w->saved);
    list_clear(&w->failed);
}

static void maybe_release(Watch *w)
{
    if (!w->freeing || !w->timer_closed || w->scanning || w->job)
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

/* Drops the graph; the work in flight is told to end soon and its result will be dropped. */
static void drop_graph(Watch *w)
{
    importgraph_free(w->graph);
    w->graph = NULL;
    w->generation++;
    if (w->scanning) {
        atomic_store(&w->scan_cancel, true);
        uv_cancel((uv_req_t *)&w->work); /* only takes when it has not started */
    }
    if (w->job) {
        atomic_store(&w->update_cancel, true);
        uv_cancel((uv_req_t *)&w->update_work);
    }
}

void watch_free(Watch *w)
{
    if (!w)
        return;
    w->on = false;
    w->freeing = true;
    drop_graph(w);
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

/* Why a cut graph decides nothing, for the `ready` event. */
static json_t *cut_why(const Watch *w, const ImportGraph *g)
{
    switch (g->cut) {
    case IMPORTGRAPH_CUT_FILES:
        return json_sprintf("the scan stopped at %zu .py files (the limit)", g->max_files);
    case IMPORTGRAPH_CUT_TIME:
        return json_sprintf("the scan stopped after %.3g s (the limit), %zu .py files read",
                            (double)w->max_ms / 1000, g->n);
    case IMPORTGRAPH_CUT_CANCELLED:
        return json_string("the scan was cancelled");
    case IMPORTGRAPH_CUT_NONE:
        break;
    }
    return NULL;
}

/* {file, why} of a file whose imports were not read. */
static json_t *skipped_entry(const char *path)
{
    return json_pack("{s:s, s:o}", "file", path, "why",
                     json_sprintf("larger than %u MiB: its imports are not read", IMPORTGRAPH_MAX_FILE_BYTES >> 20));
}

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
    json_t *why = g->truncated ? cut_why(w, g) : NULL;
    if (why)
        json_object_set_new(ev, "why", why);
    if (importgraph_too_big_files(g) > 0) {
        json_t *skipped = json_array();
        for (size_t i = 0; i < g->n && json_array_size(skipped) < WATCH_SKIPPED_LISTED; i++)
            if (g->files[i].too_big)
                json_array_append_new(skipped, skipped_entry(g->files[i].path));
        json_object_set_new(ev, "skipped", skipped);
    }
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
    w->scan_graph = importgraph_new(w->root, w->max_files);
    atomic_store(&w->scan_cancel, false); /* no scan is in flight */
    importgraph_limit(w->scan_graph, w->max_ms, &w->scan_cancel);
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
    w->cwd = xstrdup(spec->req.cwd);
    w->file = spec->req.file ? xstrdup(spec->req.file) : NULL;
    w->python = spec->req.python ? xstrdup(spec->req.python) : NULL;
    w->root = xstrdup(root);
    list_copy(&w->args, spec->req.args, spec->req.nargs);
    list_copy(&w->env, spec->req.env, spec->req.nenv);
    list_copy(&w->prefix, spec->req.prefix, spec->req.nprefix);
    list_copy(&w->path_map, spec->req.path_map, spec->req.npath_map);
    w->timeout_ms = spec->timeout_ms;
    w->warm = spec->warm;
    w->kill_grace_ms = spec->kill_grace_ms;
    w->debounce_ms = debounce_ms ? debounce_ms : WATCH_DEBOUNCE_MS;
    w->on = true;
    w->run_id = 0;
    emit(w, json_pack("{s:s}", "state", "scanning"));
    /* Always scan again: the files may have changed while nobody watched. A scan in flight
     * is cancelled, and this one starts once it has ended. */
    drop_graph(w);
    start_scan(w);
}

bool watch_stop(Watch *w)
{
    bool was = w->on;
    w->on = false;
    uv_timer_stop(&w->timer);
    list_clear(&w->saved);
    drop_graph(w);
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

/* In the thread pool: the saved files read again into the graph, then what each affects. */
static void update_work(uv_work_t *req)
{
    Watch *w = req->data;
    UpdateJob *job = w->job;
    for (size_t i = 0; i < job->n; i++) {
        if (atomic_load_explicit(job->cancel, memory_order_relaxed))
            return; /* dropped: nobody reads the result */
        job->files[i].rc = importgraph_update(job->graph, job->files[i].path);
    }
    for (size_t i = 0; i < job->n; i++) {
        SavedFile *f = &job->files[i];
        if (!importgraph_affected(job->graph, f->path, &f->tests, &f->ntests, &f->why))
            break; /* one undecidable file runs everything */
    }
}

/* Back on the loop: the graph is ours again, and what the job found becomes the run. */
static void after_update(uv_work_t *req, int status)
{
    Watch *w = req->data;
    UpdateJob *job = w->job;
    w->job = NULL;
    if (w->freeing || !w->on || job->generation != w->generation || status != 0) {
        job_free(job); /* the graph was dropped meanwhile (stop, restart, free) */
        maybe_release(w);
        return;
    }
    w->graph = job->graph;
    job->graph = NULL;
    /* Union of what each saved file affects; one undecidable file runs everything. */
    StrList tests = {0};
    const char *why = NULL, *why_file = NULL;
    json_t *saved = json_array(), *skipped = json_array();
    for (size_t i = 0; i < job->n; i++) {
        const SavedFile *f = &job->files[i];
        json_array_append_new(saved, json_string(f->path));
        if (f->rc == -EFBIG)
            json_array_append_new(skipped, skipped_entry(f->path));
        if (why)
            continue;
        if (f->why) {
            why = f->why;
            why_file = f->path;
            continue;
        }
        for (size_t k = 0; k < f->ntests; k++)
            if (!list_has(&tests, f->tests[k]))
                list_add(&tests, f->tests[k]);
    }
    json_t *ev = json_pack("{s:s, s:o}", "state", "run", "saved", saved);
    if (json_array_size(skipped) > 0)
        json_object_set_new(ev, "skipped", skipped);
    else
        json_decref(skipped);
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
    json_object_set_new(ev, "tests", json_list(&tests));
    list_clear(&tests);
    job_free(job);
    if (!why && chosen == 0) {
        /* Nothing in the watched selection depends on the saved files: no run. */
        json_object_set_new(ev, "state", json_string("idle"));
        emit(w, ev);
    } else {
        json_object_set_new(ev, "args", json_list(&args));
        RunSpec spec = {
            .req = {.cwd = w->cwd, .file = w->file, .python = w->python, .args = args.v, .nargs = args.n,
                    .env = w->env.v, .nenv = w->env.n, .prefix = w->prefix.v, .nprefix = w->prefix.n,
                    .path_map = w->path_map.v, .npath_map = w->path_map.n},
            .timeout_ms = w->timeout_ms, .kill_grace_ms = w->kill_grace_ms, .warm = w->warm,
        };
        w->run_id = w->hooks->run(w->ud, &spec);
        json_object_set_new(ev, "run_id", json_integer(w->run_id));
        emit(w, ev);
    }
    list_clear(&args);
    /* Saves that came while the job was out: their debounce delay may have passed. */
    if (w->on && w->saved.n && !uv_is_active((uv_handle_t *)&w->timer))
        uv_timer_start(&w->timer, on_debounced, 0, 0);
}

static void on_debounced(uv_timer_t *t)
{
    Watch *w = t->data;
    /* Without the graph (being built or updated) the saves wait: after_scan and after_update
     * come back here. */
    if (!w->on || !w->graph || w->saved.n == 0 || w->job)
        return;
    UpdateJob *job = xcalloc(1, sizeof *job);
    job->graph = w->graph; /* the worker's until after_update */
    w->graph = NULL;
    job->n = w->saved.n;
    job->files = xcalloc(job->n, sizeof *job->files);
    for (size_t i = 0; i < job->n; i++)
        job->files[i].path = xstrdup(w->saved.v[i]);
    list_clear(&w->saved);
    atomic_store(&w->update_cancel, false); /* no job is in flight */
    job->cancel = &w->update_cancel;
    job->generation = w->generation;
    w->job = job;
    w->update_work.data = w;
    if (uv_queue_work(w->loop, &w->update_work, update_work, after_update) != 0) {
        /* No thread pool: here, once. */
        update_work(&w->update_work);
        after_update(&w->update_work, 0);
    }
}

/* testtree: the suite as pytest collects it, debounced, one at a time. See testtree.h. */
#include "pytest/testtree.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/strbuf.h"
#include "base/textclean.h"
#include "parse/collection.h"
#include "pytest/child.h"
#include "pytest/execstep.h"
#include "pytest/launch.h"
#include "pytest/privdir.h"
#include "pytest/project.h"
#include "pytest/pyplugin.h"
#include "pytest/runner.h"

/* The end of pytest's stderr shown when it collected nothing (a usage error, a conftest that
 * cannot be imported, an interpreter that cannot run). */
#define TESTTREE_STDERR_TAIL 2048

typedef struct Job Job;

struct TestTree {
    uv_loop_t *loop;
    TestTreeEventFn on_event;
    void *ud;
    int64_t next_id;
    Job *active;  /* waiting out its delay or collecting */
    Job *live;    /* every request whose timer is not closed yet */
    char *exe;    /* this binary, for the exec step */
    PrivdirOwner self;
    bool shutting;
};

struct Job {
    TestTree *d;
    Job *next;
    int64_t id;
    LaunchTarget t;       /* root, interpreter, arguments and env, as a run's (launch.h) */
    char *plugin_dir;     /* our plugin: the collection record is its */
    char *tmpdir;         /* private: the collection record and pytest's stderr */
    char *error;          /* why it cannot collect, reported from the timer */
    Child *collector;     /* pytest, while it collects (child.h) */
    uv_timer_t timer;     /* the debounce delay; its close frees the Job */
    uint64_t start_ns;
    bool cancelled, closed;
};

TestTree *testtree_new(uv_loop_t *loop, TestTreeEventFn on_event, void *ud)
{
    TestTree *d = xcalloc(1, sizeof *d);
    d->loop = loop;
    d->on_event = on_event;
    d->ud = ud;
    d->next_id = 1;
    d->exe = execstep_self_path();
    d->self.pid = (int)getpid();
    privdir_owner_of("", d->self.pid, &d->self);
    return d;
}

/* ---- lifetime ----------------------------------------------------------------- */

static void job_free(Job *j)
{
    launch_target_destroy(&j->t);
    free(j->plugin_dir);
    free(j->error);
    free(j);
}

static void on_timer_closed(uv_handle_t *h)
{
    Job *j = h->data;
    TestTree *d = j->d;
    for (Job **pp = &d->live; *pp; pp = &(*pp)->next) {
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    }
    job_free(j);
}

/* The request is over: its files go now, the Job with its timer. */
static void job_close(Job *j)
{
    if (j->closed)
        return;
    j->closed = true;
    if (j->d->active == j)
        j->d->active = NULL;
    if (j->tmpdir) {
        privdir_remove(j->tmpdir);
        free(j->tmpdir);
        j->tmpdir = NULL;
    }
    uv_close((uv_handle_t *)&j->timer, on_timer_closed);
}

/* Superseded or shut down: nothing is reported. */
static void job_cancel(Job *j)
{
    if (j->closed || j->cancelled)
        return;
    j->cancelled = true;
    if (j->d->active == j)
        j->d->active = NULL;
    if (j->collector)
        child_signal(j->collector, SIGKILL); /* on_collected closes it */
    else
        job_close(j);
}

void testtree_shutdown(TestTree *d)
{
    d->shutting = true;
    for (Job *j = d->live; j; j = j->next)
        job_cancel(j);
}

void testtree_free(TestTree *d)
{
    if (!d)
        return;
    free(d->exe); /* jobs are freed in their close callbacks: none is left once the loop ran dry */
    free(d);
}

/* ---- events ------------------------------------------------------------------- */

static void emit(Job *j, json_t *payload)
{
    json_object_set_new(payload, "collect_id", json_integer(j->id));
    if (j->t.root)
        json_object_set_new(payload, "root", json_stringn_nocheck(j->t.root, strlen(j->t.root)));
    if (!j->d->shutting && j->d->on_event)
        j->d->on_event(j->d->ud, payload);
    json_decref(payload);
}

static void emit_error(Job *j, const char *msg)
{
    json_t *ev = json_object();
    json_object_set_new(ev, "error", json_string(msg));
    emit(j, ev);
}

/* A byte string (mpjson.h): node ids and paths are passed as pytest wrote them. */
static json_t *bytes(const char *s)
{
    return json_stringn_nocheck(s, strlen(s));
}

static json_t *nodes_json(const CollectedNode *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:o, s:o, s:i, s:i}", "nodeid", bytes(v[i].nodeid), "file",
                                           bytes(v[i].file), "line", v[i].line, "end", v[i].end));
    return a;
}

static json_t *errors_json(const CollectionError *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        char *msg = textclean_dup(v[i].message, strlen(v[i].message), TEXTCLEAN_KEEP_LF, TEXTCLEAN_MESSAGE_MAX);
        json_array_append_new(a, json_pack("{s:o, s:o, s:s}", "nodeid", bytes(v[i].nodeid), "file",
                                           bytes(v[i].file), "message", msg));
        free(msg);
    }
    return a;
}

static char *job_path(const Job *j, const char *name)
{
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/%s", j->tmpdir, name);
    return strbuf_detach(&sb);
}

/* Why pytest wrote no record: its exit status and the end of its stderr. */
static char *no_record_message(const Job *j, int64_t status, int term_signal, const char *why)
{
    StrBuf out = STRBUF_INIT, text = STRBUF_INIT;
    if (term_signal) {
        strbuf_puts(&out, "pytest was killed by ");
        execstep_describe_signal(&out, term_signal);
        strbuf_puts(&out, " while collecting");
    } else if (status < 0)
        strbuf_printf(&out, "pytest did not finish collecting (%s)", strerror((int)-status));
    else
        strbuf_printf(&out, "pytest collected nothing (exit status %lld: %s)", (long long)status, why);
    char *path = job_path(j, "stderr.txt");
    if (strbuf_read_file(&text, path, O_NOFOLLOW) == 0 && text.len > 0) {
        size_t from = text.len > TESTTREE_STDERR_TAIL ? text.len - TESTTREE_STDERR_TAIL : 0;
        strbuf_puts(&out, ":\n");
        textclean_display(&out, text.data + from, text.len - from, TEXTCLEAN_KEEP_LF, TEXTCLEAN_MESSAGE_MAX);
        while (out.len > 0 && out.data[out.len - 1] == '\n')
            out.data[--out.len] = '\0';
    }
    free(path);
    strbuf_destroy(&text);
    return strbuf_detach(&out);
}

static void on_collected(void *ud, int64_t status, int term_signal)
{
    Job *j = ud;
    j->collector = NULL;
    if (j->cancelled || j->d->shutting) {
        job_close(j);
        return;
    }
    char *path = job_path(j, "collect.json");
    Collection c = {0}; /* destroyed whether or not it was read */
    StrBuf err = STRBUF_INIT;
    int rc = status >= 0 && term_signal == 0 ? collection_read(path, &c, &err) : -ECANCELED;
    if (rc == 0) {
        size_t off = 0;
        for (; c.nitems - off > TESTTREE_PART_ITEMS; off += TESTTREE_PART_ITEMS) {
            json_t *part = json_object();
            json_object_set_new(part, "items", nodes_json(c.items + off, TESTTREE_PART_ITEMS));
            json_object_set_new(part, "more", json_true());
            emit(j, part);
        }
        json_t *ev = json_object();
        json_object_set_new(ev, "items", nodes_json(c.items + off, c.nitems - off));
        json_object_set_new(ev, "classes", nodes_json(c.classes, c.nclasses));
        json_object_set_new(ev, "errors", errors_json(c.errors, c.nerrors));
        json_object_set_new(ev, "ms", json_integer((json_int_t)((uv_hrtime() - j->start_ns) / 1000000)));
        json_object_set_new(ev, "status", json_integer(status));
        emit(j, ev);
    } else if (status >= 0 && privdir_nearly_full(j->tmpdir)) {
        /* the plugin could not write its record (nor pytest its stderr) for want of space */
        StrBuf msg = STRBUF_INIT;
        strbuf_printf(&msg, "no space left in $TMPDIR (%s): pytest's collection could not be recorded",
                      privdir_base());
        emit_error(j, strbuf_cstr(&msg));
        strbuf_destroy(&msg);
    } else {
        char *msg = no_record_message(j, status, term_signal, rc == -ENOENT ? "no collection record" : strbuf_cstr(&err));
        emit_error(j, msg);
        free(msg);
    }
    collection_destroy(&c);
    strbuf_destroy(&err);
    free(path);
    job_close(j);
}

/* The delay is over: pytest collects. */
static void on_timer(uv_timer_t *t)
{
    Job *j = t->data;
    TestTree *d = j->d;
    if (j->error) {
        emit_error(j, j->error);
        job_close(j);
        return;
    }
    int rc = launch_tmp_dir(&j->t, &d->self, &j->tmpdir);
    if (rc < 0) {
        char *msg = privdir_create_error(launch_tmp_base(&j->t), rc);
        emit_error(j, msg);
        free(msg);
        job_close(j);
        return;
    }
    if (j->t.prefix && j->plugin_dir) { /* the other side sees it through the map */
        char *copy = pyplugin_copy(j->plugin_dir, j->tmpdir);
        free(j->plugin_dir);
        j->plugin_dir = copy;
    }
    char *record = job_path(j, "collect.json");
    char *errpath = job_path(j, "stderr.txt");
    LaunchFiles f = {.plugin_dir = j->plugin_dir, .record = record};
    LaunchPlan plan;
    launch_plan(&j->t, LAUNCH_COLLECT, &f, &plan);
    int fd = open(errpath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    j->start_ns = uv_hrtime();
    ChildSpec spec = {.exe = d->exe, .argv = plan.argv, .env = plan.env, .cwd = j->t.root, .hold_stdin = plan.hold_stdin};
    if (fd >= 0) /* pytest's stderr, to say why it collected nothing */
        spec.stdio[2] = (uv_stdio_container_t){.flags = UV_INHERIT_FD, .data.fd = fd};
    j->collector = child_start(d->loop, &spec, on_collected, j, &rc);
    if (fd >= 0)
        close(fd);
    launch_plan_destroy(&plan);
    free(record);
    free(errpath);
    if (!j->collector) {
        StrBuf sb = STRBUF_INIT;
        strbuf_printf(&sb, "cannot start '%s': %s", j->t.python, uv_strerror(rc));
        emit_error(j, strbuf_cstr(&sb));
        strbuf_destroy(&sb);
        job_close(j);
    }
}

/* ---- requests ----------------------------------------------------------------- */

/* Decides root, interpreter, arguments and environment as a run would (launch.h); j->error
 * when it cannot collect. */
static void job_prepare(Job *j, const TestTreeSpec *spec)
{
    if (launch_resolve(&spec->req, &j->t) < 0) {
        j->error = xstrdup(j->t.error);
        return;
    }
    j->plugin_dir = pyplugin_find_dir();
    if (!j->plugin_dir)
        j->error = xstrdup("cannot collect: pytestmon's pytest plugin (python/pytestmon_plugin.py) was not found");
}

int64_t testtree_start(TestTree *d, const TestTreeSpec *spec)
{
    if (d->active)
        job_cancel(d->active);
    Job *j = xcalloc(1, sizeof *j);
    j->d = d;
    j->id = d->next_id++;
    j->next = d->live;
    d->live = j;
    uv_timer_init(d->loop, &j->timer);
    j->timer.data = j;
    if (d->shutting) {
        j->cancelled = true;
        job_close(j);
        return j->id;
    }
    d->active = j;
    job_prepare(j, spec);
    uv_timer_start(&j->timer, on_timer, j->error ? 0 : spec->debounce_ms, 0);
    return j->id;
}

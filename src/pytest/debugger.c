/* debugger: debug launch configurations and the listening debugpy. See debugger.h. */
#include "pytest/debugger.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/path.h"
#include "base/pathmap.h"
#include "base/strbuf.h"
#include "base/textclean.h"
#include "mem/proctree.h"
#include "parse/collection.h"
#include "parse/tail.h"
#include "pytest/child.h"
#include "pytest/dapbridge.h"
#include "pytest/execstep.h"
#include "pytest/launch.h"
#include "pytest/privdir.h"
#include "pytest/project.h"
#include "pytest/pyplugin.h"
#include "pytest/runner.h"
#include "pytest/runresult.h"

#define STDERR_TAIL 4096

typedef struct Session Session;

struct Debugger {
    uv_loop_t *loop;
    DebuggerEventFn on_event;
    void *ud;
    int64_t next_id;
    Session *active;  /* being prepared, listening or attached */
    Session *live;    /* every session whose handles are not all closed */
    char *exe;        /* this binary, for the exec step */
    PrivdirOwner self;
    bool shutting;
    char readbuf[16 * 1024];
};

struct Session {
    Debugger *d;
    Session *next;
    int64_t id;
    bool listen;
    LaunchTarget t;       /* root, interpreter, the user's arguments and env, as a run's */
    char *tmpdir;
    int nearest_line;
    uint64_t attach_timeout_ms;
    Child *collector;     /* pytest, asked what it collects (child.h); NULL otherwise */
    char *error;          /* why it cannot go on, reported from the start timer */
    uv_timer_t start_timer;
    uv_timer_t attach_timer; /* ends a debugpy nobody attached to */
    DapBridge *bridge;       /* the endpoint the debugger attaches to (dapbridge.h) */
    json_t *announce;        /* the `listen` event, sent once debugpy's server has connected */
    Child *child;            /* the listening debugpy (child.h); NULL before and after */
    int pid;                 /* its pid, once started */
    uv_pipe_t err;
    Tail tail;
    int open_handles;        /* uv handles and the bridge */
    bool attach_timer_inited, exited, err_eof, cancelled, closed;
    bool attached, timed_out, refused_told;
    int64_t status;
    int term_signal;
};

Debugger *debugger_new(uv_loop_t *loop, DebuggerEventFn on_event, void *ud)
{
    Debugger *d = xcalloc(1, sizeof *d);
    d->loop = loop;
    d->on_event = on_event;
    d->ud = ud;
    d->next_id = 1;
    d->exe = execstep_self_path();
    d->self.pid = (int)getpid();
    privdir_owner_of("", d->self.pid, &d->self);
    return d;
}

/* ---- events ------------------------------------------------------------------- */

static void emit(Session *s, json_t *payload)
{
    json_object_set_new(payload, "debug_id", json_integer(s->id));
    if (!s->d->shutting && s->d->on_event)
        s->d->on_event(s->d->ud, payload);
    json_decref(payload);
}

static void emit_error(Session *s, const char *msg)
{
    emit(s, json_pack("{s:s}", "error", msg));
}

/* ---- lifetime ----------------------------------------------------------------- */

static void session_free(Session *s)
{
    if (s->tmpdir)
        privdir_remove(s->tmpdir);
    free(s->tmpdir);
    launch_target_destroy(&s->t);
    free(s->error);
    json_decref(s->announce);
    tail_destroy(&s->tail);
    free(s);
}

/* One of the session's handles (or its bridge) has closed: the last one frees it. */
static void session_handle_gone(Session *s)
{
    if (--s->open_handles > 0)
        return;
    Debugger *d = s->d;
    for (Session **pp = &d->live; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    session_free(s);
}

static void on_handle_closed(uv_handle_t *h)
{
    session_handle_gone(h->data);
}

static void close_handle(void *h)
{
    uv_handle_t *handle = h;
    if (handle->type != UV_UNKNOWN_HANDLE && !uv_is_closing(handle))
        uv_close(handle, on_handle_closed);
}

/* No more connections; a relay ends (after what debugpy said last reached the debugger, when
 * ending normally). Its `closed` callback releases the session. */
static void close_bridge(Session *s)
{
    if (!s->bridge)
        return;
    dapbridge_close(s->bridge, !s->cancelled && !s->d->shutting);
    s->bridge = NULL;
}

/* The session is over: its handles close, then it is freed. */
static void session_close(Session *s)
{
    if (s->closed)
        return;
    s->closed = true;
    if (s->d->active == s)
        s->d->active = NULL;
    if (s->tmpdir) {
        privdir_remove(s->tmpdir);
        free(s->tmpdir);
        s->tmpdir = NULL;
    }
    close_handle(&s->start_timer);
    if (s->attach_timer_inited)
        close_handle(&s->attach_timer);
    close_handle(&s->err);
    close_bridge(s);
}

/* SIGKILL to debugpy's session and every descendant seen (child.h). */
static void kill_debuggee(Session *s)
{
    if (s->child)
        child_signal(s->child, SIGKILL);
}

static bool session_cancel(Session *s)
{
    if (s->closed || s->cancelled)
        return false;
    s->cancelled = true;
    if (s->d->active == s)
        s->d->active = NULL;
    if (s->collector) {
        child_signal(s->collector, SIGKILL); /* on_collected closes it */
        return true;
    }
    if (s->child) {
        kill_debuggee(s); /* on_debuggee_exit reports and closes it */
        return true;
    }
    session_close(s);
    return true;
}

bool debugger_cancel(Debugger *d)
{
    return d->active ? session_cancel(d->active) : false;
}

void debugger_shutdown(Debugger *d)
{
    d->shutting = true;
    for (Session *s = d->live; s; s = s->next)
        session_cancel(s);
}

void debugger_free(Debugger *d)
{
    if (!d)
        return;
    /* Sessions are freed in their close callbacks: after the loop ran dry, none is left. */
    free(d->exe);
    free(d);
}

/* ---- the launch configuration ------------------------------------------------- */

/* Through a prefix (launch.h): the configuration in the other side's paths, the prefix (the
 * editor starts debugpy's adapter through it on stdio) and debugpy's pathMappings. */
static void config_through_prefix(const LaunchTarget *t, json_t *conf)
{
    char *const *map = t->path_map;
    size_t n = t->npath_map;
    char *cwd = pathmap_forward(map, n, t->root);
    json_object_set_new(conf, "cwd", json_string(cwd));
    free(cwd);
    json_t *args = json_object_get(conf, "args"), *a;
    size_t i;
    json_array_foreach(args, i, a) {
        char *v = pathmap_forward_value(map, n, json_string_value(a));
        json_array_set_new(args, i, json_string(v));
        free(v);
    }
    json_object_set_new(conf, "prefix", runresult_string_list(t->prefix));
    json_t *pm = json_array();
    for (size_t k = 0; k + 1 < n; k += 2)
        json_array_append_new(pm, json_pack("{s:s, s:s}", "localRoot", map[k + 1], "remoteRoot", map[k]));
    json_object_set_new(conf, "pathMappings", pm);
}

/* {python, cwd, module, args, env}: what a debug adapter launches; through a prefix also
 * {prefix, pathMappings} (config_through_prefix). */
static json_t *config_json(const Session *s, const char *target)
{
    json_t *args = runresult_string_list(s->t.args);
    json_array_append_new(args, json_string_nocheck(target));
    json_t *env = json_object();
    for (char **e = s->t.env; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        StrBuf key = STRBUF_INIT;
        strbuf_append(&key, *e, (size_t)(eq - *e));
        json_object_set_new_nocheck(env, strbuf_cstr(&key), json_string_nocheck(eq + 1)); /* the last wins */
        strbuf_destroy(&key);
    }
    json_t *conf = json_pack("{s:s, s:s, s:s, s:o, s:o}", "python", s->t.python, "cwd", s->t.root, "module",
                             "pytest", "args", args, "env", env);
    if (s->t.prefix)
        config_through_prefix(&s->t, conf);
    return conf;
}

/* ---- the listening debugpy ---------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    Session *s = h->data;
    (void)suggested;
    *buf = uv_buf_init(s->d->readbuf, sizeof s->d->readbuf);
}

static void listen_ended(Session *s)
{
    size_t len = 0;
    char *text = tail_read(&s->tail, &len);
    char *clean = textclean_dup(text, len, TEXTCLEAN_KEEP_LF, TEXTCLEAN_MESSAGE_MAX);
    free(text);
    json_t *ev = json_pack("{s:b, s:I, s:i, s:b, s:s}", "exited", 1, "status", (json_int_t)s->status, "signal",
                           s->term_signal, "cancelled", s->cancelled, "stderr", clean ? clean : "");
    if (s->timed_out) {
        json_object_set_new(ev, "timed_out", json_true());
        json_object_set_new(ev, "attach_timeout_ms", json_integer((json_int_t)s->attach_timeout_ms));
    }
    emit(s, ev);
    free(clean);
    session_close(s);
}

static void on_err_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    Session *s = st->data;
    if (n > 0) {
        tail_write(&s->tail, buf->base, (size_t)n);
        return;
    }
    if (n == 0)
        return;
    uv_read_stop(st);
    s->err_eof = true;
    if (s->exited)
        listen_ended(s);
}

static void on_debuggee_exit(void *ud, int64_t status, int term_signal)
{
    Session *s = ud;
    s->child = NULL; /* it ended what was left of its session (child.h) */
    s->exited = true;
    s->status = status;
    s->term_signal = term_signal;
    close_bridge(s);        /* before anyone hears that it ended */
    if (s->attach_timer_inited)
        uv_timer_stop(&s->attach_timer);
    if (s->d->active == s)
        s->d->active = NULL;
    if (s->err_eof)
        listen_ended(s);
}

/* Nobody attached in time: debugpy is ended, and its `exited` event says why. */
static void on_attach_timeout(uv_timer_t *t)
{
    Session *s = t->data;
    if (s->attached || s->exited || s->closed)
        return;
    s->timed_out = true;
    kill_debuggee(s); /* on_debuggee_exit reports and closes it */
}

/* ---- the bridge's events (dapbridge.h) ---- */

/* debugpy's debug server has connected to us: the endpoint works end to end, say where it is. */
static void on_server_connected(void *ud)
{
    Session *s = ud;
    json_t *ev = s->announce;
    s->announce = NULL;
    if (ev && !s->closed && !s->cancelled) {
        /* The wait for a debugger counts from now, when one can attach: starting debugpy (and
         * pytest's imports) on a busy machine must not eat into it. */
        if (s->attach_timer_inited && !s->attached)
            uv_timer_start(&s->attach_timer, on_attach_timeout, s->attach_timeout_ms, 0);
        emit(s, ev);
    } else {
        json_decref(ev);
    }
}

static void on_client_attached(void *ud)
{
    Session *s = ud;
    s->attached = true;
    if (s->attach_timer_inited)
        uv_timer_stop(&s->attach_timer);
}

/* A connection from another user (or one we could not place) was closed unread: said once. */
static void on_refused(void *ud, int64_t uid, bool server_side)
{
    Session *s = ud;
    if ((uid >= 0 && uid == (int64_t)geteuid()) || s->refused_told || s->closed)
        return; /* our own: e.g. a subprocess of the debuggee, or a second client */
    s->refused_told = true;
    emit(s, json_pack("{s:{s:I, s:s}}", "refused", "uid", (json_int_t)uid, "endpoint",
                      server_side ? "server" : "client"));
}

static void on_bridge_closed(void *ud)
{
    session_handle_gone(ud);
}

/* PYTHON -m debugpy --connect HOST:PORT --configure-subProcess false --wait-for-client
 *        -m pytest ARGS TARGET: the debugger's plan (launch.h) with debugpy in front.
 * debugpy's debug server connects to our server endpoint and speaks DAP there; it starts no
 * adapter of its own (and so listens on nothing). Subprocesses are not debugged: they would
 * connect to the endpoint as further servers, which it does not take. */
static char **listen_argv(const LaunchPlan *plan, int server_port)
{
    size_t n = 0;
    while (plan->argv[n])
        n++;
    char **argv = xcalloc(n + 8, sizeof *argv);
    size_t k = 0;
    StrBuf where = STRBUF_INIT;
    strbuf_printf(&where, "%s:%d", DEBUGGER_HOST, server_port);
    argv[k++] = xstrdup(plan->argv[0]);
    argv[k++] = xstrdup("-m");
    argv[k++] = xstrdup("debugpy");
    argv[k++] = xstrdup("--connect");
    argv[k++] = strbuf_detach(&where);
    argv[k++] = xstrdup("--configure-subProcess");
    argv[k++] = xstrdup("false");
    argv[k++] = xstrdup("--wait-for-client");
    for (size_t i = 1; i < n; i++) /* -m pytest ARGS TARGET */
        argv[k++] = xstrdup(plan->argv[i]);
    return argv;
}

static void listen_failed(Session *s, json_t *ev, const char *what, const char *why)
{
    json_decref(ev);
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s: %s", what, why);
    emit_error(s, strbuf_cstr(&sb));
    strbuf_destroy(&sb);
    session_close(s);
}

static void start_listening(Session *s, json_t *ev, const char *target)
{
    /* Both sockets listen before anything starts: no port is picked, released and rebound. */
    DapBridgeEvents bev = {.server_connected = on_server_connected, .client_attached = on_client_attached,
                           .refused = on_refused, .closed = on_bridge_closed};
    int rc = dapbridge_new(s->d->loop, DEBUGGER_HOST, &bev, s, &s->bridge);
    if (rc != 0) {
        StrBuf what = STRBUF_INIT;
        strbuf_printf(&what, "cannot listen on %s", DEBUGGER_HOST);
        listen_failed(s, ev, strbuf_cstr(&what), uv_strerror(rc));
        strbuf_destroy(&what);
        return;
    }
    s->open_handles++; /* the bridge: released by on_bridge_closed */
    LaunchFiles f = {.selection = target};
    LaunchPlan plan;
    launch_plan(&s->t, LAUNCH_DEBUG, &f, &plan);
    char **argv = listen_argv(&plan, dapbridge_server_port(s->bridge));
    uv_pipe_init(s->d->loop, &s->err, 0);
    s->err.data = s;
    s->open_handles++;
    /* Through the exec step, in its own session: cancel reaches what it starts (child.h). */
    ChildSpec spec = {.exe = s->d->exe, .argv = argv, .env = plan.env, .cwd = s->t.root, .hold_stdin = plan.hold_stdin};
    spec.stdio[2] = (uv_stdio_container_t){.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE,
                                           .data.stream = (uv_stream_t *)&s->err};
    s->child = child_start(s->d->loop, &spec, on_debuggee_exit, s, &rc);
    launch_plan_destroy(&plan);
    if (!s->child) {
        StrBuf what = STRBUF_INIT;
        strbuf_printf(&what, "cannot start debugpy with '%s'", s->t.python);
        listen_failed(s, ev, strbuf_cstr(&what), uv_strerror(rc));
        strbuf_destroy(&what);
        project_free_argv(argv);
        return;
    }
    s->pid = child_pid(s->child);
    dapbridge_expect_server(s->bridge, s->pid); /* the python we exec'd, nothing else */
    uv_read_start((uv_stream_t *)&s->err, on_alloc, on_err_read);
    uv_timer_init(s->d->loop, &s->attach_timer);
    s->attach_timer.data = s;
    s->attach_timer_inited = true;
    s->open_handles++;
    /* Restarted with the attach timeout alone once debugpy has connected (on_server_connected). */
    uv_timer_start(&s->attach_timer, on_attach_timeout, DEBUGGER_CONNECT_GRACE_MS + s->attach_timeout_ms, 0);
    json_object_set_new(ev, "listen", json_pack("{s:s, s:i}", "host", DEBUGGER_HOST, "port",
                                                 dapbridge_client_port(s->bridge)));
    json_object_set_new(ev, "pid", json_integer(s->pid));
    json_object_set_new(ev, "cmd", runresult_string_list(argv));
    json_object_set_new(ev, "attach_timeout_ms", json_integer((json_int_t)s->attach_timeout_ms));
    project_free_argv(argv);
    s->announce = ev; /* on_server_connected sends it */
}

/* ---- preparing ---------------------------------------------------------------- */

/* What to debug is known: `nodeid` (consumed; NULL: no collected node around the line, or no
 * line asked for) or else the file. */
static void prepared(Session *s, char *nodeid)
{
    const char *target = nodeid ? nodeid : s->t.file;
    json_t *ev = json_pack("{s:o, s:s}", "config", config_json(s, target), "target", target);
    if (s->nearest_line > 0)
        json_object_set_new(ev, "nearest_found", json_boolean(nodeid != NULL));
    if (s->listen && s->t.prefix) { /* its endpoint is on this side's loopback */
        listen_failed(s, ev, "debugging through a prefix",
                      "needs nvim-dap (debugpy's adapter is started through the prefix on stdio)");
    } else if (s->listen) {
        start_listening(s, ev, target);
    } else {
        emit(s, ev);
        session_close(s);
    }
    free(nodeid);
}

static char *collect_path(const Session *s)
{
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/collect.json", s->tmpdir);
    return strbuf_detach(&sb);
}

static void on_collected(void *ud, int64_t status, int term_signal)
{
    Session *s = ud;
    s->collector = NULL;
    if (s->cancelled || s->d->shutting) {
        session_close(s);
        return;
    }
    char *path = collect_path(s);
    Collection c = {0}; /* destroyed whether or not it was read */
    StrBuf err = STRBUF_INIT;
    char *nodeid = NULL;
    if (status >= 0 && term_signal == 0 && collection_read(path, &c, &err) == 0)
        nodeid = collection_nearest(&c, s->t.file, s->nearest_line, s->t.root);
    collection_destroy(&c);
    strbuf_destroy(&err);
    free(path);
    prepared(s, nodeid);
}

static void on_start_timer(uv_timer_t *t)
{
    Session *s = t->data;
    if (s->cancelled || s->d->shutting) {
        session_close(s);
    } else if (s->error) {
        emit_error(s, s->error);
        session_close(s);
    } else {
        prepared(s, NULL);
    }
}

/* Asks pytest (with our plugin) what it collects in the file, as a run's lookup does
 * (launch.h). 0, or -1 with s->error set. */
static int start_collect(Session *s, const char *plugin_dir)
{
    int rc = launch_tmp_dir(&s->t, &s->d->self, &s->tmpdir);
    if (rc < 0) {
        s->error = privdir_create_error(launch_tmp_base(&s->t), rc);
        return -1;
    }
    char *copy = s->t.prefix ? pyplugin_copy(plugin_dir, s->tmpdir) : NULL;
    if (copy) /* the other side sees it through the map */
        plugin_dir = copy;
    StrBuf report = STRBUF_INIT, path = STRBUF_INIT;
    strbuf_printf(&report, "%s/report.xml", s->tmpdir);
    strbuf_printf(&path, "%s/collect.json", s->tmpdir);
    LaunchFiles f = {.plugin_dir = plugin_dir, .report = strbuf_cstr(&report), .record = strbuf_cstr(&path)};
    LaunchPlan plan;
    launch_plan(&s->t, LAUNCH_NEAREST, &f, &plan);
    free(copy);
    strbuf_destroy(&report);
    strbuf_destroy(&path);
    ChildSpec spec = {.exe = s->d->exe, .argv = plan.argv, .env = plan.env, .cwd = s->t.root, .hold_stdin = plan.hold_stdin};
    s->collector = child_start(s->d->loop, &spec, on_collected, s, &rc);
    launch_plan_destroy(&plan);
    if (!s->collector) {
        StrBuf sb = STRBUF_INIT;
        strbuf_printf(&sb, "cannot start '%s': %s", s->t.python, uv_strerror(rc));
        s->error = strbuf_detach(&sb);
        return -1;
    }
    return 0;
}

int64_t debugger_start(Debugger *d, const DebugSpec *spec)
{
    debugger_cancel(d);
    Session *s = xcalloc(1, sizeof *s);
    s->d = d;
    s->id = d->next_id++;
    s->next = d->live;
    d->live = s;
    s->listen = spec->listen;
    tail_init(&s->tail, STDERR_TAIL);
    uv_timer_init(d->loop, &s->start_timer);
    s->start_timer.data = s;
    s->open_handles = 1;
    if (d->shutting) {
        s->cancelled = true;
        session_close(s);
        return s->id;
    }
    d->active = s;
    s->nearest_line = spec->nearest_line;
    s->attach_timeout_ms = spec->attach_timeout_ms ? spec->attach_timeout_ms : DEBUGGER_ATTACH_TIMEOUT_MS;
    /* Where and with what, as a run would (launch.h): a working directory that is gone or an
     * interpreter another user could have put there ends it here. */
    if (launch_resolve(&spec->req, &s->t) < 0 || !s->t.file) {
        s->error = xstrdup(s->t.error ? s->t.error : "no file to debug");
        uv_timer_start(&s->start_timer, on_start_timer, 0, 0);
        return s->id;
    }
    char *plugin_dir = spec->nearest_line > 0 ? pyplugin_find_dir() : NULL;
    if (plugin_dir && start_collect(s, plugin_dir) == 0) {
        free(plugin_dir);
        return s->id;
    }
    free(plugin_dir);
    /* No line, no plugin to ask (the whole file), or an error: answer from the loop. */
    uv_timer_start(&s->start_timer, on_start_timer, 0, 0);
    return s->id;
}

/* server: RPC method table and lifecycle of the --rpc co-process. */
#include "server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <libxml/xmlversion.h>
#include <msgpack.h>

#include <errno.h>
#include <malloc.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pytest/child.h"
#include "pytest/debugger.h"
#include "pytest/testtree.h"
#include "pytest/launch.h"
#include "parse/coverage.h"
#include "history.h"
#include "base/logdir.h"
#include "mem/memlog.h"
#include "rpc/params.h"
#include "mem/procmem.h"
#include "mem/sysmem.h"
#include "mem/memreport.h"
#include "rpc/rpcio.h"
#include "pytest/runner.h"
#include "pytest/warm.h"
#include "pytest/testoutput.h"
#include "base/strbuf.h"
#include "version.h"
#include "pytest/watch.h"

typedef struct {
    uv_loop_t *loop;
    RpcIo io;
    uv_signal_t signals[3];
    Runner *runner;
    Debugger *debugger;          /* :PytestDebug sessions (debugger.h) */
    TestTree *testtree;          /* `collect`: the suite as pytest collects it (testtree.h) */
    History history;
    char *log_dir;               /* NULL: no logs */
    char *log_refused;           /* why the configured log_dir is not used, or NULL */
    unsigned sample_interval_ms;
    bool stream_failures; /* configure: `finished` leaves out the failures `tests` carried */
    int editor_pid;
    int stopping;
    uv_timer_t status_timer;     /* status-line pushes */
    unsigned status_ticks;
    char *last_status;           /* last pushed status, serialised: push only changes */
    MemLog memlog;               /* snapshots at start, run start, run end */
    json_t *last_progress;       /* latest progress event of the active run */
    struct MethodBinding *bindings; /* one per entry of METHODS, registered with the Rpc */
    Watch *watch;                /* :PytestWatch (watch.h) */
    Coverage *coverage;          /* the latest coverage run's report (owned), or NULL */
    int64_t coverage_run;        /* its run id */
    json_t *call_req_id;         /* while `call` runs a method: its req_id (borrowed), else NULL */
    bool call_deferred;          /* the method answers later with its own `reply` event */
} Server;

/* Missing lines of a file in the summary's list text; the lines themselves go per file. */
#define COVERAGE_RANGES_MAX 160

#define STATUS_TICK_MS 250
#define STATUS_IDLE_TICKS 12     /* every 3 s when no run is active */

/* ---- events to Neovim ---------------------------------------------------------- */

/* Every event the co-process pushes, with the top-level fields of its payload (`?`: not
 * always there): HACKING.md's list of events is this table (`pytestmon --rpc-events` prints
 * it; tests/integration/test_rpc_protocol.py compares, and checks the payloads of a real
 * session against it). */
typedef struct {
    const char *name;
    const char *fields;
    const char *description;
} ServerEvent;

static const ServerEvent EVENTS[] = {
    {"started", "run_id, cwd, root, python, python_why, args, cmd, nearest_found?",
     "pytest of run `run_id` was spawned: in `root` with `python` (`python_why` says which rule "
     "chose it), `cmd` its full command line; nearest_found: a collected test or class was around "
     "the line"},
    {"progress", "run_id, done, total, failed, percent, current?, tree_rss?",
     "at most every 100 ms while pytest runs: tests done of `total`, failed so far, the test "
     "running now, the highest tree RSS sampled since the previous push (bytes)"},
    {"finished",
     "run_id, cwd, root?, python?, python_why?, args, cmd, seconds, pytest_seconds?, timed_out, status, summary, "
     "error?, exit_code?, exit_meaning?, signal?, source?, source_reason?, counts, failures?, "
     "failures_streamed?, slowest, output_tail, log_path?, log_error?, memory, coverage?, "
     "coprocess_rss?, editor_rss?, memlog_error?, exit_to_finished_ms?, warm?, warm_reason?, nearest_lookup?",
     "the run's result (src/pytest/runresult.h): `status` passed|failed|no_tests|interrupted|"
     "internal_error|usage_error|error|timed_out|cancelled, `summary` one sentence (its duration is "
     "`pytest_seconds`, pytest's own from its closing line, when pytest told one; `seconds` is our "
     "clock from spawn to exit), `failures` "
     "[{nodeid, subtest?, kind, when?, message, file, line, crash_file?, crash_line?, memory_limit?}] "
     "(`subtest`: a subtest of that test, as pytest describes it; `memory_limit` {cause, sentence}: "
     "the limit that refused a memory failure's allocation, src/mem/memfail.h; `failures_streamed`: "
     "the `tests` events carried every one of them, and for a client configured with "
     "stream_failures=1 `failures` is left out; the history keeps it), `memory` {peak_rss, "
     "peak_source, tree_peak_rss, peak_vms, peak_nproc, samples, peak_test?, peak_when?, timeline, "
     "top_growth, top_growth_source?, top_peak?, top_gc?, budget?, over_budget?, diagnosis?, "
     "diagnosis_cause?, memory_related?, where_pytest_runs?} (`where_pytest_runs` through a command "
     "prefix: the limits our plugin read where pytest runs, src/mem/memfail.h memfail_limits_where; "
     "`top_*` the 10 tests with the highest exact growth, peak, "
     "time in the garbage collector: [{nodeid, status?, growth?, peak?, gc?, over_budget?}]; "
     "`over_budget` [{nodeid, growth, file?, line}]: the tests above the run's memory_budget_mb); "
     "`warm`: pytest was a fork of the project's warm pytest (src/pytest/warm.h), else "
     "`warm_reason` says why it ran cold; `nearest_lookup` (a run with nearest_line) \"pytest\" "
     "when pytest was asked for the node around the line, \"kept\" when a warm run's earlier "
     "answer for that file still held (the file, the conftest.py files above it and the root's "
     "configuration files unchanged); also kept in the history"},
    {"status",
     "running, watching, done?, total?, failed?, percent?, tree_rss?, warm_rss?, current?, sys_used_pct?, "
     "swap_pct?, warn?, warn_reason?, last_summary?, last_status?, last_peak_rss?",
     "the status line's facts, pushed when they change (checked every 250 ms): the active run's "
     "progress, system memory and swap use, whether a memory limit is near and why, the latest run, "
     "`warm_rss` the summed RSS of the warm pytests runs are forked from (src/pytest/warm.h)"},
    {"error", "message", "trouble the user should hear of that belongs to no request (e.g. the log "
     "directory was refused)"},
    {"reply", "req_id, result?, error?", "the answer to a `call` request: its result, or the error"},
    {"watch",
     "state, root?, files?, scan_ms?, truncated?, dynamic?, error?, saved?, tests?, whole?, why?, "
     "skipped?, args?, run_id?",
     "watch mode: `state` scanning|ready|run|idle|off (see below)"},
    {"debug",
     "debug_id, config?, target?, nearest_found?, listen?, pid?, cmd?, attach_timeout_ms?, refused?, "
     "exited?, status?, signal?, cancelled?, stderr?, timed_out?, error?",
     "a step of debug session `debug_id` (see below)"},
    {"coverage", "run_id, percent, statements, missing, nfiles, files, lines",
     "a coverage run's report: totals, `files` rows [path, percent, statements, missing, missing "
     "ranges], `lines` {file: missing lines} for the files open in the editor"},
    {"collection", "collect_id, root?, items?, more?, classes?, errors?, ms?, status?, error?",
     "the answer to `collect` `collect_id` (src/pytest/testtree.h): `items` and `classes` "
     "[{nodeid, file, line, end}], `errors` [{nodeid, file, message}], `ms` the collection's time, "
     "`status` pytest's exit status; or `error` when pytest collected nothing; over 2,000 items "
     "come in parts first, each {collect_id, root, items, more = true} (see below)"},
    {"tests", "run_id, tests, failures?",
     "the tests whose state changed, read from the plugin's report while pytest runs (at most "
     "every 100 ms, and a last one before `finished`): `tests` [{nodeid, subtest?, status, duration_s, "
     "rss_growth_bytes, rss_peak_bytes?, gc?, over_budget?}] with `status` "
     "running|passed|failed|error|skipped|xfailed|xpassed (`subtest`: a subtest of test `nodeid` that "
     "pytest counts), `gc` [gen0, gen1, gen2, collected, uncollectable, gc_ns, garbage_growth] (the "
     "garbage collector during the test), "
     "`failures` the failures found since the last one, as in `finished` (see below)"},
};
#define NEVENTS (sizeof EVENTS / sizeof EVENTS[0])

void server_print_events(FILE *f)
{
    for (size_t i = 0; i < NEVENTS; i++)
        fprintf(f, "- `%s` {%s}: %s\n", EVENTS[i].name, EVENTS[i].fields, EVENTS[i].description);
}

static bool event_known(const char *name)
{
    for (size_t i = 0; i < NEVENTS; i++)
        if (strcmp(EVENTS[i].name, name) == 0)
            return true;
    return false;
}

/* Sends `require('pytest.events').dispatch(name, payload)` as a notification: the
 * editor never waits on us, we never wait on the editor. Consumes payload. */
static void push_event(Server *s, const char *name, json_t *payload)
{
    if (!event_known(name)) /* a programming error: the event contract is EVENTS[] */
        fprintf(stderr, "pytestmon: event `%s` is not in EVENTS[] (src/server.c)\n", name);
    if (s->stopping || !s->io.rpc) {
        json_decref(payload);
        return;
    }
    json_t *params = json_pack("[s, [s, o]]", "return require('pytest.events').dispatch(...)",
                               name, payload);
    rpc_notify(s->io.rpc, "nvim_exec_lua", params);
}

/* ---- memory snapshots ---------------------------------------------------------- */

static json_t *proc_rss_vms(int pid)
{
    ProcStatm sm;
    if (pid <= 0 || procmem_read_statm("", pid, &sm) != 0)
        return NULL;
    return json_pack("{s:i, s:I, s:I}", "pid", pid, "rss", (json_int_t)sm.rss, "vms", (json_int_t)sm.vms);
}

/* One memory-log record: who uses what, and how close the binding limit is. */
static json_t *snapshot(Server *s, const char *event, json_int_t run_id)
{
    json_t *rec = json_pack("{s:f, s:s}", "ts", (double)time(NULL), "event", event);
    if (run_id)
        json_object_set_new(rec, "run_id", json_integer(run_id));
    json_t *self = proc_rss_vms((int)getpid());
    json_t *editor = proc_rss_vms(s->editor_pid);
    json_t *pytest = proc_rss_vms(runner_active_pid(s->runner));
    if (self)
        json_object_set_new(rec, "coprocess", self);
    if (editor)
        json_object_set_new(rec, "editor", editor);
    if (pytest)
        json_object_set_new(rec, "pytest", pytest);
    SysMem sys;
    if (sysmem_read("", &sys) == 0)
        json_object_set_new(rec, "system", json_pack("{s:I, s:I, s:f}", "total", (json_int_t)sys.mem.total,
                                                     "available", (json_int_t)sys.mem.available,
                                                     "percent", sys.mem.percent));
    Headroom hr;
    headroom_init(&hr);
    if (memreport_headroom("", s->editor_pid ? s->editor_pid : (int)getpid(), &hr) == 0 && hr.sentence)
        json_object_set_new(rec, "binding", json_string(hr.sentence));
    headroom_destroy(&hr);
    return rec;
}

static void log_snapshot(Server *s, const char *event, json_int_t run_id, json_t *extra)
{
    json_t *rec = snapshot(s, event, run_id);
    if (extra)
        json_object_update(rec, extra);
    memlog_append(&s->memlog, rec);
    json_decref(rec);
}

static void on_run_started(void *ud, json_t *ev)
{
    Server *s = ud;
    log_snapshot(s, "run_start", json_integer_value(json_object_get(ev, "run_id")), NULL);
    push_event(s, "started", json_incref(ev));
}

static void on_run_progress(void *ud, json_t *ev)
{
    Server *s = ud;
    json_decref(s->last_progress);
    s->last_progress = json_incref(ev);
    push_event(s, "progress", json_incref(ev));
}

static void push_status(Server *s);

/* The tests whose state changed (the plugin's stream, runner.h). */
static void on_run_tests(void *ud, json_t *ev)
{
    push_event(ud, "tests", json_incref(ev));
}

/* For the leak trend across runs: what the co-process and the editor hold now; and the logs
 * that are off. Asked by the runner as a run ends, for its result (runresult.h). */
static void on_run_observe(void *ud, RunObserved *out)
{
    Server *s = ud;
    ProcStatm sm;
    if (procmem_read_statm("", (int)getpid(), &sm) == 0)
        out->coprocess_rss = (int64_t)sm.rss;
    if (s->editor_pid && procmem_read_statm("", s->editor_pid, &sm) == 0)
        out->editor_rss = (int64_t)sm.rss;
    out->memlog_error = s->memlog.error;
    out->log_dir_error = s->log_refused;
}

/* A run's result, whole (the runner wrote it): logged, kept in the history, told to watch
 * mode, pushed. */
static void on_run_finished(void *ud, json_t *result)
{
    Server *s = ud;
    json_decref(s->last_progress);
    s->last_progress = NULL;
    json_t *peak = json_pack("{s:O?, s:O?}", "pytest_peak_rss",
                             json_object_get(json_object_get(result, "memory"), "peak_rss"), "status",
                             json_object_get(result, "status"));
    /* Everything a client can observe is in place before it hears `finished`: the memory
     * log line, and the history entry with the log file of the run it displaced deleted. */
    log_snapshot(s, "run_end", json_integer_value(json_object_get(result, "run_id")), peak);
    json_decref(peak);
    if (s->watch)
        watch_finished(s->watch, result);
    history_add(&s->history, json_incref(result)); /* serialised once the event is out */
    if (s->stream_failures && json_object_get(result, "failures_streamed") != NULL) {
        /* The editor has every failure from the `tests` events: `finished` need not carry
         * thousands of them again, between pytest's exit and the quickfix list. */
        json_t *event = json_copy(result);
        json_object_del(event, "failures");
        push_event(s, "finished", event);
    } else {
        push_event(s, "finished", json_incref(result));
    }
    push_status(s);
}

/* A coverage run's report: kept (the previous one is dropped) and its summary pushed as the
 * `coverage` event, with the missing lines of the files open in the editor only; the editor
 * asks for others as it opens them (coverage_file), so a large report never travels at once. */
static void on_run_coverage(void *ud, int64_t run_id, Coverage *cov, char *const *files)
{
    Server *s = ud;
    if (s->coverage) {
        coverage_destroy(s->coverage);
        free(s->coverage);
    }
    s->coverage = cov;
    s->coverage_run = run_id;
    json_t *ev = coverage_summary_json(cov, COVERAGE_RANGES_MAX);
    json_object_set_new(ev, "run_id", json_integer(run_id));
    json_t *lines = json_object();
    for (; files && *files; files++) {
        const CoverageFile *f = coverage_find(cov, *files);
        if (f)
            json_object_set_new_nocheck(lines, *files, coverage_lines_json(f));
    }
    json_object_set_new(ev, "lines", lines);
    push_event(s, "coverage", ev);
}

/* ---- status line -------------------------------------------------------------- */

/* The process whose limits matter now: pytest while it runs, else the editor. */
static int status_pid(Server *s)
{
    int pid = runner_active_pid(s->runner);
    if (pid)
        return pid;
    return s->editor_pid ? s->editor_pid : (int)getpid();
}

static json_t *build_status(Server *s)
{
    json_t *st = json_object();
    bool running = runner_active(s->runner);
    json_object_set_new(st, "running", json_boolean(running));
    json_object_set_new(st, "watching", json_boolean(s->watch && watch_on(s->watch)));
    if (running && s->last_progress) {
        const char *keys[] = {"done", "total", "failed", "percent", "tree_rss", "current"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            json_t *v = json_object_get(s->last_progress, keys[i]);
            if (v)
                json_object_set(st, keys[i], v);
        }
    }
    /* Cheap readings only (no smaps_rollup, no tree): this runs every 250 ms. The warm pytests
     * (warm.h: at most WARM_MAX statm reads) are memory the co-process keeps between runs. */
    uint64_t warm_rss = warm_pool_rss(runner_warm_pool(s->runner));
    if (warm_rss)
        json_object_set_new(st, "warm_rss", json_integer((json_int_t)warm_rss));
    SysMem sys;
    if (sysmem_read("", &sys) == 0) {
        json_object_set_new(st, "sys_used_pct", json_real(sys.mem.percent));
        json_object_set_new(st, "swap_pct", json_real(sys.mem.swap_percent));
    }
    /* While pytest runs and is sampled, its latest sample's headroom serves (read every
     * 100 ms anyway); otherwise read it now. */
    Headroom own;
    headroom_init(&own);
    const Headroom *hr = runner_active_headroom(s->runner, STATUS_TICK_MS);
    if (!hr && memreport_headroom("", status_pid(s), &own) == 0)
        hr = &own;
    if (hr) {
        HeadroomVerdict worst = HEADROOM_OK;
        for (int i = 0; i < HEADROOM_N; i++)
            if (hr->c[i].applies && hr->c[i].verdict > worst)
                worst = hr->c[i].verdict;
        json_object_set_new(st, "warn", json_boolean(worst != HEADROOM_OK));
        if (worst != HEADROOM_OK && hr->sentence)
            json_object_set_new(st, "warn_reason", json_string(hr->sentence));
    }
    headroom_destroy(&own);
    json_t *last = history_newest(&s->history);
    if (last) {
        json_t *summary = json_object_get(last, "summary");
        if (summary)
            json_object_set(st, "last_summary", summary);
        json_t *st_name = json_object_get(last, "status");
        if (st_name)
            json_object_set(st, "last_status", st_name);
        json_t *peak = json_object_get(last, "peak_rss");
        if (peak)
            json_object_set_new(st, "last_peak_rss", json_integer(json_integer_value(peak)));
    }
    return st;
}

/* Pushes the status when its text changed. */
static void push_status(Server *s)
{
    if (s->stopping)
        return;
    json_t *st = build_status(s);
    char *text = json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS);
    if (text && (!s->last_status || strcmp(text, s->last_status) != 0)) {
        free(s->last_status);
        s->last_status = text;
        push_event(s, "status", st);
        return;
    }
    free(text);
    json_decref(st);
}

static void server_stop(Server *s);

static void server_stop_from_timer(Server *s)
{
    fprintf(stderr, "pytestmon: editor process %d is gone; shutting down\n", s->editor_pid);
    server_stop(s);
}

static void on_status_tick(uv_timer_t *t)
{
    Server *s = t->data;
    s->status_ticks++;
    child_reap_orphans();
    if (runner_active(s->runner) || s->status_ticks % STATUS_IDLE_TICKS == 0)
        push_status(s);
    /* The editor died without closing our stdin (or we were orphaned): go. */
    if (s->editor_pid && kill(s->editor_pid, 0) != 0 && errno == ESRCH)
        server_stop_from_timer(s);
}

static void server_log(void *ud, const char *msg)
{
    (void)ud;
    fprintf(stderr, "pytestmon: %s\n", msg);
}

static json_t *m_ping(void *ud, json_t *params, StrBuf *err)
{
    (void)ud;
    (void)params;
    (void)err;
    return json_string("pong");
}

static json_t *m_version(void *ud, json_t *params, StrBuf *err)
{
    (void)ud;
    (void)params;
    (void)err;
    /* The defaults of the options the editor sends only when the user set them. */
    json_t *defaults = json_pack("{s:i, s:i, s:i, s:I}", "history_size", SERVER_HISTORY_SIZE,
                                 "sample_interval_ms", SERVER_SAMPLE_INTERVAL_MS, "watch_debounce_ms",
                                 WATCH_DEBOUNCE_MS, "debug_attach_timeout_ms",
                                 (json_int_t)DEBUGGER_ATTACH_TIMEOUT_MS);
    return json_pack("{s:s, s:s, s:s, s:s, s:o}", "version", PYTESTMON_VERSION, "libuv",
                     uv_version_string(), "msgpack", msgpack_version(), "libxml2",
                     LIBXML_DOTTED_VERSION, "defaults", defaults);
}

/* Switches the logs to `dir` if it is safe to write into (see logdir.h); otherwise runs
 * without logs, tells the editor why at once, and says it again in every run's result. */
static void use_log_dir(Server *s, const char *dir)
{
    free(s->log_dir);
    s->log_dir = NULL;
    free(s->log_refused);
    s->log_refused = NULL;
    StrBuf why = STRBUF_INIT;
    if (logdir_prepare(dir, &why) != 0) {
        StrBuf off = STRBUF_INIT;
        strbuf_printf(&off, "memory log is off: %s", strbuf_cstr(&why));
        memlog_close(&s->memlog, strbuf_cstr(&off));
        strbuf_destroy(&off);
        push_event(s, "error", json_pack("{s:s+}", "message", strbuf_cstr(&why), ": running without logs"));
        s->log_refused = strbuf_detach(&why);
        return;
    }
    strbuf_destroy(&why);
    s->log_dir = xstrdup(dir);
    logdir_prune_runs(dir, (int)getpid(), history_capacity(&s->history));
    StrBuf path = STRBUF_INIT;
    strbuf_printf(&path, "%s/memory.jsonl", dir);
    memlog_open(&s->memlog, strbuf_cstr(&path));
    strbuf_destroy(&path);
    log_snapshot(s, "coprocess_start", 0, NULL);
}

static json_t *m_configure(void *ud, json_t *params, StrBuf *err)
{
    Server *s = ud;
    json_t *opts = params_options(params, err);
    if (err->len)
        return NULL;
    const char *log_dir = NULL;
    uint64_t history_size = 0, interval = 0, editor_pid = 0, stream = 2; /* 2: not given */
    uint64_t warm_idle_ms = 0;
    if (params_string(opts, "log_dir", &log_dir, err) || params_uint(opts, "history_size", &history_size, err) ||
        params_uint(opts, "sample_interval_ms", &interval, err) || params_uint(opts, "editor_pid", &editor_pid, err) ||
        params_uint(opts, "stream_failures", &stream, err) || params_uint(opts, "warm_idle_ms", &warm_idle_ms, err))
        return NULL;
    if (warm_idle_ms)
        warm_pool_set_idle_ms(runner_warm_pool(s->runner), warm_idle_ms);
    /* A pid that is not running would make the status tick shut the co-process down. */
    if (editor_pid && kill((pid_t)editor_pid, 0) != 0 && errno == ESRCH) {
        strbuf_printf(err, "option 'editor_pid': no process %llu is running", (unsigned long long)editor_pid);
        return NULL;
    }
    if (history_size)
        history_set_capacity(&s->history, (size_t)history_size);
    if (interval)
        s->sample_interval_ms = (unsigned)interval;
    if (editor_pid)
        s->editor_pid = (int)editor_pid;
    if (stream <= 1)
        s->stream_failures = stream == 1;
    if (log_dir && (!s->log_dir || strcmp(log_dir, s->log_dir) != 0))
        use_log_dir(s, log_dir);
    return json_true();
}

/* The log file for the next run; NULL when there is no usable log_dir. The directory is
 * made again if it was removed (opening the log fails later if it cannot be, and the result
 * says why the log is off), and the logs of gone co-processes are pruned: with this run's
 * log, at most history_size remain. */
static char *next_log_path(Server *s, int64_t next_id)
{
    if (!s->log_dir)
        return NULL;
    StrBuf why = STRBUF_INIT;
    logdir_prepare(s->log_dir, &why);
    strbuf_destroy(&why);
    size_t keep = history_capacity(&s->history);
    logdir_prune_runs(s->log_dir, (int)getpid(), keep > 0 ? keep - 1 : 0);
    return logdir_run_log_path(s->log_dir, (int)getpid(), (long long)next_id);
}

/* ---- the request block of run, watch, collect and debug_* -------------------------- */

/* What those four methods share (REQUEST_PARAMS in the method table), decoded once into a
 * LaunchRequest (launch.h): the strings are borrowed from the options, the lists are the
 * Request's (request_destroy). */
typedef struct {
    LaunchRequest req;
    char **args, **env, **prefix, **path_map;
} Request;

/* `path_map` {inside = host, ...} as pairs [inside, host, ...] (pathmap.h). */
static int params_path_map(json_t *opts, char ***out, size_t *n, StrBuf *err)
{
    json_t *v = json_object_get(opts, "path_map");
    *out = NULL;
    *n = 0;
    if (!v || json_is_null(v) || (json_is_array(v) && json_array_size(v) == 0))
        return 0;
    if (!json_is_object(v)) {
        strbuf_puts(err, "option 'path_map' must be a map of path inside = path here");
        return -1;
    }
    *out = xcalloc(2 * json_object_size(v) + 1, sizeof **out);
    const char *k;
    json_t *val;
    json_object_foreach(v, k, val) {
        if (!json_is_string(val)) {
            strbuf_printf(err, "option 'path_map'.%s must be a string", k);
            return -1;
        }
        (*out)[(*n)++] = xstrdup(k);
        (*out)[(*n)++] = xstrdup(json_string_value(val));
    }
    return 0;
}

static int request_decode(json_t *opts, Request *out, StrBuf *err)
{
    *out = (Request){0};
    LaunchRequest *r = &out->req;
    if (params_string(opts, "cwd", &r->cwd, err) || params_string(opts, "file", &r->file, err) ||
        params_string(opts, "python", &r->python, err) ||
        params_string_list(opts, "args", &out->args, &r->nargs, err) || params_env(opts, &out->env, &r->nenv, err) ||
        params_string_list(opts, "prefix", &out->prefix, &r->nprefix, err) ||
        params_path_map(opts, &out->path_map, &r->npath_map, err))
        return -1;
    r->args = out->args;
    r->env = out->env;
    r->prefix = out->prefix;
    r->path_map = out->path_map;
    return 0;
}

static void request_destroy(Request *rq)
{
    params_free_list(rq->args, rq->req.nargs);
    params_free_list(rq->env, rq->req.nenv);
    params_free_list(rq->prefix, rq->req.nprefix);
    params_free_list(rq->path_map, rq->req.npath_map);
}

static json_t *m_run(void *ud, json_t *params, StrBuf *err)
{
    Server *s = ud;
    json_t *opts = params_options(params, err);
    if (err->len)
        return NULL;
    RunSpec spec = {0};
    Request rq;
    uint64_t nearest_line = 0, coverage = 0, warm = 1;
    char cwd_buf[4096];
    char **cov_files = NULL;
    size_t ncov_files = 0;
    json_t *result = NULL;
    if (request_decode(opts, &rq, err) || params_uint(opts, "timeout_ms", &spec.timeout_ms, err) ||
        params_uint(opts, "kill_grace_ms", &spec.kill_grace_ms, err) ||
        params_uint(opts, "nearest_line", &nearest_line, err) || params_uint(opts, "coverage", &coverage, err) ||
        params_uint(opts, "memory_budget_mb", &spec.memory_budget_mb, err) ||
        params_uint(opts, "warm", &warm, err) ||
        params_string_list(opts, "coverage_files", &cov_files, &ncov_files, err))
        goto error;
    spec.req = rq.req;
    spec.warm = warm != 0;
    spec.coverage = coverage != 0;
    spec.coverage_files = cov_files;
    spec.ncoverage_files = ncov_files;
    spec.nearest_line = (int)nearest_line; /* the method table bounds it */
    if (!spec.req.cwd)
        spec.req.cwd = getcwd(cwd_buf, sizeof cwd_buf) ? cwd_buf : ".";
    spec.sample_interval_ms = s->sample_interval_ms;
    char *log_path = next_log_path(s, runner_next_id(s->runner));
    spec.log_path = log_path;
    int64_t id = runner_start(s->runner, &spec);
    free(log_path);
    result = json_integer(id);
error:
    request_destroy(&rq);
    params_free_list(cov_files, ncov_files);
    return result;
}

/* ---- watch mode (watch.h) ------------------------------------------------------ */

/* Starts a watch run like `run` does (log file, sampling interval). */
static int64_t watch_run(void *ud, const RunSpec *spec)
{
    Server *s = ud;
    RunSpec copy = *spec;
    copy.sample_interval_ms = s->sample_interval_ms;
    char *log_path = next_log_path(s, runner_next_id(s->runner));
    copy.log_path = log_path;
    int64_t id = runner_start(s->runner, &copy);
    free(log_path);
    return id;
}

static void watch_event(void *ud, json_t *ev)
{
    Server *s = ud;
    push_event(s, "watch", ev);
    push_status(s);
}

static json_t *m_watch(void *ud, json_t *params, StrBuf *err)
{
    Server *s = ud;
    json_t *opts = params_options(params, err);
    if (err->len)
        return NULL;
    RunSpec spec = {0};
    Request rq;
    uint64_t debounce_ms = 0, warm = 1;
    json_t *result = NULL;
    LaunchTarget t = {0};
    if (request_decode(opts, &rq, err) || params_uint(opts, "timeout_ms", &spec.timeout_ms, err) ||
        params_uint(opts, "kill_grace_ms", &spec.kill_grace_ms, err) ||
        params_uint(opts, "memory_budget_mb", &spec.memory_budget_mb, err) ||
        params_uint(opts, "warm", &warm, err) ||
        params_uint(opts, "debounce_ms", &debounce_ms, err))
        goto error;
    spec.req = rq.req;
    spec.warm = warm != 0;
    if (!spec.req.cwd)
        spec.req.cwd = ".";
    launch_resolve(&spec.req, &t);
    if (!t.root) { /* the working directory is gone (a refused interpreter is each run's to say) */
        strbuf_puts(err, t.error);
        goto error;
    }
    char *root = realpath(t.root, NULL);
    spec.req.cwd = t.cwd;
    watch_start(s->watch, &spec, root ? root : t.root, debounce_ms);
    result = json_pack("{s:s}", "root", root ? root : t.root);
    if (!result)
        strbuf_puts(err, "watch: the root is not valid UTF-8");
    free(root);
error:
    launch_target_destroy(&t);
    request_destroy(&rq);
    return result;
}

static json_t *m_unwatch(void *ud, json_t *params, StrBuf *err)
{
    Server *s = ud;
    (void)params;
    (void)err;
    bool was = watch_stop(s->watch);
    if (was)
        malloc_trim(0); /* the graph is gone: give its pages back, as after a run */
    return json_boolean(was);
}

static json_t *m_saved(void *ud, json_t *params, StrBuf *err)
{
    Server *s = ud;
    json_t *opts = params_options(params, err);
    if (err->len)
        return NULL;
    const char *file = NULL;
    if (params_string(opts, "file", &file, err))
        return NULL;
    return json_boolean(watch_saved(s->watch, file));
}

/* What a run with these options would use, without starting it: stat() calls only (and the
 * interpreter's trust check: lstat, readlink, realpath), so it answers at once (for :checkhealth and a `python` option that is a function of the root). */
static json_t *m_resolve(void *ud, json_t *params, StrBuf *err)
{
    (void)ud;
    json_t *opts = params_options(params, err);
    if (err->len)
        return NULL;
    const char *cwd = NULL, *file = NULL, *python = NULL;
    if (params_string(opts, "cwd", &cwd, err) || params_string(opts, "file", &file, err) ||
        params_string(opts, "python", &python, err))
        return NULL;
    LaunchTarget t;
    LaunchRequest req = {.cwd = cwd ? cwd : ".", .file = file, .python = python};
    launch_resolve(&req, &t);
    if (!t.root) { /* the working directory is gone */
        strbuf_puts(err, t.error);
        launch_target_destroy(&t);
        return NULL;
    }
    json_t *r = json_pack("{s:s, s:s, s:s, s:s}", "cwd", t.cwd, "root", t.root, "python", t.python,
                          "python_why", t.python_why);
    if (r && t.marker)
        json_object_set_new(r, "marker", json_string(t.marker));
    if (r && t.error) /* an interpreter another user could have put there */
        json_object_set_new(r, "refused", json_string(t.error));
    if (!r)
        strbuf_puts(err, "resolve: a path is not valid UTF-8");
    launch_target_destroy(&t);
    return r;
}

/* ---- debugging ------------------------------------------------------------------ */

static void on_debug_event(void *ud, json_t *payload)
{
    push_event(ud, "debug", json_incref(payload));
}

/* `debug_config` and `debug_listen`: the same options, answered at once with the session's
 * id; the `debug` event follows (debugger.h). */
static json_t *debug_start(Server *s, json_t *params, bool listen, StrBuf *err)
{
    json_t *opts = params_options(params, err);
    if (err->len)
        return NULL;
    DebugSpec spec = {.listen = listen};
    Request rq;
    uint64_t nearest_line = 0, attach_timeout_ms = 0;
    json_t *result = NULL;
    if (request_decode(opts, &rq, err) || params_uint(opts, "nearest_line", &nearest_line, err) ||
        (listen && params_uint(opts, "attach_timeout_ms", &attach_timeout_ms, err)))
        goto error;
    spec.req = rq.req;
    spec.nearest_line = (int)nearest_line; /* the method table bounds it */
    spec.attach_timeout_ms = attach_timeout_ms; /* 0: not given, the default */
    result = json_integer(debugger_start(s->debugger, &spec));
error:
    request_destroy(&rq);
    return result;
}

static json_t *m_debug_config(void *ud, json_t *params, StrBuf *err)
{
    return debug_start(ud, params, false, err);
}

static json_t *m_debug_listen(void *ud, json_t *params, StrBuf *err)
{
    return debug_start(ud, params, true, err);
}

/* ---- collection (testtree.h) ---------------------------------------------------- */

static void on_collection(void *ud, json_t *payload)
{
    push_event(ud, "collection", json_incref(payload));
}

/* collect [{cwd, file, args, python, env, debounce_ms}] -> collect_id; `collection` follows. */
static json_t *m_collect(void *ud, json_t *params, StrBuf *err)
{
    Server *s = ud;
    json_t *opts = params_options(params, err);
    if (err->len)
        return NULL;
    TestTreeSpec spec = {0};
    Request rq;
    json_t *result = NULL;
    if (request_decode(opts, &rq, err) || params_uint(opts, "debounce_ms", &spec.debounce_ms, err))
        goto error;
    spec.req = rq.req;
    result = json_integer(testtree_start(s->testtree, &spec));
error:
    request_destroy(&rq);
    return result;
}

static json_t *m_mem(void *ud, json_t *params, StrBuf *err)
{
    Server *s = ud;
    json_t *opts = params_options(params, err);
    if (err->len)
        return NULL;
    uint64_t pid = 0;
    if (params_uint(opts, "pid", &pid, err))
        return NULL;
    if (!pid)
        pid = s->editor_pid ? (uint64_t)s->editor_pid : (uint64_t)getpid();
    MemFacts facts;
    memreport_facts_init(&facts);
    int rc = memreport_read("", (int)pid, &facts);
    if (rc < 0) {
        memreport_facts_destroy(&facts);
        strbuf_printf(err, "cannot read memory of pid %llu: %s", (unsigned long long)pid, strerror(-rc));
        return NULL;
    }
    json_t *rep = memreport_json(&facts);
    /* The three processes a user asks about, side by side: only their process part is read,
     * and the report's own process is not read again. */
    json_t *procs = json_array();
    struct { const char *role; int pid; } roles[] = {
        {"editor", s->editor_pid}, {"co-process", (int)getpid()}, {"pytest", runner_active_pid(s->runner)}};
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        if (!roles[i].pid)
            continue;
        json_t *p, *tree;
        if (roles[i].pid == (int)pid) {
            p = json_incref(json_object_get(rep, "process"));
            tree = json_incref(json_object_get(rep, "tree"));
        } else {
            MemProcess mp;
            memreport_process_init(&mp);
            bool ok = memreport_read_process("", roles[i].pid, &mp) == 0;
            p = ok ? memreport_process_json(&mp) : NULL;
            tree = ok ? memreport_tree_json(&mp) : NULL;
            memreport_process_destroy(&mp);
            if (!ok)
                continue;
        }
        json_array_append_new(procs, json_pack("{s:s, s:i, s:o, s:o}", "role", roles[i].role,
                                               "pid", roles[i].pid, "process", p, "tree", tree));
    }
    memreport_facts_destroy(&facts);
    json_object_set_new(rep, "processes", procs);
    /* The warm pytests (their RSS is the co-process's to answer for) and why a project's are not */
    json_object_set_new(rep, "warm", warm_pool_json(runner_warm_pool(s->runner)));
    json_object_set_new(rep, "trend", history_trend(&s->history));
    if (s->memlog.path)
        json_object_set_new(rep, "memlog_path", json_string(s->memlog.path));
    if (s->memlog.error)
        json_object_set_new(rep, "memlog_error", json_string(s->memlog.error));
    return rep;
}

static json_t *m_cancel(void *ud, json_t *params, StrBuf *err)
{
    Server *s = ud;
    (void)params;
    (void)err;
    bool debugging = debugger_cancel(s->debugger);
    return json_boolean(runner_cancel(s->runner) || debugging);
}

static json_t *m_history(void *ud, json_t *params, StrBuf *err)
{
    Server *s = ud;
    (void)params;
    (void)err;
    return history_list(&s->history);
}

static json_t *m_history_get(void *ud, json_t *params, StrBuf *err)
{
    Server *s = ud;
    json_t *id = json_array_get(params, 0);
    if (!json_is_integer(id)) {
        strbuf_puts(err, "params[1] must be a run id (integer)");
        return NULL;
    }
    json_t *run = history_get(&s->history, json_integer_value(id));
    if (!run) {
        strbuf_printf(err, "no run %lld in the history", (long long)json_integer_value(id));
        return NULL;
    }
    return run;
}

/* ---- one test's output (testoutput.h) --------------------------------------------- */

typedef struct {
    Server *s;
    json_t *req_id;
} DeferredReply;

/* The `reply` event of a `call` whose method answered later. */
static void on_test_output(void *ud, json_t *result, const char *error)
{
    DeferredReply *d = ud;
    json_t *reply = json_pack("{s:O}", "req_id", d->req_id);
    if (result)
        json_object_set(reply, "result", result);
    else
        json_object_set_new(reply, "error", json_stringn_nocheck(error, strlen(error)));
    push_event(d->s, "reply", reply);
    json_decref(d->req_id);
    free(d);
}

/* test_output [{nodeid, run_id}]: one test's report from the latest (or the given, while kept)
 * run's report file. Through `call` (the editor) it is read in the thread pool and answered by
 * the `reply` event; a direct request is read at once. */
static json_t *m_test_output(void *ud, json_t *params, StrBuf *err)
{
    Server *s = ud;
    json_t *opts = params_options(params, err);
    if (err->len)
        return NULL;
    const char *nodeid = NULL;
    uint64_t run_id = 0;
    if (params_string(opts, "nodeid", &nodeid, err) || params_uint(opts, "run_id", &run_id, err))
        return NULL;
    int64_t latest = 0;
    const char *path = runner_report_path(s->runner, (int64_t)run_id, &latest);
    if (!path) {
        if (!latest)
            strbuf_puts(err, "no run has a report yet: run the tests first");
        else
            strbuf_printf(err, "the report of run %llu is not kept (only the latest run's is: run %lld)",
                          (unsigned long long)run_id, (long long)latest);
        return NULL;
    }
    int64_t id = run_id ? (int64_t)run_id : latest;
    if (s->call_req_id) {
        DeferredReply *d = xcalloc(1, sizeof *d);
        d->s = s;
        d->req_id = json_incref(s->call_req_id);
        if (testoutput_start(s->loop, path, id, nodeid, on_test_output, d) == 0) {
            s->call_deferred = true;
            return NULL;
        }
        json_decref(d->req_id);
        free(d);
    }
    return testoutput_read(path, id, nodeid, err);
}

/* coverage_file [{file}]: the missing lines of one file of the latest coverage report. */
static json_t *m_coverage_file(void *ud, json_t *params, StrBuf *err)
{
    Server *s = ud;
    json_t *opts = params_options(params, err);
    if (err->len)
        return NULL;
    const char *file = NULL;
    if (params_string(opts, "file", &file, err))
        return NULL;
    if (!s->coverage) {
        strbuf_puts(err, "no coverage data yet: run :PytestCoverage first");
        return NULL;
    }
    const CoverageFile *f = coverage_find(s->coverage, file);
    json_t *r = json_object();
    json_object_set_new(r, "run_id", json_integer(s->coverage_run));
    json_object_set_new(r, "file", json_stringn_nocheck(file, strlen(file))); /* a byte string (mpjson.h) */
    json_object_set_new(r, "measured", json_boolean(f != NULL));
    json_object_set_new(r, "lines", coverage_lines_json(f));
    if (f) {
        json_object_set_new(r, "percent", json_real(f->percent));
        json_object_set_new(r, "missing", json_integer(f->missing));
    }
    return r;
}

static void on_runner_freed(void *ud)
{
    Server *s = ud;
    s->runner = NULL;
    rpcio_close(&s->io);
}

static void server_stop(Server *s)
{
    if (s->stopping)
        return;
    s->stopping = 1;
    uv_close((uv_handle_t *)&s->status_timer, NULL);
    watch_free(s->watch);
    s->watch = NULL;
    for (size_t i = 0; i < sizeof s->signals / sizeof s->signals[0]; i++)
        uv_close((uv_handle_t *)&s->signals[i], NULL);
    debugger_shutdown(s->debugger); /* a listening debugpy must not outlive us either */
    testtree_shutdown(s->testtree);
    /* pytest first (it must not outlive us), then the transport. */
    runner_free(s->runner, on_runner_freed, s);
}

static void on_eof(RpcIo *io, void *ud)
{
    (void)io;
    server_stop(ud);
}

/* Deferred bookkeeping that would otherwise hold up an event on its way to the editor. */
static void on_output_drained(RpcIo *io, void *ud)
{
    Server *s = ud;
    (void)io;
    if (history_compact(&s->history) > 0)
        malloc_trim(0); /* the result's tree is gone: as after a run, give the pages back */
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    server_stop(h->data);
}

/* ---- the method table ------------------------------------------------------------ */

/* Pids fit in 22 bits on Linux (PID_MAX_LIMIT). */
#define PID_MAX 4194304u

static const ParamSpec CONFIGURE_PARAMS[] = {
    {"log_dir", PARAM_STRING, 1, 0, false},
    {"history_size", PARAM_UINT, 1, 1000, false},
    {"sample_interval_ms", PARAM_UINT, 20, 1000000000, false}, /* bench/run.py: 10^9 = off */
    {"editor_pid", PARAM_UINT, 1, PID_MAX, false},
    /* 1: the client keeps the failures of the `tests` events; `finished` leaves them out */
    {"stream_failures", PARAM_UINT, 0, 1, false},
    {"warm_idle_ms", PARAM_UINT, 100, 86400000, false}, /* warm.h: WARM_IDLE_MS_DEFAULT */
};
/* The request block run, watch, collect and debug_* share (request_decode, launch.h's
 * LaunchRequest): one prefix of their tables. */
#define REQUEST_PARAMS(file_required)                                                         \
    {"cwd", PARAM_STRING, 1, 0, false}, {"file", PARAM_STRING, 1, 0, file_required},          \
        {"python", PARAM_STRING, 1, 0, false}, {"args", PARAM_STRING_LIST, 0, 0, false},      \
        {"env", PARAM_STRING_MAP, 0, 0, false}, {"prefix", PARAM_STRING_LIST, 0, 0, false},   \
        {"path_map", PARAM_STRING_MAP, 0, 0, false}
static const ParamSpec RUN_PARAMS[] = {
    REQUEST_PARAMS(false),
    {"timeout_ms", PARAM_UINT, 0, 2592000000u, false},   /* 0: none; at most 30 days */
    {"kill_grace_ms", PARAM_UINT, 0, 600000, false},     /* 0: 2000 */
    {"nearest_line", PARAM_UINT, 1, 100000000, false},
    {"coverage", PARAM_UINT, 0, 1, false},            /* 1: with pytest-cov (coverage.h) */
    {"coverage_files", PARAM_STRING_LIST, 0, 0, false}, /* the files open in the editor */
    {"memory_budget_mb", PARAM_UINT, 0, 1048576, false}, /* 0: none */
    {"warm", PARAM_UINT, 0, 1, false},                /* 0: cold; 1 (default): warm.h */
};
static const ParamSpec COVERAGE_FILE_PARAMS[] = {
    {"file", PARAM_STRING, 1, 0, true},
};
static const ParamSpec RESOLVE_PARAMS[] = {
    {"cwd", PARAM_STRING, 1, 0, false},
    {"file", PARAM_STRING, 1, 0, false},
    {"python", PARAM_STRING, 1, 0, false},
};
static const ParamSpec WATCH_PARAMS[] = {
    REQUEST_PARAMS(false),
    {"timeout_ms", PARAM_UINT, 0, 2592000000u, false},
    {"kill_grace_ms", PARAM_UINT, 0, 600000, false},
    {"debounce_ms", PARAM_UINT, 0, 60000, false},        /* 0: WATCH_DEBOUNCE_MS */
    {"memory_budget_mb", PARAM_UINT, 0, 1048576, false},
    {"warm", PARAM_UINT, 0, 1, false},
};
static const ParamSpec SAVED_PARAMS[] = {
    {"file", PARAM_STRING, 1, 0, true},
};
static const ParamSpec DEBUG_PARAMS[] = {
    REQUEST_PARAMS(true),
    {"nearest_line", PARAM_UINT, 1, 100000000, false},
};
static const ParamSpec DEBUG_LISTEN_PARAMS[] = {
    REQUEST_PARAMS(true),
    {"nearest_line", PARAM_UINT, 1, 100000000, false},
    {"attach_timeout_ms", PARAM_UINT, 100, 86400000, false},
};
static const ParamSpec COLLECT_PARAMS[] = {
    REQUEST_PARAMS(false),
    {"debounce_ms", PARAM_UINT, 0, 60000, false},
};
static const ParamSpec TEST_OUTPUT_PARAMS[] = {
    {"nodeid", PARAM_STRING, 1, 0, true},
    {"run_id", PARAM_UINT, 1, 1000000000, false},
};
static const ParamSpec MEM_PARAMS[] = {
    {"pid", PARAM_UINT, 1, PID_MAX, false},
};

#define SPECS(a) a, sizeof a / sizeof a[0]

typedef struct {
    const char *name;
    RpcHandler handler; /* runs with the Server as ud, after the params passed the check */
    ParamsShape shape;
    const ParamSpec *params;
    size_t nparams;
    const char *result;
    const char *description;
} ServerMethod;

static json_t *m_call(void *ud, json_t *params, StrBuf *err);

/* Every method the co-process serves: HACKING.md's RPC contract is this table
 * (`pytestmon --rpc-methods` prints it; tests/integration/test_rpc_protocol.py compares). */
static const ServerMethod METHODS[] = {
    {"ping", m_ping, PARAMS_NONE, NULL, 0, "\"pong\"", "liveness check"},
    {"version", m_version, PARAMS_NONE, NULL, 0, "{version, libuv, msgpack, libxml2, defaults}",
     "versions of the co-process and its libraries, and `defaults`: what it uses for the options "
     "the editor sends only when the user set them {history_size, sample_interval_ms, "
     "watch_debounce_ms, debug_attach_timeout_ms}"},
    {"configure", m_configure, PARAMS_OPTIONS, SPECS(CONFIGURE_PARAMS), "true",
     "sets the log directory, history size, sampling interval and the editor's pid "
     "(the co-process exits when that process is gone), and how long a warm pytest waits for a "
     "run before it ends (warm_idle_ms, default 600000)"},
    {"run", m_run, PARAMS_OPTIONS, SPECS(RUN_PARAMS), "run_id (int)",
     "starts pytest (cancelling an active run first); events follow. With file and "
     "nearest_line: runs the collected test or class around that line (pytest is asked first). "
     "With coverage 1: measured by pytest-cov, then a `coverage` event with the summary and the "
     "missing lines of coverage_files (the files open in the editor). With memory_budget_mb: a test "
     "whose exact peak RSS growth is above it is `over_budget` (a warning)"},
    {"resolve", m_resolve, PARAMS_OPTIONS, SPECS(RESOLVE_PARAMS), "{cwd, root, marker?, python, python_why, refused?}",
     "what a run with these options would use (project root, interpreter), without starting it; "
     "`refused`: why runs will not start that interpreter (a venv's that another user could have put there)"},
    {"watch", m_watch, PARAMS_OPTIONS, SPECS(WATCH_PARAMS), "{root}",
     "watches the project (cwd, file and python decide the root, as for run): each `saved` "
     "file reruns the test files it affects through the import graph, `args` being the watched "
     "selection; `watch` events follow (memory_budget_mb: as for run)"},
    {"unwatch", m_unwatch, PARAMS_NONE, NULL, 0, "bool", "stops watching; true if watching was on"},
    {"saved", m_saved, PARAMS_OPTIONS, SPECS(SAVED_PARAMS), "bool",
     "a file was written: while watching, reruns what it affects after the debounce delay; "
     "false when not watching or the file is not under the watched root"},
    {"cancel", m_cancel, PARAMS_NONE, NULL, 0, "bool",
     "ends the active run and the debug session; true if one was active"},
    {"mem", m_mem, PARAMS_OPTIONS, SPECS(MEM_PARAMS), "memory report map (see memreport.h)",
     "memory report of pid (default: the editor)"},
    {"history", m_history, PARAMS_NONE, NULL, 0, "list of run summaries", "the runs kept, newest first"},
    {"history_get", m_history_get, PARAMS_RUN_ID, NULL, 0, "full result map", "one kept run in full"},
    {"debug_config", m_debug_config, PARAMS_OPTIONS, SPECS(DEBUG_PARAMS), "debug_id (int)",
     "what a debugger needs to run the test around nearest_line of file (pytest is asked), or the "
     "whole file, as a run would: the `debug` event follows with {debug_id, config: {python, cwd, "
     "module, args, env}, target, nearest_found?} or {debug_id, error}"},
    {"debug_listen", m_debug_listen, PARAMS_OPTIONS, SPECS(DEBUG_LISTEN_PARAMS), "debug_id (int)",
     "as debug_config, then starts `python -m debugpy --connect 127.0.0.1:PORT --configure-subProcess "
     "false --wait-for-client -m pytest ...` in the root (ending the one before) behind an endpoint of "
     "ours that only our uid can use: `debug` events {.., listen: {host, port}, pid, cmd, "
     "attach_timeout_ms} once a debugger can attach there, {refused: {uid, endpoint}} when another "
     "user's connection was closed unread, and when it exits {debug_id, exited, status, signal, "
     "cancelled, stderr, timed_out?} (timed_out: nobody attached within attach_timeout_ms, default "
     "300000)"},
    {"coverage_file", m_coverage_file, PARAMS_OPTIONS, SPECS(COVERAGE_FILE_PARAMS),
     "{run_id, file, measured, lines, percent?, missing?}",
     "the missing lines of `file` in the latest coverage report (for a buffer opened after the run)"},
    {"collect", m_collect, PARAMS_OPTIONS, SPECS(COLLECT_PARAMS), "collect_id (int)",
     "collects the suite with pytest itself (same root, interpreter, env and args as a run) after "
     "debounce_ms, superseding a pending collect (which then reports nothing): the `collection` "
     "event follows with {collect_id, root, items, classes, errors, ms} or {collect_id, error}"},
    {"test_output", m_test_output, PARAMS_OPTIONS, SPECS(TEST_OUTPUT_PARAMS),
     "{run_id, nodeid, status, message?, text?, stdout?, stderr?, memory_limit?, memory?}",
     "one test's report from the latest finished run's report file (kept until a newer run "
     "finishes) or from run_id's while it is kept or running: status, failure message and text, "
     "captured stdout and stderr/log (display text), a memory failure's limit (as in `failures`), "
     "`memory` {rss_start?, rss_peak?, rss_growth?, gc?} (exact, as in `tests`); through `call` it "
     "is read off the loop"},
    {"call", m_call, PARAMS_NONE, NULL, 0, "true (send it as a notification)",
     "runs `method` with `params` and pushes the answer as a `reply` event "
     "{req_id, result} or {req_id, error}, so the editor never waits"},
};
#define NMETHODS (sizeof METHODS / sizeof METHODS[0])

struct MethodBinding {
    Server *s;
    const ServerMethod *m;
};

static const ServerMethod *find_method(const char *name)
{
    for (size_t i = 0; i < NMETHODS; i++)
        if (strcmp(METHODS[i].name, name) == 0)
            return &METHODS[i];
    return NULL;
}

/* Every request and notification comes through here: params are checked against the table
 * before the handler sees them. */
static json_t *checked_call(void *ud, json_t *params, StrBuf *err)
{
    struct MethodBinding *b = ud;
    if (b->m->handler != m_call &&
        params_check(params, b->m->name, b->m->shape, b->m->params, b->m->nparams, err) != 0)
        return NULL;
    return b->m->handler(b->s, params, err);
}

/* `call` [req_id, method, params]: the answer goes out as a `reply` event. */
static json_t *m_call(void *ud, json_t *params, StrBuf *err)
{
    Server *s = ud;
    json_t *req_id = json_array_get(params, 0);
    json_t *name = json_array_get(params, 1);
    json_t *args = json_array_get(params, 2);
    if (!json_is_integer(req_id) || json_integer_value(req_id) < 0) {
        /* Sent as a notification: nobody to answer. */
        fprintf(stderr, "pytestmon: call without a req_id (an integer >= 0); ignored\n");
        strbuf_puts(err, "call takes [req_id (integer >= 0), method (string), params (list)]");
        return NULL;
    }
    const ServerMethod *m = NULL;
    json_t *result = NULL;
    if (json_array_size(params) != 3 || !json_is_string(name) || !json_is_array(args))
        strbuf_puts(err, "call takes [req_id (integer >= 0), method (string), params (list)]");
    else if (!(m = find_method(json_string_value(name))) || m->handler == m_call)
        strbuf_printf(err, "unknown method: %s", json_string_value(name));
    else if (params_check(args, m->name, m->shape, m->params, m->nparams, err) == 0) {
        s->call_req_id = req_id;
        result = m->handler(s, args, err);
        s->call_req_id = NULL;
    }
    if (s->call_deferred) { /* the method pushes its own `reply` when it is done */
        s->call_deferred = false;
        return json_true();
    }
    json_t *reply = json_pack("{s:O}", "req_id", req_id);
    if (result) {
        json_object_set_new(reply, "result", result);
    } else {
        /* Byte strings, as everywhere (mpjson.h): a key or method name may be invalid UTF-8. */
        const char *e = err->len ? strbuf_cstr(err) : "failed";
        json_object_set_new(reply, "error", json_stringn_nocheck(e, strlen(e)));
    }
    push_event(s, "reply", reply);
    strbuf_reset(err);
    return json_true();
}

static void register_methods(Server *s)
{
    s->bindings = xcalloc(NMETHODS, sizeof *s->bindings);
    for (size_t i = 0; i < NMETHODS; i++) {
        s->bindings[i] = (struct MethodBinding){s, &METHODS[i]};
        rpc_register(s->io.rpc, METHODS[i].name, checked_call, &s->bindings[i]);
    }
}

void server_print_methods(FILE *f)
{
    for (size_t i = 0; i < NMETHODS; i++) {
        const ServerMethod *m = &METHODS[i];
        StrBuf sb = STRBUF_INIT;
        if (m->handler == m_call)
            strbuf_puts(&sb, "[req_id: integer, method: string, params: list]");
        else
            params_describe(&sb, m->shape, m->params, m->nparams);
        fprintf(f, "- `%s` %s -> %s: %s\n", m->name, strbuf_cstr(&sb), m->result, m->description);
        strbuf_destroy(&sb);
    }
}

/* The shim starts the co-process with glibc's tcache off (lua/pytest/client.lua) and passes
 * the editor's own GLIBC_TUNABLES in PYTESTMON_CHILD_GLIBC_TUNABLES ("" = unset). glibc read
 * the tunables at our start; put the user's value back so pytest runs with what they set. */
static void restore_child_tunables(void)
{
    const char *orig = getenv("PYTESTMON_CHILD_GLIBC_TUNABLES");
    if (orig == NULL)
        return;
    if (*orig)
        setenv("GLIBC_TUNABLES", orig, 1);
    else
        unsetenv("GLIBC_TUNABLES");
    unsetenv("PYTESTMON_CHILD_GLIBC_TUNABLES");
}

int server_main(void)
{
    Server s = {0};
    uv_loop_t loop;
    int r;
    signal(SIGPIPE, SIG_IGN);
    restore_child_tunables();
    /* Orphaned descendants of pytest (setsid grandchildren included) become ours, so
     * cancel and cleanup can still find and end them. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    if ((r = uv_loop_init(&loop)) != 0) {
        fprintf(stderr, "pytestmon: uv_loop_init: %s\n", uv_strerror(r));
        return 1;
    }
    s.loop = &loop;
    if ((r = rpcio_init(&s.io, &loop, 0, 1, server_log, on_eof, NULL, &s)) != 0) {
        fprintf(stderr, "pytestmon: cannot use stdin/stdout as pipes: %s\n", uv_strerror(r));
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return 1;
    }
    s.io.on_drained = on_output_drained;
    static const RunnerEvents events = {.started = on_run_started, .progress = on_run_progress,
                                        .finished = on_run_finished, .observe = on_run_observe, .coverage = on_run_coverage,
                                        .tests = on_run_tests};
    s.runner = runner_new(&loop, &events, &s);
    static const WatchHooks watch_hooks = {watch_run, watch_event};
    s.watch = watch_new(&loop, &watch_hooks, &s);
    s.debugger = debugger_new(&loop, on_debug_event, &s);
    s.testtree = testtree_new(&loop, on_collection, &s);
    history_init(&s.history, SERVER_HISTORY_SIZE);
    memlog_init(&s.memlog, 1024 * 1024);
    s.sample_interval_ms = SERVER_SAMPLE_INTERVAL_MS;
    register_methods(&s);
    const int signums[] = {SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < sizeof signums / sizeof signums[0]; i++) {
        uv_signal_init(&loop, &s.signals[i]);
        s.signals[i].data = &s;
        uv_signal_start(&s.signals[i], on_signal, signums[i]);
    }
    uv_timer_init(&loop, &s.status_timer);
    s.status_timer.data = &s;
    uv_timer_start(&s.status_timer, on_status_tick, STATUS_TICK_MS, STATUS_TICK_MS);
    uv_run(&loop, UV_RUN_DEFAULT);
    r = uv_loop_close(&loop);
    debugger_free(s.debugger);
    testtree_free(s.testtree);
    free(s.last_status);
    json_decref(s.last_progress);
    history_destroy(&s.history);
    memlog_destroy(&s.memlog);
    free(s.log_dir);
    free(s.log_refused);
    free(s.bindings);
    if (s.coverage) {
        coverage_destroy(s.coverage);
        free(s.coverage);
    }
    if (r != 0)
        fprintf(stderr, "pytestmon: loop closed with live handles: %s\n", uv_strerror(r));
    return 0;
}

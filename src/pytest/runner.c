/* runner: spawning, streaming, cancelling and finishing pytest runs. */
#include "pytest/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "parse/collection.h"
#include "pytest/collector.h"
#include "pytest/execstep.h"
#include "base/path.h"
#include "mem/headroom.h"
#include "mem/runmem.h"
#include "pytest/privdir.h"
#include "pytest/project.h"
#include "pytest/pyplugin.h"
#include "mem/proctree.h"
#include "pytest/runout.h"
#include "mem/sampler.h"
#include "base/strbuf.h"
#include "base/textclean.h"

extern char **environ;

typedef struct Run Run;

/* What a run needs to start, copied from its RunSpec (owned), dropped once it started. */
typedef struct {
    char *cwd, *file, *python, *log_path;
    char **args, **env;
    size_t nargs, nenv, tail_bytes;
    int nearest_line;
} LaunchSpec;

struct Runner {
    uv_loop_t *loop;
    RunnerEvents ev;
    void *ud;
    int64_t next_id;
    Run *active;
    Run *pending; /* a run waiting for the closing ones to drop below RUNNER_MAX_CLOSING */
    Run *live;    /* every run whose handles are not all closed */
    PrivdirOwner self; /* names our private temporary directories */
    char **plugin_loads; /* interpreters seen to import our plugin (NULL-terminated, heap) */
    char *exe;         /* this binary, for the exec step */
    void (*done)(void *ud);
    void *done_ud;
    bool (*foreign_owns)(void *ud, int pid); /* children another module owns */
    void *foreign_ud;
    bool freeing;
    char *kept_dir, *kept_report; /* the latest finished run's private directory and report */
    int64_t kept_id;              /* (runner_report_path); 0: none */
    /* One read buffer for every pipe of every run: libuv calls alloc, read and on_read back to
     * back on the loop thread, and on_read copies what it keeps, so no two reads share it.
     * (Two 64 KiB buffers per Run made each run a fresh 130 KiB allocation.) */
    char readbuf[64 * 1024];
};

struct Run {
    Runner *r;
    Run *next;
    int64_t id;
    LaunchSpec spec;             /* until the run is launched */
    char *cwd, *root, *python, **argv, **env;
    char *plugin_dir;            /* where pytestmon_plugin.py is; NULL: pytest's junitxml */
    Collector *collector;        /* asking pytest what it collects (nearest); NULL otherwise */
    char **base_args;            /* nearest: the rewritten user args, until pytest is spawned */
    char *nearest_file;          /* nearest: the file (absolute) and line to run the test at */
    int nearest_line;
    bool nearest_found;          /* nearest: a collected node was around the line */
    const char *python_why;
    char **user_args;
    uint64_t timeout_ms, grace_ms;
    char *tmpdir, *junit_path;
    bool coverage;               /* measured with pytest-cov (RunSpec.coverage) */
    char *coverage_path;         /* where the plugin writes coverage.py's JSON report */
    char **coverage_files;       /* the editor's open files, handed back with the report */
    char *start_error;
    uv_process_t proc;
    uv_pipe_t out, err;
    uv_timer_t timeout_timer, kill_timer, progress_timer, start_timer;
    uv_timer_t feed_timer;       /* reads the plugin's report while pytest runs */
    uv_timer_t pace_timer;       /* reading of out/err resumes (on_read: a short read pauses it) */
    bool out_paused, err_paused;
    uint64_t last_tests_ns;      /* the last `tests` push */
    int open_handles;
    bool proc_inited, spawned, exited, out_eof, err_eof, cancelled, timed_out, finished;
    bool hurried;                /* sent SIGKILL early for a pending run: once is enough */
    int64_t exit_status;
    int term_signal;
    uint64_t start_ns, end_ns, last_push_ns;
    RunOutput output;
    Sampler *sampler;            /* memory of the pytest tree; NULL if it could not start */
    unsigned sample_ms;
    RunMem mem;                  /* headroom, tree RSS between pushes, diagnosis */
};

static void run_finish(Run *run);
static void run_close(Run *run);

Runner *runner_new(uv_loop_t *loop, const RunnerEvents *events, void *ud)
{
    Runner *r = xcalloc(1, sizeof *r);
    r->loop = loop;
    r->ev = *events;
    r->ud = ud;
    r->next_id = 1;
    r->exe = execstep_self_path();
    r->self.pid = (int)getpid();
    /* Directories of co-processes that were killed before they could remove them. Without
     * /proc we cannot name ours so that others could tell, nor tell theirs: sweep nothing. */
    if (privdir_owner_of("", r->self.pid, &r->self) == 0)
        privdir_sweep(privdir_base(), "", &r->self);
    return r;
}

int64_t runner_next_id(const Runner *r)
{
    return r->next_id;
}

bool runner_active(const Runner *r)
{
    return r->active != NULL || r->pending != NULL;
}

void runner_set_foreign(Runner *r, bool (*owns)(void *ud, int pid), void *ud)
{
    r->foreign_owns = owns;
    r->foreign_ud = ud;
}

int runner_active_pid(const Runner *r)
{
    return r->active && r->active->spawned && !r->active->exited ? r->active->proc.pid : 0;
}

const Headroom *runner_active_headroom(const Runner *r, uint64_t max_age_ms)
{
    if (!runner_active_pid(r))
        return NULL;
    return runmem_headroom(&r->active->mem, max_age_ms);
}

/* ---- signals ---------------------------------------------------------------- */

/* Signals the run's process group and every descendant it has been seen to have:
 * setsid() lets a grandchild leave the group, but as a child subreaper we still see
 * it in our process tree. */
static void run_signal(Run *run, int sig)
{
    /* Once libuv has reaped pytest its pid is free for reuse: signalling it or its group, or
     * walking its "descendants", could hit an unrelated process. on_child_exit already ended
     * what was left of the group then; orphans are ours to reap (runner_reap_orphans). */
    if (run->collector) { /* still asking pytest what it collects: that ends the run */
        collector_cancel(run->collector);
        return;
    }
    if (!run->spawned || run->exited)
        return;
    int pid = run->proc.pid;
    kill(-pid, sig);
    int *pids = NULL;
    size_t n = proctree_descendants("", pid, &pids);
    for (size_t i = 0; i < n; i++)
        kill(pids[i], sig);
    free(pids);
    kill(pid, sig);
}

static void on_kill_timer(uv_timer_t *t)
{
    Run *run = t->data;
    run_signal(run, SIGKILL);
}

/* SIGTERM now, SIGKILL after the grace period. */
static void run_terminate(Run *run)
{
    run_signal(run, SIGTERM);
    if (!uv_is_active((uv_handle_t *)&run->kill_timer))
        uv_timer_start(&run->kill_timer, on_kill_timer, run->grace_ms, 0);
}

static void on_timeout(uv_timer_t *t)
{
    Run *run = t->data;
    run->timed_out = true;
    run_terminate(run);
}

static void on_start_failed(uv_timer_t *t);

bool runner_cancel(Runner *r)
{
    Run *run = r->pending;
    if (run) { /* never launched: it just ends, from the loop */
        r->pending = NULL;
        run->cancelled = true;
        uv_timer_start(&run->start_timer, on_start_failed, 0, 0);
        return true;
    }
    run = r->active;
    if (!run)
        return false;
    run->cancelled = true;
    r->active = NULL;
    run_terminate(run);
    return true;
}

/* Children of ours that are not a live run's pytest: orphans that a finished run left
 * behind and that were reparented to us. End and reap them. */
void runner_reap_orphans(Runner *r)
{
    int *kids = NULL;
    size_t n = proctree_children_of("", (int)getpid(), &kids);
    for (size_t i = 0; i < n; i++) {
        bool ours = false;
        for (Run *run = r->live; run; run = run->next)
            if ((run->spawned && !run->exited && run->proc.pid == kids[i]) ||
                (run->collector && collector_pid(run->collector) == kids[i]))
                ours = true; /* libuv reaps it and tells its exit callback */
        if (ours || (r->foreign_owns && r->foreign_owns(r->foreign_ud, kids[i])))
            continue;
        /* Unreaped, the pid is still our child's: signalling it is safe. Never wait here: a
         * child in uninterruptible sleep (NFS, FUSE) would freeze the loop; one that has not
         * died yet is reaped by a later call. */
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, WNOHANG);
    }
    free(kids);
}

/* ---- streaming -------------------------------------------------------------- */

static void push_progress(Run *run)
{
    run->last_push_ns = uv_hrtime();
    json_t *ev = runout_progress_json(&run->output);
    json_object_set_new(ev, "run_id", json_integer(run->id));
    if (run->sampler)
        json_object_set_new(ev, "tree_rss", json_integer((json_int_t)runmem_take_high(&run->mem)));
    if (run->r->ev.progress)
        run->r->ev.progress(run->r->ud, ev);
    json_decref(ev);
}

static void on_progress_timer(uv_timer_t *t)
{
    push_progress(t->data);
}

/* Pushes at most every 100 ms: at once if the last push is older, else when the
 * timer fires. */
static void maybe_push_progress(Run *run)
{
    if (!runout_progress_changed(&run->output))
        return;
    uint64_t now = uv_hrtime();
    uint64_t since_ms = (now - run->last_push_ns) / 1000000;
    if (since_ms >= 100) {
        uv_timer_stop(&run->progress_timer);
        push_progress(run);
    } else if (!uv_is_active((uv_handle_t *)&run->progress_timer)) {
        uv_timer_start(&run->progress_timer, on_progress_timer, 100 - since_ms, 0);
    }
}

/* The tests that changed, if any, as one `tests` event. */
static void push_tests(Run *run)
{
    if (!run->r->ev.tests)
        return; /* nobody listens (pytestmon run): what is taken counts as told (failures_streamed) */
    json_t *ev = runout_take_tests(&run->output, run->id);
    if (!ev)
        return;
    run->last_tests_ns = uv_hrtime();
    run->r->ev.tests(run->r->ud, ev);
    json_decref(ev);
}

/* Reads what the plugin appended to its report: progress and `tests` from it, each at most
 * every 100 ms (the timer ticks twice as often, so a change waits at most that long). */
static void on_feed_timer(uv_timer_t *t)
{
    Run *run = t->data;
    if (runout_poll_report(&run->output))
        maybe_push_progress(run);
    if ((uv_hrtime() - run->last_tests_ns) / 1000000 >= RUNNER_TESTS_MS)
        push_tests(run);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    Run *run = h->data;
    (void)suggested;
    *buf = uv_buf_init(run->r->readbuf, sizeof run->r->readbuf);
}

static void track_headroom(Run *run);

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

/* Reading of the paused streams resumes. */
static void resume_reading(Run *run)
{
    uv_timer_stop(&run->pace_timer);
    if (run->out_paused)
        uv_read_start((uv_stream_t *)&run->out, on_alloc, on_read);
    if (run->err_paused)
        uv_read_start((uv_stream_t *)&run->err, on_alloc, on_read);
    run->out_paused = run->err_paused = false;
}

static void on_pace_timer(uv_timer_t *t)
{
    resume_reading(t->data);
}

/* After a short read the stream is left alone for RUNNER_PACE_MS: pytest writes its progress a
 * character at a time (unbuffered: PYTHONUNBUFFERED), and waking the co-process for each of
 * 20,000 dots cost it a quarter of a second of system time and pytest a wake-up per write. Its
 * writes wait in the pipe meanwhile (64 KiB); a longer read goes on at once, so a test that
 * prints 100 MB is read at full speed. Short: a 10 ms pause after reads under 4 KiB made pytest
 * wait on a full pipe while it printed 500 tracebacks (7% slower on the bench's fail2k). */
static void pace_reading(Run *run, uv_stream_t *s, ssize_t n)
{
    if (n >= RUNNER_PACE_BELOW || run->exited)
        return;
    uv_read_stop(s);
    *(s == (uv_stream_t *)&run->err ? &run->err_paused : &run->out_paused) = true;
    if (!uv_is_active((uv_handle_t *)&run->pace_timer))
        uv_timer_start(&run->pace_timer, on_pace_timer, RUNNER_PACE_MS, 0);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    Run *run = s->data;
    bool is_err = s == (uv_stream_t *)&run->err;
    if (n > 0) {
        bool had_enomem = runout_saw_enomem(&run->output);
        runout_feed(&run->output, buf->base, (size_t)n, is_err);
        /* pytest is still alive while it reports the MemoryError: read its limits now. */
        if (!had_enomem && runout_saw_enomem(&run->output))
            track_headroom(run);
        maybe_push_progress(run);
        pace_reading(run, s, n);
        return;
    }
    if (n == 0)
        return;
    uv_read_stop(s);
    if (is_err)
        run->err_eof = true;
    else
        run->out_eof = true;
    if (run->exited && run->out_eof && run->err_eof)
        run_finish(run);
}

static void launch_pending(Runner *r);

static void on_child_exit(uv_process_t *p, int64_t status, int term_signal)
{
    Run *run = p->data;
    run->exited = true;
    run->exit_status = status;
    run->term_signal = term_signal;
    run->end_ns = uv_hrtime();
    uv_timer_stop(&run->timeout_timer);
    resume_reading(run); /* the rest of its output, and the ends of the pipes */
    if (run->sampler)
        sampler_stop(run->sampler);
    /* pytest is gone: whatever is left of its group is a leftover that could hold our
     * pipes open forever. */
    kill(-p->pid, SIGKILL);
    int *pids = NULL;
    size_t n = proctree_descendants("", p->pid, &pids);
    for (size_t i = 0; i < n; i++)
        kill(pids[i], SIGKILL);
    free(pids);
    /* Its children were reparented to us before we heard of its death (we are a subreaper):
     * end them now rather than at the next status tick, or they may hold the pipes open. */
    runner_reap_orphans(run->r);
    if (run->out_eof && run->err_eof)
        run_finish(run);
    else
        launch_pending(run->r);
}

/* ---- memory ----------------------------------------------------------------- */

static const char *run_current_test(void *ud)
{
    Run *run = ud;
    return runout_current_test(&run->output);
}

/* Keeps pytest's headroom current, so that if it dies we know what was near. */
static void track_headroom(Run *run)
{
    if (!run->exited)
        runmem_track_headroom(&run->mem, "", run->proc.pid);
}

static void on_sample(Sampler *sm, void *ud)
{
    Run *run = ud;
    track_headroom(run);
    if (!runmem_note_sample(&run->mem, sm))
        return;
    uint64_t since_ms = (uv_hrtime() - run->last_push_ns) / 1000000;
    if (since_ms >= 100 && !run->exited)
        push_progress(run);
}

static void start_sampler(Run *run)
{
    run->sampler = sampler_new(run->r->loop, "", run->proc.pid, run->sample_ms, run_current_test, run);
    if (!run->sampler)
        return;
    run->open_handles++;
    sampler_set_on_sample(run->sampler, on_sample);
    sampler_sample_now(run->sampler);
    sampler_start(run->sampler);
}

/* ---- finishing -------------------------------------------------------------- */

/* With whatever a test may have dropped there; symlinks are removed, not followed. */
static void remove_tmpdir(Run *run)
{
    if (!run->tmpdir)
        return;
    privdir_remove(run->tmpdir);
    free(run->tmpdir);
    run->tmpdir = NULL;
}

/* The run's report outlives it until a newer run finishes (runner_report_path); its directory
 * goes with it. A run without a report (it never started) leaves the kept one alone. */
static void keep_report(Run *run)
{
    Runner *r = run->r;
    if (!run->tmpdir || !run->junit_path || access(run->junit_path, F_OK) != 0) {
        remove_tmpdir(run);
        return;
    }
    if (r->kept_dir)
        privdir_remove(r->kept_dir);
    free(r->kept_dir);
    free(r->kept_report);
    r->kept_dir = run->tmpdir;
    run->tmpdir = NULL;
    r->kept_report = xstrdup(run->junit_path);
    r->kept_id = run->id;
}

static void drop_kept_report(Runner *r)
{
    if (r->kept_dir)
        privdir_remove(r->kept_dir);
    free(r->kept_dir);
    free(r->kept_report);
    r->kept_dir = r->kept_report = NULL;
    r->kept_id = 0;
}

const char *runner_report_path(const Runner *r, int64_t run_id, int64_t *latest)
{
    *latest = r->kept_id;
    if (run_id == 0 || run_id == r->kept_id)
        return r->kept_report;
    const Run *a = r->active;
    return a && a->id == run_id && a->tmpdir && a->junit_path ? a->junit_path : NULL;
}

static json_t *string_list(char *const *v)
{
    json_t *a = json_array();
    for (; v && *v; v++)
        json_array_append_new(a, json_string_nocheck(*v));
    return a;
}

static void run_launch(Run *run);

/* Cancelled runs whose pytest has not been reaped yet. One that was reaped but whose pipes
 * are still open does not count: on_child_exit has SIGKILLed everything that could hold
 * them, so they close at once, unless a holder cannot die (uninterruptible sleep), and
 * such a run must not keep every later run from starting. */
static int closing_runs(const Runner *r)
{
    int n = 0;
    for (const Run *run = r->live; run; run = run->next)
        if (((run->spawned && !run->exited) || run->collector) && run != r->active)
            n++; /* a pytest (or a probe, a collection) that has not been reaped yet */
    return n;
}

/* The pending run starts once few enough runs are still ending. */
static void launch_pending(Runner *r)
{
    Run *run = r->pending;
    if (!run || r->freeing || closing_runs(r) >= RUNNER_MAX_CLOSING)
        return;
    r->pending = NULL;
    run_launch(run);
}

/* A coverage run's report (a heap Coverage, or NULL), and `coverage` in the result: the totals,
 * or why there are none. pytest's usage error about our --cov arguments becomes the run's error:
 * pytest-cov is not installed for that interpreter. */
static Coverage *read_coverage(Run *run, json_t *result)
{
    const char *error = json_string_value(json_object_get(result, "error"));
    if (!run->spawned || run->cancelled || run->timed_out)
        return NULL;
    if (coverage_plugin_missing(error)) {
        char *raw = coverage_missing_message(run->python);
        char *msg = textclean_dup(raw, strlen(raw), 0, TEXTCLEAN_MESSAGE_MAX); /* display text */
        json_object_set_new(result, "error", json_string(msg));
        json_object_set_new(result, "summary", json_string(msg));
        json_object_set_new(result, "coverage", json_pack("{s:s}", "error", msg));
        free(raw);
        free(msg);
        return NULL;
    }
    Coverage *cov = xmalloc(sizeof *cov);
    StrBuf err = STRBUF_INIT;
    int rc = run->coverage_path ? coverage_read(run->coverage_path, run->root, cov, &err) : -ENOENT;
    if (rc != 0) {
        coverage_destroy(cov);
        free(cov);
        cov = NULL;
        if (rc == -ENOENT) {
            strbuf_reset(&err);
            if (error) /* pytest crashed or was refused: its error says why, once */
                strbuf_puts(&err, "no coverage data: pytest did not get to its tests (the run's error says why)");
            else
                strbuf_puts(&err, run->plugin_dir ? "no coverage data: pytest-cov wrote none (--no-cov, or the "
                                                    "run ended before its tests did)"
                                                  : "no coverage data: pytestmon's pytest plugin was not found");
        }
        char *msg = textclean_dup(err.data ? err.data : "", err.len, 0, TEXTCLEAN_MESSAGE_MAX);
        json_object_set_new(result, "coverage", json_pack("{s:s}", "error", msg));
        free(msg);
    } else {
        json_object_set_new(result, "coverage",
                            json_pack("{s:f, s:I, s:I, s:I}", "percent", cov->percent, "statements",
                                      (json_int_t)cov->statements, "missing", (json_int_t)cov->missing,
                                      "nfiles", (json_int_t)cov->nfiles));
    }
    strbuf_destroy(&err);
    return cov;
}

static void run_finish(Run *run)
{
    if (run->finished)
        return;
    run->finished = true;
    uv_timer_stop(&run->kill_timer);
    uv_timer_stop(&run->progress_timer);
    uv_timer_stop(&run->feed_timer);
    uv_timer_stop(&run->pace_timer);
    if (run->spawned) { /* the rest of the plugin's report, and the tests it changed */
        runout_finish_report(&run->output);
        push_tests(run);
    }
    if (run->r->active == run)
        run->r->active = NULL;
    RunFacts facts = {
        .id = run->id,
        .cwd = run->cwd,
        .root = run->root,
        .python = run->python,
        .junit_path = run->junit_path,
        .start_error = run->start_error,
        .spawned = run->spawned,
        .exit_status = run->exit_status,
        .term_signal = run->term_signal,
        .cancelled = run->cancelled,
        .timed_out = run->timed_out,
        .timeout_ms = run->timeout_ms,
        .seconds = run->end_ns > run->start_ns ? (double)(run->end_ns - run->start_ns) / 1e9 : 0,
    };
    json_t *result = runout_result(&run->output, &facts);
    json_object_set_new(result, "args", string_list(run->user_args));
    json_object_set_new(result, "cmd", string_list(run->argv));
    if (run->python_why)
        json_object_set_new(result, "python_why", json_string(run->python_why));
    json_t *memory = runmem_json(run->sampler);
    /* The run's peak: the highest of the samples (and pytest's VmHWM at them) and of the exact
     * per-test peaks the plugin measured. Samples alone depend on when they fall: two identical
     * runs showed 49.9 and 90.6 MB. Every view of the run shows this one number. */
    json_t *exact_peak = runout_exact_peak(&run->output);
    if (exact_peak && run->sampler) {
        json_int_t rss = json_integer_value(json_object_get(exact_peak, "rss"));
        if (rss > json_integer_value(json_object_get(memory, "peak_rss"))) {
            json_object_set_new(memory, "peak_rss", json_integer(rss));
            json_object_set(memory, "peak_test", json_object_get(exact_peak, "nodeid"));
            if (rss > json_integer_value(json_object_get(memory, "peak_vms"))) /* VMS >= RSS */
                json_object_set_new(memory, "peak_vms", json_integer(rss));
        }
    }
    json_decref(exact_peak);
    /* Exact per-test peaks from the plugin when it measured them, rather than the samples'. */
    json_t *exact = runout_top_growth(&run->output, SAMPLER_TOP_TESTS);
    if (exact) {
        json_object_set_new(memory, "top_growth", exact);
        json_object_set_new(memory, "top_growth_source", json_string("plugin"));
    }
    RunMemEnd end = {
        .spawned = run->spawned,
        .cancelled = run->cancelled,
        .timed_out = run->timed_out,
        .saw_enomem = runout_saw_enomem(&run->output),
        .term_signal = run->term_signal,
        .exit_status = run->exit_status,
        .same_cgroup_pid = (int)getpid(), /* pytest is our child: same cgroup */
    };
    runmem_diagnose(&run->mem, "", &end, memory);
    json_object_set_new(result, "memory", memory);
    Coverage *cov = run->coverage ? read_coverage(run, result) : NULL;
    keep_report(run);
    /* Close first: uv_close releases the pipes' descriptors now (the Run itself is freed
     * later, from the close callbacks), so whoever hears `finished` sees them gone. */
    Runner *r = run->r;
    run_close(run);
    runner_reap_orphans(r);
    if (run->exited) /* how long the result took once pytest had exited (bench/run.py reads it) */
        json_object_set_new(result, "exit_to_finished_ms", json_real((double)(uv_hrtime() - run->end_ns) / 1e6));
    if (r->ev.finished)
        r->ev.finished(r->ud, result);
    json_decref(result);
    if (cov && r->ev.coverage) {
        r->ev.coverage(r->ud, run->id, cov, run->coverage_files);
        cov = NULL;
    }
    if (cov) {
        coverage_destroy(cov);
        free(cov);
    }
    launch_pending(r);
}

static void spec_destroy(LaunchSpec *s)
{
    free(s->cwd);
    free(s->file);
    free(s->python);
    free(s->log_path);
    project_free_argv(s->args);
    project_free_argv(s->env);
    memset(s, 0, sizeof *s);
}

static void run_free(Run *run)
{
    spec_destroy(&run->spec);
    runout_destroy(&run->output);
    runmem_destroy(&run->mem);
    remove_tmpdir(run);
    free(run->junit_path);
    free(run->coverage_path);
    project_free_argv(run->coverage_files);
    free(run->cwd);
    free(run->root);
    free(run->python);
    free(run->start_error);
    project_free_argv(run->argv);
    project_free_argv(run->env);
    free(run->plugin_dir);
    project_free_argv(run->base_args);
    free(run->nearest_file);
    project_free_argv(run->user_args);
    free(run);
}

static void run_handle_gone(Run *run)
{
    if (--run->open_handles > 0)
        return;
    Runner *r = run->r;
    for (Run **pp = &r->live; *pp; pp = &(*pp)->next) {
        if (*pp == run) {
            *pp = run->next;
            break;
        }
    }
    run_free(run);
    malloc_trim(0); /* hand a run's transient heap back: the co-process lives as long as the editor */
    if (r->freeing && !r->live) {
        void (*done)(void *) = r->done;
        void *ud = r->done_ud;
        drop_kept_report(r);
        free(r->exe);
        project_free_argv(r->plugin_loads);
        free(r);
        if (done)
            done(ud);
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    run_handle_gone(h->data);
}

static void on_sampler_closed(void *ud)
{
    run_handle_gone(ud);
}

static void close_handle(void *h)
{
    uv_handle_t *handle = h;
    if (handle->type != UV_UNKNOWN_HANDLE && !uv_is_closing(handle))
        uv_close(handle, on_handle_closed);
}

static void run_close(Run *run)
{
    close_handle(&run->timeout_timer);
    close_handle(&run->kill_timer);
    close_handle(&run->progress_timer);
    close_handle(&run->start_timer);
    close_handle(&run->feed_timer);
    close_handle(&run->pace_timer);
    close_handle(&run->out);
    close_handle(&run->err);
    if (run->proc_inited)
        close_handle(&run->proc);
    if (run->sampler) {
        sampler_close(run->sampler, on_sampler_closed);
        run->sampler = NULL;
    }
}

/* ---- starting --------------------------------------------------------------- */

static char **copy_argv(char *const *v, size_t n)
{
    char **out = xcalloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = xstrdup(v[i]);
    return out;
}

/* Does "NAME=value" entry `e` set one of the names of the `n` entries `set`? */
static bool env_overridden(const char *e, char *const *set, size_t n)
{
    const char *eq = strchr(e, '=');
    size_t len = eq ? (size_t)(eq - e) : strlen(e);
    for (size_t i = 0; i < n; i++)
        if (strncmp(set[i], e, len) == 0 && set[i][len] == '=')
            return true;
    return false;
}

/* The child's environment: ours, plus unbuffered Python output, plus the user's. A name
 * the user sets replaces ours rather than following it: glibc's getenv() and CPython's
 * os.environ take the first of duplicate entries, so an appended one would be ignored. */
static char **build_env(char *const *extra, size_t nextra)
{
    static char *const unbuffered[] = {"PYTHONUNBUFFERED=1"};
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = xcalloc(n + nextra + 2, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!env_overridden(environ[i], extra, nextra) && !env_overridden(environ[i], unbuffered, 1))
            env[k++] = xstrdup(environ[i]);
    if (!env_overridden(unbuffered[0], extra, nextra))
        env[k++] = xstrdup(unbuffered[0]);
    for (size_t i = 0; i < nextra; i++)
        if (!env_overridden(extra[i], extra + i + 1, nextra - i - 1)) /* the last one wins */
            env[k++] = xstrdup(extra[i]);
    return env;
}

char **runner_child_env(char *const *extra)
{
    size_t n = 0;
    while (extra && extra[n])
        n++;
    return build_env(extra, n);
}

/* with_coverage: pytest-cov's arguments follow the user's (not while collecting for nearest). */
static char **build_argv(const Run *run, char *const *rewritten, bool with_coverage)
{
    size_t nuser = 0;
    while (rewritten[nuser])
        nuser++;
    char **argv = xcalloc(nuser + 12, sizeof *argv);
    size_t k = 0;
    argv[k++] = xstrdup(run->python);
    argv[k++] = xstrdup("-m");
    argv[k++] = xstrdup("pytest");
    if (run->plugin_dir) {
        /* Our plugin writes the report whatever the user does to pytest's junitxml, and tells
         * progress in it as tests start and end: pytest's terminal stays as the user set it. */
        argv[k++] = xstrdup("-p");
        argv[k++] = xstrdup(PYPLUGIN_MODULE);
    } else {
        argv[k++] = xstrdup("-v");
        argv[k++] = xstrdup("-rfE");
        StrBuf junit = STRBUF_INIT;
        strbuf_printf(&junit, "--junitxml=%s", run->junit_path);
        argv[k++] = strbuf_detach(&junit);
        argv[k++] = xstrdup("-o");
        argv[k++] = xstrdup("junit_family=xunit1");
    }
    for (size_t i = 0; i < nuser; i++)
        argv[k++] = xstrdup(rewritten[i]);
    if (with_coverage && run->coverage) {
        char **cov = coverage_pytest_args(rewritten, run->root);
        for (size_t i = 0; cov[i]; i++)
            argv[k++] = cov[i];
        free(cov);
    }
    return argv;
}

static void init_timer(Run *run, uv_timer_t *t)
{
    uv_timer_init(run->r->loop, t);
    t->data = run;
    run->open_handles++;
}

static void on_start_failed(uv_timer_t *t)
{
    run_finish(t->data);
}

static void fail_start(Run *run, char *message)
{
    run->start_error = message;
    uv_timer_start(&run->start_timer, on_start_failed, 0, 0);
}

static int make_tmpdir(Run *run)
{
    int rc = privdir_create(privdir_base(), &run->r->self, &run->tmpdir);
    if (rc < 0)
        return rc;
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/junit.xml", run->tmpdir);
    run->junit_path = strbuf_detach(&sb);
    if (run->coverage) {
        strbuf_printf(&sb, "%s/coverage.json", run->tmpdir);
        run->coverage_path = strbuf_detach(&sb);
    }
    return 0;
}

/* What exec would say about one candidate path: 0, UV_ENOENT or UV_EACCES. */
static int probe_executable(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == EACCES ? UV_EACCES : UV_ENOENT;
    return S_ISREG(st.st_mode) && access(path, X_OK) == 0 ? 0 : UV_EACCES;
}

/* What exec would say about the interpreter, asked before spawning: uv_spawn now runs the
 * exec step (execstep.h), which can only report a missing interpreter by its exit status.
 * 0, UV_ENOENT or UV_EACCES; searched like execvp in the child (its PATH, from `cwd`). On 0,
 * `found` (may be NULL) gets the path exec will run. */
static int check_executable(const char *file, char *const *env, const char *cwd, StrBuf *found)
{
    StrBuf p = STRBUF_INIT;
    int rc = UV_ENOENT;
    if (strchr(file, '/')) {
        if (file[0] != '/')
            strbuf_printf(&p, "%s/", cwd);
        strbuf_puts(&p, file);
        rc = probe_executable(strbuf_cstr(&p));
        if (rc == 0 && found)
            strbuf_puts(found, strbuf_cstr(&p));
        strbuf_destroy(&p);
        return rc;
    }
    const char *path = "/bin:/usr/bin"; /* execvp's default */
    for (char *const *e = env; e && *e; e++)
        if (strncmp(*e, "PATH=", 5) == 0) {
            path = *e + 5;
            break;
        }
    for (const char *dir = path;;) {
        const char *colon = strchr(dir, ':');
        size_t len = colon ? (size_t)(colon - dir) : strlen(dir);
        strbuf_reset(&p);
        if (len == 0 || dir[0] != '/')
            strbuf_puts(&p, cwd);
        if (len > 0 && dir[0] != '/')
            strbuf_putc(&p, '/');
        strbuf_append(&p, dir, len);
        strbuf_printf(&p, "/%s", file);
        int r = probe_executable(strbuf_cstr(&p));
        if (r == 0 || r == UV_EACCES)
            rc = r; /* execvp goes on past EACCES and reports it if nothing is found */
        if (r == 0 && found)
            strbuf_puts(found, strbuf_cstr(&p));
        if (r == 0 || !colon)
            break;
        dir = colon + 1;
    }
    strbuf_destroy(&p);
    return rc;
}

static int spawn_pytest(Run *run)
{
    uv_stdio_container_t stdio[3];
    uv_pipe_init(run->r->loop, &run->out, 0);
    uv_pipe_init(run->r->loop, &run->err, 0);
    run->out.data = run->err.data = run;
    run->open_handles += 2;
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&run->out;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&run->err;
    /* pytest dies with us even if we are killed: see execstep.h. */
    char **argv = execstep_argv((int)getpid(), run->argv);
    uv_process_options_t opt = {0};
    opt.exit_cb = on_child_exit;
    opt.file = run->r->exe;
    opt.args = argv;
    opt.env = run->env;
    opt.cwd = run->root;
    opt.flags = UV_PROCESS_DETACHED; /* setsid(): its own session and process group */
    opt.stdio_count = 3;
    opt.stdio = stdio;
    run->proc.data = run;
    int rc = uv_spawn(run->r->loop, &run->proc, &opt);
    project_free_argv(argv);
    /* libuv registers the handle even when the spawn fails: it must be closed. */
    run->open_handles++;
    run->proc_inited = true;
    if (rc != 0)
        return rc;
    run->spawned = true;
    uv_read_start((uv_stream_t *)&run->out, on_alloc, on_read);
    uv_read_start((uv_stream_t *)&run->err, on_alloc, on_read);
    return 0;
}

static bool is_directory(const char *p);

static char *describe_spawn_error(const Run *run, int rc)
{
    StrBuf sb = STRBUF_INIT;
    if (rc == UV_ENOENT && !is_directory(run->root))
        strbuf_printf(&sb, "the project root %s is not a directory", run->root);
    else if (rc == UV_ENOENT)
        strbuf_printf(&sb, "no Python interpreter found: '%s' (chosen by %s) does not exist",
                      run->python, run->python_why);
    else if (rc == UV_EACCES)
        strbuf_printf(&sb, "cannot run the Python interpreter '%s': permission denied",
                      run->python);
    else
        strbuf_printf(&sb, "cannot start '%s': %s", run->python, uv_strerror(rc));
    return strbuf_detach(&sb);
}

static bool is_directory(const char *p)
{
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static char **copy_env(char *const *v, size_t n)
{
    return n ? copy_argv(v, n) : NULL;
}

/* Spawns what `run->spec` describes (the copy is dropped here) and makes it the active run,
 * or has it finish with status "error" from the loop. */
/* Spawns pytest with run->argv and tells the client the run started. */
static void run_go(Run *run)
{
    Runner *r = run->r;
    /* The collection asked first (nearest) wrote a report of its own there: the stream must not
     * start reading that one. */
    if (run->junit_path)
        unlink(run->junit_path);
    int rc = spawn_pytest(run);
    if (rc != 0) {
        fail_start(run, describe_spawn_error(run, rc));
        return;
    }
    r->active = run;
    if (run->plugin_dir) { /* results as tests end, from the plugin's report */
        runout_follow_report(&run->output, run->junit_path, run->root);
        uv_timer_start(&run->feed_timer, on_feed_timer, RUNNER_FEED_POLL_MS, RUNNER_FEED_POLL_MS);
    }
    start_sampler(run);
    if (run->timeout_ms)
        uv_timer_start(&run->timeout_timer, on_timeout, run->timeout_ms, 0);
    if (r->ev.started) {
        json_t *ev = json_pack("{s:I, s:s, s:s, s:s, s:s, s:o, s:o}", "run_id", (json_int_t)run->id,
                               "cwd", run->cwd, "root", run->root, "python", run->python,
                               "python_why", run->python_why, "args", string_list(run->user_args),
                               "cmd", string_list(run->argv));
        if (run->nearest_file) /* nearest: whether a collected test or class was around the line */
            json_object_set_new(ev, "nearest_found", json_boolean(run->nearest_found));
        r->ev.started(r->ud, ev);
        json_decref(ev);
    }
}

/* argv + one more (copied), NULL-terminated, as a new heap array. */
static char **argv_plus(char *const *argv, const char *more)
{
    size_t n = 0;
    while (argv && argv[n])
        n++;
    char **out = copy_argv(argv, n);
    out = xrealloc(out, (n + 2) * sizeof *out);
    out[n] = xstrdup(more);
    out[n + 1] = NULL;
    return out;
}

static char *collect_path(const Run *run)
{
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/collect.json", run->tmpdir);
    return strbuf_detach(&sb);
}

/* pytest has told what it collects in the file: run the node around the line, or the
 * whole file when no collected test or class contains it (or collection failed: the
 * run itself then reports why). */
static void on_collected(void *ud, int64_t status, int term_signal)
{
    Run *run = ud;
    run->collector = NULL;
    if (run->cancelled || run->r->freeing) {
        run_finish(run);
        return;
    }
    char *path = collect_path(run);
    Collection c = {0}; /* destroyed whether or not it was read */
    StrBuf err = STRBUF_INIT;
    char *nodeid = NULL;
    if (status >= 0 && term_signal == 0 && collection_read(path, &c, &err) == 0)
        nodeid = collection_nearest(&c, run->nearest_file, run->nearest_line);
    collection_destroy(&c);
    strbuf_destroy(&err);
    unlink(path);
    free(path);
    run->nearest_found = nodeid != NULL;
    const char *target = nodeid ? nodeid : run->nearest_file;
    char **args = argv_plus(run->base_args, target);
    project_free_argv(run->argv);
    run->argv = build_argv(run, args, true);
    project_free_argv(args);
    char **user = argv_plus(run->user_args, target);
    project_free_argv(run->user_args);
    run->user_args = user;
    free(nodeid);
    run_go(run);
}

/* Asks pytest (with our plugin) what it collects in the nearest file first. Consumes
 * rewritten (the user's arguments, which also shape collection). */
static void start_collect(Run *run, char **rewritten)
{
    Runner *r = run->r;
    run->base_args = rewritten;
    /* No -q or other terminal option: a user's -p no:terminal would make it a usage error. */
    char **a = argv_plus(rewritten, "--collect-only");
    char **b = argv_plus(a, run->nearest_file);
    run->argv = build_argv(run, b, false);
    project_free_argv(a);
    project_free_argv(b);
    char *path = collect_path(run);
    char **env = argv_plus(run->env, "");
    env = pyplugin_collect_env(env, path);
    free(path);
    int rc = 0;
    run->collector = collector_start(r->loop, r->exe, run->argv, env, run->root, on_collected, run, &rc);
    project_free_argv(env);
    if (!run->collector) {
        fail_start(run, describe_spawn_error(run, rc));
        return;
    }
    r->active = run;
}

/* Spawns pytest once the interpreter is known to load our plugin (or not): the nearest
 * test is asked of pytest first, else the arguments run as they are. */
static void run_proceed(Run *run)
{
    char **rewritten = run->base_args;
    run->base_args = NULL;
    if (run->nearest_file && run->plugin_dir) {
        start_collect(run, rewritten); /* consumes rewritten */
        return;
    }
    if (run->nearest_file) { /* no plugin to ask what pytest collects: the whole file */
        char **with_file = argv_plus(rewritten, run->nearest_file);
        project_free_argv(rewritten);
        rewritten = with_file;
        char **user = argv_plus(run->user_args, run->nearest_file);
        project_free_argv(run->user_args);
        run->user_args = user;
    }
    run->argv = build_argv(run, rewritten, true);
    project_free_argv(rewritten);
    run_go(run);
}

static bool plugin_known_to_load(const Runner *r, const char *python)
{
    for (char **p = r->plugin_loads; p && *p; p++)
        if (strcmp(*p, python) == 0)
            return true;
    return false;
}

/* The interpreter imported our plugin (or not: pytest's junitxml then, as before). Only
 * successes are remembered: an interpreter that gains pytest later is asked again. */
static void on_probed(void *ud, int64_t status, int term_signal)
{
    Run *run = ud;
    Runner *r = run->r;
    run->collector = NULL;
    if (run->cancelled || r->freeing) {
        run_finish(run);
        return;
    }
    if (status == 0 && term_signal == 0) {
        char **more = argv_plus(r->plugin_loads, run->python);
        project_free_argv(r->plugin_loads);
        r->plugin_loads = more;
    } else {
        free(run->plugin_dir);
        run->plugin_dir = NULL;
    }
    run_proceed(run);
}

/* Can this interpreter find our plugin (a wrapper that drops PYTHONPATH, python -E/-I)?
 * `-p pytestmon_plugin` would make such a run a usage error, so ask once first (one bare
 * interpreter start, the first run with each interpreter). */
static void start_probe(Run *run)
{
    Runner *r = run->r;
    /* Finding the module is enough (it imports on every Python pytest 7 runs on), and cheap:
     * importing it would import pytest too, ~100 ms more on the first run of each co-process. */
    char *const argv[] = {run->python, "-S", "-c",
                          "import importlib.util, sys; "
                          "sys.exit(importlib.util.find_spec('" PYPLUGIN_MODULE "') is None)",
                          NULL};
    int rc = 0;
    run->collector = collector_start(r->loop, r->exe, argv, run->env, run->root, on_probed, run, &rc);
    if (!run->collector) {
        fail_start(run, describe_spawn_error(run, rc));
        return;
    }
    r->active = run;
}

/* A coverage run's environment: coverage.py's data file in the private directory (the
 * project's tree stays clean, and the user's own .coverage is not touched), unless the user's
 * `env` names one. */
static char **coverage_env(const Run *run, const LaunchSpec *spec)
{
    char **extra = xcalloc(spec->nenv + 2, sizeof *extra);
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "COVERAGE_FILE=%s/.coverage", run->tmpdir);
    extra[0] = strbuf_detach(&sb);
    for (size_t i = 0; i < spec->nenv; i++)
        extra[i + 1] = spec->env[i]; /* borrowed */
    char **env = build_env(extra, spec->nenv + 1); /* the last of a name wins: the user's */
    free(extra[0]);
    free(extra);
    return env;
}

static void run_launch(Run *run)
{
    Runner *r = run->r;
    LaunchSpec *spec = &run->spec;
    runout_destroy(&run->output); /* nothing was fed: now with the log */
    runout_init(&run->output, spec->tail_bytes, spec->log_path);
    run->start_ns = uv_hrtime();
    free(run->cwd);
    run->cwd = spec->cwd ? realpath(spec->cwd, NULL) : NULL;

    if (!run->cwd || !is_directory(run->cwd)) {
        free(run->cwd);
        run->cwd = xstrdup(spec->cwd ? spec->cwd : "");
        StrBuf sb = STRBUF_INIT;
        strbuf_printf(&sb, "working directory is not a directory: %s", spec->cwd ? spec->cwd : "(none)");
        fail_start(run, strbuf_detach(&sb));
        goto done;
    }
    ProjectChoice choice;
    project_resolve(run->cwd, spec->file, spec->python, getenv("VIRTUAL_ENV"), &choice);
    run->root = choice.root; /* the Run takes both strings over */
    run->python = choice.python;
    run->python_why = choice.python_why;
    int rc = make_tmpdir(run);
    if (rc < 0) {
        StrBuf sb = STRBUF_INIT;
        strbuf_printf(&sb, "cannot create a private temporary directory: %s", strerror(-rc));
        fail_start(run, strbuf_detach(&sb));
        goto done;
    }
    run->plugin_dir = pyplugin_find_dir();
    char **rewritten = project_rewrite_args(run->cwd, spec->args, spec->nargs);
    run->env = run->coverage ? coverage_env(run, spec) : build_env(spec->env, spec->nenv);
    if (run->plugin_dir)
        run->env = pyplugin_env(run->env, run->plugin_dir, run->junit_path);
    if (run->plugin_dir && run->coverage)
        run->env = pyplugin_coverage_env(run->env, run->coverage_path);
    StrBuf exe = STRBUF_INIT;
    rc = is_directory(run->root) ? check_executable(run->python, run->env, run->root, &exe) : UV_ENOENT;
    /* A Python binary itself honours the PYTHONPATH we give it: no need to ask (a wrapper
     * script might drop it: -E, -I, env -i). */
    bool surely_loads = rc == 0 && pyplugin_interpreter_honours_pythonpath(strbuf_cstr(&exe));
    strbuf_destroy(&exe);
    if (rc != 0) {
        project_free_argv(rewritten);
        fail_start(run, describe_spawn_error(run, rc));
        goto done;
    }
    run->base_args = rewritten;
    if (spec->nearest_line > 0) {
        run->nearest_file = path_normalize(run->cwd, spec->file);
        run->nearest_line = spec->nearest_line;
    }
    if (run->plugin_dir && !surely_loads && !plugin_known_to_load(r, run->python)) {
        start_probe(run);
        goto done;
    }
    run_proceed(run);
done:
    spec_destroy(spec);
}

int64_t runner_start(Runner *r, const RunSpec *spec)
{
    runner_cancel(r); /* the active run, or one still waiting to start */
    Run *run = xcalloc(1, sizeof *run);
    run->r = r;
    run->id = r->next_id++;
    run->next = r->live;
    r->live = run;
    run->timeout_ms = spec->timeout_ms;
    run->grace_ms = spec->kill_grace_ms ? spec->kill_grace_ms : 2000;
    run->sample_ms = spec->sample_interval_ms ? spec->sample_interval_ms : 100;
    runmem_init(&run->mem);
    run->user_args = copy_argv(spec->args, spec->nargs);
    run->cwd = xstrdup(spec->cwd ? spec->cwd : "");
    run->spec = (LaunchSpec){
        .cwd = spec->cwd ? xstrdup(spec->cwd) : NULL,
        .file = spec->file ? xstrdup(spec->file) : NULL,
        .args = copy_argv(spec->args, spec->nargs),
        .nargs = spec->nargs,
        .python = spec->python ? xstrdup(spec->python) : NULL,
        .env = copy_env(spec->env, spec->nenv),
        .nenv = spec->nenv,
        .log_path = spec->log_path ? xstrdup(spec->log_path) : NULL,
        .tail_bytes = spec->tail_bytes,
        .nearest_line = spec->file && *spec->file ? spec->nearest_line : 0,
    };
    run->coverage = spec->coverage;
    if (spec->coverage)
        run->coverage_files = copy_argv(spec->coverage_files, spec->ncoverage_files);
    init_timer(run, &run->timeout_timer);
    init_timer(run, &run->kill_timer);
    init_timer(run, &run->progress_timer);
    init_timer(run, &run->start_timer);
    init_timer(run, &run->feed_timer);
    init_timer(run, &run->pace_timer);
    runout_init(&run->output, spec->tail_bytes, NULL);

    if (closing_runs(r) >= RUNNER_MAX_CLOSING) {
        /* Wait for them, and hurry them: they were asked to stop already. */
        r->pending = run;
        for (Run *old = r->live; old; old = old->next) {
            if (((old->spawned && !old->exited) || old->collector) && !old->hurried && old != run) {
                old->hurried = true;
                uv_timer_stop(&old->kill_timer);
                run_signal(old, SIGKILL);
            }
        }
        return run->id;
    }
    run_launch(run);
    return run->id;
}

void runner_free(Runner *r, void (*done)(void *ud), void *ud)
{
    if (r->pending) /* it never starts now; it finishes "cancelled" from the loop */
        runner_cancel(r);
    r->freeing = true;
    r->done = done;
    r->done_ud = ud;
    r->active = NULL;
    if (!r->live) {
        drop_kept_report(r);
        free(r->exe);
        project_free_argv(r->plugin_loads);
        free(r);
        if (done)
            done(ud);
        return;
    }
    for (Run *run = r->live; run; run = run->next) {
        run->cancelled = true;
        run_signal(run, SIGKILL);
    }
    runner_reap_orphans(r); /* what runs left behind may hold their pipes open */
}

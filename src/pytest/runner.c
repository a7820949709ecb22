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
#include "pytest/child.h"
#include "pytest/execstep.h"
#include "pytest/launch.h"
#include "base/path.h"
#include "mem/headroom.h"
#include "mem/memdiagnosis.h"
#include "pytest/privdir.h"
#include "pytest/project.h"
#include "pytest/pyplugin.h"
#include "mem/proctree.h"
#include "pytest/runresult.h"
#include "mem/memfail.h"
#include "pytest/warm.h"
#include "pytest/warmattach.h"
#include "mem/sampler.h"
#include "base/strbuf.h"
#include "base/textclean.h"


typedef struct Run Run;

/* Nearest's lookups kept (warm runs only): what pytest collected in a file, for as long as the
 * file, the conftest.py files above it and the root's configuration files are as they were
 * (mtime and size). A Nearest run that finds its file here starts pytest once. */
#define NEAREST_CACHE_MAX 8
typedef struct {
    char *key;      /* interpreter, root, arguments, environment, file (NUL-separated) */
    size_t key_len;
    char *stamp;    /* the files' stat, as nearest_stamp() writes it */
    Collection c;
    uint64_t used;  /* for the least recently used one to go */
} NearestEntry;

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
    WarmPool *warm;    /* the warm pytests runs are forked from */
    NearestEntry nearest[NEAREST_CACHE_MAX];
    uint64_t nearest_tick;
    void (*done)(void *ud);
    void *done_ud;
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
    LaunchTarget t;              /* root, interpreter, rewritten args, env (launch.h) */
    char *log_path;              /* until the run is launched: where its output goes */
    size_t tail_bytes;
    LaunchPlan plan;             /* pytest's own argv and env (a probe's or lookup's plan is local) */
    char *selection;             /* nearest: the node (or the file) the run selects */
    char *plugin_dir;            /* where pytestmon_plugin.py is; NULL: pytest's junitxml */
    int nearest_line;            /* > 0: run the collected node around this line of t.file */
    bool nearest_found;          /* nearest: a collected node was around the line */
    char **user_args;            /* the user's arguments as given (+ the selection): shown */
    uint64_t timeout_ms, grace_ms;
    uint64_t memory_budget_mb;   /* RunSpec.memory_budget_mb */
    char *tmpdir, *junit_path;
    bool coverage;               /* measured with pytest-cov (RunSpec.coverage) */
    char *coverage_path;         /* where the plugin writes coverage.py's JSON report */
    char *coverage_data;         /* coverage.py's data file (COVERAGE_FILE): in the private dir, so
                                  * the project's tree stays clean and the user's .coverage is not
                                  * touched, unless the user's env names one */
    char **coverage_files;       /* the editor's open files, handed back with the report */
    char *start_error;
    Child *child;                /* what runs now (child.h): the probe, the lookup or pytest, as
                                  * the state says; NULL between them and after pytest exited */
    uv_pipe_t out, err;
    uv_timer_t timeout_timer, progress_timer, start_timer;
    uv_timer_t feed_timer;       /* reads the plugin's report while pytest runs */
    uv_timer_t pace_timer;       /* reading of out/err resumes (on_read: a short read pauses it) */
    bool out_paused, err_paused;
    uint64_t last_tests_ns;      /* the last `tests` push */
    int open_handles;
    int pid;                     /* pytest's pid once spawned, 0 before (sampler, headroom) */
    RunState state;              /* where in its life the run is (runner.h) */
    bool out_eof, err_eof, cancelled, timed_out;
    bool hurried;                /* sent SIGKILL early for a pending run: once is enough */
    int64_t exit_status;
    int term_signal;
    uint64_t start_ns, end_ns, last_push_ns;
    RunResult output;
    Sampler *sampler;            /* memory of the pytest tree; NULL if it could not start */
    unsigned sample_ms;
    MemDiagnosis mem;                  /* headroom, tree RSS between pushes, diagnosis */
    bool warm_wanted;            /* RunSpec.warm */
    char *warm_reason;           /* why pytest was not a fork of the warm pytest (NULL: it was) */
    bool warm_attached;          /* pytest was started as warmattach's stand-in */
    uint64_t warm_serial;        /* its attachment (warm_pool_release) */
    int warm_pid;                /* the fork running pytest, once the stand-in said (0 before) */
    char *imports_path;          /* the plugin's record of the run's imports (the next preload) */
    char *nearest_key, *nearest_stamp; /* its lookup in Runner.nearest (warm runs) */
    size_t nearest_key_len;
    bool nearest_cached;         /* the node was found in Runner.nearest: no lookup ran */
};

static void run_finish(Run *run);
static void run_close(Run *run);
static void read_warm_status(Run *run, const char *name, int *pid);
static void nearest_clear(Runner *r);
static void nearest_keep(Run *run, Collection *c);
static int mem_pid(const Run *run);

/* ---- the run's life ----------------------------------------------------------- */

static const char *const state_names[] = {
    [RUN_PENDING] = "pending", [RUN_PROBING] = "probing", [RUN_LOOKING_UP] = "looking_up",
    [RUN_RUNNING] = "running", [RUN_DRAINING] = "draining", [RUN_FINISHED] = "finished",
};

const char *runner_state_name(RunState s)
{
    return (unsigned)s <= RUN_FINISHED ? state_names[s] : "?";
}

/* steps[from] has bit `to` set when the step is allowed. */
#define STEP(s) (1u << (s))
static const unsigned steps[] = {
    [RUN_PENDING] = STEP(RUN_PROBING) | STEP(RUN_LOOKING_UP) | STEP(RUN_RUNNING) | STEP(RUN_FINISHED),
    [RUN_PROBING] = STEP(RUN_LOOKING_UP) | STEP(RUN_RUNNING) | STEP(RUN_FINISHED),
    [RUN_LOOKING_UP] = STEP(RUN_RUNNING) | STEP(RUN_FINISHED),
    [RUN_RUNNING] = STEP(RUN_DRAINING) | STEP(RUN_FINISHED),
    [RUN_DRAINING] = STEP(RUN_FINISHED),
    [RUN_FINISHED] = 0,
};

bool runner_state_step_allowed(RunState from, RunState to)
{
    return (unsigned)from <= RUN_FINISHED && (unsigned)to <= RUN_FINISHED && (steps[from] & STEP(to));
}

/* Moves the run on. A step the table does not allow is a bug of ours: it is said on stderr
 * (the editor's log of the job) and taken all the same, so the run still ends. */
static void run_enter(Run *run, RunState to)
{
    RunState from = run->state;
    if (!runner_state_step_allowed(from, to))
        fprintf(stderr, "pytestmon: internal: run %lld went from %s to %s\n", (long long)run->id,
                runner_state_name(from), runner_state_name(to));
    run->state = to;
    if (run->r->ev.state)
        run->r->ev.state(run->r->ud, run->id, from, to);
}

/* pytest was started (it may have ended since). */
static bool run_spawned(const Run *run)
{
    return run->pid != 0;
}

/* pytest was started and has exited. */
static bool run_exited(const Run *run)
{
    return run->pid != 0 && run->state >= RUN_DRAINING;
}

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
    r->warm = warm_pool_new(loop, r->exe);
    return r;
}

WarmPool *runner_warm_pool(Runner *r)
{
    return r->warm;
}

int64_t runner_next_id(const Runner *r)
{
    return r->next_id;
}

bool runner_active(const Runner *r)
{
    return r->active != NULL || r->pending != NULL;
}

int runner_active_pid(const Runner *r)
{
    return r->active && r->active->state == RUN_RUNNING ? mem_pid(r->active) : 0;
}

const Headroom *runner_active_headroom(const Runner *r, uint64_t max_age_ms)
{
    if (!runner_active_pid(r))
        return NULL;
    return memdiagnosis_headroom(&r->active->mem, max_age_ms);
}

/* ---- signals ---------------------------------------------------------------- */

/* `sig` to pytest and everything it started (child.h), or the end of the lookup or probe that
 * comes before it. */
static void run_signal(Run *run, int sig)
{
    if (run->child)
        child_signal(run->child, sig);
}

/* SIGTERM now, SIGKILL after the grace period. */
static void run_terminate(Run *run)
{
    if (!run->child)
        return;
    if (run->state == RUN_RUNNING)
        child_terminate(run->child, run->grace_ms);
    else /* still probing or asking pytest what it collects: that ends at once */
        child_signal(run->child, SIGKILL);
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

/* ---- streaming -------------------------------------------------------------- */

static void push_progress(Run *run)
{
    run->last_push_ns = uv_hrtime();
    json_t *ev = runresult_progress_json(&run->output);
    json_object_set_new(ev, "run_id", json_integer(run->id));
    if (run->sampler && !run->t.prefix) {
        json_object_set_new(ev, "tree_rss", json_integer((json_int_t)memdiagnosis_take_high(&run->mem)));
    } else if (run->t.prefix) {
        /* Through a prefix the tree here is its client's: pytest's size is what our plugin
         * measured inside, the highest exact peak of one of its processes so far. */
        json_t *peak = runresult_exact_peak(&run->output);
        if (peak)
            json_object_set(ev, "tree_rss", json_object_get(peak, "rss"));
        json_decref(peak);
    }
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
    if (!runresult_progress_changed(&run->output))
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
    json_t *ev = runresult_take_tests(&run->output, run->id);
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
    if (runresult_poll_report(&run->output))
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
    if (n >= RUNNER_PACE_BELOW || run_exited(run))
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
        bool had_enomem = runresult_saw_enomem(&run->output);
        runresult_feed(&run->output, buf->base, (size_t)n, is_err);
        /* pytest is still alive while it reports the MemoryError: read its limits now. */
        if (!had_enomem && runresult_saw_enomem(&run->output))
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
    if (run_exited(run) && run->out_eof && run->err_eof)
        run_finish(run);
}

static void launch_pending(Runner *r);

static void on_pytest_exited(void *ud, int64_t status, int term_signal)
{
    Run *run = ud;
    run->child = NULL; /* it ended what was left of pytest's group and tree (child.h) */
    run_enter(run, RUN_DRAINING);
    run->exit_status = status;
    run->term_signal = term_signal;
    run->end_ns = uv_hrtime();
    uv_timer_stop(&run->timeout_timer);
    resume_reading(run); /* the rest of its output, and the ends of the pipes */
    if (run->sampler)
        sampler_stop(run->sampler);
    /* Its children were reparented to us before we heard of its death (we are a subreaper):
     * end them now rather than at the next status tick, or they may hold the pipes open. */
    child_reap_orphans();
    if (run->out_eof && run->err_eof)
        run_finish(run);
    else
        launch_pending(run->r);
}

/* ---- memory ----------------------------------------------------------------- */

static const char *run_current_test(void *ud)
{
    Run *run = ud;
    return runresult_current_test(&run->output);
}

/* Keeps pytest's headroom current, so that if it dies we know what was near. */
static void track_headroom(Run *run)
{
    if (!run_exited(run))
        memdiagnosis_track_headroom(&run->mem, "", mem_pid(run));
}

static void on_sample(Sampler *sm, void *ud)
{
    Run *run = ud;
    if (run->warm_attached && !run->warm_pid && !run_exited(run)) { /* the fork is the run's memory */
        read_warm_status(run, "warm", &run->warm_pid);
        if (run->warm_pid)
            sampler_set_pid(sm, run->warm_pid);
    }
    track_headroom(run);
    if (!memdiagnosis_note_sample(&run->mem, sm))
        return;
    uint64_t since_ms = (uv_hrtime() - run->last_push_ns) / 1000000;
    if (since_ms >= 100 && !run_exited(run))
        push_progress(run);
}

static void start_sampler(Run *run)
{
    run->sampler = sampler_new(run->r->loop, "", run->pid, run->sample_ms, run_current_test, run);
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

static void run_launch(Run *run);

/* Cancelled runs whose pytest has not been reaped yet. One that was reaped but whose pipes
 * are still open does not count: on_child_exit has SIGKILLed everything that could hold
 * them, so they close at once, unless a holder cannot die (uninterruptible sleep), and
 * such a run must not keep every later run from starting. */
static int closing_runs(const Runner *r)
{
    int n = 0;
    for (const Run *run = r->live; run; run = run->next)
        if (run->child && run != r->active)
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

/* Through a prefix (launch.h) the process tree sampled here is the prefix's client (docker exec,
 * ssh), not pytest: only what our plugin measured inside stands (each test's and each
 * process's exact peak); the samples' numbers are dropped rather than shown as pytest's. */
static void prefix_memory(json_t *memory, const json_t *exact)
{
    json_object_set_new(memory, "tree_peak_rss", json_integer(0));
    json_object_set_new(memory, "peak_vms", json_integer(0));
    json_object_set_new(memory, "peak_nproc", json_integer(0));
    json_object_set_new(memory, "timeline", json_array());
    json_object_set_new(memory, "top_growth", json_array());
    json_object_del(memory, "peak_test");
    json_object_set_new(memory, "peak_rss", json_integer(exact ? json_integer_value(json_object_get(exact, "rss")) : 0));
    json_object_set_new(memory, "peak_source", json_string(exact ? "plugin" : "none"));
    if (exact) {
        json_object_set(memory, "peak_test", json_object_get(exact, "nodeid"));
        json_object_set(memory, "peak_when", json_object_get(exact, "when"));
    }
}

/* Through a prefix the limits here are not pytest's: those our plugin read where pytest runs, at
 * its start (pathmap.py's limits.json beside the report), go in `where_pytest_runs` (memfail.h:
 * the binding one and its sentence, for :PytestMemory). For a pytest killed there (SIGKILL:
 * `docker exec` exits 137) they are the run's diagnosis; a memory failure's own limit (read by
 * our plugin in the failing process) is the diagnosis otherwise (runresult.h:
 * RunFacts.diagnose_from_failures). */
static void prefix_limits(const Run *run, json_t *memory)
{
    if (!run->tmpdir)
        return;
    StrBuf path = STRBUF_INIT;
    strbuf_printf(&path, "%s/limits.json", run->tmpdir);
    json_t *facts = json_load_file(strbuf_cstr(&path), 0, NULL);
    strbuf_destroy(&path);
    json_t *where = memfail_limits_where(facts);
    if (where)
        json_object_set_new(memory, "where_pytest_runs", where);
    bool killed = run->term_signal == SIGKILL || (run->term_signal == 0 && run->exit_status == 128 + SIGKILL);
    MemFailVerdict v;
    if (killed && !run->cancelled && !run->timed_out && memfail_explain_killed(facts, &v) == 0) {
        json_object_set_new(memory, "diagnosis", json_string(v.sentence));
        json_object_set_new(memory, "diagnosis_cause", json_string(v.cause));
        json_object_set_new(memory, "memory_related", json_true());
        memfail_verdict_destroy(&v);
    }
    json_decref(facts);
}

/* The `memory` object of the run's result (memdiagnosis.h): a new reference. */
static json_t *run_memory(Run *run)
{
    json_t *memory = memdiagnosis_json(run->sampler);
    /* The run's peak: exact where the plugin measured (every process that ran tests, xdist's
     * workers too: each test's peak and each process's before its first test, and pytest's own
     * VmHWM); the samples, which depend on when they fall (identical runs showed 215, 248 and
     * 293 MB for a 348 MB peak), are the timeline and the tree's sum (tree_peak_rss). Every view
     * of the run shows this one number. */
    json_t *exact_peak = runresult_exact_peak(&run->output);
    if (run->t.prefix)
        prefix_memory(memory, exact_peak);
    else
        memdiagnosis_exact_peak(memory, run->sampler, exact_peak);
    json_decref(exact_peak);
    /* Exact per-test peaks from the plugin when it measured them, rather than the samples'. */
    json_t *exact = runresult_top(&run->output, REPORTFEED_TOP_TESTS, REPORTFEED_TOP_GROWTH);
    if (exact) {
        json_object_set_new(memory, "top_growth", exact);
        json_object_set_new(memory, "top_growth_source", json_string("plugin"));
        /* :PytestMemory's other tops: by exact peak, by time in the garbage collector */
        json_t *top = runresult_top(&run->output, REPORTFEED_TOP_TESTS, REPORTFEED_TOP_PEAK);
        if (top)
            json_object_set_new(memory, "top_peak", top);
        top = runresult_top(&run->output, REPORTFEED_TOP_TESTS, REPORTFEED_TOP_GC);
        if (top)
            json_object_set_new(memory, "top_gc", top);
    }
    json_t *over = runresult_over_budget(&run->output); /* the memory budget's warnings */
    if (over) {
        json_object_set_new(memory, "budget", json_integer((json_int_t)(run->memory_budget_mb << 20)));
        json_object_set_new(memory, "over_budget", over);
    }
    MemDiagnosisEnd end = {
        .spawned = run_spawned(run),
        .cancelled = run->cancelled,
        .timed_out = run->timed_out,
        .saw_enomem = runresult_saw_enomem(&run->output),
        .term_signal = run->term_signal,
        .exit_status = run->exit_status,
        .same_cgroup_pid = (int)getpid(), /* pytest is our child: same cgroup */
    };
    if (run->t.prefix)
        prefix_limits(run, memory);
    else
        memdiagnosis_diagnose(&run->mem, "", &end, memory);
    return memory;
}

/* The run has ended: its result, authored whole by runresult_result() from what the run knows
 * and what the runner's owner observes (RunnerEvents.observe), goes out once. */
static void run_finish(Run *run)
{
    if (run->state == RUN_FINISHED)
        return;
    run_enter(run, RUN_FINISHED);
    uv_timer_stop(&run->progress_timer);
    uv_timer_stop(&run->feed_timer);
    uv_timer_stop(&run->pace_timer);
    if (run_spawned(run)) { /* the rest of the plugin's report, and the tests it changed */
        runresult_finish_report(&run->output);
        push_tests(run);
    }
    Runner *r = run->r;
    if (r->active == run)
        r->active = NULL;
    json_t *memory = run_memory(run);
    if (run->warm_attached && run->tmpdir)
        read_warm_status(run, "warm", &run->warm_pid);
    if (run->warm_serial) {
        warm_pool_release(run->r->warm, run->warm_serial);
        run->warm_serial = 0;
    }
    /* The next run of this project is a fork of a warm pytest that has what this one imported. */
    if (run->warm_wanted && run_spawned(run) && !run->r->freeing && run->plugin_dir && !run->t.prefix)
        warm_pool_prepare(run->r->warm, &run->t, run->plan.env, run->imports_path, run->plugin_dir);
    keep_report(run);
    /* Close first: uv_close releases the pipes' descriptors now (the Run itself is freed
     * later, from the close callbacks), so whoever hears `finished` sees them gone. */
    run_close(run);
    child_reap_orphans();
    RunObserved observed = {.coprocess_rss = -1, .editor_rss = -1};
    if (r->ev.observe)
        r->ev.observe(r->ud, &observed);
    RunFacts facts = {
        .id = run->id,
        .cwd = run->t.cwd,
        .root = run->t.root,
        .python = run->t.python,
        .python_why = run->t.python_why,
        .junit_path = run->junit_path,
        .tmp_base = privdir_base(),
        .args = run->user_args,
        .cmd = run->plan.argv,
        .start_error = run->start_error,
        .spawned = run_spawned(run),
        .exit_status = run->exit_status,
        .term_signal = run->term_signal,
        .cancelled = run->cancelled,
        .timed_out = run->timed_out,
        .timeout_ms = run->timeout_ms,
        .seconds = run->end_ns > run->start_ns ? (double)(run->end_ns - run->start_ns) / 1e9 : 0,
        .exited_ns = run_exited(run) ? run->end_ns : 0,
        .memory = memory,
        .coverage = run->coverage,
        .coverage_path = run->coverage_path,
        .have_plugin = run->plugin_dir != NULL,
        .observed = &observed,
        .diagnose_from_failures = run->t.prefix != NULL,
        .warm = run->warm_attached && !run->warm_reason,
        .warm_reason = run->warm_reason,
        .nearest_lookup = run->nearest_line > 0 && run->plugin_dir ? (run->nearest_cached ? "kept" : "pytest") : NULL,
    };
    Coverage *cov = NULL;
    json_t *result = runresult_result(&run->output, &facts, &cov);
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
static void run_free(Run *run)
{
    launch_target_destroy(&run->t);
    launch_plan_destroy(&run->plan);
    free(run->log_path);
    free(run->selection);
    runresult_destroy(&run->output);
    memdiagnosis_destroy(&run->mem);
    remove_tmpdir(run);
    free(run->junit_path);
    free(run->coverage_path);
    free(run->coverage_data);
    project_free_argv(run->coverage_files);
    free(run->start_error);
    free(run->plugin_dir);
    free(run->warm_reason);
    free(run->imports_path);
    free(run->nearest_key);
    free(run->nearest_stamp);
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
        nearest_clear(r);
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
    close_handle(&run->progress_timer);
    close_handle(&run->start_timer);
    close_handle(&run->feed_timer);
    close_handle(&run->pace_timer);
    close_handle(&run->out);
    close_handle(&run->err);
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
    int rc = launch_tmp_dir(&run->t, &run->r->self, &run->tmpdir);
    if (rc < 0)
        return rc;
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/junit.xml", run->tmpdir);
    run->junit_path = strbuf_detach(&sb);
    if (run->warm_wanted) {
        strbuf_printf(&sb, "%s/imports", run->tmpdir);
        run->imports_path = strbuf_detach(&sb);
    }
    if (run->coverage) {
        strbuf_printf(&sb, "%s/coverage.json", run->tmpdir);
        run->coverage_path = strbuf_detach(&sb);
        strbuf_printf(&sb, "%s/.coverage", run->tmpdir);
        run->coverage_data = strbuf_detach(&sb);
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

/* ---- warm start (warm.h) ------------------------------------------------------- */

/* Why this run's pytest is not a fork of the warm pytest whatever the pool has: NULL when it
 * may be. */
static const char *cold_reason_for(const Run *run)
{
    if (!run->warm_wanted)
        return "warm = false";
    if (run->t.prefix) /* the warm pytest is on this side; the tests are on the other */
        return "runs through a command prefix are cold";
    if (!run->plugin_dir)
        return "pytestmon's pytest plugin is not loaded by this interpreter";
    if (run->coverage)
        return "coverage runs are cold";
    for (char **a = run->t.args; a && *a; a++) {
        const char *s = *a;
        if (strcmp(s, "--") == 0)
            break;
        if (strncmp(s, "-n", 2) == 0 || strncmp(s, "--numprocesses", 14) == 0 || strncmp(s, "--dist", 6) == 0 ||
            strncmp(s, "--tx", 4) == 0)
            return "xdist (-n) runs are cold";
        if (strcmp(s, "-f") == 0 || strcmp(s, "--looponfail") == 0)
            return "--looponfail runs are cold";
        if (strncmp(s, "--pdb", 5) == 0 || strcmp(s, "--trace") == 0)
            return "debugger options (--pdb, --trace) run cold";
    }
    return NULL;
}

static char *warm_status_path(const Run *run, const char *name)
{
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/%s", run->tmpdir, name);
    return strbuf_detach(&sb);
}

static void set_warm_reason(Run *run, const char *reason)
{
    free(run->warm_reason);
    run->warm_reason = reason ? xstrdup(reason) : NULL;
}

/* Starts `spec` (a pytest the run planned: the run itself or Nearest's lookup) as a Child:
 * through warmattach's stand-in when the warm pytest can serve it (its status in the run's
 * private directory as `status_name`), else as it is, the reason kept. */
static Child *start_pytest_child(Run *run, ChildSpec *spec, const char *status_name, ChildExited exited,
                                 uint64_t *serial, int *rc)
{
    Runner *r = run->r;
    const char *reason = cold_reason_for(run);
    int fd = -1;
    *serial = 0;
    if (reason || warm_pool_attach(r->warm, &run->t, spec->env, &fd, serial, &reason) != 0) {
        set_warm_reason(run, reason);
        return child_start(r->loop, spec, exited, run, rc);
    }
    set_warm_reason(run, NULL);
    char *status = warm_status_path(run, status_name);
    unlink(status);
    size_t n = 0;
    while (spec->argv[n])
        n++;
    char **argv = xcalloc(n + 5, sizeof *argv);
    argv[0] = r->exe;
    argv[1] = WARMATTACH_FLAG;
    argv[2] = status;
    argv[3] = "--";
    for (size_t i = 0; i < n; i++)
        argv[4 + i] = spec->argv[i];
    ChildSpec step = *spec;
    step.argv = argv;
    step.stdio[0] = (uv_stdio_container_t){.flags = UV_INHERIT_FD, .data.fd = fd};
    Child *c = child_start(r->loop, &step, exited, run, rc);
    close(fd);
    free(argv);
    free(status);
    if (!c) {
        warm_pool_release(r->warm, *serial);
        *serial = 0;
    }
    return c;
}

/* What the stand-in wrote: "warm PID" (*pid set) or "cold REASON" (kept as the run's). */
static void read_warm_status(Run *run, const char *name, int *pid)
{
    char *path = warm_status_path(run, name);
    StrBuf sb = STRBUF_INIT;
    if (strbuf_read_file(&sb, path, 0) == 0 && sb.len) {
        if (sb.data[sb.len - 1] == '\n')
            sb.data[--sb.len] = '\0';
        if (strncmp(sb.data, "warm ", 5) == 0 && pid)
            *pid = (int)strtol(sb.data + 5, NULL, 10);
        else if (strncmp(sb.data, "cold ", 5) == 0)
            set_warm_reason(run, sb.data + 5);
    }
    strbuf_destroy(&sb);
    free(path);
}

/* The process whose memory is the run's: the warm pytest's fork once known, else pytest. */
static int mem_pid(const Run *run)
{
    return run->warm_pid ? run->warm_pid : run->pid;
}

static int spawn_pytest(Run *run)
{
    uv_pipe_init(run->r->loop, &run->out, 0);
    uv_pipe_init(run->r->loop, &run->err, 0);
    run->out.data = run->err.data = run;
    run->open_handles += 2;
    ChildSpec spec = {.exe = run->r->exe, .argv = run->plan.argv, .env = run->plan.env, .cwd = run->t.root, .hold_stdin = run->plan.hold_stdin};
    spec.stdio[1] = (uv_stdio_container_t){.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE,
                                           .data.stream = (uv_stream_t *)&run->out};
    spec.stdio[2] = (uv_stdio_container_t){.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE,
                                           .data.stream = (uv_stream_t *)&run->err};
    int rc = 0;
    run->child = start_pytest_child(run, &spec, "warm", on_pytest_exited, &run->warm_serial, &rc);
    if (!run->child)
        return rc;
    run->warm_attached = run->warm_serial != 0;
    run->pid = child_pid(run->child);
    run_enter(run, RUN_RUNNING);
    uv_read_start((uv_stream_t *)&run->out, on_alloc, on_read);
    uv_read_start((uv_stream_t *)&run->err, on_alloc, on_read);
    return 0;
}

static bool is_directory(const char *p);

static char *describe_spawn_error(const Run *run, int rc)
{
    StrBuf sb = STRBUF_INIT;
    if (rc == UV_ENOENT && !is_directory(run->t.root))
        strbuf_printf(&sb, "the project root %s is not a directory", run->t.root);
    else if (rc == UV_ENOENT)
        strbuf_printf(&sb, "no Python interpreter found: '%s' (chosen by %s) does not exist",
                      run->t.python, run->t.python_why);
    else if (rc == UV_EACCES)
        strbuf_printf(&sb, "cannot run the Python interpreter '%s': permission denied",
                      run->t.python);
    else
        strbuf_printf(&sb, "cannot start '%s': %s", run->t.python, uv_strerror(rc));
    return strbuf_detach(&sb);
}

static bool is_directory(const char *p)
{
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Spawns pytest as run->plan says and tells the client the run started. */
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
        runresult_follow_report(&run->output, run->junit_path, run->t.root, run->memory_budget_mb << 20);
        uv_timer_start(&run->feed_timer, on_feed_timer, RUNNER_FEED_POLL_MS, RUNNER_FEED_POLL_MS);
    }
    start_sampler(run);
    if (run->timeout_ms)
        uv_timer_start(&run->timeout_timer, on_timeout, run->timeout_ms, 0);
    if (r->ev.started) {
        json_t *ev = json_pack("{s:I, s:s, s:s, s:s, s:s, s:o, s:o}", "run_id", (json_int_t)run->id,
                               "cwd", run->t.cwd, "root", run->t.root, "python", run->t.python,
                               "python_why", run->t.python_why, "args", runresult_string_list(run->user_args),
                               "cmd", runresult_string_list(run->plan.argv));
        if (run->nearest_line > 0) /* nearest: whether a collected test or class was around the line */
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

/* The run's own plan (launch.h): pytest with the user's arguments, the selection and, for a
 * coverage run, pytest-cov's. */
static void plan_run(Run *run)
{
    LaunchFiles f = {
        .plugin_dir = run->plugin_dir,
        .report = run->junit_path,
        .coverage = run->coverage ? run->coverage_path : NULL,
        .coverage_data = run->coverage ? run->coverage_data : NULL,
        .selection = run->selection,
        .imports = run->imports_path,
    };
    launch_plan_destroy(&run->plan);
    launch_plan(&run->t, LAUNCH_RUN, &f, &run->plan);
    /* What exec cannot pass goes through a file (a megabyte's node id); not through a prefix,
     * whose variables are in argv (launch.h): there it is passed as it is. */
    if (run->plugin_dir && !run->t.prefix) {
        StrBuf path = STRBUF_INIT;
        strbuf_printf(&path, "%s/args", run->tmpdir);
        if (pyplugin_spill_args(run->plan.argv, strbuf_cstr(&path)) > 0)
            run->plan.env = pyplugin_args_env(run->plan.env, strbuf_cstr(&path));
        strbuf_destroy(&path);
    }
}

/* What the run selects is known (nearest): shown with the user's arguments, and run. */
static void select_and_go(Run *run, char *selection)
{
    run->selection = selection;
    char **user = argv_plus(run->user_args, selection);
    project_free_argv(run->user_args);
    run->user_args = user;
    plan_run(run);
    run_go(run);
}

/* pytest has told what it collects in the file: run the node around the line, or the
 * whole file when no collected test or class contains it (or collection failed: the
 * run itself then reports why). */
static void on_collected(void *ud, int64_t status, int term_signal)
{
    Run *run = ud;
    run->child = NULL;
    if (run->warm_serial) { /* the lookup's fork is done with the warm pytest */
        warm_pool_release(run->r->warm, run->warm_serial);
        run->warm_serial = 0;
    }
    if (run->cancelled || run->r->freeing) {
        run_finish(run);
        return;
    }
    char *path = collect_path(run);
    Collection c = {0}; /* destroyed whether or not it was read */
    StrBuf err = STRBUF_INIT;
    char *nodeid = NULL;
    if (status >= 0 && term_signal == 0 && collection_read(path, &c, &err) == 0) {
        nodeid = collection_nearest(&c, run->t.file, run->nearest_line, run->t.root);
        if (status == 0 && run->nearest_stamp) /* a clean collection: kept for the next Nearest run */
            nearest_keep(run, &c);
    }
    collection_destroy(&c);
    strbuf_destroy(&err);
    unlink(path);
    free(path);
    run->nearest_found = nodeid != NULL;
    select_and_go(run, nodeid ? nodeid : xstrdup(run->t.file));
}

/* Asks pytest (with our plugin) what it collects in the nearest file first. */
static void start_collect(Run *run)
{
    Runner *r = run->r;
    char *path = collect_path(run);
    LaunchFiles f = {.plugin_dir = run->plugin_dir, .report = run->junit_path, .record = path};
    LaunchPlan lookup; /* borrowed by child_start for the call only: run->plan stays the run's */
    launch_plan(&run->t, LAUNCH_NEAREST, &f, &lookup);
    free(path);
    int rc = 0;
    ChildSpec spec = {.exe = r->exe, .argv = lookup.argv, .env = lookup.env, .cwd = run->t.root, .hold_stdin = lookup.hold_stdin};
    run->child = start_pytest_child(run, &spec, "warm-lookup", on_collected, &run->warm_serial, &rc);
    launch_plan_destroy(&lookup);
    if (!run->child) {
        fail_start(run, describe_spawn_error(run, rc));
        return;
    }
    run_enter(run, RUN_LOOKING_UP);
    r->active = run;
}

/* ---- Nearest's lookups kept ---------------------------------------------------------- */

static void stamp_file(StrBuf *sb, const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0)
        strbuf_printf(sb, "%s %lld.%09ld %lld\n", path, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                      (long long)st.st_size);
    else
        strbuf_printf(sb, "%s -\n", path);
}

/* What a lookup's answer depends on besides the request: the file, every conftest.py from its
 * directory up to the root, the root's configuration files. */
static char *nearest_stamp(const Run *run)
{
    StrBuf sb = STRBUF_INIT;
    stamp_file(&sb, run->t.file);
    static const char *const configs[] = {"pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg"};
    StrBuf p = STRBUF_INIT;
    for (size_t i = 0; i < sizeof configs / sizeof *configs; i++) {
        strbuf_reset(&p);
        strbuf_printf(&p, "%s/%s", run->t.root, configs[i]);
        stamp_file(&sb, strbuf_cstr(&p));
    }
    char *dir = xstrdup(run->t.file);
    for (;;) {
        char *slash = strrchr(dir, '/');
        if (!slash)
            break;
        *slash = '\0';
        strbuf_reset(&p);
        strbuf_printf(&p, "%s/conftest.py", *dir ? dir : "");
        stamp_file(&sb, strbuf_cstr(&p));
        if (!*dir || strcmp(dir, run->t.root) == 0)
            break;
    }
    free(dir);
    strbuf_destroy(&p);
    return strbuf_detach(&sb);
}

static char *nearest_key(const Run *run, size_t *len)
{
    StrBuf sb = STRBUF_INIT;
    strbuf_puts(&sb, run->t.python);
    strbuf_putc(&sb, '\0');
    strbuf_puts(&sb, run->t.root);
    for (char **a = run->t.args; a && *a; a++) {
        strbuf_putc(&sb, '\0');
        strbuf_puts(&sb, *a);
    }
    strbuf_putc(&sb, '\1');
    for (char **e = run->t.env; e && *e; e++) {
        strbuf_putc(&sb, '\0');
        strbuf_puts(&sb, *e);
    }
    strbuf_putc(&sb, '\1');
    strbuf_puts(&sb, run->t.file);
    *len = sb.len;
    return strbuf_detach(&sb);
}

static NearestEntry *nearest_find(Runner *r, const char *key, size_t len)
{
    for (size_t i = 0; i < NEAREST_CACHE_MAX; i++)
        if (r->nearest[i].key && r->nearest[i].key_len == len && memcmp(r->nearest[i].key, key, len) == 0)
            return &r->nearest[i];
    return NULL;
}

static void nearest_entry_clear(NearestEntry *e)
{
    free(e->key);
    free(e->stamp);
    collection_destroy(&e->c);
    *e = (NearestEntry){0};
}

static void nearest_clear(Runner *r)
{
    for (size_t i = 0; i < NEAREST_CACHE_MAX; i++)
        nearest_entry_clear(&r->nearest[i]);
}

/* The lookup's answer, consumed (c), kept under the run's key and stamp. */
static void nearest_keep(Run *run, Collection *c)
{
    Runner *r = run->r;
    NearestEntry *e = nearest_find(r, run->nearest_key, run->nearest_key_len);
    for (size_t i = 0; !e && i < NEAREST_CACHE_MAX; i++)
        if (!r->nearest[i].key)
            e = &r->nearest[i];
    if (!e) { /* the least recently used one goes */
        e = &r->nearest[0];
        for (size_t i = 1; i < NEAREST_CACHE_MAX; i++)
            if (r->nearest[i].used < e->used)
                e = &r->nearest[i];
    }
    nearest_entry_clear(e);
    e->key = xmalloc(run->nearest_key_len);
    memcpy(e->key, run->nearest_key, run->nearest_key_len);
    e->key_len = run->nearest_key_len;
    e->stamp = xstrdup(run->nearest_stamp);
    e->c = *c;
    *c = (Collection){0};
    e->used = ++r->nearest_tick;
}

/* A Nearest run whose file's lookup is kept and still true: the node is chosen and the run
 * starts (true); else the run's key and stamp are set for the lookup to be kept (false). */
static bool nearest_from_cache(Run *run)
{
    Runner *r = run->r;
    run->nearest_key = nearest_key(run, &run->nearest_key_len);
    run->nearest_stamp = nearest_stamp(run); /* before the lookup: a change during it is a miss later */
    NearestEntry *e = nearest_find(r, run->nearest_key, run->nearest_key_len);
    if (!e || strcmp(e->stamp, run->nearest_stamp) != 0)
        return false;
    e->used = ++r->nearest_tick;
    char *nodeid = collection_nearest(&e->c, run->t.file, run->nearest_line, run->t.root);
    run->nearest_found = nodeid != NULL;
    run->nearest_cached = true;
    select_and_go(run, nodeid ? nodeid : xstrdup(run->t.file));
    return true;
}

/* Spawns pytest once the interpreter is known to load our plugin (or not): the nearest
 * test is asked of pytest first, else the arguments run as they are. */
static void run_proceed(Run *run)
{
    if (run->nearest_line > 0 && run->plugin_dir && run->warm_wanted && nearest_from_cache(run))
        return;
    if (run->nearest_line > 0 && run->plugin_dir)
        start_collect(run);
    else if (run->nearest_line > 0) /* no plugin to ask what pytest collects: the whole file */
        select_and_go(run, xstrdup(run->t.file));
    else /* run->plan is the run's, planned at launch (again after a failed probe) */
        run_go(run);
}

/* What a probe's answer is about: the interpreter, and the prefix it runs behind (launch.h).
 * A new string. */
static char *probe_key(const Run *run)
{
    StrBuf sb = STRBUF_INIT;
    for (char **p = run->t.prefix; p && *p; p++)
        strbuf_printf(&sb, "%s%c", *p, '\x1f');
    strbuf_puts(&sb, run->t.python);
    return strbuf_detach(&sb);
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
    run->child = NULL;
    if (run->cancelled || r->freeing) {
        run_finish(run);
        return;
    }
    if (status == 0 && term_signal == 0) {
        char *key = probe_key(run);
        char **more = argv_plus(r->plugin_loads, key);
        free(key);
        project_free_argv(r->plugin_loads);
        r->plugin_loads = more;
    } else { /* pytest's junitxml then: the run's plan changes */
        free(run->plugin_dir);
        run->plugin_dir = NULL;
        plan_run(run);
    }
    run_proceed(run);
}

/* Can this interpreter find our plugin (a wrapper that drops PYTHONPATH, python -E/-I)?
 * `-p pytestmon_plugin` would make such a run a usage error, so ask once first (one bare
 * interpreter start, the first run with each interpreter). */
static void start_probe(Run *run)
{
    Runner *r = run->r;
    LaunchFiles f = {.plugin_dir = run->plugin_dir};
    LaunchPlan probe; /* borrowed by child_start for the call only: run->plan stays the run's */
    launch_plan(&run->t, LAUNCH_PROBE, &f, &probe);
    int rc = 0;
    ChildSpec spec = {.exe = r->exe, .argv = probe.argv, .env = probe.env, .cwd = run->t.root, .hold_stdin = probe.hold_stdin};
    run->child = child_start(r->loop, &spec, on_probed, run, &rc);
    launch_plan_destroy(&probe);
    if (!run->child) {
        fail_start(run, describe_spawn_error(run, rc));
        return;
    }
    run_enter(run, RUN_PROBING);
    r->active = run;
}

static void run_launch(Run *run)
{
    Runner *r = run->r;
    runresult_destroy(&run->output); /* nothing was fed: now with the log */
    runresult_init(&run->output, run->tail_bytes, run->log_path);
    run->start_ns = uv_hrtime();
    if (run->t.error) { /* no working directory, or an interpreter another user could have put there */
        fail_start(run, xstrdup(run->t.error));
        return;
    }
    int rc = make_tmpdir(run);
    if (rc < 0) {
        fail_start(run, privdir_create_error(launch_tmp_base(&run->t), rc));
        return;
    }
    run->plugin_dir = pyplugin_find_dir();
    if (run->t.prefix && run->plugin_dir) { /* the other side sees it through the map */
        char *copy = pyplugin_copy(run->plugin_dir, run->tmpdir);
        free(run->plugin_dir);
        run->plugin_dir = copy;
    }
    /* What exec will find, asked before spawning (the exec step can only report a missing
     * interpreter by its exit status), in the environment the run gives it. */
    plan_run(run);
    StrBuf exe = STRBUF_INIT;
    rc = is_directory(run->t.root) ? check_executable(run->plan.argv[0], run->plan.env, run->t.root, &exe) : UV_ENOENT;
    /* A Python binary itself honours the PYTHONPATH we give it: no need to ask (a wrapper
     * script might drop it: -E, -I, env -i). */
    bool surely_loads = rc == 0 && pyplugin_interpreter_honours_pythonpath(strbuf_cstr(&exe));
    strbuf_destroy(&exe);
    if (rc != 0) {
        fail_start(run, describe_spawn_error(run, rc));
        return;
    }
    char *key = probe_key(run);
    bool known = plugin_known_to_load(r, key);
    free(key);
    if (run->plugin_dir && !surely_loads && !known) {
        start_probe(run);
        return;
    }
    run_proceed(run);
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
    run->memory_budget_mb = spec->memory_budget_mb;
    run->warm_wanted = spec->warm;
    run->grace_ms = spec->kill_grace_ms ? spec->kill_grace_ms : 2000;
    run->sample_ms = spec->sample_interval_ms ? spec->sample_interval_ms : 100;
    memdiagnosis_init(&run->mem);
    run->user_args = copy_argv(spec->req.args, spec->req.nargs);
    /* Where and with what is decided now (stat only); a run still waiting for closing ones
     * keeps it, and one that cannot start says why when its turn comes. */
    launch_resolve(&spec->req, &run->t);
    run->nearest_line = run->t.file ? spec->nearest_line : 0;
    run->log_path = spec->log_path ? xstrdup(spec->log_path) : NULL;
    run->tail_bytes = spec->tail_bytes;
    run->coverage = spec->coverage;
    if (spec->coverage)
        run->coverage_files = copy_argv(spec->coverage_files, spec->ncoverage_files);
    init_timer(run, &run->timeout_timer);
    init_timer(run, &run->progress_timer);
    init_timer(run, &run->start_timer);
    init_timer(run, &run->feed_timer);
    init_timer(run, &run->pace_timer);
    runresult_init(&run->output, spec->tail_bytes, NULL);

    if (closing_runs(r) >= RUNNER_MAX_CLOSING) {
        /* Wait for them, and hurry them: they were asked to stop already. */
        r->pending = run;
        for (Run *old = r->live; old; old = old->next) {
            if (old->child && !old->hurried && old != run) {
                old->hurried = true;
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
    warm_pool_free(r->warm); /* its warm pytests end now (their forks with them) */
    r->warm = NULL;
    r->done = done;
    r->done_ud = ud;
    r->active = NULL;
    if (!r->live) {
        drop_kept_report(r);
        nearest_clear(r);
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
    child_reap_orphans(); /* what runs left behind may hold their pipes open */
}

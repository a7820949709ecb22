/* Unit tests for watch: on a real loop with a fake project tree; the run hook records the
 * run it is asked for instead of starting pytest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/strbuf.h"
#include "pytest/watch.h"
#include "testutil.h"

static char tmp[TMP_PATH_MAX];

typedef struct {
    int runs;
    int64_t next_id;
    char *last_args; /* space-separated, root-relative where under the root */
    json_t *events;  /* every `watch` event */
} Seen;

static Seen seen;

static char *at(const char *rel)
{
    StrBuf p = STRBUF_INIT;
    strbuf_printf(&p, "%s/%s", tmp, rel);
    return strbuf_detach(&p);
}

static void put(const char *rel, const char *text)
{
    char *path = at(rel);
    for (char *s = path + strlen(tmp) + 1; (s = strchr(s, '/')) != NULL; s++) {
        *s = '\0';
        mkdir(path, 0700);
        *s = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(path);
}

static int64_t fake_run(void *ud, const RunSpec *spec)
{
    (void)ud;
    StrBuf sb = STRBUF_INIT;
    for (size_t i = 0; i < spec->req.nargs; i++) {
        const char *a = spec->req.args[i];
        if (strncmp(a, tmp, strlen(tmp)) == 0)
            a += strlen(tmp) + 1;
        strbuf_printf(&sb, "%s%s", i ? " " : "", a);
    }
    free(seen.last_args);
    seen.last_args = strbuf_detach(&sb);
    seen.runs++;
    return ++seen.next_id;
}

static void fake_event(void *ud, json_t *ev)
{
    (void)ud;
    json_array_append_new(seen.events, ev);
}

static const WatchHooks hooks = {fake_run, fake_event};

static size_t events_in(const char *state)
{
    size_t n = 0, i;
    json_t *ev;
    json_array_foreach(seen.events, i, ev) n += strcmp(json_string_value(json_object_get(ev, "state")), state) == 0;
    return n;
}

/* Runs the loop until `events_in(state) >= n` (at most 5 s). */
static void run_until(uv_loop_t *loop, const char *state, size_t n)
{
    uint64_t deadline = uv_now(loop) + 5000;
    while (events_in(state) < n) {
        uv_run(loop, UV_RUN_ONCE);
        uv_update_time(loop);
        assert_true(uv_now(loop) < deadline);
    }
}

static int setup(void **state)
{
    (void)state;
    tmp_template(tmp, "pytestmon-watch");
    assert_non_null(mkdtemp(tmp));
    char *real = realpath(tmp, NULL);
    assert_string_equal(real, tmp);
    free(real);
    put("pytest.ini", "[pytest]\n");
    put("pkg/__init__.py", "");
    put("pkg/a.py", "");
    put("pkg/b.py", "from . import a\n");
    put("tests/test_a.py", "import pkg.a\n");
    put("tests/test_b.py", "from pkg.b import f\n");
    put("tests/test_c.py", "import os\n");
    put("other/test_o.py", "import pkg.a\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tmp_remove(tmp);
    return 0;
}

static int reset(void **state)
{
    (void)state;
    free(seen.last_args);
    json_decref(seen.events);
    seen = (Seen){.events = json_array()};
    return 0;
}

static Watch *watching(uv_loop_t *loop, char **args, size_t nargs, uint64_t debounce_ms)
{
    assert_int_equal(uv_loop_init(loop), 0);
    Watch *w = watch_new(loop, &hooks, NULL);
    RunSpec spec = {.req = {.cwd = tmp, .args = args, .nargs = nargs}};
    watch_start(w, &spec, tmp, debounce_ms);
    assert_true(watch_on(w));
    return w;
}

static void finish(uv_loop_t *loop, Watch *w)
{
    watch_free(w);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(loop), 0);
}

static void save(Watch *w, const char *rel)
{
    char *p = at(rel);
    assert_true(watch_saved(w, p));
    free(p);
}

static void test_saves_before_ready_wait_and_quick_saves_are_one_run(void **state)
{
    (void)state;
    uv_loop_t loop;
    Watch *w = watching(&loop, NULL, 0, 50);
    /* Saved while the graph is still being built: held, then acted on once. */
    save(w, "pkg/a.py");
    save(w, "pkg/a.py");
    save(w, "tests/test_c.py");
    run_until(&loop, "run", 1);
    assert_int_equal(events_in("ready"), 1);
    assert_int_equal(seen.runs, 1);
    assert_string_equal(seen.last_args, "other/test_o.py tests/test_a.py tests/test_b.py tests/test_c.py");
    /* Two quick saves after that: one run. */
    save(w, "tests/test_c.py");
    save(w, "tests/test_c.py");
    run_until(&loop, "run", 2);
    assert_int_equal(seen.runs, 2);
    assert_string_equal(seen.last_args, "tests/test_c.py");
    /* Outside the root: ignored. */
    assert_false(watch_saved(w, "/etc/hosts.py"));
    finish(&loop, w);
    assert_int_equal(seen.runs, 2);
}

static void test_selection_keeps_options_and_narrows_paths(void **state)
{
    (void)state;
    uv_loop_t loop;
    char *args[] = {"-k", "tests/x", "tests", "-q", "other/test_o.py::test_one"};
    Watch *w = watching(&loop, args, 5, 10);
    run_until(&loop, "ready", 1);
    save(w, "pkg/a.py");
    run_until(&loop, "run", 1);
    /* `-k`'s value stays an option value; other/test_o.py runs as the node id given. */
    assert_string_equal(seen.last_args, "-k tests/x -q other/test_o.py::test_one tests/test_a.py tests/test_b.py");
    /* A module no watched test depends on: no run. */
    put("pkg/c.py", "");
    save(w, "pkg/c.py");
    run_until(&loop, "idle", 1);
    assert_int_equal(seen.runs, 1);
    /* Failures first. */
    char *fail = at("tests/test_b.py");
    json_t *result = json_pack("{s:I, s:s, s:[{s:s}]}", "run_id", (json_int_t)seen.next_id, "status", "failed",
                               "failures", "file", fail);
    watch_finished(w, result);
    json_decref(result);
    free(fail);
    save(w, "pkg/a.py");
    run_until(&loop, "run", 2);
    assert_string_equal(seen.last_args, "-k tests/x -q tests/test_b.py other/test_o.py::test_one tests/test_a.py");
    finish(&loop, w);
}

static void test_undecidable_runs_the_whole_selection(void **state)
{
    (void)state;
    uv_loop_t loop;
    char *args[] = {"tests", "-x"};
    Watch *w = watching(&loop, args, 2, 10);
    run_until(&loop, "ready", 1);
    put("build/gen.py", "");
    save(w, "build/gen.py");
    run_until(&loop, "run", 1);
    assert_string_equal(seen.last_args, "tests -x");
    json_t *ev = json_array_get(seen.events, json_array_size(seen.events) - 1);
    assert_true(json_is_true(json_object_get(ev, "whole")));
    finish(&loop, w);
}

static void test_stop_and_free_during_a_scan(void **state)
{
    (void)state;
    uv_loop_t loop;
    Watch *w = watching(&loop, NULL, 0, 10);
    save(w, "pkg/a.py");
    assert_true(watch_stop(w));
    assert_false(watch_stop(w));
    assert_false(watch_saved(w, tmp));
    /* Restarted while the first scan is still in flight, then freed before either ends. */
    RunSpec spec = {.req = {.cwd = tmp}};
    watch_start(w, &spec, tmp, 10);
    finish(&loop, w);
    assert_int_equal(seen.runs, 0);
}

/* The last `watch` event in `state`. */
static json_t *last_in(const char *state)
{
    json_t *found = NULL, *ev;
    size_t i;
    json_array_foreach(seen.events, i, ev) if (strcmp(json_string_value(json_object_get(ev, "state")), state) == 0)
        found = ev;
    assert_non_null(found);
    return found;
}

static void test_a_cut_scan_says_why_and_runs_the_whole_selection(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    Watch *w = watch_new(&loop, &hooks, NULL);
    watch_limit(w, 3, 0);
    char *args[] = {"tests"};
    RunSpec spec = {.req = {.cwd = tmp, .args = args, .nargs = 1}};
    watch_start(w, &spec, tmp, 10);
    run_until(&loop, "ready", 1);
    json_t *ready = last_in("ready");
    assert_true(json_is_true(json_object_get(ready, "truncated")));
    assert_string_equal(json_string_value(json_object_get(ready, "why")), "the scan stopped at 3 .py files (the limit)");
    save(w, "pkg/a.py");
    run_until(&loop, "run", 1);
    json_t *run = last_in("run");
    assert_true(json_is_true(json_object_get(run, "whole")));
    assert_non_null(strstr(json_string_value(json_object_get(run, "why")), "too many files"));
    assert_string_equal(seen.last_args, "tests");
    finish(&loop, w);
}

static void test_a_too_big_file_is_skipped_and_named(void **state)
{
    (void)state;
    uv_loop_t loop;
    Watch *w = watching(&loop, NULL, 0, 10);
    run_until(&loop, "ready", 1);
    assert_null(json_object_get(last_in("ready"), "skipped"));
    /* Saved 9 MiB: not read (nobody imports it: no run), and the event says so. */
    put("pkg/big.py", "import os\n");
    char *big = at("pkg/big.py");
    assert_int_equal(truncate(big, 9 << 20), 0);
    save(w, "pkg/big.py");
    run_until(&loop, "idle", 1);
    json_t *idle = last_in("idle");
    json_t *skipped = json_object_get(idle, "skipped");
    assert_int_equal(json_array_size(skipped), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(skipped, 0), "file")), big);
    assert_string_equal(json_string_value(json_object_get(json_array_get(skipped, 0), "why")),
                        "larger than 8 MiB: its imports are not read");
    /* The graph is back from the thread pool: the next save is decided as usual. */
    save(w, "pkg/a.py");
    run_until(&loop, "run", 1);
    assert_null(json_object_get(last_in("run"), "skipped"));
    assert_string_equal(seen.last_args, "other/test_o.py tests/test_a.py tests/test_b.py");
    /* Found by the scan: listed in `ready`. */
    RunSpec spec = {.req = {.cwd = tmp}};
    watch_start(w, &spec, tmp, 10);
    run_until(&loop, "ready", 2);
    skipped = json_object_get(last_in("ready"), "skipped");
    assert_int_equal(json_array_size(skipped), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(skipped, 0), "file")), big);
    finish(&loop, w);
    unlink(big);
    free(big);
}

/* CPU time of the threads other than this one (the thread pool's), in ms. */
static double others_cpu_ms(void)
{
    struct timespec proc, self;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &proc);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &self);
    return (double)(proc.tv_sec - self.tv_sec) * 1e3 + (double)(proc.tv_nsec - self.tv_nsec) / 1e6;
}

static uint64_t elapsed_ms(uint64_t since_ns)
{
    return (uv_hrtime() - since_ns) / 1000000;
}

static void test_free_during_a_long_scan_ends_it_at_once(void **state)
{
    (void)state;
    /* 1,200 files of 1 MiB of Python (hard links of one): seconds of scanning, and a file takes
     * a few ms to read (a few hundred under valgrind): the scan looks at its cancel flag between
     * files, so stopping takes about one file's time. */
    put("slow/m.py", "");
    char *first = at("slow/m.py");
    FILE *f = fopen(first, "w");
    assert_non_null(f);
    for (size_t n = 0; n < (1u << 20); n += 48)
        fputs("import os, sys  # a comment\nx = [1, 2, 'ab']\n", f);
    fclose(f);
    for (int i = 0; i < 1200; i++) {
        char rel[32];
        snprintf(rel, sizeof rel, "slow/m%d.py", i);
        char *p = at(rel);
        assert_int_equal(link(first, p), 0);
        free(p);
    }
    free(first);
    uv_loop_t loop;
    /* Stopped and restarted while scanning (the thread pool has spent 30 ms of CPU on it),
     * then freed: both scans end at once. */
    double cpu0 = others_cpu_ms();
    Watch *w = watching(&loop, NULL, 0, 10);
    uint64_t t0 = uv_hrtime();
    while (others_cpu_ms() - cpu0 < 30) {
        uv_run(&loop, UV_RUN_NOWAIT);
        assert_true(elapsed_ms(t0) < 10000);
    }
    assert_int_equal(events_in("ready"), 0); /* still scanning */
    t0 = uv_hrtime();
    assert_true(watch_stop(w));
    RunSpec spec = {.req = {.cwd = tmp}};
    watch_start(w, &spec, tmp, 10);
    for (int i = 0; i < 5; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    finish(&loop, w);
    print_message("freed in %llu ms\n", (unsigned long long)elapsed_ms(t0));
    assert_true(elapsed_ms(t0) < 1000);
    assert_int_equal(events_in("ready"), 0);
    StrBuf cmd = STRBUF_INIT;
    strbuf_printf(&cmd, "rm -rf '%s/slow'", tmp);
    assert_int_equal(system(strbuf_cstr(&cmd)), 0);
    strbuf_destroy(&cmd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_saves_before_ready_wait_and_quick_saves_are_one_run, reset),
        cmocka_unit_test_setup(test_selection_keeps_options_and_narrows_paths, reset),
        cmocka_unit_test_setup(test_undecidable_runs_the_whole_selection, reset),
        cmocka_unit_test_setup(test_stop_and_free_during_a_scan, reset),
        cmocka_unit_test_setup(test_a_cut_scan_says_why_and_runs_the_whole_selection, reset),
        cmocka_unit_test_setup(test_a_too_big_file_is_skipped_and_named, reset),
        cmocka_unit_test_setup(test_free_during_a_long_scan_ends_it_at_once, reset),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    reset(NULL);
    json_decref(seen.events);
    return rc;
}

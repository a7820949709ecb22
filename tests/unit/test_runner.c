/* Unit tests for runner: the child's environment (runner_child_env), the user's `env` merged
 * into ours, and a run's life (RunState): each path through the state machine taken by a real
 * run of pytest on a fixture project, on a real loop. This binary is its own exec step
 * (execstep.h), as pytestmon is. */
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

#include <uv.h>

#include "base/strbuf.h"
#include "pytest/execstep.h"
#include "pytest/project.h"
#include "pytest/runner.h"
#include "testutil.h"

static size_t count(char **env)
{
    size_t n = 0;
    while (env[n])
        n++;
    return n;
}

/* How many entries of `env` set `name`, and the value of the last one (NULL if none). */
static size_t set_by(char **env, const char *name, const char **value)
{
    size_t n = 0, len = strlen(name);
    *value = NULL;
    for (size_t i = 0; env[i]; i++)
        if (strncmp(env[i], name, len) == 0 && env[i][len] == '=') {
            n++;
            *value = env[i] + len + 1;
        }
    return n;
}

static void test_user_entries_replace_ours_and_the_last_wins(void **state)
{
    (void)state;
    setenv("PYTESTMON_T_OURS", "ours", 1);
    setenv("PYTESTMON_T_KEPT", "kept", 1);
    setenv("PYTHONUNBUFFERED", "0", 1);
    char *extra[] = {"PYTESTMON_T_OURS=first", "PYTESTMON_T_NEW=a", "PYTESTMON_T_OURS=second", "EMPTY=", NULL};
    char **env = runner_child_env(extra);
    const char *v;
    assert_int_equal(set_by(env, "PYTESTMON_T_OURS", &v), 1);
    assert_string_equal(v, "second");
    assert_int_equal(set_by(env, "PYTESTMON_T_KEPT", &v), 1);
    assert_string_equal(v, "kept");
    assert_int_equal(set_by(env, "PYTHONUNBUFFERED", &v), 1);
    assert_string_equal(v, "1"); /* ours, not the co-process's */
    assert_int_equal(set_by(env, "PYTESTMON_T_NEW", &v), 1);
    assert_string_equal(v, "a");
    assert_int_equal(set_by(env, "EMPTY", &v), 1);
    assert_string_equal(v, "");
    /* The user's entries come last, in their order (the duplicate's first one dropped). */
    size_t n = count(env);
    assert_string_equal(env[n - 3], "PYTESTMON_T_NEW=a");
    assert_string_equal(env[n - 2], "PYTESTMON_T_OURS=second");
    assert_string_equal(env[n - 1], "EMPTY=");
    project_free_argv(env);
    /* The user's PYTHONUNBUFFERED wins over ours. */
    char *unbuf[] = {"PYTHONUNBUFFERED=", NULL};
    env = runner_child_env(unbuf);
    assert_int_equal(set_by(env, "PYTHONUNBUFFERED", &v), 1);
    assert_string_equal(v, "");
    project_free_argv(env);
    unsetenv("PYTESTMON_T_OURS");
    unsetenv("PYTESTMON_T_KEPT");
    unsetenv("PYTHONUNBUFFERED");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 100,000 entries (a name given twice in every ten) merge in well under a second: the old
 * merge compared every entry with every later one (5e9 comparisons, over ten seconds). */
static void test_a_huge_env_merges_in_n_log_n(void **state)
{
    (void)state;
    enum { N = 100000 };
    setenv("PYTESTMON_T_V7", "ours", 1);
    char **extra = calloc(N + 1, sizeof *extra);
    for (size_t i = 0; i < N; i++) {
        StrBuf sb = STRBUF_INIT;
        /* Entry i sets PYTESTMON_T_V<i>, except that every tenth sets the name of the one
         * five before it again. */
        strbuf_printf(&sb, "PYTESTMON_T_V%zu=%zu", i % 10 == 9 ? i - 5 : i, i);
        extra[i] = strbuf_detach(&sb);
    }
    size_t ours = count(environ);
    double t0 = now_s();
    char **env = runner_child_env(extra);
    double took = now_s() - t0;
    /* Ours (PYTESTMON_T_V7 replaced; PYTHONUNBUFFERED added) + the distinct user names. */
    assert_int_equal(count(env), ours - 1 + 1 + N - N / 10);
    const char *v;
    assert_int_equal(set_by(env, "PYTESTMON_T_V7", &v), 1);
    assert_string_equal(v, "7");
    assert_int_equal(set_by(env, "PYTESTMON_T_V4", &v), 1);
    assert_string_equal(v, "9"); /* the later entry wins */
    assert_int_equal(set_by(env, "PYTESTMON_T_V99994", &v), 1);
    assert_string_equal(v, "99999");
    assert_int_equal(set_by(env, "PYTESTMON_T_V99999", &v), 0);
    print_message("merged %d entries in %.3f s\n", N, took);
    assert_true(took < 2.0);
    project_free_argv(env);
    for (size_t i = 0; i < N; i++)
        free(extra[i]);
    free(extra);
    unsetenv("PYTESTMON_T_V7");
}

/* ---- a run's life ----------------------------------------------------------------- */

typedef struct {
    Runner *r;
    StrBuf steps;          /* the states entered, space-separated */
    RunState cancel_in;    /* cancel the run once it enters this state (RUN_PENDING: never) */
    uv_timer_t cancel;     /* cancels from the loop, not from inside the runner's call */
    json_t *finished;      /* the `finished` result */
    bool freed;
} Life;

static void on_cancel_timer(uv_timer_t *t)
{
    Life *l = t->data;
    runner_cancel(l->r);
}

static void on_state(void *ud, int64_t run_id, RunState from, RunState to)
{
    Life *l = ud;
    (void)run_id;
    assert_true(runner_state_step_allowed(from, to));
    strbuf_printf(&l->steps, "%s%s", l->steps.len ? " " : "", runner_state_name(to));
    if (to == l->cancel_in)
        uv_timer_start(&l->cancel, on_cancel_timer, 0, 0);
}

static void on_finished(void *ud, json_t *result)
{
    Life *l = ud;
    l->finished = json_incref(result);
}

static void on_freed(void *ud)
{
    ((Life *)ud)->freed = true;
}

static char *fixture_dir(const char *name)
{
    char *p = fixture_path(name);
    char *real = realpath(p, NULL);
    free(p);
    assert_non_null(real);
    return real;
}

/* Runs spec to its end on a fresh loop: the states it went through, and its `finished`. Every
 * handle is closed after (uv_loop_close() == 0). */
static void live(const RunSpec *spec, RunState cancel_in, const char *want_steps, const char *want_status)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    Life l = {.cancel_in = cancel_in, .steps = STRBUF_INIT};
    uv_timer_init(&loop, &l.cancel);
    l.cancel.data = &l;
    RunnerEvents ev = {.finished = on_finished, .state = on_state};
    l.r = runner_new(&loop, &ev, &l);
    assert_true(runner_start(l.r, spec) > 0);
    while (!l.finished && uv_run(&loop, UV_RUN_ONCE))
        ;
    assert_non_null(l.finished);
    runner_free(l.r, on_freed, &l);
    uv_close((uv_handle_t *)&l.cancel, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(l.freed);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_string_equal(strbuf_cstr(&l.steps), want_steps);
    assert_string_equal(json_string_value(json_object_get(l.finished, "status")), want_status);
    json_decref(l.finished);
    strbuf_destroy(&l.steps);
}

static void test_a_run_goes_running_draining_finished(void **state)
{
    (void)state;
    char *proj = fixture_dir("proj_pass");
    RunSpec spec = {.cwd = proj, .python = "/usr/bin/python3"}; /* a binary: no probe */
    live(&spec, RUN_PENDING, "running draining finished", "passed");
    free(proj);
}

/* A wrapper script may drop the PYTHONPATH that finds our plugin: it is asked first. */
static void test_a_wrapper_interpreter_is_probed_first(void **state)
{
    (void)state;
    char dir[TMP_PATH_MAX];
    assert_non_null(mkdtemp(tmp_template(dir, "pytestmon-runner")));
    StrBuf py = STRBUF_INIT;
    strbuf_printf(&py, "%s/python", dir);
    FILE *f = fopen(strbuf_cstr(&py), "w");
    assert_non_null(f);
    fputs("#!/bin/sh\nexec /usr/bin/python3 \"$@\"\n", f);
    fclose(f);
    assert_int_equal(chmod(strbuf_cstr(&py), 0700), 0);
    char *proj = fixture_dir("proj_pass");
    RunSpec spec = {.cwd = proj, .python = strbuf_cstr(&py)};
    live(&spec, RUN_PENDING, "probing running draining finished", "passed");
    unlink(strbuf_cstr(&py));
    rmdir(dir);
    strbuf_destroy(&py);
    free(proj);
}

static void test_nearest_looks_up_first(void **state)
{
    (void)state;
    char *proj = fixture_dir("proj_tree");
    RunSpec spec = {.cwd = proj, .python = "/usr/bin/python3", .file = "test_plain.py", .nearest_line = 5};
    live(&spec, RUN_PENDING, "looking_up running draining finished", "passed");
    free(proj);
}

static void test_a_run_that_cannot_start_finishes_from_pending(void **state)
{
    (void)state;
    RunSpec spec = {.cwd = "/nonexistent/pytestmon/dir", .python = "/usr/bin/python3"};
    live(&spec, RUN_PENDING, "finished", "error");
}

static void test_cancel_while_running_drains_then_finishes(void **state)
{
    (void)state;
    char *proj = fixture_dir("proj_slow");
    RunSpec spec = {.cwd = proj, .python = "/usr/bin/python3", .kill_grace_ms = 200};
    live(&spec, RUN_RUNNING, "running draining finished", "cancelled");
    free(proj);
}

static void test_cancel_while_looking_up_finishes_without_running(void **state)
{
    (void)state;
    char *proj = fixture_dir("proj_tree");
    char *env[] = {"PROJ_TREE_SLOW_COLLECT=60"};
    RunSpec spec = {.cwd = proj, .python = "/usr/bin/python3", .file = "test_plain.py", .nearest_line = 5,
                    .env = env, .nenv = 1};
    live(&spec, RUN_LOOKING_UP, "looking_up finished", "cancelled");
    free(proj);
}

/* The table itself: forward only, FINISHED is the end, nothing runs twice. */
static void test_the_step_table(void **state)
{
    (void)state;
    assert_true(runner_state_step_allowed(RUN_PENDING, RUN_FINISHED));
    assert_true(runner_state_step_allowed(RUN_PROBING, RUN_LOOKING_UP));
    assert_true(runner_state_step_allowed(RUN_RUNNING, RUN_FINISHED));
    assert_false(runner_state_step_allowed(RUN_DRAINING, RUN_RUNNING));
    assert_false(runner_state_step_allowed(RUN_LOOKING_UP, RUN_PROBING));
    assert_false(runner_state_step_allowed(RUN_PENDING, RUN_DRAINING));
    for (int s = RUN_PENDING; s <= RUN_FINISHED; s++)
        assert_false(runner_state_step_allowed(RUN_FINISHED, (RunState)s));
    assert_string_equal(runner_state_name(RUN_LOOKING_UP), "looking_up");
}

int main(int argc, char **argv)
{
    /* The runner starts pytest through the exec step of the running binary (this one): be it,
     * as pytestmon's main() is, rather than run the tests again in every child. */
    if (argc > 1 && strcmp(argv[1], EXECSTEP_FLAG) == 0)
        return execstep_main(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_entries_replace_ours_and_the_last_wins),
        cmocka_unit_test(test_a_huge_env_merges_in_n_log_n),
        cmocka_unit_test(test_the_step_table),
        cmocka_unit_test(test_a_run_goes_running_draining_finished),
        cmocka_unit_test(test_a_wrapper_interpreter_is_probed_first),
        cmocka_unit_test(test_nearest_looks_up_first),
        cmocka_unit_test(test_a_run_that_cannot_start_finishes_from_pending),
        cmocka_unit_test(test_cancel_while_running_drains_then_finishes),
        cmocka_unit_test(test_cancel_while_looking_up_finishes_without_running),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

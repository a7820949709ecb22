/* Unit tests for runner: a run's life (RunState), each path through the state machine taken by
 * a real run of pytest on a fixture project, on a real loop. This binary is its own exec step
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
    RunSpec spec = {.req = {.cwd = proj, .python = "/usr/bin/python3"}}; /* a binary: no probe */
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
    RunSpec spec = {.req = {.cwd = proj, .python = strbuf_cstr(&py)}};
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
    RunSpec spec = {.req = {.cwd = proj, .python = "/usr/bin/python3", .file = "test_plain.py"}, .nearest_line = 5};
    live(&spec, RUN_PENDING, "looking_up running draining finished", "passed");
    free(proj);
}

static void test_a_run_that_cannot_start_finishes_from_pending(void **state)
{
    (void)state;
    RunSpec spec = {.req = {.cwd = "/nonexistent/pytestmon/dir", .python = "/usr/bin/python3"}};
    live(&spec, RUN_PENDING, "finished", "error");
}

static void test_cancel_while_running_drains_then_finishes(void **state)
{
    (void)state;
    char *proj = fixture_dir("proj_slow");
    RunSpec spec = {.req = {.cwd = proj, .python = "/usr/bin/python3"}, .kill_grace_ms = 200};
    live(&spec, RUN_RUNNING, "running draining finished", "cancelled");
    free(proj);
}

static void test_cancel_while_looking_up_finishes_without_running(void **state)
{
    (void)state;
    char *proj = fixture_dir("proj_tree");
    char *env[] = {"PROJ_TREE_SLOW_COLLECT=60"};
    RunSpec spec = {.req = {.cwd = proj, .python = "/usr/bin/python3", .file = "test_plain.py", .env = env, .nenv = 1}, .nearest_line = 5};
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

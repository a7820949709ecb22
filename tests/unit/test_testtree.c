/* test_testtree: the `collect` machinery on a real loop with a real pytest (/usr/bin/python3,
 * fixture proj_tree): the collection event (from the loop, never synchronously), errors, a newer
 * request superseding one that waits out its delay (which then reports nothing and holds the loop
 * no longer), and shutdown while pytest collects. This binary is its own exec step (execstep.h),
 * as pytestmon is. The RPC side: tests/integration/test_collect.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "base/strbuf.h"
#include "pytest/testtree.h"
#include "pytest/execstep.h"

static const char *srcdir(void)
{
    const char *s = getenv("PYTESTMON_SRCDIR");
    return s ? s : ".";
}

static char *tree_dir(void)
{
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/tests/fixtures/proj_tree", srcdir());
    char *root = realpath(strbuf_cstr(&sb), NULL);
    strbuf_destroy(&sb);
    assert_non_null(root);
    return root;
}

static void on_event(void *ud, json_t *payload)
{
    json_array_append(ud, payload);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Runs the loop dry, frees, checks every handle closed; returns the seconds it took. */
static double run_dry(uv_loop_t *loop, TestTree *d)
{
    double t0 = now_s();
    uv_run(loop, UV_RUN_DEFAULT);
    testtree_free(d);
    assert_int_equal(uv_loop_close(loop), 0);
    return now_s() - t0;
}

static void test_collects_the_tree(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    json_t *events = json_array();
    TestTree *d = testtree_new(&loop, on_event, events);
    char *root = tree_dir();
    TestTreeSpec spec = {.req = {.cwd = root, .python = "/usr/bin/python3"}};
    int64_t id = testtree_start(d, &spec);
    assert_true(id > 0);
    assert_int_equal(json_array_size(events), 0); /* never from inside the call */
    run_dry(&loop, d);
    assert_int_equal(json_array_size(events), 1);
    json_t *ev = json_array_get(events, 0);
    assert_int_equal(json_integer_value(json_object_get(ev, "collect_id")), id);
    assert_string_equal(json_string_value(json_object_get(ev, "root")), root);
    assert_null(json_object_get(ev, "error"));
    assert_int_equal(json_array_size(json_object_get(ev, "items")), 14);
    assert_int_equal(json_array_size(json_object_get(ev, "classes")), 3);
    json_t *err = json_array_get(json_object_get(ev, "errors"), 0);
    assert_string_equal(json_string_value(json_object_get(err, "nodeid")), "test_broken.py");
    assert_int_equal(json_integer_value(json_object_get(ev, "status")), 2); /* interrupted */
    json_decref(events);
    free(root);
}

static void test_errors_come_from_the_loop(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    json_t *events = json_array();
    TestTree *d = testtree_new(&loop, on_event, events);
    TestTreeSpec spec = {.req = {.cwd = "/nonexistent/pytestmon"}};
    int64_t id = testtree_start(d, &spec);
    assert_int_equal(json_array_size(events), 0);
    run_dry(&loop, d);
    assert_int_equal(json_array_size(events), 1);
    json_t *ev = json_array_get(events, 0);
    assert_int_equal(json_integer_value(json_object_get(ev, "collect_id")), id);
    assert_string_equal(json_string_value(json_object_get(ev, "error")),
                        "working directory is not a directory: /nonexistent/pytestmon");
    json_decref(events);
}

static void test_a_newer_request_supersedes_a_waiting_one(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    json_t *events = json_array();
    TestTree *d = testtree_new(&loop, on_event, events);
    char *root = tree_dir();
    TestTreeSpec waiting = {.req = {.cwd = root, .python = "/usr/bin/python3"}, .debounce_ms = 60000};
    TestTreeSpec newer = {.req = {.cwd = root, .python = "/usr/bin/python3"}, .debounce_ms = 10};
    testtree_start(d, &waiting);
    int64_t id = testtree_start(d, &newer);
    double took = run_dry(&loop, d);
    assert_true(took < 30); /* the superseded 60 s delay does not hold the loop */
    assert_int_equal(json_array_size(events), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(events, 0), "collect_id")), id);
    json_decref(events);
    free(root);
}

static void test_shutdown_while_collecting(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    json_t *events = json_array();
    TestTree *d = testtree_new(&loop, on_event, events);
    char *root = tree_dir();
    char *env[] = {"PROJ_TREE_SLOW_COLLECT=60"};
    TestTreeSpec slow = {.req = {.cwd = root, .python = "/usr/bin/python3", .env = env, .nenv = 1}};
    testtree_start(d, &slow);
    uv_run(&loop, UV_RUN_NOWAIT); /* the delay (0) ends: pytest starts */
    testtree_shutdown(d);
    assert_true(run_dry(&loop, d) < 30); /* its pytest was killed */
    assert_int_equal(json_array_size(events), 0);
    json_decref(events);
    free(root);
}

int main(int argc, char **argv)
{
    /* The TestTree starts pytest through the exec step of the running binary (this one): be it,
     * as pytestmon's main() is, rather than run the tests again in every child. */
    if (argc > 1 && strcmp(argv[1], EXECSTEP_FLAG) == 0)
        return execstep_main(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collects_the_tree),
        cmocka_unit_test(test_errors_come_from_the_loop),
        cmocka_unit_test(test_a_newer_request_supersedes_a_waiting_one),
        cmocka_unit_test(test_shutdown_while_collecting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

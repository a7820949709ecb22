/* test_debugger: the launch configuration debugger_start answers with (from the loop, never
 * synchronously), its errors and cancelling before the answer. The listening debugpy, its
 * endpoint and the nearest node need the real binary and pytest: see
 * tests/integration/test_debug.py (the endpoint alone: test_dapbridge.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pytest/debugger.h"
#include "base/strbuf.h"

static const char *srcdir(void)
{
    const char *s = getenv("PYTESTMON_SRCDIR");
    return s ? s : ".";
}

typedef struct {
    json_t *events; /* every payload, in order */
} Seen;

static void on_event(void *ud, json_t *payload)
{
    Seen *seen = ud;
    json_array_append(seen->events, payload);
}

static void run_dry(uv_loop_t *loop, Debugger *d)
{
    uv_run(loop, UV_RUN_DEFAULT);
    debugger_free(d);
    assert_int_equal(uv_loop_close(loop), 0);
}

static void test_config_for_a_file(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    Seen seen = {json_array()};
    Debugger *d = debugger_new(&loop, on_event, &seen);
    StrBuf proj = STRBUF_INIT, file = STRBUF_INIT;
    strbuf_printf(&proj, "%s/tests/fixtures/proj_debug", srcdir());
    char *root = realpath(strbuf_cstr(&proj), NULL);
    assert_non_null(root);
    strbuf_printf(&file, "%s/test_debug.py", root);
    char *args[] = {"-x", "test_debug.py"};
    char *env[] = {"A=1", "B=2", "A=3"};
    DebugSpec spec = {.req = {.cwd = root, .file = strbuf_cstr(&file), .args = args, .nargs = 2, 
                                       .python = "/usr/bin/python3", .env = env, .nenv = 3}};
    int64_t id = debugger_start(d, &spec);
    assert_true(id > 0);
    assert_int_equal(json_array_size(seen.events), 0); /* never from inside the call */
    run_dry(&loop, d);
    assert_int_equal(json_array_size(seen.events), 1);
    json_t *ev = json_array_get(seen.events, 0);
    assert_int_equal(json_integer_value(json_object_get(ev, "debug_id")), id);
    json_t *c = json_object_get(ev, "config");
    assert_string_equal(json_string_value(json_object_get(c, "python")), "/usr/bin/python3");
    assert_string_equal(json_string_value(json_object_get(c, "cwd")), root);
    assert_string_equal(json_string_value(json_object_get(c, "module")), "pytest");
    json_t *a = json_object_get(c, "args");
    assert_int_equal(json_array_size(a), 3);
    assert_string_equal(json_string_value(json_array_get(a, 0)), "-x");
    assert_string_equal(json_string_value(json_array_get(a, 2)), strbuf_cstr(&file));
    json_t *e = json_object_get(c, "env");
    assert_string_equal(json_string_value(json_object_get(e, "A")), "3"); /* the last wins */
    assert_string_equal(json_string_value(json_object_get(e, "B")), "2");
    assert_null(json_object_get(ev, "nearest_found")); /* no line asked for */
    json_decref(seen.events);
    strbuf_destroy(&proj);
    strbuf_destroy(&file);
    free(root);
}

static void test_bad_cwd_and_missing_file_are_errors(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    Seen seen = {json_array()};
    Debugger *d = debugger_new(&loop, on_event, &seen);
    DebugSpec bad_cwd = {.req = {.cwd = "/nonexistent/dir", .file = "x.py"}};
    debugger_start(d, &bad_cwd);
    uv_run(&loop, UV_RUN_DEFAULT);
    DebugSpec no_file = {.req = {.cwd = "/"}};
    debugger_start(d, &no_file);
    run_dry(&loop, d);
    assert_int_equal(json_array_size(seen.events), 2);
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(seen.events, 0), "error")),
                           "working directory is not a directory: /nonexistent/dir"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(seen.events, 1), "error")),
                        "no file to debug");
    json_decref(seen.events);
}

static void test_a_new_session_or_cancel_ends_the_one_before(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    Seen seen = {json_array()};
    Debugger *d = debugger_new(&loop, on_event, &seen);
    DebugSpec spec = {.req = {.cwd = "/", .file = "/x/test_a.py"}};
    debugger_start(d, &spec);
    int64_t second = debugger_start(d, &spec); /* ends the first: it never answers */
    assert_true(debugger_cancel(d) == true);   /* and the second */
    assert_false(debugger_cancel(d));
    int64_t third = debugger_start(d, &spec);
    debugger_shutdown(d);                      /* nothing answers after shutdown */
    run_dry(&loop, d);
    assert_int_equal(json_array_size(seen.events), 0);
    assert_true(third > second);
    json_decref(seen.events);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_for_a_file),
        cmocka_unit_test(test_bad_cwd_and_missing_file_are_errors),
        cmocka_unit_test(test_a_new_session_or_cancel_ends_the_one_before),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

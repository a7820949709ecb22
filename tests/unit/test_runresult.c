/* test_runresult: runresult_result, the run's result document, as a table: what pytest printed
 * (stdout, stderr), its JUnit report (a real sample from tests/fixtures/xml/, or none) and
 * what the runner knows (RunFacts) -> status, summary, error, source, exit code, counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "pytest/runresult.h"

#define ABSENT NULL
#define NO_EXIT (-1)

typedef struct {
    const char *name;
    RunFacts facts;     /* junit_path: a file under tests/fixtures/xml/, or NULL (none written) */
    const char *out, *err;
    /* expected */
    const char *status, *summary, *error, *source, *source_reason;
    int exit_code;      /* NO_EXIT: no exit_code/exit_meaning keys */
    const char *exit_meaning;
    int failed, passed, errors;
} Row;

#define PY "/usr/bin/python3"

static const Row rows[] = {
    {.name = "could not start",
     .facts = {.start_error = "python3: No such file or directory", .python = PY},
     .status = "error", .summary = "could not run pytest: python3: No such file or directory",
     .error = "python3: No such file or directory", .source = ABSENT, .exit_code = NO_EXIT},
    {.name = "all passed (junit)",
     .facts = {.spawned = true, .exit_status = 0, .junit_path = "proj_pass.xml", .python = PY},
     .out = "test_ok.py ...                                                   [100%]\n",
     .status = "passed", .summary = "3 passed in 0.02s", .error = ABSENT, .source = "junit",
     .exit_code = 0, .exit_meaning = "all tests passed", .passed = 3},
    {.name = "failures (junit)",
     .facts = {.spawned = true, .exit_status = 1, .junit_path = "proj_fail.xml", .python = PY},
     /* pytest's own junitxml: the strict XPASS pytest counts as failed is an xpass here (our
      * plugin's pytestmon.counts, absent from this sample, carry pytest's own numbers) */
     .status = "failed", .summary = "17 failed, 4 passed, 1 skipped, 1 xfailed, 1 xpassed, 4 errors in 0.08s",
     .error = ABSENT, .source = "junit", .exit_code = 1, .exit_meaning = "tests failed",
     .failed = 17, .passed = 4, .errors = 4},
    {.name = "unknown exit code with a report",
     .facts = {.spawned = true, .exit_status = 7, .junit_path = "proj_pass.xml", .python = PY},
     .status = "error", .summary = "3 passed in 0.02s", .error = ABSENT, .source = "junit",
     .exit_code = 7, .exit_meaning = "unknown exit code", .passed = 3},
    {.name = "no tests collected (terminal)",
     .facts = {.spawned = true, .exit_status = 5, .python = PY},
     .out = "collected 0 items\n\n============================ no tests ran in 0.01s =============================\n",
     .status = "no_tests", .summary = "no tests collected in 0.01s", .error = ABSENT,
     .source = "terminal", .source_reason = "pytest wrote no JUnit report",
     .exit_code = 5, .exit_meaning = "no tests collected"},
    {.name = "failures from the terminal when the report is missing",
     .facts = {.spawned = true, .exit_status = 1, .python = PY},
     .out = "collected 2 items\n\n"
            "test_a.py::test_a PASSED                                          [ 50%]\n"
            "test_a.py::test_b FAILED                                          [100%]\n"
            "=========================== short test summary info ============================\n"
            "FAILED test_a.py::test_b - assert 1 == 2\n"
            "========================= 1 failed, 1 passed in 0.05s ==========================\n",
     .status = "failed", .summary = "1 failed, 1 passed in 0.05s", .error = ABSENT,
     .source = "terminal", .source_reason = "pytest wrote no JUnit report",
     .exit_code = 1, .exit_meaning = "tests failed", .failed = 1, .passed = 1},
    {.name = "interrupted",
     .facts = {.spawned = true, .exit_status = 2, .python = PY},
     .out = "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!! KeyboardInterrupt !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            "============================ no tests ran in 0.30s =============================\n",
     .status = "interrupted", .summary = "interrupted: no tests ran in 0.30s", .error = ABSENT,
     .source = "terminal", .source_reason = "pytest wrote no JUnit report",
     .exit_code = 2, .exit_meaning = "interrupted"},
    {.name = "internal error",
     .facts = {.spawned = true, .exit_status = 3, .junit_path = "proj_pass.xml", .python = PY},
     .status = "internal_error", .summary = "pytest internal error: 3 passed in 0.02s",
     .error = ABSENT, .source = "junit", .exit_code = 3, .exit_meaning = "internal error", .passed = 3},
    {.name = "usage error",
     .facts = {.spawned = true, .exit_status = 4, .python = PY},
     .err = "ERROR: usage: pytest [options] [file_or_dir] [file_or_dir] [...]\n"
            "pytest: error: unrecognized arguments: --bogus\n  inifile: None\n  rootdir: /tmp/x\n\n",
     .status = "usage_error", .summary = "pytest usage error: pytest: error: unrecognized arguments: --bogus",
     .error = "pytest usage error: pytest: error: unrecognized arguments: --bogus",
     .source = "terminal", .source_reason = "pytest wrote no JUnit report",
     .exit_code = 4, .exit_meaning = "usage error"},
    {.name = "pytest not installed",
     .facts = {.spawned = true, .exit_status = 1, .python = PY},
     .err = "/usr/bin/python3: No module named pytest\n",
     .status = "error", .summary = "pytest is not installed for /usr/bin/python3 (No module named pytest)",
     .error = "pytest is not installed for /usr/bin/python3 (No module named pytest)",
     .source = "terminal", .source_reason = "pytest wrote no JUnit report",
     .exit_code = 1, .exit_meaning = "pytest is not installed"},
    {.name = "pytest crashed",
     .facts = {.spawned = true, .exit_status = 1, .python = PY},
     .err = "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n"
            "FileNotFoundError: [Errno 2] No such file or directory\n",
     .status = "error", .summary = "pytest crashed: FileNotFoundError: [Errno 2] No such file or directory",
     .error = "pytest crashed: FileNotFoundError: [Errno 2] No such file or directory",
     .source = "terminal", .source_reason = "pytest wrote no JUnit report",
     .exit_code = 1, .exit_meaning = "tests failed"},
    {.name = "interpreter could not start",
     .facts = {.spawned = true, .exit_status = 127, .python = PY},
     .err = "/bin/sh: 1: nopython: not found\n",
     .status = "error", .summary = "pytest could not start: /bin/sh: 1: nopython: not found",
     .error = "pytest could not start: /bin/sh: 1: nopython: not found",
     .source = "terminal", .source_reason = "pytest wrote no JUnit report",
     .exit_code = 127, .exit_meaning = "pytest could not start"},
    {.name = "interpreter start-up failed (Fatal Python error, exit 1)",
     .facts = {.spawned = true, .exit_status = 1, .python = PY},
     .err = "Fatal Python error: pycore_init_types: failed to initialize an exception type\n"
            "Python runtime state: preinitialized\n\n"
            "Current thread 0x00007f39081c2740 [python] (most recent call first):\n"
            "  <no Python frame>\n",
     .status = "error",
     .summary = "pytest could not start: Fatal Python error: pycore_init_types: failed to "
                "initialize an exception type",
     .error = "pytest could not start: Fatal Python error: pycore_init_types: failed to "
              "initialize an exception type",
     .source = "terminal", .source_reason = "pytest wrote no JUnit report",
     .exit_code = 1, .exit_meaning = "pytest could not start"},
    {.name = "interpreter start-up failed, with a traceback after the fatal line",
     .facts = {.spawned = true, .exit_status = 1, .python = PY},
     .err = "Fatal Python error: init_import_site: Failed to import the site module\n"
            "Python runtime state: initialized\n"
            "Traceback (most recent call last):\n  File \"<frozen site>\", line 79, in <module>\n"
            "ImportError: Frozen object named 'os' is invalid\n",
     .status = "error",
     .summary = "pytest could not start: Fatal Python error: init_import_site: Failed to import "
                "the site module",
     .error = "pytest could not start: Fatal Python error: init_import_site: Failed to import "
              "the site module",
     .source = "terminal", .source_reason = "pytest wrote no JUnit report",
     .exit_code = 1, .exit_meaning = "pytest could not start"},
    {.name = "killed by a signal",
     .facts = {.spawned = true, .term_signal = 9, .python = PY},
     .status = "error", .summary = "pytest was killed by signal 9 (SIGKILL)",
     .error = "pytest was killed by signal 9 (SIGKILL)", .source = "terminal",
     .source_reason = "pytest was killed before writing its JUnit report", .exit_code = NO_EXIT},
    {.name = "killed by a signal with a usage exit status recorded",
     .facts = {.spawned = true, .term_signal = 9, .exit_status = 4, .python = PY},
     .status = "usage_error", .summary = "pytest was killed by signal 9 (SIGKILL)",
     .error = "pytest was killed by signal 9 (SIGKILL)", .source = "terminal",
     .source_reason = "pytest was killed before writing its JUnit report", .exit_code = NO_EXIT},
    {.name = "timed out, with what was counted",
     .facts = {.spawned = true, .timed_out = true, .term_signal = 15, .timeout_ms = 1000,
               .junit_path = "proj_pass.xml", .python = PY},
     .status = "timed_out", .summary = "timed out after 1 s: 3 passed in 0.02s",
     .error = "timed out after 1 s", .source = "junit", .exit_code = NO_EXIT, .passed = 3},
    {.name = "cancelled before anything was counted",
     .facts = {.spawned = true, .cancelled = true, .term_signal = 15, .python = PY},
     .status = "cancelled", .summary = "run cancelled", .error = "cancelled", .source = "terminal",
     .source_reason = "pytest was killed before writing its JUnit report", .exit_code = NO_EXIT},
    {.name = "cancelled after a clean exit",
     .facts = {.spawned = true, .cancelled = true, .exit_status = 0, .junit_path = "proj_pass.xml",
               .python = PY},
     .status = "cancelled", .summary = "run cancelled: 3 passed in 0.02s", .error = "cancelled",
     .source = "junit", .exit_code = 0, .exit_meaning = "all tests passed", .passed = 3},
};

static int mismatches;

#define mismatch(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr), mismatches++)

static void expect_str(const Row *row, json_t *r, const char *key, const char *want)
{
    json_t *v = json_object_get(r, key);
    if (want == ABSENT) {
        if (v != NULL)
            mismatch("%s: %s should be absent, is \"%s\"", row->name, key, json_string_value(v));
        return;
    }
    if (v == NULL || strcmp(json_string_value(v), want) != 0)
        mismatch("%s: %s is \"%s\", want \"%s\"", row->name, key, v ? json_string_value(v) : "(absent)", want);
}

static void expect_int(const Row *row, json_t *obj, const char *key, int want)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) != want)
        mismatch("%s: %s is %lld, want %d", row->name, key, (long long)json_integer_value(v), want);
}

static void run_row(const Row *row)
{
    RunResult o;
    runresult_init(&o, 0, NULL);
    if (row->out)
        runresult_feed(&o, row->out, strlen(row->out), false);
    if (row->err)
        runresult_feed(&o, row->err, strlen(row->err), true);
    RunFacts f = row->facts;
    char *junit = fixture_path(f.junit_path ? f.junit_path : "xml/none-written.xml");
    if (f.junit_path) {
        free(junit);
        StrBuf rel = STRBUF_INIT;
        strbuf_printf(&rel, "xml/%s", f.junit_path);
        junit = fixture_path(strbuf_cstr(&rel));
        strbuf_destroy(&rel);
    }
    f.junit_path = junit;
    f.id = 7;
    f.cwd = "/tmp";
    f.root = "/tmp";
    json_t *r = runresult_result(&o, &f, NULL);
    expect_str(row, r, "status", row->status);
    expect_str(row, r, "summary", row->summary);
    expect_str(row, r, "error", row->error);
    expect_str(row, r, "source", row->source);
    expect_str(row, r, "source_reason", row->source_reason);
    if (row->exit_code == NO_EXIT) {
        if (json_object_get(r, "exit_code") || json_object_get(r, "exit_meaning"))
            mismatch("%s: exit_code should be absent", row->name);
    } else {
        expect_int(row, r, "exit_code", row->exit_code);
        expect_str(row, r, "exit_meaning", row->exit_meaning);
    }
    json_t *counts = json_object_get(r, "counts");
    expect_int(row, counts, "failed", row->failed);
    expect_int(row, counts, "passed", row->passed);
    expect_int(row, counts, "errors", row->errors);
    expect_int(row, r, "run_id", 7);
    assert_true(json_is_array(json_object_get(r, "failures")));
    assert_true(json_is_array(json_object_get(r, "slowest")));
    if (row->facts.term_signal)
        expect_int(row, r, "signal", row->facts.term_signal);
    else if (json_object_get(r, "signal"))
        mismatch("%s: signal should be absent", row->name);
    json_decref(r);
    free(junit);
    runresult_destroy(&o);
}

static void test_result_table(void **state)
{
    (void)state;
    mismatches = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        run_row(&rows[i]);
    assert_int_equal(mismatches, 0); /* each one is printed above */
}

static void test_exit_meanings(void **state)
{
    (void)state;
    static const char *const want[] = {"all tests passed", "tests failed", "interrupted",
                                       "internal error", "usage error", "no tests collected",
                                       "too many warnings", "unknown exit code"};
    for (int code = 0; code < 8; code++)
        assert_string_equal(runresult_exit_meaning(code), want[code]);
    assert_string_equal(runresult_exit_meaning(-1), "unknown exit code");
}

/* `pytestmon run`'s exit status: pytest's when it ran, 127 when it never did. */
static void test_cli_exit_code(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        int code;
    } cases[] = {
        {"{\"status\": \"failed\", \"exit_code\": 1, \"exit_meaning\": \"tests failed\"}", 1},
        {"{\"status\": \"passed\", \"exit_code\": 0, \"exit_meaning\": \"all tests passed\"}", 0},
        {"{\"status\": \"usage_error\", \"exit_code\": 4, \"exit_meaning\": \"usage error\"}", 4},
        {"{\"status\": \"error\", \"exit_code\": 1, \"exit_meaning\": \"pytest is not installed\"}", 127},
        {"{\"status\": \"error\", \"exit_code\": 1, \"exit_meaning\": \"pytest could not start\"}", 127},
        {"{\"status\": \"error\", \"exit_code\": 127, \"exit_meaning\": \"pytest could not start\"}", 127},
        {"{\"status\": \"error\", \"error\": \"no Python interpreter found: ...\"}", 127},
        {"{\"status\": \"error\", \"signal\": 9}", 1},
        {"{\"status\": \"timed_out\", \"signal\": 15}", 1},
        {"{\"status\": \"cancelled\"}", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *r = json_loads(cases[i].json, 0, NULL);
        assert_non_null(r);
        if (runresult_cli_exit_code(r) != cases[i].code)
            fail_msg("%s: %d, want %d", cases[i].json, runresult_cli_exit_code(r), cases[i].code);
        json_decref(r);
    }
}

/* The longest loader phrase, split at every byte between two reads of stderr, is still seen
 * (the reader keeps the end of the previous chunk); a read of more than the kept bytes before
 * it too. */
static void test_enomem_split_across_reads(void **state)
{
    (void)state;
    const char text[] = "python3.14: error while loading shared libraries: "
                        "cannot allocate TLS data structures for initial thread\n";
    for (size_t cut = 1; cut < sizeof text - 1; cut++) {
        RunResult o;
        runresult_init(&o, 0, NULL);
        runresult_feed(&o, "x", 1, true);
        runresult_feed(&o, text, cut, true);
        runresult_feed(&o, text + cut, sizeof text - 1 - cut, true);
        if (!runresult_saw_enomem(&o))
            fail_msg("not seen when cut at %zu", cut);
        runresult_destroy(&o);
    }
    RunResult o;
    runresult_init(&o, 0, NULL);
    runresult_feed(&o, "Fatal Python error: pycore_init_types: failed to initialize an exc", 66, true);
    runresult_feed(&o, "eption type\n", 12, true);
    assert_true(runresult_saw_enomem(&o));
    runresult_destroy(&o);
    runresult_init(&o, 0, NULL);
    runresult_feed(&o, "ImportError: libgomp.so.1: cannot allocate memory in static TLS block\n", 70, true);
    assert_false(runresult_saw_enomem(&o));
    runresult_destroy(&o);
}

/* One author: what the run knows and what the runner's owner observed are all in the result
 * runresult_result() returns; the run's own log error wins over the log directory's. */
static void test_result_is_whole(void **state)
{
    (void)state;
    char *args[] = {"-x", "tests", NULL};
    char *cmd[] = {"/usr/bin/python3", "-m", "pytest", "-x", "tests", NULL};
    for (int with_run_log_error = 0; with_run_log_error <= 1; with_run_log_error++) {
        RunResult o;
        runresult_init(&o, 0, NULL);
        if (with_run_log_error)
            o.log.error = xstrdup("run log: disk full");
        RunObserved obs = {.coprocess_rss = 123 << 20, .editor_rss = -1, .memlog_error = "memlog off",
                           .log_dir_error = "log_dir is writable by others"};
        char *junit = fixture_path("xml/none-written.xml");
        RunFacts f = {.id = 3, .cwd = "/tmp", .root = "/tmp", .python = "/usr/bin/python3",
                      .python_why = "PATH", .junit_path = junit, .args = args, .cmd = cmd,
                      .spawned = true, .exit_status = 0, .memory = json_pack("{s:i}", "peak_rss", 42),
                      .observed = &obs};
        json_t *r = runresult_result(&o, &f, NULL);
        assert_int_equal(json_array_size(json_object_get(r, "args")), 2);
        assert_string_equal(json_string_value(json_array_get(json_object_get(r, "cmd"), 2)), "pytest");
        assert_string_equal(json_string_value(json_object_get(r, "python_why")), "PATH");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "memory"), "peak_rss")), 42);
        assert_int_equal(json_integer_value(json_object_get(r, "coprocess_rss")), 123 << 20);
        assert_null(json_object_get(r, "editor_rss")); /* unknown: left out */
        assert_string_equal(json_string_value(json_object_get(r, "memlog_error")), "memlog off");
        assert_string_equal(json_string_value(json_object_get(r, "log_error")),
                            with_run_log_error ? "run log: disk full" : "log is off: log_dir is writable by others");
        assert_null(json_object_get(r, "coverage")); /* not a coverage run */
        json_decref(r);
        free(junit);
        runresult_destroy(&o);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result_table),
        cmocka_unit_test(test_exit_meanings),
        cmocka_unit_test(test_enomem_split_across_reads),
        cmocka_unit_test(test_cli_exit_code),
        cmocka_unit_test(test_result_is_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

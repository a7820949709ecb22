/* Unit tests for testoutput: one test's report from a run's report file (and junit_read_output,
 * the reader that keeps <system-out>/<system-err>), read at once and in libuv's thread pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "parse/junit.h"
#include "pytest/testoutput.h"
#include "testutil.h"

static char *write_temp(const char *content)
{
    char tmpl[TMP_PATH_MAX];
    tmp_template(tmpl, "pytestmon-testoutput");
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    size_t len = strlen(content);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    close(fd);
    return xstrdup(tmpl);
}

/* As the plugin writes it (nodeid attribute; output as S's plugin stream writes it): a failed
 * call followed by a failed teardown of the same test (two testcases), a passing test with
 * output holding a C1 control sequence (CSI, legal in XML 1.0), a test without output. */
static const char PLUGIN_XML[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?><testsuites><testsuite name=\"pytest\">"
    "<testcase classname=\"t\" name=\"test_a\" nodeid=\"t.py::test_a\" time=\"0.1\">"
    "<failure message=\"assert 1 == 2\">t.py:3: AssertionError</failure>"
    "<system-out>out of a\n</system-out><system-err>err of a</system-err></testcase>"
    "<testcase classname=\"t\" name=\"test_a\" nodeid=\"t.py::test_a\" time=\"0.1\">"
    "<error message=\"failed on teardown with &quot;boom&quot;\">t.py:9: RuntimeError</error></testcase>"
    "<testcase classname=\"t\" name=\"test_b[x]\" nodeid=\"t.py::test_b[x]\" time=\"0.0\">"
    "<system-out>colour \xc2\x9b" "31mred\xc2\x9b" "0m</system-out></testcase>"
    "<testcase classname=\"t\" name=\"test_c\" nodeid=\"t.py::test_c\" time=\"0.0\">"
    "<skipped type=\"pytest.skip\" message=\"not here\">t.py:12: not here</skipped></testcase>"
    "</testsuite></testsuites>";

static json_t *read_ok(const char *path, const char *nodeid)
{
    StrBuf err = STRBUF_INIT;
    json_t *r = testoutput_read(path, 7, nodeid, &err);
    if (!r)
        fail_msg("%s: %s", nodeid, strbuf_cstr(&err));
    strbuf_destroy(&err);
    return r;
}

static const char *str(json_t *r, const char *key)
{
    return json_string_value(json_object_get(r, key));
}

static void test_plugin_report(void **state)
{
    (void)state;
    char *path = write_temp(PLUGIN_XML);
    json_t *a = read_ok(path, "t.py::test_a");
    assert_int_equal(json_integer_value(json_object_get(a, "run_id")), 7);
    assert_string_equal(str(a, "nodeid"), "t.py::test_a");
    assert_string_equal(str(a, "status"), "failed");
    assert_string_equal(str(a, "message"), "assert 1 == 2");
    assert_string_equal(str(a, "text"), "t.py:3: AssertionError\n\nt.py:9: RuntimeError"); /* both */
    assert_string_equal(str(a, "stdout"), "out of a\n");
    assert_string_equal(str(a, "stderr"), "err of a");
    json_decref(a);
    json_t *b = read_ok(path, "t.py::test_b[x]");
    assert_string_equal(str(b, "status"), "passed");
    assert_string_equal(str(b, "stdout"), "colour red"); /* display text: no escape sequence */
    assert_null(json_object_get(b, "stderr"));
    assert_null(json_object_get(b, "message"));
    assert_null(json_object_get(b, "text"));
    json_decref(b);
    json_t *c = read_ok(path, "t.py::test_c");
    assert_string_equal(str(c, "status"), "skipped");
    assert_string_equal(str(c, "text"), "t.py:12: not here");
    assert_null(json_object_get(c, "stdout"));
    json_decref(c);
    StrBuf err = STRBUF_INIT;
    assert_null(testoutput_read(path, 7, "t.py::test_d", &err));
    assert_string_equal(strbuf_cstr(&err), "no test 't.py::test_d' in the run's report");
    unlink(path);
    free(path);
    strbuf_reset(&err);
    assert_null(testoutput_read("/nonexistent/report.xml", 7, "t.py::test_a", &err));
    assert_non_null(strstr(strbuf_cstr(&err), "cannot read the run's report"));
    strbuf_destroy(&err);
}

/* pytest's own junitxml (no plugin): no nodeid attribute, matched by the classname and name
 * pytest derives from the node id (path dots, no ".py", parameters kept as they are). */
/* A test with subtests (pytest 9, pytest-subtests): their testcases come first; the status and
 * message stay the test's own, their texts come each under a line naming the subtest. */
static void test_subtests(void **state)
{
    (void)state;
    char *path = write_temp(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><testsuites><testsuite name=\"pytest\">"
        "<testcase classname=\"t\" name=\"test_loop\" nodeid=\"t.py::T::test_loop\" subtest=\"(i=1)\" time=\"0\">"
        "<failure message=\"AssertionError: 1 != 0\">t.py:7: AssertionError</failure>"
        "<system-out>sub out\n</system-out></testcase>"
        "<testcase classname=\"t\" name=\"test_loop\" nodeid=\"t.py::T::test_loop\" time=\"0.1\">"
        "<system-out>test out\n</system-out></testcase>"
        "</testsuite></testsuites>");
    json_t *r = read_ok(path, "t.py::T::test_loop");
    assert_string_equal(str(r, "status"), "passed"); /* as pytest says of the test itself */
    assert_null(json_object_get(r, "message"));
    assert_string_equal(str(r, "text"), "subtest (i=1):\nt.py:7: AssertionError");
    assert_string_equal(str(r, "stdout"), "sub out\n\n\ntest out\n");
    json_decref(r);
    unlink(path);
    free(path);
}

static void test_pytest_junitxml(void **state)
{
    (void)state;
    char *path = write_temp(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><testsuites><testsuite name=\"pytest\">"
        "<testcase classname=\"sub.test_s.TestK\" name=\"test_p[a::b/c]\" time=\"0.1\">"
        "<failure message=\"m\">txt</failure><system-out>printed</system-out></testcase>"
        "<testcase classname=\"sub.test_s.TestK\" name=\"test_q\" time=\"0.1\"/>"
        "</testsuite></testsuites>");
    json_t *p = read_ok(path, "sub/test_s.py::TestK::test_p[a::b/c]");
    assert_string_equal(str(p, "status"), "failed");
    assert_string_equal(str(p, "stdout"), "printed");
    json_decref(p);
    json_t *q = read_ok(path, "sub/test_s.py::TestK::test_q");
    assert_string_equal(str(q, "status"), "passed");
    json_decref(q);
    StrBuf err = STRBUF_INIT;
    assert_null(testoutput_read(path, 1, "sub/test_s.py::test_q", &err)); /* not in the class */
    strbuf_destroy(&err);
    unlink(path);
    free(path);
}

/* A report still being written (or of a killed run) answers for the tests it holds. */
static void test_cut_short(void **state)
{
    (void)state;
    char *path = write_temp(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><testsuites><testsuite name=\"pytest\">"
        "<testcase classname=\"t\" name=\"test_a\" nodeid=\"t.py::test_a\" time=\"0.1\">"
        "<system-out>so far</system-out></testcase><testcase classname=\"t\" name=\"te");
    json_t *a = read_ok(path, "t.py::test_a");
    assert_string_equal(str(a, "stdout"), "so far");
    json_decref(a);
    StrBuf err = STRBUF_INIT;
    assert_null(testoutput_read(path, 1, "t.py::test_e", &err));
    assert_non_null(strstr(strbuf_cstr(&err), "no test 't.py::test_e' in the run's report so far"));
    strbuf_destroy(&err);
    unlink(path);
    free(path);
}

/* junit_read keeps no output; junit_read_output does. */
static int saw_output(const JunitCase *tc, void *ud)
{
    int *n = ud;
    if (tc->system_out)
        (*n)++;
    return 0;
}

static void test_output_only_when_asked(void **state)
{
    (void)state;
    char *path = write_temp(PLUGIN_XML);
    int plain = 0, with = 0;
    assert_int_equal(junit_read(path, saw_output, &plain, NULL, NULL), 0);
    assert_int_equal(junit_read_output(path, saw_output, &with, NULL), 0);
    assert_int_equal(plain, 0);
    assert_int_equal(with, 2);
    unlink(path);
    free(path);
}

typedef struct {
    int calls;
    char *status, *error;
} Answer;

static void on_done(void *ud, json_t *result, const char *error)
{
    Answer *a = ud;
    a->calls++;
    if (result)
        a->status = xstrdup(str(result, "status"));
    if (error)
        a->error = xstrdup(error);
}

static void test_thread_pool(void **state)
{
    (void)state;
    char *path = write_temp(PLUGIN_XML);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    Answer ok = {0}, missing = {0};
    assert_int_equal(testoutput_start(&loop, path, 3, "t.py::test_a", on_done, &ok), 0);
    assert_int_equal(testoutput_start(&loop, path, 3, "t.py::nope", on_done, &missing), 0);
    assert_int_equal(ok.calls + missing.calls, 0); /* never from inside start */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(ok.calls, 1);
    assert_string_equal(ok.status, "failed");
    assert_null(ok.error);
    assert_int_equal(missing.calls, 1);
    assert_string_equal(missing.error, "no test 't.py::nope' in the run's report");
    assert_int_equal(uv_loop_close(&loop), 0);
    free(ok.status);
    free(missing.error);
    unlink(path);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugin_report),
        cmocka_unit_test(test_subtests),
        cmocka_unit_test(test_pytest_junitxml),
        cmocka_unit_test(test_cut_short),
        cmocka_unit_test(test_output_only_when_asked),
        cmocka_unit_test(test_thread_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

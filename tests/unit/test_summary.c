/* Unit tests for summary.c on literal pytest 7.2.1 output (pytest_output_721.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pytest_output_721.h"
#include "parse/summary.h"
#include "testutil.h"

/* The sources of the captured projects, verbatim. */
static const char TEST_A_PY[] =
    "import pytest\n"
    "\n"
    "\n"
    "def test_pass():\n"
    "    pass\n"
    "\n"
    "\n"
    "def test_fail():\n"
    "    assert 1 == 2, \"nope\"\n"
    "\n"
    "\n"
    "@pytest.mark.skip(reason=\"not today\")\n"
    "def test_skip():\n"
    "    pass\n"
    "\n"
    "\n"
    "@pytest.mark.xfail(reason=\"known\")\n"
    "def test_xfail():\n"
    "    assert False\n"
    "\n"
    "\n"
    "@pytest.mark.xfail(reason=\"lucky\")\n"
    "def test_xpass():\n"
    "    pass\n"
    "\n"
    "\n"
    "@pytest.fixture\n"
    "def broken():\n"
    "    raise RuntimeError(\"setup boom\")\n"
    "\n"
    "\n"
    "def test_setup_error(broken):\n"
    "    pass\n"
    "\n"
    "\n"
    "@pytest.fixture\n"
    "def bad_teardown():\n"
    "    yield\n"
    "    raise ValueError(\"teardown boom\")\n"
    "\n"
    "\n"
    "def test_teardown_error(bad_teardown):\n"
    "    print(\"hello from teardown test\")\n"
    "\n"
    "\n"
    "@pytest.mark.parametrize(\"x\", [\"é\", \"a b\", \"ü/1\"])\n"
    "def test_param(x):\n"
    "    print(\"param\", x)\n"
    "    assert x != \"a b\"\n"
    "\n"
    "\n"
    "class TestK:\n"
    "    def test_method(self):\n"
    "        print(\"noisy output without newline\", end=\"\")\n"
    "\n"
    "    @pytest.mark.parametrize(\"n\", [1, 2])\n"
    "    def test_pm(self, n):\n"
    "        assert n == 1\n"
;
static const char TEST_S_PY[] =
    "import pytest\n"
    "\n"
    "\n"
    "class TestOuter:\n"
    "    class TestInner:\n"
    "        def test_deep(self):\n"
    "            assert 0\n"
    "\n"
    "    @pytest.mark.parametrize(\"v\", [\"a - b\", \"x] - y\"])\n"
    "    def test_dash(self, v):\n"
    "        assert v == \"\", \"long message \" + \"z\" * 120\n"
    "\n"
    "\n"
    "async def test_async():\n"
    "    pass\n"
    "\n"
    "\n"
    "@pytest.fixture\n"
    "def f():\n"
    "    raise KeyError(\"k\")\n"
    "\n"
    "\n"
    "def test_fx(f):\n"
    "    pass\n"
;

static Summary *feed(const char *text, size_t len, size_t step)
{
    Summary *s = summary_new();
    for (size_t i = 0; i < len;) {
        size_t k = step && step < len - i ? step : len - i;
        summary_feed(s, text + i, k);
        i += k;
    }
    summary_finish(s);
    return s;
}

typedef struct {
    const char *nodeid;
    SummaryKind kind;
    const char *message;
    const char *file;
} Expect;

static void check(Summary *s, const Expect *e, size_t n)
{
    const SummaryRecord *r;
    assert_int_equal(summary_records(s, &r), n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(r[i].nodeid, e[i].nodeid);
        assert_int_equal(r[i].kind, e[i].kind);
        assert_string_equal(r[i].message, e[i].message);
        assert_string_equal(r[i].file, e[i].file);
    }
}

static const Expect SERIAL[] = {
    {"tests/test_a.py::test_fail", SUMMARY_FAILED, "AssertionError: nope", "tests/test_a.py"},
    {"tests/test_a.py::test_param[a b]", SUMMARY_FAILED, "AssertionError: assert 'a b' != 'a b'",
     "tests/test_a.py"},
    {"tests/test_a.py::TestK::test_pm[2]", SUMMARY_FAILED, "assert 2 == 1", "tests/test_a.py"},
    {"tests/test_a.py::test_setup_error", SUMMARY_ERROR, "RuntimeError: setup boom", "tests/test_a.py"},
    {"tests/test_a.py::test_teardown_error", SUMMARY_ERROR, "ValueError: teardown boom",
     "tests/test_a.py"},
};

static void test_serial_and_xdist(void **state)
{
    (void)state;
    size_t steps[] = {0, 1, 5};
    for (size_t i = 0; i < 3; i++) {
        Summary *s = feed(OUT_SERIAL, sizeof OUT_SERIAL - 1, steps[i]);
        check(s, SERIAL, 5);
        summary_free(s);
        s = feed(OUT_CAPTURE_NO, sizeof OUT_CAPTURE_NO - 1, steps[i]);
        check(s, SERIAL, 5);
        summary_free(s);
        s = feed(OUT_XDIST, sizeof OUT_XDIST - 1, steps[i]);
        check(s, SERIAL, 5);
        summary_free(s);
    }
}

static void test_collection_error(void **state)
{
    (void)state;
    static const Expect e[] = {{"tests/test_c_broken.py", SUMMARY_ERROR, "", "tests/test_c_broken.py"}};
    Summary *s = feed(OUT_COLLECT_ERROR, sizeof OUT_COLLECT_ERROR - 1, 1);
    check(s, e, 1);
    summary_locate(s, "/nonexistent");
    const SummaryRecord *r;
    summary_records(s, &r);
    assert_int_equal(r[0].line, 1);
    summary_free(s);

    static const Expect x[] = {
        SERIAL[0], SERIAL[1], SERIAL[2],
        {"tests/test_c_broken.py", SUMMARY_ERROR, "", "tests/test_c_broken.py"},
        SERIAL[4], SERIAL[3],
    };
    s = feed(OUT_XDIST_COLLECT_ERROR, sizeof OUT_XDIST_COLLECT_ERROR - 1, 3);
    check(s, x, 6);
    summary_free(s);
}

/* A test message with terminal control sequences (window title, clipboard write, DCS, CR,
 * BS, C1 CSI): the record holds none of them, whatever the chunking. */
static void test_control_sequences_cleaned(void **state)
{
    (void)state;
    static const char out[] =
        "=========================== short test summary info ============================\r\n"
        "\x1b[31mFAILED\x1b[0m t.py::test_x - AssertionError: a\x1b]0;pwned\x07"
        "b\x1b]52;c;ZXZpbA==\x1b\\c\x1bP1$r\x1b\\d\re\bf\xc2\x9b" "31mg\x1b]0;unterminated\n"
        "ERROR t.py::test_y - E\x00rr\x7f\n"
        "============================== 1 failed in 0.01s ===============================\n";
    static const Expect e[] = {
        {"t.py::test_x", SUMMARY_FAILED, "AssertionError: abcdefg", "t.py"},
        {"t.py::test_y", SUMMARY_ERROR, "Err", "t.py"},
    };
    for (size_t step = 0; step < 4; step++) {
        Summary *s = feed(out, sizeof out - 1, step);
        check(s, e, 2);
        summary_free(s);
    }
}

static void test_tricky(void **state)
{
    (void)state;
    static const Expect e[] = {
        {"tests/test_s.py::TestOuter::TestInner::test_deep", SUMMARY_FAILED, "assert 0", "tests/test_s.py"},
        {"tests/test_s.py::TestOuter::test_dash[a - b]", SUMMARY_FAILED, "AssertionError: long me...",
         "tests/test_s.py"},
        /* ambiguous by nature: the id "x] - y" is cut at its first "] - " */
        {"tests/test_s.py::TestOuter::test_dash[x]", SUMMARY_FAILED, "y] - AssertionError: long m...",
         "tests/test_s.py"},
        {"tests/test_s.py::test_fx", SUMMARY_ERROR, "KeyError: 'k'", "tests/test_s.py"},
    };
    Summary *s = feed(OUT_TRICKY, sizeof OUT_TRICKY - 1, 1);
    check(s, e, 4);
    summary_free(s);
}

static void test_ignores_outside_section(void **state)
{
    (void)state;
    static const char t[] = "tests/t.py::test_x FAILED this is -s output\n"
                            "FAILED tests/t.py::test_x - printed by the test\n"
                            "=== short test summary info ===\n"
                            "\x1b[31mFAILED\x1b[0m tests/t.py::test_y - ValueError: v\r\n"
                            "SKIPPED [1] tests/t.py:3: why\n"
                            "=== 1 failed in 0.1s ===\n"
                            "FAILED tests/t.py::test_z - after the section\n"
                            "=== short test summary info ===\n"
                            "ERROR tests/t.py::test_last - no newline at the end";
    static const Expect e[] = {{"tests/t.py::test_y", SUMMARY_FAILED, "ValueError: v", "tests/t.py"},
                               {"tests/t.py::test_last", SUMMARY_ERROR, "no newline at the end", "tests/t.py"}};
    Summary *s = feed(t, sizeof t - 1, 1);
    check(s, e, 2);
    summary_free(s);
}

static void test_long_line_bounded(void **state)
{
    (void)state;
    Summary *s = summary_new();
    static const char h[] = "=== short test summary info ===\nFAILED t.py::test_long - ";
    summary_feed(s, h, sizeof h - 1);
    char chunk[4096];
    memset(chunk, 'm', sizeof chunk);
    for (int i = 0; i < 2560; i++) /* 10 MB message */
        summary_feed(s, chunk, sizeof chunk);
    summary_feed(s, "\nFAILED t.py::test_next - short\n", 32);
    const SummaryRecord *r;
    assert_int_equal(summary_records(s, &r), 2);
    assert_string_equal(r[0].nodeid, "t.py::test_long");
    assert_true(strlen(r[0].message) < SUMMARY_LINE_MAX);
    assert_string_equal(r[1].message, "short");
    summary_free(s);
}

static char *write_file(const char *dir, const char *rel, const char *text)
{
    char *path;
    assert_true(asprintf(&path, "%s/%s", dir, rel) > 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_locate(void **state)
{
    (void)state;
    char dir[TMP_PATH_MAX];
    tmp_template(dir, "pytestmon-summary");
    assert_non_null(mkdtemp(dir));
    char *tests;
    assert_true(asprintf(&tests, "%s/tests", dir) > 0);
    assert_int_equal(mkdir(tests, 0700), 0);
    char *a = write_file(dir, "tests/test_a.py", TEST_A_PY);
    char *b = write_file(dir, "tests/test_s.py", TEST_S_PY);

    Summary *s = feed(OUT_SERIAL, sizeof OUT_SERIAL - 1, 0);
    summary_locate(s, dir);
    const SummaryRecord *r;
    assert_int_equal(summary_records(s, &r), 5);
    assert_int_equal(r[0].line, 8);  /* def test_fail */
    assert_int_equal(r[1].line, 47); /* def test_param (decorated: the def line) */
    assert_int_equal(r[2].line, 57); /* TestK::test_pm */
    assert_int_equal(r[3].line, 32);
    assert_int_equal(r[4].line, 42);
    summary_free(s);

    assert_int_equal(summary_find_def_line(a, "TestK::test_method"), 53);
    assert_int_equal(summary_find_def_line(a, "TestK"), 52);
    assert_int_equal(summary_find_def_line(a, "TestK::nope"), 52); /* innermost found */
    assert_int_equal(summary_find_def_line(a, "test_pm"), 57); /* no top-level def: first nested one */
    assert_int_equal(summary_find_def_line(a, "nope"), 1);
    assert_int_equal(summary_find_def_line(b, "TestOuter::TestInner::test_deep"), 6);
    assert_int_equal(summary_find_def_line(b, "TestOuter::test_dash[x] - y]"), 10);
    assert_int_equal(summary_find_def_line(b, "test_async"), 14);
    assert_int_equal(summary_find_def_line(b, "TestOuter::TestInner::test_dash"), 5);
    assert_int_equal(summary_find_def_line("/nonexistent/x.py", "test_x"), 1);

    unlink(a);
    unlink(b);
    rmdir(tests);
    rmdir(dir);
    free(a);
    free(b);
    free(tests);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serial_and_xdist),
        cmocka_unit_test(test_collection_error),
        cmocka_unit_test(test_tricky),
        cmocka_unit_test(test_control_sequences_cleaned),
        cmocka_unit_test(test_ignores_outside_section),
        cmocka_unit_test(test_long_line_bounded),
        cmocka_unit_test(test_locate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

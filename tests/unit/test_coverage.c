/* Unit tests for coverage: coverage.py's JSON report, pytest-cov's arguments and its absence. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parse/coverage.h"

/* As coverage.py 6.5 writes it (executed/excluded lines and meta are ignored). */
static const char doc[] =
    "{\"meta\": {\"version\": \"6.5.0\", \"branch_coverage\": false},"
    " \"files\": {"
    "  \"pkg/b.py\": {\"executed_lines\": [1, 2], \"summary\": {\"covered_lines\": 2, \"num_statements\": 7,"
    "     \"percent_covered\": 28.571428571428573, \"missing_lines\": 5, \"excluded_lines\": 0},"
    "     \"missing_lines\": [3, 4, 5, 9, 12], \"excluded_lines\": []},"
    "  \"/abs/a.py\": {\"executed_lines\": [1], \"summary\": {\"covered_lines\": 1, \"num_statements\": 1,"
    "     \"percent_covered\": 100.0, \"missing_lines\": 0, \"excluded_lines\": 0},"
    "     \"missing_lines\": [], \"excluded_lines\": []}},"
    " \"totals\": {\"covered_lines\": 3, \"num_statements\": 8, \"percent_covered\": 37.5,"
    "   \"missing_lines\": 5, \"excluded_lines\": 0}}";

static void test_parse(void **state)
{
    (void)state;
    Coverage c;
    StrBuf err = STRBUF_INIT;
    assert_int_equal(coverage_parse(doc, strlen(doc), "/root/proj", &c, &err), 0);
    assert_int_equal(c.nfiles, 2);
    assert_true(c.percent == 37.5);
    assert_int_equal(c.statements, 8);
    assert_int_equal(c.missing, 5);
    /* sorted by path; a relative name is joined to the root, an absolute one kept */
    assert_string_equal(c.files[0].path, "/abs/a.py");
    assert_string_equal(c.files[1].path, "/root/proj/pkg/b.py");
    const CoverageFile *b = coverage_find(&c, "/root/proj/pkg/b.py");
    assert_non_null(b);
    assert_int_equal(b->nlines, 5);
    assert_int_equal(b->lines[0], 3);
    assert_int_equal(b->lines[4], 12);
    assert_int_equal(b->statements, 7);
    assert_int_equal(b->missing, 5);
    assert_null(coverage_find(&c, "/root/proj/pkg/zzz.py"));
    assert_int_equal(coverage_find(&c, "/abs/a.py")->nlines, 0);
    StrBuf r = STRBUF_INIT;
    coverage_ranges(b, 100, &r);
    assert_string_equal(strbuf_cstr(&r), "3-5, 9, 12");
    strbuf_reset(&r);
    coverage_ranges(b, 4, &r); /* cut: the rest is counted */
    assert_string_equal(strbuf_cstr(&r), "3-5, 9, ... (1 more)");
    json_t *sum = coverage_summary_json(&c, 100);
    char *text = json_dumps(sum, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"files\":[[\"/abs/a.py\",100.0,1,0,\"\"],"
                              "[\"/root/proj/pkg/b.py\",28.571428571428573,7,5,\"3-5, 9, 12\"]],"
                              "\"missing\":5,\"nfiles\":2,\"percent\":37.5,\"statements\":8}");
    free(text);
    json_decref(sum);
    json_t *lines = coverage_lines_json(b);
    assert_int_equal(json_array_size(lines), 5);
    json_decref(lines);
    lines = coverage_lines_json(NULL);
    assert_int_equal(json_array_size(lines), 0);
    json_decref(lines);
    strbuf_destroy(&r);
    strbuf_destroy(&err);
    coverage_destroy(&c);
}

static void expect_bad(const char *text, const char *msg)
{
    Coverage c;
    StrBuf err = STRBUF_INIT;
    assert_int_equal(coverage_parse(text, strlen(text), "/r", &c, &err), -EINVAL);
    if (!strstr(strbuf_cstr(&err), msg))
        fail_msg("'%s' lacks '%s'", strbuf_cstr(&err), msg);
    assert_int_equal(c.nfiles, 0);
    coverage_destroy(&c);
    strbuf_destroy(&err);
}

static void test_bad_input(void **state)
{
    (void)state;
    expect_bad("", "not JSON");
    expect_bad("{\"files\": {\"a.py\": ", "not JSON");
    expect_bad("[1, 2]", "lacks files or totals");
    expect_bad("{\"files\": {}}", "lacks files or totals");
    expect_bad("{\"files\": {\"a.py\": {\"missing_lines\": []}}, \"totals\": {\"percent_covered\": 1, "
               "\"num_statements\": 1, \"missing_lines\": 0}}",
               "file 'a.py' lacks summary or missing_lines");
    expect_bad("{\"files\": {\"a.py\": {\"summary\": {\"percent_covered\": 1, \"num_statements\": 1, "
               "\"missing_lines\": 1}, \"missing_lines\": [0]}}, \"totals\": {\"percent_covered\": 1, "
               "\"num_statements\": 1, \"missing_lines\": 1}}",
               "missing_lines[0] is not a line number");
    expect_bad("{\"pytestmon_error\": \"NoDataError: No data to report.\"}",
               "coverage.py could not write its report: NoDataError: No data to report.");
}

static void test_read_real_sample(void **state)
{
    (void)state;
    const char *src = getenv("PYTESTMON_SRCDIR");
    StrBuf path = STRBUF_INIT;
    strbuf_printf(&path, "%s/tests/fixtures/coverage/proj_cov.json", src ? src : ".");
    Coverage c;
    StrBuf err = STRBUF_INIT;
    assert_int_equal(coverage_read(strbuf_cstr(&path), "/p", &c, &err), 0);
    assert_int_equal(c.nfiles, 4);
    const CoverageFile *f = coverage_find(&c, "/p/calc/shapes.py");
    assert_non_null(f);
    StrBuf r = STRBUF_INIT;
    coverage_ranges(f, 100, &r);
    assert_string_equal(strbuf_cstr(&r), "7-11, 16, 18, 23-25");
    assert_int_equal(f->missing, 10);
    strbuf_destroy(&r);
    coverage_destroy(&c);
    strbuf_reset(&err);
    assert_int_equal(coverage_read("/nonexistent/coverage.json", "/p", &c, &err), -ENOENT);
    coverage_destroy(&c);
    strbuf_destroy(&err);
    strbuf_destroy(&path);
}

static void test_pytest_args(void **state)
{
    (void)state;
    char *none[] = {NULL};
    char **a = coverage_pytest_args(none, "/root");
    assert_string_equal(a[0], "--cov=/root");
    assert_string_equal(a[1], "--cov-report=");
    assert_null(a[2]);
    for (char **p = a; *p; p++)
        free(*p);
    free(a);
    char *mine[] = {"-x", "--cov=pkg", "--cov-report=html", NULL};
    a = coverage_pytest_args(mine, "/root");
    assert_string_equal(a[0], "--cov-report=");
    assert_null(a[1]);
    free(a[0]);
    free(a);
    char *bare[] = {"--cov", NULL};
    a = coverage_pytest_args(bare, "/root");
    assert_string_equal(a[0], "--cov-report=");
    free(a[0]);
    free(a);
    char *report_only[] = {"--cov-report=term", "--cov-branch", NULL};
    a = coverage_pytest_args(report_only, "/root");
    assert_string_equal(a[0], "--cov=/root");
    free(a[0]);
    free(a[1]);
    free(a);
}

static void test_plugin_missing(void **state)
{
    (void)state;
    assert_true(coverage_plugin_missing("pytest usage error: unrecognized arguments: --cov=/r --cov-report="));
    assert_false(coverage_plugin_missing("pytest usage error: unrecognized arguments: --foo"));
    assert_false(coverage_plugin_missing("--cov: invalid choice"));
    assert_false(coverage_plugin_missing(NULL));
    char *m = coverage_missing_message("/venv/bin/python");
    assert_string_equal(m, "pytest-cov is not installed for /venv/bin/python: apt install python3-pytest-cov "
                           "(or /venv/bin/python -m pip install pytest-cov)");
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_read_real_sample),
        cmocka_unit_test(test_pytest_args),
        cmocka_unit_test(test_plugin_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

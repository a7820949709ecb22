/* Unit tests for report.c: a whole run aggregated from real pytest 7.2.1 JUnit samples.
 * The samples store the checkout path as @ROOT@; it is replaced by $PYTESTMON_SRCDIR here. The
 * oracle test compares failing node ids with pytest's own `-rA` summary of the same run. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/path.h"
#include "parse/report.h"
#include "base/textclean.h"
#include "testutil.h"

static char *abs_srcdir(void)
{
    const char *s = getenv("PYTESTMON_SRCDIR");
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    return path_normalize(cwd, s != NULL ? s : ".");
}

static char *fixture_file(const char *rel)
{
    char *src = abs_srcdir();
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/tests/fixtures/%s", src, rel);
    free(src);
    return strbuf_detach(&sb);
}

/* Contents of tests/fixtures/xml/<name> with @ROOT@ replaced by the source dir. */
static char *load_sample(const char *name, size_t *len)
{
    char *path = fixture_file("xml/");
    StrBuf p = STRBUF_INIT;
    strbuf_printf(&p, "%s%s", path, name);
    free(path);
    FILE *f = fopen(p.data, "rb");
    assert_non_null(f);
    strbuf_destroy(&p);
    StrBuf raw = STRBUF_INIT, out = STRBUF_INIT;
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        strbuf_append(&raw, buf, n);
    fclose(f);
    char *root = abs_srcdir();
    const char *s = strbuf_cstr(&raw);
    for (const char *hit; (hit = strstr(s, "@ROOT@")) != NULL; s = hit + 6) {
        strbuf_append(&out, s, (size_t)(hit - s));
        strbuf_puts(&out, root);
    }
    strbuf_puts(&out, s);
    free(root);
    strbuf_destroy(&raw);
    *len = out.len;
    return strbuf_detach(&out);
}

typedef struct {
    Report r;
    char *root;
    char *start;
} Run;

static int run_sample(Run *run, const char *sample, const char *proj, const char *start_rel,
                      size_t keep)
{
    size_t len;
    char *xml = load_sample(sample, &len);
    run->root = fixture_file(proj);
    run->start = path_normalize(run->root, start_rel);
    StrBuf err = STRBUF_INIT;
    int rc = report_from_junit_memory(xml, len, run->root, run->start, NULL, keep, &run->r, &err);
    if (rc != 0)
        print_error("report error: %s\n", strbuf_cstr(&err));
    strbuf_destroy(&err);
    free(xml);
    return rc;
}

static void run_free(Run *run)
{
    report_destroy(&run->r);
    free(run->root);
    free(run->start);
}

static const Failure *find_failure(const Report *r, const char *nodeid, const char *when)
{
    for (size_t i = 0; i < r->nfailures; i++)
        if (strcmp(r->failures[i].nodeid, nodeid) == 0 &&
            (when == NULL || (r->failures[i].when != NULL && strcmp(r->failures[i].when, when) == 0)))
            return &r->failures[i];
    return NULL;
}

static void expect_at(const Run *run, const char *file, int line, const char *got_file,
                      int got_line)
{
    if (file == NULL) {
        assert_null(got_file);
        assert_int_equal(got_line, 0);
        return;
    }
    char *want = path_normalize(run->root, file);
    assert_non_null(got_file);
    assert_string_equal(got_file, want);
    assert_int_equal(got_line, line);
    free(want);
}

/* ---- proj_fail ---------------------------------------------------------------------------------- */

static void expect_proj_fail_failures(const Run *run);

static void test_proj_fail_counts_and_failures(void **state)
{
    (void)state;
    Run run;
    assert_int_equal(run_sample(&run, "proj_fail.xml", "proj_fail", ".", 5), 0);
    const Report *r = &run.r;
    /* pytest: 18 failed, 4 passed, 1 skipped, 1 xfailed, 1 xpassed, 4 errors (see report.h for
     * why strict xpass is `xpassed` here and the lenient xpass is `passed`) */
    assert_int_equal(r->passed, 4);
    assert_int_equal(r->failed, 17);
    assert_int_equal(r->errors, 4);
    assert_int_equal(r->skipped, 1);
    assert_int_equal(r->xfailed, 1);
    assert_int_equal(r->xpassed, 1);
    assert_int_equal(r->nfailures, 22);
    assert_true(r->seconds > 0);
    assert_false(r->pytest_counts);
    expect_proj_fail_failures(&run);
    run_free(&run);
}

/* The pytestmon plugin's report of the same run with --tb=no (no traceback text at all):
 * the same failures at the same places, from pytest's own frames, and pytest's own counts. */
static void test_plugin_report_is_exact_without_tracebacks(void **state)
{
    (void)state;
    Run run;
    assert_int_equal(run_sample(&run, "proj_fail_plugin_tbno.xml", "proj_fail", ".", 5), 0);
    const Report *r = &run.r;
    assert_true(r->pytest_counts);
    /* exactly pytest's summary line in proj_fail_plugin_tbno.rA.txt */
    assert_int_equal(r->failed, 18);
    assert_int_equal(r->passed, 4);
    assert_int_equal(r->errors, 4);
    assert_int_equal(r->skipped, 1);
    assert_int_equal(r->xfailed, 1);
    assert_int_equal(r->xpassed, 1);
    assert_int_equal(r->deselected, 0);
    assert_int_equal(r->nfailures, 22);
    expect_proj_fail_failures(&run);
    run_free(&run);
}

/* The 22 failures of proj_fail, wherever the report came from. */
static void expect_proj_fail_failures(const Run *run)
{
    const Report *r = &run->r;
    const Failure *f = find_failure(r, "test_basic.py::test_assert_eq", NULL);
    assert_non_null(f);
    assert_int_equal(f->kind, FAILURE_FAILED);
    assert_string_equal(f->when, "call");
    assert_string_equal(f->message, "assert 3 == 4");
    expect_at(run, "test_basic.py", 12, f->file, f->line);
    assert_null(f->crash_file);

    f = find_failure(r, "test_basic.py::test_helper_crash", NULL);
    expect_at(run, "test_basic.py", 17, f->file, f->line);
    expect_at(run, "helpers/calc.py", 3, f->crash_file, f->crash_line);
    assert_string_equal(f->message, "ZeroDivisionError: cannot divide 0 by zero");

    f = find_failure(r, "test_basic.py::test_setup_error", NULL);
    assert_int_equal(f->kind, FAILURE_ERROR);
    assert_string_equal(f->when, "setup");
    assert_string_equal(f->message, "RuntimeError: setup exploded");
    expect_at(run, "test_basic.py", 20, f->file, f->line);
    expect_at(run, "conftest.py", 11, f->crash_file, f->crash_line);

    /* call failure + teardown error of one test: two entries */
    const Failure *call = find_failure(r, "test_basic.py::test_call_and_teardown", "call");
    const Failure *td = find_failure(r, "test_basic.py::test_call_and_teardown", "teardown");
    assert_non_null(call);
    assert_non_null(td);
    assert_int_equal(call->kind, FAILURE_FAILED);
    assert_int_equal(td->kind, FAILURE_ERROR);
    expect_at(run, "test_basic.py", 29, call->file, call->line);
    expect_at(run, "conftest.py", 17, td->crash_file, td->crash_line);

    f = find_failure(r, "test_basic.py::test_xpass_strict", NULL);
    assert_int_equal(f->kind, FAILURE_XPASS_STRICT);
    assert_string_equal(f->message, "[XPASS(strict)] fixed now");
    expect_at(run, "test_basic.py", 47, f->file, f->line);

    f = find_failure(r, "test_basic.py::test_missing_fixture", NULL);
    assert_string_equal(f->message, "fixture 'no_such_fixture' not found");
    expect_at(run, "test_basic.py", 73, f->file, f->line);

    f = find_failure(r, "test_basic.py::test_param[a::b]", NULL);
    expect_at(run, "test_basic.py", 34, f->file, f->line);
    f = find_failure(r, "test_basic.py::test_chained", NULL);
    expect_at(run, "test_basic.py", 65, f->file, f->line);
    f = find_failure(r, "test_basic.py::test_escape_char", NULL);
    assert_string_equal(f->message, "AssertionError: assert '\\x1b[31mred' == 'plain'");
    f = find_failure(r, "tests/test_math.py::test_decorated", NULL);
    expect_at(run, "tests/test_math.py", 21, f->file, f->line);
    f = find_failure(r, "tests/test_math.py::TestCalc::TestNested::test_div", NULL);
    expect_at(run, "tests/test_math.py", 33, f->file, f->line);
    f = find_failure(r, "tests/test_inherit.py::TestChild::test_inherited", NULL);
    expect_at(run, "tests/base.py", 5, f->file, f->line);
    f = find_failure(r, "tests/sub/test_spaced name \xc3\xa9.py::test_unicode", NULL);
    expect_at(run, "tests/sub/test_spaced name \xc3\xa9.py", 3, f->file, f->line);
    f = find_failure(r, "test_doc.txt::test_doc.txt", NULL);
    assert_string_equal(f->message, "Expected: expected, Got: actual");
    expect_at(run, "test_doc.txt", 5, f->file, f->line);
}

/* The same run with --tb=short/native/line: the same failures; locations where there are any. */
static void test_tb_variants(void **state)
{
    (void)state;
    static const char *const samples[] = {"proj_fail_short.xml", "proj_fail_native.xml",
                                          "proj_fail_line.xml"};
    for (size_t k = 0; k < 3; k++) {
        Run run;
        assert_int_equal(run_sample(&run, samples[k], "proj_fail", ".", 0), 0);
        assert_int_equal(run.r.nfailures, 22);
        assert_int_equal(run.r.nslowest, 0);
        const Failure *f = find_failure(&run.r, "test_basic.py::test_helper_crash", NULL);
        assert_string_equal(f->message, "ZeroDivisionError: cannot divide 0 by zero");
        if (k < 2) {
            expect_at(&run, "test_basic.py", 17, f->file, f->line);
            expect_at(&run, "helpers/calc.py", 3, f->crash_file, f->crash_line);
        } else { /* --tb=line: no location in the XML -> the def line */
            expect_at(&run, "test_basic.py", 15, f->file, f->line);
            assert_null(f->crash_file);
        }
        f = find_failure(&run.r, "tests/test_math.py::test_decorated", NULL);
        expect_at(&run, "tests/test_math.py", k < 2 ? 21 : 17, f->file, f->line);
        f = find_failure(&run.r, "test_basic.py::test_setup_error", NULL);
        expect_at(&run, "test_basic.py", 20, f->file, f->line);
        expect_at(&run, k < 2 ? "conftest.py" : NULL, 11, f->crash_file, f->crash_line);
        run_free(&run);
    }
}

/* pytest started in proj_fail/tests (rootdir still proj_fail). */
static void test_started_in_subdir(void **state)
{
    (void)state;
    Run run;
    assert_int_equal(run_sample(&run, "proj_fail_subdir.xml", "proj_fail", "tests", 0), 0);
    assert_int_equal(run.r.failed, 7);
    const Failure *f = find_failure(&run.r, "tests/test_math.py::test_add", NULL);
    assert_non_null(f);
    expect_at(&run, "tests/test_math.py", 14, f->file, f->line);
    f = find_failure(&run.r, "tests/test_inherit.py::TestChild::test_inherited", NULL);
    expect_at(&run, "tests/base.py", 5, f->file, f->line);
    f = find_failure(&run.r, "tests/sub/test_spaced name \xc3\xa9.py::test_unicode", NULL);
    expect_at(&run, "tests/sub/test_spaced name \xc3\xa9.py", 3, f->file, f->line);
    run_free(&run);
}

static void test_collection_errors(void **state)
{
    (void)state;
    Run run;
    assert_int_equal(run_sample(&run, "proj_collect.xml", "proj_collect", ".", 3), 0);
    assert_int_equal(run.r.errors, 2);
    assert_int_equal(run.r.passed, 0);
    assert_int_equal(run.r.nfailures, 2);
    const Failure *f = find_failure(&run.r, "test_import_error.py", NULL);
    assert_non_null(f);
    assert_int_equal(f->kind, FAILURE_COLLECTION);
    assert_null(f->when);
    assert_string_equal(f->message, "ModuleNotFoundError: No module named 'no_such_module_pytestmon'");
    expect_at(&run, "test_import_error.py", 1, f->file, f->line);
    assert_null(f->crash_file);
    f = find_failure(&run.r, "test_syntax.py", NULL);
    assert_string_equal(f->message, "SyntaxError: invalid syntax");
    expect_at(&run, "test_syntax.py", 1, f->file, f->line);
    run_free(&run);
}

static void test_xdist(void **state)
{
    (void)state;
    Run run;
    assert_int_equal(run_sample(&run, "proj_xdist.xml", "proj_xdist", ".", 100), 0);
    assert_int_equal(run.r.passed, 6);
    assert_int_equal(run.r.failed, 2);
    assert_int_equal(run.r.nslowest, 8);
    const Failure *f = find_failure(&run.r, "test_b.py::test_b2", NULL);
    expect_at(&run, "test_b.py", 6, f->file, f->line);
    f = find_failure(&run.r, "test_a.py::test_a2", NULL);
    expect_at(&run, "test_a.py", 9, f->file, f->line);
    run_free(&run);
}

/* ---- oracle: failing node ids == pytest's own -rA summary of the same run ---------------------- */

typedef struct {
    char *v[64];
    size_t n;
} Ids;

static void ids_add(Ids *ids, const char *kind, const char *id, size_t n)
{
    assert_true(ids->n < 64);
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s %.*s", kind, (int)n, id);
    ids->v[ids->n++] = strbuf_detach(&sb);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void ids_free(Ids *ids)
{
    for (size_t i = 0; i < ids->n; i++)
        free(ids->v[i]);
    ids->n = 0;
}

static void oracle(const char *name, const char *proj)
{
    StrBuf xml = STRBUF_INIT, txt = STRBUF_INIT;
    strbuf_printf(&xml, "%s.xml", name);
    strbuf_printf(&txt, "%s.rA.txt", name);
    size_t len;
    char *summary = load_sample(txt.data, &len);
    Ids want = {{0}, 0}, got = {{0}, 0};
    for (char *line = strtok(summary, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        const char *kind = strncmp(line, "FAILED ", 7) == 0  ? "F"
                           : strncmp(line, "ERROR ", 6) == 0 ? "E"
                                                             : NULL;
        if (kind == NULL)
            continue;
        const char *id = line + (kind[0] == 'F' ? 7 : 6);
        const char *dash = strstr(id, " - ");
        ids_add(&want, kind, id, dash != NULL ? (size_t)(dash - id) : strlen(id));
    }
    free(summary);

    Run run;
    assert_int_equal(run_sample(&run, xml.data, proj, ".", 0), 0);
    for (size_t i = 0; i < run.r.nfailures; i++) {
        const Failure *f = &run.r.failures[i];
        bool failed = f->kind == FAILURE_FAILED || f->kind == FAILURE_XPASS_STRICT;
        ids_add(&got, failed ? "F" : "E", f->nodeid, strlen(f->nodeid));
    }
    qsort(want.v, want.n, sizeof *want.v, cmp_str);
    qsort(got.v, got.n, sizeof *got.v, cmp_str);
    assert_true(want.n > 0);
    for (size_t i = 0; i < want.n && i < got.n; i++)
        assert_string_equal(got.v[i], want.v[i]);
    assert_int_equal(got.n, want.n);
    ids_free(&want);
    ids_free(&got);
    run_free(&run);
    strbuf_destroy(&xml);
    strbuf_destroy(&txt);
}

static void test_oracle_against_pytest_summary(void **state)
{
    (void)state;
    oracle("proj_fail", "proj_fail");
    oracle("proj_fail_native", "proj_fail");
    oracle("proj_collect", "proj_collect");
    oracle("proj_xdist", "proj_xdist");
}

/* ---- slowest, json, errors -------------------------------------------------------------------- */

static const char slow_xml[] =
    "<testsuites><testsuite time=\"9.5\">"
    "<testcase classname=\"t\" name=\"a\" file=\"t.py\" line=\"0\" time=\"1.000\"/>"
    "<testcase classname=\"t\" name=\"b\" file=\"t.py\" line=\"4\" time=\"5.000\"/>"
    "<testcase classname=\"t\" name=\"c\" file=\"t.py\" line=\"8\" time=\"0.500\"/>"
    "<testcase classname=\"t\" name=\"d\" file=\"t.py\" line=\"12\" time=\"2.000\">"
    "<failure message=\"assert 0\">t.py:14: AssertionError</failure></testcase>"
    "<testcase classname=\"t\" name=\"d\" file=\"t.py\" line=\"12\" time=\"3.000\">"
    "<error message=\"failed on teardown with &quot;E: x&quot;\">E   E: x</error></testcase>"
    "<testcase classname=\"t.K\" name=\"e\" file=\"t.py\" time=\"0.100\"/>"
    "<testcase time=\"0.000\"/>"
    "</testsuite></testsuites>";

static void test_slowest(void **state)
{
    (void)state;
    Report r;
    assert_int_equal(report_from_junit_memory(slow_xml, strlen(slow_xml), "/nonexistent/root",
                                              NULL, NULL, 3, &r, NULL),
                     0);
    assert_int_equal(r.passed, 4);
    assert_int_equal(r.failed, 1);
    assert_int_equal(r.errors, 1); /* nameless testcase ignored */
    assert_int_equal(r.nslowest, 3);
    assert_string_equal(r.slowest[0].nodeid, "t.py::b");
    assert_true(r.slowest[0].seconds == 5.0);
    assert_int_equal(r.slowest[0].line, 5); /* 1-based */
    assert_string_equal(r.slowest[0].file, "/nonexistent/root/t.py");
    assert_string_equal(r.slowest[1].nodeid, "t.py::d"); /* once, with the larger time */
    assert_true(r.slowest[1].seconds == 3.0);
    assert_string_equal(r.slowest[2].nodeid, "t.py::a");
    assert_true(r.seconds == 9.5);
    /* the failure has no existing file: location falls back to the XML line */
    assert_int_equal(r.nfailures, 2);
    assert_string_equal(r.failures[0].file, "/nonexistent/root/t.py");
    assert_int_equal(r.failures[0].line, 13);
    assert_string_equal(r.failures[1].when, "teardown");
    report_destroy(&r);

    assert_int_equal(report_from_junit_memory(slow_xml, strlen(slow_xml), "/r", NULL, NULL, 0, &r,
                                              NULL),
                     0);
    assert_int_equal(r.nslowest, 0);
    assert_null(r.slowest);
    report_destroy(&r);
    /* keep more than there are */
    assert_int_equal(report_from_junit_memory(slow_xml, strlen(slow_xml), "/r", NULL, NULL, 50, &r,
                                              NULL),
                     0);
    assert_int_equal(r.nslowest, 5);
    assert_string_equal(r.slowest[4].nodeid, "t.py::K::e");
    assert_int_equal(r.slowest[4].line, 0);
    report_destroy(&r);
}

static void test_json(void **state)
{
    (void)state;
    Report r;
    assert_int_equal(report_from_junit_memory(slow_xml, strlen(slow_xml), "/r", NULL, NULL, 2, &r,
                                              NULL),
                     0);
    json_t *j = report_to_json(&r);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "passed")), 4);
    assert_int_equal(json_integer_value(json_object_get(j, "errors")), 1);
    assert_true(json_real_value(json_object_get(j, "seconds")) == 9.5);
    json_t *fs = json_object_get(j, "failures");
    assert_int_equal(json_array_size(fs), 2);
    json_t *f0 = json_array_get(fs, 0);
    assert_string_equal(json_string_value(json_object_get(f0, "nodeid")), "t.py::d");
    assert_string_equal(json_string_value(json_object_get(f0, "kind")), "failed");
    assert_string_equal(json_string_value(json_object_get(f0, "when")), "call");
    assert_string_equal(json_string_value(json_object_get(f0, "message")), "assert 0");
    assert_string_equal(json_string_value(json_object_get(f0, "file")), "/r/t.py");
    assert_int_equal(json_integer_value(json_object_get(f0, "line")), 13);
    assert_null(json_object_get(f0, "crash_file")); /* absent, not null */
    assert_null(json_object_get(f0, "crash_line"));
    json_t *sl = json_object_get(j, "slowest");
    assert_int_equal(json_array_size(sl), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(sl, 0), "nodeid")),
                        "t.py::b");
    json_decref(j);
    report_destroy(&r);

    assert_string_equal(report_failure_kind_name(FAILURE_COLLECTION), "collection error");
    assert_string_equal(report_failure_kind_name(FAILURE_XPASS_STRICT), "xpass strict");
    assert_string_equal(report_failure_kind_name(FAILURE_ERROR), "error");
}

/* What goes to the editor is safe to show and bounded: a 10 MB assertion message is cut to
 * TEXTCLEAN_MESSAGE_MAX bytes with a marker (the run log keeps it whole), and control
 * sequences XML can carry (the C1 forms: U+009B CSI, U+009D OSC) are gone. */
static void test_json_message_capped_and_cleaned(void **state)
{
    (void)state;
    const size_t big = 10u << 20;
    StrBuf xml = STRBUF_INIT;
    strbuf_puts(&xml, "<testsuites><testsuite time=\"1\">"
                      "<testcase classname=\"t\" name=\"big\" file=\"t.py\" line=\"1\" time=\"0.1\">"
                      "<failure message=\"AssertionError: ");
    char *xs = malloc(big);
    memset(xs, 'x', big);
    strbuf_append(&xml, xs, big);
    free(xs);
    strbuf_puts(&xml, "\">t.py:2: AssertionError</failure></testcase>"
                      "<testcase classname=\"t\" name=\"c1\" file=\"t.py\" line=\"5\" time=\"0.1\">"
                      "<failure message=\"a&#x9d;52;c;ZXZpbA==&#x9c;b&#x9b;2Jc&#x7f;d\">t.py:6: E</failure>"
                      "</testcase></testsuite></testsuites>");
    Report r;
    assert_int_equal(report_from_junit_memory(xml.data, xml.len, "/r", NULL, NULL, 0, &r, NULL), 0);
    strbuf_destroy(&xml);
    assert_int_equal(r.nfailures, 2);
    assert_true(strlen(r.failures[0].message) > big); /* the report itself keeps it all */
    json_t *j = report_to_json(&r);
    json_t *fs = json_object_get(j, "failures");
    const char *m = json_string_value(json_object_get(json_array_get(fs, 0), "message"));
    assert_true(strlen(m) <= TEXTCLEAN_MESSAGE_MAX + 64);
    assert_int_equal(strncmp(m, "AssertionError: xxx", 19), 0);
    assert_non_null(strstr(m, " [... cut: "));
    assert_string_equal(json_string_value(json_object_get(json_array_get(fs, 1), "message")), "abcd");
    json_decref(j);
    report_destroy(&r);
}

static void test_errors_keep_partial_results(void **state)
{
    (void)state;
    size_t len;
    char *xml = load_sample("proj_fail.xml", &len);
    char *root = fixture_file("proj_fail");
    Report r;
    StrBuf err = STRBUF_INIT;
    int rc = report_from_junit_memory(xml, len / 2, root, NULL, NULL, 3, &r, &err);
    assert_int_equal(rc, -EBADMSG);
    assert_true(r.nfailures > 2);
    assert_non_null(strstr(strbuf_cstr(&err), "truncated XML"));
    report_destroy(&r);
    report_destroy(&r); /* idempotent */

    /* the file variant: substituted sample written to a temp file, then a missing file */
    char tmpl[TMP_PATH_MAX];
    tmp_template(tmpl, "pytestmon-report");
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, xml, len), (ssize_t)len);
    close(fd);
    assert_int_equal(report_from_junit(tmpl, root, root, root, 1, &r, NULL), 0);
    assert_int_equal(r.nfailures, 22);
    assert_int_equal(r.nslowest, 1);
    report_destroy(&r);
    unlink(tmpl);
    strbuf_reset(&err);
    assert_int_equal(report_from_junit(tmpl, root, root, root, 1, &r, &err), -ENOENT);
    assert_int_equal(r.nfailures, 0);
    report_destroy(&r);

    const char *doctype = "<!DOCTYPE x><testsuites/>";
    assert_int_equal(report_from_junit_memory(doctype, strlen(doctype), root, NULL, NULL, 1, &r,
                                              NULL),
                     -EPERM);
    report_destroy(&r);
    free(xml);
    free(root);
    strbuf_destroy(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proj_fail_counts_and_failures),
        cmocka_unit_test(test_plugin_report_is_exact_without_tracebacks),
        cmocka_unit_test(test_tb_variants),
        cmocka_unit_test(test_started_in_subdir),
        cmocka_unit_test(test_collection_errors),
        cmocka_unit_test(test_xdist),
        cmocka_unit_test(test_oracle_against_pytest_summary),
        cmocka_unit_test(test_slowest),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_json_message_capped_and_cleaned),
        cmocka_unit_test(test_errors_keep_partial_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

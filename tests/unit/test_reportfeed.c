/* Unit tests for reportfeed.c: the plugin's report read while it grows, on a real file that the
 * test appends to as pytest would (any split), then completes, cuts short or never writes. */
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

#include "base/strbuf.h"
#include "parse/report.h"
#include "pytest/reportfeed.h"
#include "testutil.h"

/* The plugin's report of a small serial run: a pass, a failure whose teardown errored too (two
 * testcases), a skip, and a test still running when the document ends. */
static const char *const parts[] = {
    "<?xml version=\"1.0\" encoding=\"utf-8\"?><testsuites><testsuite name=\"pytest\">"
    "<pytestmon-session rootdir=\"/nonexistent/proj\"/>",
    "<pytestmon-collected count=\"4\"/>",
    "<pytestmon-start nodeid=\"t.py::test_ok\"/>",
    "<testcase classname=\"t\" name=\"test_ok\" nodeid=\"t.py::test_ok\" file=\"t.py\" line=\"0\" time=\"0.250\">"
    "<properties><property name=\"pytestmon.rss\" value=\"[1000,5000]\"/></properties></testcase>",
    "<pytestmon-start nodeid=\"t.py::test_bad\"/>",
    "<testcase classname=\"t\" name=\"test_bad\" nodeid=\"t.py::test_bad\" file=\"t.py\" line=\"3\" time=\"0.100\">"
    "<failure message=\"assert 1 == 2\">t.py:5: AssertionError</failure></testcase>"
    "<testcase classname=\"t\" name=\"test_bad\" nodeid=\"t.py::test_bad\" file=\"t.py\" line=\"3\" time=\"0.200\">"
    "<properties><property name=\"pytestmon.rss\" value=\"[2000,209717200]\"/></properties>"
    "<error message=\"failed on teardown with &quot;ValueError: x&quot;\">t.py:9: ValueError</error></testcase>",
    "<pytestmon-start nodeid=\"t.py::test_skip\"/>"
    "<testcase classname=\"t\" name=\"test_skip\" nodeid=\"t.py::test_skip\" file=\"t.py\" line=\"10\" time=\"0.000\">"
    "<skipped type=\"pytest.skip\" message=\"no\">t.py:11: no</skipped></testcase>",
    "<pytestmon-start nodeid=\"t.py::test_last\"/>",
    "<testcase classname=\"t\" name=\"test_last\" nodeid=\"t.py::test_last\" file=\"t.py\" line=\"12\" time=\"0.001\"/>"
    "<properties><property name=\"pytestmon.counts\" value=\"{&quot;passed&quot;: 2, &quot;failed&quot;: 1, "
    "&quot;error&quot;: 1, &quot;skipped&quot;: 1}\"/></properties></testsuite></testsuites>",
};
#define NPARTS (sizeof parts / sizeof parts[0])

typedef struct {
    char path[TMP_PATH_MAX];
    FILE *f;
} Growing;

static void grow_open(Growing *g)
{
    tmp_template(g->path, "pytestmon-feed");
    int fd = mkstemp(g->path);
    assert_true(fd >= 0);
    g->f = fdopen(fd, "w");
    assert_non_null(g->f);
}

static void grow_write(Growing *g, const char *s, size_t len)
{
    assert_int_equal(fwrite(s, 1, len, g->f), len);
    assert_int_equal(fflush(g->f), 0);
}

static void grow_close(Growing *g)
{
    fclose(g->f);
    unlink(g->path);
}

/* `status` of `nodeid` in a `tests` list, or NULL. */
static json_t *entry(json_t *tests, const char *nodeid)
{
    size_t i;
    json_t *t;
    json_array_foreach(tests, i, t)
        if (strcmp(json_string_value(json_object_get(t, "nodeid")), nodeid) == 0)
            return t;
    return NULL;
}

static const char *status_of(json_t *tests, const char *nodeid)
{
    json_t *t = entry(tests, nodeid);
    return t ? json_string_value(json_object_get(t, "status")) : NULL;
}

static void test_follows_a_growing_report(void **state)
{
    (void)state;
    Growing g;
    grow_open(&g);
    ReportFeed *f = reportfeed_new(g.path, "/nonexistent/proj", 5);
    assert_false(reportfeed_poll(f)); /* nothing written yet */
    assert_false(reportfeed_active(f));
    assert_null(reportfeed_take_tests(f));

    grow_write(&g, parts[0], strlen(parts[0]));
    grow_write(&g, parts[1], strlen(parts[1]));
    assert_true(reportfeed_poll(f));
    assert_true(reportfeed_active(f));
    assert_string_equal(reportfeed_rootdir(f), "/nonexistent/proj");
    json_t *p = reportfeed_progress_json(f);
    assert_int_equal(json_integer_value(json_object_get(p, "total")), 4);
    assert_int_equal(json_integer_value(json_object_get(p, "done")), 0);
    assert_null(json_object_get(p, "current"));
    json_decref(p);

    /* A start, then its testcase cut in the middle: running, then passed once complete. */
    grow_write(&g, parts[2], strlen(parts[2]));
    size_t half = strlen(parts[3]) / 2;
    grow_write(&g, parts[3], half);
    assert_true(reportfeed_poll(f));
    assert_string_equal(reportfeed_current(f), "t.py::test_ok");
    json_t *tests = reportfeed_take_tests(f);
    assert_string_equal(status_of(tests, "t.py::test_ok"), "running");
    assert_int_equal(json_integer_value(json_object_get(entry(tests, "t.py::test_ok"), "rss_growth_bytes")), -1);
    json_decref(tests);
    assert_null(reportfeed_take_tests(f)); /* only what changed since */
    grow_write(&g, parts[3] + half, strlen(parts[3]) - half);
    assert_true(reportfeed_poll(f));
    tests = reportfeed_take_tests(f);
    assert_int_equal(json_array_size(tests), 1);
    json_t *ok = entry(tests, "t.py::test_ok");
    assert_string_equal(json_string_value(json_object_get(ok, "status")), "passed");
    assert_true(json_real_value(json_object_get(ok, "duration_s")) == 0.25);
    assert_int_equal(json_integer_value(json_object_get(ok, "rss_growth_bytes")), 4000);
    json_decref(tests);
    assert_null(reportfeed_current(f));

    /* The rest one byte at a time: the failed test stays failed after its teardown error, and
     * takes the memory of its last testcase. */
    for (size_t i = 4; i < NPARTS - 1; i++)
        for (const char *c = parts[i]; *c; c++) {
            grow_write(&g, c, 1);
            reportfeed_poll(f);
        }
    tests = reportfeed_take_tests(f);
    assert_string_equal(status_of(tests, "t.py::test_bad"), "failed");
    assert_string_equal(status_of(tests, "t.py::test_skip"), "skipped");
    assert_string_equal(status_of(tests, "t.py::test_last"), "running");
    assert_int_equal(json_integer_value(json_object_get(entry(tests, "t.py::test_bad"), "rss_growth_bytes")),
                     209715200);
    json_decref(tests);
    p = reportfeed_progress_json(f);
    assert_int_equal(json_integer_value(json_object_get(p, "done")), 3);
    assert_int_equal(json_integer_value(json_object_get(p, "failed")), 1);
    assert_int_equal(json_integer_value(json_object_get(p, "percent")), 75);
    assert_string_equal(json_string_value(json_object_get(p, "current")), "t.py::test_last");
    json_decref(p);

    json_t *top = reportfeed_top_growth(f, 5);
    assert_int_equal(json_array_size(top), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(top, 0), "nodeid")), "t.py::test_bad");
    json_decref(top);
    /* The run's highest exact peak, and its test (#27 item 1). */
    json_t *peak = reportfeed_peak(f);
    assert_int_equal(json_integer_value(json_object_get(peak, "rss")), 209717200);
    assert_string_equal(json_string_value(json_object_get(peak, "nodeid")), "t.py::test_bad");
    json_decref(peak);

    grow_write(&g, parts[NPARTS - 1], strlen(parts[NPARTS - 1]));
    assert_int_equal(reportfeed_finish(f), 0);
    tests = reportfeed_take_tests(f);
    assert_string_equal(status_of(tests, "t.py::test_last"), "passed");
    json_decref(tests);

    /* The result aggregated on the way equals the file read at once. */
    Report live, whole;
    assert_int_equal(reportfeed_take_report(f, &live), 0);
    assert_int_equal(report_from_junit(g.path, "/nonexistent/proj", "/nonexistent/proj", "/nonexistent/proj",
                                       5, &whole, NULL), 0);
    json_t *a = report_to_json(&live), *b = report_to_json(&whole);
    char *sa = json_dumps(a, JSON_SORT_KEYS), *sb = json_dumps(b, JSON_SORT_KEYS);
    assert_string_equal(sa, sb);
    assert_non_null(strstr(sa, "t.py::test_bad"));
    free(sa), free(sb);
    json_decref(a), json_decref(b);
    report_destroy(&live);
    report_destroy(&whole);
    assert_int_equal(reportfeed_take_report(f, &live), -ENOENT); /* taken already */

    long passed, failed, errors, skipped, xfailed, xpassed;
    reportfeed_counts(f, &passed, &failed, &errors, &skipped, &xfailed, &xpassed);
    assert_int_equal(passed, 2);
    assert_int_equal(failed, 1);
    assert_int_equal(skipped, 1);
    reportfeed_free(f);
    grow_close(&g);
}

static void count_failed(void *ud, const char *nodeid, bool is_error)
{
    assert_string_equal(nodeid, "t.py::test_bad");
    assert_false(is_error);
    (*(int *)ud)++;
}

/* pytest died mid-write: what was told stays, there is no report to take (the caller reads the
 * file and falls back as before), and the failure is still listed. */
static void test_cut_short(void **state)
{
    (void)state;
    Growing g;
    grow_open(&g);
    ReportFeed *f = reportfeed_new(g.path, "/r", 5);
    for (size_t i = 0; i < 6; i++)
        grow_write(&g, parts[i], strlen(parts[i]));
    grow_write(&g, parts[6], 40);
    assert_true(reportfeed_poll(f));
    assert_int_equal(reportfeed_finish(f), JUNIT_EMALFORMED);
    Report r;
    assert_int_equal(reportfeed_take_report(f, &r), JUNIT_EMALFORMED);
    int nfailed = 0;
    reportfeed_foreach_failed(f, count_failed, &nfailed);
    assert_int_equal(nfailed, 1);
    reportfeed_free(f);
    grow_close(&g);
}

/* The plugin's memory-mapped file: a window of zeros ahead of the text, written into in place
 * (pwrite here, memcpy there: the same page cache). Each poll reads up to the first NUL and the
 * next goes on from there; the file cut to its length at close reads as a complete report. A
 * pytest that dies leaves the zeros: the text before them counts, and the report is cut short. */
static void test_zero_filled_report(void **state)
{
    (void)state;
    for (int complete = 0; complete <= 1; complete++) {
        Growing g;
        grow_open(&g);
        int fd = fileno(g.f);
        assert_int_equal(ftruncate(fd, 1 << 16), 0);
        ReportFeed *f = reportfeed_new(g.path, "/nonexistent/proj", 5);
        off_t at = 0;
        for (size_t i = 0; i < 4; i++) {
            size_t len = strlen(parts[i]), half = len / 2;
            assert_int_equal(pwrite(fd, parts[i], half, at), (ssize_t)half);
            reportfeed_poll(f); /* the text so far, then zeros */
            assert_int_equal(pwrite(fd, parts[i] + half, len - half, at + (off_t)half), (ssize_t)(len - half));
            at += (off_t)len;
            reportfeed_poll(f);
        }
        json_t *tests = reportfeed_take_tests(f);
        assert_string_equal(status_of(tests, "t.py::test_ok"), "passed");
        assert_int_equal(json_integer_value(json_object_get(entry(tests, "t.py::test_ok"), "rss_growth_bytes")), 4000);
        json_decref(tests);
        for (size_t i = 4; i < NPARTS; i++) {
            size_t len = strlen(parts[i]);
            assert_int_equal(pwrite(fd, parts[i], len, at), (ssize_t)len);
            at += (off_t)len;
            if (i == NPARTS - 2 && !complete)
                break; /* died before the last testcase */
        }
        if (complete)
            assert_int_equal(ftruncate(fd, at), 0);
        assert_int_equal(reportfeed_finish(f), complete ? 0 : JUNIT_EMALFORMED);
        long passed, failed, errors, skipped, xfailed, xpassed;
        reportfeed_counts(f, &passed, &failed, &errors, &skipped, &xfailed, &xpassed);
        assert_int_equal(passed, complete ? 2 : 1);
        assert_int_equal(failed, 1);
        assert_int_equal(skipped, 1);
        /* The whole-file reader ends the text at the first NUL as well. */
        Report whole;
        StrBuf why = STRBUF_INIT;
        int rc = report_from_junit(g.path, "/nonexistent/proj", "/nonexistent/proj", "/nonexistent/proj", 5,
                                   &whole, &why);
        assert_int_equal(rc, complete ? 0 : JUNIT_EMALFORMED);
        if (!complete)
            assert_non_null(strstr(strbuf_cstr(&why), "truncated"));
        assert_int_equal(whole.failed, 1);
        strbuf_destroy(&why);
        report_destroy(&whole);
        reportfeed_free(f);
        grow_close(&g);
    }
}

static void test_failed_listed_once(void **state)
{
    (void)state;
    Growing g;
    grow_open(&g);
    ReportFeed *f = reportfeed_new(g.path, "/r", 0);
    for (size_t i = 0; i < 6; i++)
        grow_write(&g, parts[i], strlen(parts[i]));
    reportfeed_poll(f);
    int n = 0;
    reportfeed_foreach_failed(f, count_failed, &n);
    assert_int_equal(n, 1); /* call failure + teardown error: one test */
    reportfeed_free(f);
    grow_close(&g);
}

/* Subtests (pytest 9, pytest-subtests): the plugin writes each one pytest counts as a testcase
 * of its own, with the test's node id and `subtest`, while the test runs. Each is an entry of its
 * own (its test stays running until its testcase), counted failed but not done, and a failure of
 * its own with its description; the suite's counts are pytest's ("subtests passed" too). */
static void test_subtests_are_entries_of_their_own(void **state)
{
    (void)state;
    static const char *const sub[] = {
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><testsuites><testsuite name=\"pytest\">"
        "<pytestmon-session rootdir=\"/nonexistent/proj\"/><pytestmon-collected count=\"2\"/>"
        "<pytestmon-start nodeid=\"t.py::test_odd\"/>"
        "<testcase classname=\"t\" name=\"test_odd\" nodeid=\"t.py::test_odd\" subtest=\"[odd] (i=1)\" "
        "file=\"t.py\" line=\"3\" time=\"0.001\"><properties><property name=\"pytestmon.frames\" "
        "value=\"[[&quot;/nonexistent/proj/t.py&quot;, 7]]\"/></properties>"
        "<failure message=\"assert (1 % 2) == 0\">t.py:7: AssertionError</failure></testcase>"
        "<testcase classname=\"t\" name=\"test_odd\" nodeid=\"t.py::test_odd\" subtest=\"(i=3)\" "
        "file=\"t.py\" line=\"3\" time=\"0.001\">"
        "<failure message=\"assert (3 % 2) == 0\">t.py:7: AssertionError</failure></testcase>",
        "<testcase classname=\"t\" name=\"test_odd\" nodeid=\"t.py::test_odd\" file=\"t.py\" line=\"3\" time=\"0.010\">"
        "<properties><property name=\"pytestmon.rss\" value=\"[1000,2000]\"/></properties>"
        "<failure message=\"contains 2 failed subtests\">contains 2 failed subtests</failure></testcase>"
        "<pytestmon-start nodeid=\"t.py::test_ok\"/>"
        "<testcase classname=\"t\" name=\"test_ok\" nodeid=\"t.py::test_ok\" file=\"t.py\" line=\"9\" time=\"0.001\"/>"
        "<properties><property name=\"pytestmon.counts\" value=\"{&quot;passed&quot;: 1, &quot;failed&quot;: 3, "
        "&quot;subtests passed&quot;: 4}\"/></properties></testsuite></testsuites>",
    };
    Growing g;
    grow_open(&g);
    ReportFeed *f = reportfeed_new(g.path, "/nonexistent/proj", 5);
    grow_write(&g, sub[0], strlen(sub[0]));
    assert_true(reportfeed_poll(f));
    json_t *tests = reportfeed_take_tests(f);
    assert_int_equal(json_array_size(tests), 3);
    json_t *t = json_array_get(tests, 0);
    assert_string_equal(json_string_value(json_object_get(t, "nodeid")), "t.py::test_odd");
    assert_null(json_object_get(t, "subtest"));
    assert_string_equal(json_string_value(json_object_get(t, "status")), "running");
    t = json_array_get(tests, 1);
    assert_string_equal(json_string_value(json_object_get(t, "nodeid")), "t.py::test_odd");
    assert_string_equal(json_string_value(json_object_get(t, "subtest")), "[odd] (i=1)");
    assert_string_equal(json_string_value(json_object_get(t, "status")), "failed");
    assert_string_equal(json_string_value(json_object_get(json_array_get(tests, 2), "subtest")), "(i=3)");
    json_decref(tests);
    assert_string_equal(reportfeed_current(f), "t.py::test_odd"); /* still running */
    json_t *p = reportfeed_progress_json(f);
    assert_int_equal(json_integer_value(json_object_get(p, "done")), 0);
    assert_int_equal(json_integer_value(json_object_get(p, "failed")), 2);
    json_decref(p);
    json_t *fails = reportfeed_take_failures(f);
    assert_int_equal(json_array_size(fails), 2);
    json_t *f0 = json_array_get(fails, 0);
    assert_string_equal(json_string_value(json_object_get(f0, "nodeid")), "t.py::test_odd");
    assert_string_equal(json_string_value(json_object_get(f0, "subtest")), "[odd] (i=1)");
    assert_string_equal(json_string_value(json_object_get(f0, "message")), "assert (1 % 2) == 0");
    assert_string_equal(json_string_value(json_object_get(f0, "file")), "/nonexistent/proj/t.py");
    assert_int_equal(json_integer_value(json_object_get(f0, "line")), 7);
    json_decref(fails);

    grow_write(&g, sub[1], strlen(sub[1]));
    reportfeed_poll(f);
    tests = reportfeed_take_tests(f);
    assert_string_equal(status_of(tests, "t.py::test_odd"), "failed"); /* the test's own entry */
    assert_null(json_object_get(entry(tests, "t.py::test_odd"), "subtest"));
    assert_int_equal(json_integer_value(json_object_get(entry(tests, "t.py::test_odd"), "rss_growth_bytes")), 1000);
    json_decref(tests);
    p = reportfeed_progress_json(f);
    assert_int_equal(json_integer_value(json_object_get(p, "done")), 2);
    assert_int_equal(json_integer_value(json_object_get(p, "failed")), 3); /* pytest's "3 failed" */
    json_decref(p);
    long passed, failed, errors, skipped, xfailed, xpassed;
    reportfeed_counts(f, &passed, &failed, &errors, &skipped, &xfailed, &xpassed);
    assert_int_equal(passed, 1);
    assert_int_equal(failed, 3);
    assert_int_equal(reportfeed_finish(f), 0);
    Report r;
    assert_int_equal(reportfeed_take_report(f, &r), 0);
    assert_int_equal(r.failed, 3);
    assert_int_equal(r.passed, 1);
    assert_int_equal(r.subtests_passed, 4);
    assert_int_equal(r.nfailures, 3);
    assert_string_equal(r.failures[1].subtest, "(i=3)");
    assert_null(r.failures[2].subtest);
    assert_string_equal(r.failures[2].message, "contains 2 failed subtests");
    assert_int_equal(r.nslowest, 2); /* the tests */
    json_t *j = report_to_json(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "subtests_passed")), 4);
    json_decref(j);
    report_destroy(&r);
    reportfeed_free(f);
    grow_close(&g);
}

/* pytest's own junitxml (the plugin could not load): no session, so not active; no file at all. */
static void test_not_the_plugins_or_no_file(void **state)
{
    (void)state;
    ReportFeed *f = reportfeed_new("/nonexistent/dir/junit.xml", "/r", 5);
    assert_false(reportfeed_poll(f));
    assert_int_equal(reportfeed_finish(f), -ENOENT);
    assert_false(reportfeed_active(f));
    reportfeed_free(f);

    Growing g;
    grow_open(&g);
    const char *plain = "<testsuites><testsuite><testcase classname=\"t\" name=\"a\" time=\"1\"/></testsuite></testsuites>";
    grow_write(&g, plain, strlen(plain));
    f = reportfeed_new(g.path, "/r", 5);
    reportfeed_poll(f);
    assert_false(reportfeed_active(f));
    assert_null(reportfeed_take_tests(f)); /* no node ids: nothing to tell */
    assert_null(reportfeed_peak(f));       /* nor any peak measured */
    assert_int_equal(reportfeed_finish(f), 0);
    Report r;
    assert_int_equal(reportfeed_take_report(f, &r), -ENOENT); /* read the file as before */
    reportfeed_free(f);
    grow_close(&g);
}

/* #27 item 1: the peak of a process before its first test (pytestmon.rss's third value: start-up
 * and collection) is the run's peak when it is the highest; a later test's own peak above it wins. */
static void test_peak_before_the_first_test(void **state)
{
    (void)state;
    static const char head[] =
        "<?xml version=\"1.0\"?><testsuites><testsuite name=\"pytest\"><pytestmon-session rootdir=\"/r\"/>"
        "<testcase classname=\"t\" name=\"a\" nodeid=\"t.py::a\" time=\"0\">"
        "<properties><property name=\"pytestmon.rss\" value=\"[30000000,31000000,280000000]\"/></properties></testcase>"
        "<testcase classname=\"t\" name=\"b\" nodeid=\"t.py::b\" time=\"0\">"
        "<properties><property name=\"pytestmon.rss\" value=\"[31000000,200000000]\"/></properties></testcase>";
    static const char more[] =
        "<testcase classname=\"t\" name=\"c\" nodeid=\"t.py::c\" time=\"0\">"
        "<properties><property name=\"pytestmon.rss\" value=\"[31000000,290000000]\"/></properties></testcase>";
    Growing g;
    grow_open(&g);
    ReportFeed *f = reportfeed_new(g.path, "/r", 0);
    grow_write(&g, head, strlen(head));
    reportfeed_poll(f);
    json_t *peak = reportfeed_peak(f);
    assert_int_equal(json_integer_value(json_object_get(peak, "rss")), 280000000);
    assert_string_equal(json_string_value(json_object_get(peak, "nodeid")), "t.py::a");
    assert_string_equal(json_string_value(json_object_get(peak, "when")), "before");
    json_decref(peak);
    json_t *top = reportfeed_top_growth(f, 5); /* the growth is the test's own */
    assert_string_equal(json_string_value(json_object_get(json_array_get(top, 0), "nodeid")), "t.py::b");
    json_decref(top);
    grow_write(&g, more, strlen(more));
    reportfeed_poll(f);
    peak = reportfeed_peak(f);
    assert_int_equal(json_integer_value(json_object_get(peak, "rss")), 290000000);
    assert_string_equal(json_string_value(json_object_get(peak, "nodeid")), "t.py::c");
    assert_string_equal(json_string_value(json_object_get(peak, "when")), "test");
    json_decref(peak);
    reportfeed_free(f);
    grow_close(&g);
}

/* #27 item 3: a test whose exact growth is above the run's memory budget is over it: its `tests`
 * entry says so and the list of them has its place (the file made absolute from pytest's rootdir,
 * the definition line 1-based). Without a budget there is no list. */
static void test_memory_budget(void **state)
{
    (void)state;
    static const char doc[] =
        "<?xml version=\"1.0\"?><testsuites><testsuite name=\"pytest\"><pytestmon-session rootdir=\"/proj\"/>"
        "<testcase classname=\"t\" name=\"big\" nodeid=\"t.py::big\" file=\"t.py\" line=\"9\" time=\"0\">"
        "<properties><property name=\"pytestmon.rss\" value=\"[1000,314573800]\"/></properties></testcase>"
        "<testcase classname=\"t\" name=\"small\" nodeid=\"t.py::small\" file=\"t.py\" line=\"3\" time=\"0\">"
        "<properties><property name=\"pytestmon.rss\" value=\"[1000,2000]\"/>"
        "<property name=\"pytestmon.gc\" value=\"[3,1,0,900,2,1500000,5]\"/></properties></testcase>";
    Growing g;
    grow_open(&g);
    grow_write(&g, doc, strlen(doc));
    ReportFeed *f = reportfeed_new(g.path, "/r", 0);
    reportfeed_set_budget(f, 100 * 1024 * 1024);
    reportfeed_poll(f);
    json_t *tests = reportfeed_take_tests(f);
    assert_true(json_is_true(json_object_get(entry(tests, "t.py::big"), "over_budget")));
    assert_null(json_object_get(entry(tests, "t.py::small"), "over_budget"));
    /* the exact peak and the garbage collector's record travel with the entry (#27 items 4, 5) */
    assert_int_equal(json_integer_value(json_object_get(entry(tests, "t.py::big"), "rss_peak_bytes")), 314573800);
    assert_null(json_object_get(entry(tests, "t.py::big"), "gc"));
    json_t *gc = json_object_get(entry(tests, "t.py::small"), "gc");
    assert_int_equal(json_array_size(gc), 7);
    assert_int_equal(json_integer_value(json_array_get(gc, 3)), 900);
    assert_int_equal(json_integer_value(json_array_get(gc, 6)), 5);
    json_decref(tests);
    json_t *over = reportfeed_over_budget(f);
    assert_int_equal(json_array_size(over), 1);
    json_t *o = json_array_get(over, 0);
    assert_string_equal(json_string_value(json_object_get(o, "nodeid")), "t.py::big");
    assert_int_equal(json_integer_value(json_object_get(o, "growth")), 314572800);
    assert_string_equal(json_string_value(json_object_get(o, "file")), "/proj/t.py");
    assert_int_equal(json_integer_value(json_object_get(o, "line")), 10);
    json_decref(over);
    /* #27 item 5: the tops by exact peak and by time in the garbage collector */
    json_t *top = reportfeed_top(f, 5, REPORTFEED_TOP_PEAK);
    assert_int_equal(json_array_size(top), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(top, 0), "nodeid")), "t.py::big");
    assert_true(json_is_true(json_object_get(json_array_get(top, 0), "over_budget")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(top, 0), "status")), "passed");
    json_decref(top);
    top = reportfeed_top(f, 5, REPORTFEED_TOP_GC); /* only the test during which the collector ran */
    assert_int_equal(json_array_size(top), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(top, 0), "nodeid")), "t.py::small");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(json_array_get(top, 0), "gc"), 5)), 1500000);
    json_decref(top);
    top = reportfeed_top(f, 1, REPORTFEED_TOP_GROWTH);
    assert_int_equal(json_array_size(top), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(top, 0), "peak")), 314573800);
    json_decref(top);
    reportfeed_free(f);
    f = reportfeed_new(g.path, "/r", 0); /* no budget */
    reportfeed_poll(f);
    assert_null(reportfeed_over_budget(f));
    reportfeed_free(f);
    grow_close(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_follows_a_growing_report),
        cmocka_unit_test(test_cut_short),
        cmocka_unit_test(test_zero_filled_report),
        cmocka_unit_test(test_failed_listed_once),
        cmocka_unit_test(test_subtests_are_entries_of_their_own),
        cmocka_unit_test(test_not_the_plugins_or_no_file),
        cmocka_unit_test(test_peak_before_the_first_test),
        cmocka_unit_test(test_memory_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

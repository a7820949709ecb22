/* Unit tests for progress.c, on literal output of real pytest 7.2.1 runs (pytest_output_721.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parse/progress.h"
#include "pytest_output_721.h"

#define FEEDS(p, lit) progress_feed((p), (lit), strlen(lit))

/* Feed text in chunks of `step` bytes (0 = one chunk; SIZE_MAX = pseudo-random sizes). */
static Progress *feed_part(const char *text, size_t len, size_t step);

/* Whole stream: fed, then finished. */
static Progress *feed(const char *text, size_t len, size_t step)
{
    Progress *p = feed_part(text, len, step);
    progress_finish(p);
    return p;
}

/* A stream still going: no progress_finish(). */
static Progress *feed_part(const char *text, size_t len, size_t step)
{
    Progress *p = progress_new();
    unsigned seed = 12345;
    size_t i = 0;
    while (i < len) {
        size_t k = step == 0 ? len : step;
        if (step == SIZE_MAX) {
            seed = seed * 1103515245u + 12345u;
            k = 1 + (seed >> 16) % 97;
        }
        if (k > len - i)
            k = len - i;
        progress_feed(p, text + i, k);
        i += k;
    }
    return p;
}

typedef struct {
    const char *nodeid;
    ProgressStatus st;
    bool teardown;
    int worker;
} Expect;

static void check_results(Progress *p, const Expect *e, size_t n)
{
    ProgressResult *r;
    size_t dropped = 99;
    size_t got = progress_take_finished(p, &r, &dropped);
    assert_int_equal(got, n);
    assert_int_equal(dropped, 0);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(r[i].nodeid, e[i].nodeid);
        assert_int_equal(r[i].status, e[i].st);
        assert_int_equal(r[i].teardown, e[i].teardown);
        assert_int_equal(r[i].worker, e[i].worker);
    }
    progress_results_free(r, got);
    assert_int_equal(progress_take_finished(p, &r, NULL), 0);
    assert_null(r);
}

/* Same observable state whatever the chunking. */
static void check_same_any_split(const char *text, size_t len)
{
    Progress *a = feed(text, len, 0);
    size_t steps[] = {1, 2, 3, 7, SIZE_MAX};
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        Progress *b = feed(text, len, steps[s]);
        assert_memory_equal(progress_counts(a), progress_counts(b), sizeof(ProgressCounts));
        const ProgressFinal *fa = progress_final(a), *fb = progress_final(b);
        assert_int_equal(fa->seen, fb->seen);
        if (fa->seen)
            assert_string_equal(fa->text, fb->text);
        assert_string_equal(progress_rootdir(a) ? progress_rootdir(a) : "-",
                            progress_rootdir(b) ? progress_rootdir(b) : "-");
        ProgressResult *ra, *rb;
        size_t na = progress_take_finished(a, &ra, NULL), nb = progress_take_finished(b, &rb, NULL);
        assert_int_equal(na, nb);
        for (size_t i = 0; i < na; i++) {
            assert_string_equal(ra[i].nodeid, rb[i].nodeid);
            assert_int_equal(ra[i].status, rb[i].status);
            assert_int_equal(ra[i].teardown, rb[i].teardown);
        }
        progress_results_free(rb, nb);
        progress_free(b);
        /* give `a` its list back for the next round */
        progress_free(a);
        a = feed(text, len, 0);
        progress_results_free(ra, na);
    }
    progress_free(a);
}

static const Expect SERIAL_RESULTS[] = {
    {"tests/test_a.py::test_pass", PROGRESS_PASSED, false, -1},
    {"tests/test_a.py::test_fail", PROGRESS_FAILED, false, -1},
    {"tests/test_a.py::test_skip", PROGRESS_SKIPPED, false, -1},
    {"tests/test_a.py::test_xfail", PROGRESS_XFAIL, false, -1},
    {"tests/test_a.py::test_xpass", PROGRESS_XPASS, false, -1},
    {"tests/test_a.py::test_setup_error", PROGRESS_ERROR, false, -1},
    {"tests/test_a.py::test_teardown_error", PROGRESS_PASSED, false, -1},
    {"tests/test_a.py::test_teardown_error", PROGRESS_ERROR, true, -1},
    {"tests/test_a.py::test_param[\\xe9]", PROGRESS_PASSED, false, -1},
    {"tests/test_a.py::test_param[a b]", PROGRESS_FAILED, false, -1},
    {"tests/test_a.py::test_param[\\xfc/1]", PROGRESS_PASSED, false, -1},
    {"tests/test_a.py::TestK::test_method", PROGRESS_PASSED, false, -1},
    {"tests/test_a.py::TestK::test_pm[1]", PROGRESS_PASSED, false, -1},
    {"tests/test_a.py::TestK::test_pm[2]", PROGRESS_FAILED, false, -1},
    {"tests/test_b.py::test_b1", PROGRESS_PASSED, false, -1},
    {"tests/test_b.py::test_b2", PROGRESS_PASSED, false, -1},
};
#define NSERIAL (sizeof SERIAL_RESULTS / sizeof SERIAL_RESULTS[0])

static void check_full_counts(const ProgressCounts *c)
{
    assert_int_equal(c->collected, 15);
    assert_int_equal(c->done, 15);
    assert_int_equal(c->failed_so_far, 5);
    assert_int_equal(c->passed, 8);
    assert_int_equal(c->failed, 3);
    assert_int_equal(c->errors, 2);
    assert_int_equal(c->skipped, 1);
    assert_int_equal(c->xfailed, 1);
    assert_int_equal(c->xpassed, 1);
}

static void check_final(Progress *p, const char *text, long errors)
{
    const ProgressFinal *f = progress_final(p);
    assert_true(f->seen);
    assert_string_equal(f->text, text);
    assert_int_equal(f->failed, 3);
    assert_int_equal(f->passed, 8);
    assert_int_equal(f->skipped, 1);
    assert_int_equal(f->xfailed, 1);
    assert_int_equal(f->xpassed, 1);
    assert_int_equal(f->errors, errors);
}

static void test_serial(void **state)
{
    (void)state;
    for (int whole = 0; whole < 2; whole++) {
        Progress *p = feed(OUT_SERIAL, sizeof OUT_SERIAL - 1, whole ? 0 : 1);
        check_full_counts(progress_counts(p));
        assert_int_equal(progress_counts(p)->percent, 100);
        assert_int_equal(progress_counts(p)->workers, 0);
        assert_string_equal(progress_rootdir(p), "/tmp/cap");
        check_final(p, "3 failed, 8 passed, 1 skipped, 1 xfailed, 1 xpassed, 2 errors in 0.03s", 2);
        assert_true(progress_final(p)->seconds > 0.029 && progress_final(p)->seconds < 0.031);
        assert_null(progress_current(p));
        check_results(p, SERIAL_RESULTS, NSERIAL);
        assert_true(progress_take_changed(p));
        assert_false(progress_take_changed(p));
        assert_int_equal(progress_bytes_fed(p), sizeof OUT_SERIAL - 1);
        assert_int_equal(progress_bytes_skipped(p), 0);
        progress_free(p);
    }
    check_same_any_split(OUT_SERIAL, sizeof OUT_SERIAL - 1);
}

static size_t offset_after(const char *text, const char *needle)
{
    const char *at = strstr(text, needle);
    assert_non_null(at);
    return (size_t)(at - text) + strlen(needle);
}

/* While a test runs, only `NODEID ` of its line has been written. */
static void test_serial_current(void **state)
{
    (void)state;
    size_t cut = offset_after(OUT_SERIAL, "[  6%]\ntests/test_a.py::test_fail ");
    for (size_t step = 0; step < 2; step++) {
        Progress *p = feed_part(OUT_SERIAL, cut, step);
        assert_string_equal(progress_current(p), "tests/test_a.py::test_fail");
        assert_int_equal(progress_counts(p)->done, 1);
        assert_int_equal(progress_counts(p)->percent, 6);
        assert_int_equal(progress_counts(p)->collected, 15);
        progress_free(p);
    }
    /* mid node id: not yet */
    cut = offset_after(OUT_SERIAL, "[  6%]\ntests/test_a.py::test_fa");
    Progress *p = feed_part(OUT_SERIAL, cut, 0);
    assert_null(progress_current(p));
    /* param id with a space, partially written */
    progress_free(p);
    cut = offset_after(OUT_SERIAL, "[ 53%]\ntests/test_a.py::test_param[a ");
    p = feed_part(OUT_SERIAL, cut, 1);
    assert_null(progress_current(p));
    FEEDS(p, "b] ");
    assert_string_equal(progress_current(p), "tests/test_a.py::test_param[a b]");
    assert_true(progress_take_changed(p));
    FEEDS(p, "FAI");
    assert_false(progress_take_changed(p));
    FEEDS(p, "LED                                  [ 60%]\n");
    assert_true(progress_take_changed(p));
    assert_null(progress_current(p));
    assert_int_equal(progress_counts(p)->percent, 60);
    assert_int_equal(progress_counts(p)->failed_so_far, 4);
    progress_free(p);
}

static void test_capture_no(void **state)
{
    (void)state;
    Progress *p = feed(OUT_CAPTURE_NO, sizeof OUT_CAPTURE_NO - 1, 1);
    check_full_counts(progress_counts(p));
    assert_int_equal(progress_counts(p)->percent, -1); /* -s prints no percent */
    check_final(p, "3 failed, 8 passed, 1 skipped, 1 xfailed, 1 xpassed, 2 errors in 0.03s", 2);
    check_results(p, SERIAL_RESULTS, NSERIAL);
    progress_free(p);
    check_same_any_split(OUT_CAPTURE_NO, sizeof OUT_CAPTURE_NO - 1);

    /* the test's own output follows its id on the same line */
    size_t cut = offset_after(OUT_CAPTURE_NO, "test_param[\\xe9] param \xc3");
    p = feed_part(OUT_CAPTURE_NO, cut, 1); /* ends mid-UTF-8 */
    assert_string_equal(progress_current(p), "tests/test_a.py::test_param[\\xe9]");
    progress_free(p);
    cut = offset_after(OUT_CAPTURE_NO, "test_b1 line1\nline2\n");
    p = feed_part(OUT_CAPTURE_NO, cut, 0);
    assert_string_equal(progress_current(p), "tests/test_b.py::test_b1");
    assert_int_equal(progress_counts(p)->done, 13);
    progress_free(p);
    /* status glued to output without newline: "noisy output without newlinePASSED" */
    cut = offset_after(OUT_CAPTURE_NO, "without newlinePASSED\n");
    p = feed_part(OUT_CAPTURE_NO, cut, 0);
    assert_int_equal(progress_counts(p)->done, 11);
    assert_null(progress_current(p));
    progress_free(p);
}

/* With -s a test's output (here: a window title, a clipboard write, a C1 CSI) lands on the
 * line of its id and status; the id that is shown as the running test holds none of it, and
 * the status glued to it is still seen. */
static void test_control_sequences_cleaned(void **state)
{
    (void)state;
    static const char out[] =
        "rootdir: /tmp/cap\n"
        "collected 2 items\n"
        "\n"
        "t.py::test_a \x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x1b\\\xc2\x9b" "2JPASSED\n"
        "t.py::test_b \x1bP1$r\x1b\\";
    for (size_t step = 0; step < 3; step++) {
        Progress *p = feed_part(out, sizeof out - 1, step);
        assert_int_equal(progress_counts(p)->done, 1);
        assert_int_equal(progress_counts(p)->passed, 1);
        assert_string_equal(progress_current(p), "t.py::test_b");
        progress_free(p);
    }
    static const char fin[] = "\x1b[32m= 1 passed\x1b]0;t\x07 in 0.01s =\x1b[0m\n";
    Progress *p = feed(fin, sizeof fin - 1, 0);
    assert_true(progress_final(p)->seen);
    assert_string_equal(progress_final(p)->text, "1 passed in 0.01s");
    progress_free(p);
}

static void test_count_style(void **state)
{
    (void)state;
    Progress *p = feed(OUT_COUNT, sizeof OUT_COUNT - 1, 1);
    check_full_counts(progress_counts(p));
    assert_int_equal(progress_counts(p)->percent, 100);
    check_results(p, SERIAL_RESULTS, NSERIAL);
    progress_free(p);
    size_t cut = offset_after(OUT_COUNT, "[ 7/15]\n");
    p = feed_part(OUT_COUNT, cut, 0);
    assert_int_equal(progress_counts(p)->percent, 46);
    assert_int_equal(progress_counts(p)->done, 7);
    progress_free(p);
    check_same_any_split(OUT_COUNT, sizeof OUT_COUNT - 1);
}

static const Expect XDIST_RESULTS[] = {
    {"tests/test_a.py::test_skip", PROGRESS_SKIPPED, false, 1},
    {"tests/test_a.py::test_pass", PROGRESS_PASSED, false, 0},
    {"tests/test_a.py::test_xfail", PROGRESS_XFAIL, false, 1},
    {"tests/test_a.py::test_fail", PROGRESS_FAILED, false, 0},
    {"tests/test_a.py::test_xpass", PROGRESS_XPASS, false, 0},
    {"tests/test_a.py::test_teardown_error", PROGRESS_PASSED, false, 0},
    {"tests/test_a.py::test_setup_error", PROGRESS_ERROR, false, 1},
    {"tests/test_a.py::test_teardown_error", PROGRESS_ERROR, true, 0},
    {"tests/test_a.py::test_param[\\xe9]", PROGRESS_PASSED, false, 1},
    {"tests/test_a.py::test_param[\\xfc/1]", PROGRESS_PASSED, false, 1},
    {"tests/test_a.py::test_param[a b]", PROGRESS_FAILED, false, 0},
    {"tests/test_a.py::TestK::test_pm[1]", PROGRESS_PASSED, false, 1},
    {"tests/test_a.py::TestK::test_method", PROGRESS_PASSED, false, 0},
    {"tests/test_a.py::TestK::test_pm[2]", PROGRESS_FAILED, false, 1},
    {"tests/test_b.py::test_b1", PROGRESS_PASSED, false, 0},
    {"tests/test_b.py::test_b2", PROGRESS_PASSED, false, 1},
};

static void test_xdist(void **state)
{
    (void)state;
    Progress *p = feed(OUT_XDIST, sizeof OUT_XDIST - 1, 1);
    check_full_counts(progress_counts(p));
    assert_int_equal(progress_counts(p)->workers, 2);
    assert_int_equal(progress_counts(p)->percent, 100);
    check_final(p, "3 failed, 8 passed, 1 skipped, 1 xfailed, 1 xpassed, 2 errors in 0.28s", 2);
    check_results(p, XDIST_RESULTS, sizeof XDIST_RESULTS / sizeof XDIST_RESULTS[0]);
    assert_int_equal(progress_running(p, NULL), 0);
    progress_free(p);
    check_same_any_split(OUT_XDIST, sizeof OUT_XDIST - 1);

    /* two tests running at once */
    size_t cut = offset_after(OUT_XDIST, "tests/test_a.py::test_skip \ntests/test_a.py::test_pass \n");
    p = feed_part(OUT_XDIST, cut, 0);
    const char *const *ids;
    assert_int_equal(progress_running(p, &ids), 2);
    assert_string_equal(ids[0], "tests/test_a.py::test_skip");
    assert_string_equal(ids[1], "tests/test_a.py::test_pass");
    assert_string_equal(progress_current(p), "tests/test_a.py::test_pass");
    assert_int_equal(progress_counts(p)->collected, 15);
    assert_int_equal(progress_counts(p)->done, 0);
    FEEDS(p, "[gw1] [  6%] SKIPPED tests/test_a.py::test_skip \n");
    assert_int_equal(progress_running(p, &ids), 1);
    assert_string_equal(progress_current(p), "tests/test_a.py::test_pass");
    assert_int_equal(progress_counts(p)->percent, 6);
    progress_free(p);
}

static void test_collect_error(void **state)
{
    (void)state;
    Progress *p = feed(OUT_COLLECT_ERROR, sizeof OUT_COLLECT_ERROR - 1, 1);
    const ProgressCounts *c = progress_counts(p);
    assert_int_equal(c->collected, 15);
    assert_int_equal(c->collect_errors, 1);
    assert_int_equal(c->done, 0);
    assert_int_equal(c->failed_so_far, 0);
    assert_true(progress_final(p)->seen);
    assert_int_equal(progress_final(p)->errors, 1);
    assert_string_equal(progress_final(p)->text, "1 error in 0.04s");
    progress_free(p);

    p = feed(OUT_XDIST_COLLECT_ERROR, sizeof OUT_XDIST_COLLECT_ERROR - 1, 1);
    check_full_counts(progress_counts(p));
    check_final(p, "3 failed, 8 passed, 1 skipped, 1 xfailed, 1 xpassed, 3 errors in 0.29s", 3);
    progress_free(p);
    check_same_any_split(OUT_COLLECT_ERROR, sizeof OUT_COLLECT_ERROR - 1);
    check_same_any_split(OUT_XDIST_COLLECT_ERROR, sizeof OUT_XDIST_COLLECT_ERROR - 1);
}

static void test_tricky_ids(void **state)
{
    (void)state;
    static const Expect e[] = {
        {"tests/test_s.py::TestOuter::TestInner::test_deep", PROGRESS_FAILED, false, -1},
        {"tests/test_s.py::TestOuter::test_dash[a - b]", PROGRESS_FAILED, false, -1},
        {"tests/test_s.py::TestOuter::test_dash[x] - y]", PROGRESS_FAILED, false, -1},
        {"tests/test_s.py::test_async", PROGRESS_SKIPPED, false, -1},
        {"tests/test_s.py::test_fx", PROGRESS_ERROR, false, -1},
    };
    Progress *p = feed(OUT_TRICKY, sizeof OUT_TRICKY - 1, 1);
    check_results(p, e, 5);
    assert_string_equal(progress_rootdir(p), "/tmp/sumt"); /* no configfile suffix */
    assert_int_equal(progress_final(p)->warnings, 1);
    progress_free(p);
    check_same_any_split(OUT_TRICKY, sizeof OUT_TRICKY - 1);
}

static void test_misc_lines(void **state)
{
    (void)state;
    static const char t[] =
        "rootdir: /home/u/my, proj, configfile: pytest.ini, testpaths: tests\n"
        "collecting ... collected 13 items / 10 deselected / 3 selected\n"
        "\n"
        "t/test_x.py::test_a \x1b[32mPASSED\x1b[0m\x1b[32m                   [ 33%]\x1b[0m\r\n"
        "t/test_x.py::test_b SKIPPED (needs (nested) parens)               [ 66%]\n";
    Progress *p = feed(t, sizeof t - 1, 1);
    assert_string_equal(progress_rootdir(p), "/home/u/my, proj");
    assert_int_equal(progress_counts(p)->collected, 3);
    assert_int_equal(progress_counts(p)->passed, 1);
    assert_int_equal(progress_counts(p)->skipped, 1);
    assert_int_equal(progress_counts(p)->percent, 66);
    FEEDS(p, "==== 3 passed, 10 deselected in 75.21s (0:01:15) ====\n");
    assert_int_equal(progress_final(p)->deselected, 10);
    assert_true(progress_final(p)->seconds > 75.2);
    progress_free(p);

    /* a category of two words (pytest-subtests, pytest 9): read past, pytest's duration kept */
    static const char s[] = "collected 8 items\n\n"
                            "===== 3 failed, 5 passed, 3 subtests passed, 1 error in 0.04s =====\n";
    p = feed(s, sizeof s - 1, 0);
    assert_true(progress_final(p)->seen);
    assert_int_equal(progress_final(p)->failed, 3);
    assert_int_equal(progress_final(p)->passed, 5);
    assert_int_equal(progress_final(p)->errors, 1);
    assert_true(progress_final(p)->seconds > 0.039 && progress_final(p)->seconds < 0.041);
    assert_string_equal(progress_final(p)->text, "3 failed, 5 passed, 3 subtests passed, 1 error in 0.04s");
    progress_free(p);

    static const char q[] = "collected 0 items\n\n============================ no tests ran in 0.01s =============================\n";
    p = feed(q, sizeof q - 1, 0);
    assert_true(progress_final(p)->seen);
    assert_string_equal(progress_final(p)->text, "no tests ran in 0.01s");
    assert_int_equal(progress_counts(p)->collected, 0);
    progress_free(p);

    /* newer xdist header; -q final line without '=' fill */
    static const char x[] = "2 workers [7 items]\n\n"
                            "[gw0] [ 14%] PASSED t.py::test_a \n"
                            "=== short test summary info ===\n"
                            "1 passed in 0.5s\n";
    p = feed(x, sizeof x - 1, 1);
    assert_int_equal(progress_counts(p)->workers, 2);
    assert_int_equal(progress_counts(p)->collected, 7);
    assert_int_equal(progress_counts(p)->done, 1);
    assert_int_equal(progress_final(p)->passed, 1);
    progress_free(p);
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* A test printing 100 MB without a newline (-s): bounded memory, status still seen. */
static void test_huge_line(void **state)
{
    (void)state;
    enum { CHUNK = 64 * 1024 };
    char *chunk = malloc(CHUNK);
    assert_non_null(chunk);
    memset(chunk, 'x', CHUNK);
    for (size_t i = 0; i < CHUNK; i += 97)
        memcpy(chunk + i, "\xc3\xa9", 2); /* UTF-8 split across chunk ends too */
    Progress *p = progress_new();
    static const char hdr[] = "collected 2 items\n\ntests/test_big.py::test_loud ";
    progress_feed(p, hdr, sizeof hdr - 1);
    assert_string_equal(progress_current(p), "tests/test_big.py::test_loud");
    long before = rss_kib();
    unsigned long long total = 0;
    while (total < 100ull * 1024 * 1024) {
        progress_feed(p, chunk, CHUNK);
        total += CHUNK;
    }
    long grown = rss_kib() - before;
    assert_true(grown < 8 * 1024); /* nothing proportional to the 100 MB */
    assert_string_equal(progress_current(p), "tests/test_big.py::test_loud");
    FEEDS(p, "PASSED\ntests/test_big.py::test_quiet PASSED\n");
    assert_int_equal(progress_counts(p)->done, 2);
    assert_int_equal(progress_counts(p)->passed, 2);
    assert_true(progress_bytes_skipped(p) > 100ull * 1024 * 1024 - 8192);
    ProgressResult *r;
    size_t n = progress_take_finished(p, &r, NULL);
    assert_int_equal(n, 2);
    assert_string_equal(r[0].nodeid, "tests/test_big.py::test_loud");
    progress_results_free(r, n);
    progress_free(p);

    /* a 100 MB line that is not a test line, in -v mode: counters untouched */
    p = progress_new();
    FEEDS(p, "collected 1 item\n\n");
    for (int i = 0; i < 1600; i++)
        progress_feed(p, chunk, CHUNK);
    FEEDS(p, "\nt.py::test_z PASSED   [100%]\n");
    assert_int_equal(progress_counts(p)->done, 1);
    assert_int_equal(progress_counts(p)->percent, 100);
    progress_free(p);
    free(chunk);
}

/* The finished list stays bounded when the caller never asks. */
static void test_finished_bounded(void **state)
{
    (void)state;
    Progress *p = progress_new();
    char line[128];
    for (int i = 0; i < 3 * PROGRESS_MAX_FINISHED; i++) {
        int n = snprintf(line, sizeof line, "t.py::test_%d PASSED\n", i);
        progress_feed(p, line, (size_t)n);
    }
    assert_int_equal(progress_counts(p)->done, 3 * PROGRESS_MAX_FINISHED);
    ProgressResult *r;
    size_t dropped;
    size_t n = progress_take_finished(p, &r, &dropped);
    assert_true(n <= PROGRESS_MAX_FINISHED);
    assert_int_equal(n + dropped, 3 * PROGRESS_MAX_FINISHED);
    snprintf(line, sizeof line, "t.py::test_%d", 3 * PROGRESS_MAX_FINISHED - 1);
    assert_string_equal(r[n - 1].nodeid, line);
    progress_results_free(r, n);
    progress_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serial),
        cmocka_unit_test(test_serial_current),
        cmocka_unit_test(test_capture_no),
        cmocka_unit_test(test_count_style),
        cmocka_unit_test(test_control_sequences_cleaned),
        cmocka_unit_test(test_xdist),
        cmocka_unit_test(test_collect_error),
        cmocka_unit_test(test_tricky_ids),
        cmocka_unit_test(test_misc_lines),
        cmocka_unit_test(test_huge_line),
        cmocka_unit_test(test_finished_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

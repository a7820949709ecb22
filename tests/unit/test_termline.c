/* test_termline: pytest's terminal output cut into bounded lines (any split of the input,
 * long lines kept as head + tail, the partial line) and the line cleaner. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/strbuf.h"
#include "parse/termline.h"

typedef struct {
    StrBuf all; /* the lines, each followed by '|' */
    size_t count;
    size_t longest;
} Got;

static void on_line(void *ud, const char *line, size_t n)
{
    Got *g = ud;
    assert_int_equal(line[n], '\0');
    strbuf_append(&g->all, line, n);
    strbuf_putc(&g->all, '|');
    g->count++;
    if (n > g->longest)
        g->longest = n;
}

static void test_any_split(void **state)
{
    (void)state;
    static const char text[] = "rootdir: /p\ncollected 2 items\n\na.py::t PASSED\nlast";
    for (size_t step = 1; step <= sizeof text; step++) {
        TermLine t;
        termline_init(&t);
        Got g = {STRBUF_INIT, 0, 0};
        for (size_t i = 0; i < sizeof text - 1; i += step) {
            size_t k = sizeof text - 1 - i < step ? sizeof text - 1 - i : step;
            termline_feed(&t, text + i, k, on_line, &g);
        }
        size_t n = 99;
        const char *head = termline_partial(&t, &n);
        assert_int_equal(n, 4);
        assert_memory_equal(head, "last", 4);
        termline_finish(&t, on_line, &g);
        assert_string_equal(strbuf_cstr(&g.all), "rootdir: /p|collected 2 items||a.py::t PASSED|last|");
        assert_int_equal(t.fed, sizeof text - 1);
        assert_int_equal(t.skipped, 0);
        termline_partial(&t, &n);
        assert_int_equal(n, 0);
        termline_finish(&t, on_line, &g); /* nothing left: no empty line */
        assert_int_equal(g.count, 5);
        strbuf_destroy(&g.all);
    }
}

static void test_long_line_head_and_tail(void **state)
{
    (void)state;
    TermLine t;
    termline_init(&t);
    Got g = {STRBUF_INIT, 0, 0};
    static char chunk[10000];
    memset(chunk, 'x', sizeof chunk);
    termline_feed(&t, "a.py::t ", 8, on_line, &g);
    size_t n;
    assert_non_null(termline_partial(&t, &n));
    for (int i = 0; i < 100; i++)
        termline_feed(&t, chunk, sizeof chunk, on_line, &g);
    assert_null(termline_partial(&t, &n)); /* past its head */
    termline_feed(&t, "PASSED [100%]\n", 14, on_line, &g);
    assert_int_equal(g.count, 1);
    assert_int_equal(g.longest, TERMLINE_HEAD + TERMLINE_TAIL);
    const char *s = strbuf_cstr(&g.all);
    assert_memory_equal(s, "a.py::t xxx", 11);
    assert_memory_equal(s + TERMLINE_HEAD + TERMLINE_TAIL - 13, "PASSED [100%]|", 14);
    assert_int_equal(t.skipped, 8 + 100 * sizeof chunk + 13 - TERMLINE_HEAD - TERMLINE_TAIL);
    strbuf_destroy(&g.all);
}

static void expect_clean(const char *in, unsigned flags, const char *want)
{
    char buf[256];
    size_t n = strlen(in);
    memcpy(buf, in, n);
    n = termline_clean(buf, n, flags);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n);
}

static void test_clean(void **state)
{
    (void)state;
    expect_clean("\x1b[32mPASSED\x1b[0m  \t\r", 0, "PASSED");
    expect_clean("a.py::t \x1b]0;title\x07PASSED", 0, "a.py::t PASSED");
    /* a tty redraw: the last state of the line, or every CR dropped */
    expect_clean("[ 10%]\r[ 20%]\rdone  ", TERMLINE_REDRAW, "done");
    expect_clean("[ 10%]\r[ 20%]\rdone  ", 0, "[ 10%][ 20%]done");
    expect_clean("trailing cr\r", TERMLINE_REDRAW, "trailing cr");
    expect_clean("   ", 0, "");
    assert_true(termline_starts("FAILED x", 8, "FAILED "));
    assert_false(termline_starts("FAIL", 4, "FAILED "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_any_split),
        cmocka_unit_test(test_long_line_head_and_tail),
        cmocka_unit_test(test_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

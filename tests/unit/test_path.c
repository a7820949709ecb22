/* Unit tests for base/path.c: the one lexical normaliser, same-file checks, and the
 * PathCache (stat()/realpath() answers kept by the caller for one report). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/path.h"
#include "base/strbuf.h"
#include "testutil.h"

static void test_normalize(void **state)
{
    (void)state;
    static const char *const cases[][3] = {
        {"/r", "a/b", "/r/a/b"},         {"/r", "/abs//x/./y", "/abs/x/y"},
        {"/r/s", "../t/u.py", "/r/t/u.py"}, {"/r", "tests/../src/x.py", "/r/src/x.py"},
        {"/", "../../x", "/x"},          {NULL, "a/../../b", "../b"},
        {NULL, "./", "."},               {"/r/", "a/", "/r/a"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *n = path_normalize(cases[i][0], cases[i][1]);
        assert_string_equal(n, cases[i][2]);
        free(n);
    }
}

/* Base "/": always absolute (what project.c uses for roots and arguments). */
static void test_normalize_anchored(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"/a/b/../c/./d//e/", "/a/c/d/e"}, {"/..", "/"}, {"/a/../../b", "/b"}, {"/", "/"},
        {"", "/"}, {"a/../..", "/"}, {"rel/x", "/rel/x"}, {"//a//b//", "/a/b"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *n = path_normalize("/", cases[i][0]);
        assert_string_equal(n, cases[i][1]);
        free(n);
    }
    char *n = path_normalize_n("/r", "a/b/c", 3); /* only "a/b" */
    assert_string_equal(n, "/r/a/b");
    free(n);
}

static void test_below(void **state)
{
    (void)state;
    assert_string_equal(path_below("/p/q/r.py", "/p"), "/q/r.py");
    assert_string_equal(path_below("/p/q/r.py", "/p/"), "/q/r.py");
    assert_string_equal(path_below("/p/q/r.py", "/"), "/p/q/r.py");
    assert_null(path_below("/pq/r.py", "/p"));
    assert_null(path_below("/p", "/p"));
}

static char tmp[TMP_PATH_MAX];

static void put(const char *rel)
{
    StrBuf p = STRBUF_INIT;
    strbuf_printf(&p, "%s/%s", tmp, rel);
    FILE *f = fopen(strbuf_cstr(&p), "w");
    assert_non_null(f);
    fclose(f);
    strbuf_destroy(&p);
}

static char *in_tmp(const char *rel)
{
    StrBuf p = STRBUF_INIT;
    strbuf_printf(&p, "%s/%s", tmp, rel);
    return strbuf_detach(&p);
}

static void test_same_file(void **state)
{
    (void)state;
    tmp_template(tmp, "pytestmon-path");
    assert_non_null(mkdtemp(tmp));
    put("a.py");
    char *a = in_tmp("a.py"), *link = in_tmp("l/a.py"), *dir = in_tmp("l");
    char *dotted = in_tmp("./x/../a.py");
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(symlink(a, link), 0);
    assert_true(path_same_file(a, dotted));  /* lexically */
    assert_true(path_same_file(a, link));    /* same realpath, same last component */
    assert_false(path_same_file(a, dir));
    unlink(link);
    rmdir(dir);
    unlink(a);
    rmdir(tmp);
    free(a);
    free(link);
    free(dir);
    free(dotted);
}

/* The cache answers from what it saw first, until the caller destroys it: two caches
 * are independent (no process-wide state), and a new cache sees the file system anew. */
static void test_cache_is_the_callers(void **state)
{
    (void)state;
    tmp_template(tmp, "pytestmon-path");
    assert_non_null(mkdtemp(tmp));
    put("t.py");
    char *f = in_tmp("t.py"), *gone = in_tmp("gone.py"), *d = in_tmp("");
    PathCache one;
    path_cache_init(&one);
    assert_true(path_cache_regular(&one, f));
    assert_false(path_cache_regular(&one, gone));
    assert_false(path_cache_regular(&one, d)); /* a directory */
    char *real_tmp = realpath(tmp, NULL);
    StrBuf want = STRBUF_INIT;
    strbuf_printf(&want, "%s/t.py", real_tmp);
    assert_string_equal(path_cache_real(&one, f), strbuf_cstr(&want));
    assert_string_equal(path_cache_real(&one, gone), gone); /* realpath fails: the path */

    unlink(f);
    put("gone.py");
    assert_true(path_cache_regular(&one, f));    /* remembered */
    assert_false(path_cache_regular(&one, gone));
    PathCache two;
    path_cache_init(&two);
    assert_false(path_cache_regular(&two, f));   /* a new cache asks again */
    assert_true(path_cache_regular(&two, gone));
    path_cache_destroy(&two);
    path_cache_destroy(&one);
    path_cache_destroy(&one); /* destroyed twice: harmless (re-initialised) */

    /* many paths: the table grows and keeps every answer */
    PathCache many;
    path_cache_init(&many);
    for (int i = 0; i < 500; i++) {
        StrBuf p = STRBUF_INIT;
        strbuf_printf(&p, "%s/n%d.py", tmp, i);
        assert_false(path_cache_regular(&many, strbuf_cstr(&p)));
        strbuf_destroy(&p);
    }
    assert_true(path_cache_regular(&many, gone));
    assert_int_equal(many.n, 501);
    path_cache_destroy(&many);

    unlink(gone);
    rmdir(tmp);
    free(real_tmp);
    strbuf_destroy(&want);
    free(f);
    free(gone);
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_normalize_anchored),
        cmocka_unit_test(test_below),
        cmocka_unit_test(test_same_file),
        cmocka_unit_test(test_cache_is_the_callers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

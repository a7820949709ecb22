/* Unit tests for collection: the plugin's record of collected tests and the nearest node. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parse/collection.h"

/* As the plugin writes it for a file with a unittest class whose name does not start with
 * "Test", a nested class, a parametrized method and a module-level test. */
static const char doc[] =
    "{\"rootdir\": \"/p\", \"items\": ["
    "{\"nodeid\": \"test_c.py::NthTests::test_one\", \"file\": \"/p/test_c.py\", \"line\": 5, \"end\": 6},"
    "{\"nodeid\": \"test_c.py::TestPlain::TestNested::test_in\", \"file\": \"/p/test_c.py\", \"line\": 13, \"end\": 14},"
    "{\"nodeid\": \"test_c.py::TestPlain::test_p[a::b[1]]\", \"file\": \"/p/test_c.py\", \"line\": 16, \"end\": 18},"
    "{\"nodeid\": \"test_c.py::TestPlain::test_p[2]\", \"file\": \"/p/test_c.py\", \"line\": 16, \"end\": 18},"
    "{\"nodeid\": \"test_c.py::test_top\", \"file\": \"/p/test_c.py\", \"line\": 20, \"end\": 21},"
    "{\"nodeid\": \"d[x]/test_d.py::test_e[1]\", \"file\": \"/p/d[x]/test_d.py\", \"line\": 1, \"end\": 2},"
    "{\"nodeid\": \"test_sub.py::TestChild::test_inherited\", \"file\": \"/p/base.py\", \"line\": 3, \"end\": 4}],"
    "\"classes\": ["
    "{\"nodeid\": \"test_c.py::NthTests\", \"file\": \"/p/test_c.py\", \"line\": 4, \"end\": 9},"
    "{\"nodeid\": \"test_c.py::TestPlain\", \"file\": \"/p/test_c.py\", \"line\": 11, \"end\": 18},"
    "{\"nodeid\": \"test_c.py::TestPlain::TestNested\", \"file\": \"/p/test_c.py\", \"line\": 12, \"end\": 14}]}";

static void expect_nearest(const Collection *c, const char *file, int line, const char *want)
{
    char *got = collection_nearest(c, file, line, "/p");
    if (want == NULL) {
        assert_null(got);
    } else {
        assert_non_null(got);
        assert_string_equal(got, want);
    }
    free(got);
}

static void test_nearest(void **state)
{
    (void)state;
    Collection c;
    StrBuf err = STRBUF_INIT;
    assert_int_equal(collection_parse(doc, strlen(doc), &c, &err), 0);
    assert_int_equal(c.nitems, 7);
    assert_int_equal(c.nclasses, 3);
    expect_nearest(&c, "/p/test_c.py", 6, "test_c.py::NthTests::test_one");  /* unittest, not Test* */
    expect_nearest(&c, "/p/test_c.py", 8, "test_c.py::NthTests");           /* in its helper: the class */
    expect_nearest(&c, "/p/test_c.py", 4, "test_c.py::NthTests");
    expect_nearest(&c, "/p/test_c.py", 14, "test_c.py::TestPlain::TestNested::test_in");
    expect_nearest(&c, "/p/test_c.py", 12, "test_c.py::TestPlain::TestNested");
    expect_nearest(&c, "/p/test_c.py", 16, "test_c.py::TestPlain::test_p"); /* decorator line: all cases */
    expect_nearest(&c, "/p/./test_c.py", 21, "test_c.py::test_top");
    expect_nearest(&c, "/p/test_c.py", 10, "test_c.py::NthTests");          /* between: the one above */
    expect_nearest(&c, "/p/test_c.py", 19, "test_c.py::TestPlain");         /* class and method end at 18 */
    expect_nearest(&c, "/p/test_c.py", 99, "test_c.py::test_top");
    expect_nearest(&c, "/p/test_c.py", 2, NULL);                            /* above every test: the file */
    expect_nearest(&c, "/p/other.py", 5, NULL);
    expect_nearest(&c, "/p/d[x]/test_d.py", 2, "d[x]/test_d.py::test_e");
    expect_nearest(&c, "/p/base.py", 4, "test_sub.py::TestChild::test_inherited");
    collection_destroy(&c);
    strbuf_destroy(&err);
}

/* A NUL in one node id (pytest's forfeit-all-rights option) loses nothing: the id has U+FFFD
 * there, as the plugin's identity of the test, and control characters stay as they are. */
static void test_nul_and_controls_in_ids(void **state)
{
    (void)state;
    static const char rec[] =
        "{\"items\": ["
        "{\"nodeid\": \"t.py::test_p[nul\\u0000byte]\", \"file\": \"/p/t.py\", \"line\": 3, \"end\": 4},"
        "{\"nodeid\": \"t.py::test_p[esc\\u001b[31m]\", \"file\": \"/p/t.py\", \"line\": 3, \"end\": 4}],"
        "\"errors\": [{\"nodeid\": \"u.py\", \"file\": \"/p/u.py\", \"message\": \"a\\u0000b\"}]}";
    Collection c;
    StrBuf err = STRBUF_INIT;
    assert_int_equal(collection_parse(rec, strlen(rec), &c, &err), 0);
    assert_int_equal(c.nitems, 2);
    assert_string_equal(c.items[0].nodeid, "t.py::test_p[nul\xef\xbf\xbd" "byte]");
    assert_string_equal(c.items[1].nodeid, "t.py::test_p[esc\x1b[31m]");
    assert_string_equal(c.errors[0].message, "a\xef\xbf\xbd" "b");
    expect_nearest(&c, "/p/t.py", 4, "t.py::test_p");
    collection_destroy(&c);
    strbuf_destroy(&err);
}

static void test_bad_records(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "[]", "{\"items\": 3}", "{\"items\": [{\"nodeid\": \"x\"}]}",
                                      "{\"items\": [{\"nodeid\": \"x\", \"file\": \"rel.py\"}]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Collection c;
        StrBuf err = STRBUF_INIT;
        assert_int_equal(collection_parse(bad[i], strlen(bad[i]), &c, &err), -EINVAL);
        assert_non_null(strstr(strbuf_cstr(&err), "unreadable collection record"));
        collection_destroy(&c);
        strbuf_destroy(&err);
    }
    Collection c;
    StrBuf err = STRBUF_INIT;
    assert_int_equal(collection_read("/nonexistent/c.json", &c, &err), -ENOENT);
    collection_destroy(&c);
    strbuf_destroy(&err);
}

/* pytest's rootdir is an ancestor of the directory pytest runs in (a parent pytest.ini, a
 * monorepo): its node ids name paths from the rootdir, so the selection is made relative to
 * the run's directory (absolute when the run's directory is not above the test). */
static void test_nearest_is_relative_to_the_run_dir(void **state)
{
    (void)state;
    static const char rec[] =
        "{\"rootdir\": \"/mono\", \"items\": ["
        "{\"nodeid\": \"sub/tests/test_a.py::test_b[1]\", \"file\": \"/mono/sub/tests/test_a.py\", "
        "\"line\": 1, \"end\": 2}]}";
    Collection c;
    StrBuf err = STRBUF_INIT;
    assert_int_equal(collection_parse(rec, strlen(rec), &c, &err), 0);
    assert_string_equal(c.rootdir, "/mono");
    const char *file = "/mono/sub/tests/test_a.py";
    char *got = collection_nearest(&c, file, 2, "/mono/sub");
    assert_string_equal(got, "tests/test_a.py::test_b");
    free(got);
    got = collection_nearest(&c, file, 2, "/mono");
    assert_string_equal(got, "sub/tests/test_a.py::test_b");
    free(got);
    got = collection_nearest(&c, file, 2, "/elsewhere");
    assert_string_equal(got, "/mono/sub/tests/test_a.py::test_b");
    free(got);
    collection_destroy(&c);
    strbuf_destroy(&err);
}

/* Collection errors at their files: a module that failed to import, a package whose
 * conftest raised (its directory), and the message as pytest wrote it. */
static void test_errors(void **state)
{
    (void)state;
    static const char rec[] =
        "{\"items\": [], \"errors\": ["
        "{\"nodeid\": \"tests/test_bad.py\", \"file\": \"/p/tests/./test_bad.py\", "
        "\"message\": \"ImportError while importing\\nE   No module named 'x'\"},"
        "{\"nodeid\": \"pkg\", \"file\": \"/p/pkg\"}]}";
    Collection c;
    StrBuf err = STRBUF_INIT;
    assert_int_equal(collection_parse(rec, strlen(rec), &c, &err), 0);
    assert_int_equal(c.nitems, 0);
    assert_int_equal(c.nerrors, 2);
    assert_string_equal(c.errors[0].nodeid, "tests/test_bad.py");
    assert_string_equal(c.errors[0].file, "/p/tests/test_bad.py");
    assert_string_equal(c.errors[0].message, "ImportError while importing\nE   No module named 'x'");
    assert_string_equal(c.errors[1].file, "/p/pkg");
    assert_string_equal(c.errors[1].message, "");
    collection_destroy(&c);
    static const char *const bad[] = {"{\"errors\": 1}", "{\"errors\": [{\"nodeid\": \"a\", \"file\": \"a.py\"}]}",
                                      "{\"errors\": [{\"file\": \"/a.py\"}]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(collection_parse(bad[i], strlen(bad[i]), &c, &err), -EINVAL);
        collection_destroy(&c);
    }
    strbuf_destroy(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nearest),
        cmocka_unit_test(test_nearest_is_relative_to_the_run_dir),
        cmocka_unit_test(test_nul_and_controls_in_ids),
        cmocka_unit_test(test_bad_records),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

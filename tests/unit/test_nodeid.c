/* Unit tests for nodeid.c: pytest's node id rebuilt from JUnit attributes, checked against
 * the ids pytest itself prints for tests/fixtures/proj_fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "parse/nodeid.h"

/* ---- node ids ------------------------------------------------------------------------------------ */

static void expect_id(const char *file, const char *cls, const char *name, const char *want)
{
    char *root = fixture_path("proj_fail");
    char *id = nodeid_rebuild(file, cls, name, root, NULL);
    assert_non_null(id);
    assert_string_equal(id, want);
    free(id);
    free(root);
}

/* Every expected id below is printed verbatim by `pytest -rA` (tests/fixtures/xml/ *.rA.txt). */
static void test_nodeids(void **state)
{
    (void)state;
    expect_id("test_basic.py", "test_basic", "test_assert_eq", "test_basic.py::test_assert_eq");
    expect_id("test_basic.py", "test_basic", "test_param[a::b]", "test_basic.py::test_param[a::b]");
    expect_id("test_basic.py", "test_basic", "test_param[x/y]", "test_basic.py::test_param[x/y]");
    expect_id("test_basic.py", "test_basic", "test_param[p[q]]", "test_basic.py::test_param[p[q]]");
    expect_id("tests/test_math.py", "tests.test_math.TestCalc.TestNested", "test_div",
              "tests/test_math.py::TestCalc::TestNested::test_div");
    expect_id("tests/test_math.py", "tests.test_math.TestCalc", "test_mul",
              "tests/test_math.py::TestCalc::test_mul");
    expect_id("tests/sub/test_spaced name \xc3\xa9.py", "tests.sub.test_spaced name \xc3\xa9",
              "test_unicode", "tests/sub/test_spaced name \xc3\xa9.py::test_unicode");
    expect_id("test_doc.txt", "test_doc.txt", "test_doc.txt", "test_doc.txt::test_doc.txt");
    /* inherited: file is the base class's module; the module is found under rootdir */
    expect_id("tests/base.py", "tests.test_inherit.TestChild", "test_inherited",
              "tests/test_inherit.py::TestChild::test_inherited");
    /* xunit2 (no file): found under rootdir too */
    expect_id(NULL, "tests.test_math.TestCalc", "test_mul",
              "tests/test_math.py::TestCalc::test_mul");
    /* collection errors: classname "", name = dotted module */
    expect_id("test_import_error.py", "", "test_import_error", "test_import_error.py");
    expect_id("tests/test_x.py", "", "tests.test_x", "tests/test_x.py");
    expect_id("a.py", "", "weird", "a.py::weird");
    expect_id(NULL, "pytest", "internal", "pytest::internal");
    assert_null(nodeid_rebuild("a.py", "a", NULL, NULL, NULL));
    /* module doctest: the name keeps its dots */
    expect_id("pkg/mod.py", "pkg.mod", "pkg.mod.func", "pkg/mod.py::pkg.mod.func");
}

static void expect_unescaped(const char *in, const char *want)
{
    char *s = strdup(in);
    size_t n = nodeid_unescape(s);
    assert_string_equal(s, want);
    assert_int_equal(n, strlen(want));
    assert_true(n <= strlen(in));
    free(s);
}

/* The plugin's nodeid-esc (python/pytestmon_hooks/text.py, _id_attr) back to the test's identity. */
static void test_unescape(void **state)
{
    (void)state;
    expect_unescaped("t.py::t[plain]", "t.py::t[plain]");
    expect_unescaped("t.py::t[esc\\x1B[31m\\x07]", "t.py::t[esc\x1b[31m\x07]");
    expect_unescaped("t.py::t[a\\\\x1B]", "t.py::t[a\\x1B]");          /* an escaped backslash */
    expect_unescaped("t.py::t[\\uFFFE\\uffff]", "t.py::t[\xef\xbf\xbe\xef\xbf\xbf]");
    expect_unescaped("\\x00\\u0000\\uD800", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* never a NUL or surrogate */
    expect_unescaped("\\u00e9\\x7F", "\xc3\xa9\x7f");
    /* what is no escape stays: a short or bad one, \x above 7F, a backslash at the end */
    expect_unescaped("\\x1\\xZZ\\x80\\u12\\q\\", "\\x1\\xZZ\\x80\\u12\\q\\");
    expect_unescaped("", "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nodeids),
        cmocka_unit_test(test_unescape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

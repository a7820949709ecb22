/* Unit tests for pytesterr: pytest's stderr when a conftest.py fails to import (pytest 7.2 and
 * 8.3 print the same shape; the texts below are theirs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parse/pytesterr.h"

static void test_conftest_import_error(void **state)
{
    (void)state;
    static const char text[] =
        "ImportError while loading conftest '/p/tests/conftest.py'.\n"
        "tests/conftest.py:2: in <module>\n"
        "    import helpers\n"
        "helpers.py:1: in <module>\n"
        "    from missing import thing\n"
        "E   ModuleNotFoundError: No module named 'missing'\n";
    PytestConftestError e;
    assert_true(pytesterr_conftest(text, strlen(text), "/p", &e));
    assert_string_equal(e.conftest, "/p/tests/conftest.py");
    assert_string_equal(e.file, "/p/helpers.py"); /* the deepest entry */
    assert_int_equal(e.line, 1);
    assert_string_equal(e.message, "ModuleNotFoundError: No module named 'missing'");
    pytesterr_conftest_destroy(&e);
}

static void test_first_e_line_after_the_deepest_entry(void **state)
{
    (void)state;
    static const char text[] =
        "ImportError while loading conftest '/p/conftest.py'.\n"
        "conftest.py:3: in <module>\n"
        "    from a import b\n"
        "E   ImportError: cannot import name 'b' from partially initialized module 'a'\n"
        "E   (most likely due to a circular import) (/p/a.py)\n";
    PytestConftestError e;
    assert_true(pytesterr_conftest(text, strlen(text), "/p", &e));
    assert_string_equal(e.file, "/p/conftest.py");
    assert_int_equal(e.line, 3);
    assert_string_equal(e.message, "ImportError: cannot import name 'b' from partially initialized module 'a'");
    pytesterr_conftest_destroy(&e);
}

static void test_not_a_conftest_error(void **state)
{
    (void)state;
    PytestConftestError e;
    static const char usage[] = "ERROR: usage: __main__.py [options]\n__main__.py: error: unrecognized arguments: -x\n";
    assert_false(pytesterr_conftest(usage, strlen(usage), "/p", &e));
    static const char cut[] = "ImportError while loading conftest '/p/conft";
    assert_false(pytesterr_conftest(cut, strlen(cut), "/p", &e));
    assert_false(pytesterr_conftest(NULL, 0, "/p", &e));
    /* no traceback lines: the conftest itself, line unknown */
    static const char bare[] = "ImportError while loading conftest '/p/conftest.py'.\n";
    assert_true(pytesterr_conftest(bare, strlen(bare), "/p", &e));
    assert_string_equal(e.file, "/p/conftest.py");
    assert_int_equal(e.line, 0);
    assert_string_equal(e.message, "ImportError");
    pytesterr_conftest_destroy(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conftest_import_error),
        cmocka_unit_test(test_first_e_line_after_the_deepest_entry),
        cmocka_unit_test(test_not_a_conftest_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for failmsg.c: the one-line message of a failure, on texts from real pytest
 * 7.2.1 runs (see tests/fixtures/xml/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "testutil.h"

#include "parse/failmsg.h"

/* ---- messages ---------------------------------------------------------------------------------- */

static void expect_msg(const char *message, const char *text, const char *want)
{
    char *m = failmsg_line(message, text);
    assert_string_equal(m, want);
    free(m);
}

static void test_messages(void **state)
{
    (void)state;
    expect_msg("assert 3 == 4", "whatever", "assert 3 == 4");
    expect_msg("AssertionError: first line\nsecond line", "", "AssertionError: first line");
    expect_msg("AssertionError: assert '\\x1b[31mred' == 'plain'\n  - plain\n  + #x1B[31mred", "",
               "AssertionError: assert '\\x1b[31mred' == 'plain'");
    expect_msg("[XPASS(strict)] fixed now", "[XPASS(strict)] fixed now",
               "[XPASS(strict)] fixed now");
    expect_msg("failed on setup with \"RuntimeError: setup exploded\"", "",
               "RuntimeError: setup exploded");
    expect_msg("failed on teardown with \"ValueError: teardown exploded\"", "",
               "ValueError: teardown exploded");
    expect_msg("failed on setup with \"file /p/test_basic.py, line 73\n  def t(no_such_fixture):\n"
               "E       fixture 'no_such_fixture' not found\n>       available fixtures: a\n\n"
               "/p/test_basic.py:73\"",
               "file /p/test_basic.py, line 73\n  def t(no_such_fixture):\n"
               "E       fixture 'no_such_fixture' not found\n>       available fixtures: a\n\n"
               "/p/test_basic.py:73",
               "fixture 'no_such_fixture' not found");
    expect_msg("collection failure",
               "Traceback:\ntest_import_error.py:1: in <module>\n    import no_such\n"
               "E   ModuleNotFoundError: No module named 'no_such'",
               "ModuleNotFoundError: No module named 'no_such'");
    expect_msg("collection failure",
               "x.py:50: in parse\nE     File \"/p/test_syntax.py\", line 1\n"
               "E       def test_broken(:\nE                       ^\nE   SyntaxError: invalid syntax",
               "SyntaxError: invalid syntax");
    /* doctests (7.2.1 writes no `E ` lines for them) */
    expect_msg("001 A doctest\n005     >>> print(\"actual\")\nExpected:\n    expected\nGot:\n    actual\n"
               "\n/p/test_doc.txt:5: DocTestFailure",
               "001 A doctest\n005     >>> print(\"actual\")\nExpected:\n    expected\nGot:\n    actual\n"
               "\n/p/test_doc.txt:5: DocTestFailure",
               "Expected: expected, Got: actual");
    expect_msg("x", "003     >>> f()\nExpected:\n    1\nGot nothing\n\n/p/m.py:3: DocTestFailure",
               "Expected: 1, Got: nothing");
    expect_msg("x",
               "004     >>> 1/0\nUNEXPECTED EXCEPTION: ZeroDivisionError('division by zero')\n"
               "Traceback (most recent call last):\n  File \"<doctest m.f[0]>\", line 1, in <module>\n"
               "ZeroDivisionError: division by zero\n/p/m.py:4: UnexpectedException",
               "UNEXPECTED EXCEPTION: ZeroDivisionError('division by zero')");
    expect_msg("x", "Differences (unified diff):\n@@ -1 +1 @@\n\n/p/m.py:4: DocTestFailure",
               "DocTestFailure");
    /* empty/absent message: last E line, else the first line of the text */
    expect_msg("", "a\nE   ValueError: v\nb", "ValueError: v");
    expect_msg(NULL, "first\nsecond", "first");
    expect_msg(NULL, NULL, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

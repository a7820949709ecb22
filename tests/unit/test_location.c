/* Unit tests for location.c: where a failure is, on literal failure texts copied from real
 * pytest 7.2.1 runs of tests/fixtures/proj_* (see tests/fixtures/xml/). Messages:
 * test_failmsg.c; node ids: test_nodeid.c; paths and the PathCache: test_path.c. */
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

#include "testutil.h"

#include "parse/location.h"
#include "base/strbuf.h"

/* Locate `text` for a testcase of proj_fail (started in `start_rel` under proj_fail). */
typedef struct {
    char *root;
    char *start;
    LocationSite site;
} Loc;

static void locate_in(Loc *l, const char *proj, const char *start_rel, const char *text,
                      const char *file, int line0)
{
    l->root = fixture_path(proj);
    l->start = path_normalize(l->root, start_rel);
    LocationDirs dirs = {l->root, l->start, NULL};
    PathCache cache;
    path_cache_init(&cache);
    assert_int_equal(location_find(text, file, line0, &dirs, &cache, &l->site), 0);
    path_cache_destroy(&cache);
}

static void loc_free(Loc *l)
{
    free(l->root);
    free(l->start);
    location_site_destroy(&l->site);
}

/* Assert file (relative to the project) and line of (a), and of (b) (NULL = none). */
static void expect(const Loc *l, const char *file, int line, const char *crash, int crash_line)
{
    char *want = path_normalize(l->root, file);
    assert_non_null(l->site.file);
    assert_string_equal(l->site.file, want);
    assert_int_equal(l->site.line, line);
    free(want);
    if (crash == NULL) {
        assert_null(l->site.crash_file);
        assert_int_equal(l->site.crash_line, 0);
    } else {
        want = path_normalize(l->root, crash);
        assert_non_null(l->site.crash_file);
        assert_string_equal(l->site.crash_file, want);
        assert_int_equal(l->site.crash_line, crash_line);
        free(want);
    }
}

/* ---- location_find on real texts ----------------------------------------------------------- */

static void test_assert_line_not_def_line(void **state)
{
    (void)state;
    Loc l;
    locate_in(&l, "proj_fail", ".",
              "def test_assert_eq():\n        x = 3\n>       assert x == 4\nE       assert 3 == 4\n"
              "\ntest_basic.py:12: AssertionError",
              "test_basic.py", 9);
    expect(&l, "test_basic.py", 12, NULL, 0);
    loc_free(&l);
}

static const char helper_auto[] =
    "def test_helper_crash():\n"
    "        # average([]) raises ZeroDivisionError inside helpers/calc.py\n"
    ">       assert average([]) == 0\n\ntest_basic.py:17: \n"
    "_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ \n"
    "helpers/calc.py:8: in average\n    return divide(sum(values), len(values))\n"
    "_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ \n\n"
    "a = 0, b = 0\n\n    def divide(a, b):\n        if b == 0:\n"
    ">           raise ZeroDivisionError(\"cannot divide %r by zero\" % (a,))\n"
    "E           ZeroDivisionError: cannot divide 0 by zero\n\n"
    "helpers/calc.py:3: ZeroDivisionError";

static void test_helper_module_crash_site(void **state)
{
    (void)state;
    Loc l;
    locate_in(&l, "proj_fail", ".", helper_auto, "test_basic.py", 14);
    expect(&l, "test_basic.py", 17, "helpers/calc.py", 3);
    loc_free(&l);
}

static void test_setup_and_teardown_errors(void **state)
{
    (void)state;
    Loc l;
    locate_in(&l, "proj_fail", ".",
              "@pytest.fixture\n    def broken_setup():\n>       raise RuntimeError(\"setup exploded\")\n"
              "E       RuntimeError: setup exploded\n\nconftest.py:11: RuntimeError",
              "test_basic.py", 19);
    /* (a) the test's def line (xunit1 line + 1), (b) the fixture in conftest.py */
    expect(&l, "test_basic.py", 20, "conftest.py", 11);
    loc_free(&l);
    locate_in(&l, "proj_fail", ".",
              "@pytest.fixture\n    def broken_teardown():\n        yield 42\n"
              ">       raise ValueError(\"teardown exploded\")\nE       ValueError: teardown exploded\n"
              "\nconftest.py:17: ValueError",
              "test_basic.py", 27);
    expect(&l, "test_basic.py", 28, "conftest.py", 17);
    loc_free(&l);
}

static void test_fixture_not_found(void **state)
{
    (void)state;
    char *abs = fixture_path("proj_fail/test_basic.py");
    StrBuf t = STRBUF_INIT;
    strbuf_printf(&t,
                  "file %s, line 73\n  def test_missing_fixture(no_such_fixture):\n"
                  "E       fixture 'no_such_fixture' not found\n>       available fixtures: "
                  "capfd, tmp_path\n>       use 'pytest --fixtures [testpath]' for help on them.\n"
                  "\n%s:73",
                  abs, abs);
    Loc l;
    locate_in(&l, "proj_fail", ".", strbuf_cstr(&t), "test_basic.py", 72);
    expect(&l, "test_basic.py", 73, NULL, 0);
    loc_free(&l);
    strbuf_destroy(&t);
    free(abs);
}

static void test_collection_errors(void **state)
{
    (void)state;
    Loc l;
    /* ImportError: stdlib frame exists but is outside the project */
    locate_in(&l, "proj_collect", ".",
              "ImportError while importing test module '/x/proj_collect/test_import_error.py'.\n"
              "Hint: make sure your test modules/packages have valid Python names.\nTraceback:\n"
              "/usr/lib/python3.11/importlib/__init__.py:126: in import_module\n"
              "    return _bootstrap._gcd_import(name[level:], package, level)\n"
              "test_import_error.py:1: in <module>\n"
              "    import no_such_module_pytestmon  # noqa: F401\n"
              "E   ModuleNotFoundError: No module named 'no_such_module_pytestmon'",
              "test_import_error.py", -1);
    expect(&l, "test_import_error.py", 1, NULL, 0);
    loc_free(&l);

    /* SyntaxError: the location is only in an `E     File "ABS", line 1` line */
    char *abs = fixture_path("proj_collect/test_syntax.py");
    StrBuf t = STRBUF_INIT;
    strbuf_printf(&t,
                  "/usr/lib/python3/dist-packages/_pytest/python.py:618: in _importtestmodule\n"
                  "    mod = import_path(self.path, mode=importmode, root=self.config.rootpath)\n"
                  "<frozen importlib._bootstrap>:1206: in _gcd_import\n    ???\n"
                  "/usr/lib/python3.11/ast.py:50: in parse\n"
                  "    return compile(source, filename, mode, flags,\n"
                  "E     File \"%s\", line 1\nE       def test_broken(:\nE                       ^\n"
                  "E   SyntaxError: invalid syntax",
                  abs);
    locate_in(&l, "proj_collect", ".", strbuf_cstr(&t), "test_syntax.py", -1);
    expect(&l, "test_syntax.py", 1, NULL, 0);
    loc_free(&l);
    strbuf_destroy(&t);
    free(abs);
}

static void test_decorated_and_no_location(void **state)
{
    (void)state;
    Loc l;
    locate_in(&l, "proj_fail", ".",
              "@pytest.mark.slow_marker_unused\n    @trace\n    def test_decorated():\n"
              "        a = [1, 2, 3]\n>       assert sum(a) == 7\nE       assert 6 == 7\n"
              "E        +  where 6 = sum([1, 2, 3])\n\ntests/test_math.py:21: AssertionError",
              "tests/test_math.py", 16);
    expect(&l, "tests/test_math.py", 21, NULL, 0);
    loc_free(&l);
    /* --tb=line: no location in the text -> def line = first decorator (0-based 16 -> 17) */
    locate_in(&l, "proj_fail", ".", "E   assert 6 == 7", "tests/test_math.py", 16);
    expect(&l, "tests/test_math.py", 17, NULL, 0);
    loc_free(&l);
    /* strict xpass: only "[XPASS(strict)] reason" */
    locate_in(&l, "proj_fail", ".", "[XPASS(strict)] fixed now", "test_basic.py", 46);
    expect(&l, "test_basic.py", 47, NULL, 0);
    loc_free(&l);
    /* no line attribute at all (collection error without a traceback) */
    locate_in(&l, "proj_fail", ".", "", "test_basic.py", -1);
    expect(&l, "test_basic.py", 1, NULL, 0);
    loc_free(&l);
    locate_in(&l, "proj_fail", ".", NULL, "test_basic.py", -1);
    expect(&l, "test_basic.py", 1, NULL, 0);
    loc_free(&l);
}

static void test_tb_short_and_native(void **state)
{
    (void)state;
    Loc l;
    locate_in(&l, "proj_fail", ".",
              "test_basic.py:17: in test_helper_crash\n    assert average([]) == 0\n"
              "helpers/calc.py:8: in average\n    return divide(sum(values), len(values))\n"
              "helpers/calc.py:3: in divide\n"
              "    raise ZeroDivisionError(\"cannot divide %r by zero\" % (a,))\n"
              "E   ZeroDivisionError: cannot divide 0 by zero",
              "test_basic.py", 14);
    expect(&l, "test_basic.py", 17, "helpers/calc.py", 3);
    loc_free(&l);

    char *t = fixture_path("proj_fail/test_basic.py");
    char *c = fixture_path("proj_fail/helpers/calc.py");
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb,
                  "Traceback (most recent call last):\n"
                  "  File \"%s\", line 17, in test_helper_crash\n    assert average([]) == 0\n"
                  "  File \"%s\", line 8, in average\n    return divide(sum(values), len(values))\n"
                  "           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
                  "  File \"%s\", line 3, in divide\n"
                  "    raise ZeroDivisionError(\"cannot divide %%r by zero\" %% (a,))\n"
                  "ZeroDivisionError: cannot divide 0 by zero",
                  t, c, c);
    locate_in(&l, "proj_fail", ".", strbuf_cstr(&sb), "test_basic.py", 14);
    expect(&l, "test_basic.py", 17, "helpers/calc.py", 3);
    loc_free(&l);
    strbuf_destroy(&sb);
    free(t);
    free(c);
}

static void test_chained_takes_last_section(void **state)
{
    (void)state;
    Loc l;
    locate_in(&l, "proj_fail", ".",
              "def test_chained():\n        try:\n>           {}[\"missing\"]\n"
              "E           KeyError: 'missing'\n\ntest_basic.py:63: KeyError\n\n"
              "The above exception was the direct cause of the following exception:\n\n"
              "    def test_chained():\n        try:\n            {}[\"missing\"]\n"
              "        except KeyError as e:\n>           raise RuntimeError(\"wrapped\") from e\n"
              "E           RuntimeError: wrapped\n\ntest_basic.py:65: RuntimeError",
              "test_basic.py", 60);
    expect(&l, "test_basic.py", 65, NULL, 0);
    loc_free(&l);
    /* "During handling" in native style: the helper frame of the first section is ignored */
    char *t = fixture_path("proj_fail/test_basic.py");
    char *c = fixture_path("proj_fail/helpers/calc.py");
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb,
                  "Traceback (most recent call last):\n  File \"%s\", line 3, in divide\n"
                  "ZeroDivisionError: x\n\n"
                  "During handling of the above exception, another exception occurred:\n\n"
                  "Traceback (most recent call last):\n  File \"%s\", line 65, in test_chained\n"
                  "RuntimeError: wrapped",
                  c, t);
    locate_in(&l, "proj_fail", ".", strbuf_cstr(&sb), "test_basic.py", 60);
    expect(&l, "test_basic.py", 65, NULL, 0);
    loc_free(&l);
    strbuf_destroy(&sb);
    free(t);
    free(c);
}

static void test_reprs_and_escapes_are_not_locations(void **state)
{
    (void)state;
    Loc l;
    /* a repr that looks like a location (nonexistent file), a real file inside an E line,
     * and the literal "#x1B" of an escaped ESC */
    locate_in(&l, "proj_fail", ".",
              "def test_repr_looks_like_location():\n        x = \"nowhere.py:12: fake\"\n"
              ">       assert x == \"elsewhere\"\n"
              "E       AssertionError: assert 'nowhere.py:12: fake' == 'elsewhere'\n"
              "E         + conftest.py:3: looks real\n"
              "nowhere.py:12: fake\n"
              "E         + #x1B[31mred\n"
              "\ntest_basic.py:70: AssertionError",
              "test_basic.py", 67);
    expect(&l, "test_basic.py", 70, NULL, 0);
    loc_free(&l);
    /* a directory is not a regular file */
    locate_in(&l, "proj_fail", ".", "tests:3: nope\nhelpers:1", "test_basic.py", 9);
    expect(&l, "test_basic.py", 10, NULL, 0);
    loc_free(&l);
}

static void test_paths_spaces_unicode_unnormalised(void **state)
{
    (void)state;
    Loc l;
    locate_in(&l, "proj_fail", ".",
              "def test_unicode():\n        s = \"h\xc3\xa9llo\"\n>       assert s == \"hello\"\n"
              "E       AssertionError: assert 'h\xc3\xa9llo' == 'hello'\n\n"
              "tests/sub/test_spaced name \xc3\xa9.py:3: AssertionError",
              "tests/sub/test_spaced name \xc3\xa9.py", 0);
    expect(&l, "tests/sub/test_spaced name \xc3\xa9.py", 3, NULL, 0);
    loc_free(&l);
    locate_in(&l, "proj_fail", ".", "tests/../test_basic.py:12: AssertionError", "test_basic.py",
              9);
    expect(&l, "test_basic.py", 12, NULL, 0);
    loc_free(&l);
}

/* pytest started in proj_fail/tests: traceback paths are relative to that directory. */
static void test_start_dir_differs_from_rootdir(void **state)
{
    (void)state;
    Loc l;
    locate_in(&l, "proj_fail", "tests",
              "def test_add():\n>       assert 1 + 1 == 3\nE       assert (1 + 1) == 3\n\n"
              "test_math.py:14: AssertionError",
              "tests/test_math.py", 12);
    expect(&l, "tests/test_math.py", 14, NULL, 0);
    loc_free(&l);
    /* inherited test: `file` is the base class's module */
    locate_in(&l, "proj_fail", "tests",
              "    def test_inherited(self):\n>       assert self.value == 1\nE       AssertionError\n"
              "\nbase.py:5: AssertionError",
              "tests/base.py", 3);
    expect(&l, "tests/base.py", 5, NULL, 0);
    loc_free(&l);
    /* a helper above the start dir */
    locate_in(&l, "proj_fail", "tests",
              "../test_basic.py:17: in test_helper_crash\n    x\n../helpers/calc.py:3: in divide\n"
              "    y\nE   ZeroDivisionError: z",
              "test_basic.py", 14);
    expect(&l, "test_basic.py", 17, "helpers/calc.py", 3);
    loc_free(&l);
}

static void test_doctest_location(void **state)
{
    (void)state;
    char *abs = fixture_path("proj_fail/test_doc.txt");
    StrBuf t = STRBUF_INIT;
    strbuf_printf(&t,
                  "001 A doctest file, collected by pytest's default --doctest-glob (test*.txt).\n"
                  "002 \n003     >>> 1 + 1\n004     2\n005     >>> print(\"actual\")\nExpected:\n"
                  "    expected\nGot:\n    actual\n\n%s:5: DocTestFailure",
                  abs);
    Loc l;
    locate_in(&l, "proj_fail", ".", strbuf_cstr(&t), "test_doc.txt", 0);
    expect(&l, "test_doc.txt", 5, NULL, 0);
    loc_free(&l);
    strbuf_destroy(&t);
    free(abs);
}

/* Temp project: venv/site-packages frames are not crash sites; symlinked rootdir; `  |` frames. */
static char tmpdir[TMP_PATH_MAX];

static void write_file(const char *rel, const char *content)
{
    StrBuf p = STRBUF_INIT;
    strbuf_printf(&p, "%s/%s", tmpdir, rel);
    /* mkdir -p for the parent */
    for (char *s = p.data + strlen(tmpdir) + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(p.data, 0700);
            *s = '/';
        }
    FILE *f = fopen(p.data, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    strbuf_destroy(&p);
}

static int setup_tmp(void **state)
{
    (void)state;
    tmp_template(tmpdir, "pytestmon-loc");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    write_file("proj/test_a.py", "def test_x():\n    pass\n");
    write_file("proj/src/helper.py", "x = 1\n");
    write_file("proj/.venv/lib/python3.11/site-packages/lib.py", "y = 2\n");
    write_file("proj/venv2/site-packages/other.py", "z = 3\n");
    write_file("proj/testing/test_t.py", "def test_t():\n    h()\n");
    write_file("proj/py/lib/python3.11/json/decoder.py", "w = 4\n");
    StrBuf a = STRBUF_INIT, b = STRBUF_INIT;
    strbuf_printf(&a, "%s/proj", tmpdir);
    strbuf_printf(&b, "%s/link", tmpdir);
    int rc = symlink(a.data, b.data);
    strbuf_destroy(&a);
    strbuf_destroy(&b);
    return rc;
}

static int teardown_tmp(void **state)
{
    (void)state;
    StrBuf cmd = STRBUF_INIT;
    strbuf_printf(&cmd, "rm -rf '%s'", tmpdir);
    int rc = system(cmd.data);
    strbuf_destroy(&cmd);
    return rc == 0 ? 0 : -1;
}

static void test_venv_frames_and_symlinks(void **state)
{
    (void)state;
    StrBuf root = STRBUF_INIT, link = STRBUF_INIT, text = STRBUF_INIT;
    strbuf_printf(&root, "%s/proj", tmpdir);
    strbuf_printf(&link, "%s/link", tmpdir);
    strbuf_printf(&text,
                  "test_a.py:2: in test_x\n    pass\nsrc/helper.py:1: in h\n    x\n"
                  ".venv/lib/python3.11/site-packages/lib.py:1: in l\n    y\n"
                  "%s/venv2/site-packages/other.py:1: ValueError",
                  root.data);
    LocationDirs dirs = {root.data, root.data, NULL};
    LocationSite s;
    location_find(text.data, "test_a.py", 0, &dirs, NULL, &s);
    assert_int_equal(s.line, 2);
    assert_non_null(strstr(s.crash_file, "/proj/src/helper.py"));
    assert_int_equal(s.crash_line, 1);
    location_site_destroy(&s);

    /* rootdir given through a symlink, traceback paths absolute and real */
    strbuf_reset(&text);
    strbuf_printf(&text, "%s/test_a.py:2: in test_x\n    pass\n%s/src/helper.py:1: Err",
                  root.data, root.data);
    dirs = (LocationDirs){link.data, link.data, link.data};
    location_find(text.data, "test_a.py", 0, &dirs, NULL, &s);
    assert_int_equal(s.line, 2);
    assert_non_null(strstr(s.file, "/link/test_a.py"));
    assert_non_null(s.crash_file);
    assert_int_equal(s.crash_line, 1);
    location_site_destroy(&s);

    /* ExceptionGroup frames carry a "  |" prefix */
    strbuf_reset(&text);
    strbuf_printf(&text,
                  "  + Exception Group Traceback (most recent call last):\n"
                  "  |   File \"%s/test_a.py\", line 2, in test_x\n"
                  "  | ExceptionGroup: g (1 sub-exception)\n"
                  "  +-+---------------- 1 ----------------\n"
                  "    | Traceback (most recent call last):\n"
                  "    |   File \"%s/src/helper.py\", line 1, in h\n"
                  "    | ValueError: v\n    +------------------------------------",
                  root.data, root.data);
    dirs = (LocationDirs){root.data, root.data, NULL};
    location_find(text.data, "test_a.py", 0, &dirs, NULL, &s);
    assert_int_equal(s.line, 2);
    assert_non_null(strstr(s.crash_file, "/src/helper.py"));
    location_site_destroy(&s);

    /* no `file` attribute (internal error / xunit2): best effort from the project frames */
    location_find("src/helper.py:1: in h", NULL, -1, &dirs, NULL, &s);
    assert_non_null(strstr(s.file, "/src/helper.py"));
    assert_int_equal(s.line, 1);
    assert_null(s.crash_file);
    location_site_destroy(&s);
    location_find("nothing here", NULL, -1, &dirs, NULL, &s);
    assert_null(s.file);
    assert_int_equal(s.line, 0);
    location_site_destroy(&s);

    strbuf_destroy(&root);
    strbuf_destroy(&link);
    strbuf_destroy(&text);
}

/* pytest started in proj/testing (its own root): the crash in ../src is still a location, an
 * installed interpreter's standard library is not. */
static void test_crash_site_outside_the_root(void **state)
{
    (void)state;
    StrBuf root = STRBUF_INIT, text = STRBUF_INIT;
    strbuf_printf(&root, "%s/proj/testing", tmpdir);
    strbuf_printf(&text,
                  "test_t.py:2: in test_t\n    h()\n../src/helper.py:1: in h\n    x\n"
                  "%s/proj/py/lib/python3.11/json/decoder.py:1: ValueError",
                  tmpdir);
    LocationDirs dirs = {root.data, root.data, NULL};
    LocationSite s;
    location_find(text.data, "test_t.py", 0, &dirs, NULL, &s);
    assert_non_null(strstr(s.file, "/proj/testing/test_t.py"));
    assert_int_equal(s.line, 2);
    assert_non_null(s.crash_file);
    assert_non_null(strstr(s.crash_file, "/proj/src/helper.py"));
    assert_int_equal(s.crash_line, 1);
    location_site_destroy(&s);
    /* A sibling checkout's installed copy (site-packages) outside the root is still library code. */
    strbuf_reset(&text);
    strbuf_printf(&text, "test_t.py:2: in test_t\n    h()\n../venv2/site-packages/other.py:1: E");
    location_find(text.data, "test_t.py", 0, &dirs, NULL, &s);
    assert_null(s.crash_file);
    location_site_destroy(&s);
    strbuf_destroy(&root);
    strbuf_destroy(&text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assert_line_not_def_line),
        cmocka_unit_test(test_helper_module_crash_site),
        cmocka_unit_test(test_setup_and_teardown_errors),
        cmocka_unit_test(test_fixture_not_found),
        cmocka_unit_test(test_collection_errors),
        cmocka_unit_test(test_decorated_and_no_location),
        cmocka_unit_test(test_tb_short_and_native),
        cmocka_unit_test(test_chained_takes_last_section),
        cmocka_unit_test(test_reprs_and_escapes_are_not_locations),
        cmocka_unit_test(test_paths_spaces_unicode_unnormalised),
        cmocka_unit_test(test_start_dir_differs_from_rootdir),
        cmocka_unit_test(test_doctest_location),
        cmocka_unit_test_setup_teardown(test_venv_frames_and_symlinks, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_crash_site_outside_the_root, setup_tmp, teardown_tmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

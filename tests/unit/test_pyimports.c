/* Unit tests for pyimports: import statements found in literal Python sources. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "parse/pyimports.h"
#include "base/strbuf.h"
#include "testutil.h"

/* The names found, joined with spaces. */
static char *found(const char *src, const char *package, PyImports *out)
{
    pyimports_init(out);
    pyimports_parse(src, strlen(src), package, out);
    StrBuf sb = STRBUF_INIT;
    for (size_t i = 0; i < out->n; i++)
        strbuf_printf(&sb, "%s%s", i ? " " : "", out->names[i]);
    return strbuf_detach(&sb);
}

static void check(const char *src, const char *package, const char *want)
{
    PyImports im;
    char *got = found(src, package, &im);
    assert_string_equal(got, want);
    free(got);
    pyimports_destroy(&im);
}

static void test_plain_imports(void **state)
{
    (void)state;
    check("import os\nimport a.b as c, d\n", "", "os a.b d");
    check("import a.b.c", "", "a.b.c");
}

static void test_from_imports(void **state)
{
    (void)state;
    check("from a import b, c\n", "", "a a.b a.c");
    check("from a.b import c as d\n", "", "a.b a.b.c");
    check("from a import *\n", "", "a");
}

static void test_relative_imports(void **state)
{
    (void)state;
    check("from . import x\n", "pkg.sub", "pkg.sub pkg.sub.x");
    check("from .m import y\n", "pkg", "pkg.m pkg.m.y");
    check("from ..other import y\n", "pkg.sub", "pkg.other pkg.other.y");
    check("from ... import z\n", "a.b.c", "a a.z");
    PyImports im;
    char *got = found("from .. import x\nimport ok\n", "pkg", &im);
    assert_string_equal(got, "ok");
    assert_int_equal(im.unresolved, 1);
    free(got);
    pyimports_destroy(&im);
    got = found("from . import x\n", "", &im);
    assert_string_equal(got, "");
    assert_int_equal(im.unresolved, 1);
    free(got);
    pyimports_destroy(&im);
}

static void test_parenthesised_multiline(void **state)
{
    (void)state;
    check("from a import (\n    b,  # comment\n    c as cc,\n)\nimport d\n", "", "a a.b a.c d");
    check("from a import b, \\\n    c\n", "", "a a.b a.c");
    check("import a, \\\n  b\n", "", "a b");
}

static void test_nested_blocks_count(void **state)
{
    (void)state;
    check("def f():\n    import inner\n"
          "try:\n    import fast\nexcept ImportError:\n    import slow\n"
          "if x: import one; import two\n"
          "class C:\n    from k import v\n",
          "", "inner fast slow one two k k.v");
}

static void test_strings_comments_docstrings_ignored(void **state)
{
    (void)state;
    check("\"\"\"Docstring\nimport not_this\nfrom nope import x\n\"\"\"\n"
          "# import commented\n"
          "s = 'import quoted'\n"
          "t = r'''\nimport raw\n'''\n"
          "u = f\"{x} import fstr\"\n"
          "v = b'\\' import esc'\n"
          "w = (\n  'import in brackets'\n)\n"
          "import real\n",
          "", "real");
    /* `from` that does not start a statement */
    check("raise E from err\nx = yield from gen\nimport y\n", "", "y");
    /* words that merely contain import */
    check("importer = 1\nreimport()\nmy.import_x = 2\n", "", "");
}

static void test_dynamic_imports(void **state)
{
    (void)state;
    PyImports im;
    char *got = found("import importlib\nm = importlib.import_module(name)\n", "", &im);
    assert_string_equal(got, "importlib");
    assert_true(im.dynamic);
    free(got);
    pyimports_destroy(&im);
    /* A literal module name is an ordinary import. */
    got = found("np = import_module('numpy', min_module_version='1.0')\nm = __import__( \"a.b\" )\n", "", &im);
    assert_string_equal(got, "numpy a.b");
    assert_false(im.dynamic);
    free(got);
    pyimports_destroy(&im);
    /* ... but not an f-string, a relative name, a concatenation or a non-name. */
    const char *unknown[] = {"import_module(f'x{y}')", "import_module('.x', 'pkg')", "import_module('a' + b)",
                             "__import__('a b')", "import_module('x"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        got = found(unknown[i], "", &im);
        assert_string_equal(got, "");
        assert_true(im.dynamic);
        free(got);
        pyimports_destroy(&im);
    }
    got = found("m = __import__ (name)\n", "", &im);
    assert_true(im.dynamic);
    free(got);
    pyimports_destroy(&im);
    got = found("name = 'import_module'\nimport_module = 1\n", "", &im);
    assert_false(im.dynamic);
    free(got);
    pyimports_destroy(&im);
}

static void test_garbage_does_not_crash(void **state)
{
    (void)state;
    check("from", "", "");
    check("from . import", "p", "p"); /* the package itself is imported */
    check("import", "", "");
    check("from a import (b,", "", "a a.b");
    check("'''unterminated\nimport x", "", "");
    check("))) import a\nimport b", "", "b");
    check("from .", "p", "");
    check("import a.", "", "a");
    check("\xff\xfe import \xc3\xa9t\xc3\xa9\n", "", "");
    check("import \xc3\xa9t\xc3\xa9\n", "", "\xc3\xa9t\xc3\xa9");
}

static void test_read_wrapper(void **state)
{
    (void)state;
    char path[TMP_PATH_MAX];
    tmp_template(path, "pytestmon-pyimports");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *src = "from .b import c\n";
    assert_int_equal(write(fd, src, strlen(src)), (ssize_t)strlen(src));
    close(fd);
    PyImports im;
    pyimports_init(&im);
    /* Over the size limit: not read. */
    assert_int_equal(pyimports_read(path, "p", strlen(src) - 1, &im), -EFBIG);
    assert_int_equal(im.n, 0);
    assert_int_equal(pyimports_read(path, "p", strlen(src), &im), 0);
    assert_int_equal(im.n, 2);
    assert_string_equal(im.names[1], "p.b.c");
    pyimports_destroy(&im);
    unlink(path);
    pyimports_init(&im);
    assert_true(pyimports_read(path, "p", 0, &im) < 0);
    assert_int_equal(im.n, 0);
    assert_true(pyimports_read("/", "p", 0, &im) < 0);
    /* A FIFO named like a module: refused at once, not waited on for a writer. */
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(pyimports_read(path, "p", 0, &im), -EINVAL);
    unlink(path);
    pyimports_destroy(&im);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_imports),
        cmocka_unit_test(test_from_imports),
        cmocka_unit_test(test_relative_imports),
        cmocka_unit_test(test_parenthesised_multiline),
        cmocka_unit_test(test_nested_blocks_count),
        cmocka_unit_test(test_strings_comments_docstrings_ignored),
        cmocka_unit_test(test_dynamic_imports),
        cmocka_unit_test(test_garbage_does_not_crash),
        cmocka_unit_test(test_read_wrapper),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

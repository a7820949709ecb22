/* pyplugin: which interpreters surely find the plugin through PYTHONPATH (no probe needed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/strbuf.h"
#include "pytest/pyplugin.h"
#include "testutil.h"

static char *tmpdir_new(void)
{
    char tmpl[TMP_PATH_MAX];
    tmp_template(tmpl, "test_pyplugin");
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static char *join(const char *dir, const char *name)
{
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/%s", dir, name);
    return strbuf_detach(&sb);
}

static void test_python_binary_honours_pythonpath(void **state)
{
    (void)state;
    /* The interpreter the tests run with is Debian's python3 (a link to python3.11, an ELF). */
    assert_true(pyplugin_interpreter_honours_pythonpath("/usr/bin/python3"));
    char *dir = tmpdir_new();
    char *venv_python = join(dir, "python"); /* as a venv's bin/python: a link to the binary */
    assert_int_equal(symlink("/usr/bin/python3", venv_python), 0);
    assert_true(pyplugin_interpreter_honours_pythonpath(venv_python));
    unlink(venv_python);
    rmdir(dir);
    free(venv_python);
    free(dir);
}

static void test_anything_else_is_asked(void **state)
{
    (void)state;
    char *dir = tmpdir_new();
    /* A wrapper script named like Python (it may drop PYTHONPATH: python3 -E "$@"). */
    char *script = join(dir, "python3");
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\nexec /usr/bin/python3 -E \"$@\"\n", f);
    fclose(f);
    chmod(script, 0755);
    assert_false(pyplugin_interpreter_honours_pythonpath(script));
    /* An ELF that is not Python, even behind a link named python3.x. */
    char *fake = join(dir, "python3.99");
    assert_int_equal(symlink("/bin/true", fake), 0);
    assert_false(pyplugin_interpreter_honours_pythonpath(fake));
    assert_false(pyplugin_interpreter_honours_pythonpath("/bin/true"));
    /* Missing, a directory, NULL. */
    char *missing = join(dir, "python3.missing");
    assert_false(pyplugin_interpreter_honours_pythonpath(missing));
    assert_false(pyplugin_interpreter_honours_pythonpath(dir));
    assert_false(pyplugin_interpreter_honours_pythonpath(NULL));
    unlink(script);
    unlink(fake);
    rmdir(dir);
    free(script);
    free(fake);
    free(missing);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_python_binary_honours_pythonpath),
        cmocka_unit_test(test_anything_else_is_asked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* pyplugin: which interpreters surely find the plugin through PYTHONPATH (no probe needed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
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

static char **heap_argv(const char *const *v)
{
    size_t n = 0;
    while (v[n])
        n++;
    char **out = calloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = strdup(v[i]);
    return out;
}

static void free_argv(char **v)
{
    for (size_t i = 0; v[i]; i++)
        free(v[i]);
    free(v);
}

/* What exec cannot take goes to the plugin through a file: a node id over 32 KiB (its path kept
 * in the placeholder), a -k expression; short arguments stay; nothing written when none is
 * long; an unwritable file leaves the arguments as they were. */
static void test_long_arguments_go_through_a_file(void **state)
{
    (void)state;
    char *dir = tmpdir_new();
    char *path = join(dir, "args");
    size_t big = PYPLUGIN_ARG_MAX + 1;
    StrBuf id = STRBUF_INIT, expr = STRBUF_INIT;
    strbuf_puts(&id, "tests/test_big.py::test_big[");
    for (size_t i = 0; i < big; i++)
        strbuf_putc(&id, 'x');
    strbuf_puts(&id, "]");
    for (size_t i = 0; i < big; i++)
        strbuf_putc(&expr, 'y');
    const char *in[] = {"/usr/bin/python3", "-m", "pytest", "-q", strbuf_cstr(&id), "-k", strbuf_cstr(&expr),
                        "t.py::short", NULL};
    char **args = heap_argv(in);
    assert_int_equal(pyplugin_spill_args(args, path), 2);
    assert_string_equal(args[4], "tests/test_big.py::@pytestmon-arg-0");
    assert_string_equal(args[6], "@pytestmon-arg-1");
    assert_string_equal(args[3], "-q");
    assert_string_equal(args[7], "t.py::short");
    StrBuf file = STRBUF_INIT;
    assert_int_equal(strbuf_read_file(&file, path, 0), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    const char *p = file.data;
    assert_string_equal(p, "tests/test_big.py::@pytestmon-arg-0");
    p += strlen(p) + 1;
    assert_string_equal(p, strbuf_cstr(&id));
    p += strlen(p) + 1;
    assert_string_equal(p, "@pytestmon-arg-1");
    p += strlen(p) + 1;
    assert_string_equal(p, strbuf_cstr(&expr));
    p += strlen(p) + 1;
    assert_int_equal((size_t)(p - file.data), file.len);
    free_argv(args);
    unlink(path);

    /* nothing long: nothing written */
    const char *small[] = {"/usr/bin/python3", "-m", "pytest", "t.py::a", NULL};
    args = heap_argv(small);
    assert_int_equal(pyplugin_spill_args(args, path), 0);
    assert_int_equal(access(path, F_OK), -1);
    free_argv(args);

    /* many arguments under the limit each, over the total: the later ones go */
    char **many = calloc(40, sizeof *many);
    for (size_t i = 0; i < 39; i++) {
        many[i] = malloc(PYPLUGIN_ARG_MAX);
        memset(many[i], 'a' + (int)(i % 26), PYPLUGIN_ARG_MAX - 1);
        many[i][PYPLUGIN_ARG_MAX - 1] = '\0';
    }
    int moved = pyplugin_spill_args(many, path);
    assert_int_equal(moved, 39 - (int)(PYPLUGIN_ARGS_MAX / (PYPLUGIN_ARG_MAX - 1)));
    assert_int_equal(strlen(many[0]), PYPLUGIN_ARG_MAX - 1);
    assert_string_equal(many[38], "@pytestmon-arg-22");
    free_argv(many);
    unlink(path);

    /* a file that cannot be written: the arguments stay */
    char *bad = join(dir, "no/such/dir/args");
    args = heap_argv(in);
    assert_int_equal(pyplugin_spill_args(args, bad), -ENOENT);
    assert_string_equal(args[4], strbuf_cstr(&id));
    free_argv(args);

    char **env = calloc(1, sizeof *env);
    env = pyplugin_args_env(env, path);
    StrBuf want = STRBUF_INIT;
    strbuf_printf(&want, "PYTESTMON_ARGS=%s", path);
    assert_string_equal(env[0], strbuf_cstr(&want));
    assert_null(env[1]);
    strbuf_destroy(&want);
    free_argv(env);
    strbuf_destroy(&file);
    strbuf_destroy(&id);
    strbuf_destroy(&expr);
    rmdir(dir);
    free(bad);
    free(path);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_python_binary_honours_pythonpath),
        cmocka_unit_test(test_anything_else_is_asked),
        cmocka_unit_test(test_long_arguments_go_through_a_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

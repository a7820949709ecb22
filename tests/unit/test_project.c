/* Unit tests for project: normalisation, root detection, interpreter choice and the
 * rewriting of relative path arguments, on real directories made in a temp dir. */
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

#include "pytest/project.h"
#include "base/strbuf.h"
#include "testutil.h"

static char tmp[TMP_PATH_MAX];

static void touch(const char *rel, int mode)
{
    StrBuf p = STRBUF_INIT;
    strbuf_printf(&p, "%s/%s", tmp, rel);
    FILE *f = fopen(strbuf_cstr(&p), "w");
    assert_non_null(f);
    fclose(f);
    chmod(strbuf_cstr(&p), (mode_t)mode);
    strbuf_destroy(&p);
}

static void mkd(const char *rel)
{
    StrBuf p = STRBUF_INIT;
    strbuf_printf(&p, "%s/%s", tmp, rel);
    assert_int_equal(mkdir(strbuf_cstr(&p), 0700), 0);
    strbuf_destroy(&p);
}

static char *at(const char *rel)
{
    StrBuf p = STRBUF_INIT;
    strbuf_printf(&p, "%s%s%s", tmp, *rel ? "/" : "", rel);
    return strbuf_detach(&p);
}

static int setup(void **state)
{
    (void)state;
    tmp_template(tmp, "pytestmon-test");
    assert_non_null(mkdtemp(tmp));
    mkd("proj");
    mkd("proj/tests");
    mkd("proj/tests/sub dir");
    mkd("proj/.venv");
    mkd("proj/.venv/bin");
    touch("proj/pyproject.toml", 0644);
    touch("proj/tests/test_a.py", 0644);
    touch("proj/tests/conftest.py", 0644);
    touch("proj/tests/sub dir/test_é.py", 0644);
    touch("proj/.venv/bin/python", 0755);
    mkd("bare");
    mkd("bare/deep");
    mkd("conf");
    mkd("conf/tests");
    mkd("conf/tests/deep");
    touch("conf/tests/conftest.py", 0644);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tmp_remove(tmp);
    return 0;
}

static void expect_abs(const char *base, const char *path, const char *want)
{
    char *got = project_absolute(base, path);
    assert_string_equal(got, want);
    free(got);
}

/* Normalising is base/path.c's (test_path.c); what project adds is "made absolute". */
static void test_absolute(void **state)
{
    (void)state;
    expect_abs("/x", "/a/b/../c/./d//e/", "/a/c/d/e");
    expect_abs("/x", "/..", "/");
    expect_abs("/x", "/a/../../b", "/b");
    expect_abs("/x/y", "../../..", "/");
    expect_abs("rel", "a", "/rel/a"); /* a relative base counts from "/" */
    char *abs = project_absolute("/x/y", "../z/t.py");
    assert_string_equal(abs, "/x/z/t.py");
    free(abs);
}

static void test_find_root(void **state)
{
    (void)state;
    const char *marker;
    /* proj/tests/conftest.py is nearer, but the ini-type file above it wins. */
    char *start = at("proj/tests/sub dir");
    char *want = at("proj");
    char *root = project_find_root(start, &marker);
    assert_string_equal(root, want);
    assert_string_equal(marker, "pyproject.toml");
    free(root);
    free(start);
    /* Starting right in the conftest.py directory changes nothing. */
    start = at("proj/tests");
    root = project_find_root(start, &marker);
    assert_string_equal(root, want);
    assert_string_equal(marker, "pyproject.toml");
    free(root);
    free(start);
    free(want);
    /* No ini-type file anywhere: the nearest conftest.py directory. */
    start = at("conf/tests/deep");
    want = at("conf/tests");
    root = project_find_root(start, &marker);
    assert_string_equal(root, want);
    assert_string_equal(marker, "conftest.py");
    free(root);
    free(start);
    free(want);
    /* No marker anywhere up to / (tmp has none): the start dir itself. */
    start = at("bare/deep");
    root = project_find_root(start, &marker);
    assert_string_equal(root, start);
    assert_null(marker);
    free(root);
    free(start);
}

static void test_start_dir_of_file(void **state)
{
    (void)state;
    char *file = at("proj/tests/test_a.py");
    char *want = at("proj/tests");
    char *dir = project_start_dir(file);
    assert_string_equal(dir, want);
    free(dir);
    free(file);
    free(want);
    assert_null(project_start_dir("/nonexistent/x/y"));
}

static void test_resolve(void **state)
{
    (void)state;
    ProjectChoice c;
    char *cwd = at("bare"), *want = at("proj"), *venv = at("proj/.venv/bin/python");
    /* From the file, relative to cwd; the root's .venv is the interpreter. */
    project_resolve(cwd, "../proj/tests/test_a.py", NULL, NULL, &c);
    assert_string_equal(c.root, want);
    assert_string_equal(c.marker, "pyproject.toml");
    assert_string_equal(c.python, venv);
    assert_string_equal(c.python_why, ".venv in the project root");
    assert_null(c.refused); /* yours, in your directories */
    project_choice_destroy(&c);
    /* A file not written yet: its directory still decides. */
    project_resolve(cwd, "../proj/tests/test_new.py", "/x/python", NULL, &c);
    assert_string_equal(c.root, want);
    assert_string_equal(c.python, "/x/python");
    project_choice_destroy(&c);
    /* No file: from cwd (no marker up to /). */
    project_resolve(cwd, NULL, NULL, NULL, &c);
    assert_string_equal(c.root, cwd);
    assert_null(c.marker);
    assert_string_equal(c.python, "python3");
    project_choice_destroy(&c);
    free(cwd);
    free(want);
    free(venv);
}

static void test_pick_python(void **state)
{
    (void)state;
    const char *why;
    char *root = at("proj");
    char *venv_py = at("proj/.venv/bin/python");
    char *py = project_pick_python("/usr/bin/python3.11", "/some/venv", root, &why, NULL);
    assert_string_equal(py, "/usr/bin/python3.11");
    assert_string_equal(why, "the python option");
    free(py);
    /* $VIRTUAL_ENV without a python in it is skipped: .venv wins. */
    py = project_pick_python(NULL, "/nonexistent/venv", root, &why, NULL);
    assert_string_equal(py, venv_py);
    assert_string_equal(why, ".venv in the project root");
    free(py);
    char *venv = at("proj/.venv");
    py = project_pick_python("", venv, NULL, &why, NULL);
    assert_string_equal(py, venv_py);
    assert_string_equal(why, "$VIRTUAL_ENV");
    free(py);
    char *bare = at("bare");
    py = project_pick_python(NULL, NULL, bare, &why, NULL);
    assert_string_equal(py, "python3");
    free(py);
    free(bare);
    free(venv);
    free(root);
    free(venv_py);
}

/* A venv interpreter another user could have put there is chosen (so that the user hears of
 * it) but refused; the python option still wins; $VIRTUAL_ENV's is judged the same way. */
static void test_refuses_unsafe_venv(void **state)
{
    (void)state;
    mkd("shared");
    mkd("shared/.venv");
    mkd("shared/.venv/bin");
    touch("shared/pytest.ini", 0644);
    touch("shared/.venv/bin/python", 0777);
    char *root = at("shared"), *py = at("shared/.venv/bin/python"), *venv = at("shared/.venv");
    ProjectChoice c;
    project_resolve(root, NULL, NULL, NULL, &c);
    assert_string_equal(c.python, py);
    assert_string_equal(c.python_why, ".venv in the project root");
    assert_non_null(c.refused);
    StrBuf want = STRBUF_INIT;
    strbuf_printf(&want, "refusing interpreter %s: writable by others (mode 0777); "
                         "set the `python` option to run it anyway", py);
    assert_string_equal(c.refused, strbuf_cstr(&want));
    project_choice_destroy(&c);
    /* Not replaced by the next rule (venv/, python3): refused, with the reason. */
    const char *why;
    char *refused = NULL;
    char *got = project_pick_python(NULL, NULL, root, &why, &refused);
    assert_string_equal(got, py);
    assert_non_null(refused);
    free(got);
    free(refused);
    got = project_pick_python(NULL, venv, NULL, &why, &refused);
    assert_string_equal(why, "$VIRTUAL_ENV");
    assert_non_null(refused);
    free(got);
    free(refused);
    /* The explicit choice is the user's: never refused. */
    project_resolve(root, NULL, py, NULL, &c);
    assert_string_equal(c.python, py);
    assert_string_equal(c.python_why, "the python option");
    assert_null(c.refused);
    project_choice_destroy(&c);
    assert_int_equal(chmod(py, 0755), 0);
    project_resolve(root, NULL, NULL, NULL, &c);
    assert_null(c.refused);
    project_choice_destroy(&c);
    /* Group-writable root directory. */
    assert_int_equal(chmod(root, 0770), 0);
    project_resolve(root, NULL, NULL, NULL, &c);
    assert_non_null(c.refused);
    assert_non_null(strstr(c.refused, "is writable by its group (mode 0770)"));
    project_choice_destroy(&c);
    assert_int_equal(chmod(root, 0700), 0);
    if (geteuid() == 0) { /* another user's interpreter: only root can make one here */
        assert_int_equal(chown(py, 65534, 65534), 0);
        project_resolve(root, NULL, NULL, NULL, &c);
        strbuf_reset(&want);
        strbuf_printf(&want, "refusing interpreter %s: owned by uid 65534 (not you or root); "
                             "set the `python` option to run it anyway", py);
        assert_non_null(c.refused);
        assert_string_equal(c.refused, strbuf_cstr(&want));
        project_choice_destroy(&c);
        assert_int_equal(chown(py, 0, 0), 0);
    }
    strbuf_destroy(&want);
    free(root);
    free(py);
    free(venv);
}

static void test_rewrite_args(void **state)
{
    (void)state;
    char *cwd = at("proj/tests");
    char *const args[] = {"test_a.py::test_x[1-2]", "-k", "test_a.py", "sub dir", "missing.py",
                          "--ignore", "sub dir", "--deselect=test_a.py::t", "-x", "-o",
                          "junit_family=xunit2", "--tb=short", "/abs/path.py"};
    char **out = project_rewrite_args(cwd, args, sizeof args / sizeof args[0]);
    char *a = at("proj/tests/test_a.py::test_x[1-2]");
    char *sub = at("proj/tests/sub dir");
    char *desel = at("proj/tests/test_a.py::t");
    StrBuf d = STRBUF_INIT;
    strbuf_printf(&d, "--deselect=%s", desel);
    assert_string_equal(out[0], a);
    assert_string_equal(out[1], "-k");
    assert_string_equal(out[2], "test_a.py");   /* an option's value, not a path */
    assert_string_equal(out[3], sub);
    assert_string_equal(out[4], "missing.py");  /* pytest reports it missing itself */
    assert_string_equal(out[5], "--ignore");
    assert_string_equal(out[6], sub);
    assert_string_equal(out[7], strbuf_cstr(&d));
    assert_string_equal(out[8], "-x");
    assert_string_equal(out[10], "junit_family=xunit2");
    assert_string_equal(out[11], "--tb=short");
    assert_string_equal(out[12], "/abs/path.py");
    assert_null(out[13]);
    project_free_argv(out);
    strbuf_destroy(&d);
    free(a);
    free(sub);
    free(desel);
    free(cwd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_absolute),
        cmocka_unit_test(test_find_root),
        cmocka_unit_test(test_start_dir_of_file),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_pick_python),
        cmocka_unit_test(test_refuses_unsafe_venv),
        cmocka_unit_test(test_rewrite_args),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* Unit tests for base/pathmap.c: host <-> inside paths (the path_map option). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/pathmap.h"

static char *const MAP[] = {"/app", "/home/me/proj", "/app/vendor", "/srv/vendor", "/data/", "/mnt/d"};
#define NMAP (sizeof MAP / sizeof *MAP)

static void check(char *(*fn)(char *const *, size_t, const char *), const char *in, const char *want)
{
    char *got = fn(MAP, NMAP, in);
    assert_string_equal(got, want);
    free(got);
}

static void test_forward_and_back(void **state)
{
    (void)state;
    check(pathmap_forward, "/home/me/proj", "/app");
    check(pathmap_forward, "/home/me/proj/tests/t.py", "/app/tests/t.py");
    check(pathmap_forward, "/home/me/project/t.py", "/home/me/project/t.py"); /* not a component */
    check(pathmap_forward, "/srv/vendor/x.py", "/app/vendor/x.py");
    check(pathmap_forward, "/mnt/d/f", "/data/f");
    check(pathmap_forward, "/elsewhere", "/elsewhere");
    check(pathmap_back, "/app/tests/t.py", "/home/me/proj/tests/t.py");
    check(pathmap_back, "/app/vendor/x.py", "/srv/vendor/x.py"); /* the longest entry wins */
    check(pathmap_back, "/apple/x", "/apple/x");
    check(pathmap_back, "/data", "/mnt/d");
    check(pathmap_back, "/usr/lib/python3/x.py", "/usr/lib/python3/x.py");
}

static void test_root_entries(void **state)
{
    (void)state;
    char *const m[] = {"/", "/chroot"};
    char *p = pathmap_forward(m, 2, "/chroot/a/b");
    assert_string_equal(p, "/a/b");
    free(p);
    p = pathmap_back(m, 2, "/a/b");
    assert_string_equal(p, "/chroot/a/b");
    free(p);
    p = pathmap_forward(m, 2, "/chroot");
    assert_string_equal(p, "/");
    free(p);
}

static void test_values(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"/home/me/proj/t.py::TestA::test_b[/home/me/proj]", "/app/t.py::TestA::test_b[/home/me/proj]"},
        {"--cov=/home/me/proj", "--cov=/app"},
        {"--junitxml=/mnt/d/j.xml", "--junitxml=/data/j.xml"},
        {"-k", "-k"},
        {"--cov=src", "--cov=src"},
        {"/mnt/d/py:/usr/lib:/home/me/proj", "/data/py:/usr/lib:/app"},
        {"tests/t.py::x", "tests/t.py::x"},
        {"1", "1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *v = pathmap_forward_value(MAP, NMAP, cases[i][0]);
        assert_string_equal(v, cases[i][1]);
        free(v);
    }
}

static void test_env_and_check(void **state)
{
    (void)state;
    char *const m[] = {"/a\"b", "/h\\x"};
    char *e = pathmap_env(m, 2);
    assert_string_equal(e, "PYTESTMON_PATHMAP=[[\"/a\\\"b\",\"/h\\\\x\"]]");
    free(e);
    e = pathmap_env(NULL, 0);
    assert_string_equal(e, "PYTESTMON_PATHMAP=[]");
    free(e);
    assert_null(pathmap_check(MAP, NMAP));
    assert_non_null(pathmap_check(MAP, 3));
    char *const rel[] = {"app", "/h"};
    assert_non_null(pathmap_check(rel, 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_and_back),
        cmocka_unit_test(test_root_entries),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_env_and_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for frames_locate(): the plugin's exact frames -> where a failure is shown. */
#include <errno.h>
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

#include "parse/frames.h"
#include "base/strbuf.h"
#include "testutil.h"

static void expect_site(const char *frames, const char *test_file, int def_line, const char *file,
                        int line, const char *crash_file, int crash_line)
{
    LocationSite s;
    assert_int_equal(frames_locate(frames, test_file, def_line, &s), 0);
    if (file) {
        assert_non_null(s.file);
        assert_string_equal(s.file, file);
    } else {
        assert_null(s.file);
    }
    assert_int_equal(s.line, line);
    if (crash_file) {
        assert_non_null(s.crash_file);
        assert_string_equal(s.crash_file, crash_file);
    } else {
        assert_null(s.crash_file);
    }
    assert_int_equal(s.crash_line, crash_line);
    location_site_destroy(&s);
}

static void test_sites(void **state)
{
    (void)state;
    /* the failing assert in the test itself */
    expect_site("[[\"/p/t.py\", 12]]", "/p/t.py", 9, "/p/t.py", 12, NULL, 0);
    /* raised in a helper: the call in the test, and the crash site in the helper */
    expect_site("[[\"/p/t.py\", 17], [\"/p/h.py\", 8], [\"/p/h.py\", 3]]", "/p/t.py", 15, "/p/t.py", 17,
                "/p/h.py", 3);
    /* a fixture in conftest.py: the test file never appears: its def line, and the crash site */
    expect_site("[[\"/p/conftest.py\", 11]]", "/p/t.py", 19, "/p/t.py", 19, "/p/conftest.py", 11);
    /* outside the directory pytest ran in is still a place */
    expect_site("[[\"/p/testing/t.py\", 5], [\"/p/src/m.py\", 32]]", "/p/testing/t.py", 4,
                "/p/testing/t.py", 5, "/p/src/m.py", 32);
    /* a helper defined in the test file itself: the last frame there */
    expect_site("[[\"/p/t.py\", 6], [\"/p/t.py\", 3]]", "/p/t.py", 5, "/p/t.py", 3, NULL, 0);
    /* no test file known: the crash site is the site */
    expect_site("[[\"/p/h.py\", 3]]", NULL, 0, "/p/h.py", 3, NULL, 0);
    /* unnormalised paths are normalised */
    expect_site("[[\"/p/a/../t.py\", 2]]", "/p/t.py", 1, "/p/t.py", 2, NULL, 0);
    expect_site("[[\"/p/a/../t.py\", 2], [\"/p/b/./h.py\", 4]]", "/p/t.py", 1, "/p/t.py", 2, "/p/b/h.py", 4);
}

static void test_same_file_through_a_symlink(void **state)
{
    (void)state;
    char dir[TMP_PATH_MAX];
    tmp_template(dir, "pytestmon-frames");
    assert_non_null(mkdtemp(dir));
    StrBuf real = STRBUF_INIT, link = STRBUF_INIT, json = STRBUF_INIT;
    strbuf_printf(&real, "%s/test_x.py", dir);
    strbuf_printf(&link, "%s/alias", dir);
    FILE *f = fopen(strbuf_cstr(&real), "w");
    fclose(f);
    assert_int_equal(mkdir(strbuf_cstr(&link), 0700), 0);
    strbuf_puts(&link, "/test_x.py");
    assert_int_equal(symlink(strbuf_cstr(&real), strbuf_cstr(&link)), 0);
    strbuf_printf(&json, "[[\"%s\", 7]]", strbuf_cstr(&link));
    expect_site(strbuf_cstr(&json), strbuf_cstr(&real), 3, strbuf_cstr(&real), 7, NULL, 0);
    StrBuf cmd = STRBUF_INIT;
    strbuf_printf(&cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(strbuf_cstr(&cmd)), 0);
    strbuf_destroy(&cmd);
    strbuf_destroy(&real);
    strbuf_destroy(&link);
    strbuf_destroy(&json);
}

static void test_bad_frames_fall_back(void **state)
{
    (void)state;
    LocationSite s = {.file = NULL};
    static const char *const bad[] = {"", "{", "{}", "[1]", "[[\"/p\"]]", "[[\"rel.py\", 3]]",
                                      "[[\"/p.py\", 0]]", "[[\"/p.py\", 1e99]]", "[[\"/p.py\", 99999999999]]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(frames_locate(bad[i], "/p/t.py", 1, &s), -EINVAL);
    assert_int_equal(frames_locate("[]", "/p/t.py", 1, &s), -ENOENT);
    assert_null(s.file); /* untouched */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sites),
        cmocka_unit_test(test_same_file_through_a_symlink),
        cmocka_unit_test(test_bad_frames_fall_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

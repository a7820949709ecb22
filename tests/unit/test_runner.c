/* Unit tests for runner: the child's environment (runner_child_env), the user's `env` merged
 * into ours. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/strbuf.h"
#include "pytest/project.h"
#include "pytest/runner.h"

static size_t count(char **env)
{
    size_t n = 0;
    while (env[n])
        n++;
    return n;
}

/* How many entries of `env` set `name`, and the value of the last one (NULL if none). */
static size_t set_by(char **env, const char *name, const char **value)
{
    size_t n = 0, len = strlen(name);
    *value = NULL;
    for (size_t i = 0; env[i]; i++)
        if (strncmp(env[i], name, len) == 0 && env[i][len] == '=') {
            n++;
            *value = env[i] + len + 1;
        }
    return n;
}

static void test_user_entries_replace_ours_and_the_last_wins(void **state)
{
    (void)state;
    setenv("PYTESTMON_T_OURS", "ours", 1);
    setenv("PYTESTMON_T_KEPT", "kept", 1);
    setenv("PYTHONUNBUFFERED", "0", 1);
    char *extra[] = {"PYTESTMON_T_OURS=first", "PYTESTMON_T_NEW=a", "PYTESTMON_T_OURS=second", "EMPTY=", NULL};
    char **env = runner_child_env(extra);
    const char *v;
    assert_int_equal(set_by(env, "PYTESTMON_T_OURS", &v), 1);
    assert_string_equal(v, "second");
    assert_int_equal(set_by(env, "PYTESTMON_T_KEPT", &v), 1);
    assert_string_equal(v, "kept");
    assert_int_equal(set_by(env, "PYTHONUNBUFFERED", &v), 1);
    assert_string_equal(v, "1"); /* ours, not the co-process's */
    assert_int_equal(set_by(env, "PYTESTMON_T_NEW", &v), 1);
    assert_string_equal(v, "a");
    assert_int_equal(set_by(env, "EMPTY", &v), 1);
    assert_string_equal(v, "");
    /* The user's entries come last, in their order (the duplicate's first one dropped). */
    size_t n = count(env);
    assert_string_equal(env[n - 3], "PYTESTMON_T_NEW=a");
    assert_string_equal(env[n - 2], "PYTESTMON_T_OURS=second");
    assert_string_equal(env[n - 1], "EMPTY=");
    project_free_argv(env);
    /* The user's PYTHONUNBUFFERED wins over ours. */
    char *unbuf[] = {"PYTHONUNBUFFERED=", NULL};
    env = runner_child_env(unbuf);
    assert_int_equal(set_by(env, "PYTHONUNBUFFERED", &v), 1);
    assert_string_equal(v, "");
    project_free_argv(env);
    unsetenv("PYTESTMON_T_OURS");
    unsetenv("PYTESTMON_T_KEPT");
    unsetenv("PYTHONUNBUFFERED");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 100,000 entries (a name given twice in every ten) merge in well under a second: the old
 * merge compared every entry with every later one (5e9 comparisons, over ten seconds). */
static void test_a_huge_env_merges_in_n_log_n(void **state)
{
    (void)state;
    enum { N = 100000 };
    setenv("PYTESTMON_T_V7", "ours", 1);
    char **extra = calloc(N + 1, sizeof *extra);
    for (size_t i = 0; i < N; i++) {
        StrBuf sb = STRBUF_INIT;
        /* Entry i sets PYTESTMON_T_V<i>, except that every tenth sets the name of the one
         * five before it again. */
        strbuf_printf(&sb, "PYTESTMON_T_V%zu=%zu", i % 10 == 9 ? i - 5 : i, i);
        extra[i] = strbuf_detach(&sb);
    }
    size_t ours = count(environ);
    double t0 = now_s();
    char **env = runner_child_env(extra);
    double took = now_s() - t0;
    /* Ours (PYTESTMON_T_V7 replaced; PYTHONUNBUFFERED added) + the distinct user names. */
    assert_int_equal(count(env), ours - 1 + 1 + N - N / 10);
    const char *v;
    assert_int_equal(set_by(env, "PYTESTMON_T_V7", &v), 1);
    assert_string_equal(v, "7");
    assert_int_equal(set_by(env, "PYTESTMON_T_V4", &v), 1);
    assert_string_equal(v, "9"); /* the later entry wins */
    assert_int_equal(set_by(env, "PYTESTMON_T_V99994", &v), 1);
    assert_string_equal(v, "99999");
    assert_int_equal(set_by(env, "PYTESTMON_T_V99999", &v), 0);
    print_message("merged %d entries in %.3f s\n", N, took);
    assert_true(took < 2.0);
    project_free_argv(env);
    for (size_t i = 0; i < N; i++)
        free(extra[i]);
    free(extra);
    unsetenv("PYTESTMON_T_V7");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_entries_replace_ours_and_the_last_wins),
        cmocka_unit_test(test_a_huge_env_merges_in_n_log_n),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

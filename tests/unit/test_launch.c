/* Unit tests for launch: one request resolved once, then planned for every purpose (run,
 * Nearest's lookup, the tree's collection, the plugin probe, the debugger) on a real project
 * made in a temp dir. The purposes must agree on root, interpreter, the user's arguments and
 * environment, and differ only where launch.c's table says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#include <cmocka.h>

#include "base/strbuf.h"
#include "pytest/launch.h"
#include "pytest/project.h"
#include "pytest/pyplugin.h"
#include "testutil.h"

static char tmp[TMP_PATH_MAX];

static char *at(const char *rel)
{
    StrBuf p = STRBUF_INIT;
    strbuf_printf(&p, "%s/%s", tmp, rel);
    return strbuf_detach(&p);
}

static void put(const char *rel)
{
    char *p = at(rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
    free(p);
}

static void mkd(const char *rel)
{
    char *p = at(rel);
    assert_int_equal(mkdir(p, 0700), 0);
    free(p);
}

static int setup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(tmp_template(tmp, "pytestmon-launch")));
    char *real = realpath(tmp, NULL); /* resolved paths are compared below */
    assert_non_null(real);
    snprintf(tmp, sizeof tmp, "%s", real);
    free(real);
    mkd("proj");
    mkd("proj/tests");
    put("proj/pytest.ini");
    put("proj/tests/test_a.py");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tmp_remove(tmp);
    return 0;
}

static size_t count(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

/* Index of `s` in v, or -1. */
static long find(char *const *v, const char *s)
{
    for (size_t i = 0; v && v[i]; i++)
        if (strcmp(v[i], s) == 0)
            return (long)i;
    return -1;
}

/* How many entries of env set NAME. */
static size_t entries_of(char *const *env, const char *name)
{
    size_t n = 0, len = strlen(name);
    for (size_t i = 0; env && env[i]; i++)
        if (strncmp(env[i], name, len) == 0 && env[i][len] == '=')
            n++;
    return n;
}

static const char *value_of(char *const *env, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; env && env[i]; i++)
        if (strncmp(env[i], name, len) == 0 && env[i][len] == '=')
            return env[i] + len + 1;
    return NULL;
}

/* The purposes and what each must show, as a table (launch.h). Every purpose gets the same
 * files; the report goes wherever the plugin is loaded into pytest (the probe loads no pytest). */
typedef struct {
    LaunchPurpose purpose;
    bool pytest, plugin, collect_only, file_last, selection_last, report, record;
} Expect;

static const Expect purposes[] = {
    {LAUNCH_RUN, .pytest = true, .plugin = true, .selection_last = true, .report = true},
    {LAUNCH_NEAREST, .pytest = true, .plugin = true, .collect_only = true, .file_last = true, .report = true,
     .record = true},
    {LAUNCH_COLLECT, .pytest = true, .plugin = true, .collect_only = true, .report = true, .record = true},
    {LAUNCH_PROBE, .plugin = true},
    {LAUNCH_DEBUG, .pytest = true, .selection_last = true},
};

static void test_one_request_every_purpose(void **state)
{
    (void)state;
    char *cwd = at("proj/tests"), *root = at("proj"), *file = at("proj/tests/test_a.py");
    char *const args[] = {"-x", "test_a.py", "--deselect", "test_a.py::test_b", "-p", "no:terminal"};
    char *const env[] = {"PYTESTMON_LAUNCH_A=1", "PYTHONUNBUFFERED=0", "PYTESTMON_LAUNCH_A=2"};
    LaunchRequest req = {.cwd = cwd, .file = "test_a.py", .python = "/usr/bin/python3",
                         .args = args, .nargs = 6, .env = env, .nenv = 3};
    LaunchTarget t;
    assert_int_equal(launch_resolve(&req, &t), 0);
    assert_null(t.error);
    assert_string_equal(t.cwd, cwd);
    assert_string_equal(t.root, root); /* the ini's directory, not the cwd */
    assert_string_equal(t.python, "/usr/bin/python3");
    assert_string_equal(t.python_why, "the python option");
    assert_string_equal(t.marker, "pytest.ini");
    assert_string_equal(t.file, file);
    /* The user's paths rewritten for the root (absolute, project.h), options kept as they are. */
    StrBuf deselect = STRBUF_INIT;
    strbuf_printf(&deselect, "%s::test_b", file);
    const char *const rewritten[] = {"-x", file, "--deselect", strbuf_cstr(&deselect), "-p", "no:terminal"};
    assert_int_equal(count(t.args), 6);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(t.args[i], rewritten[i]);

    LaunchFiles f = {.plugin_dir = "/plugin/dir", .report = "/priv/report.xml", .record = "/priv/collect.json",
                     .selection = "tests/test_a.py::test_c"};
    for (size_t p = 0; p < sizeof purposes / sizeof purposes[0]; p++) {
        const Expect *e = &purposes[p];
        LaunchPlan plan;
        launch_plan(&t, e->purpose, &f, &plan);
        assert_string_equal(plan.argv[0], "/usr/bin/python3");
        size_t n = count(plan.argv);
        if (e->pytest) {
            assert_string_equal(plan.argv[1], "-m");
            assert_string_equal(plan.argv[2], "pytest");
            /* the user's arguments in order, once, after ours */
            long first = find(plan.argv, "-x");
            assert_true(first > 2);
            for (size_t i = 0; i < 6; i++)
                assert_string_equal(plan.argv[first + (long)i], rewritten[i]);
            assert_int_equal(find(plan.argv, "-q"), -1); /* no terminal option of ours */
            assert_int_equal(find(plan.argv, PYPLUGIN_MODULE) > 0, e->plugin);
            assert_int_equal(find(plan.argv, "--collect-only") > 0, e->collect_only);
            if (e->file_last)
                assert_string_equal(plan.argv[n - 1], file);
            if (e->selection_last)
                assert_string_equal(plan.argv[n - 1], "tests/test_a.py::test_c");
            if (!e->file_last && !e->selection_last)
                assert_string_equal(plan.argv[n - 1], e->collect_only ? "--collect-only" : "no:terminal");
        } else {
            assert_string_equal(plan.argv[1], "-S"); /* the probe: no pytest, no user arguments */
            assert_int_equal(find(plan.argv, "-x"), -1);
        }
        /* The same environment for every purpose: the user's last value of a name, once,
         * replacing ours (PYTHONUNBUFFERED), ... */
        assert_int_equal(entries_of(plan.env, "PYTESTMON_LAUNCH_A"), 1);
        assert_string_equal(value_of(plan.env, "PYTESTMON_LAUNCH_A"), "2");
        assert_int_equal(entries_of(plan.env, "PYTHONUNBUFFERED"), 1);
        assert_string_equal(value_of(plan.env, "PYTHONUNBUFFERED"), "0");
        /* ... and our plugin's entries where the purpose loads it. */
        const char *pp = value_of(plan.env, "PYTHONPATH");
        if (e->plugin)
            assert_true(pp && strncmp(pp, "/plugin/dir", 11) == 0);
        else
            assert_true(!pp || strstr(pp, "/plugin/dir") == NULL);
        assert_int_equal(value_of(plan.env, "PYTESTMON_REPORT") != NULL, e->report);
        assert_int_equal(value_of(plan.env, "PYTESTMON_COLLECT") != NULL, e->record);
        launch_plan_destroy(&plan);
    }
    launch_target_destroy(&t);
    strbuf_destroy(&deselect);
    free(cwd);
    free(root);
    free(file);
}

/* A run without our plugin (an interpreter that cannot load it): pytest's junitxml, and a
 * coverage run's arguments and data file. */
static void test_run_without_plugin_and_with_coverage(void **state)
{
    (void)state;
    char *cwd = at("proj");
    char *const env[] = {"COVERAGE_FILE=/mine/.coverage"};
    LaunchRequest req = {.cwd = cwd, .python = "/usr/bin/python3", .env = env, .nenv = 1};
    LaunchTarget t;
    assert_int_equal(launch_resolve(&req, &t), 0);
    LaunchFiles f = {.report = "/priv/junit.xml"};
    LaunchPlan plan;
    launch_plan(&t, LAUNCH_RUN, &f, &plan);
    assert_true(find(plan.argv, "--junitxml=/priv/junit.xml") > 0);
    assert_true(find(plan.argv, "junit_family=xunit1") > 0);
    launch_plan_destroy(&plan);
    f = (LaunchFiles){.plugin_dir = "/plugin/dir", .report = "/priv/r.xml", .coverage = "/priv/cov.json",
                      .coverage_data = "/priv/.coverage"};
    launch_plan(&t, LAUNCH_RUN, &f, &plan);
    StrBuf cov = STRBUF_INIT;
    strbuf_printf(&cov, "--cov=%s", t.root);
    assert_true(find(plan.argv, strbuf_cstr(&cov)) > 0);
    strbuf_destroy(&cov);
    assert_string_equal(value_of(plan.env, "PYTESTMON_COVERAGE"), "/priv/cov.json");
    /* The user's own data file wins over ours. */
    assert_int_equal(entries_of(plan.env, "COVERAGE_FILE"), 1);
    assert_string_equal(value_of(plan.env, "COVERAGE_FILE"), "/mine/.coverage");
    launch_plan_destroy(&plan);
    launch_target_destroy(&t);
    free(cwd);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of env that are not one run's own, sorted, joined by newlines (a new string). */
static char *shared_env(char *const *env)
{
    size_t n = count(env), k = 0;
    char **v = calloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++)
        if (!launch_env_is_per_run(env[i]))
            v[k++] = env[i];
    qsort(v, k, sizeof *v, cmp_str);
    StrBuf sb = STRBUF_INIT;
    for (size_t i = 0; i < k; i++)
        strbuf_printf(&sb, "%s\n", v[i]);
    free(v);
    return strbuf_detach(&sb);
}

/* The warm pytest (warm.h): `python -m pytestmon_warm` with no pytest argument, in the run's
 * environment less what is one run's own; a run (and Nearest's lookup) planned with the same
 * request has that same environment besides its own files, so warm.c finds its warm pytest. */
static void test_the_warm_pytest_has_a_runs_environment_without_its_files(void **state)
{
    (void)state;
    char *cwd = at("proj");
    char *const args[] = {"-x", "-k", "a"};
    char *const env[] = {"PYTESTMON_LAUNCH_W=1", "COVERAGE_FILE=/mine/.coverage"};
    LaunchRequest req = {.cwd = cwd, .python = "/usr/bin/python3", .args = args, .nargs = 3, .env = env, .nenv = 2};
    LaunchTarget t;
    assert_int_equal(launch_resolve(&req, &t), 0);
    LaunchFiles wf = {.plugin_dir = "/plugin/dir"};
    LaunchPlan warm;
    launch_plan(&t, LAUNCH_WARM, &wf, &warm);
    assert_int_equal(count(warm.argv), 3);
    assert_string_equal(warm.argv[0], "/usr/bin/python3");
    assert_string_equal(warm.argv[1], "-m");
    assert_string_equal(warm.argv[2], PYPLUGIN_WARM_MODULE);
    assert_true(strncmp(value_of(warm.env, "PYTHONPATH"), "/plugin/dir", 11) == 0);
    assert_null(value_of(warm.env, "PYTESTMON_REPORT"));
    assert_string_equal(value_of(warm.env, "PYTESTMON_LAUNCH_W"), "1");
    LaunchFiles rf = {.plugin_dir = "/plugin/dir", .report = "/priv/r.xml", .imports = "/priv/imports",
                      .selection = "tests/test_a.py", .coverage = "/priv/cov.json", .coverage_data = "/priv/.c"};
    LaunchPlan run, lookup;
    launch_plan(&t, LAUNCH_RUN, &rf, &run);
    assert_string_equal(value_of(run.env, PYPLUGIN_IMPORTS_ENV), "/priv/imports");
    LaunchFiles lf = {.plugin_dir = "/plugin/dir", .report = "/priv/r.xml", .record = "/priv/collect.json"};
    launch_plan(&t, LAUNCH_NEAREST, &lf, &lookup);
    char *w = shared_env(warm.env), *r = shared_env(run.env), *l = shared_env(lookup.env);
    assert_string_equal(w, r);
    assert_string_equal(w, l);
    assert_true(strstr(w, "PYTESTMON_LAUNCH_W=1\n") != NULL);
    free(w);
    free(r);
    free(l);
    assert_true(launch_env_is_per_run("PYTESTMON_REPORT=/x"));
    assert_true(launch_env_is_per_run(PYPLUGIN_IMPORTS_ENV "=/x"));
    assert_true(launch_env_is_per_run("COVERAGE_FILE=/x"));
    assert_false(launch_env_is_per_run("PYTESTMON_REPORTS=/x"));
    assert_false(launch_env_is_per_run("PYTHONPATH=/plugin/dir"));
    launch_plan_destroy(&warm);
    launch_plan_destroy(&run);
    launch_plan_destroy(&lookup);
    launch_target_destroy(&t);
    free(cwd);
}

/* One wording for a working directory that is gone, whatever the purpose. */
static void test_missing_cwd(void **state)
{
    (void)state;
    char *gone = at("gone");
    LaunchRequest req = {.cwd = gone};
    LaunchTarget t;
    assert_int_equal(launch_resolve(&req, &t), -1);
    StrBuf want = STRBUF_INIT;
    strbuf_printf(&want, "working directory is not a directory: %s", gone);
    assert_string_equal(t.error, strbuf_cstr(&want));
    assert_null(t.root);
    strbuf_destroy(&want);
    launch_target_destroy(&t);
    req.cwd = NULL;
    assert_int_equal(launch_resolve(&req, &t), -1);
    assert_string_equal(t.error, "working directory is not a directory: (none)");
    launch_target_destroy(&t);
    free(gone);
}

static size_t count_entries(char **env)
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
    char **env = launch_child_env(extra, count_entries(extra));
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
    size_t n = count_entries(env);
    assert_string_equal(env[n - 3], "PYTESTMON_T_NEW=a");
    assert_string_equal(env[n - 2], "PYTESTMON_T_OURS=second");
    assert_string_equal(env[n - 1], "EMPTY=");
    project_free_argv(env);
    /* The user's PYTHONUNBUFFERED wins over ours. */
    char *unbuf[] = {"PYTHONUNBUFFERED=", NULL};
    env = launch_child_env(unbuf, 1);
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
    size_t ours = count_entries(environ);
    double t0 = now_s();
    char **env = launch_child_env(extra, count_entries(extra));
    double took = now_s() - t0;
    /* Ours (PYTESTMON_T_V7 replaced; PYTHONUNBUFFERED added) + the distinct user names. */
    assert_int_equal(count_entries(env), ours - 1 + 1 + N - N / 10);
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

/* Through a prefix (#30): every purpose is PREFIX env -C ROOT' VARS... ARGV with the host paths
 * mapped, the variables ours and the user's (not the editor's), stdin held; ssh's words quoted. */
static void test_prefix_and_path_map(void **state)
{
    (void)state;
    char *cwd = at("proj"), *root = at("proj"), *file = at("proj/tests/test_a.py");
    char *const args[] = {"tests/test_a.py", "-k", "x"};
    char *const env[] = {"PYTESTMON_LAUNCH_U=/elsewhere"};
    char *const prefix[] = {"docker", "exec", "-i", "ctr"};
    char *const map[] = {"/app", root};
    LaunchRequest req = {.cwd = cwd, .file = file, .args = args, .nargs = 3, .env = env, .nenv = 1,
                         .prefix = prefix, .nprefix = 4, .path_map = map, .npath_map = 2};
    LaunchTarget t;
    assert_int_equal(launch_resolve(&req, &t), 0);
    assert_string_equal(t.python, "python3"); /* the other side's, unless the option names one */
    StrBuf base = STRBUF_INIT;
    strbuf_printf(&base, "%s/.pytestmon", root);
    assert_string_equal(launch_tmp_base(&t), strbuf_cstr(&base));
    char *report = at("proj/.pytestmon/d/junit.xml"), *plugin = at("proj/.pytestmon/d/py");
    LaunchFiles f = {.plugin_dir = plugin, .report = report, .selection = file};
    LaunchPlan plan;
    launch_plan(&t, LAUNCH_RUN, &f, &plan);
    assert_true(plan.hold_stdin);
    const char *want[] = {"docker", "exec", "-i", "ctr", "env", "-C", "/app"};
    for (size_t i = 0; i < 7; i++)
        assert_string_equal(plan.argv[i], want[i]);
    long py = find(plan.argv, "python3");
    assert_true(py > 7);
    assert_int_equal(find(plan.argv, "PYTESTMON_REPORT=/app/.pytestmon/d/junit.xml") > 7, 1);
    assert_true(find(plan.argv, "PYTESTMON_LAUNCH_U=/elsewhere") > 7 && find(plan.argv, "PYTESTMON_LAUNCH_U=/elsewhere") < py);
    assert_true(find(plan.argv, "PYTESTMON_STDIN_EOF=1") > 7);
    StrBuf pm = STRBUF_INIT;
    strbuf_printf(&pm, "PYTESTMON_PATHMAP=[[\"/app\",\"%s\"]]", root);
    assert_true(find(plan.argv, strbuf_cstr(&pm)) > 7);
    assert_true(find(plan.argv, "PYTHONPATH=/app/.pytestmon/d/py") > 7 ||
                strncmp(plan.argv[find(plan.argv, "PYTHONUNBUFFERED=1") + 1], "PYTHONPATH=/app/.pytestmon/d/py", 31) == 0);
    assert_string_equal(plan.argv[count(plan.argv) - 1], "/app/tests/test_a.py"); /* the selection, mapped */
    /* the user's argument, as project.c rewrote it for the root, and mapped when absolute */
    assert_true(find(plan.argv, "tests/test_a.py") > py || find(plan.argv, "/app/tests/test_a.py") > py);
    assert_int_equal(find(plan.argv, file), -1);
    assert_int_equal(find(plan.argv, "PATH=") , -1);
    for (size_t i = 0; environ[i]; i++) /* the editor's variables stay this side's */
        if (strncmp(environ[i], "PYTHON", 6) != 0)
            assert_int_equal(find(plan.argv, environ[i]), -1);
    launch_plan_destroy(&plan);
    launch_plan(&t, LAUNCH_PROBE, &f, &plan); /* the probe too */
    assert_string_equal(plan.argv[0], "docker");
    assert_true(plan.hold_stdin);
    launch_plan_destroy(&plan);
    launch_target_destroy(&t);

    char *const ssh[] = {"ssh", "host"};
    req.prefix = ssh;
    req.nprefix = 2;
    req.python = "/opt/py it's/python";
    assert_int_equal(launch_resolve(&req, &t), 0);
    assert_string_equal(t.python, "/opt/py it's/python");
    launch_plan(&t, LAUNCH_COLLECT, &f, &plan);
    assert_string_equal(plan.argv[2], "'env'");
    assert_true(find(plan.argv, "'/opt/py it'\\''s/python'") > 2);
    launch_plan_destroy(&plan);
    launch_target_destroy(&t);

    char *const bad[] = {"app", root};
    req.path_map = bad;
    assert_int_equal(launch_resolve(&req, &t), -1);
    assert_string_equal(t.error, "path_map's paths must be absolute");
    launch_target_destroy(&t);
    strbuf_destroy(&base);
    strbuf_destroy(&pm);
    free(report);
    free(plugin);
    free(cwd);
    free(root);
    free(file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_request_every_purpose),
        cmocka_unit_test(test_run_without_plugin_and_with_coverage),
        cmocka_unit_test(test_missing_cwd),
        cmocka_unit_test(test_the_warm_pytest_has_a_runs_environment_without_its_files),
        cmocka_unit_test(test_user_entries_replace_ours_and_the_last_wins),
        cmocka_unit_test(test_a_huge_env_merges_in_n_log_n),
        cmocka_unit_test(test_prefix_and_path_map),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

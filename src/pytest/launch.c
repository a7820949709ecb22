/* launch: one request's root, interpreter, argv and environment, for every purpose. See
 * launch.h. */
#include "pytest/launch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/path.h"
#include "base/pathmap.h"
#include "base/strbuf.h"
#include "parse/coverage.h"
#include "pytest/project.h"
#include "pytest/privdir.h"
#include "pytest/pyplugin.h"

extern char **environ;

/* What each purpose asks of pytest, as data: the arguments around the user's and whether our
 * plugin is loaded. */
typedef struct {
    bool pytest;            /* python -m pytest (else the probe's own command) */
    bool plugin;            /* -p our plugin (a run without the plugin uses pytest's junitxml) */
    bool collect_only;      /* --collect-only after the user's arguments */
    bool file_selection;    /* the request's file after them (what Nearest looks in) */
    bool selection;         /* LaunchFiles.selection after them */
    bool coverage;          /* pytest-cov's arguments last, when LaunchFiles.coverage is set */
} PurposeRule;

static const PurposeRule rules[] = {
    [LAUNCH_RUN] = {.pytest = true, .plugin = true, .selection = true, .coverage = true},
    /* No -q or any terminal option for the lookups: with the user's -p no:terminal it would
     * be a usage error (and a Nearest run or a debug session would take the whole file). */
    [LAUNCH_NEAREST] = {.pytest = true, .plugin = true, .collect_only = true, .file_selection = true},
    [LAUNCH_COLLECT] = {.pytest = true, .plugin = true, .collect_only = true},
    [LAUNCH_PROBE] = {.pytest = false},
    [LAUNCH_DEBUG] = {.pytest = true, .selection = true},
    [LAUNCH_WARM] = {.pytest = false},
};

/* Finding the module is enough (it imports on every Python pytest 7 runs on), and cheap:
 * importing it would import pytest too, ~100 ms more on the first run of each co-process. */
static const char probe_code[] = "import importlib.util, sys; "
                                 "sys.exit(importlib.util.find_spec('" PYPLUGIN_MODULE "') is None)";

/* ---- lists -------------------------------------------------------------------------- */

typedef struct {
    char **v;
    size_t n, cap;
} List;

static void add(List *l, const char *s)
{
    if (l->n + 2 > l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = xstrdup(s);
    l->v[l->n] = NULL;
}

static void add_all(List *l, char *const *v)
{
    for (size_t i = 0; v && v[i]; i++)
        add(l, v[i]);
}

static char **done(List *l)
{
    return l->v ? l->v : xcalloc(1, sizeof(char *));
}

static char **copy_n(char *const *v, size_t n)
{
    List l = {0};
    for (size_t i = 0; i < n; i++)
        add(&l, v[i]);
    return done(&l);
}

/* ---- the environment --------------------------------------------------------------- */

/* A "NAME=value" entry's name (all of it without '='), and where it came from. */
typedef struct {
    const char *name;
    size_t len, pos;
} EnvName;

static size_t env_name_len(const char *e)
{
    const char *eq = strchr(e, '=');
    return eq ? (size_t)(eq - e) : strlen(e);
}

static int env_name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

static int cmp_env_name(const void *x, const void *y)
{
    const EnvName *a = x, *b = y;
    int c = env_name_cmp(a->name, a->len, b->name, b->len);
    return c ? c : (a->pos > b->pos) - (a->pos < b->pos);
}

/* Does one of the `n` sorted names set the name of entry `e`? */
static bool env_overridden(const char *e, const EnvName *names, size_t n)
{
    size_t len = env_name_len(e), lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = env_name_cmp(names[mid].name, names[mid].len, e, len);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* A name the user sets replaces ours rather than following it: glibc's getenv() and CPython's
 * os.environ take the first of duplicate entries, so an appended one would be ignored. */
char **launch_child_env(char *const *extra, size_t nextra)
{
    static const char unbuffered[] = "PYTHONUNBUFFERED=1";
    size_t n = 0;
    while (environ[n])
        n++;
    EnvName *names = xmalloc((nextra ? nextra : 1) * sizeof *names);
    for (size_t i = 0; i < nextra; i++)
        names[i] = (EnvName){extra[i], env_name_len(extra[i]), i};
    qsort(names, nextra, sizeof *names, cmp_env_name);
    /* Of a name given more than once the last one wins: the others are dropped. */
    bool *dropped = xcalloc(nextra ? nextra : 1, sizeof *dropped);
    for (size_t i = 0; i + 1 < nextra; i++)
        if (env_name_cmp(names[i].name, names[i].len, names[i + 1].name, names[i + 1].len) == 0)
            dropped[names[i].pos] = true;
    size_t unbuffered_len = env_name_len(unbuffered);
    char **env = xcalloc(n + nextra + 2, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!env_overridden(environ[i], names, nextra) &&
            env_name_cmp(environ[i], env_name_len(environ[i]), unbuffered, unbuffered_len) != 0)
            env[k++] = xstrdup(environ[i]);
    if (!env_overridden(unbuffered, names, nextra))
        env[k++] = xstrdup(unbuffered);
    for (size_t i = 0; i < nextra; i++)
        if (!dropped[i])
            env[k++] = xstrdup(extra[i]);
    free(dropped);
    free(names);
    return env;
}

/* The user's entries with ours around them: COVERAGE_FILE before (the user's own wins: their
 * data file), a debug session's marker after (ours wins: the reaper recognises it). */
static char **purpose_env(const LaunchTarget *t, const LaunchFiles *f)
{
    List extra = {0};
    if (f->coverage && f->coverage_data) {
        StrBuf sb = STRBUF_INIT;
        strbuf_printf(&sb, "COVERAGE_FILE=%s", f->coverage_data);
        add(&extra, strbuf_cstr(&sb));
        strbuf_destroy(&sb);
    }
    add_all(&extra, t->env);
    if (f->extra_env)
        add(&extra, f->extra_env);
    char **env = launch_child_env(extra.v, extra.n);
    for (size_t i = 0; i < extra.n; i++)
        free(extra.v[i]);
    free(extra.v);
    return env;
}

/* ---- resolving ------------------------------------------------------------------------ */

static bool is_directory(const char *p)
{
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Through a prefix: the interpreter is the other side's ("python3" on its PATH unless the
 * python option names one), so no rule about this side's venvs applies, and the private
 * directories go under the root, which the other side sees through the map. */
static void resolve_prefix(const LaunchRequest *req, LaunchTarget *out)
{
    out->prefix = copy_n(req->prefix, req->nprefix);
    out->path_map = copy_n(req->path_map, req->npath_map);
    out->npath_map = req->npath_map;
    if (!req->python || !*req->python) {
        free(out->python);
        out->python = xstrdup("python3");
        out->python_why = "through the prefix: python3 on its PATH";
        free(out->error);
        out->error = NULL;
    }
    const char *bad = pathmap_check(out->path_map, out->npath_map);
    if (bad && !out->error)
        out->error = xstrdup(bad);
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/.pytestmon", out->root);
    out->tmp_base = strbuf_detach(&sb);
}

int launch_resolve(const LaunchRequest *req, LaunchTarget *out)
{
    *out = (LaunchTarget){0};
    const char *cwd = req->cwd && *req->cwd ? req->cwd : NULL;
    out->cwd = cwd ? realpath(cwd, NULL) : NULL;
    out->args = copy_n(req->args, req->nargs);
    out->env = copy_n(req->env, req->nenv);
    if (!out->cwd || !is_directory(out->cwd)) {
        StrBuf sb = STRBUF_INIT;
        strbuf_printf(&sb, "working directory is not a directory: %s", cwd ? cwd : "(none)");
        out->error = strbuf_detach(&sb);
        free(out->cwd);
        out->cwd = xstrdup(cwd ? cwd : "");
        return -1;
    }
    ProjectChoice c;
    project_resolve(out->cwd, req->file, req->python, getenv("VIRTUAL_ENV"), &c);
    out->root = c.root; /* the target takes the strings over */
    out->python = c.python;
    out->python_why = c.python_why;
    out->marker = c.marker;
    out->error = c.refused; /* an interpreter another user could have put there: not run */
    if (req->file && *req->file)
        out->file = path_normalize(out->cwd, req->file);
    char **rewritten = project_rewrite_args(out->cwd, req->args, req->nargs);
    project_free_argv(out->args);
    out->args = rewritten;
    if (req->nprefix > 0)
        resolve_prefix(req, out);
    return out->error ? -1 : 0;
}

void launch_target_destroy(LaunchTarget *t)
{
    free(t->cwd);
    free(t->root);
    free(t->python);
    free(t->file);
    free(t->error);
    project_free_argv(t->args);
    project_free_argv(t->env);
    project_free_argv(t->prefix);
    project_free_argv(t->path_map);
    free(t->tmp_base);
    *t = (LaunchTarget){0};
}

/* ---- planning -------------------------------------------------------------------------- */

static void pytest_head(List *argv, const LaunchTarget *t, const PurposeRule *rule, const LaunchFiles *f)
{
    add(argv, t->python);
    add(argv, "-m");
    add(argv, "pytest");
    if (rule->plugin && f->plugin_dir) {
        /* Our plugin writes the report whatever the user does to pytest's junitxml, and tells
         * progress in it as tests start and end: pytest's terminal stays as the user set it. */
        add(argv, "-p");
        add(argv, PYPLUGIN_MODULE);
    } else if (rule->plugin && f->report) {
        add(argv, "-v");
        add(argv, "-rfE");
        StrBuf junit = STRBUF_INIT;
        strbuf_printf(&junit, "--junitxml=%s", f->report);
        add(argv, strbuf_cstr(&junit));
        strbuf_destroy(&junit);
        add(argv, "-o");
        add(argv, "junit_family=xunit1");
    }
}

/* ---- through a prefix ----------------------------------------------------------------- */

static bool in_environ(const char *e)
{
    for (size_t i = 0; environ[i]; i++)
        if (strcmp(environ[i], e) == 0)
            return true;
    return false;
}

static bool named(const char *e, const char *name)
{
    size_t n = strlen(name);
    return strncmp(e, name, n) == 0 && e[n] == '=';
}

/* Whether the user's entries set the variable whose name is the n bytes at `name`. */
static bool user_set(const LaunchTarget *t, const char *name, size_t n)
{
    for (char **u = t->env; u && *u; u++)
        if (strncmp(*u, name, n) == 0 && (*u)[n] == '=')
            return true;
    return false;
}

/* What the other side's program gets: the variables we or the user set (the prefix's program,
 * docker exec or ssh, passes none of ours on). */
static bool passed_inside(const LaunchTarget *t, const char *e)
{
    return named(e, "PYTHONUNBUFFERED") || named(e, "PYTHONPATH") || !in_environ(e) ||
           user_set(t, e, env_name_len(e));
}

/* One word for a shell (ssh hands its arguments to one, joined by spaces). */
static char *shell_quote(const char *s)
{
    StrBuf sb = STRBUF_INIT;
    strbuf_putc(&sb, '\'');
    for (; *s; s++) {
        if (*s == '\'')
            strbuf_puts(&sb, "'\\''");
        else
            strbuf_putc(&sb, *s);
    }
    strbuf_putc(&sb, '\'');
    return strbuf_detach(&sb);
}

static bool is_ssh(const char *prog)
{
    const char *base = strrchr(prog, '/');
    return strcmp(base ? base + 1 : prog, "ssh") == 0;
}

/* PREFIX env -C ROOT' VARS... ARGV... with host paths mapped forward (launch.h). */
static void through_prefix(const LaunchTarget *t, LaunchPlan *p)
{
    char *const *map = t->path_map;
    size_t nmap = t->npath_map;
    List inner = {0};
    add(&inner, "env");
    add(&inner, "-C");
    char *root = pathmap_forward(map, nmap, t->root);
    add(&inner, root);
    free(root);
    for (size_t i = 0; p->env[i]; i++) {
        if (!passed_inside(t, p->env[i]))
            continue;
        size_t n = env_name_len(p->env[i]);
        char *v = pathmap_forward_value(map, nmap, p->env[i] + n + (p->env[i][n] == '='));
        StrBuf sb = STRBUF_INIT;
        strbuf_append(&sb, p->env[i], n);
        strbuf_printf(&sb, "=%s", v);
        add(&inner, strbuf_cstr(&sb));
        strbuf_destroy(&sb);
        free(v);
    }
    char *pm = pathmap_env(map, nmap);
    add(&inner, pm);
    free(pm);
    add(&inner, "PYTESTMON_STDIN_EOF=1"); /* our plugin ends pytest when stdin closes */
    if (!user_set(t, "PYTHONPYCACHEPREFIX", strlen("PYTHONPYCACHEPREFIX")) && t->tmp_base) {
        /* Bytecode keeps the path it was compiled at: cached beside the sources (the tree both
         * sides share), Python's and pytest's rewriter's would show the other side's paths in
         * the next run here. Kept in the project's private directory, persistent and apart. */
        StrBuf sb = STRBUF_INIT;
        strbuf_printf(&sb, "%s/pycache", t->tmp_base);
        char *inside = pathmap_forward(map, nmap, strbuf_cstr(&sb));
        strbuf_reset(&sb);
        strbuf_printf(&sb, "PYTHONPYCACHEPREFIX=%s", inside);
        add(&inner, strbuf_cstr(&sb));
        strbuf_destroy(&sb);
        free(inside);
    }
    for (size_t i = 0; p->argv[i]; i++) {
        char *v = pathmap_forward_value(map, nmap, p->argv[i]);
        add(&inner, v);
        free(v);
    }
    List argv = {0};
    add_all(&argv, t->prefix);
    bool quote = t->prefix[0] && is_ssh(t->prefix[0]);
    for (size_t i = 0; i < inner.n; i++) {
        char *q = quote ? shell_quote(inner.v[i]) : NULL;
        add(&argv, q ? q : inner.v[i]);
        free(q);
    }
    project_free_argv(done(&inner));
    project_free_argv(p->argv);
    p->argv = done(&argv);
    p->hold_stdin = true;
}

void launch_plan(const LaunchTarget *t, LaunchPurpose purpose, const LaunchFiles *files, LaunchPlan *out)
{
    static const LaunchFiles none = {0};
    const LaunchFiles *f = files ? files : &none;
    const PurposeRule *rule = &rules[purpose];
    List argv = {0};
    if (purpose == LAUNCH_WARM) {
        add(&argv, t->python);
        add(&argv, "-m");
        add(&argv, PYPLUGIN_WARM_MODULE);
    } else if (!rule->pytest) {
        add(&argv, t->python);
        add(&argv, "-S");
        add(&argv, "-c");
        add(&argv, probe_code);
    } else {
        pytest_head(&argv, t, rule, f);
        add_all(&argv, t->args);
        if (rule->collect_only)
            add(&argv, "--collect-only");
        if (rule->file_selection && t->file)
            add(&argv, t->file);
        if (rule->selection && f->selection)
            add(&argv, f->selection);
        if (rule->coverage && f->coverage) {
            char **cov = coverage_pytest_args(t->args, t->root);
            add_all(&argv, cov);
            project_free_argv(cov);
        }
    }
    char **env = purpose_env(t, f);
    if (rule->plugin && f->plugin_dir)
        env = pyplugin_env(env, f->plugin_dir, f->report);
    else if ((purpose == LAUNCH_PROBE || purpose == LAUNCH_WARM) && f->plugin_dir)
        env = pyplugin_env(env, f->plugin_dir, NULL);
    if (purpose == LAUNCH_RUN && f->imports && f->plugin_dir)
        env = pyplugin_named_env(env, PYPLUGIN_IMPORTS_ENV, f->imports);
    if (f->record && rule->collect_only)
        env = pyplugin_collect_env(env, f->record);
    if (rule->coverage && f->coverage && f->plugin_dir)
        env = pyplugin_coverage_env(env, f->coverage);
    *out = (LaunchPlan){.argv = done(&argv), .env = env};
    if (t->prefix)
        through_prefix(t, out);
}

const char *launch_tmp_base(const LaunchTarget *t)
{
    return t->tmp_base ? t->tmp_base : privdir_base();
}

int launch_tmp_dir(const LaunchTarget *t, const PrivdirOwner *owner, char **path)
{
    if (t->tmp_base) {
        if (mkdir(t->tmp_base, 0700) != 0 && errno != EEXIST)
            return -errno;
        struct stat st;
        if (lstat(t->tmp_base, &st) != 0)
            return -errno;
        if (!S_ISDIR(st.st_mode))
            return -ENOTDIR;
        if (st.st_uid != geteuid() || (st.st_mode & 077))
            return -EPERM;
        privdir_sweep(t->tmp_base, "", owner); /* what a co-process that was killed left there */
    }
    return privdir_create(launch_tmp_base(t), owner, path);
}

bool launch_env_is_per_run(const char *e)
{
    static const char *const names[] = {"PYTESTMON_REPORT=", "PYTESTMON_COLLECT=", "PYTESTMON_COVERAGE=",
                                        "PYTESTMON_ARGS=", "COVERAGE_FILE=", PYPLUGIN_IMPORTS_ENV "="};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strncmp(e, names[i], strlen(names[i])) == 0)
            return true;
    return false;
}

void launch_plan_destroy(LaunchPlan *p)
{
    project_free_argv(p->argv);
    project_free_argv(p->env);
    *p = (LaunchPlan){0};
}

/* project: project root, interpreter choice and argument paths. */
#include "pytest/project.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/path.h"
#include "base/strbuf.h"
#include "base/trust.h"

/* pytest's own configuration files, in the order a directory is probed. A conftest.py marks a
 * root only when no ancestor holds one of these: tests/conftest.py is not the project root. */
static const char *const ini_markers[] = {"pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg"};

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static int is_executable_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

/* Base "/": a relative `base` is taken from the root directory, as pytest's cwd would be. */
char *project_absolute(const char *base, const char *path)
{
    if (path[0] == '/')
        return path_normalize("/", path);
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/%s", base, path);
    char *r = path_normalize("/", strbuf_cstr(&sb));
    strbuf_destroy(&sb);
    return r;
}

char *project_start_dir(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return NULL;
    if (S_ISDIR(st.st_mode))
        return path_normalize("/", path);
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/..", path);
    char *r = path_normalize("/", strbuf_cstr(&sb));
    strbuf_destroy(&sb);
    return r;
}

/* The first ini-type marker in `dir`, else NULL; *has_conftest says whether conftest.py is there. */
static const char *dir_marker(const char *dir, StrBuf *probe, int *has_conftest)
{
    const char *base = strcmp(dir, "/") == 0 ? "" : dir;
    for (size_t i = 0; i < sizeof ini_markers / sizeof ini_markers[0]; i++) {
        strbuf_reset(probe);
        strbuf_printf(probe, "%s/%s", base, ini_markers[i]);
        if (exists(strbuf_cstr(probe)))
            return ini_markers[i];
    }
    strbuf_reset(probe);
    strbuf_printf(probe, "%s/conftest.py", base);
    *has_conftest = exists(strbuf_cstr(probe));
    return NULL;
}

char *project_find_root(const char *start_dir, const char **marker)
{
    char *dir = path_normalize("/", start_dir);
    char *conftest_dir = NULL; /* the nearest directory holding a conftest.py */
    StrBuf probe = STRBUF_INIT;
    *marker = NULL;
    for (;;) {
        int has_conftest = 0;
        const char *m = dir_marker(dir, &probe, &has_conftest);
        if (m) {
            *marker = m;
            strbuf_destroy(&probe);
            free(conftest_dir);
            return dir;
        }
        if (has_conftest && !conftest_dir)
            conftest_dir = xstrdup(dir);
        char *slash = strrchr(dir, '/');
        if (!slash || strcmp(dir, "/") == 0)
            break;
        if (slash == dir)
            slash[1] = '\0';
        else
            *slash = '\0';
    }
    strbuf_destroy(&probe);
    free(dir);
    if (conftest_dir) {
        *marker = "conftest.py";
        return conftest_dir;
    }
    return path_normalize("/", start_dir);
}

/* A venv's interpreter we chose ourselves: NULL when it is safe to run, else the sentence
 * refusing it. `top` is the directory it must be safe up to (the venv, or the root). */
static char *refuse_unsafe(const char *python, const char *top)
{
    StrBuf why = STRBUF_INIT;
    if (trust_executable(python, top, &why) == 0) {
        strbuf_destroy(&why);
        return NULL;
    }
    StrBuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "refusing interpreter %s: %s; set the `python` option to run it anyway",
                  python, strbuf_cstr(&why));
    strbuf_destroy(&why);
    return strbuf_detach(&sb);
}

char *project_pick_python(const char *explicit_python, const char *virtual_env,
                          const char *root, const char **why, char **refused)
{
    StrBuf sb = STRBUF_INIT;
    char *dummy = NULL;
    if (!refused)
        refused = &dummy;
    *refused = NULL;
    if (explicit_python && *explicit_python) {
        *why = "the python option";
        return xstrdup(explicit_python);
    }
    if (virtual_env && *virtual_env) {
        strbuf_printf(&sb, "%s/bin/python", virtual_env);
        if (is_executable_file(strbuf_cstr(&sb))) {
            *why = "$VIRTUAL_ENV";
            char *venv = project_absolute("/", virtual_env);
            *refused = refuse_unsafe(strbuf_cstr(&sb), venv);
            free(venv);
            free(dummy);
            return strbuf_detach(&sb);
        }
    }
    const char *venvs[] = {".venv", "venv"};
    for (size_t i = 0; root && i < 2; i++) {
        strbuf_reset(&sb);
        strbuf_printf(&sb, "%s/%s/bin/python", root, venvs[i]);
        if (is_executable_file(strbuf_cstr(&sb))) {
            *why = i == 0 ? ".venv in the project root" : "venv in the project root";
            *refused = refuse_unsafe(strbuf_cstr(&sb), root);
            free(dummy);
            return strbuf_detach(&sb);
        }
    }
    strbuf_destroy(&sb);
    *why = "python3 from PATH";
    return xstrdup("python3");
}

void project_resolve(const char *cwd, const char *file, const char *explicit_python,
                     const char *virtual_env, ProjectChoice *out)
{
    char *abs_file = file && *file ? project_absolute(cwd, file) : NULL;
    char *start = abs_file ? project_start_dir(abs_file) : NULL;
    if (abs_file && !start) { /* a buffer not written yet: its directory may exist */
        char *parent = project_absolute(abs_file, "..");
        start = project_start_dir(parent);
        free(parent);
    }
    out->root = project_find_root(start ? start : cwd, &out->marker);
    out->python = project_pick_python(explicit_python, virtual_env, out->root, &out->python_why,
                                      &out->refused);
    free(start);
    free(abs_file);
}

void project_choice_destroy(ProjectChoice *c)
{
    free(c->root);
    free(c->python);
    free(c->refused);
    *c = (ProjectChoice){0};
}

/* Options whose value is a path (rewritten) or something else (kept). */
static const char *const path_options[] = {"--ignore", "--ignore-glob", "--deselect", "--rootdir",
                                           "--confcutdir", "--basetemp", "-c", "--junitxml",
                                           "--junit-xml", "--log-file", NULL};
static const char *const value_options[] = {"-k", "-m", "-p", "-o", "-n", "-W", "--tb",
                                            "--maxfail", "--durations", "--color", "--capture",
                                            "--log-level", "--import-mode", "--dist",
                                            "--override-ini", NULL};

static int in_list(const char *const *list, const char *s, size_t n)
{
    for (; *list; list++)
        if (strlen(*list) == n && strncmp(*list, s, n) == 0)
            return 1;
    return 0;
}

/* A positional argument, possibly "path::node", made absolute if the path exists. */
static char *rewrite_positional(const char *cwd, const char *arg)
{
    const char *sep = strstr(arg, "::");
    size_t plen = sep ? (size_t)(sep - arg) : strlen(arg);
    char *path = xstrndup(arg, plen);
    char *abs = project_absolute(cwd, path);
    free(path);
    if (plen == 0 || !exists(abs)) {
        free(abs);
        return xstrdup(arg);
    }
    StrBuf sb = STRBUF_INIT;
    strbuf_puts(&sb, abs);
    if (sep)
        strbuf_puts(&sb, sep);
    free(abs);
    return strbuf_detach(&sb);
}

static char *rewrite_path_value(const char *cwd, const char *value)
{
    /* --deselect takes a node id; the rest plain paths. Missing paths are still made
     * absolute: pytest resolves them against its own cwd otherwise. */
    return value[0] == '/' ? xstrdup(value) : rewrite_positional(cwd, value);
}

char **project_rewrite_args(const char *cwd, char *const *args, size_t nargs)
{
    char **out = xcalloc(nargs + 1, sizeof *out);
    for (size_t i = 0; i < nargs; i++) {
        const char *a = args[i];
        if (strcmp(a, "--") == 0) {
            out[i] = xstrdup(a);
            continue;
        }
        if (a[0] != '-') {
            out[i] = rewrite_positional(cwd, a);
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        int is_path = in_list(path_options, a, nlen);
        int takes_value = is_path || in_list(value_options, a, nlen);
        if (eq) {
            if (is_path) {
                char *v = rewrite_path_value(cwd, eq + 1);
                StrBuf sb = STRBUF_INIT;
                strbuf_append(&sb, a, nlen + 1);
                strbuf_puts(&sb, v);
                free(v);
                out[i] = strbuf_detach(&sb);
            } else {
                out[i] = xstrdup(a);
            }
            continue;
        }
        out[i] = xstrdup(a);
        if (takes_value && i + 1 < nargs) {
            i++;
            out[i] = is_path ? rewrite_path_value(cwd, args[i]) : xstrdup(args[i]);
        }
    }
    return out;
}

int project_option_takes_value(const char *arg)
{
    if (arg[0] != '-' || strchr(arg, '='))
        return 0;
    size_t n = strlen(arg);
    return in_list(path_options, arg, n) || in_list(value_options, arg, n);
}

void project_free_argv(char **argv)
{
    if (!argv)
        return;
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
}

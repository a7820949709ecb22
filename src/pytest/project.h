/* project: where a pytest run starts and which interpreter it uses.
 *
 * Pure decisions over the file system (stat only, no processes), made here and nowhere
 * else (the editor asks the co-process, see `resolve` in HACKING.md): the project root is
 * the nearest ancestor of a start directory holding pytest.ini, pyproject.toml, tox.ini or
 * setup.cfg; only when no ancestor has one, the nearest holding conftest.py (a
 * tests/conftest.py is not the root: pytest started there misses settings relative to the
 * root, such as `pythonpath` or `env = PYTHONPATH=src`); the interpreter is the explicit
 * choice, else $VIRTUAL_ENV/bin/python, else .venv/bin/python or venv/bin/python under the root,
 * else "python3" from PATH. An interpreter of $VIRTUAL_ENV or of a venv under the root is
 * refused (not replaced by the next rule) when another local user could have put it there
 * (base/trust.h: the file, the links it leads through, its directories up to the venv or the
 * root, owned by someone but you or root, or writable by group or others); the explicit
 * choice is never refused. Paths returned are heap strings the caller frees. */
#ifndef PYTESTMON_PROJECT_H
#define PYTESTMON_PROJECT_H

#include <stddef.h>

/* Directory of `path` if it is a file, `path` itself if a directory; NULL if neither. */
char *project_start_dir(const char *path);
/* Root for `start_dir` (absolute); `start_dir` itself when no marker is found. Sets
 * *marker (static string or NULL) to the file that decided it. */
char *project_find_root(const char *start_dir, const char **marker);
/* Interpreter for a run; *why (static string) says which rule chose it. When that
 * interpreter is refused, *refused (if `refused` is not NULL) is set to a new sentence naming
 * it and why ("refusing interpreter /p/.venv/bin/python: owned by uid 65534 (not you or
 * root); ..."), else to NULL. */
char *project_pick_python(const char *explicit_python, const char *virtual_env,
                          const char *root, const char **why, char **refused);
/* Everything a run would use, decided once: the root (from the directory of `file` when that
 * exists, even if the file itself does not yet, else from `cwd`), the marker that decided it (static string or NULL) and the
 * interpreter with the rule that chose it; `refused` when that interpreter must not be run
 * (a run, collection or debug session fails with that sentence, and nothing is started).
 * Caller's storage; project_choice_destroy(). */
typedef struct {
    char *root;
    const char *marker;
    char *python;
    const char *python_why;
    char *refused; /* NULL, or why `python` is not run */
} ProjectChoice;

/* `cwd` is absolute; `file` and `explicit_python` may be NULL or "". */
void project_resolve(const char *cwd, const char *file, const char *explicit_python,
                     const char *virtual_env, ProjectChoice *out);
void project_choice_destroy(ProjectChoice *c);

/* `path` made absolute against `base` and normalised (base/path.h); caller frees. */
char *project_absolute(const char *base, const char *path);

/* Rewrites pytest arguments typed relative to `cwd` so they still name the same files
 * when pytest starts in another directory: positional paths (with an optional
 * `::test` suffix) that exist under cwd, and the values of path options (--ignore,
 * --deselect, --rootdir, --confcutdir, --basetemp, -c ...). Options' other values are
 * left alone. Returns a new NULL-terminated array of new strings (free with
 * project_free_argv). */
char **project_rewrite_args(const char *cwd, char *const *args, size_t nargs);
void project_free_argv(char **argv);
/* Whether option `arg` (without "=value") takes the next argument as its value, as
 * project_rewrite_args() sees it: for telling positional arguments from option values. */
int project_option_takes_value(const char *arg);

#endif

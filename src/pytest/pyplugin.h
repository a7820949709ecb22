/* pyplugin: pytestmon's own pytest plugin (python/pytestmon_plugin.py) as a run loads it.
 *
 * Knows the plugin's contract and nothing else: its module name, the directory that holds it,
 * the environment variables a run sets for it (PYTHONPATH gets that directory first,
 * PYTESTMON_REPORT names the report file it writes, PYTESTMON_COLLECT, PYTESTMON_COVERAGE and
 * PYTESTMON_ARGS other files it writes or reads) and the file of arguments too long for exec.
 * Holds no state; returns heap strings or edits a heap environment array as documented. */
#ifndef PYTESTMON_PYPLUGIN_H
#define PYTESTMON_PYPLUGIN_H

#include <stdbool.h>

#define PYPLUGIN_MODULE "pytestmon_plugin"
/* The warm pytest (python/pytestmon_warm.py, beside the plugin; warm.h), and where a run's
 * plugin records the modules it imported from outside the project (what it preloads). */
#define PYPLUGIN_WARM_MODULE "pytestmon_warm"
#define PYPLUGIN_IMPORTS_ENV "PYTESTMON_IMPORTS"

/* The directory holding pytestmon_plugin.py: $PYTESTMON_PYDIR when set, else python/ in the
 * first of the 4 directories above the running binary (/proc/self/exe) that has it. A new
 * string, or NULL when there is none (runs then use pytest's junitxml alone). */
char *pyplugin_find_dir(void);

/* A copy of our plugin (PYPLUGIN_MODULE.py and its package's .py files) in DEST/py (DEST: a
 * private directory of ours, privdir.h), for a pytest behind a prefix (launch.h) that sees
 * DEST through the path map but not this side's plugin directory. The new directory (a new
 * string), or NULL when it could not be written. */
char *pyplugin_copy(const char *dir, const char *dest);

/* The child environment `env` (a NULL-terminated heap array of heap strings, consumed) with
 * `dir` first on PYTHONPATH (before the value env already has) and PYTESTMON_REPORT=report
 * (report NULL: no report, e.g. for a bare collection). Returns the new array. */
char **pyplugin_env(char **env, const char *dir, const char *report);

/* `env` (consumed, as above) with PYTESTMON_COLLECT=path: the plugin writes what pytest
 * collected there (collection.h). Returns the new array. */
char **pyplugin_collect_env(char **env, const char *path);

/* `env` (consumed, as above) with PYTESTMON_COVERAGE=path: the plugin writes coverage.py's JSON
 * report of pytest-cov's data there at session end (coverage.h). Returns the new array. */
char **pyplugin_coverage_env(char **env, const char *path);

/* Arguments exec cannot pass (Linux takes at most 128 KiB in one, and some 2 MB in all: a
 * rerun of a test whose parameter id is a megabyte long) go to the plugin through a file: each
 * of `args` (NULL-terminated, heap strings) longer than PYPLUGIN_ARG_MAX bytes, and every one
 * after PYPLUGIN_ARGS_MAX bytes of the others, is replaced by a placeholder ("PATH::@pytestmon-arg-N"
 * for a node id, keeping its path for pytest's rootdir; "@pytestmon-arg-N" else), and the
 * placeholders and what they stand for are written to `path` (0600, pairs of NUL-terminated
 * strings); the plugin puts the arguments back before pytest parses them (its
 * pytest_load_initial_conftests), so that pytest gets them exactly. Returns how many it
 * replaced (0: none too long, nothing written), or -errno when `path` could not be written (the
 * arguments are then as they were). */
#define PYPLUGIN_ARG_MAX (32u << 10)
#define PYPLUGIN_ARGS_MAX (512u << 10)
int pyplugin_spill_args(char **args, const char *path);

/* `env` (consumed, as above) with NAME=value (one of the names above). */
char **pyplugin_named_env(char **env, const char *name, const char *value);

/* `env` (consumed, as above) with PYTESTMON_ARGS=path (pyplugin_spill_args). */
char **pyplugin_args_env(char **env, const char *path);

/* Whether `path` (the file exec runs) is a CPython or PyPy 3 binary itself: an ELF file whose
 * real name starts with "python3" or "pypy3" (a venv's bin/python links to one). Such an
 * interpreter finds the plugin through the PYTHONPATH a run sets, so the run need not ask it
 * first; a script (a wrapper that may drop PYTHONPATH with -E, -I or env -i) or anything else
 * is asked. Reads 4 bytes of the file. */
bool pyplugin_interpreter_honours_pythonpath(const char *path);

#endif

/* launch: how pytest is started for one request, whatever the purpose: a run, the lookup of
 * the test around a line (Nearest, the debugger), the test tree's collection, the probe that
 * asks an interpreter whether it finds our plugin, and the debugger's configuration. The only
 * place that decides pytest's working directory, interpreter, argument vector and environment;
 * runner.c, testtree.c and debugger.c start what it plans (as a Child, child.h), and server.c's
 * `resolve` answers from it.
 *
 * Two steps, both pure decisions over the file system (stat, realpath; no process, no libuv):
 * launch_resolve() turns the editor's request into a LaunchTarget (where and with what: shared
 * by every purpose of one request, e.g. a Nearest run and its lookup), and launch_plan() turns a
 * target, a purpose and the purpose's files into argv + env. The differences between purposes
 * are the table in launch.c, not copies in their callers.
 *
 * LaunchTarget and LaunchPlan live in caller's storage: *_destroy() frees what they own. */
#ifndef PYTESTMON_LAUNCH_H
#define PYTESTMON_LAUNCH_H

#include <stdbool.h>
#include <stddef.h>

#include "pytest/privdir.h"

typedef enum {
    LAUNCH_RUN,     /* the tests: our plugin's report (or pytest's junitxml), coverage if asked */
    LAUNCH_NEAREST, /* what pytest collects in one file, for the test around a line */
    LAUNCH_COLLECT, /* what pytest collects in the whole selection: the test tree */
    LAUNCH_PROBE,   /* can the interpreter find our plugin (no pytest is started) */
    LAUNCH_DEBUG,   /* the debugger's pytest: the user's arguments and the selection, no plugin */
    LAUNCH_WARM,    /* the warm pytest a run or a lookup is forked from (warm.h): no pytest
                     * arguments, the run's environment without what is one run's own */
} LaunchPurpose;

/* The editor's request, borrowed for the call. */
typedef struct {
    const char *cwd;       /* the editor's cwd: relative arguments are meant from here */
    const char *file;      /* optional: the current file (decides the root; Nearest's file) */
    const char *python;    /* NULL or "": chosen by project.h */
    char *const *args;     /* the user's pytest arguments */
    size_t nargs;
    char *const *env;      /* the user's "KEY=VALUE" entries: they replace ours */
    size_t nenv;
    char *const *prefix;   /* the command that runs a program where the tests live (docker
                            * exec, ssh): every purpose goes through it; none when nprefix 0 */
    size_t nprefix;
    char *const *path_map; /* pairs [inside, host, ...] (base/pathmap.h) */
    size_t npath_map;
} LaunchRequest;

/* Where and with what, decided once per request. */
typedef struct {
    char *cwd;             /* the request's cwd, resolved (realpath) */
    char *root;            /* pytest's working directory (project.h) */
    char *python;          /* the interpreter */
    const char *python_why; /* the rule that chose it (static) */
    const char *marker;    /* the file that decided the root (static), NULL if none */
    char *file;            /* the request's file made absolute; NULL when none was given */
    char **args;           /* the user's arguments rewritten for root (NULL-terminated) */
    char **env;            /* the user's entries, copied (NULL-terminated) */
    char *error;           /* NULL, or why nothing may start (cwd gone, interpreter refused) */
    char **prefix;         /* NULL, or the request's prefix (NULL-terminated): python is then
                            * the interpreter as seen through it ("python3" unless given), not
                            * checked here (it is not on this side) */
    char **path_map;       /* the request's pairs (NULL-terminated), npath_map strings */
    size_t npath_map;
    char *tmp_base;        /* with a prefix: ROOT/.pytestmon, where private directories go (the
                            * other side sees them through the map); else NULL: privdir_base() */
} LaunchTarget;

/* Fills *out (always: destroy it). 0, or -1 with out->error set, e.g. "working directory is not
 * a directory: X" (the one wording for every purpose) or the refusal of an interpreter another
 * user could have put there (project.h); root and python are set whenever cwd resolved. */
int launch_resolve(const LaunchRequest *req, LaunchTarget *out);
void launch_target_destroy(LaunchTarget *t);

/* What one purpose adds, each borrowed for the call; NULL when it does not apply. */
typedef struct {
    const char *plugin_dir; /* where our plugin is (pyplugin.h); NULL: none (a run then uses
                             * pytest's junitxml; the other purposes need it) */
    const char *report;     /* RUN: the report file (ours, or --junitxml); others: optional */
    const char *record;     /* NEAREST, COLLECT: where the plugin writes what was collected */
    const char *coverage;   /* RUN: measured by pytest-cov; the plugin writes coverage.py's JSON
                             * report there, and COVERAGE_FILE goes to coverage_data */
    const char *coverage_data;
    const char *selection;  /* RUN, DEBUG: the node id or file appended to the user's arguments */
    const char *extra_env;  /* one "KEY=VALUE" set after the user's (a debug session's marker) */
    const char *imports;    /* RUN: where the plugin records the modules the run imported from
                             * outside the project (what the warm pytest preloads) */
} LaunchFiles;

typedef struct {
    char **argv;           /* NULL-terminated heap array of heap strings: argv[0] the interpreter */
    char **env;            /* the child's whole environment, likewise */
    bool hold_stdin;       /* through a prefix: give it a stdin pipe held open while it runs
                            * (child.h): our plugin ends pytest at its EOF, for a killed `docker
                            * exec` or ssh client does not end what it started */
} LaunchPlan;

/* Fills *out with what starts `purpose` for target t (which must have resolved: t->error NULL).
 * The environment is ours with PYTHONUNBUFFERED=1, then the user's entries replacing ours, then
 * our plugin's (PYTHONPATH first, its report, record or coverage files). */
/* With a prefix (t->prefix), argv is PREFIX env -C ROOT' NAME=VALUE... PYTHON ... (ROOT' and
 * every host path in the arguments and in the variables ours or the user's set mapped forward,
 * base/pathmap.h; our plugin maps back what it writes, given PYTESTMON_PATHMAP; each element
 * shell-quoted when the prefix is ssh, which hands a command line to a shell), env stays ours
 * for the prefix's own program, and hold_stdin is set. */
void launch_plan(const LaunchTarget *t, LaunchPurpose purpose, const LaunchFiles *files, LaunchPlan *out);
void launch_plan_destroy(LaunchPlan *p);

/* Where the private directories of target t's children go (privdir.h): t->tmp_base, or
 * privdir_base(). Borrowed. */
const char *launch_tmp_base(const LaunchTarget *t);

/* privdir_create() in launch_tmp_base(t), making t->tmp_base (0700) first when it is missing
 * and sweeping from it the directories of co-processes that died (privdir_sweep); one that is
 * a symlink, not a directory or not ours is refused (-ENOTDIR, -EPERM). */
int launch_tmp_dir(const LaunchTarget *t, const PrivdirOwner *owner, char **path);

/* Whether environment entry `e` ("KEY=VALUE") belongs to one run only (its report, record,
 * coverage and argument files, the record of its imports): the
 * warm pytest's environment is a run's without these (warm.h compares the rest). */
bool launch_env_is_per_run(const char *e);

/* The environment of any child we start: ours, PYTHONUNBUFFERED=1 and `extra` ("KEY=VALUE",
 * nextra of them; a name given there replaces ours, the last of a repeated name wins). O(n log n)
 * (a run may carry tens of thousands). A new NULL-terminated heap array of heap strings. */
char **launch_child_env(char *const *extra, size_t nextra);

#endif

/* importgraph: the static import graph of a Python project, for the watch mode.
 *
 * Owns one entry per .py file under a project root: the module names it answers to, its
 * imports (pyimports.h) and whether it is a test file or a conftest.py. Built once by
 * importgraph_scan() (which reads and parses every file: call it off the event loop, e.g. in
 * libuv's thread pool, on a graph no other thread touches), then kept current one file at a
 * time with importgraph_update() on every save.
 *
 * Scanning skips directories whose name starts with '.', __pycache__, node_modules,
 * site-packages, build, dist, *.egg-info and any directory holding pyvenv.cfg (a virtual
 * environment); symbolic links to directories are not followed. It stops after `max_files`
 * files, after `max_ms` milliseconds, or as soon as `*cancel` is true (importgraph_limit();
 * both are checked between directory entries, so a scan in another thread can be ended
 * within one file's read); the graph is then `truncated` (it decides nothing) and `cut`
 * says why.
 *
 * A .py file larger than IMPORTGRAPH_MAX_FILE_BYTES is not read (nor parsed): it is in the
 * graph under its names, so what imports it is found, but its own imports are unknown
 * (GraphFile.too_big), as with an import by a computed name.
 *
 * A file answers to its dotted path from the root (`pkg/a.py` -> pkg.a), from root/src for a
 * src layout, and from the topmost directory above it that is still a package (has
 * __init__.py), which is what Python sees when pytest puts that directory on sys.path
 * ("prepend" import mode: tests/helpers.py imported as `helpers`). Relative imports resolve
 * against that last name's package.
 *
 * Test files are test_*.py and *_test.py (pytest's default python_files). */
#ifndef PYTESTMON_IMPORTGRAPH_H
#define PYTESTMON_IMPORTGRAPH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parse/pyimports.h"

/* A .py file larger than this is not read: 8 MiB, far above any hand-written module
 * (generated ones that big would take the reader tens of milliseconds each). */
#define IMPORTGRAPH_MAX_FILE_BYTES (8u * 1024 * 1024)

typedef enum {
    IMPORTGRAPH_CUT_NONE,
    IMPORTGRAPH_CUT_FILES,     /* more than max_files .py files */
    IMPORTGRAPH_CUT_TIME,      /* the scan took longer than max_ms */
    IMPORTGRAPH_CUT_CANCELLED, /* *cancel became true during the scan */
} ImportGraphCut;

typedef struct {
    char *path;       /* absolute */
    char **names;     /* module names it answers to */
    size_t nnames;
    char *package;    /* package relative imports resolve against ("" for none) */
    PyImports imports;
    bool is_test, is_conftest;
    bool too_big;     /* over IMPORTGRAPH_MAX_FILE_BYTES: not read, its imports unknown */
} GraphFile;

typedef struct {
    const char *name; /* borrowed from a GraphFile */
    size_t file;
} GraphName;

typedef struct {
    char *root;       /* absolute, no trailing slash */
    GraphFile *files;
    size_t n, cap;
    GraphName *index; /* sorted by name; rebuilt when stale */
    size_t nindex;
    bool index_stale;
    size_t max_files;
    uint64_t max_ms;           /* the scan's time limit, 0 for none */
    const atomic_bool *cancel; /* the scan stops when it is true (borrowed; NULL: never) */
    bool truncated;            /* the scan was cut: the graph decides nothing */
    ImportGraphCut cut;        /* why */
} ImportGraph;

/* `root` absolute (a realpath, so that saved paths compare). */
ImportGraph *importgraph_new(const char *root, size_t max_files);
void importgraph_free(ImportGraph *g);
/* Limits the next scan to `max_ms` milliseconds (0: no limit) and makes it stop when
 * `*cancel` (borrowed until the scan returns; NULL: none) becomes true, e.g. set by the loop
 * while the scan runs in the thread pool. */
void importgraph_limit(ImportGraph *g, uint64_t max_ms, const atomic_bool *cancel);

/* Walks the root and parses every .py file (up to the limits: see `cut`). 0, or a negative
 * errno when the root cannot be read (unreadable subdirectories and files are skipped). */
int importgraph_scan(ImportGraph *g);

/* Reads one file again (a save), adding it when it is new and under the root outside a
 * skipped directory. 0; -EFBIG when it is larger than IMPORTGRAPH_MAX_FILE_BYTES (it is in
 * the graph, too_big, without reading it); -ENOENT and friends when it cannot be read (it is
 * dropped from the graph); -EXDEV when it is not under the root or in a skipped directory. */
int importgraph_update(ImportGraph *g, const char *path);

/* The test files a change to `path` can affect: `path` itself when it is a test file, every
 * test file importing it directly or through other project modules (`import a.b` depends on
 * a/__init__.py and a/b.py), every test file in the directory (and below) of an affected
 * conftest.py. An import by a computed name (pyimports.h's `dynamic`) is not followed: it is
 * counted by importgraph_dynamic_files() so the user can be told.
 * Returns true and fills *tests (new array of new absolute paths, sorted; free with
 * importgraph_free_list) when the graph can decide, false with *why (static text) when it
 * cannot (truncated graph, a path outside the root or not in the graph). */
bool importgraph_affected(ImportGraph *g, const char *path, char ***tests, size_t *n, const char **why);
void importgraph_free_list(char **list, size_t n);
/* Files that import a module by a computed name (whose target the graph cannot know). */
size_t importgraph_dynamic_files(const ImportGraph *g);
/* Files not read because they are larger than IMPORTGRAPH_MAX_FILE_BYTES. */
size_t importgraph_too_big_files(const ImportGraph *g);

#endif
